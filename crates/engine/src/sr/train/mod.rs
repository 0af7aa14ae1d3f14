//! Training: HR/LR pairs cut on the fly from photos (random crops, the 8 flips/rotations, LR =
//! antialiased bicubic /scale rounded to 8 bits), L1 loss, Adam with warm-up and cosine decay,
//! validation PSNR-Y against bicubic on fixed crops of held-aside photos, checkpoints that a
//! later run resumes from, and export of the inference form as a model file + card.
//!
//! CPU time is scarce, so a run is meant to be short and resumable: `--steps` is the total
//! target, and a resumed run continues the same schedule from the checkpoint's step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

mod data;

pub(crate) use data::Rng;
use data::{load_dir, sample_batch, validate, validation_crops};

use crate::sr::{
    card::{parameter_count, save_weights, write_atomically, Architecture, ModelCard, Training},
    images::downscale_bicubic,
    nets::{fmen::reparameterize, Network},
    SrError,
};

/// An extra degradation of the LR batch (B x 3 x h x w, 0..1, CPU), e.g. H.264 compression; the
/// `u64` is a fresh random number for its own choices. Supplied by the caller because the SR
/// engine does not link FFmpeg.
pub type DegradeFn = dyn Fn(&Tensor, u64) -> Result<Tensor, DegradeError> + Send + Sync;
/// Why a degradation failed: the caller's own error (an FFmpeg one for H.264), kept whole.
pub type DegradeError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct LrDegradation {
    pub description: String,
    pub apply: std::sync::Arc<DegradeFn>,
}

impl std::fmt::Debug for LrDegradation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub name: String,
    /// The architecture to ship (FMEN trains in its re-parameterisable form, then folds).
    pub arch: Architecture,
    /// Train FMEN directly in its plain (inference) form: no RRRB expansions or BatchNorm, about
    /// a third of the FLOPs per step; for when compute, not steps, is the limit.
    pub plain: bool,
    pub tier: String,
    pub description: String,
    pub degradation: Option<LrDegradation>,
    pub train_dir: PathBuf,
    pub val_dir: PathBuf,
    /// Where the model file and card are written (`models/`).
    pub out_dir: PathBuf,
    /// Where checkpoints live between runs.
    pub work_dir: PathBuf,
    pub steps: u64,
    pub batch: i64,
    /// LR patch size (HR patches are `patch * scale`).
    pub patch: i64,
    pub learning_rate: f64,
    pub seed: u64,
    pub checkpoint_every: u64,
    pub validate_every: u64,
    pub resume: bool,
    pub device: Device,
    /// The command line, recorded in the card.
    pub command: String,
    /// Credits of the training photos (lines of the data's CREDITS.tsv).
    pub credits: Vec<String>,
}

/// What a checkpoint remembers besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    architecture: String,
    hyperparameters: serde_json::Value,
    step: u64,
    curve: Vec<(u64, f64, f64)>,
    seconds: f64,
    commands: Vec<String>,
}

/// Progress reported to the caller (the CLI draws a bar from it).
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Started {
        step: u64,
        total: u64,
        train_images: usize,
        val_crops: usize,
        parameters: u64,
    },
    /// Every few steps (the loss is read back from the device in batches of steps).
    Step {
        step: u64,
        /// Mean L1 loss of the steps since the previous event.
        loss: f64,
        learning_rate: f64,
    },
    Validated {
        step: u64,
        psnr_y: f64,
        bicubic_psnr_y: f64,
    },
    Checkpoint {
        step: u64,
        path: PathBuf,
    },
    Exported {
        path: PathBuf,
    },
}

fn training_arch(arch: &Architecture, plain: bool) -> Architecture {
    match arch {
        Architecture::Fmen(c) if !plain => Architecture::FmenTraining(c.clone()),
        other => other.clone(),
    }
}

fn learning_rate(opts: &TrainOptions, step: u64, resumed_at: u64) -> f64 {
    // linear warm-up at the start and after a resume (Adam's moments start from zero again),
    // cosine decay to 1% over the whole schedule
    let warm = 100u64;
    let since = step - resumed_at;
    let warmup = if since < warm {
        (since + 1) as f64 / warm as f64
    } else {
        1.0
    };
    let progress = (step as f64 / opts.steps.max(1) as f64).min(1.0);
    let cosine = 0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    opts.learning_rate * cosine * warmup
}

fn checkpoint_paths(opts: &TrainOptions) -> (PathBuf, PathBuf) {
    (
        opts.work_dir
            .join(format!("{}.ckpt.safetensors", opts.name)),
        opts.work_dir.join(format!("{}.ckpt.json", opts.name)),
    )
}

fn named_variables(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Run (or continue) a training schedule; returns the exported model card's path.
pub fn train(opts: &TrainOptions, mut report: impl FnMut(TrainEvent)) -> Result<PathBuf, SrError> {
    let scale = opts.arch.scale();
    let hr_patch = opts.patch * i64::from(scale);
    let train_images = load_dir(&opts.train_dir, hr_patch)?;
    let val_images = load_dir(&opts.val_dir, 256)?;
    let val_crops = validation_crops(&val_images, 256, scale);
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| {
        SrError::Training(format!(
            "cannot create checkpoint directory {}: {e}",
            opts.work_dir.display()
        ))
    })?;

    tch::manual_seed(opts.seed as i64);
    let arch = training_arch(&opts.arch, opts.plain);
    let vs = nn::VarStore::new(opts.device);
    let net = arch.build(&vs.root());
    let (ckpt_weights, ckpt_state) = checkpoint_paths(opts);
    let mut state = starting_state(opts, &arch, &vs, &ckpt_weights, &ckpt_state)?;
    let resumed_at = state.step;
    let opt = nn::Adam::default()
        .build(&vs, opts.learning_rate)
        .map_err(SrError::Torch)?;
    report(TrainEvent::Started {
        step: state.step,
        total: opts.steps,
        train_images: train_images.len(),
        val_crops: val_crops.len(),
        parameters: parameter_count(&vs),
    });
    let mut run = Run {
        opts,
        scale,
        hr_patch,
        train_images: &train_images,
        val_crops: &val_crops,
        vs: &vs,
        net: net.as_ref(),
        opt,
        rng: Rng(opts.seed ^ resumed_at.wrapping_mul(0x2545_F491_4F6C_DD1D)),
        resumed_at,
        ckpt_weights,
        ckpt_state,
    };
    run.steps(&mut state, &mut report)?;
    let card = export(opts, &vs, &state, train_images.len())?;
    report(TrainEvent::Exported { path: card.clone() });
    Ok(card)
}

/// A fresh state, or the checkpoint's when resuming one made for the same network.
fn starting_state(
    opts: &TrainOptions,
    arch: &Architecture,
    vs: &nn::VarStore,
    ckpt_weights: &Path,
    ckpt_state: &Path,
) -> Result<TrainState, SrError> {
    let mut state = TrainState {
        architecture: arch.name().to_string(),
        hyperparameters: arch.hyperparameters(),
        step: 0,
        curve: Vec::new(),
        seconds: 0.0,
        commands: Vec::new(),
    };
    if opts.resume && ckpt_state.exists() {
        let text = std::fs::read_to_string(ckpt_state)
            .map_err(|e| SrError::Training(format!("cannot read {}: {e}", ckpt_state.display())))?;
        let saved: TrainState = serde_json::from_str(&text).map_err(|e| {
            SrError::Training(format!("{} is not a checkpoint: {e}", ckpt_state.display()))
        })?;
        if saved.architecture != state.architecture
            || saved.hyperparameters != state.hyperparameters
        {
            return Err(SrError::Training(format!(
                "checkpoint {} is a {} with {}, this run asks for {} with {}: use another --name or drop --resume",
                ckpt_state.display(),
                saved.architecture,
                saved.hyperparameters,
                state.architecture,
                state.hyperparameters
            )));
        }
        crate::sr::card::load_weights(vs, ckpt_weights, arch.name())?;
        state = saved;
    }
    if state.step < opts.steps {
        // an export-only call (steps already reached) is not part of the recipe
        state.commands.push(opts.command.clone());
    }
    Ok(state)
}

/// A training run under way: the data, the network and its optimiser, where checkpoints go.
struct Run<'a> {
    opts: &'a TrainOptions,
    scale: u32,
    hr_patch: i64,
    train_images: &'a [Tensor],
    val_crops: &'a [(Tensor, Tensor)],
    vs: &'a nn::VarStore,
    net: &'a dyn Network,
    opt: nn::Optimizer,
    rng: Rng,
    /// The step this run started from (warm-up restarts there).
    resumed_at: u64,
    ckpt_weights: PathBuf,
    ckpt_state: PathBuf,
}

impl Run<'_> {
    /// Train until `opts.steps`, validating and checkpointing on the way.
    fn steps(
        &mut self,
        state: &mut TrainState,
        report: &mut impl FnMut(TrainEvent),
    ) -> Result<(), SrError> {
        let opts = self.opts;
        let started = std::time::Instant::now();
        let seconds_before = state.seconds;
        // The loss stays on the device and is read back every LOSS_READBACK steps: reading it
        // each step would wait for the GPU to finish every step before the next is queued.
        const LOSS_READBACK: u64 = 20;
        let mut loss_sum = Tensor::zeros([], (Kind::Float, opts.device));
        let mut summed = 0u64;
        while state.step < opts.steps {
            let lr_now = learning_rate(opts, state.step, self.resumed_at);
            let loss = self.step(lr_now)?;
            state.step += 1;
            loss_sum += loss.detach();
            summed += 1;
            let last = state.step == opts.steps;
            if summed == LOSS_READBACK || last || state.step % opts.validate_every == 0 {
                report(TrainEvent::Step {
                    step: state.step,
                    loss: loss_sum.double_value(&[]) / summed as f64,
                    learning_rate: lr_now,
                });
                loss_sum = Tensor::zeros([], (Kind::Float, opts.device));
                summed = 0;
            }
            if state.step % opts.validate_every == 0 || last {
                self.validate(state, report);
            }
            if state.step % opts.checkpoint_every == 0 || last {
                state.seconds = seconds_before + started.elapsed().as_secs_f64();
                self.checkpoint(state, report)?;
            }
        }
        Ok(())
    }

    /// One optimiser step at learning rate `lr_now` on a fresh batch; its loss, on the device.
    fn step(&mut self, lr_now: f64) -> Result<Tensor, SrError> {
        let device = self.opts.device;
        self.opt.set_lr(lr_now);
        let hr = sample_batch(
            self.train_images,
            &mut self.rng,
            self.opts.batch,
            self.hr_patch,
        );
        let mut lr_img = downscale_bicubic(&hr, self.scale);
        if let Some(d) = &self.opts.degradation {
            lr_img = (d.apply)(&lr_img, self.rng.next())
                .map_err(|e| SrError::Training(e.to_string()))?;
        }
        let sr = self.net.forward_t(&lr_img.to_device(device), true);
        let loss = (sr - hr.to_device(device)).abs().mean(Kind::Float);
        self.opt.backward_step(&loss);
        Ok(loss)
    }

    fn validate(&self, state: &mut TrainState, report: &mut impl FnMut(TrainEvent)) {
        let (model, bicubic) = validate(self.net, self.val_crops, self.scale, self.opts.device);
        state.curve.push((state.step, model, bicubic));
        report(TrainEvent::Validated {
            step: state.step,
            psnr_y: model,
            bicubic_psnr_y: bicubic,
        });
    }

    fn checkpoint(
        &self,
        state: &TrainState,
        report: &mut impl FnMut(TrainEvent),
    ) -> Result<(), SrError> {
        save_weights(&named_variables(self.vs), &self.ckpt_weights)?;
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        write_atomically(&self.ckpt_state, text.as_bytes())?;
        report(TrainEvent::Checkpoint {
            step: state.step,
            path: self.ckpt_weights.clone(),
        });
        Ok(())
    }
}

/// Write the inference form (`NAME.safetensors`) and its card (`NAME.json`) into `out_dir`.
fn export(
    opts: &TrainOptions,
    vs: &nn::VarStore,
    state: &TrainState,
    train_count: usize,
) -> Result<PathBuf, SrError> {
    let vars = vs.variables();
    let named = match training_arch(&opts.arch, opts.plain) {
        Architecture::FmenTraining(c) => {
            reparameterize(&c, &vars).map_err(|e| SrError::Training(e.to_string()))?
        }
        _ => named_variables(vs),
    };
    // count parameters and FLOPs on the inference form
    let infer_vs = nn::VarStore::new(Device::Cpu);
    let infer_net = opts.arch.build(&infer_vs.root());
    let macs = infer_net.macs_per_input_pixel();
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| SrError::Training(format!("cannot create {}: {e}", opts.out_dir.display())))?;
    let weights = opts.out_dir.join(format!("{}.safetensors", opts.name));
    let card_path = opts.out_dir.join(format!("{}.json", opts.name));
    save_weights(&named, &weights)?;
    let card = ModelCard {
        name: opts.name.clone(),
        architecture: opts.arch.name().to_string(),
        hyperparameters: opts.arch.hyperparameters(),
        scale: opts.arch.scale(),
        input_range: 1.0,
        tier: opts.tier.clone(),
        description: opts.description.clone(),
        parameters: parameter_count(&infer_vs),
        gflops_960x540: (2 * macs * 960 * 540) as f64 / 1e9,
        training: Training {
            command: state.commands.join("\n"),
            data: format!(
                "{} photos of scripts/fetch_data.sh's train/ (HR = photo downscaled x2, random {}px crops, 8 flips/rotations, LR = antialiased bicubic /{} rounded to 8 bits{}); validation: 6 fixed 256px crops of each photo in {}",
                train_count,
                opts.patch * i64::from(opts.arch.scale()),
                opts.arch.scale(),
                opts.degradation.as_ref().map_or(String::new(), |d| format!(", then {}", d.description)),
                opts.val_dir.file_name().map_or(String::new(), |n| format!("{}/", n.to_string_lossy()))
            ),
            credits: opts.credits.clone(),
            steps: state.step,
            curve: state.curve.clone(),
            notes: format!(
                "batch {}, L1 loss, Adam lr {} (100-step warm-up, cosine to 1%), seed {}, {:.0} s of training on {:?}",
                opts.batch, opts.learning_rate, opts.seed, state.seconds, opts.device
            ),
        },
        // new weights: an old evaluation would be wrong; `stronglive eval --update-cards` fills it
        evaluation: Vec::new(),
    };
    card.write(&card_path)?;
    Ok(card_path)
}
