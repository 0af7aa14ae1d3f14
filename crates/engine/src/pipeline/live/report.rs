//! What a live session reports: the problems that did not stop it, and its final account.
//! Below both the session and its recorder stages, so each can name a problem.

use std::path::PathBuf;
use std::sync::Arc;

use crate::media::h264::H264Error;
use crate::media::picture::PictureError;
use crate::media::MediaError;
use crate::pipeline::live::metrics::MetricsSnapshot;
use crate::pipeline::stage::StagePanic;
use crate::sr::SrError;

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

/// Something that went wrong in a session (only `StreamRefused` also ends it). The causes are
/// shared (`Arc`) so a report can be cloned to every screen that shows it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionProblem {
    /// The stream broke a limit the session cannot serve; the session was closed.
    #[error("stream refused: {0}")]
    StreamRefused(StreamRefusal),
    #[error("cannot start the H.264 decoder: {0}")]
    DecoderUnavailable(Arc<H264Error>),
    #[error("SR failed on {frames} frame(s), which were dropped; first error: {first_error}")]
    SrFailed {
        frames: u64,
        first_error: Arc<FrameOutputError>,
    },
    #[error("{what} recording: {reason}")]
    RecordingNotFinished {
        what: RecordedStream,
        reason: Arc<MediaError>,
    },
    /// The take was finalised, but its log (`take_log_path`) could not be written.
    #[error("{what} recording: {}: {cause}", log.display())]
    TakeLogNotWritten {
        what: RecordedStream,
        log: PathBuf,
        cause: Arc<std::io::Error>,
    },
    #[error("{what} recording stopped: {reason}{}", kept_note(kept.as_deref()))]
    RecordingStopped {
        what: RecordedStream,
        reason: Arc<MediaError>,
        /// Where what was written before the error was kept.
        kept: Option<PathBuf>,
    },
    #[error("{what} recording {} abandoned: its stage ended without finishing the stream", path.display())]
    RecordingAbandoned { what: RecordedStream, path: PathBuf },
    #[error("HR patch {}: {reason}", path.display())]
    PatchNotSaved {
        path: PathBuf,
        reason: Arc<std::io::Error>,
    },
    #[error("{0}")]
    StagePanicked(StagePanic),
    #[error("learning: {0}")]
    Adapt(AdaptProblem),
}

/// Why a session refused its sender's stream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamRefusal {
    #[error(
        "its pictures are {}x{}, over the live limit of {}x{} (x4 SR of it would need {}x{} per frame)",
        size.0, size.1, limit.0, limit.1, size.0 * 4, size.1 * 4
    )]
    OverLiveLimit { size: (u32, u32), limit: (u32, u32) },
    #[error(
        "its pictures are {}x{}, larger than the {}x{} it announced",
        size.0, size.1, announced.0, announced.1
    )]
    LargerThanAnnounced {
        size: (u32, u32),
        announced: (u32, u32),
    },
    /// A picture of a smaller stream could not be scaled up to the session's size.
    #[error("{0}")]
    Resize(Arc<PictureError>),
}

/// Why the SR stage had no output for a frame: neither SR nor the fill after it worked.
#[derive(Debug, thiserror::Error)]
pub enum FrameOutputError {
    #[error("{0}")]
    Sr(#[from] SrError),
    #[error("{0}")]
    Fill(#[from] PictureError),
}

/// What went wrong with learning from the sender's patches (the session went on without it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdaptProblem {
    #[error("{0}")]
    Training(Arc<SrError>),
    #[error("cannot swap weights: {0}")]
    SwapWeights(Arc<SrError>),
    #[error("cannot save the adapted model: {0}")]
    SaveModel(Arc<SrError>),
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
