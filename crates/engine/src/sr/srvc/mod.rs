//! SRVC's content-adaptive compression (Khani et al., ICCV 2021): a low-resolution video plus a
//! stream of sparse weight changes, one per segment, that the decoder applies to a base model.
//! `stream` is the format (docs/srvc-format.md) and `rate` the encoder's cap on the stream's
//! share of the file's bits, both from `stronglive-wire`; `deltas` is the flat-weights
//! arithmetic both ends share, `trainer` the encoder's fine-tuning.

pub mod deltas;
pub mod trainer;

pub use deltas::{apply, header_for_weights, quantise, top_changes, top_k, FlatWeights};
pub use stronglive_wire::srvc::{
    rate, stream, write_header, write_segment, Quantization, Segment, SegmentValues, StreamBudget,
    StreamError, StreamHeader, StreamReader,
};
