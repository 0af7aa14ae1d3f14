//! StrongLive's wire formats: everything a peer or a file from elsewhere controls byte by byte,
//! in pure Rust (std + crypto crates), so it builds, tests and fuzzes without libtorch or FFmpeg.
//!
//! `protocol` is the message layout (docs/protocol.md), `secure` the per-direction keys and
//! sealed records, `framing` reads and writes messages on a socket with deadlines, `admission`
//! caps the connections not yet proven, `pairing` holds secrets, proofs, the QR payload and the
//! paired-device store. `annexb` splits H.264 bitstreams; `srvc` is the SRVC model stream
//! (docs/srvc-format.md) and its rate budget; `atomic_file` writes files whole or not at all.

pub mod admission;
pub mod annexb;
pub mod atomic_file;
pub mod framing;
pub mod pairing;
pub mod protocol;
pub mod secure;
pub mod srvc;
#[cfg(test)]
mod test_rng;
