//! A live session: ingest -> decode -> SR -> (display, record), one named thread per stage.
//!
//! Latency stays bounded because the only place frames wait is a small queue in front of SR
//! that drops its oldest frame when full (newest wins), and the display slot keeps only the
//! newest result. Every drop is counted. Recording never drops what reaches it: the input is
//! stream-copied unit by unit, the SR output gets every frame SR produced.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::frame::YuvFrame;
use crate::live::annexb;
use crate::media::h264::{EncodedUnit, H264StreamDecoder};
use crate::media::ingest::StreamDescription;
use crate::media::record::UnitRecorder;
use crate::media::{EncoderChoice, MediaWriter, OutputPlan, Quality};
use crate::sr::Upscaler;

use super::metrics::{MetricsSnapshot, SessionMetrics};

/// Access units waiting for the decoder: decoding is fast, so this only absorbs network bursts.
const INGEST_QUEUE: usize = 64;
/// Units waiting for the input recorder (stream copy, fast).
const INPUT_RECORD_QUEUE: usize = 64;
/// SR frames waiting for the output encoder (12 MB each at 4K).
const OUTPUT_RECORD_QUEUE: usize = 4;
/// Frames waiting for SR before the oldest is dropped, unless configured. Two absorbs a burst
/// of network delivery when SR keeps up; when it does not, each queued frame adds one frame
/// interval of latency (measured: 4 frames cost ~130 ms at 30 fps), so the queue stays short.
pub const DEFAULT_SR_QUEUE: usize = 2;

/// What a transport hands the session.
pub enum IngestItem {
    /// Stream parameters (before the first unit, and when they change).
    Config(StreamDescription),
    /// One access unit and when its last byte arrived.
    Unit {
        unit: EncodedUnit,
        received: Instant,
    },
    /// A full-resolution patch for online learning (counted; saved when recording).
    Patch(HrPatch),
}

/// A crop of the sender's full-resolution frame, as it arrived (PNG or JPEG bytes).
#[derive(Debug, Clone)]
pub struct HrPatch {
    pub frame_pts_us: i64,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    /// File extension of `data`: "png" or "jpg".
    pub extension: &'static str,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct LiveSessionConfig {
    pub id: u64,
    /// Who is sending, for logs and file names ("Pixel 7 @ 192.168.1.20:40312").
    pub label: String,
    /// Where to record input and SR output (`session-ID-input.mp4`, `session-ID-x4.mp4`);
    /// switchable while the session runs.
    pub record: RecordSwitch,
    pub sr_queue: usize,
}

/// Where sessions record, switchable at any time (the studio's Record button): every change
/// starts a new take in each running session.
#[derive(Debug, Clone, Default)]
pub struct RecordSwitch(Arc<Mutex<(Option<PathBuf>, u64)>>);

impl RecordSwitch {
    pub fn new(dir: Option<PathBuf>) -> Self {
        let generation = u64::from(dir.is_some());
        Self(Arc::new(Mutex::new((dir, generation))))
    }

    /// Start recording into `dir`, or stop with `None`.
    pub fn set(&self, dir: Option<PathBuf>) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = dir;
        state.1 += 1;
    }

    pub fn dir(&self) -> Option<PathBuf> {
        self.state().0
    }

    fn state(&self) -> (Option<PathBuf>, u64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a recorder thread is told: begin a file, one more item, end the file.
enum Record<T> {
    Start(PathBuf),
    Item(T),
    Stop,
}

/// Follows a [`RecordSwitch`] from one stage: turns its changes into Start/Stop messages.
struct TakeTracker {
    switch: RecordSwitch,
    generation: u64,
    active: bool,
}

impl TakeTracker {
    fn new(switch: RecordSwitch) -> Self {
        Self {
            switch,
            generation: 0,
            active: false,
        }
    }

    /// Send Start/Stop when the switch changed; true while recording. The first take of a
    /// session is `session-ID-SUFFIX`, later ones `session-ID-takeN-SUFFIX`.
    fn follow<T>(&mut self, session: u64, suffix: &str, tx: &Sender<Record<T>>) -> bool {
        let (dir, generation) = self.switch.state();
        if generation != self.generation {
            self.generation = generation;
            self.active = match dir {
                Some(dir) => {
                    let name = if generation <= 1 {
                        format!("session-{session}-{suffix}")
                    } else {
                        format!("session-{session}-take{generation}-{suffix}")
                    };
                    tx.send(Record::Start(dir.join(name))).is_ok()
                }
                None => {
                    let _ = tx.send(Record::Stop);
                    false
                }
            };
        }
        self.active
    }
}

/// The newest input/output pair, for a screen.
pub struct DisplayFrame {
    pub input: Arc<YuvFrame>,
    pub output: Arc<YuvFrame>,
    pub pts_us: i64,
    pub sequence: u64,
}

/// Newest-frame-wins hand-over to a display: the producer replaces, the consumer takes.
#[derive(Default)]
pub struct DisplaySlot {
    newest: Mutex<Option<DisplayFrame>>,
    /// Frames replaced before anyone took them.
    pub replaced: AtomicU64,
    /// Called after each put (the GUI's repaint request), so the screen never polls.
    waker: Option<Box<dyn Fn() + Send + Sync>>,
}

impl DisplaySlot {
    pub fn with_waker(waker: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            waker: Some(Box::new(waker)),
            ..Self::default()
        }
    }

    pub fn put(&self, frame: DisplayFrame) {
        let mut slot = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if slot.replace(frame).is_some() {
            self.replaced.fetch_add(1, Ordering::Relaxed);
        }
        drop(slot);
        if let Some(wake) = &self.waker {
            wake();
        }
    }

    pub fn take(&self) -> Option<DisplayFrame> {
        self.newest.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The queue in front of SR: bounded, and a full queue drops its oldest frame.
struct NewestWinsQueue<T> {
    state: Mutex<(VecDeque<T>, bool)>,
    ready: Condvar,
    capacity: usize,
}

impl<T> NewestWinsQueue<T> {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new((VecDeque::with_capacity(capacity), false)),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Returns true when an older item had to be dropped to make room.
    fn push(&self, item: T) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = state.0.len() >= self.capacity && state.0.pop_front().is_some();
        state.0.push_back(item);
        self.ready.notify_one();
        dropped
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_all();
    }

    /// Next item; `None` once closed and empty.
    fn pop(&self) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(item) = state.0.pop_front() {
                return Some(item);
            }
            if state.1 {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}

struct DecodedFrame {
    frame: YuvFrame,
    received: Instant,
}

/// What a finished session did.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub id: u64,
    pub label: String,
    pub units_received: u64,
    pub frames_decoded: u64,
    pub frames_upscaled: u64,
    pub frames_dropped: u64,
    pub decode_errors: u64,
    pub recordings: Vec<PathBuf>,
    /// Problems that did not stop the session (recording failures, SR errors).
    pub problems: Vec<String>,
    /// The last metrics reading (timing percentiles over the last frames, totals).
    pub final_metrics: MetricsSnapshot,
}

/// A running session. Feed it with [`LiveSession::ingest`]; [`LiveSession::finish`] ends it.
pub struct LiveSession {
    config: LiveSessionConfig,
    ingest: Option<Sender<IngestItem>>,
    metrics: Arc<SessionMetrics>,
    threads: Vec<(String, thread::JoinHandle<StageOutcome>)>,
}

#[derive(Default)]
struct StageOutcome {
    recordings: Vec<PathBuf>,
    problems: Vec<String>,
}

impl LiveSession {
    /// Start the stages. `request_key_frame` is called (at most once a second) when the decoder
    /// lost sync, so the transport can ask the sender for a key frame. `display` gets the newest
    /// input/output pair when a screen is attached.
    pub fn start(
        config: LiveSessionConfig,
        upscaler: Upscaler,
        display: Option<Arc<DisplaySlot>>,
        request_key_frame: Box<dyn Fn() + Send>,
    ) -> std::io::Result<Self> {
        let metrics = Arc::new(SessionMetrics::new(
            config.id,
            config.label.clone(),
            upscaler.model_name().to_string(),
            upscaler.device().label(),
            config.sr_queue,
        ));
        let (ingest_tx, ingest_rx) = bounded::<IngestItem>(INGEST_QUEUE);
        let sr_queue = Arc::new(NewestWinsQueue::new(config.sr_queue));
        let id = config.id;
        let mut threads = Vec::new();

        let (input_record_tx, in_rx) = bounded(INPUT_RECORD_QUEUE);
        threads.push(spawn(format!("record-in-{id}"), move || {
            record_input_stage(in_rx)
        })?);
        let (output_record_tx, out_rx) = bounded(OUTPUT_RECORD_QUEUE);
        {
            let m = Arc::clone(&metrics);
            threads.push(spawn(format!("record-out-{id}"), move || {
                record_output_stage(out_rx, &m)
            })?);
        }
        {
            let (queue, m) = (Arc::clone(&sr_queue), Arc::clone(&metrics));
            let recording = TakeTracker::new(config.record.clone());
            threads.push(spawn(format!("decode-{id}"), move || {
                decode_stage(
                    ingest_rx,
                    &queue,
                    (input_record_tx, recording),
                    &m,
                    request_key_frame,
                    id,
                )
            })?);
        }
        {
            let m = Arc::clone(&metrics);
            let recording = TakeTracker::new(config.record.clone());
            threads.push(spawn(format!("sr-{id}"), move || {
                sr_stage(
                    upscaler,
                    &sr_queue,
                    display,
                    (output_record_tx, recording),
                    &m,
                    id,
                )
            })?);
        }
        Ok(Self {
            config,
            ingest: Some(ingest_tx),
            metrics,
            threads,
        })
    }

    pub fn metrics(&self) -> &Arc<SessionMetrics> {
        &self.metrics
    }

    /// Hand over one item; blocks only while the decoder is 64 units behind. Returns false
    /// when the session has stopped.
    pub fn ingest(&self, item: IngestItem) -> bool {
        if let IngestItem::Unit { unit, .. } = &item {
            self.metrics.on_unit_received(unit.data.len());
        }
        self.ingest.as_ref().is_some_and(|tx| tx.send(item).is_ok())
    }

    /// End the stream: the stages drain what they hold, recordings are finalised.
    pub fn finish(mut self) -> SessionReport {
        drop(self.ingest.take());
        let mut recordings = Vec::new();
        let mut problems = Vec::new();
        for (name, handle) in self.threads.drain(..) {
            match handle.join() {
                Ok(outcome) => {
                    recordings.extend(outcome.recordings);
                    problems.extend(outcome.problems);
                }
                Err(_) => problems.push(format!("the {name} thread panicked")),
            }
        }
        let final_metrics = self.metrics.snapshot();
        let totals = final_metrics.totals;
        SessionReport {
            id: self.config.id,
            label: self.config.label.clone(),
            units_received: totals.units_received,
            frames_decoded: totals.frames_decoded,
            frames_upscaled: totals.frames_upscaled,
            frames_dropped: totals.sr_dropped,
            decode_errors: totals.decode_errors,
            recordings,
            problems,
            final_metrics,
        }
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        drop(self.ingest.take());
        for (_, handle) in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

fn spawn(
    name: String,
    body: impl FnOnce() -> StageOutcome + Send + 'static,
) -> std::io::Result<(String, thread::JoinHandle<StageOutcome>)> {
    let handle = thread::Builder::new().name(name.clone()).spawn(body)?;
    Ok((name, handle))
}

fn decode_stage(
    rx: Receiver<IngestItem>,
    sr_queue: &NewestWinsQueue<DecodedFrame>,
    (record, mut recording): (
        Sender<Record<(EncodedUnit, StreamDescription)>>,
        TakeTracker,
    ),
    metrics: &SessionMetrics,
    request_key_frame: Box<dyn Fn() + Send>,
    session: u64,
) -> StageOutcome {
    let mut outcome = StageOutcome::default();
    let mut decoder = match H264StreamDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            outcome.problems.push(e);
            sr_queue.close();
            return outcome;
        }
    };
    let mut description = StreamDescription {
        width: 0,
        height: 0,
        fps: 0.0,
        bitrate: 0,
        parameter_sets: Vec::new(),
    };
    // Parameter sets from the config go in front of the next unit the decoder sees.
    let mut pending_sets: Vec<u8> = Vec::new();
    let mut last_key_request: Option<Instant> = None;
    let mut errors_seen = 0;
    let mut frames_seen = 0u64;
    for item in rx.iter() {
        match item {
            IngestItem::Config(d) => {
                pending_sets = d.parameter_sets.clone();
                description = d;
            }
            IngestItem::Patch(patch) => {
                metrics.on_patch();
                if let Some(dir) = recording.switch.dir() {
                    let dir = dir.join(format!("session-{session}-patches"));
                    if let Err(e) = save_patch(&dir, &patch) {
                        outcome.problems.push(e);
                    }
                }
            }
            IngestItem::Unit { unit, received } => {
                if annexb::nal_units(&unit.data)
                    .iter()
                    .any(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS))
                {
                    description.parameter_sets = annexb::parameter_sets(&unit.data);
                }
                let started = Instant::now();
                let frames = if pending_sets.is_empty() {
                    decoder.decode(&unit.data, unit.pts_us)
                } else {
                    let mut with_sets = std::mem::take(&mut pending_sets);
                    with_sets.extend_from_slice(&unit.data);
                    decoder.decode(&with_sets, unit.pts_us)
                };
                let decode_time = started.elapsed();
                if decoder.errors > errors_seen {
                    metrics.on_decode_errors(decoder.errors - errors_seen);
                    errors_seen = decoder.errors;
                    tracing::warn!(
                        "{}: corrupt H.264 ({}); waiting for the next key frame",
                        metrics.label(),
                        decoder.last_error.as_deref().unwrap_or("?")
                    );
                    if last_key_request.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        last_key_request = Some(Instant::now());
                        request_key_frame();
                    }
                }
                frames_seen += frames.len() as u64;
                for mut frame in frames {
                    if description.width == 0 {
                        description.width = frame.width;
                        description.height = frame.height;
                    }
                    let fps = if description.fps > 0.0 {
                        description.fps
                    } else {
                        30.0
                    };
                    frame.duration = (1e6 / fps).round() as i64;
                    metrics.on_decoded(decode_time, (frame.width, frame.height));
                    if sr_queue.push(DecodedFrame { frame, received }) {
                        metrics.on_sr_dropped();
                    }
                    metrics.set_sr_queue_depth(sr_queue.len());
                }
                let was_recording = recording.active;
                if recording.follow(session, "input.mp4", &record) {
                    if !was_recording && frames_seen > 0 {
                        // A take that starts mid-stream needs a key frame to begin with.
                        request_key_frame();
                    }
                    // Units go out once the stream's size is known (after its first picture).
                    if description.width > 0 {
                        let _ = record.send(Record::Item((unit, description.clone())));
                    }
                }
            }
        }
    }
    for mut frame in decoder.flush() {
        frame.duration = (1e6 / description.fps.max(1.0)).round() as i64;
        sr_queue.push(DecodedFrame {
            frame,
            received: Instant::now(),
        });
    }
    sr_queue.close();
    outcome
}

/// `DIR/PTS_X_Y.png`, written whole (temporary name, then rename).
fn save_patch(dir: &std::path::Path, patch: &HrPatch) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let name = format!(
        "{:012}_{}_{}.{}",
        patch.frame_pts_us, patch.x, patch.y, patch.extension
    );
    let path = dir.join(name);
    crate::sr::card::write_atomically(&path, &patch.data).map_err(|e| e.to_string())
}

fn sr_stage(
    upscaler: Upscaler,
    queue: &NewestWinsQueue<DecodedFrame>,
    display: Option<Arc<DisplaySlot>>,
    (record, mut recording): (Sender<Record<YuvFrame>>, TakeTracker),
    metrics: &SessionMetrics,
    session: u64,
) -> StageOutcome {
    let mut outcome = StageOutcome::default();
    let mut sequence = 0u64;
    let suffix = format!("x{}.mp4", upscaler.scale());
    while let Some(DecodedFrame { frame, received }) = queue.pop() {
        metrics.set_sr_queue_depth(queue.len());
        let started = Instant::now();
        let output = match upscaler.upscale(&frame) {
            Ok(o) => o,
            Err(e) => {
                outcome.problems.push(format!("SR failed: {e}"));
                metrics.on_sr_dropped();
                continue;
            }
        };
        metrics.on_upscaled(
            started.elapsed(),
            received.elapsed(),
            (output.width, output.height),
        );
        let output = Arc::new(output);
        if recording.follow(session, &suffix, &record) {
            let _ = record.send(Record::Item(YuvFrame::clone(&output)));
            metrics.set_record_queue_depth(record.len());
        }
        if let Some(slot) = &display {
            sequence += 1;
            slot.put(DisplayFrame {
                pts_us: frame.pts.unwrap_or(0),
                input: Arc::new(frame),
                output,
                sequence,
            });
            metrics.set_display_dropped(slot.replaced.load(Ordering::Relaxed));
        }
    }
    outcome
}

/// A file a recording stage writes; `finish` completes it and moves it into place.
trait TakeFile: Sized {
    fn finish_take(self) -> Result<PathBuf, crate::media::MediaError>;
}

impl TakeFile for UnitRecorder {
    fn finish_take(self) -> Result<PathBuf, crate::media::MediaError> {
        self.finish()
    }
}

impl TakeFile for MediaWriter {
    fn finish_take(self) -> Result<PathBuf, crate::media::MediaError> {
        self.finish()
    }
}

/// The loop of a recording stage: Start/Stop open and close takes (reporting each finished
/// file), items go to `write`, which creates the file on the first item it can start with and
/// returns an error to end the take.
fn record_takes<T, F: TakeFile>(
    rx: Receiver<Record<T>>,
    what: &str,
    mut write: impl FnMut(&Path, &mut Option<F>, T) -> Result<(), String>,
) -> StageOutcome {
    let mut outcome = StageOutcome::default();
    let mut take: Option<(PathBuf, Option<F>)> = None;
    let finish = |take: Option<(PathBuf, Option<F>)>, outcome: &mut StageOutcome| match take
        .and_then(|t| t.1)
        .map(TakeFile::finish_take)
    {
        Some(Ok(path)) => outcome.recordings.push(path),
        Some(Err(e)) => outcome.problems.push(format!("{what} recording: {e}")),
        None => {}
    };
    for message in rx.iter() {
        match message {
            Record::Start(path) => {
                finish(take.take(), &mut outcome);
                take = Some((path, None));
            }
            Record::Stop => finish(take.take(), &mut outcome),
            Record::Item(item) => {
                let Some((path, file)) = take.as_mut() else {
                    continue;
                };
                if let Err(e) = write(path, file, item) {
                    outcome
                        .problems
                        .push(format!("{what} recording stopped: {e}"));
                    take = None;
                }
            }
        }
    }
    finish(take, &mut outcome);
    outcome
}

fn record_input_stage(rx: Receiver<Record<(EncodedUnit, StreamDescription)>>) -> StageOutcome {
    record_takes(
        rx,
        "input",
        |path, recorder: &mut Option<UnitRecorder>, (unit, description)| {
            let result = match recorder.as_mut() {
                Some(r) => r.write(&unit),
                None if unit.key => UnitRecorder::create(
                    path,
                    description.width,
                    description.height,
                    if description.fps > 0.0 {
                        description.fps
                    } else {
                        30.0
                    },
                    &description.parameter_sets,
                    &unit,
                )
                .map(|r| *recorder = Some(r)),
                None => Ok(()), // nothing decodable before the first key frame
            };
            result.map_err(|e| e.to_string())
        },
    )
}

fn record_output_stage(rx: Receiver<Record<YuvFrame>>, metrics: &SessionMetrics) -> StageOutcome {
    record_takes(
        rx,
        "output",
        |path, writer: &mut Option<MediaWriter>, frame| {
            if writer.is_none() {
                let plan = OutputPlan {
                    path: path.to_path_buf(),
                    width: frame.width,
                    height: frame.height,
                    encoder: EncoderChoice::Realtime,
                    quality: Quality::Default,
                };
                let fps = 1e6 / frame.duration.max(1) as f64;
                let w =
                    MediaWriter::create_live(&plan, fps, frame.color).map_err(|e| e.to_string())?;
                tracing::info!(
                    "{}: recording SR output with {}",
                    metrics.label(),
                    w.encoder_name()
                );
                *writer = Some(w);
            }
            match writer.as_mut() {
                Some(w) => w.write_frame(&frame).map_err(|e| e.to_string()),
                None => Ok(()),
            }
        },
    )
}
