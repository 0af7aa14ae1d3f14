//! `stronglive pair`, `serve` and `send`: the live path from a terminal (feature `media`).

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use stronglive_engine::live::pairing::{
    advertised_hosts, default_server_name, qr_for_terminal, redact_secret, PairingStore,
    PairingUri, DEFAULT_SECRET_TTL_S,
};
use stronglive_engine::live::sender::{send_stream, SendOptions};
use stronglive_engine::live::server::{
    upscaling_sessions, LiveServer, ServerConfig, ServerEvent, SessionEnd, DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
};
use stronglive_engine::pipeline::{
    LearnOptions, PatchAsk, RecordSwitch, SessionOptions, SessionReport, DEFAULT_SR_QUEUE,
};
use stronglive_engine::sr::registry::{adapted_models_dir, ModelRegistry};
use stronglive_engine::sr::{load_model, ComputeDevice, DevicePreference, Precision};

#[derive(Args)]
pub struct PairArgs {
    /// Port the QR code points at (the port `stronglive serve` listens on).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to advertise instead of every LAN address of this machine.
    #[arg(long)]
    host: Option<IpAddr>,
    /// Name the phone shows for this desktop.
    #[arg(long)]
    name: Option<String>,
    /// Replace the pairing secret (the old QR code stops pairing new devices).
    #[arg(long)]
    new: bool,
    /// Minutes a new secret pairs devices for (0 = until replaced).
    #[arg(long, default_value_t = DEFAULT_SECRET_TTL_S / 60)]
    ttl_min: u64,
    /// List paired devices.
    #[arg(long, conflicts_with_all = ["new", "remove", "revoke"])]
    list: bool,
    /// Remove a paired device (name, or id prefix of 8+ hex digits).
    #[arg(long, value_name = "DEVICE")]
    remove: Option<String>,
    /// Stop the current secret from pairing anyone (paired devices keep working).
    #[arg(long)]
    revoke: bool,
    /// Print the URI only, no QR code.
    #[arg(long)]
    no_qr: bool,
}

pub fn pair(args: &PairArgs) -> Result<ExitCode> {
    let store = PairingStore::default_location();
    if args.list {
        let state = store.load()?;
        if state.devices.is_empty() {
            println!("no paired devices ({})", store.path().display());
        }
        for d in &state.devices {
            println!(
                "{}  {:<24} paired {}  last seen {}",
                &d.id[..12],
                d.name,
                d.paired_at,
                d.last_seen
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(which) = &args.remove {
        let removed = store.remove_device(which)?;
        println!(
            "removed {} ({}): it must scan a new code to connect again",
            removed.name, removed.id
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.revoke {
        store.revoke_secret()?;
        println!("pairing secret revoked; paired devices are unaffected");
        return Ok(ExitCode::SUCCESS);
    }
    let ttl = args.ttl_min * 60;
    let (secret, expires) = if args.new {
        store.new_secret(ttl)?
    } else {
        store.current_or_new_secret(ttl)?.ok_or_else(|| {
            anyhow::anyhow!(
                "pairing was revoked (stronglive pair --revoke): new devices cannot pair until \
                 `stronglive pair --new` makes a new code"
            )
        })?
    };
    let uri = PairingUri {
        name: args.name.clone().unwrap_or_else(default_server_name),
        hosts: advertised_hosts(args.host.unwrap_or(IpAddr::from([0, 0, 0, 0]))),
        port: args.port,
        secret,
        expires,
    };
    print_pairing(&uri, !args.no_qr, true);
    Ok(ExitCode::SUCCESS)
}

/// The pairing code as a QR code and a URI. `with_secret` false prints the URI with its
/// secret redacted: `serve`'s output usually ends up in logs, which must not pair phones.
fn print_pairing(uri: &PairingUri, qr: bool, with_secret: bool) {
    if qr {
        match qr_for_terminal(&uri.to_string()) {
            Ok(code) => println!("{code}"),
            Err(e) => eprintln!("warning: no QR code: {e}"),
        }
    }
    if with_secret {
        println!("pair: {uri}");
    } else {
        println!(
            "pair: {} (secret kept out of this output: `stronglive pair` shows the code)",
            redact_secret(&uri.to_string())
        );
    }
    match uri.expires {
        Some(t) => println!(
            "new devices can pair for {} more minutes (stronglive pair --new for a fresh code)",
            t.saturating_sub(stronglive_engine::live::pairing::unix_now())
                .div_ceil(60)
        ),
        None => println!("this code pairs new devices until replaced (stronglive pair --new)"),
    }
}

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
    #[arg(long, value_name = "WxH", value_parser = super::parse_size)]
    max_stream_size: Option<(u32, u32)>,
    /// Paired devices streaming at once; more are refused as busy.
    #[arg(long, default_value_t = DEFAULT_MAX_SESSIONS as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    max_sessions: u16,
    /// Seconds a peer has to complete the handshake.
    #[arg(long, default_value_t = 5.0)]
    handshake_timeout: f64,
    /// Seconds a streaming peer may take to deliver one message.
    #[arg(long, default_value_t = 10.0)]
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

fn learn_options(args: &ServeArgs) -> Result<Option<LearnOptions>> {
    if !args.learn {
        return Ok(None);
    }
    if !(0.05..=1.0).contains(&args.learn_duty) {
        bail!(
            "--learn-duty {}: must be between 0.05 and 1",
            args.learn_duty
        );
    }
    Ok(Some(LearnOptions {
        duty_cycle: args.learn_duty,
        save_dir: adapted_models_dir(),
        ..LearnOptions::default()
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

/// The pairing URI from `--pair`: given, from a file (`@FILE`) or standard input (`-`).
fn pairing_uri_text(arg: &str) -> Result<String> {
    let text = if arg == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the pairing URI from standard input")?;
        line
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the pairing URI from {path}"))?
    } else {
        return Ok(arg.to_string());
    };
    Ok(text.trim().to_string())
}

#[derive(Args)]
pub struct SendArgs {
    /// A video file (H.264 is stream-copied) or an FFmpeg lavfi graph as
    /// `lavfi:testsrc2=size=960x540:rate=30:duration=10` (encoded with libx264 zerolatency).
    source: PathBuf,
    /// The pairing URI `stronglive pair` or `stronglive serve` printed; `@FILE` reads it from a
    /// file and `-` from standard input, so the secret stays out of the process list.
    #[arg(long, value_name = "URI|@FILE|-")]
    pair: String,
    /// Connect to this address instead of the URI's hosts.
    #[arg(long)]
    host: Option<IpAddr>,
    /// Name this sender shows on the desktop (also makes its device id).
    #[arg(long, default_value = "stronglive-send")]
    name: String,
    /// Send as fast as possible instead of at the source's frame rate.
    #[arg(long)]
    no_pace: bool,
    /// Bitrate when the sender encodes (lavfi, B-frame or non-H.264 sources), e.g. 2M.
    #[arg(long, default_value = "2M", value_parser = super::parse_bitrate)]
    bitrate: u64,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stream at WxH, below the source size (like a phone below its camera's resolution); the
    /// full-size frames are what HR patches are cut from when the server asks for them.
    #[arg(long, value_name = "WxH", value_parser = super::parse_size)]
    stream_size: Option<(u32, u32)>,
}

pub fn send(args: &SendArgs) -> Result<ExitCode> {
    let pair = pairing_uri_text(&args.pair)?;
    let pairing: PairingUri = pair.parse()?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&stop);
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    let options = SendOptions {
        source: args.source.clone(),
        pairing,
        host: args.host,
        device_name: args.name.clone(),
        pace: !args.no_pace,
        bitrate: args.bitrate.min(u64::from(u32::MAX)) as u32,
        max_frames: args.frames,
        stream_size: args.stream_size,
        repeat: false,
    };
    let report = send_stream(&options, stop).with_context(|| {
        format!(
            "sending {} to {}",
            args.source.display(),
            redact_secret(&pair)
        )
    })?;
    println!(
        "sent {} frames ({:.2} MB, {}) in {:.1} s to {} (session {}); {} key-frame requests, {} HR patches",
        report.frames_sent,
        report.bytes_sent as f64 / 1e6,
        report.mode,
        report.elapsed.as_secs_f64(),
        report.server,
        report.session_id,
        report.key_frame_requests,
        report.patches_sent
    );
    if !report.bitrate_requests.is_empty() {
        let asked: Vec<String> = report
            .bitrate_requests
            .iter()
            .map(|b| format!("{:.2}", f64::from(*b) / 1e6))
            .collect();
        println!("the server asked for {} Mbit/s", asked.join(", "));
    }
    for (w, h) in &report.resized_to {
        println!("the server asked for a smaller stream: now {w}x{h}");
    }
    if let Some(reason) = &report.ended_by_server {
        println!("the server ended the session: {reason}");
    }
    Ok(ExitCode::SUCCESS)
}
