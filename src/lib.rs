//! StrongLive Studio engine: neural super-resolution of video, offline and live.
//!
//! `sr` is the only module that touches libtorch, `media` the only one that touches FFmpeg,
//! `app` the only one that touches egui. `pipeline` joins them with named threads and bounded
//! channels; `live` is the network side on top of `pipeline`. The command-line tools are not
//! part of the library: they live in the binary (`src/cli/`).

pub mod atomic_file;
pub mod frame;
pub mod nvidia;
pub mod sr;
#[cfg(test)]
mod test_rng;

#[cfg(feature = "media")]
pub mod media;

#[cfg(feature = "media")]
pub mod pipeline;

/// Live streaming: wire protocol and pairing (pure), server, sender and ingest (need `media`).
pub mod live;

#[cfg(all(feature = "gui", feature = "media"))]
pub mod app;
