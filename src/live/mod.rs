//! The live path's network side. `protocol` (message layouts), `secure` (per-direction keys,
//! sealed records) and `pairing` (secrets, proofs, QR payload, paired devices) are pure and
//! build without FFmpeg; `server` accepts and
//! authenticates peers (`handshake`), `unauthenticated` speaks STRONGLIVE's original framing
//! and takes RTMP/SRT, `admission` caps the connections not yet proven, `sender` is the
//! reference sender (the phone simulator).

#[cfg(feature = "media")]
mod admission;
pub mod pairing;
pub mod protocol;
pub mod secure;

#[cfg(feature = "media")]
mod handshake;
#[cfg(feature = "media")]
pub mod sender;
#[cfg(feature = "media")]
pub mod server;
#[cfg(feature = "media")]
pub mod service;
#[cfg(feature = "media")]
mod sessions;
#[cfg(feature = "media")]
mod unauthenticated;
#[cfg(feature = "media")]
pub mod wire;
