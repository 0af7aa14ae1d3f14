//! Stages on named threads joined by bounded channels. Offline jobs never drop a frame
//! (a full channel blocks its producer); dropping a sender ends the stream downstream.

pub mod live;
pub mod metrics;
pub mod offline;
pub mod preview;

pub use offline::{
    default_output_path, JobError, JobEvent, JobReport, JobStart, OfflineJob, Progress,
};
