//! The Live tab's left panel: the pairing QR code, paired devices, the other listeners, the
//! demo clip and recording.

use eframe::egui;

use super::{LiveTab, QrTexture};
use crate::StudioAction;
use stronglive_engine::live::pairing::PairingUri;
use stronglive_engine::live::service::LiveCommand;

/// The QR code of `text` as an image, `scale` pixels per module with a 4-module quiet zone.
pub fn qr_image(text: &str, scale: usize) -> Option<egui::ColorImage> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 8) * scale;
    let mut pixels = vec![egui::Color32::WHITE; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + 4, i / modules + 4);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale]
                    .fill(egui::Color32::BLACK);
            }
        }
    }
    Some(egui::ColorImage::new([side, side], pixels))
}

impl LiveTab {
    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui, actions: &mut Vec<StudioAction>) {
        ui.heading("Pair a phone");
        match &self.state.pairing {
            Some(pairing) => {
                if pairing_code(ui, pairing, &mut self.state.qr) {
                    self.command(LiveCommand::NewSecret);
                }
            }
            None if self.state.listening => {
                ui.label("Pairing new devices is off (revoked); paired phones still connect.");
                if ui.button("New code").clicked() {
                    self.command(LiveCommand::NewSecret);
                }
            }
            None => {
                ui.spinner();
                ui.label("starting the live server...");
            }
        }
        ui.separator();
        self.paired_devices(ui);
        ui.separator();
        self.other_senders(ui);
        ui.separator();
        self.learning_switch(ui);
        ui.separator();
        self.demo_and_record(ui, actions);
    }

    /// "Learn from the phone": sessions that start while it is on fine-tune the model on the
    /// phone's full-resolution patches and keep what they learn as a user model.
    fn learning_switch(&mut self, ui: &mut egui::Ui) {
        ui.strong("Scene learning");
        if ui
            .checkbox(&mut self.settings.learn, "Learn from the phone")
            .on_hover_text(
                "The phone sends full-resolution patches; the model is fine-tuned on them while \
                 it streams and better weights (proven on held-out patches) are swapped in. \
                 Applies to the next connection; the adapted model is saved in the Models tab.",
            )
            .changed()
        {
            self.command(LiveCommand::Learn(self.settings.learn));
        }
    }

    fn paired_devices(&mut self, ui: &mut egui::Ui) {
        ui.strong("Paired devices");
        if self.state.devices.is_empty() {
            ui.weak("none yet");
        }
        let mut remove = None;
        for device in &self.state.devices {
            ui.horizontal(|ui| {
                ui.label(&device.name);
                if ui.small_button("Remove").clicked() {
                    remove = Some(device.id.clone());
                }
            });
        }
        if let Some(id) = remove {
            self.command(LiveCommand::RemoveDevice(id));
        }
    }

    /// The listeners besides pairing; the service restarts them when a box changes.
    fn other_senders(&mut self, ui: &mut egui::Ui) {
        ui.strong("Other senders");
        let before = self.listener_settings();
        let settings = &mut self.settings;
        ui.checkbox(
            &mut settings.legacy_enabled,
            format!(
                "STRONGLIVE app on port {} (no authentication)",
                settings.legacy_port
            ),
        );
        ui.checkbox(
            &mut settings.rtmp_enabled,
            "RTMP  rtmp://<this machine>:1935/live/phone",
        );
        ui.checkbox(&mut settings.srt_enabled, "SRT  srt://<this machine>:9000");
        ui.checkbox(
            &mut settings.others_from_network,
            "Accept other machines (off: this one only)",
        )
        .on_hover_text("These senders are not authenticated: anyone on the network could stream");
        if self.listener_settings() != before {
            self.command(LiveCommand::Start(self.listener_settings()));
        }
    }

    fn demo_and_record(&mut self, ui: &mut egui::Ui, actions: &mut Vec<StudioAction>) {
        ui.strong("Demo");
        if self.state.demo_running {
            if ui.button("Stop demo").clicked() {
                actions.push(StudioAction::StopDemo);
            }
        } else if ui
            .button("Play demo clip")
            .on_hover_text(
                "Streams assets/demo-540p.mp4 through the live pipeline over loopback (D)",
            )
            .clicked()
        {
            actions.push(StudioAction::StartDemo);
        }
        ui.separator();
        ui.strong("Record");
        ui.add(egui::TextEdit::singleline(&mut self.settings.record_dir).hint_text("folder"));
        let label = if self.state.recording.is_some() {
            "Stop recording (R)"
        } else {
            "Record input + 4K (R)"
        };
        if ui.button(label).clicked() {
            actions.push(StudioAction::ToggleRecording);
        }
        if let Some(dir) = &self.state.recording {
            ui.colored_label(
                egui::Color32::RED,
                format!("recording to {}", dir.display()),
            );
        }
    }
}

/// The QR code and address of `pairing`; true when the user asked for a new code.
fn pairing_code(ui: &mut egui::Ui, pairing: &PairingUri, qr: &mut Option<QrTexture>) -> bool {
    let text = pairing.to_string();
    if qr.as_ref().is_none_or(|qr| qr.text != text) {
        if let Some(image) = qr_image(&text, 4) {
            let texture = ui
                .ctx()
                .load_texture("pairing-qr", image, egui::TextureOptions::NEAREST);
            *qr = Some(QrTexture {
                text: text.clone(),
                texture,
            });
        }
    }
    if let Some(qr) = qr {
        ui.add(egui::Image::new(&qr.texture).fit_to_exact_size(egui::vec2(260.0, 260.0)));
    }
    ui.label("Scan with the phone's camera: it opens the StrongLive app.");
    let hosts: Vec<String> = pairing.hosts.iter().map(|h| h.to_string()).collect();
    ui.label(format!("{}  port {}", hosts.join(", "), pairing.port));
    let mut new_code = false;
    ui.horizontal(|ui| {
        if ui.button("Copy link").clicked() {
            ui.ctx().copy_text(text.clone());
        }
        if ui
            .button("New code")
            .on_hover_text("Replace the secret; paired devices keep working")
            .clicked()
        {
            new_code = true;
        }
    });
    if let Some(exp) = pairing.expires {
        let left = exp.saturating_sub(stronglive_engine::live::pairing::unix_now());
        ui.weak(format!(
            "new devices can pair for {} min",
            left.div_ceil(60)
        ));
    }
    new_code
}
