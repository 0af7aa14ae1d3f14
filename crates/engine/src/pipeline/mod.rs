//! Stages on named threads joined by bounded channels, by product: `live` (a session that keeps
//! up with its sender, newest frame wins), `offline` (upscale jobs that never drop a frame: a
//! full channel blocks its producer) and `srvc` (content-adaptive compression and its playback).
//! Shared: `stage` (named threads, explicit end of stream), `scene_cut`, `training_data` (where
//! `sr` meets `media` for training) and `adapt_video` (`stronglive adapt`). Dropping a sender
//! ends the stream downstream, and only an explicit end of stream lets a consumer finalise.

pub mod adapt_video;
pub mod job;
pub mod live;
pub mod offline;
pub mod scene_cut;
pub mod srvc;
pub mod stage;
pub mod training_data;

pub use job::{JobError, JobEvent, JobReport, JobStart, Progress};
pub use live::{
    deaf_sender, AdaptOptions, DisplayFrame, DisplaySlot, HrPatch, IngestItem, LiveSession,
    LiveSessionConfig, PatchAsk, RecordSwitch, RecordedStream, SenderControl, SenderRequest,
    SessionOptions, SessionProblem, SessionReport, SessionStartError, TierLadder, DEFAULT_SR_QUEUE,
};
pub use offline::{default_output_path, OfflineJob};
