//! Offline upscaling job: decode thread -> SR thread (dealing frames to SR lanes) -> encode
//! thread, over bounded channels,
//! with a per-job cancel flag and progress events (frames done, total, fps, ETA).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::media::chunks::ChunkRange;
use crate::media::{self, EncoderChoice, MediaWriter, OutputPlan, Quality, VideoDecoder};
use crate::sr::{load_model, ComputeDevice, DevicePreference, Precision, Upscaler};

use crate::pipeline::srvc::playback::{model_stream_of, SrvcPlayback, SrvcPlaybackError};

use crate::pipeline::job::{frame_rate, JobError, JobEvent, JobReport, JobStart, Progress};
use crate::pipeline::offline::memory_budget;
use crate::pipeline::offline::sr_lanes::{upscale_work, LanePlan, SrLanes};
use crate::pipeline::offline::stages::{
    decode_stage, encode_stage, sr_stage, srvc_work, StageResult, StopFlags,
};
use crate::pipeline::stage::{spawn_stage, Stage};

/// Decoded frames waiting for SR. Small: each 960x540 frame is 0.8 MB, and more buffering only
/// adds memory, not speed, once the slowest stage is saturated.
const DECODED_QUEUE: usize = 8;
/// Upscaled frames waiting for the encoder (each 4K frame is 12 MB).
const UPSCALED_QUEUE: usize = 4;

#[derive(Debug, Clone)]
pub struct OfflineJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub model: String,
    pub scale: u32,
    pub encoder: EncoderChoice,
    pub quality: Quality,
    pub device: DevicePreference,
    /// Replace an existing output file.
    pub overwrite: bool,
    /// Upscale only these frames, video only (a part of a chunked job, joined by `concat`).
    pub chunk: Option<ChunkRange>,
    /// Write 8-bit video even from a 10-bit input (which otherwise stays 10-bit end to end).
    pub eight_bit: bool,
}

/// Where an output goes when the user names none: `STEM_xSCALE.EXT` in `out_dir`, or beside
/// the input. MOV and MKV inputs keep their container; everything else becomes MP4.
pub fn default_output_path(input: &Path, out_dir: Option<&Path>, scale: u32) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into());
    let ext = match input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some(e @ ("mov" | "mkv")) => e.to_string(),
        _ => "mp4".to_string(),
    };
    let dir = out_dir
        .map(Path::to_path_buf)
        .or_else(|| input.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(format!("{stem}_x{scale}.{ext}"))
}

impl OfflineJob {
    pub(super) fn check_paths(&self) -> Result<(), JobError> {
        media::output::container_for(&self.output)?;
        let same = match (self.input.canonicalize(), self.output.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(JobError::OutputIsInput(self.output.clone()));
        }
        if self.output.exists() && !self.overwrite {
            return Err(JobError::OutputExists(self.output.clone()));
        }
        let dir = match self.output.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(JobError::OutputDir {
                path: self.output.clone(),
                dir,
            });
        }
        Ok(())
    }

    /// The model to run and, for an SRVC file, its weights schedule: the file's model stream
    /// names its base model, which replaces the one asked for.
    fn model_and_schedule(
        &self,
        device: &ComputeDevice,
    ) -> Result<(Box<dyn crate::sr::model::SrModel>, Option<SrvcPlayback>), JobError> {
        let Some(bytes) = model_stream_of(&self.input)? else {
            return Ok((
                load_model(&self.model, self.scale, device)
                    .map_err(JobError::sr_at(&self.input))?,
                None,
            ));
        };
        let base = crate::sr::srvc::StreamReader::new(&bytes)
            .map_err(|source| SrvcPlaybackError::Stream {
                path: self.input.clone(),
                source,
            })?
            .header
            .base
            .clone();
        let model = load_model(&base, self.scale, device).map_err(|source| {
            SrvcPlaybackError::MissingBase {
                path: self.input.clone(),
                base: base.clone(),
                source,
            }
        })?;
        let playback = SrvcPlayback::new(&self.input, &bytes, model.as_ref())?;
        tracing::info!(
            "{}: SRVC file: upscaling with {} and its model stream",
            self.input.display(),
            playback.base()
        );
        Ok((model, Some(playback)))
    }

    /// Run the job to completion on three threads; `on_event` is called on the caller's thread.
    pub fn run(
        &self,
        cancel: Arc<AtomicBool>,
        on_event: &mut dyn FnMut(JobEvent),
    ) -> Result<JobReport, JobError> {
        self.check_paths()?;
        let mut device =
            ComputeDevice::select(self.device).map_err(JobError::sr_at(&self.input))?;
        if let Some(reason) = &device.fallback_reason {
            tracing::info!("SR on CPU: {reason}");
        }
        let decoder = self.open_decoder(&mut device)?;
        let (model, srvc) = self.model_and_schedule(&device)?;
        // an SRVC file's weights change along the file: one lane follows its schedule
        let plan = if srvc.is_some() || !model.copies_are_equivalent() {
            LanePlan::single()
        } else {
            LanePlan::for_device(&device)
        };
        self.check_memory(decoder.info(), plan)?;
        let upscaler = Upscaler::new(model, device.clone());

        let time_base = decoder.time_base();
        let info = decoder.info().clone();
        let (out_w, out_h) = upscaler.output_size(info.video.width, info.video.height);
        let writer = MediaWriter::create(
            &OutputPlan {
                path: self.output.clone(),
                width: out_w,
                height: out_h,
                encoder: self.encoder.clone(),
                quality: self.quality,
            },
            &decoder,
        )?;
        let start = self.job_start(&upscaler, plan, &writer, &info);
        on_event(JobEvent::Started(start.clone()));

        let stop = Arc::new(StopFlags {
            cancel,
            failed: AtomicBool::new(false),
        });
        let (decoded_tx, decoded_rx) = bounded(DECODED_QUEUE);
        let (upscaled_tx, upscaled_rx) = bounded(UPSCALED_QUEUE);
        let (progress_tx, progress_rx) = crossbeam_channel::unbounded();
        let started = Instant::now();

        let decode = self.start_stage("decode", &stop, {
            let stop = Arc::clone(&stop);
            let chunk = self.chunk;
            move || decode_stage(decoder, chunk, decoded_tx, &stop)
        })?;
        let lanes = self.start_lanes(upscaler, srvc.map(|s| (s, time_base)), plan, &device)?;
        let sr = self.start_stage("sr", &stop, {
            let stop = Arc::clone(&stop);
            let path = self.input.clone();
            move || sr_stage(lanes, decoded_rx, upscaled_tx, &stop, &path)
        })?;
        let encode = self.start_stage("encode", &stop, {
            let stop = Arc::clone(&stop);
            move || encode_stage(writer, upscaled_rx, progress_tx, &stop)
        })?;

        for frames_done in progress_rx.iter() {
            let fps = frame_rate(frames_done, started.elapsed());
            on_event(JobEvent::Progress(Progress::at(
                frames_done,
                start.total_frames,
                fps,
            )));
        }
        let frames = self.join_stages(decode, sr, encode)?;
        Ok(JobReport::finished(start, frames, started.elapsed()))
    }

    /// The input's decoder, positioned at the chunk's key frame; `device` goes to fp32 for a
    /// 10-bit input where bf16 would round it. The decoder comes first: it names what is wrong
    /// with a missing, empty or unreadable input.
    fn open_decoder(&self, device: &mut ComputeDevice) -> Result<VideoDecoder, JobError> {
        let mut decoder = VideoDecoder::open(&self.input)?;
        if !self.eight_bit {
            decoder.keep_high_bit_depth();
        }
        if decoder.sample_bits() > 8 && device.is_bf16() {
            // bf16 keeps 8 significant bits: 10-bit samples would come out with 8-bit steps
            if self.device.precision == Precision::Auto {
                tracing::info!(
                    "{}: 10-bit input, SR in fp32 (bf16 holds 8 bits)",
                    self.input.display()
                );
                *device = device
                    .clone()
                    .with_precision(Precision::Fp32)
                    .map_err(JobError::sr_at(&self.input))?;
            } else {
                tracing::warn!(
                    "{}: 10-bit input in bf16 (asked for): SR output has 8-bit precision",
                    self.input.display()
                );
            }
        }
        if let Some(chunk) = &self.chunk {
            decoder.video_only();
            if let Some(start) = chunk.start_pts {
                decoder.seek_to_key_frame(start)?;
            }
        }
        Ok(decoder)
    }

    /// What the job says once its input, model and encoder are open.
    fn job_start(
        &self,
        upscaler: &Upscaler,
        plan: LanePlan,
        writer: &MediaWriter,
        info: &media::MediaInfo,
    ) -> JobStart {
        let (width, height) = (info.video.width, info.video.height);
        JobStart {
            input: self.input.clone(),
            output: self.output.clone(),
            model: upscaler.model_name().to_string(),
            device: match plan.lanes {
                1 => upscaler.device().label(),
                n => format!("{}, {n} lanes", upscaler.device().label()),
            },
            encoder: writer.encoder_name().to_string(),
            skipped_encoders: writer.skipped_encoders().to_vec(),
            input_size: (width, height),
            output_size: upscaler.output_size(width, height),
            total_frames: self
                .chunk
                .map_or(info.video.frame_count, |c| Some(c.frames)),
        }
    }

    /// Wait for the three stages; the frames encoded, or the root cause of a failure (a
    /// stage's own failure beats the "cancelled" its neighbours saw).
    fn join_stages(
        &self,
        decode: Stage<StageResult<()>>,
        sr: Stage<StageResult<()>>,
        encode: Stage<StageResult<u64>>,
    ) -> Result<u64, JobError> {
        let decode_result = self.join_stage(decode);
        let sr_result = self.join_stage(sr);
        let encode_result = self.join_stage(encode);
        let upstream_failure = [decode_result.err(), sr_result.err()]
            .into_iter()
            .flatten()
            .find(|e| !matches!(e, JobError::Cancelled(_)));
        if let Some(e) = upstream_failure {
            return Err(e);
        }
        encode_result.map_err(|e| match e {
            JobError::Cancelled(_) => JobError::Cancelled(self.input.clone()),
            other => other,
        })
    }
}

impl OfflineJob {
    /// A stage on its own named thread. A failure (an error or a panic) raises the shared
    /// failed flag so the other stages stop early; the encoder's output is protected anyway,
    /// because it is finalised only after an explicit end of stream.
    fn start_stage<T: Send + 'static>(
        &self,
        name: &str,
        stop: &Arc<StopFlags>,
        body: impl FnOnce() -> StageResult<T> + Send + 'static,
    ) -> Result<Stage<StageResult<T>>, JobError> {
        let stop_on_failure = Arc::clone(stop);
        spawn_stage(name, move || {
            let failure = FailureFlag(&stop_on_failure.failed);
            let result = body();
            if matches!(&result, Ok(_) | Err(JobError::Cancelled(_))) {
                failure.disarm();
            }
            result
        })
        .map_err(|e| JobError::Internal {
            path: self.input.clone(),
            what: format!("cannot start {name} thread: {e}"),
        })
    }

    /// Refuse a job whose frames cannot fit in memory (before anything big is allocated).
    fn check_memory(&self, info: &media::MediaInfo, plan: LanePlan) -> Result<(), JobError> {
        let input = (info.video.width, info.video.height);
        let need = memory_budget::offline_need(input, self.scale, plan.lanes);
        match memory_budget::available() {
            Some(available) if need > available => Err(JobError::TooLarge {
                path: self.input.clone(),
                input,
                scale: self.scale,
                need_mib: need >> 20,
                available_mib: available >> 20,
            }),
            _ => Ok(()),
        }
    }

    /// The SR lanes: the first with `upscaler` (and the SRVC schedule, if any), the others
    /// with their own copy of the model.
    fn start_lanes(
        &self,
        upscaler: Upscaler,
        srvc: Option<(SrvcPlayback, media::TimeBase)>,
        plan: LanePlan,
        device: &ComputeDevice,
    ) -> Result<SrLanes, JobError> {
        let mut works = vec![match srvc {
            Some((playback, time_base)) => srvc_work(upscaler, playback, time_base),
            None => upscale_work(upscaler),
        }];
        for _ in 1..plan.lanes {
            let model = load_model(&self.model, self.scale, device)
                .map_err(JobError::sr_at(&self.input))?;
            works.push(upscale_work(Upscaler::new(model, device.clone())));
        }
        SrLanes::start(works, plan.threads_each).map_err(|e| JobError::Internal {
            path: self.input.clone(),
            what: format!("cannot start SR lanes: {e}"),
        })
    }

    fn join_stage<T>(&self, stage: Stage<StageResult<T>>) -> StageResult<T> {
        stage.join().unwrap_or_else(|panic| {
            Err(JobError::Internal {
                path: self.input.clone(),
                what: panic.to_string(),
            })
        })
    }
}

/// Raises the failed flag when dropped armed: on an error return and while a panic unwinds.
struct FailureFlag<'a>(&'a AtomicBool);

impl FailureFlag<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for FailureFlag<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
