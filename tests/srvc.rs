//! The SRVC model stream against its independent Python reader (scripts/srvc_read.py): both
//! rebuild bit-identical weights from the shipped base model and a stream of sparse changes,
//! a corrupted segment is skipped by both, and unstreamed weights never move.

mod common;

use std::path::Path;
use std::process::Command;

use stronglive::sr::card::save_weights;
use stronglive::sr::srvc::{
    apply, quantise, top_changes, write_header, write_segment, FlatWeights, Quantization,
    StreamHeader,
};
use stronglive::sr::{load_model, ComputeDevice};

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

#[test]
fn the_python_reader_rebuilds_the_decoders_weights_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model("fmen-tiny-x4", 4, &ComputeDevice::cpu()).unwrap();
    let base = FlatWeights::of(&model.as_network().unwrap().weights()).unwrap();
    let base_file = dir.path().join("base.safetensors");
    save_weights(&base.to_weights(0).tensors, &base_file).unwrap();
    for quantization in [Quantization::Int8, Quantization::Fp16] {
        let header = StreamHeader {
            base: "fmen-tiny-x4".into(),
            base_sha256: base.sha256(),
            architecture: "fmen".into(),
            hyperparameters: serde_json::Value::Null,
            scale: 4,
            quantization,
            tensors: base.layout(),
            parameters: base.values.len() as u64,
        };
        let mut stream = Vec::new();
        write_header(&mut stream, &header);
        // Three segments, each 1% of the weights, warm-started from the previous decoder state.
        let mut decoder = base.values.clone();
        let mut states = Vec::new();
        for seed in 1..=3u64 {
            let trained = nudged(&decoder, seed);
            let segment = quantise(
                &header,
                &decoder,
                &trained,
                top_changes(&decoder, &trained, 0.01),
                (seed as i64 - 1) * 5_000_000,
            );
            let before = decoder.clone();
            apply(&header, &mut decoder, &segment, 0).unwrap();
            let moved = decoder
                .iter()
                .zip(&before)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                moved.count() <= segment.indices.len(),
                "unstreamed weights moved"
            );
            write_segment(&mut stream, &segment);
            states.push(decoder.clone());
        }
        let stream_file = dir.path().join("model.srvc");
        std::fs::write(&stream_file, &stream).unwrap();
        let got = dir.path().join("got.safetensors");
        let out = python_reader(&stream_file, &base_file, &got);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt = |path: &Path| {
            let tensors = tch::Tensor::read_safetensors(path).unwrap();
            let w = stronglive::sr::model::Weights {
                version: 0,
                tensors,
            };
            FlatWeights::of(&w).unwrap().values
        };
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
        assert!(String::from_utf8_lossy(&out.stderr).contains("segment 2: bad checksum"));
        let python = rebuilt(&got);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same(&python, &states[1]), "not the weights after segment 2");
    }
}

#[test]
fn the_python_reader_refuses_another_base_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model("fmen-tiny-x4", 4, &ComputeDevice::cpu()).unwrap();
    let base = FlatWeights::of(&model.as_network().unwrap().weights()).unwrap();
    let header = StreamHeader {
        base: "fmen-tiny-x4".into(),
        base_sha256: base.sha256(),
        architecture: "fmen".into(),
        hyperparameters: serde_json::Value::Null,
        scale: 4,
        quantization: Quantization::Int8,
        tensors: base.layout(),
        parameters: base.values.len() as u64,
    };
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
