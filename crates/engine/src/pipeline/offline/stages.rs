//! The offline job's stages, each on its own named thread: decode (a chunk's frames only, when
//! the job is a part), SR (frames dealt to lanes, everything forwarded in the decoder's order)
//! and encode (finalised only after an explicit end of stream).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::media::chunks::ChunkRange;
use crate::media::{DemuxItem, MediaError, MediaWriter, TimeBase, VideoDecoder};
use crate::sr::{SrError, Upscaler};

use crate::pipeline::job::JobError;
use crate::pipeline::offline::sr_lanes::{LaneStopped, LaneWork, SrLanes};
use crate::pipeline::srvc::playback::SrvcPlayback;
use crate::pipeline::stage::Flow;

/// What a stage returns: its result, or the job's error.
pub(super) type StageResult<T> = Result<T, JobError>;

/// Shared stop state: the user's cancel flag, and a flag any failing stage raises so the others
/// stop and the encoder abandons (rather than finalises) a partial output.
pub(super) struct StopFlags {
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) failed: AtomicBool,
}

impl StopFlags {
    pub(super) fn stop_requested(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed)
    }
}

/// Everything the decoder hands out, or (a chunk) the frames whose presentation time falls in
/// the chunk: the decoder runs on past the chunk's end until a later frame comes out, so frames
/// that follow the boundary in decode order but precede it in time are not lost.
pub(super) fn decode_stage(
    mut decoder: VideoDecoder,
    chunk: Option<ChunkRange>,
    tx: Sender<Flow<DemuxItem>>,
    stop: &StopFlags,
) -> StageResult<()> {
    let path = decoder.info().path.clone();
    let mut first = true;
    let mut frames = 0u64;
    while let Some(item) = decoder.next_item()? {
        if let (Some(range), DemuxItem::Frame(frame)) = (&chunk, &item) {
            let pts = frame.pts.unwrap_or(i64::MIN);
            if range.end_pts.is_some_and(|end| pts >= end) {
                break;
            }
            if !range.contains(pts) {
                continue;
            }
            frames += 1;
            if std::mem::take(&mut first) && pts != range.first_pts {
                return Err(JobError::Media(MediaError::Open {
                    path,
                    reason: format!(
                        "the chunk should start at pts {} but decoding from its key frame \
                         begins at {pts}",
                        range.first_pts
                    ),
                }));
            }
        }
        if stop.stop_requested() || tx.send(Flow::Item(item)).is_err() {
            return Err(JobError::Cancelled(path));
        }
    }
    if let Some(range) = chunk.filter(|r| r.frames != frames) {
        return Err(JobError::Media(MediaError::Decode {
            path,
            frame: frames,
            reason: format!(
                "the chunk has {} frames, {frames} were decoded",
                range.frames
            ),
        }));
    }
    tx.send(Flow::End)
        .map_err(|_| JobError::Cancelled(path.clone()))
}

/// A lane's work in an SRVC file: switch to the segment's weights where one starts, upscale.
pub(super) fn srvc_work(
    upscaler: Upscaler,
    mut playback: SrvcPlayback,
    time_base: TimeBase,
) -> LaneWork {
    Box::new(move |frame| {
        if let Some(weights) = playback.weights_at(time_base.pts_us(frame.pts)) {
            let network = upscaler
                .model()
                .as_network()
                .ok_or_else(|| SrError::ModelRun {
                    model: upscaler.model_name().to_string(),
                    reason: "an SRVC base that is not a network".into(),
                })?;
            network.set_weights(&weights)?;
        }
        upscaler.upscale(&frame)
    })
}

/// What the SR stage forwards, in the decoder's order: items passed through as they are, and
/// frames a lane is upscaling.
enum Pending {
    Ready(DemuxItem),
    InLane,
}

/// Deals frames to the lanes and forwards everything in the decoder's order, at most one frame
/// per lane in flight. Passes the end of stream on only when it received one: a decoder that
/// died mid-file must not look like a file that ended.
pub(super) fn sr_stage(
    mut lanes: SrLanes,
    rx: Receiver<Flow<DemuxItem>>,
    tx: Sender<Flow<DemuxItem>>,
    stop: &StopFlags,
    path: &Path,
) -> StageResult<()> {
    let mut pending = VecDeque::new();
    let result = (|| {
        for message in rx.iter() {
            if stop.stop_requested() {
                return Err(JobError::Cancelled(path.to_path_buf()));
            }
            match message {
                Flow::Item(DemuxItem::Frame(frame)) => {
                    lanes.submit(frame).map_err(|e| lane_error(path, e))?;
                    pending.push_back(Pending::InLane);
                }
                Flow::Item(packet) => pending.push_back(Pending::Ready(packet)),
                Flow::End => {
                    forward_pending(&mut lanes, &mut pending, 0, &tx, path)?;
                    return tx
                        .send(Flow::End)
                        .map_err(|_| JobError::Cancelled(path.to_path_buf()));
                }
            }
            let lane_count = lanes.len();
            forward_pending(&mut lanes, &mut pending, lane_count, &tx, path)?;
        }
        Err(JobError::Internal {
            path: path.to_path_buf(),
            what: "the decoder stopped without reaching the end of the file".into(),
        })
    })();
    let finished = lanes.finish().map_err(|e| lane_error(path, e));
    result.and(finished)
}

/// Forward the oldest pending items until fewer than `keep_in_flight` frames are in lanes
/// (0: everything).
fn forward_pending(
    lanes: &mut SrLanes,
    pending: &mut VecDeque<Pending>,
    keep_in_flight: usize,
    tx: &Sender<Flow<DemuxItem>>,
    path: &Path,
) -> StageResult<()> {
    loop {
        match pending.front() {
            None => return Ok(()),
            // the oldest frame stays in its lane while fewer than `keep_in_flight` are
            Some(Pending::InLane) if lanes.in_flight() < keep_in_flight.max(1) => return Ok(()),
            Some(_) => {}
        }
        let item = match pending.pop_front().expect("the front was just seen") {
            Pending::Ready(item) => item,
            Pending::InLane => {
                let result = lanes
                    .next_result()
                    .expect("a pending frame is in a lane")
                    .map_err(|e| lane_error(path, e))?;
                DemuxItem::Frame(result.map_err(JobError::sr_at(path))?)
            }
        };
        if tx.send(Flow::Item(item)).is_err() {
            return Err(JobError::Cancelled(path.to_path_buf()));
        }
    }
}

fn lane_error(path: &Path, e: LaneStopped) -> JobError {
    JobError::Internal {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

/// Returns the number of frames written. The output is finalised only after the explicit end
/// of stream, and only if no stage failed and nobody cancelled; otherwise the writer is
/// dropped and its temporary file removed.
pub(super) fn encode_stage(
    mut writer: MediaWriter,
    rx: Receiver<Flow<DemuxItem>>,
    progress: Sender<u64>,
    stop: &StopFlags,
) -> StageResult<u64> {
    let mut frames = 0u64;
    let mut reached_end = false;
    for message in rx.iter() {
        if stop.stop_requested() {
            break;
        }
        match message {
            Flow::Item(DemuxItem::Frame(frame)) => {
                writer.write_frame(&frame)?;
                frames += 1;
                let _ = progress.send(frames);
            }
            Flow::Item(DemuxItem::Packet(packet)) => writer.write_passthrough(packet)?,
            Flow::End => {
                reached_end = true;
                break;
            }
        }
    }
    // A channel that closed without End means an upstream stage died (possibly before it
    // could raise the flag): the output would be truncated, so it is abandoned.
    if !reached_end || stop.stop_requested() {
        return Err(JobError::Cancelled(PathBuf::new()));
    }
    writer.finish()?;
    Ok(frames)
}
