//! `stronglive serve`: receive live streams (paired phones, `stronglive send`, RTMP/SRT
//! ingest), upscale them, print events and a metrics line per session per second, record.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use stronglive_engine::live::pairing::{
    advertised_hosts, default_server_name, PairingStore, PairingUri, DEFAULT_SECRET_TTL_S,
};
use stronglive_engine::live::server::{
    upscaling_sessions, LiveServer, ServerConfig, ServerEvent, SessionEnd,
    DEFAULT_HANDSHAKE_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_SESSIONS,
};
use stronglive_engine::pipeline::{
    AdaptOptions, PatchAsk, RecordSwitch, SessionOptions, SessionReport, DEFAULT_SR_QUEUE,
};
use stronglive_engine::sr::registry::{adapted_models_dir, ModelRegistry};
use stronglive_engine::sr::{load_model, ComputeDevice, DevicePreference, Precision};

use super::pair::print_pairing;

#[derive(Args)]
pub struct ServeArgs {
    /// Address and port of the protocol listener (0.0.0.0 = every interface; port 0 = any free).
    #[arg(long, default_value = "0.0.0.0:7878")]
    bind: SocketAddr,
    /// Name the phone shows for this desktop.
    #[arg(long)]
    name: Option<String>,
    /// SR model: `auto` (as for `upscale`: the largest gain on CUDA, the best of the CPU
    /// tier otherwise, then switched between the shipped models while streaming for the most
    /// quality per output frame), a name from `stronglive models` (kept), or a path.
    #[arg(long, default_value = "auto")]
    model: String,
    /// Where SR runs: auto (CUDA if present), cpu, cuda, cuda:N.
    #[arg(long, default_value = "auto")]
    device: DevicePreference,
    /// Number format of SR: auto (bf16 on CPUs with native bf16, fp32 on other CPUs, fp16 on
    /// CUDA), fp32, bf16, fp16 (CUDA only).
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Record every session here: session-N-input.mp4 (as received) and session-N-x4.mp4 (SR).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Also accept STRONGLIVE's original Android client here (no authentication!), e.g.
    /// 0.0.0.0:12582 (the port the original app connects to) or 127.0.0.1:12582.
    #[arg(long, value_name = "ADDR:PORT")]
    legacy: Option<SocketAddr>,
    /// Also ingest RTMP or SRT senders (OBS, Larix): rtmp://0.0.0.0:1935/live/phone,
    /// srt://0.0.0.0:9000 (repeatable).
    #[arg(long, value_name = "URL")]
    ingest: Vec<String>,
    /// Exit after the first session ends.
    #[arg(long)]
    once: bool,
    /// Frames waiting for SR before the oldest is dropped (what arrives during one SR).
    #[arg(long, default_value_t = DEFAULT_SR_QUEUE as u16, value_parser = clap::value_parser!(u16).range(1..=240))]
    sr_queue: u16,
    /// Super-resolve every frame even when SR is slower than the stream (latency then grows
    /// with the queue, and frames are dropped when it is full). By default frames SR has no
    /// time for are upscaled cheaply, so the output keeps the input's frame rate.
    #[arg(long)]
    sr_every_frame: bool,
    /// Ask each sender whose stream is larger for at most WxH (TargetStreamSize; the session
    /// keeps its first size, smaller pictures are scaled up to it before SR).
    #[arg(long, value_name = "WxH", value_parser = crate::cli::parse_size)]
    max_stream_size: Option<(u32, u32)>,
    /// Paired devices streaming at once; more are refused as busy.
    #[arg(long, default_value_t = DEFAULT_MAX_SESSIONS as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    max_sessions: u16,
    /// Seconds a peer has to complete the handshake.
    #[arg(long, default_value_t = DEFAULT_HANDSHAKE_TIMEOUT_S)]
    handshake_timeout: f64,
    /// Seconds a streaming peer may take to deliver one message.
    #[arg(long, default_value_t = DEFAULT_IDLE_TIMEOUT_S)]
    idle_timeout: f64,
    /// Minutes a new pairing secret pairs devices for (0 = until replaced).
    #[arg(long, default_value_t = DEFAULT_SECRET_TTL_S / 60)]
    ttl_min: u64,
    /// Print the pairing URI only, no QR code (also when stdout is not a terminal).
    #[arg(long)]
    no_qr: bool,
    /// Print the pairing URI with its secret even when stdout is not a terminal (by default
    /// a log gets it redacted; `stronglive pair` prints the code on request).
    #[arg(long)]
    show_secret: bool,
    /// Ask each sender for this many full-resolution patches (saved with --record).
    #[arg(long, value_name = "N")]
    request_patches: Option<u16>,
    /// Side of the requested square patches, in HR pixels.
    #[arg(long, default_value_t = 96)]
    patch_size: u16,
    /// Learn the scene from the senders' HR patches while they stream: the server asks for
    /// patches as it needs them (more while the gain rises), a copy of the model is
    /// fine-tuned in the background, better weights are swapped in between frames, and the
    /// adapted model is saved as a user model when the session ends.
    #[arg(long)]
    learn: bool,
    /// Share of the time the trainer may use (it shares the CPU with SR).
    #[arg(long, default_value_t = 0.5, requires = "learn")]
    learn_duty: f64,
}

fn learn_options(args: &ServeArgs) -> Result<Option<AdaptOptions>> {
    if !args.learn {
        return Ok(None);
    }
    if !(0.05..=1.0).contains(&args.learn_duty) {
        bail!(
            "--learn-duty {}: must be between 0.05 and 1",
            args.learn_duty
        );
    }
    Ok(Some(AdaptOptions {
        duty_cycle: args.learn_duty,
        save_dir: adapted_models_dir(),
        ..AdaptOptions::default()
    }))
}

pub fn serve(args: &ServeArgs) -> Result<ExitCode> {
    stronglive_engine::media::init();
    check_serve_args(args)?;
    let device = ComputeDevice::select(args.device.with_precision(args.precision))?;
    let model_name = ModelRegistry::live_model_name(&args.model, device.is_cuda(), 4);
    announce_model(&model_name, &device)?;
    let options = SessionOptions {
        record: RecordSwitch::new(args.record.clone()),
        sr_queue: usize::from(args.sr_queue),
        patches: args.request_patches.map(|count| PatchAsk {
            count,
            size: args.patch_size,
        }),
        learn: learn_options(args)?,
        sr_every_frame: args.sr_every_frame,
        max_stream_size: args.max_stream_size,
        // `auto` follows the machine: the shipped model giving the most quality per frame
        switch_tiers: args.model == "auto",
    };
    let factory = upscaling_sessions(model_name, device, options, None);
    let store = PairingStore::default_location();
    let config = server_config(args, &store);
    let (events_tx, events) = crossbeam_channel::unbounded();
    let server = LiveServer::start(config.clone(), factory, events_tx)
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    match store.current_or_new_secret(args.ttl_min * 60)? {
        Some((secret, expires)) => {
            let uri = PairingUri {
                name: config.name.clone(),
                hosts: advertised_hosts(server.local_addr().ip()),
                port: server.local_addr().port(),
                secret,
                expires,
            };
            let terminal = std::io::stdout().is_terminal();
            print_pairing(&uri, !args.no_qr && terminal, terminal || args.show_secret);
        }
        None => println!(
            "pairing is revoked: paired devices can stream, new ones cannot pair \
             (stronglive pair --new makes a new code)"
        ),
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    let problems = print_events_until_done(args, &server, &events, &interrupted);
    server.shutdown();
    // Sessions ended by the shutdown report here.
    for event in events.try_iter() {
        if let ServerEvent::SessionEnded { report, reason } = event {
            println!("session {} ended ({reason})", report.id);
            for path in &report.recordings {
                println!("recorded {}", path.display());
            }
        }
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_serve_args(args: &ServeArgs) -> Result<()> {
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the recording directory {}", dir.display()))?;
    }
    for (name, value) in [
        ("--handshake-timeout", args.handshake_timeout),
        ("--idle-timeout", args.idle_timeout),
    ] {
        if !(0.1..=3600.0).contains(&value) {
            bail!("{name} {value}: must be between 0.1 and 3600 seconds");
        }
    }
    Ok(())
}

/// Load the model once now, so a bad --model fails before anyone connects, and say what runs.
fn announce_model(model_name: &str, device: &ComputeDevice) -> Result<()> {
    let probe = load_model(model_name, 4, device)?;
    println!(
        "model: {} on {}{}",
        probe.name(),
        device.label(),
        device
            .fallback_reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Ok(())
}

fn server_config(args: &ServeArgs, store: &PairingStore) -> ServerConfig {
    ServerConfig {
        bind: args.bind,
        name: args.name.clone().unwrap_or_else(default_server_name),
        store: store.clone(),
        handshake_timeout: Duration::from_secs_f64(args.handshake_timeout),
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
        legacy_bind: args.legacy,
        ingest_urls: args.ingest.clone(),
        max_sessions: usize::from(args.max_sessions),
    }
}

/// Server events and a metrics line per session per second, until Ctrl-C (or the first session
/// with --once). Returns the number of session problems seen.
fn print_events_until_done(
    args: &ServeArgs,
    server: &LiveServer,
    events: &crossbeam_channel::Receiver<ServerEvent>,
    interrupted: &AtomicBool,
) -> usize {
    let mut last_metrics = Instant::now();
    let mut problems = 0;
    loop {
        if interrupted.load(Ordering::Relaxed) {
            println!("stopping: ending sessions and finishing recordings");
            return problems;
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(ServerEvent::Listening { what, address }) => {
                println!("listening: {what} on {address}")
            }
            Ok(ServerEvent::Rejected { peer, reason }) => println!("rejected {peer}: {reason}"),
            Ok(ServerEvent::SessionStarted { id, label }) => {
                println!("session {id} started: {label}")
            }
            Ok(ServerEvent::SessionEnded { report, reason }) => {
                problems += print_session_end(&report, &reason);
                if args.once {
                    return problems;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return problems,
        }
        if last_metrics.elapsed() >= Duration::from_secs(1) {
            last_metrics = Instant::now();
            for snapshot in server.snapshots() {
                println!("{snapshot}");
            }
        }
    }
}

/// The session's summary, recordings and problems; returns the number of problems.
fn print_session_end(report: &SessionReport, reason: &SessionEnd) -> usize {
    println!(
        "session {} ended ({reason}): {} units received, {} frames decoded, {} super-resolved + {} filled, {} dropped, {} decode errors, {} HR patches ({} refused)",
        report.id,
        report.units_received,
        report.frames_decoded,
        report.frames_upscaled,
        report.final_metrics.totals.frames_filled,
        report.frames_dropped,
        report.decode_errors,
        report.final_metrics.totals.patches_received,
        report.final_metrics.totals.patches_refused
    );
    for path in &report.recordings {
        println!("recorded {}", path.display());
    }
    if let Some(l) = &report.final_metrics.learning {
        println!(
            "session {} learned: {} pairs ({} patches refused), {} steps, model v{}, {:+.2} dB vs generic on held-out patches, {} scene cut(s)",
            report.id, l.pairs_used, report.final_metrics.totals.patches_refused, l.train_steps, l.model_version, l.gain_db, l.scene_cuts
        );
    }
    if let Some(card) = &report.adapted_model {
        println!("saved the adapted model {}", card.display());
    }
    for problem in &report.problems {
        println!("problem in session {}: {problem}", report.id);
    }
    report.problems.len()
}
