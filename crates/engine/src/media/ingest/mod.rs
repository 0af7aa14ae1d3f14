//! H.264 access units out of a container or a network ingest, as Annex-B with microsecond
//! timestamps: MP4/MKV files for the reference sender (stream copy, no re-encode) and RTMP/SRT
//! listeners (`rtmp://…` with FFmpeg's `listen`, `srt://…?mode=listener`) so OBS or Larix can be
//! the sender. [`SenderSource`] is what the reference sender streams: a stream copy where the
//! file allows it, libx264 zerolatency otherwise.

mod packets;
mod sender;

pub use packets::{PacketSource, StreamDescription};
pub use sender::{fit_within, SenderSource};
