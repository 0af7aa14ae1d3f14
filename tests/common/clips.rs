//! Clips made with the real ffmpeg CLI (lavfi sources) and inspected with the real ffprobe:
//! shared by the product tests (tests/) and the studio's tests (crates/studio/tests/).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Run ffmpeg with the given arguments (quiet, overwrite), panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI not installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test-pattern clip: `ffmpeg -f lavfi -i testsrc2=SPEC EXTRA... OUT`.
pub fn test_pattern(spec: &str, extra: &[&str], out: &Path) {
    let source = format!("testsrc2={spec}");
    let mut args = vec!["-f", "lavfi", "-i", source.as_str()];
    args.extend_from_slice(extra);
    args.push(out.to_str().expect("UTF-8 test path"));
    ffmpeg(&args);
}

/// Half a second of 64x48 at 10 fps (5 frames), H.264 4:2:0: the cheapest real input.
pub fn tiny_clip(out: &Path) {
    test_pattern(
        "size=64x48:rate=10:duration=0.5",
        &["-pix_fmt", "yuv420p"],
        out,
    );
}

/// ffprobe's JSON description of a file (streams, format, and optionally packets).
pub fn ffprobe(path: &Path, packets: bool) -> serde_json::Value {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_streams",
        "-show_format",
    ]);
    if packets {
        cmd.args(["-show_packets", "-select_streams", "v:0"]);
    }
    let out = cmd.arg(path).output().expect("ffprobe not installed");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

pub fn streams_of<'a>(probe: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    probe["streams"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["codec_type"] == kind).collect())
        .unwrap_or_default()
}

pub fn num(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// Count decoded video frames exactly (not the container's claim).
pub fn count_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    // streams with side data (HDR) get extra, empty csv fields: the count is the first
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .next()
        .unwrap_or("")
        .parse()
        .expect("frame count")
}

/// True for `name` being a hidden temporary file of the output `output` (`.OUTPUT.*.partial`).
#[allow(dead_code)]
pub fn is_partial_of(name: &str, output: &str) -> bool {
    name.starts_with(&format!(".{output}.")) && name.ends_with(".partial")
}

/// Files in `dir`, hidden ones included (a leftover `.x.partial` must be noticed).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Presentation times (s) of every frame, in decoding order.
#[allow(dead_code)]
pub fn frame_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect()
}

/// A 10-bit BT.2020 HEVC clip of `testsrc2=SPEC` with `transfer` (smpte2084, arib-std-b67) and
/// extra libx265 parameters (`:key=value...`).
#[allow(dead_code)]
pub fn hdr_clip(path: &Path, spec: &str, transfer: &str, x265: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2={spec},format=yuv420p10le"),
        "-c:v",
        "libx265",
        "-x265-params",
        &format!("log-level=error{x265}"),
        "-color_primaries",
        "bt2020",
        "-color_trc",
        transfer,
        "-colorspace",
        "bt2020nc",
        path.to_str().unwrap(),
    ]);
}
