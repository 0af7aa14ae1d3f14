//! `stronglive bench`: frames/s of each stage (decode, SR per model and size, encode) and of the
//! whole offline job, printed as a table, with ratios against bicubic measured in the same run.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::frame::{ColorInfo, YuvFrame};
use crate::media::{
    DemuxItem, EncoderChoice, MediaWriter, OutputPlan, Quality, VideoDecoder, LAVFI_PREFIX,
};
use crate::pipeline::OfflineJob;
use crate::sr::{load_model, model::gflops_per_frame, ComputeDevice, DevicePreference, Upscaler};

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
}

struct Row {
    stage: String,
    detail: String,
    frames: u64,
    seconds: f64,
    reference_fps: Option<f64>,
}

impl Row {
    fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .with_context(|| format!("size {s:?} is not WxH"))?;
    Ok((w.trim().parse()?, h.trim().parse()?))
}

fn lavfi_clip(w: u32, h: u32, frames: u32) -> PathBuf {
    PathBuf::from(format!(
        "{LAVFI_PREFIX}testsrc2=size={w}x{h}:rate=30,format=yuv420p,trim=end_frame={frames}"
    ))
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.live {
        return crate::live_bench::run(args);
    }
    let device = ComputeDevice::select(args.device)?;
    let sizes: Vec<(u32, u32)> = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<_>>()?;
    let mut models = vec!["bicubic".to_string()];
    if args.models.is_empty() {
        let registry = crate::sr::registry::ModelRegistry::discover();
        models.extend(
            registry
                .entries
                .iter()
                .filter(|e| {
                    e.shipped && e.card.is_some() && e.card.as_ref().is_some_and(|c| c.scale == 4)
                })
                .map(|e| e.name.clone()),
        );
    } else {
        models.extend(args.models.iter().filter(|m| *m != "bicubic").cloned());
    }
    let mut costs: Vec<(String, Option<u64>, Option<f64>)> = Vec::new();
    let mut rows = Vec::new();

    // Decode: the threaded FFmpeg decoder on an H.264 clip of each size made in this run.
    let scratch = tempfile_dir()?;
    for &(w, h) in &sizes {
        let clip = scratch.join(format!("decode_{w}x{h}.mp4"));
        encode_clip(&lavfi_clip(w, h, args.frames), &clip)?;
        let mut decoder = VideoDecoder::open(&clip)?;
        let start = Instant::now();
        let mut frames = 0;
        while let Some(item) = decoder.next_item()? {
            if matches!(item, DemuxItem::Frame(_)) {
                frames += 1;
            }
        }
        rows.push(Row {
            stage: "decode h264".into(),
            detail: format!("{w}x{h}"),
            frames,
            seconds: start.elapsed().as_secs_f64(),
            reference_fps: None,
        });
    }

    // SR: YUV upload, RGB conversion, model, YUV conversion, download, per model and size.
    for &(w, h) in &sizes {
        let mut bicubic_fps = None;
        for name in &models {
            let model = load_model(name, 4, &device)?;
            if !costs.iter().any(|c| &c.0 == name) {
                costs.push((
                    name.clone(),
                    model.parameters(),
                    gflops_per_frame(model.as_ref(), 960, 540),
                ));
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

    if !args.sr_only {
        let (w, h) = sizes.last().copied().unwrap_or((960, 540));
        // Encode at the output size.
        let clip = lavfi_clip(w * 4, h * 4, args.frames);
        let start = Instant::now();
        let (frames, encoder) =
            encode_clip_with(&clip, &scratch.join("encode.mp4"), &args.encoder)?;
        rows.push(Row {
            stage: format!("encode {encoder}"),
            detail: format!("{}x{} (incl. lavfi source)", w * 4, h * 4),
            frames,
            seconds: start.elapsed().as_secs_f64(),
            reference_fps: None,
        });
        // End to end: an H.264 file through the three-thread offline job.
        let input = scratch.join(format!("e2e_{w}x{h}.mp4"));
        encode_clip(&lavfi_clip(w, h, args.frames), &input)?;
        for name in &models {
            let job = OfflineJob {
                input: input.clone(),
                output: scratch.join(format!("e2e_{name}.mp4").replace('/', "_")),
                model: name.clone(),
                scale: 4,
                encoder: args.encoder.clone(),
                quality: Quality::Default,
                device: args.device,
                overwrite: true,
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
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "{:<22} {:<36} {:>7} {:>9} {:>10} {:>12}",
        "stage", "detail", "frames", "fps", "ms/frame", "vs bicubic"
    );
    for row in &rows {
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
    for (name, params, gflops) in &costs {
        println!(
            "{:<22} {:>12} {:>18}",
            name,
            params.map_or("-".into(), |p| p.to_string()),
            gflops.map_or("-".into(), |g| format!("{g:.1}"))
        );
    }
    println!("peak resident memory: {} MiB", peak_rss_mib());
    Ok(())
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
    while let Some(item) = decoder.next_item()? {
        if let DemuxItem::Frame(f) = item {
            writer.write_frame(&f)?;
            frames += 1;
        }
    }
    writer.finish()?;
    Ok((frames, name))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("stronglive-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    Ok(dir)
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
