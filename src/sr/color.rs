//! Y'CbCr <-> R'G'B' conversion in the tensor world, so pixels stay on the compute device from
//! upload to download. Honours the matrix (BT.601/BT.709) and range (limited/full) of the stream.

use tch::{Device, Kind, Tensor};

use crate::frame::{ColorInfo, ColorMatrix, ColorRange, YuvFrame};

use super::SrError;

/// Luma coefficients (Kr, Kb) of a matrix; Kg = 1 - Kr - Kb.
fn luma_coefficients(matrix: ColorMatrix) -> (f64, f64) {
    match matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
    }
}

/// (offset, scale) of luma and the scale of chroma for a range, in 8-bit code values.
fn range_scales(range: ColorRange) -> (f64, f64, f64) {
    match range {
        ColorRange::Limited => (16.0, 219.0, 224.0),
        ColorRange::Full => (0.0, 255.0, 255.0),
    }
}

fn plane(data: &[u8], h: u32, w: u32, device: Device) -> Tensor {
    Tensor::from_slice(data)
        .to_device(device)
        .view([1, 1, i64::from(h), i64::from(w)])
        .to_kind(Kind::Float)
}

/// Upload a 4:2:0 frame and convert it to RGB in 0..1: a 1 x 3 x H x W float tensor on `device`.
pub fn yuv_to_rgb(frame: &YuvFrame, device: Device) -> Result<Tensor, SrError> {
    let (w, h) = (frame.width, frame.height);
    let (cw, ch) = YuvFrame::chroma_size(w, h);
    if frame.y.len() != (w * h) as usize
        || frame.u.len() != (cw * ch) as usize
        || frame.v.len() != (cw * ch) as usize
    {
        return Err(SrError::BadFrame {
            width: w,
            height: h,
            y: frame.y.len(),
            u: frame.u.len(),
            v: frame.v.len(),
        });
    }
    let (kr, kb) = luma_coefficients(frame.color.matrix);
    let kg = 1.0 - kr - kb;
    let (y_off, y_scale, c_scale) = range_scales(frame.color.range);

    let y = (plane(&frame.y, h, w, device) - y_off) / y_scale;
    let chroma = Tensor::cat(
        &[
            plane(&frame.u, ch, cw, device),
            plane(&frame.v, ch, cw, device),
        ],
        1,
    );
    // Chroma sits at half resolution; bring it to luma size (then crop odd sizes back).
    let chroma = chroma
        .upsample_bilinear2d([i64::from(ch * 2), i64::from(cw * 2)], false, 2.0, 2.0)
        .narrow(2, 0, i64::from(h))
        .narrow(3, 0, i64::from(w));
    let chroma = (chroma - 128.0) / c_scale;
    let cb = chroma.narrow(1, 0, 1);
    let cr = chroma.narrow(1, 1, 1);

    let r = &y + &cr * (2.0 * (1.0 - kr));
    let b = &y + &cb * (2.0 * (1.0 - kb));
    let g = (&y - &r * kr - &b * kb) / kg;
    Ok(Tensor::cat(&[r, g, b], 1).clamp(0.0, 1.0))
}

/// Convert a 1 x 3 x H x W RGB tensor (0..1, any float kind, any device) to an 8-bit 4:2:0 frame
/// with the given colour convention. Chroma is the 2x2 mean of the full-resolution chroma.
pub fn rgb_to_yuv(rgb: &Tensor, color: ColorInfo) -> Result<YuvFrame, SrError> {
    let rgb = rgb.to_kind(Kind::Float).clamp(0.0, 1.0);
    let size = rgb.size();
    let (h, w) = (size[2], size[3]);
    let (kr, kb) = luma_coefficients(color.matrix);
    let kg = 1.0 - kr - kb;
    let (y_off, y_scale, c_scale) = range_scales(color.range);

    let r = rgb.narrow(1, 0, 1);
    let g = rgb.narrow(1, 1, 1);
    let b = rgb.narrow(1, 2, 1);
    let y = &r * kr + &g * kg + &b * kb;
    let cb = (&b - &y) / (2.0 * (1.0 - kb));
    let cr = (&r - &y) / (2.0 * (1.0 - kr));
    let chroma = Tensor::cat(&[cb, cr], 1).avg_pool2d([2, 2], [2, 2], [0, 0], true, false, None);

    let to_bytes = |t: Tensor| -> Result<Vec<u8>, SrError> {
        let t = t
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
            .to_device(Device::Cpu)
            .contiguous()
            .view([-1]);
        Ok(Vec::<u8>::try_from(&t)?)
    };
    let y_plane = to_bytes(y * y_scale + y_off)?;
    let chroma = chroma * c_scale + 128.0;
    let u_plane = to_bytes(chroma.narrow(1, 0, 1))?;
    let v_plane = to_bytes(chroma.narrow(1, 1, 1))?;
    Ok(YuvFrame {
        width: w as u32,
        height: h as u32,
        y: y_plane,
        u: u_plane,
        v: v_plane,
        pts: None,
        duration: 0,
        color,
    })
}

/// Each picture of an N x 3 x H x W RGB batch as its own 4:2:0 frame.
pub fn rgb_batch_to_frames(rgb: &Tensor, color: ColorInfo) -> Result<Vec<YuvFrame>, SrError> {
    (0..rgb.size()[0])
        .map(|i| rgb_to_yuv(&rgb.narrow(0, i, 1), color))
        .collect()
}

/// One frame as 1 x 3 x H x W RGB in 0..1 on the CPU (for callers that do not pick devices).
pub fn frame_to_rgb_cpu(frame: &YuvFrame) -> Result<Tensor, SrError> {
    yuv_to_rgb(frame, Device::Cpu)
}

/// Frames (all the same size) as one N x 3 x H x W RGB batch in 0..1 on the CPU.
pub fn frames_to_rgb_batch(frames: &[YuvFrame]) -> Result<Tensor, SrError> {
    let rgb = frames
        .iter()
        .map(frame_to_rgb_cpu)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::f_cat(&rgb, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
    }

    /// A smooth, saturated (but in-gamut) gradient frame survives YUV -> RGB -> YUV almost exactly for every convention,
    /// and picking the wrong matrix on the way back is visibly wrong (so the matrix matters).
    #[test]
    fn yuv_rgb_round_trip_respects_matrix_and_range() {
        let (w, h) = (33u32, 17u32);
        for matrix in [ColorMatrix::Bt601, ColorMatrix::Bt709] {
            for range in [ColorRange::Limited, ColorRange::Full] {
                let color = ColorInfo { matrix, range };
                let mut frame = YuvFrame::filled(w, h, 0, 0, 0, color);
                for (i, p) in frame.y.iter_mut().enumerate() {
                    *p = 100 + ((i % w as usize) * 3 / 2) as u8;
                }
                frame.u.iter_mut().for_each(|p| *p = 90);
                frame.v.iter_mut().for_each(|p| *p = 180);
                let rgb = yuv_to_rgb(&frame, Device::Cpu).unwrap();
                assert_eq!(rgb.size(), [1, 3, i64::from(h), i64::from(w)]);
                let back = rgb_to_yuv(&rgb, color).unwrap();
                assert!(psnr(&frame.y, &back.y) > 45.0, "{color:?} luma");
                assert!(psnr(&frame.v, &back.v) > 45.0, "{color:?} chroma");
                let other = ColorInfo {
                    matrix: if matrix == ColorMatrix::Bt601 {
                        ColorMatrix::Bt709
                    } else {
                        ColorMatrix::Bt601
                    },
                    range,
                };
                let wrong = rgb_to_yuv(&rgb, other).unwrap();
                assert!(
                    psnr(&frame.y, &wrong.y) < 40.0,
                    "{color:?} wrong matrix unnoticed"
                );
            }
        }
    }

    /// Known colour: BT.709 limited-range 100% red (Y 63, Cb 102, Cr 240) decodes to pure red;
    /// under the BT.601 matrix the same code values would give visibly non-zero green.
    #[test]
    fn bt709_red_decodes_to_red() {
        let color = ColorInfo {
            matrix: ColorMatrix::Bt709,
            range: ColorRange::Limited,
        };
        let frame = YuvFrame::filled(4, 4, 63, 102, 240, color);
        let rgb = yuv_to_rgb(&frame, Device::Cpu).unwrap();
        let px: Vec<f32> = Vec::try_from(
            rgb.mean_dim([2i64, 3].as_slice(), false, Kind::Float)
                .view([-1]),
        )
        .unwrap();
        assert!((px[0] - 1.0).abs() < 0.02, "{px:?}");
        assert!(px[1] < 0.02 && px[2] < 0.02, "{px:?}");
    }
}
