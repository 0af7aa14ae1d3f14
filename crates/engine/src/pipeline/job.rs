//! The one contract every offline job keeps with whoever runs it (the CLI, the studio's queue):
//! a `JobStart` once its input, model and encoder are open, `Progress` as frames are done (one
//! ETA rule for all), a `JobReport` at the end, or a typed `JobError` naming the file. Upscale
//! jobs (`offline`) and content-adaptive compression (`srvc::job`) both speak it, so a runner
//! sends a request and draws events, nothing more.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::media::{EncoderAttempt, MediaError};
use crate::pipeline::srvc::encode::SrvcEncodeError;
use crate::pipeline::srvc::playback::SrvcPlaybackError;
use crate::sr::SrError;

/// Known once a job has opened its input, model and encoder.
#[derive(Debug, Clone)]
pub struct JobStart {
    pub input: PathBuf,
    pub output: PathBuf,
    pub model: String,
    pub device: String,
    pub encoder: String,
    pub skipped_encoders: Vec<EncoderAttempt>,
    pub input_size: (u32, u32),
    pub output_size: (u32, u32),
    pub total_frames: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Progress {
    pub frames_done: u64,
    pub total_frames: Option<u64>,
    /// Frames per second since the job started.
    pub fps: f64,
    pub eta: Option<Duration>,
    /// What the job says about its last step (SRVC: the segment's gain and loss).
    pub detail: Option<String>,
}

impl Progress {
    /// `frames_done` of `total_frames`, at `fps`: the ETA is the frames left at that rate
    /// (unknown without a total, a rate, or once the count passes a total that was wrong).
    pub fn at(frames_done: u64, total_frames: Option<u64>, fps: f64) -> Self {
        let eta = total_frames.and_then(|total| {
            (fps > 0.0 && total >= frames_done)
                .then(|| Duration::from_secs_f64((total - frames_done) as f64 / fps))
        });
        Self {
            frames_done,
            total_frames,
            fps,
            eta,
            detail: None,
        }
    }

    /// The same progress with a note on the last step.
    pub fn with_detail(self, detail: Option<String>) -> Self {
        Self { detail, ..self }
    }
}

/// Frames per second for `frames` done in `elapsed` (never a division by zero).
pub fn frame_rate(frames: u64, elapsed: Duration) -> f64 {
    frames as f64 / elapsed.as_secs_f64().max(1e-6)
}

#[derive(Debug, Clone)]
pub enum JobEvent {
    Started(JobStart),
    Progress(Progress),
}

#[derive(Debug, Clone)]
pub struct JobReport {
    pub start: JobStart,
    pub frames: u64,
    pub elapsed: Duration,
    pub fps: f64,
}

impl JobReport {
    /// The report of a job that finished `frames` frames in `elapsed`.
    pub fn finished(start: JobStart, frames: u64, elapsed: Duration) -> Self {
        Self {
            start,
            frames,
            elapsed,
            fps: frame_rate(frames, elapsed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{}: super-resolution failed: {source}", path.display())]
    Sr { path: PathBuf, source: SrError },
    #[error("{}: output already exists (pass --overwrite to replace it)", .0.display())]
    OutputExists(PathBuf),
    #[error("{}: output would overwrite the input", .0.display())]
    OutputIsInput(PathBuf),
    #[error("{}: output directory {} does not exist or is not a directory", path.display(), dir.display())]
    OutputDir { path: PathBuf, dir: PathBuf },
    #[error("{}: cancelled", .0.display())]
    Cancelled(PathBuf),
    #[error("{}: internal error: {what}", path.display())]
    Internal { path: PathBuf, what: String },
    #[error(transparent)]
    Srvc(#[from] SrvcPlaybackError),
    #[error(transparent)]
    SrvcEncode(SrvcEncodeError),
    #[error("{}: {}x{} upscaled x{scale} is {}x{}, which needs about {need_mib} MiB of memory; {available_mib} MiB is available", path.display(), input.0, input.1, input.0 * scale, input.1 * scale)]
    TooLarge {
        path: PathBuf,
        input: (u32, u32),
        scale: u32,
        need_mib: u64,
        available_mib: u64,
    },
}

impl JobError {
    /// For `map_err`: an SR failure (device, model, frame) while working on `path`.
    pub fn sr_at(path: &Path) -> impl Fn(SrError) -> JobError + Copy + '_ {
        move |source| JobError::Sr {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<SrvcEncodeError> for JobError {
    /// A cancelled compression is a cancelled job, whatever kind of job it was.
    fn from(e: SrvcEncodeError) -> Self {
        match e {
            SrvcEncodeError::Cancelled(path) => JobError::Cancelled(path),
            other => JobError::SrvcEncode(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_is_the_frames_left_at_the_rate_so_far() {
        let p = Progress::at(100, Some(400), 50.0);
        assert_eq!(p.eta, Some(Duration::from_secs(6)));
        assert_eq!(Progress::at(100, None, 50.0).eta, None);
        assert_eq!(Progress::at(0, Some(400), 0.0).eta, None);
        assert_eq!(Progress::at(500, Some(400), 50.0).eta, None);
        assert!((frame_rate(30, Duration::from_secs(2)) - 15.0).abs() < 1e-9);
        assert!(frame_rate(30, Duration::ZERO).is_finite());
    }
}
