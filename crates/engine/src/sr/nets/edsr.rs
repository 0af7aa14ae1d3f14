//! EDSR-baseline (Lim et al., 2017): 16 residual blocks of 64 features, no BatchNorm, sub-pixel
//! upsampler. Variable names follow EDSR-PyTorch (`head.0`, `body.N.body.{0,2}`, `tail.0.*`,
//! `sub_mean`/`add_mean`), so its published checkpoints load after conversion to safetensors.

use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

use super::{conv, conv_macs, ConfigError, Network};

/// DIV2K mean colour that EDSR subtracts before the head and adds back after the tail.
const RGB_MEAN: [f64; 3] = [0.4488, 0.4371, 0.4040];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdsrConfig {
    pub scale: u32,
    #[serde(default = "resblocks")]
    pub n_resblocks: usize,
    #[serde(default = "feats")]
    pub n_feats: i64,
    #[serde(default = "one")]
    pub res_scale: f64,
    /// Pixel range the mean shift assumes (EDSR-PyTorch: 255).
    #[serde(default = "range")]
    pub rgb_range: f64,
}

fn resblocks() -> usize {
    16
}
fn feats() -> i64 {
    64
}
fn one() -> f64 {
    1.0
}
fn range() -> f64 {
    255.0
}

impl EdsrConfig {
    pub fn baseline(scale: u32) -> Self {
        Self {
            scale,
            n_resblocks: 16,
            n_feats: 64,
            res_scale: 1.0,
            rgb_range: 255.0,
        }
    }

    /// Sub-pixel stages: x2 and x4 are powers of two, x3 one stage of 3.
    fn upsample_stages(&self) -> Result<Vec<i64>, ConfigError> {
        match self.scale {
            1 => Ok(vec![]),
            3 => Ok(vec![3]),
            s if s.is_power_of_two() => Ok(vec![2; s.trailing_zeros() as usize]),
            s => Err(ConfigError::EdsrScale(s)),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.upsample_stages().map(|_| ())
    }
}

/// The fixed 1x1 colour-shift convolution of EDSR-PyTorch (not trained, but in the state dict).
#[derive(Debug)]
struct MeanShift {
    weight: Tensor,
    bias: Tensor,
}

impl MeanShift {
    fn new(p: nn::Path, rgb_range: f64, sign: f64) -> Self {
        let weight = p.zeros_no_train("weight", &[3, 3, 1, 1]);
        let bias = p.zeros_no_train("bias", &[3]);
        tch::no_grad(|| {
            let eye = Tensor::eye(3, (Kind::Float, p.device())).view([3, 3, 1, 1]);
            let shift = Tensor::from_slice(&RGB_MEAN).to_kind(Kind::Float) * (sign * rgb_range);
            weight.shallow_clone().copy_(&eye);
            bias.shallow_clone().copy_(&shift.to_device(p.device()));
        });
        Self { weight, bias }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(&self.weight, Some(&self.bias), [1, 1], [0, 0], [1, 1], 1)
    }
}

#[derive(Debug)]
pub struct EdsrBaseline {
    config: EdsrConfig,
    sub_mean: MeanShift,
    add_mean: MeanShift,
    head: nn::Conv2D,
    blocks: Vec<(nn::Conv2D, nn::Conv2D)>,
    body_tail: nn::Conv2D,
    upsample: Vec<(nn::Conv2D, i64)>,
    tail: nn::Conv2D,
}

impl EdsrBaseline {
    pub fn new(p: &nn::Path, config: &EdsrConfig) -> Result<Self, ConfigError> {
        let f = config.n_feats;
        let stages = config.upsample_stages()?;
        Ok(Self {
            config: config.clone(),
            sub_mean: MeanShift::new(p / "sub_mean", config.rgb_range, -1.0),
            add_mean: MeanShift::new(p / "add_mean", config.rgb_range, 1.0),
            head: conv(p / "head" / 0, 3, f, 3, 1),
            blocks: (0..config.n_resblocks)
                .map(|i| {
                    let b = p / "body" / i / "body";
                    (conv(&b / 0, f, f, 3, 1), conv(&b / 2, f, f, 3, 1))
                })
                .collect(),
            body_tail: conv(p / "body" / config.n_resblocks, f, f, 3, 1),
            // EDSR-PyTorch's Upsampler is a Sequential of (conv, shuffle) pairs: indices 0, 2, ..
            upsample: stages
                .iter()
                .enumerate()
                .map(|(i, &r)| (conv(p / "tail" / 0 / (2 * i), f, r * r * f, 3, 1), r))
                .collect(),
            tail: conv(p / "tail" / 1, f, 3, 3, 1),
        })
    }
}

impl Network for EdsrBaseline {
    fn forward_t(&self, input: &Tensor, _train: bool) -> Tensor {
        let x = self.head.forward(&self.sub_mean.forward(input));
        let mut res = x.shallow_clone();
        for (c1, c2) in &self.blocks {
            res = c2.forward(&c1.forward(&res).relu()) * self.config.res_scale + &res;
        }
        let mut h = self.body_tail.forward(&res) + x;
        for (c, r) in &self.upsample {
            h = c.forward(&h).pixel_shuffle(*r);
        }
        self.add_mean.forward(&self.tail.forward(&h))
    }

    fn receptive_margin(&self) -> u32 {
        (2 + 2 * self.config.n_resblocks + self.upsample.len() + 1) as u32
    }

    fn macs_per_input_pixel(&self) -> u64 {
        let f = self.config.n_feats;
        let mut macs = conv_macs(3, f, 3) + conv_macs(f, f, 3) * (2 * self.blocks.len() as u64 + 1);
        let mut area = 1u64;
        for (_, r) in &self.upsample {
            macs += conv_macs(f, r * r * f, 3) * area;
            area *= (r * r) as u64;
        }
        macs + conv_macs(f, 3, 3) * area
    }
}
