//! What `srvc encode` is asked to make and how it fails: shared by the encoder, its video
//! passes (`frames`) and `srvc eval`.

use std::path::PathBuf;

use crate::media::MediaError;
use crate::sr::srvc::trainer::SegmentTraining;
use crate::sr::srvc::Quantization;
use crate::sr::SrError;

/// What to make.
#[derive(Debug, Clone)]
pub struct SrvcOptions {
    pub base: String,
    pub scale: u32,
    /// libx265 CRF of the LR video.
    pub crf: u8,
    pub segment_s: f64,
    pub training: SegmentTraining,
    pub quantization: Quantization,
    /// Largest share of the file's bits (LR video + model stream) the stream may take; `None`
    /// streams what the fractions ask whatever it costs.
    pub max_share: Option<f64>,
}

impl Default for SrvcOptions {
    fn default() -> Self {
        Self {
            base: crate::sr::registry::DEFAULT_MODEL.into(),
            scale: 4,
            crf: 28,
            segment_s: 5.0,
            training: SegmentTraining::default(),
            quantization: Quantization::Int8,
            // On vtest.avi the stream's bits bought more than the same bits of LR video up to
            // the 22% they took at CRF 36 (a 10% cap lowered BD-PSNR against the generic
            // model from +0.67 to +0.59 dB); on a pan over a still photo they bought little
            // and took 40%. A quarter bounds the second without touching the first.
            max_share: Some(0.25),
        }
    }
}

/// Why an SRVC encode failed (each names the file).
#[derive(Debug, thiserror::Error)]
pub enum SrvcEncodeError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{}: {source}", path.display())]
    Sr { path: PathBuf, source: SrError },
    #[error("{}: {what}", path.display())]
    Input { path: PathBuf, what: String },
    #[error("{}: cancelled", .0.display())]
    Cancelled(PathBuf),
}
