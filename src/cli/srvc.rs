//! `stronglive srvc encode HR.mp4 -o OUT.mkv`: content-adaptive compression (SRVC). Decoding is
//! `stronglive upscale OUT.mkv`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use stronglive::pipeline::srvc_encode::{srvc_encode, SrvcOptions};
use stronglive::sr::srvc::trainer::SegmentTraining;
use stronglive::sr::srvc::Quantization;
use stronglive::sr::{ComputeDevice, DevicePreference};

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
    #[arg(long, default_value_t = 0.01)]
    pub fraction: f64,
    #[arg(long, default_value = "fmen-tiny-x4")]
    pub base: String,
    /// Training steps per segment (the masked pass; the first pass takes half as many).
    #[arg(long, default_value_t = 100)]
    pub steps: u32,
    /// Adam learning rate of the segment training.
    #[arg(long, default_value_t = SegmentTraining::default().learning_rate)]
    pub lr: f64,
    #[arg(long, default_value = "int8", value_parser = parse_quantization)]
    pub quantization: Quantization,
}

impl ModelStreamArgs {
    /// The encoder's options at `crf`, after checking the values.
    fn options(&self, crf: u8) -> Result<SrvcOptions> {
        if !(0.0..=1.0).contains(&self.fraction) || self.fraction == 0.0 {
            bail!("--fraction {}: must be in (0, 1]", self.fraction);
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
                fraction: self.fraction,
                learning_rate: self.lr,
                ..SegmentTraining::default()
            },
            quantization: self.quantization,
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
    stronglive::media::init();
    match command {
        SrvcCommand::Encode(args) => encode(args),
        SrvcCommand::Eval(args) => eval(args),
    }
}

fn eval(args: &EvalArgs) -> Result<ExitCode> {
    use stronglive::pipeline::srvc_eval::{bd_rate, srvc_eval, Method};
    let options = args.stream.options(SrvcOptions::default().crf)?;
    let device = ComputeDevice::select(args.device)?;
    let work = tempfile_dir()?;
    println!(
        "SRVC rate-quality on {}: {} ({:.1}% per {} s segment, {} steps), H.265 (hevc_nvenc or libx265), PSNR-Y/SSIM-Y vs the HR frames (every {}th frame), {}",
        args.input.display(),
        options.base,
        options.training.fraction * 100.0,
        options.segment_s,
        options.training.steps,
        args.sample_every,
        device.label()
    );
    println!(
        "{:<26} {:>4} {:>10} {:>9} {:>7}",
        "method", "crf", "kbit/s", "PSNR-Y", "SSIM-Y"
    );
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
    )
    .with_context(|| format!("cannot evaluate {}", args.input.display()))?;
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
        match bd_rate(&curve(anchor), &curve(Method::LrSrvc)) {
            Some(bd) => println!("BD-rate of SRVC vs {}: {bd:+.1}%", anchor.label()),
            None => println!("BD-rate of SRVC vs {}: no PSNR overlap", anchor.label()),
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let device = ComputeDevice::select(args.device)?;
    println!(
        "{} -> {}: LR x1/{} H.265 CRF {}, {} s segments, {:.1}% of {} per segment ({:?}), {} steps on {}",
        args.input.display(),
        args.output.display(),
        options.scale,
        options.crf,
        options.segment_s,
        options.training.fraction * 100.0,
        options.base,
        options.quantization,
        options.training.steps,
        device.label()
    );
    let never = std::sync::atomic::AtomicBool::new(false);
    let report = srvc_encode(&args.input, &args.output, &options, &device, &never, |s| {
        println!(
            "segment {:>3} at {:>7.2} s: {:>4} frames, {:>6} changes, {:>7} bytes, PSNR-Y {:.2} dB vs base {:.2} dB ({:+.2} dB), {:.1} s",
            s.index, s.start_s, s.frames, s.changes, s.bytes, s.srvc_db, s.base_db, s.srvc_db - s.base_db, s.seconds
        );
    })
    .with_context(|| format!("cannot encode {}", args.input.display()))?;
    let seconds = report.duration_s.max(1e-3);
    let video_kbps = report.video_bytes as f64 * 8.0 / 1000.0 / seconds;
    let model_kbps = report.model_bytes as f64 * 8.0 / 1000.0 / seconds;
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
