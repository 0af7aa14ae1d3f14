//! The Offline tab's worker thread: runs queued jobs one after another and reports back.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use stronglive_engine::pipeline::offline::resumable::ResumePolicy;
use stronglive_engine::pipeline::srvc::job::SrvcJob;
use stronglive_engine::pipeline::{JobError, JobEvent, JobReport, OfflineJob};

/// What a queue entry does.
pub(super) enum JobKind {
    Upscale(OfflineJob, ResumePolicy),
    /// Content-adaptive compression (SRVC): HR in, LR video + model stream out (.mkv).
    Compress(SrvcJob),
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
        result: Result<JobDone, JobError>,
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
                        JobKind::Compress(job) => job.run(&cancel, &mut report).map(JobDone::from),
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
) -> Result<JobDone, JobError> {
    job.run_resumable(policy, cancel, report)
        .map(|(report, _)| JobDone::from(report))
}

impl From<JobReport> for JobDone {
    fn from(report: JobReport) -> Self {
        JobDone {
            output: report.start.output,
            seconds: report.elapsed.as_secs_f64(),
        }
    }
}
