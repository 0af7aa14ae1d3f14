//! The studio window (egui/eframe on wgpu). Talks to the engine only through `pipeline`'s job
//! API on worker threads; never imports tch or FFmpeg.

mod offline;

use eframe::egui;

pub use offline::OfflineQueue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
enum Tab {
    Live,
    #[default]
    Offline,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct StudioApp {
    tab: Tab,
    offline: OfflineQueue,
}

impl StudioApp {
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let mut app: Self = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        app.offline.attach(cc.egui_ctx.clone());
        app
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.offline.poll();
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("StrongLive Studio");
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Live, "Live");
                ui.selectable_value(&mut self.tab, Tab::Offline, "Offline");
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Live => {
                ui.label("Live upscaling from a phone arrives in a later release.");
            }
            Tab::Offline => self.offline.ui(ui),
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, self);
    }
}

/// Open the studio window and block until it is closed.
pub fn run() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("StrongLive Studio")
            .with_inner_size([1280.0, 800.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "StrongLive Studio",
        options,
        Box::new(|cc| Ok(Box::new(StudioApp::new(cc)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the studio window: {e}"))
}
