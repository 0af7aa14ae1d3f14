//! A live session's rate controller: every frame still gets an output (the SR stage fills what
//! it has no time for, and `tiers` picks the model), but when the stream itself is more than
//! the desktop or the link can take, the sender is asked for less: a smaller picture when the
//! decoder lags (decoding time follows the pixel count, not the bits), fewer bits when frames
//! arrive late or pile up in front of SR, and back up after a calm spell, picture size first.
//! STRONGLIVE adapts the stream to what the desktop can take in the same spirit.
//!
//! Pure: fed with a window's observations, it answers with a decision; the decode stage owns
//! one and carries its requests out.

use std::time::Duration;

/// How often the controller looks at a window of observations.
pub const CONTROL_PERIOD: Duration = Duration::from_secs(2);
/// Calm windows before asking for more again (10 s).
const CALM_WINDOWS_TO_RAISE: u32 = 5;
/// Each step down keeps this share of the bitrate; each step up multiplies by 1/0.8.
const STEP_DOWN: f64 = 0.7;
const STEP_UP: f64 = 1.25;
/// Each step down of the picture keeps this share of each side (about half the pixels
/// after two steps); a step up undoes one.
const SIZE_STEP: f64 = 0.75;
/// Never ask for less than this (a phone's H.264 below it is mush).
pub const MIN_BITRATE: u64 = 250_000;
/// Never ask for a picture with fewer pixels than 320x180.
const MIN_PIXELS: u64 = 320 * 180;

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
    /// Frames that arrived during the period, and the period's length (late frames: the link
    /// carries less than the stream).
    pub frames_arrived: u64,
    pub period: Duration,
}

/// Why the controller asked for fewer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strain {
    FramesDropped,
    DecoderSlow,
    UnitsWaiting,
    SrBacklog,
    FramesLate,
}

impl Strain {
    /// The decoder's own lag, which a smaller picture cures; the rest want fewer bits.
    fn wants_smaller_picture(self) -> bool {
        matches!(self, Strain::DecoderSlow | Strain::UnitsWaiting)
    }
}

impl std::fmt::Display for Strain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strain::FramesDropped => "frames dropped in front of SR",
            Strain::DecoderSlow => "decoding slower than the stream",
            Strain::UnitsWaiting => "units waiting for the decoder",
            Strain::SrBacklog => "SR queue nearly full",
            Strain::FramesLate => "frames arriving slower than the stream's rate",
        })
    }
}

/// What to ask the sender for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Bitrate(u64),
    /// Pictures no larger than this (even sides).
    StreamSize(u16, u16),
}

/// A request for the sender, with the reason shown in the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct RateDecision {
    pub ask: Ask,
    pub why: String,
}

#[derive(Debug)]
pub struct RateController {
    /// What the sender said it streams at (the ceiling when asking back up).
    configured: u64,
    target: u64,
    /// The stream's size when the session started (the ceiling for the picture; (0, 0) when
    /// unknown: the picture is then never steered).
    configured_size: (u32, u32),
    /// Steps down from the configured size (each side times `SIZE_STEP` per step).
    size_steps: i32,
    calm_windows: u32,
}

/// `size` with each side times `factor`, even, keeping the aspect ratio; factor 1 gives the
/// size back exactly (the configured size may be odd).
fn scaled_size((w, h): (u32, u32), factor: f64) -> (u32, u32) {
    if factor == 1.0 {
        return (w, h);
    }
    let even = |v: u32| (f64::from(v) * factor / 2.0).round() as u32 * 2;
    (even(w), even(h))
}

impl RateController {
    pub fn new(configured_bitrate: u64, configured_size: (u32, u32)) -> Self {
        Self {
            configured: configured_bitrate,
            target: configured_bitrate,
            configured_size,
            size_steps: 0,
            calm_windows: 0,
        }
    }

    /// The bitrate asked for now (the configured one until something was asked).
    pub fn target(&self) -> u64 {
        self.target
    }

    /// The picture size asked for now (the configured one until something was asked).
    pub fn target_size(&self) -> (u32, u32) {
        self.size_at(self.size_steps)
    }

    fn size_at(&self, steps: i32) -> (u32, u32) {
        scaled_size(self.configured_size, SIZE_STEP.powi(steps))
    }

    fn size_ask(&mut self, steps: i32, why: String) -> Option<RateDecision> {
        self.size_steps = steps;
        let size = self.size_at(steps);
        let side = |v: u32| u16::try_from(v).unwrap_or(u16::MAX - 1);
        Some(RateDecision {
            ask: Ask::StreamSize(side(size.0), side(size.1)),
            why,
        })
    }

    /// A smaller picture, unless it is already at the floor.
    fn smaller_picture(&mut self, why: String) -> Option<RateDecision> {
        let smaller = self.size_at(self.size_steps + 1);
        if self.configured_size.0 == 0 || u64::from(smaller.0) * u64::from(smaller.1) < MIN_PIXELS {
            return None;
        }
        self.size_ask(self.size_steps + 1, why)
    }

    fn fewer_bits(&mut self, why: String) -> Option<RateDecision> {
        let lower = ((self.target as f64 * STEP_DOWN).round() as u64).max(MIN_BITRATE);
        if self.configured == 0 || lower >= self.target {
            return None;
        }
        self.target = lower;
        Some(RateDecision {
            ask: Ask::Bitrate(lower),
            why,
        })
    }

    /// After a calm spell: the picture back up a step first (it costs the most quality),
    /// then the bits.
    fn raise(&mut self) -> Option<RateDecision> {
        let why = || "calm for 10 s".to_string();
        if self.size_steps > 0 {
            return self.size_ask(self.size_steps - 1, why());
        }
        if self.target < self.configured {
            self.target = ((self.target as f64 * STEP_UP).round() as u64).min(self.configured);
            return Some(RateDecision {
                ask: Ask::Bitrate(self.target),
                why: why(),
            });
        }
        None
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
        } else if !o.frame_interval.is_zero()
            && !o.period.is_zero()
            && (o.frames_arrived as f64)
                < 0.8 * o.period.as_secs_f64() / o.frame_interval.as_secs_f64()
        {
            Some(Strain::FramesLate)
        } else {
            None
        }
    }

    /// One control period's decision: `Some` when the sender should be asked for another
    /// bitrate or picture size. A decoder that lags is asked for a smaller picture first
    /// (fewer bits when the picture is at its floor); the other strains for fewer bits.
    pub fn decide(&mut self, o: &Observations) -> Option<RateDecision> {
        if let Some(strain) = Self::strain(o) {
            self.calm_windows = 0;
            let why = strain.to_string();
            if strain.wants_smaller_picture() {
                if let Some(decision) = self.smaller_picture(why.clone()) {
                    return Some(decision);
                }
            }
            return self.fewer_bits(why);
        }
        self.calm_windows += 1;
        if self.calm_windows < CALM_WINDOWS_TO_RAISE {
            return None;
        }
        let raised = self.raise();
        if raised.is_some() {
            self.calm_windows = 0;
        }
        raised
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
    frames: u64,
}

impl ControlLoop {
    pub(crate) fn new(configured_bitrate: u64, configured_size: (u32, u32)) -> Self {
        Self {
            controller: RateController::new(configured_bitrate, configured_size),
            period_start: std::time::Instant::now(),
            decode_ms: Vec::new(),
            wait_ms: Vec::new(),
            dropped: 0,
            frames: 0,
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

    pub(crate) fn on_frame(&mut self) {
        self.frames += 1;
    }

    /// At most once a period: the decision, if any (the caller sends it and shows it).
    pub(crate) fn tick(
        &mut self,
        frame_interval: Duration,
        sr_backlog: usize,
        sr_capacity: usize,
    ) -> Option<RateDecision> {
        let period = self.period_start.elapsed();
        if period < CONTROL_PERIOD {
            return None;
        }
        let median = |v: &mut Vec<f64>| {
            let p = crate::pipeline::live::metrics::percentiles(v.drain(..)).p50_ms;
            Duration::from_secs_f64(p / 1e3)
        };
        let observations = Observations {
            frames_dropped: std::mem::take(&mut self.dropped),
            decode_p50: median(&mut self.decode_ms),
            frame_interval,
            unit_wait_p50: median(&mut self.wait_ms),
            sr_backlog,
            sr_capacity,
            frames_arrived: std::mem::take(&mut self.frames),
            period,
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
        let mut c = RateController::new(4_000_000, (0, 0));
        assert_eq!(c.decide(&calm()), None);
        let slow_decoder = Observations {
            decode_p50: Duration::from_millis(40),
            ..calm()
        };
        let first = c.decide(&slow_decoder).unwrap();
        assert_eq!(first.ask, Ask::Bitrate(2_800_000));
        assert_eq!(first.why, "decoding slower than the stream");
        let dropped = Observations {
            frames_dropped: 3,
            ..calm()
        };
        assert_eq!(c.decide(&dropped).unwrap().ask, Ask::Bitrate(1_960_000));
        for _ in 0..20 {
            c.decide(&dropped);
        }
        assert_eq!(c.target(), MIN_BITRATE);
        assert_eq!(c.decide(&dropped), None, "nothing new to ask at the floor");

        let mut raises = Vec::new();
        for _ in 0..200 {
            if let Some(d) = c.decide(&calm()) {
                let Ask::Bitrate(bps) = d.ask else {
                    panic!("a stream of unknown size is never asked for another size")
                };
                raises.push(bps);
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
            assert_eq!(
                RateController::new(1_000_000, (0, 0))
                    .decide(&o)
                    .unwrap()
                    .why,
                why
            );
        }
        let dropped = Observations {
            frames_dropped: 1,
            ..calm()
        };
        assert_eq!(RateController::new(0, (0, 0)).decide(&dropped), None);
        let late = Observations {
            frames_arrived: 40,
            period: Duration::from_secs(2),
            ..calm()
        };
        assert_eq!(
            RateController::new(1_000_000, (640, 360))
                .decide(&late)
                .unwrap(),
            RateDecision {
                ask: Ask::Bitrate(700_000),
                why: "frames arriving slower than the stream's rate".into()
            },
            "40 of 60 frames in 2 s: the link, not the decoder"
        );
    }

    /// A decoder slower than the stream gets a smaller picture step by step down to 320x180
    /// (then fewer bits), and after calm spells the picture comes back to its first size
    /// before the bits do.
    #[test]
    fn a_lagging_decoder_asks_for_a_smaller_picture_and_calm_brings_it_back() {
        let mut c = RateController::new(4_000_000, (1280, 720));
        let slow_decoder = Observations {
            decode_p50: Duration::from_millis(40),
            ..calm()
        };
        let mut asked = Vec::new();
        for _ in 0..5 {
            asked.push(c.decide(&slow_decoder).unwrap().ask);
        }
        assert_eq!(
            asked,
            [
                Ask::StreamSize(960, 540),
                Ask::StreamSize(720, 406),
                Ask::StreamSize(540, 304),
                Ask::StreamSize(406, 228),
                Ask::Bitrate(2_800_000),
            ],
            "at 406x228 a further step would be under 320x180 pixels"
        );
        let mut raised = Vec::new();
        for _ in 0..100 {
            if let Some(d) = c.decide(&calm()) {
                assert_eq!(d.why, "calm for 10 s");
                raised.push(d.ask);
            }
        }
        assert_eq!(
            raised,
            [
                Ask::StreamSize(540, 304),
                Ask::StreamSize(720, 406),
                Ask::StreamSize(960, 540),
                Ask::StreamSize(1280, 720),
                Ask::Bitrate(3_500_000),
                Ask::Bitrate(4_000_000),
            ]
        );
        assert_eq!((c.target_size(), c.target()), ((1280, 720), 4_000_000));
    }
}
