//! Models / About view: the registry's models with what their cards say (tier, size, cost,
//! measured quality, training data and licenses), and where the project's parts come from.

use eframe::egui;

use crate::sr::registry::ModelRegistry;

/// One line per model for the Offline tab's model picker: name, tier, gain over bicubic.
pub fn model_choices() -> Vec<(String, String)> {
    ModelRegistry::discover()
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
            (entry.name.clone(), detail)
        })
        .collect()
}

pub fn ui(ui: &mut egui::Ui) {
    let registry = ModelRegistry::discover();
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.heading("Models");
        ui.label("Trained by this project on CPU from photos in Debian packages; nothing is downloaded. `auto` uses the best model of the device's tier for live and the best shipped model for files.");
        for entry in &registry.entries {
            ui.separator();
            ui.strong(&entry.name);
            let Some(card) = &entry.card else {
                ui.label("Bicubic interpolation (built in): the reference every model is measured against.");
                continue;
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
                ui.collapsing(format!("training data ({} credits)", card.training.credits.len()), |ui| {
                    ui.label(&card.training.data);
                    for credit in &card.training.credits {
                        ui.weak(credit);
                    }
                });
            }
        }
        for (path, why) in &registry.broken {
            ui.colored_label(ui.visuals().error_fg_color, format!("{}: {why}", path.display()));
        }
        ui.separator();
        ui.heading("About");
        ui.label(format!("StrongLive Studio {}", env!("CARGO_PKG_VERSION")));
        ui.label("FFmpeg (decode/encode/mux), libtorch via tch (super-resolution), egui/eframe on wgpu (this window).");
        ui.label("Demo clip: \"Dragonfly\" by Bolly, CC BY-SA 4.0 (Debian lomiri-wallpapers).");
        ui.label("Keys: Ctrl+1/2/3 tabs, Ctrl+O add files, D demo, R record, S split/side by side, F fit, 1 one-to-one pixels.");
    });
}
