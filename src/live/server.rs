//! The ingest server: accepts peers, authenticates them (protocol handshake), and pumps their
//! messages into a [`LiveSession`] each. Also the two opt-in transports: STRONGLIVE's original
//! framing (no auth) and RTMP/SRT listeners through FFmpeg.
//!
//! Every peer is one named thread; a bad peer only ever costs its own thread a bounded time
//! (handshake deadline, per-message deadline, size limits checked before allocating).

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::annexb;
use super::pairing::{random_bytes, PairingStore};
use super::protocol::{
    parse_header, Codec, Message, PatchFormat, RejectCode, HEADER_BYTES, MAX_HANDSHAKE_BYTES,
    MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use super::wire::{send, MessageReader, WireError};
use crate::media::h264::EncodedUnit;
use crate::media::ingest::{PacketSource, StreamDescription};
use crate::pipeline::live::{
    DisplaySlot, HrPatch, IngestItem, LiveSession, LiveSessionConfig, RecordSwitch, SessionReport,
};
use crate::pipeline::metrics::{MetricsSnapshot, SessionMetrics};
use crate::sr::{load_model, ComputeDevice, Upscaler};

/// Default TCP port of the protocol listener.
pub const DEFAULT_PORT: u16 = 7878;
/// Unauthenticated connections handled at once; more are closed straight away.
const MAX_PENDING_HANDSHAKES: usize = 32;

/// Builds the session for a newly connected peer (loads the model, opens recorders).
pub type SessionFactory =
    Arc<dyn Fn(u64, String, Box<dyn Fn() + Send>) -> Result<LiveSession, String> + Send + Sync>;

/// The usual factory: each session loads `model` on `device` (one model instance per session,
/// so sessions never share mutable state) and records where `record` says.
pub fn upscaling_sessions(
    model: String,
    device: ComputeDevice,
    record: RecordSwitch,
    sr_queue: usize,
    display: Option<Arc<DisplaySlot>>,
) -> SessionFactory {
    Arc::new(move |id, label, request_key_frame| {
        let sr = load_model(&model, 4, &device).map_err(|e| e.to_string())?;
        LiveSession::start(
            LiveSessionConfig {
                id,
                label,
                record: record.clone(),
                sr_queue,
            },
            Upscaler::new(sr, device.clone()),
            display.clone(),
            request_key_frame,
        )
        .map_err(|e| e.to_string())
    })
}

#[derive(Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub name: String,
    pub store: PairingStore,
    /// Whole-handshake deadline (a peer dribbling bytes is cut off when it passes).
    pub handshake_timeout: Duration,
    /// Longest a streaming peer may go without completing a message.
    pub idle_timeout: Duration,
    /// STRONGLIVE-compatible listener (no authentication): off unless set.
    pub legacy_bind: Option<SocketAddr>,
    /// RTMP/SRT listen URLs served one sender at a time.
    pub ingest_urls: Vec<String>,
    /// Ask every protocol peer for this many HR patches of this size (online learning).
    pub patch_request: Option<(u16, u16)>,
}

/// What the server tells its owner (CLI or GUI).
#[derive(Debug, Clone)]
pub enum ServerEvent {
    Listening {
        what: String,
        address: String,
    },
    Rejected {
        peer: String,
        reason: String,
    },
    SessionStarted {
        id: u64,
        label: String,
    },
    SessionEnded {
        report: Box<SessionReport>,
        reason: String,
    },
}

pub struct LiveServer {
    local_addr: SocketAddr,
    legacy_addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<Arc<SessionMetrics>>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// Shared by all peer threads.
struct Shared {
    config: ServerConfig,
    factory: SessionFactory,
    events: Sender<ServerEvent>,
    stop: Arc<AtomicBool>,
    next_session: AtomicU64,
    pending_handshakes: AtomicUsize,
    sessions: Arc<Mutex<Vec<Arc<SessionMetrics>>>>,
}

impl LiveServer {
    pub fn start(
        config: ServerConfig,
        factory: SessionFactory,
        events: Sender<ServerEvent>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind)?;
        let local_addr = listener.local_addr()?;
        let legacy = config.legacy_bind.map(TcpListener::bind).transpose()?;
        let legacy_addr = legacy.as_ref().map(TcpListener::local_addr).transpose()?;
        let stop = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            config,
            factory,
            events,
            stop: Arc::clone(&stop),
            next_session: AtomicU64::new(1),
            pending_handshakes: AtomicUsize::new(0),
            sessions: Arc::clone(&sessions),
        });
        let mut threads = Vec::new();
        let _ = shared.events.send(ServerEvent::Listening {
            what: "StrongLive protocol".into(),
            address: local_addr.to_string(),
        });
        threads.push(accept_loop(
            "accept",
            listener,
            &shared,
            handle_protocol_peer,
        )?);
        if let (Some(listener), Some(addr)) = (legacy, legacy_addr) {
            let _ = shared.events.send(ServerEvent::Listening {
                what: "STRONGLIVE-compatible (no authentication)".into(),
                address: addr.to_string(),
            });
            threads.push(accept_loop(
                "accept-legacy",
                listener,
                &shared,
                handle_legacy_peer,
            )?);
        }
        for (i, url) in shared.config.ingest_urls.iter().enumerate() {
            let (shared, url) = (Arc::clone(&shared), url.clone());
            let _ = shared.events.send(ServerEvent::Listening {
                what: "FFmpeg ingest".into(),
                address: url.clone(),
            });
            threads.push(
                thread::Builder::new()
                    .name(format!("ingest-{i}"))
                    .spawn(move || ingest_loop(&shared, &url))?,
            );
        }
        Ok(Self {
            local_addr,
            legacy_addr,
            stop,
            sessions,
            threads,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn legacy_addr(&self) -> Option<SocketAddr> {
        self.legacy_addr
    }

    /// The metrics objects of the sessions streaming now (a screen snapshots them itself).
    pub fn session_metrics(&self) -> Vec<Arc<SessionMetrics>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Metrics of the sessions streaming now.
    pub fn snapshots(&self) -> Vec<MetricsSnapshot> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.iter().map(|m| m.snapshot()).collect()
    }

    /// Stop accepting, end every session (recordings are finalised), join the threads.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept() calls.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_millis(200));
        if let Some(addr) = self.legacy_addr {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn accept_loop(
    name: &str,
    listener: TcpListener,
    shared: &Arc<Shared>,
    handle: fn(&Arc<Shared>, TcpStream, SocketAddr),
) -> std::io::Result<thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new().name(name.into()).spawn(move || {
        let mut peers: Vec<thread::JoinHandle<()>> = Vec::new();
        for connection in listener.incoming() {
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(stream) = connection else { continue };
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            peers.retain(|h| !h.is_finished());
            let s = Arc::clone(&shared);
            match thread::Builder::new()
                .name(format!("peer-{peer}"))
                .spawn(move || handle(&s, stream, peer))
            {
                Ok(h) => peers.push(h),
                Err(e) => tracing::error!("cannot start a thread for {peer}: {e}"),
            }
        }
        for h in peers {
            let _ = h.join();
        }
    })
}

fn reject(stream: &TcpStream, code: RejectCode, reason: String) -> WireError {
    let _ = send(
        stream,
        &Message::Reject {
            code,
            reason: reason.clone(),
        },
    );
    let _ = stream.shutdown(Shutdown::Both);
    WireError::Rejected(format!("{code}: {reason}"))
}

/// Decrements the pending-handshake count when the handshake ends, however it ends.
struct PendingGuard<'a>(&'a AtomicUsize);
impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handshake; returns the device's name when the proof is good.
fn handshake(shared: &Shared, stream: &TcpStream) -> Result<String, WireError> {
    let pending = shared.pending_handshakes.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = PendingGuard(&shared.pending_handshakes);
    if pending > MAX_PENDING_HANDSHAKES {
        return Err(reject(
            stream,
            RejectCode::Busy,
            format!("{MAX_PENDING_HANDSHAKES} handshakes already in progress"),
        ));
    }
    let nonce = random_bytes().map_err(|e| WireError::Rejected(e.to_string()))?;
    stream
        .set_write_timeout(Some(shared.config.handshake_timeout))
        .map_err(WireError::Io)?;
    send(
        stream,
        &Message::ServerHello {
            version: PROTOCOL_VERSION,
            nonce,
            server_name: shared.config.name.clone(),
        },
    )
    .map_err(WireError::Io)?;
    let hello = MessageReader {
        stream,
        stop: &shared.stop,
    }
    .read(MAX_HANDSHAKE_BYTES, shared.config.handshake_timeout);
    let hello = match hello {
        Ok(m) => m,
        Err(WireError::Protocol(e)) => {
            return Err(reject(
                stream,
                RejectCode::Malformed,
                format!("bad hello: {e}"),
            ))
        }
        Err(e) => return Err(e),
    };
    let Message::ClientHello {
        version,
        device_id,
        device_name,
        proof,
    } = hello
    else {
        return Err(reject(
            stream,
            RejectCode::Malformed,
            format!("expected ClientHello, got {}", hello.name()),
        ));
    };
    if version != PROTOCOL_VERSION {
        return Err(reject(
            stream,
            RejectCode::Version,
            format!("client speaks version {version}, this server {PROTOCOL_VERSION}"),
        ));
    }
    let outcome = shared
        .config
        .store
        .authenticate(&nonce, version, &device_id, &device_name, &proof)
        .map_err(|e| WireError::Rejected(e.to_string()))?;
    match outcome {
        Ok(auth) => {
            if auth.newly_paired {
                tracing::info!(
                    "paired new device {:?} ({})",
                    auth.device_name,
                    auth.device_id
                );
            }
            Ok(device_name)
        }
        Err(code) => {
            let reason = match code {
                RejectCode::PairingExpired => {
                    "this device is not paired and the pairing code has expired or was replaced; scan a new one (stronglive pair)".to_string()
                }
                _ => "wrong pairing secret".to_string(),
            };
            Err(reject(stream, code, reason))
        }
    }
}

fn handle_protocol_peer(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let device = match handshake(shared, &stream) {
        Ok(name) => name,
        Err(e) => {
            tracing::warn!("peer {peer} rejected: {e}");
            let _ = shared.events.send(ServerEvent::Rejected {
                peer: peer.to_string(),
                reason: e.to_string(),
            });
            return;
        }
    };
    let label = format!("{device} @ {peer}");
    let writer = match stream.try_clone() {
        Ok(w) => Arc::new(Mutex::new(w)),
        Err(e) => {
            tracing::warn!("peer {peer}: {e}");
            return;
        }
    };
    let key_request_writer = Arc::clone(&writer);
    let request_key_frame: Box<dyn Fn() + Send> = Box::new(move || {
        let w = key_request_writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = send(&w, &Message::KeyFrameRequest);
    });
    let Some((id, session)) = open_session(shared, &label, request_key_frame) else {
        let w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = send(
            &w,
            &Message::Bye {
                reason: "server could not start a session".into(),
            },
        );
        return;
    };
    {
        let w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut greeting = vec![Message::Welcome { session_id: id }];
        if let Some((count, size)) = shared.config.patch_request {
            greeting.push(Message::PatchRequest { count, size });
        }
        if greeting.iter().any(|m| send(&w, m).is_err()) {
            drop(w);
            end_session(shared, session, "peer left during the handshake".into());
            return;
        }
    }
    let reason = match pump_protocol(shared, &stream, &session) {
        Ok(reason) => reason,
        Err(e) => {
            tracing::warn!("{label}: {e}");
            e.to_string()
        }
    };
    if matches!(reason.as_str(), "server stopping") {
        let w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = send(
            &w,
            &Message::Bye {
                reason: reason.clone(),
            },
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
    end_session(shared, session, reason);
}

/// Messages into the session until the peer says bye, leaves, or misbehaves.
fn pump_protocol(
    shared: &Shared,
    stream: &TcpStream,
    session: &LiveSession,
) -> Result<String, WireError> {
    let mut reader = MessageReader {
        stream,
        stop: &shared.stop,
    };
    loop {
        let message = reader.read(MAX_MESSAGE_BYTES, shared.config.idle_timeout)?;
        let item = match message {
            Message::StreamConfig {
                codec: Codec::H264,
                width,
                height,
                fps_num,
                fps_den,
                bitrate,
                parameter_sets,
            } => IngestItem::Config(StreamDescription {
                width: u32::from(width),
                height: u32::from(height),
                fps: f64::from(fps_num) / f64::from(fps_den),
                bitrate: u64::from(bitrate),
                parameter_sets,
            }),
            Message::VideoUnit { pts_us, key, data } => IngestItem::Unit {
                unit: EncodedUnit { pts_us, key, data },
                received: Instant::now(),
            },
            Message::HrPatch {
                frame_pts_us,
                x,
                y,
                width,
                height,
                format,
                data,
            } => IngestItem::Patch(HrPatch {
                frame_pts_us,
                x,
                y,
                width,
                height,
                extension: match format {
                    PatchFormat::Png => "png",
                    PatchFormat::Jpeg => "jpg",
                },
                data,
            }),
            Message::Stats { .. } => continue,
            Message::Bye { reason } => return Ok(format!("peer said bye: {reason}")),
            other => {
                return Err(WireError::Rejected(format!(
                    "unexpected {} from a client",
                    other.name()
                )))
            }
        };
        if !session.ingest(item) {
            return Ok("session stopped".into());
        }
    }
}

fn open_session(
    shared: &Shared,
    label: &str,
    request_key_frame: Box<dyn Fn() + Send>,
) -> Option<(u64, LiveSession)> {
    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    match (shared.factory)(id, label.to_string(), request_key_frame) {
        Ok(session) => {
            shared
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::clone(session.metrics()));
            tracing::info!("session {id} started: {label}");
            let _ = shared.events.send(ServerEvent::SessionStarted {
                id,
                label: label.to_string(),
            });
            Some((id, session))
        }
        Err(e) => {
            tracing::error!("{label}: cannot start a session: {e}");
            let _ = shared.events.send(ServerEvent::Rejected {
                peer: label.to_string(),
                reason: format!("cannot start a session: {e}"),
            });
            None
        }
    }
}

fn end_session(shared: &Shared, session: LiveSession, reason: String) {
    let metrics = Arc::clone(session.metrics());
    let report = session.finish();
    shared
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|m| !Arc::ptr_eq(m, &metrics));
    tracing::info!("session {} ended: {reason}", report.id);
    let _ = shared.events.send(ServerEvent::SessionEnded {
        report: Box::new(report),
        reason,
    });
}

/// STRONGLIVE's original client: `u32 BE length` + one H.264 access unit, repeated; no
/// handshake, no timestamps (arrival time is used). Codec-config chunks (SPS/PPS only) are held
/// and put in front of the next unit.
fn handle_legacy_peer(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let label = format!("STRONGLIVE client @ {peer}");
    let Some((_, session)) = open_session(shared, &label, Box::new(|| {})) else {
        return;
    };
    let started = Instant::now();
    let mut reader = MessageReader {
        stream: &stream,
        stop: &shared.stop,
    };
    let mut held_sets: Vec<u8> = Vec::new();
    let reason = loop {
        let deadline = Instant::now() + shared.config.idle_timeout;
        let mut header = [0u8; HEADER_BYTES];
        if let Err(e) = reader.read_exact_by(&mut header, deadline, shared.config.idle_timeout) {
            break e.to_string();
        }
        let length = match parse_header(header, MAX_MESSAGE_BYTES) {
            Ok(l) => l,
            Err(e) => break e.to_string(),
        };
        let mut data = vec![0u8; length];
        if let Err(e) = reader.read_exact_by(&mut data, deadline, shared.config.idle_timeout) {
            break e.to_string();
        }
        let units = annexb::nal_units(&data);
        if units.is_empty() {
            break format!("a {length}-byte chunk holds no H.264 NAL unit (not Annex-B)");
        }
        if units
            .iter()
            .all(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS))
        {
            held_sets = data;
            continue;
        }
        if !held_sets.is_empty() {
            let mut joined = std::mem::take(&mut held_sets);
            joined.extend_from_slice(&data);
            data = joined;
        }
        let unit = EncodedUnit {
            pts_us: started.elapsed().as_micros() as i64,
            key: annexb::is_key_frame(&data),
            data,
        };
        if !session.ingest(IngestItem::Unit {
            unit,
            received: Instant::now(),
        }) {
            break "session stopped".into();
        }
    };
    tracing::info!("{label}: {reason}");
    let _ = stream.shutdown(Shutdown::Both);
    end_session(shared, session, reason);
}

/// RTMP/SRT: FFmpeg listens for one sender at a time; each connection is a session.
fn ingest_loop(shared: &Arc<Shared>, url: &str) {
    while !shared.stop.load(Ordering::Relaxed) {
        let mut source = match PacketSource::listen(url, Arc::clone(&shared.stop)) {
            Ok(s) => s,
            Err(e) => {
                if !shared.stop.load(Ordering::Relaxed) {
                    tracing::warn!("ingest {url}: {e}");
                    let _ = shared.events.send(ServerEvent::Rejected {
                        peer: url.to_string(),
                        reason: e.to_string(),
                    });
                    thread::sleep(Duration::from_millis(500));
                }
                continue;
            }
        };
        let label = format!("ingest {url}");
        let Some((_, session)) = open_session(shared, &label, Box::new(|| {})) else {
            continue;
        };
        session.ingest(IngestItem::Config(source.description().clone()));
        let reason = loop {
            match source.next_unit() {
                Ok(Some(unit)) => {
                    if !session.ingest(IngestItem::Unit {
                        unit,
                        received: Instant::now(),
                    }) {
                        break "session stopped".to_string();
                    }
                }
                Ok(None) => break "sender ended the stream".to_string(),
                Err(e) => break e.to_string(),
            }
        };
        end_session(shared, session, reason);
    }
}
