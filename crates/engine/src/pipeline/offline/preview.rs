//! Before a job runs: one frame of a file upscaled by bicubic and by the chosen model, so the
//! user sees what the model adds (the Offline tab's preview).

use std::path::Path;
use std::time::Instant;

use crate::frame::{HdrTransfer, YuvFrame};
use crate::media::VideoDecoder;
use crate::sr::tonemap::tone_map_for_sdr;
use crate::sr::{load_model, ComputeDevice, DevicePreference, Upscaler};

use crate::pipeline::job::JobError;

/// Frames decoded at most to reach the requested position (keeps a preview of a long file quick).
const MAX_FRAMES_TO_SEEK: u64 = 600;

pub struct PreviewFrames {
    pub input: YuvFrame,
    pub bicubic: YuvFrame,
    pub model: YuvFrame,
    pub model_name: String,
    /// Which frame was shown (0-based) and how long the model took on it.
    pub frame_index: u64,
    pub model_seconds: f64,
    /// An HDR file's transfer: the three frames are tone-mapped for an SDR screen.
    pub hdr: Option<HdrTransfer>,
}

/// The frame at `position` (0..1 of the file, capped at the 600th frame), upscaled x4 twice.
pub fn preview_frame(
    input: &Path,
    position: f64,
    model: &str,
    device: DevicePreference,
) -> Result<PreviewFrames, JobError> {
    let mut decoder = VideoDecoder::open(input)?;
    let hdr = decoder.info().video.hdr;
    decoder.keep_high_bit_depth();
    let total = decoder.info().video.frame_count.unwrap_or(1).max(1);
    let target = ((position.clamp(0.0, 1.0) * total as f64) as u64)
        .min(total - 1)
        .min(MAX_FRAMES_TO_SEEK);
    let mut frame = None;
    let mut index = 0u64;
    while let Some(f) = decoder.next_frame()? {
        frame = Some(f);
        if index == target {
            break;
        }
        index += 1;
    }
    let frame = frame.ok_or_else(|| JobError::Internal {
        path: input.to_path_buf(),
        what: "no frame decoded".into(),
    })?;
    let sr_error = JobError::sr_at(input);
    let device = ComputeDevice::select(device).map_err(sr_error)?;
    let bicubic = Upscaler::new(
        load_model("bicubic", 4, &device).map_err(sr_error)?,
        device.clone(),
    )
    .upscale(&frame)
    .map_err(sr_error)?;
    let upscaler = Upscaler::new(load_model(model, 4, &device).map_err(sr_error)?, device);
    let started = Instant::now();
    let model_frame = upscaler.upscale(&frame).map_err(sr_error)?;
    let model_seconds = started.elapsed().as_secs_f64();
    // the screen is SDR: HDR samples shown as they are look flat and grey
    let for_screen = |f: YuvFrame| match hdr {
        Some(transfer) => tone_map_for_sdr(&f, transfer).map_err(sr_error),
        None => Ok(f),
    };
    Ok(PreviewFrames {
        model_name: upscaler.model_name().to_string(),
        model_seconds,
        input: for_screen(frame)?,
        bicubic: for_screen(bicubic)?,
        model: for_screen(model_frame)?,
        frame_index: index,
        hdr,
    })
}
