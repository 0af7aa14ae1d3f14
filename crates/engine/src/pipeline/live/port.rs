//! The port between a transport (the live server, RTMP/SRT ingest, a test) and a live
//! session: what the transport hands the session (stream parameters, access units, HR patches)
//! and what the session asks back of the sender through it.

use std::sync::Arc;
use std::time::Instant;

use crate::media::h264::EncodedUnit;
use crate::media::ingest::StreamDescription;

/// What a transport hands the session.
pub enum IngestItem {
    /// Stream parameters (before the first unit, and when they change).
    Config(StreamDescription),
    /// One access unit and when its last byte arrived.
    Unit {
        unit: EncodedUnit,
        received: Instant,
    },
    /// A full-resolution patch for online learning (counted; saved when recording).
    Patch(HrPatch),
}

/// A crop of the sender's full-resolution frame, as it arrived (PNG or JPEG bytes).
#[derive(Debug, Clone)]
pub struct HrPatch {
    pub frame_pts_us: i64,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    /// File extension of `data`: "png" or "jpg".
    pub extension: &'static str,
    pub data: Vec<u8>,
}

/// What a session asks its sender for; transports without a way back ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderRequest {
    /// The decoder lost sync, or a take starts mid-stream.
    KeyFrame,
    /// `count` more HR patches of `size` x `size` pixels (replaces the previous request).
    Patches { count: u16, size: u16 },
    /// Encode at this many bits per second from now on (the session's rate controller).
    Bitrate { bits_per_second: u32 },
    /// Send pictures no larger than this (the operator's cap, or the rate controller).
    StreamSize { width: u16, height: u16 },
}

/// The transport's side: sends a [`SenderRequest`] to the peer (any thread may call it).
pub type SenderControl = Arc<dyn Fn(SenderRequest) + Send + Sync>;

/// A control for transports that cannot ask their sender anything.
pub fn deaf_sender() -> SenderControl {
    Arc::new(|_| {})
}
