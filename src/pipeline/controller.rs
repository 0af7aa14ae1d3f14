//! A live session's rate controller: every frame still gets an output (the SR stage fills what
//! it has no time for), but when even that falls behind — frames dropped in front of SR, the
//! decoder slower than the stream, units waiting long for the decoder — the sender is asked for
//! fewer bits (`TargetBitrate`), and asked back up after a calm spell. STRONGLIVE adapts the
//! stream to what the desktop can take in the same spirit; this is its bitrate half (the SR
//! share is chosen frame by frame in `upscaling`).
//!
//! Pure: fed with a window's observations, it answers with a decision; the decode stage owns
//! one and carries its requests out.

use std::time::Duration;

/// How often the controller looks at a window of observations.
pub const CONTROL_PERIOD: Duration = Duration::from_secs(2);
/// Calm windows before asking for more bits again (10 s).
const CALM_WINDOWS_TO_RAISE: u32 = 5;
/// Each step down keeps this share of the bitrate; each step up multiplies by 1/0.8.
const STEP_DOWN: f64 = 0.7;
const STEP_UP: f64 = 1.25;
/// Never ask for less than this (a phone's H.264 below it is mush).
pub const MIN_BITRATE: u64 = 250_000;

/// What one control period saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observations {
    /// Frames dropped in front of SR during the period (even filling fell behind).
    pub frames_dropped: u64,
    /// Median decode time and the stream's frame interval.
    pub decode_p50: Duration,
    pub frame_interval: Duration,
    /// Median time units waited between arrival and decoding.
    pub unit_wait_p50: Duration,
    /// Frames waiting for SR now, and the queue's capacity.
    pub sr_backlog: usize,
    pub sr_capacity: usize,
}

/// Why the controller asked for fewer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strain {
    FramesDropped,
    DecoderSlow,
    UnitsWaiting,
    SrBacklog,
}

impl std::fmt::Display for Strain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strain::FramesDropped => "frames dropped in front of SR",
            Strain::DecoderSlow => "decoding slower than the stream",
            Strain::UnitsWaiting => "units waiting for the decoder",
            Strain::SrBacklog => "SR queue nearly full",
        })
    }
}

/// A request for the sender, with the reason shown in the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BitrateDecision {
    pub bits_per_second: u64,
    pub why: String,
}

#[derive(Debug)]
pub struct RateController {
    /// What the sender said it streams at (the ceiling when asking back up).
    configured: u64,
    target: u64,
    calm_windows: u32,
}

impl RateController {
    pub fn new(configured_bitrate: u64) -> Self {
        Self {
            configured: configured_bitrate,
            target: configured_bitrate,
            calm_windows: 0,
        }
    }

    /// The bitrate asked for now (the configured one until something was asked).
    pub fn target(&self) -> u64 {
        self.target
    }

    fn strain(o: &Observations) -> Option<Strain> {
        if o.frames_dropped > 0 {
            Some(Strain::FramesDropped)
        } else if !o.frame_interval.is_zero() && o.decode_p50 > o.frame_interval.mul_f64(0.8) {
            Some(Strain::DecoderSlow)
        } else if o.unit_wait_p50 > Duration::from_millis(500) {
            Some(Strain::UnitsWaiting)
        } else if o.sr_capacity > 0 && o.sr_backlog * 4 >= o.sr_capacity * 3 {
            Some(Strain::SrBacklog)
        } else {
            None
        }
    }

    /// One control period's decision: `Some` when the sender should be asked for another rate.
    pub fn decide(&mut self, o: &Observations) -> Option<BitrateDecision> {
        // a sender that did not say its bitrate cannot be steered relative to it
        if self.configured == 0 {
            return None;
        }
        if let Some(strain) = Self::strain(o) {
            self.calm_windows = 0;
            let lower = ((self.target as f64 * STEP_DOWN).round() as u64).max(MIN_BITRATE);
            if lower >= self.target {
                return None;
            }
            self.target = lower;
            return Some(BitrateDecision {
                bits_per_second: lower,
                why: strain.to_string(),
            });
        }
        self.calm_windows += 1;
        if self.target < self.configured && self.calm_windows >= CALM_WINDOWS_TO_RAISE {
            self.calm_windows = 0;
            self.target = ((self.target as f64 * STEP_UP).round() as u64).min(self.configured);
            return Some(BitrateDecision {
                bits_per_second: self.target,
                why: "calm for 10 s".into(),
            });
        }
        None
    }
}

/// The decode stage's side of the controller: gathers a period's observations as frames pass,
/// and at the end of each period decides and asks the sender.
pub(crate) struct ControlLoop {
    controller: RateController,
    period_start: std::time::Instant,
    decode_ms: Vec<f64>,
    wait_ms: Vec<f64>,
    dropped: u64,
}

impl ControlLoop {
    pub(crate) fn new(configured_bitrate: u64) -> Self {
        Self {
            controller: RateController::new(configured_bitrate),
            period_start: std::time::Instant::now(),
            decode_ms: Vec::new(),
            wait_ms: Vec::new(),
            dropped: 0,
        }
    }

    /// A unit decoded: how long decoding took and how long the unit had waited for it.
    pub(crate) fn on_unit(&mut self, decode: Duration, waited: Duration) {
        self.decode_ms.push(decode.as_secs_f64() * 1e3);
        self.wait_ms.push(waited.as_secs_f64() * 1e3);
    }

    pub(crate) fn on_dropped(&mut self) {
        self.dropped += 1;
    }

    /// At most once a period: the decision, if any (the caller sends it and shows it).
    pub(crate) fn tick(
        &mut self,
        frame_interval: Duration,
        sr_backlog: usize,
        sr_capacity: usize,
    ) -> Option<BitrateDecision> {
        if self.period_start.elapsed() < CONTROL_PERIOD {
            return None;
        }
        let median = |v: &mut Vec<f64>| {
            let p = super::metrics::percentiles(v.drain(..)).p50_ms;
            Duration::from_secs_f64(p / 1e3)
        };
        let observations = Observations {
            frames_dropped: std::mem::take(&mut self.dropped),
            decode_p50: median(&mut self.decode_ms),
            frame_interval,
            unit_wait_p50: median(&mut self.wait_ms),
            sr_backlog,
            sr_capacity,
        };
        self.period_start = std::time::Instant::now();
        self.controller.decide(&observations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm() -> Observations {
        Observations {
            frame_interval: Duration::from_millis(33),
            decode_p50: Duration::from_millis(3),
            sr_capacity: 30,
            ..Default::default()
        }
    }

    /// Strain lowers the bitrate step by step (never under the floor), calm raises it back to
    /// the sender's own rate and no further.
    #[test]
    fn lowers_under_strain_and_raises_back_when_calm() {
        let mut c = RateController::new(4_000_000);
        assert_eq!(c.decide(&calm()), None);
        let slow_decoder = Observations {
            decode_p50: Duration::from_millis(40),
            ..calm()
        };
        let first = c.decide(&slow_decoder).unwrap();
        assert_eq!(first.bits_per_second, 2_800_000);
        assert_eq!(first.why, "decoding slower than the stream");
        let dropped = Observations {
            frames_dropped: 3,
            ..calm()
        };
        assert_eq!(c.decide(&dropped).unwrap().bits_per_second, 1_960_000);
        for _ in 0..20 {
            c.decide(&dropped);
        }
        assert_eq!(c.target(), MIN_BITRATE);
        assert_eq!(c.decide(&dropped), None, "nothing new to ask at the floor");

        let mut raises = Vec::new();
        for _ in 0..200 {
            if let Some(d) = c.decide(&calm()) {
                raises.push(d.bits_per_second);
            }
        }
        assert!(raises.windows(2).all(|w| w[0] < w[1]), "{raises:?}");
        assert_eq!(raises.last(), Some(&4_000_000));
        assert_eq!(c.target(), 4_000_000);
        // four calm windows are not enough to raise after a strain
        c.decide(&dropped);
        assert!((0..4).all(|_| c.decide(&calm()).is_none()));
        assert!(c.decide(&calm()).is_some());
    }

    #[test]
    fn each_strain_is_named_and_a_silent_sender_is_left_alone() {
        let cases = [
            (
                Observations {
                    unit_wait_p50: Duration::from_secs(1),
                    ..calm()
                },
                "units waiting for the decoder",
            ),
            (
                Observations {
                    sr_backlog: 25,
                    ..calm()
                },
                "SR queue nearly full",
            ),
        ];
        for (o, why) in cases {
            assert_eq!(RateController::new(1_000_000).decide(&o).unwrap().why, why);
        }
        let dropped = Observations {
            frames_dropped: 1,
            ..calm()
        };
        assert_eq!(RateController::new(0).decide(&dropped), None);
    }
}
