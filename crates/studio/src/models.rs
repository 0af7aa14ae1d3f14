//! Models / About view: the registry's models with what their cards say (tier, size, cost,
//! measured quality, training data and licenses), and where the project's parts come from.
//!
//! The registry is read from disk once ([`ModelCatalog::discover`]) and again only when asked
//! (opening this view, its Refresh button), not on every frame: reading every card is file I/O.

use eframe::egui;

use super::StudioAction;
use stronglive_engine::sr::registry::{ModelEntry, ModelRegistry};

/// One model in the Offline tab's picker.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    pub name: String,
    /// Tier, gain over bicubic and cost, from the model's card.
    pub detail: String,
}

impl ModelChoice {
    /// "name (detail)", as the picker shows it.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.detail)
    }
}

/// The discovered registry and the picker lines made from it.
#[derive(Debug, Clone, Default)]
pub struct ModelCatalog {
    registry: ModelRegistry,
    choices: Vec<ModelChoice>,
}

impl ModelCatalog {
    /// Read the shipped and user model directories.
    pub fn discover() -> Self {
        let registry = ModelRegistry::discover();
        let choices = model_choices(&registry);
        Self { registry, choices }
    }

    /// Read the model directories again (a model was added, retrained or removed).
    pub fn refresh(&mut self) {
        *self = Self::discover();
    }

    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    /// One line per model for the Offline tab's model picker.
    pub fn choices(&self) -> &[ModelChoice] {
        &self.choices
    }
}

/// Name, tier and gain over bicubic of each model in `registry`.
fn model_choices(registry: &ModelRegistry) -> Vec<ModelChoice> {
    registry
        .entries
        .iter()
        .map(|entry| {
            let detail = match &entry.card {
                Some(card) => {
                    let gain = card
                        .evaluation
                        .first()
                        .map(|e| format!("{:+.2} dB vs bicubic", e.psnr_y - e.bicubic_psnr_y))
                        .unwrap_or_else(|| "not evaluated".into());
                    format!(
                        "{} tier, {gain}, {:.0} GFLOP/540p frame",
                        card.tier, card.gflops_960x540
                    )
                }
                None => "built in, fastest".into(),
            };
            ModelChoice {
                name: entry.name.clone(),
                detail,
            }
        })
        .collect()
}

pub fn ui(ui: &mut egui::Ui, catalog: &ModelCatalog, actions: &mut Vec<StudioAction>) {
    let registry = catalog.registry();
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading("Models");
            if ui
                .button("Refresh")
                .on_hover_text("Read the model cards again")
                .clicked()
            {
                actions.push(StudioAction::RefreshModels);
            }
        });
        ui.label("Trained by this project on CPU from photos in Debian packages; nothing is downloaded. `auto` uses, for files and live, the shipped model with the largest gain on CUDA and the best CPU-tier model on a CPU.");
        for entry in &registry.entries {
            ui.separator();
            model_entry(ui, entry);
        }
        for (path, why) in &registry.broken {
            ui.colored_label(ui.visuals().error_fg_color, format!("{}: {why}", path.display()));
        }
        ui.separator();
        about(ui);
    });
}

/// A model's name and what its card says.
fn model_entry(ui: &mut egui::Ui, entry: &ModelEntry) {
    ui.strong(&entry.name);
    let Some(card) = &entry.card else {
        ui.label(
            "Bicubic interpolation (built in): the reference every model is measured against.",
        );
        return;
    };
    ui.label(&card.description);
    ui.label(format!(
        "{} x{}, {} tier, {} parameters, {:.1} GFLOP per 960x540 frame",
        card.architecture, card.scale, card.tier, card.parameters, card.gflops_960x540
    ));
    for e in &card.evaluation {
        ui.label(format!(
            "{} ({} images): PSNR-Y {:.2} dB ({:+.2} vs bicubic), SSIM {:.4}",
            e.dataset,
            e.images,
            e.psnr_y,
            e.psnr_y - e.bicubic_psnr_y,
            e.ssim
        ));
    }
    if !card.training.data.is_empty() {
        let title = format!("training data ({} credits)", card.training.credits.len());
        ui.collapsing(title, |ui| {
            ui.label(&card.training.data);
            for credit in &card.training.credits {
                ui.weak(credit);
            }
        });
    }
}

fn about(ui: &mut egui::Ui) {
    ui.heading("About");
    ui.label(format!("StrongLive Studio {}", env!("CARGO_PKG_VERSION")));
    ui.label("FFmpeg (decode/encode/mux), libtorch via tch (super-resolution), egui/eframe on wgpu (this window).");
    ui.label("Demo clip: \"Dragonfly\" by Bolly, CC BY-SA 4.0 (Debian lomiri-wallpapers).");
    ui.label("Keys: Ctrl+1/2/3 tabs, Ctrl+O add files, D demo, R record, S split/side by side, F fit, 1 one-to-one pixels.");
}
