//! Content-adaptive compression as a job of the common contract (`pipeline::job`): the same
//! `JobStart` / `Progress` / `JobReport` / `JobError` an upscale job gives, so the studio's queue
//! runs either without knowing what is inside. Progress is counted in frames, reported after
//! each segment, with the segment's gain and loss as its detail.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::pipeline::job::{frame_rate, JobError, JobEvent, JobReport, JobStart, Progress};
use crate::pipeline::srvc::encode::{srvc_encode, SegmentReport, SrvcOptions};
use crate::sr::{ComputeDevice, DevicePreference};

/// An HR video in, its LR video plus model stream out (one .mkv).
#[derive(Debug, Clone)]
pub struct SrvcJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub options: SrvcOptions,
    pub device: DevicePreference,
}

impl SrvcJob {
    /// Run the job to completion; `on_event` is called on the caller's thread, `cancel` is read
    /// between segments.
    pub fn run(
        &self,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(JobEvent),
    ) -> Result<JobReport, JobError> {
        let device = ComputeDevice::select(self.device).map_err(JobError::sr_at(&self.input))?;
        let info = crate::media::probe(&self.input)?;
        let (w, h) = (info.video.width, info.video.height);
        let total_frames = info.video.frame_count;
        let start = JobStart {
            input: self.input.clone(),
            output: self.output.clone(),
            model: format!("{} (SRVC)", self.options.base),
            device: device.label(),
            encoder: "libx265 + model stream".into(),
            skipped_encoders: Vec::new(),
            input_size: (w, h),
            output_size: (w / self.options.scale, h / self.options.scale),
            total_frames,
        };
        on_event(JobEvent::Started(start.clone()));
        let started = Instant::now();
        let mut frames = 0u64;
        srvc_encode(
            &self.input,
            &self.output,
            &self.options,
            &device,
            cancel,
            |segment| {
                frames += segment.frames as u64;
                let fps = frame_rate(frames, started.elapsed());
                on_event(JobEvent::Progress(
                    Progress::at(frames, total_frames, fps)
                        .with_detail(Some(segment_detail(segment))),
                ));
            },
        )?;
        Ok(JobReport::finished(start, frames, started.elapsed()))
    }
}

/// One segment as a queue shows it: its gain over the base model and its loss.
fn segment_detail(segment: &SegmentReport) -> String {
    let sent = segment
        .note()
        .unwrap_or_else(|| format!("{} changes", segment.changes));
    format!(
        "segment {}: {:+.2} dB over the base, loss {:.4}, {sent}",
        segment.index + 1,
        segment.srvc_db - segment.base_db,
        segment.loss
    )
}
