//! The Offline tab's preview: one frame of a queued file, upscaled on a worker thread with
//! bicubic and with the chosen model, drawn side by side.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use eframe::egui;

use super::{file_name, OfflineQueue};
use crate::video::{paint_video, UvRect, VideoCallback, VideoSlot};
use crate::Notifications;
use stronglive_engine::frame::YuvFrame;
use stronglive_engine::pipeline::offline::preview::{preview_frame, PreviewFrames};
use stronglive_engine::sr::DevicePreference;

/// Where in the file a new preview starts (fraction of its length).
const FIRST_POSITION: f32 = 0.1;

/// A rendered preview, ready to draw.
struct PreviewPair {
    bicubic: Arc<YuvFrame>,
    model: Arc<YuvFrame>,
    caption: String,
    /// Increases with every render, so the views upload textures only when it changes.
    sequence: u64,
}

/// The preview panel's file, position and frames.
pub(super) struct Preview {
    input: PathBuf,
    /// 0 (start) to 1 (end) of the file.
    position: f32,
    frames: Option<PreviewPair>,
    /// The render in progress, if any.
    pending: Option<Receiver<Result<PreviewFrames, String>>>,
}

impl OfflineQueue {
    /// Open the preview of `input` and render its first frame.
    pub fn open_preview(&mut self, input: PathBuf) {
        self.state.preview = Some(Preview {
            input,
            position: FIRST_POSITION,
            frames: None,
            pending: None,
        });
        self.render_preview();
    }

    /// Decode and upscale the preview frame on a worker thread.
    fn render_preview(&mut self) {
        let Some(preview) = self.state.preview.as_mut() else {
            return;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (input, position, model) = (
            preview.input.clone(),
            preview.position,
            self.settings.model.clone(),
        );
        let ctx = self.state.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("offline-preview".into())
            .spawn(move || {
                let result =
                    preview_frame(&input, f64::from(position), &model, DevicePreference::AUTO)
                        .map_err(|e| e.to_string());
                let _ = tx.send(result);
                if let Some(ctx) = ctx {
                    ctx.request_repaint();
                }
            });
        if spawned.is_ok() {
            preview.pending = Some(rx);
        }
    }

    /// Take the rendered frames when the worker has sent them.
    pub(super) fn poll_preview(&mut self, notes: &mut Notifications) {
        let Some(preview) = self.state.preview.as_mut() else {
            return;
        };
        let Some(result) = preview.pending.as_ref().and_then(|rx| rx.try_recv().ok()) else {
            return;
        };
        preview.pending = None;
        match result {
            Ok(p) => {
                let hdr = p.hdr.map_or(String::new(), |t| {
                    format!(" | {}: shown tone-mapped for this SDR screen", t.label())
                });
                let caption = format!(
                    "frame {} of {}: bicubic (left) vs {} (right, {:.1} s){hdr}",
                    p.frame_index + 1,
                    file_name(&preview.input),
                    p.model_name,
                    p.model_seconds
                );
                let sequence = preview.frames.as_ref().map_or(1, |f| f.sequence + 1);
                preview.frames = Some(PreviewPair {
                    bicubic: Arc::new(p.bicubic),
                    model: Arc::new(p.model),
                    caption,
                    sequence,
                });
            }
            Err(e) => notes.error(format!("preview: {e}")),
        }
    }

    pub(super) fn preview_ui(&mut self, ui: &mut egui::Ui) {
        let Some(preview) = self.state.preview.as_mut() else {
            return;
        };
        ui.separator();
        let mut rerender = false;
        let mut close = false;
        ui.horizontal(|ui| {
            ui.strong("Preview");
            let slider =
                ui.add(egui::Slider::new(&mut preview.position, 0.0..=1.0).text("position"));
            rerender = slider.drag_stopped() || ui.button("Render").clicked();
            if preview.pending.is_some() {
                ui.spinner();
                ui.label("upscaling one frame...");
            }
            if ui.button("Close").clicked() {
                close = true;
            }
        });
        if let Some(pair) = &preview.frames {
            paint_pair(ui, pair);
        }
        if close {
            self.state.preview = None;
        } else if rerender {
            self.render_preview();
        }
    }
}

/// Bicubic on the left, the model on the right, as large as the width allows; caption below.
fn paint_pair(ui: &mut egui::Ui, pair: &PreviewPair) {
    let area = ui.available_rect_before_wrap();
    let half = (area.width() - 8.0) / 2.0;
    let aspect = pair.model.width as f32 / pair.model.height.max(1) as f32;
    let height = (half / aspect).min(area.height() - 24.0).max(10.0);
    let size = egui::vec2(height * aspect, height);
    let left = egui::Rect::from_min_size(area.min, size);
    let right = egui::Rect::from_min_size(area.min + egui::vec2(half + 8.0, 0.0), size);
    let painter = ui.painter();
    for (rect, slot, frame) in [
        (left, VideoSlot::PreviewBicubic, &pair.bicubic),
        (right, VideoSlot::PreviewModel, &pair.model),
    ] {
        let callback = VideoCallback {
            slot,
            frame: Some((Arc::clone(frame), pair.sequence)),
            uv: UvRect::FULL,
            nearest: false,
        };
        paint_video(painter, rect, rect, callback);
    }
    ui.allocate_rect(
        egui::Rect::from_min_size(area.min, egui::vec2(area.width(), height)),
        egui::Sense::hover(),
    );
    ui.label(pair.caption.as_str());
}
