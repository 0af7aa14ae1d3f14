//! A live session: ingest -> decode -> SR -> (display, record), one named thread per stage.
//!
//! Latency stays bounded because the only place frames wait is a small queue in front of SR
//! that drops its oldest frame when full (newest wins), and the display slot keeps only the
//! newest result. Every drop is counted. Recording never drops what reaches it: the input is
//! stream-copied unit by unit, the SR output gets every frame SR produced.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::frame::YuvFrame;
use crate::media::h264::{EncodedUnit, H264StreamDecoder};
use crate::media::ingest::StreamDescription;
use crate::sr::SrError;
use stronglive_wire::annexb;

use crate::pipeline::live::adapt::{start_learning, LearnOptions, LearningFeed};
use crate::pipeline::live::controller::{Ask, ControlLoop, RateDecision};
use crate::pipeline::live::handoff::{DisplaySlot, NewestWinsQueue, QueueProducer};
use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::live::patches::{PatchAsk, PatchDesk, PatchRefused, DEFAULT_PATCH_SIDE};
use crate::pipeline::live::port::{HrPatch, IngestItem, SenderControl, SenderRequest};
use crate::pipeline::live::report::{SessionProblem, SessionReport, StageOutcome};
use crate::pipeline::live::stream_size::StreamSizeKeeper;
use crate::pipeline::live::takes::{
    record_input_stage, record_output_stage, RecordSwitch, Recorder,
};
use crate::pipeline::live::tiers::TierLadder;
use crate::pipeline::live::upscaling::{DecodedFrame, Upscaling};
use crate::pipeline::stage::{spawn_stage, Stage};

/// Access units waiting for the decoder: decoding is fast, so this only absorbs network bursts.
const INGEST_QUEUE: usize = 64;
/// Units waiting for the input recorder (stream copy, fast).
const INPUT_RECORD_QUEUE: usize = 64;
/// SR frames waiting for the output encoder (12 MB each at 4K).
const OUTPUT_RECORD_QUEUE: usize = 4;
/// Frames waiting for SR before the oldest is dropped, unless configured: what arrives while
/// one SR runs (2 s at 30 fps: fmen-tiny on a 960x540 frame takes 1.1-1.5 s on two cores).
/// Queued frames do not add latency beyond that SR: the stage fills them cheaply before
/// super-resolving again. 60 frames of 960x540 are 47 MB.
pub const DEFAULT_SR_QUEUE: usize = 60;

/// The largest live input SR takes (by area; x4 makes it 7680x4352): a phone streams at most
/// 1080p, and the memory of a session is sized by it. Larger streams are refused by name.
pub const MAX_LIVE_INPUT: (u32, u32) = (1920, 1088);

#[derive(Debug, Clone)]
pub struct LiveSessionConfig {
    pub id: u64,
    /// Who is sending, for logs and file names ("Pixel 7 @ 192.168.1.20:40312").
    pub label: String,
    pub options: SessionOptions,
}

/// How every session of a server runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Where to record input and SR output (`session-ID-input.mp4`, `session-ID-x4.mp4`);
    /// switchable while the session runs.
    pub record: RecordSwitch,
    pub sr_queue: usize,
    /// HR patches to ask the sender for when its stream starts (`None`: none are asked for,
    /// and any that come are refused). Learning asks on its own when this is `None`.
    pub patches: Option<PatchAsk>,
    /// Learn from the sender's HR patches (`None`: patches are only counted and recorded).
    pub learn: Option<LearnOptions>,
    /// Super-resolve every frame, however long the queue gets (false: frames that others wait
    /// behind are filled cheaply, so output keeps the input's pace).
    pub sr_every_frame: bool,
    /// Ask senders whose stream is larger for at most this size (`serve --max-stream-size`).
    pub max_stream_size: Option<(u32, u32)>,
    /// Switch between the shipped models while streaming, for the most quality per output
    /// frame this machine allows (`tiers`); off for learning sessions (the learner tunes one
    /// model) and when every frame is super-resolved.
    pub switch_tiers: bool,
}

impl SessionOptions {
    /// Whether sessions run as these options say may switch models while streaming.
    pub fn tiers_switch(&self) -> bool {
        self.switch_tiers && self.learn.is_none() && !self.sr_every_frame
    }

    /// Record nothing, ask for nothing, learn nothing.
    pub fn plain(record: RecordSwitch) -> Self {
        Self {
            record,
            sr_queue: DEFAULT_SR_QUEUE,
            patches: None,
            learn: None,
            sr_every_frame: false,
            max_stream_size: None,
            switch_tiers: false,
        }
    }

    /// The patches to ask for at the start: the configured ones, or a learner's first
    /// period's worth.
    fn first_patch_ask(&self) -> Option<PatchAsk> {
        self.patches.or(self.learn.as_ref().map(|_| PatchAsk {
            count: crate::pipeline::live::patches::PatchRate::count_for_period(
                crate::pipeline::live::patches::EAGER_PATCHES_PER_S,
            ),
            size: DEFAULT_PATCH_SIDE,
        }))
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionStartError {
    #[error("cannot load the model: {0}")]
    Model(#[from] SrError),
    #[error("cannot start the session's threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// A running session. Feed it with [`LiveSession::ingest`]; [`LiveSession::finish`] ends it.
pub struct LiveSession {
    config: LiveSessionConfig,
    ingest: Option<Sender<IngestItem>>,
    metrics: Arc<SessionMetrics>,
    stages: Vec<Stage<StageOutcome>>,
}

impl LiveSession {
    /// Start the stages. `display` gets the newest input/output pair when a screen is attached;
    /// `sender` carries key-frame and patch requests back to the peer.
    pub fn start(
        config: LiveSessionConfig,
        tiers: TierLadder,
        display: Option<Arc<DisplaySlot>>,
        sender: SenderControl,
    ) -> std::io::Result<Self> {
        let options = &config.options;
        let upscaler = tiers.current();
        let metrics = Arc::new(SessionMetrics::new(
            config.id,
            config.label.clone(),
            upscaler.model_name().to_string(),
            upscaler.device().label(),
            options.sr_queue,
        ));
        let (ingest_tx, ingest_rx) = bounded::<IngestItem>(INGEST_QUEUE);
        let sr_queue = Arc::new(NewestWinsQueue::new(options.sr_queue));
        let patch_desk = options
            .first_patch_ask()
            .map(|ask| Arc::new(PatchDesk::new(Arc::clone(&sender), ask)));
        let id = config.id;
        let mut stages = Vec::new();

        let (input_record_tx, in_rx) = bounded(INPUT_RECORD_QUEUE);
        stages.push(spawn_stage(format!("record-in-{id}"), move || {
            record_input_stage(in_rx)
        })?);
        let (output_record_tx, out_rx) = bounded(OUTPUT_RECORD_QUEUE);
        let label = config.label.clone();
        stages.push(spawn_stage(format!("record-out-{id}"), move || {
            record_output_stage(out_rx, &label)
        })?);
        let learning = match (&options.learn, &patch_desk) {
            (Some(learn), Some(desk)) => {
                start_learning(id, &config.label, learn, upscaler, &metrics, desk)?
            }
            _ => None,
        };
        let (learning_feed, weights) = match learning {
            Some(l) => {
                stages.push(l.stage);
                (Some(l.feed), Some(l.weights))
            }
            None => (None, None),
        };
        let mut decoding = Decoding::new(
            id,
            QueueProducer(Arc::clone(&sr_queue)),
            Recorder::new(input_record_tx, &options.record),
            Arc::clone(&metrics),
            sender,
        );
        decoding.learning = learning_feed;
        decoding.patch_desk = patch_desk;
        decoding.size = StreamSizeKeeper::new(options.max_stream_size);
        stages.push(spawn_stage(format!("decode-{id}"), move || {
            decoding.run(ingest_rx)
        })?);
        let generic = weights
            .as_ref()
            .and_then(|_| upscaler.model().as_network())
            .map(|network| network.weights());
        let model_in_use = format!("{} v0 (generic)", upscaler.model_name());
        let upscaling = Upscaling {
            model_in_use,
            generic,
            scene: 0,
            fill_when_behind: !options.sr_every_frame,
            session: id,
            tiers,
            weights,
            display,
            recorder: Recorder::new(output_record_tx, &options.record),
            metrics: Arc::clone(&metrics),
        };
        stages.push(spawn_stage(format!("sr-{id}"), move || {
            upscaling.run(&sr_queue)
        })?);
        Ok(Self {
            config,
            ingest: Some(ingest_tx),
            metrics,
            stages,
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
        let mut adapted_model = None;
        for stage in self.stages.drain(..) {
            match stage.join() {
                Ok(outcome) => {
                    recordings.extend(outcome.recordings);
                    problems.extend(outcome.problems);
                    adapted_model = adapted_model.or(outcome.adapted_model);
                }
                Err(panic) => problems.push(SessionProblem::StagePanicked(panic)),
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
            adapted_model,
        }
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        drop(self.ingest.take());
        for stage in self.stages.drain(..) {
            let _ = stage.join();
        }
    }
}

/// The decode stage's state: H.264 units in, frames into the SR queue, units to the recorder.
struct Decoding {
    session: u64,
    queue: QueueProducer<DecodedFrame>,
    recorder: Recorder<(EncodedUnit, StreamDescription)>,
    metrics: Arc<SessionMetrics>,
    sender: SenderControl,
    /// Admits the HR patches that were asked for (`None`: none were, all are refused).
    patch_desk: Option<Arc<PatchDesk>>,
    description: StreamDescription,
    /// Parameter sets from the config go in front of the next unit the decoder sees.
    pending_sets: Vec<u8>,
    last_key_request: Option<Instant>,
    errors_seen: u64,
    frames_seen: u64,
    outcome: StageOutcome,
    learning: Option<LearningFeed>,
    /// Asks the sender for fewer bits or a smaller picture when the session falls behind (see
    /// `controller`); made at the first stream config and kept across the sender's
    /// reconfigurations (which its own requests cause).
    control: Option<ControlLoop>,
    /// The session's picture size while the stream's changes.
    size: StreamSizeKeeper,
}

impl Decoding {
    fn new(
        session: u64,
        queue: QueueProducer<DecodedFrame>,
        recorder: Recorder<(EncodedUnit, StreamDescription)>,
        metrics: Arc<SessionMetrics>,
        sender: SenderControl,
    ) -> Self {
        Self {
            session,
            queue,
            recorder,
            metrics,
            sender,
            patch_desk: None,
            description: StreamDescription {
                width: 0,
                height: 0,
                fps: 0.0,
                bitrate: 0,
                parameter_sets: Vec::new(),
            },
            pending_sets: Vec::new(),
            last_key_request: None,
            errors_seen: 0,
            frames_seen: 0,
            outcome: StageOutcome::default(),
            learning: None,
            control: None,
            size: StreamSizeKeeper::default(),
        }
    }

    fn run(mut self, rx: Receiver<IngestItem>) -> StageOutcome {
        let mut decoder = match H264StreamDecoder::new() {
            Ok(d) => d,
            Err(e) => {
                self.outcome
                    .problems
                    .push(SessionProblem::DecoderUnavailable(e));
                return self.outcome;
            }
        };
        for item in rx.iter() {
            match item {
                IngestItem::Config(d) => {
                    if let Some(request) = self.size.on_config(&d) {
                        (self.sender)(request);
                    }
                    self.pending_sets = d.parameter_sets.clone();
                    if self.control.is_none() {
                        let size = self.size.capped((d.width, d.height));
                        self.control = Some(ControlLoop::new(d.bitrate, size));
                    }
                    self.description = d;
                    if let Some(desk) = &self.patch_desk {
                        desk.stream_started();
                    }
                }
                IngestItem::Patch(patch) => self.keep_patch(&patch),
                IngestItem::Unit { unit, received } => {
                    if let Err(refused) = self.decode_unit(&mut decoder, &unit, received) {
                        // Dropping the receiver ends the session: the peer's next unit finds
                        // it stopped. What was decoded so far still goes out and is recorded.
                        tracing::warn!("{}: {refused}", self.metrics.label());
                        self.outcome.problems.push(refused);
                        break;
                    }
                    self.record_unit(unit);
                }
            }
        }
        drop(rx);
        for frame in decoder.flush() {
            if self.size_allowed(&frame).is_ok() {
                self.hand_to_sr(frame, Instant::now());
            }
        }
        self.queue.finish();
        self.recorder.end();
        self.outcome
    }

    fn keep_patch(&mut self, patch: &HrPatch) {
        self.metrics.on_patch();
        let admitted = match &self.patch_desk {
            Some(desk) => desk.admit(patch),
            None => Err(PatchRefused::NotAsked),
        };
        let used = admitted.and_then(|()| match &self.learning {
            Some(feed) => feed.offer(patch),
            None => Ok(()),
        });
        if let Err(why) = used {
            tracing::debug!(
                "{}: HR patch ({},{}) {}x{} of frame {} us refused: {why}",
                self.metrics.label(),
                patch.x,
                patch.y,
                patch.width,
                patch.height,
                patch.frame_pts_us
            );
            self.metrics.on_patch_refused();
            if !matches!(
                why,
                PatchRefused::UnknownFrame { .. } | PatchRefused::LearnerBehind
            ) {
                return;
            }
        }
        if let Some(dir) = self.recorder.dir() {
            let dir = dir.join(format!("session-{}-patches", self.session));
            if let Err(problem) = save_patch(&dir, patch) {
                self.outcome.problems.push(problem);
            }
        }
    }

    /// A decoded picture SR may take: within the live limit and no larger than the stream
    /// announced (or, without an announcement, than its first picture).
    fn size_allowed(&self, frame: &YuvFrame) -> Result<(), SessionProblem> {
        let (w, h) = (frame.width, frame.height);
        let (max_w, max_h) = MAX_LIVE_INPUT;
        if u64::from(w) * u64::from(h) > u64::from(max_w) * u64::from(max_h) {
            return Err(SessionProblem::StreamRefused(format!(
                "its pictures are {w}x{h}, over the live limit of {max_w}x{max_h} \
                 (x4 SR of it would need {}x{} per frame)",
                w * 4,
                h * 4
            )));
        }
        let (announced_w, announced_h) = (self.description.width, self.description.height);
        if announced_w > 0 && (w > announced_w || h > announced_h) {
            return Err(SessionProblem::StreamRefused(format!(
                "its pictures are {w}x{h}, larger than the {announced_w}x{announced_h} it \
                 announced"
            )));
        }
        Ok(())
    }

    fn decode_unit(
        &mut self,
        decoder: &mut H264StreamDecoder,
        unit: &EncodedUnit,
        received: Instant,
    ) -> Result<(), SessionProblem> {
        if annexb::nal_units(&unit.data)
            .iter()
            .any(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS))
        {
            self.description.parameter_sets = annexb::parameter_sets(&unit.data);
        }
        let started = Instant::now();
        let frames = if self.pending_sets.is_empty() {
            decoder.decode(&unit.data, unit.pts_us)
        } else {
            let mut with_sets = std::mem::take(&mut self.pending_sets);
            with_sets.extend_from_slice(&unit.data);
            decoder.decode(&with_sets, unit.pts_us)
        };
        let decode_time = started.elapsed();
        if decoder.errors > self.errors_seen {
            self.metrics
                .on_decode_errors(decoder.errors - self.errors_seen);
            self.errors_seen = decoder.errors;
            tracing::warn!(
                "{}: corrupt H.264 ({}); waiting for the next key frame",
                self.metrics.label(),
                decoder.last_error.as_deref().unwrap_or("?")
            );
            if self
                .last_key_request
                .is_none_or(|t| t.elapsed() > Duration::from_secs(1))
            {
                self.last_key_request = Some(Instant::now());
                (self.sender)(SenderRequest::KeyFrame);
            }
        }
        self.frames_seen += frames.len() as u64;
        if let Some(control) = &mut self.control {
            control.on_unit(decode_time, started.saturating_duration_since(received));
        }
        for frame in frames {
            self.size_allowed(&frame)?;
            if self.description.width == 0 {
                self.description.width = frame.width;
                self.description.height = frame.height;
            }
            self.metrics
                .on_decoded(decode_time, (frame.width, frame.height));
            let frame = self
                .size
                .fit(frame)
                .map_err(SessionProblem::StreamRefused)?;
            let dropped = self.hand_to_sr(frame, received);
            if let Some(control) = &mut self.control {
                control.on_frame();
                if dropped {
                    control.on_dropped();
                }
            }
            if dropped {
                self.metrics.on_sr_dropped();
            }
            self.metrics.set_sr_queue_depth(self.queue.len());
        }
        self.steer_stream();
        Ok(())
    }

    /// The rate controller's decision for the period just ended, sent and shown.
    fn steer_stream(&mut self) {
        let interval = Duration::from_secs_f64(1.0 / self.description.fps_or_default());
        let (backlog, capacity) = (self.queue.len(), self.queue.capacity());
        let Some(control) = &mut self.control else {
            return;
        };
        let Some(RateDecision { ask, why }) = control.tick(interval, backlog, capacity) else {
            return;
        };
        let label = self.metrics.label();
        match ask {
            Ask::Bitrate(bps) => {
                tracing::info!(
                    "{label}: asking the sender for {:.2} Mbit/s ({why})",
                    bps as f64 / 1e6
                );
                let bits_per_second = u32::try_from(bps).unwrap_or(u32::MAX);
                (self.sender)(SenderRequest::Bitrate { bits_per_second });
                self.metrics.on_bitrate_asked(bps, why);
            }
            Ask::StreamSize(width, height) => {
                tracing::info!("{label}: asking the sender for {width}x{height} pictures ({why})");
                (self.sender)(SenderRequest::StreamSize { width, height });
                self.metrics.on_stream_size_asked((width, height), why);
            }
        }
    }

    /// A decoded frame, timed by the stream's frame rate, shown to the learner (which says
    /// which scene it belongs to) and queued for SR; true when the queue dropped an older one.
    fn hand_to_sr(&mut self, mut frame: YuvFrame, received: Instant) -> bool {
        frame.duration = (1e6 / self.description.fps_or_default()).round() as i64;
        let frame = Arc::new(frame);
        let scene = self
            .learning
            .as_mut()
            .map_or(0, |feed| feed.remember(Arc::clone(&frame)));
        self.queue.push(DecodedFrame {
            frame,
            received,
            scene,
        })
    }

    fn record_unit(&mut self, unit: EncodedUnit) {
        let was_recording = self.recorder.active();
        if !self.recorder.follow(self.session, "input.mp4") {
            return;
        }
        if !was_recording && self.frames_seen > 0 {
            // A take that starts mid-stream needs a key frame to begin with.
            (self.sender)(SenderRequest::KeyFrame);
        }
        // Units go out once the stream's size is known (after its first picture).
        if self.description.width > 0 {
            self.recorder.send((unit, self.description.clone()));
        }
    }
}

/// `DIR/PTS_X_Y.png`, written whole (temporary name, then rename).
pub(crate) fn save_patch(dir: &Path, patch: &HrPatch) -> Result<(), SessionProblem> {
    let name = format!(
        "{:012}_{}_{}.{}",
        patch.frame_pts_us, patch.x, patch.y, patch.extension
    );
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .and_then(|()| crate::atomic_file::write_atomically(&path, &patch.data))
        .map_err(|e| SessionProblem::PatchNotSaved {
            path,
            reason: e.to_string(),
        })
}
