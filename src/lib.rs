//! StrongLive Studio engine: neural super-resolution of video, offline and live.
//!
//! `sr` is the only module that touches libtorch, `media` the only one that touches FFmpeg,
//! `app` the only one that touches egui. `pipeline` joins them with named threads and bounded
//! channels.

pub mod sr;

/// `train`, `eval`, `models` commands (libtorch only).
pub mod models_cli;

#[cfg(feature = "media")]
pub mod media;

#[cfg(feature = "media")]
pub mod pipeline;

#[cfg(feature = "media")]
pub mod bench;

#[cfg(feature = "media")]
pub mod live_bench;

#[cfg(all(feature = "gui", feature = "media"))]
pub mod app;

pub mod frame;

/// Live streaming: wire protocol and pairing (pure), server, sender and ingest (need `media`).
pub mod live;
