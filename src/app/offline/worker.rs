//! The Offline tab's worker thread: runs queued jobs one after another and reports back.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use crate::pipeline::{JobEvent, OfflineJob};

/// A job handed to the worker.
pub(super) struct QueuedJob {
    /// The queue entry it belongs to.
    pub id: u64,
    pub job: OfflineJob,
    /// Set by the queue's Cancel button; the job stops at its next frame.
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
}

impl Worker {
    /// Start the worker thread; it wakes `repaint` after every event instead of the UI polling.
    /// None when the thread cannot be started (the queue then stays queued).
    pub(super) fn spawn(repaint: egui::Context) -> Option<Self> {
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<QueuedJob>();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("offline-queue".into())
            .spawn(move || {
                for QueuedJob { id, job, cancel } in job_rx.iter() {
                    let result = job.run(cancel, &mut |event| {
                        let _ = event_tx.send(WorkerEvent::Job { id, event });
                        repaint.request_repaint();
                    });
                    let result = result
                        .map(|r| JobDone {
                            output: r.start.output,
                            seconds: r.elapsed.as_secs_f64(),
                        })
                        .map_err(|e| e.to_string());
                    let _ = event_tx.send(WorkerEvent::Finished { id, result });
                    repaint.request_repaint();
                }
            })
            .ok()?;
        Some(Self {
            jobs: job_tx,
            events: event_rx,
        })
    }
}
