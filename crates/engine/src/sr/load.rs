//! From a name or a path to a model: `auto` (the shipped model with the best measured gain for
//! the device), `bicubic`, a registry name (models/ and user directories), or a file: a `.json`
//! card or `.safetensors` weights (card beside it), or a TorchScript `.pt`/`.ts` module.

use std::path::{Path, PathBuf};

use super::baseline::Bicubic;
use super::card::ModelCard;
use super::model::{NetworkModel, SrModel, TorchScriptModel};
use super::registry::{ModelRegistry, ModelSource};
use super::{ComputeDevice, SrError};

/// Resolve a model: `auto` (the shipped model with the best measured gain), `bicubic`, a registry name (models/ and user directories), or a path to a
/// `.json` card, `.safetensors` weights (card beside it) or TorchScript `.pt`/`.ts`.
/// `scale` is the factor the caller wants; a model made for another factor is an error.
pub fn load_model(
    name: &str,
    scale: u32,
    device: &ComputeDevice,
) -> Result<Box<dyn SrModel>, SrError> {
    if !(1..=8).contains(&scale) {
        return Err(SrError::ScaleOutOfRange(scale));
    }
    let registry;
    let name = if name == "auto" {
        registry = ModelRegistry::discover();
        registry
            .best_for_device(device.is_cuda(), scale)
            .name
            .as_str()
    } else {
        name
    };
    let model: Box<dyn SrModel> = if name == "bicubic" {
        Box::new(Bicubic::new(scale, device))
    } else if looks_like_path(name) {
        load_path(Path::new(name), device)?
    } else {
        let registry = ModelRegistry::discover();
        let entry = registry.find(name).ok_or_else(|| SrError::UnknownModel {
            name: name.to_string(),
            available: registry.names().join(", "),
        })?;
        match &entry.source {
            ModelSource::Builtin => Box::new(Bicubic::new(scale, device)),
            ModelSource::Files { card, .. } => load_path(card, device)?,
        }
    };
    if model.scale() != scale {
        return Err(SrError::UnsupportedScale {
            model: model.name().to_string(),
            supported: model.scale(),
            requested: scale,
        });
    }
    Ok(model)
}

fn looks_like_path(name: &str) -> bool {
    name.contains('/')
        || name.ends_with(".json")
        || name.ends_with(".safetensors")
        || name.ends_with(".pt")
        || name.ends_with(".ts")
}

fn load_path(path: &Path, device: &ComputeDevice) -> Result<Box<dyn SrModel>, SrError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !path.exists() {
        return Err(SrError::model_file(path, "no such file"));
    }
    match ext {
        "pt" | "ts" => Ok(Box::new(TorchScriptModel::load(path, device)?)),
        "json" | "safetensors" => {
            let (card_path, weights) = card_and_weights(path);
            let card = ModelCard::read(&card_path)?;
            Ok(Box::new(NetworkModel::load(
                &card, &card_path, &weights, device,
            )?))
        }
        other => Err(SrError::model_file(path, format!(
                "unknown model file type {other:?}: expected .json/.safetensors (model card and weights) or .pt/.ts (TorchScript)"
            ))),
    }
}

/// `NAME.json` and `NAME.safetensors` from either of them.
pub fn card_and_weights(path: &Path) -> (PathBuf, PathBuf) {
    (
        path.with_extension("json"),
        path.with_extension("safetensors"),
    )
}
