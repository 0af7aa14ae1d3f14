//! Recording a live session in takes: the studio's Record switch can start and stop while
//! sessions run, and every change starts a new take (a new pair of files) in each session.
//! Two recorder stages write the takes: the input as received (stream copy) and the SR output.
//!
//! A take is finalised (moved to its final name) only when its producer says so: by a new
//! take, a Stop, or an explicit end of stream. A producer that dies without saying goodbye (a
//! panic, a lost thread) leaves no file under the final name.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::frame::YuvFrame;
use crate::media::h264::EncodedUnit;
use crate::media::ingest::StreamDescription;
use crate::media::record::UnitRecorder;
use crate::media::{EncoderChoice, MediaError, MediaWriter, OutputPlan, Quality};

use crate::pipeline::live::report::{RecordedStream, SessionProblem, StageOutcome};

/// Where sessions record, switchable at any time (the studio's Record button): every change
/// starts a new take in each running session.
#[derive(Debug, Clone, Default)]
pub struct RecordSwitch(Arc<Mutex<RecordState>>);

#[derive(Debug, Clone, Default)]
struct RecordState {
    /// The folder takes go to; `None` while not recording.
    dir: Option<PathBuf>,
    /// Counts changes, so each stage notices every one (and names takes after it).
    generation: u64,
}

impl RecordSwitch {
    pub fn new(dir: Option<PathBuf>) -> Self {
        let generation = u64::from(dir.is_some());
        Self(Arc::new(Mutex::new(RecordState { dir, generation })))
    }

    /// Start recording into `dir`, or stop with `None`.
    pub fn set(&self, dir: Option<PathBuf>) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.dir = dir;
        state.generation += 1;
    }

    pub fn dir(&self) -> Option<PathBuf> {
        self.state().dir
    }

    fn state(&self) -> RecordState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a recorder stage is told: begin a file, one more item, end the file, end of stream.
pub(crate) enum Record<T> {
    Start(PathBuf),
    Item(T),
    /// A line for the take's log (`TAKE.log` beside it, written when the take is finalised),
    /// in order with the items: e.g. which model the following frames were made with.
    Note(String),
    Stop,
    /// The producer ended normally: finalise the open take. Without it a closed channel
    /// means the producer failed, and the take is abandoned.
    End,
}

/// A stage's end of one recorder: follows a [`RecordSwitch`], turning its changes into
/// Start/Stop messages, and sends the recorder its items and the end of stream.
pub(crate) struct Recorder<T> {
    tx: Sender<Record<T>>,
    switch: RecordSwitch,
    generation: u64,
    active: bool,
}

impl<T> Recorder<T> {
    pub(crate) fn new(tx: Sender<Record<T>>, switch: &RecordSwitch) -> Self {
        Self {
            tx,
            switch: switch.clone(),
            generation: 0,
            active: false,
        }
    }

    /// A take is open.
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// Where takes go now (`None`: not recording).
    pub(crate) fn dir(&self) -> Option<PathBuf> {
        self.switch.dir()
    }

    /// Send Start/Stop when the switch changed; true while recording. The first take of a
    /// session is `session-ID-SUFFIX`, later ones `session-ID-takeN-SUFFIX`.
    pub(crate) fn follow(&mut self, session: u64, suffix: &str) -> bool {
        let state = self.switch.state();
        if state.generation != self.generation {
            self.generation = state.generation;
            self.active = match state.dir {
                Some(dir) => {
                    let name = if state.generation <= 1 {
                        format!("session-{session}-{suffix}")
                    } else {
                        format!("session-{session}-take{}-{suffix}", state.generation)
                    };
                    self.tx.send(Record::Start(dir.join(name))).is_ok()
                }
                None => {
                    let _ = self.tx.send(Record::Stop);
                    false
                }
            };
        }
        self.active
    }

    pub(crate) fn send(&self, item: T) {
        let _ = self.tx.send(Record::Item(item));
    }

    /// A line for the open take's log.
    pub(crate) fn note(&self, line: String) {
        if self.active {
            let _ = self.tx.send(Record::Note(line));
        }
    }

    /// Items waiting for the recorder.
    pub(crate) fn queued(&self) -> usize {
        self.tx.len()
    }

    /// The stream ended normally: the open take may be finalised.
    pub(crate) fn end(self) {
        let _ = self.tx.send(Record::End);
    }
}

/// A file a recording stage writes; `finish_take` completes it and moves it into place,
/// `keep_written` (after a write error) moves what was written into place.
trait TakeFile: Sized {
    fn finish_take(self) -> Result<PathBuf, MediaError>;
    fn keep_written(self) -> Result<PathBuf, MediaError>;
}

impl TakeFile for UnitRecorder {
    fn finish_take(self) -> Result<PathBuf, MediaError> {
        self.finish()
    }
    fn keep_written(self) -> Result<PathBuf, MediaError> {
        UnitRecorder::keep_written(self)
    }
}

impl TakeFile for MediaWriter {
    fn finish_take(self) -> Result<PathBuf, MediaError> {
        self.finish()
    }
    fn keep_written(self) -> Result<PathBuf, MediaError> {
        MediaWriter::keep_written(self)
    }
}

/// The take being written: its final path, and its file once the first usable item came.
struct OpenTake<F> {
    path: PathBuf,
    file: Option<F>,
    notes: Vec<String>,
}

/// Where a take's notes go: `session-1-x4.mp4` -> `session-1-x4.log`.
pub fn take_log_path(take: &Path) -> PathBuf {
    take.with_extension("log")
}

/// A recording stage's takes: the open one, and what the finished ones left behind.
struct Takes<F> {
    what: RecordedStream,
    open: Option<OpenTake<F>>,
    outcome: StageOutcome,
}

impl<F: TakeFile> Takes<F> {
    fn new(what: RecordedStream) -> Self {
        Self {
            what,
            open: None,
            outcome: StageOutcome::default(),
        }
    }

    /// Finish the open take and open one at `path` (its file comes with the first item).
    fn start(&mut self, path: PathBuf) {
        self.finish();
        // The folder may be new (or removed since): each recorder makes it, so neither
        // depends on the other, or on the caller, having made it first.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!("{}: cannot create the folder: {e}", dir.display());
            }
        }
        self.open = Some(OpenTake {
            path,
            file: None,
            notes: Vec::new(),
        });
    }

    fn note(&mut self, line: String) {
        if let Some(open) = self.open.as_mut() {
            open.notes.push(line);
        }
    }

    /// Complete the open take (when it has a file) and write its log beside it.
    fn finish(&mut self) {
        let what = self.what;
        let Some(OpenTake {
            file: Some(file),
            notes,
            ..
        }) = self.open.take()
        else {
            return;
        };
        let path = match file.finish_take() {
            Ok(path) => path,
            Err(e) => {
                let reason = Arc::new(e);
                let problem = SessionProblem::RecordingNotFinished { what, reason };
                self.outcome.problems.push(problem);
                return;
            }
        };
        if !notes.is_empty() {
            let log = take_log_path(&path);
            let text = notes.join("\n") + "\n";
            if let Err(e) = crate::atomic_file::write_atomically(&log, text.as_bytes()) {
                let cause = Arc::new(e);
                let problem = SessionProblem::TakeLogNotWritten { what, log, cause };
                self.outcome.problems.push(problem);
            }
        }
        self.outcome.recordings.push(path);
    }

    /// A write failed: the take ends here, but what was written is the user's: keep it.
    fn stop_after(&mut self, reason: MediaError) {
        let what = self.what;
        let kept = match self.open.take().and_then(|t| t.file).map(F::keep_written) {
            Some(Ok(path)) => {
                self.outcome.recordings.push(path.clone());
                Some(path)
            }
            Some(Err(e)) => {
                tracing::warn!("{what} recording: {e}");
                None
            }
            None => None,
        };
        let reason = Arc::new(reason);
        let problem = SessionProblem::RecordingStopped { what, reason, kept };
        self.outcome.problems.push(problem);
    }

    /// The producer vanished without End: whatever the take holds is suspect (the frames after
    /// the failure are missing), so it must not appear under its final name.
    fn abandon(mut self) -> StageOutcome {
        if let Some(open) = self.open.filter(|t| t.file.is_some()) {
            self.outcome
                .problems
                .push(SessionProblem::RecordingAbandoned {
                    what: self.what,
                    path: open.path,
                });
        }
        self.outcome
    }
}

/// The loop of a recording stage: Start/Stop open and close takes (reporting each finished
/// file), items go to `write`, which creates the file on the first item it can start with and
/// returns an error to end the take.
fn record_takes<T, F: TakeFile>(
    rx: Receiver<Record<T>>,
    what: RecordedStream,
    mut write: impl FnMut(&Path, &mut Option<F>, T) -> Result<(), MediaError>,
) -> StageOutcome {
    let mut takes = Takes::new(what);
    for message in rx.iter() {
        match message {
            Record::Start(path) => takes.start(path),
            Record::Stop => takes.finish(),
            Record::End => {
                takes.finish();
                return takes.outcome;
            }
            Record::Note(line) => takes.note(line),
            Record::Item(item) => {
                let Some(open) = takes.open.as_mut() else {
                    continue;
                };
                if let Err(reason) = write(&open.path, &mut open.file, item) {
                    takes.stop_after(reason);
                }
            }
        }
    }
    takes.abandon()
}

/// The input recorder: access units stream-copied, a file per take starting at a key frame.
pub(crate) fn record_input_stage(
    rx: Receiver<Record<(EncodedUnit, StreamDescription)>>,
) -> StageOutcome {
    record_takes(
        rx,
        RecordedStream::Input,
        |path, recorder: &mut Option<UnitRecorder>, (unit, description)| {
            match recorder.as_mut() {
                Some(r) => r.write(&unit),
                None if unit.key => UnitRecorder::create(
                    path,
                    description.width,
                    description.height,
                    description.fps_or_default(),
                    &description.parameter_sets,
                    &unit,
                )
                .map(|r| *recorder = Some(r)),
                None => Ok(()), // nothing decodable before the first key frame
            }
        },
    )
}

/// The output recorder: SR frames encoded with the realtime encoder list.
pub(crate) fn record_output_stage(rx: Receiver<Record<YuvFrame>>, label: &str) -> StageOutcome {
    record_takes(
        rx,
        RecordedStream::Output,
        |path, writer: &mut Option<MediaWriter>, frame| {
            let writer = match writer {
                Some(w) => w,
                None => writer.insert(open_output_take(path, &frame, label)?),
            };
            writer.write_frame(&frame)
        },
    )
}

fn open_output_take(path: &Path, first: &YuvFrame, label: &str) -> Result<MediaWriter, MediaError> {
    let plan = OutputPlan {
        path: path.to_path_buf(),
        width: first.width,
        height: first.height,
        encoder: EncoderChoice::Realtime,
        quality: Quality::Default,
    };
    let fps = 1e6 / first.duration.max(1) as f64;
    let writer = MediaWriter::create_live(&plan, fps, first.color)?;
    tracing::info!(
        "{label}: recording SR output with {}",
        writer.encoder_name()
    );
    Ok(writer)
}

#[cfg(test)]
mod tests;
