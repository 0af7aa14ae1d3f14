//! The live path's network side. `protocol` (message layouts) and `pairing` (secrets, QR
//! payload, paired devices) are pure and build without FFmpeg; `server` accepts and
//! authenticates peers, `legacy` speaks STRONGLIVE's original framing, `sender` is the
//! reference sender (the phone simulator).

pub mod annexb;
pub mod pairing;
pub mod protocol;

#[cfg(feature = "media")]
pub mod sender;
#[cfg(feature = "media")]
pub mod server;
#[cfg(feature = "media")]
pub mod service;
#[cfg(feature = "media")]
pub mod wire;
