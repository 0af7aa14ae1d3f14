//! `stronglive adapt`: a scene learned offline from a full-resolution video becomes a user
//! model that `upscale --model NAME` runs; bad requests are refused naming what is wrong.

mod common;

use std::path::Path;

use common::{count_frames, ffmpeg};

/// `stronglive adapt ARGS...` saving into `models`.
fn adapt(models: &Path, args: &[&str]) -> common::Run {
    let mut all = vec!["adapt"];
    all.extend_from_slice(args);
    common::stronglive_with_env(&all, &[("STRONGLIVE_MODELS", models)])
}

/// The bundled natural clip (a pan over a photo) as a 4 s 640x352 "camera" video.
fn camera_clip(out: &Path) {
    common::demo_camera(out, ",trim=0:4");
}

#[test]
fn adapt_learns_a_video_and_the_model_upscales_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let camera = dir.path().join("camera.mp4");
    camera_clip(&camera);
    let run = adapt(
        &models,
        &[
            camera.to_str().unwrap(),
            "--base",
            "fmen-tiny-x4",
            "--name",
            "my-scene",
            "--seconds",
            "15",
        ],
    );
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    // "my-scene: 120 frames sampled, ... held-out PSNR-Y A dB vs B dB for fmen-tiny-x4 (+G dB)"
    let gain: f64 = run
        .stdout
        .split("fmen-tiny-x4 (")
        .nth(1)
        .and_then(|g| g.split_whitespace().next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(gain > 0.0, "{}", run.stdout);
    let card_path = models.join("my-scene.json");
    assert!(run
        .stdout
        .contains(&format!("saved {}", card_path.display())));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    let description = card["description"].as_str().unwrap();
    assert!(
        description.starts_with("fmen-tiny-x4 adapted to one scene (video camera.mp4"),
        "{description}"
    );
    assert!(models.join("my-scene.safetensors").exists());

    // Usable at once by name, on the phone-sized version of the video.
    let small = dir.path().join("small.mp4");
    ffmpeg(&[
        "-i",
        camera.to_str().unwrap(),
        "-vf",
        "scale=160:88",
        "-frames:v",
        "6",
        small.to_str().unwrap(),
    ]);
    let up = common::stronglive_with_env(
        &[
            "upscale",
            small.to_str().unwrap(),
            "--model",
            "my-scene",
            "--encoder",
            "libx264",
        ],
        &[("STRONGLIVE_MODELS", &models)],
    );
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    assert_eq!(count_frames(&dir.path().join("small_x4.mp4")), 6);

    // The name is taken now: a second run refuses instead of overwriting.
    let again = adapt(
        &models,
        &[
            camera.to_str().unwrap(),
            "--name",
            "my-scene",
            "--seconds",
            "1",
        ],
    );
    assert_ne!(again.code, Some(0));
    assert!(
        again
            .stderr
            .contains("my-scene.json already exists; choose another --name"),
        "{}",
        again.stderr
    );
}

#[test]
fn adapt_refuses_what_it_cannot_learn_from_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let tiny = dir.path().join("tiny.mp4");
    common::test_pattern("size=160x120:rate=10:duration=1", &[], &tiny);
    let camera = dir.path().join("camera.mp4");
    camera_clip(&camera);
    let missing = dir.path().join("missing.mp4");
    for (args, says) in [
        (
            vec![missing.to_str().unwrap(), "--name", "x"],
            missing.display().to_string(),
        ),
        (
            vec![tiny.to_str().unwrap(), "--name", "x"],
            "160x120 frames are too small; adapt needs at least 192x192".to_string(),
        ),
        (
            vec![camera.to_str().unwrap(), "--name", "x", "--base", "bicubic"],
            "bicubic cannot learn".to_string(),
        ),
    ] {
        let run = adapt(&models, &args);
        assert_ne!(run.code, Some(0), "{args:?}");
        assert!(run.stderr.contains(&says), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert!(!models.join("x.json").exists());
}
