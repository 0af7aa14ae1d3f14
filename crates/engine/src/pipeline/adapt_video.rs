//! Learning a scene offline from a full-resolution video (`stronglive adapt`): the same pairs a
//! phone streaming that video would give the live learner — its frames at 1/scale through a
//! real H.264 encode as LR, patches of the full-size frames as HR — the same fine-tuner and the
//! same held-out gate, for a time budget; the result is saved as a user model.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::frame::YuvFrame;
use crate::media::{probe, MediaError, VideoDecoder};
use crate::sr::adapt::{pair_patch, save_adapted, AdaptConfig, Decision, FineTuner, PairBuffer};
use crate::sr::color::frame_to_rgb_cpu;
use crate::sr::{load_model, ComputeDevice, SrError};

use crate::pipeline::training_data::{crop_to_scale_grid, phone_stream_of, GroundTruthError};

/// Side of the HR patches cut from the frames (24 LR pixels, the fine-tuner's crop).
pub const PATCH_SIDE: u32 = 96;
/// The compression a phone's stream has (libx264 CRF).
pub const PHONE_CRF: u8 = 23;
/// Frames sampled across the video at most (pairs: `PATCHES_PER_FRAME` each).
const MAX_SAMPLED_FRAMES: u64 = 120;
const PATCHES_PER_FRAME: usize = 4;
/// Sampled frames encoded together as one phone stream (bounded memory at 4K).
const CHUNK: usize = 8;
/// Memory for the pairs (about 560 pairs of 96 px patches).
const PAIR_MEMORY: usize = 64 << 20;

/// What to learn and where it goes.
#[derive(Debug, Clone)]
pub struct VideoAdaptOptions {
    /// The model to start from (a network: fmen-*, edsr-*, srvc-*).
    pub base: String,
    /// Name of the new model (`NAME.json` + `NAME.safetensors` in `models_dir`).
    pub name: String,
    pub models_dir: PathBuf,
    /// Training time budget.
    pub seconds: f64,
    pub scale: u32,
}

/// Why a video could not be learned from.
#[derive(Debug, thiserror::Error)]
pub enum VideoAdaptError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Sr(#[from] SrError),
    #[error("{model} cannot learn (only the project's networks can: fmen-*, edsr-*, srvc-*)")]
    CannotLearn { model: String },
    #[error("{path}: {width}x{height} frames are too small; adapt needs at least {need}x{need}")]
    TooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
        need: u32,
    },
    #[error("{path}: {frames} frames; adapt needs at least 5")]
    TooFewFrames { path: PathBuf, frames: usize },
    #[error("{path} already exists; choose another --name")]
    NameTaken { path: PathBuf },
    #[error("after {steps} steps the weights do not beat {base} on held-out patches ({gain_db:+.2} dB): nothing saved")]
    NoGain {
        base: String,
        steps: u64,
        gain_db: f64,
    },
}

impl From<GroundTruthError> for VideoAdaptError {
    fn from(e: GroundTruthError) -> Self {
        match e {
            GroundTruthError::Media(e) => Self::Media(e),
            GroundTruthError::Sr(e) => Self::Sr(e),
        }
    }
}

/// Where learning stands (after each assessment).
#[derive(Debug, Clone, Copy)]
pub struct AdaptProgress {
    pub elapsed: Duration,
    pub steps: u64,
    pub version: u64,
    /// Held-out gain of the kept weights over the base model, dB.
    pub gain_db: f64,
}

/// What `adapt` made.
#[derive(Debug, Clone)]
pub struct VideoAdaptReport {
    pub card: PathBuf,
    pub frames_sampled: usize,
    pub pairs: usize,
    pub steps: u64,
    /// Held-out PSNR-Y of the saved weights and of the base model, dB.
    pub adapted_db: f64,
    pub base_db: f64,
}

/// Learn `video`'s scene starting from `options.base` and save it as `options.name`.
pub fn adapt_to_video(
    video: &Path,
    options: &VideoAdaptOptions,
    device: &ComputeDevice,
    mut progress: impl FnMut(&AdaptProgress),
) -> Result<VideoAdaptReport, VideoAdaptError> {
    let card_path = options.models_dir.join(format!("{}.json", options.name));
    if card_path.exists() {
        return Err(VideoAdaptError::NameTaken { path: card_path });
    }
    let model = load_model(&options.base, options.scale, device)?;
    let network = model
        .as_network()
        .ok_or_else(|| VideoAdaptError::CannotLearn {
            model: options.base.clone(),
        })?;
    let (buffer, frames_sampled) = video_pairs(video, options.scale)?;
    let mut tuner = FineTuner::new(network, device.device, AdaptConfig::default())?;
    let started = Instant::now();
    let budget = Duration::from_secs_f64(options.seconds.max(0.0));
    let mut last = None;
    while started.elapsed() < budget || last.is_none() {
        tuner.train_round(&buffer)?;
        let (scores, decision) = tuner.assess(&buffer)?;
        let gain_db = scores.gain_after(&decision);
        let (live_db, base_db) = (scores.generic_db + gain_db, scores.generic_db);
        last = Some((live_db, base_db));
        progress(&AdaptProgress {
            elapsed: started.elapsed(),
            steps: tuner.steps,
            version: tuner.version,
            gain_db,
        });
        // A video is one scene here: a revert only restarts learning from the base.
        if let Decision::Revert(_) = decision {
            tracing::info!(
                "{}: the adapted weights fell below the base; starting over",
                video.display()
            );
        }
    }
    let (adapted_db, base_db) = last.unwrap_or_default();
    if tuner.version == 0 || adapted_db <= base_db {
        return Err(VideoAdaptError::NoGain {
            base: options.base.clone(),
            steps: tuner.steps,
            gain_db: adapted_db - base_db,
        });
    }
    let pairs = buffer.train_len() + buffer.holdout_len();
    let how = format!(
        "video {}, {frames_sampled} frames, {pairs} pairs, {} steps, {:+.2} dB vs {} on held-out patches",
        video.file_name().map_or_else(|| video.display().to_string(), |n| n.to_string_lossy().into_owned()),
        tuner.steps,
        adapted_db - base_db,
        options.base
    );
    let card = save_adapted(
        &options.models_dir,
        &options.name,
        tuner.base_card(),
        tuner.live_weights(),
        &how,
    )?;
    Ok(VideoAdaptReport {
        card,
        frames_sampled,
        pairs,
        steps: tuner.steps,
        adapted_db,
        base_db,
    })
}

/// Training pairs from frames sampled evenly across `video` (at most `MAX_SAMPLED_FRAMES`),
/// made the way a phone streaming it would: LR = the frames at 1/`scale` through H.264.
fn video_pairs(video: &Path, scale: u32) -> Result<(PairBuffer, usize), VideoAdaptError> {
    let info = probe(video)?;
    let (width, height) = (info.video.width, info.video.height);
    let need = PATCH_SIDE * 2;
    if width < need || height < need {
        return Err(VideoAdaptError::TooSmall {
            path: video.to_path_buf(),
            width,
            height,
            need,
        });
    }
    let every = info
        .video
        .frame_count
        .map_or(1, |n| n.div_ceil(MAX_SAMPLED_FRAMES).max(1));
    let mut decoder = VideoDecoder::open(video)?;
    let mut buffer = PairBuffer::new(PAIR_MEMORY);
    let (mut index, mut sampled) = (0u64, 0usize);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let frame = decoder.next_frame()?;
        let at_end = frame.is_none();
        if let Some(frame) = frame {
            index += 1;
            if (index - 1) % every == 0 && (sampled as u64) < MAX_SAMPLED_FRAMES {
                chunk.push(crop_to_scale_grid(frame, scale));
                sampled += 1;
            }
        }
        if chunk.len() == CHUNK || (at_end && !chunk.is_empty()) {
            let first = sampled - chunk.len();
            add_pairs(&mut buffer, &std::mem::take(&mut chunk), scale, first)?;
        }
        if at_end {
            break;
        }
    }
    if sampled < 5 {
        return Err(VideoAdaptError::TooFewFrames {
            path: video.to_path_buf(),
            frames: sampled,
        });
    }
    Ok((buffer, sampled))
}

/// `PATCHES_PER_FRAME` pairs of each full-size frame with its phone-stream LR frame.
fn add_pairs(
    buffer: &mut PairBuffer,
    frames: &[YuvFrame],
    scale: u32,
    first_ordinal: usize,
) -> Result<(), VideoAdaptError> {
    let stream = phone_stream_of(frames, scale, PHONE_CRF)?;
    for (i, (hr, lr)) in frames.iter().zip(&stream).enumerate() {
        let (hr, lr) = (frame_to_rgb_cpu(hr)?, frame_to_rgb_cpu(lr)?);
        for k in 0..PATCHES_PER_FRAME {
            let ordinal = (first_ordinal + i) * PATCHES_PER_FRAME + k;
            buffer.push(cut_pair(&hr, &lr, ordinal, scale, i as i64)?);
        }
    }
    Ok(())
}

/// The `ordinal`-th HR patch of a frame (positions spread over it, on the x`scale` grid)
/// paired with its LR crop.
pub fn cut_pair(
    hr: &crate::sr::Tensor,
    lr: &crate::sr::Tensor,
    ordinal: usize,
    scale: u32,
    pts_us: i64,
) -> Result<crate::sr::adapt::TrainingPair, VideoAdaptError> {
    let size = hr.size();
    let (w, h) = (size[3] as u32, size[2] as u32);
    let r = (ordinal as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let x = ((r >> 16) as u32 % (w - PATCH_SIDE + 1)) / scale * scale;
    let y = ((r >> 40) as u32 % (h - PATCH_SIDE + 1)) / scale * scale;
    let patch = hr.narrow(2, i64::from(y), i64::from(PATCH_SIDE)).narrow(
        3,
        i64::from(x),
        i64::from(PATCH_SIDE),
    );
    pair_patch(lr, patch, (x, y), scale, pts_us)
        .map_err(|e| VideoAdaptError::Sr(SrError::Training(format!("patch pairing: {e}"))))
}
