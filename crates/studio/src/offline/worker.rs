//! The Offline tab's worker thread: runs queued jobs one after another and reports back.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use stronglive_engine::pipeline::offline::resumable::ResumePolicy;
use stronglive_engine::pipeline::srvc::encode::{srvc_encode, SegmentReport, SrvcOptions};
use stronglive_engine::pipeline::{JobEvent, JobStart, OfflineJob, Progress};
use stronglive_engine::sr::{ComputeDevice, DevicePreference};

/// What a queue entry does.
pub(super) enum JobKind {
    Upscale(OfflineJob, ResumePolicy),
    /// Content-adaptive compression (SRVC): HR in, LR video + model stream out (.mkv).
    Compress {
        input: PathBuf,
        output: PathBuf,
        options: SrvcOptions,
    },
}

/// A job handed to the worker.
pub(super) struct QueuedJob {
    /// The queue entry it belongs to.
    pub id: u64,
    pub kind: JobKind,
    /// Set by the queue's Cancel button; the job stops at its next frame (or segment).
    pub cancel: Arc<AtomicBool>,
}

/// What a finished job wrote and how long it took.
pub(super) struct JobDone {
    pub output: PathBuf,
    pub seconds: f64,
}

pub(super) enum WorkerEvent {
    Job {
        id: u64,
        event: JobEvent,
    },
    Finished {
        id: u64,
        result: Result<JobDone, String>,
    },
}

/// The two ends of the channels to the worker thread.
pub(super) struct Worker {
    pub jobs: Sender<QueuedJob>,
    pub events: Receiver<WorkerEvent>,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    /// Start the worker thread; it wakes `repaint` after every event instead of the UI polling.
    /// None when the thread cannot be started (the queue then stays queued).
    pub(super) fn spawn(repaint: egui::Context) -> Option<Self> {
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<QueuedJob>();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("offline-queue".into())
            .spawn(move || {
                for QueuedJob { id, kind, cancel } in job_rx.iter() {
                    let mut report = |event| {
                        let _ = event_tx.send(WorkerEvent::Job { id, event });
                        repaint.request_repaint();
                    };
                    let result = match kind {
                        JobKind::Upscale(job, policy) => {
                            run_upscale(&job, policy, cancel, &mut report)
                        }
                        JobKind::Compress {
                            input,
                            output,
                            options,
                        } => run_compress(input, output, &options, &cancel, &mut report),
                    };
                    let _ = event_tx.send(WorkerEvent::Finished { id, result });
                    repaint.request_repaint();
                }
            })
            .ok()?;
        Some(Self {
            jobs: job_tx,
            events: event_rx,
            thread,
        })
    }

    /// After every job was told to cancel: no more jobs, and wait up to `grace` for the one
    /// running to stop, so its partial output is removed by its own cleanup (a process that
    /// exits under a running job leaves its hidden temporary file behind).
    pub(super) fn finish(self, grace: std::time::Duration) {
        drop(self.jobs);
        let deadline = std::time::Instant::now() + grace;
        while !self.thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}

fn run_upscale(
    job: &OfflineJob,
    policy: ResumePolicy,
    cancel: Arc<AtomicBool>,
    report: &mut dyn FnMut(JobEvent),
) -> Result<JobDone, String> {
    job.run_resumable(policy, cancel, report)
        .map(|(r, _)| JobDone {
            output: r.start.output,
            seconds: r.elapsed.as_secs_f64(),
        })
        .map_err(|e| e.to_string())
}

/// One segment as the queue shows it: its gain over the base model and its loss.
fn segment_detail(segment: &SegmentReport) -> String {
    let sent = segment
        .note()
        .unwrap_or_else(|| format!("{} changes", segment.changes));
    format!(
        "segment {}: {:+.2} dB over the base, loss {:.4}, {sent}",
        segment.index + 1,
        segment.srvc_db - segment.base_db,
        segment.loss
    )
}

/// SRVC: progress is counted in frames, reported after each segment.
fn run_compress(
    input: PathBuf,
    output: PathBuf,
    options: &SrvcOptions,
    cancel: &AtomicBool,
    report: &mut dyn FnMut(JobEvent),
) -> Result<JobDone, String> {
    let device = ComputeDevice::select(DevicePreference::AUTO).map_err(|e| e.to_string())?;
    let info = stronglive_engine::media::probe(&input).map_err(|e| e.to_string())?;
    let (w, h) = (info.video.width, info.video.height);
    report(JobEvent::Started(JobStart {
        input: input.clone(),
        output: output.clone(),
        model: format!("{} (SRVC)", options.base),
        device: device.label(),
        encoder: "libx265 + model stream".into(),
        skipped_encoders: Vec::new(),
        input_size: (w, h),
        output_size: (w / options.scale, h / options.scale),
        total_frames: info.video.frame_count,
    }));
    let started = Instant::now();
    let mut frames_done = 0u64;
    let result = srvc_encode(&input, &output, options, &device, cancel, |segment| {
        frames_done += segment.frames as u64;
        let fps = frames_done as f64 / started.elapsed().as_secs_f64().max(1e-6);
        report(JobEvent::Progress(Progress {
            frames_done,
            total_frames: info.video.frame_count,
            fps,
            eta: info.video.frame_count.and_then(|t| {
                (fps > 0.0 && t >= frames_done)
                    .then(|| Duration::from_secs_f64((t - frames_done) as f64 / fps))
            }),
            detail: Some(segment_detail(segment)),
        }));
    });
    result
        .map(|r| JobDone {
            output: r.output,
            seconds: started.elapsed().as_secs_f64(),
        })
        .map_err(|e| e.to_string())
}
