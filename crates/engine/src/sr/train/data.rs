//! The pictures a training run learns from and is measured on: training photos loaded whole,
//! random augmented HR patches cut from them, fixed validation crops and their PSNR-Y.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::sr::{
    bicubic::upscale_bicubic_pil,
    images::{crop_to_multiple, downscale_bicubic, list_images, load_rgb8, to_unit},
    nets::Network,
    quality::psnr_y,
    SrError,
};

/// SplitMix64: reproducible crop positions without another dependency.
/// SplitMix64: small, seedable, good enough for crops and flips.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: i64) -> i64 {
        (self.next() % n.max(1) as u64) as i64
    }
}

pub(super) fn load_dir(dir: &Path, min_side: i64) -> Result<Vec<Tensor>, SrError> {
    let mut images = Vec::new();
    for path in list_images(dir)? {
        let img = load_rgb8(&path)?;
        let s = img.size();
        if s[1] < min_side || s[2] < min_side {
            return Err(SrError::Image {
                path,
                reason: format!(
                    "{}x{} is smaller than one {min_side}px training patch",
                    s[2], s[1]
                ),
            });
        }
        images.push(img);
    }
    Ok(images)
}

/// A batch of random HR patches (B x 3 x P x P, 0..1) with random flips and transposes.
pub(super) fn sample_batch(images: &[Tensor], rng: &mut Rng, batch: i64, hr_patch: i64) -> Tensor {
    let crops: Vec<Tensor> = (0..batch)
        .map(|_| {
            let img = &images[rng.below(images.len() as i64) as usize];
            let s = img.size();
            let y = rng.below(s[1] - hr_patch + 1);
            let x = rng.below(s[2] - hr_patch + 1);
            let mut crop = img.narrow(1, y, hr_patch).narrow(2, x, hr_patch);
            let aug = rng.below(8);
            if aug & 1 != 0 {
                crop = crop.flip([2]);
            }
            if aug & 2 != 0 {
                crop = crop.flip([1]);
            }
            if aug & 4 != 0 {
                crop = crop.transpose(1, 2);
            }
            crop
        })
        .collect();
    Tensor::stack(&crops, 0).to_kind(Kind::Float) / 255.0
}

/// Fixed validation crops: a 3x2 grid of `side`-pixel HR crops from every validation photo.
pub(super) fn validation_crops(images: &[Tensor], side: i64, scale: u32) -> Vec<(Tensor, Tensor)> {
    let mut crops = Vec::new();
    for img in images {
        let s = img.size();
        for gy in 0..2 {
            for gx in 0..3 {
                let y = (s[1] - side) * (2 * gy + 1) / 4;
                let x = (s[2] - side) * (2 * gx + 1) / 6;
                let hr =
                    crop_to_multiple(&to_unit(&img.narrow(1, y, side).narrow(2, x, side)), scale);
                let lr = downscale_bicubic(&hr, scale);
                crops.push((hr, lr));
            }
        }
    }
    crops
}

pub(super) fn validate(
    net: &dyn Network,
    crops: &[(Tensor, Tensor)],
    scale: u32,
    device: Device,
) -> (f64, f64) {
    let _guard = tch::no_grad_guard();
    let border = i64::from(scale);
    let (mut model, mut bicubic) = (0.0, 0.0);
    for (hr, lr) in crops {
        let sr = net
            .forward_t(&lr.to_device(device), false)
            .to_device(Device::Cpu);
        model += psnr_y(&sr, hr, border);
        bicubic += psnr_y(&upscale_bicubic_pil(lr, scale), hr, border);
    }
    let n = crops.len().max(1) as f64;
    (model / n, bicubic / n)
}
