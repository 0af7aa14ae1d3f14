//! Files offered to the queue (dropped on the window, opened with the studio, named on its
//! command line) are probed on a named thread, never on the UI thread: a probe opens the file
//! with FFmpeg, which takes as long as the disk or a network mount makes it. Videos come back
//! to be queued; anything else comes back with what is wrong with it, for a notification.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;
use stronglive_engine::media::{probe, MediaError};

/// What the probe made of one offered file.
pub(super) enum Offered {
    Video(PathBuf),
    Refused(MediaError),
}

/// The probing thread's way back to the queue (one channel, any number of offers).
pub(super) struct Intake {
    tx: Sender<Offered>,
    rx: Receiver<Offered>,
}

impl Default for Intake {
    fn default() -> Self {
        // unbounded: one message per file the user offered, drained at the next frame
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { tx, rx }
    }
}

impl Intake {
    /// Probe `files` in order on a thread of their own; `ctx` is woken after each.
    pub(super) fn offer(&self, files: Vec<PathBuf>, ctx: Option<egui::Context>) {
        let tx = self.tx.clone();
        let in_thread = files.clone();
        let started = std::thread::Builder::new()
            .name("probe-offered".into())
            .spawn(move || probe_all(in_thread, &tx, ctx.as_ref()));
        if let Err(e) = started {
            // no thread to spare: the files still get their answer, late rather than never
            tracing::warn!("cannot start the probe thread ({e}): probing on the UI thread");
            probe_all(files, &self.tx, None);
        }
    }

    /// What has been probed since the last call.
    pub(super) fn arrived(&self) -> Vec<Offered> {
        self.rx.try_iter().collect()
    }
}

fn probe_all(files: Vec<PathBuf>, tx: &Sender<Offered>, ctx: Option<&egui::Context>) {
    for file in files {
        let offered = match probe(&file) {
            Ok(_) => Offered::Video(file),
            Err(e) => Offered::Refused(e),
        };
        let _ = tx.send(offered);
        if let Some(ctx) = ctx {
            ctx.request_repaint();
        }
    }
}
