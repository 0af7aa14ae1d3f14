//! SRVC content-adaptive compression as jobs: `encode` (an HR video -> an LR video plus a model
//! stream in one file; its video passes in `frames`, its options and errors in `options`),
//! `job` (encode as a job of the common contract, `pipeline::job`), `eval` (rate and quality against H.265 and the generic model) and `playback` (decoding an
//! SRVC file is upscaling it, with the weights changing at each segment).

pub mod encode;
pub mod eval;
mod frames;
pub mod job;
mod options;
pub mod playback;
