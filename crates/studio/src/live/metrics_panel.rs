//! The Live tab's bottom panel: the stream's figures and 60 s sparklines of fps and timings.

use std::collections::VecDeque;
use std::time::Instant;

use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints};

use super::LiveTab;
use stronglive_engine::pipeline::live::metrics::MetricsSnapshot;

/// Seconds of metrics the sparklines show.
const HISTORY_S: f64 = 60.0;

/// Seconds between two sparkline samples (the window redraws far more often).
const SAMPLE_EVERY_S: f64 = 0.25;

/// One sparkline sample.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t: f64,
    input_fps: f64,
    output_fps: f64,
    sr_ms: f64,
    latency_ms: f64,
    /// Held-out gain of the live weights over the generic model (NaN when not learning).
    gain_db: f64,
}

/// The last [`HISTORY_S`] seconds of samples, timed from the first poll.
#[derive(Default)]
pub(super) struct MetricsHistory {
    samples: VecDeque<Sample>,
    started: Option<Instant>,
}

impl MetricsHistory {
    /// Add `snapshot` if a sample is due, and forget samples older than the sparklines show.
    pub(super) fn record(&mut self, snapshot: Option<&MetricsSnapshot>) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let t = started.elapsed().as_secs_f64();
        if let Some(s) = snapshot {
            if self
                .samples
                .back()
                .is_none_or(|last| t - last.t >= SAMPLE_EVERY_S)
            {
                self.samples.push_back(Sample {
                    t,
                    input_fps: s.input_fps,
                    output_fps: s.output_fps,
                    sr_ms: s.sr.p50_ms,
                    latency_ms: s.latency.p50_ms,
                    gain_db: s.learning.map_or(f64::NAN, |l| l.gain_db),
                });
            }
        }
        while self.samples.front().is_some_and(|s| t - s.t > HISTORY_S) {
            self.samples.pop_front();
        }
    }

    fn series(&self, pick: fn(&Sample) -> f64) -> PlotPoints<'static> {
        self.samples
            .iter()
            .map(|s| [s.t, pick(s)])
            .filter(|[_, v]| v.is_finite())
            .collect()
    }

    fn learning(&self) -> bool {
        self.samples.iter().any(|s| s.gain_db.is_finite())
    }
}

impl LiveTab {
    pub(super) fn metrics_panel(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(430.0);
                match &self.state.snapshot {
                    Some(s) => stream_figures(ui, s),
                    None => {
                        ui.strong("No stream");
                        ui.label(if self.state.engine.is_empty() {
                            "SR engine starting...".to_string()
                        } else {
                            format!("SR: {}", self.state.engine)
                        });
                        ui.weak("Pair a phone, enable a listener, or play the demo clip.");
                    }
                }
            });
            let history = &self.state.history;
            let plots = if history.learning() { 3.0 } else { 2.0 };
            let width = (ui.available_width() / plots - 12.0).clamp(120.0, 260.0);
            for (title, lines) in [
                (
                    "fps (in, out)",
                    [
                        history.series(|s| s.input_fps),
                        history.series(|s| s.output_fps),
                    ],
                ),
                (
                    "ms (SR, latency)",
                    [
                        history.series(|s| s.sr_ms),
                        history.series(|s| s.latency_ms),
                    ],
                ),
            ] {
                sparkline(ui, title, width, lines.into_iter().collect());
            }
            if history.learning() {
                let gain = vec![history.series(|s| s.gain_db)];
                sparkline(ui, "held-out gain dB", width, gain);
            }
        });
    }
}

fn stream_figures(ui: &mut egui::Ui, s: &MetricsSnapshot) {
    ui.strong(&s.label);
    ui.label(format!(
        "{}x{} -> {}x{}   {} on {}",
        s.input_size.0, s.input_size.1, s.output_size.0, s.output_size.1, s.model, s.device
    ));
    ui.label(format!(
        "in {:.1} fps   out {:.1} fps (SR {:.0}%)   {:.2} Mbit/s",
        s.input_fps,
        s.output_fps,
        s.sr_share() * 100.0,
        s.bitrate_bps / 1e6
    ));
    ui.label(format!(
        "SR {:.0}/{:.0} ms (p50/p95)   latency {:.0}/{:.0} ms",
        s.sr.p50_ms, s.sr.p95_ms, s.latency.p50_ms, s.latency.p95_ms
    ));
    ui.label(format!(
        "frames {} in, {} super-resolved + {} filled, {} dropped   queue {}/{}",
        s.totals.frames_decoded,
        s.totals.frames_upscaled,
        s.totals.frames_filled,
        s.totals.sr_dropped + s.totals.display_dropped,
        s.sr_queue_depth,
        s.sr_queue_capacity
    ));
    if let Some(why) = &s.tier_changed {
        ui.label(format!(
            "model switched to {} ({}x): {why}",
            s.model, s.tier_switches
        ));
    }
    if let Some((bps, why)) = &s.bitrate_asked {
        ui.label(format!(
            "asked the sender for {:.2} Mbit/s: {why}",
            *bps as f64 / 1e6
        ));
    }
    if let Some(((w, h), why)) = &s.stream_size_asked {
        ui.label(format!("asked the sender for {w}x{h} pictures: {why}"));
    }
    learning_figures(ui, s);
}

/// Scene learning: on/off, what the learner has and does, and what it gained.
fn learning_figures(ui: &mut egui::Ui, s: &MetricsSnapshot) {
    let Some(l) = &s.learning else {
        ui.weak("learning off");
        return;
    };
    ui.label(format!(
        "adapted {:+.2} dB vs generic on held-out patches (model v{})",
        l.gain_db, l.model_version
    ));
    ui.label(format!(
        "patches {} in, {} used, {} refused   {:.1} steps/s   asking {:.0}/s",
        s.totals.patches_received,
        l.pairs_used,
        s.totals.patches_refused,
        l.steps_per_s,
        l.patches_asked_per_s
    ));
}

/// A small fixed plot of one or two series, titled `title` (also the plot's id).
fn sparkline(ui: &mut egui::Ui, title: &str, width: f32, lines: Vec<PlotPoints<'static>>) {
    ui.vertical(|ui| {
        ui.label(title);
        Plot::new(title)
            .height(110.0)
            .width(width)
            .show_axes([false, true])
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .include_y(0.0)
            .show(ui, |plot| {
                for (i, points) in lines.into_iter().enumerate() {
                    plot.line(Line::new(if i == 0 { "a" } else { "b" }, points));
                }
            });
    });
}
