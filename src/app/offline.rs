//! Offline tab: a queue of files upscaled one after another on a worker thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use super::video::{paint_video, UvRect, VideoCallback, VideoSlot};
use crate::frame::YuvFrame;
use crate::media::{EncoderChoice, Quality};
use crate::pipeline::preview::{preview_frame, PreviewFrames};
use crate::pipeline::{default_output_path, JobEvent, OfflineJob};
use crate::sr::DevicePreference;

#[derive(Debug, Clone, PartialEq)]
enum JobState {
    Queued,
    Running,
    Done { output: PathBuf, seconds: f64 },
    Failed(String),
    Cancelled,
}

struct QueueEntry {
    id: u64,
    input: PathBuf,
    state: JobState,
    frames_done: u64,
    total_frames: Option<u64>,
    fps: f64,
    eta: Option<Duration>,
    encoder: String,
    cancel: Arc<AtomicBool>,
}

/// A job handed to the worker: queue id, the job, its cancel flag.
type QueuedJob = (u64, OfflineJob, Arc<AtomicBool>);

enum WorkerEvent {
    Job(u64, JobEvent),
    Finished(u64, Result<(PathBuf, f64), String>),
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OfflineQueue {
    /// Empty = beside each input.
    pub output_dir: String,
    pub encoder: String,
    pub crf: u8,
    /// `auto` or a registry name.
    pub model: String,
    /// Output file name without extension; `{stem}` and `{model}` are replaced.
    pub naming: String,
    #[serde(skip)]
    entries: Vec<QueueEntry>,
    #[serde(skip)]
    next_id: u64,
    #[serde(skip)]
    worker: Option<(Sender<QueuedJob>, Receiver<WorkerEvent>)>,
    #[serde(skip)]
    busy: bool,
    #[serde(skip)]
    preview: Option<Preview>,
    #[serde(skip)]
    ctx: Option<egui::Context>,
}

/// The preview panel: one frame of a queued file, bicubic beside the chosen model.
struct Preview {
    input: PathBuf,
    position: f32,
    /// (bicubic, model, caption, sequence) once rendered.
    frames: Option<(Arc<YuvFrame>, Arc<YuvFrame>, String, u64)>,
    pending: Option<Receiver<Result<PreviewFrames, String>>>,
}

impl Default for OfflineQueue {
    fn default() -> Self {
        Self {
            output_dir: String::new(),
            encoder: "auto".into(),
            crf: 20,
            model: "auto".into(),
            naming: "{stem}_x4".into(),
            entries: Vec::new(),
            next_id: 0,
            worker: None,
            busy: false,
            preview: None,
            ctx: None,
        }
    }
}

impl OfflineQueue {
    /// Start the worker thread; it wakes the UI on every event instead of the UI polling.
    pub fn attach(&mut self, ctx: egui::Context) {
        self.ctx = Some(ctx.clone());
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<QueuedJob>();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let repaint = ctx;
        let spawned = std::thread::Builder::new()
            .name("offline-queue".into())
            .spawn(move || {
                for (id, job, cancel) in job_rx.iter() {
                    let result = job.run(cancel, &mut |event| {
                        let _ = event_tx.send(WorkerEvent::Job(id, event));
                        repaint.request_repaint();
                    });
                    let _ = event_tx.send(WorkerEvent::Finished(
                        id,
                        result
                            .map(|r| (r.start.output, r.elapsed.as_secs_f64()))
                            .map_err(|e| e.to_string()),
                    ));
                    repaint.request_repaint();
                }
            });
        if spawned.is_ok() {
            self.worker = Some((job_tx, event_rx));
        }
    }

    pub fn add_file(&mut self, input: PathBuf) {
        self.next_id += 1;
        self.entries.push(QueueEntry {
            id: self.next_id,
            input,
            state: JobState::Queued,
            frames_done: 0,
            total_frames: None,
            fps: 0.0,
            eta: None,
            encoder: String::new(),
            cancel: Arc::new(AtomicBool::new(false)),
        });
    }

    pub fn pick_files(&mut self) {
        if let Some(files) = rfd::FileDialog::new()
            .add_filter("video", &["mp4", "mov", "mkv", "m4v", "avi", "webm"])
            .pick_files()
        {
            for f in files {
                self.add_file(f);
            }
        }
    }

    /// Where a job writes: the naming pattern in the output folder (or beside the input),
    /// keeping MOV/MKV containers like the CLI.
    pub fn output_for(&self, input: &std::path::Path) -> PathBuf {
        let out_dir = (!self.output_dir.is_empty()).then(|| PathBuf::from(&self.output_dir));
        let default = default_output_path(input, out_dir.as_deref(), 4);
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "video".into());
        let name = self
            .naming
            .replace("{stem}", &stem)
            .replace("{model}", &self.model);
        let name = if name.trim().is_empty() {
            format!("{stem}_x4")
        } else {
            name
        };
        let ext = default
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mp4".into());
        default.with_file_name(format!("{name}.{ext}"))
    }

    /// Open the preview of `input` and render the frame at 10 %.
    pub fn open_preview(&mut self, input: PathBuf) {
        self.preview = Some(Preview {
            input,
            position: 0.1,
            frames: None,
            pending: None,
        });
        self.render_preview();
    }

    /// Decode and upscale the preview frame on a worker thread.
    fn render_preview(&mut self) {
        let Some(preview) = self.preview.as_mut() else {
            return;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (input, position, model) =
            (preview.input.clone(), preview.position, self.model.clone());
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("offline-preview".into())
            .spawn(move || {
                let result =
                    preview_frame(&input, f64::from(position), &model, DevicePreference::Auto)
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

    /// Apply worker events and hand the next queued job to the worker when idle.
    pub fn poll(&mut self, notes: &mut super::Notifications) {
        if let Some(preview) = self.preview.as_mut() {
            if let Some(result) = preview.pending.as_ref().and_then(|rx| rx.try_recv().ok()) {
                preview.pending = None;
                match result {
                    Ok(p) => {
                        let caption = format!(
                            "frame {} of {}: bicubic (left) vs {} (right, {:.1} s)",
                            p.frame_index + 1,
                            preview
                                .input
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default(),
                            p.model_name,
                            p.model_seconds
                        );
                        let sequence = preview.frames.as_ref().map_or(1, |f| f.3 + 1);
                        preview.frames =
                            Some((Arc::new(p.bicubic), Arc::new(p.model), caption, sequence));
                    }
                    Err(e) => notes.error(format!("preview: {e}")),
                }
            }
        }
        let Some((job_tx, events)) = &self.worker else {
            return;
        };
        for event in events.try_iter() {
            match event {
                WorkerEvent::Job(id, JobEvent::Started(start)) => {
                    if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
                        e.total_frames = start.total_frames;
                        e.encoder = start.encoder;
                    }
                }
                WorkerEvent::Job(id, JobEvent::Progress(p)) => {
                    if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
                        e.frames_done = p.frames_done;
                        e.fps = p.fps;
                        e.eta = p.eta;
                    }
                }
                WorkerEvent::Finished(id, result) => {
                    self.busy = false;
                    if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
                        e.state = match result {
                            Ok((output, seconds)) => {
                                notes.info(format!("done: {}", output.display()));
                                JobState::Done { output, seconds }
                            }
                            Err(_) if e.cancel.load(Ordering::Relaxed) => JobState::Cancelled,
                            Err(msg) => {
                                notes.error(msg.clone());
                                JobState::Failed(msg)
                            }
                        };
                    }
                }
            }
        }
        if !self.busy {
            let next = self
                .entries
                .iter()
                .position(|e| e.state == JobState::Queued);
            if let Some(i) = next {
                let output = self.output_for(&self.entries[i].input);
                let model = self.model.clone();
                let entry = &mut self.entries[i];
                let job = OfflineJob {
                    input: entry.input.clone(),
                    output,
                    model,
                    scale: 4,
                    encoder: self.encoder.parse().unwrap_or(EncoderChoice::Auto),
                    quality: Quality::Crf(self.crf),
                    device: DevicePreference::Auto,
                    overwrite: true,
                };
                if job_tx
                    .send((entry.id, job, Arc::clone(&entry.cancel)))
                    .is_ok()
                {
                    entry.state = JobState::Running;
                    self.busy = true;
                }
            }
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, _notes: &mut super::Notifications) {
        let dropped: Vec<PathBuf> = ui.ctx().input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for path in dropped {
            self.add_file(path);
        }
        ui.horizontal(|ui| {
            if ui.button("Add files... (Ctrl+O)").clicked() {
                self.pick_files();
            }
            ui.label("or drop video files onto the window");
        });
        ui.horizontal(|ui| {
            let model_label = ui.label("Model:").id;
            let choices = super::models::model_choices();
            let selected = choices
                .iter()
                .find(|(n, _)| *n == self.model)
                .map(|(n, d)| format!("{n} ({d})"))
                .unwrap_or_else(|| "auto (best shipped model)".into());
            egui::ComboBox::from_id_salt("model")
                .selected_text(selected)
                .width(420.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut self.model,
                        "auto".into(),
                        "auto (best shipped model)",
                    );
                    for (name, detail) in &choices {
                        ui.selectable_value(
                            &mut self.model,
                            name.clone(),
                            format!("{name} ({detail})"),
                        );
                    }
                })
                .response
                .labelled_by(model_label);
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
                    for name in ["auto", "hevc_nvenc", "h264_nvenc", "libx265", "libx264"] {
                        ui.selectable_value(&mut self.encoder, name.to_string(), name);
                    }
                })
                .response
                .labelled_by(encoder_label);
            ui.add(egui::Slider::new(&mut self.crf, 10..=35).text("quality (CRF)"));
        });
        ui.separator();
        if self.entries.is_empty() {
            ui.centered_and_justified(|ui| ui.label("Queue is empty"));
            return;
        }
        let mut remove = None;
        let mut reorder: Option<(u64, isize)> = None;
        let mut preview: Option<PathBuf> = None;
        egui::Grid::new("queue")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                ui.strong("file");
                ui.strong("progress");
                ui.strong("fps");
                ui.strong("ETA");
                ui.strong("state");
                ui.strong("");
                ui.end_row();
                for entry in &self.entries {
                    ui.label(
                        entry
                            .input
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                    );
                    let fraction = match (entry.total_frames, &entry.state) {
                        (_, JobState::Done { .. }) => 1.0,
                        (Some(t), _) if t > 0 => entry.frames_done as f32 / t as f32,
                        _ => 0.0,
                    };
                    ui.add(
                        egui::ProgressBar::new(fraction.min(1.0))
                            .desired_width(240.0)
                            .text(format!("{} frames", entry.frames_done)),
                    );
                    ui.label(format!("{:.1}", entry.fps));
                    ui.label(
                        entry
                            .eta
                            .map_or("-".into(), |d| format!("{}s", d.as_secs())),
                    );
                    match &entry.state {
                        JobState::Queued => ui.label("queued"),
                        JobState::Running => ui.label(format!("running ({})", entry.encoder)),
                        JobState::Done { output, seconds } => ui.label(format!(
                            "done in {seconds:.1}s: {}",
                            output
                                .file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default()
                        )),
                        JobState::Failed(msg) => ui.colored_label(ui.visuals().error_fg_color, msg),
                        JobState::Cancelled => ui.label("cancelled"),
                    };
                    ui.horizontal(|ui| match &entry.state {
                        JobState::Running => {
                            if ui.button("Cancel").clicked() {
                                entry.cancel.store(true, Ordering::Relaxed);
                            }
                        }
                        state => {
                            if *state == JobState::Queued {
                                if ui.small_button("Up").on_hover_text("earlier").clicked() {
                                    reorder = Some((entry.id, -1));
                                }
                                if ui.small_button("Down").on_hover_text("later").clicked() {
                                    reorder = Some((entry.id, 1));
                                }
                            }
                            if let JobState::Done { output, .. } = state {
                                if ui.button("Open folder").clicked() {
                                    open_folder(output);
                                }
                            }
                            if ui.button("Preview").clicked() {
                                preview = Some(entry.input.clone());
                            }
                            if ui.button("Remove").clicked() {
                                remove = Some(entry.id);
                            }
                        }
                    });
                    ui.end_row();
                }
            });
        if let Some(id) = remove {
            self.entries.retain(|e| e.id != id);
        }
        if let Some(input) = preview {
            self.open_preview(input);
        }
        self.preview_ui(ui);
        if let Some((id, step)) = reorder {
            if let Some(i) = self.entries.iter().position(|e| e.id == id) {
                let j = i as isize + step;
                if (0..self.entries.len() as isize).contains(&j) {
                    self.entries.swap(i, j as usize);
                }
            }
        }
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui) {
        let Some(preview) = self.preview.as_mut() else {
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
        if let Some((bicubic, model, caption, sequence)) = &preview.frames {
            let area = ui.available_rect_before_wrap();
            let half = (area.width() - 8.0) / 2.0;
            let aspect = model.width as f32 / model.height.max(1) as f32;
            let height = (half / aspect).min(area.height() - 24.0).max(10.0);
            let size = egui::vec2(height * aspect, height);
            let left = egui::Rect::from_min_size(area.min, size);
            let right = egui::Rect::from_min_size(area.min + egui::vec2(half + 8.0, 0.0), size);
            let painter = ui.painter();
            for (rect, slot, frame) in [
                (left, VideoSlot::PreviewBicubic, bicubic),
                (right, VideoSlot::PreviewModel, model),
            ] {
                paint_video(
                    painter,
                    rect,
                    rect,
                    VideoCallback {
                        slot,
                        frame: Some((Arc::clone(frame), *sequence)),
                        uv: UvRect::FULL,
                        nearest: false,
                    },
                );
            }
            ui.allocate_rect(
                egui::Rect::from_min_size(area.min, egui::vec2(area.width(), height)),
                egui::Sense::hover(),
            );
            ui.label(caption.as_str());
        }
        if close {
            self.preview = None;
        } else if rerender {
            self.render_preview();
        }
    }

    /// (file name, state text) of each queue entry, for tests and the window title.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|e| {
                let state = match &e.state {
                    JobState::Queued => "queued".to_string(),
                    JobState::Running => "running".to_string(),
                    JobState::Done { .. } => "done".to_string(),
                    JobState::Failed(m) => format!("failed: {m}"),
                    JobState::Cancelled => "cancelled".to_string(),
                };
                (
                    e.input
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    state,
                )
            })
            .collect()
    }
}

/// Show a file's folder in the desktop's file manager.
fn open_folder(file: &std::path::Path) {
    let dir = file.parent().unwrap_or(std::path::Path::new("."));
    if let Err(e) = std::process::Command::new("xdg-open").arg(dir).spawn() {
        tracing::warn!("cannot open {}: {e}", dir.display());
    }
}
