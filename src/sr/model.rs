//! The model interface every SR network implements, and the registry that turns a name into one.

use tch::Tensor;

use super::{bicubic::Bicubic, ComputeDevice, SrError};

/// A super-resolution network. Input: RGB in 0..1, NCHW, on the model's device and in its
/// precision. Output: RGB, N x 3 x (H*scale) x (W*scale), not yet clamped.
pub trait SrModel: Send {
    fn name(&self) -> &str;
    fn scale(&self) -> u32;
    fn forward(&self, rgb: &Tensor) -> Tensor;
    /// Pixels of context on each side a tile needs so that its centre matches an untiled run.
    fn receptive_margin(&self) -> u32;
}

/// Names `load_model` accepts besides file paths.
pub const BUILTIN_MODELS: &[&str] = &["bicubic"];

/// Resolve a model by registry name. `scale` is the factor the caller wants; a model trained for
/// another factor is an error rather than a silent mismatch.
pub fn load_model(
    name: &str,
    scale: u32,
    device: &ComputeDevice,
) -> Result<Box<dyn SrModel>, SrError> {
    if !(1..=8).contains(&scale) {
        return Err(SrError::ScaleOutOfRange(scale));
    }
    match name {
        "bicubic" => Ok(Box::new(Bicubic::new(scale, device))),
        _ => Err(SrError::UnknownModel {
            name: name.to_string(),
            available: BUILTIN_MODELS.join(", "),
        }),
    }
}
