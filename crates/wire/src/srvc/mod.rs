//! The SRVC model stream: `stream` is the file format (docs/srvc-format.md), `rate` the
//! encoder's cap on the stream's share of the file's bits. The weights arithmetic that needs
//! tensors lives in the engine (`sr::srvc`).

pub mod rate;
pub mod stream;

pub use rate::StreamBudget;
pub use stream::{
    write_header, write_segment, Quantization, Segment, SegmentValues, StreamError, StreamHeader,
    StreamReader,
};
