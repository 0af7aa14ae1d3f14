//! The Live tab's central views: input and output side by side, or one split view with a
//! draggable divider. Both share one zoom/pan; the YUV shader draws them (see `app::video`).

use std::sync::Arc;

use eframe::egui;

use super::compare::CompareMode;
use super::{LiveFrame, LiveTab};
use crate::video::{paint_video, UvRect, VideoCallback, VideoSlot};
use crate::StudioAction;
use stronglive_engine::frame::YuvFrame;

/// Height kept under each view for its caption.
const CAPTION_HEIGHT: f32 = 18.0;
/// Horizontal gap between the two side-by-side views.
const GAP: f32 = 8.0;
/// Above this zoom, pixels are drawn as squares (nearest) rather than blurred (linear).
const NEAREST_ABOVE_ZOOM: f32 = 1.5;

/// Shared zoom and pan of both views: `zoom` 1 = the whole frame fits; `center` in frame units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    pub zoom: f32,
    pub center: egui::Vec2,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            center: egui::vec2(0.5, 0.5),
        }
    }
}

impl ViewTransform {
    pub fn uv(&self) -> UvRect {
        let half = 0.5 / self.zoom;
        UvRect {
            min: self.center - egui::Vec2::splat(half),
            max: self.center + egui::Vec2::splat(half),
        }
    }

    /// Keep the view on the frame (no panning into emptiness once zoomed in).
    fn clamp(&mut self) {
        self.zoom = self.zoom.clamp(1.0, 64.0);
        let half = 0.5 / self.zoom;
        self.center.x = self.center.x.clamp(half, 1.0 - half);
        self.center.y = self.center.y.clamp(half, 1.0 - half);
    }

    /// Zoom by `factor` around `at` (0..1 within the view), keeping the frame point under it
    /// where it was.
    fn zoom_around(&mut self, at: egui::Vec2, factor: f32) {
        let uv = self.uv();
        let point = uv.min + (uv.max - uv.min) * at;
        self.zoom *= factor;
        self.clamp();
        let half = 0.5 / self.zoom;
        self.center = point - (at - egui::vec2(0.5, 0.5)) * 2.0 * half;
    }
}

impl LiveTab {
    pub(super) fn views(&mut self, ui: &mut egui::Ui, actions: &mut Vec<StudioAction>) {
        self.view_toolbar(ui, actions);
        let available = ui.available_rect_before_wrap();
        let Some(frame) = self.state.frame.clone() else {
            ui.centered_and_justified(|ui| {
                ui.label("Waiting for a stream: scan the QR code with the StrongLive app, or press Play demo clip.");
            });
            return;
        };
        let aspect = frame.output.width as f32 / frame.output.height.max(1) as f32;
        let rects = view_rects(available, self.settings.mode, aspect);
        if self.settings.one_to_one {
            let pixels = rects[rects.len() - 1].width() * ui.ctx().pixels_per_point();
            self.state.view.zoom = frame.output_width as f32 / pixels.max(1.0);
        }
        self.pointer_input(ui, &rects);
        self.state.view.clamp();
        let captions = self.paint_views(ui, &rects, &frame);
        // Captions are labels (not painted text) so screen readers and tests can find them.
        for (rect, text) in captions {
            ui.put(rect, egui::Label::new(text));
        }
    }

    fn view_toolbar(&self, ui: &mut egui::Ui, actions: &mut Vec<StudioAction>) {
        ui.horizontal(|ui| {
            for (mode, text) in [
                (CompareMode::SideBySide, "Side by side"),
                (CompareMode::Split, "Split compare"),
            ] {
                let selected = self.settings.mode == mode;
                if ui.selectable_label(selected, text).clicked() && !selected {
                    actions.push(StudioAction::SetCompareMode(mode));
                }
            }
            ui.separator();
            if ui
                .selectable_label(self.settings.one_to_one, "1:1 pixels (1)")
                .clicked()
            {
                actions.push(StudioAction::ToggleOneToOne);
            }
            if ui.button("Fit (F)").clicked() {
                actions.push(StudioAction::FitView);
            }
            ui.label(format!("zoom {:.0}%", self.state.view.zoom * 100.0));
        });
    }

    /// Pan by dragging, zoom with the wheel around the pointer, move the split divider.
    fn pointer_input(&mut self, ui: &mut egui::Ui, rects: &[egui::Rect]) {
        let mut split_dragged = false;
        for &rect in rects {
            let response = ui.interact(
                rect,
                ui.scope_id().with(("view", rect.min.x as i32)),
                egui::Sense::drag(),
            );
            if self.settings.mode == CompareMode::Split {
                split_dragged |= self.drag_split_divider(ui, rect);
            }
            if response.dragged() && !split_dragged {
                let delta = response.drag_delta();
                self.state.view.center -=
                    egui::vec2(delta.x / rect.width(), delta.y / rect.height())
                        / self.state.view.zoom;
                self.settings.one_to_one = false;
            }
            if response.hovered() {
                self.wheel_zoom(ui, &response, rect);
            }
        }
    }

    /// The divider's handle in the split view `rect`; true while it is being dragged.
    fn drag_split_divider(&mut self, ui: &mut egui::Ui, rect: egui::Rect) -> bool {
        let x = rect.left() + rect.width() * self.settings.split;
        let handle = egui::Rect::from_center_size(
            egui::pos2(x, rect.center().y),
            egui::vec2(16.0, rect.height()),
        );
        let response = ui.interact(handle, ui.scope_id().with("split"), egui::Sense::drag());
        if response.hovered() {
            ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
        }
        if !response.dragged() {
            return false;
        }
        if let Some(p) = response.interact_pointer_pos() {
            self.settings.split = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
        }
        true
    }

    fn wheel_zoom(&mut self, ui: &egui::Ui, response: &egui::Response, rect: egui::Rect) {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll == 0.0 {
            return;
        }
        if let Some(p) = response.hover_pos() {
            let at = egui::vec2(
                (p.x - rect.left()) / rect.width(),
                (p.y - rect.top()) / rect.height(),
            );
            self.state.view.zoom_around(at, (scroll / 200.0).exp());
        }
        self.settings.one_to_one = false;
    }

    /// Draw `frame` into `rects`; returns the captions to place under them.
    fn paint_views(
        &self,
        ui: &egui::Ui,
        rects: &[egui::Rect],
        frame: &LiveFrame,
    ) -> Vec<(egui::Rect, String)> {
        let views = FramePainter {
            painter: ui.painter().clone(),
            sequence: frame.sequence,
            uv: self.state.view.uv(),
            nearest: self.state.view.zoom > NEAREST_ABOVE_ZOOM || self.settings.one_to_one,
        };
        let (input, output) = (&frame.input, &frame.output);
        let lr_text = format!("input {}x{}", input.width, input.height);
        let sr_text = if frame.super_resolved {
            format!("super-resolved {}x{}", output.width, output.height)
        } else {
            "upscaled cheaply (SR busy with another frame)".to_string()
        };
        match self.settings.mode {
            CompareMode::SideBySide => {
                for rect in rects {
                    views.painter.rect_filled(*rect, 0.0, egui::Color32::BLACK);
                }
                views.paint(VideoSlot::LiveInput, input, rects[0], rects[0]);
                views.paint(VideoSlot::LiveOutput, output, rects[1], rects[1]);
                vec![
                    (caption_rect(rects[0]), lr_text),
                    (caption_rect(rects[1]), sr_text),
                ]
            }
            CompareMode::Split => {
                let rect = rects[0];
                views.painter.rect_filled(rect, 0.0, egui::Color32::BLACK);
                let x = rect.left() + rect.width() * self.settings.split;
                let left = egui::Rect::from_min_max(rect.min, egui::pos2(x, rect.bottom()));
                let right = egui::Rect::from_min_max(egui::pos2(x, rect.top()), rect.max);
                views.paint(VideoSlot::LiveInput, input, rect, left);
                views.paint(VideoSlot::LiveOutput, output, rect, right);
                views.painter.line_segment(
                    [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                    egui::Stroke::new(2.0, egui::Color32::WHITE),
                );
                let caption = format!("left: {lr_text}  |  right: {sr_text}");
                vec![(caption_rect(rect), caption)]
            }
        }
    }
}

/// What both views share while drawing one frame pair.
struct FramePainter {
    painter: egui::Painter,
    sequence: u64,
    uv: UvRect,
    nearest: bool,
}

impl FramePainter {
    /// Draw `image` scaled to `rect`, showing only the part inside `clip`.
    fn paint(&self, slot: VideoSlot, image: &Arc<YuvFrame>, rect: egui::Rect, clip: egui::Rect) {
        let callback = VideoCallback {
            slot,
            frame: Some((Arc::clone(image), self.sequence)),
            uv: self.uv,
            nearest: self.nearest,
        };
        paint_video(&self.painter, rect, clip, callback);
    }
}

/// Where the views go in `available`: two halves side by side, or one for the split compare,
/// each shrunk to the frame's `aspect` and centred.
fn view_rects(available: egui::Rect, mode: CompareMode, aspect: f32) -> Vec<egui::Rect> {
    let areas = match mode {
        CompareMode::SideBySide => {
            let half = available.width() / 2.0 - GAP / 2.0;
            let size = egui::vec2(half, available.height() - CAPTION_HEIGHT);
            vec![
                egui::Rect::from_min_size(available.min, size),
                egui::Rect::from_min_size(available.min + egui::vec2(half + GAP, 0.0), size),
            ]
        }
        CompareMode::Split => vec![egui::Rect::from_min_size(
            available.min,
            available.size() - egui::vec2(0.0, CAPTION_HEIGHT),
        )],
    };
    areas.into_iter().map(|area| fit(area, aspect)).collect()
}

/// The largest rectangle of `aspect` centred in `area`.
fn fit(area: egui::Rect, aspect: f32) -> egui::Rect {
    let size = if area.width() / area.height() > aspect {
        egui::vec2(area.height() * aspect, area.height())
    } else {
        egui::vec2(area.width(), area.width() / aspect)
    };
    egui::Rect::from_center_size(area.center(), size)
}

/// The caption line under a view.
fn caption_rect(view: egui::Rect) -> egui::Rect {
    egui::Rect::from_min_size(
        egui::pos2(view.left(), view.bottom() + 2.0),
        egui::vec2(view.width(), 16.0),
    )
}
