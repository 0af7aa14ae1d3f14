//! A live session's SR stage: frames from the queue, upscaled, to the display slot and the SR
//! recorder. Every frame gets an output: SR when nothing else waits, a cheap fill when frames
//! are queued behind it (SR then runs on the newest frame as soon as the queue is empty, so
//! the SR share is as high as the machine allows and latency stays bounded by one SR time plus
//! the fills). A fill (`fill`: bicubic plus the last SR frame's detail where the input did not
//! change) is made when it is recorded, and nothing at all for the screen alone (the view's
//! shader scales the input). In learning sessions the stage swaps in
//! new weights between two frames, goes back to the generic weights at a scene cut's first
//! frame, and notes both in the take's log.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::frame::YuvFrame;
use crate::sr::model::Weights;

use crate::pipeline::live::adapt::WeightSlot;
use crate::pipeline::live::fill::Filler;
use crate::pipeline::live::handoff::{DisplayFrame, DisplaySlot, NewestWinsQueue};
use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::live::report::{AdaptProblem, FrameOutputError, SessionProblem, StageOutcome};
use crate::pipeline::live::takes::Recorder;
use crate::pipeline::live::tiers::TierLadder;

/// A decoded frame on its way to SR, with the arrival time of its access unit.
pub(super) struct DecodedFrame {
    /// Shared: the learner keeps recent frames and the display shows them, without copies.
    pub frame: Arc<YuvFrame>,
    pub received: Instant,
    /// Scene cuts before this frame (learning sessions only; 0 otherwise).
    pub scene: u64,
}

/// The SR stage: frames from the queue, upscaled, to the display slot and the recorder.
pub(super) struct Upscaling {
    pub(super) session: u64,
    /// The model SR runs, and the others it may switch to (`tiers`).
    pub(super) tiers: TierLadder,
    /// New weights from the learner, swapped in between two frames.
    pub(super) weights: Option<Arc<WeightSlot>>,
    pub(super) display: Option<Arc<DisplaySlot>>,
    pub(super) recorder: Recorder<YuvFrame>,
    pub(super) metrics: Arc<SessionMetrics>,
    /// Which weights SR runs, for the take's log.
    pub(super) model_in_use: String,
    /// The generic weights, to go back to at a scene cut (learning sessions only).
    pub(super) generic: Option<Weights>,
    /// The scene the frames come from (see `DecodedFrame::scene`).
    pub(super) scene: u64,
    /// Fill frames when others wait behind them (false: super-resolve every frame, however
    /// long the queue gets).
    pub(super) fill_when_behind: bool,
}

/// What became of one frame.
enum Output {
    SuperResolved {
        frame: Arc<YuvFrame>,
        took: Duration,
        /// The model's share of `took` (the rest is the same for every model).
        model_time: Duration,
    },
    /// Upscaled cheaply; materialised whenever a take records (`None` only for the screen).
    Filled(Option<Arc<YuvFrame>>),
}

impl Upscaling {
    /// At the first frame of a new scene, back to the generic weights: what was learned on
    /// the old scene may be worse than them on the new one.
    fn follow_scene(&mut self, scene: u64, pts: i64, outcome: &mut StageOutcome) {
        if scene == self.scene {
            return;
        }
        self.scene = scene;
        let (Some(network), Some(generic)) =
            (self.tiers.current().model().as_network(), &self.generic)
        else {
            return;
        };
        if let Err(e) = network.set_weights(generic) {
            outcome
                .problems
                .push(SessionProblem::Adapt(AdaptProblem::SwapWeights(Arc::new(
                    e,
                ))));
            return;
        }
        self.model_in_use = format!(
            "{} generic (scene cut at this frame)",
            self.tiers.current().model_name()
        );
        self.recorder
            .note(format!("frame pts {pts} us on: {}", self.model_in_use));
    }

    /// Between two frames, so no frame mixes old and new weights; the SR take's log notes
    /// from which frame on the new weights run.
    fn swap_in_new_weights(&mut self, next_pts_us: i64, outcome: &mut StageOutcome) {
        let Some(offer) = self.weights.as_ref().and_then(|slot| slot.take()) else {
            return;
        };
        let Some(network) = self.tiers.current().model().as_network() else {
            return;
        };
        if offer.scene != self.scene {
            return; // learned on a scene that is gone
        }
        let version = offer.weights.version;
        match network.set_weights(&offer.weights) {
            Ok(()) => {
                tracing::info!("{}: SR now runs model v{version}", self.metrics.label());
                self.model_in_use = format!(
                    "{} v{version}, {}",
                    self.tiers.current().model_name(),
                    offer.why
                );
                self.recorder.note(format!(
                    "frame pts {next_pts_us} us on: {}",
                    self.model_in_use
                ));
            }
            Err(e) => outcome
                .problems
                .push(SessionProblem::Adapt(AdaptProblem::SwapWeights(Arc::new(
                    e,
                )))),
        }
    }

    /// Once a control period: another model from the next frame on when it promises more
    /// quality per output frame (see `tiers`), shown in the metrics and noted in the take.
    fn follow_tier(&mut self, frame: &YuvFrame, pts: i64) {
        if !self.tiers.switches() {
            return;
        }
        let interval = Duration::from_micros(frame.duration.max(1) as u64);
        let Some(decision) = self.tiers.tick(interval) else {
            return;
        };
        let name = self.tiers.current().model_name().to_string();
        tracing::info!(
            "{}: SR now runs {name}: {}",
            self.metrics.label(),
            decision.why
        );
        self.model_in_use = format!("{name} ({})", decision.why);
        self.recorder
            .note(format!("after frame pts {pts} us: {}", self.model_in_use));
        self.metrics.on_tier_changed(name, decision.why);
    }

    pub(super) fn run(mut self, queue: &NewestWinsQueue<DecodedFrame>) -> StageOutcome {
        let mut outcome = StageOutcome::default();
        let mut failures: Option<(u64, FrameOutputError)> = None;
        let mut sequence = 0u64;
        let suffix = format!("x{}.mp4", self.tiers.current().scale());
        let mut filler = Filler::new(self.tiers.current().scale());
        let mut warmed_up = false;
        while let Some(decoded) = queue.pop() {
            if !warmed_up {
                // CUDA sets up (cuDNN autotune) per model and size: before the first frame,
                // not at a switch
                warmed_up = true;
                if self.tiers.current().device().is_cuda() {
                    self.tiers
                        .warm_up(decoded.frame.width, decoded.frame.height);
                }
            }
            let behind = queue.len();
            self.metrics.set_sr_queue_depth(behind);
            let pts = decoded.frame.pts.unwrap_or(0);
            self.follow_scene(decoded.scene, pts, &mut outcome);
            self.swap_in_new_weights(pts, &mut outcome);
            let recording = self.follow_record_switch(&suffix, pts);
            let sr = !self.fill_when_behind || behind == 0;
            let output = match self.produce(&decoded.frame, sr, recording, &mut filler) {
                Ok(output) => output,
                Err(e) => {
                    failures.get_or_insert((0, e)).0 += 1;
                    // the frame still gets its output, filled
                    match self.produce(&decoded.frame, false, recording, &mut filler) {
                        Ok(output) => output,
                        Err(_) => {
                            self.metrics.on_sr_dropped();
                            continue;
                        }
                    }
                }
            };
            self.deliver(decoded, output, recording, &mut sequence);
        }
        if let Some((frames, first_error)) = failures {
            outcome.problems.push(SessionProblem::SrFailed {
                frames,
                first_error: Arc::new(first_error),
            });
        }
        // Only a stream that really ended may finalise the SR recording: after a decoder
        // failure the take would silently miss the rest of the session.
        if queue.ended_cleanly() {
            self.recorder.end();
        }
        outcome
    }

    /// Follow the Record switch before a frame; true while a take records. A learning
    /// session's new take says which weights it starts with.
    fn follow_record_switch(&mut self, suffix: &str, pts: i64) -> bool {
        let was_recording = self.recorder.active();
        let recording = self.recorder.follow(self.session, suffix);
        if recording && !was_recording && self.weights.is_some() {
            let line = format!("frame pts {pts} us on: {}", self.model_in_use);
            self.recorder.note(line);
        }
        recording
    }

    /// A frame's output counted, then to the take (when one records) and the screen.
    /// `sequence` numbers the frames shown.
    fn deliver(
        &mut self,
        decoded: DecodedFrame,
        output: Output,
        recording: bool,
        sequence: &mut u64,
    ) {
        let DecodedFrame {
            frame, received, ..
        } = decoded;
        let pts = frame.pts.unwrap_or(0);
        let (shown, super_resolved) = match output {
            Output::SuperResolved {
                frame: out,
                took,
                model_time,
            } => {
                let size = (out.width, out.height);
                self.metrics.on_upscaled(took, received.elapsed(), size);
                self.tiers.on_super_resolved(took, model_time);
                (out, true)
            }
            Output::Filled(out) => {
                self.metrics.on_filled(received.elapsed());
                self.tiers.on_filled();
                (out.unwrap_or_else(|| Arc::clone(&frame)), false)
            }
        };
        self.follow_tier(&frame, pts);
        // a take gets every frame: `produce` materialises fills whenever one records
        if recording {
            self.recorder.send(YuvFrame::clone(&shown));
            self.metrics.set_record_queue_depth(self.recorder.queued());
        }
        if let Some(slot) = &self.display {
            *sequence += 1;
            slot.put(DisplayFrame {
                pts_us: pts,
                input: frame,
                output: shown,
                super_resolved,
                sequence: *sequence,
            });
            self.metrics
                .set_display_dropped(slot.replaced.load(Ordering::Relaxed));
        }
    }

    /// SR, or a fill (materialised only for a take).
    fn produce(
        &self,
        frame: &YuvFrame,
        sr: bool,
        recording: bool,
        filler: &mut Filler,
    ) -> Result<Output, FrameOutputError> {
        if sr {
            let started = Instant::now();
            let (output, model_time) = self.tiers.current().upscale_timed(frame)?;
            let took = started.elapsed();
            if recording {
                // the frames filled next carry this one's detail where nothing moved
                filler.remember(frame, &output)?;
            }
            return Ok(Output::SuperResolved {
                frame: Arc::new(output),
                took,
                model_time,
            });
        }
        if !recording {
            return Ok(Output::Filled(None));
        }
        let filled = filler.fill(frame)?;
        Ok(Output::Filled(Some(Arc::new(filled))))
    }
}
