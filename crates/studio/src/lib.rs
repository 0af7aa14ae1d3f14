//! The studio window (egui/eframe on wgpu). Talks to the engine only through `pipeline`'s job
//! API and the live service's commands and events, on worker threads; never imports tch or
//! FFmpeg. Workers wake the window (`request_repaint`) instead of it polling.

mod actions;
mod live;
mod models;
mod offline;
pub mod video;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;

pub use actions::StudioAction;
pub use live::{qr_image, CompareMode, LiveFrame, LiveSettings, LiveState, LiveTab};
pub use models::{ModelCatalog, ModelChoice};
pub use offline::{OfflineQueue, OfflineSettings};

use stronglive_engine::live::pairing::PairingStore;
use stronglive_engine::live::service::LiveService;
use stronglive_engine::sr::DevicePreference;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum Tab {
    #[default]
    Live,
    Offline,
    Models,
}

/// How the window starts (from the command line).
#[derive(Debug, Clone, Default)]
pub struct StudioOptions {
    /// Start the live server (off in tests that render tabs with fixed state).
    pub start_live: bool,
    /// Play the demo clip right away.
    pub demo: bool,
    /// Files to queue in the Offline tab (the command-line equivalent of dropping them).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Info,
    Error,
}

/// Short messages shown in the corner: what happened and what went wrong, never a panic.
#[derive(Default)]
pub struct Notifications {
    items: Vec<(Instant, Level, String)>,
}

impl Notifications {
    pub fn info(&mut self, text: impl Into<String>) {
        self.items.push((Instant::now(), Level::Info, text.into()));
    }

    pub fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!("{text}");
        self.items.push((Instant::now(), Level::Error, text));
    }

    fn ui(&mut self, ctx: &egui::Context) {
        self.items.retain(|(at, level, _)| {
            at.elapsed() < Duration::from_secs(if *level == Level::Error { 20 } else { 8 })
        });
        if self.items.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("notifications"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
            .show(ctx, |ui| {
                for (i, (_, level, text)) in self.items.iter().enumerate().rev().take(5) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            match level {
                                Level::Error => ui.colored_label(ui.visuals().error_fg_color, text),
                                Level::Info => ui.label(text),
                            };
                            if ui.small_button("x").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = dismiss {
            self.items.remove(i);
        }
        // Expire messages without input.
        ctx.request_repaint_after(Duration::from_secs(1));
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct StudioApp {
    pub tab: Tab,
    pub live: LiveTab,
    pub offline: OfflineQueue,
    #[serde(skip)]
    pub notes: Notifications,
    /// Read at start-up and on refresh, not every frame.
    #[serde(skip)]
    pub models: ModelCatalog,
    /// The window title last sent (it changes with the active job).
    #[serde(skip)]
    title: String,
}

impl StudioApp {
    /// "StrongLive Studio", with the active job or the queued files after a dash: what the
    /// task bar shows while the window is hidden.
    pub fn window_title(&self) -> String {
        match self.offline.title_status() {
            Some(status) => format!("StrongLive Studio - {status}"),
            None => "StrongLive Studio".into(),
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let title = self.window_title();
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }
}

impl StudioApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: StudioOptions) -> Self {
        if let Some(render_state) = &cc.wgpu_render_state {
            video::install(render_state);
        }
        let mut app: Self = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        app.models = ModelCatalog::discover();
        let requeued = app.offline.attach(cc.egui_ctx.clone());
        if requeued > 0 {
            app.notes.info(format!(
                "{requeued} unfinished job(s) queued again: they continue from their finished chunks"
            ));
        }
        if options.start_live {
            let ctx = cc.egui_ctx.clone();
            match LiveService::start(
                PairingStore::default_location(),
                "auto".into(),
                DevicePreference::AUTO,
                move || ctx.request_repaint(),
            ) {
                Ok(service) => app.live.attach(service),
                Err(e) => app.notes.error(format!("live server not started: {e}")),
            }
        }
        if options.demo {
            app.apply(StudioAction::ShowTab(Tab::Live));
            app.apply(StudioAction::StartDemo);
        }
        if !options.files.is_empty() {
            app.apply(StudioAction::QueueFiles(options.files));
        }
        app
    }
}

impl eframe::App for StudioApp {
    fn on_exit(&mut self) {
        self.offline.shut_down();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.offline.poll(&mut self.notes);
        self.live.poll(&mut self.notes);
        let mut actions = actions::shortcuts(&ctx, self.tab);
        actions.extend(actions::dropped_files(&ctx));
        for action in actions.drain(..) {
            self.apply(action);
        }
        // The tab bar's choice applies before the tab is drawn, the tab's own after it.
        egui::Panel::top("tabs").show(ui, |ui| tab_bar(ui, self.tab, &mut actions));
        self.apply_all(&ctx, &mut actions);
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Live => self.live.ui(ui, &mut actions),
            Tab::Offline => self.offline.ui(ui, self.models.choices(), &mut actions),
            Tab::Models => models::ui(ui, &self.models, &mut actions),
        });
        self.apply_all(&ctx, &mut actions);
        self.notes.ui(&ctx);
        self.update_title(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.offline.remember_unfinished();
        eframe::set_value(storage, eframe::APP_KEY, self);
    }
}

fn tab_bar(ui: &mut egui::Ui, current: Tab, actions: &mut Vec<StudioAction>) {
    ui.horizontal(|ui| {
        ui.heading("StrongLive Studio");
        ui.separator();
        for (tab, text, key) in [
            (Tab::Live, "Live", "Ctrl+1"),
            (Tab::Offline, "Offline", "Ctrl+2"),
            (Tab::Models, "Models / About", "Ctrl+3"),
        ] {
            let selected = current == tab;
            if ui
                .selectable_label(selected, text)
                .on_hover_text(key)
                .clicked()
                && !selected
            {
                actions.push(StudioAction::ShowTab(tab));
            }
        }
    });
}

/// Open the studio window and block until it is closed.
pub fn run(options: StudioOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("StrongLive Studio")
            .with_inner_size([1280.0, 800.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "StrongLive Studio",
        native,
        Box::new(move |cc| Ok(Box::new(StudioApp::new(cc, options)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the studio window: {e}"))
}
