//! Where `sr` (tensors) meets `media` (FFmpeg) for training and evaluation: the H.264
//! degradation that makes training inputs look like a real stream, and ground-truth frames
//! read from a video for `eval --video`.

use std::path::Path;
use std::sync::Arc;

use crate::frame::ColorInfo;
use crate::media::roundtrip::h264_round_trip;
use crate::media::{MediaError, VideoDecoder};
use crate::sr::color::{frame_to_rgb_cpu, frames_to_rgb_batch, rgb_batch_to_frames};
use crate::sr::quality::quantize;
use crate::sr::train::{DegradeError, LrDegradation};
use crate::sr::{SrError, Tensor};

/// LR batches through a real libx264 encode/decode at a CRF drawn from `crf_range`, on half
/// the batches (the other half stay clean so the model still sees pristine input).
pub fn h264_degradation((lo, hi): (u8, u8)) -> LrDegradation {
    let apply = move |lr: &Tensor, random: u64| -> Result<Tensor, DegradeError> {
        if random % 2 == 0 {
            return Ok(lr.shallow_clone());
        }
        let crf = lo + ((random >> 8) % u64::from(hi - lo + 1)) as u8;
        let color = ColorInfo::default_for_height(540);
        let frames = rgb_batch_to_frames(lr, color)?;
        let back = h264_round_trip(&frames, crf)?;
        let rgb = frames_to_rgb_batch(&back)?;
        Ok(quantize(&rgb))
    };
    LrDegradation {
        description: format!(
            "H.264 (libx264 ultrafast zerolatency, CRF {lo}-{hi}) on half the batches"
        ),
        apply: Arc::new(apply),
    }
}

/// Why a ground-truth frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Sr(#[from] SrError),
}

/// Every `every`-th frame of a video as RGB in 0..1 (1 x 3 x H x W on the CPU), one at a time:
/// 4K frames are too big to hold a whole video in memory.
pub struct VideoGroundTruth {
    decoder: VideoDecoder,
    every: usize,
    index: usize,
}

impl VideoGroundTruth {
    pub fn open(path: &Path, every: usize) -> Result<Self, MediaError> {
        Ok(Self {
            decoder: VideoDecoder::open(path)?,
            every: every.max(1),
            index: 0,
        })
    }

    /// The next scored frame and its name ("frame N"), or `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<(String, Tensor)>, GroundTruthError> {
        while let Some(frame) = self.decoder.next_frame()? {
            let index = self.index;
            self.index += 1;
            if index % self.every == 0 {
                let rgb = frame_to_rgb_cpu(&frame)?;
                return Ok(Some((format!("frame {index}"), rgb)));
            }
        }
        Ok(None)
    }
}

/// `frame` cropped (from the top left) so that its 1/`scale` version has even sides: what a
/// phone streaming at that scale shows of it.
pub fn crop_to_scale_grid(frame: crate::frame::YuvFrame, scale: u32) -> crate::frame::YuvFrame {
    let grid = 2 * scale;
    let (w, h) = (frame.width / grid * grid, frame.height / grid * grid);
    if (w, h) == (frame.width, frame.height) {
        return frame;
    }
    crate::media::picture::crop(&frame, 0, 0, w, h).unwrap_or(frame)
}

/// What a phone streaming at 1/`scale` of its camera would deliver from these full-resolution
/// frames: each downscaled (area), then through a real libx264 encode and decode at `crf`.
pub fn phone_stream_of(
    frames: &[crate::frame::YuvFrame],
    scale: u32,
    crf: u8,
) -> Result<Vec<crate::frame::YuvFrame>, GroundTruthError> {
    let small = frames
        .iter()
        .map(|f| {
            crate::media::picture::resize(f, f.width / scale, f.height / scale).map_err(|reason| {
                MediaError::RoundTrip {
                    stage: "downscale",
                    reason: reason.to_string(),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(h264_round_trip(&small, crf)?)
}
