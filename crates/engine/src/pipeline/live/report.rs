//! What a live session reports: the problems that did not stop it, and its final account.
//! Below both the session and its recorder stages, so each can name a problem.

use std::path::PathBuf;

use crate::pipeline::live::metrics::MetricsSnapshot;
use crate::pipeline::stage::StagePanic;

/// Which of a session's two recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedStream {
    Input,
    Output,
}

impl std::fmt::Display for RecordedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordedStream::Input => "input",
            RecordedStream::Output => "output",
        })
    }
}

/// Something that went wrong in a session (only `StreamRefused` also ends it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionProblem {
    /// The stream broke a limit the session cannot serve; the session was closed.
    #[error("stream refused: {0}")]
    StreamRefused(String),
    #[error("cannot start the H.264 decoder: {0}")]
    DecoderUnavailable(String),
    #[error("SR failed on {frames} frame(s), which were dropped; first error: {first_error}")]
    SrFailed { frames: u64, first_error: String },
    #[error("{what} recording: {reason}")]
    RecordingNotFinished {
        what: RecordedStream,
        reason: String,
    },
    #[error("{what} recording stopped: {reason}{}", kept_note(kept.as_deref()))]
    RecordingStopped {
        what: RecordedStream,
        reason: String,
        /// Where what was written before the error was kept.
        kept: Option<PathBuf>,
    },
    #[error("{what} recording {} abandoned: its stage ended without finishing the stream", path.display())]
    RecordingAbandoned { what: RecordedStream, path: PathBuf },
    #[error("HR patch {}: {reason}", path.display())]
    PatchNotSaved { path: PathBuf, reason: String },
    #[error("{0}")]
    StagePanicked(StagePanic),
    #[error("learning: {0}")]
    Learning(String),
}

/// What a finished session did.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub id: u64,
    pub label: String,
    pub units_received: u64,
    pub frames_decoded: u64,
    pub frames_upscaled: u64,
    pub frames_dropped: u64,
    pub decode_errors: u64,
    pub recordings: Vec<PathBuf>,
    /// Problems that did not stop the session (recording failures, SR errors).
    pub problems: Vec<SessionProblem>,
    /// The last metrics reading (timing percentiles over the last frames, totals).
    pub final_metrics: MetricsSnapshot,
    /// The model card of the weights learned from this stream, when they beat the generic model.
    pub adapted_model: Option<PathBuf>,
}

/// What a session stage leaves behind: finished recordings and problems.
#[derive(Default)]
pub(crate) struct StageOutcome {
    pub recordings: Vec<PathBuf>,
    pub problems: Vec<SessionProblem>,
    pub adapted_model: Option<PathBuf>,
}

fn kept_note(kept: Option<&std::path::Path>) -> String {
    match kept {
        Some(path) => format!(" (what was recorded before is kept in {})", path.display()),
        None => " (nothing written was playable)".into(),
    }
}
