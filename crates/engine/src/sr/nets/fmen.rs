//! FMEN, the Fast and Memory-Efficient Network (Du et al., CVPRW 2022) that STRONGLIVE runs.
//!
//! Two forms share one struct. The *training* form has re-parameterisable blocks: each 3x3 conv
//! of the trunk is an RRRB (1x1 expand -> 3x3 -> 1x1 reduce with two residuals) and each
//! attention block (HFAB) carries BatchNorm. The *inference* form collapses every RRRB into one
//! 3x3 `rep_conv` and folds the BatchNorms into the neighbouring convolutions; `reparameterize`
//! maps training weights to inference weights exactly (the training form pads with the bias it
//! will fold, so borders agree too).
//!
//! Diagram: head -> warmup (conv, HFAB) -> [ERB, HFAB] x down_blocks -> lr_conv (+ head) -> tail
//! conv -> pixel shuffle. Our models add an optional bicubic skip (`bicubic_residual`): the net
//! predicts the difference to bicubic, which trains in far fewer steps.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, nn::ModuleT, Kind, Tensor};

use super::{conv, conv_init, conv_macs, leaky_relu, ConfigError, Network};
use crate::sr::bicubic::bicubic_phases;

const SLOPE: f64 = 0.1;
/// tch's and PyTorch's BatchNorm default.
const BN_EPS: f64 = 1e-5;

/// Hyper-parameters, as stored in a model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FmenConfig {
    pub scale: u32,
    pub n_feats: i64,
    /// Feature maps inside the attention branches (the warm-up HFAB uses `mid_feats - 4`).
    pub mid_feats: i64,
    pub down_blocks: usize,
    /// ERBs inside each HFAB: the warm-up one first, then one entry per down block.
    pub up_blocks: Vec<usize>,
    #[serde(default = "two")]
    pub backbone_expand_ratio: i64,
    #[serde(default = "two")]
    pub attention_expand_ratio: i64,
    /// Add a bicubic upscale of the input to the output (our extension; off in published FMEN).
    #[serde(default)]
    pub bicubic_residual: bool,
}

fn two() -> i64 {
    2
}

impl FmenConfig {
    /// The published FMEN x4 (341,066 parameters in inference form).
    pub fn published_x4() -> Self {
        Self {
            scale: 4,
            n_feats: 50,
            mid_feats: 16,
            down_blocks: 4,
            up_blocks: vec![2, 1, 1, 1, 1],
            backbone_expand_ratio: 2,
            attention_expand_ratio: 2,
            bicubic_residual: false,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.up_blocks.len() != self.down_blocks + 1 {
            return Err(ConfigError::UpBlocks {
                entries: self.up_blocks.len(),
                down_blocks: self.down_blocks,
            });
        }
        if self.mid_feats <= 4 || self.n_feats <= 0 || !(1..=8).contains(&self.scale) {
            return Err(ConfigError::FmenSizes {
                n_feats: self.n_feats,
                mid_feats: self.mid_feats,
                scale: self.scale,
            });
        }
        Ok(())
    }

    fn hfab_mids(&self) -> impl Iterator<Item = (i64, usize)> + '_ {
        std::iter::once((self.mid_feats - 4, self.up_blocks[0])).chain(
            self.up_blocks[1..]
                .iter()
                .map(move |&ups| (self.mid_feats, ups)),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmenForm {
    Training,
    Inference,
}

/// Pad by one pixel with a per-channel value instead of zero (`pattern` is C values).
fn pad_with(t: &Tensor, pattern: &Tensor) -> Tensor {
    let p = pattern.view([1, -1, 1, 1]);
    (t - &p).constant_pad_nd([1, 1, 1, 1]) + p
}

/// The bias BatchNorm adds to a zero input (running statistics): what the padding must carry.
fn bn_bias(bn: &nn::BatchNorm) -> Tensor {
    let gamma = bn.ws.as_ref().expect("affine BatchNorm");
    let beta = bn.bs.as_ref().expect("affine BatchNorm");
    let std = (&bn.running_var + BN_EPS).sqrt();
    beta - &bn.running_mean * gamma / std
}

// Both forms are built once per model; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Rrrb {
    Training {
        expand_conv: nn::Conv2D,
        fea_conv: nn::Conv2D,
        reduce_conv: nn::Conv2D,
    },
    Inference {
        rep_conv: nn::Conv2D,
    },
}

impl Rrrb {
    fn new(p: nn::Path, feats: i64, ratio: i64, form: FmenForm) -> Self {
        match form {
            FmenForm::Training => Rrrb::Training {
                expand_conv: conv(&p / "expand_conv", feats, ratio * feats, 1, 0),
                fea_conv: conv(&p / "fea_conv", ratio * feats, ratio * feats, 3, 0),
                reduce_conv: conv(&p / "reduce_conv", ratio * feats, feats, 1, 0),
            },
            FmenForm::Inference => Rrrb::Inference {
                rep_conv: conv(&p / "rep_conv", feats, feats, 3, 1),
            },
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Rrrb::Training {
                expand_conv,
                fea_conv,
                reduce_conv,
            } => {
                let expanded = expand_conv.forward(x);
                let padded = pad_with(&expanded, expand_conv.bs.as_ref().expect("bias"));
                let out = fea_conv.forward(&padded) + &expanded;
                reduce_conv.forward(&out) + x
            }
            Rrrb::Inference { rep_conv } => rep_conv.forward(x),
        }
    }
}

#[derive(Debug)]
struct Erb {
    conv1: Rrrb,
    conv2: Rrrb,
}

impl Erb {
    fn new(p: nn::Path, feats: i64, ratio: i64, form: FmenForm) -> Self {
        Self {
            conv1: Rrrb::new(&p / "conv1", feats, ratio, form),
            conv2: Rrrb::new(&p / "conv2", feats, ratio, form),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.conv2
            .forward(&leaky_relu(&self.conv1.forward(x), SLOPE))
    }
}

#[derive(Debug)]
struct Hfab {
    /// BatchNorms of the training form (bn1 before squeeze, bn2 before excitate, bn3 after).
    bns: Option<[nn::BatchNorm; 3]>,
    squeeze: nn::Conv2D,
    convs: Vec<Erb>,
    excitate: nn::Conv2D,
}

impl Hfab {
    fn new(p: nn::Path, feats: i64, mid: i64, ups: usize, ratio: i64, form: FmenForm) -> Self {
        let pad = match form {
            FmenForm::Training => 0,
            FmenForm::Inference => 1,
        };
        let bns = (form == FmenForm::Training).then(|| {
            [
                nn::batch_norm2d(&p / "bn1", feats, Default::default()),
                nn::batch_norm2d(&p / "bn2", mid, Default::default()),
                nn::batch_norm2d(&p / "bn3", feats, Default::default()),
            ]
        });
        Self {
            bns,
            squeeze: conv(&p / "squeeze", feats, mid, 3, pad),
            convs: (0..ups)
                .map(|i| Erb::new(&p / "convs" / i, mid, ratio, form))
                .collect(),
            excitate: conv(&p / "excitate", mid, feats, 3, pad),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let attention = match &self.bns {
            Some([bn1, bn2, bn3]) => {
                let out = pad_with(&bn1.forward_t(x, train), &bn_bias(bn1));
                let out = self.branch(&out);
                let out = pad_with(&bn2.forward_t(&out, train), &bn_bias(bn2));
                bn3.forward_t(&self.excitate.forward(&out), train)
            }
            None => self.excitate.forward(&self.branch(x)),
        };
        attention.sigmoid() * x
    }

    fn branch(&self, x: &Tensor) -> Tensor {
        let mut out = leaky_relu(&self.squeeze.forward(x), SLOPE);
        for erb in &self.convs {
            out = erb.forward(&out);
        }
        leaky_relu(&out, SLOPE)
    }
}

/// FMEN in either form; build with a `VarStore` path whose variables are then loaded or trained.
#[derive(Debug)]
pub struct Fmen {
    config: FmenConfig,
    form: FmenForm,
    head: nn::Conv2D,
    warmup_conv: nn::Conv2D,
    warmup_hfab: Hfab,
    erbs: Vec<Erb>,
    hfabs: Vec<Hfab>,
    lr_conv: nn::Conv2D,
    tail: nn::Conv2D,
}

impl Fmen {
    pub fn new(p: &nn::Path, config: &FmenConfig, form: FmenForm) -> Self {
        let c = config;
        let f = c.n_feats;
        let s = i64::from(c.scale);
        let mids: Vec<(i64, usize)> = c.hfab_mids().collect();
        let (a, b) = (c.attention_expand_ratio, c.backbone_expand_ratio);
        Self {
            config: c.clone(),
            form,
            head: conv(p / "head", 3, f, 3, 1),
            warmup_conv: conv(p / "warmup" / 0, f, f, 3, 1),
            warmup_hfab: Hfab::new(p / "warmup" / 1, f, mids[0].0, mids[0].1, a, form),
            erbs: (0..c.down_blocks)
                .map(|i| Erb::new(p / "ERBs" / i, f, b, form))
                .collect(),
            hfabs: (0..c.down_blocks)
                .map(|i| {
                    let (mid, ups) = mids[i + 1];
                    Hfab::new(p / "HFABs" / i, f, mid, ups, a, form)
                })
                .collect(),
            lr_conv: conv(p / "lr_conv", f, f, 3, 1),
            tail: conv_init(
                p / "tail" / 0,
                f,
                3 * s * s,
                3,
                1,
                if c.bicubic_residual { 0.1 } else { 1.0 },
            ),
        }
    }

    pub fn form(&self) -> FmenForm {
        self.form
    }
}

impl Network for Fmen {
    fn forward_t(&self, input: &Tensor, train: bool) -> Tensor {
        let x = self.head.forward(input);
        let mut h = self
            .warmup_hfab
            .forward_t(&self.warmup_conv.forward(&x), train);
        for (erb, hfab) in self.erbs.iter().zip(&self.hfabs) {
            h = hfab.forward_t(&erb.forward(&h), train);
        }
        let h = self.lr_conv.forward(&h) + x;
        let sub_pixels = self.tail.forward(&h);
        // the bicubic skip is added before the shuffle, at input resolution: the same sum as
        // adding a bicubic upscale after it, without a full-resolution resample and add
        let sub_pixels = if self.config.bicubic_residual {
            sub_pixels + bicubic_phases(input, self.config.scale)
        } else {
            sub_pixels
        };
        sub_pixels.pixel_shuffle(i64::from(self.config.scale))
    }

    fn receptive_margin(&self) -> u32 {
        // 3x3 convs on the longest path: head, warmup conv, every HFAB (squeeze + 2 per ERB +
        // excitate), 2 per trunk ERB, lr_conv, tail; plus 2 for the bicubic skip.
        let c = &self.config;
        let hfabs: usize = c.up_blocks.iter().map(|u| 2 + 2 * u).sum();
        (2 + hfabs + 2 * c.down_blocks + 2 + 2) as u32
    }

    fn macs_per_input_pixel(&self) -> u64 {
        let c = &self.config;
        let f = c.n_feats;
        let s = i64::from(c.scale);
        let hfab = |mid: i64, ups: usize| {
            2 * conv_macs(f, mid, 3) + 2 * ups as u64 * conv_macs(mid, mid, 3)
        };
        conv_macs(3, f, 3)
            + conv_macs(f, f, 3) * (2 + 2 * c.down_blocks as u64)
            + c.hfab_mids().map(|(m, u)| hfab(m, u)).sum::<u64>()
            + conv_macs(f, 3 * s * s, 3)
    }
}

/// The centre tap of 3x3 kernels (O x I x 3 x 3 -> O x I view): where a 1x1 conv or an identity
/// lands when merged into a 3x3 one.
fn centre_tap(kernel: &Tensor) -> Tensor {
    kernel
        .narrow(2, 1, 1)
        .narrow(3, 1, 1)
        .squeeze_dim(3)
        .squeeze_dim(2)
}

/// Per (output, input) channel sum of a kernel's taps: what a constant input becomes.
fn tap_sums(kernel: &Tensor) -> Tensor {
    kernel.sum_dim_intlist([2, 3].as_slice(), false, Kind::Double)
}

/// Errors of the training -> inference conversion name the missing variable.
#[derive(Debug, thiserror::Error)]
#[error("FMEN re-parameterisation: variable {0:?} missing from the training weights")]
pub struct MissingVariable(pub String);

/// Map training-form variables (names as in a training `VarStore`) to inference-form variables.
/// Computed in f64 so the folded network matches the training form to float rounding.
pub fn reparameterize(
    config: &FmenConfig,
    training: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>, MissingVariable> {
    let mut fold = Fold {
        training,
        out: Vec::new(),
    };
    fold.plain("head")?;
    fold.plain("warmup.0")?;
    fold.plain("lr_conv")?;
    fold.plain("tail.0")?;
    fold.hfab("warmup.1", config.up_blocks[0])?;
    for i in 0..config.down_blocks {
        fold.erb(&format!("ERBs.{i}"))?;
        fold.hfab(&format!("HFABs.{i}"), config.up_blocks[i + 1])?;
    }
    Ok(fold
        .out
        .into_iter()
        .map(|(n, t)| (n, t.to_kind(Kind::Float)))
        .collect())
}

/// The training -> inference conversion under way: training variables read (in f64, on the
/// CPU), inference variables written in the order the network declares them.
struct Fold<'a> {
    training: &'a HashMap<String, Tensor>,
    out: Vec<(String, Tensor)>,
}

impl Fold<'_> {
    fn get(&self, name: String) -> Result<Tensor, MissingVariable> {
        self.training
            .get(&name)
            .map(|t| t.detach().to_kind(Kind::Double).to_device(tch::Device::Cpu))
            .ok_or(MissingVariable(name))
    }

    /// A layer that is the same in both forms.
    fn plain(&mut self, prefix: &str) -> Result<(), MissingVariable> {
        for part in ["weight", "bias"] {
            let t = self.get(format!("{prefix}.{part}"))?;
            self.out.push((format!("{prefix}.{part}"), t));
        }
        Ok(())
    }

    /// An RRRB (1x1 expand, 3x3, 1x1 reduce, two residuals) folded into one 3x3 conv.
    fn rrrb(&mut self, prefix: &str) -> Result<(), MissingVariable> {
        let we = self
            .get(format!("{prefix}.expand_conv.weight"))?
            .flatten(1, 3); // rC x C
        let be = self.get(format!("{prefix}.expand_conv.bias"))?;
        let wf = self.get(format!("{prefix}.fea_conv.weight"))?; // rC x rC x 3 x 3
        let bf = self.get(format!("{prefix}.fea_conv.bias"))?;
        let wr = self
            .get(format!("{prefix}.reduce_conv.weight"))?
            .flatten(1, 3); // C x rC
        let br = self.get(format!("{prefix}.reduce_conv.bias"))?;
        // 3x3 after 1x1, with the identity of the expanded features added at the centre tap
        let k = Tensor::einsum("omhw,mi->oihw", &[&wf, &we], None::<i64>);
        let _ = centre_tap(&k).g_add_(&we);
        let b = bf + tap_sums(&wf).mv(&be) + &be;
        let k = Tensor::einsum("co,oihw->cihw", &[&wr, &k], None::<i64>);
        let b = wr.mv(&b) + br;
        // the outer residual: identity at the centre tap
        let channels = k.size()[0];
        let eye = Tensor::eye(channels, (Kind::Double, tch::Device::Cpu));
        let _ = centre_tap(&k).g_add_(&eye);
        self.out.push((format!("{prefix}.rep_conv.weight"), k));
        self.out.push((format!("{prefix}.rep_conv.bias"), b));
        Ok(())
    }

    fn erb(&mut self, prefix: &str) -> Result<(), MissingVariable> {
        self.rrrb(&format!("{prefix}.conv1"))?;
        self.rrrb(&format!("{prefix}.conv2"))
    }

    /// A BatchNorm in inference as a per-channel (scale, shift).
    fn bn(&self, prefix: &str) -> Result<(Tensor, Tensor), MissingVariable> {
        let gamma = self.get(format!("{prefix}.weight"))?;
        let beta = self.get(format!("{prefix}.bias"))?;
        let mean = self.get(format!("{prefix}.running_mean"))?;
        let var = self.get(format!("{prefix}.running_var"))?;
        let scale = gamma / (var + BN_EPS).sqrt();
        let shift = beta - mean * &scale;
        Ok((scale, shift))
    }

    /// An HFAB with its three BatchNorms folded into the squeeze and excitate convs.
    fn hfab(&mut self, prefix: &str, ups: usize) -> Result<(), MissingVariable> {
        let (s1, t1) = self.bn(&format!("{prefix}.bn1"))?;
        let (s2, t2) = self.bn(&format!("{prefix}.bn2"))?;
        let (s3, t3) = self.bn(&format!("{prefix}.bn3"))?;
        let sq_w = self.get(format!("{prefix}.squeeze.weight"))?;
        let sq_b = self.get(format!("{prefix}.squeeze.bias"))?;
        let sq_bias = sq_b + tap_sums(&sq_w).mv(&t1);
        self.out.push((
            format!("{prefix}.squeeze.weight"),
            sq_w * s1.view([1, -1, 1, 1]),
        ));
        self.out.push((format!("{prefix}.squeeze.bias"), sq_bias));
        for i in 0..ups {
            self.erb(&format!("{prefix}.convs.{i}"))?;
        }
        let ex_w = self.get(format!("{prefix}.excitate.weight"))?;
        let ex_b = self.get(format!("{prefix}.excitate.bias"))?;
        let ex_b = ex_b + tap_sums(&ex_w).mv(&t2);
        let ex_w = ex_w * s2.view([1, -1, 1, 1]);
        self.out.push((
            format!("{prefix}.excitate.weight"),
            ex_w * s3.view([-1, 1, 1, 1]),
        ));
        self.out
            .push((format!("{prefix}.excitate.bias"), ex_b * s3 + t3));
        Ok(())
    }
}
