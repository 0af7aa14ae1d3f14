//! `stronglive bench --learn CLIP`: how fast live learning pays off on this machine. CLIP's
//! frames are the camera's truth; the stream is what a phone would send (1/4 size through a
//! real H.264 encode). The clip plays slowed down over `--seconds` of learning: HR patches
//! arrive at the live rate (5 a second) from the frame playing now, the fine-tuner learns from
//! them as `serve --learn` does, and every 10 s the weights SR would run are scored on the next
//! second of frames, which no patch came from, beside the generic model and bicubic. Scene cuts
//! are handled as live: from a cut's first frame SR runs the generic weights, and learning
//! starts over on the new scene's patches.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use stronglive_engine::frame::YuvFrame;
use stronglive_engine::media::VideoDecoder;
use stronglive_engine::pipeline::adapt_video::{cut_pair, PATCH_SIDE, PHONE_CRF};
use stronglive_engine::pipeline::live::patches::EAGER_PATCHES_PER_S;
use stronglive_engine::pipeline::scene_cut::SceneCuts;
use stronglive_engine::pipeline::training_data::{crop_to_scale_grid, phone_stream_of};
use stronglive_engine::sr::adapt::{AdaptConfig, Decision, FineTuner, PairBuffer, TunedLayers};
use stronglive_engine::sr::color::frame_to_rgb_cpu;
use stronglive_engine::sr::model::Weights;
use stronglive_engine::sr::quality::psnr_y;
use stronglive_engine::sr::registry::DEFAULT_MODEL;
use stronglive_engine::sr::{load_model, ComputeDevice, Tensor, Upscaler};

const SCALE: u32 = 4;
/// Frames of the clip used at most (memory: 4K frames are 12 MB each).
const MAX_FRAMES: usize = 300;
/// Frames after the playing one that are scored (one second at 30 fps), and how many of them.
const SCORE_WINDOW: usize = 30;
const SCORED_FRAMES: usize = 10;
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The clip as the phone sees it (HR) and streams it (LR), and the scene of each frame;
/// frames stay 4:2:0 (12 bits a pixel) and become RGB tensors only while used.
struct Clip {
    hr: Vec<YuvFrame>,
    lr: Vec<YuvFrame>,
    scene: Vec<u64>,
}

fn rgb(frame: &YuvFrame) -> Result<Tensor> {
    Ok(frame_to_rgb_cpu(frame)?)
}

/// What `bench --learn` runs.
pub struct LearnBench<'a> {
    pub clip: &'a Path,
    pub seconds: u32,
    pub model: Option<&'a str>,
    pub device: stronglive_engine::sr::DevicePreference,
    pub layers: TunedLayers,
}

/// The weights SR runs, as the live SR stage follows them.
struct LiveWeights {
    upscaler: Upscaler,
    /// The adapted weights and the scene they were learned on (`None`: generic).
    adapted: Option<(Weights, u64)>,
    generic: Weights,
}

impl LiveWeights {
    /// SR output for frame `i`: adapted weights within their scene, generic ones elsewhere.
    fn upscale(&self, clip: &Clip, i: usize) -> Result<Tensor> {
        let network = self.upscaler.model().as_network().context("live model")?;
        match &self.adapted {
            Some((w, scene)) if *scene == clip.scene[i] => network.set_weights(w)?,
            _ => network.set_weights(&self.generic)?,
        }
        Ok(self.upscaler.upscale_rgb(&rgb(&clip.lr[i])?)?)
    }
}

/// The learning side of the bench: the fine-tuner, the patches it learns from, and the
/// weights SR runs.
struct Learner {
    tuner: FineTuner,
    buffer: PairBuffer,
    live: LiveWeights,
    /// Patches cut so far.
    patches: usize,
    /// The scene being learned.
    scene: u64,
    /// The tuner's last held-out gain.
    held_out_gain: f64,
}

impl Learner {
    /// Cut the patches due by `learned`, each from the frame playing when it was cut (`now`).
    fn take_patches(&mut self, clip: &Clip, now: usize, learned: Duration) -> Result<()> {
        let due = (learned.as_secs_f64() * EAGER_PATCHES_PER_S) as usize + 1;
        while self.patches < due {
            if clip.scene[now] != self.scene {
                // A cut: SR is already on the generic weights; learn the new scene afresh.
                self.scene = clip.scene[now];
                self.buffer.clear();
                self.tuner.start_over()?;
                self.live.adapted = None;
            }
            let (hr, lr) = (rgb(&clip.hr[now])?, rgb(&clip.lr[now])?);
            self.buffer
                .push(cut_pair(&hr, &lr, self.patches, SCALE, now as i64)?);
            self.patches += 1;
        }
        Ok(())
    }

    /// One round of fine-tuning when enough pairs are buffered (else a short wait), then the
    /// live weights follow the tuner's decision.
    fn learn_round(&mut self) -> Result<()> {
        if !self.tuner.ready(&self.buffer) {
            std::thread::sleep(Duration::from_millis(50));
            return Ok(());
        }
        self.tuner.train_round(&self.buffer)?;
        let (scores, decision) = self.tuner.assess(&self.buffer)?;
        self.held_out_gain = scores.gain_after(&decision);
        match decision {
            Decision::Deploy(w) => self.live.adapted = Some((w, self.scene)),
            Decision::Revert(_) => self.live.adapted = None,
            Decision::Keep => {}
        }
        Ok(())
    }
}

/// What the live weights are scored beside.
struct References {
    generic: Upscaler,
    bicubic: Upscaler,
}

pub fn run(bench: &LearnBench) -> Result<()> {
    let device = ComputeDevice::select(bench.device)?;
    let model_name = bench.model.unwrap_or(DEFAULT_MODEL).to_string();
    let clip = load_clip(bench.clip)?;
    let upscaler = |name: &str| -> Result<Upscaler> {
        Ok(Upscaler::new(
            load_model(name, SCALE, &device)?,
            device.clone(),
        ))
    };
    let references = References {
        generic: upscaler(&model_name)?,
        bicubic: upscaler("bicubic")?,
    };
    let network = references
        .generic
        .model()
        .as_network()
        .with_context(|| format!("model {model_name} cannot learn (not a network)"))?;
    let config = AdaptConfig {
        layers: bench.layers,
        ..AdaptConfig::default()
    };
    let mut learner = Learner {
        tuner: FineTuner::new(network, device.device, config)?,
        live: LiveWeights {
            upscaler: upscaler(&model_name)?,
            adapted: None,
            generic: network.weights(),
        },
        buffer: PairBuffer::new(64 << 20),
        patches: 0,
        scene: 0,
        held_out_gain: 0.0,
    };
    let last_start = clip.hr.len() - SCORE_WINDOW - 1;
    print_header(&clip, &model_name, &device, bench);
    let (mut learned, mut next_report) = (Duration::ZERO, Duration::ZERO);
    let mut vs_generic = Vec::new();
    let budget = Duration::from_secs(u64::from(bench.seconds));
    loop {
        // The frame playing now: the clip spread over the learning budget.
        let now = (learned.as_secs_f64() / budget.as_secs_f64() * last_start as f64) as usize;
        let now = now.min(last_start);
        if learned >= next_report {
            let gain = print_scores(&clip, now, learned, &learner, &references)?;
            if next_report > Duration::ZERO {
                vs_generic.push(gain);
            }
            next_report += REPORT_EVERY;
        }
        if learned >= budget {
            break;
        }
        let started = Instant::now();
        learner.take_patches(&clip, now, learned)?;
        learner.learn_round()?;
        learned += started.elapsed();
    }
    print_summary(&vs_generic);
    Ok(())
}

/// One row of the table: the live weights, the generic model and bicubic scored on the frames
/// after `now`; returns the live weights' gain over the generic model, in dB.
fn print_scores(
    clip: &Clip,
    now: usize,
    learned: Duration,
    learner: &Learner,
    references: &References,
) -> Result<f64> {
    let cpu = ComputeDevice::cpu().device;
    let score = |i: usize, sr: Tensor| -> Result<f64> {
        Ok(psnr_y(
            &sr.clamp(0.0, 1.0).to_device(cpu),
            &rgb(&clip.hr[i])?,
            SCALE as i64,
        ))
    };
    let window: Vec<usize> = (now + 1..=now + SCORE_WINDOW)
        .step_by(SCORE_WINDOW / SCORED_FRAMES)
        .collect();
    let mean = |f: &dyn Fn(usize) -> Result<f64>| -> Result<f64> {
        Ok(window.iter().map(|&i| f(i)).sum::<Result<f64>>()? / window.len() as f64)
    };
    let (generic, bicubic) = (&references.generic, &references.bicubic);
    let adapted_db = mean(&|i| score(i, learner.live.upscale(clip, i)?))?;
    let generic_db = mean(&|i| score(i, generic.upscale_rgb(&rgb(&clip.lr[i])?)?))?;
    let bicubic_db = mean(&|i| score(i, bicubic.upscale_rgb(&rgb(&clip.lr[i])?)?))?;
    println!(
        "{:>8.0} {:>6} {:>6} {:>7} {:>8} {:>13.2} dB {:>9.2} dB {:>9.2} dB {:>9.2} dB {:>+11.2} dB",
        learned.as_secs_f64(),
        now,
        learner.scene,
        learner.tuner.steps,
        learner.tuner.version,
        learner.held_out_gain,
        adapted_db,
        generic_db,
        bicubic_db,
        adapted_db - generic_db
    );
    Ok(adapted_db - generic_db)
}

fn print_header(clip: &Clip, model: &str, device: &ComputeDevice, bench: &LearnBench) {
    let cuts = clip.scene.last().copied().unwrap_or(0);
    println!(
        "live learning on {}: {} frames ({}x{} camera, streamed at 1/4 through H.264 CRF {PHONE_CRF}, {cuts} scene cut(s)) played over {} s of learning; {EAGER_PATCHES_PER_S} patches of {PATCH_SIDE} px a second from the frame playing; scored on {SCORED_FRAMES} of the next {SCORE_WINDOW} frames; {model} ({:?} layers) on {}",
        bench.clip.display(),
        clip.hr.len(),
        clip.hr[0].width,
        clip.hr[0].height,
        bench.seconds,
        bench.layers,
        device.label()
    );
    println!(
        "{:>8} {:>6} {:>6} {:>7} {:>8} {:>16} {:>12} {:>12} {:>12} {:>14}",
        "seconds",
        "frame",
        "scene",
        "steps",
        "version",
        "held-out gain",
        "live SR",
        "generic",
        "bicubic",
        "vs generic"
    );
}

fn print_summary(vs_generic: &[f64]) {
    if vs_generic.is_empty() {
        return;
    }
    let mean = vs_generic.iter().sum::<f64>() / vs_generic.len() as f64;
    let worst = vs_generic.iter().copied().fold(f64::MAX, f64::min);
    let best = vs_generic.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "vs generic after the start: mean {mean:+.2} dB, worst {worst:+.2} dB, best {best:+.2} dB"
    );
}

/// Decode up to `MAX_FRAMES` frames, cropped so the 1/4 stream has even
/// sides, make the phone's stream of them, and find the scene cuts in that stream.
fn load_clip(path: &Path) -> Result<Clip> {
    let mut decoder = VideoDecoder::open(path)?;
    let mut frames: Vec<YuvFrame> = Vec::new();
    while let Some(frame) = decoder.next_frame()? {
        frames.push(crop_to_scale_grid(frame, SCALE));
        if frames.len() == MAX_FRAMES {
            break;
        }
    }
    if frames.len() < SCORE_WINDOW * 2 {
        bail!(
            "{}: {} frames; --learn needs at least {}",
            path.display(),
            frames.len(),
            SCORE_WINDOW * 2
        );
    }
    if frames[0].width < PATCH_SIDE * 2 || frames[0].height < PATCH_SIDE * 2 {
        bail!(
            "{}: frames must be at least {}x{}",
            path.display(),
            PATCH_SIDE * 2,
            PATCH_SIDE * 2
        );
    }
    let stream = phone_stream_of(&frames, SCALE, PHONE_CRF)?;
    let mut cuts = SceneCuts::default();
    let scene = stream
        .iter()
        .map(|f| {
            cuts.observe(f);
            cuts.scene
        })
        .collect();
    Ok(Clip {
        hr: frames,
        lr: stream,
        scene,
    })
}
