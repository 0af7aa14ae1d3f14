//! What the reference sender is asked to do and what it reports: its options, its report,
//! its errors, and the stable device id it pairs as.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::live::framing::WireError;
use crate::live::pairing::{PairingError, PairingUri};
use crate::live::protocol::{DeviceId, RejectCode};
use crate::media::MediaError;

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
    #[error("cannot reach {} ({})", addresses(attempts), reasons(attempts))]
    Connect { attempts: Vec<ConnectAttempt> },
    #[error("{server} refused the connection: {reason}")]
    Rejected {
        server: String,
        reason: SenderRefusal,
    },
    #[error("{server}: {source}")]
    Wire { server: String, source: WireError },
    /// The server's handshake sent another message than the one due.
    #[error("{server}: expected {expected}, got {got}")]
    Unexpected {
        server: String,
        expected: &'static str,
        got: &'static str,
    },
    /// No nonce: the operating system gave no random numbers.
    #[error("{server}: {source}")]
    Random {
        server: String,
        source: PairingError,
    },
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// One address the sender tried, and why the connection failed.
#[derive(Debug)]
pub struct ConnectAttempt {
    pub address: SocketAddr,
    pub cause: std::io::Error,
}

fn addresses(attempts: &[ConnectAttempt]) -> String {
    let all: Vec<String> = attempts.iter().map(|a| a.address.to_string()).collect();
    all.join(", ")
}

fn reasons(attempts: &[ConnectAttempt]) -> String {
    let all: Vec<String> = attempts
        .iter()
        .map(|a| format!("{}: {}", a.address, a.cause))
        .collect();
    all.join("; ")
}

/// Why the server would not take this sender's stream.
#[derive(Debug, thiserror::Error)]
pub enum SenderRefusal {
    #[error(
        "the desktop speaks protocol version {found}, this sender {expected}: \
         update the older of the two"
    )]
    Version { found: u16, expected: u16 },
    /// The server's Reject, with the reason it gave (its own words).
    #[error("{code}: {reason}")]
    Server { code: RejectCode, reason: String },
    #[error(
        "the server could not prove it holds this device's pairing key (not the \
         paired desktop, or someone in between): nothing was sent"
    )]
    UnprovenServer,
}

/// A stable device id for a sender name, so repeated runs are one paired device.
pub fn device_id_for(name: &str) -> DeviceId {
    let digest = Sha256::digest(format!("stronglive-send:{name}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}
