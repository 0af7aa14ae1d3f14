//! `stronglive bench --soak SECONDS`: one live session held for a long time with everything on
//! (live learning, so HR patches flow the whole time, and recording), sampling this process's
//! resident memory and open file descriptors. What it answers: does a long session leak memory,
//! descriptors or threads, and does it keep its frame rate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use stronglive_engine::live::pairing::{PairingSecret, PairingStore, PairingUri};
use stronglive_engine::live::sender::{send_stream, SendOptions};
use stronglive_engine::live::server::{upscaling_sessions, LiveServer, ServerConfig, ServerEvent};
use stronglive_engine::pipeline::live::adapt::AdaptOptions;
use stronglive_engine::pipeline::{RecordSwitch, SessionOptions};
use stronglive_engine::sr::registry::ModelRegistry;
use stronglive_engine::sr::ComputeDevice;

use super::bench_util::proc_status_kib;

/// One reading of the process and the session.
struct Sample {
    elapsed_s: f64,
    rss_mib: u64,
    fds: usize,
    threads: usize,
    frames_in: u64,
    frames_out: u64,
    dropped: u64,
    decode_errors: u64,
    patches: u64,
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn sample(started: Instant, server: &LiveServer) -> Sample {
    let snapshot = server.snapshots().into_iter().next();
    let totals = snapshot.as_ref().map(|s| s.totals).unwrap_or_default();
    Sample {
        elapsed_s: started.elapsed().as_secs_f64(),
        rss_mib: proc_status_kib("VmRSS:") / 1024,
        fds: open_fds(),
        threads: proc_status_kib("Threads:") as usize,
        frames_in: totals.frames_decoded,
        frames_out: totals.frames_upscaled + totals.frames_filled,
        dropped: totals.sr_dropped + totals.display_dropped,
        decode_errors: totals.decode_errors,
        patches: totals.patches_received,
    }
}

fn print_sample(s: &Sample) {
    println!(
        "{:>8.0} {:>9} {:>5} {:>8} {:>10} {:>10} {:>8} {:>7} {:>8}",
        s.elapsed_s,
        s.rss_mib,
        s.fds,
        s.threads,
        s.frames_in,
        s.frames_out,
        s.dropped,
        s.decode_errors,
        s.patches
    );
}

fn server_config(store: &PairingStore) -> ServerConfig {
    ServerConfig {
        max_sessions: 1,
        ..ServerConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "soak".into(),
            store.clone(),
        )
    }
}

pub fn run(seconds: u32, model: Option<&str>, device: &ComputeDevice) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("stronglive-soak-{}", std::process::id()));
    let result = soak(seconds, model, device, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn soak(seconds: u32, model: Option<&str>, device: &ComputeDevice, scratch: &Path) -> Result<()> {
    let store = PairingStore::in_dir(&scratch.join("config"));
    let (secret, _) = store.new_secret(0)?;
    let model = model.map_or_else(
        || ModelRegistry::live_model_name("auto", device.is_cuda(), 4),
        str::to_string,
    );
    let takes = scratch.join("takes");
    let options = SessionOptions {
        learn: Some(AdaptOptions::default()),
        ..SessionOptions::plain(RecordSwitch::new(Some(takes.clone())))
    };
    let (events_tx, events) = crossbeam_channel::unbounded();
    let server = LiveServer::start(
        server_config(&store),
        upscaling_sessions(model.clone(), device.clone(), options, None),
        events_tx,
    )
    .context("cannot start the soak server")?;
    let stop = Arc::new(AtomicBool::new(false));
    let send_options = sender_options(seconds, &server, secret);
    println!(
        "soak: one live session for {seconds} s, 1280x720 camera -> 320x180 stream at 30 fps \
         (2 Mbit/s), {model} on {}, live learning (HR patches) and recording on",
        device.label()
    );
    println!(
        "{:>8} {:>9} {:>5} {:>8} {:>10} {:>10} {:>8} {:>7} {:>8}",
        "s", "RSS MiB", "fds", "threads", "decoded", "out", "dropped", "errors", "patches"
    );
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || send_stream(&send_options, stop))
    };
    let started = Instant::now();
    let every = Duration::from_secs(u64::from(seconds / 30).clamp(5, 120));
    let mut samples = Vec::new();
    let total = Duration::from_secs(u64::from(seconds));
    loop {
        let left = total.saturating_sub(started.elapsed());
        if left.is_zero() || sender.is_finished() {
            break;
        }
        std::thread::sleep(every.min(left));
        let s = sample(started, &server);
        print_sample(&s);
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??;
    let report = loop {
        match events.recv_timeout(Duration::from_secs(120)) {
            Ok(ServerEvent::SessionEnded { report, .. }) => break *report,
            Ok(_) => continue,
            Err(_) => bail!("the session did not end within 120 s of the sender stopping"),
        }
    };
    server.shutdown();
    summarise(&samples, sent.frames_sent, &report, &takes)
}

/// The phone's side: a paced 1280x720 test pattern streamed at 320x180, long enough to
/// outlast the soak.
fn sender_options(seconds: u32, server: &LiveServer, secret: PairingSecret) -> SendOptions {
    SendOptions {
        // HR patches need the full-resolution source: the phone streams a quarter of it.
        source: PathBuf::from(format!(
            "lavfi:testsrc2=size=1280x720:rate=30:duration={}",
            seconds + 60
        )),
        pairing: PairingUri {
            name: "soak".into(),
            hosts: vec![server.local_addr().ip()],
            port: server.local_addr().port(),
            secret,
            expires: None,
        },
        host: None,
        device_name: "soak sender".into(),
        pace: true,
        bitrate: 2_000_000,
        max_frames: None,
        stream_size: Some((320, 180)),
        repeat: false,
    }
}

fn summarise(
    samples: &[Sample],
    frames_sent: u64,
    report: &stronglive_engine::pipeline::SessionReport,
    takes: &Path,
) -> Result<()> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        bail!("the session ended before the first sample");
    };
    let recorded: u64 = std::fs::read_dir(takes)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "RSS {} -> {} MiB (max {}), fds {} -> {}, threads {} -> {}; {} frames sent, {} decoded, \
         {} super-resolved + {} filled, {} dropped, {} decode errors, {} patches, {} problems; \
         {} MiB recorded",
        first.rss_mib,
        last.rss_mib,
        samples.iter().map(|s| s.rss_mib).max().unwrap_or(0),
        first.fds,
        last.fds,
        first.threads,
        last.threads,
        frames_sent,
        report.frames_decoded,
        report.frames_upscaled,
        report.final_metrics.totals.frames_filled,
        report.frames_dropped,
        report.decode_errors,
        report.final_metrics.totals.patches_received,
        report.problems.len(),
        recorded / (1 << 20)
    );
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    Ok(())
}
