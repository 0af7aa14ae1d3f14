//! `stronglive bench`: frames/s of each stage (decode, SR per model and size, encode) and of the
//! whole offline job, printed as a table, with ratios against bicubic measured in the same run.
//! The other modes (`--live`, `--learn`, `--fill`, `--vs-pytorch`, `--soak`, `--protocol`) live
//! in their own files and are dispatched from `run`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use stronglive_engine::frame::{ColorInfo, YuvFrame};
use stronglive_engine::media::{
    EncoderChoice, MediaWriter, OutputPlan, Quality, VideoDecoder, LAVFI_PREFIX,
};
use stronglive_engine::pipeline::OfflineJob;
use stronglive_engine::sr::adapt::TunedLayers;
use stronglive_engine::sr::registry::ModelRegistry;
use stronglive_engine::sr::{
    load_model, model::gflops_per_frame, ComputeDevice, DevicePreference, Precision, Upscaler,
};

use super::bench_util::{parse_size, peak_rss_mib};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Frames per measurement.
    #[arg(long, default_value_t = 30)]
    pub frames: u32,
    /// Models to time (comma-separated names or paths; default: every shipped model); bicubic
    /// is always included.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Input sizes for SR, WxH, comma-separated.
    #[arg(long, default_value = "480x270,960x540", value_delimiter = ',')]
    pub sizes: Vec<String>,
    /// Encoder for the encode and end-to-end rows.
    #[arg(long, default_value = "auto")]
    pub encoder: EncoderChoice,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
    /// Number format of SR: auto (bf16 on CPUs with native bf16, fp32 on other CPUs, fp16 on
    /// CUDA), fp32, bf16, fp16 (CUDA only).
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
    /// Skip the (slow on CPU) 4K encode and end-to-end rows.
    #[arg(long)]
    pub sr_only: bool,
    /// Measure the live path instead: `stronglive send` -> `serve` over loopback, per size
    /// (default model: the device's tier), reporting fps, drops, SR time and latency.
    #[arg(long)]
    pub live: bool,
    /// Seconds streamed per live measurement.
    #[arg(long, default_value_t = 10)]
    pub live_seconds: u32,
    /// Frame rate of the live sender.
    #[arg(long, default_value_t = 30)]
    pub live_fps: u32,
    /// Record the takes during --live (the recorder's encoder is then part of the load).
    #[arg(long, requires = "live")]
    pub live_record: bool,
    /// Measure live learning instead: CLIP plays (as a phone would stream it, 1/4 size through
    /// H.264) over --seconds of learning from its HR patches; each 10 s the live weights are
    /// scored on the frames that come next, beside the generic model and bicubic.
    #[arg(long, value_name = "CLIP")]
    pub learn: Option<PathBuf>,
    /// Seconds of learning for --learn.
    #[arg(long, default_value_t = 60)]
    pub seconds: u32,
    /// Which layers --learn fine-tunes: all, or hfab (FMEN's HFAB blocks + lr_conv).
    #[arg(long, default_value = "all", requires = "learn")]
    pub layers: TunedLayers,
    /// Compare the engine's `upscale` of CLIP with scripts/bench_pytorch_reference.py (ffmpeg
    /// pipes around eager PyTorch fp32) on the same model weights and encoder settings.
    #[arg(long, value_name = "CLIP", conflicts_with_all = ["live", "learn"])]
    pub vs_pytorch: Option<PathBuf>,
    /// Compare the cheap outputs for frames live SR has no time for, by PSNR-Y on CLIP's true
    /// frames (SR on every k-th frame of its phone stream; see --every).
    #[arg(long, value_name = "CLIP", conflicts_with_all = ["live", "learn", "vs_pytorch"])]
    pub fill: Option<PathBuf>,
    /// SR on every k-th frame for --fill (comma-separated k values).
    #[arg(
        long,
        default_value = "2,4,8",
        value_delimiter = ',',
        requires = "fill"
    )]
    pub every: Vec<u32>,
    /// Hold one live session for SECONDS with learning (HR patches) and recording on,
    /// sampling resident memory, open descriptors and threads.
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["live", "learn", "vs_pytorch", "fill"])]
    pub soak: Option<u32>,
    /// Measure protocol v2's sealing (AES-256-GCM) against clear framing at these bitrates.
    #[arg(long, conflicts_with_all = ["live", "learn", "vs_pytorch", "fill"])]
    pub protocol: bool,
    /// Bitrates (Mbit/s, comma-separated) for --protocol.
    #[arg(
        long,
        default_value = "4,40",
        value_delimiter = ',',
        requires = "protocol"
    )]
    pub bitrates: Vec<f64>,
    /// Runs of each side for --vs-pytorch (alternating; the best of each is reported).
    #[arg(long, default_value_t = 2, requires = "vs_pytorch")]
    pub rounds: u32,
}

/// One line of the stage table.
struct Row {
    stage: String,
    detail: String,
    frames: u64,
    seconds: f64,
    /// Bicubic's fps at the same size, for the ratio column.
    reference_fps: Option<f64>,
}

impl Row {
    fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Parameters and cost of a model, for the second table.
struct ModelCost {
    name: String,
    parameters: Option<u64>,
    gflops_960x540: Option<f64>,
}

fn lavfi_clip(w: u32, h: u32, frames: u32) -> PathBuf {
    PathBuf::from(format!(
        "{LAVFI_PREFIX}testsrc2=size={w}x{h}:rate=30,format=yuv420p,trim=end_frame={frames}"
    ))
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.protocol {
        return super::protocol_bench::run(&args.bitrates, 10);
    }
    if let Some(seconds) = args.soak {
        let device = ComputeDevice::select(args.device.with_precision(args.precision))?;
        return super::soak_bench::run(seconds, args.models.first().map(String::as_str), &device);
    }
    if args.live {
        return super::live_bench::run(&super::live_bench::LiveBench {
            sizes: &args.sizes,
            models: &args.models,
            seconds: args.live_seconds,
            fps: args.live_fps,
            record: args.live_record,
            device: args.device.with_precision(args.precision),
        });
    }
    if let Some(clip) = &args.learn {
        return super::learn_bench::run(&super::learn_bench::LearnBench {
            clip,
            seconds: args.seconds,
            model: args.models.first().map(String::as_str),
            device: args.device.with_precision(args.precision),
            layers: args.layers,
        });
    }
    if let Some(clip) = &args.fill {
        return super::fill_bench::run(&super::fill_bench::FillBench {
            clip,
            every: &args.every,
            model: args.models.first().map(String::as_str),
            device: args.device.with_precision(args.precision),
        });
    }
    if let Some(clip) = &args.vs_pytorch {
        return super::bench_reference::run(&super::bench_reference::VsPytorch {
            clip,
            models: &args.models,
            encoder: &args.encoder,
            device: args.device.with_precision(args.precision),
            rounds: args.rounds,
        });
    }
    let device = ComputeDevice::select(args.device.with_precision(args.precision))?;
    let sizes: Vec<(u32, u32)> = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<_>>()?;
    let models = models_to_time(args);
    let scratch = tempfile_dir()?;
    let mut rows = measure_decode(args, &sizes, &scratch)?;
    let (sr_rows, costs) = measure_sr(args, &sizes, &models, &device)?;
    rows.extend(sr_rows);
    if !args.sr_only {
        let size = sizes.last().copied().unwrap_or((960, 540));
        rows.extend(measure_encode_and_jobs(args, size, &models, &scratch)?);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    print_stage_table(&rows, &costs);
    Ok(())
}

/// Bicubic first (the reference of the ratios), then the named or every shipped x4 model.
fn models_to_time(args: &BenchArgs) -> Vec<String> {
    let mut models = vec!["bicubic".to_string()];
    if args.models.is_empty() {
        let registry = ModelRegistry::discover();
        models.extend(
            registry
                .entries
                .iter()
                .filter(|e| e.shipped && e.card.as_ref().is_some_and(|c| c.scale == 4))
                .map(|e| e.name.clone()),
        );
    } else {
        models.extend(args.models.iter().filter(|m| *m != "bicubic").cloned());
    }
    models
}

/// The threaded FFmpeg decoder on an H.264 clip of each size made in this run.
fn measure_decode(args: &BenchArgs, sizes: &[(u32, u32)], scratch: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &(w, h) in sizes {
        let clip = scratch.join(format!("decode_{w}x{h}.mp4"));
        encode_clip(&lavfi_clip(w, h, args.frames), &clip)?;
        let mut decoder = VideoDecoder::open(&clip)?;
        let start = Instant::now();
        let mut frames = 0;
        while decoder.next_frame()?.is_some() {
            frames += 1;
        }
        rows.push(Row {
            stage: "decode h264".into(),
            detail: format!("{w}x{h}"),
            frames,
            seconds: start.elapsed().as_secs_f64(),
            reference_fps: None,
        });
    }
    Ok(rows)
}

/// SR per model and size: YUV upload, RGB conversion, model, YUV conversion, download.
fn measure_sr(
    args: &BenchArgs,
    sizes: &[(u32, u32)],
    models: &[String],
    device: &ComputeDevice,
) -> Result<(Vec<Row>, Vec<ModelCost>)> {
    let mut rows = Vec::new();
    let mut costs: Vec<ModelCost> = Vec::new();
    for &(w, h) in sizes {
        let mut bicubic_fps = None;
        for name in models {
            let model = load_model(name, 4, device)?;
            if !costs.iter().any(|c| &c.name == name) {
                costs.push(ModelCost {
                    name: name.clone(),
                    parameters: model.parameters(),
                    gflops_960x540: gflops_per_frame(model.as_ref(), 960, 540),
                });
            }
            let upscaler = Upscaler::new(model, device.clone());
            let frame = YuvFrame::filled(w, h, 120, 110, 140, ColorInfo::default_for_height(h));
            upscaler.upscale(&frame)?; // warm-up: allocator, kernels
            let start = Instant::now();
            for _ in 0..args.frames {
                upscaler.upscale(&frame)?;
            }
            let row = Row {
                stage: format!("sr {name}"),
                detail: format!("{w}x{h} -> {}x{} {}", w * 4, h * 4, device.label()),
                frames: u64::from(args.frames),
                seconds: start.elapsed().as_secs_f64(),
                reference_fps: bicubic_fps,
            };
            if name == "bicubic" {
                bicubic_fps = Some(row.fps());
            }
            rows.push(row);
        }
    }
    Ok((rows, costs))
}

/// Encoding at the output size, then an H.264 file through the three-thread offline job.
fn measure_encode_and_jobs(
    args: &BenchArgs,
    (w, h): (u32, u32),
    models: &[String],
    scratch: &Path,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let clip = lavfi_clip(w * 4, h * 4, args.frames);
    let start = Instant::now();
    let (frames, encoder) = encode_clip_with(&clip, &scratch.join("encode.mp4"), &args.encoder)?;
    rows.push(Row {
        stage: format!("encode {encoder}"),
        detail: format!("{}x{} (incl. lavfi source)", w * 4, h * 4),
        frames,
        seconds: start.elapsed().as_secs_f64(),
        reference_fps: None,
    });
    let input = scratch.join(format!("e2e_{w}x{h}.mp4"));
    encode_clip(&lavfi_clip(w, h, args.frames), &input)?;
    for name in models {
        let job = OfflineJob {
            input: input.clone(),
            output: scratch.join(format!("e2e_{name}.mp4").replace('/', "_")),
            model: name.clone(),
            scale: 4,
            encoder: args.encoder.clone(),
            quality: Quality::Default,
            device: args.device.with_precision(args.precision),
            overwrite: true,
            chunk: None,
            eight_bit: false,
        };
        let report = job.run(Arc::new(AtomicBool::new(false)), &mut |_| {})?;
        rows.push(Row {
            stage: format!("end-to-end {name}"),
            detail: format!("{w}x{h} -> {}x{} {}", w * 4, h * 4, report.start.encoder),
            frames: report.frames,
            seconds: report.elapsed.as_secs_f64(),
            reference_fps: None,
        });
    }
    Ok(rows)
}

fn print_stage_table(rows: &[Row], costs: &[ModelCost]) {
    println!(
        "{:<22} {:<36} {:>7} {:>9} {:>10} {:>12}",
        "stage", "detail", "frames", "fps", "ms/frame", "vs bicubic"
    );
    for row in rows {
        let ratio = row
            .reference_fps
            .map(|r| format!("{:.2}x", row.fps() / r))
            .unwrap_or_default();
        println!(
            "{:<22} {:<36} {:>7} {:>9.2} {:>10.2} {:>12}",
            row.stage,
            row.detail,
            row.frames,
            row.fps(),
            1000.0 * row.seconds / row.frames.max(1) as f64,
            ratio
        );
    }
    println!();
    println!(
        "{:<22} {:>12} {:>18}",
        "model", "parameters", "GFLOP per 960x540"
    );
    for cost in costs {
        println!(
            "{:<22} {:>12} {:>18}",
            cost.name,
            cost.parameters.map_or("-".into(), |p| p.to_string()),
            cost.gflops_960x540
                .map_or("-".into(), |g| format!("{g:.1}"))
        );
    }
    println!("peak resident memory: {} MiB", peak_rss_mib());
}

/// Encode a source 1:1 with x264 (fast, always present) into an MP4.
fn encode_clip(source: &Path, out: &Path) -> Result<u64> {
    encode_clip_with(source, out, &EncoderChoice::Named("libx264".into())).map(|(n, _)| n)
}

fn encode_clip_with(source: &Path, out: &Path, encoder: &EncoderChoice) -> Result<(u64, String)> {
    let mut decoder = VideoDecoder::open(source)?;
    let info = decoder.info().clone();
    let mut writer = MediaWriter::create(
        &OutputPlan {
            path: out.to_path_buf(),
            width: info.video.width,
            height: info.video.height,
            encoder: encoder.clone(),
            quality: Quality::Default,
        },
        &decoder,
    )?;
    let name = writer.encoder_name().to_string();
    let mut frames = 0;
    while let Some(f) = decoder.next_frame()? {
        writer.write_frame(&f)?;
        frames += 1;
    }
    writer.finish()?;
    Ok((frames, name))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("stronglive-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    Ok(dir)
}
