//! `srvc encode`'s two readers of video: pass 1 makes the LR video (the project's area
//! downscale, H.265, audio and subtitles copied) in a hidden file beside the output; pass 2
//! reads the decoded LR file and the HR input in lockstep and cuts them into segments (a scene
//! cut starts one), keeping a bounded sample of (LR, HR) frame pairs of each for training.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::frame::YuvFrame;
use crate::media::picture::resize;
use crate::media::{DemuxItem, EncoderChoice, MediaWriter, OutputPlan, Quality, VideoDecoder};
use crate::sr::color::frame_to_rgb_cpu;
use crate::sr::srvc::trainer::FramePair;

use crate::pipeline::scene_cut::SceneCuts;
use crate::pipeline::srvc::options::{SrvcEncodeError, SrvcOptions};
use crate::pipeline::training_data::crop_to_scale_grid;

/// Frames of a segment kept for training and scoring (RGB tensors; memory bounded).
const MAX_FRAMES_PER_SEGMENT: usize = 24;
const MAX_SEGMENT_BYTES: usize = 768 << 20;

/// `DIR/.NAME.PID.what` beside `path`, removed when dropped.
pub(super) fn hidden_sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{what}", std::process::id()))
}

pub(super) struct TempFile(pub(super) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Pass 1: the LR video (libx265 at the CRF asked for), audio and subtitles copied.
pub(super) fn encode_lr(
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
pub(super) struct SegmentPairs {
    pub(super) start_us: i64,
    /// The video's first segment or the first after a scene cut.
    pub(super) starts_scene: bool,
    pub(super) frames: usize,
    pub(super) pairs: Vec<FramePair>,
}

/// Pass 2's reader: the decoded LR file and the HR input in lockstep, cut into segments.
pub(super) struct SegmentFrames {
    hr: VideoDecoder,
    lr: VideoDecoder,
    hr_path: PathBuf,
    scale: u32,
    segment_us: i64,
    every: usize,
    next: Option<(YuvFrame, YuvFrame)>,
    pub(super) last_pts_us: i64,
    /// The input's length as its container states it (0 when it does not).
    pub(super) duration_s: f64,
    /// A new scene starts a new segment (its content is what the weights should follow).
    cuts: SceneCuts,
    /// Whether the next segment starts a scene.
    scene_starts: bool,
}

impl SegmentFrames {
    pub(super) fn open(
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

    pub(super) fn next_segment(&mut self) -> Result<Option<SegmentPairs>, SrvcEncodeError> {
        let lr_base = self.lr.time_base();
        let Some(first) = self.next_pair()? else {
            return Ok(None);
        };
        let start_us = lr_base.pts_us(first.0.pts);
        let mut segment = SegmentPairs {
            start_us,
            starts_scene: std::mem::replace(&mut self.scene_starts, false),
            frames: 0,
            pairs: Vec::new(),
        };
        let mut pair = Some(first);
        while let Some((lr, hr)) = pair {
            let at = lr_base.pts_us(lr.pts);
            let cut = self.cuts.observe(&lr);
            if (cut || at - start_us >= self.segment_us) && segment.frames > 0 {
                self.scene_starts = cut;
                self.next = Some((lr, hr));
                break;
            }
            // a duration is in the same ticks as a pts
            self.last_pts_us = at + lr_base.pts_us(Some(lr.duration));
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
