//! What every transport of the server shares: its configuration and events, how a session
//! is made (`SessionFactory`) and why it ended (`SessionEnd`), the state all peer threads see,
//! and the start and end of a session. The listeners (`server`, `handshake`,
//! `unauthenticated`) sit on top of this file; it imports none of them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::admission::Admission;
use super::framing::WireError;
use super::pairing::PairingStore;
use super::protocol::ProtocolError;
use crate::media::MediaError;
use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::{
    DisplaySlot, LiveSession, LiveSessionConfig, SenderControl, SessionOptions, SessionReport,
    SessionStartError, TierLadder,
};
use crate::sr::{load_model, ComputeDevice, Upscaler};

/// What the server knows when a peer's session is about to start.
pub struct SessionRequest {
    pub id: u64,
    /// Who is sending ("Pixel 7 @ 192.168.1.20:40312").
    pub label: String,
    /// Carries key-frame and patch requests to the sender (ignored by transports without a
    /// way back).
    pub sender: SenderControl,
}

/// Builds the session for a newly connected peer (loads the model, opens recorders).
pub type SessionFactory =
    Arc<dyn Fn(SessionRequest) -> Result<LiveSession, SessionStartError> + Send + Sync>;

/// Why a session ended. Causes are shared (`Arc`) so the event can go to every screen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionEnd {
    /// The peer's Bye, with the reason it gave (its own words).
    #[error("peer said bye: {reason}")]
    PeerBye { reason: String },
    #[error("server stopping")]
    ServerStopping,
    /// The session's stages stopped taking input.
    #[error("session stopped")]
    SessionStopped,
    #[error("peer left during the handshake")]
    LeftDuringHandshake,
    #[error("sender ended the stream")]
    SenderEnded,
    /// The connection failed or the peer broke the protocol.
    #[error("{0}")]
    Connection(Arc<WireError>),
    /// The peer's bytes are not what its transport promised (e.g. not Annex-B H.264).
    #[error("{0}")]
    BadStream(#[from] BadStream),
}

/// How a peer's stream broke its transport's promise.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BadStream {
    /// A legacy chunk's length prefix is out of bounds.
    #[error("{0}")]
    ChunkLength(ProtocolError),
    #[error("a {length}-byte chunk holds no H.264 NAL unit (not Annex-B)")]
    NotAnnexB { length: usize },
    /// FFmpeg's RTMP/SRT ingest could not read the sender's stream.
    #[error("{0}")]
    Ingest(Arc<MediaError>),
}

impl From<WireError> for SessionEnd {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Stopping => SessionEnd::ServerStopping,
            other => SessionEnd::Connection(Arc::new(other)),
        }
    }
}

/// The usual factory: each session loads `model` on `device` (one model instance per session,
/// so sessions never share mutable state) and runs as `options` say.
pub fn upscaling_sessions(
    model: String,
    device: ComputeDevice,
    options: SessionOptions,
    display: Option<Arc<DisplaySlot>>,
) -> SessionFactory {
    Arc::new(move |request: SessionRequest| {
        let tiers = if options.tiers_switch() {
            TierLadder::shipped(&model, 4, &device)?
        } else {
            TierLadder::fixed(Upscaler::new(
                load_model(&model, 4, &device)?,
                device.clone(),
            ))
        };
        let session = LiveSession::start(
            LiveSessionConfig {
                id: request.id,
                label: request.label,
                options: options.clone(),
            },
            tiers,
            display.clone(),
            request.sender,
        )?;
        Ok(session)
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
    /// Authenticated sessions streaming at once; more are refused `Busy` (each holds a model,
    /// its SR threads and queues).
    pub max_sessions: usize,
}

/// Sessions a server runs at once unless configured.
pub const DEFAULT_MAX_SESSIONS: usize = 4;
/// Seconds a peer has to complete its handshake unless configured.
pub const DEFAULT_HANDSHAKE_TIMEOUT_S: f64 = 5.0;
/// Seconds a streaming peer may take to deliver one message unless configured.
pub const DEFAULT_IDLE_TIMEOUT_S: f64 = 10.0;

impl ServerConfig {
    /// A server on `bind` named `name` with the default deadlines and session cap, no
    /// unauthenticated listener and no RTMP/SRT ingest (set the fields to change them).
    pub fn new(bind: SocketAddr, name: String, store: PairingStore) -> Self {
        Self {
            bind,
            name,
            store,
            handshake_timeout: Duration::from_secs_f64(DEFAULT_HANDSHAKE_TIMEOUT_S),
            idle_timeout: Duration::from_secs_f64(DEFAULT_IDLE_TIMEOUT_S),
            legacy_bind: None,
            ingest_urls: Vec::new(),
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
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
        reason: SessionEnd,
    },
}

/// Shared by all peer threads.
pub(super) struct Shared {
    pub(super) config: ServerConfig,
    pub(super) factory: SessionFactory,
    pub(super) events: Sender<ServerEvent>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) next_session: AtomicU64,
    /// Places for connections that have not proven themselves yet.
    pub(super) admission: Admission,
    pub(super) sessions: Arc<Mutex<Vec<Arc<SessionMetrics>>>>,
}

pub(super) fn open_session(
    shared: &Shared,
    label: &str,
    sender: SenderControl,
) -> Option<(u64, LiveSession)> {
    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let request = SessionRequest {
        id,
        label: label.to_string(),
        sender,
    };
    match (shared.factory)(request) {
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

pub(super) fn end_session(shared: &Shared, session: LiveSession, reason: SessionEnd) {
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
