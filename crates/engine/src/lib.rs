//! StrongLive Studio engine: neural super-resolution of video, offline and live.
//!
//! `sr` is the only module that touches libtorch, `media` the only one that touches FFmpeg.
//! `pipeline` joins them with named threads and bounded channels (`live`, `offline`, `srvc`);
//! `live` is the network side on top of `pipeline`. The wire formats come from
//! `stronglive-wire`; the window (`stronglive-studio`) and the command line (`stronglive`) sit
//! on top of this crate.

pub use stronglive_wire::atomic_file;
pub mod frame;
pub mod nvidia;
pub mod sr;

#[cfg(feature = "media")]
pub mod media;

#[cfg(feature = "media")]
pub mod pipeline;

/// Live streaming: wire protocol and pairing (from `stronglive-wire`), server, sender and
/// ingest (need `media`).
pub mod live;
