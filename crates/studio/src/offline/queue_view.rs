//! The Offline tab's queue table: one row per file with its progress, state and buttons.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use eframe::egui;

use super::{file_name, JobState, OfflineQueue, QueueEntry};

/// What a click in the table asks for; applied once the table is drawn.
pub(super) enum QueueEdit {
    Remove(u64),
    /// Move the entry `step` places (-1 earlier, 1 later).
    Move {
        id: u64,
        step: isize,
    },
    Preview(PathBuf),
}

impl OfflineQueue {
    pub(super) fn queue_grid(&self, ui: &mut egui::Ui) -> Option<QueueEdit> {
        let mut edit = None;
        egui::Grid::new("queue")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for title in ["file", "progress", "fps", "ETA", "state", ""] {
                    ui.strong(title);
                }
                ui.end_row();
                for entry in &self.state.entries {
                    if let Some(e) = entry_row(ui, entry) {
                        edit = Some(e);
                    }
                    ui.end_row();
                }
            });
        edit
    }

    pub(super) fn apply_edit(&mut self, edit: QueueEdit) {
        let entries = &mut self.state.entries;
        match edit {
            QueueEdit::Remove(id) => entries.retain(|e| e.id != id),
            QueueEdit::Move { id, step } => {
                if let Some(i) = entries.iter().position(|e| e.id == id) {
                    let j = i as isize + step;
                    if (0..entries.len() as isize).contains(&j) {
                        entries.swap(i, j as usize);
                    }
                }
            }
            QueueEdit::Preview(input) => self.open_preview(input),
        }
    }
}

/// The cells of one entry; returns what its buttons ask for.
fn entry_row(ui: &mut egui::Ui, entry: &QueueEntry) -> Option<QueueEdit> {
    ui.label(file_name(&entry.input));
    let fraction = match (entry.total_frames, &entry.state) {
        (_, JobState::Done { .. }) => 1.0,
        (Some(t), _) if t > 0 => entry.frames_done as f32 / t as f32,
        _ => 0.0,
    };
    let text = match entry.total_frames {
        Some(total) if total > 0 => format!(
            "{:.0}% ({}/{total} frames)",
            fraction.min(1.0) * 100.0,
            entry.frames_done
        ),
        _ => format!("{} frames", entry.frames_done),
    };
    ui.add(
        egui::ProgressBar::new(fraction.min(1.0))
            .desired_width(240.0)
            .text(text),
    );
    ui.label(format!("{:.1}", entry.fps));
    ui.label(
        entry
            .eta
            .map_or("-".into(), |d| format!("{}s", d.as_secs())),
    );
    match &entry.state {
        JobState::Queued => ui.label("queued"),
        JobState::Running => ui.label(match &entry.detail {
            Some(detail) => format!("running ({}): {detail}", entry.encoder),
            None => format!("running ({})", entry.encoder),
        }),
        JobState::Done { output, seconds } => ui.label(match &entry.detail {
            Some(detail) => format!("done in {seconds:.1}s: {} ({detail})", file_name(output)),
            None => format!("done in {seconds:.1}s: {}", file_name(output)),
        }),
        JobState::Failed(msg) => ui.colored_label(ui.visuals().error_fg_color, msg),
        JobState::Cancelled => ui.label("cancelled"),
    };
    ui.horizontal(|ui| entry_buttons(ui, entry)).inner
}

fn entry_buttons(ui: &mut egui::Ui, entry: &QueueEntry) -> Option<QueueEdit> {
    let mut edit = None;
    if entry.state == JobState::Running {
        if ui.button("Cancel").clicked() {
            entry.cancel.store(true, Ordering::Relaxed);
        }
        return None;
    }
    if entry.state == JobState::Queued {
        if ui.small_button("Up").on_hover_text("earlier").clicked() {
            edit = Some(QueueEdit::Move {
                id: entry.id,
                step: -1,
            });
        }
        if ui.small_button("Down").on_hover_text("later").clicked() {
            edit = Some(QueueEdit::Move {
                id: entry.id,
                step: 1,
            });
        }
    }
    if let JobState::Done { output, .. } = &entry.state {
        if ui.button("Open folder").clicked() {
            open_folder(output);
        }
    }
    if ui.button("Preview").clicked() {
        edit = Some(QueueEdit::Preview(entry.input.clone()));
    }
    if ui.button("Remove").clicked() {
        edit = Some(QueueEdit::Remove(entry.id));
    }
    edit
}

/// Show a file's folder in the desktop's file manager.
fn open_folder(file: &Path) {
    let dir = file.parent().unwrap_or(Path::new("."));
    if let Err(e) = std::process::Command::new("xdg-open").arg(dir).spawn() {
        tracing::warn!("cannot open {}: {e}", dir.display());
    }
}
