//! Chunked jobs and the cluster recipes: chunks upscaled apart (in separate processes, told
//! their index through the environment as a Kubernetes Indexed Job or a Slurm array does) and
//! joined equal a single `upscale` of the file; the manifests name what they must.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// `seconds` of 128x72 video at 20 fps (B-frames, a key frame every 10 frames) with AAC audio.
fn clip_with_audio(path: &Path, seconds: u32) {
    clip_of_size(path, "128x72", seconds)
}

/// `seconds` of `size` video at 20 fps (B-frames, a key frame every 10 frames) with AAC audio.
fn clip_of_size(path: &Path, size: &str, seconds: u32) {
    let (video, audio) = (
        format!("testsrc2=size={size}:rate=20:duration={seconds}"),
        format!("sine=frequency=440:duration={seconds}"),
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-bf",
        "2",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
}

/// Packets of the first stream of `selector` (`v`, `a`) in `path`.
fn packets_of(path: &Path, selector: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{selector}:0")])
        .args([
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A clip with B-frames, a key frame every 10 frames and audio: 3 chunks upscaled by three
/// processes that only see JOB_COMPLETION_INDEX, joined: same frames at the same times as one
/// `upscale`, each part starting with a key frame, the audio copied once.
#[test]
fn chunks_upscaled_apart_and_joined_equal_a_single_upscale() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.mp4");
    clip_with_audio(&source, 3);
    let single = dir.path().join("single.mp4");
    let run = upscale_with_bicubic(&[
        source.to_str().unwrap(),
        "-o",
        single.to_str().unwrap(),
        "--encoder",
        "libx264",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let joined = dir.path().join("joined.mp4");
    let out = Command::new("scripts/cluster_local.sh")
        .arg(&source)
        .arg(&joined)
        .args(["3", "--model", "bicubic", "--encoder", "libx264"])
        .env("STRONGLIVE_BIN", bin())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let times = frame_times(&single);
    assert_eq!(times.len(), 60);
    assert_eq!(frame_times(&joined), times, "frames or timestamps differ");
    let audio = packets_of(&source, "a");
    assert!(audio > 100, "{audio}");
    assert_eq!(packets_of(&joined, "a"), audio);
    assert_eq!(packets_of(&joined, "v"), 60);
}

/// Each part alone: exactly its chunk's frames, video only, starting with a key frame; a
/// chunk index from the environment; a bad spec or a missing index named.
#[test]
fn a_part_holds_its_chunk_from_a_key_frame_and_bad_specs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.mp4");
    clip_with_audio(&source, 2);
    assert_eq!(streams_of(&ffprobe(&source, false), "audio").len(), 1);
    let part = dir.path().join("part.mp4");
    let run = stronglive_with_env(
        &[
            "upscale",
            source.to_str().unwrap(),
            "--chunk",
            "auto/2",
            "-o",
            part.to_str().unwrap(),
            "--model",
            "bicubic",
            "--encoder",
            "libx264",
        ],
        &[("SLURM_ARRAY_TASK_ID", Path::new("1"))],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("chunk 1/2: frames 20..40 (20 frames)"),
        "{}",
        run.stderr
    );
    assert_eq!(count_frames(&part), 20);
    assert_eq!(streams_of(&ffprobe(&part, false), "video").len(), 1);
    assert!(streams_of(&ffprobe(&part, false), "audio").is_empty());
    let probe = ffprobe(&part, true);
    let first = &probe["packets"][0];
    assert!(first["flags"].as_str().unwrap().starts_with('K'), "{first}");
    assert!((num(&first["pts_time"]) - 1.0).abs() < 1e-6, "{first}");

    let bad = stronglive(&[
        "upscale",
        source.to_str().unwrap(),
        "--chunk",
        "2/2",
        "-o",
        "x.mp4",
    ]);
    assert!(
        bad.code == Some(2) && bad.stderr.contains("K must be below N"),
        "{}",
        bad.stderr
    );
    let too_many = stronglive(&[
        "upscale",
        source.to_str().unwrap(),
        "--chunk",
        "0/9",
        "-o",
        dir.path().join("y.mp4").to_str().unwrap(),
    ]);
    assert!(
        too_many.code == Some(1)
            && too_many
                .stderr
                .contains("4 key frames allow at most 4 chunks, not 9"),
        "{}",
        too_many.stderr
    );
}

/// `upscale` of `source` into `output` in chunks of one second, started (not waited for).
fn start_resumable_upscale(source: &Path, output: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(["upscale", "--model", "bicubic", "--encoder", "libx264"])
        .args(["--resume-chunk", "1", "-o"])
        .args([output, source])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The finished parts (final names only) in the work folder of `output`.
fn finished_parts(output: &Path) -> Vec<String> {
    let folder = output.with_file_name(format!(
        ".{}.resume",
        output.file_name().unwrap().to_string_lossy()
    ));
    listing(&folder)
        .into_iter()
        .filter(|n| n.starts_with("part-") && !n.ends_with(".partial"))
        .collect()
}

/// Kill `upscale` once at least two of its six chunks are finished.
fn kill_after_two_chunks(source: &Path, output: &Path) -> usize {
    let mut child = start_resumable_upscale(source, output, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while finished_parts(output).len() < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no chunk finished in 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    finished_parts(output).len()
}

/// A job killed (SIGKILL: no cleanup of its own) after some of its chunks: run again, it says
/// how many chunks it found done (exactly those on disk), computes the rest, and its output has
/// the same frames, timestamps and audio as an uninterrupted run; nothing is left behind.
/// `--no-resume` starts over.
#[test]
fn a_killed_upscale_resumes_from_its_finished_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.mp4");
    clip_of_size(&source, "320x180", 6);
    let single = dir.path().join("single.mp4");
    let run = start_resumable_upscale(&source, &single, &[])
        .wait_with_output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let times = frame_times(&single);
    assert_eq!(times.len(), 120);
    let audio = packets_of(&source, "a");
    assert!(audio > 200, "{audio}");
    assert_eq!(packets_of(&single, "a"), audio);

    let output = dir.path().join("resumed.mp4");
    let done = kill_after_two_chunks(&source, &output);
    assert!((2..6).contains(&done), "{done} parts finished");
    assert!(!output.exists(), "a killed job left its output");
    let run = start_resumable_upscale(&source, &output, &[])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let said = format!(
        "resumed: {done} of 6 chunks were already done, {} computed now",
        6 - done
    );
    assert!(stderr.contains(&said), "expected {said:?} in {stderr}");
    assert_eq!(frame_times(&output), times, "frames or timestamps differ");
    assert_eq!(packets_of(&output, "a"), audio);
    assert_eq!(
        listing(dir.path()),
        ["resumed.mp4", "single.mp4", "source.mp4"],
        "a work folder or a temporary file was left behind"
    );

    let fresh = dir.path().join("fresh.mp4");
    kill_after_two_chunks(&source, &fresh);
    let run = start_resumable_upscale(&source, &fresh, &["--no-resume"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success() && !stderr.contains("resumed"),
        "{stderr}"
    );
    assert_eq!(frame_times(&fresh), times);
}

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Kubernetes manifests parse, and name the image the Containerfile builds, the index
/// variable, the chunk count equal to the completions, and the shared volume; the Slurm
/// script is valid shell over an array as long as its chunk count.
#[test]
fn the_cluster_recipes_name_the_image_the_index_and_the_volume() {
    let containerfile = std::fs::read_to_string("packaging/container/Containerfile").unwrap();
    assert!(containerfile.contains("-t stronglive-engine:latest"));
    let job = yaml("packaging/k8s/upscale-chunks.yaml");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "stronglive-engine:latest");
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&format!("auto/{completions}").as_str()),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a.contains("$(JOB_COMPLETION_INDEX)")),
        "{args:?}"
    );
    assert_eq!(container["env"][0]["name"], "JOB_COMPLETION_INDEX");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/work");
    let volume = yaml("packaging/k8s/shared-volume.yaml");
    let claim =
        &job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
    assert_eq!(claim, &volume["metadata"]["name"]);
    assert_eq!(volume["spec"]["accessModes"][0], "ReadWriteMany");
    let concat = yaml("packaging/k8s/concat-job.yaml");
    let command = concat["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(
        command.contains(&format!("0 {}", completions - 1))
            && command.contains("stronglive concat"),
        "{command}"
    );

    let slurm = "packaging/slurm/upscale-array.sh";
    let syntax = Command::new("bash").args(["-n", slurm]).output().unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let script = std::fs::read_to_string(slurm).unwrap();
    assert!(script.contains("#SBATCH --array=0-7") && script.contains("N=\"${N:-8}\""));
    assert!(script.contains("--chunk \"auto/$N\"") && script.contains("SLURM_ARRAY_TASK_ID"));
}
