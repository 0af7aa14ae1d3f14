//! [`SenderSource`]: what the reference sender streams from a file or a `lavfi:` graph, a
//! stream copy ([`PacketSource`]) where the file allows it, libx264 zerolatency otherwise.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg_next::{Rational, Rescale};

use super::packets::{PacketSource, StreamDescription};
use crate::frame::YuvFrame;
use crate::media::convert::MICROSECONDS;
use crate::media::h264::{EncodedUnit, H264Error, H264LiveEncoder, RateControl};
use crate::media::picture::{self, PictureError};
use crate::media::{DemuxItem, MediaError, VideoDecoder, LAVFI_PREFIX};

/// Why one source frame could not become units.
#[derive(Debug, thiserror::Error)]
enum FrameEncodeError {
    #[error(transparent)]
    Resize(#[from] PictureError),
    #[error(transparent)]
    Encode(#[from] H264Error),
}

/// What the reference sender streams from a file or a `lavfi:` graph: H.264 files without
/// B-frames are stream-copied ([`PacketSource`]); anything else (lavfi, other codecs, B-frames,
/// or a stream size below the source's) is decoded and encoded with libx264
/// ultrafast/zerolatency. Units come out with microsecond timestamps.
pub struct SenderSource {
    path: PathBuf,
    kind: SenderKind,
}

enum SenderKind {
    Copy(PacketSource),
    Encode(Box<EncodeSource>),
}

/// Decode then encode with libx264 (lavfi, non-H.264 or B-frame sources).
struct EncodeSource {
    decoder: VideoDecoder,
    encoder: H264LiveEncoder,
    ready: VecDeque<EncodedUnit>,
    done: bool,
    /// Frames handed to the encoder so far (for error messages).
    frames_in: u64,
    /// Set when streaming below the source size: frames are resized to it.
    stream_size: Option<(u32, u32)>,
    /// The encoder's rate, bit/s (kept when the stream size changes).
    bitrate: u32,
    /// The newest source frame and its pts (µs), kept for HR patches.
    newest_hr: Option<(YuvFrame, i64)>,
}

/// The largest even size within `limit` with the source's aspect ratio (the source's own size
/// when there is no limit or it is larger).
pub fn fit_within(source: (u32, u32), limit: Option<(u32, u32)>) -> (u32, u32) {
    let Some((max_w, max_h)) = limit.filter(|&(w, h)| w > 0 && h > 0) else {
        return source;
    };
    let scale = (f64::from(max_w) / f64::from(source.0))
        .min(f64::from(max_h) / f64::from(source.1))
        .min(1.0);
    let even = |v: f64| ((v as u32) & !1).max(2);
    if scale >= 1.0 {
        return source;
    }
    (
        even(f64::from(source.0) * scale),
        even(f64::from(source.1) * scale),
    )
}

/// A sender source that cannot be set up as asked (bad stream size, no encoder).
fn sender_setup_error(path: &Path, reason: String) -> MediaError {
    MediaError::Source {
        path: path.to_path_buf(),
        reason,
    }
}

impl SenderSource {
    /// Open `path` (a file or `lavfi:GRAPH`); the encoder, when one is needed, runs at
    /// `bitrate` bit/s and at `stream_size` when given (even, at most the source's size).
    pub fn open(
        path: &Path,
        bitrate: u32,
        stream_size: Option<(u32, u32)>,
    ) -> Result<(Self, StreamDescription), MediaError> {
        let is_lavfi = path.to_str().is_some_and(|s| s.starts_with(LAVFI_PREFIX));
        if !is_lavfi && stream_size.is_none() {
            match PacketSource::open_file(path) {
                Ok(source) if !source.reorders() => {
                    let description = source.description().clone();
                    let kind = SenderKind::Copy(source);
                    return Ok((Self::new(path, kind), description));
                }
                Ok(_) => tracing::info!(
                    "{}: has B-frames (reordered); re-encoding with libx264 zerolatency",
                    path.display()
                ),
                Err(MediaError::Open { reason, .. }) if reason.contains("H.264 only") => {
                    tracing::info!("{}: not H.264; re-encoding with libx264", path.display())
                }
                Err(e) => return Err(e),
            }
        }
        let (source, description) = EncodeSource::open(path, bitrate, stream_size)?;
        let kind = SenderKind::Encode(Box::new(source));
        Ok((Self::new(path, kind), description))
    }

    fn new(path: &Path, kind: SenderKind) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
        }
    }

    /// How units are made: "stream copy" or "libx264 zerolatency".
    pub fn mode(&self) -> &'static str {
        match self.kind {
            SenderKind::Copy(_) => "stream copy",
            SenderKind::Encode(_) => "libx264 zerolatency",
        }
    }

    /// Make the next unit a key frame; false when the source cannot (a stream copy).
    pub fn request_key_frame(&mut self) -> bool {
        match &mut self.kind {
            SenderKind::Copy(_) => false,
            SenderKind::Encode(source) => {
                source.encoder.request_key_frame();
                true
            }
        }
    }

    /// The next access unit, `None` at the end of the source.
    pub fn next_unit(&mut self) -> Result<Option<EncodedUnit>, MediaError> {
        match &mut self.kind {
            SenderKind::Copy(source) => source.next_unit(),
            SenderKind::Encode(source) => source.next_unit(&self.path),
        }
    }

    /// Stream pictures no larger than `limit` (`None`: the source's size again), keeping the
    /// source's aspect ratio: the units the old encoder still held and the new stream's
    /// description, or `None` when nothing changes (the size is the same, or the source is a
    /// stream copy, which cannot resize).
    pub fn limit_size(
        &mut self,
        limit: Option<(u32, u32)>,
    ) -> Result<Option<(Vec<EncodedUnit>, StreamDescription)>, MediaError> {
        let path = self.path.clone();
        match &mut self.kind {
            SenderKind::Copy(_) => Ok(None),
            SenderKind::Encode(source) => source.limit_size(&path, limit),
        }
    }

    /// The newest source frame larger than the stream and its pts (µs): what HR patches are
    /// cut from. `None` unless streaming below the source size.
    pub fn newest_hr_frame(&self) -> Option<(&YuvFrame, i64)> {
        match &self.kind {
            SenderKind::Copy(_) => None,
            SenderKind::Encode(source) => {
                let (frame, pts_us) = source.newest_hr.as_ref()?;
                Some((frame, *pts_us))
            }
        }
    }
}

impl EncodeSource {
    fn open(
        path: &Path,
        bitrate: u32,
        stream_size: Option<(u32, u32)>,
    ) -> Result<(Self, StreamDescription), MediaError> {
        let decoder = VideoDecoder::open(path)?;
        let info = &decoder.info().video;
        let fps = if info.fps > 0.0 { info.fps } else { 30.0 };
        if let Some((w, h)) = stream_size {
            if w > info.width || h > info.height || w % 2 != 0 || h % 2 != 0 || w == 0 || h == 0 {
                return Err(sender_setup_error(
                    path,
                    format!(
                        "stream size {w}x{h} must be even and at most the source's {}x{}",
                        info.width, info.height
                    ),
                ));
            }
        }
        let (width, height) = stream_size.unwrap_or((info.width, info.height));
        let encoder =
            H264LiveEncoder::new(width, height, fps, RateControl::BitsPerSecond(bitrate), 1.0)
                .map_err(|e| sender_setup_error(path, e.to_string()))?;
        let description = StreamDescription {
            width,
            height,
            fps,
            bitrate: u64::from(bitrate),
            parameter_sets: Vec::new(),
        };
        let source = Self {
            decoder,
            encoder,
            ready: VecDeque::new(),
            done: false,
            frames_in: 0,
            stream_size,
            bitrate,
            newest_hr: None,
        };
        Ok((source, description))
    }

    /// See [`SenderSource::limit_size`].
    fn limit_size(
        &mut self,
        path: &Path,
        limit: Option<(u32, u32)>,
    ) -> Result<Option<(Vec<EncodedUnit>, StreamDescription)>, MediaError> {
        let info = &self.decoder.info().video;
        let (source_w, source_h) = (info.width, info.height);
        let fps = if info.fps > 0.0 { info.fps } else { 30.0 };
        let size = fit_within((source_w, source_h), limit);
        let current = self.stream_size.unwrap_or((source_w, source_h));
        if size == current {
            return Ok(None);
        }
        let bitrate = self.bitrate;
        let encoder = H264LiveEncoder::new(
            size.0,
            size.1,
            fps,
            RateControl::BitsPerSecond(bitrate),
            1.0,
        )
        .map_err(|e| sender_setup_error(path, e.to_string()))?;
        let mut old = std::mem::replace(&mut self.encoder, encoder);
        let mut held: Vec<EncodedUnit> = self.ready.drain(..).collect();
        held.extend(old.finish());
        self.stream_size = (size != (source_w, source_h)).then_some(size);
        let description = StreamDescription {
            width: size.0,
            height: size.1,
            fps,
            bitrate: u64::from(bitrate),
            parameter_sets: Vec::new(),
        };
        Ok(Some((held, description)))
    }

    fn next_unit(&mut self, path: &Path) -> Result<Option<EncodedUnit>, MediaError> {
        loop {
            if let Some(unit) = self.ready.pop_front() {
                return Ok(Some(unit));
            }
            if self.done {
                return Ok(None);
            }
            let time_base = self.decoder.time_base();
            let time_base = Rational(time_base.numerator, time_base.denominator);
            match self.decoder.next_item()? {
                Some(DemuxItem::Frame(frame)) => {
                    let pts_us = frame.pts.unwrap_or(0).rescale(time_base, MICROSECONDS);
                    let index = self.frames_in;
                    let units = self.encode(frame, pts_us).map_err(|e| MediaError::Encode {
                        path: path.to_path_buf(),
                        frame: index,
                        reason: e.to_string(),
                    })?;
                    self.frames_in += 1;
                    self.ready.extend(units);
                }
                Some(DemuxItem::Packet(_)) => {}
                None => {
                    self.ready.extend(self.encoder.finish());
                    self.done = true;
                }
            }
        }
    }

    /// Encode one source frame, resized to the stream size when there is one (the source
    /// frame is then kept as the newest HR frame).
    fn encode(
        &mut self,
        frame: YuvFrame,
        pts_us: i64,
    ) -> Result<Vec<EncodedUnit>, FrameEncodeError> {
        match self.stream_size {
            Some((w, h)) => {
                let small = picture::resize(&frame, w, h)?;
                let units = self.encoder.encode(&small, pts_us)?;
                self.newest_hr = Some((frame, pts_us));
                Ok(units)
            }
            None => Ok(self.encoder.encode(&frame, pts_us)?),
        }
    }
}
