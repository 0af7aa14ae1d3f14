//! Stages on named threads joined by bounded channels. Offline jobs never drop a frame
//! (a full channel blocks its producer); dropping a sender ends the stream downstream, and
//! only an explicit end of stream lets a consumer finalise what it writes.

pub mod adapt_video;
pub mod controller;
pub mod fill;
pub mod handoff;
pub mod items;
pub mod learning;
pub mod memory_budget;
pub mod metrics;
pub mod offline;
mod offline_stages;
pub mod patches;
pub mod preview;
pub mod report;
pub mod resumable;
pub mod scene_cut;
pub mod session;
pub mod sr_lanes;
pub mod srvc_encode;
pub mod srvc_eval;
mod srvc_frames;
mod srvc_options;
pub mod srvc_playback;
pub mod stage;
mod stream_size;
pub mod takes;
pub mod tiers;
pub mod training_data;
mod upscaling;

pub use handoff::{DisplayFrame, DisplaySlot};
pub use items::{HrPatch, IngestItem};
pub use learning::LearnOptions;
pub use offline::{
    default_output_path, JobError, JobEvent, JobReport, JobStart, OfflineJob, Progress,
};
pub use patches::{deaf_sender, PatchAsk, SenderControl, SenderRequest};
pub use report::{RecordedStream, SessionProblem, SessionReport};
pub use session::{
    LiveSession, LiveSessionConfig, SessionOptions, SessionStartError, DEFAULT_SR_QUEUE,
};
pub use takes::RecordSwitch;
pub use tiers::TierLadder;
