//! The adaptation stage of a live session (scene learning, `serve --learn`): HR patches from
//! the sender are paired with the decoded frames they were cut from, a copy of the live model is
//! fine-tuned on them in the background, and weights that prove better on held-out patches are
//! offered to the SR stage, which swaps them in between two frames. `sr::adapt` owns the maths; this file owns
//! the thread, its CPU share and what it reports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::frame::YuvFrame;
use crate::sr::adapt::{
    decode_patch, pair_patch, AdaptConfig, Decision, FineTuner, PairBuffer, PatchRefusal,
};
use crate::sr::card::ModelCard;
use crate::sr::color::frame_to_rgb_cpu;
use crate::sr::model::Weights;
use crate::sr::SrError;
use crate::sr::Upscaler;

use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::live::patches::{PatchDesk, PatchRate, PatchRefused, PATCH_PLAN_PERIOD};
use crate::pipeline::live::port::HrPatch;
use crate::pipeline::live::report::{AdaptProblem, SessionProblem, StageOutcome};
use crate::pipeline::scene_cut::SceneCuts;
use crate::pipeline::stage::{spawn_stage, Stage};

/// Patches waiting for the learner; more are refused (counted), never queued without bound.
const PATCH_QUEUE: usize = 16;

/// How a session learns.
#[derive(Debug, Clone)]
pub struct AdaptOptions {
    pub adapt: AdaptConfig,
    /// Memory for training pairs (all of them together).
    pub pair_memory_bytes: usize,
    /// Share of wall time the trainer may use (0..1]: on a CPU it shares the cores with SR.
    pub duty_cycle: f64,
    /// Where the adapted model is saved when the session ends (`None`: not saved).
    pub save_dir: Option<PathBuf>,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        Self {
            adapt: AdaptConfig::default(),
            pair_memory_bytes: 64 << 20,
            duty_cycle: 0.5,
            save_dir: None,
        }
    }
}

/// A patch and the decoded frame it belongs to, on their way to the learner.
pub(crate) struct PatchForAdapt {
    pub frame: Arc<YuvFrame>,
    /// The scene its frame belongs to (cuts seen before it by the decode stage).
    pub scene: u64,
    pub patch: HrPatch,
}

/// Weights for the SR stage, the scene they were learned on, and why they are better (for the
/// recording's log).
pub struct WeightOffer {
    pub weights: Weights,
    pub scene: u64,
    pub why: String,
}

/// Between the stages of a learning session: the newest weights waiting for the SR stage
/// (newer offers replace older ones) and the scene count the decode stage has reached.
#[derive(Default)]
pub struct WeightSlot {
    offer: Mutex<Option<WeightOffer>>,
    scene: AtomicU64,
}

impl WeightSlot {
    pub fn offer(&self, offer: WeightOffer) {
        *self.offer.lock().unwrap_or_else(|p| p.into_inner()) = Some(offer);
    }

    pub fn take(&self) -> Option<WeightOffer> {
        self.offer.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Scene cuts the decode stage has seen.
    pub fn scene(&self) -> u64 {
        self.scene.load(Ordering::Acquire)
    }
}

/// What the learner leaves when the session ends.
pub(crate) struct AdaptOutcome {
    /// The adapted weights in use at the end, with the generic model's card, when they differ
    /// from the generic ones.
    pub adapted: Option<(Weights, ModelCard)>,
    pub stats: Option<String>,
    pub error: Option<SrError>,
}

pub(crate) struct Learner {
    pub tuner: FineTuner,
    pub buffer: PairBuffer,
    pub slot: Arc<WeightSlot>,
    pub metrics: Arc<SessionMetrics>,
    pub duty_cycle: f64,
    pub scale: u32,
    /// Asks the sender for patches at the rate [`PatchRate`] wants.
    pub patches: Arc<PatchDesk>,
    pub rate: PatchRate,
    pub started: Instant,
    pub last_plan: Option<Instant>,
    /// The scene being learned (see [`WeightSlot::scene`]).
    pub scene: u64,
}

impl Learner {
    /// Learn until the session's patches stop coming (the decode stage ended).
    pub(crate) fn run(mut self, rx: Receiver<PatchForAdapt>) -> AdaptOutcome {
        let mut error = None;
        loop {
            // Block while there is nothing to learn from; otherwise take what has arrived.
            let wait = if self.tuner.ready(&self.buffer) {
                Duration::ZERO
            } else {
                Duration::from_millis(200)
            };
            match rx.recv_timeout(wait) {
                Ok(item) => {
                    self.add(item);
                    while let Ok(item) = rx.try_recv() {
                        self.add(item);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Err(e) = self.follow_scene_cuts() {
                error = Some(e);
                break;
            }
            if self.tuner.ready(&self.buffer) {
                if let Err(e) = self.round() {
                    tracing::warn!("{}: learning stopped: {e}", self.metrics.label());
                    error = Some(e);
                    break;
                }
            }
            self.plan_patches();
        }
        self.outcome(error)
    }

    /// After a cut the SR stage has gone back to the generic weights by itself (at the cut's
    /// first frame); the learner forgets the old scene's pairs and starts over.
    fn follow_scene_cuts(&mut self) -> Result<(), SrError> {
        let scene = self.slot.scene();
        if scene == self.scene {
            return Ok(());
        }
        self.scene = scene;
        self.buffer.clear();
        self.tuner.start_over()?;
        self.rate.restart();
        let version = self.tuner.version;
        self.metrics.update_learning(|l| {
            l.scene_cuts = scene;
            l.model_version = version;
            l.gain_db = 0.0;
        });
        tracing::info!(
            "{}: scene cut: learning again from the generic model",
            self.metrics.label()
        );
        Ok(())
    }

    /// Once a period: ask for the next period's patches at the rate the gain calls for.
    fn plan_patches(&mut self) {
        if self
            .last_plan
            .is_some_and(|t| t.elapsed() < PATCH_PLAN_PERIOD)
        {
            return;
        }
        self.last_plan = Some(Instant::now());
        let pairs = (self.buffer.train_len() + self.buffer.holdout_len()) as u64;
        let per_second = self
            .rate
            .per_second(self.started.elapsed().as_secs_f64(), pairs);
        self.patches.ask(PatchRate::count_for_period(per_second));
        self.metrics
            .update_learning(|l| l.patches_asked_per_s = per_second);
    }

    fn add(&mut self, item: PatchForAdapt) {
        if item.scene != self.slot.scene() {
            // Its frame shows a scene that is gone (or one this learner has not caught up with).
            self.metrics.on_patch_refused();
            return;
        }
        match self.pair(&item) {
            Ok(pair) => {
                self.buffer.push(pair);
                self.metrics.update_learning(|l| l.pairs_used += 1);
            }
            Err(refusal) => {
                tracing::debug!("{}: patch refused: {refusal}", self.metrics.label());
                self.metrics.on_patch_refused();
            }
        }
    }

    fn pair(&self, item: &PatchForAdapt) -> Result<crate::sr::adapt::TrainingPair, PatchRefusal> {
        let patch = &item.patch;
        let hr = decode_patch(&patch.data)?;
        let size = hr.size();
        let (actual_w, actual_h) = (size[3] as u32, size[2] as u32);
        if (actual_w, actual_h) != (u32::from(patch.width), u32::from(patch.height)) {
            return Err(PatchRefusal::SizeMismatch {
                w: u32::from(patch.width),
                h: u32::from(patch.height),
                actual_w,
                actual_h,
            });
        }
        let lr = frame_to_rgb_cpu(&item.frame).map_err(|_| PatchRefusal::BadImage)?;
        pair_patch(
            &lr,
            hr,
            (u32::from(patch.x), u32::from(patch.y)),
            self.scale,
            patch.frame_pts_us,
        )
    }

    /// Train a round, assess it, hand better weights to SR, then rest for the duty cycle.
    fn round(&mut self) -> Result<(), SrError> {
        let started = Instant::now();
        let steps_before = self.tuner.steps;
        self.tuner.train_round(&self.buffer)?;
        let (scores, decision) = self.tuner.assess(&self.buffer)?;
        let gain_db = scores.gain_after(&decision);
        if matches!(decision, Decision::Revert(_)) {
            self.rate.restart();
        }
        self.rate
            .note_gain(self.started.elapsed().as_secs_f64(), gain_db);
        let why = match &decision {
            Decision::Deploy(_) => format!(
                "adapted: held-out {:.2} dB, beating the live {:.2} dB (generic {:.2} dB)",
                scores.candidate_db, scores.live_db, scores.generic_db
            ),
            Decision::Revert(_) => format!(
                "back to generic (scene change): the adapted weights fell to {:.2} dB, generic {:.2} dB",
                scores.live_db, scores.generic_db
            ),
            Decision::Keep => String::new(),
        };
        if let Decision::Deploy(weights) | Decision::Revert(weights) = decision {
            tracing::info!(
                "{}: model v{}: {why}",
                self.metrics.label(),
                weights.version
            );
            self.slot.offer(WeightOffer {
                weights,
                scene: self.scene,
                why,
            });
        }
        let busy = started.elapsed();
        let duty = self.duty_cycle.clamp(0.05, 1.0);
        let rest = busy.mul_f64((1.0 - duty) / duty);
        let (steps, version) = (self.tuner.steps, self.tuner.version);
        let round_steps = steps - steps_before;
        self.metrics.update_learning(|l| {
            l.train_steps = steps;
            l.steps_per_s = round_steps as f64 / (busy + rest).as_secs_f64().max(1e-3);
            l.model_version = version;
            l.gain_db = gain_db;
        });
        std::thread::sleep(rest);
        Ok(())
    }

    fn outcome(self, error: Option<SrError>) -> AdaptOutcome {
        let learning = self.metrics.snapshot().learning.unwrap_or_default();
        let stats = Some(format!(
            "{} pairs, {} steps, model v{}, {:+.2} dB vs generic on held-out patches",
            learning.pairs_used, learning.train_steps, learning.model_version, learning.gain_db
        ));
        // Keep what was learned only when the weights in use at the end beat the generic ones.
        let adapted = (self.tuner.version > 0 && learning.gain_db > 0.0).then(|| {
            let live = self.tuner.live_weights();
            (live.copy_as(live.version), self.tuner.base_card().clone())
        });
        AdaptOutcome {
            adapted,
            stats,
            error,
        }
    }
}

/// A running learner, as the session holds it.
pub(crate) struct AdaptStage {
    pub stage: Stage<StageOutcome>,
    /// The decode stage's side: recent frames and the patch channel.
    pub feed: AdaptFeed,
    /// Where the SR stage finds new weights.
    pub weights: Arc<WeightSlot>,
}

/// Start the learner's thread; `None` (with a warning) when the model cannot learn (bicubic,
/// a TorchScript module).
pub(crate) fn start_adapting(
    id: u64,
    label: &str,
    options: &AdaptOptions,
    upscaler: &Upscaler,
    metrics: &Arc<SessionMetrics>,
    patches: &Arc<PatchDesk>,
) -> Result<Option<AdaptStage>, std::io::Error> {
    let Some(network) = upscaler.model().as_network() else {
        tracing::warn!(
            "{}: model {} cannot learn; patches are only counted",
            label,
            upscaler.model_name()
        );
        return Ok(None);
    };
    let tuner = match FineTuner::new(network, upscaler.device().device, options.adapt.clone()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("{label}: cannot start learning: {e}");
            return Ok(None);
        }
    };
    metrics.update_learning(|_| {});
    let slot = Arc::new(WeightSlot::default());
    let learner = Learner {
        tuner,
        buffer: PairBuffer::new(options.pair_memory_bytes),
        slot: Arc::clone(&slot),
        metrics: Arc::clone(metrics),
        duty_cycle: options.duty_cycle,
        scale: upscaler.scale(),
        patches: Arc::clone(patches),
        rate: PatchRate::new(),
        started: Instant::now(),
        last_plan: None,
        scene: 0,
    };
    let (tx, rx) = bounded(PATCH_QUEUE);
    let feed = AdaptFeed::new(tx, Arc::clone(&slot));
    let save_dir = options.save_dir.clone();
    let stage = spawn_stage(format!("learn-{id}"), move || {
        let outcome = learner.run(rx);
        keep_learned(id, outcome, save_dir.as_deref())
    })?;
    Ok(Some(AdaptStage {
        stage,
        feed,
        weights: slot,
    }))
}

/// Save the adapted weights (when they beat the generic model) as a user model.
fn keep_learned(session: u64, outcome: AdaptOutcome, save_dir: Option<&Path>) -> StageOutcome {
    let mut result = StageOutcome::default();
    if let Some(e) = outcome.error {
        result
            .problems
            .push(SessionProblem::Adapt(AdaptProblem::Training(Arc::new(e))));
    }
    let (Some((weights, base)), Some(dir)) = (outcome.adapted, save_dir) else {
        return result;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("{}-adapted-{stamp}-s{session}", base.name);
    let how = format!("session {session}, {}", outcome.stats.unwrap_or_default());
    match crate::sr::adapt::save_adapted(dir, &name, &base, &weights, &how) {
        Ok(card) => result.adapted_model = Some(card),
        Err(e) => result
            .problems
            .push(SessionProblem::Adapt(AdaptProblem::SaveModel(Arc::new(e)))),
    }
    result
}

/// The decode stage's side of learning: recent decoded frames (a patch arrives just after the
/// frame it was cut from) and the channel to the learner.
pub(crate) struct AdaptFeed {
    tx: Sender<PatchForAdapt>,
    /// Recent frames with the scene each belongs to.
    recent: std::collections::VecDeque<(Arc<YuvFrame>, u64)>,
    cuts: SceneCuts,
    slot: Arc<WeightSlot>,
}

/// Decoded frames kept for pairing: two seconds at 30 fps.
const RECENT_FRAMES: usize = 60;

impl AdaptFeed {
    fn new(tx: Sender<PatchForAdapt>, slot: Arc<WeightSlot>) -> Self {
        Self {
            tx,
            recent: std::collections::VecDeque::with_capacity(RECENT_FRAMES),
            cuts: SceneCuts::default(),
            slot,
        }
    }

    /// Keep a decoded frame for pairing; returns the scene it belongs to (a new one after a cut,
    /// which the learner and the SR stage then follow).
    pub(crate) fn remember(&mut self, frame: Arc<YuvFrame>) -> u64 {
        if self.cuts.observe(&frame) {
            self.slot.scene.store(self.cuts.scene, Ordering::Release);
        }
        if self.recent.len() == RECENT_FRAMES {
            self.recent.pop_front();
        }
        self.recent.push_back((frame, self.cuts.scene));
        self.cuts.scene
    }

    /// Hand the patch to the learner with its frame; refused when its frame is not among the
    /// recent ones or the learner is behind.
    pub(crate) fn offer(&self, patch: &HrPatch) -> Result<(), PatchRefused> {
        // Within half a frame: senders' encoders may round timestamps to their time base.
        let matches = |(f, _): &&(Arc<YuvFrame>, u64)| {
            f.pts
                .is_some_and(|pts| (pts - patch.frame_pts_us).abs() * 2 < f.duration.max(2))
        };
        let Some((frame, scene)) = self.recent.iter().rev().find(matches) else {
            return Err(PatchRefused::UnknownFrame {
                pts_us: patch.frame_pts_us,
                newest_us: self.recent.back().and_then(|(f, _)| f.pts),
            });
        };
        self.tx
            .try_send(PatchForAdapt {
                frame: Arc::clone(frame),
                scene: *scene,
                patch: patch.clone(),
            })
            .map_err(|_| PatchRefused::LearnerBehind)
    }
}
