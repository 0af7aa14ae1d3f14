//! Offline jobs that never drop a frame: `upscale` (decode -> SR lanes -> encode on named
//! threads, `stages`, `sr_lanes`), `resumable` (chunk by chunk into a work folder, then joined),
//! `preview` (one frame by bicubic and by the model, before a job runs) and `memory_budget`
//! (jobs that cannot fit are refused before they start).

pub mod memory_budget;
pub mod preview;
pub mod resumable;
pub mod sr_lanes;
mod stages;
mod upscale;

pub use upscale::{default_output_path, OfflineJob};
