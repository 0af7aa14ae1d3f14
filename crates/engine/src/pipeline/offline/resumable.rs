//! Resumable upscaling: a long video is upscaled chunk by chunk (chunks start at the source's
//! key frames, see [`crate::media::chunks`]) into a work folder beside the output, each part
//! written whole or not at all, then joined by stream copy with the source's audio and
//! subtitles. An interrupted job (Ctrl-C, a kill, a closed studio, a power cut) run again with
//! the same settings finds its finished parts and computes only the rest.
//!
//! The work folder `.NAME.resume/` holds `job.json` (what the parts were made from: the input's
//! size and modification time, the model, the encoder settings, the chunk plan) and
//! `part-K.EXT`. Anything that does not match starts the job over; the folder is removed when
//! the output is complete.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::media::chunks::{ChunkRange, Timeline};
use crate::media::MediaError;

use crate::pipeline::job::{frame_rate, JobError, JobEvent, JobReport, JobStart, Progress};
use crate::pipeline::offline::OfflineJob;

/// How a job is split for resuming.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumePolicy {
    /// Continue from the finished parts of an earlier run (false: start over).
    pub resume: bool,
    /// About this many seconds of video per chunk; a video shorter than two chunks is upscaled
    /// in one go (there would be nothing to resume from).
    pub chunk_seconds: f64,
}

impl Default for ResumePolicy {
    fn default() -> Self {
        Self {
            resume: true,
            chunk_seconds: 30.0,
        }
    }
}

/// What a resumable run did: chunks found finished and chunks computed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkTally {
    pub reused: usize,
    pub computed: usize,
}

/// The work folder of `output`: hidden, beside it.
pub fn work_folder(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    output.with_file_name(format!(".{name}.resume"))
}

/// Remove `output`'s work folder (a job the user cancelled, or one started over).
pub fn discard_work_folder(output: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(work_folder(output)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What the parts in a work folder were made from; a part is reused only under an equal one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    input: PathBuf,
    input_bytes: u64,
    input_modified_ns: u128,
    model: String,
    scale: u32,
    encoder: String,
    quality: String,
    /// (first pts, frames) of every chunk.
    chunks: Vec<(i64, u64)>,
}

impl Manifest {
    fn new(job: &OfflineJob, chunks: &[ChunkRange]) -> Result<Self, JobError> {
        let meta = std::fs::metadata(&job.input).map_err(|e| MediaError::Open {
            path: job.input.clone(),
            reason: e.to_string(),
        })?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            version: 1,
            input: job
                .input
                .canonicalize()
                .unwrap_or_else(|_| job.input.clone()),
            input_bytes: meta.len(),
            input_modified_ns: modified,
            model: job.model.clone(),
            scale: job.scale,
            encoder: format!("{:?}", job.encoder),
            quality: format!("{:?}", job.quality),
            chunks: chunks.iter().map(|c| (c.first_pts, c.frames)).collect(),
        })
    }
}

impl OfflineJob {
    /// Run the job chunk by chunk through a work folder when the video is long enough to be
    /// worth resuming; otherwise (or for a part, or an SRVC file whose weights follow the
    /// whole file) in one go.
    pub fn run_resumable(
        &self,
        policy: ResumePolicy,
        cancel: Arc<AtomicBool>,
        on_event: &mut dyn FnMut(JobEvent),
    ) -> Result<(JobReport, Option<ChunkTally>), JobError> {
        self.check_paths()?;
        if !policy.resume {
            discard_work_folder(&self.output).map_err(|e| self.write_error(&e))?;
        }
        let chunks = match self.chunk {
            Some(_) => None,
            // an input that cannot be read or planned gets its error from the one-go run,
            // whose decoder names what is wrong
            None if !matches!(
                crate::pipeline::srvc::playback::model_stream_of(&self.input),
                Ok(None)
            ) =>
            {
                None
            }
            None => resumable_chunks(&self.input, policy.chunk_seconds)
                .ok()
                .flatten(),
        };
        let Some(chunks) = chunks else {
            return Ok((self.run(cancel, on_event)?, None));
        };
        ChunkedRun::prepare(self, &chunks, policy)?.run(cancel, on_event)
    }

    fn write_error(&self, e: &dyn std::fmt::Display) -> JobError {
        JobError::Media(MediaError::Write {
            path: work_folder(&self.output),
            reason: e.to_string(),
        })
    }
}

/// About `chunk_seconds` of video per chunk, as the key frames allow; None below two chunks.
fn resumable_chunks(
    input: &Path,
    chunk_seconds: f64,
) -> Result<Option<Vec<ChunkRange>>, MediaError> {
    let timeline = Timeline::read(input)?;
    let wanted = (timeline.span_seconds() / chunk_seconds.max(1e-3)).round();
    let count = (wanted.min(f64::from(u32::MAX)) as u32).min(timeline.max_chunks());
    if count < 2 {
        return Ok(None);
    }
    timeline.plan(count).map(Some)
}

/// A chunked job and its work folder.
struct ChunkedRun<'a> {
    job: &'a OfflineJob,
    chunks: &'a [ChunkRange],
    folder: PathBuf,
    parts: Vec<PathBuf>,
}

impl<'a> ChunkedRun<'a> {
    /// Open (or start over) the work folder: parts from other settings or another input are
    /// removed, and so are the hidden temporaries of a run that was killed.
    fn prepare(
        job: &'a OfflineJob,
        chunks: &'a [ChunkRange],
        policy: ResumePolicy,
    ) -> Result<Self, JobError> {
        let folder = work_folder(&job.output);
        let manifest = Manifest::new(job, chunks)?;
        let manifest_path = folder.join("job.json");
        let earlier: Option<Manifest> = std::fs::read(&manifest_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if earlier.as_ref() != Some(&manifest) || !policy.resume {
            if earlier.is_some() {
                tracing::warn!(
                    "{}: made with other settings or from another input; starting over",
                    folder.display()
                );
            }
            discard_work_folder(&job.output).map_err(|e| job.write_error(&e))?;
            std::fs::create_dir_all(&folder).map_err(|e| job.write_error(&e))?;
            let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
            crate::atomic_file::write_atomically(&manifest_path, &json)
                .map_err(|e| job.write_error(&e))?;
        }
        remove_temporaries(&folder);
        let ext = job
            .output
            .extension()
            .map_or("mp4".into(), |e| e.to_string_lossy().into_owned());
        let parts = (0..chunks.len())
            .map(|k| folder.join(format!("part-{k:04}.{ext}")))
            .collect();
        Ok(Self {
            job,
            chunks,
            folder,
            parts,
        })
    }

    fn run(
        self,
        cancel: Arc<AtomicBool>,
        on_event: &mut dyn FnMut(JobEvent),
    ) -> Result<(JobReport, Option<ChunkTally>), JobError> {
        let total: u64 = self.chunks.iter().map(|c| c.frames).sum();
        let finished: Vec<bool> = self.parts.iter().map(|p| p.is_file()).collect();
        let tally = ChunkTally {
            reused: finished.iter().filter(|&&f| f).count(),
            computed: finished.iter().filter(|&&f| !f).count(),
        };
        if tally.reused > 0 {
            tracing::info!(
                "{}: resuming: {} of {} chunks already done",
                self.job.output.display(),
                tally.reused,
                self.chunks.len()
            );
        }
        let started = Instant::now();
        let mut frames_before: u64 = 0;
        let mut computed_frames: u64 = 0;
        let mut report = None;
        for (k, chunk) in self.chunks.iter().enumerate() {
            if finished[k] {
                frames_before += chunk.frames;
                continue;
            }
            let part_job = OfflineJob {
                output: self.parts[k].clone(),
                overwrite: true,
                chunk: Some(*chunk),
                ..self.job.clone()
            };
            let first_computed = report.is_none();
            let part = part_job.run(Arc::clone(&cancel), &mut |event| match event {
                // The job as the user sees it: the whole file, the final output.
                JobEvent::Started(mut start) if first_computed => {
                    start.output = self.job.output.clone();
                    start.total_frames = Some(total);
                    on_event(JobEvent::Started(start));
                }
                JobEvent::Started(_) => {}
                JobEvent::Progress(p) => {
                    // the rate counts only the frames this run computed, not the parts it found
                    let fps = frame_rate(computed_frames + p.frames_done, started.elapsed());
                    let frames_done = frames_before + p.frames_done;
                    on_event(JobEvent::Progress(
                        Progress::at(frames_done, Some(total), fps).with_detail(p.detail),
                    ));
                }
            })?;
            frames_before += part.frames;
            computed_frames += part.frames;
            report.get_or_insert(part);
        }
        let mut report = match report {
            Some(r) => r,
            // every part was done (the run was stopped while joining them)
            None => finished_report(self.job)?,
        };
        crate::media::concat::concat(&self.parts, &self.job.input, &self.job.output)?;
        if let Err(e) = std::fs::remove_dir_all(&self.folder) {
            tracing::warn!("{}: cannot remove: {e}", self.folder.display());
        }
        report.start.output = self.job.output.clone();
        report.start.total_frames = Some(total);
        report.frames = total;
        report.elapsed = started.elapsed();
        report.fps = computed_frames as f64 / report.elapsed.as_secs_f64().max(1e-6);
        Ok((report, Some(tally)))
    }
}

/// The report of a job whose parts were all made by an earlier run.
fn finished_report(job: &OfflineJob) -> Result<JobReport, JobError> {
    let info = crate::media::probe(&job.input)?;
    let (w, h) = (info.video.width, info.video.height);
    Ok(JobReport {
        start: JobStart {
            input: job.input.clone(),
            output: job.output.clone(),
            model: job.model.clone(),
            device: "none (every chunk was done)".into(),
            encoder: "stream copy".into(),
            skipped_encoders: Vec::new(),
            input_size: (w, h),
            output_size: (w * job.scale, h * job.scale),
            total_frames: info.video.frame_count,
        },
        frames: 0,
        elapsed: Duration::ZERO,
        fps: 0.0,
    })
}

/// Hidden temporaries (`.NAME.PID-N.partial`) a killed run left in the work folder.
fn remove_temporaries(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(crate::atomic_file::PARTIAL_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
