//! Still images for training and evaluation: loading (PNG/JPEG through libtorch's stb_image),
//! the bicubic /scale degradation, and the PSNR/SSIM evaluation of a model against bicubic.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use super::{
    bicubic::upscale_bicubic_pil,
    quality::{psnr_y, quantize, ssim_y},
    SrError, Upscaler,
};

/// PNG/JPEG files of a directory, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, SrError> {
    let read = std::fs::read_dir(dir).map_err(|e| SrError::Image {
        path: dir.to_path_buf(),
        reason: format!("cannot list directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SrError::Image {
            path: dir.to_path_buf(),
            reason: "no .png/.jpg images in this directory".into(),
        });
    }
    Ok(files)
}

/// An 8-bit RGB image as a 3 x H x W uint8 tensor on the CPU.
pub fn load_rgb8(path: &Path) -> Result<Tensor, SrError> {
    let t = tch::vision::image::load(path).map_err(|e| SrError::Image {
        path: path.to_path_buf(),
        reason: format!("cannot decode as PNG/JPEG ({e})"),
    })?;
    match t.size()[0] {
        3 => Ok(t),
        1 => Ok(t.expand([3, -1, -1], false).contiguous()),
        4 => Ok(t.narrow(0, 0, 3).contiguous()),
        c => Err(SrError::Image {
            path: path.to_path_buf(),
            reason: format!("{c} colour channels, expected 1, 3 or 4"),
        }),
    }
}

/// uint8 C x H x W -> 1 x C x H x W float in 0..1.
pub fn to_unit(rgb8: &Tensor) -> Tensor {
    rgb8.unsqueeze(0).to_kind(Kind::Float) / 255.0
}

/// The degradation SR papers train and test on: antialiased bicubic downscale by `scale` (the
/// kernel PIL uses), rounded to 8-bit levels like a saved LR image. Input and output N x 3 x H x W
/// in 0..1; H and W must be multiples of `scale`.
pub fn downscale_bicubic(hr: &Tensor, scale: u32) -> Tensor {
    let s = hr.size();
    let k = i64::from(scale);
    let lr = Tensor::internal_upsample_bicubic2d_aa(
        hr,
        [s[2] / k, s[3] / k],
        false,
        1.0 / f64::from(scale),
        1.0 / f64::from(scale),
    );
    quantize(&lr)
}

/// Crop to a multiple of `scale` (top-left anchored) so LR and HR align exactly.
pub fn crop_to_multiple(t: &Tensor, scale: u32) -> Tensor {
    let s = t.size();
    let k = i64::from(scale);
    let n = s.len();
    t.narrow((n - 2) as i64, 0, s[n - 2] / k * k)
        .narrow((n - 1) as i64, 0, s[n - 1] / k * k)
}

/// PSNR-Y and SSIM of one result against its ground truth.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Score {
    pub psnr_y: f64,
    pub ssim: f64,
}

/// Score a model (and bicubic beside it, PIL's kernel as in the published figures) on one HR
/// image: LR = bicubic /scale, shave = scale.
pub fn evaluate_image(upscaler: &Upscaler, hr_unit: &Tensor) -> Result<(Score, Score), SrError> {
    let scale = upscaler.scale();
    let hr = crop_to_multiple(hr_unit, scale);
    let lr = downscale_bicubic(&hr, scale);
    let border = i64::from(scale);
    let sr = upscaler
        .upscale_rgb(&lr)?
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float);
    let bicubic = upscale_bicubic_pil(&lr, scale);
    Ok((
        Score {
            psnr_y: psnr_y(&sr, &hr, border),
            ssim: ssim_y(&sr, &hr, border),
        },
        Score {
            psnr_y: psnr_y(&bicubic, &hr, border),
            ssim: ssim_y(&bicubic, &hr, border),
        },
    ))
}
