//! SR network architectures in tch. Variable names mirror the PyTorch state-dict keys of each
//! architecture's reference implementation, so a checkpoint converted to safetensors loads as is.

pub mod edsr;
pub mod fmen;
pub mod srvc;

use tch::{nn, Tensor};

/// Hyperparameters a network cannot be built with, and the values at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("up_blocks has {entries} entries, down_blocks {down_blocks} needs {}", down_blocks + 1)]
    UpBlocks { entries: usize, down_blocks: usize },
    #[error("n_feats {n_feats} / mid_feats {mid_feats} / scale {scale} out of range")]
    FmenSizes {
        n_feats: i64,
        mid_feats: i64,
        scale: u32,
    },
    #[error("EDSR supports scales 2, 3, 4, 8, not {0}")]
    EdsrScale(u32),
    #[error("grid {grid:?} / feats must be positive")]
    SrvcSizes { grid: (i64, i64) },
}

/// A network's forward pass. `train` switches BatchNorm to batch statistics; networks without
/// BatchNorm ignore it. Input and output are RGB in the network's own input range.
pub trait Network: Send {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor;
    /// Pixels of input context on each side that influence one output pixel (for tiling).
    fn receptive_margin(&self) -> u32;
    /// Multiply-accumulates per input pixel (convolutions only), for FLOPs reports.
    fn macs_per_input_pixel(&self) -> u64;
}

/// A k x k convolution with "same" padding (or none, for the re-parameterisable forms that pad
/// explicitly), initialised like PyTorch's `nn.Conv2d` (uniform within 1/sqrt(fan_in)); tch's
/// default He init is ~2.4x wider and makes deep residual stacks blow up at the start.
pub(crate) fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, padding: i64) -> nn::Conv2D {
    conv_init(p, c_in, c_out, k, padding, 1.0)
}

/// `conv` with its initial weights scaled by `gain` (a small gain on the last layer of a
/// residual-to-bicubic network starts it close to bicubic).
pub(crate) fn conv_init(
    p: nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    padding: i64,
    gain: f64,
) -> nn::Conv2D {
    let bound = 1.0 / ((c_in * k * k) as f64).sqrt();
    nn::conv2d(
        p,
        c_in,
        c_out,
        k,
        nn::ConvConfig {
            padding,
            ws_init: nn::Init::Uniform {
                lo: -bound * gain,
                up: bound * gain,
            },
            bs_init: nn::Init::Uniform {
                lo: -bound * gain,
                up: bound * gain,
            },
            ..Default::default()
        },
    )
}

/// Multiply-accumulates per pixel of one convolution.
pub(crate) fn conv_macs(c_in: i64, c_out: i64, k: i64) -> u64 {
    (c_in * c_out * k * k) as u64
}

/// LeakyReLU with a slope (tch's `leaky_relu` is fixed at 0.01).
pub(crate) fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.maximum(&(x * slope))
}
