//! The SRVC network (Khani et al., ICCV 2021), the small model whose per-segment weight deltas
//! make SRVC's "model stream". The frame is cut into a grid of patches; for each patch a kernel
//! predictor looks at the patch and produces the weights of a 3x3 convolution applied to that
//! patch only (adaptive convolution); the patches are put back together, and ordinary 3x3 convs
//! and a pixel shuffle make the output.

use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Tensor};

use super::{conv, conv_macs, ConfigError, Network};
use crate::sr::bicubic::upscale_bicubic;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrvcConfig {
    pub scale: u32,
    /// Patch grid (rows, columns); each patch gets its own adaptive kernel.
    #[serde(default = "grid")]
    pub grid: (i64, i64),
    /// Output channels of the adaptive convolution.
    #[serde(default = "adaptive")]
    pub adaptive_feats: i64,
    /// Features of the kernel predictor.
    #[serde(default = "predictor")]
    pub predictor_feats: i64,
    /// Features and number of the ordinary convolutions after the adaptive one.
    #[serde(default = "feats")]
    pub n_feats: i64,
    #[serde(default = "convs")]
    pub n_convs: usize,
    #[serde(default)]
    pub bicubic_residual: bool,
}

fn grid() -> (i64, i64) {
    (5, 5)
}
fn adaptive() -> i64 {
    32
}
fn predictor() -> i64 {
    16
}
fn feats() -> i64 {
    32
}
fn convs() -> usize {
    2
}

impl SrvcConfig {
    pub fn default_x4() -> Self {
        Self {
            scale: 4,
            grid: grid(),
            adaptive_feats: adaptive(),
            predictor_feats: predictor(),
            n_feats: feats(),
            n_convs: convs(),
            bicubic_residual: true,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.grid.0 < 1 || self.grid.1 < 1 || self.adaptive_feats < 1 || self.n_feats < 1 {
            return Err(ConfigError::SrvcSizes { grid: self.grid });
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Srvc {
    config: SrvcConfig,
    predictor: Vec<nn::Conv2D>,
    kernel_weights: nn::Linear,
    kernel_bias: nn::Linear,
    body: Vec<nn::Conv2D>,
    tail: nn::Conv2D,
}

impl Srvc {
    pub fn new(p: &nn::Path, config: &SrvcConfig) -> Self {
        let (pf, af, f) = (
            config.predictor_feats,
            config.adaptive_feats,
            config.n_feats,
        );
        let s = i64::from(config.scale);
        let strided = |p: nn::Path, i, o| {
            nn::conv2d(
                p,
                i,
                o,
                3,
                nn::ConvConfig {
                    stride: 2,
                    padding: 1,
                    ..Default::default()
                },
            )
        };
        Self {
            config: config.clone(),
            predictor: vec![
                strided(p / "predictor" / 0, 3, pf),
                strided(p / "predictor" / 1, pf, pf),
            ],
            kernel_weights: nn::linear(p / "kernel_weights", pf, af * 3 * 9, Default::default()),
            kernel_bias: nn::linear(p / "kernel_bias", pf, af, Default::default()),
            body: (0..config.n_convs)
                .map(|i| conv(p / "body" / i, if i == 0 { af } else { f }, f, 3, 1))
                .collect(),
            tail: conv(
                p / "tail",
                if config.n_convs == 0 { af } else { f },
                3 * s * s,
                3,
                1,
            ),
        }
    }

    /// Cut N x C x H x W (H, W multiples of the grid) into (N*rows*cols) x C x h x w patches.
    fn space_to_batch(&self, x: &Tensor) -> Tensor {
        let (rows, cols) = self.config.grid;
        let [n, c, h, w] = x.size()[..] else {
            unreachable!()
        };
        x.view([n, c, rows, h / rows, cols, w / cols])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([n * rows * cols, c, h / rows, w / cols])
    }

    fn batch_to_space(&self, x: &Tensor, n: i64) -> Tensor {
        let (rows, cols) = self.config.grid;
        let [_, c, ph, pw] = x.size()[..] else {
            unreachable!()
        };
        x.view([n, rows, cols, c, ph, pw])
            .permute([0, 3, 1, 4, 2, 5])
            .reshape([n, c, rows * ph, cols * pw])
    }
}

impl Network for Srvc {
    fn forward_t(&self, input: &Tensor, _train: bool) -> Tensor {
        let (rows, cols) = self.config.grid;
        let [n, _, h, w] = input.size()[..] else {
            unreachable!()
        };
        // pad to a multiple of the grid (replicating the edge), crop the output back
        let (ph, pw) = ((rows - h % rows) % rows, (cols - w % cols) % cols);
        let x = if ph + pw > 0 {
            input.replication_pad2d([0, pw, 0, ph])
        } else {
            input.shallow_clone()
        };
        let patches = self.space_to_batch(&x);
        let mut code = patches.shallow_clone();
        for c in &self.predictor {
            code = c.forward(&code).relu();
        }
        let code = code.mean_dim([2i64, 3].as_slice(), false, None); // P x pf
        let batch = code.size()[0];
        let af = self.config.adaptive_feats;
        let weights = self
            .kernel_weights
            .forward(&code)
            .view([batch * af, 3, 3, 3]);
        let bias = self.kernel_bias.forward(&code).view([batch * af]);
        // one grouped convolution applies every patch's own kernel to that patch
        let [_, _, hh, ww] = patches.size()[..] else {
            unreachable!()
        };
        let adapted = patches
            .view([1, batch * 3, hh, ww])
            .conv2d(&weights, Some(&bias), [1, 1], [1, 1], [1, 1], batch)
            .view([batch, af, hh, ww])
            .relu();
        let mut feat = self.batch_to_space(&adapted, n);
        for c in &self.body {
            feat = c.forward(&feat).relu();
        }
        let s = i64::from(self.config.scale);
        let out = self
            .tail
            .forward(&feat)
            .pixel_shuffle(s)
            .narrow(2, 0, h * s)
            .narrow(3, 0, w * s);
        if self.config.bicubic_residual {
            out + upscale_bicubic(input, self.config.scale)
        } else {
            out
        }
    }

    fn receptive_margin(&self) -> u32 {
        // the adaptive kernel depends on the whole patch; tiles must align with the grid to be
        // exact, so the margin covers only the convolutions
        (2 + self.config.n_convs + 2) as u32
    }

    fn macs_per_input_pixel(&self) -> u64 {
        let (af, f) = (self.config.adaptive_feats, self.config.n_feats);
        let s = i64::from(self.config.scale);
        let mut macs = conv_macs(3, af, 3);
        let mut c_in = af;
        for _ in 0..self.config.n_convs {
            macs += conv_macs(c_in, f, 3);
            c_in = f;
        }
        macs + conv_macs(c_in, 3 * s * s, 3)
    }
}
