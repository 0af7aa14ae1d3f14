//! 10-bit and HDR end to end: PQ (HDR10) and HLG clips come out as 10-bit HEVC with the same
//! transfer, primaries, matrix and range, and the mastering display and content light level
//! metadata of the input; `--bit-depth 8` asks for 8 bits; and keeping 10 bits measurably beats
//! the 8-bit path against a 10-bit reference.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const MASTER_DISPLAY: &str =
    "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)";

/// One second of 10-bit 256x144 HEVC with `transfer` (and BT.2020), plus `x265` parameters.
fn ten_bit_clip(path: &Path, transfer: &str, x265: &str) {
    hdr_clip(path, "size=256x144:rate=24:duration=1", transfer, x265);
}

/// The video stream's fields that say how its samples are meant.
fn video_tags(path: &Path) -> Vec<(String, String)> {
    let probe = ffprobe(path, false);
    let video = streams_of(&probe, "video")[0];
    [
        "pix_fmt",
        "color_range",
        "color_space",
        "color_transfer",
        "color_primaries",
    ]
    .iter()
    .map(|k| (k.to_string(), video[*k].as_str().unwrap_or("-").to_string()))
    .collect()
}

/// The first frame's HDR side data (mastering display, content light level), as ffprobe says.
fn hdr_side_data(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
        ])
        .args(["-show_frames", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["frames"][0]["side_data_list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| {
            let kind = s["side_data_type"].as_str().unwrap_or("");
            kind.starts_with("Mastering display") || kind.starts_with("Content light")
        })
        .collect()
}

fn upscale(input: &Path, output: &Path, extra: &[&str]) {
    let mut args = vec![
        "upscale",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--model",
        "bicubic",
    ];
    args.extend_from_slice(extra);
    let run = stronglive(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn pq_and_hlg_clips_stay_ten_bit_with_their_tags_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("pq.mp4");
    ten_bit_clip(
        &pq,
        "smpte2084",
        &format!(":hdr10=1:master-display={MASTER_DISPLAY}:max-cll=1000,400"),
    );
    let hlg = dir.path().join("hlg.mp4");
    ten_bit_clip(&hlg, "arib-std-b67", "");
    for input in [&pq, &hlg] {
        let output = dir.path().join("out.mp4");
        upscale(input, &output, &["-y"]);
        let probe = ffprobe(&output, false);
        let video = streams_of(&probe, "video")[0];
        assert_eq!(video["codec_name"], "hevc", "{}", input.display());
        assert_eq!(video["profile"], "Main 10", "{}", input.display());
        assert_eq!(video["width"], 1024);
        assert_eq!(
            video_tags(&output),
            video_tags(input),
            "{}",
            input.display()
        );
        assert_eq!(count_frames(&output), 24);
        assert_eq!(
            hdr_side_data(&output),
            hdr_side_data(input),
            "{}",
            input.display()
        );
    }
    // the PQ clip really carried both kinds of metadata (so the comparison above meant it)
    let pq_side = hdr_side_data(&pq);
    assert_eq!(pq_side.len(), 2, "{pq_side:?}");
    assert_eq!(pq_side[1]["max_content"], 1000, "{pq_side:?}");

    // asked for 8 bits: 8-bit output, still tagged as what it is
    let eight = dir.path().join("eight.mp4");
    upscale(&pq, &eight, &["--bit-depth", "8"]);
    let tags = video_tags(&eight);
    assert_eq!(tags[0].1, "yuv420p");
    assert_eq!(tags[3].1, "smpte2084");
}

/// Every luma sample of a raw `yuv420p` or `yuv420p10le` file, as 10-bit codes.
fn luma_frames(path: &Path, width: usize, height: usize, ten_bit: bool) -> Vec<Vec<f64>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-"])
        .output()
        .unwrap();
    let bytes = if ten_bit { 2 } else { 1 };
    let frame_len = width * height * 3 / 2 * bytes;
    assert!(out.stdout.len() >= frame_len, "{}", path.display());
    out.stdout
        .chunks_exact(frame_len)
        .map(|f| match ten_bit {
            true => f[..width * height * 2]
                .chunks_exact(2)
                .map(|b| f64::from(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            // limited range 8 -> 10 bits is exactly x4 (16 -> 64, 235 -> 940)
            false => f[..width * height]
                .iter()
                .map(|&v| f64::from(v) * 4.0)
                .collect(),
        })
        .collect()
}

/// PSNR-Y (10-bit peak) with `shave` pixels cut from each border.
fn psnr_y(ours: &[Vec<f64>], truth: &[Vec<f64>], width: usize, height: usize, shave: usize) -> f64 {
    assert_eq!(ours.len(), truth.len());
    let (mut sum, mut n) = (0.0, 0.0);
    for (a, b) in ours.iter().zip(truth) {
        for y in shave..height - shave {
            for x in shave..width - shave {
                sum += (a[y * width + x] - b[y * width + x]).powi(2);
                n += 1.0;
            }
        }
    }
    10.0 * (1023.0f64.powi(2) / (sum / n).max(1e-12)).log10()
}

/// A smooth 10-bit scene (the banding case) at 512x288, shrunk x4 and kept lossless, upscaled
/// back (bicubic, lossless x264) with 10 bits and with 8: against the 10-bit original, the
/// 10-bit path wins by the precision the 8-bit one rounds away.
#[test]
fn the_ten_bit_path_beats_the_eight_bit_path_against_a_ten_bit_reference() {
    let dir = tempfile::tempdir().unwrap();
    let scene = "nullsrc=s=512x288:r=24:d=0.5,format=yuv420p10le,\
                 geq=lum='200+X*0.8+Y*0.6+12*sin(X/90+Y/70)':cb='490+X/20':cr='530-Y/20'";
    let truth_path = dir.path().join("truth.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        scene,
        "-c:v",
        "ffv1",
        truth_path.to_str().unwrap(),
    ]);
    let lr = dir.path().join("lr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        scene,
        "-vf",
        "scale=128:72:flags=area",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        lr.to_str().unwrap(),
    ]);
    let lossless = ["--encoder", "libx264", "--crf", "0"];
    let ten = dir.path().join("ten.mp4");
    upscale(&lr, &ten, &lossless);
    let eight = dir.path().join("eight.mp4");
    upscale(
        &lr,
        &eight,
        &[&lossless[..], &["--bit-depth", "8"]].concat(),
    );
    assert_eq!(video_tags(&ten)[0].1, "yuv420p10le");
    assert_eq!(video_tags(&eight)[0].1, "yuv420p");

    let (w, h) = (512, 288);
    let truth = luma_frames(&truth_path, w, h, true);
    assert_eq!(truth.len(), 12);
    let psnr_ten = psnr_y(&luma_frames(&ten, w, h, true), &truth, w, h, 4);
    let psnr_eight = psnr_y(&luma_frames(&eight, w, h, false), &truth, w, h, 4);
    eprintln!("PSNR-Y against the 10-bit original: 10-bit path {psnr_ten:.2} dB, 8-bit path {psnr_eight:.2} dB");
    assert!(
        psnr_ten > psnr_eight + 5.0,
        "10-bit {psnr_ten:.2} dB, 8-bit {psnr_eight:.2} dB"
    );
}
