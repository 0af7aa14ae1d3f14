//! The reference sender (`stronglive send`): what the phone does, from a file or an FFmpeg
//! lavfi source. H.264 files without B-frames are stream-copied; anything else (lavfi, other
//! codecs, B-frames) is encoded with libx264 ultrafast/zerolatency. Units are paced at their
//! timestamps, the server's feedback is honoured where the source allows (key-frame requests
//! on encoded sources), stats go out once a second.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::pairing::{compute_proof, PairingUri};
use super::protocol::{Codec, DeviceId, Message, PatchFormat, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use super::wire::{send, MessageReader, WireError};
use crate::frame::YuvFrame;
use crate::media::h264::{EncodedUnit, H264LiveEncoder, RateControl, MICROSECONDS};
use crate::media::ingest::{PacketSource, StreamDescription};
use crate::media::{picture, DemuxItem, MediaError, VideoDecoder, LAVFI_PREFIX};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SendOptions {
    /// A video file, or `lavfi:GRAPH` (e.g. `lavfi:testsrc2=size=960x540:rate=30:duration=10`).
    pub source: PathBuf,
    pub pairing: PairingUri,
    /// Connect here instead of the URI's hosts.
    pub host: Option<IpAddr>,
    pub device_name: String,
    /// Send at the source's frame rate (a live camera); off = as fast as the socket takes it.
    pub pace: bool,
    /// Bits per second when the sender encodes.
    pub bitrate: u32,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// Encode at this size instead of the source's (a phone streaming below its capture
    /// size); the source frames are then the HR frames patches are cut from.
    pub stream_size: Option<(u32, u32)>,
    /// Start the source again when it ends (timestamps keep increasing): the studio's demo.
    pub repeat: bool,
}

#[derive(Debug, Clone)]
pub struct SendReport {
    pub server: String,
    pub session_id: u64,
    pub mode: &'static str,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub key_frame_requests: u64,
    pub patches_sent: u64,
    /// The server's reason when it ended the session (its Bye).
    pub ended_by_server: Option<String>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot reach {addresses} ({reason})")]
    Connect { addresses: String, reason: String },
    #[error("{server} refused the connection: {reason}")]
    Rejected { server: String, reason: String },
    #[error("{server}: {source}")]
    Wire { server: String, source: WireError },
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{source}: {reason}", source = .path.display())]
    Source { path: PathBuf, reason: String },
}

/// A stable device id for a sender name, so repeated runs are one paired device.
pub fn device_id_for(name: &str) -> DeviceId {
    let digest = Sha256::digest(format!("stronglive-send:{name}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// Where units come from.
enum UnitSource {
    Copy(PacketSource),
    Encode(Box<EncodeSource>),
}

/// Decode then encode with libx264 (lavfi, non-H.264 or B-frame sources).
struct EncodeSource {
    decoder: VideoDecoder,
    encoder: H264LiveEncoder,
    ready: VecDeque<EncodedUnit>,
    done: bool,
    /// Set when streaming below the source size: frames are resized to it.
    stream_size: Option<(u32, u32)>,
    /// The newest source frame and its pts (µs), kept for HR patches.
    newest_hr: Option<(YuvFrame, i64)>,
}

impl UnitSource {
    fn open(
        path: &Path,
        bitrate: u32,
        stream_size: Option<(u32, u32)>,
    ) -> Result<(Self, StreamDescription), SendError> {
        let is_lavfi = path.to_str().is_some_and(|s| s.starts_with(LAVFI_PREFIX));
        if !is_lavfi && stream_size.is_none() {
            match PacketSource::open_file(path) {
                Ok(source) if !source.reorders() => {
                    let description = source.description().clone();
                    return Ok((UnitSource::Copy(source), description));
                }
                Ok(_) => tracing::info!(
                    "{}: has B-frames (reordered); re-encoding with libx264 zerolatency",
                    path.display()
                ),
                Err(MediaError::Open { reason, .. }) if reason.contains("H.264 only") => {
                    tracing::info!("{}: not H.264; re-encoding with libx264", path.display())
                }
                Err(e) => return Err(e.into()),
            }
        }
        let decoder = VideoDecoder::open(path)?;
        let info = &decoder.info().video;
        let fps = if info.fps > 0.0 { info.fps } else { 30.0 };
        if let Some((w, h)) = stream_size {
            if w > info.width || h > info.height || w % 2 != 0 || h % 2 != 0 || w == 0 || h == 0 {
                return Err(SendError::Source {
                    path: path.to_path_buf(),
                    reason: format!(
                        "stream size {w}x{h} must be even and at most the source's {}x{}",
                        info.width, info.height
                    ),
                });
            }
        }
        let (width, height) = stream_size.unwrap_or((info.width, info.height));
        let encoder =
            H264LiveEncoder::new(width, height, fps, RateControl::BitsPerSecond(bitrate), 1.0)
                .map_err(|reason| SendError::Source {
                    path: path.to_path_buf(),
                    reason,
                })?;
        let description = StreamDescription {
            width,
            height,
            fps,
            bitrate: u64::from(bitrate),
            parameter_sets: Vec::new(),
        };
        Ok((
            UnitSource::Encode(Box::new(EncodeSource {
                decoder,
                encoder,
                ready: VecDeque::new(),
                done: false,
                stream_size,
                newest_hr: None,
            })),
            description,
        ))
    }

    fn mode(&self) -> &'static str {
        match self {
            UnitSource::Copy(_) => "stream copy",
            UnitSource::Encode(_) => "libx264 zerolatency",
        }
    }

    fn request_key_frame(&mut self) -> bool {
        match self {
            UnitSource::Copy(_) => false,
            UnitSource::Encode(source) => {
                source.encoder.request_key_frame();
                true
            }
        }
    }

    fn next_unit(&mut self, path: &Path) -> Result<Option<EncodedUnit>, SendError> {
        match self {
            UnitSource::Copy(source) => Ok(source.next_unit()?),
            UnitSource::Encode(source) => loop {
                let EncodeSource {
                    decoder,
                    encoder,
                    ready,
                    done,
                    stream_size,
                    newest_hr,
                } = source.as_mut();
                if let Some(unit) = ready.pop_front() {
                    return Ok(Some(unit));
                }
                if *done {
                    return Ok(None);
                }
                let time_base = decoder.time_base();
                match decoder.next_item()? {
                    Some(DemuxItem::Frame(frame)) => {
                        use ffmpeg_next::Rescale;
                        let pts_us = frame.pts.unwrap_or(0).rescale(time_base, MICROSECONDS);
                        let source_error = |reason| SendError::Source {
                            path: path.to_path_buf(),
                            reason,
                        };
                        let units = match stream_size {
                            Some((w, h)) => {
                                let small =
                                    picture::resize(&frame, *w, *h).map_err(source_error)?;
                                let units = encoder.encode(&small, pts_us).map_err(source_error)?;
                                *newest_hr = Some((frame, pts_us));
                                units
                            }
                            None => encoder.encode(&frame, pts_us).map_err(source_error)?,
                        };
                        ready.extend(units);
                    }
                    Some(DemuxItem::Packet(_)) => {}
                    None => {
                        ready.extend(encoder.finish());
                        *done = true;
                    }
                }
            },
        }
    }
}

impl UnitSource {
    /// The most detailed `size` x `size` square of the newest HR frame, as an HrPatch message.
    fn hr_patch(&self, size: u16) -> Option<Message> {
        let UnitSource::Encode(source) = self else {
            return None;
        };
        let (frame, pts_us) = source.newest_hr.as_ref()?;
        let size = u32::from(size);
        let (x, y) = picture::most_detailed_square(frame, size)?;
        let crop = picture::crop(frame, x, y, size, size)?;
        let data = picture::encode_png(&crop).ok()?;
        Some(Message::HrPatch {
            frame_pts_us: *pts_us,
            x: (x & !1) as u16,
            y: (y & !1) as u16,
            width: crop.width as u16,
            height: crop.height as u16,
            format: PatchFormat::Png,
            data,
        })
    }
}

fn connect(options: &SendOptions) -> Result<(TcpStream, SocketAddr), SendError> {
    let hosts: Vec<IpAddr> = match options.host {
        Some(h) => vec![h],
        None => options.pairing.hosts.clone(),
    };
    let mut reasons = Vec::new();
    for host in &hosts {
        let addr = SocketAddr::new(*host, options.pairing.port);
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => reasons.push(format!("{addr}: {e}")),
        }
    }
    Err(SendError::Connect {
        addresses: hosts
            .iter()
            .map(|h| SocketAddr::new(*h, options.pairing.port).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        reason: reasons.join("; "),
    })
}

/// Stream `options.source` to the paired server until the source ends, the server says bye,
/// or `stop` is raised.
pub fn send_stream(options: &SendOptions, stop: Arc<AtomicBool>) -> Result<SendReport, SendError> {
    let (mut source, description) =
        UnitSource::open(&options.source, options.bitrate, options.stream_size)?;
    let (stream, addr) = connect(options)?;
    let server = addr.to_string();
    let wire = |source: WireError| SendError::Wire {
        server: server.clone(),
        source,
    };
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| wire(WireError::Io(e)))?;

    // Handshake.
    let mut reader = MessageReader {
        stream: &stream,
        stop: &stop,
    };
    let hello = reader
        .read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT)
        .map_err(wire)?;
    let Message::ServerHello {
        version,
        nonce,
        server_name,
    } = hello
    else {
        return Err(wire(WireError::Rejected(format!(
            "expected ServerHello, got {}",
            hello.name()
        ))));
    };
    if version != PROTOCOL_VERSION {
        return Err(SendError::Rejected {
            server,
            reason: format!("server speaks protocol {version}, this sender {PROTOCOL_VERSION}"),
        });
    }
    let device_id = device_id_for(&options.device_name);
    let key = options.pairing.secret.device_key(&device_id);
    let proof = compute_proof(
        &key,
        &nonce,
        PROTOCOL_VERSION,
        &device_id,
        &options.device_name,
    );
    send(
        &stream,
        &Message::ClientHello {
            version: PROTOCOL_VERSION,
            device_id,
            device_name: options.device_name.clone(),
            proof,
        },
    )
    .map_err(|e| wire(WireError::Io(e)))?;
    let session_id = match reader.read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT) {
        Ok(Message::Welcome { session_id }) => session_id,
        Ok(Message::Reject { code, reason }) => {
            return Err(SendError::Rejected {
                server: format!("{server_name} ({server})"),
                reason: format!("{code}: {reason}"),
            })
        }
        Ok(other) => {
            return Err(wire(WireError::Rejected(format!(
                "expected Welcome, got {}",
                other.name()
            ))))
        }
        Err(e) => return Err(wire(e)),
    };
    tracing::info!("connected to {server_name} ({server}), session {session_id}");

    // Feedback from the server, on its own thread.
    let key_requests = Arc::new(AtomicU64::new(0));
    let patch_request: Arc<Mutex<Option<(u16, u16)>>> = Arc::default();
    let server_bye: Arc<Mutex<Option<String>>> = Arc::default();
    let feedback_stop = Arc::new(AtomicBool::new(false));
    let feedback = {
        let stream = stream.try_clone().map_err(|e| wire(WireError::Io(e)))?;
        let feedback = Feedback {
            key_requests: Arc::clone(&key_requests),
            patch_request: Arc::clone(&patch_request),
            bye: Arc::clone(&server_bye),
        };
        let (stop_all, stop_me) = (Arc::clone(&stop), Arc::clone(&feedback_stop));
        thread::Builder::new()
            .name("send-feedback".into())
            .spawn(move || feedback_loop(&stream, &feedback, &stop_all, &stop_me))
            .map_err(|e| wire(WireError::Io(e)))?
    };

    let fps_milli = (description.fps * 1000.0).round() as u32;
    let send_message = |m: &Message| send(&stream, m).map_err(|e| wire(WireError::Io(e)));
    send_message(&Message::StreamConfig {
        codec: Codec::H264,
        width: description.width as u16,
        height: description.height as u16,
        fps_num: fps_milli,
        fps_den: 1000,
        bitrate: description.bitrate.min(u64::from(u32::MAX)) as u32,
        parameter_sets: description.parameter_sets.clone(),
    })?;

    let started = Instant::now();
    let (mut frames_sent, mut bytes_sent, mut honoured, mut patches_sent) =
        (0u64, 0u64, 0u64, 0u64);
    let mut last_patch: Option<Instant> = None;
    let (mut pts_offset, mut last_pts, mut loop_start_pts) = (0i64, 0i64, None::<i64>);
    let mut first_pts: Option<i64> = None;
    let mut last_stats = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) || server_bye.lock().map(|b| b.is_some()).unwrap_or(true) {
            break Ok(());
        }
        if options.max_frames.is_some_and(|m| frames_sent >= m) {
            break Ok(());
        }
        if key_requests.load(Ordering::Relaxed) > honoured {
            honoured = key_requests.load(Ordering::Relaxed);
            if !source.request_key_frame() {
                tracing::debug!("key frame requested; a stream copy cannot make one");
            }
        }
        let mut unit = match source.next_unit(&options.source) {
            Ok(Some(u)) => u,
            Ok(None) if options.repeat && frames_sent > 0 => {
                // Continue the timeline one frame after the last unit of this pass.
                pts_offset = last_pts + (1e6 / description.fps.max(1.0)) as i64;
                loop_start_pts = None;
                match UnitSource::open(&options.source, options.bitrate, options.stream_size) {
                    Ok((s, _)) => {
                        source = s;
                        continue;
                    }
                    Err(e) => break Err(e),
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let first_of_pass = *loop_start_pts.get_or_insert(unit.pts_us);
        unit.pts_us = unit.pts_us - first_of_pass + pts_offset;
        last_pts = unit.pts_us;
        if options.pace {
            let first = *first_pts.get_or_insert(unit.pts_us);
            let due = started + Duration::from_micros((unit.pts_us - first).max(0) as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        bytes_sent += unit.data.len() as u64;
        let message = Message::VideoUnit {
            pts_us: unit.pts_us,
            key: unit.key,
            data: unit.data,
        };
        if let Err(e) = send_message(&message) {
            break Err(e);
        }
        frames_sent += 1;
        // Requested HR patches go out one per second, each from the frame just sent.
        let wanted = patch_request.lock().ok().and_then(|r| *r);
        if let Some((count, size)) = wanted.filter(|(c, _)| u64::from(*c) > patches_sent) {
            if last_patch.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                last_patch = Some(Instant::now());
                match source.hr_patch(size) {
                    Some(patch) => {
                        if let Err(e) = send_message(&patch) {
                            break Err(e);
                        }
                        patches_sent += 1;
                    }
                    None => {
                        tracing::warn!(
                            "the server asked for {count} HR patches; this source has no frames larger than the stream (use --stream-size below the source size)"
                        );
                        if let Ok(mut r) = patch_request.lock() {
                            *r = None;
                        }
                    }
                }
            }
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = Instant::now();
            let fps = frames_sent as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let _ = send_message(&Message::Stats {
                frames_sent,
                bytes_sent,
                frames_dropped: 0,
                encoder_fps_milli: (fps * 1000.0) as u32,
            });
        }
    };
    let bye_reason = match &result {
        Ok(()) => "end of source",
        Err(_) => "sender error",
    };
    let _ = send_message(&Message::Bye {
        reason: bye_reason.into(),
    });
    // Let the server read everything before the socket goes away; it answers by closing (or
    // has already said Bye), which ends the feedback thread.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !feedback.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    feedback_stop.store(true, Ordering::Relaxed);
    let _ = feedback.join();
    let ended_by_server = server_bye.lock().ok().and_then(|b| b.clone());
    match (result, &ended_by_server) {
        // A write that failed because the server closed after its Bye is a normal end.
        (Err(e), Some(reason)) => tracing::info!("server ended the session ({reason}); {e}"),
        (result, _) => result?,
    }
    Ok(SendReport {
        server: format!("{server_name} ({server})"),
        session_id,
        mode: source.mode(),
        frames_sent,
        bytes_sent,
        key_frame_requests: key_requests.load(Ordering::Relaxed),
        patches_sent,
        ended_by_server,
        elapsed: started.elapsed(),
    })
}

/// What the server asked for, shared with the sending loop.
struct Feedback {
    key_requests: Arc<AtomicU64>,
    patch_request: Arc<Mutex<Option<(u16, u16)>>>,
    bye: Arc<Mutex<Option<String>>>,
}

fn feedback_loop(
    stream: &TcpStream,
    feedback: &Feedback,
    stop_all: &AtomicBool,
    stop_me: &AtomicBool,
) {
    let mut reader = MessageReader {
        stream,
        stop: stop_me,
    };
    while !stop_all.load(Ordering::Relaxed) {
        match reader.read(MAX_MESSAGE_BYTES, Duration::from_secs(3600)) {
            Ok(Message::KeyFrameRequest) => {
                feedback.key_requests.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Message::TargetBitrate { bits_per_second }) => {
                tracing::info!("server asks for {bits_per_second} bit/s");
            }
            Ok(Message::PatchRequest { count, size }) => {
                tracing::info!("server asks for {count} HR patches of {size} px");
                if let Ok(mut r) = feedback.patch_request.lock() {
                    *r = Some((count, size));
                }
            }
            Ok(Message::Bye { reason }) => {
                if let Ok(mut b) = feedback.bye.lock() {
                    *b = Some(reason);
                }
                return;
            }
            Ok(other) => tracing::debug!("ignoring {} from the server", other.name()),
            Err(_) => return,
        }
    }
}
