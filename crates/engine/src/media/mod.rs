//! Media I/O: the only module that touches FFmpeg (ffmpeg-next).
//!
//! `probe` describes a file, `decode` turns it into [`YuvFrame`](crate::frame::YuvFrame)s plus
//! the packets of the tracks we keep untouched, `encode` picks an encoder from an ordered
//! hardware-first list, `output` muxes the result to a temporary file renamed on success.

pub use stronglive_wire::annexb;
pub mod attachment;
pub mod chunks;
pub mod concat;
pub mod convert;
pub mod decode;
pub mod encode;
pub mod h264;
pub mod hdr;
pub mod ingest;
pub mod output;
pub mod picture;
pub mod probe;
pub mod record;
pub mod roundtrip;
mod time_base;

use std::path::{Path, PathBuf};
use std::sync::Once;

pub use decode::{DemuxItem, PassthroughPacket, VideoDecoder};
pub use encode::{EncoderAttempt, EncoderChoice, Quality};
pub use output::{MediaWriter, OutputPlan};
pub use probe::{probe, MediaInfo, VideoInfo, LAVFI_PREFIX};
pub use time_base::TimeBase;

/// Errors from media I/O. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{}: no such file", .0.display())]
    NotFound(PathBuf),
    #[error("{}: not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{}: file is empty (0 bytes)", .0.display())]
    Empty(PathBuf),
    #[error("{}: not a readable media file ({reason})", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("{}: contains no video stream (streams: {streams})", path.display())]
    NoVideo { path: PathBuf, streams: String },
    #[error("{}: video codec {codec} cannot be decoded by this FFmpeg ({reason})", path.display())]
    NoDecoder {
        path: PathBuf,
        codec: String,
        reason: String,
    },
    #[error("{}: decoding failed at frame {frame}: {reason}", path.display())]
    Decode {
        path: PathBuf,
        frame: u64,
        reason: String,
    },
    /// A source that opened but cannot be streamed as asked (size, encoder).
    #[error("{}: {reason}", path.display())]
    Source { path: PathBuf, reason: String },
    #[error("{}: no video frame could be decoded (file truncated or corrupt?)", .0.display())]
    NoFrames(PathBuf),
    #[error("{}: cannot write output: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("{}: unsupported output container {ext:?} (use .mp4, .mov or .mkv)", path.display())]
    UnsupportedContainer { path: PathBuf, ext: String },
    #[error("H.264 round trip ({stage}): {reason}")]
    RoundTrip { stage: &'static str, reason: String },
    #[error("{}: no usable video encoder: {tried}", path.display())]
    NoEncoder { path: PathBuf, tried: String },
    #[error("{}: encoding failed at frame {frame}: {reason}", path.display())]
    Encode {
        path: PathBuf,
        frame: u64,
        reason: String,
    },
}

/// Initialise FFmpeg once per process, with its own console logging silenced unless asked for
/// (`STRONGLIVE_FFMPEG_LOG=info|warning|error|debug`): our errors already say what went wrong,
/// and FFmpeg's chatter would tear through progress bars.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Registration cannot fail on FFmpeg >= 4; the call only sets up networking.
        let _ = ffmpeg_next::init();
        use ffmpeg_next::util::log::{set_level, Level};
        let level = match std::env::var("STRONGLIVE_FFMPEG_LOG").as_deref() {
            Ok("debug") => Level::Debug,
            Ok("info") => Level::Info,
            Ok("warning") => Level::Warning,
            Ok("error") => Level::Error,
            _ => Level::Quiet,
        };
        set_level(level);
    });
}

/// Checks that make sense before FFmpeg sees a path, so the message says what is really wrong.
pub(crate) fn check_input_file(path: &Path) -> Result<(), MediaError> {
    let meta = std::fs::metadata(path).map_err(|_| MediaError::NotFound(path.to_path_buf()))?;
    if !meta.is_file() {
        return Err(MediaError::NotAFile(path.to_path_buf()));
    }
    if meta.len() == 0 {
        return Err(MediaError::Empty(path.to_path_buf()));
    }
    Ok(())
}

pub(crate) fn rational_f64(r: ffmpeg_next::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}
