//! `stronglive`: the studio window (no subcommand) and the command-line tools. This file only
//! parses the command line, sets up logging and dispatches to `cli/` (or the studio).

#[cfg(feature = "media")]
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(not(all(feature = "gui", feature = "media")))]
use anyhow::bail;
use anyhow::Result;
use clap::{Parser, Subcommand};

mod cli;

#[cfg(feature = "media")]
use cli::{adapt, bench, live, srvc, upscale};
use cli::{eval, models};

#[derive(Parser)]
#[command(
    name = "stronglive",
    version,
    about = "StrongLive Studio: neural super-resolution of video to 4K"
)]
struct Cli {
    /// More logging (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the studio window (the default when no command is given).
    Gui {
        /// Play the bundled demo clip through the live pipeline right away.
        #[arg(long)]
        demo: bool,
        /// Video files to queue in the Offline tab (as if dropped onto the window).
        files: Vec<std::path::PathBuf>,
    },
    /// Upscale video files (a batch when several are given).
    #[cfg(feature = "media")]
    Upscale(upscale::UpscaleArgs),
    /// Join the parts of a chunked job (`upscale --chunk K/N`) by stream copy, with the
    /// source's audio and subtitles.
    #[cfg(feature = "media")]
    Concat(upscale::ConcatArgs),
    /// Describe media files: container, video stream, colour, rotation, tracks.
    #[cfg(feature = "media")]
    Probe { files: Vec<PathBuf> },
    /// Measure decode, SR, encode and end-to-end speed; prints a table.
    #[cfg(feature = "media")]
    Bench(bench::BenchArgs),
    /// Show the pairing QR code and URI for the phone; list or remove paired devices.
    #[cfg(feature = "media")]
    Pair(live::PairArgs),
    /// Receive live streams (phones, `stronglive send`, RTMP/SRT), upscale, print metrics, record.
    #[cfg(feature = "media")]
    Serve(live::ServeArgs),
    /// Stream a file or lavfi source to a `serve`/studio like the phone does (the reference sender).
    #[cfg(feature = "media")]
    Send(live::SendArgs),
    /// Learn a scene from a full-resolution video (as a phone would stream it) and save the
    /// adapted model for `--model NAME`.
    #[cfg(feature = "media")]
    Adapt(adapt::AdaptArgs),
    /// Content-adaptive compression (SRVC): an HR video -> a small LR video + a model stream
    /// in one file; `upscale` decodes it.
    #[cfg(feature = "media")]
    Srvc {
        #[command(subcommand)]
        command: srvc::SrvcCommand,
    },
    /// Train an SR model on photos (see scripts/fetch_data.sh); writes models/NAME.*
    Train(models::TrainArgs),
    /// Score models and bicubic (PSNR-Y, SSIM) on ground-truth images.
    Eval(eval::EvalArgs),
    /// List the models: shipped, user-supplied (STRONGLIVE_MODELS), built in.
    Models,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        None => run_gui(false, Vec::new()),
        Some(Command::Gui { demo, files }) => run_gui(demo, files),
        #[cfg(feature = "media")]
        Some(Command::Upscale(args)) => upscale::upscale(args),
        #[cfg(feature = "media")]
        Some(Command::Concat(args)) => upscale::concat(&args),
        #[cfg(feature = "media")]
        Some(Command::Probe { files }) => upscale::probe(&files),
        #[cfg(feature = "media")]
        Some(Command::Bench(args)) => bench::run(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "media")]
        Some(Command::Pair(args)) => live::pair(&args),
        #[cfg(feature = "media")]
        Some(Command::Serve(args)) => live::serve(&args),
        #[cfg(feature = "media")]
        Some(Command::Send(args)) => live::send(&args),
        #[cfg(feature = "media")]
        Some(Command::Adapt(args)) => adapt::run(&args),
        #[cfg(feature = "media")]
        Some(Command::Srvc { command }) => srvc::run(&command),
        Some(Command::Train(args)) => models::run_train(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Eval(args)) => eval::run_eval(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Models) => models::run_models().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[cfg(all(feature = "gui", feature = "media"))]
fn run_gui(demo: bool, files: Vec<std::path::PathBuf>) -> Result<ExitCode> {
    stronglive_studio::run(stronglive_studio::StudioOptions {
        start_live: true,
        demo,
        files,
    })
    .map(|()| ExitCode::SUCCESS)
}

#[cfg(not(all(feature = "gui", feature = "media")))]
fn run_gui(_demo: bool, _files: Vec<std::path::PathBuf>) -> Result<ExitCode> {
    bail!("this build has no studio window (built without the `gui` feature); see `stronglive --help`")
}
