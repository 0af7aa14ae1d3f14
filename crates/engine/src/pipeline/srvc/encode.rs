//! `stronglive srvc encode`: an HR video becomes a small LR video plus a model stream, in one
//! Matroska file. Three passes: (1) the frames at 1/scale (area downscale) through H.265 (NVENC
//! where present, libx265 otherwise), audio and subtitles copied, into a hidden temporary file;
//! (2) per segment of a few seconds (a scene cut also starts one), the base model (warm-started
//! from the previous segment's *decoded* weights, or from the base at a scene it fits better)
//! trained on that segment's decoded LR frames against its HR frames, the top changes that fit
//! the stream's share of the bits quantised, applied exactly as the decoder will, and scored
//! with those weights; (3) the LR file remuxed with the model stream attached. The output
//! appears whole or not at all. `frames` does the reading and writing of pass 1 and 2.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::media::attachment::remux_with_attachment;
use crate::sr::quality::psnr_y;
use crate::sr::srvc::trainer::{FramePair, SegmentBudget, SegmentTrainer};
use crate::sr::srvc::{
    apply, header_for_weights, quantise, top_k, write_header, write_segment, FlatWeights, Segment,
    StreamBudget, StreamHeader,
};
use crate::sr::{load_model, ComputeDevice, SrError, Tensor, Upscaler};

pub use crate::pipeline::srvc::options::{SrvcEncodeError, SrvcOptions};

use crate::pipeline::srvc::frames::{
    encode_lr, hidden_sibling, SegmentFrames, SegmentPairs, TempFile,
};
use crate::pipeline::srvc::playback::{SRVC_FILENAME, SRVC_MIMETYPE};

/// One finished segment.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    pub index: usize,
    pub start_s: f64,
    pub frames: usize,
    /// Changes sent, and how many the segment's fraction asked for (more than sent when the
    /// stream's share cap or the gate cut them).
    pub changes: usize,
    pub wanted: usize,
    pub bytes: usize,
    /// Mean L1 loss of the segment's last training steps.
    pub loss: f64,
    /// Whether the update was sent: it must beat the previous segment's weights on this
    /// segment's frames, otherwise the segment carries no change.
    pub accepted: bool,
    /// Changes the stream's share cap (`max_share`) allowed: `wanted` without a cap.
    pub allowed: usize,
    /// Whether the segment starts again from the base model (a new scene it fits better than
    /// the previous weights).
    pub from_base: bool,
    /// PSNR-Y on the segment's sampled frames of the decoder's weights from this segment on, of
    /// the weights it had before, and of the base model.
    pub srvc_db: f64,
    pub previous_db: f64,
    pub base_db: f64,
    pub seconds: f64,
    /// Hash of the decoder's weights from this segment on (`FlatWeights::sha256`).
    pub weights_sha256: String,
}

/// What the encode made.
#[derive(Debug, Clone)]
pub struct SrvcReport {
    pub output: PathBuf,
    pub frames: u64,
    pub duration_s: f64,
    pub video_bytes: u64,
    pub model_bytes: usize,
    pub segments: Vec<SegmentReport>,
}

impl SegmentReport {
    /// What happened besides sending the changes asked for, if anything.
    pub fn note(&self) -> Option<String> {
        let mut notes = Vec::new();
        if self.from_base {
            notes.push("back to the base model, which fits this scene better".to_string());
        }
        if self.allowed == 0 {
            notes.push("the stream's share cap left no room: no changes sent".into());
        } else if !self.accepted {
            notes.push("the update did not beat the weights it started from: none sent".into());
        } else if self.allowed < self.wanted {
            notes.push(format!(
                "{} of {} changes: the stream's share cap",
                self.allowed, self.wanted
            ));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

impl SrvcReport {
    /// (LR video, model stream) in kbit/s over the video's duration.
    pub fn kbps(&self) -> (f64, f64) {
        let seconds = self.duration_s.max(1e-3);
        let kbps = |bytes: f64| bytes * 8.0 / 1000.0 / seconds;
        (kbps(self.video_bytes as f64), kbps(self.model_bytes as f64))
    }
}

pub fn srvc_encode(
    input: &Path,
    output: &Path,
    options: &SrvcOptions,
    device: &ComputeDevice,
    cancel: &AtomicBool,
    mut on_segment: impl FnMut(&SegmentReport),
) -> Result<SrvcReport, SrvcEncodeError> {
    let sr_err = |source| SrvcEncodeError::Sr {
        path: input.to_path_buf(),
        source,
    };
    // Checked before hours of training: the model stream needs Matroska.
    if crate::media::output::container_for(output)? != "matroska" {
        return Err(SrvcEncodeError::Input {
            path: output.to_path_buf(),
            what: "the output must be .mkv (the model stream is a Matroska attachment)".into(),
        });
    }
    let model = load_model(&options.base, options.scale, device).map_err(sr_err)?;
    let network = model.as_network().ok_or_else(|| SrvcEncodeError::Input {
        path: input.to_path_buf(),
        what: format!(
            "{} cannot be fine-tuned (only the project's networks can)",
            options.base
        ),
    })?;
    // The file's fp32 weights, not the model's (rounded to bf16 or fp16 on such devices): the
    // stream's hash and changes must mean the same on every decoder.
    let base = FlatWeights::of(network.file_weights()).map_err(sr_err)?;
    let card = network.card().clone();
    let header = header_for_weights(
        &options.base,
        &base,
        &card.architecture,
        card.hyperparameters.clone(),
        options.scale,
        options.quantization,
    );
    let lr_file = TempFile(hidden_sibling(output, "lr.mkv"));
    let (lr_w, lr_h) = encode_lr(input, &lr_file.0, options, cancel)?;
    let video_bytes = std::fs::metadata(&lr_file.0).map(|m| m.len()).unwrap_or(0);
    let mut stream = Vec::new();
    write_header(&mut stream, &header);
    let mut empty = Vec::new();
    write_segment(&mut empty, &Segment::unchanged(0, options.quantization));
    let rate = StreamBudget::new(
        options.max_share,
        video_bytes,
        (stream.len(), empty.len()),
        options.quantization,
    );
    let mut pairs = SegmentFrames::open(input, &lr_file.0, (lr_w, lr_h), options)?;
    let mut coder = SegmentCoder {
        trainer: SegmentTrainer::new(network, device.device, options.training.clone())
            .map_err(sr_err)?,
        scorer: Upscaler::new(model, device.clone()),
        current: base.clone(),
        base,
        header,
        rate,
        duration_us: (pairs.duration_s * 1e6) as i64,
        options,
        input,
    };
    let mut segments = Vec::new();
    let mut frames = 0u64;
    while let Some(segment) = pairs.next_segment()? {
        if cancel.load(Ordering::Relaxed) {
            return Err(SrvcEncodeError::Cancelled(input.to_path_buf()));
        }
        frames += segment.frames as u64;
        let report = coder.code(&segment, segments.len(), &mut stream)?;
        on_segment(&report);
        segments.push(report);
    }
    let duration_s = pairs.last_pts_us as f64 / 1e6;
    let output = remux_with_attachment(&lr_file.0, output, SRVC_FILENAME, SRVC_MIMETYPE, &stream)?;
    Ok(SrvcReport {
        output,
        frames,
        duration_s,
        video_bytes,
        model_bytes: stream.len(),
        segments,
    })
}

/// Turns each segment's frames into the segment of the model stream, keeping the weights the
/// decoder will have.
struct SegmentCoder<'a> {
    header: StreamHeader,
    trainer: SegmentTrainer,
    scorer: Upscaler,
    base: FlatWeights,
    /// The decoder's weights after the segments coded so far.
    current: FlatWeights,
    /// The stream's share of the file's bits.
    rate: StreamBudget,
    /// The input's length, to plan the segments still to come.
    duration_us: i64,
    options: &'a SrvcOptions,
    input: &'a Path,
}

/// A segment's update before the gate: the changes that fit, the training's last loss (0 when
/// nothing fit and nothing was trained), and the changes asked for and allowed by the cap.
struct TrainedUpdate {
    update: Segment,
    loss: f64,
    wanted: usize,
    allowed: usize,
}

impl SegmentCoder<'_> {
    /// Train, pick and quantise the segment's update within the stream's allowance, keep it
    /// only if it beats the decoder's current weights, and append what is sent to `stream`.
    fn code(
        &mut self,
        segment: &SegmentPairs,
        index: usize,
        stream: &mut Vec<u8>,
    ) -> Result<SegmentReport, SrvcEncodeError> {
        let started = Instant::now();
        let sr_err = |source| SrvcEncodeError::Sr {
            path: self.input.to_path_buf(),
            source,
        };
        // Scored with exactly the weights the decoder rebuilds from the stream.
        let previous_db = score(&self.scorer, &self.current, &segment.pairs).map_err(sr_err)?;
        let base_db = score(&self.scorer, &self.base, &segment.pairs).map_err(sr_err)?;
        // A new scene that the base model fits better than the previous scene's weights starts
        // again from the base (live learning measured weights of one scene 0.3 dB below the
        // generic model on the next).
        let from_base = segment.starts_scene && base_db > previous_db;
        let start_db = if from_base { base_db } else { previous_db };
        let unchanged = Segment::unchanged(segment.start_us, self.options.quantization);
        let restart = Segment {
            from_base,
            ..unchanged.clone()
        };
        let TrainedUpdate {
            update,
            loss,
            wanted,
            allowed,
        } = self.train_update(segment, &restart)?;
        let mut candidate = self.current.clone();
        apply(
            &self.header,
            &self.base.values,
            &mut candidate.values,
            &update,
            index,
        )
        .map_err(|e| SrvcEncodeError::Input {
            path: self.input.to_path_buf(),
            what: e.to_string(),
        })?;
        let candidate_db = if update.indices.is_empty() {
            start_db
        } else {
            score(&self.scorer, &candidate, &segment.pairs).map_err(sr_err)?
        };
        // The best of the update, the base alone (at a restart) and the decoder's weights
        // kept (`start_db` is the better of the last two): an update that does not beat what
        // the decoder would have without it is not sent.
        let accepted = !update.indices.is_empty() && candidate_db > start_db;
        let (sent, srvc_db) = if accepted {
            self.current = candidate;
            (update, candidate_db)
        } else if from_base {
            self.current = self.base.clone();
            (restart, base_db)
        } else {
            (unchanged, previous_db)
        };
        let before = stream.len();
        write_segment(stream, &sent);
        let bytes = stream.len() - before;
        self.rate.record(sent.indices.len(), bytes);
        Ok(SegmentReport {
            index,
            start_s: segment.start_us as f64 / 1e6,
            frames: segment.frames,
            changes: sent.indices.len(),
            wanted,
            bytes,
            loss,
            accepted,
            from_base: sent.from_base,
            allowed,
            srvc_db,
            previous_db,
            base_db,
            seconds: started.elapsed().as_secs_f64(),
            weights_sha256: self.current.sha256(),
        })
    }

    /// `restart` (the segment's start time and flags) with the update trained from its start
    /// weights (the base's when it restarts, else the decoder's), as many changes as the
    /// segment's budget asks and the stream's allowance takes; no training when none fit.
    fn train_update(
        &mut self,
        segment: &SegmentPairs,
        restart: &Segment,
    ) -> Result<TrainedUpdate, SrvcEncodeError> {
        let start = if restart.from_base {
            &self.base
        } else {
            &self.current
        };
        let mut budget = self
            .options
            .training
            .budget(segment.starts_scene, start.values.len());
        let wanted = budget.changes;
        let allowance = self.allowance(segment);
        budget.changes = self.rate.changes_within(allowance, wanted);
        if budget.changes == 0 {
            return Ok(TrainedUpdate {
                update: restart.clone(),
                loss: 0.0,
                wanted,
                allowed: 0,
            });
        }
        let trained = self
            .trainer
            .train_segment(start, &segment.pairs, budget)
            .map_err(|source| SrvcEncodeError::Sr {
                path: self.input.to_path_buf(),
                source,
            })?;
        let (update, allowed) =
            self.fit(restart, &start.values, &trained.values, budget, allowance);
        Ok(TrainedUpdate {
            update,
            loss: trained.loss,
            wanted,
            allowed,
        })
    }

    /// The bytes this segment may take, leaving the segments still to come (as many as the
    /// input's remaining length holds) their normal update.
    fn allowance(&self, segment: &SegmentPairs) -> f64 {
        let segment_us = (self.options.segment_s * 1e6).max(1.0);
        let after = self.duration_us - segment.start_us - segment_us as i64;
        let later = (after.max(0) as f64 / segment_us).ceil() as usize;
        let normal = self
            .options
            .training
            .budget(false, self.current.values.len())
            .changes;
        self.rate.allowance(later, normal)
    }

    /// `segment` (its start time and flags) with the `budget.changes` largest changes from
    /// `start` to `trained`, quantised; fewer when it would take more than `allowance` bytes
    /// (the cost per change is an estimate until measured). Returns it and how many changes it
    /// was allowed.
    fn fit(
        &self,
        segment: &Segment,
        start: &[f32],
        trained: &[f32],
        budget: SegmentBudget,
        allowance: f64,
    ) -> (Segment, usize) {
        let mut changes = budget.changes;
        loop {
            let picked = top_k(start, trained, changes);
            let update = Segment {
                from_base: segment.from_base,
                ..quantise(&self.header, start, trained, picked, segment.start_pts_us)
            };
            let mut encoded = Vec::new();
            write_segment(&mut encoded, &update);
            if encoded.len() as f64 <= allowance {
                return (update, changes);
            }
            changes = self.rate.shrink(changes, encoded.len(), allowance);
            if changes == 0 {
                return (segment.clone(), 0);
            }
        }
    }
}

/// Mean PSNR-Y (shave = scale) of `weights` on the pairs.
fn score(scorer: &Upscaler, weights: &FlatWeights, pairs: &[FramePair]) -> Result<f64, SrError> {
    let network = scorer
        .model()
        .as_network()
        .expect("the scorer is a network");
    network.set_weights(&weights.to_weights(0))?;
    let cpu = ComputeDevice::cpu().device;
    let mut sum = 0.0;
    for pair in pairs {
        let sr: Tensor = scorer.upscale_rgb(&pair.lr)?;
        sum += psnr_y(
            &sr.clamp(0.0, 1.0).to_device(cpu),
            &pair.hr,
            i64::from(scorer.scale()),
        );
    }
    Ok(sum / pairs.len().max(1) as f64)
}
