//! The studio rendered headless with egui_kittest on wgpu (Mesa lavapipe here): snapshot tests of
//! each tab with real engine objects, the pairing QR code read back with a QR decoder, the YUV
//! shader checked by colour, a real offline job run to completion through the GUI's queue.
//! Snapshots live in tests/snapshots/ (`UPDATE_SNAPSHOTS=1 cargo test --test studio` rewrites
//! them); renders of non-deterministic screens are kept in the target dir as artifacts.

// The ffmpeg-made clips the product tests use too (tests/common/clips.rs).
#[path = "../../../tests/common/clips.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::{kittest::Queryable, Harness};
use stronglive_engine::frame::{ColorInfo, YuvFrame};
use stronglive_engine::live::pairing::{PairingSecret, PairingUri};
use stronglive_studio::{CompareMode, LiveFrame, StudioApp, StudioOptions, Tab};

fn harness(setup: impl FnOnce(&mut StudioApp)) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| {
            let mut app = StudioApp::new(cc, StudioOptions::default());
            setup(&mut app);
            app
        })
}

fn fixed_pairing() -> PairingUri {
    PairingUri {
        name: "Studio".into(),
        hosts: vec!["192.168.1.20".parse().unwrap()],
        port: 7878,
        secret: PairingSecret::from_bytes([0x5a; 32]),
        expires: None,
    }
}

/// Keep a render for people to look at (CI artifacts): target dir /screenshots/NAME.png.
fn keep(harness: &mut Harness<'_, StudioApp>, name: &str) -> image_size::Rendered {
    let image = harness.render().expect("wgpu render");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    image.save(dir.join(format!("{name}.png"))).unwrap();
    image_size::Rendered(image)
}

mod image_size {
    /// A rendered frame and helpers to read it.
    pub struct Rendered(pub image::RgbaImage);

    impl Rendered {
        pub fn rgb(&self, x: u32, y: u32) -> [u8; 3] {
            let p = self.0.get_pixel(x, y).0;
            [p[0], p[1], p[2]]
        }
        pub fn luma(&self, x: usize, y: usize) -> u8 {
            let [r, g, b] = self.rgb(x as u32, y as u32);
            ((u32::from(r) + u32::from(g) + u32::from(b)) / 3) as u8
        }
        pub fn size(&self) -> (usize, usize) {
            (self.0.width() as usize, self.0.height() as usize)
        }
    }
}

#[test]
fn live_tab_shows_a_pairing_qr_code_that_decodes_to_the_pairing_uri() {
    let pairing = fixed_pairing();
    let expected = pairing.to_string();
    let mut harness = harness(move |app| {
        app.tab = Tab::Live;
        app.live.state.pairing = Some(pairing);
    });
    harness.run_steps(4);
    harness.get_by_label("Pair a phone");
    harness.get_by_label("192.168.1.20  port 7878");
    harness.snapshot("live_tab_pairing");
    let rendered = keep(&mut harness, "live_tab_pairing");
    let (w, h) = rendered.size();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| rendered.luma(x, y));
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on screen");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    assert_eq!(content, expected);
}

/// A frame of one colour, as BT.601 limited-range Y'CbCr.
fn solid(width: u32, height: u32, y: u8, u: u8, v: u8) -> Arc<YuvFrame> {
    let color = ColorInfo::default_for_height(240); // BT.601, limited
    Arc::new(YuvFrame::filled(width, height, y, u, v, color))
}

/// A learning session's figures in the metrics panel: on, model version, held-out gain over
/// the generic model, patches received/used/refused, training speed, the patch rate asked for.
#[test]
fn live_metrics_show_what_scene_learning_does() {
    use stronglive_engine::pipeline::live::metrics::SessionMetrics;
    let metrics = SessionMetrics::new(
        1,
        "Pixel 7 @ 10.0.0.2".into(),
        "fmen-tiny-x4".into(),
        "cpu".into(),
        2,
    );
    for _ in 0..12 {
        metrics.on_patch();
    }
    metrics.on_patch_refused();
    metrics.update_learning(|l| {
        l.pairs_used = 11;
        l.train_steps = 340;
        l.steps_per_s = 6.5;
        l.model_version = 3;
        l.gain_db = 0.42;
        l.patches_asked_per_s = 5.0;
    });
    let snapshot = metrics.snapshot();
    let mut harness = harness(move |app| {
        app.tab = Tab::Live;
        app.live.state.pairing = Some(fixed_pairing());
        app.live.state.snapshot = Some(snapshot);
    });
    harness.run_steps(4);
    harness.get_by_label("adapted +0.42 dB vs generic on held-out patches (model v3)");
    harness.get_by_label("patches 12 in, 11 used, 1 refused   6.5 steps/s   asking 5/s");
    harness.get_by_label("Learn from the phone");
    keep(&mut harness, "live_metrics_learning");
}

#[test]
fn live_views_convert_yuv_on_the_gpu_side_by_side_and_split() {
    // Input: pure red (Y 81, Cb 90, Cr 240); output: pure blue (Y 41, Cb 240, Cr 110).
    let (input, output) = (solid(160, 90, 81, 90, 240), solid(640, 360, 41, 240, 110));
    let mut harness = harness(move |app| {
        app.tab = Tab::Live;
        app.live.state.pairing = Some(fixed_pairing());
        app.live.state.frame = Some(LiveFrame {
            input,
            output,
            super_resolved: true,
            output_width: 640,
            sequence: 1,
        });
    });
    harness.run_steps(4);
    harness.get_by_label("input 160x90");
    harness.get_by_label("super-resolved 640x360");
    harness.snapshot("live_views_side_by_side");
    let rendered = keep(&mut harness, "live_views_side_by_side");
    let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6);
    // Centres of the two views (left half and right half of the area right of the side panel).
    let (left, right) = (rendered.rgb(620, 330), rendered.rgb(1040, 330));
    assert!(
        close(left, [255, 0, 0]),
        "input view shows {left:?}, expected red"
    );
    assert!(
        close(right, [0, 0, 255]),
        "output view shows {right:?}, expected blue"
    );

    harness.state_mut().live.settings.mode = CompareMode::Split;
    harness.run_steps(3);
    harness.snapshot("live_views_split");
    let rendered = keep(&mut harness, "live_views_split");
    // Left of the divider: input; right of it: output.
    let (w, _) = rendered.size();
    let divider = 300 + (w - 300) / 2;
    assert!(close(rendered.rgb(divider as u32 - 120, 330), [255, 0, 0]));
    assert!(close(rendered.rgb(divider as u32 + 120, 330), [0, 0, 255]));
}

#[test]
fn models_tab_lists_the_shipped_models_with_their_cards() {
    let mut harness = harness(|app| app.tab = Tab::Models);
    harness.run_steps(3);
    harness.get_by_label("fmen-sl-x4");
    harness.get_by_label("fmen-tiny-x4");
    harness.snapshot("models_tab");
}

/// "Compress (content-adaptive)": a queued file becomes an SRVC file (LR video + attached
/// model stream) that runs to done like any job.
#[test]
fn offline_tab_compresses_a_file_with_srvc_to_done() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    common::test_pattern(
        "size=256x256:rate=10:duration=1",
        &["-pix_fmt", "yuv420p", "-bf", "0"],
        &clip,
    );
    let mut harness = harness(|app| {
        app.tab = Tab::Offline;
        app.offline.settings.compress = true;
    });
    harness.run_steps(2);
    harness.get_by_label("Compress (content-adaptive)");
    harness.state_mut().offline.settings.compress = true;
    harness.state_mut().offline.add_file(clip.clone());
    let deadline = Instant::now() + Duration::from_secs(240);
    while harness.state().offline.summary()[0].1 != "done" {
        let state = &harness.state().offline.summary()[0].1;
        assert!(!state.starts_with("failed"), "{state}");
        assert!(Instant::now() < deadline, "the job did not finish");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.path().join("clip_srvc.mkv");
    let stream = stronglive_engine::pipeline::srvc::playback::model_stream_of(&out).unwrap();
    assert!(
        stream.is_some_and(|s| s.starts_with(b"SLSRVC")),
        "no model stream in {}",
        out.display()
    );
    assert_eq!(common::count_frames(&out), 10);
    // The row tells how the (one) segment's learning went.
    harness.run_steps(2);
    harness.get_by_label_contains("segment 1: ");
    harness.get_by_label_contains("dB over the base, loss ");
}

/// A file dropped from the file manager, as the windowing integration hands it to egui.
#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// The headline gesture: a video dropped on the window (here on the Live tab) becomes a job
/// in the Offline tab that runs to done; a file that is not a video gives a notification
/// naming it, not a job.
#[test]
fn a_video_dropped_on_the_window_is_queued_and_a_text_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("dropped.mp4");
    common::tiny_clip(&clip);
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a video").unwrap();
    let mut harness = harness(|app| {
        app.tab = Tab::Live;
        app.offline.settings.model = "bicubic".into();
        app.offline.settings.encoder = "libx264".into();
    });
    harness.run_steps(2);
    for path in [&clip, &notes] {
        let file: egui::DroppedFileHandle = Arc::new(DroppedPath(path.clone()));
        harness.input_mut().dropped_files.push(file);
    }
    harness.step();
    assert_eq!(harness.state().tab, Tab::Offline);
    // the files are probed off the UI thread, in order: the video is queued and the text file
    // named a few frames later
    let deadline = Instant::now() + Duration::from_secs(30);
    while harness.query_by_label_contains("notes.txt").is_none() && Instant::now() < deadline {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let summary = harness.state().offline.summary();
    assert_eq!(summary.len(), 1, "only the video is queued: {summary:?}");
    assert_eq!(summary[0].0, "dropped.mp4");
    harness.run_steps(2);
    harness.get_by_label_contains("notes.txt");
    let deadline = Instant::now() + Duration::from_secs(120);
    while harness.state().offline.summary()[0].1 != "done" {
        let state = &harness.state().offline.summary()[0].1;
        assert!(!state.starts_with("failed"), "{state}");
        assert!(
            Instant::now() < deadline,
            "the dropped file's job did not finish"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(common::count_frames(&dir.path().join("dropped_x4.mp4")), 5);
}

#[test]
fn offline_tab_runs_a_real_job_to_done() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    common::tiny_clip(&clip);
    let mut harness = harness(|app| {
        app.tab = Tab::Offline;
        app.offline.settings.model = "bicubic".into();
        app.offline.settings.encoder = "libx264".into();
    });
    harness.state_mut().offline.add_file(clip.clone());
    // the window title names the file while it waits or runs, and goes back when it is done
    let title = harness.state().window_title();
    assert!(
        title == "StrongLive Studio - clip.mp4 queued"
            || title.starts_with("StrongLive Studio - upscaling clip.mp4 "),
        "{title}"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while harness.state().offline.summary()[0].1 != "done" {
        assert!(
            !harness.state().offline.summary()[0].1.starts_with("failed"),
            "{:?}",
            harness.state().offline.summary()
        );
        assert!(Instant::now() < deadline, "the job did not finish");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    harness.run_steps(3);
    assert_eq!(harness.state().window_title(), "StrongLive Studio");
    harness.get_by_label_contains("done in");
    harness.get_by_label_contains("100% (5/5 frames)");
    harness.get_by_label("Open folder");
    keep(&mut harness, "offline_tab_done");
    assert_eq!(common::count_frames(&dir.path().join("clip_x4.mp4")), 5);
    // The preview renders one frame with bicubic and the model side by side.
    harness.get_by_label("Preview").click();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        if harness
            .query_by_label_contains("bicubic (left) vs bicubic")
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no preview");
        std::thread::sleep(Duration::from_millis(50));
    }
    harness.run_steps(2);
    keep(&mut harness, "offline_preview");
    // The job's timing figures (seconds, fps) differ from run to run: a few hundred pixels of
    // digits may change, the layout may not.
    harness.snapshot_options(
        "offline_tab_done_with_preview",
        &egui_kittest::SnapshotOptions::new().max_failed_pixels(4000),
    );
}

/// Closing the studio while a job runs (eframe calls `on_exit`, then the process ends): the
/// job is cancelled and cleans up, so no hidden partial output stays behind.
#[test]
fn closing_the_studio_mid_job_leaves_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("long.mp4");
    common::test_pattern(
        "size=480x270:rate=30:duration=20",
        &["-pix_fmt", "yuv420p", "-preset", "ultrafast"],
        &clip,
    );
    let mut harness = harness(|app| {
        app.tab = Tab::Offline;
        app.offline.settings.model = "bicubic".into();
        app.offline.settings.encoder = "libx264".into();
    });
    harness.state_mut().offline.add_file(clip.clone());
    let writing = |dir: &std::path::Path| {
        common::listing(dir)
            .iter()
            .any(|n| common::is_partial_of(n, "long_x4.mp4"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !writing(dir.path()) {
        assert!(Instant::now() < deadline, "the job never started writing");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    eframe::App::on_exit(harness.state_mut());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "on_exit waited too long"
    );
    assert_eq!(common::listing(dir.path()), vec!["long.mp4"]);
}

/// eframe's storage kept in memory: what one run of the studio saves, the next one loads.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// The `part-*` files in a resumable job's work folder.
fn finished_parts_in(work: &std::path::Path) -> usize {
    common::listing(work)
        .into_iter()
        .filter(|n| n.starts_with("part-"))
        .count()
}

/// A file's inode and modification time: a file made again has another.
fn file_stamp(path: &std::path::Path) -> Option<(u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.mtime_nsec()))
}

/// The studio started again with what the last run saved in `storage`.
fn studio_restarted_with(storage: MemoryStorage) -> Harness<'static, StudioApp> {
    let storage: &'static MemoryStorage = Box::leak(Box::new(storage));
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| {
            cc.storage = Some(storage);
            StudioApp::new(cc, StudioOptions::default())
        })
}

/// Closing the studio while a long job runs keeps its finished chunks (and nothing else); the
/// next start, with the saved window, queues the job again, and it continues from those chunks
/// to an output with every frame at its time.
#[test]
fn a_job_cut_short_by_closing_the_studio_resumes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("long.mp4");
    common::test_pattern(
        "size=480x270:rate=30:duration=8",
        &["-pix_fmt", "yuv420p", "-g", "15", "-preset", "ultrafast"],
        &clip,
    );
    let work = dir.path().join(".long_x4.mp4.resume");
    let finished_parts = || finished_parts_in(&work);
    let settings = |app: &mut StudioApp| {
        app.tab = Tab::Offline;
        app.offline.settings.model = "bicubic".into();
        app.offline.settings.encoder = "libx264".into();
        app.offline.settings.resume_chunk_seconds = 1.0;
    };
    let mut harness = harness(settings);
    harness.state_mut().offline.add_file(clip.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished_parts() < 1 {
        assert!(Instant::now() < deadline, "no chunk finished");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    // as eframe closes a window: save, then on_exit
    let mut storage = MemoryStorage::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    eframe::App::on_exit(harness.state_mut());
    drop(harness);
    let kept = finished_parts();
    assert!((1..8).contains(&kept), "{kept} of 8 chunks done");
    assert!(
        common::listing(&work)
            .iter()
            .all(|n| n == "job.json" || (n.starts_with("part-") && n.ends_with(".mp4"))),
        "{:?}",
        common::listing(&work)
    );
    assert_eq!(
        common::listing(dir.path()),
        [".long_x4.mp4.resume", "long.mp4"]
    );

    // the kept parts as the file system knows them: a part made again is a new file
    let stamp = |name: &str| file_stamp(&work.join(name));
    let kept_stamps: Vec<(String, _)> = common::listing(&work)
        .into_iter()
        .filter(|n| n.starts_with("part-"))
        .map(|n| (n.clone(), stamp(&n)))
        .collect();

    let mut harness = studio_restarted_with(storage);
    assert_eq!(harness.state().offline.summary()[0].0, "long.mp4");
    harness.get_by_label_contains("1 unfinished job(s) queued again");
    let deadline = Instant::now() + Duration::from_secs(180);
    while harness.state().offline.summary()[0].1 != "done" {
        let state = &harness.state().offline.summary()[0].1;
        assert!(!state.starts_with("failed"), "{state}");
        assert!(Instant::now() < deadline, "the resumed job did not finish");
        for (name, before) in &kept_stamps {
            let now = stamp(name);
            assert!(now.is_none() || now == *before, "{name} was made again");
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = dir.path().join("long_x4.mp4");
    let times = common::frame_times(&output);
    assert_eq!(times.len(), 240);
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert_eq!(common::listing(dir.path()), ["long.mp4", "long_x4.mp4"]);
}

/// The preview of an HDR (PQ) file says so and shows it tone-mapped for the SDR screen: PQ
/// samples drawn as they are would look flat grey; mapped, the test pattern keeps its contrast.
#[test]
fn the_preview_of_an_hdr_file_is_tone_mapped_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("pq.mp4");
    common::hdr_clip(&clip, "size=160x90:rate=10:duration=1", "smpte2084", "");
    let mut harness = harness(|app| {
        app.tab = Tab::Offline;
        app.offline.settings.model = "bicubic".into();
    });
    // (the preview panel sits under the queue)
    harness.state_mut().offline.add_file(clip.clone());
    harness.state_mut().offline.open_preview(clip);
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness
        .query_by_label_contains("HDR (PQ): shown tone-mapped for this SDR screen")
        .is_none()
    {
        assert!(Instant::now() < deadline, "no labelled HDR preview");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let frames = stronglive_engine::pipeline::offline::preview::preview_frame(
        &dir.path().join("pq.mp4"),
        0.0,
        "bicubic",
        stronglive_engine::sr::DevicePreference::AUTO,
    )
    .unwrap();
    assert_eq!(frames.hdr, Some(stronglive_engine::frame::HdrTransfer::Pq));
    assert_eq!(frames.model.color.bits, 8);
    assert_eq!(
        frames.model.color.matrix,
        stronglive_engine::frame::ColorMatrix::Bt709
    );
    // testsrc2's bars span dark to bright: the mapped frame keeps a wide spread of luma
    let (lo, hi) = frames
        .model
        .y
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(lo < 40 && hi > 150, "luma {lo}..{hi}");
}
