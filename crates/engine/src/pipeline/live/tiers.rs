//! A live session's model tier: which of the shipped models SR runs, chosen while streaming.
//!
//! Every frame gets an output either way (the SR stage fills what SR has no time for), so the
//! question is which model gives the most quality per output frame on this machine, now. With
//! a frame every `f` and SR taking `t`, SR keeps up with a share `min(1, f / t)` of the frames;
//! a tier's worth is that share times its measured gain over bicubic (the fills are close to
//! bicubic). STRONGLIVE picked its SR share per segment to hold 30 fps in the same spirit.
//!
//! Only the running tier's time is measured; the others' are predicted: the frame's work
//! around the model (upload, colour conversion: the same for every tier, and most of a small
//! model's time at 4K) as measured, plus the model's own time scaled by relative costs, GFLOP
//! at first, then the ratio of model times measured across each switch (a switch measures
//! both sides within two seconds, so the ratio survives the machine getting busier or idler). A cheaper
//! tier is taken after two periods that want it, a dearer one after five (going up is a
//! gamble on a prediction; going down stops a starving SR).
//!
//! `TierController` is pure (observations in, decisions out); `TierLadder` holds the loaded
//! models and lives in the SR stage.

use std::time::{Duration, Instant};

use crate::sr::registry::{ModelRegistry, ModelSource};
use crate::sr::{load_model, ComputeDevice, SrError, Upscaler};

use crate::pipeline::live::controller::CONTROL_PERIOD;

/// Periods in a row that must want a cheaper tier before switching down.
const PERIODS_TO_GO_DOWN: u32 = 2;
/// Periods in a row that must want a dearer tier before switching up.
const PERIODS_TO_GO_UP: u32 = 5;
/// A tier must promise this much more quality per frame than the running one (1.1 = 10%).
const BETTER_BY: f64 = 1.1;

/// What the controller knows of one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierInfo {
    pub name: String,
    /// Measured PSNR-Y gain over bicubic (the model card's evaluation).
    pub gain_db: f64,
    /// Relative SR cost (GFLOP per 960x540 frame to start with; only ratios matter).
    pub cost: f64,
}

/// One control period's SR figures.
#[derive(Debug, Clone, Copy)]
pub struct TierObservations {
    /// Median SR time of the period's super-resolved frames, and of the model's part of it.
    pub sr_p50: Duration,
    pub model_p50: Duration,
    pub super_resolved: u64,
    pub filled: u64,
    pub frame_interval: Duration,
}

/// A switch, with the reason shown in the metrics and the take's log.
#[derive(Debug, Clone, PartialEq)]
pub struct TierDecision {
    pub to: usize,
    pub why: String,
}

#[derive(Debug)]
pub struct TierController {
    tiers: Vec<TierInfo>,
    current: usize,
    /// The tier that would be better, and for how many periods in a row it has been.
    wanted: Option<(usize, u32)>,
    /// The previous period's tier and model time (to learn cost ratios across a switch).
    last: Option<(usize, Duration)>,
}

/// The share of frames SR keeps up with when each takes `t` and one arrives every `interval`.
fn share(t: Duration, interval: Duration) -> f64 {
    if t.is_zero() {
        return 1.0;
    }
    (interval.as_secs_f64() / t.as_secs_f64()).min(1.0)
}

impl TierController {
    /// `tiers` cheapest first; `current` is where the session starts.
    pub fn new(tiers: Vec<TierInfo>, current: usize) -> Self {
        assert!(current < tiers.len(), "tier {current} of {}", tiers.len());
        Self {
            tiers,
            current,
            wanted: None,
            last: None,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    pub fn tiers(&self) -> &[TierInfo] {
        &self.tiers
    }

    /// The SR time predicted for tier `i` from the running tier's measured period.
    fn predicted(&self, i: usize, o: &TierObservations) -> Duration {
        let ratio = self.tiers[i].cost / self.tiers[self.current].cost.max(1e-9);
        let model = o.model_p50.min(o.sr_p50);
        (o.sr_p50 - model) + model.mul_f64(ratio.max(1e-6))
    }

    /// Expected gain per output frame of tier `i` (dB).
    fn worth(&self, i: usize, o: &TierObservations) -> f64 {
        share(self.predicted(i, o), o.frame_interval) * self.tiers[i].gain_db
    }

    /// One period's decision: `Some` when SR should switch to another tier from the next frame.
    pub fn decide(&mut self, o: &TierObservations) -> Option<TierDecision> {
        if o.super_resolved == 0 || o.frame_interval.is_zero() {
            return None; // nothing measured (the stage was busy in one long SR)
        }
        let t = o.sr_p50;
        self.learn_cost(o.model_p50.min(t));
        let best = (0..self.tiers.len())
            .max_by(|&a, &b| self.worth(a, o).total_cmp(&self.worth(b, o)))
            .unwrap_or(self.current);
        let now = self.worth(self.current, o);
        let then = self.worth(best, o);
        if best == self.current || then <= now * BETTER_BY {
            self.wanted = None;
            return None;
        }
        let periods = match self.wanted {
            Some((tier, n)) if tier == best => n + 1,
            _ => 1,
        };
        self.wanted = Some((best, periods));
        let needed = if best < self.current {
            PERIODS_TO_GO_DOWN
        } else {
            PERIODS_TO_GO_UP
        };
        if periods < needed {
            return None;
        }
        let total = o.super_resolved + o.filled;
        let why = format!(
            "{} took {:.0} ms a frame (SR on {}% of frames, {:.2} dB a frame); {} should give {:.2} dB a frame",
            self.tiers[self.current].name,
            t.as_secs_f64() * 1e3,
            (o.super_resolved * 100).checked_div(total).unwrap_or(0),
            now,
            self.tiers[best].name,
            then
        );
        self.current = best;
        self.wanted = None;
        Some(TierDecision { to: best, why })
    }

    /// After a switch the first period on the new tier measures its model's cost against the
    /// old one's.
    fn learn_cost(&mut self, t: Duration) {
        if let Some((previous, t_previous)) = self.last {
            if previous != self.current && !t_previous.is_zero() {
                let measured =
                    self.tiers[previous].cost * t.as_secs_f64() / t_previous.as_secs_f64();
                self.tiers[self.current].cost = measured.max(1e-9);
            }
        }
        self.last = Some((self.current, t));
    }
}

/// A loaded model of the ladder.
pub struct SrTier {
    pub upscaler: Upscaler,
    pub info: TierInfo,
}

/// The models a session may switch between (cheapest first) and the one running.
pub struct TierLadder {
    tiers: Vec<SrTier>,
    controller: Option<TierController>,
    period: Period,
}

/// SR figures gathered since the period started.
struct Period {
    started: Instant,
    sr_ms: Vec<f64>,
    model_ms: Vec<f64>,
    filled: u64,
}

impl Period {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            sr_ms: Vec::new(),
            model_ms: Vec::new(),
            filled: 0,
        }
    }
}

impl TierLadder {
    /// One model, never switched (a learning session, or a model the user named).
    pub fn fixed(upscaler: Upscaler) -> Self {
        let info = TierInfo {
            name: upscaler.model_name().to_string(),
            gain_db: 0.0,
            cost: 1.0,
        };
        Self {
            tiers: vec![SrTier { upscaler, info }],
            controller: None,
            period: Period::new(),
        }
    }

    /// Switching between `tiers` (cheapest first), starting at `start`.
    pub fn switching(tiers: Vec<SrTier>, start: usize) -> Self {
        let infos = tiers.iter().map(|t| t.info.clone()).collect();
        let controller = (tiers.len() > 1).then(|| TierController::new(infos, start));
        Self {
            tiers,
            controller,
            period: Period::new(),
        }
    }

    /// The shipped models at `scale` with a measured gain, cheapest first, each loaded on
    /// `device`, starting at `start_name` (which must be one of them).
    pub fn shipped(start_name: &str, scale: u32, device: &ComputeDevice) -> Result<Self, SrError> {
        let registry = ModelRegistry::discover();
        let ladder = registry.tier_ladder(scale);
        if !ladder.iter().any(|e| e.name == start_name) {
            let model = load_model(start_name, scale, device)?;
            return Ok(Self::fixed(Upscaler::new(model, device.clone())));
        }
        let mut tiers = Vec::new();
        for entry in ladder {
            let (Some(card), ModelSource::Files { card: path, .. }) = (&entry.card, &entry.source)
            else {
                continue; // the ladder holds model files with cards only
            };
            // by its card's path: the registry was read once above
            let model = load_model(&path.to_string_lossy(), scale, device)?;
            tiers.push(SrTier {
                upscaler: Upscaler::new(model, device.clone()),
                info: TierInfo {
                    name: entry.name.clone(),
                    gain_db: card.gain_db().unwrap_or(0.0),
                    cost: card.gflops_960x540.max(0.1),
                },
            });
        }
        let start = tiers
            .iter()
            .position(|t| t.info.name == start_name)
            .unwrap_or(0);
        Ok(Self::switching(tiers, start))
    }

    pub fn current(&self) -> &Upscaler {
        let i = self.controller.as_ref().map_or(0, TierController::current);
        &self.tiers[i].upscaler
    }

    /// Whether the session may change model while streaming.
    pub fn switches(&self) -> bool {
        self.controller.is_some()
    }

    /// Run every model once on a frame of `width`x`height` so the first live frame of each
    /// does not pay libtorch's one-time setup.
    pub fn warm_up(&self, width: u32, height: u32) {
        if !self.switches() {
            return;
        }
        let frame = crate::frame::YuvFrame::filled(
            width,
            height,
            128,
            128,
            128,
            crate::frame::ColorInfo::default_for_height(height),
        );
        for tier in &self.tiers {
            let _ = tier.upscaler.upscale(&frame);
        }
    }

    /// A super-resolved frame: its whole SR time and the model's part of it.
    pub fn on_super_resolved(&mut self, took: Duration, model_time: Duration) {
        self.period.sr_ms.push(took.as_secs_f64() * 1e3);
        self.period.model_ms.push(model_time.as_secs_f64() * 1e3);
    }

    pub fn on_filled(&mut self) {
        self.period.filled += 1;
    }

    /// At most once a period: the switch to make before the next frame, if any (the ladder
    /// has already switched when it returns one).
    pub fn tick(&mut self, frame_interval: Duration) -> Option<TierDecision> {
        let controller = self.controller.as_mut()?;
        if self.period.started.elapsed() < CONTROL_PERIOD {
            return None;
        }
        let period = std::mem::replace(&mut self.period, Period::new());
        let super_resolved = period.sr_ms.len() as u64;
        let p50 = |ms: Vec<f64>| {
            Duration::from_secs_f64(
                crate::pipeline::live::metrics::percentiles(ms)
                    .p50_ms
                    .max(0.0)
                    / 1e3,
            )
        };
        controller.decide(&TierObservations {
            sr_p50: p50(period.sr_ms),
            model_p50: p50(period.model_ms),
            super_resolved,
            filled: period.filled,
            frame_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> TierController {
        let tier = |name: &str, gain_db, cost| TierInfo {
            name: name.into(),
            gain_db,
            cost,
        };
        TierController::new(
            vec![
                tier("nano", 0.8, 9.5),
                tier("tiny", 1.1, 42.0),
                tier("sl", 1.14, 352.0),
            ],
            1,
        )
    }

    fn period(sr_ms: u64) -> TierObservations {
        let interval = Duration::from_millis(33);
        let t = Duration::from_millis(sr_ms);
        let sr = (60.0 * share(t, interval)).round() as u64;
        TierObservations {
            sr_p50: t,
            model_p50: t,
            super_resolved: sr.max(1),
            filled: 60 - sr.max(1),
            frame_interval: interval,
        }
    }

    /// A slowed SR moves to the cheaper tier after two periods; the ratio measured across the
    /// switch then predicts the dearer tier, and once the machine is fast again (five periods)
    /// it goes back up. The dearest tier is never worth its time here.
    #[test]
    fn slow_sr_steps_down_and_a_fast_one_steps_back_up() {
        let mut c = ladder();
        assert_eq!(c.decide(&period(20)), None, "tiny keeps up: stays");
        assert_eq!(
            c.decide(&period(400)),
            None,
            "one slow period is not enough"
        );
        let down = c.decide(&period(400)).expect("second slow period");
        assert_eq!(down.to, 0);
        assert!(
            down.why.starts_with("tiny took 400 ms a frame"),
            "{}",
            down.why
        );
        assert!(down.why.contains("nano should give"), "{}", down.why);
        // on nano: it measures 200 ms (tiny is 2x nano, not the 4.4x the FLOPs say)
        assert_eq!(c.decide(&period(200)), None);
        assert!((c.tiers()[0].cost / c.tiers()[1].cost - 0.5).abs() < 1e-9);
        // the load goes away: nano takes 10 ms, so tiny should take 20 ms
        for i in 0..4 {
            assert_eq!(c.decide(&period(10)), None, "period {i}");
        }
        let up = c.decide(&period(10)).expect("fifth fast period");
        assert_eq!(up.to, 1);
        assert_eq!(c.current(), 1);
        for _ in 0..10 {
            assert_eq!(
                c.decide(&period(20)),
                None,
                "sl is 8x tiny: never worth it at 33 ms"
            );
        }
    }

    #[test]
    fn an_interrupted_want_starts_counting_again_and_no_sr_means_no_decision() {
        let mut c = ladder();
        assert_eq!(c.decide(&period(400)), None);
        assert_eq!(
            c.decide(&period(20)),
            None,
            "back to fine: the want is forgotten"
        );
        assert_eq!(c.decide(&period(400)), None, "counting again from one");
        let none_measured = TierObservations {
            super_resolved: 0,
            ..period(400)
        };
        assert_eq!(c.decide(&none_measured), None);
        assert_eq!(c.decide(&period(400)).map(|d| d.to), Some(0));
    }

    /// When the frame's work around the model (colour conversion at 4K) is most of the SR
    /// time, a cheaper model saves little: it is not taken, where the same SR time spent all
    /// in the model would take it.
    #[test]
    fn the_work_around_the_model_is_not_scaled_by_a_cheaper_model() {
        let all_model = period(300);
        let mostly_around = TierObservations {
            model_p50: Duration::from_millis(50),
            ..period(300)
        };
        let mut c = ladder();
        assert_eq!(c.decide(&mostly_around), None);
        assert_eq!(
            c.decide(&mostly_around),
            None,
            "nano would take 261 ms: no better"
        );
        let mut c = ladder();
        assert_eq!(c.decide(&all_model), None);
        assert_eq!(
            c.decide(&all_model).map(|d| d.to),
            Some(0),
            "nano would take 68 ms"
        );
    }
}
