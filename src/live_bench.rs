//! `stronglive bench --live`: the live path measured end to end in one process. For each input
//! size a reference sender streams a paced libx264 test pattern over loopback to a real
//! [`LiveServer`]; the table reports what arrived, what SR kept up with, and how long a frame
//! took from arrival to 4x output.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::bench::{parse_size, peak_rss_mib, BenchArgs};
use crate::live::pairing::{PairingStore, PairingUri};
use crate::live::sender::{send_stream, SendOptions};
use crate::live::server::{upscaling_sessions, LiveServer, ServerConfig, ServerEvent};
use crate::pipeline::live::{RecordSwitch, SessionReport, DEFAULT_SR_QUEUE};
use crate::pipeline::metrics::MetricsSnapshot;
use crate::sr::registry::ModelRegistry;
use crate::sr::ComputeDevice;

struct LiveRow {
    size: (u32, u32),
    model: String,
    sent: u64,
    report: SessionReport,
    /// The last reading while the sender was still streaming.
    streaming: MetricsSnapshot,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let device = ComputeDevice::select(args.device)?;
    let models = if args.models.is_empty() {
        vec![ModelRegistry::live_model_name("auto", device.is_cuda(), 4)]
    } else {
        args.models.clone()
    };
    let config_dir =
        std::env::temp_dir().join(format!("stronglive-live-bench-{}", std::process::id()));
    let store = PairingStore::in_dir(&config_dir);
    let (secret, _) = store.new_secret(0)?;
    println!(
        "live path on loopback: {} s of testsrc2 at {} fps per row, libx264 zerolatency 4 Mbit/s, SR queue {DEFAULT_SR_QUEUE}, SR on {}",
        args.live_seconds,
        args.live_fps,
        device.label()
    );
    let mut rows = Vec::new();
    for size in &args.sizes {
        let (w, h) = parse_size(size)?;
        for model in &models {
            rows.push(measure(args, &device, model, (w, h), &store, &secret)?);
        }
    }
    let _ = std::fs::remove_dir_all(&config_dir);

    println!();
    println!(
        "{:<10} {:<14} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>14} {:>16}",
        "input",
        "model",
        "sent",
        "recv",
        "SR'd",
        "drop",
        "in fps",
        "out fps",
        "dec ms",
        "SR ms p50/p95",
        "latency p50/p95"
    );
    for row in &rows {
        let m = &row.streaming;
        println!(
            "{:<10} {:<14} {:>5} {:>6} {:>6} {:>6} {:>7.1} {:>7.2} {:>8.1} {:>14} {:>16}",
            format!("{}x{}", row.size.0, row.size.1),
            row.model,
            row.sent,
            row.report.frames_decoded,
            row.report.frames_upscaled,
            row.report.frames_dropped,
            m.totals.frames_decoded as f64 / m.elapsed.as_secs_f64().max(1e-3),
            m.totals.frames_upscaled as f64 / m.elapsed.as_secs_f64().max(1e-3),
            m.decode.p50_ms,
            format!("{:.0}/{:.0}", m.sr.p50_ms, m.sr.p95_ms),
            format!("{:.0}/{:.0} ms", m.latency.p50_ms, m.latency.p95_ms),
        );
    }
    println!("(fps and timings read just before the sender stopped: fps over the session so far, timings over the last 120 frames; latency: access unit arrival -> SR output ready; drop: frames SR could not keep up with, whole session)");
    println!("peak resident memory: {} MiB", peak_rss_mib());
    Ok(())
}

fn measure(
    args: &BenchArgs,
    device: &ComputeDevice,
    model: &str,
    (w, h): (u32, u32),
    store: &PairingStore,
    secret: &crate::live::pairing::PairingSecret,
) -> Result<LiveRow> {
    let factory = upscaling_sessions(
        model.to_string(),
        device.clone(),
        RecordSwitch::default(),
        DEFAULT_SR_QUEUE,
        None,
    );
    let (events_tx, events) = crossbeam_channel::unbounded();
    let server = LiveServer::start(
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            name: "bench".into(),
            store: store.clone(),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            legacy_bind: None,
            ingest_urls: Vec::new(),
            patch_request: None,
        },
        factory,
        events_tx,
    )
    .context("cannot start the bench server")?;
    let options = SendOptions {
        source: PathBuf::from(format!(
            "lavfi:testsrc2=size={w}x{h}:rate={}:duration={}",
            args.live_fps, args.live_seconds
        )),
        pairing: PairingUri {
            name: "bench".into(),
            hosts: vec![server.local_addr().ip()],
            port: server.local_addr().port(),
            secret: secret.clone(),
            expires: None,
        },
        host: None,
        device_name: "bench sender".into(),
        pace: true,
        bitrate: 4_000_000,
        max_frames: None,
        stream_size: None,
        repeat: false,
    };
    eprintln!("streaming {w}x{h} through {model} ...");
    // Steady state is read while the sender streams; once it stops, the frames still queued
    // for SR would only measure the drain.
    let sender =
        std::thread::spawn(move || send_stream(&options, Arc::new(AtomicBool::new(false))));
    let mut streaming: Option<MetricsSnapshot> = None;
    while !sender.is_finished() {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(s) = server.snapshots().into_iter().next() {
            streaming = Some(s);
        }
    }
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??;
    let timeout = Duration::from_secs(u64::from(args.live_seconds) * 10 + 120);
    let report = loop {
        match events.recv_timeout(timeout) {
            Ok(ServerEvent::SessionEnded { report, .. }) => break *report,
            Ok(_) => continue,
            Err(_) => bail!("the session did not end within {timeout:?}"),
        }
    };
    server.shutdown();
    Ok(LiveRow {
        size: (w, h),
        model: model.to_string(),
        sent: sent.frames_sent,
        streaming: streaming.unwrap_or_else(|| report.final_metrics.clone()),
        report,
    })
}
