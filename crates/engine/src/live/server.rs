//! The ingest server: accepts peers, authenticates them (protocol handshake), and pumps their
//! messages into a [`LiveSession`] each. The two opt-in transports without authentication
//! (STRONGLIVE's framing, RTMP/SRT) live in `unauthenticated`, the handshake in `handshake`.
//!
//! Every peer is one named thread; a bad peer only ever costs its own thread a bounded time
//! (handshake deadline, per-message deadline, size limits checked before allocating).

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::admission::{Admission, Refusal, Ticket};
use super::framing::{send, MessageReader, SealedWriter, WireError};
use super::handshake::{handshake, reject, RejectReason};
use super::pairing::compute_server_proof;
use super::protocol::{Codec, Message, PatchFormat};
use super::secure::{derive_keys, Opener, Sealer};
use super::session_table::{end_session, open_session, Shared};
use super::unauthenticated::{handle_legacy_peer, ingest_loop};
use crate::media::h264::EncodedUnit;
use crate::media::ingest::StreamDescription;
use crate::pipeline::live::metrics::{MetricsSnapshot, SessionMetrics};
use crate::pipeline::{HrPatch, IngestItem, LiveSession, SenderControl, SenderRequest};

pub use super::session_table::{
    upscaling_sessions, BadStream, ServerConfig, ServerEvent, SessionEnd, SessionFactory,
    SessionRequest, DEFAULT_HANDSHAKE_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_SESSIONS,
};

/// Default TCP port of the protocol listener.
pub const DEFAULT_PORT: u16 = 7878;

pub struct LiveServer {
    local_addr: SocketAddr,
    legacy_addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<Arc<SessionMetrics>>>>,
    threads: Vec<thread::JoinHandle<()>>,
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
            admission: Admission::default(),
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
            PeerHandler {
                handle: handle_protocol_peer,
                refuse: refuse_protocol_peer,
            },
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
                PeerHandler {
                    handle: handle_legacy_peer,
                    // STRONGLIVE's framing has no message to say why: the peer is closed.
                    refuse: |_, _| {},
                },
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

/// What an accept loop does with a connection: `handle` it on its own thread (with its place
/// among the unproven connections), or `refuse` it on the accept thread when there is none.
struct PeerHandler {
    handle: fn(&Arc<Shared>, TcpStream, SocketAddr, Ticket),
    refuse: fn(&TcpStream, &Refusal),
}

fn accept_loop(
    name: &str,
    listener: TcpListener,
    shared: &Arc<Shared>,
    handler: PeerHandler,
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
            // Checked before a thread exists: a flood costs this loop one syscall per peer.
            let ticket = match shared.admission.admit(peer.ip()) {
                Ok(ticket) => ticket,
                Err(refusal) => {
                    tracing::debug!("peer {peer} refused: {refusal}");
                    (handler.refuse)(&stream, &refusal);
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
            };
            peers.retain(|h| !h.is_finished());
            let s = Arc::clone(&shared);
            let handle = handler.handle;
            match thread::Builder::new()
                .name(format!("peer-{peer}"))
                .spawn(move || handle(&s, stream, peer, ticket))
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

/// A protocol peer that found no place: told `Busy` (a short write into an empty socket
/// buffer, bounded anyway so the accept loop never waits on a peer).
fn refuse_protocol_peer(stream: &TcpStream, refusal: &Refusal) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = reject(stream, RejectReason::NoPlace(refusal.clone()));
}

fn handle_protocol_peer(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    pending: Ticket,
) {
    let _ = stream.set_nodelay(true);
    let verified = match handshake(shared, &stream, pending) {
        Ok(verified) => verified,
        Err(e) => {
            tracing::warn!("peer {peer} rejected: {e}");
            let _ = shared.events.send(ServerEvent::Rejected {
                peer: peer.to_string(),
                reason: e.to_string(),
            });
            return;
        }
    };
    let label = format!("{} @ {peer}", verified.device_name);
    let keys = derive_keys(&verified.device_key.0, &verified.nonces);
    let writer = match stream.try_clone() {
        Ok(w) => Arc::new(Mutex::new(SealedWriter::new(
            w,
            Sealer::new(&keys.server_to_client),
        ))),
        Err(e) => {
            tracing::warn!("peer {peer}: {e}");
            return;
        }
    };
    // The session's first requests (patches) go out on its first StreamConfig, after Welcome.
    let Some((id, session)) = open_session(shared, &label, sealed_sender_control(&writer)) else {
        let _ = send(
            &stream,
            &Message::Bye {
                reason: "server could not start a session".into(),
            },
        );
        return;
    };
    let welcome = Message::Welcome {
        session_id: id,
        server_proof: compute_server_proof(&verified.device_key.0, &verified.nonces, id),
    };
    if send(&stream, &welcome).is_err() {
        end_session(shared, session, SessionEnd::LeftDuringHandshake);
        return;
    }
    let mut opener = Opener::new(&keys.client_to_server);
    let reason = match pump_protocol(shared, &stream, &mut opener, &session) {
        Ok(reason) => reason,
        Err(e) => {
            tracing::warn!("{label}: {e}");
            SessionEnd::from(e)
        }
    };
    if matches!(reason, SessionEnd::ServerStopping) {
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.send(&Message::Bye {
            reason: reason.to_string(),
        });
    }
    let _ = stream.shutdown(Shutdown::Both);
    end_session(shared, session, reason);
}

/// The session's requests to the sender, sealed on the shared writer.
fn sealed_sender_control(writer: &Arc<Mutex<SealedWriter>>) -> SenderControl {
    let writer = Arc::clone(writer);
    Arc::new(move |request| {
        let message = match request {
            SenderRequest::KeyFrame => Message::KeyFrameRequest,
            SenderRequest::Patches { count, size } => Message::PatchRequest { count, size },
            SenderRequest::Bitrate { bits_per_second } => {
                Message::TargetBitrate { bits_per_second }
            }
            SenderRequest::StreamSize { width, height } => {
                Message::TargetStreamSize { width, height }
            }
        };
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.send(&message);
    })
}

/// Messages into the session until the peer says bye, leaves, or misbehaves.
fn pump_protocol(
    shared: &Shared,
    stream: &TcpStream,
    opener: &mut Opener,
    session: &LiveSession,
) -> Result<SessionEnd, WireError> {
    let mut reader = MessageReader {
        stream,
        stop: &shared.stop,
    };
    loop {
        let message = reader.read_sealed(opener, shared.config.idle_timeout)?;
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
            Message::Bye { reason } => return Ok(SessionEnd::PeerBye { reason }),
            other => {
                return Err(WireError::Unexpected {
                    message: other.name(),
                    peer: "client",
                })
            }
        };
        if !session.ingest(item) {
            return Ok(SessionEnd::SessionStopped);
        }
    }
}
