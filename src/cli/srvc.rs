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
}

#[derive(Args)]
pub struct EncodeArgs {
    pub input: PathBuf,
    /// Output (.mkv: the model stream is a Matroska attachment).
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub scale: u32,
    /// libx265 CRF of the LR video.
    #[arg(long, default_value_t = 28)]
    pub crf: u8,
    /// Segment length in seconds (one weight update each).
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
    #[arg(long, default_value = "int8", value_parser = parse_quantization)]
    pub quantization: Quantization,
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
    }
}

fn encode(args: &EncodeArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.overwrite {
        bail!(
            "{}: output already exists (pass --overwrite to replace it)",
            args.output.display()
        );
    }
    if !(0.0..=1.0).contains(&args.fraction) || args.fraction == 0.0 {
        bail!("--fraction {}: must be in (0, 1]", args.fraction);
    }
    if args.segment <= 0.0 {
        bail!("--segment {}: must be positive", args.segment);
    }
    let device = ComputeDevice::select(args.device)?;
    let options = SrvcOptions {
        base: args.base.clone(),
        scale: args.scale,
        crf: args.crf,
        segment_s: args.segment,
        training: SegmentTraining {
            steps: args.steps,
            fraction: args.fraction,
            ..SegmentTraining::default()
        },
        quantization: args.quantization,
    };
    println!(
        "{} -> {}: LR x1/{} libx265 CRF {}, {} s segments, {:.1}% of {} per segment ({:?}), {} steps on {}",
        args.input.display(),
        args.output.display(),
        args.scale,
        args.crf,
        args.segment,
        args.fraction * 100.0,
        args.base,
        args.quantization,
        args.steps,
        device.label()
    );
    let report = srvc_encode(&args.input, &args.output, &options, &device, |s| {
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
