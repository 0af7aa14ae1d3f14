//! `stronglive send`: stream a video file or a lavfi test pattern to a paired server, as a
//! phone would.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use stronglive_engine::live::pairing::{redact_secret, PairingUri};
use stronglive_engine::live::sender::{send_stream, SendOptions};

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
    #[arg(long, default_value = "2M", value_parser = crate::cli::parse_bitrate)]
    bitrate: u64,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stream at WxH, below the source size (like a phone below its camera's resolution); the
    /// full-size frames are what HR patches are cut from when the server asks for them.
    #[arg(long, value_name = "WxH", value_parser = crate::cli::parse_size)]
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
