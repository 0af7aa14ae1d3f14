//! The live path's network side. The pure parts come from `stronglive-wire`: `protocol`
//! (message layouts), `secure` (per-direction keys, sealed records), `framing` (messages on a
//! socket with deadlines), `admission` (caps the connections not yet proven) and `pairing`
//! (secrets, proofs, QR payload, paired devices). Here: `server` accepts and authenticates
//! peers (`handshake`) and keeps the `session_table`, `unauthenticated` speaks STRONGLIVE's
//! original framing and takes RTMP/SRT, `sender` is the reference sender (the phone
//! simulator), `service` runs a server or a sender for the studio.

#[cfg(feature = "media")]
use stronglive_wire::{admission, framing};
pub use stronglive_wire::{pairing, protocol, secure};

#[cfg(feature = "media")]
mod handshake;
#[cfg(feature = "media")]
pub mod sender;
#[cfg(feature = "media")]
pub mod server;
#[cfg(feature = "media")]
pub mod service;
#[cfg(feature = "media")]
mod session_table;
#[cfg(feature = "media")]
mod unauthenticated;
