//! `stronglive srvc encode HR.mp4 -o OUT.mkv`: content-adaptive compression (SRVC). Decoding is
//! `stronglive upscale OUT.mkv`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;

use stronglive_engine::pipeline::srvc::encode::{srvc_encode, SrvcOptions, SrvcReport};
use stronglive_engine::pipeline::srvc::eval::{bd_psnr, bd_rate, srvc_eval, Method, RatePoint};
use stronglive_engine::sr::registry::DEFAULT_MODEL;
use stronglive_engine::sr::srvc::trainer::SegmentTraining;
use stronglive_engine::sr::srvc::Quantization;
use stronglive_engine::sr::{ComputeDevice, DevicePreference, Precision};

#[derive(Subcommand)]
pub enum SrvcCommand {
    /// An HR video -> one Matroska file: the LR video (libx265) + a per-segment model stream.
    Encode(EncodeArgs),
    /// Rate-quality table at several CRFs: full-resolution H.265 vs LR H.265 + bicubic, + the
    /// generic model, + SRVC; BD-rate of SRVC against each.
    Eval(EvalArgs),
}

/// How the model stream is made (shared by `encode` and `eval`).
#[derive(Args)]
pub struct ModelStreamArgs {
    #[arg(long, default_value_t = 4)]
    pub scale: u32,
    /// Segment length in seconds (one weight update each; a scene cut also starts one).
    #[arg(long, default_value_t = 5.0)]
    pub segment: f64,
    /// Share of the weights streamed per segment.
    #[arg(long, default_value_t = SegmentTraining::default().fraction)]
    pub fraction: f64,
    /// Share streamed at the first segment of each scene (the start and each cut).
    #[arg(long, default_value_t = SegmentTraining::default().scene_fraction)]
    pub scene_fraction: f64,
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub base: String,
    /// Training steps per segment (the masked pass; the first pass takes half as many).
    #[arg(long, default_value_t = SegmentTraining::default().steps)]
    pub steps: u32,
    /// Training steps at the first segment of each scene.
    #[arg(long, default_value_t = SegmentTraining::default().scene_steps)]
    pub scene_steps: u32,
    /// Adam learning rate of the segment training.
    #[arg(long, default_value_t = SegmentTraining::default().learning_rate)]
    pub lr: f64,
    #[arg(long, default_value = "int8", value_parser = parse_quantization)]
    pub quantization: Quantization,
    /// Largest share of the file's bits (LR video + model stream) the model stream may take;
    /// a scene's first segment borrows from the later ones. 1 = no cap.
    #[arg(long, default_value_t = SrvcOptions::default().max_share.unwrap_or(1.0))]
    pub max_share: f64,
}

impl ModelStreamArgs {
    /// The encoder's options at `crf`, after checking the values.
    fn options(&self, crf: u8) -> Result<SrvcOptions> {
        for (flag, value) in [
            ("--fraction", self.fraction),
            ("--scene-fraction", self.scene_fraction),
            ("--max-share", self.max_share),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                bail!("{flag} {value}: must be in (0, 1]");
            }
        }
        if self.segment <= 0.0 {
            bail!("--segment {}: must be positive", self.segment);
        }
        Ok(SrvcOptions {
            base: self.base.clone(),
            scale: self.scale,
            crf,
            segment_s: self.segment,
            training: SegmentTraining {
                steps: self.steps,
                scene_steps: self.scene_steps,
                fraction: self.fraction,
                scene_fraction: self.scene_fraction,
                learning_rate: self.lr,
                ..SegmentTraining::default()
            },
            quantization: self.quantization,
            max_share: (self.max_share < 1.0).then_some(self.max_share),
        })
    }
}

#[derive(Args)]
pub struct EvalArgs {
    pub input: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "24,28,32,36")]
    pub crf: Vec<u8>,
    #[command(flatten)]
    pub stream: ModelStreamArgs,
    /// Score every N-th frame.
    #[arg(long, default_value_t = 5)]
    pub sample_every: usize,
    /// The rate-quality chart (PNG); default: INPUT_srvc_eval.png beside the input.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
    /// Number format of training's scoring and of SR (as `upscale --precision`).
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
}

#[derive(Args)]
pub struct EncodeArgs {
    pub input: PathBuf,
    /// Output (.mkv: the model stream is a Matroska attachment).
    #[arg(short, long)]
    pub output: PathBuf,
    /// CRF of the LR video (H.265).
    #[arg(long, default_value_t = 28)]
    pub crf: u8,
    #[command(flatten)]
    pub stream: ModelStreamArgs,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
    /// Number format the segments are scored in (as `upscale --precision`).
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

fn parse_quantization(s: &str) -> Result<Quantization, String> {
    match s {
        "int8" => Ok(Quantization::Int8),
        "fp16" => Ok(Quantization::Fp16),
        other => Err(format!("{other:?}: expected int8 or fp16")),
    }
}

pub fn run(command: &SrvcCommand) -> Result<ExitCode> {
    stronglive_engine::media::init();
    match command {
        SrvcCommand::Encode(args) => encode(args),
        SrvcCommand::Eval(args) => eval(args),
    }
}

fn eval(args: &EvalArgs) -> Result<ExitCode> {
    let options = args.stream.options(SrvcOptions::default().crf)?;
    let device = ComputeDevice::select(args.device.with_precision(args.precision))?;
    let work = tempfile_dir()?;
    println!(
        "SRVC rate-quality on {}: {} ({:.1}% per {} s segment in {} steps, {:.1}% in {} at a scene's first, {}), H.265 (hevc_nvenc or libx265), PSNR-Y/SSIM-Y vs the HR frames (every {}th frame), {}",
        args.input.display(),
        options.base,
        options.training.fraction * 100.0,
        options.segment_s,
        options.training.steps,
        options.training.scene_fraction * 100.0,
        options.training.scene_steps,
        share_cap(&options),
        args.sample_every,
        device.label()
    );
    println!(
        "{:<26} {:>4} {:>10} {:>9} {:>7}",
        "method", "crf", "kbit/s", "PSNR-Y", "SSIM-Y"
    );
    let mut encodes = Vec::new();
    let points = srvc_eval(
        &args.input,
        &args.crf,
        &options,
        &device,
        args.sample_every,
        &work.0,
        |p| {
            println!(
                "{:<26} {:>4} {:>10.1} {:>6.2} dB {:>7.4}",
                p.method.label(),
                p.crf,
                p.kbps,
                p.psnr_y,
                p.ssim_y
            );
        },
        |crf, report| encodes.push((crf, report.clone())),
    )
    .with_context(|| format!("cannot evaluate {}", args.input.display()))?;
    println!(
        "{:>4} {:>9} {:>16} {:>12} {:>22} {:>13}",
        "crf", "segments", "model kbit/s", "of all bits", "in-segment vs base", "s a segment"
    );
    for (crf, report) in &encodes {
        println!("{}", encode_summary(*crf, report));
    }
    print_rate_quality(args, &points)?;
    Ok(ExitCode::SUCCESS)
}

/// The rate-quality chart of every method, and the BD-rate and BD-PSNR of SRVC against each
/// anchor.
fn print_rate_quality(args: &EvalArgs, points: &[RatePoint]) -> Result<()> {
    let curve = |m: Method| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.method == m)
            .map(|p| (p.kbps, p.psnr_y))
            .collect()
    };
    let plot = args.plot.clone().unwrap_or_else(|| {
        let stem = args
            .input
            .file_stem()
            .map_or_else(|| "video".into(), |s| s.to_string_lossy().into_owned());
        args.input.with_file_name(format!("{stem}_srvc_eval.png"))
    });
    let series: Vec<Vec<(f64, f64)>> = Method::ALL.iter().map(|m| curve(*m)).collect();
    super::plot::rate_quality(&series, &plot)?;
    let legend: Vec<String> = Method::ALL
        .iter()
        .zip(super::plot::COLOURS)
        .map(|(m, (colour, _))| format!("{colour} = {}", m.label()))
        .collect();
    println!(
        "plot: {} (PSNR-Y over kbit/s; {})",
        plot.display(),
        legend.join(", ")
    );
    for anchor in [Method::FullResH265, Method::LrBicubic, Method::LrGeneric] {
        let (a, t) = (curve(anchor), curve(Method::LrSrvc));
        let rate = bd_rate(&a, &t).map_or("no PSNR overlap".into(), |bd| format!("{bd:+.1}%"));
        let psnr = bd_psnr(&a, &t).map_or("no rate overlap".into(), |bd| format!("{bd:+.2} dB"));
        println!(
            "SRVC vs {}: BD-rate {rate} (bits at equal PSNR-Y), BD-PSNR {psnr} (at equal kbit/s)",
            anchor.label()
        );
    }
    Ok(())
}

/// The stream's share cap in words.
fn share_cap(options: &SrvcOptions) -> String {
    options.max_share.map_or_else(
        || "no cap on the stream's share".into(),
        |share| format!("stream at most {:.0}% of the bits", share * 100.0),
    )
}

/// One CRF's SRVC encode in a row: model-stream rate and share, the segments' gains over the
/// base model (in-segment: the frames the encoder trained on, as the codec has them), and the
/// training time per segment.
fn encode_summary(crf: u8, report: &SrvcReport) -> String {
    let (video_kbps, model_kbps) = report.kbps();
    let gains: Vec<f64> = report
        .segments
        .iter()
        .map(|s| s.srvc_db - s.base_db)
        .collect();
    let low = gains.iter().copied().fold(f64::INFINITY, f64::min);
    let high = gains.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean_s = report.segments.iter().map(|s| s.seconds).sum::<f64>()
        / report.segments.len().max(1) as f64;
    format!(
        "{crf:>4} {:>9} {model_kbps:>16.1} {:>11.1}% {:>22} {mean_s:>13.1}",
        report.segments.len(),
        100.0 * model_kbps / (video_kbps + model_kbps).max(1e-9),
        format!("{low:+.2}..{high:+.2} dB"),
    )
}

/// Frames encoded so far (advanced after each segment) with the last segment's gain and loss;
/// hidden when stderr is not a terminal.
fn segment_bar(input: &std::path::Path) -> ProgressBar {
    let total = stronglive_engine::media::probe(input)
        .ok()
        .and_then(|info| info.video.frame_count);
    let bar = super::terminal_bar(
        total.unwrap_or(0),
        "[{bar:30}] {pos}/{len} frames, {elapsed} {msg}",
    );
    bar.set_message("training the first segment");
    bar
}

/// A scratch folder removed at the end.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<ScratchDir> {
    let dir = std::env::temp_dir().join(format!("stronglive-srvc-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(ScratchDir(dir))
}

fn encode(args: &EncodeArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.overwrite {
        bail!(
            "{}: output already exists (pass --overwrite to replace it)",
            args.output.display()
        );
    }
    let options = args.stream.options(args.crf)?;
    let device = ComputeDevice::select(args.device.with_precision(args.precision))?;
    println!(
        "{} -> {}: LR x1/{} H.265 CRF {}, {} s segments, {:.1}% of {} per segment in {} steps ({:.1}% in {} at a scene's first; {:?}; {}) on {}",
        args.input.display(),
        args.output.display(),
        options.scale,
        options.crf,
        options.segment_s,
        options.training.fraction * 100.0,
        options.base,
        options.training.steps,
        options.training.scene_fraction * 100.0,
        options.training.scene_steps,
        options.quantization,
        share_cap(&options),
        device.label()
    );
    let never = std::sync::atomic::AtomicBool::new(false);
    let bar = segment_bar(&args.input);
    let report = srvc_encode(&args.input, &args.output, &options, &device, &never, |s| {
        let kept = s
            .note()
            .map_or_else(String::new, |note| format!(" ({note})"));
        let line = format!(
            "segment {:>3} at {:>7.2} s: {:>4} frames, loss {:.4}, {:>6} changes, {:>7} bytes, PSNR-Y {:.2} dB vs base {:.2} dB ({:+.2} dB), {:.1} s{kept}",
            s.index, s.start_s, s.frames, s.loss, s.changes, s.bytes, s.srvc_db, s.base_db, s.srvc_db - s.base_db, s.seconds
        );
        // A hidden bar prints nothing, not even its log lines.
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
        bar.inc(s.frames as u64);
        bar.set_message(format!(
            "segment {}: {:+.2} dB over the base, loss {:.4}",
            s.index + 1,
            s.srvc_db - s.base_db,
            s.loss
        ));
    });
    bar.finish_and_clear();
    let report = report.with_context(|| format!("cannot encode {}", args.input.display()))?;
    let (video_kbps, model_kbps) = report.kbps();
    println!(
        "wrote {}: {} frames, {:.2} s; LR video {:.1} kbit/s + model stream {:.1} kbit/s ({:.1}% of the bits)",
        report.output.display(),
        report.frames,
        report.duration_s,
        video_kbps,
        model_kbps,
        100.0 * model_kbps / (video_kbps + model_kbps).max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
