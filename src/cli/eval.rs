//! `stronglive eval`: PSNR-Y/SSIM of models beside bicubic on ground-truth photos or video
//! frames (downscaled, upscaled, compared with shave = scale), a table, JSON, and the mean
//! written into each model's card.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use stronglive_engine::sr::{
    card::{Evaluation, ModelCard},
    images::{evaluate_image, list_images, load_rgb8, to_unit, Score},
    load::card_and_weights,
    load_model,
    model::gflops_per_frame,
    registry::{ModelRegistry, ModelSource},
    ComputeDevice, DevicePreference, Tensor, Upscaler,
};

use super::models::default_data_dir;

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

/// Ground-truth pictures one at a time (name, 1 x 3 x H x W in 0..1): 4K frames are too big
/// to hold a whole folder or video in memory.
type GroundTruth = Box<dyn FnMut() -> Result<Option<(String, Tensor)>>>;

/// What is scored: where it comes from and its pictures.
struct EvalSet {
    source: PathBuf,
    truths: GroundTruth,
    /// The held-out photos, whole (their label goes into the cards).
    is_default: bool,
}

pub fn run_eval(args: &EvalArgs) -> Result<()> {
    let mut set = eval_set(args)?;
    let device = ComputeDevice::select(args.device)?;
    let registry = ModelRegistry::discover();
    let names = model_names(args, &registry);
    let upscalers = load_upscalers(&names, args.scale, &device)?;
    let mut columns: Vec<String> = vec!["bicubic".into()];
    columns.extend(upscalers.iter().map(|u| u.model_name().to_string()));
    eprintln!(
        "eval: {}, x{} (LR = antialiased bicubic /{}), PSNR-Y/SSIM with shave {}, on {}",
        set.source.display(),
        args.scale,
        args.scale,
        args.scale,
        device.label()
    );
    print_row_label("image");
    for c in &columns {
        print!(" {:>24}", c);
    }
    println!();
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    // wall time per model (downscale, SR, metrics): the speed column of the table
    let mut sr_seconds = vec![0.0; upscalers.len()];
    while let Some((stem, hr)) = (set.truths)()? {
        if rows.len() >= limit {
            break;
        }
        let row = score_picture(stem, &hr, &upscalers, &mut sr_seconds, args.scale, &device)?;
        print_row_label(&row.image);
        for (_, s) in &row.scores {
            print!(" {:>15.2} dB {:>6.4}", s.psnr_y, s.ssim);
        }
        println!();
        rows.push(row);
    }
    let means: Vec<Score> = (0..columns.len()).map(|i| mean_score(&rows, i)).collect();
    print_summary(&means, &sr_seconds, rows.len(), &upscalers);
    if let Some(path) = &args.json {
        write_json(
            path,
            args,
            &set.source,
            &device,
            &rows,
            &names,
            &sr_seconds,
            &columns,
            &means,
        )?;
    }
    if args.update_cards {
        let label = dataset_label(&set, rows.len());
        update_cards(&registry, &names, &means, &label, rows.len())?;
    }
    Ok(())
}

/// The held-out photos (default), a folder of images, or every Nth frame of a video.
fn eval_set(args: &EvalArgs) -> Result<EvalSet> {
    #[cfg(feature = "media")]
    if let Some(path) = &args.video {
        let mut frames =
            stronglive_engine::pipeline::training_data::VideoGroundTruth::open(path, args.every)?;
        return Ok(EvalSet {
            source: path.clone(),
            truths: Box::new(move || Ok(frames.next_frame()?)),
            is_default: false,
        });
    }
    let dir = args
        .images
        .clone()
        .unwrap_or_else(|| default_data_dir().join("eval"));
    let mut files = list_images(&dir)?.into_iter();
    let truths: GroundTruth = Box::new(move || {
        let Some(file) = files.next() else {
            return Ok(None);
        };
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some((stem, to_unit(&load_rgb8(&file)?))))
    });
    Ok(EvalSet {
        source: dir,
        truths,
        is_default: args.images.is_none() && args.limit.is_none(),
    })
}

/// The named models, or every shipped model with a card; bicubic is always scored anyway.
fn model_names(args: &EvalArgs, registry: &ModelRegistry) -> Vec<String> {
    if args.models.is_empty() {
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
    }
}

fn load_upscalers(names: &[String], scale: u32, device: &ComputeDevice) -> Result<Vec<Upscaler>> {
    names
        .iter()
        .map(|name| {
            let model = load_model(name, scale, device).with_context(|| format!("model {name}"))?;
            Ok(Upscaler::new(model, device.clone()))
        })
        .collect()
}

/// Bicubic and every model on one picture; bicubic first.
fn score_picture(
    image: String,
    hr: &Tensor,
    upscalers: &[Upscaler],
    sr_seconds: &mut [f64],
    scale: u32,
    device: &ComputeDevice,
) -> Result<EvalRow> {
    let mut scores = Vec::new();
    let mut bicubic = None;
    for (i, up) in upscalers.iter().enumerate() {
        let started = std::time::Instant::now();
        let (model, bic) = evaluate_image(up, hr)?;
        sr_seconds[i] += started.elapsed().as_secs_f64();
        bicubic.get_or_insert(bic);
        scores.push((up.model_name().to_string(), model));
    }
    let bicubic = match bicubic {
        Some(b) => b,
        None => {
            let bic_model = load_model("bicubic", scale, device)?;
            evaluate_image(&Upscaler::new(bic_model, device.clone()), hr)?.1
        }
    };
    scores.insert(0, ("bicubic".into(), bicubic));
    let size = hr.size();
    Ok(EvalRow {
        image,
        width: size[3],
        height: size[2],
        scores,
    })
}

fn mean_score(rows: &[EvalRow], column: usize) -> Score {
    let n = rows.len().max(1) as f64;
    Score {
        psnr_y: rows.iter().map(|r| r.scores[column].1.psnr_y).sum::<f64>() / n,
        ssim: rows.iter().map(|r| r.scores[column].1.ssim).sum::<f64>() / n,
    }
}

fn print_row_label(label: &str) {
    print!("{label:<22}");
}

fn print_summary(means: &[Score], sr_seconds: &[f64], pictures: usize, upscalers: &[Upscaler]) {
    let n = pictures.max(1) as f64;
    print_row_label("MEAN");
    for m in means {
        print!(" {:>15.2} dB {:>6.4}", m.psnr_y, m.ssim);
    }
    println!();
    print_row_label("gain vs bicubic");
    let bic = means[0];
    for m in means {
        print!(
            " {:>+15.2} dB {:>+6.4}",
            m.psnr_y - bic.psnr_y,
            m.ssim - bic.ssim
        );
    }
    println!();
    print!("{:<22} {:>24}", "seconds per image", "-");
    for s in sr_seconds {
        print!(" {:>24.2}", s / n);
    }
    println!();
    for up in upscalers {
        let m = up.model();
        eprintln!(
            "{}: {} parameters, {} GFLOP per 960x540 input",
            m.name(),
            m.parameters().map_or("?".into(), |p| p.to_string()),
            gflops_per_frame(m, 960, 540).map_or("?".into(), |g| format!("{g:.1}"))
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn write_json(
    path: &Path,
    args: &EvalArgs,
    source: &Path,
    device: &ComputeDevice,
    rows: &[EvalRow],
    names: &[String],
    sr_seconds: &[f64],
    columns: &[String],
    means: &[Score],
) -> Result<()> {
    let n = rows.len().max(1) as f64;
    let doc = serde_json::json!({
        "images": source,
        "scale": args.scale,
        "device": device.label(),
        "rows": rows,
        "seconds_per_image": names.iter().zip(sr_seconds).map(|(m, s)| (m.clone(), s / n)).collect::<Vec<_>>(),
        "mean": columns.iter().zip(means).map(|(c, m)| (c.clone(), *m)).collect::<Vec<_>>(),
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("{}: cannot write JSON results", path.display()))
}

fn dataset_label(set: &EvalSet, pictures: usize) -> String {
    if set.is_default {
        format!(
            "held-out 4K photos of enlightenment-data ({pictures} images, scripts/fetch_data.sh eval/)"
        )
    } else {
        format!("{} ({pictures} items)", set.source.display())
    }
}

/// The mean of each model (columns after bicubic) becomes the first evaluation of its card.
fn update_cards(
    registry: &ModelRegistry,
    names: &[String],
    means: &[Score],
    dataset: &str,
    pictures: usize,
) -> Result<()> {
    let command = std::iter::once("stronglive".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let bic = means[0];
    for (name, m) in names.iter().zip(&means[1..]) {
        let Some(card_path) = card_path_of(registry, name) else {
            continue;
        };
        let mut card = ModelCard::read(&card_path)?;
        let row = Evaluation {
            dataset: dataset.to_string(),
            images: pictures,
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
    Ok(())
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
