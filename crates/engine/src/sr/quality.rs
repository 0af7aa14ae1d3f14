//! Image quality the way SR papers report it (EDSR-PyTorch convention): PSNR and SSIM on the
//! BT.601 luma of 8-bit RGB, with `shave` pixels (= the scale) cut from every border.

use tch::{Device, Kind, Tensor};

/// BT.601 luma coefficients for 8-bit RGB (Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256).
const LUMA: [f64; 3] = [65.738 / 256.0, 129.057 / 256.0, 25.064 / 256.0];

/// Round RGB in 0..1 to the 8-bit levels a saved image would have.
pub fn quantize(rgb: &Tensor) -> Tensor {
    (rgb.clamp(0.0, 1.0) * 255.0).round() / 255.0
}

/// Luma in 0..255 units (N x 1 x H x W) of RGB in 0..1 (N x 3 x H x W).
pub fn luma(rgb: &Tensor) -> Tensor {
    let coeffs = Tensor::from_slice(&LUMA)
        .to_kind(rgb.kind())
        .to_device(rgb.device())
        .view([1, 3, 1, 1]);
    (rgb * 255.0 * coeffs).sum_dim_intlist([1i64].as_slice(), true, None) + 16.0
}

fn shave(t: &Tensor, border: i64) -> Tensor {
    let s = t.size();
    let (h, w) = (s[2], s[3]);
    if border == 0 || h <= 2 * border || w <= 2 * border {
        return t.shallow_clone();
    }
    t.narrow(2, border, h - 2 * border)
        .narrow(3, border, w - 2 * border)
}

/// PSNR-Y in dB between an SR result and the ground truth (both RGB 0..1, same size). The SR
/// result is quantised to 8 bits first, as a saved output would be.
pub fn psnr_y(sr: &Tensor, hr: &Tensor, border: i64) -> f64 {
    let sr = luma(&quantize(&sr.to_kind(Kind::Double)));
    let hr = luma(&hr.to_kind(Kind::Double));
    let mse = shave(&(sr - hr), border)
        .square()
        .mean(Kind::Double)
        .double_value(&[]);
    10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10()
}

/// SSIM on luma (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03; Wang et al. 2004). The window
/// is applied as two 1-D passes in f32: a 2-D f64 convolution over a 4K frame takes gigabytes.
pub fn ssim_y(sr: &Tensor, hr: &Tensor, border: i64) -> f64 {
    let x = shave(&luma(&quantize(&sr.to_kind(Kind::Float))), border);
    let y = shave(&luma(&hr.to_kind(Kind::Float)), border);
    let g = gaussian_1d(11, 1.5, x.device());
    let (gh, gv) = (g.view([1, 1, 1, 11]), g.view([1, 1, 11, 1]));
    let filter = |t: &Tensor| {
        t.conv2d(&gh, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
            .conv2d(&gv, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
    };
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mu_x, mu_y) = (filter(&x), filter(&y));
    let sxx = filter(&(&x * &x)) - &mu_x * &mu_x;
    let syy = filter(&(&y * &y)) - &mu_y * &mu_y;
    let sxy = filter(&(&x * &y)) - &mu_x * &mu_y;
    let num = (&mu_x * &mu_y * 2.0 + c1) * (sxy * 2.0 + c2);
    let den = (mu_x.square() + mu_y.square() + c1) * (sxx + syy + c2);
    (num / den).mean(Kind::Double).double_value(&[])
}

fn gaussian_1d(size: i64, sigma: f64, device: Device) -> Tensor {
    let half = (size / 2) as f64;
    let g: Vec<f32> = (0..size)
        .map(|i| (-((i as f64 - half).powi(2)) / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let g = Tensor::from_slice(&g).to_device(device);
    &g / g.sum(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_identical_images_is_huge_and_of_noise_is_known() {
        let hr = Tensor::rand([1, 3, 64, 64], (Kind::Double, Device::Cpu));
        let hr = quantize(&hr);
        assert!(psnr_y(&hr, &hr, 4) > 100.0);
        assert!((ssim_y(&hr, &hr, 4) - 1.0).abs() < 1e-5);
        // a uniform +4/255 shift on every channel moves luma by 4 * 219.859/256 levels
        let base = hr.clamp(0.0, 229.0 / 255.0);
        let shifted = &base + 4.0 / 255.0;
        let expected = 20.0 * (255.0f64 / (4.0 * (65.738 + 129.057 + 25.064) / 256.0)).log10();
        assert!((psnr_y(&shifted, &base, 4) - expected).abs() < 0.05);
        assert!(ssim_y(&shifted, &base, 4) < 1.0);
    }
}
