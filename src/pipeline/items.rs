//! What a transport hands a live session: stream parameters, access units, HR patches.

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
