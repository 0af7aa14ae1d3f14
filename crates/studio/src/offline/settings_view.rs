//! The Offline tab's settings rows: model, output name, output folder, encoder and quality.

use eframe::egui;

use super::OfflineSettings;
use crate::models::ModelChoice;

/// The encoders the picker offers; `auto` leaves the choice to the engine.
const ENCODERS: [&str; 5] = ["auto", "hevc_nvenc", "h264_nvenc", "libx265", "libx264"];

impl OfflineSettings {
    /// `models`: the registry's models, as listed in the picker.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, models: &[ModelChoice]) {
        ui.checkbox(&mut self.compress, "Compress (content-adaptive)")
            .on_hover_text(
                "Instead of upscaling: make a small LR video plus a stream of model updates \
                 learned from the file itself (SRVC), NAME_srvc.mkv; upscaling that file plays \
                 it back at full resolution",
            );
        ui.horizontal(|ui| {
            self.model_picker(ui, models);
            ui.label("Name:");
            ui.add(
                egui::TextEdit::singleline(&mut self.naming)
                    .desired_width(140.0)
                    .hint_text("{stem}_x4"),
            )
            .on_hover_text(
                "{stem} = input name, {model} = model name; the extension follows the input",
            );
        });
        ui.horizontal(|ui| {
            ui.label("Output folder:");
            ui.add(egui::TextEdit::singleline(&mut self.output_dir).hint_text("beside each input"));
            let encoder_label = ui.label("Encoder:").id;
            egui::ComboBox::from_id_salt("encoder")
                .selected_text(self.encoder.clone())
                .show_ui(ui, |ui| {
                    for name in ENCODERS {
                        ui.selectable_value(&mut self.encoder, name.to_string(), name);
                    }
                })
                .response
                .labelled_by(encoder_label);
            ui.add(egui::Slider::new(&mut self.crf, 10..=35).text("quality (CRF)"));
        });
    }

    fn model_picker(&mut self, ui: &mut egui::Ui, models: &[ModelChoice]) {
        const AUTO: &str = "auto (best for this device)";
        let model_label = ui.label("Model:").id;
        let selected = models
            .iter()
            .find(|choice| choice.name == self.model)
            .map(ModelChoice::label)
            .unwrap_or_else(|| AUTO.into());
        egui::ComboBox::from_id_salt("model")
            .selected_text(selected)
            .width(420.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.model, "auto".into(), AUTO);
                for choice in models {
                    ui.selectable_value(&mut self.model, choice.name.clone(), choice.label());
                }
            })
            .response
            .labelled_by(model_label);
    }
}
