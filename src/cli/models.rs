//! The model commands of the CLI: `stronglive train` and `stronglive models` (`eval` is in
//! `eval.rs`).
//! They need only libtorch, so they are part of the FFmpeg-free build too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use stronglive_engine::sr::{
    card::Architecture,
    nets::{edsr::EdsrConfig, fmen::FmenConfig, srvc::SrvcConfig},
    registry::{ModelRegistry, ModelSource},
    train::{train, LrDegradation, TrainEvent, TrainOptions},
    ComputeDevice, DevicePreference,
};

/// Where `scripts/fetch_data.sh` puts the photos.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("STRONGLIVE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/stronglive/data")
        })
}

/// Architecture presets for `train --preset`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// GPU tier: FMEN with the published sizes (50 features, 4 blocks) plus a bicubic skip.
    FmenSl,
    /// CPU tier: a small FMEN (20 features, 2 blocks, ~1/9 of FMEN's FLOPs) plus a bicubic skip.
    FmenTiny,
    /// The fastest CPU tier: FMEN with 8 features and 1 block (under 10 GFLOP per 960x540
    /// frame, a quarter of fmen-tiny) plus a bicubic skip, for live SR on slow CPUs.
    FmenNano,
    /// The published FMEN x4 exactly (no bicubic skip).
    Fmen,
    /// EDSR-baseline x4 (16 blocks, 64 features).
    EdsrBaseline,
    /// The SRVC network (5x5 patch grid of adaptive kernels, 2 convs), with a bicubic skip.
    Srvc,
}

impl Preset {
    pub fn architecture(self) -> Architecture {
        match self {
            Preset::FmenSl => Architecture::Fmen(FmenConfig {
                bicubic_residual: true,
                ..FmenConfig::published_x4()
            }),
            Preset::FmenTiny => Architecture::Fmen(FmenConfig {
                scale: 4,
                n_feats: 20,
                mid_feats: 8,
                down_blocks: 2,
                up_blocks: vec![1, 1, 1],
                backbone_expand_ratio: 2,
                attention_expand_ratio: 2,
                bicubic_residual: true,
            }),
            Preset::FmenNano => Architecture::Fmen(FmenConfig {
                scale: 4,
                n_feats: 8,
                mid_feats: 8,
                down_blocks: 1,
                up_blocks: vec![1, 1],
                backbone_expand_ratio: 2,
                attention_expand_ratio: 2,
                bicubic_residual: true,
            }),
            Preset::Fmen => Architecture::Fmen(FmenConfig::published_x4()),
            Preset::EdsrBaseline => Architecture::EdsrBaseline(EdsrConfig::baseline(4)),
            Preset::Srvc => Architecture::Srvc(SrvcConfig::default_x4()),
        }
    }

    fn tier(self) -> &'static str {
        match self {
            Preset::FmenTiny | Preset::FmenNano | Preset::Srvc => "cpu",
            _ => "gpu",
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model name: the output is MODELS_DIR/NAME.safetensors + NAME.json.
    #[arg(long)]
    pub name: String,
    /// Architecture and size.
    #[arg(long, value_enum, default_value = "fmen-sl")]
    pub preset: Preset,
    /// Photo directory with train/ and val/ (made by scripts/fetch_data.sh).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where the model file and card go.
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
    /// Where checkpoints go (default: DATA/../checkpoints).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Total steps of the schedule (a resumed run continues towards it).
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    #[arg(long, default_value_t = 16)]
    pub batch: i64,
    /// LR patch side in pixels (HR patch = patch x 4).
    #[arg(long, default_value_t = 32)]
    pub patch: i64,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    #[arg(long, default_value_t = 100)]
    pub validate_every: u64,
    /// Continue from NAME's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Train FMEN presets in their plain inference form (no RRRB/BatchNorm; ~3x cheaper steps).
    #[arg(long)]
    pub plain: bool,
    /// Compress half of the LR batches with H.264 (libx264, ultrafast/zerolatency like a live
    /// sender) at a CRF drawn from MIN-MAX, e.g. 18-32: the live input is H.264.
    #[cfg(feature = "media")]
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_crf_range)]
    pub h264_crf: Option<(u8, u8)>,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
    /// Intra-op threads for libtorch on the CPU (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
}

pub fn run_train(args: &TrainArgs) -> Result<()> {
    let data = args.data.clone().unwrap_or_else(default_data_dir);
    for sub in ["train", "val"] {
        if !data.join(sub).is_dir() {
            bail!(
                "{}: no {sub}/ photo directory; run scripts/fetch_data.sh first",
                data.display()
            );
        }
    }
    if let Some(n) = args.threads {
        stronglive_engine::sr::set_cpu_threads(n);
    }
    let device = ComputeDevice::select(args.device)?;
    let opts = train_options(args, &data, &device);
    let bar = super::terminal_bar(
        args.steps,
        "{prefix} [{bar:30}] {pos}/{len} steps {msg} ETA {eta}",
    );
    bar.set_prefix(args.name.clone());
    let mut progress = TrainProgress {
        bar: &bar,
        opts: &opts,
        device: &device,
        loss_avg: None,
        last_val: String::new(),
        started: std::time::Instant::now(),
    };
    let card = train(&opts, |event| progress.show(event))?;
    bar.finish_and_clear();
    println!("{}", card.display());
    Ok(())
}

/// The photos' credits (CREDITS.tsv without its header and the eval photos), carried into the
/// model card; none when the file cannot be read.
fn photo_credits(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("CREDITS.tsv"))
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| !l.starts_with("eval"))
                .map(|l| l.split('\t').skip(1).collect::<Vec<_>>().join(" | "))
                .collect()
        })
        .unwrap_or_default()
}

fn train_options(args: &TrainArgs, data: &Path, device: &ComputeDevice) -> TrainOptions {
    TrainOptions {
        name: args.name.clone(),
        arch: args.preset.architecture(),
        plain: args.plain,
        degradation: lr_degradation(args),
        tier: args.preset.tier().into(),
        description: format!("{:?} preset, trained by StrongLive Studio", args.preset),
        train_dir: data.join("train"),
        val_dir: data.join("val"),
        out_dir: args.models_dir.clone(),
        work_dir: args
            .checkpoints
            .clone()
            .unwrap_or_else(|| data.join("../checkpoints")),
        steps: args.steps,
        batch: args.batch,
        patch: args.patch,
        learning_rate: args.lr,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every.max(1),
        validate_every: args.validate_every.max(1),
        resume: args.resume,
        device: device.device,
        command: std::iter::once("stronglive".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        credits: photo_credits(data),
    }
}

/// Training on a progress bar: the smoothed loss and the last validation as its message, and
/// a line per start, validation and export.
struct TrainProgress<'a> {
    bar: &'a indicatif::ProgressBar,
    opts: &'a TrainOptions,
    device: &'a ComputeDevice,
    loss_avg: Option<f64>,
    last_val: String,
    started: std::time::Instant,
}

impl TrainProgress<'_> {
    fn show(&mut self, event: TrainEvent) {
        let bar = self.bar;
        match event {
            TrainEvent::Started {
                step,
                total,
                train_images,
                val_crops,
                parameters,
            } => {
                bar.set_position(step);
                bar.suspend(|| {
                    eprintln!(
                        "train {}: {} ({parameters} parameters) on {}, {train_images} photos, {val_crops} validation crops, step {step}/{total}",
                        self.opts.name,
                        self.opts.arch.name(),
                        self.device.label()
                    )
                });
            }
            TrainEvent::Step { step, loss, .. } => {
                let avg = self.loss_avg.map_or(loss, |a| 0.8 * a + 0.2 * loss);
                self.loss_avg = Some(avg);
                bar.set_position(step);
                bar.set_message(format!("loss {avg:.5}{}", self.last_val));
            }
            TrainEvent::Validated {
                step,
                psnr_y,
                bicubic_psnr_y,
            } => {
                self.last_val = format!(
                    " val {psnr_y:.2} dB ({:+.2} vs bicubic)",
                    psnr_y - bicubic_psnr_y
                );
                // one line per validation, so logs keep the learning curve
                bar.suspend(|| {
                    eprintln!(
                        "step {step}: loss {:.5}, validation PSNR-Y {psnr_y:.3} dB, bicubic {bicubic_psnr_y:.3} dB ({:+.3}), {:.0} s",
                        self.loss_avg.unwrap_or(0.0),
                        psnr_y - bicubic_psnr_y,
                        self.started.elapsed().as_secs_f64()
                    )
                });
            }
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Exported { path } => {
                bar.suspend(|| eprintln!("exported {}", path.display()));
            }
        }
    }
}

#[cfg(feature = "media")]
fn parse_crf_range(s: &str) -> Result<(u8, u8), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or(format!("{s:?} is not MIN-MAX, e.g. 18-32"))?;
    let (a, b): (u8, u8) = (
        a.trim()
            .parse()
            .map_err(|_| format!("{a:?} is not a CRF"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("{b:?} is not a CRF"))?,
    );
    if a > b || b > 51 {
        return Err(format!(
            "CRF range {a}-{b} must be increasing and within 0-51"
        ));
    }
    Ok((a, b))
}

#[cfg(feature = "media")]
fn lr_degradation(args: &TrainArgs) -> Option<LrDegradation> {
    args.h264_crf
        .map(stronglive_engine::pipeline::training_data::h264_degradation)
}

#[cfg(not(feature = "media"))]
fn lr_degradation(_args: &TrainArgs) -> Option<LrDegradation> {
    None
}

/// `stronglive models`: the registry as a table.
pub fn run_models() -> Result<()> {
    let registry = ModelRegistry::discover();
    println!(
        "{:<16} {:<14} {:>5} {:<4} {:>10} {:>10} {:>10}  file",
        "name", "architecture", "scale", "tier", "params", "GFLOP/540p", "gain dB"
    );
    // the default is device-aware: what `auto` runs on this machine
    let cuda = ComputeDevice::select(DevicePreference::AUTO).is_ok_and(|d| d.is_cuda());
    let best = registry.best_for_device(cuda, 4).name.clone();
    for e in &registry.entries {
        let (arch, scale, tier, params, gflops, gain) = match &e.card {
            Some(c) => (
                c.architecture.clone(),
                c.scale.to_string(),
                c.tier.clone(),
                c.parameters.to_string(),
                format!("{:.1}", c.gflops_960x540),
                c.gain_db().map_or("-".into(), |g| format!("{g:+.2}")),
            ),
            None => (
                "-".into(),
                "any".into(),
                "-".into(),
                "0".into(),
                "-".into(),
                "0".into(),
            ),
        };
        let file = match &e.source {
            ModelSource::Builtin => "(built in)".to_string(),
            ModelSource::Files { weights, .. } => weights.display().to_string(),
        };
        let mark = if e.name == best { " (default)" } else { "" };
        println!(
            "{:<16} {:<14} {:>5} {:<4} {:>10} {:>10} {:>10}  {file}{mark}",
            e.name, arch, scale, tier, params, gflops, gain
        );
    }
    for (path, reason) in &registry.broken {
        println!("unreadable card {}: {reason}", path.display());
    }
    Ok(())
}
