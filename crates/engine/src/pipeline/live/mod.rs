//! A live session: ingest -> decode -> SR -> (display, record), one named thread per stage
//! (`session`). Frames wait only in front of SR (`handoff`: newest wins), every frame gets an
//! output (`upscaling`, `fill`), `tiers` and `controller` choose the model and what the sender
//! is asked for, `adapt` fine-tunes on the sender's HR `patches`, `takes` records, `metrics`
//! and `report` say how it went. `port` is what a transport hands a session and asks back.

pub mod adapt;
pub mod controller;
pub mod fill;
pub mod handoff;
pub mod metrics;
pub mod patches;
pub mod port;
pub mod report;
pub mod session;
mod stream_size;
pub mod takes;
pub mod tiers;
mod upscaling;

pub use adapt::AdaptOptions;
pub use handoff::{DisplayFrame, DisplaySlot};
pub use patches::PatchAsk;
pub use port::{deaf_sender, HrPatch, IngestItem, SenderControl, SenderRequest};
pub use report::{RecordedStream, SessionProblem, SessionReport};
pub use session::{
    LiveSession, LiveSessionConfig, SessionOptions, SessionStartError, DEFAULT_SR_QUEUE,
};
pub use takes::RecordSwitch;
pub use tiers::TierLadder;
