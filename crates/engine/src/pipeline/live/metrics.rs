//! Per-session live metrics: rates over the last second, timing percentiles over the last
//! samples, running totals. Stages record into it; the CLI and the GUI read snapshots.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Window for rates (fps, bitrate).
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Timing samples kept for percentiles (a few seconds of 30 fps video).
const TIMING_SAMPLES: usize = 120;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Counters since the session started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub units_received: u64,
    pub bytes_received: u64,
    pub frames_decoded: u64,
    /// Frames super-resolved.
    pub frames_upscaled: u64,
    /// Frames SR had no time for, upscaled cheaply instead (every decoded frame gets an output).
    pub frames_filled: u64,
    /// Frames dropped in front of SR (it could not keep up) or failed in SR.
    pub sr_dropped: u64,
    /// Results replaced in the display slot before the screen took them.
    pub display_dropped: u64,
    pub decode_errors: u64,
    pub patches_received: u64,
    /// HR patches turned away: not asked for, too large, unusable for learning.
    pub patches_refused: u64,
}

/// Live learning (`serve --learn`): what the trainer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AdaptStats {
    /// Patches that became training pairs.
    pub pairs_used: u64,
    /// Patches per second the learner asks the sender for now.
    pub patches_asked_per_s: f64,
    pub train_steps: u64,
    /// Training steps per second lately (the last round, its rest for the duty cycle included).
    pub steps_per_s: f64,
    /// Version of the weights SR runs with: 0 = the generic model.
    pub model_version: u64,
    /// Held-out PSNR-Y of the live weights minus the generic model's, in dB (last assessment).
    pub gain_db: f64,
    /// Scene cuts seen (each sends SR back to the generic weights and learning starts over).
    pub scene_cuts: u64,
}

/// One reading of a session, for a metrics line or a GUI panel.
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    pub id: u64,
    pub label: String,
    pub model: String,
    pub device: String,
    pub elapsed: Duration,
    pub input_fps: f64,
    /// Output frames per second, super-resolved or filled.
    pub output_fps: f64,
    /// Super-resolved frames per second.
    pub sr_fps: f64,
    pub bitrate_bps: f64,
    pub decode: Percentiles,
    pub sr: Percentiles,
    /// From an access unit's arrival to its SR output being ready.
    pub latency: Percentiles,
    pub sr_queue_depth: usize,
    pub sr_queue_capacity: usize,
    pub record_queue_depth: usize,
    pub input_size: (u32, u32),
    pub output_size: (u32, u32),
    pub totals: Totals,
    /// `Some` when the session learns from the sender's patches.
    pub learning: Option<AdaptStats>,
    /// The last bitrate the rate controller asked the sender for, and why.
    pub bitrate_asked: Option<(u64, String)>,
    /// The last stream size the rate controller asked the sender for, and why.
    pub stream_size_asked: Option<((u16, u16), String)>,
    /// Why SR last switched model (`model` is the one running now), and how many switches.
    pub tier_changed: Option<String>,
    pub tier_switches: u64,
}

impl MetricsSnapshot {
    /// Share of the output frames of the last second that were super-resolved (0..1).
    pub fn sr_share(&self) -> f64 {
        if self.output_fps > 0.0 {
            (self.sr_fps / self.output_fps).min(1.0)
        } else {
            0.0
        }
    }
}

struct State {
    started: Instant,
    totals: Totals,
    received: VecDeque<(Instant, usize)>,
    decoded: VecDeque<Instant>,
    upscaled: VecDeque<Instant>,
    /// Every output frame (super-resolved or filled).
    output: VecDeque<Instant>,
    decode_ms: VecDeque<f64>,
    sr_ms: VecDeque<f64>,
    latency_ms: VecDeque<f64>,
    sr_queue_depth: usize,
    record_queue_depth: usize,
    input_size: (u32, u32),
    output_size: (u32, u32),
    learning: Option<AdaptStats>,
    bitrate_asked: Option<(u64, String)>,
    stream_size_asked: Option<((u16, u16), String)>,
    /// The model SR switched to (`None`: the session's first), why, and how many switches.
    tier: Option<(String, String)>,
    tier_switches: u64,
}

pub struct SessionMetrics {
    id: u64,
    label: String,
    model: String,
    device: String,
    sr_queue_capacity: usize,
    state: Mutex<State>,
}

fn push_sample(samples: &mut VecDeque<f64>, value: f64) {
    if samples.len() == TIMING_SAMPLES {
        samples.pop_front();
    }
    samples.push_back(value);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentiles of the samples (zeros when there are none).
pub fn percentiles(samples: impl IntoIterator<Item = f64>) -> Percentiles {
    let mut sorted: Vec<f64> = samples.into_iter().collect();
    if sorted.is_empty() {
        return Percentiles::default();
    }
    sorted.sort_by(f64::total_cmp);
    let rank =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    Percentiles {
        p50_ms: rank(0.50),
        p95_ms: rank(0.95),
    }
}

impl SessionMetrics {
    pub fn new(id: u64, label: String, model: String, device: String, sr_queue: usize) -> Self {
        Self {
            id,
            label,
            model,
            device,
            sr_queue_capacity: sr_queue,
            state: Mutex::new(State {
                started: Instant::now(),
                totals: Totals::default(),
                received: VecDeque::new(),
                decoded: VecDeque::new(),
                upscaled: VecDeque::new(),
                output: VecDeque::new(),
                decode_ms: VecDeque::new(),
                sr_ms: VecDeque::new(),
                latency_ms: VecDeque::new(),
                sr_queue_depth: 0,
                record_queue_depth: 0,
                input_size: (0, 0),
                output_size: (0, 0),
                learning: None,
                bitrate_asked: None,
                stream_size_asked: None,
                tier: None,
                tier_switches: 0,
            }),
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The state, with the rate windows cut to the last `RATE_WINDOW`: every recording goes
    /// through here, so the windows stay bounded even when nobody reads a snapshot.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        prune_rate_windows(&mut state, Instant::now());
        f(&mut state)
    }

    pub fn on_unit_received(&self, bytes: usize) {
        self.with(|s| {
            s.totals.units_received += 1;
            s.totals.bytes_received += bytes as u64;
            s.received.push_back((Instant::now(), bytes));
        });
    }

    pub fn on_decoded(&self, took: Duration, size: (u32, u32)) {
        self.with(|s| {
            s.totals.frames_decoded += 1;
            s.decoded.push_back(Instant::now());
            push_sample(&mut s.decode_ms, ms(took));
            s.input_size = size;
        });
    }

    pub fn on_upscaled(&self, took: Duration, latency: Duration, size: (u32, u32)) {
        self.with(|s| {
            s.totals.frames_upscaled += 1;
            s.upscaled.push_back(Instant::now());
            s.output.push_back(Instant::now());
            push_sample(&mut s.sr_ms, ms(took));
            push_sample(&mut s.latency_ms, ms(latency));
            s.output_size = size;
        });
    }

    /// A frame SR had no time for, output cheaply; `latency` from arrival to that output.
    pub fn on_filled(&self, latency: Duration) {
        self.with(|s| {
            s.totals.frames_filled += 1;
            s.output.push_back(Instant::now());
            push_sample(&mut s.latency_ms, ms(latency));
        });
    }

    /// The rate controller asked the sender for `bits_per_second`, for the reason `why`.
    pub fn on_bitrate_asked(&self, bits_per_second: u64, why: String) {
        self.with(|s| s.bitrate_asked = Some((bits_per_second, why)));
    }

    pub fn on_stream_size_asked(&self, size: (u16, u16), why: String) {
        self.with(|s| s.stream_size_asked = Some((size, why)));
    }

    /// SR runs `model` from now on.
    pub fn on_tier_changed(&self, model: String, why: String) {
        self.with(|s| {
            s.tier = Some((model, why));
            s.tier_switches += 1;
        });
    }

    pub fn on_sr_dropped(&self) {
        self.with(|s| s.totals.sr_dropped += 1);
    }

    pub fn on_decode_errors(&self, count: u64) {
        self.with(|s| s.totals.decode_errors += count);
    }

    pub fn on_patch(&self) {
        self.with(|s| s.totals.patches_received += 1);
    }

    pub fn on_patch_refused(&self) {
        self.with(|s| s.totals.patches_refused += 1);
    }

    pub fn set_display_dropped(&self, count: u64) {
        self.with(|s| s.totals.display_dropped = count);
    }

    pub fn set_sr_queue_depth(&self, depth: usize) {
        self.with(|s| s.sr_queue_depth = depth);
    }

    pub fn set_record_queue_depth(&self, depth: usize) {
        self.with(|s| s.record_queue_depth = depth);
    }

    /// Change the learning figures (turning learning on for the session).
    pub fn update_learning(&self, f: impl FnOnce(&mut AdaptStats)) {
        self.with(|s| f(s.learning.get_or_insert_with(AdaptStats::default)));
    }

    pub fn totals(&self) -> Totals {
        self.with(|s| s.totals)
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        self.with(|s| {
            let now = Instant::now();
            // Early in a session the window is shorter than a second.
            let window = now
                .duration_since(s.started)
                .min(RATE_WINDOW)
                .as_secs_f64()
                .max(1e-3);
            let bytes: usize = s.received.iter().map(|(_, b)| b).sum();
            MetricsSnapshot {
                id: self.id,
                label: self.label.clone(),
                model: s.tier.as_ref().map_or(&self.model, |t| &t.0).clone(),
                device: self.device.clone(),
                elapsed: now.duration_since(s.started),
                input_fps: s.decoded.len() as f64 / window,
                output_fps: s.output.len() as f64 / window,
                sr_fps: s.upscaled.len() as f64 / window,
                bitrate_bps: bytes as f64 * 8.0 / window,
                decode: percentiles(s.decode_ms.iter().copied()),
                sr: percentiles(s.sr_ms.iter().copied()),
                latency: percentiles(s.latency_ms.iter().copied()),
                sr_queue_depth: s.sr_queue_depth,
                sr_queue_capacity: self.sr_queue_capacity,
                record_queue_depth: s.record_queue_depth,
                input_size: s.input_size,
                output_size: s.output_size,
                totals: s.totals,
                learning: s.learning,
                bitrate_asked: s.bitrate_asked.clone(),
                stream_size_asked: s.stream_size_asked.clone(),
                tier_changed: s.tier.as_ref().map(|t| t.1.clone()),
                tier_switches: s.tier_switches,
            }
        })
    }
}

impl fmt::Display for MetricsSnapshot {
    /// One line: `#1 Pixel @ 1.2.3.4:5 | in 30.0 fps out 29.9 fps | decode 1.1 ms | SR 20.3/25.0 ms | latency 40/55 ms | 2.10 Mbit/s | dropped 0 | queue 0/4`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        write!(
            f,
            "#{} {} | {}x{} -> {}x{} | in {:.1} fps, out {:.1} fps (SR {:.0}%) | decode {:.1} ms | SR {:.1}/{:.1} ms p50/p95 | latency {:.0}/{:.0} ms | {:.2} Mbit/s | frames {} in, {} SR + {} filled, dropped {} (display {}) | SR queue {}/{}, record queue {} | errors {}",
            self.id,
            self.label,
            self.input_size.0,
            self.input_size.1,
            self.output_size.0,
            self.output_size.1,
            self.input_fps,
            self.output_fps,
            self.sr_share() * 100.0,
            self.decode.p50_ms,
            self.sr.p50_ms,
            self.sr.p95_ms,
            self.latency.p50_ms,
            self.latency.p95_ms,
            self.bitrate_bps / 1e6,
            t.frames_decoded,
            t.frames_upscaled,
            t.frames_filled,
            t.sr_dropped,
            t.display_dropped,
            self.sr_queue_depth,
            self.sr_queue_capacity,
            self.record_queue_depth,
            t.decode_errors,
        )?;
        if let Some(why) = &self.tier_changed {
            write!(
                f,
                " | model {} (switch {}): {why}",
                self.model, self.tier_switches
            )?;
        }
        if let Some((bps, why)) = &self.bitrate_asked {
            write!(f, " | asked {:.2} Mbit/s: {why}", *bps as f64 / 1e6)?;
        }
        if let Some(((w, h), why)) = &self.stream_size_asked {
            write!(f, " | asked {w}x{h}: {why}")?;
        }
        if let Some(l) = &self.learning {
            write!(
                f,
                " | learning: model v{} {:+.2} dB vs generic on held-out patches, {} steps, {} pairs, {} patches refused, asking {:.0}/s",
                l.model_version, l.gain_db, l.train_steps, l.pairs_used, self.totals.patches_refused, l.patches_asked_per_s
            )?;
        }
        Ok(())
    }
}

/// Drop the arrivals older than `RATE_WINDOW` (the fps and bitrate figures cover that window).
fn prune_rate_windows(s: &mut State, now: Instant) {
    let cutoff = now.checked_sub(RATE_WINDOW).unwrap_or(s.started);
    while s.received.front().is_some_and(|(t, _)| *t < cutoff) {
        s.received.pop_front();
    }
    for times in [&mut s.decoded, &mut s.upscaled, &mut s.output] {
        while times.front().is_some_and(|t| *t < cutoff) {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=100).map(f64::from));
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p95_ms, 95.0);
        assert_eq!(percentiles([]), Percentiles::default());
        assert_eq!(percentiles([7.0]).p95_ms, 7.0);
    }

    #[test]
    fn snapshot_counts_and_rates() {
        let m = SessionMetrics::new(1, "peer".into(), "bicubic".into(), "cpu".into(), 4);
        for _ in 0..10 {
            m.on_unit_received(1000);
            m.on_decoded(Duration::from_millis(2), (8, 8));
        }
        m.on_upscaled(Duration::from_millis(5), Duration::from_millis(9), (32, 32));
        m.on_sr_dropped();
        let s = m.snapshot();
        assert_eq!(s.totals.units_received, 10);
        assert_eq!(s.totals.frames_upscaled, 1);
        assert_eq!(s.totals.sr_dropped, 1);
        assert!(
            s.input_fps >= 10.0,
            "10 frames inside a window of at most 1 s"
        );
        assert_eq!(s.sr.p50_ms, 5.0);
        assert_eq!(s.latency.p95_ms, 9.0);
        assert!(s.to_string().contains("8x8 -> 32x32"), "{s}");
    }
}
