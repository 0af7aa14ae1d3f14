//! The studio window (egui/eframe on wgpu). Talks to the engine only through `pipeline`'s job
//! API and the live service's commands and events, on worker threads; never imports tch or
//! FFmpeg. Workers wake the window (`request_repaint`) instead of it polling.

mod live;
mod models;
mod offline;
pub mod video;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;

pub use live::{qr_image, CompareMode, LiveTab};
pub use offline::OfflineQueue;

use crate::live::pairing::PairingStore;
use crate::live::service::LiveService;
use crate::sr::DevicePreference;

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
        app.offline.attach(cc.egui_ctx.clone());
        if options.start_live {
            let ctx = cc.egui_ctx.clone();
            match LiveService::start(
                PairingStore::default_location(),
                "auto".into(),
                DevicePreference::Auto,
                move || ctx.request_repaint(),
            ) {
                Ok(service) => app.live.attach(service),
                Err(e) => app.notes.error(format!("live server not started: {e}")),
            }
        }
        if options.demo {
            app.tab = Tab::Live;
            app.live.start_demo();
        }
        if !options.files.is_empty() {
            app.tab = Tab::Offline;
            for file in options.files {
                app.offline.add_file(file);
            }
        }
        app
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let ctrl = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
        if ctx.input_mut(|i| i.consume_shortcut(&ctrl(Key::Num1))) {
            self.tab = Tab::Live;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&ctrl(Key::Num2))) {
            self.tab = Tab::Offline;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&ctrl(Key::Num3))) {
            self.tab = Tab::Models;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&ctrl(Key::O))) {
            self.tab = Tab::Offline;
            self.offline.pick_files();
        }
        // Single keys only when no text field has focus.
        if self.tab == Tab::Live && !ctx.egui_wants_keyboard_input() {
            let pressed = |key| ctx.input(|i| i.key_pressed(key));
            if pressed(Key::D) && !self.live.demo_running {
                self.live.start_demo();
            }
            if pressed(Key::R) {
                self.live.toggle_recording();
            }
            if pressed(Key::F) {
                self.live.view = live::ViewTransform::default();
                self.live.one_to_one = false;
            }
            if pressed(Key::Num1) {
                self.live.one_to_one = !self.live.one_to_one;
            }
            if pressed(Key::S) {
                self.live.mode = match self.live.mode {
                    CompareMode::SideBySide => CompareMode::Split,
                    CompareMode::Split => CompareMode::SideBySide,
                };
            }
        }
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.offline.poll(&mut self.notes);
        self.live.poll(&mut self.notes);
        self.shortcuts(&ctx);
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("StrongLive Studio");
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Live, "Live")
                    .on_hover_text("Ctrl+1");
                ui.selectable_value(&mut self.tab, Tab::Offline, "Offline")
                    .on_hover_text("Ctrl+2");
                ui.selectable_value(&mut self.tab, Tab::Models, "Models / About")
                    .on_hover_text("Ctrl+3");
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Live => self.live.ui(ui),
            Tab::Offline => self.offline.ui(ui, &mut self.notes),
            Tab::Models => models::ui(ui),
        });
        self.notes.ui(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, self);
    }
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
