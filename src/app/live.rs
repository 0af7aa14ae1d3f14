//! Live tab: pairing (QR code), listeners, demo source, recording, the LR and 4K views side by
//! side or as a split compare with shared zoom/pan, and live metrics with 60 s sparklines.
//! Everything engine-side goes through [`LiveService`] commands and events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints};

use super::video::{paint_video, UvRect, VideoCallback, VideoSlot};
use super::Notifications;
use crate::frame::YuvFrame;
use crate::live::pairing::{PairedDevice, PairingUri};
use crate::live::server::ServerEvent;
use crate::live::service::{ListenerSettings, LiveCommand, LiveEvent, LiveService};
use crate::pipeline::metrics::MetricsSnapshot;

/// Seconds of metrics the sparklines show.
const HISTORY_S: f64 = 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareMode {
    SideBySide,
    Split,
}

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
}

/// One sparkline sample.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t: f64,
    input_fps: f64,
    output_fps: f64,
    sr_ms: f64,
    latency_ms: f64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LiveTab {
    pub legacy_enabled: bool,
    pub legacy_port: u16,
    pub rtmp_enabled: bool,
    pub srt_enabled: bool,
    pub record_dir: String,
    pub mode: CompareMode,
    pub split: f32,
    pub one_to_one: bool,
    #[serde(skip)]
    pub view: ViewTransform,
    #[serde(skip)]
    service: Option<LiveService>,
    #[serde(skip)]
    pub pairing: Option<PairingUri>,
    #[serde(skip)]
    pub devices: Vec<PairedDevice>,
    #[serde(skip)]
    qr: Option<(String, egui::TextureHandle)>,
    #[serde(skip)]
    pub frame: Option<(Arc<YuvFrame>, Arc<YuvFrame>, u64)>,
    #[serde(skip)]
    pub snapshot: Option<MetricsSnapshot>,
    #[serde(skip)]
    history: VecDeque<Sample>,
    #[serde(skip)]
    started: Option<Instant>,
    #[serde(skip)]
    pub engine: String,
    #[serde(skip)]
    pub demo_running: bool,
    #[serde(skip)]
    pub recording: Option<PathBuf>,
    #[serde(skip)]
    sessions: Vec<String>,
}

impl Default for LiveTab {
    fn default() -> Self {
        let videos = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Videos/StrongLive"))
            .unwrap_or_else(|| PathBuf::from("StrongLive"));
        Self {
            legacy_enabled: false,
            legacy_port: 8888,
            rtmp_enabled: false,
            srt_enabled: false,
            record_dir: videos.display().to_string(),
            mode: CompareMode::SideBySide,
            split: 0.5,
            one_to_one: false,
            view: ViewTransform::default(),
            service: None,
            pairing: None,
            devices: Vec::new(),
            qr: None,
            frame: None,
            snapshot: None,
            history: VecDeque::new(),
            started: None,
            engine: String::new(),
            demo_running: false,
            recording: None,
            sessions: Vec::new(),
        }
    }
}

/// The bundled demo clip: beside the executable's `assets/` (installed) or the source tree's.
pub fn demo_clip() -> PathBuf {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("assets/demo-540p.mp4")));
    match installed {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-540p.mp4"),
    }
}

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
    pub fn attach(&mut self, service: LiveService) {
        service.send(LiveCommand::Start(self.listener_settings()));
        self.service = Some(service);
    }

    pub fn listener_settings(&self) -> ListenerSettings {
        let mut ingest = Vec::new();
        if self.rtmp_enabled {
            ingest.push("rtmp://0.0.0.0:1935/live/phone".to_string());
        }
        if self.srt_enabled {
            ingest.push("srt://0.0.0.0:9000".to_string());
        }
        ListenerSettings {
            legacy: self
                .legacy_enabled
                .then(|| SocketAddr::from(([0, 0, 0, 0], self.legacy_port))),
            ingest,
            ..ListenerSettings::default()
        }
    }

    fn command(&self, command: LiveCommand) {
        if let Some(service) = &self.service {
            service.send(command);
        }
    }

    pub fn start_demo(&mut self) {
        self.command(LiveCommand::StartDemo(demo_clip()));
    }

    pub fn toggle_recording(&mut self) {
        let dir = match self.recording {
            Some(_) => None,
            None => Some(PathBuf::from(&self.record_dir)),
        };
        self.command(LiveCommand::Record(dir));
    }

    /// Apply service events, take the newest frame, sample metrics.
    pub fn poll(&mut self, notes: &mut Notifications) {
        let Some(service) = &self.service else {
            return;
        };
        for event in service.events.try_iter() {
            match event {
                LiveEvent::Listening {
                    pairing,
                    model,
                    device,
                    note,
                } => {
                    self.engine = format!("{model} on {device}");
                    self.pairing = Some(pairing);
                    if let Some(n) = note {
                        notes.info(n);
                    }
                }
                LiveEvent::Pairing { pairing, devices } => {
                    self.pairing = Some(pairing);
                    self.devices = devices;
                }
                LiveEvent::Server(ServerEvent::Rejected { peer, reason }) => {
                    notes.error(format!("rejected {peer}: {reason}"));
                }
                LiveEvent::Server(ServerEvent::SessionStarted { id, label }) => {
                    notes.info(format!("session {id}: {label} connected"));
                    self.sessions.push(label);
                }
                LiveEvent::Server(ServerEvent::SessionEnded { report, reason }) => {
                    self.sessions.retain(|l| *l != report.label);
                    let mut text = format!("{} ended ({reason})", report.label);
                    for path in &report.recordings {
                        text.push_str(&format!("; recorded {}", path.display()));
                    }
                    notes.info(text);
                    for problem in &report.problems {
                        notes.error(problem.clone());
                    }
                }
                LiveEvent::Server(ServerEvent::Listening { .. }) => {}
                LiveEvent::DemoRunning(on) => self.demo_running = on,
                LiveEvent::Recording(dir) => self.recording = dir,
                LiveEvent::Problem(p) => notes.error(p),
            }
        }
        if let Some(frame) = service.display.take() {
            self.frame = Some((frame.input, frame.output, frame.sequence));
        }
        let snapshots = service.snapshots();
        self.snapshot = snapshots.into_iter().next();
        let started = *self.started.get_or_insert_with(Instant::now);
        let t = started.elapsed().as_secs_f64();
        if let Some(s) = &self.snapshot {
            if self.history.back().is_none_or(|last| t - last.t >= 0.25) {
                self.history.push_back(Sample {
                    t,
                    input_fps: s.input_fps,
                    output_fps: s.output_fps,
                    sr_ms: s.sr.p50_ms,
                    latency_ms: s.latency.p50_ms,
                });
            }
        }
        while self.history.front().is_some_and(|s| t - s.t > HISTORY_S) {
            self.history.pop_front();
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("pairing")
            .resizable(false)
            .exact_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        egui::Panel::bottom("metrics")
            .exact_size(150.0)
            .show(ui, |ui| self.metrics_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| self.views(ui));
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Pair a phone");
        match &self.pairing {
            Some(pairing) => {
                let text = pairing.to_string();
                if self.qr.as_ref().is_none_or(|(t, _)| *t != text) {
                    if let Some(image) = qr_image(&text, 4) {
                        let texture = ui.ctx().load_texture(
                            "pairing-qr",
                            image,
                            egui::TextureOptions::NEAREST,
                        );
                        self.qr = Some((text.clone(), texture));
                    }
                }
                if let Some((_, texture)) = &self.qr {
                    ui.add(egui::Image::new(texture).fit_to_exact_size(egui::vec2(260.0, 260.0)));
                }
                ui.label("Scan with the phone's camera: it opens the StrongLive app.");
                let hosts: Vec<String> = pairing.hosts.iter().map(|h| h.to_string()).collect();
                ui.label(format!("{}  port {}", hosts.join(", "), pairing.port));
                ui.horizontal(|ui| {
                    if ui.button("Copy link").clicked() {
                        ui.ctx().copy_text(text.clone());
                    }
                    if ui
                        .button("New code")
                        .on_hover_text("Replace the secret; paired devices keep working")
                        .clicked()
                    {
                        self.command(LiveCommand::NewSecret);
                    }
                });
                if let Some(exp) = pairing.expires {
                    let left = exp.saturating_sub(crate::live::pairing::unix_now());
                    ui.weak(format!(
                        "new devices can pair for {} min",
                        left.div_ceil(60)
                    ));
                }
            }
            None => {
                ui.spinner();
                ui.label("starting the live server...");
            }
        }
        ui.separator();
        ui.strong("Paired devices");
        if self.devices.is_empty() {
            ui.weak("none yet");
        }
        let mut remove = None;
        for device in &self.devices {
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
        ui.separator();
        ui.strong("Other senders");
        let before = self.listener_settings();
        ui.checkbox(
            &mut self.legacy_enabled,
            format!(
                "STRONGLIVE app on port {} (no authentication)",
                self.legacy_port
            ),
        );
        ui.checkbox(
            &mut self.rtmp_enabled,
            "RTMP  rtmp://<this machine>:1935/live/phone",
        );
        ui.checkbox(&mut self.srt_enabled, "SRT  srt://<this machine>:9000");
        if self.listener_settings() != before {
            self.command(LiveCommand::Start(self.listener_settings()));
        }
        ui.separator();
        ui.strong("Demo");
        if self.demo_running {
            if ui.button("Stop demo").clicked() {
                self.command(LiveCommand::StopDemo);
            }
        } else if ui
            .button("Play demo clip")
            .on_hover_text(
                "Streams assets/demo-540p.mp4 through the live pipeline over loopback (D)",
            )
            .clicked()
        {
            self.start_demo();
        }
        ui.separator();
        ui.strong("Record");
        ui.add(egui::TextEdit::singleline(&mut self.record_dir).hint_text("folder"));
        let label = if self.recording.is_some() {
            "Stop recording (R)"
        } else {
            "Record input + 4K (R)"
        };
        if ui.button(label).clicked() {
            self.toggle_recording();
        }
        if let Some(dir) = &self.recording {
            ui.colored_label(
                egui::Color32::RED,
                format!("recording to {}", dir.display()),
            );
        }
    }

    fn metrics_panel(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(360.0);
                match &self.snapshot {
                    Some(s) => {
                        ui.strong(&s.label);
                        ui.label(format!(
                            "{}x{} -> {}x{}   {} on {}",
                            s.input_size.0,
                            s.input_size.1,
                            s.output_size.0,
                            s.output_size.1,
                            s.model,
                            s.device
                        ));
                        ui.label(format!(
                            "in {:.1} fps   out {:.1} fps   {:.2} Mbit/s",
                            s.input_fps,
                            s.output_fps,
                            s.bitrate_bps / 1e6
                        ));
                        ui.label(format!(
                            "SR {:.0}/{:.0} ms (p50/p95)   latency {:.0}/{:.0} ms",
                            s.sr.p50_ms, s.sr.p95_ms, s.latency.p50_ms, s.latency.p95_ms
                        ));
                        ui.label(format!(
                            "frames {} in, {} out, {} dropped   queue {}/{}",
                            s.totals.frames_decoded,
                            s.totals.frames_upscaled,
                            s.totals.sr_dropped + s.totals.display_dropped,
                            s.sr_queue_depth,
                            s.sr_queue_capacity
                        ));
                    }
                    None => {
                        ui.strong("No stream");
                        ui.label(if self.engine.is_empty() {
                            "SR engine starting...".to_string()
                        } else {
                            format!("SR: {}", self.engine)
                        });
                        ui.weak("Pair a phone, enable a listener, or play the demo clip.");
                    }
                }
            });
            let series = |pick: fn(&Sample) -> f64| -> PlotPoints<'static> {
                self.history.iter().map(|s| [s.t, pick(s)]).collect()
            };
            for (title, lines) in [
                (
                    "fps (in, out)",
                    vec![series(|s| s.input_fps), series(|s| s.output_fps)],
                ),
                (
                    "ms (SR, latency)",
                    vec![series(|s| s.sr_ms), series(|s| s.latency_ms)],
                ),
            ] {
                ui.vertical(|ui| {
                    ui.label(title);
                    Plot::new(title)
                        .height(110.0)
                        .width(260.0)
                        .show_axes([false, true])
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .include_y(0.0)
                        .show(ui, |plot| {
                            for (i, points) in lines.into_iter().enumerate() {
                                plot.line(Line::new(if i == 0 { "a" } else { "b" }, points));
                            }
                        });
                });
            }
        });
    }

    fn views(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.mode, CompareMode::SideBySide, "Side by side");
            ui.selectable_value(&mut self.mode, CompareMode::Split, "Split compare");
            ui.separator();
            if ui
                .selectable_label(self.one_to_one, "1:1 pixels (1)")
                .clicked()
            {
                self.one_to_one = !self.one_to_one;
            }
            if ui.button("Fit (F)").clicked() {
                self.view = ViewTransform::default();
                self.one_to_one = false;
            }
            ui.label(format!("zoom {:.0}%", self.view.zoom * 100.0));
        });
        let available = ui.available_rect_before_wrap();
        let Some((input, output, sequence)) = self.frame.clone() else {
            ui.centered_and_justified(|ui| {
                ui.label("Waiting for a stream: scan the QR code with the StrongLive app, or press Play demo clip.");
            });
            return;
        };
        let aspect = output.width as f32 / output.height.max(1) as f32;
        let fit = |area: egui::Rect| {
            let size = if area.width() / area.height() > aspect {
                egui::vec2(area.height() * aspect, area.height())
            } else {
                egui::vec2(area.width(), area.width() / aspect)
            };
            egui::Rect::from_center_size(area.center(), size)
        };
        let areas: Vec<egui::Rect> = match self.mode {
            CompareMode::SideBySide => {
                let half = available.width() / 2.0 - 4.0;
                vec![
                    egui::Rect::from_min_size(
                        available.min,
                        egui::vec2(half, available.height() - 18.0),
                    ),
                    egui::Rect::from_min_size(
                        available.min + egui::vec2(half + 8.0, 0.0),
                        egui::vec2(half, available.height() - 18.0),
                    ),
                ]
            }
            CompareMode::Split => vec![egui::Rect::from_min_size(
                available.min,
                available.size() - egui::vec2(0.0, 18.0),
            )],
        };
        let rects: Vec<egui::Rect> = areas.iter().map(|a| fit(*a)).collect();
        if self.one_to_one {
            let pixels = rects[rects.len() - 1].width() * ui.ctx().pixels_per_point();
            self.view.zoom = output.width as f32 / pixels.max(1.0);
        }
        // Pan by dragging, zoom with the wheel around the pointer; both views share it.
        let mut split_dragged = false;
        for rect in &rects {
            let response = ui.interact(
                *rect,
                ui.scope_id().with(("view", rect.min.x as i32)),
                egui::Sense::drag(),
            );
            if self.mode == CompareMode::Split {
                let x = rect.left() + rect.width() * self.split;
                let handle = egui::Rect::from_center_size(
                    egui::pos2(x, rect.center().y),
                    egui::vec2(16.0, rect.height()),
                );
                let handle_response =
                    ui.interact(handle, ui.scope_id().with("split"), egui::Sense::drag());
                if handle_response.dragged() {
                    if let Some(p) = handle_response.interact_pointer_pos() {
                        self.split = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
                    }
                    split_dragged = true;
                }
                if handle_response.hovered() {
                    ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
                }
            }
            if response.dragged() && !split_dragged {
                let delta = response.drag_delta();
                self.view.center -=
                    egui::vec2(delta.x / rect.width(), delta.y / rect.height()) / self.view.zoom;
                self.one_to_one = false;
            }
            if response.hovered() {
                let scroll = ui.input(|i| i.smooth_scroll_delta.y);
                if scroll != 0.0 {
                    let factor = (scroll / 200.0).exp();
                    if let Some(p) = response.hover_pos() {
                        let uv = self.view.uv();
                        let at = egui::vec2(
                            (p.x - rect.left()) / rect.width(),
                            (p.y - rect.top()) / rect.height(),
                        );
                        let point = uv.min + (uv.max - uv.min) * at;
                        self.view.zoom *= factor;
                        self.view.clamp();
                        // Keep the frame point under the pointer where it was.
                        let half = 0.5 / self.view.zoom;
                        self.view.center = point - (at - egui::vec2(0.5, 0.5)) * 2.0 * half;
                    }
                    self.one_to_one = false;
                }
            }
        }
        self.view.clamp();
        let uv = self.view.uv();
        let painter = ui.painter().clone();
        let painter = &painter;
        let nearest = self.view.zoom > 1.5 || self.one_to_one;
        let callback = |slot, frame: &Arc<YuvFrame>| VideoCallback {
            slot,
            frame: Some((Arc::clone(frame), sequence)),
            uv,
            nearest,
        };
        let mut captions: Vec<(egui::Rect, String)> = Vec::new();
        let mut caption = |rect: egui::Rect, text: String| {
            captions.push((
                egui::Rect::from_min_size(
                    egui::pos2(rect.left(), rect.bottom() + 2.0),
                    egui::vec2(rect.width(), 16.0),
                ),
                text,
            ));
        };
        let lr_text = format!("input {}x{}", input.width, input.height);
        let sr_text = format!("super-resolved {}x{}", output.width, output.height);
        match self.mode {
            CompareMode::SideBySide => {
                for rect in &rects {
                    painter.rect_filled(*rect, 0.0, egui::Color32::BLACK);
                }
                paint_video(
                    painter,
                    rects[0],
                    rects[0],
                    callback(VideoSlot::LiveInput, &input),
                );
                paint_video(
                    painter,
                    rects[1],
                    rects[1],
                    callback(VideoSlot::LiveOutput, &output),
                );
                caption(rects[0], lr_text);
                caption(rects[1], sr_text);
            }
            CompareMode::Split => {
                let rect = rects[0];
                painter.rect_filled(rect, 0.0, egui::Color32::BLACK);
                let x = rect.left() + rect.width() * self.split;
                let left = egui::Rect::from_min_max(rect.min, egui::pos2(x, rect.bottom()));
                let right = egui::Rect::from_min_max(egui::pos2(x, rect.top()), rect.max);
                paint_video(painter, rect, left, callback(VideoSlot::LiveInput, &input));
                paint_video(
                    painter,
                    rect,
                    right,
                    callback(VideoSlot::LiveOutput, &output),
                );
                painter.line_segment(
                    [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                    egui::Stroke::new(2.0, egui::Color32::WHITE),
                );
                caption(rect, format!("left: {lr_text}  |  right: {sr_text}"));
            }
        }
        // Captions are labels (not painted text) so screen readers and tests can find them.
        for (rect, text) in captions {
            ui.put(rect, egui::Label::new(text));
        }
    }
}
