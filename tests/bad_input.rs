//! Bad input: each case is one line naming the file and the cause, a non-zero exit code, and no
//! output file (finished or partial) left behind.

mod common;

use std::path::Path;

use common::*;

fn assert_clean_failure(dir: &Path, input: &Path, cause: &str, keep: &[&str]) {
    let run = upscale_with_bicubic(&[input.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(
        run.code,
        Some(1),
        "{}: expected failure\nstdout: {}\nstderr: {}",
        input.display(),
        run.stdout,
        run.stderr
    );
    let error_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        error_lines.len(),
        1,
        "one error line expected:\n{}",
        run.stderr
    );
    let line = error_lines[0];
    assert!(
        line.contains(&input.display().to_string()),
        "error does not name the file: {line}"
    );
    assert!(line.contains(cause), "error does not say {cause:?}: {line}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let mut expected: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        listing(dir),
        expected,
        "output left behind for {}",
        input.display()
    );
}

#[test]
fn missing_empty_and_non_video_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_clean_failure(d, &d.join("nope.mp4"), "no such file", &[]);

    std::fs::write(d.join("empty.mp4"), b"").unwrap();
    assert_clean_failure(d, &d.join("empty.mp4"), "file is empty", &["empty.mp4"]);

    std::fs::write(
        d.join("notes.mp4"),
        "these are shopping notes, not a video\n".repeat(20),
    )
    .unwrap();
    assert_clean_failure(
        d,
        &d.join("notes.mp4"),
        "not a readable media file",
        &["empty.mp4", "notes.mp4"],
    );
}

#[test]
fn audio_only_file_has_no_video_stream() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("song.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:a",
        "aac",
        input.to_str().unwrap(),
    ]);
    assert_clean_failure(
        dir.path(),
        &input,
        "contains no video stream (streams: audio)",
        &["song.m4a"],
    );
}

#[test]
fn truncated_mp4s_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Index at the end (FFmpeg's default): cut in half, the index is gone.
    let full = d.join("full.mp4");
    test_pattern(
        "size=160x90:rate=25:duration=2",
        &["-pix_fmt", "yuv420p"],
        &full,
    );
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(d.join("cut.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&full).unwrap();
    assert_clean_failure(
        d,
        &d.join("cut.mp4"),
        "not a readable media file",
        &["cut.mp4"],
    );

    // Index at the front (faststart): it opens, but most frames are missing.
    let fast = d.join("fast.mp4");
    test_pattern(
        "size=160x90:rate=25:duration=4",
        &["-pix_fmt", "yuv420p", "-movflags", "+faststart"],
        &fast,
    );
    let bytes = std::fs::read(&fast).unwrap();
    std::fs::write(d.join("cutfast.mp4"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::remove_file(&fast).unwrap();
    assert_clean_failure(
        d,
        &d.join("cutfast.mp4"),
        "truncated or corrupt",
        &["cut.mp4", "cutfast.mp4"],
    );
}

#[test]
fn unwritable_output_locations_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ok.mp4");
    tiny_clip(&input);
    // /proc refuses new files even to root, unlike a chmod'ed directory.
    let run = upscale_with_bicubic(&[input.to_str().unwrap(), "--out-dir", "/proc/stronglive-out"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("/proc/stronglive-out: cannot create output directory"),
        "{}",
        run.stderr
    );

    let run = upscale_with_bicubic(&[input.to_str().unwrap(), "-o", "/proc/out.mp4"]);
    assert_eq!(run.code, Some(1));
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.contains("/proc/out.mp4: cannot write output"),
        "{}",
        run.stderr
    );

    let run = upscale_with_bicubic(&[
        input.to_str().unwrap(),
        "-o",
        dir.path().join("x.avi").to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("unsupported output container \"avi\""),
        "{}",
        run.stderr
    );
    assert_eq!(listing(dir.path()), vec!["ok.mp4"]);
}

/// One bad file in a batch does not stop the others; the exit code says not all succeeded.
#[test]
fn batch_continues_past_a_failing_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.mp4");
    tiny_clip(&good);
    let out = d.join("out");
    let run = upscale_with_bicubic(&[
        d.join("missing.mp4").to_str().unwrap(),
        good.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.contains("1/2 files upscaled"), "{}", run.stdout);
    assert_eq!(listing(&out), vec!["good_x4.mp4"]);
    assert_eq!(count_frames(&out.join("good_x4.mp4")), 5);
    // Re-running refuses to clobber the finished output unless asked.
    let run = upscale_with_bicubic(&[good.to_str().unwrap(), "--out-dir", out.to_str().unwrap()]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("output already exists"),
        "{}",
        run.stderr
    );
}

/// Ctrl-C mid-job: exit code 130, and neither the output nor its temporary file remains; also
/// when a second Ctrl-C forces the exit (no destructor runs then).
#[test]
fn ctrl_c_cancels_and_leaves_no_output() {
    for signals in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("long.mp4");
        test_pattern(
            "size=480x270:rate=30:duration=20",
            &["-pix_fmt", "yuv420p", "-preset", "ultrafast"],
            &input,
        );
        let child = std::process::Command::new(bin())
            .args([
                "upscale",
                "--model",
                "bicubic",
                input.to_str().unwrap(),
                "--encoder",
                "libx264",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the job has really started writing (its temporary file exists).
        let writing = || {
            listing(dir.path())
                .iter()
                .any(|n| is_partial_of(n, "long_x4.mp4"))
        };
        let t0 = std::time::Instant::now();
        while !writing() && t0.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(writing(), "job never started writing");
        std::thread::sleep(std::time::Duration::from_millis(500));
        for _ in 0..signals {
            // SAFETY: sending SIGINT to our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            // apart, so the two are delivered as two (a pending signal absorbs a second one)
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        let expected = if signals == 1 {
            "cancelled"
        } else {
            "forced exit: partial outputs removed"
        };
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(
            listing(dir.path()),
            vec!["long.mp4"],
            "after {signals} Ctrl-C"
        );
    }
}

/// A model that fails in the middle of a file (frame 11 of 20) must fail the job without a
/// truncated output under the final name and without a leftover temporary file, so a rerun
/// is not refused with "output already exists".
#[test]
fn a_model_failing_mid_file_leaves_no_truncated_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mp4");
    test_pattern(
        "size=64x48:rate=10:duration=2",
        &["-pix_fmt", "yuv420p"],
        &input,
    );
    assert_eq!(count_frames(&input), 20);
    // Call 1 is the loader's scale probe; calls 2..12 are frames 0..10; frame 11 fails.
    let script = r#"
import sys, torch
class FailsAtFrame11(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(1))
    def forward(self, x):
        self.calls += 1
        if int(self.calls.item()) > 12:
            raise RuntimeError("injected failure")
        return torch.nn.functional.interpolate(x, scale_factor=4.0, mode="nearest")
torch.jit.script(FailsAtFrame11()).save(sys.argv[1])
"#;
    // torch.jit.script reads the module's source, so the script must be a file.
    let script_path = dir.path().join("make_model.py");
    std::fs::write(&script_path, script).unwrap();
    let model = dir.path().join("fails.pt");
    let status = std::process::Command::new(python())
        .args([script_path.to_str().unwrap(), model.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(&script_path).unwrap();
    let output = dir.path().join("out.mp4");
    let run = stronglive(&[
        "upscale",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--encoder",
        "libx264",
    ]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("super-resolution failed") && run.stderr.contains("injected failure"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(listing(dir.path()), vec!["clip.mp4", "fails.pt"]);
}

/// A picture too large to upscale in this machine's memory (12288x12288 x4: hundreds of GB of
/// frames in flight) is refused before any frame is decoded, naming the sizes and the need,
/// and leaves nothing behind.
#[test]
fn an_input_too_large_for_memory_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let huge = d.join("huge.png");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=12288x12288",
        "-frames:v",
        "1",
        huge.to_str().unwrap(),
    ]);
    assert_clean_failure(
        d,
        &huge,
        "12288x12288 upscaled x4 is 49152x49152",
        &["huge.png"],
    );
    let run = upscale_with_bicubic(&[huge.to_str().unwrap(), "--out-dir", d.to_str().unwrap()]);
    assert!(
        run.stderr.contains("MiB of memory;") && run.stderr.contains("MiB is available"),
        "{}",
        run.stderr
    );
}
