//! SRVC's per-segment training: start from the weights the decoder has (the previous segment's),
//! train on the segment's own (LR, HR) frames, keep only the top fraction of changes. Two
//! passes, as the paper's public implementations do: a first pass finds which weights move most,
//! then training restarts from the start weights with that mask applied after every step, so the
//! weights that are not streamed stay bit-identical to the decoder's.

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use super::deltas::{changes_of, top_k, FlatWeights};
use crate::sr::model::{run_network, NetworkModel};
use crate::sr::nets::Network;
use crate::sr::train::Rng;
use crate::sr::SrError;

/// How much of a segment is learned: how many weights are streamed and the masked steps.
#[derive(Debug, Clone, Copy)]
pub struct SegmentBudget {
    pub changes: usize,
    pub steps: u32,
}

/// How a segment is trained.
#[derive(Debug, Clone)]
pub struct SegmentTraining {
    /// Adam steps of the masked pass (the first pass takes half as many) after a scene's first
    /// segment.
    pub steps: u32,
    pub batch: i64,
    /// LR side of the random crops.
    pub crop: i64,
    pub learning_rate: f64,
    /// Share of the weights streamed per segment after a scene's first.
    pub fraction: f64,
    /// Share streamed at the first segment of a scene (the video's start and each cut): a new
    /// scene is where the model has the most to learn, as a key frame is where a video codec
    /// spends the most bits.
    pub scene_fraction: f64,
    /// Masked steps at a scene's first segment: ten times the weights need more steps to
    /// settle (on vtest.avi's first 30 s, 600 instead of 200 gained +0.2 dB on every segment
    /// of the scene for the same bits; 1200 another +0.06).
    pub scene_steps: u32,
}

impl SegmentTraining {
    /// The budget of a scene's first segment or of any later one, for a net of `parameters`.
    pub fn budget(&self, starts_scene: bool, parameters: usize) -> SegmentBudget {
        let (fraction, steps) = if starts_scene {
            (self.scene_fraction, self.scene_steps)
        } else {
            (self.fraction, self.steps)
        };
        SegmentBudget {
            changes: changes_of(parameters, fraction),
            steps,
        }
    }
}

impl Default for SegmentTraining {
    fn default() -> Self {
        Self {
            // Measured on vtest.avi at 1% of fmen-tiny-x4 (README "Figures"): lr 5e-4 gained
            // +0.06..+0.14 dB a segment at 100 steps, 2e-3 +0.15..+0.29; 200 steps +0.19..+0.34
            // and 400 steps +0.22..+0.36 for twice the time again.
            steps: 200,
            batch: 8,
            crop: 32,
            learning_rate: 2e-3,
            fraction: 0.01,
            scene_fraction: 0.1,
            scene_steps: 600,
        }
    }
}

/// One (LR, HR) frame pair of a segment: 1 x 3 x h x w and 1 x 3 x sh x sw, RGB 0..1, CPU.
pub struct FramePair {
    pub lr: Tensor,
    pub hr: Tensor,
}

/// A segment's trained weights and how well they fit its frames.
pub struct TrainedSegment {
    /// The new flat weights: only `fraction` of them differ from the start.
    pub values: Vec<f32>,
    /// Mean L1 loss (RGB, 0..1) of the masked pass's last steps.
    pub loss: f64,
}

/// Trains a copy of a network segment by segment.
pub struct SegmentTrainer {
    vs: nn::VarStore,
    net: Box<dyn Network>,
    input_range: f64,
    scale: i64,
    config: SegmentTraining,
    rng: Rng,
}

impl SegmentTrainer {
    pub fn new(
        model: &NetworkModel,
        device: Device,
        config: SegmentTraining,
    ) -> Result<Self, SrError> {
        let card = model.card().clone();
        let arch = card.arch(std::path::Path::new(&card.name))?;
        let vs = nn::VarStore::new(device);
        let net = arch.build(&vs.root());
        model.weights().copy_into(&vs)?;
        for (name, t) in vs.variables() {
            if name.contains(".bn") || name.contains("running_") {
                let _ = t.set_requires_grad(false);
            }
        }
        Ok(Self {
            vs,
            net,
            input_range: card.input_range,
            scale: i64::from(card.scale),
            config,
            rng: Rng(0x5e9_5e9),
        })
    }

    /// New weights for a segment, starting from `start` (the decoder's current weights): only
    /// `budget.changes` of them differ from `start`, the rest are bit-identical.
    pub fn train_segment(
        &mut self,
        start: &FlatWeights,
        pairs: &[FramePair],
        budget: SegmentBudget,
    ) -> Result<TrainedSegment, SrError> {
        if pairs.is_empty() {
            return Ok(TrainedSegment {
                values: start.values.clone(),
                loss: 0.0,
            });
        }
        self.load(start)?;
        self.train(pairs, budget.steps.div_ceil(2), None)?;
        let first = FlatWeights::of(&crate::sr::model::Weights::snapshot_of(&self.vs, 0))?;
        // By how far each weight moved. Tried on vtest.avi and not better: each weight's share
        // of the loss decrease along the first pass (-g * step, summed), and biases first.
        let mask = top_k(&start.values, &first.values, budget.changes);
        self.load(start)?;
        let masks = self.mask_tensors(start, &mask);
        let loss = self.train(pairs, budget.steps, Some(&masks))?;
        Ok(TrainedSegment {
            values: FlatWeights::of(&crate::sr::model::Weights::snapshot_of(&self.vs, 0))?.values,
            loss,
        })
    }

    fn load(&self, weights: &FlatWeights) -> Result<(), SrError> {
        weights.to_weights(0).copy_into(&self.vs)
    }

    /// Per variable: (variable, boolean mask, start values), for the variables with masked entries
    /// and those without (all zeros: never move).
    fn mask_tensors(&self, start: &FlatWeights, mask: &[u32]) -> Vec<(Tensor, Tensor, Tensor)> {
        let mut flat_mask = vec![0f32; start.values.len()];
        for &i in mask {
            flat_mask[i as usize] = 1.0;
        }
        let variables = self.vs.variables();
        let mut offset = 0usize;
        let mut out = Vec::new();
        for (name, shape) in start.names.iter().zip(&start.shapes) {
            let n = shape.iter().product::<i64>().max(1) as usize;
            if let Some(var) = variables.get(name) {
                let device = var.device();
                let m = Tensor::from_slice(&flat_mask[offset..offset + n])
                    .view(shape.as_slice())
                    .to_kind(Kind::Bool)
                    .to_device(device);
                let s = Tensor::from_slice(&start.values[offset..offset + n])
                    .view(shape.as_slice())
                    .to_device(device);
                out.push((var.shallow_clone(), m, s));
            }
            offset += n;
        }
        out
    }

    fn train(
        &mut self,
        pairs: &[FramePair],
        steps: u32,
        masks: Option<&[(Tensor, Tensor, Tensor)]>,
    ) -> Result<f64, SrError> {
        let mut optimizer = nn::Adam::default().build(&self.vs, self.config.learning_rate)?;
        let device = self.vs.device();
        // The loss of the last steps, summed on the device: reading it back every step would
        // wait for each step to finish on a GPU.
        let tail = steps.min(10);
        let mut tail_loss = Tensor::zeros([], (Kind::Float, device));
        for step in 0..steps {
            let (lr, hr) = self.batch(pairs)?;
            let sr = run_network(
                self.net.as_ref(),
                &lr.to_device(device),
                self.input_range,
                false,
            );
            let loss = (sr - hr.to_device(device)).abs().mean(Kind::Float);
            optimizer.backward_step(&loss);
            if step + tail >= steps {
                tail_loss += loss.detach();
            }
            if let Some(masks) = masks {
                let _guard = tch::no_grad_guard();
                for (var, mask, start) in masks {
                    // Unstreamed weights back to exactly the decoder's values.
                    let kept = var.where_self(mask, start);
                    var.shallow_clone().copy_(&kept);
                }
            }
        }
        Ok(tail_loss.double_value(&[]) / f64::from(tail.max(1)))
    }

    fn batch(&mut self, pairs: &[FramePair]) -> Result<(Tensor, Tensor), SrError> {
        let s = self.scale;
        let mut lrs = Vec::new();
        let mut hrs = Vec::new();
        for _ in 0..self.config.batch {
            let pair = &pairs[self.rng.below(pairs.len() as i64) as usize];
            let size = pair.lr.size();
            let side = self.config.crop.min(size[2]).min(size[3]);
            let y = self.rng.below(size[2] - side + 1);
            let x = self.rng.below(size[3] - side + 1);
            lrs.push(pair.lr.narrow(2, y, side).narrow(3, x, side));
            hrs.push(
                pair.hr
                    .narrow(2, y * s, side * s)
                    .narrow(3, x * s, side * s),
            );
        }
        Ok((Tensor::f_cat(&lrs, 0)?, Tensor::f_cat(&hrs, 0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::{load_model, ComputeDevice};

    #[test]
    fn masked_training_moves_only_the_streamed_fraction_and_leaves_the_rest_bit_identical() {
        let model = load_model("fmen-tiny-x4", 4, &ComputeDevice::cpu()).unwrap();
        let network = model.as_network().unwrap();
        let config = SegmentTraining {
            steps: 6,
            batch: 2,
            crop: 16,
            ..SegmentTraining::default()
        };
        let mut trainer = SegmentTrainer::new(network, Device::Cpu, config.clone()).unwrap();
        tch::manual_seed(3);
        let hr = Tensor::rand([1, 3, 128, 128], (Kind::Float, Device::Cpu));
        let lr = hr.avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None::<i64>);
        let start = FlatWeights::of(&network.weights()).unwrap();
        let new = trainer
            .train_segment(
                &start,
                &[FramePair { lr, hr }],
                config.budget(false, start.values.len()),
            )
            .unwrap()
            .values;
        let changed = new
            .iter()
            .zip(&start.values)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let allowed = (start.values.len() as f64 * 0.01).ceil() as usize;
        assert!(changed > 0, "nothing was learned");
        assert!(changed <= allowed, "{changed} weights moved, {allowed} may");
    }
}
