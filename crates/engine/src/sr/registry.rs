//! Which models exist: bicubic, the model cards shipped in `models/`, and user directories
//! (`STRONGLIVE_MODELS=dir1:dir2`). Names resolve to files; the default is the shipped model
//! with the largest measured gain over bicubic.

use std::path::{Path, PathBuf};

use super::card::ModelCard;

/// The shipped model that content adaptation starts from (`adapt`, SRVC's base) and that the
/// learning and fill benches measure, when none is named.
pub const DEFAULT_MODEL: &str = "fmen-tiny-x4";

#[derive(Debug, Clone)]
pub enum ModelSource {
    Builtin,
    /// A model card and its weights (or a TorchScript module, whose `card` is the .pt path).
    Files {
        card: PathBuf,
        weights: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    pub source: ModelSource,
    /// The card, when the model has one (bicubic and bare TorchScript modules do not).
    pub card: Option<ModelCard>,
    pub shipped: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ModelRegistry {
    pub entries: Vec<ModelEntry>,
    /// Cards that exist but could not be read, with the reason (shown by `stronglive models`).
    pub broken: Vec<(PathBuf, String)>,
}

/// The shipped models directory: beside the executable when installed, else the source tree's.
pub fn shipped_models_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("models"));
        dirs.push(exe_dir.join("../share/stronglive/models"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    dirs
}

/// The user's model folders: `STRONGLIVE_MODELS` (`dir1:dir2`), then the user models folder
/// where adapted models are saved.
pub fn user_models_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("STRONGLIVE_MODELS")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    if let Some(saved) = adapted_models_dir() {
        if !dirs.contains(&saved) {
            dirs.push(saved);
        }
    }
    dirs
}

/// Where models learned from a stream are saved: the first `STRONGLIVE_MODELS` folder, else
/// `$XDG_DATA_HOME/stronglive/models` (`~/.local/share/stronglive/models`).
pub fn adapted_models_dir() -> Option<PathBuf> {
    if let Some(first) = std::env::var_os("STRONGLIVE_MODELS")
        .and_then(|v| std::env::split_paths(&v).next())
        .filter(|p| !p.as_os_str().is_empty())
    {
        return Some(first);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("stronglive/models"))
}

impl ModelRegistry {
    pub fn discover() -> Self {
        Self::from_dirs(&shipped_models_dirs(), &user_models_dirs())
    }

    pub fn from_dirs(shipped: &[PathBuf], user: &[PathBuf]) -> Self {
        let mut reg = ModelRegistry {
            entries: vec![ModelEntry {
                name: "bicubic".into(),
                source: ModelSource::Builtin,
                card: None,
                shipped: true,
            }],
            broken: Vec::new(),
        };
        for (dir, is_shipped) in shipped
            .iter()
            .map(|d| (d, true))
            .chain(user.iter().map(|d| (d, false)))
        {
            reg.scan(dir, is_shipped);
        }
        reg
    }

    fn scan(&mut self, dir: &Path, shipped: bool) {
        let Ok(read) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if stem.starts_with('.') {
                continue;
            }
            let entry = match ext {
                "json" => {
                    let weights = path.with_extension("safetensors");
                    if !weights.exists() {
                        continue; // a sidecar of a TorchScript module, or an orphan card
                    }
                    match ModelCard::read(&path) {
                        Ok(card) => ModelEntry {
                            name: card.name.clone(),
                            source: ModelSource::Files {
                                card: path.clone(),
                                weights,
                            },
                            card: Some(card),
                            shipped,
                        },
                        Err(e) => {
                            self.broken.push((path.clone(), e.to_string()));
                            continue;
                        }
                    }
                }
                "pt" | "ts" => ModelEntry {
                    name: stem,
                    source: ModelSource::Files {
                        card: path.clone(),
                        weights: path.clone(),
                    },
                    card: None,
                    shipped,
                },
                _ => continue,
            };
            if self.find(&entry.name).is_none() {
                self.entries.push(entry);
            }
        }
    }

    pub fn find(&self, name: &str) -> Option<&ModelEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The shipped model for `scale` with the largest evaluated gain over bicubic (bicubic if
    /// none).
    pub fn best(&self, scale: u32) -> &ModelEntry {
        self.best_where(|c| c.scale == scale)
    }

    /// The best shipped model of a tier ("gpu" or "cpu") for `scale`, bicubic if none.
    pub fn best_of_tier(&self, tier: &str, scale: u32) -> &ModelEntry {
        self.best_where(|c| c.tier == tier && c.scale == scale)
    }

    /// What `auto` runs on a device, offline and live: on CUDA the shipped model with the
    /// largest measured gain (any tier); on a CPU the best of the CPU tier (models within a CPU's
    /// speed budget, <= ~50 GFLOP per 960x540 frame: the GPU tier costs 8x fmen-tiny's time there
    /// for +0.03 dB on photos and less than nothing on video).
    pub fn best_for_device(&self, cuda: bool, scale: u32) -> &ModelEntry {
        if cuda {
            self.best(scale)
        } else {
            self.best_of_tier("cpu", scale)
        }
    }

    /// The model name the live path runs for a user's choice: `auto` = [`Self::best_for_device`].
    pub fn live_model_name(requested: &str, cuda: bool, scale: u32) -> String {
        if requested == "auto" {
            Self::discover().best_for_device(cuda, scale).name.clone()
        } else {
            requested.to_string()
        }
    }

    /// The models a live session may switch between at `scale`: the shipped network models
    /// with a measured gain over bicubic, cheapest (GFLOP per 960x540 frame) first.
    pub fn tier_ladder(&self, scale: u32) -> Vec<&ModelEntry> {
        let mut ladder: Vec<&ModelEntry> = self
            .entries
            .iter()
            .filter(|e| e.shipped)
            .filter(|e| {
                e.card.as_ref().is_some_and(|c| {
                    c.scale == scale
                        && c.gflops_960x540 > 0.0
                        && c.gain_db().is_some_and(|g| g > 0.0)
                })
            })
            .collect();
        ladder.sort_by(|a, b| {
            let cost = |e: &ModelEntry| e.card.as_ref().map_or(0.0, |c| c.gflops_960x540);
            cost(a).total_cmp(&cost(b))
        });
        ladder
    }

    fn best_where(&self, keep: impl Fn(&ModelCard) -> bool) -> &ModelEntry {
        self.entries
            .iter()
            .filter(|e| e.shipped)
            .filter_map(|e| {
                let card = e.card.as_ref()?;
                let gain = card.gain_db()?;
                (keep(card) && gain > 0.0).then_some((e, gain))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, _)| e)
            .unwrap_or(&self.entries[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::card::{Evaluation, ModelCard};

    fn card(name: &str, tier: &str, scale: u32, gain: Option<f64>) -> ModelCard {
        let gflops_960x540 = if tier == "cpu" { 40.0 } else { 350.0 };
        ModelCard {
            name: name.into(),
            architecture: "fmen".into(),
            hyperparameters: serde_json::Value::Null,
            scale,
            input_range: 1.0,
            tier: tier.into(),
            description: String::new(),
            parameters: 0,
            gflops_960x540,
            training: Default::default(),
            evaluation: gain
                .map(|g| Evaluation {
                    psnr_y: 41.0 + g,
                    bicubic_psnr_y: 41.0,
                    ..Default::default()
                })
                .into_iter()
                .collect(),
        }
    }

    fn write(dir: &Path, c: &ModelCard) {
        c.write(&dir.join(format!("{}.json", c.name))).unwrap();
        std::fs::write(dir.join(format!("{}.safetensors", c.name)), b"").unwrap();
    }

    #[test]
    fn best_is_the_largest_measured_gain_for_the_scale_and_user_models_never_win() {
        let shipped = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        write(shipped.path(), &card("small", "cpu", 4, Some(0.9)));
        write(shipped.path(), &card("big", "gpu", 4, Some(1.3)));
        write(shipped.path(), &card("unmeasured", "gpu", 4, None));
        write(shipped.path(), &card("x2", "gpu", 2, Some(3.0)));
        write(user.path(), &card("mine", "gpu", 4, Some(9.0)));
        std::fs::write(shipped.path().join("broken.json"), "{").unwrap();
        std::fs::write(shipped.path().join("broken.safetensors"), b"").unwrap();
        let reg = ModelRegistry::from_dirs(
            &[shipped.path().to_path_buf()],
            &[user.path().to_path_buf()],
        );
        assert_eq!(reg.best(4).name, "big");
        assert_eq!(reg.best(2).name, "x2");
        assert_eq!(reg.best(3).name, "bicubic");
        assert_eq!(reg.best_of_tier("cpu", 4).name, "small");
        assert_eq!(reg.best_for_device(false, 4).name, "small");
        assert_eq!(reg.best_for_device(true, 4).name, "big");
        assert!(reg.find("mine").is_some_and(|e| !e.shipped));
        assert_eq!(reg.broken.len(), 1);
        let ladder: Vec<&str> = reg.tier_ladder(4).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            ladder,
            ["small", "big"],
            "measured, shipped, x4, cheapest first"
        );
        assert!(reg.broken[0].0.ends_with("broken.json"));
    }
}
