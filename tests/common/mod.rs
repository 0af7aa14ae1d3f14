//! Shared helpers for the integration tests: clips made with the real ffmpeg CLI (`clips`),
//! the real `stronglive` binary, the torch virtualenv's Python.

#![allow(dead_code)]

mod clips;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use clips::*;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stronglive"))
}

/// The bundled demo (a natural pan over a photo) as a 640x352 "camera" clip; `filter` is
/// appended to the scaling (e.g. a trim or a scene cut made of two parts).
pub fn demo_camera(out: &Path, filter: &str) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-540p.mp4");
    ffmpeg(&[
        "-i",
        demo.to_str().unwrap(),
        "-filter_complex",
        &format!("[0:v]scale=640:360,crop=640:352:0:0{filter}[v]"),
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        out.to_str().unwrap(),
    ]);
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn stronglive(args: &[&str]) -> Run {
    stronglive_with_env(args, &[])
}

/// `stronglive ARGS...` with extra environment variables (e.g. `STRONGLIVE_MODELS`).
pub fn stronglive_with_env(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let out: Output = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run stronglive");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `stronglive upscale --model bicubic ARGS...`: the plumbing tests (containers, tracks, errors)
/// need real frames through the whole pipeline, not a network's cost.
pub fn upscale_with_bicubic(args: &[&str]) -> Run {
    let mut all = vec!["upscale", "--model", "bicubic"];
    all.extend_from_slice(args);
    stronglive(&all)
}

/// The torch virtualenv's Python (scripts that make TorchScript models and reference data).
#[allow(dead_code)]
pub fn python() -> std::path::PathBuf {
    let venv =
        std::env::var_os("VIRTUAL_ENV").expect("tests run with the torch virtualenv (make test)");
    std::path::PathBuf::from(venv).join("bin/python")
}
