//! A live session's decode stage: H.264 access units in, pictures (checked against the live
//! limits and fitted to the session's size) into the SR queue, units to the input recorder,
//! HR patches to the learner and the patch folder, and the rate controller's asks to the
//! sender.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::frame::YuvFrame;
use crate::media::h264::{EncodedUnit, H264StreamDecoder};
use crate::media::ingest::StreamDescription;
use stronglive_wire::annexb;

use crate::pipeline::live::adapt::AdaptFeed;
use crate::pipeline::live::controller::{Ask, ControlLoop, RateDecision};
use crate::pipeline::live::handoff::QueueProducer;
use crate::pipeline::live::metrics::SessionMetrics;
use crate::pipeline::live::patches::{PatchDesk, PatchRefused};
use crate::pipeline::live::port::{HrPatch, IngestItem, SenderControl, SenderRequest};
use crate::pipeline::live::report::{SessionProblem, StageOutcome, StreamRefusal};
use crate::pipeline::live::stream_size::StreamSizeKeeper;
use crate::pipeline::live::takes::Recorder;
use crate::pipeline::live::upscaling::DecodedFrame;

/// The largest live input SR takes (by area; x4 makes it 7680x4352): a phone streams at most
/// 1080p, and the memory of a session is sized by it. Larger streams are refused by name.
pub const MAX_LIVE_INPUT: (u32, u32) = (1920, 1088);

/// The decode stage's state: H.264 units in, frames into the SR queue, units to the recorder.
pub(super) struct Decoding {
    session: u64,
    queue: QueueProducer<DecodedFrame>,
    recorder: Recorder<(EncodedUnit, StreamDescription)>,
    metrics: Arc<SessionMetrics>,
    sender: SenderControl,
    /// Admits the HR patches that were asked for (`None`: none were, all are refused).
    pub(super) patch_desk: Option<Arc<PatchDesk>>,
    description: StreamDescription,
    /// Parameter sets from the config go in front of the next unit the decoder sees.
    pending_sets: Vec<u8>,
    last_key_request: Option<Instant>,
    errors_seen: u64,
    frames_seen: u64,
    outcome: StageOutcome,
    pub(super) learning: Option<AdaptFeed>,
    /// Asks the sender for fewer bits or a smaller picture when the session falls behind (see
    /// `controller`); made at the first stream config and kept across the sender's
    /// reconfigurations (which its own requests cause).
    control: Option<ControlLoop>,
    /// The session's picture size while the stream's changes.
    pub(super) size: StreamSizeKeeper,
}

impl Decoding {
    pub(super) fn new(
        session: u64,
        queue: QueueProducer<DecodedFrame>,
        recorder: Recorder<(EncodedUnit, StreamDescription)>,
        metrics: Arc<SessionMetrics>,
        sender: SenderControl,
    ) -> Self {
        Self {
            session,
            queue,
            recorder,
            metrics,
            sender,
            patch_desk: None,
            description: StreamDescription {
                width: 0,
                height: 0,
                fps: 0.0,
                bitrate: 0,
                parameter_sets: Vec::new(),
            },
            pending_sets: Vec::new(),
            last_key_request: None,
            errors_seen: 0,
            frames_seen: 0,
            outcome: StageOutcome::default(),
            learning: None,
            control: None,
            size: StreamSizeKeeper::default(),
        }
    }

    pub(super) fn run(mut self, rx: Receiver<IngestItem>) -> StageOutcome {
        let mut decoder = match H264StreamDecoder::new() {
            Ok(d) => d,
            Err(e) => {
                self.outcome
                    .problems
                    .push(SessionProblem::DecoderUnavailable(e.into()));
                return self.outcome;
            }
        };
        for item in rx.iter() {
            match item {
                IngestItem::Config(d) => {
                    if let Some(request) = self.size.on_config(&d) {
                        (self.sender)(request);
                    }
                    self.pending_sets = d.parameter_sets.clone();
                    if self.control.is_none() {
                        let size = self.size.capped((d.width, d.height));
                        self.control = Some(ControlLoop::new(d.bitrate, size));
                    }
                    self.description = d;
                    if let Some(desk) = &self.patch_desk {
                        desk.stream_started();
                    }
                }
                IngestItem::Patch(patch) => self.keep_patch(&patch),
                IngestItem::Unit { unit, received } => {
                    if let Err(refused) = self.decode_unit(&mut decoder, &unit, received) {
                        // Dropping the receiver ends the session: the peer's next unit finds
                        // it stopped. What was decoded so far still goes out and is recorded.
                        tracing::warn!("{}: {refused}", self.metrics.label());
                        self.outcome.problems.push(refused);
                        break;
                    }
                    self.record_unit(unit);
                }
            }
        }
        drop(rx);
        for frame in decoder.flush() {
            if self.size_allowed(&frame).is_ok() {
                self.hand_to_sr(frame, Instant::now());
            }
        }
        self.queue.finish();
        self.recorder.end();
        self.outcome
    }

    fn keep_patch(&mut self, patch: &HrPatch) {
        self.metrics.on_patch();
        let admitted = match &self.patch_desk {
            Some(desk) => desk.admit(patch),
            None => Err(PatchRefused::NotAsked),
        };
        let used = admitted.and_then(|()| match &self.learning {
            Some(feed) => feed.offer(patch),
            None => Ok(()),
        });
        if let Err(why) = used {
            tracing::debug!(
                "{}: HR patch ({},{}) {}x{} of frame {} us refused: {why}",
                self.metrics.label(),
                patch.x,
                patch.y,
                patch.width,
                patch.height,
                patch.frame_pts_us
            );
            self.metrics.on_patch_refused();
            if !matches!(
                why,
                PatchRefused::UnknownFrame { .. } | PatchRefused::LearnerBehind
            ) {
                return;
            }
        }
        if let Some(dir) = self.recorder.dir() {
            let dir = dir.join(format!("session-{}-patches", self.session));
            if let Err(problem) = save_patch(&dir, patch) {
                self.outcome.problems.push(problem);
            }
        }
    }

    /// A decoded picture SR may take: within the live limit and no larger than the stream
    /// announced (or, without an announcement, than its first picture).
    fn size_allowed(&self, frame: &YuvFrame) -> Result<(), StreamRefusal> {
        let size = (frame.width, frame.height);
        let limit = MAX_LIVE_INPUT;
        if u64::from(size.0) * u64::from(size.1) > u64::from(limit.0) * u64::from(limit.1) {
            return Err(StreamRefusal::OverLiveLimit { size, limit });
        }
        let announced = (self.description.width, self.description.height);
        if announced.0 > 0 && (size.0 > announced.0 || size.1 > announced.1) {
            return Err(StreamRefusal::LargerThanAnnounced { size, announced });
        }
        Ok(())
    }

    fn decode_unit(
        &mut self,
        decoder: &mut H264StreamDecoder,
        unit: &EncodedUnit,
        received: Instant,
    ) -> Result<(), SessionProblem> {
        if annexb::nal_units(&unit.data)
            .iter()
            .any(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS))
        {
            self.description.parameter_sets = annexb::parameter_sets(&unit.data);
        }
        let started = Instant::now();
        let frames = if self.pending_sets.is_empty() {
            decoder.decode(&unit.data, unit.pts_us)
        } else {
            let mut with_sets = std::mem::take(&mut self.pending_sets);
            with_sets.extend_from_slice(&unit.data);
            decoder.decode(&with_sets, unit.pts_us)
        };
        let decode_time = started.elapsed();
        if decoder.errors > self.errors_seen {
            self.metrics
                .on_decode_errors(decoder.errors - self.errors_seen);
            self.errors_seen = decoder.errors;
            tracing::warn!(
                "{}: corrupt H.264 ({}); waiting for the next key frame",
                self.metrics.label(),
                decoder.last_error.as_deref().unwrap_or("?")
            );
            if self
                .last_key_request
                .is_none_or(|t| t.elapsed() > Duration::from_secs(1))
            {
                self.last_key_request = Some(Instant::now());
                (self.sender)(SenderRequest::KeyFrame);
            }
        }
        self.frames_seen += frames.len() as u64;
        if let Some(control) = &mut self.control {
            control.on_unit(decode_time, started.saturating_duration_since(received));
        }
        for frame in frames {
            self.size_allowed(&frame)
                .map_err(SessionProblem::StreamRefused)?;
            if self.description.width == 0 {
                self.description.width = frame.width;
                self.description.height = frame.height;
            }
            self.metrics
                .on_decoded(decode_time, (frame.width, frame.height));
            let frame = self
                .size
                .fit(frame)
                .map_err(|e| SessionProblem::StreamRefused(StreamRefusal::Resize(Arc::new(e))))?;
            let dropped = self.hand_to_sr(frame, received);
            if let Some(control) = &mut self.control {
                control.on_frame();
                if dropped {
                    control.on_dropped();
                }
            }
            if dropped {
                self.metrics.on_sr_dropped();
            }
            self.metrics.set_sr_queue_depth(self.queue.len());
        }
        self.steer_stream();
        Ok(())
    }

    /// The rate controller's decision for the period just ended, sent and shown.
    fn steer_stream(&mut self) {
        let interval = Duration::from_secs_f64(1.0 / self.description.fps_or_default());
        let (backlog, capacity) = (self.queue.len(), self.queue.capacity());
        let Some(control) = &mut self.control else {
            return;
        };
        let Some(RateDecision { ask, why }) = control.tick(interval, backlog, capacity) else {
            return;
        };
        let label = self.metrics.label();
        match ask {
            Ask::Bitrate(bps) => {
                tracing::info!(
                    "{label}: asking the sender for {:.2} Mbit/s ({why})",
                    bps as f64 / 1e6
                );
                let bits_per_second = u32::try_from(bps).unwrap_or(u32::MAX);
                (self.sender)(SenderRequest::Bitrate { bits_per_second });
                self.metrics.on_bitrate_asked(bps, why);
            }
            Ask::StreamSize(width, height) => {
                tracing::info!("{label}: asking the sender for {width}x{height} pictures ({why})");
                (self.sender)(SenderRequest::StreamSize { width, height });
                self.metrics.on_stream_size_asked((width, height), why);
            }
        }
    }

    /// A decoded frame, timed by the stream's frame rate, shown to the learner (which says
    /// which scene it belongs to) and queued for SR; true when the queue dropped an older one.
    fn hand_to_sr(&mut self, mut frame: YuvFrame, received: Instant) -> bool {
        frame.duration = (1e6 / self.description.fps_or_default()).round() as i64;
        let frame = Arc::new(frame);
        let scene = self
            .learning
            .as_mut()
            .map_or(0, |feed| feed.remember(Arc::clone(&frame)));
        self.queue.push(DecodedFrame {
            frame,
            received,
            scene,
        })
    }

    fn record_unit(&mut self, unit: EncodedUnit) {
        let was_recording = self.recorder.active();
        if !self.recorder.follow(self.session, "input.mp4") {
            return;
        }
        if !was_recording && self.frames_seen > 0 {
            // A take that starts mid-stream needs a key frame to begin with.
            (self.sender)(SenderRequest::KeyFrame);
        }
        // Units go out once the stream's size is known (after its first picture).
        if self.description.width > 0 {
            self.recorder.send((unit, self.description.clone()));
        }
    }
}

/// `DIR/PTS_X_Y.png`, written whole (temporary name, then rename).
pub(crate) fn save_patch(dir: &Path, patch: &HrPatch) -> Result<(), SessionProblem> {
    let name = format!(
        "{:012}_{}_{}.{}",
        patch.frame_pts_us, patch.x, patch.y, patch.extension
    );
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .and_then(|()| crate::atomic_file::write_atomically(&path, &patch.data))
        .map_err(|e| SessionProblem::PatchNotSaved {
            path,
            reason: Arc::new(e),
        })
}
