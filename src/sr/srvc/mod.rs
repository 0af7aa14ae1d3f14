//! SRVC's content-adaptive compression (Khani et al., ICCV 2021): a low-resolution video plus a
//! stream of sparse weight changes, one per segment, that the decoder applies to a base model.
//! `stream` is the format (docs/srvc-format.md), `deltas` the flat-weights arithmetic both ends
//! share, `rate` the encoder's cap on the stream's share of the file's bits.

pub mod deltas;
pub mod rate;
pub mod stream;
pub mod trainer;

pub use deltas::{apply, quantise, top_changes, top_k, FlatWeights};
pub use rate::StreamBudget;
pub use stream::{
    write_header, write_segment, Quantization, Segment, SegmentValues, StreamError, StreamHeader,
    StreamReader,
};
