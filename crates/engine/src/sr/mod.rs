//! Super-resolution: the only module that touches libtorch (tch).
//!
//! Pictures enter as [`YuvFrame`](crate::frame::YuvFrame)s, become RGB tensors on the compute
//! device (`color`), go through a model (`model`), possibly tile by tile (`tiling`), and come
//! back as YUV planes at the output size. `Upscaler` strings those steps together.

pub mod adapt;
pub mod baseline;
pub mod bicubic;
pub mod card;
pub mod color;
pub mod device;
pub mod images;
pub mod load;
pub mod model;
pub mod nets;
pub mod quality;
pub mod registry;
pub mod srvc;
pub mod tiling;
pub mod tonemap;
pub mod train;
pub mod upscaler;

pub use device::{cpu_has_native_bf16, ComputeDevice, DevicePreference, DeviceTarget, Precision};
pub use load::load_model;
pub use model::SrModel;
/// The engine's image type (N x C x H x W), passed between `sr` and its callers.
pub use tch::Tensor;
pub use upscaler::Upscaler;

/// Intra-op threads libtorch uses on the CPU.
pub fn set_cpu_threads(threads: i32) {
    tch::set_num_threads(threads);
}

/// Errors from the super-resolution engine; each names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum SrError {
    #[error("unknown model {name:?}: available models are {available}")]
    UnknownModel { name: String, available: String },
    #[error("model {model} supports scale x{supported}, not x{requested}")]
    UnsupportedScale {
        model: String,
        supported: u32,
        requested: u32,
    },
    #[error("scale x{0} is out of range (1..=8)")]
    ScaleOutOfRange(u32),
    #[error("CUDA device {index} requested but {reason}")]
    CudaUnavailable { index: usize, reason: String },
    #[error("{precision} is not available on {device}: use auto, fp32 or bf16 there")]
    UnsupportedPrecision { precision: String, device: String },
    #[error("frame plane sizes do not match {width}x{height} 4:2:0 (Y {y}, U {u}, V {v} bytes)")]
    BadFrame {
        width: u32,
        height: u32,
        y: usize,
        u: usize,
        v: usize,
    },
    #[error("model file {path}: {reason}")]
    ModelFile {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("image {path}: {reason}")]
    Image {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("model {model} failed: {reason}")]
    ModelRun { model: String, reason: String },
    #[error("training: {0}")]
    Training(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl SrError {
    /// A problem with a model file (card, weights or TorchScript module), naming it.
    pub fn model_file(path: &std::path::Path, reason: impl Into<String>) -> Self {
        SrError::ModelFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
