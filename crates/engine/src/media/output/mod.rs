//! Mux the upscaled video with the stream-copied tracks into a temporary file beside the
//! destination, renamed into place only after the trailer is written: an interrupted or failed
//! job never leaves a file that looks complete.

mod muxer;
mod writer;

pub use muxer::container_for;
pub(crate) use muxer::{
    add_copied_tracks, copy_display_matrix, open_temporary_output, stream_time_base, write_header,
    OutputLayout, StreamCopy,
};
pub use writer::{MediaWriter, OutputPlan};
