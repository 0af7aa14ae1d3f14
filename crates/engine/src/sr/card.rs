//! Model files: `NAME.safetensors` (weights) beside `NAME.json` (the model card: architecture,
//! hyper-parameters, scale, input range, training data and command, evaluation table).
//! Loading checks every tensor's name and shape against the architecture before copying.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use super::nets::{
    edsr::{EdsrBaseline, EdsrConfig},
    fmen::{Fmen, FmenConfig, FmenForm},
    srvc::{Srvc, SrvcConfig},
    ConfigError, Network,
};
use super::SrError;

/// Architectures a model card can name, with their hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// FMEN in its re-parameterised inference form (what model files hold).
    Fmen(FmenConfig),
    /// FMEN in its training form (checkpoints written by `stronglive train`).
    FmenTraining(FmenConfig),
    EdsrBaseline(EdsrConfig),
    Srvc(SrvcConfig),
}

pub const ARCHITECTURES: &[&str] = &["fmen", "fmen-training", "edsr-baseline", "srvc"];

/// Why a model card's architecture and hyper-parameters describe no network we can build.
#[derive(Debug, thiserror::Error)]
pub enum ArchitectureError {
    #[error("unknown architecture {name:?} (known: {})", ARCHITECTURES.join(", "))]
    Unknown { name: String },
    #[error("hyperparameters: {0}")]
    Hyperparameters(serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl Architecture {
    pub fn from_card(name: &str, hyper: &serde_json::Value) -> Result<Self, ArchitectureError> {
        fn parse<T: serde::de::DeserializeOwned>(
            v: &serde_json::Value,
        ) -> Result<T, ArchitectureError> {
            serde_json::from_value(v.clone()).map_err(ArchitectureError::Hyperparameters)
        }
        let arch = match name {
            "fmen" => Architecture::Fmen(parse(hyper)?),
            "fmen-training" => Architecture::FmenTraining(parse(hyper)?),
            "edsr-baseline" => Architecture::EdsrBaseline(parse(hyper)?),
            "srvc" => Architecture::Srvc(parse(hyper)?),
            other => {
                return Err(ArchitectureError::Unknown {
                    name: other.to_string(),
                })
            }
        };
        arch.validate()?;
        Ok(arch)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Fmen(_) => "fmen",
            Architecture::FmenTraining(_) => "fmen-training",
            Architecture::EdsrBaseline(_) => "edsr-baseline",
            Architecture::Srvc(_) => "srvc",
        }
    }

    pub fn hyperparameters(&self) -> serde_json::Value {
        match self {
            Architecture::Fmen(c) | Architecture::FmenTraining(c) => serde_json::to_value(c),
            Architecture::EdsrBaseline(c) => serde_json::to_value(c),
            Architecture::Srvc(c) => serde_json::to_value(c),
        }
        .expect("configs serialise")
    }

    pub fn scale(&self) -> u32 {
        match self {
            Architecture::Fmen(c) | Architecture::FmenTraining(c) => c.scale,
            Architecture::EdsrBaseline(c) => c.scale,
            Architecture::Srvc(c) => c.scale,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Architecture::Fmen(c) | Architecture::FmenTraining(c) => c.validate(),
            Architecture::EdsrBaseline(c) => c.validate(),
            Architecture::Srvc(c) => c.validate(),
        }
    }

    /// Build the network's variables under `p` (freshly initialised).
    pub fn build(&self, p: &nn::Path) -> Box<dyn Network> {
        match self {
            Architecture::Fmen(c) => Box::new(Fmen::new(p, c, FmenForm::Inference)),
            Architecture::FmenTraining(c) => Box::new(Fmen::new(p, c, FmenForm::Training)),
            Architecture::EdsrBaseline(c) => {
                Box::new(EdsrBaseline::new(p, c).expect("validated config"))
            }
            Architecture::Srvc(c) => Box::new(Srvc::new(p, c)),
        }
    }
}

/// One row of a model's evaluation table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub dataset: String,
    pub images: usize,
    pub psnr_y: f64,
    pub ssim: f64,
    pub bicubic_psnr_y: f64,
    pub bicubic_ssim: f64,
    /// Command that produced these figures.
    #[serde(default)]
    pub command: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub data: String,
    /// Photographers and licenses of the training photos.
    #[serde(default)]
    pub credits: Vec<String>,
    #[serde(default)]
    pub steps: u64,
    /// (step, validation PSNR-Y dB, bicubic on the same crops) along the run.
    #[serde(default)]
    pub curve: Vec<(u64, f64, f64)>,
    #[serde(default)]
    pub notes: String,
}

/// The JSON beside a model's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub architecture: String,
    pub hyperparameters: serde_json::Value,
    pub scale: u32,
    /// Pixel value of white at the network's input and output (1.0 for ours, 255 for EDSR-style).
    #[serde(default = "unit_range")]
    pub input_range: f64,
    /// "gpu" (quality) or "cpu" (speed) tier.
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parameters: u64,
    #[serde(default)]
    pub gflops_960x540: f64,
    #[serde(default)]
    pub training: Training,
    #[serde(default)]
    pub evaluation: Vec<Evaluation>,
}

fn unit_range() -> f64 {
    1.0
}

impl ModelCard {
    pub fn read(path: &Path) -> Result<Self, SrError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SrError::model_file(path, format!("cannot read model card: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| SrError::model_file(path, format!("model card is not valid: {e}")))
    }

    pub fn write(&self, path: &Path) -> Result<(), SrError> {
        let text = serde_json::to_string_pretty(self).expect("card serialises");
        write_atomically(path, text.as_bytes())
    }

    pub fn arch(&self, path: &Path) -> Result<Architecture, SrError> {
        let arch = Architecture::from_card(&self.architecture, &self.hyperparameters)
            .map_err(|e| SrError::model_file(path, e.to_string()))?;
        if arch.scale() != self.scale {
            return Err(SrError::model_file(
                path,
                format!(
                    "card says scale x{} but hyperparameters say x{}",
                    self.scale,
                    arch.scale()
                ),
            ));
        }
        Ok(arch)
    }

    /// Gain over bicubic of the first evaluation row, if any.
    pub fn gain_db(&self) -> Option<f64> {
        self.evaluation.first().map(|e| e.psnr_y - e.bicubic_psnr_y)
    }
}

/// Write to a hidden temporary name beside `path`, then rename, so a crash never leaves a
/// half-written file under the real name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SrError> {
    crate::atomic_file::write_atomically(path, bytes)
        .map_err(|e| SrError::model_file(path, format!("cannot write: {e}")))
}

/// Copy the tensors of a safetensors file into `vs`, checking that the file holds exactly the
/// variables of the architecture with the right shapes.
pub fn load_weights(vs: &nn::VarStore, path: &Path, arch: &str) -> Result<(), SrError> {
    let bad = |reason: String| SrError::model_file(path, reason);
    if !path.exists() {
        return Err(bad("weights file does not exist".into()));
    }
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
    let mut found: HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in &vars {
        let Some(t) = found.remove(name) else {
            return Err(bad(format!(
                "tensor {name:?} (shape {:?}) missing: not a {arch} model of this size",
                var.size()
            )));
        };
        if t.size() != var.size() {
            return Err(bad(format!(
                "tensor {name:?} has shape {:?}, {arch} with these hyperparameters expects {:?}",
                t.size(),
                var.size()
            )));
        }
        tch::no_grad(|| {
            var.shallow_clone()
                .copy_(&t.to_kind(var.kind()).to_device(var.device()))
        });
    }
    if let Some((name, t)) = found.iter().min_by(|a, b| a.0.cmp(b.0)) {
        return Err(bad(format!(
            "unexpected tensor {name:?} (shape {:?}): not part of {arch}",
            t.size()
        )));
    }
    Ok(())
}

/// Save named tensors (as f32 on the CPU) atomically.
pub fn save_weights(named: &[(String, Tensor)], path: &Path) -> Result<(), SrError> {
    let pending = crate::atomic_file::PendingFile::new(path);
    let cpu: Vec<(String, Tensor)> = named
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.detach().to_device(Device::Cpu).to_kind(tch::Kind::Float),
            )
        })
        .collect();
    Tensor::write_safetensors(&cpu, pending.temporary())
        .map_err(|e| SrError::model_file(path, format!("cannot write weights: {e}")))?;
    pending.commit().map(|_| ()).map_err(|e| {
        SrError::model_file(
            path,
            format!("cannot move finished weights into place: {e}"),
        )
    })
}

/// Number of scalar parameters (trainable or not) in a var store.
pub fn parameter_count(vs: &nn::VarStore) -> u64 {
    vs.variables()
        .iter()
        .filter(|(name, _)| !name.contains("running_") && !name.contains("_mean."))
        .map(|(_, t)| t.numel() as u64)
        .sum()
}
