//! Learning the scene from the stream (STRONGLIVE's idea): pairs of (LR crop of a decoded
//! frame, the sender's full-resolution patch of the same frame), a bounded buffer of them with
//! every fifth pair held out for validation and never trained on, and a fine-tuner that trains
//! a copy of the live network and proposes new weights only when they beat the live ones on the
//! held-out pairs. When the live (adapted) weights fall below the generic ones on fresh
//! held-out pairs, the scene changed: it proposes the generic weights again and starts over.

use std::collections::VecDeque;

use tch::{Kind, Tensor};

use super::card::{save_weights, ModelCard};
use super::model::Weights;
use super::train::Rng;
use super::SrError;

mod tuner;

pub use tuner::{AdaptConfig, Decision, FineTuner, HeldOut, TunedLayers};

/// One training pair: LR (1 x 3 x h x w) and HR (1 x 3 x h*s x w*s), RGB in 0..1 on the CPU.
pub struct TrainingPair {
    pub lr: Tensor,
    pub hr: Tensor,
    pub pts_us: i64,
}

impl TrainingPair {
    pub(crate) fn bytes(&self) -> usize {
        (self.lr.numel() + self.hr.numel()) * 4
    }
}

/// Why a patch could not become a training pair.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchRefusal {
    #[error("not a decodable PNG/JPEG image")]
    BadImage,
    #[error("image is {actual_w}x{actual_h}, the message says {w}x{h}")]
    SizeMismatch {
        w: u32,
        h: u32,
        actual_w: u32,
        actual_h: u32,
    },
    #[error("{w}x{h} at ({x},{y}) is not aligned to the x{scale} grid")]
    Unaligned {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        scale: u32,
    },
    #[error("{w}x{h} at ({x},{y}) lies outside the {frame_w}x{frame_h} full-resolution frame")]
    OutsideFrame {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        frame_w: u32,
        frame_h: u32,
    },
}

/// Decode a patch (PNG/JPEG bytes) to 1 x 3 x H x W in 0..1.
pub fn decode_patch(bytes: &[u8]) -> Result<Tensor, PatchRefusal> {
    let img = tch::vision::image::load_from_memory(bytes).map_err(|_| PatchRefusal::BadImage)?;
    let img = match img.size()[0] {
        3 => img,
        1 => img.expand([3, -1, -1], false),
        4 => img.narrow(0, 0, 3),
        _ => return Err(PatchRefusal::BadImage),
    };
    Ok(img.to_kind(Kind::Float).unsqueeze(0) / 255.0)
}

/// Pair an HR patch at (`x`, `y`) with the LR frame it was cut from (`lr_frame`: the decoded
/// frame as RGB, 1 x 3 x h x w): the LR crop is the patch's region divided by `scale`.
pub fn pair_patch(
    lr_frame: &Tensor,
    hr: Tensor,
    (x, y): (u32, u32),
    scale: u32,
    pts_us: i64,
) -> Result<TrainingPair, PatchRefusal> {
    let size = hr.size();
    let (w, h) = (size[3] as u32, size[2] as u32);
    if x % scale != 0 || y % scale != 0 || w % scale != 0 || h % scale != 0 || w == 0 || h == 0 {
        return Err(PatchRefusal::Unaligned { x, y, w, h, scale });
    }
    let lr_size = lr_frame.size();
    let (frame_w, frame_h) = (lr_size[3] as u32 * scale, lr_size[2] as u32 * scale);
    if x + w > frame_w || y + h > frame_h {
        return Err(PatchRefusal::OutsideFrame {
            x,
            y,
            w,
            h,
            frame_w,
            frame_h,
        });
    }
    let s = i64::from(scale);
    let lr = lr_frame
        .narrow(2, i64::from(y) / s, i64::from(h) / s)
        .narrow(3, i64::from(x) / s, i64::from(w) / s)
        .contiguous();
    Ok(TrainingPair { lr, hr, pts_us })
}

/// Pairs kept for learning: every fifth one held out for validation (never trained on), the
/// rest for training; the oldest go first once either part reaches its share of the cap.
pub struct PairBuffer {
    train: VecDeque<TrainingPair>,
    pub(crate) holdout: VecDeque<TrainingPair>,
    received: u64,
    cap_bytes: usize,
}

/// One pair in this many is held out.
const HOLDOUT_EVERY: u64 = 5;

impl PairBuffer {
    /// `cap_bytes` bounds the memory of all pairs together (e.g. 64 MiB: about 560 pairs of
    /// 96 px HR patches).
    pub fn new(cap_bytes: usize) -> Self {
        Self {
            train: VecDeque::new(),
            holdout: VecDeque::new(),
            received: 0,
            cap_bytes,
        }
    }

    pub fn push(&mut self, pair: TrainingPair) {
        self.received += 1;
        let (part, share) = if self.received % HOLDOUT_EVERY == 0 {
            (&mut self.holdout, self.cap_bytes / HOLDOUT_EVERY as usize)
        } else {
            (
                &mut self.train,
                self.cap_bytes - self.cap_bytes / HOLDOUT_EVERY as usize,
            )
        };
        part.push_back(pair);
        while part.len() > 1 && part.iter().map(TrainingPair::bytes).sum::<usize>() > share {
            part.pop_front();
        }
    }

    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    pub fn holdout_len(&self) -> usize {
        self.holdout.len()
    }

    /// Forget every pair (the scene they show is gone).
    pub fn clear(&mut self) {
        self.train.clear();
        self.holdout.clear();
    }

    /// A training pair, newer ones more often (u^2 skews the draw towards the newest end).
    pub(crate) fn sample(&self, rng: &mut Rng) -> Option<&TrainingPair> {
        let n = self.train.len();
        if n == 0 {
            return None;
        }
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let back = ((u * u) * n as f64) as usize;
        self.train.get(n - 1 - back.min(n - 1))
    }
}

/// Save weights learned from a stream as a user model beside its card: `DIR/NAME.safetensors`
/// and `DIR/NAME.json`, the card naming the base model and how it was learned.
pub fn save_adapted(
    dir: &std::path::Path,
    name: &str,
    base: &ModelCard,
    weights: &Weights,
    how: &str,
) -> Result<std::path::PathBuf, SrError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| SrError::model_file(dir, format!("cannot create the folder: {e}")))?;
    let card_path = dir.join(format!("{name}.json"));
    save_weights(&weights.tensors, &card_path.with_extension("safetensors"))?;
    let mut card = base.clone();
    card.name = name.to_string();
    card.description = format!("{} adapted to one scene ({how})", base.name);
    card.training.notes = format!("fine-tuned from {} on HR patches: {how}", base.name);
    // The base model's photo evaluation does not describe the adapted weights.
    card.evaluation.clear();
    card.write(&card_path)?;
    Ok(card_path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tch::Device;

    /// A smooth random picture (1 x 3 x h x w in 0..1) with detail a network can learn.
    pub(super) fn picture(h: i64, w: i64, seed: i64) -> Tensor {
        tch::manual_seed(seed);
        let coarse = Tensor::rand([1, 3, h / 8 + 1, w / 8 + 1], (Kind::Float, Device::Cpu));
        coarse
            .upsample_bicubic2d([h, w], false, None, None)
            .clamp(0.0, 1.0)
    }

    #[test]
    fn a_patch_pairs_with_the_lr_region_it_was_cut_from() {
        let lr_frame = Tensor::arange(3 * 8 * 12, (Kind::Float, Device::Cpu)).view([1, 3, 8, 12]);
        let hr = Tensor::zeros([1, 3, 16, 8], (Kind::Float, Device::Cpu));
        let pair = pair_patch(&lr_frame, hr, (12, 8), 4, 7).unwrap();
        assert_eq!(pair.lr.size(), [1, 3, 4, 2]);
        // LR crop at (12/4, 8/4) = column 3, row 2 of the frame.
        let expected = lr_frame.narrow(2, 2, 4).narrow(3, 3, 2);
        assert!(pair.lr.equal(&expected));
        let hr = Tensor::zeros([1, 3, 16, 8], (Kind::Float, Device::Cpu));
        assert!(matches!(
            pair_patch(&lr_frame, hr, (6, 8), 4, 7),
            Err(PatchRefusal::Unaligned { .. })
        ));
        let hr = Tensor::zeros([1, 3, 16, 8], (Kind::Float, Device::Cpu));
        assert!(matches!(
            pair_patch(&lr_frame, hr, (44, 24), 4, 7),
            Err(PatchRefusal::OutsideFrame { .. })
        ));
        assert_eq!(
            decode_patch(b"not a png").unwrap_err(),
            PatchRefusal::BadImage
        );
    }

    pub(super) fn pair_of(hr: &Tensor, pts_us: i64) -> TrainingPair {
        let lr = crate::sr::images::downscale_bicubic(hr, 4);
        TrainingPair {
            lr: crate::sr::quality::quantize(&lr),
            hr: hr.shallow_clone(),
            pts_us,
        }
    }

    #[test]
    fn every_fifth_pair_is_held_out_and_memory_stays_capped() {
        let one = pair_of(&picture(32, 32, 1), 0).bytes();
        let mut buffer = PairBuffer::new(one * 10);
        for i in 0..100 {
            buffer.push(pair_of(&picture(32, 32, i), i));
        }
        assert_eq!(buffer.holdout.iter().map(|p| p.pts_us % 5).max(), Some(4));
        assert!(buffer.holdout.iter().all(|p| (p.pts_us + 1) % 5 == 0));
        assert!(buffer.train.iter().all(|p| (p.pts_us + 1) % 5 != 0));
        let bytes: usize = buffer
            .train
            .iter()
            .chain(&buffer.holdout)
            .map(TrainingPair::bytes)
            .sum();
        assert!(bytes <= one * 10, "{bytes} bytes held");
        // The newest survive.
        assert_eq!(buffer.train.back().map(|p| p.pts_us), Some(98));
        assert_eq!(buffer.holdout.back().map(|p| p.pts_us), Some(99));
    }
}
