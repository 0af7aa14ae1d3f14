//! `bench --vs-pytorch CLIP`: the engine's offline upscale against the seed-style reference
//! (`scripts/bench_pytorch_reference.py`: ffmpeg decode pipe -> eager PyTorch fp32 -> ffmpeg
//! encode pipe) on the same clip, model weights and encoder settings, one after the other in
//! the same run, `--rounds` times in alternating order; the table gives each side's best wall
//! time and the ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use stronglive_engine::media::{EncoderChoice, Quality};
use stronglive_engine::pipeline::OfflineJob;
use stronglive_engine::sr::registry::{ModelRegistry, ModelSource};
use stronglive_engine::sr::{ComputeDevice, DevicePreference};

pub struct VsPytorch<'a> {
    pub clip: &'a Path,
    /// Model names (FMEN models with card + weights); empty: every shipped x4 FMEN.
    pub models: &'a [String],
    pub encoder: &'a EncoderChoice,
    pub device: DevicePreference,
    pub rounds: u32,
}

/// The reference script: in the source tree, or installed beside the executable's share dir.
fn reference_script() -> Result<PathBuf> {
    let name = "scripts/bench_pytorch_reference.py";
    let mut candidates = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(name)];
    if let Some(dir) = std::env::current_exe()?.parent() {
        candidates.push(dir.join("../share/stronglive").join(name));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .context("scripts/bench_pytorch_reference.py not found (run from a source checkout)")
}

/// The encoder both sides use: x264 unless x265 is named (the reference pipes to the ffmpeg
/// CLI, which has no NVENC here).
fn encoder_name(choice: &EncoderChoice) -> Result<&'static str> {
    match choice {
        EncoderChoice::Auto => Ok("libx264"),
        EncoderChoice::Named(n) if n == "libx264" => Ok("libx264"),
        EncoderChoice::Named(n) if n == "libx265" => Ok("libx265"),
        other => bail!("--vs-pytorch compares libx264 or libx265 encodes, not {other:?}"),
    }
}

/// The card stem (`DIR/NAME` of `NAME.json` + `NAME.safetensors`) of each FMEN model to compare.
fn model_stems(models: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let registry = ModelRegistry::discover();
    let is_fmen = |e: &&stronglive_engine::sr::registry::ModelEntry| {
        e.card
            .as_ref()
            .is_some_and(|c| c.architecture == "fmen" && c.scale == 4)
    };
    let entries: Vec<_> = if models.is_empty() {
        registry
            .entries
            .iter()
            .filter(|e| e.shipped)
            .filter(is_fmen)
            .collect()
    } else {
        models
            .iter()
            .map(|m| {
                registry
                    .find(m)
                    .filter(is_fmen)
                    .with_context(|| format!("{m:?} is not an x4 FMEN model with a card"))
            })
            .collect::<Result<_>>()?
    };
    entries
        .into_iter()
        .map(|e| match &e.source {
            ModelSource::Files { card, .. } => Ok((e.name.clone(), card.with_extension(""))),
            ModelSource::Builtin => bail!("{} has no weights file", e.name),
        })
        .collect()
}

struct Timing {
    frames: u64,
    seconds: f64,
}

fn run_engine(args: &VsPytorch, model: &str, encoder: &str, out: &Path) -> Result<Timing> {
    let job = OfflineJob {
        input: args.clip.to_path_buf(),
        output: out.to_path_buf(),
        model: model.to_string(),
        scale: 4,
        encoder: EncoderChoice::Named(encoder.into()),
        quality: Quality::Default,
        device: args.device,
        overwrite: true,
        chunk: None,
        eight_bit: false,
    };
    let report = job.run(Arc::new(AtomicBool::new(false)), &mut |_| {})?;
    Ok(Timing {
        frames: report.frames,
        seconds: report.elapsed.as_secs_f64(),
    })
}

fn run_reference(
    clip: &Path,
    stem: &Path,
    encoder: &str,
    out: &Path,
    script: &Path,
) -> Result<Timing> {
    let start = Instant::now();
    let output = Command::new("python3")
        .arg(script)
        .arg(clip)
        .arg(out)
        .arg("--model")
        .arg(stem)
        .args(["--encoder", encoder])
        .output()
        .context("cannot run python3 (the reference needs PyTorch and safetensors)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{} failed on {}: {}",
            script.display(),
            clip.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // "frames N seconds S"; the wall time here includes Python's start-up, the script's own
    // figure does not: report the script's (the fairer one to the reference)
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    match fields.as_slice() {
        ["frames", n, "seconds", s] => Ok(Timing {
            frames: n.parse()?,
            seconds: s.parse()?,
        }),
        _ => bail!(
            "unexpected reference output {stdout:?} after {:.1} s",
            start.elapsed().as_secs_f64()
        ),
    }
}

pub fn run(args: &VsPytorch) -> Result<()> {
    let script = reference_script()?;
    let encoder = encoder_name(args.encoder)?;
    let device = ComputeDevice::select(args.device)?;
    let scratch =
        std::env::temp_dir().join(format!("stronglive-vs-pytorch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    println!(
        "clip {} | engine: {} | reference: eager PyTorch fp32 NCHW | encoder {encoder}",
        args.clip.display(),
        device.label()
    );
    println!(
        "{:<16} {:>7} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "model", "frames", "engine s", "engine fps", "pytorch s", "pytorch fps", "speedup"
    );
    for (name, stem) in model_stems(args.models)? {
        let (mut engine, mut reference) = (f64::INFINITY, f64::INFINITY);
        let mut frames = (0, 0);
        for round in 0..args.rounds.max(1) {
            // alternate which side goes first, so neither always runs on a warmer machine
            let mut sides = [true, false];
            if round % 2 == 1 {
                sides.reverse();
            }
            for engine_side in sides {
                if engine_side {
                    let t = run_engine(args, &name, encoder, &scratch.join("engine.mp4"))?;
                    frames.0 = t.frames;
                    engine = engine.min(t.seconds);
                } else {
                    let out = scratch.join("reference.mp4");
                    let t = run_reference(args.clip, &stem, encoder, &out, &script)?;
                    frames.1 = t.frames;
                    reference = reference.min(t.seconds);
                }
            }
        }
        if frames.0 != frames.1 {
            bail!(
                "{name}: the engine wrote {} frames, the reference {}",
                frames.0,
                frames.1
            );
        }
        let fps = |s: f64| frames.0 as f64 / s;
        println!(
            "{name:<16} {:>7} {engine:>12.2} {:>12.2} {reference:>12.2} {:>12.2} {:>7.2}x",
            frames.0,
            fps(engine),
            fps(reference),
            reference / engine
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
