//! `stronglive adapt HR.mp4 --base NAME --name NEW`: learn a scene from a full-resolution video
//! (the offline twin of `serve --learn`) and save it as a user model for `--model NEW`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use stronglive_engine::pipeline::adapt_video::{adapt_to_video, VideoAdaptOptions};
use stronglive_engine::sr::registry::{adapted_models_dir, DEFAULT_MODEL};
use stronglive_engine::sr::{ComputeDevice, DevicePreference};

#[derive(Args)]
pub struct AdaptArgs {
    /// A full-resolution video of the scene (what the camera sees).
    pub video: PathBuf,
    /// The model to start from (a network: fmen-*, edsr-*, srvc-*).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub base: String,
    /// Name of the new model, saved in the user models folder (STRONGLIVE_MODELS' first
    /// folder, else ~/.local/share/stronglive/models).
    #[arg(long)]
    pub name: String,
    /// Training time budget in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    #[arg(long, default_value = "auto")]
    pub device: DevicePreference,
}

pub fn run(args: &AdaptArgs) -> Result<ExitCode> {
    stronglive_engine::media::init();
    let models_dir =
        adapted_models_dir().context("no user models folder: set STRONGLIVE_MODELS or HOME")?;
    let device = ComputeDevice::select(args.device)?;
    let options = VideoAdaptOptions {
        base: args.base.clone(),
        name: args.name.clone(),
        models_dir,
        seconds: args.seconds,
        scale: 4,
    };
    let bar = super::terminal_bar(
        (args.seconds.max(1.0) * 10.0) as u64,
        "{prefix} [{bar:30}] {msg}",
    );
    bar.set_prefix(args.name.clone());
    let report = adapt_to_video(&args.video, &options, &device, |p| {
        bar.set_position((p.elapsed.as_secs_f64() * 10.0) as u64);
        bar.set_message(format!(
            "{} steps, v{}, {:+.2} dB vs {} on held-out patches",
            p.steps, p.version, p.gain_db, args.base
        ));
    });
    bar.finish_and_clear();
    let report = report.with_context(|| format!("cannot adapt to {}", args.video.display()))?;
    println!(
        "{}: {} frames sampled, {} pairs, {} steps on {}: held-out PSNR-Y {:.2} dB vs {:.2} dB for {} ({:+.2} dB)",
        args.name,
        report.frames_sampled,
        report.pairs,
        report.steps,
        device.label(),
        report.adapted_db,
        report.base_db,
        args.base,
        report.adapted_db - report.base_db
    );
    println!("saved {}", report.card.display());
    println!("use it: stronglive upscale VIDEO --model {}", args.name);
    Ok(ExitCode::SUCCESS)
}
