//! [`PacketSource`]: the H.264 access units of a file or of an RTMP/SRT listener, copied out
//! as Annex-B with microsecond timestamps, and the [`StreamDescription`] a receiver gets first.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ffmpeg_next::{codec, format, media, Dictionary, Error as FfError, Packet, Rational, Rescale};

use crate::media::convert::MICROSECONDS;
use crate::media::h264::EncodedUnit;
use crate::media::probe::open_input;
use crate::media::{rational_f64, MediaError};
use stronglive_wire::annexb;

/// What a receiver needs to know before the first unit (maps onto the protocol's StreamConfig).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescription {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub bitrate: u64,
    /// Annex-B SPS/PPS (empty when the stream carries them in-band only).
    pub parameter_sets: Vec<u8>,
}

impl StreamDescription {
    /// Frames per second, or 30 when the sender did not say (a phone's usual rate).
    pub fn fps_or_default(&self) -> f64 {
        if self.fps > 0.0 {
            self.fps
        } else {
            30.0
        }
    }
}

/// Reads the H.264 video stream of an input and hands out Annex-B access units.
pub struct PacketSource {
    label: String,
    input: format::context::Input,
    video_index: usize,
    time_base: Rational,
    /// NAL length size of AVCC packets; 0 when packets already are Annex-B.
    length_size: usize,
    /// The stream has B-frames (decode order differs from presentation order).
    reorders: bool,
    /// A network listener: a dropped connection is the end of the stream, not an error.
    network: bool,
    description: StreamDescription,
}

impl PacketSource {
    /// An MP4/MOV/MKV/TS file whose video is H.264.
    pub fn open_file(path: &Path) -> Result<Self, MediaError> {
        let input = open_input(path)?;
        Self::from_input(path.display().to_string(), input, false)
    }

    /// Wait for one RTMP or SRT sender on `url` (FFmpeg listen mode) and open its stream.
    /// `stop` ends the wait (and later reads) early; once a sender is connected, `idle` without
    /// a byte from it ends the stream (a silent peer must not hold the only listener).
    /// `rtmp://HOST:PORT/APP/KEY` listens on HOST:PORT; `srt://HOST:PORT` gets `mode=listener`
    /// added when it names no mode.
    pub fn listen(url: &str, stop: Arc<AtomicBool>, idle: Duration) -> Result<Self, MediaError> {
        crate::media::init();
        let mut options = Dictionary::new();
        // FFmpeg's per-read timeout (µs): covers the RTMP handshake, probing and every later
        // read, but not the wait for a connection (that has its own, infinite, listen timeout).
        options.set("rw_timeout", &idle.as_micros().max(1).to_string());
        let url = if url.starts_with("rtmp://") {
            options.set("listen", "1");
            url.to_string()
        } else if url.starts_with("srt://") && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=listener")
        } else if url.starts_with("srt://") {
            url.to_string()
        } else {
            return Err(MediaError::Open {
                path: url.into(),
                reason: "ingest URLs must start with rtmp:// or srt://".into(),
            });
        };
        let input = format::input_with_interrupt_and_dictionary(
            &url,
            move || stop.load(Ordering::Relaxed),
            options,
        )
        .map_err(|e| MediaError::Open {
            path: url.clone().into(),
            reason: format!(
                "the sender sent no readable stream (or nothing for {} s): {e}",
                idle.as_secs_f64()
            ),
        })?;
        Self::from_input(url, input, true)
    }

    fn from_input(
        label: String,
        input: format::context::Input,
        network: bool,
    ) -> Result<Self, MediaError> {
        let open_err = |reason: String| MediaError::Open {
            path: label.clone().into(),
            reason,
        };
        let stream =
            input
                .streams()
                .best(media::Type::Video)
                .ok_or_else(|| MediaError::NoVideo {
                    path: label.clone().into(),
                    streams: format!("{} non-video", input.streams().count()),
                })?;
        let params = stream.parameters();
        if params.id() != codec::Id::H264 {
            return Err(open_err(format!(
                "video is {:?}; live streaming carries H.264 only (re-encode with libx264 or send a lavfi: source)",
                params.id()
            )));
        }
        // SAFETY: reading plain fields and the extradata buffer of valid codec parameters.
        let (width, height, bitrate, extradata, reorders) = unsafe {
            let p = &*params.as_ptr();
            let extradata = if p.extradata.is_null() || p.extradata_size <= 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
            };
            (
                p.width as u32,
                p.height as u32,
                p.bit_rate.max(0) as u64,
                extradata,
                p.video_delay > 0,
            )
        };
        let (parameter_sets, length_size) = if extradata.is_empty() {
            (Vec::new(), 0)
        } else {
            annexb::avcc_extradata_to_annexb(&extradata).map_err(open_err)?
        };
        let fps = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .map(rational_f64)
            .find(|f| *f > 0.0 && *f < 1000.0)
            .unwrap_or(30.0);
        Ok(Self {
            video_index: stream.index(),
            time_base: stream.time_base(),
            length_size,
            reorders,
            network,
            description: StreamDescription {
                width,
                height,
                fps,
                bitrate,
                parameter_sets,
            },
            label,
            input,
        })
    }

    pub fn description(&self) -> &StreamDescription {
        &self.description
    }

    /// True when frames arrive out of presentation order (B-frames): not a live stream.
    pub fn reorders(&self) -> bool {
        self.reorders
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The next video access unit in decode order, `None` at the end of the input.
    pub fn next_unit(&mut self) -> Result<Option<EncodedUnit>, MediaError> {
        loop {
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.video_index => {
                    let Some(data) = packet.data() else { continue };
                    let data = if self.length_size == 0 {
                        data.to_vec()
                    } else {
                        annexb::avcc_to_annexb(data, self.length_size).map_err(|reason| {
                            MediaError::Decode {
                                path: self.label.clone().into(),
                                frame: 0,
                                reason,
                            }
                        })?
                    };
                    let pts = packet.pts().or(packet.dts()).unwrap_or(0);
                    return Ok(Some(EncodedUnit {
                        pts_us: pts.rescale(self.time_base, MICROSECONDS),
                        key: packet.is_key(),
                        data,
                    }));
                }
                Ok(()) => continue,
                Err(FfError::Eof) => return Ok(None),
                Err(FfError::Other { errno }) if self.network && errno == libc::EIO => {
                    tracing::info!("{}: the sender disconnected", self.label);
                    return Ok(None);
                }
                Err(e) => {
                    return Err(MediaError::Decode {
                        path: self.label.clone().into(),
                        frame: 0,
                        reason: format!("read failed: {e}"),
                    })
                }
            }
        }
    }
}
