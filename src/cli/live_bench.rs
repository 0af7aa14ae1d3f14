//! `stronglive bench --live`: the live path end to end. Per size and model, a reference sender
//! streams a paced libx264 test pattern over loopback to a real server; the table reports what
//! arrived, what SR kept up with, and how long a frame took from arrival to 4x output.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use stronglive_engine::live::pairing::{PairingSecret, PairingStore, PairingUri};
use stronglive_engine::live::sender::{send_stream, SendOptions, SendReport};
use stronglive_engine::live::server::{upscaling_sessions, LiveServer, ServerConfig, ServerEvent};
use stronglive_engine::pipeline::live::metrics::MetricsSnapshot;
use stronglive_engine::pipeline::{RecordSwitch, SessionOptions, SessionReport, DEFAULT_SR_QUEUE};
use stronglive_engine::sr::registry::ModelRegistry;
use stronglive_engine::sr::{ComputeDevice, DevicePreference};

use super::bench_util::{parse_size, peak_rss_mib};

/// What `bench --live` measures, from the `bench` arguments.
pub struct LiveBench<'a> {
    /// Input sizes, `WxH`.
    pub sizes: &'a [String],
    /// Models to run (empty: `auto`).
    pub models: &'a [String],
    /// Seconds streamed per measurement.
    pub seconds: u32,
    /// Frame rate of the sender.
    pub fps: u32,
    /// Record the takes (the recorder's encoder is then part of the load).
    pub record: bool,
    pub device: DevicePreference,
}

/// One row of the live table.
struct LiveRow {
    size: (u32, u32),
    model: String,
    sent: u64,
    report: SessionReport,
    /// The last reading while the sender was still streaming.
    streaming: MetricsSnapshot,
}

/// `bench --live`: per size and model, a paced sender over loopback into a real server.
pub fn run(bench: &LiveBench) -> Result<()> {
    let device = ComputeDevice::select(bench.device)?;
    // `auto` (the default) switches between the shipped models as `serve` does
    let models = if bench.models.is_empty() {
        vec!["auto".to_string()]
    } else {
        bench.models.to_vec()
    };
    let config_dir =
        std::env::temp_dir().join(format!("stronglive-live-bench-{}", std::process::id()));
    let store = PairingStore::in_dir(&config_dir);
    let (secret, _) = store.new_secret(0)?;
    println!(
        "live path on loopback: {} s of testsrc2 at {} fps per row, libx264 zerolatency 4 Mbit/s, SR queue {DEFAULT_SR_QUEUE}, SR on {}{}",
        bench.seconds,
        bench.fps,
        device.label(),
        if bench.record { ", takes recorded" } else { "" }
    );
    let mut rows = Vec::new();
    for size in bench.sizes {
        let (w, h) = parse_size(size)?;
        for model in &models {
            rows.push(measure_live(
                bench,
                &device,
                model,
                (w, h),
                &store,
                &secret,
            )?);
        }
    }
    let _ = std::fs::remove_dir_all(&config_dir);
    print_live_table(&rows);
    Ok(())
}

fn print_live_table(rows: &[LiveRow]) {
    println!();
    println!(
        "{:<10} {:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>14} {:>16}",
        "input",
        "model",
        "sent",
        "recv",
        "SR'd",
        "filled",
        "SR %",
        "drop",
        "in fps",
        "out fps",
        "dec ms",
        "SR ms p50/p95",
        "latency p50/p95"
    );
    for row in rows {
        let m = &row.streaming;
        let r = &row.report;
        let filled = r.final_metrics.totals.frames_filled;
        let outputs = m.totals.frames_upscaled + m.totals.frames_filled;
        let seconds = m.elapsed.as_secs_f64().max(1e-3);
        println!(
            "{:<10} {:<22} {:>5} {:>6} {:>6} {:>6} {:>6.1} {:>6} {:>7.1} {:>7.1} {:>8.1} {:>14} {:>16}",
            format!("{}x{}", row.size.0, row.size.1),
            live_model_column(&row.model, &r.final_metrics),
            row.sent,
            r.frames_decoded,
            r.frames_upscaled,
            filled,
            100.0 * r.frames_upscaled as f64 / (r.frames_upscaled + filled).max(1) as f64,
            r.frames_dropped,
            m.totals.frames_decoded as f64 / seconds,
            outputs as f64 / seconds,
            m.decode.p50_ms,
            format!("{:.0}/{:.0}", m.sr.p50_ms, m.sr.p95_ms),
            format!("{:.0}/{:.0} ms", m.latency.p50_ms, m.latency.p95_ms),
        );
    }
    println!("(fps and timings read just before the sender stopped: fps over the session so far, timings over the last 120 frames; out fps: every output frame, super-resolved or filled; latency: access unit arrival -> output ready; drop: frames lost in front of SR, whole session)");
    println!("peak resident memory: {} MiB", peak_rss_mib());
}

/// The model of a row; for `auto`, the one it ended on and how many switches it took.
fn live_model_column(model: &str, end: &MetricsSnapshot) -> String {
    if model != "auto" {
        return model.to_string();
    }
    let short = end.model.trim_end_matches("-x4");
    format!("auto->{short} ({} sw)", end.tier_switches)
}

fn measure_live(
    bench: &LiveBench,
    device: &ComputeDevice,
    model: &str,
    (w, h): (u32, u32),
    store: &PairingStore,
    secret: &PairingSecret,
) -> Result<LiveRow> {
    // with --live-record the takes (SR output incl. filled frames, libx264 veryfast) are
    // written too, as `serve --record` would, into a folder removed afterwards
    let takes = bench.record.then(|| {
        std::env::temp_dir().join(format!("stronglive-bench-takes-{}", std::process::id()))
    });
    let (server, events) = start_server(device, model, store, takes.clone())?;
    let options = sender_options(bench, (w, h), &server, secret);
    eprintln!("streaming {w}x{h} through {model} ...");
    let sender =
        std::thread::spawn(move || send_stream(&options, Arc::new(AtomicBool::new(false))));
    let (sent, streaming) = watch_while_sending(&server, sender)?;
    let timeout = Duration::from_secs(u64::from(bench.seconds) * 10 + 120);
    let report = loop {
        match events.recv_timeout(timeout) {
            Ok(ServerEvent::SessionEnded { report, .. }) => break *report,
            Ok(_) => continue,
            Err(_) => bail!("the session did not end within {timeout:?}"),
        }
    };
    server.shutdown();
    if let Some(dir) = takes {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(LiveRow {
        size: (w, h),
        model: model.to_string(),
        sent: sent.frames_sent,
        streaming: streaming.unwrap_or_else(|| report.final_metrics.clone()),
        report,
    })
}

/// A loopback server that upscales with `model` (`auto`: switching tiers) and records into
/// `takes` when given, and the channel of its events.
fn start_server(
    device: &ComputeDevice,
    model: &str,
    store: &PairingStore,
    takes: Option<PathBuf>,
) -> Result<(LiveServer, crossbeam_channel::Receiver<ServerEvent>)> {
    let factory = upscaling_sessions(
        ModelRegistry::live_model_name(model, device.is_cuda(), 4),
        device.clone(),
        SessionOptions {
            switch_tiers: model == "auto",
            ..SessionOptions::plain(RecordSwitch::new(takes))
        },
        None,
    );
    let (events_tx, events) = crossbeam_channel::unbounded();
    let server = LiveServer::start(
        ServerConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "bench".into(),
            store.clone(),
        ),
        factory,
        events_tx,
    )
    .context("cannot start the bench server")?;
    Ok((server, events))
}

/// The paced reference sender: testsrc2 at `w`x`h` for the bench's seconds, paired with
/// `server`.
fn sender_options(
    bench: &LiveBench,
    (w, h): (u32, u32),
    server: &LiveServer,
    secret: &PairingSecret,
) -> SendOptions {
    SendOptions {
        source: PathBuf::from(format!(
            "lavfi:testsrc2=size={w}x{h}:rate={}:duration={}",
            bench.fps, bench.seconds
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
    }
}

/// What the sender sent, and the server's last metrics reading while it was still streaming.
// Steady state is read while the sender streams; once it stops, the frames still queued for
// SR would only measure the drain.
fn watch_while_sending(
    server: &LiveServer,
    sender: JoinHandle<Result<SendReport, stronglive_engine::live::sender::SendError>>,
) -> Result<(SendReport, Option<MetricsSnapshot>)> {
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
    Ok((sent, streaming))
}
