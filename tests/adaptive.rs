//! A live session that adapts its model tier to how fast SR runs: a real session (H.264 units
//! in, decode, SR stage, fills) whose two tiers are slowed on purpose by a shared "load"
//! factor, as a busy machine slows every model alike.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stronglive_engine::frame::{ColorInfo, YuvFrame};
use stronglive_engine::media::h264::{H264LiveEncoder, RateControl};
use stronglive_engine::media::ingest::StreamDescription;
use stronglive_engine::pipeline::live::metrics::MetricsSnapshot;
use stronglive_engine::pipeline::live::tiers::{SrTier, TierInfo};
use stronglive_engine::pipeline::{
    deaf_sender, IngestItem, LiveSession, LiveSessionConfig, RecordSwitch, SessionOptions,
    TierLadder,
};
use stronglive_engine::sr::baseline::Bicubic;
use stronglive_engine::sr::{ComputeDevice, SrError, SrModel, Tensor, Upscaler};

/// Bicubic after sleeping `base x load` milliseconds.
struct SlowedModel {
    name: &'static str,
    bicubic: Bicubic,
    base_ms: u32,
    load: Arc<AtomicU32>,
}

impl SrModel for SlowedModel {
    fn name(&self) -> &str {
        self.name
    }
    fn scale(&self) -> u32 {
        4
    }
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        let ms = self.base_ms * self.load.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        self.bicubic.forward(rgb)
    }
    fn receptive_margin(&self) -> u32 {
        self.bicubic.receptive_margin()
    }
}

fn tier(name: &'static str, base_ms: u32, gain_db: f64, load: &Arc<AtomicU32>) -> SrTier {
    let device = ComputeDevice::cpu();
    let model = SlowedModel {
        name,
        bicubic: Bicubic::new(4, &device),
        base_ms,
        load: Arc::clone(load),
    };
    SrTier {
        upscaler: Upscaler::new(Box::new(model), device),
        info: TierInfo {
            name: name.into(),
            gain_db,
            // the FLOPs' guess; the session measures the real ratio across its first switch
            cost: f64::from(base_ms),
        },
    }
}

/// 10 fps: a frame interval (100 ms) well above the upscaler's own work per frame (colour
/// conversion, libtorch's dispatch: 10-30 ms on a busy 2-core CI machine), which the
/// controller's cost ratios do not separate from the model's.
const FPS: f64 = 10.0;

/// Streams `seconds` of frames into the session in real time.
fn stream(session: &LiveSession, encoder: &mut H264LiveEncoder, next: &mut i64, seconds: f64) {
    let frames = (seconds * FPS).round() as i64;
    let start = Instant::now();
    for i in 0..frames {
        let n = *next + i;
        let mut frame = YuvFrame::filled(96, 64, 60, 128, 128, ColorInfo::default_for_height(64));
        for (j, y) in frame.y.iter_mut().enumerate() {
            *y = ((j as i64 + n * 3) % 200) as u8 + 30;
        }
        let pts = n * (1e6 / FPS) as i64;
        for unit in encoder.encode(&frame, pts).unwrap() {
            assert!(session.ingest(IngestItem::Unit {
                unit,
                received: Instant::now(),
            }));
        }
        let due = start + Duration::from_secs_f64((i + 1) as f64 / FPS);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    *next += frames;
}

fn reading(session: &LiveSession) -> MetricsSnapshot {
    session.metrics().snapshot()
}

/// Fast SR stays on the better tier; slowed 20x it goes down to the cheaper one within a few
/// seconds, and once the machine is fast again it goes back up. Every frame still has an
/// output, and the metrics say which model runs and why.
#[test]
fn a_slowed_sr_moves_to_the_cheaper_tier_and_back_when_fast_again() {
    let load = Arc::new(AtomicU32::new(1));
    let ladder = TierLadder::switching(
        vec![tier("cheap", 5, 0.8, &load), tier("good", 20, 1.1, &load)],
        1,
    );
    let options = SessionOptions {
        switch_tiers: true,
        ..SessionOptions::plain(RecordSwitch::new(None))
    };
    let session = LiveSession::start(
        LiveSessionConfig {
            id: 1,
            label: "slowed".into(),
            options,
        },
        ladder,
        None,
        deaf_sender(),
    )
    .unwrap();
    let mut encoder = H264LiveEncoder::new(96, 64, FPS, RateControl::Crf(23), 1.0).unwrap();
    assert!(session.ingest(IngestItem::Config(StreamDescription {
        width: 96,
        height: 64,
        fps: FPS,
        bitrate: 0,
        parameter_sets: Vec::new(),
    })));
    let mut next = 0;

    stream(&session, &mut encoder, &mut next, 5.0);
    let fast = reading(&session);
    assert_eq!(fast.model, "good", "SR keeps up: no reason to switch");
    assert_eq!(fast.tier_switches, 0);

    load.store(20, Ordering::Relaxed); // good: 400 ms a frame, 25% of frames
    stream(&session, &mut encoder, &mut next, 9.0);
    let slowed = reading(&session);
    assert_eq!(slowed.model, "cheap", "{slowed}");
    assert_eq!(slowed.tier_switches, 1);
    let why = slowed.tier_changed.clone().unwrap();
    assert!(why.starts_with("good took"), "{why}");
    assert!(
        slowed
            .to_string()
            .contains("model cheap (switch 1): good took"),
        "{slowed}"
    );

    load.store(1, Ordering::Relaxed);
    stream(&session, &mut encoder, &mut next, 16.0);
    let recovered = reading(&session);
    assert_eq!(recovered.model, "good", "{recovered}");
    assert_eq!(recovered.tier_switches, 2);
    assert!(recovered.tier_changed.unwrap().starts_with("cheap took"));

    let report = session.finish();
    let totals = report.final_metrics.totals;
    assert_eq!(report.frames_decoded, next as u64);
    assert_eq!(report.frames_dropped, 0);
    assert_eq!(
        totals.frames_upscaled + totals.frames_filled,
        next as u64,
        "every frame has an output"
    );
    assert!(totals.frames_filled > 0 && totals.frames_upscaled > 0);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
