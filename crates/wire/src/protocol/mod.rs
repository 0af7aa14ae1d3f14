//! The StrongLive wire protocol, version 2: message types and their exact byte layout (the
//! sealing of messages after the handshake is `secure`).
//! Pure: no sockets, no clocks, only `std` and `thiserror`, so the fuzz targets (fuzz/) reach it
//! without libtorch or FFmpeg. docs/protocol.md is the specification; the golden-byte tests
//! (`tests`) and those in android-companion/ check both ends against it.
//!
//! Every message on the wire is `length: u32 BE` (bytes that follow) + `type: u8` + payload.
//! All integers are big-endian. Strings are `u16 BE length + UTF-8`.
//!
//! `message` is the vocabulary, `encode` and `decode` the byte layout of each message, `frame`
//! the length header, `proof` the bytes the handshake's proofs cover; the sizes are here.

mod decode;
mod encode;
mod frame;
mod message;
mod proof;
#[cfg(test)]
pub(crate) mod tests;

pub use frame::{parse_frame, parse_header};
pub use message::{Codec, Message, PatchFormat, ProtocolError, RejectCode};
pub use proof::{proof_input, server_proof_input};

/// Bumped on any incompatible change; both hellos carry it.
pub const PROTOCOL_VERSION: u16 = 2;
/// First bytes of both hellos: a peer that speaks something else is told so at once.
pub const MAGIC: [u8; 4] = *b"SLIV";
/// Largest message after the handshake (type + payload): a 960x540 key frame is ~100 KB, a
/// 4K one a few MB; HR patches are small PNG/JPEG crops.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Largest message before the peer has proved it holds the secret: an anonymous peer cannot
/// make the server allocate more than this.
pub const MAX_HANDSHAKE_BYTES: usize = 1024;
/// Bytes of each side's random challenge.
pub const NONCE_BYTES: usize = 32;
/// Bytes of a device id (random, chosen once by the device).
pub const DEVICE_ID_BYTES: usize = 16;
/// Bytes of an HMAC-SHA256 proof.
pub const PROOF_BYTES: usize = 32;
/// Size of the length prefix.
pub const HEADER_BYTES: usize = 4;

pub type Nonce = [u8; NONCE_BYTES];
pub type DeviceId = [u8; DEVICE_ID_BYTES];
pub type Proof = [u8; PROOF_BYTES];
