//! The model commands of the CLI: `stronglive train`, `stronglive eval`, `stronglive models`.
//! They need only libtorch, so they are part of the FFmpeg-free build too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sr::{
    card::{Architecture, Evaluation, ModelCard},
    images::{evaluate_image, list_images, load_rgb8, to_unit, Score},
    load_model,
    model::card_and_weights,
    nets::{edsr::EdsrConfig, fmen::FmenConfig, srvc::SrvcConfig},
    registry::{ModelRegistry, ModelSource},
    train::{train, TrainEvent, TrainOptions},
    ComputeDevice, DevicePreference, Upscaler,
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
            Preset::Fmen => Architecture::Fmen(FmenConfig::published_x4()),
            Preset::EdsrBaseline => Architecture::EdsrBaseline(EdsrConfig::baseline(4)),
            Preset::Srvc => Architecture::Srvc(SrvcConfig::default_x4()),
        }
    }

    fn tier(self) -> &'static str {
        match self {
            Preset::FmenTiny | Preset::Srvc => "cpu",
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
        tch::set_num_threads(n);
    }
    let device = ComputeDevice::select(args.device)?;
    let credits = std::fs::read_to_string(data.join("CREDITS.tsv"))
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| !l.starts_with("eval"))
                .map(|l| l.split('\t').skip(1).collect::<Vec<_>>().join(" | "))
                .collect()
        })
        .unwrap_or_default();
    let opts = TrainOptions {
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
        credits,
    };
    let bar = ProgressBar::new(args.steps);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(args.name.clone());
    let mut loss_avg = None::<f64>;
    let mut last_val = String::new();
    let started = std::time::Instant::now();
    let card = train(&opts, |event| match event {
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
                    opts.name,
                    opts.arch.name(),
                    device.label()
                )
            });
        }
        TrainEvent::Step { step, loss, .. } => {
            let avg = loss_avg.map_or(loss, |a| 0.98 * a + 0.02 * loss);
            loss_avg = Some(avg);
            bar.set_position(step);
            bar.set_message(format!("loss {avg:.5}{last_val}"));
        }
        TrainEvent::Validated {
            step,
            psnr_y,
            bicubic_psnr_y,
        } => {
            last_val = format!(
                " val {psnr_y:.2} dB ({:+.2} vs bicubic)",
                psnr_y - bicubic_psnr_y
            );
            // one line per validation, so logs keep the learning curve
            bar.suspend(|| {
                eprintln!(
                    "step {step}: loss {:.5}, validation PSNR-Y {psnr_y:.3} dB, bicubic {bicubic_psnr_y:.3} dB ({:+.3}), {:.0} s",
                    loss_avg.unwrap_or(0.0),
                    psnr_y - bicubic_psnr_y,
                    started.elapsed().as_secs_f64()
                )
            });
        }
        TrainEvent::Checkpoint { .. } => {}
        TrainEvent::Exported { path } => {
            bar.suspend(|| eprintln!("exported {}", path.display()));
        }
    })?;
    bar.finish_and_clear();
    println!("{}", card.display());
    Ok(())
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
fn lr_degradation(args: &TrainArgs) -> Option<crate::sr::train::LrDegradation> {
    use crate::frame::ColorInfo;
    use crate::sr::color::{rgb_to_yuv, yuv_to_rgb};
    let (lo, hi) = args.h264_crf?;
    let apply = move |lr: &tch::Tensor, random: u64| -> Result<tch::Tensor, String> {
        // half the batches stay clean so the model still sees pristine input
        if random % 2 == 0 {
            return Ok(lr.shallow_clone());
        }
        let crf = lo + ((random >> 8) % u64::from(hi - lo + 1)) as u8;
        let color = ColorInfo::default_for_height(540);
        let frames = (0..lr.size()[0])
            .map(|i| rgb_to_yuv(&lr.narrow(0, i, 1), color).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let back =
            crate::media::roundtrip::h264_round_trip(&frames, crf).map_err(|e| e.to_string())?;
        let rgb = back
            .iter()
            .map(|f| yuv_to_rgb(f, tch::Device::Cpu).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::sr::metrics::quantize(&tch::Tensor::cat(&rgb, 0)))
    };
    Some(crate::sr::train::LrDegradation {
        description: format!(
            "H.264 (libx264 ultrafast zerolatency, CRF {lo}-{hi}) on half the batches"
        ),
        apply: std::sync::Arc::new(apply),
    })
}

#[cfg(not(feature = "media"))]
fn lr_degradation(_args: &TrainArgs) -> Option<crate::sr::train::LrDegradation> {
    None
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Folder of ground-truth images (default: the held-out evaluation photos).
    pub images: Option<PathBuf>,
    /// A ground-truth video instead of images: frames are downscaled, upscaled and compared.
    #[cfg(feature = "media")]
    #[arg(long, conflicts_with = "images")]
    pub video: Option<PathBuf>,
    /// With --video: score every Nth frame.
    #[cfg(feature = "media")]
    #[arg(long, default_value_t = 10)]
    pub every: usize,
    /// Models to score (names or paths; comma-separated). Default: every shipped model.
    /// Bicubic is always scored beside them.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, default_value_t = 4)]
    pub scale: u32,
    /// Only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Record the mean results in each model's card (NAME.json).
    #[arg(long)]
    pub update_cards: bool,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
}

#[derive(Debug, serde::Serialize)]
struct EvalRow {
    image: String,
    width: i64,
    height: i64,
    scores: Vec<(String, Score)>,
}

pub fn run_eval(args: &EvalArgs) -> Result<()> {
    let dir = args
        .images
        .clone()
        .unwrap_or_else(|| default_data_dir().join("eval"));
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut default_set = args.images.is_none() && args.limit.is_none();
    #[cfg(feature = "media")]
    let video = args.video.clone();
    #[cfg(not(feature = "media"))]
    let video: Option<PathBuf> = None;
    default_set &= video.is_none();
    let (source, mut truths) = match video {
        Some(path) => (path.clone(), ground_truth_frames(&path, args)?),
        None => {
            let files = list_images(&dir)?;
            let mut files = files.into_iter();
            let next: GroundTruth = Box::new(move || {
                let Some(file) = files.next() else {
                    return Ok(None);
                };
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(Some((stem, to_unit(&load_rgb8(&file)?))))
            });
            (dir.clone(), next)
        }
    };
    let dir = source;
    let device = ComputeDevice::select(args.device)?;
    let registry = ModelRegistry::discover();
    let names: Vec<String> = if args.models.is_empty() {
        registry
            .entries
            .iter()
            .filter(|e| e.shipped && e.card.is_some())
            .map(|e| e.name.clone())
            .collect()
    } else {
        args.models
            .iter()
            .filter(|m| *m != "bicubic")
            .cloned()
            .collect()
    };
    let mut upscalers = Vec::new();
    for name in &names {
        let model =
            load_model(name, args.scale, &device).with_context(|| format!("model {name}"))?;
        upscalers.push(Upscaler::new(model, device.clone()));
    }
    let mut columns: Vec<String> = vec!["bicubic".into()];
    columns.extend(upscalers.iter().map(|u| u.model_name().to_string()));
    eprintln!(
        "eval: {}, x{} (LR = antialiased bicubic /{}), PSNR-Y/SSIM with shave {}, on {}",
        dir.display(),
        args.scale,
        args.scale,
        args.scale,
        device.label()
    );
    print!("{:<22}", "image");
    for c in &columns {
        print!(" {:>24}", c);
    }
    println!();
    let mut rows = Vec::new();
    // wall time per model (downscale, SR, metrics): the speed column of the table
    let mut sr_seconds = vec![0.0; upscalers.len()];
    while let Some((stem, hr)) = truths()? {
        if rows.len() >= limit {
            break;
        }
        let mut scores = Vec::new();
        let mut bicubic = None;
        for (i, up) in upscalers.iter().enumerate() {
            let started = std::time::Instant::now();
            let (model, bic) = evaluate_image(up, &hr);
            sr_seconds[i] += started.elapsed().as_secs_f64();
            bicubic.get_or_insert(bic);
            scores.push((up.model_name().to_string(), model));
        }
        let bicubic = match bicubic {
            Some(b) => b,
            None => {
                let bic_model = load_model("bicubic", args.scale, &device)?;
                evaluate_image(&Upscaler::new(bic_model, device.clone()), &hr).1
            }
        };
        scores.insert(0, ("bicubic".into(), bicubic));
        print!("{:<22}", stem);
        for (_, s) in &scores {
            print!(" {:>15.2} dB {:>6.4}", s.psnr_y, s.ssim);
        }
        println!();
        let size = hr.size();
        rows.push(EvalRow {
            image: stem,
            width: size[3],
            height: size[2],
            scores,
        });
    }
    let n = rows.len().max(1) as f64;
    let mean = |i: usize| -> Score {
        Score {
            psnr_y: rows.iter().map(|r| r.scores[i].1.psnr_y).sum::<f64>() / n,
            ssim: rows.iter().map(|r| r.scores[i].1.ssim).sum::<f64>() / n,
        }
    };
    print!("{:<22}", "MEAN");
    for i in 0..columns.len() {
        let m = mean(i);
        print!(" {:>15.2} dB {:>6.4}", m.psnr_y, m.ssim);
    }
    println!();
    print!("{:<22}", "gain vs bicubic");
    let bic = mean(0);
    for i in 0..columns.len() {
        print!(
            " {:>+15.2} dB {:>+6.4}",
            mean(i).psnr_y - bic.psnr_y,
            mean(i).ssim - bic.ssim
        );
    }
    println!();
    print!("{:<22} {:>24}", "seconds per image", "-");
    for s in &sr_seconds {
        print!(" {:>24.2}", s / n);
    }
    println!();
    for up in &upscalers {
        let m = up.model();
        eprintln!(
            "{}: {} parameters, {} GFLOP per 960x540 input",
            m.name(),
            m.parameters().map_or("?".into(), |p| p.to_string()),
            crate::sr::model::gflops_per_frame(m, 960, 540)
                .map_or("?".into(), |g| format!("{g:.1}"))
        );
    }

    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "images": dir,
            "scale": args.scale,
            "device": device.label(),
            "rows": rows,
            "seconds_per_image": names.iter().zip(&sr_seconds).map(|(m, s)| (m.clone(), s / n)).collect::<Vec<_>>(),
            "mean": columns.iter().enumerate().map(|(i, c)| (c.clone(), mean(i))).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("{}: cannot write JSON results", path.display()))?;
    }
    if args.update_cards {
        let dataset_label = if default_set {
            format!(
                "held-out 4K photos of enlightenment-data ({} images, scripts/fetch_data.sh eval/)",
                rows.len()
            )
        } else {
            format!("{} ({} items)", dir.display(), rows.len())
        };
        let command = std::iter::once("stronglive".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" ");
        for (i, name) in names.iter().enumerate() {
            let Some(card_path) = card_path_of(&registry, name) else {
                continue;
            };
            let mut card = ModelCard::read(&card_path)?;
            let m = mean(i + 1);
            let row = Evaluation {
                dataset: dataset_label.clone(),
                images: rows.len(),
                psnr_y: m.psnr_y,
                ssim: m.ssim,
                bicubic_psnr_y: bic.psnr_y,
                bicubic_ssim: bic.ssim,
                command: command.clone(),
            };
            card.evaluation.retain(|e| e.dataset != row.dataset);
            card.evaluation.insert(0, row);
            card.write(&card_path)?;
            eprintln!("updated {}", card_path.display());
        }
    }
    Ok(())
}

/// Ground truth pictures one at a time (name, 1 x 3 x H x W in 0..1); 4K frames are too big to
/// hold a whole folder or video in memory.
type GroundTruth = Box<dyn FnMut() -> Result<Option<(String, tch::Tensor)>>>;

#[cfg(feature = "media")]
fn ground_truth_frames(path: &Path, args: &EvalArgs) -> Result<GroundTruth> {
    use crate::media::{DemuxItem, VideoDecoder};
    let mut decoder = VideoDecoder::open(path)?;
    let every = args.every.max(1);
    let mut index = 0usize;
    Ok(Box::new(move || loop {
        match decoder.next_item()? {
            None => return Ok(None),
            Some(DemuxItem::Frame(frame)) => {
                index += 1;
                if (index - 1) % every == 0 {
                    let rgb = crate::sr::color::yuv_to_rgb(&frame, tch::Device::Cpu)?;
                    return Ok(Some((format!("frame {}", index - 1), rgb)));
                }
            }
            Some(DemuxItem::Packet(_)) => {}
        }
    }))
}

#[cfg(not(feature = "media"))]
fn ground_truth_frames(_path: &Path, _args: &EvalArgs) -> Result<GroundTruth> {
    unreachable!("--video exists only with the media feature")
}

fn card_path_of(registry: &ModelRegistry, name: &str) -> Option<PathBuf> {
    if Path::new(name)
        .extension()
        .is_some_and(|e| e == "json" || e == "safetensors")
    {
        return Some(card_and_weights(Path::new(name)).0);
    }
    match &registry.find(name)?.source {
        ModelSource::Files { card, .. } if card.extension().is_some_and(|e| e == "json") => {
            Some(card.clone())
        }
        _ => None,
    }
}

/// `stronglive models`: the registry as a table.
pub fn run_models() -> Result<()> {
    let registry = ModelRegistry::discover();
    println!(
        "{:<16} {:<14} {:>5} {:<4} {:>10} {:>10} {:>10}  file",
        "name", "architecture", "scale", "tier", "params", "GFLOP/540p", "gain dB"
    );
    let best = registry.best(4).name.clone();
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
