//! `stronglive upscale` end to end with real FFmpeg and libtorch on clips made here.

mod common;

use common::*;

/// The acceptance case: 2 s of 240x136 video with a sine audio track becomes 960x544 with the
/// same frame count, the same duration (within one frame), the audio kept, and the encoder named.
#[test]
fn upscales_clip_with_audio_to_four_times_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mp4");
    test_pattern(
        "size=240x136:rate=24:duration=2",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
        &input,
    );
    let output = dir.path().join("clip_4k.mp4");
    let run = upscale_with_bicubic(&[input.to_str().unwrap(), "-o", output.to_str().unwrap()]);
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );

    let probe_in = ffprobe(&input, false);
    let probe_out = ffprobe(&output, false);
    let video = streams_of(&probe_out, "video");
    assert_eq!(video.len(), 1);
    assert_eq!(video[0]["width"], 960);
    assert_eq!(video[0]["height"], 544);
    assert_eq!(count_frames(&output), count_frames(&input));
    assert_eq!(count_frames(&output), 48);

    let frame = 1.0 / 24.0;
    let dur_in = num(&streams_of(&probe_in, "video")[0]["duration"]);
    let dur_out = num(&video[0]["duration"]);
    assert!(
        (dur_in - dur_out).abs() <= frame,
        "video duration {dur_out} vs input {dur_in}"
    );

    let audio = streams_of(&probe_out, "audio");
    assert_eq!(audio.len(), 1, "audio track missing");
    assert_eq!(audio[0]["codec_name"], "aac");
    assert!((num(&audio[0]["duration"]) - 2.0).abs() < 0.1);

    // The encoder actually used is reported, and it is the one in the file.
    let codec = video[0]["codec_name"].as_str().unwrap();
    let reported = ["libx265", "libx264", "hevc_nvenc", "h264_nvenc"]
        .into_iter()
        .find(|e| run.stdout.contains(e))
        .unwrap_or_else(|| panic!("no encoder named in summary:\n{}", run.stdout));
    assert_eq!(
        codec,
        if reported.contains("265") || reported.starts_with("hevc") {
            "hevc"
        } else {
            "h264"
        }
    );
    assert!(run.stdout.contains("1/1 files upscaled"));
    // Nothing but the input and the finished output in the folder.
    assert_eq!(listing(dir.path()), vec!["clip.mp4", "clip_4k.mp4"]);
}

/// Auto tries NVENC first and says what became of it: without an NVIDIA driver (this machine,
/// CI) each NVENC entry is skipped with that reason and software encodes; with a driver NVENC
/// either encodes or is skipped with the error it gave (H100/H200 have no NVENC). Asking for
/// NVENC by name never falls back silently.
#[test]
fn encoder_fallback_explains_why_nvenc_was_skipped() {
    let driver = stronglive_engine::nvidia::driver_present();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.mp4");
    tiny_clip(&input);
    let run = upscale_with_bicubic(&[input.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for nvenc in ["hevc_nvenc", "h264_nvenc"] {
        let skipped_without_driver = format!("skipped encoder {nvenc}: no NVIDIA driver");
        if driver {
            let opened = run.stderr.contains(&format!("encoder {nvenc}"));
            let said_why = run
                .stderr
                .contains(&format!("skipped encoder {nvenc}: failed to open"));
            assert!(opened || said_why, "{}", run.stderr);
            assert!(
                !run.stderr.contains(&skipped_without_driver),
                "{}",
                run.stderr
            );
        } else {
            assert!(
                run.stderr.contains(&skipped_without_driver),
                "{}",
                run.stderr
            );
        }
    }
    if !driver {
        assert!(run.stderr.contains("encoder libx265"), "{}", run.stderr);
    }
    // Asking for NVENC explicitly is an error that names the reason, not a silent fallback.
    let out = dir.path().join("nv.mp4");
    let run = upscale_with_bicubic(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--encoder",
        "h264_nvenc",
    ]);
    if driver {
        // it encodes, or fails naming the encoder and FFmpeg's error; never another encoder
        match run.code {
            Some(0) => assert_eq!(
                streams_of(&ffprobe(&out, false), "video")[0]["codec_name"],
                "h264"
            ),
            _ => assert!(
                run.stderr
                    .contains("no usable video encoder: h264_nvenc: failed to open"),
                "{}",
                run.stderr
            ),
        }
    } else {
        assert_eq!(run.code, Some(1));
        assert!(
            run.stderr
                .contains("no usable video encoder: h264_nvenc: no NVIDIA driver"),
            "{}",
            run.stderr
        );
        assert!(!out.exists());
    }
    // And x264 can be chosen by name.
    let _ = std::fs::remove_file(&out);
    let run = upscale_with_bicubic(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--crf",
        "30",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        streams_of(&ffprobe(&out, false), "video")[0]["codec_name"],
        "h264"
    );
}

/// Variable frame rate timestamps, the rotation matrix and the colour tags survive.
#[test]
fn vfr_timestamps_rotation_and_colour_tags_survive() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vfr.mp4");
    // 30 fps with frames 10..19 dropped: a 1/3 s gap in the middle, so the rate is variable.
    test_pattern(
        "size=160x90:rate=30:duration=2",
        &[
            "-vf",
            "select='not(between(n\\,10\\,19))'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ],
        &dir.path().join("plain.mp4"),
    );
    // FFmpeg 5.1 turns the rotate tag into a display matrix only when stream-copying.
    ffmpeg(&[
        "-i",
        dir.path().join("plain.mp4").to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        input.to_str().unwrap(),
    ]);
    std::fs::remove_file(dir.path().join("plain.mp4")).unwrap();
    let output = dir.path().join("vfr_x4.mp4");
    let run = upscale_with_bicubic(&[input.to_str().unwrap(), "--encoder", "libx264"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let pts = |path: &std::path::Path| -> Vec<f64> {
        let probe = ffprobe(path, true);
        let mut t: Vec<f64> = probe["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| num(&p["pts_time"]))
            .collect();
        t.sort_by(f64::total_cmp);
        t
    };
    let (pin, pout) = (pts(&input), pts(&output));
    assert_eq!(pin.len(), 50, "input should have 60 - 10 frames");
    assert_eq!(pout.len(), pin.len());
    for (a, b) in pin.iter().zip(&pout) {
        assert!(
            (a - b).abs() < 0.002,
            "timestamps differ: input {a} output {b}"
        );
    }
    let gap = pout[10] - pout[9];
    assert!(
        (gap - 11.0 / 30.0).abs() < 0.002,
        "the VFR gap was not kept: {gap}"
    );

    let probe = ffprobe(&output, false);
    let v = streams_of(&probe, "video")[0];
    assert_eq!(v["color_primaries"], "bt709");
    assert_eq!(v["color_transfer"], "bt709");
    assert_eq!(v["color_space"], "bt709");
    assert_eq!(v["color_range"], "tv");
    let rotation = v["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|sd| sd.get("rotation")))
        .map(num)
        .unwrap_or_else(|| panic!("no display matrix in output: {v}"));
    assert_eq!(rotation.abs(), 90.0);
    // Stored size stays the un-rotated one (players rotate on display).
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(640), Some(360))
    );
}

/// Odd sizes and 10-bit input are upscaled; 10-bit stays 10-bit with the encoder the user
/// named (x264's High 10), and becomes 8-bit, with a warning, when `--bit-depth 8` asks.
#[test]
fn odd_size_and_ten_bit_inputs_are_upscaled() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd.mkv");
    // scale, not the source's size option: lavfi sources round 4:2:0 sizes to even.
    test_pattern(
        "size=64x48:rate=10:duration=0.5",
        &["-vf", "scale=61:41", "-pix_fmt", "yuv420p", "-c:v", "ffv1"],
        &odd,
    );
    let deep = dir.path().join("deep.mp4");
    test_pattern(
        "size=64x48:rate=10:duration=0.5",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
        &deep,
    );
    let run = upscale_with_bicubic(&[
        odd.to_str().unwrap(),
        deep.to_str().unwrap(),
        "--encoder",
        "libx264",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let eight = dir.path().join("deep_8bit.mp4");
    let run8 = upscale_with_bicubic(&[
        deep.to_str().unwrap(),
        "-o",
        eight.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--bit-depth",
        "8",
    ]);
    assert_eq!(run8.code, Some(0), "{}", run8.stderr);
    assert!(
        run8.stderr.contains("10-bit video is upscaled as 8-bit"),
        "{}",
        run8.stderr
    );
    let e = ffprobe(&eight, false);
    assert_eq!(streams_of(&e, "video")[0]["pix_fmt"], "yuv420p");
    assert_eq!(count_frames(&eight), 5);
    let v = ffprobe(&dir.path().join("odd_x4.mkv"), false);
    let v = streams_of(&v, "video")[0].clone();
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(244), Some(164))
    );
    assert_eq!(count_frames(&dir.path().join("odd_x4.mkv")), 5);
    let d = ffprobe(&dir.path().join("deep_x4.mp4"), false);
    assert_eq!(streams_of(&d, "video")[0]["pix_fmt"], "yuv420p10le");
    assert_eq!(count_frames(&dir.path().join("deep_x4.mp4")), 5);
}
