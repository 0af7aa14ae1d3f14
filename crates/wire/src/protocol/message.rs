//! The protocol's vocabulary: every message and its fields, the reasons a server refuses a
//! client, the type byte that names each message on the wire, and what goes wrong parsing one.

use std::fmt;

use super::{DeviceId, Nonce, Proof};

/// Video codecs a stream config can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264 = 1,
}

/// Encodings an HR patch can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    Png = 1,
    Jpeg = 2,
}

/// Why the server refused a client (the `code` byte of [`Message::Reject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// The proof did not match: wrong or stale pairing secret.
    BadProof = 1,
    /// An unknown device came with an expired (or revoked) pairing secret.
    PairingExpired = 2,
    /// The client speaks another protocol version.
    Version = 3,
    /// The bytes were not a StrongLive hello.
    Malformed = 4,
    /// Too many sessions already.
    Busy = 5,
}

/// One protocol message. Direction: S->C from the server, C->S from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// S->C, first message: protocol version, challenge, the server's display name.
    ServerHello {
        version: u16,
        nonce: Nonce,
        server_name: String,
    },
    /// C->S, answer to the hello: who the device is, its own challenge for the server and the
    /// HMAC proof (see [`super::proof_input`]).
    ClientHello {
        version: u16,
        device_id: DeviceId,
        device_name: String,
        client_nonce: Nonce,
        proof: Proof,
    },
    /// S->C: proof accepted, and the server's own proof (see [`super::server_proof_input`]); every
    /// message after this one is sealed.
    Welcome {
        session_id: u64,
        server_proof: Proof,
    },
    /// S->C: refused; the server closes the connection after sending it.
    Reject { code: RejectCode, reason: String },
    /// C->S, before the first video unit and whenever the stream changes.
    StreamConfig {
        codec: Codec,
        width: u16,
        height: u16,
        fps_num: u32,
        fps_den: u32,
        bitrate: u32,
        /// Annex-B SPS/PPS (may be empty when they are sent in-band before key frames).
        parameter_sets: Vec<u8>,
    },
    /// C->S: one access unit, Annex-B, with its presentation time in microseconds.
    VideoUnit {
        pts_us: i64,
        key: bool,
        data: Vec<u8>,
    },
    /// C->S: a full-resolution crop of the frame with `frame_pts_us`, at (x, y) in HR pixels.
    HrPatch {
        frame_pts_us: i64,
        x: u16,
        y: u16,
        width: u16,
        height: u16,
        format: PatchFormat,
        data: Vec<u8>,
    },
    /// S->C: encode at this many bits per second from now on.
    TargetBitrate { bits_per_second: u32 },
    /// S->C: send a key frame as soon as possible (decoder lost sync, recording started).
    KeyFrameRequest,
    /// S->C: send `count` HR patches of `size` x `size` pixels from detailed regions.
    PatchRequest { count: u16, size: u16 },
    /// S->C: send pictures no larger than `width` x `height` (even; the sender keeps its aspect
    /// ratio); 0 x 0 = the sender's own size again.
    TargetStreamSize { width: u16, height: u16 },
    /// C->S, about once a second: what the sender did.
    Stats {
        frames_sent: u64,
        bytes_sent: u64,
        frames_dropped: u32,
        encoder_fps_milli: u32,
    },
    /// Either way: orderly end of the session, with a reason for the log.
    Bye { reason: String },
}

/// What went wrong reading or parsing a message; each says what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("message of {length} bytes exceeds the {limit}-byte limit")]
    TooLarge { length: usize, limit: usize },
    #[error("empty message (length 0, no type byte)")]
    Empty,
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("{message}: payload ends after {have} bytes, needs {need}")]
    Truncated {
        message: &'static str,
        have: usize,
        need: usize,
    },
    #[error("{message}: {extra} unexpected bytes after the payload")]
    TrailingBytes { message: &'static str, extra: usize },
    #[error("{message}: {field} is not valid UTF-8")]
    BadString {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: {field} = {value} (valid: {valid})")]
    BadValue {
        message: &'static str,
        field: &'static str,
        value: u64,
        valid: &'static str,
    },
    #[error("not a StrongLive hello (magic {found:02x?}, expected \"SLIV\")")]
    BadMagic { found: [u8; 4] },
    #[error("{message} speaks protocol version {found}, this end {expected}")]
    Version {
        message: &'static str,
        found: u16,
        expected: u16,
    },
}

/// The type byte of each message (docs/protocol.md).
pub(super) mod kind {
    pub const SERVER_HELLO: u8 = 0x01;
    pub const CLIENT_HELLO: u8 = 0x02;
    pub const WELCOME: u8 = 0x03;
    pub const REJECT: u8 = 0x04;
    pub const STREAM_CONFIG: u8 = 0x10;
    pub const VIDEO_UNIT: u8 = 0x11;
    pub const HR_PATCH: u8 = 0x12;
    pub const TARGET_BITRATE: u8 = 0x20;
    pub const KEY_FRAME_REQUEST: u8 = 0x21;
    pub const PATCH_REQUEST: u8 = 0x22;
    pub const TARGET_STREAM_SIZE: u8 = 0x23;
    pub const STATS: u8 = 0x30;
    pub const BYE: u8 = 0x7f;
}

impl Message {
    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        type_name(self.kind()).unwrap_or("?")
    }

    /// The type byte that names this message on the wire.
    pub(super) fn kind(&self) -> u8 {
        match self {
            Message::ServerHello { .. } => kind::SERVER_HELLO,
            Message::ClientHello { .. } => kind::CLIENT_HELLO,
            Message::Welcome { .. } => kind::WELCOME,
            Message::Reject { .. } => kind::REJECT,
            Message::StreamConfig { .. } => kind::STREAM_CONFIG,
            Message::VideoUnit { .. } => kind::VIDEO_UNIT,
            Message::HrPatch { .. } => kind::HR_PATCH,
            Message::TargetBitrate { .. } => kind::TARGET_BITRATE,
            Message::KeyFrameRequest => kind::KEY_FRAME_REQUEST,
            Message::PatchRequest { .. } => kind::PATCH_REQUEST,
            Message::TargetStreamSize { .. } => kind::TARGET_STREAM_SIZE,
            Message::Stats { .. } => kind::STATS,
            Message::Bye { .. } => kind::BYE,
        }
    }
}

/// The message a type byte names, `None` for a byte no message has.
pub(super) fn type_name(kind_byte: u8) -> Option<&'static str> {
    Some(match kind_byte {
        kind::SERVER_HELLO => "ServerHello",
        kind::CLIENT_HELLO => "ClientHello",
        kind::WELCOME => "Welcome",
        kind::REJECT => "Reject",
        kind::STREAM_CONFIG => "StreamConfig",
        kind::VIDEO_UNIT => "VideoUnit",
        kind::HR_PATCH => "HrPatch",
        kind::TARGET_BITRATE => "TargetBitrate",
        kind::KEY_FRAME_REQUEST => "KeyFrameRequest",
        kind::PATCH_REQUEST => "PatchRequest",
        kind::TARGET_STREAM_SIZE => "TargetStreamSize",
        kind::STATS => "Stats",
        kind::BYE => "Bye",
        _ => return None,
    })
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectCode::BadProof => "authentication failed",
            RejectCode::PairingExpired => "pairing code expired",
            RejectCode::Version => "protocol version mismatch",
            RejectCode::Malformed => "malformed handshake",
            RejectCode::Busy => "server busy",
        })
    }
}
