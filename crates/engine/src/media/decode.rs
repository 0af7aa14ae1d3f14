//! Demux and decode: the video stream becomes 4:2:0 [`YuvFrame`]s (8-bit; 10-bit for a 10-bit
//! file when asked: [`VideoDecoder::keep_high_bit_depth`]) in presentation order,
//! with exact timestamps and per-frame durations; audio and subtitle packets are handed on
//! untouched so the muxer can stream-copy them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg_next::{codec, decoder, format, frame, media, Error as FfError, Packet, Rational};

use crate::frame::{ColorInfo, YuvFrame};

use super::convert::{convert_format, copy_planes, pixel_format_for, ScalerBox};
use super::probe::{color_info, describe, open_input};
use super::{rational_f64, MediaError, MediaInfo};

/// A packet of a track that is copied, not re-encoded (audio, subtitles).
pub struct PassthroughPacket {
    pub(crate) packet: Packet,
    pub(crate) input_stream: usize,
}

/// What the decoder hands downstream, in file order.
pub enum DemuxItem {
    Frame(YuvFrame),
    Packet(PassthroughPacket),
}

pub struct VideoDecoder {
    path: PathBuf,
    info: MediaInfo,
    input: format::context::Input,
    decoder: decoder::Video,
    video_index: usize,
    time_base: Rational,
    passthrough: Vec<bool>,
    /// Converts anything that is not 4:2:0 at `bits` (4:2:2, RGB, another depth...) to it.
    scaler: Option<ScalerBox>,
    /// Bits per sample of the frames handed out: 8, or 10.
    bits: u8,
    nominal_duration: i64,
    /// Held back one frame so its duration can be the gap to the next (exact for VFR input).
    pending: Option<YuvFrame>,
    ready: VecDeque<DemuxItem>,
    frames_out: u64,
    finished: bool,
    decode_errors: u64,
    last_error: Option<String>,
    /// Decoding started mid-file (`seek_to_key_frame`).
    seeked: bool,
}

impl VideoDecoder {
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        let input = open_input(path)?;
        let info = describe(path, &input)?;
        let video_index = info.video.stream_index;
        let stream = input
            .stream(video_index)
            .ok_or_else(|| MediaError::NoVideo {
                path: path.to_path_buf(),
                streams: "none".into(),
            })?;
        let time_base = stream.time_base();
        let mut ctx =
            codec::context::Context::from_parameters(stream.parameters()).map_err(|e| {
                MediaError::Open {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            })?;
        // Frame threading: as many threads as FFmpeg deems useful for this machine.
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let decoder = ctx.decoder().video().map_err(|e| MediaError::NoDecoder {
            path: path.to_path_buf(),
            codec: info.video.codec.clone(),
            reason: e.to_string(),
        })?;
        let fps = if info.video.fps > 0.0 {
            info.video.fps
        } else {
            rational_f64(stream.rate())
        };
        let tb = rational_f64(time_base);
        let nominal_duration = if fps > 0.0 && tb > 0.0 {
            ((1.0 / fps) / tb).round().max(1.0) as i64
        } else {
            1
        };
        let passthrough = input
            .streams()
            .map(|s| {
                s.index() != video_index
                    && matches!(
                        s.parameters().medium(),
                        media::Type::Audio | media::Type::Subtitle
                    )
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            info,
            input,
            decoder,
            video_index,
            time_base,
            passthrough,
            scaler: None,
            bits: 8,
            nominal_duration,
            pending: None,
            ready: VecDeque::new(),
            frames_out: 0,
            finished: false,
            decode_errors: 0,
            last_error: None,
            seeked: false,
        })
    }

    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    pub fn input(&self) -> &format::context::Input {
        &self.input
    }

    /// Time base of the video stream; frame `pts` and `duration` are in it.
    pub fn time_base(&self) -> super::TimeBase {
        self.time_base.into()
    }

    /// Hand on the video only: no track is copied (the parts of a chunked job; the join
    /// copies audio and subtitles from the source once).
    pub fn video_only(&mut self) {
        self.passthrough.iter_mut().for_each(|p| *p = false);
    }

    /// Continue from the key frame at `pts` (video time base), decoder flushed: where a chunk
    /// of a chunked job starts.
    pub fn seek_to_key_frame(&mut self, pts: i64) -> Result<(), MediaError> {
        // SAFETY: a demuxer call on the input context this decoder owns.
        let ret = unsafe {
            ffmpeg_next::ffi::av_seek_frame(
                self.input.as_mut_ptr(),
                self.video_index as i32,
                pts,
                ffmpeg_next::ffi::AVSEEK_FLAG_BACKWARD,
            )
        };
        if ret < 0 {
            return Err(MediaError::Open {
                path: self.path.clone(),
                reason: format!(
                    "cannot seek to the key frame at pts {pts}: {}",
                    FfError::from(ret)
                ),
            });
        }
        self.decoder.flush();
        self.pending = None;
        self.ready.clear();
        self.finished = false;
        self.seeked = true;
        Ok(())
    }

    /// Hand out 10-bit frames if the file has more than 8 bits (12-bit files are rounded to
    /// 10): for offline jobs, whose encoders write 10-bit video.
    pub fn keep_high_bit_depth(&mut self) {
        if self.info.video.bit_depth > 8 {
            self.bits = 10;
        }
    }

    /// Bits per sample of the frames handed out.
    pub fn sample_bits(&self) -> u8 {
        self.bits
    }

    pub fn is_passthrough(&self, stream: usize) -> bool {
        self.passthrough.get(stream).copied().unwrap_or(false)
    }

    /// Next frame, skipping the packets of copied tracks; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<YuvFrame>, MediaError> {
        while let Some(item) = self.next_item()? {
            if let DemuxItem::Frame(frame) = item {
                return Ok(Some(frame));
            }
        }
        Ok(None)
    }

    /// Next frame or copied packet, `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<DemuxItem>, MediaError> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(Some(item));
            }
            if self.finished {
                return Ok(None);
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    let index = packet.stream();
                    if index == self.video_index {
                        if let Err(e) = self.decoder.send_packet(&packet) {
                            // Corrupt packets are survivable (the next key frame resyncs);
                            // a file with nothing decodable is reported at the end.
                            self.note_decode_error(e);
                        }
                        self.drain_decoder()?;
                    } else if self.is_passthrough(index) {
                        self.ready.push_back(DemuxItem::Packet(PassthroughPacket {
                            packet,
                            input_stream: index,
                        }));
                    }
                }
                Err(FfError::Eof) => self.finish()?,
                Err(e) => {
                    tracing::warn!(
                        "{}: read error, treating as end of file: {e}",
                        self.path.display()
                    );
                    self.last_error = Some(e.to_string());
                    self.finish()?;
                }
            }
        }
    }

    fn note_decode_error(&mut self, e: FfError) {
        self.decode_errors += 1;
        tracing::debug!("{}: decode error: {e}", self.path.display());
        self.last_error = Some(e.to_string());
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        let _ = self.decoder.send_eof();
        self.drain_decoder()?;
        if let Some(mut last) = self.pending.take() {
            if last.duration <= 0 {
                last.duration = self.nominal_duration;
            }
            self.ready.push_back(DemuxItem::Frame(last));
        }
        self.finished = true;
        if self.frames_out == 0 {
            return Err(MediaError::NoFrames(self.path.clone()));
        }
        // MP4/MOV sample tables count frames exactly; far fewer decoded than listed means the
        // file was cut short (a container count that is merely estimated is not trusted here).
        // (After a seek the count starts mid-file: a chunk checks its own frames.)
        if let Some(listed) = self.input.stream(self.video_index).map(|s| s.frames()) {
            if !self.seeked && listed > 0 && (self.frames_out as f64) < 0.9 * listed as f64 {
                return Err(MediaError::Decode {
                    path: self.path.clone(),
                    frame: self.frames_out,
                    reason: format!(
                        "file is truncated or corrupt: the container lists {listed} frames, only {} could be decoded{}",
                        self.frames_out,
                        self.last_error
                            .as_ref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }

    fn drain_decoder(&mut self) -> Result<(), MediaError> {
        let mut decoded = frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {
                    let frame = self.convert_frame(&decoded)?;
                    self.push_frame(frame);
                }
                Err(FfError::Other { errno }) if errno == libc::EAGAIN => return Ok(()),
                Err(FfError::Eof) => return Ok(()),
                Err(e) => {
                    self.note_decode_error(e);
                    return Ok(());
                }
            }
        }
    }

    fn push_frame(&mut self, mut frame: YuvFrame) {
        if frame.pts.is_none() {
            frame.pts = Some(match &self.pending {
                Some(p) => p.pts.unwrap_or(0) + self.nominal_duration,
                None => 0,
            });
        }
        if let Some(mut prev) = self.pending.take() {
            let gap = frame.pts.unwrap_or(0) - prev.pts.unwrap_or(0);
            if gap > 0 {
                prev.duration = gap;
            } else if prev.duration <= 0 {
                prev.duration = self.nominal_duration;
            }
            self.ready.push_back(DemuxItem::Frame(prev));
        }
        self.frames_out += 1;
        self.pending = Some(frame);
    }

    fn convert_frame(&mut self, decoded: &frame::Video) -> Result<YuvFrame, MediaError> {
        let (w, h) = (decoded.width(), decoded.height());
        let color = ColorInfo {
            bits: self.bits,
            ..color_info(
                decoded.color_space(),
                decoded.color_range(),
                decoded.format(),
                h,
            )
        };
        if self.frames_out == 0 && self.info.video.bit_depth > self.bits {
            tracing::warn!(
                "{}: {}-bit video is upscaled as {}-bit",
                self.path.display(),
                self.info.video.bit_depth,
                self.bits
            );
        }
        // full-range 8-bit 4:2:0 (YUVJ420P) has YUV420P's layout; the range is in `color`
        let target = match (pixel_format_for(self.bits), decoded.format()) {
            (format::Pixel::YUV420P, format::Pixel::YUVJ420P) => format::Pixel::YUVJ420P,
            (target, _) => target,
        };
        let converted = convert_format(&mut self.scaler, decoded, target)
            .map_err(|e| self.decode_error(e.to_string()))?;
        let src = converted.as_ref().unwrap_or(decoded);
        let planes = copy_planes(src, w, h);
        let packed = decoded.packet();
        Ok(YuvFrame {
            width: w,
            height: h,
            y: planes.y,
            u: planes.u,
            v: planes.v,
            pts: decoded.timestamp(),
            duration: packed.duration,
            color,
        })
    }

    fn decode_error(&self, reason: String) -> MediaError {
        MediaError::Decode {
            path: self.path.clone(),
            frame: self.frames_out,
            reason,
        }
    }
}
