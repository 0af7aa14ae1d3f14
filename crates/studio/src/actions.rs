//! What the user can do to the window with a key or a button, as one value: shortcuts and
//! buttons both produce a [`StudioAction`] and [`StudioApp::apply`] alone carries it out, so
//! a key and its button cannot drift apart.

use std::path::PathBuf;

use eframe::egui;

use super::live::CompareMode;
use super::{StudioApp, Tab};

#[derive(Debug, Clone, PartialEq)]
pub enum StudioAction {
    ShowTab(Tab),
    /// Ask for video files with the file dialog and queue them (Offline tab).
    PickFiles,
    /// Queue these files (Offline tab): dropped on the window or named on the command line.
    QueueFiles(Vec<PathBuf>),
    /// Play the demo clip through the live pipeline, unless it is already playing.
    StartDemo,
    StopDemo,
    /// Start recording the live input and output, or stop.
    ToggleRecording,
    SetCompareMode(CompareMode),
    /// Switch between side by side and split compare.
    ToggleCompareMode,
    /// Zoom the live views so one frame pixel is one screen pixel, or back.
    ToggleOneToOne,
    /// Show the whole frame in the live views.
    FitView,
    /// Read the model cards from disk again.
    RefreshModels,
}

/// The actions the keyboard asks for this frame. Ctrl shortcuts work everywhere; single keys
/// only on the Live tab and while no text field has focus (so typing a folder name is typing).
pub fn shortcuts(ctx: &egui::Context, tab: Tab) -> Vec<StudioAction> {
    use egui::{Key, KeyboardShortcut, Modifiers};
    let mut actions = Vec::new();
    let ctrl = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
    for (key, action) in [
        (Key::Num1, StudioAction::ShowTab(Tab::Live)),
        (Key::Num2, StudioAction::ShowTab(Tab::Offline)),
        (Key::Num3, StudioAction::ShowTab(Tab::Models)),
        (Key::O, StudioAction::PickFiles),
    ] {
        if ctx.input_mut(|i| i.consume_shortcut(&ctrl(key))) {
            actions.push(action);
        }
    }
    // The tab as it will be once the Ctrl shortcuts above are applied.
    let tab = actions.iter().fold(tab, |tab, action| match action {
        StudioAction::ShowTab(t) => *t,
        StudioAction::PickFiles => Tab::Offline,
        _ => tab,
    });
    if tab != Tab::Live || ctx.egui_wants_keyboard_input() {
        return actions;
    }
    for (key, action) in [
        (Key::D, StudioAction::StartDemo),
        (Key::R, StudioAction::ToggleRecording),
        (Key::F, StudioAction::FitView),
        (Key::Num1, StudioAction::ToggleOneToOne),
        (Key::S, StudioAction::ToggleCompareMode),
    ] {
        if ctx.input(|i| i.key_pressed(key)) {
            actions.push(action);
        }
    }
    actions
}

impl StudioApp {
    /// Carry out `action`: the one place where keys and buttons change the window.
    pub fn apply(&mut self, action: StudioAction) {
        match action {
            StudioAction::ShowTab(tab) => {
                // Opening the Models view shows the models on disk now, not at start-up.
                if tab == Tab::Models && self.tab != Tab::Models {
                    self.models.refresh();
                }
                self.tab = tab;
            }
            StudioAction::PickFiles => {
                self.tab = Tab::Offline;
                self.offline.pick_files();
            }
            StudioAction::QueueFiles(files) => {
                self.tab = Tab::Offline;
                // only videos become jobs: anything else dropped or opened is named in a
                // notification with what is wrong with it (probed off the UI thread)
                self.offline.offer_files(files);
            }
            StudioAction::StartDemo => {
                if !self.live.state.demo_running {
                    self.live.start_demo();
                }
            }
            StudioAction::StopDemo => self.live.stop_demo(),
            StudioAction::ToggleRecording => self.live.toggle_recording(),
            StudioAction::SetCompareMode(mode) => self.live.settings.mode = mode,
            StudioAction::ToggleCompareMode => {
                self.live.settings.mode = self.live.settings.mode.toggled();
            }
            StudioAction::ToggleOneToOne => {
                self.live.settings.one_to_one = !self.live.settings.one_to_one;
            }
            StudioAction::FitView => self.live.fit_view(),
            StudioAction::RefreshModels => self.models.refresh(),
        }
    }

    /// Apply the actions gathered while drawing; a repaint shows their effect at once.
    pub(super) fn apply_all(&mut self, ctx: &egui::Context, actions: &mut Vec<StudioAction>) {
        if actions.is_empty() {
            return;
        }
        for action in actions.drain(..) {
            self.apply(action);
        }
        ctx.request_repaint();
    }
}

/// Files dropped onto the window this frame, whatever tab shows, become a
/// [`StudioAction::QueueFiles`] (which switches to the Offline tab).
pub fn dropped_files(ctx: &egui::Context) -> Option<StudioAction> {
    let dropped: Vec<PathBuf> = ctx.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .map(|f| f.path().to_path_buf())
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    });
    (!dropped.is_empty()).then_some(StudioAction::QueueFiles(dropped))
}
