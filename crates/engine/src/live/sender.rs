//! The reference sender (`stronglive send`): what the phone does, from a file or an FFmpeg
//! lavfi source. H.264 files without B-frames are stream-copied; anything else (lavfi, other
//! codecs, B-frames) is encoded with libx264 ultrafast/zerolatency (both in
//! [`SenderSource`](crate::media::ingest::SenderSource)). Units are paced at their
//! timestamps, the server's feedback is honoured where the source allows (key-frame requests
//! on encoded sources), stats go out once a second.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use feedback::{Feedback, FeedbackThread};

use super::framing::{send, MessageReader, WireError};
use super::pairing::{compute_proof, random_bytes, verify_server_proof, PairingUri};
use super::protocol::{
    Codec, DeviceId, Message, PatchFormat, ProtocolError, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use super::secure::{derive_keys, Nonces, Opener, Sealer, SessionKeys};
use crate::media::h264::EncodedUnit;
use crate::media::ingest::{SenderSource, StreamDescription};
use crate::media::{picture, MediaError};

mod feedback;

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
    /// The bitrates the server asked for (its rate controller), in order. The reference
    /// sender streams files as they are, so it reports them rather than re-encoding.
    pub bitrate_requests: Vec<u32>,
    pub patches_sent: u64,
    /// The stream sizes the sender switched to when the server asked (TargetStreamSize).
    pub resized_to: Vec<(u32, u32)>,
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
}

/// A stable device id for a sender name, so repeated runs are one paired device.
pub fn device_id_for(name: &str) -> DeviceId {
    let digest = Sha256::digest(format!("stronglive-send:{name}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The most detailed `size` x `size` square of the source's newest HR frame, as an HrPatch
/// message; `None` when the source has no frames larger than the stream.
/// HR patches are placed and sized on this grid (the x4 scale), so LR crops are exact.
const PATCH_GRID: u32 = 4;
/// At most this often a requested patch goes out (5 per second), each from the frame just sent.
const PATCH_INTERVAL: Duration = Duration::from_millis(200);

fn hr_patch(
    source: &SenderSource,
    size: u16,
    ordinal: u64,
    timeline: &Timeline,
) -> Option<Message> {
    let (frame, _) = source.newest_hr_frame()?;
    let size = u32::from(size) & !(PATCH_GRID - 1);
    if size == 0 || size > frame.width || size > frame.height {
        return None;
    }
    // Mostly the most detailed square (where SR has most to learn), every third one a
    // pseudo-random square so flat and mid-detail regions are not ignored.
    let (x, y) = if ordinal % 3 == 2 {
        let r = ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let x = (r >> 16) as u32 % (frame.width - size + 1);
        let y = (r >> 40) as u32 % (frame.height - size + 1);
        (x, y)
    } else {
        picture::most_detailed_square(frame, size)?
    };
    // On the x4 grid, so the LR crop at (x/4, y/4) is exactly the same picture region.
    let (x, y) = (x & !(PATCH_GRID - 1), y & !(PATCH_GRID - 1));
    let crop = picture::crop(frame, x, y, size, size)?;
    let data = picture::encode_png(&crop).ok()?;
    Some(Message::HrPatch {
        // The patch comes from the frame whose unit was just sent: its pts on the wire (the
        // encoder's time base may have rounded the source pts).
        frame_pts_us: timeline.last_pts,
        x: x as u16,
        y: y as u16,
        width: crop.width as u16,
        height: crop.height as u16,
        format: PatchFormat::Png,
        data,
    })
}

/// The TCP connection to the server, named by its address in errors. Messages go out plain
/// until the server proved itself in Welcome, sealed after.
struct Connection {
    stream: TcpStream,
    server: String,
    sealer: Mutex<Option<Sealer>>,
}

impl Connection {
    /// Connect (first host that answers), no Nagle delay, a write timeout for the handshake.
    fn open(options: &SendOptions) -> Result<Self, SendError> {
        let (stream, addr) = connect(options)?;
        let connection = Self {
            stream,
            server: addr.to_string(),
            sealer: Mutex::new(None),
        };
        let _ = connection.stream.set_nodelay(true);
        connection
            .stream
            .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| connection.io(e))?;
        Ok(connection)
    }

    fn wire(&self, source: WireError) -> SendError {
        SendError::Wire {
            server: self.server.clone(),
            source,
        }
    }

    fn io(&self, e: std::io::Error) -> SendError {
        self.wire(WireError::Io(e))
    }

    fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut sealer = self.sealer.lock().unwrap_or_else(|p| p.into_inner());
        let written = match sealer.as_mut() {
            Some(sealer) => (&self.stream).write_all(&sealer.seal(message)),
            None => send(&self.stream, message),
        };
        written.map_err(|e| self.io(e))
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
    let (source, description) =
        SenderSource::open(&options.source, options.bitrate, options.stream_size)?;
    let connection = Connection::open(options)?;
    let session = handshake(&connection, options, &stop)?;
    tracing::info!(
        "connected to {} ({}), session {}",
        session.server_name,
        connection.server,
        session.session_id
    );
    let keys = session.keys;
    *connection.sealer.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(Sealer::new(&keys.client_to_server));
    let opener = Opener::new(&keys.server_to_client);
    let feedback = connection
        .stream
        .try_clone()
        .and_then(|stream| FeedbackThread::start(stream, opener, &stop))
        .map_err(|e| connection.io(e))?;
    connection.send(&stream_config(&description))?;
    let mut units = UnitLoop::new(options, source, description.fps);
    let result = units.run(&connection, &stop, &feedback.shared);
    let shared = Arc::clone(&feedback.shared);
    say_goodbye(&connection, &result, feedback);
    let ended_by_server = shared.server_bye();
    match (result, &ended_by_server) {
        // A write that failed because the server closed after its Bye is a normal end.
        (Err(e), Some(reason)) => tracing::info!("server ended the session ({reason}); {e}"),
        (result, _) => result?,
    }
    Ok(SendReport {
        server: format!("{} ({})", session.server_name, connection.server),
        session_id: session.session_id,
        mode: units.source.mode(),
        frames_sent: units.frames_sent,
        bytes_sent: units.bytes_sent,
        key_frame_requests: shared.key_requests.load(Ordering::Relaxed),
        bitrate_requests: shared
            .bitrate_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default(),
        patches_sent: units.patches_sent,
        resized_to: units.resized_to.clone(),
        ended_by_server,
        elapsed: units.started.elapsed(),
    })
}

/// Who answered the handshake, and the session's keys.
struct Session {
    server_name: String,
    session_id: u64,
    keys: SessionKeys,
}

/// ServerHello, then our ClientHello with the pairing proof and our nonce, then Welcome (or
/// Reject), whose proof must show the server holds this device's key before anything else is
/// sent: a rogue server gets no video.
fn handshake(
    connection: &Connection,
    options: &SendOptions,
    stop: &AtomicBool,
) -> Result<Session, SendError> {
    let mut reader = MessageReader {
        stream: &connection.stream,
        stop,
    };
    let hello = match reader.read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT) {
        Ok(hello) => hello,
        Err(WireError::Protocol(ProtocolError::Version {
            found, expected, ..
        })) => {
            return Err(SendError::Rejected {
                server: connection.server.clone(),
                reason: format!(
                    "the desktop speaks protocol version {found}, this sender {expected}: \
                     update the older of the two"
                ),
            })
        }
        Err(e) => return Err(connection.wire(e)),
    };
    let Message::ServerHello {
        nonce, server_name, ..
    } = hello
    else {
        return Err(connection.wire(WireError::Rejected(format!(
            "expected ServerHello, got {}",
            hello.name()
        ))));
    };
    let device_id = device_id_for(&options.device_name);
    let device_key = options.pairing.secret.device_key(&device_id);
    let nonces = Nonces {
        server: nonce,
        client: random_bytes().map_err(|e| connection.wire(WireError::Rejected(e.to_string())))?,
    };
    connection.send(&client_hello(options, &device_key, &nonces))?;
    let (session_id, server_proof) = match reader.read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT) {
        Ok(Message::Welcome {
            session_id,
            server_proof,
        }) => (session_id, server_proof),
        Ok(Message::Reject { code, reason }) => {
            return Err(SendError::Rejected {
                server: format!("{server_name} ({})", connection.server),
                reason: format!("{code}: {reason}"),
            })
        }
        Ok(other) => {
            return Err(connection.wire(WireError::Rejected(format!(
                "expected Welcome, got {}",
                other.name()
            ))))
        }
        Err(e) => return Err(connection.wire(e)),
    };
    if !verify_server_proof(&device_key, &nonces, session_id, &server_proof) {
        let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        return Err(SendError::Rejected {
            server: format!("{server_name} ({})", connection.server),
            reason: "the server could not prove it holds this device's pairing key (not the \
                     paired desktop, or someone in between): nothing was sent"
                .into(),
        });
    }
    Ok(Session {
        server_name,
        session_id,
        keys: derive_keys(&device_key, &nonces),
    })
}

/// Who we are, proven with the paired secret over both nonces.
fn client_hello(options: &SendOptions, device_key: &[u8; 32], nonces: &Nonces) -> Message {
    let device_id = device_id_for(&options.device_name);
    let proof = compute_proof(
        device_key,
        nonces,
        PROTOCOL_VERSION,
        &device_id,
        &options.device_name,
    );
    Message::ClientHello {
        version: PROTOCOL_VERSION,
        device_id,
        device_name: options.device_name.clone(),
        client_nonce: nonces.client,
        proof,
    }
}

fn stream_config(description: &StreamDescription) -> Message {
    let fps_milli = (description.fps * 1000.0).round() as u32;
    Message::StreamConfig {
        codec: Codec::H264,
        width: description.width as u16,
        height: description.height as u16,
        fps_num: fps_milli,
        fps_den: 1000,
        bitrate: description.bitrate.min(u64::from(u32::MAX)) as u32,
        parameter_sets: description.parameter_sets.clone(),
    }
}

/// Send Bye, then let the server read everything before the socket goes away; it answers by
/// closing (or has already said Bye), which ends the feedback thread.
fn say_goodbye(connection: &Connection, result: &Result<(), SendError>, feedback: FeedbackThread) {
    let reason = match result {
        Ok(()) => "end of source",
        Err(_) => "sender error",
    };
    let _ = connection.send(&Message::Bye {
        reason: reason.into(),
    });
    let _ = connection.stream.shutdown(std::net::Shutdown::Write);
    feedback.finish(Duration::from_secs(2));
}

/// Where the unit timestamps go: each pass of the source starts where the previous one ended,
/// and pacing follows them from the first unit sent.
#[derive(Default)]
struct Timeline {
    pts_offset: i64,
    last_pts: i64,
    /// The source pts of the first unit of this pass.
    pass_start_pts: Option<i64>,
    /// The first pts sent, the pacing origin.
    first_pts: Option<i64>,
}

impl Timeline {
    fn place(&mut self, unit: &mut EncodedUnit) {
        let first_of_pass = *self.pass_start_pts.get_or_insert(unit.pts_us);
        unit.pts_us = unit.pts_us - first_of_pass + self.pts_offset;
        self.last_pts = unit.pts_us;
    }

    /// Continue the timeline one frame after the last unit of this pass.
    fn next_pass(&mut self, fps: f64) {
        self.pts_offset = self.last_pts + (1e6 / fps.max(1.0)) as i64;
        self.pass_start_pts = None;
    }

    /// Sleep until `pts_us` is due, counting from `started`.
    fn wait_for(&mut self, pts_us: i64, started: Instant) {
        let first = *self.first_pts.get_or_insert(pts_us);
        let due = started + Duration::from_micros((pts_us - first).max(0) as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
}

/// The sending loop's state: units out, feedback honoured, patches and stats on their clocks.
struct UnitLoop<'a> {
    options: &'a SendOptions,
    source: SenderSource,
    fps: f64,
    timeline: Timeline,
    started: Instant,
    last_stats: Instant,
    last_patch: Option<Instant>,
    frames_sent: u64,
    bytes_sent: u64,
    patches_sent: u64,
    /// Key-frame requests already passed on to the source.
    key_requests_honoured: u64,
    /// Stream sizes switched to at the server's request.
    resized_to: Vec<(u32, u32)>,
}

impl<'a> UnitLoop<'a> {
    fn new(options: &'a SendOptions, source: SenderSource, fps: f64) -> Self {
        Self {
            options,
            source,
            fps,
            timeline: Timeline::default(),
            started: Instant::now(),
            last_stats: Instant::now(),
            last_patch: None,
            frames_sent: 0,
            bytes_sent: 0,
            patches_sent: 0,
            key_requests_honoured: 0,
            resized_to: Vec::new(),
        }
    }

    fn run(
        &mut self,
        connection: &Connection,
        stop: &AtomicBool,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        loop {
            if stop.load(Ordering::Relaxed) || feedback.server_said_bye() {
                return Ok(());
            }
            if self
                .options
                .max_frames
                .is_some_and(|m| self.frames_sent >= m)
            {
                return Ok(());
            }
            self.honour_key_frame_requests(feedback);
            self.honour_stream_size_request(connection, feedback)?;
            let Some(mut unit) = self.source.next_unit()? else {
                if self.options.repeat && self.frames_sent > 0 {
                    self.start_next_pass()?;
                    continue;
                }
                return Ok(());
            };
            self.timeline.place(&mut unit);
            self.send_unit(connection, unit)?;
            self.send_requested_patch(connection, feedback)?;
            self.send_stats(connection);
        }
    }

    fn honour_key_frame_requests(&mut self, feedback: &Feedback) {
        let requests = feedback.key_requests.load(Ordering::Relaxed);
        if requests > self.key_requests_honoured {
            self.key_requests_honoured = requests;
            if !self.source.request_key_frame() {
                tracing::debug!("key frame requested; a stream copy cannot make one");
            }
        }
    }

    /// A TargetStreamSize: the units the old encoder held, then a new StreamConfig; the next
    /// unit is the new encoder's first, an IDR at the new size.
    fn honour_stream_size_request(
        &mut self,
        connection: &Connection,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        let Some((w, h)) = feedback.take_stream_size_request() else {
            return Ok(());
        };
        let limit = (w > 0 && h > 0).then_some((u32::from(w), u32::from(h)));
        let Some((held, description)) = self.source.limit_size(limit)? else {
            tracing::info!("server asked for at most {w}x{h}: nothing to change");
            return Ok(());
        };
        for mut unit in held {
            self.timeline.place(&mut unit);
            self.send_unit(connection, unit)?;
        }
        tracing::info!(
            "server asked for at most {w}x{h}: now streaming {}x{}",
            description.width,
            description.height
        );
        self.resized_to
            .push((description.width, description.height));
        connection.send(&stream_config(&description))
    }

    /// `--repeat`: open the source again, its timestamps continuing this pass's.
    fn start_next_pass(&mut self) -> Result<(), SendError> {
        self.timeline.next_pass(self.fps);
        let options = self.options;
        (self.source, _) =
            SenderSource::open(&options.source, options.bitrate, options.stream_size)?;
        Ok(())
    }

    fn send_unit(&mut self, connection: &Connection, unit: EncodedUnit) -> Result<(), SendError> {
        if self.options.pace {
            self.timeline.wait_for(unit.pts_us, self.started);
        }
        self.bytes_sent += unit.data.len() as u64;
        connection.send(&Message::VideoUnit {
            pts_us: unit.pts_us,
            key: unit.key,
            data: unit.data,
        })?;
        self.frames_sent += 1;
        Ok(())
    }

    /// Requested HR patches go out at most five per second, each from the frame just sent.
    fn send_requested_patch(
        &mut self,
        connection: &Connection,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        let Some(request) = feedback.patch_request().filter(|r| r.count > 0) else {
            return Ok(());
        };
        if self
            .last_patch
            .is_some_and(|t| t.elapsed() < PATCH_INTERVAL)
        {
            return Ok(());
        }
        self.last_patch = Some(Instant::now());
        match hr_patch(
            &self.source,
            request.size,
            self.patches_sent,
            &self.timeline,
        ) {
            Some(patch) => {
                connection.send(&patch)?;
                feedback.patch_sent();
                self.patches_sent += 1;
            }
            None => {
                tracing::warn!(
                    "the server asked for {} HR patches; this source has no frames larger than the stream (use --stream-size below the source size)",
                    request.count
                );
                feedback.clear_patch_request();
            }
        }
        Ok(())
    }

    /// Stats once a second; a lost Stats message is not an error.
    fn send_stats(&mut self, connection: &Connection) {
        if self.last_stats.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_stats = Instant::now();
        let fps = self.frames_sent as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let _ = connection.send(&Message::Stats {
            frames_sent: self.frames_sent,
            bytes_sent: self.bytes_sent,
            frames_dropped: 0,
            encoder_fps_milli: (fps * 1000.0) as u32,
        });
    }
}
