//! Offline tab: a queue of files upscaled one after another on a worker thread, and a preview
//! of one frame (bicubic beside the chosen model).
//!
//! What the user chose ([`OfflineSettings`]) is saved with the window, and so are the inputs of
//! unfinished jobs, queued again at the next start (they continue from their finished chunks,
//! see [`stronglive_engine::pipeline::offline::resumable`]); the queue's entries, its worker and the preview
//! ([`OfflineState`]) live only as long as the window.

mod intake;
mod preview;
mod queue_view;
mod settings_view;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;

use super::models::ModelChoice;
use super::{Notifications, StudioAction};
use intake::{Intake, Offered};
use preview::Preview;
use stronglive_engine::media::{EncoderChoice, Quality};
use stronglive_engine::pipeline::offline::resumable::{
    discard_work_folder, work_folder, ResumePolicy,
};
use stronglive_engine::pipeline::srvc::encode::SrvcOptions;
use stronglive_engine::pipeline::srvc::job::SrvcJob;
use stronglive_engine::pipeline::{default_output_path, JobEvent, OfflineJob};
use stronglive_engine::sr::DevicePreference;
use worker::{JobDone, JobKind, QueuedJob, Worker, WorkerEvent};

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
    /// The job's last word on its progress (SRVC: the last segment's gain).
    detail: Option<String>,
    /// Known once the job started.
    output: Option<PathBuf>,
    cancel: Arc<AtomicBool>,
}

/// The Offline tab's choices that outlive the window (saved by eframe under the same keys as
/// before the settings had their own struct).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OfflineSettings {
    /// Empty = beside each input.
    pub output_dir: String,
    pub encoder: String,
    pub crf: u8,
    /// `auto` or a registry name.
    pub model: String,
    /// Output file name without extension; `{stem}` and `{model}` are replaced.
    pub naming: String,
    /// Jobs compress (SRVC: LR video + model stream, `{stem}_srvc.mkv`) instead of upscaling.
    pub compress: bool,
    /// Seconds of video per resumable chunk (not shown; the CLI's `--resume-chunk`).
    pub resume_chunk_seconds: f64,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            output_dir: String::new(),
            encoder: "auto".into(),
            crf: 20,
            model: "auto".into(),
            naming: "{stem}_x4".into(),
            compress: false,
            resume_chunk_seconds: ResumePolicy::default().chunk_seconds,
        }
    }
}

impl OfflineSettings {
    /// Where a job writes: the naming pattern in the output folder (or beside the input),
    /// keeping MOV/MKV containers like the CLI.
    pub fn output_for(&self, input: &Path) -> PathBuf {
        let out_dir = (!self.output_dir.is_empty()).then(|| PathBuf::from(&self.output_dir));
        let default = default_output_path(input, out_dir.as_deref(), 4);
        let stem = file_stem(input);
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

    /// The job for `input` with these settings: compress, or upscale.
    fn job_for(&self, input: &Path) -> JobKind {
        if self.compress {
            let out_dir = (!self.output_dir.is_empty()).then(|| PathBuf::from(&self.output_dir));
            let stem = file_stem(input);
            let dir = out_dir
                .unwrap_or_else(|| input.parent().map(Path::to_path_buf).unwrap_or_default());
            return JobKind::Compress(SrvcJob {
                input: input.to_path_buf(),
                output: dir.join(format!("{stem}_srvc.mkv")),
                options: SrvcOptions::default(),
                device: DevicePreference::AUTO,
            });
        }
        let (job, policy) = self.upscale_job(input);
        JobKind::Upscale(job, policy)
    }

    /// The job that upscales `input` with these settings.
    fn upscale_job(&self, input: &Path) -> (OfflineJob, ResumePolicy) {
        let policy = ResumePolicy {
            chunk_seconds: self.resume_chunk_seconds,
            ..ResumePolicy::default()
        };
        let job = OfflineJob {
            input: input.to_path_buf(),
            output: self.output_for(input),
            model: self.model.clone(),
            scale: 4,
            encoder: self.encoder.parse().unwrap_or(EncoderChoice::Auto),
            quality: Quality::Crf(self.crf),
            device: DevicePreference::AUTO,
            overwrite: true,
            chunk: None,
            eight_bit: false,
        };
        (job, policy)
    }
}

/// The queue, its worker and the preview; empty at every start.
#[derive(Default)]
struct OfflineState {
    entries: Vec<QueueEntry>,
    next_id: u64,
    worker: Option<Worker>,
    /// A job is with the worker (one at a time).
    busy: bool,
    preview: Option<Preview>,
    /// Woken by the preview thread when its frame is ready.
    ctx: Option<egui::Context>,
    /// Offered files being probed off the UI thread.
    intake: Intake,
}

/// Saved as its settings (flattened: the keys saved windows have always had) and the inputs of
/// unfinished jobs.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OfflineQueue {
    #[serde(flatten)]
    pub settings: OfflineSettings,
    /// Inputs of the jobs queued or running when the window was last saved.
    unfinished: Vec<PathBuf>,
    #[serde(skip)]
    state: OfflineState,
}

impl OfflineQueue {
    /// Start the worker thread (it wakes the UI on every event instead of the UI polling) and
    /// queue again the unfinished jobs of the last run whose inputs still exist; returns how
    /// many.
    pub fn attach(&mut self, ctx: egui::Context) -> usize {
        self.state.ctx = Some(ctx.clone());
        self.state.worker = Worker::spawn(ctx);
        let again: Vec<PathBuf> = std::mem::take(&mut self.unfinished)
            .into_iter()
            .filter(|input| input.is_file())
            .collect();
        for input in &again {
            self.add_file(input.clone());
        }
        again.len()
    }

    /// Note the inputs of queued and running jobs, to be saved with the window.
    pub fn remember_unfinished(&mut self) {
        self.unfinished = self
            .state
            .entries
            .iter()
            .filter(|e| matches!(e.state, JobState::Queued | JobState::Running))
            .map(|e| e.input.clone())
            .collect();
    }

    /// The studio is closing: cancel every job and let the running one clean up (its partial
    /// output removed) before the process exits.
    pub fn shut_down(&mut self) {
        for entry in &self.state.entries {
            entry.cancel.store(true, Ordering::Relaxed);
        }
        if let Some(worker) = self.state.worker.take() {
            worker.finish(std::time::Duration::from_secs(10));
        }
    }

    pub fn add_file(&mut self, input: PathBuf) {
        let state = &mut self.state;
        state.next_id += 1;
        state.entries.push(QueueEntry {
            id: state.next_id,
            input,
            state: JobState::Queued,
            frames_done: 0,
            total_frames: None,
            fps: 0.0,
            eta: None,
            encoder: String::new(),
            detail: None,
            output: None,
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

    /// Queue the videos among `files` (probed on a thread of their own; the others are named
    /// in a notification with what is wrong with them, at a later frame).
    pub fn offer_files(&mut self, files: Vec<PathBuf>) {
        self.state.intake.offer(files, self.state.ctx.clone());
    }

    /// Queue what the probe let in, apply worker events and hand the next queued job to the
    /// worker when idle.
    pub fn poll(&mut self, notes: &mut Notifications) {
        for offered in self.state.intake.arrived() {
            match offered {
                Offered::Video(file) => self.add_file(file),
                Offered::Refused(e) => notes.error(format!("not queued: {e}")),
            }
        }
        self.poll_preview(notes);
        let Some(worker) = &self.state.worker else {
            return;
        };
        let events: Vec<WorkerEvent> = worker.events.try_iter().collect();
        for event in events {
            self.apply_worker_event(event, notes);
        }
        if !self.state.busy {
            self.start_next_job();
        }
    }

    fn entry_mut(&mut self, id: u64) -> Option<&mut QueueEntry> {
        self.state.entries.iter_mut().find(|e| e.id == id)
    }

    fn apply_worker_event(&mut self, event: WorkerEvent, notes: &mut Notifications) {
        match event {
            WorkerEvent::Job { id, event } => {
                let Some(entry) = self.entry_mut(id) else {
                    return;
                };
                match event {
                    JobEvent::Started(start) => {
                        entry.output = Some(start.output);
                        entry.total_frames = start.total_frames;
                        entry.encoder = start.encoder;
                    }
                    JobEvent::Progress(p) => {
                        entry.frames_done = p.frames_done;
                        entry.fps = p.fps;
                        entry.eta = p.eta;
                        if p.detail.is_some() {
                            entry.detail = p.detail;
                        }
                    }
                }
            }
            WorkerEvent::Finished { id, result } => {
                self.state.busy = false;
                let Some(entry) = self.entry_mut(id) else {
                    return;
                };
                entry.state = match result {
                    Ok(JobDone { output, seconds }) => {
                        notes.info(format!("done: {}", output.display()));
                        JobState::Done { output, seconds }
                    }
                    Err(_) if entry.cancel.load(Ordering::Relaxed) => {
                        // the user's Cancel: the finished chunks are not wanted any more
                        if let Some(output) = &entry.output {
                            if let Err(e) = discard_work_folder(output) {
                                notes.error(format!("{}: {e}", work_folder(output).display()));
                            }
                        }
                        JobState::Cancelled
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        notes.error(msg.clone());
                        JobState::Failed(msg)
                    }
                };
            }
        }
    }

    fn start_next_job(&mut self) {
        let Some(worker) = &self.state.worker else {
            return;
        };
        let settings = &self.settings;
        let Some(entry) = self
            .state
            .entries
            .iter_mut()
            .find(|e| e.state == JobState::Queued)
        else {
            return;
        };
        let queued = QueuedJob {
            id: entry.id,
            kind: settings.job_for(&entry.input),
            cancel: Arc::clone(&entry.cancel),
        };
        if worker.jobs.send(queued).is_ok() {
            entry.state = JobState::Running;
            self.state.busy = true;
        }
    }

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        models: &[ModelChoice],
        actions: &mut Vec<StudioAction>,
    ) {
        ui.horizontal(|ui| {
            if ui.button("Add files... (Ctrl+O)").clicked() {
                actions.push(StudioAction::PickFiles);
            }
            ui.label("or drop video files onto the window");
        });
        self.settings.ui(ui, models);
        ui.separator();
        if self.state.entries.is_empty() {
            ui.centered_and_justified(|ui| ui.label("Queue is empty"));
            return;
        }
        if let Some(edit) = self.queue_grid(ui) {
            self.apply_edit(edit);
        }
        self.preview_ui(ui);
    }

    /// What the window title says about the queue: the running job with its progress, else
    /// how many files wait (`None` when there is nothing to say).
    pub fn title_status(&self) -> Option<String> {
        let entries = &self.state.entries;
        if let Some(e) = entries.iter().find(|e| e.state == JobState::Running) {
            let progress = match e.total_frames {
                Some(total) if total > 0 => format!("{}%", e.frames_done * 100 / total),
                _ => format!("{} frames", e.frames_done),
            };
            return Some(format!("upscaling {} {progress}", file_name(&e.input)));
        }
        let queued: Vec<&QueueEntry> = entries
            .iter()
            .filter(|e| e.state == JobState::Queued)
            .collect();
        match queued.as_slice() {
            [] => None,
            [one] => Some(format!("{} queued", file_name(&one.input))),
            many => Some(format!("{} files queued", many.len())),
        }
    }

    /// (file name, state text) of each queue entry, for tests and the window title.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.state
            .entries
            .iter()
            .map(|e| {
                let state = match &e.state {
                    JobState::Queued => "queued".to_string(),
                    JobState::Running => "running".to_string(),
                    JobState::Done { .. } => "done".to_string(),
                    JobState::Failed(m) => format!("failed: {m}"),
                    JobState::Cancelled => "cancelled".to_string(),
                };
                (file_name(&e.input), state)
            })
            .collect()
    }
}

/// The file name without extension ("video" when there is none).
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into())
}

/// The last component of `path`, for labels ("" when it has none).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
