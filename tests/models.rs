//! SR models: FMEN parity with the published reference output, the training -> inference
//! conversion, model-file errors, TorchScript import, registry and the eval/train commands.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stronglive::sr::{
    card::{load_weights, Architecture, ModelCard},
    images::{load_rgb8, to_unit},
    load_model,
    metrics::psnr_y,
    nets::fmen::{reparameterize, Fmen, FmenConfig, FmenForm},
    nets::Network,
    ComputeDevice,
};
use tch::{nn, Device, Kind, Tensor};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference-models")
}

fn python() -> PathBuf {
    let venv = std::env::var_os("VIRTUAL_ENV").expect("tests run with the torch virtualenv (make test)");
    PathBuf::from(venv).join("bin/python")
}

/// The published checkpoint converted with the project's converter script.
fn reference_safetensors(dir: &Path) -> PathBuf {
    let out = dir.join("fmen_x4.safetensors");
    let status = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/convert_checkpoint.py"))
        .arg(reference_dir().join("fmen_x4_test.pt"))
        .arg(&out)
        .status()
        .expect("run convert_checkpoint.py");
    assert!(status.success());
    out
}

fn write_card(path: &Path, arch: &Architecture, input_range: f64) {
    let card = ModelCard {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        architecture: arch.name().into(),
        hyperparameters: arch.hyperparameters(),
        scale: arch.scale(),
        input_range,
        tier: "gpu".into(),
        description: String::new(),
        parameters: 0,
        gflops_960x540: 0.0,
        training: Default::default(),
        evaluation: Vec::new(),
    };
    card.write(path).unwrap();
}

#[test]
fn published_fmen_checkpoint_reproduces_reference_output() {
    let dir = tempfile::tempdir().unwrap();
    let weights = reference_safetensors(dir.path());
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Fmen::new(&vs.root(), &FmenConfig::published_x4(), FmenForm::Inference);
    load_weights(&vs, &weights, "fmen").unwrap();
    assert_eq!(stronglive::sr::card::parameter_count(&vs), 341_066);

    let lr = load_rgb8(&reference_dir().join("fmen_x4_lr.png")).unwrap();
    let input = lr.unsqueeze(0).to_kind(Kind::Float); // 0..255, as EDSR-PyTorch feeds it
    let out = tch::no_grad(|| net.forward_t(&input, false));
    let reference = Tensor::read_npy(reference_dir().join("fmen_x4_out.npy"))
        .unwrap()
        .permute([2, 0, 1])
        .unsqueeze(0);
    assert_eq!(out.size(), reference.size());
    let max_diff = (&out - &reference).abs().max().double_value(&[]);
    assert!(max_diff < 2e-3, "max abs difference {max_diff} vs the reference");

    // and through the model-file path (card + weights, 0..255 input range): beats bicubic by
    // the published margin on the reference crop (36.45 vs 33.84 dB)
    let card_path = dir.path().join("fmen_x4.json");
    write_card(&card_path, &Architecture::Fmen(FmenConfig::published_x4()), 255.0);
    let model = load_model(card_path.to_str().unwrap(), 4, &ComputeDevice::cpu()).unwrap();
    let hr = to_unit(&load_rgb8(&reference_dir().join("fmen_x4_hr.png")).unwrap());
    let sr = tch::no_grad(|| model.forward(&to_unit(&lr)));
    let bic = stronglive::sr::bicubic::upscale_bicubic(&to_unit(&lr), 4);
    let (p_model, p_bic) = (psnr_y(&sr, &hr, 4), psnr_y(&bic, &hr, 4));
    assert!((p_model - 36.45).abs() < 0.05, "FMEN PSNR-Y {p_model}");
    assert!(p_model > p_bic + 2.0, "FMEN {p_model} vs bicubic {p_bic}");
}

#[test]
fn training_form_folds_into_inference_form_exactly() {
    tch::manual_seed(7);
    let config = FmenConfig {
        bicubic_residual: true,
        ..FmenConfig::published_x4()
    };
    let train_vs = nn::VarStore::new(Device::Cpu);
    let train_net = Fmen::new(&train_vs.root(), &config, FmenForm::Training);
    // give BatchNorm non-trivial running statistics and affine terms, as after training
    tch::no_grad(|| {
        for (name, var) in train_vs.variables() {
            let mut v = var.shallow_clone();
            if name.ends_with("running_var") {
                let _ = v.copy_(&(Tensor::rand_like(&v) + 0.5));
            } else if name.contains(".bn") {
                let _ = v.copy_(&(Tensor::randn_like(&v) * 0.3 + if name.ends_with("weight") { 1.0 } else { 0.0 }));
            }
        }
    });
    let folded = reparameterize(&config, &train_vs.variables()).unwrap();
    let infer_vs = nn::VarStore::new(Device::Cpu);
    let infer_net = Fmen::new(&infer_vs.root(), &config, FmenForm::Inference);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("folded.safetensors");
    stronglive::sr::card::save_weights(&folded, &path).unwrap();
    load_weights(&infer_vs, &path, "fmen").unwrap();

    let x = Tensor::rand([1, 3, 24, 20], (Kind::Float, Device::Cpu));
    let (a, b) = tch::no_grad(|| (train_net.forward_t(&x, false), infer_net.forward_t(&x, false)));
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = a.abs().max().double_value(&[]);
    assert!(diff < 1e-4 * scale.max(1.0), "training vs folded: max diff {diff} (output scale {scale})");
    // a wrong fold (bn3's scale missing from one excitate conv) shows up far above that error
    let mut broken = folded;
    for (name, t) in broken.iter_mut() {
        if name == "warmup.1.excitate.weight" {
            *t = &*t * 1.5;
        }
    }
    stronglive::sr::card::save_weights(&broken, &path).unwrap();
    load_weights(&infer_vs, &path, "fmen").unwrap();
    let c = tch::no_grad(|| infer_net.forward_t(&x, false));
    let wrong = (&a - &c).abs().max().double_value(&[]);
    assert!(wrong > 100.0 * diff, "a wrong fold changes the output by only {wrong} (fold error {diff})");
}
