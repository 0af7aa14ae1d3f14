//! SR models: FMEN parity with the published reference output, the training -> inference
//! conversion, model-file errors, TorchScript import, registry and the eval/train commands.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stronglive_engine::sr::{
    card::{load_weights, Architecture, ModelCard},
    images::{load_rgb8, to_unit},
    load_model,
    nets::fmen::{reparameterize, Fmen, FmenConfig, FmenForm},
    nets::Network,
    quality::psnr_y,
    ComputeDevice,
};
use tch::{nn, Device, Kind, Tensor};

/// The CPU in fp32, whatever this CPU's native choice (bf16 where it has AVX512-BF16).
fn cpu_fp32() -> ComputeDevice {
    ComputeDevice::cpu()
        .with_precision(stronglive_engine::sr::Precision::Fp32)
        .unwrap()
}

/// The FMEN reference files CI provides beside the clone (`../shared/reference-models`).
fn reference_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference-models");
    assert!(
        dir.join("fmen_x4_test.pt").exists(),
        "{} is missing: the model tests need ../shared beside the checkout (as in CI)",
        dir.display()
    );
    dir
}

/// The published checkpoint converted with the project's converter script.
fn reference_safetensors(dir: &Path) -> PathBuf {
    let out = dir.join("fmen_x4.safetensors");
    let status = Command::new(common::python())
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
    assert_eq!(stronglive_engine::sr::card::parameter_count(&vs), 341_066);

    let lr = load_rgb8(&reference_dir().join("fmen_x4_lr.png")).unwrap();
    let input = lr.unsqueeze(0).to_kind(Kind::Float); // 0..255, as EDSR-PyTorch feeds it
    let out = tch::no_grad(|| net.forward_t(&input, false));
    let reference = Tensor::read_npy(reference_dir().join("fmen_x4_out.npy"))
        .unwrap()
        .permute([2, 0, 1])
        .unsqueeze(0);
    assert_eq!(out.size(), reference.size());
    let max_diff = (&out - &reference).abs().max().double_value(&[]);
    assert!(
        max_diff < 2e-3,
        "max abs difference {max_diff} vs the reference"
    );

    // and through the model-file path (card + weights, 0..255 input range): beats bicubic by
    // the published margin on the reference crop (36.45 vs 33.84 dB)
    let card_path = dir.path().join("fmen_x4.json");
    write_card(
        &card_path,
        &Architecture::Fmen(FmenConfig::published_x4()),
        255.0,
    );
    // fp32: the published figure is an fp32 one (bf16 is the precision test's business)
    let model = load_model(card_path.to_str().unwrap(), 4, &cpu_fp32()).unwrap();
    let hr = to_unit(&load_rgb8(&reference_dir().join("fmen_x4_hr.png")).unwrap());
    let sr = tch::no_grad(|| model.forward(&to_unit(&lr))).unwrap();
    let bic = stronglive_engine::sr::bicubic::upscale_bicubic_pil(&to_unit(&lr), 4);
    let (p_model, p_bic) = (psnr_y(&sr, &hr, 4), psnr_y(&bic, &hr, 4));
    assert!((p_model - 36.45).abs() < 0.05, "FMEN PSNR-Y {p_model}");
    assert!((p_bic - 33.84).abs() < 0.05, "bicubic PSNR-Y {p_bic}");
}

/// The precision and memory layout the engine picks for this CPU (and bf16 forced, which
/// machines with AVX512-BF16 or AMX pick) score within 0.02 dB of plain fp32 NCHW on the
/// reference crop, through the upscaler that production uses.
#[test]
fn every_precision_path_stays_within_0_02_db_of_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let weights = reference_safetensors(dir.path());
    let card_path = dir.path().join("fmen_x4.json");
    write_card(
        &card_path,
        &Architecture::Fmen(FmenConfig::published_x4()),
        255.0,
    );
    std::fs::rename(&weights, card_path.with_extension("safetensors")).unwrap();
    let lr = to_unit(&load_rgb8(&reference_dir().join("fmen_x4_lr.png")).unwrap());
    let hr = to_unit(&load_rgb8(&reference_dir().join("fmen_x4_hr.png")).unwrap());
    let score = |device: ComputeDevice| {
        let model = load_model(card_path.to_str().unwrap(), 4, &device).unwrap();
        let upscaler = stronglive_engine::sr::Upscaler::new(model, device);
        let sr = upscaler.upscale_rgb(&lr).unwrap().to_kind(Kind::Float);
        psnr_y(&sr.clamp(0.0, 1.0), &hr, 4)
    };
    let fp32_nchw = score(ComputeDevice {
        kind: Kind::Float,
        channels_last: false,
        ..ComputeDevice::cpu()
    });
    assert!((fp32_nchw - 36.45).abs() < 0.05, "fp32 NCHW {fp32_nchw}");
    let chosen = ComputeDevice::cpu();
    let label = chosen.label();
    let bf16 = ComputeDevice::cpu()
        .with_precision(stronglive_engine::sr::Precision::Bf16)
        .unwrap();
    for (what, psnr) in [(label.as_str(), score(chosen)), ("cpu bf16", score(bf16))] {
        assert!(
            (psnr - fp32_nchw).abs() < 0.02,
            "{what}: {psnr:.4} dB vs fp32 NCHW {fp32_nchw:.4} dB"
        );
    }
    // fp16 has no fast CPU kernels: asking for it is an error naming the device
    let err = ComputeDevice::cpu()
        .with_precision(stronglive_engine::sr::Precision::Fp16)
        .unwrap_err();
    assert!(
        err.to_string().contains("fp16") && err.to_string().contains("cpu"),
        "{err}"
    );
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
                v.copy_(&(Tensor::rand_like(&v) + 0.5));
            } else if name.contains(".bn") {
                v.copy_(
                    &(Tensor::randn_like(&v) * 0.3
                        + if name.ends_with("weight") { 1.0 } else { 0.0 }),
                );
            }
        }
    });
    let folded = reparameterize(&config, &train_vs.variables()).unwrap();
    let infer_vs = nn::VarStore::new(Device::Cpu);
    let infer_net = Fmen::new(&infer_vs.root(), &config, FmenForm::Inference);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("folded.safetensors");
    stronglive_engine::sr::card::save_weights(&folded, &path).unwrap();
    load_weights(&infer_vs, &path, "fmen").unwrap();

    let x = Tensor::rand([1, 3, 24, 20], (Kind::Float, Device::Cpu));
    let (a, b) = tch::no_grad(|| {
        (
            train_net.forward_t(&x, false),
            infer_net.forward_t(&x, false),
        )
    });
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = a.abs().max().double_value(&[]);
    assert!(
        diff < 1e-4 * scale.max(1.0),
        "training vs folded: max diff {diff} (output scale {scale})"
    );
    // a wrong fold (bn3's scale missing from one excitate conv) shows up far above that error
    let mut broken = folded;
    for (name, t) in broken.iter_mut() {
        if name == "warmup.1.excitate.weight" {
            *t = &*t * 1.5;
        }
    }
    stronglive_engine::sr::card::save_weights(&broken, &path).unwrap();
    load_weights(&infer_vs, &path, "fmen").unwrap();
    let c = tch::no_grad(|| infer_net.forward_t(&x, false));
    let wrong = (&a - &c).abs().max().double_value(&[]);
    assert!(
        wrong > 100.0 * diff,
        "a wrong fold changes the output by only {wrong} (fold error {diff})"
    );
}

fn load_err(path: &Path) -> String {
    match load_model(path.to_str().unwrap(), 4, &ComputeDevice::cpu()) {
        Ok(m) => panic!("{} loaded as {} but should fail", path.display(), m.name()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_model_files_are_refused_naming_the_file_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let weights = reference_safetensors(dir.path());

    // weights of the published FMEN under a card for a smaller FMEN: first mismatch named
    let small = FmenConfig {
        n_feats: 20,
        ..FmenConfig::published_x4()
    };
    write_card(
        &dir.path().join("fmen_x4.json"),
        &Architecture::Fmen(small),
        255.0,
    );
    let err = load_err(&dir.path().join("fmen_x4.json"));
    assert!(err.contains("fmen_x4.safetensors"), "{err}");
    assert!(
        err.contains("tensor \"ERBs.0.conv1.rep_conv.bias\" has shape [50]")
            && err.contains("expects [20]"),
        "{err}"
    );

    // an architecture name nobody knows
    let mut card = ModelCard::read(&dir.path().join("fmen_x4.json")).unwrap();
    card.architecture = "fmen3".into();
    card.write(&dir.path().join("fmen_x4.json")).unwrap();
    let err = load_err(&dir.path().join("fmen_x4.json"));
    assert!(
        err.contains("unknown architecture \"fmen3\"") && err.contains("fmen, "),
        "{err}"
    );

    // a truncated weights file
    write_card(
        &dir.path().join("fmen_x4.json"),
        &Architecture::Fmen(FmenConfig::published_x4()),
        255.0,
    );
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&weights);
    assert!(
        err.contains("fmen_x4.safetensors") && err.contains("not a readable safetensors"),
        "{err}"
    );

    // a card that is not JSON, and a weights file with a tensor the architecture lacks
    std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("broken.safetensors"), b"").unwrap();
    let err = load_err(&dir.path().join("broken.json"));
    assert!(
        err.contains("broken.json") && err.contains("not valid"),
        "{err}"
    );
    save_fmen_weights_with_an_extra_tensor(&dir.path().join("fmen_x4.safetensors"));
    let err = load_err(&dir.path().join("fmen_x4.json"));
    assert!(err.contains("unexpected tensor \"extra.weight\""), "{err}");

    // the CLI shows the same message and exits non-zero
    upscale_is_refused_leaving_no_output(dir.path(), &dir.path().join("fmen_x4.json"));
}

/// The published FMEN's weights plus a tensor `extra.weight` the architecture lacks.
fn save_fmen_weights_with_an_extra_tensor(path: &Path) {
    let mut named = vec![(
        "extra.weight".to_string(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    )];
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = Fmen::new(&vs.root(), &FmenConfig::published_x4(), FmenForm::Inference);
    named.extend(vs.variables());
    stronglive_engine::sr::card::save_weights(&named, path).unwrap();
}

/// `stronglive upscale --model CARD` on a tiny clip in `dir` fails naming the extra tensor, and
/// leaves no output behind.
fn upscale_is_refused_leaving_no_output(dir: &Path, card: &Path) {
    let clip = dir.join("in.mp4");
    common::tiny_clip(&clip);
    let run = common::stronglive(&[
        "upscale",
        clip.to_str().unwrap(),
        "--model",
        card.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("unexpected tensor \"extra.weight\""),
        "{}",
        run.stderr
    );
    assert!(
        common::listing(dir).iter().all(|f| !f.contains("in_x4")),
        "no output left"
    );
}

#[test]
fn torchscript_modules_load_with_their_scale_found_by_probing() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, torch
class Sr(torch.nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.conv = torch.nn.Conv2d(3, 3 * s * s, 3, padding=1)
    def forward(self, x):
        return torch.nn.functional.pixel_shuffle(self.conv(x), self.s)
class Gray(torch.nn.Module):
    def forward(self, x):
        return x.mean(1, keepdim=True)
torch.manual_seed(0)
torch.jit.trace(Sr(4).eval(), torch.rand(1, 3, 8, 8)).save(sys.argv[1] + "/x4.pt")
torch.jit.trace(Sr(2).eval(), torch.rand(1, 3, 8, 8)).save(sys.argv[1] + "/x2.pt")
torch.jit.trace(Gray().eval(), torch.rand(1, 3, 8, 8)).save(sys.argv[1] + "/gray.pt")
# a kernel captured from outside the module is traced as an fp32 constant: casting the module
# to a reduced precision leaves it fp32, and the conv then refuses a bf16/fp16 input
kernel = torch.rand(12, 3, 3, 3)
class Constant(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.pixel_shuffle(torch.nn.functional.conv2d(x, kernel, padding=1), 2)
torch.jit.trace(Constant().eval(), torch.rand(1, 3, 8, 8)).save(sys.argv[1] + "/constant.pt")
"#;
    let status = Command::new(common::python())
        .args(["-c", script, dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let device = ComputeDevice::cpu();
    let model = load_model(dir.path().join("x4.pt").to_str().unwrap(), 4, &device).unwrap();
    assert_eq!((model.name(), model.scale()), ("x4", 4));
    let out =
        tch::no_grad(|| model.forward(&Tensor::rand([1, 3, 30, 50], (Kind::Float, Device::Cpu))))
            .unwrap();
    assert_eq!(out.size(), [1, 3, 120, 200]);

    // in bf16 the fp32-constant module fails its probe, is loaded again in fp32 and runs on
    // the device's bf16 input (cast by the model, not refused)
    let bf16 = ComputeDevice::cpu()
        .with_precision(stronglive_engine::sr::Precision::Bf16)
        .unwrap();
    let path = dir.path().join("constant.pt");
    let model = load_model(path.to_str().unwrap(), 2, &bf16).unwrap();
    let input = Tensor::rand([1, 3, 10, 12], (Kind::BFloat16, Device::Cpu));
    let out = tch::no_grad(|| model.forward(&input)).unwrap();
    assert_eq!(out.size(), [1, 3, 20, 24]);

    let err = load_model(dir.path().join("x2.pt").to_str().unwrap(), 4, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("x2") && err.contains("x4"), "{err}");
    let err = load_err(&dir.path().join("gray.pt"));
    assert!(
        err.contains("gray.pt") && err.contains("[1, 1, 16, 24]"),
        "{err}"
    );
    std::fs::write(dir.path().join("junk.pt"), b"not a module").unwrap();
    let err = load_err(&dir.path().join("junk.pt"));
    assert!(
        err.contains("junk.pt") && err.contains("not a TorchScript module"),
        "{err}"
    );

    // user directories (STRONGLIVE_MODELS) list TorchScript modules by name
    let run = Command::new(common::bin())
        .arg("models")
        .env("STRONGLIVE_MODELS", dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&run.stdout);
    assert!(listing.lines().any(|l| l.starts_with("x4 ")), "{listing}");
    assert!(
        listing.lines().any(|l| l.starts_with("bicubic ")),
        "{listing}"
    );
}

#[test]
fn edsr_and_srvc_round_trip_through_model_files() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [
        Architecture::EdsrBaseline(stronglive_engine::sr::nets::edsr::EdsrConfig::baseline(4)),
        Architecture::Srvc(stronglive_engine::sr::nets::srvc::SrvcConfig::default_x4()),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = arch.build(&vs.root());
        let x = Tensor::rand([1, 3, 23, 31], (Kind::Float, Device::Cpu));
        let input_range = if arch.name() == "edsr-baseline" {
            255.0
        } else {
            1.0
        };
        let direct = tch::no_grad(|| net.forward_t(&(&x * input_range), false) / input_range);
        assert_eq!(direct.size(), [1, 3, 92, 124], "{}", arch.name());
        let card = dir.path().join(format!("{}.json", arch.name()));
        write_card(&card, &arch, input_range);
        let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        stronglive_engine::sr::card::save_weights(&named, &card.with_extension("safetensors"))
            .unwrap();
        // fp32, as the direct run: this checks the file round trip, not a precision
        let model = load_model(card.to_str().unwrap(), 4, &cpu_fp32()).unwrap();
        let loaded = tch::no_grad(|| model.forward(&x)).unwrap();
        let diff = (loaded - direct).abs().max().double_value(&[]);
        assert!(
            diff < 1e-5,
            "{}: reloaded model differs by {diff}",
            arch.name()
        );
    }
}

/// A tiny photo set: train/ and val/ from the reference crop (flipped for validation).
fn tiny_photo_set(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("train")).unwrap();
    std::fs::create_dir_all(data.join("val")).unwrap();
    let hr = load_rgb8(&reference_dir().join("fmen_x4_hr.png")).unwrap();
    tch::vision::image::save(&hr, data.join("train/flower.png")).unwrap();
    tch::vision::image::save(&hr.flip([2]), data.join("val/flower-flipped.png")).unwrap();
    data
}

/// `stronglive train` of the tiny FMEN preset on `data` into `models`, `steps` in all,
/// validating and checkpointing every 2 steps.
fn train_tiny(data: &Path, models: &Path, steps: &str, resume: bool) -> common::Run {
    let mut args = vec![
        "train",
        "--name",
        "tiny",
        "--preset",
        "fmen-tiny",
        "--steps",
        steps,
        "--batch",
        "2",
        "--patch",
        "16",
        "--validate-every",
        "2",
        "--checkpoint-every",
        "2",
        "--device",
        "cpu",
    ];
    let (d, m) = (data.to_str().unwrap(), models.to_str().unwrap());
    args.extend(["--data", d, "--models-dir", m]);
    if resume {
        args.push("--resume");
    }
    common::stronglive(&args)
}

/// The published FMEN converted into `dir`, with its 0..255 card beside it.
fn published_fmen_with_card(dir: &Path) -> PathBuf {
    let fmen = reference_safetensors(dir);
    write_card(
        &fmen.with_extension("json"),
        &Architecture::Fmen(FmenConfig::published_x4()),
        255.0,
    );
    fmen
}

/// A folder `images` in `dir` holding the reference crop as flower.png.
fn flower_images(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(
        reference_dir().join("fmen_x4_hr.png"),
        images.join("flower.png"),
    )
    .unwrap();
    images
}

#[test]
fn train_resume_export_and_eval_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_photo_set(dir.path());
    let models = dir.path().join("models");
    let train = |steps: &str, resume: bool| train_tiny(&data, &models, steps, resume);
    let run = train("4", false);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("validation PSNR-Y"), "{}", run.stderr);
    let card = ModelCard::read(&models.join("tiny.json")).unwrap();
    assert_eq!((card.training.steps, card.training.curve.len()), (4, 2));
    assert!(
        card.parameters > 10_000 && card.gflops_960x540 > 1.0,
        "{card:?}"
    );
    assert_eq!(card.architecture, "fmen");

    let run = train("6", true);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("step 4/6"),
        "resumed at step 4: {}",
        run.stderr
    );
    let card = ModelCard::read(&models.join("tiny.json")).unwrap();
    assert_eq!((card.training.steps, card.training.curve.len()), (6, 3));
    assert_eq!(
        card.training.command.lines().count(),
        2,
        "both runs recorded"
    );

    // eval: the published FMEN (converted, 0..255 card) and the tiny model beside bicubic
    let fmen = published_fmen_with_card(dir.path());
    let images = flower_images(dir.path());
    let json = dir.path().join("eval.json");
    let tiny_card = models.join("tiny.json");
    let models_arg = format!(
        "{},{}",
        fmen.with_extension("json").display(),
        tiny_card.display()
    );
    let run = common::stronglive(&[
        "eval",
        images.to_str().unwrap(),
        "--models",
        &models_arg,
        "--json",
        json.to_str().unwrap(),
        "--update-cards",
        "--device",
        "cpu",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("MEAN") && run.stdout.contains("flower"),
        "{}",
        run.stdout
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mean = doc["mean"].as_array().unwrap();
    let psnr = |i: usize| mean[i][1]["psnr_y"].as_f64().unwrap();
    assert_eq!(mean[0][0], "bicubic");
    // the reference's own figures for this crop: bicubic 33.84, FMEN 36.45 dB
    assert!((psnr(0) - 33.84).abs() < 0.1, "bicubic {}", psnr(0));
    assert!((psnr(1) - 36.45).abs() < 0.1, "FMEN {}", psnr(1));
    let card = ModelCard::read(&tiny_card).unwrap();
    assert_eq!(card.evaluation.len(), 1);
    assert!((card.evaluation[0].bicubic_psnr_y - psnr(0)).abs() < 1e-9);
}

#[test]
fn train_refuses_missing_data_and_mismatched_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::stronglive(&[
        "train",
        "--name",
        "x",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("no train/ photo directory") && run.stderr.contains("fetch_data.sh"),
        "{}",
        run.stderr
    );

    let data = tiny_photo_set(dir.path());
    let common_args = |preset: &'static str| {
        vec![
            "train".to_string(),
            "--name".into(),
            "m".into(),
            "--preset".into(),
            preset.into(),
            "--steps".into(),
            "2".into(),
            "--batch".into(),
            "1".into(),
            "--patch".into(),
            "16".into(),
            "--data".into(),
            data.to_str().unwrap().into(),
            "--models-dir".into(),
            dir.path().join("models").to_str().unwrap().into(),
            "--resume".into(),
        ]
    };
    let args: Vec<String> = common_args("fmen-tiny");
    let run = common::stronglive(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let args: Vec<String> = common_args("srvc");
    let run = common::stronglive(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("m.ckpt.json") && run.stderr.contains("is a fmen-training"),
        "{}",
        run.stderr
    );
}

#[test]
fn upscale_uses_the_best_shipped_model_by_default_and_names_it() {
    let run = common::stronglive(&["models"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let default_line = run
        .stdout
        .lines()
        .find(|l| l.ends_with("(default)"))
        .unwrap_or_else(|| panic!("no default model in:\n{}", run.stdout));
    let name = default_line.split_whitespace().next().unwrap().to_string();
    assert_ne!(
        name, "bicubic",
        "models/ ships trained models with evaluations:\n{}",
        run.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("in.mp4");
    common::tiny_clip(&clip);
    let out = dir.path().join("out.mp4");
    let run = common::stronglive(&[
        "upscale",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("model {name} on")),
        "{}",
        run.stderr
    );
    assert_eq!(common::count_frames(&out), 5);
}

#[test]
fn eval_scores_frames_of_a_ground_truth_video() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("truth.mp4");
    common::test_pattern(
        "size=256x144:rate=10:duration=0.5",
        &["-pix_fmt", "yuv420p", "-crf", "10"],
        &clip,
    );
    let json = dir.path().join("video.json");
    let run = common::stronglive(&[
        "eval",
        "--video",
        clip.to_str().unwrap(),
        "--every",
        "2",
        "--models",
        "bicubic",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    // frames 0, 2, 4 of 5
    let names: Vec<&str> = rows.iter().map(|r| r["image"].as_str().unwrap()).collect();
    assert_eq!(names, ["frame 0", "frame 2", "frame 4"]);
    assert_eq!(
        (rows[0]["width"].as_i64(), rows[0]["height"].as_i64()),
        (Some(256), Some(144))
    );
    let bicubic = doc["mean"][0][1]["psnr_y"].as_f64().unwrap();
    assert!(bicubic > 15.0 && bicubic < 60.0, "bicubic PSNR-Y {bicubic}");

    let run = common::stronglive(&[
        "eval",
        "--video",
        dir.path().join("missing.mp4").to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("missing.mp4"), "{}", run.stderr);
}

#[test]
fn train_with_h264_augmentation_records_it_in_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_photo_set(dir.path());
    let models = dir.path().join("models");
    let run = common::stronglive(&[
        "train",
        "--name",
        "h",
        "--preset",
        "fmen-tiny",
        "--steps",
        "4",
        "--batch",
        "2",
        "--patch",
        "16",
        "--seed",
        "3",
        "--h264-crf",
        "20-30",
        "--data",
        data.to_str().unwrap(),
        "--models-dir",
        models.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let card = ModelCard::read(&models.join("h.json")).unwrap();
    assert!(
        card.training
            .data
            .contains("H.264 (libx264 ultrafast zerolatency, CRF 20-30)"),
        "{}",
        card.training.data
    );

    let run = common::stronglive(&["train", "--name", "h", "--h264-crf", "30-20"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("must be increasing"), "{}", run.stderr);
}
