//! The SRVC model stream against its independent Python reader (scripts/srvc_read.py): both
//! rebuild bit-identical weights from the shipped base model and a stream of sparse changes,
//! a corrupted segment is skipped by both, and unstreamed weights never move.

mod common;

use std::path::Path;
use std::process::Command;

use stronglive_engine::sr::card::save_weights;
use stronglive_engine::sr::srvc::{
    apply, header_for_weights, quantise, top_changes, write_header, write_segment, FlatWeights,
    Quantization, Segment, StreamHeader,
};
use stronglive_engine::sr::{load_model, ComputeDevice};

/// The shipped CPU-tier model's weights, flattened.
fn tiny_base() -> FlatWeights {
    let model = load_model("fmen-tiny-x4", 4, &ComputeDevice::cpu()).unwrap();
    FlatWeights::of(model.as_network().unwrap().file_weights()).unwrap()
}

/// A x4 stream header for `base` under this name and architecture.
fn header_for(base: &FlatWeights, name: &str, architecture: &str, q: Quantization) -> StreamHeader {
    header_for_weights(name, base, architecture, serde_json::Value::Null, 4, q)
}

/// Deterministic pseudo-random weights change, as segment training would make.
fn nudged(values: &[f32], seed: u64) -> Vec<f32> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let r = ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed) >> 40;
            v + (r as f32 / (1u64 << 24) as f32 - 0.5) * 0.02
        })
        .collect()
}

fn python_reader(stream: &Path, base: &Path, out: &Path) -> std::process::Output {
    Command::new(common::python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/srvc_read.py"))
        .arg(stream)
        .args([
            "--base",
            base.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("run scripts/srvc_read.py")
}

/// Three segments of 1% of the weights each, warm-started from the decoder's state but the
/// third, which starts again from the base weights: each applied to `decoder` (checking that
/// no unstreamed weight moves) and written to `stream`. Returns the decoder's states, the one
/// it starts in first.
fn stream_three_segments(
    header: &StreamHeader,
    base: &FlatWeights,
    decoder: &mut [f32],
    stream: &mut Vec<u8>,
) -> Vec<Vec<f32>> {
    let mut states = vec![decoder.to_vec()];
    for seed in 1..=3u64 {
        let from_base = seed == 3;
        let start = if from_base {
            &base.values[..]
        } else {
            &*decoder
        };
        let trained = nudged(start, seed);
        let segment = Segment {
            from_base,
            ..quantise(
                header,
                start,
                &trained,
                top_changes(start, &trained, 0.01),
                seed as i64 * 5_000_000,
            )
        };
        let before = start.to_vec();
        apply(header, &base.values, decoder, &segment, 0).unwrap();
        let moved = decoder
            .iter()
            .zip(&before)
            .filter(|(a, b)| a.to_bits() != b.to_bits());
        assert!(
            moved.count() <= segment.indices.len(),
            "unstreamed weights moved"
        );
        write_segment(stream, &segment);
        states.push(decoder.to_vec());
    }
    states
}

/// A safetensors file's weights, flattened.
fn read_flat_weights(path: &Path) -> Vec<f32> {
    let tensors = tch::Tensor::read_safetensors(path).unwrap();
    let w = stronglive_engine::sr::model::Weights {
        version: 0,
        tensors,
    };
    FlatWeights::of(&w).unwrap().values
}

#[test]
fn the_python_reader_rebuilds_the_decoders_weights_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base();
    let base_file = dir.path().join("base.safetensors");
    save_weights(&base.to_weights(0).tensors, &base_file).unwrap();
    for quantization in [Quantization::Int8, Quantization::Fp16] {
        let header = header_for(&base, "fmen-tiny-x4", "fmen", quantization);
        let mut stream = Vec::new();
        write_header(&mut stream, &header);
        // First a segment the encoder's gate turned down (no change), then three segments, each
        // 1% of the weights, warm-started from the previous decoder state but the third, which
        // starts again from the base weights.
        let mut decoder = base.values.clone();
        let unchanged = Segment::unchanged(0, quantization);
        apply(&header, &base.values, &mut decoder, &unchanged, 0).unwrap();
        assert_eq!(decoder, base.values, "an empty segment changed the weights");
        write_segment(&mut stream, &unchanged);
        let states = stream_three_segments(&header, &base, &mut decoder, &mut stream);
        let stream_file = dir.path().join("model.srvc");
        std::fs::write(&stream_file, &stream).unwrap();
        let got = dir.path().join("got.safetensors");
        let out = python_reader(&stream_file, &base_file, &got);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt = read_flat_weights;
        let python = rebuilt(&got);
        assert_eq!(python.len(), decoder.len());
        let differing = python
            .iter()
            .zip(&decoder)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differing, 0,
            "{quantization:?}: Python and Rust weights differ"
        );

        // A corrupted last segment is skipped with a warning: the weights after segment 2 stay.
        let mut corrupted = stream.clone();
        let last = corrupted.len() - 3;
        corrupted[last] ^= 0x55;
        std::fs::write(&stream_file, &corrupted).unwrap();
        let out = python_reader(&stream_file, &base_file, &got);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("segment 3: bad checksum"));
        let python = rebuilt(&got);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same(&python, &states[2]), "not the weights after segment 2");
    }
}

#[test]
fn the_python_reader_refuses_another_base_model() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base();
    let header = header_for(&base, "fmen-tiny-x4", "fmen", Quantization::Int8);
    let mut stream = Vec::new();
    write_header(&mut stream, &header);
    let stream_file = dir.path().join("model.srvc");
    std::fs::write(&stream_file, &stream).unwrap();
    let mut other = base.clone();
    other.values[0] += 1.0;
    let other_file = dir.path().join("other.safetensors");
    save_weights(&other.to_weights(0).tensors, &other_file).unwrap();
    let out = python_reader(&stream_file, &other_file, &dir.path().join("x.safetensors"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the base model the stream was made for")
    );
}

/// A 2 s "camera" clip (exact crops of the bundled demo) with a sine audio track.
fn hr_clip(out: &Path) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-540p.mp4");
    common::ffmpeg(&[
        "-i",
        demo.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-vf",
        "crop=320:256:200:150",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-crf",
        "12",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        out.to_str().unwrap(),
    ]);
}

/// What the encoder's side expects the decoder to show: the SRVC file's LR frames upscaled in
/// fp32 on the CPU with the weights the model stream gives from each segment's first frame.
fn encoder_side_reconstruction(
    srvc_file: &Path,
    stream: &[u8],
) -> Vec<stronglive_engine::frame::YuvFrame> {
    use stronglive_engine::pipeline::srvc::playback::SrvcPlayback;
    use stronglive_engine::sr::{DevicePreference, Precision, Upscaler};
    let preference: DevicePreference = "cpu".parse().unwrap();
    let device = ComputeDevice::select(preference.with_precision(Precision::Fp32)).unwrap();
    let upscaler = Upscaler::new(load_model("fmen-tiny-x4", 4, &device).unwrap(), device);
    let mut playback = SrvcPlayback::new(srvc_file, stream, upscaler.model()).unwrap();
    let mut lr = stronglive_engine::media::VideoDecoder::open(srvc_file).unwrap();
    let time_base = lr.time_base();
    let mut frames = Vec::new();
    while let Some(frame) = lr.next_frame().unwrap() {
        if let Some(weights) = playback.weights_at(time_base.pts_us(frame.pts)) {
            let network = upscaler.model().as_network().unwrap();
            network.set_weights(&weights).unwrap();
        }
        frames.push(upscaler.upscale(&frame).unwrap());
    }
    frames
}

/// The encoder's options for the 2 s clip: 1 s segments, `steps` training steps in each, no
/// cap on the stream's share (the clip's LR video is tiny; the cap has its own test).
fn one_second_segments(steps: u32) -> stronglive_engine::pipeline::srvc::encode::SrvcOptions {
    use stronglive_engine::pipeline::srvc::encode::SrvcOptions;
    use stronglive_engine::sr::srvc::trainer::SegmentTraining;
    SrvcOptions {
        segment_s: 1.0,
        training: SegmentTraining {
            steps,
            scene_steps: steps,
            ..SegmentTraining::default()
        },
        max_share: None,
        ..SrvcOptions::default()
    }
}

/// The 2 s clip made in `dir` (hr.mp4) and encoded into out.mkv with `options`.
fn encode_clip(
    dir: &Path,
    options: &stronglive_engine::pipeline::srvc::encode::SrvcOptions,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    stronglive_engine::pipeline::srvc::encode::SrvcReport,
) {
    stronglive_engine::media::init();
    let hr = dir.join("hr.mp4");
    hr_clip(&hr);
    let out = dir.join("out.mkv");
    let never = std::sync::atomic::AtomicBool::new(false);
    let report = stronglive_engine::pipeline::srvc::encode::srvc_encode(
        &hr,
        &out,
        options,
        &ComputeDevice::cpu(),
        &never,
        |_| {},
    )
    .unwrap();
    (hr, out, report)
}

/// The decoder's weights at each segment's first frame are the encoder's, bit for bit; returns
/// the attached model stream.
fn assert_the_decoder_rebuilds_the_encoders_weights(
    out: &Path,
    report: &stronglive_engine::pipeline::srvc::encode::SrvcReport,
) -> Vec<u8> {
    use stronglive_engine::pipeline::srvc::playback::{model_stream_of, SrvcPlayback};
    let bytes = model_stream_of(out)
        .unwrap()
        .expect("the model stream is attached");
    let base = load_model("fmen-tiny-x4", 4, &ComputeDevice::cpu()).unwrap();
    let mut playback = SrvcPlayback::new(out, &bytes, base.as_ref()).unwrap();
    for segment in &report.segments {
        let at = (segment.start_s * 1e6).round() as i64;
        let weights = playback
            .weights_at(at)
            .expect("weights change at a segment start");
        assert_eq!(
            FlatWeights::of(&weights).unwrap().sha256(),
            segment.weights_sha256
        );
    }
    bytes
}

/// Encode, then decode by upscaling: the decoder rebuilds at each segment exactly the weights
/// the encoder scored with; audio is kept; the upscaled file has every frame; `probe` lists
/// the model stream; a damaged segment is skipped with a warning.
#[test]
fn an_srvc_file_decodes_with_the_encoders_weights_and_keeps_its_audio() {
    let dir = tempfile::tempdir().unwrap();
    let (hr, out, report) = encode_clip(dir.path(), &one_second_segments(8));
    assert_eq!(report.frames, common::count_frames(&hr));
    assert_eq!(report.segments.len(), 2);
    // The first segment starts the scene and may stream 10% of the weights, the next 1%.
    let parameters = tiny_base().values.len() as f64;
    let allowed = [(parameters * 0.1).ceil(), (parameters * 0.01).ceil()];
    for (segment, allowed) in report.segments.iter().zip(allowed) {
        assert!(segment.changes as f64 <= allowed, "{segment:?}");
    }

    outputs_other_than_mkv_and_tiny_inputs_are_refused_leaving_nothing(dir.path(), &hr);

    let bytes = assert_the_decoder_rebuilds_the_encoders_weights(&out, &report);

    let probe = common::stronglive(&["probe", out.to_str().unwrap()]);
    assert!(
        probe
            .stdout
            .contains("SRVC model stream: base fmen-tiny-x4, 2 segments (0 damaged)"),
        "{}",
        probe.stdout
    );
    the_upscaled_file_is_the_encoder_side_reconstruction_with_audio(
        dir.path(),
        &out,
        &bytes,
        &report,
    );
    a_damaged_segment_is_skipped_with_a_warning(dir.path(), &out, &bytes);
}

/// An .mp4 output and a too-small input are refused, and no temporary file is left in `dir`
/// (which holds hr.mp4 and out.mkv).
fn outputs_other_than_mkv_and_tiny_inputs_are_refused_leaving_nothing(dir: &Path, hr: &Path) {
    use stronglive_engine::pipeline::srvc::encode::srvc_encode;
    let options = one_second_segments(8);
    let device = ComputeDevice::cpu();
    let never = std::sync::atomic::AtomicBool::new(false);
    let mp4 = srvc_encode(hr, &dir.join("out.mp4"), &options, &device, &never, |_| {});
    let refused = mp4.expect_err("an .mp4 output is refused").to_string();
    assert!(refused.contains("the output must be .mkv"), "{refused}");
    let tiny = dir.join("tiny.mp4");
    common::test_pattern(
        "size=160x96:rate=10:duration=1",
        &["-pix_fmt", "yuv420p"],
        &tiny,
    );
    let small = srvc_encode(
        &tiny,
        &dir.join("tiny.mkv"),
        &options,
        &device,
        &never,
        |_| {},
    );
    let refused = small.expect_err("a tiny input is refused").to_string();
    assert!(
        refused.contains("160x96 is too small for SRVC"),
        "{refused}"
    );
    std::fs::remove_file(&tiny).unwrap();
    let listing: Vec<String> = common::listing(dir);
    assert_eq!(
        listing,
        vec!["hr.mp4", "out.mkv"],
        "temporary files left behind"
    );
}

/// `stronglive upscale` of the SRVC file `out` has every frame, each exactly the encoder-side
/// reconstruction, at 4x, with the audio kept.
fn the_upscaled_file_is_the_encoder_side_reconstruction_with_audio(
    dir: &Path,
    out: &Path,
    bytes: &[u8],
    report: &stronglive_engine::pipeline::srvc::encode::SrvcReport,
) {
    // Lossless output, fp32 SR: the decoded frames can be compared sample for sample.
    let decoded = dir.join("decoded.mkv");
    let run = common::stronglive(&[
        "upscale",
        out.to_str().unwrap(),
        "-o",
        decoded.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--crf",
        "0",
        "--device",
        "cpu",
        "--precision",
        "fp32",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(common::count_frames(&decoded), report.frames);
    let expected = encoder_side_reconstruction(out, bytes);
    let mut frames = stronglive_engine::media::VideoDecoder::open(&decoded).unwrap();
    let mut n = 0;
    while let Some(frame) = frames.next_frame().unwrap() {
        let want = &expected[n];
        assert!(
            frame.y == want.y && frame.u == want.u && frame.v == want.v,
            "frame {n} differs from the encoder-side reconstruction"
        );
        n += 1;
    }
    assert_eq!(n as u64, report.frames);
    let streams = common::ffprobe(&decoded, false);
    assert_eq!(
        common::streams_of(&streams, "audio").len(),
        1,
        "audio was dropped"
    );
    let video = &common::streams_of(&streams, "video")[0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(256))
    );
}

/// Damage the second segment inside the file: decoding still succeeds and says so.
fn a_damaged_segment_is_skipped_with_a_warning(dir: &Path, out: &Path, bytes: &[u8]) {
    let mut file = std::fs::read(out).unwrap();
    let start = file
        .windows(8)
        .position(|w| w == stronglive_engine::sr::srvc::stream::MAGIC)
        .unwrap();
    let last = start + bytes.len() - 3;
    file[last] ^= 0x5a;
    let damaged = dir.join("damaged.mkv");
    std::fs::write(&damaged, &file).unwrap();
    let probe = common::stronglive(&["probe", damaged.to_str().unwrap()]);
    assert!(
        probe.stdout.contains("2 segments (1 damaged)"),
        "{}",
        probe.stdout
    );
    let run = common::stronglive(&[
        "upscale",
        damaged.to_str().unwrap(),
        "-o",
        dir.join("d2.mkv").to_str().unwrap(),
        "--encoder",
        "libx264",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("segment 1: checksum mismatch")
            && run
                .stderr
                .contains("keeping the previous segment's weights"),
        "{}",
        run.stderr
    );
}

/// A model stream whose base model is missing, or made for another architecture, is refused
/// naming what it needs, before any frame is upscaled.
#[test]
fn an_srvc_file_for_a_missing_or_different_base_is_refused() {
    use stronglive_engine::media::attachment::remux_with_attachment;
    use stronglive_engine::pipeline::srvc::playback::{SRVC_FILENAME, SRVC_MIMETYPE};
    stronglive_engine::media::init();
    let dir = tempfile::tempdir().unwrap();
    let lr = dir.path().join("lr.mp4");
    common::test_pattern(
        "size=80x48:rate=10:duration=1",
        &["-pix_fmt", "yuv420p"],
        &lr,
    );
    let base = tiny_base();
    let header =
        |name: &str, architecture: &str| header_for(&base, name, architecture, Quantization::Int8);
    for (name, h, says) in [
        (
            "missing",
            header("no-such-model", "fmen"),
            "needs the base model no-such-model",
        ),
        (
            "other",
            header("fmen-tiny-x4", "edsr"),
            "was made for x4 edsr",
        ),
    ] {
        let mut stream = Vec::new();
        write_header(&mut stream, &h);
        let file = dir.path().join(format!("{name}.mkv"));
        remux_with_attachment(&lr, &file, SRVC_FILENAME, SRVC_MIMETYPE, &stream).unwrap();
        let out = dir.path().join(format!("{name}_x4.mkv"));
        let run = common::stronglive(&[
            "upscale",
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_ne!(run.code, Some(0));
        assert!(
            run.stdout.contains(says) || run.stderr.contains(says),
            "{}{}",
            run.stdout,
            run.stderr
        );
        assert!(!out.exists());
    }
}

/// The encoder's gate: an update that does not beat the weights the decoder already has is not
/// sent. Without training steps nothing can beat them, so every segment is empty and the
/// decoder keeps the base model's weights bit for bit.
#[test]
fn segments_whose_update_does_not_beat_the_decoders_weights_are_sent_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, report) = encode_clip(dir.path(), &one_second_segments(0));
    assert_eq!(report.segments.len(), 2);
    let base = tiny_base();
    for segment in &report.segments {
        assert!(!segment.accepted, "segment {} was sent", segment.index);
        assert_eq!(segment.changes, 0);
        assert_eq!(segment.srvc_db, segment.previous_db);
        assert_eq!(segment.weights_sha256, base.sha256());
    }
    assert_the_decoder_rebuilds_the_encoders_weights(&out, &report);
}

/// With a cap on the stream's share of the file's bits, the stream keeps within it: the first
/// segment sends fewer changes than its fraction asks, the file still decodes with the
/// encoder's weights. Uncapped, the same clip's stream takes far more.
#[test]
fn the_model_stream_keeps_within_its_share_of_the_bits() {
    let share = |r: &stronglive_engine::pipeline::srvc::encode::SrvcReport| {
        r.model_bytes as f64 / (r.model_bytes as u64 + r.video_bytes) as f64
    };
    let uncapped = tempfile::tempdir().unwrap();
    let (_, _, free) = encode_clip(uncapped.path(), &one_second_segments(8));
    let cap = 0.1;
    assert!(share(&free) > 2.0 * cap, "uncapped share {}", share(&free));

    let dir = tempfile::tempdir().unwrap();
    let options = stronglive_engine::pipeline::srvc::encode::SrvcOptions {
        max_share: Some(cap),
        ..one_second_segments(8)
    };
    let (_, out, report) = encode_clip(dir.path(), &options);
    assert!(
        share(&report) <= cap,
        "share {} over {cap}: {report:?}",
        share(&report)
    );
    let first = &report.segments[0];
    assert!(
        first.changes > 0 && first.allowed < first.wanted,
        "{first:?}"
    );
    assert!(
        first.note().unwrap().contains("the stream's share cap"),
        "{:?}",
        first.note()
    );
    assert_the_decoder_rebuilds_the_encoders_weights(&out, &report);
}
