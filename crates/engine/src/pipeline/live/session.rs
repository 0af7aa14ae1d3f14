//! A live session: ingest -> decode -> SR -> (display, record), one named thread per stage.
//!
//! Latency stays bounded because the only place frames wait is a small queue in front of SR
//! that drops its oldest frame when full (newest wins), and the display slot keeps only the
//! newest result. Every drop is counted. Recording never drops what reaches it: the input is
//! stream-copied unit by unit, the SR output gets every frame SR produced.

use std::sync::Arc;

use crossbeam_channel::{bounded, Sender};

use crate::frame::YuvFrame;
use crate::media::h264::EncodedUnit;
use crate::media::ingest::StreamDescription;
use crate::sr::SrError;

use crate::pipeline::live::adapt::{start_adapting, AdaptOptions, WeightSlot};
use crate::pipeline::live::handoff::{DisplaySlot, NewestWinsQueue, QueueProducer};
use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::live::patches::{PatchAsk, PatchDesk, DEFAULT_PATCH_SIDE};
use crate::pipeline::live::port::{IngestItem, SenderControl};
use crate::pipeline::live::report::{SessionProblem, SessionReport, StageOutcome};
use crate::pipeline::live::stream_size::StreamSizeKeeper;
use crate::pipeline::live::takes::{
    record_input_stage, record_output_stage, Record, RecordSwitch, Recorder,
};
use crate::pipeline::live::tiers::TierLadder;
use crate::pipeline::live::upscaling::Upscaling;
use crate::pipeline::stage::{spawn_stage, Stage};
use decoding::Decoding;

mod decoding;

pub use decoding::MAX_LIVE_INPUT;

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
    pub learn: Option<AdaptOptions>,
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
        let recorders = RecorderInputs::spawn(&config, &mut stages)?;
        let (learning_feed, weights) = match (&options.learn, &patch_desk) {
            (Some(learn), Some(desk)) => {
                match start_adapting(id, &config.label, learn, upscaler, &metrics, desk)? {
                    Some(l) => {
                        stages.push(l.stage);
                        (Some(l.feed), Some(l.weights))
                    }
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        let mut decoding = Decoding::new(
            id,
            QueueProducer(Arc::clone(&sr_queue)),
            Recorder::new(recorders.input, &options.record),
            Arc::clone(&metrics),
            sender,
        );
        decoding.learning = learning_feed;
        decoding.patch_desk = patch_desk;
        decoding.size = StreamSizeKeeper::new(options.max_stream_size);
        stages.push(spawn_stage(format!("decode-{id}"), move || {
            decoding.run(ingest_rx)
        })?);
        let upscaling =
            Self::upscaling(&config, tiers, weights, display, recorders.output, &metrics);
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

    /// The SR stage's state, starting on the generic weights of the ladder's current model.
    fn upscaling(
        config: &LiveSessionConfig,
        tiers: TierLadder,
        weights: Option<Arc<WeightSlot>>,
        display: Option<Arc<DisplaySlot>>,
        output_record: Sender<Record<YuvFrame>>,
        metrics: &Arc<SessionMetrics>,
    ) -> Upscaling {
        let upscaler = tiers.current();
        let generic = weights
            .as_ref()
            .and_then(|_| upscaler.model().as_network())
            .map(|network| network.weights());
        let model_in_use = format!("{} v0 (generic)", upscaler.model_name());
        Upscaling {
            model_in_use,
            generic,
            scene: 0,
            fill_when_behind: !config.options.sr_every_frame,
            session: config.id,
            tiers,
            weights,
            display,
            recorder: Recorder::new(output_record, &config.options.record),
            metrics: Arc::clone(metrics),
        }
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

/// The channels into a session's two recorder stages, which run from its start.
struct RecorderInputs {
    input: Sender<Record<(EncodedUnit, StreamDescription)>>,
    output: Sender<Record<YuvFrame>>,
}

impl RecorderInputs {
    fn spawn(
        config: &LiveSessionConfig,
        stages: &mut Vec<Stage<StageOutcome>>,
    ) -> std::io::Result<Self> {
        let id = config.id;
        let (input, in_rx) = bounded(INPUT_RECORD_QUEUE);
        stages.push(spawn_stage(format!("record-in-{id}"), move || {
            record_input_stage(in_rx)
        })?);
        let (output, out_rx) = bounded(OUTPUT_RECORD_QUEUE);
        let label = config.label.clone();
        stages.push(spawn_stage(format!("record-out-{id}"), move || {
            record_output_stage(out_rx, &label)
        })?);
        Ok(Self { input, output })
    }
}
