//! `stronglive srvc encode`: an HR video becomes a small LR video plus a model stream, in one
//! Matroska file. Three passes: (1) the frames at 1/scale (area downscale) through H.265
//! (NVENC where present, libx265 otherwise),
//! audio and subtitles copied, into a hidden temporary file; (2) per segment of a few seconds
//! (a scene cut also starts one),
//! the base model (warm-started from the previous segment's *decoded* weights) trained on that
//! segment's decoded LR frames against its HR frames, the top fraction of changes quantised,
//! applied exactly as the decoder will, and scored with those weights; (3) the LR file remuxed
//! with the model stream attached. The output appears whole or not at all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::frame::YuvFrame;
use crate::media::attachment::remux_with_attachment;
use crate::media::picture::resize;
use crate::media::{
    DemuxItem, EncoderChoice, MediaError, MediaWriter, OutputPlan, Quality, VideoDecoder,
};
use crate::sr::color::frame_to_rgb_cpu;
use crate::sr::metrics::psnr_y;
use crate::sr::srvc::trainer::{FramePair, SegmentBudget, SegmentTrainer, SegmentTraining};
use crate::sr::srvc::{
    apply, quantise, top_k, write_header, write_segment, FlatWeights, Quantization, Segment,
    StreamBudget, StreamHeader,
};
use crate::sr::{load_model, ComputeDevice, SrError, Tensor, Upscaler};

use super::scene_cut::SceneCuts;
use super::srvc_playback::{pts_us, SRVC_FILENAME, SRVC_MIMETYPE};
use super::training_data::crop_to_scale_grid;

/// What to make.
#[derive(Debug, Clone)]
pub struct SrvcOptions {
    pub base: String,
    pub scale: u32,
    /// libx265 CRF of the LR video.
    pub crf: u8,
    pub segment_s: f64,
    pub training: SegmentTraining,
    pub quantization: Quantization,
    /// Largest share of the file's bits (LR video + model stream) the stream may take; `None`
    /// streams what the fractions ask whatever it costs.
    pub max_share: Option<f64>,
}

impl Default for SrvcOptions {
    fn default() -> Self {
        Self {
            base: "fmen-tiny-x4".into(),
            scale: 4,
            crf: 28,
            segment_s: 5.0,
            training: SegmentTraining::default(),
            quantization: Quantization::Int8,
            // On vtest.avi the stream's bits bought more than the same bits of LR video up to
            // the 22% they took at CRF 36 (a 10% cap lowered BD-PSNR against the generic
            // model from +0.65 to +0.59 dB); on a pan over a still photo they bought little
            // and took 40%. A quarter bounds the second without touching the first.
            max_share: Some(0.25),
        }
    }
}

/// Why an SRVC encode failed (each names the file).
#[derive(Debug, thiserror::Error)]
pub enum SrvcEncodeError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{}: {source}", path.display())]
    Sr { path: PathBuf, source: SrError },
    #[error("{}: {what}", path.display())]
    Input { path: PathBuf, what: String },
    #[error("{}: cancelled", .0.display())]
    Cancelled(PathBuf),
}

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

/// Frames of a segment kept for training and scoring (RGB tensors; memory bounded).
const MAX_FRAMES_PER_SEGMENT: usize = 24;
const MAX_SEGMENT_BYTES: usize = 768 << 20;

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
    let header = StreamHeader::for_weights(
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
        let (start, start_db) = if from_base {
            (self.base.clone(), base_db)
        } else {
            (self.current.clone(), previous_db)
        };
        let mut budget = self
            .options
            .training
            .budget(segment.starts_scene, start.values.len());
        let wanted = budget.changes;
        let allowance = self.allowance(segment);
        budget.changes = self.rate.changes_within(allowance, wanted);
        let unchanged = Segment::unchanged(segment.start_us, self.options.quantization);
        let restart = Segment {
            from_base,
            ..unchanged.clone()
        };
        let (update, loss) = if budget.changes == 0 {
            // Nothing fits: no training, no changes.
            (restart.clone(), 0.0)
        } else {
            let trained = self
                .trainer
                .train_segment(&start, &segment.pairs, budget)
                .map_err(sr_err)?;
            let (update, allowed) =
                self.fit(&restart, &start.values, &trained.values, budget, allowance);
            budget.changes = allowed;
            (update, trained.loss)
        };
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
        // kept: an update that does not beat what the decoder would have is not sent.
        let accepted = !update.indices.is_empty() && candidate_db > start_db.max(previous_db);
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
            allowed: budget.changes,
            srvc_db,
            previous_db,
            base_db,
            seconds: started.elapsed().as_secs_f64(),
            weights_sha256: self.current.sha256(),
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

/// `DIR/.NAME.PID.what` beside `path`, removed when dropped.
fn hidden_sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{what}", std::process::id()))
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Pass 1: the LR video (libx265 at the CRF asked for), audio and subtitles copied.
fn encode_lr(
    input: &Path,
    lr: &Path,
    options: &SrvcOptions,
    cancel: &AtomicBool,
) -> Result<(u32, u32), SrvcEncodeError> {
    let mut decoder = VideoDecoder::open(input)?;
    let info = decoder.info().clone();
    let grid = 2 * options.scale;
    let (w, h) = (info.video.width / grid * 2, info.video.height / grid * 2);
    // libx265 through our encoder corrupts the heap on frames this small (seen at 40x24 and
    // 48x32, never from 64x64 up); such videos gain nothing from SR anyway.
    if w < 64 || h < 64 {
        return Err(SrvcEncodeError::Input {
            path: input.to_path_buf(),
            what: format!(
                "{}x{} is too small for SRVC: the x{} smaller video must be at least 64x64",
                info.video.width, info.video.height, options.scale
            ),
        });
    }
    let mut writer = MediaWriter::create(
        &OutputPlan {
            path: lr.to_path_buf(),
            width: w,
            height: h,
            encoder: EncoderChoice::Hevc,
            quality: Quality::Crf(options.crf),
        },
        &decoder,
    )?;
    while let Some(item) = decoder.next_item()? {
        if cancel.load(Ordering::Relaxed) {
            return Err(SrvcEncodeError::Cancelled(input.to_path_buf()));
        }
        match item {
            DemuxItem::Frame(frame) => {
                let small =
                    resize(&crop_to_scale_grid(frame, options.scale), w, h).map_err(|what| {
                        SrvcEncodeError::Input {
                            path: input.to_path_buf(),
                            what: format!("downscale: {what}"),
                        }
                    })?;
                writer.write_frame(&small)?;
            }
            DemuxItem::Packet(packet) => writer.write_passthrough(packet)?,
        }
    }
    writer.finish()?;
    Ok((w, h))
}

/// One segment's sampled (decoded LR, HR) pairs.
struct SegmentPairs {
    start_us: i64,
    /// The video's first segment or the first after a scene cut.
    starts_scene: bool,
    frames: usize,
    pairs: Vec<FramePair>,
}

/// Pass 2's reader: the decoded LR file and the HR input in lockstep, cut into segments.
struct SegmentFrames {
    hr: VideoDecoder,
    lr: VideoDecoder,
    hr_path: PathBuf,
    scale: u32,
    segment_us: i64,
    every: usize,
    next: Option<(YuvFrame, YuvFrame)>,
    last_pts_us: i64,
    /// The input's length as its container states it (0 when it does not).
    duration_s: f64,
    /// A new scene starts a new segment (its content is what the weights should follow).
    cuts: SceneCuts,
    /// Whether the next segment starts a scene.
    scene_starts: bool,
}

impl SegmentFrames {
    fn open(
        hr: &Path,
        lr: &Path,
        (w, h): (u32, u32),
        options: &SrvcOptions,
    ) -> Result<Self, SrvcEncodeError> {
        let hr_dec = VideoDecoder::open(hr)?;
        let fps = hr_dec.info().video.fps.max(1.0);
        let duration_s = hr_dec.info().duration_s;
        let per_segment = (fps * options.segment_s).ceil() as usize;
        // Memory: each kept pair holds an LR and an HR frame as fp32 RGB.
        let pair_bytes = (w * h) as usize * 3 * 4 * (1 + (options.scale * options.scale) as usize);
        let keep = MAX_FRAMES_PER_SEGMENT
            .min(MAX_SEGMENT_BYTES / pair_bytes.max(1))
            .max(1);
        Ok(Self {
            hr: hr_dec,
            lr: VideoDecoder::open(lr)?,
            hr_path: hr.to_path_buf(),
            scale: options.scale,
            segment_us: (options.segment_s * 1e6) as i64,
            every: per_segment.div_ceil(keep).max(1),
            next: None,
            last_pts_us: 0,
            duration_s,
            cuts: SceneCuts::default(),
            scene_starts: true,
        })
    }

    fn next_pair(&mut self) -> Result<Option<(YuvFrame, YuvFrame)>, SrvcEncodeError> {
        if let Some(pair) = self.next.take() {
            return Ok(Some(pair));
        }
        match (self.lr.next_frame()?, self.hr.next_frame()?) {
            (Some(lr), Some(hr)) => Ok(Some((lr, crop_to_scale_grid(hr, self.scale)))),
            (None, None) => Ok(None),
            _ => Err(SrvcEncodeError::Input {
                path: self.hr_path.clone(),
                what: "the LR encode and the input have different frame counts".into(),
            }),
        }
    }

    fn next_segment(&mut self) -> Result<Option<SegmentPairs>, SrvcEncodeError> {
        let lr_base = self.lr.time_base();
        let Some(first) = self.next_pair()? else {
            return Ok(None);
        };
        let start_us = pts_us(first.0.pts, lr_base);
        let mut segment = SegmentPairs {
            start_us,
            starts_scene: std::mem::replace(&mut self.scene_starts, false),
            frames: 0,
            pairs: Vec::new(),
        };
        let mut pair = Some(first);
        while let Some((lr, hr)) = pair {
            let at = pts_us(lr.pts, lr_base);
            let cut = self.cuts.observe(&lr);
            if (cut || at - start_us >= self.segment_us) && segment.frames > 0 {
                self.scene_starts = cut;
                self.next = Some((lr, hr));
                break;
            }
            self.last_pts_us = at
                + (lr.duration * 1_000_000 * i64::from(lr_base.numerator()))
                    / i64::from(lr_base.denominator()).max(1);
            if segment.frames % self.every == 0 {
                let to_rgb = |f: &YuvFrame| frame_to_rgb_cpu(f);
                segment.pairs.push(FramePair {
                    lr: to_rgb(&lr).map_err(|source| SrvcEncodeError::Sr {
                        path: self.hr_path.clone(),
                        source,
                    })?,
                    hr: to_rgb(&hr).map_err(|source| SrvcEncodeError::Sr {
                        path: self.hr_path.clone(),
                        source,
                    })?,
                });
            }
            segment.frames += 1;
            pair = self.next_pair()?;
        }
        Ok(Some(segment))
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
