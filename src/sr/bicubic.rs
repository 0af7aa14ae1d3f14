//! Bicubic interpolation: the model-free baseline every network is measured against (and the
//! fallback when no model is wanted). Same kernel as PyTorch's `interpolate(mode="bicubic")`.

use tch::Tensor;

use super::{ComputeDevice, SrError, SrModel};

pub struct Bicubic {
    scale: u32,
}

impl Bicubic {
    pub fn new(scale: u32, _device: &ComputeDevice) -> Self {
        Self { scale }
    }
}

/// Bicubic resize of an NCHW tensor by an integer factor (align_corners = false).
pub fn upscale_bicubic(rgb: &Tensor, scale: u32) -> Tensor {
    let size = rgb.size();
    let (h, w) = (size[2], size[3]);
    let s = i64::from(scale);
    rgb.upsample_bicubic2d([h * s, w * s], false, f64::from(scale), f64::from(scale))
}

/// Bicubic with PIL's kernel (a = -0.5): the baseline SR papers and the reference figures of
/// this project's evaluation (bicubic 41.03 dB on the held-out photos) are measured against.
/// Slightly softer than PyTorch's a = -0.75, which `upscale_bicubic` uses.
pub fn upscale_bicubic_pil(rgb: &Tensor, scale: u32) -> Tensor {
    let size = rgb.size();
    let (h, w) = (size[2], size[3]);
    let s = i64::from(scale);
    // the antialiased kernel only differs from plain bicubic when downscaling; upscaling it is
    // PIL's a = -0.5 cubic
    Tensor::internal_upsample_bicubic2d_aa(
        rgb,
        [h * s, w * s],
        false,
        f64::from(scale),
        f64::from(scale),
    )
}

impl SrModel for Bicubic {
    fn name(&self) -> &str {
        "bicubic"
    }
    fn scale(&self) -> u32 {
        self.scale
    }
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        Ok(upscale_bicubic(rgb, self.scale))
    }
    fn receptive_margin(&self) -> u32 {
        2
    }
}
