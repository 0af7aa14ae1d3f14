//! `stronglive upscale` and `stronglive probe`: the FFmpeg-backed commands (feature `media`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use stronglive_engine::media::chunks::{plan_chunks, ChunkRange, ChunkSpec};
use stronglive_engine::media::{self, EncoderChoice, Quality};
use stronglive_engine::pipeline::offline::resumable::{work_folder, ResumePolicy};
use stronglive_engine::pipeline::{default_output_path, JobError, JobEvent, JobReport, OfflineJob};
use stronglive_engine::sr::{DevicePreference, Precision};

#[derive(Args)]
pub struct UpscaleArgs {
    /// Input video files (anything FFmpeg reads).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (only with a single input). Container from the extension: .mp4 .mov .mkv
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Directory for outputs, named INPUT_x4.EXT (created if missing). Default: beside each input.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// SR model: `auto` (the best shipped model for this device: largest gain on CUDA, the CPU
    /// tier on a CPU), a name from `stronglive models`, or a path.
    #[arg(long, default_value = "auto")]
    model: String,
    /// Upscaling factor.
    #[arg(long, default_value_t = 4)]
    scale: u32,
    /// Video encoder; auto tries hevc_nvenc, h264_nvenc, libx265, libx264 in that order.
    #[arg(long, default_value = "auto")]
    encoder: EncoderChoice,
    /// Constant-quality level (CRF for x264/x265, CQ for NVENC; lower is better).
    #[arg(long, conflicts_with = "bitrate", value_parser = clap::value_parser!(u8).range(0..=51))]
    crf: Option<u8>,
    /// Target bitrate instead of constant quality, e.g. 40M or 25000k.
    #[arg(long, value_parser = super::parse_bitrate)]
    bitrate: Option<u64>,
    /// Where SR runs: auto (CUDA if present), cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    device: DevicePreference,
    /// Number format of SR: auto (bf16 on CPUs with native bf16, fp32 on other CPUs, fp16 on
    /// CUDA), fp32, bf16, fp16 (CUDA only).
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Replace outputs that already exist.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Upscale only chunk K of N (K from 0; chunks start at key frames) into -o PART, video
    /// only; `stronglive concat` joins the parts. `auto/N` takes K from JOB_COMPLETION_INDEX
    /// (Kubernetes Indexed Job), SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX.
    #[arg(long, value_name = "K/N", requires = "output")]
    chunk: Option<ChunkSpec>,
    /// Bits per sample of the output: auto keeps a 10-bit input's 10 bits (HEVC Main 10 with
    /// its HDR tags and metadata); 8 writes 8-bit video.
    #[arg(long, default_value = "auto", value_parser = ["auto", "8"])]
    bit_depth: String,
    /// Start over instead of continuing an interrupted run from its finished chunks (kept in
    /// the hidden folder .OUTPUT.resume beside the output until the output is complete).
    #[arg(long)]
    no_resume: bool,
    /// Seconds of video per resumable chunk; videos shorter than two chunks run in one go.
    #[arg(long, value_name = "SECONDS", default_value_t = ResumePolicy::default().chunk_seconds,
        value_parser = positive_seconds)]
    resume_chunk: f64,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s}: expected a number of seconds above 0")),
    }
}

/// The frames of `--chunk` for `input`, said on stderr.
fn chunk_of(input: &Path, spec: &ChunkSpec) -> Result<ChunkRange> {
    let index = spec.resolve().map_err(anyhow::Error::msg)?;
    let plan = plan_chunks(input, spec.count)?;
    let range = plan[index as usize];
    let first: u64 = plan[..index as usize].iter().map(|c| c.frames).sum();
    eprintln!(
        "chunk {index}/{}: frames {first}..{} ({} frames) of {}",
        spec.count,
        first + range.frames,
        range.frames,
        input.display()
    );
    Ok(range)
}

#[derive(Args)]
pub struct ConcatArgs {
    /// The parts, chunk 0 first (all N of them).
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// The joined file.
    #[arg(short, long)]
    output: PathBuf,
    /// The file the parts were upscaled from: chunk starts, audio and subtitle tracks.
    #[arg(long)]
    source: PathBuf,
    /// Replace the output if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
}

pub fn concat(args: &ConcatArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.overwrite {
        bail!(
            "{}: output already exists (pass --overwrite to replace it)",
            args.output.display()
        );
    }
    let report = media::concat::concat(&args.parts, &args.source, &args.output)?;
    eprintln!(
        "{}: {} parts joined, {} video packets, {} audio/subtitle packets from {}",
        report.output.display(),
        args.parts.len(),
        report.video_packets,
        report.copied_packets,
        args.source.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn probe(files: &[PathBuf]) -> Result<ExitCode> {
    let mut ok = true;
    for file in files {
        match media::probe(file) {
            Ok(info) => {
                let v = &info.video;
                println!(
                    "{}: {} {:.3}s | video #{} {} {}x{} {} {}-bit {:.3} fps {} frames, {:?}/{:?}, rotation {}° | {} audio, {} subtitle",
                    file.display(),
                    info.container,
                    info.duration_s,
                    v.stream_index,
                    v.codec,
                    v.width,
                    v.height,
                    v.pixel_format,
                    v.bit_depth,
                    v.fps,
                    v.frame_count.map_or("?".into(), |n| n.to_string()),
                    v.color.matrix,
                    v.color.range,
                    v.rotation,
                    info.audio_streams,
                    info.subtitle_streams
                );
                match stronglive_engine::pipeline::srvc::playback::summarise(file) {
                    Ok(Some(s)) => println!(
                        "  SRVC model stream: base {}, {} segments ({} damaged), {} bytes ({:.1} kbit/s)",
                        s.base,
                        s.segments,
                        s.damaged_segments,
                        s.bytes,
                        s.bytes as f64 * 8.0 / 1000.0 / info.duration_s.max(1e-3)
                    ),
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn upscale(args: UpscaleArgs) -> Result<ExitCode> {
    check_outputs(&args)?;
    let cancel = cancel_on_ctrl_c()?;
    let quality = quality_of(&args);
    let bars = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut outcomes: Vec<(PathBuf, Result<JobReport, String>)> = Vec::new();
    for input in &args.inputs {
        if cancel.load(Ordering::SeqCst) {
            outcomes.push((input.clone(), Err("cancelled before start".into())));
            continue;
        }
        let job = job_for(&args, input, quality)?;
        let result = run_job(&args, &job, &bars, &cancel);
        outcomes.push((input.clone(), result.map_err(|e| e.to_string())));
    }
    print_summary(&outcomes);
    let failed = outcomes.iter().filter(|(_, r)| r.is_err()).count();
    Ok(if cancel.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `-o` names one file; `--out-dir` is created if missing.
fn check_outputs(args: &UpscaleArgs) -> Result<()> {
    if args.output.is_some() && args.inputs.len() > 1 {
        bail!(
            "-o/--output names one file but {} inputs were given; use --out-dir for a batch",
            args.inputs.len()
        );
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output directory", dir.display()))?;
    }
    Ok(())
}

/// The flag the first Ctrl-C raises (jobs stop and remove their partial outputs); a second
/// Ctrl-C exits at once.
fn cancel_on_ctrl_c() -> Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user means it. Exiting runs no destructor, so the
            // partial outputs are removed here.
            stronglive_engine::atomic_file::remove_unfinished();
            eprintln!("forced exit: partial outputs removed");
            // _exit, not exit: the main thread may be exiting at this moment too, and two
            // threads running the C++ (libtorch) static destructors at once crash.
            // SAFETY: ends the process at once; nothing after this runs.
            unsafe { libc::_exit(130) };
        }
        eprintln!(
            "\ncancelling: finishing nothing, removing partial outputs (Ctrl-C again to force)"
        );
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(cancel)
}

fn quality_of(args: &UpscaleArgs) -> Quality {
    match (args.crf, args.bitrate) {
        (Some(q), _) => Quality::Crf(q),
        (None, Some(b)) => Quality::BitsPerSecond(b),
        (None, None) => Quality::Default,
    }
}

/// The job for one input (its `--chunk` range said on stderr).
fn job_for(args: &UpscaleArgs, input: &Path, quality: Quality) -> Result<OfflineJob> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output_path(input, args.out_dir.as_deref(), args.scale));
    Ok(OfflineJob {
        input: input.to_path_buf(),
        output,
        model: args.model.clone(),
        scale: args.scale,
        encoder: args.encoder.clone(),
        quality,
        device: args.device.with_precision(args.precision),
        overwrite: args.overwrite,
        chunk: match &args.chunk {
            Some(spec) => Some(chunk_of(input, spec)?),
            None => None,
        },
        eight_bit: args.bit_depth == "8",
    })
}

/// One job under its own progress bar, resuming from finished chunks unless --no-resume;
/// what happened is said on stderr.
fn run_job(
    args: &UpscaleArgs,
    job: &OfflineJob,
    bars: &MultiProgress,
    cancel: &Arc<AtomicBool>,
) -> Result<JobReport, JobError> {
    let bar = job_bar(bars, &job.input);
    let policy = ResumePolicy {
        resume: !args.no_resume,
        chunk_seconds: args.resume_chunk,
    };
    let result = job.run_resumable(policy, Arc::clone(cancel), &mut |event| {
        show_event(&event, &job.input, &bar, bars);
    });
    bar.finish_and_clear();
    match &result {
        Ok((_, Some(tally))) if tally.reused > 0 => eprintln!(
            "{}: resumed: {} of {} chunks were already done, {} computed now",
            job.output.display(),
            tally.reused,
            tally.reused + tally.computed,
            tally.computed
        ),
        Ok(_) => {}
        Err(e) => {
            eprintln!("error: {e}");
            let folder = work_folder(&job.output);
            if folder.is_dir() {
                eprintln!(
                    "  finished chunks are kept in {}: run the same command again to resume",
                    folder.display()
                );
            }
        }
    }
    result.map(|(report, _)| report)
}

fn job_bar(bars: &MultiProgress, input: &Path) -> ProgressBar {
    let bar = bars.add(ProgressBar::new(0));
    bar.set_style(
        // {msg} carries the job's own fps and ETA (pipeline::job), the figures the studio shows
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} frames {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(short_name(input));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A job's start line (above the bars on a terminal; plain lines in logs and tests) and its
/// progress on its bar.
fn show_event(event: &JobEvent, input: &Path, bar: &ProgressBar, bars: &MultiProgress) {
    match event {
        JobEvent::Started(start) => {
            bar.set_length(start.total_frames.unwrap_or(0));
            bars.suspend(|| {
                eprintln!(
                    "{} -> {}: {}x{} -> {}x{}, model {} on {}, encoder {}",
                    input.display(),
                    start.output.display(),
                    start.input_size.0,
                    start.input_size.1,
                    start.output_size.0,
                    start.output_size.1,
                    start.model,
                    start.device,
                    start.encoder
                );
                for skipped in &start.skipped_encoders {
                    eprintln!("  skipped encoder {skipped}");
                }
            });
        }
        JobEvent::Progress(p) => {
            if p.total_frames.is_some_and(|t| p.frames_done > t) {
                bar.set_length(p.frames_done);
            }
            bar.set_position(p.frames_done);
            let eta = p.eta.map_or("-".into(), |d| format!("{}s", d.as_secs()));
            bar.set_message(format!("{:.1} fps ETA {eta}", p.fps));
        }
    }
}

fn short_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn print_summary(outcomes: &[(PathBuf, Result<JobReport, String>)]) {
    println!(
        "{:<28} {:<32} {:>7} {:>7} {:<9} {:<11} result",
        "input", "output", "frames", "fps", "model", "encoder"
    );
    for (input, outcome) in outcomes {
        match outcome {
            Ok(r) => println!(
                "{:<28} {:<32} {:>7} {:>7.1} {:<9} {:<11} ok ({:.1}s)",
                short_name(input),
                r.start.output.display(),
                r.frames,
                r.fps,
                r.start.model,
                r.start.encoder,
                r.elapsed.as_secs_f64()
            ),
            Err(_) => println!(
                "{:<28} {:<32} {:>7} {:>7} {:<9} {:<11} FAILED",
                short_name(input),
                "-",
                "-",
                "-",
                "-",
                "-"
            ),
        }
    }
    let ok = outcomes.iter().filter(|(_, r)| r.is_ok()).count();
    println!("{ok}/{} files upscaled", outcomes.len());
}
