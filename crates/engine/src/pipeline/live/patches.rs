//! What a session asks of its sender and which HR patches it lets in.
//!
//! The session decides how many full-resolution patches it wants (`PatchRequest` on the wire:
//! "this many more", replacing what was asked before) and turns away what it did not ask for:
//! a patch beyond the outstanding request, or larger than the side asked for, is refused and
//! counted, so a sender can neither fill the disk with saved patches nor the learner's queue.
//! While learning, [`PatchRate`] asks for more while the held-out gain is still rising and for
//! a trickle once it has levelled off (enough to notice a scene change).

use std::sync::Mutex;
use std::time::Duration;

use super::port::{HrPatch, SenderControl, SenderRequest};
use crate::sr::adapt::PatchRefusal;

/// Which patches a session wants: their side, and how many at the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchAsk {
    pub count: u16,
    pub size: u16,
}

/// Side of the square patches a learning session asks for unless told otherwise (HR pixels):
/// 24 LR pixels, the fine-tuner's crop.
pub const DEFAULT_PATCH_SIDE: u16 = 96;

/// Patches already on the wire when a request is replaced are still let in, up to this many
/// (one second at the reference sender's highest rate).
const IN_FLIGHT_GRACE: u32 = 5;

/// Why a patch was turned away (counted in the session's totals, logged at debug level).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchRefused {
    #[error("not asked for (no patch request outstanding)")]
    NotAsked,
    #[error("{w}x{h} is larger than the {asked}x{asked} asked for")]
    LargerThanAsked { w: u16, h: u16, asked: u16 },
    #[error("no recent frame has pts {pts_us} us (newest {newest_us:?})")]
    UnknownFrame { pts_us: i64, newest_us: Option<i64> },
    #[error("the learner is behind")]
    LearnerBehind,
    #[error(transparent)]
    Unpaired(#[from] PatchRefusal),
}

struct Budget {
    /// The sender is streaming (requests before that are kept until it does).
    streaming: bool,
    /// The request the sender holds (or will once streaming): how many more it may send.
    asked: u16,
    remaining: u32,
    grace: u32,
}

/// The session's patch desk: sends requests and admits what was asked for.
pub struct PatchDesk {
    control: SenderControl,
    size: u16,
    budget: Mutex<Budget>,
}

impl PatchDesk {
    pub fn new(control: SenderControl, ask: PatchAsk) -> Self {
        Self {
            control,
            size: ask.size,
            budget: Mutex::new(Budget {
                streaming: false,
                asked: ask.count,
                remaining: u32::from(ask.count),
                grace: 0,
            }),
        }
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream has started (its first config): the sender can now be asked.
    pub fn stream_started(&self) {
        let count = {
            let mut b = self.budget();
            if b.streaming {
                return;
            }
            b.streaming = true;
            b.asked
        };
        if count > 0 {
            (self.control)(SenderRequest::Patches {
                count,
                size: self.size,
            });
        }
    }

    /// Ask for `count` more patches, replacing the outstanding request (nothing is sent when
    /// the sender holds the same request untouched).
    pub fn ask(&self, count: u16) {
        let send = {
            let mut b = self.budget();
            if b.asked == count && b.remaining == u32::from(count) {
                return;
            }
            // What the sender may already have sent of the old request is let in too.
            b.grace = (b.remaining + b.grace).min(IN_FLIGHT_GRACE);
            b.asked = count;
            b.remaining = u32::from(count);
            b.streaming
        };
        if send {
            (self.control)(SenderRequest::Patches {
                count,
                size: self.size,
            });
        }
    }

    /// Let a patch in when it was asked for; each admitted patch uses up one of the request.
    pub fn admit(&self, patch: &HrPatch) -> Result<(), PatchRefused> {
        if patch.width > self.size || patch.height > self.size {
            return Err(PatchRefused::LargerThanAsked {
                w: patch.width,
                h: patch.height,
                asked: self.size,
            });
        }
        let mut b = self.budget();
        if b.remaining > 0 {
            b.remaining -= 1;
        } else if b.grace > 0 {
            b.grace -= 1;
        } else {
            return Err(PatchRefused::NotAsked);
        }
        Ok(())
    }
}

/// How many patches a learning session asks for, from how its held-out gain moves.
pub struct PatchRate {
    /// (seconds since the start, held-out gain in dB) after each assessment.
    history: Vec<(f64, f64)>,
}

/// The learner re-plans this often (and asks for one period's worth of patches).
pub const PATCH_PLAN_PERIOD: Duration = Duration::from_secs(2);
/// Patches per second while there are few pairs or the gain still rises (the reference
/// sender's ceiling).
pub const EAGER_PATCHES_PER_S: f64 = 5.0;
/// Patches per second once the gain has levelled off: fresh held-out pairs to notice a scene
/// change with.
pub const TRICKLE_PATCHES_PER_S: f64 = 1.0;
/// The gain counts as rising when it grew by this much over [`RISE_WINDOW_S`].
const RISE_DB: f64 = 0.05;
const RISE_WINDOW_S: f64 = 10.0;
/// Pairs below which the learner always asks eagerly.
const EAGER_BELOW_PAIRS: u64 = 40;

impl Default for PatchRate {
    fn default() -> Self {
        Self::new()
    }
}

impl PatchRate {
    pub fn new() -> Self {
        Self {
            history: Vec::new(),
        }
    }

    /// Note an assessment's held-out gain at `at_s` seconds.
    pub fn note_gain(&mut self, at_s: f64, gain_db: f64) {
        self.history.push((at_s, gain_db));
        // Only the rise window matters; keep the history bounded.
        let keep_from = at_s - RISE_WINDOW_S * 2.0;
        self.history.retain(|&(t, _)| t >= keep_from);
    }

    /// A scene change: what was learned is gone, so the gain history is too.
    pub fn restart(&mut self) {
        self.history.clear();
    }

    /// Patches per second wanted now, with `pairs` pairs in hand at `now_s` seconds.
    pub fn per_second(&self, now_s: f64, pairs: u64) -> f64 {
        if pairs < EAGER_BELOW_PAIRS || self.rising(now_s) {
            EAGER_PATCHES_PER_S
        } else {
            TRICKLE_PATCHES_PER_S
        }
    }

    /// Rising: the newest gain beats the best one from at least a window ago by [`RISE_DB`],
    /// or there is not a window of history yet.
    fn rising(&self, now_s: f64) -> bool {
        let Some(&(_, newest)) = self.history.last() else {
            return true;
        };
        let old: Vec<f64> = self
            .history
            .iter()
            .filter(|&&(t, _)| t <= now_s - RISE_WINDOW_S)
            .map(|&(_, g)| g)
            .collect();
        if old.is_empty() {
            return true;
        }
        newest > old.iter().copied().fold(f64::MIN, f64::max) + RISE_DB
    }

    /// The request for the next period at `per_second`.
    pub fn count_for_period(per_second: f64) -> u16 {
        (per_second * PATCH_PLAN_PERIOD.as_secs_f64()).round() as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn patch(side: u16) -> HrPatch {
        HrPatch {
            frame_pts_us: 0,
            x: 0,
            y: 0,
            width: side,
            height: side,
            extension: "png",
            data: Vec::new(),
        }
    }

    fn desk() -> (PatchDesk, Arc<Mutex<Vec<SenderRequest>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&sent);
        let control: SenderControl = Arc::new(move |r| log.lock().unwrap().push(r));
        (
            PatchDesk::new(control, PatchAsk { count: 3, size: 96 }),
            sent,
        )
    }

    #[test]
    fn the_first_request_waits_for_the_stream_and_caps_what_is_let_in() {
        let (desk, sent) = desk();
        assert!(sent.lock().unwrap().is_empty(), "asked before streaming");
        desk.stream_started();
        desk.stream_started();
        assert_eq!(
            *sent.lock().unwrap(),
            vec![SenderRequest::Patches { count: 3, size: 96 }]
        );
        for _ in 0..3 {
            desk.admit(&patch(96)).unwrap();
        }
        assert_eq!(desk.admit(&patch(96)), Err(PatchRefused::NotAsked));
        assert_eq!(
            desk.admit(&patch(128)),
            Err(PatchRefused::LargerThanAsked {
                w: 128,
                h: 128,
                asked: 96
            })
        );
    }

    #[test]
    fn a_new_request_replaces_the_old_one_with_a_small_grace_for_patches_in_flight() {
        let (desk, sent) = desk();
        desk.stream_started();
        desk.ask(0);
        let admitted = (0..10).filter(|_| desk.admit(&patch(64)).is_ok()).count();
        assert_eq!(admitted, 3, "in flight: at most what was still asked for");
        desk.ask(2);
        desk.ask(2);
        assert_eq!(
            sent.lock().unwrap().len(),
            3,
            "an unchanged request is not re-sent"
        );
        let admitted = (0..20).filter(|_| desk.admit(&patch(64)).is_ok()).count();
        assert_eq!(admitted, 2, "nothing was left in flight");
        desk.ask(20);
        desk.ask(1);
        let admitted = (0..40).filter(|_| desk.admit(&patch(64)).is_ok()).count();
        assert_eq!(admitted, 1 + IN_FLIGHT_GRACE as usize);
    }

    #[test]
    fn the_rate_is_eager_while_the_gain_rises_and_trickles_once_it_levels_off() {
        let mut rate = PatchRate::new();
        assert_eq!(rate.per_second(0.0, 0), EAGER_PATCHES_PER_S);
        for t in 0..30 {
            rate.note_gain(f64::from(t), f64::from(t) * 0.02);
        }
        assert_eq!(rate.per_second(30.0, 100), EAGER_PATCHES_PER_S, "rising");
        for t in 30..60 {
            rate.note_gain(f64::from(t), 0.6);
        }
        assert_eq!(rate.per_second(60.0, 100), TRICKLE_PATCHES_PER_S, "flat");
        assert_eq!(rate.per_second(60.0, 10), EAGER_PATCHES_PER_S, "few pairs");
        rate.restart();
        assert_eq!(
            rate.per_second(61.0, 100),
            EAGER_PATCHES_PER_S,
            "scene change"
        );
        assert_eq!(PatchRate::count_for_period(EAGER_PATCHES_PER_S), 10);
        assert!(rate.history.len() <= 1);
    }
}
