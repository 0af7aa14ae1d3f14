//! One picture in, one picture out: upload, convert to RGB, run the model (tiled when large),
//! convert back to YUV, download. Used by the offline pipeline, the live path and the benchmarks.

use std::time::{Duration, Instant};

use tch::{Kind, Tensor};

use crate::frame::YuvFrame;

use super::{
    color,
    tiling::{forward_tiled, TilePlan},
    ComputeDevice, SrError, SrModel,
};

/// Input pixels above which a frame is processed in tiles: 960x540 is one tile, larger inputs
/// are split so a network's activations (tens of channels at input size) stay bounded.
const DEFAULT_TILE: i64 = 960;

pub struct Upscaler {
    model: Box<dyn SrModel>,
    device: ComputeDevice,
    tile: i64,
}

impl Upscaler {
    pub fn new(model: Box<dyn SrModel>, device: ComputeDevice) -> Self {
        Self {
            model,
            device,
            tile: DEFAULT_TILE,
        }
    }

    pub fn model_name(&self) -> &str {
        self.model.name()
    }

    pub fn model(&self) -> &dyn SrModel {
        self.model.as_ref()
    }

    pub fn scale(&self) -> u32 {
        self.model.scale()
    }

    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// Output size for an input size.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        (width * self.scale(), height * self.scale())
    }

    /// Upscale an RGB tensor (1 x 3 x H x W, 0..1, any device) to RGB on the compute device.
    pub fn upscale_rgb(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        let _guard = tch::no_grad_guard();
        // in fp32: each model casts to the precision it computes in (its weights', or fp32
        // for bicubic, the baseline)
        let input = self.device.in_layout(
            &rgb.f_to_device(self.device.device)?
                .f_to_kind(Kind::Float)?,
        );
        let plan = TilePlan {
            tile: self.tile,
            margin: i64::from(self.model.receptive_margin()),
        };
        forward_tiled(self.model.as_ref(), &input, plan)
    }

    /// Upscale a frame; timing and colour tags carry over unchanged.
    pub fn upscale(&self, frame: &YuvFrame) -> Result<YuvFrame, SrError> {
        Ok(self.upscale_timed(frame)?.0)
    }

    /// `upscale`, and how long the model itself took (the rest, upload and colour conversion,
    /// is the same whichever model runs). On a GPU the model's kernels may still be running
    /// when it returns: its time is then only the launches, and the rest absorbs the wait.
    pub fn upscale_timed(&self, frame: &YuvFrame) -> Result<(YuvFrame, Duration), SrError> {
        let _guard = tch::no_grad_guard();
        let rgb = color::yuv_to_rgb(frame, self.device.device)?;
        let started = Instant::now();
        let out = self.upscale_rgb(&rgb)?;
        let model_time = started.elapsed();
        let mut result = color::rgb_to_yuv(&out, frame.color)?;
        result.pts = frame.pts;
        result.duration = frame.duration;
        Ok((result, model_time))
    }
}
