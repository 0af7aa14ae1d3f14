//! Bicubic as a model: the baseline every network is measured against, and the fallback when
//! no model is wanted (`--model bicubic`).

use tch::Tensor;

use super::bicubic::upscale_bicubic;
use super::model::SrModel;
use super::{ComputeDevice, SrError};

pub struct Bicubic {
    scale: u32,
}

impl Bicubic {
    pub fn new(scale: u32, _device: &ComputeDevice) -> Self {
        Self { scale }
    }
}

impl SrModel for Bicubic {
    fn name(&self) -> &str {
        "bicubic"
    }
    fn scale(&self) -> u32 {
        self.scale
    }
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        // the baseline everything is measured against is computed as defined: in fp32 even on
        // a bf16 device (bf16's 8 significant bits would move its output by a code value)
        if rgb.kind() != tch::Kind::Float {
            return Ok(upscale_bicubic(&rgb.to_kind(tch::Kind::Float), self.scale));
        }
        Ok(upscale_bicubic(rgb, self.scale))
    }
    fn receptive_margin(&self) -> u32 {
        2
    }
}
