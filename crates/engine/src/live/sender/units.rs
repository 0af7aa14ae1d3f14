//! The reference sender's sending loop: units paced at their timestamps on a timeline that
//! continues across repeats, the server's feedback honoured (key frames, stream size), HR
//! patches and stats on their own clocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::connection::Connection;
use super::feedback::Feedback;
use super::options::{SendError, SendOptions};
use crate::live::protocol::{Codec, Message, PatchFormat};
use crate::media::h264::EncodedUnit;
use crate::media::ingest::{SenderSource, StreamDescription};
use crate::media::picture;

/// HR patches are placed and sized on this grid (the x4 scale), so LR crops are exact.
const PATCH_GRID: u32 = 4;
/// At most this often a requested patch goes out (5 per second), each from the frame just sent.
const PATCH_INTERVAL: Duration = Duration::from_millis(200);

/// The most detailed `size` x `size` square of the source's newest HR frame, as an HrPatch
/// message; `None` when the source has no frames larger than the stream.
fn hr_patch(
    source: &SenderSource,
    size: u16,
    ordinal: u64,
    timeline: &Timeline,
) -> Option<Message> {
    let (frame, _) = source.newest_hr_frame()?;
    let size = u32::from(size) & !(PATCH_GRID - 1);
    if size == 0 || size > frame.width || size > frame.height {
        return None;
    }
    // Mostly the most detailed square (where SR has most to learn), every third one a
    // pseudo-random square so flat and mid-detail regions are not ignored.
    let (x, y) = if ordinal % 3 == 2 {
        let r = ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let x = (r >> 16) as u32 % (frame.width - size + 1);
        let y = (r >> 40) as u32 % (frame.height - size + 1);
        (x, y)
    } else {
        picture::most_detailed_square(frame, size)?
    };
    // On the x4 grid, so the LR crop at (x/4, y/4) is exactly the same picture region.
    let (x, y) = (x & !(PATCH_GRID - 1), y & !(PATCH_GRID - 1));
    let crop = picture::crop(frame, x, y, size, size)?;
    let data = picture::encode_png(&crop).ok()?;
    Some(Message::HrPatch {
        // The patch comes from the frame whose unit was just sent: its pts on the wire (the
        // encoder's time base may have rounded the source pts).
        frame_pts_us: timeline.last_pts,
        x: x as u16,
        y: y as u16,
        width: crop.width as u16,
        height: crop.height as u16,
        format: PatchFormat::Png,
        data,
    })
}

pub(super) fn stream_config(description: &StreamDescription) -> Message {
    let fps_milli = (description.fps * 1000.0).round() as u32;
    Message::StreamConfig {
        codec: Codec::H264,
        width: description.width as u16,
        height: description.height as u16,
        fps_num: fps_milli,
        fps_den: 1000,
        bitrate: description.bitrate.min(u64::from(u32::MAX)) as u32,
        parameter_sets: description.parameter_sets.clone(),
    }
}

/// Where the unit timestamps go: each pass of the source starts where the previous one ended,
/// and pacing follows them from the first unit sent.
#[derive(Default)]
struct Timeline {
    pts_offset: i64,
    last_pts: i64,
    /// The source pts of the first unit of this pass.
    pass_start_pts: Option<i64>,
    /// The first pts sent, the pacing origin.
    first_pts: Option<i64>,
}

impl Timeline {
    fn place(&mut self, unit: &mut EncodedUnit) {
        let first_of_pass = *self.pass_start_pts.get_or_insert(unit.pts_us);
        unit.pts_us = unit.pts_us - first_of_pass + self.pts_offset;
        self.last_pts = unit.pts_us;
    }

    /// Continue the timeline one frame after the last unit of this pass.
    fn next_pass(&mut self, fps: f64) {
        self.pts_offset = self.last_pts + (1e6 / fps.max(1.0)) as i64;
        self.pass_start_pts = None;
    }

    /// Sleep until `pts_us` is due, counting from `started`.
    fn wait_for(&mut self, pts_us: i64, started: Instant) {
        let first = *self.first_pts.get_or_insert(pts_us);
        let due = started + Duration::from_micros((pts_us - first).max(0) as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
}

/// The sending loop's state: units out, feedback honoured, patches and stats on their clocks.
pub(super) struct UnitLoop<'a> {
    options: &'a SendOptions,
    pub(super) source: SenderSource,
    fps: f64,
    timeline: Timeline,
    pub(super) started: Instant,
    last_stats: Instant,
    last_patch: Option<Instant>,
    pub(super) frames_sent: u64,
    pub(super) bytes_sent: u64,
    pub(super) patches_sent: u64,
    /// Key-frame requests already passed on to the source.
    key_requests_honoured: u64,
    /// Stream sizes switched to at the server's request.
    pub(super) resized_to: Vec<(u32, u32)>,
}

impl<'a> UnitLoop<'a> {
    pub(super) fn new(options: &'a SendOptions, source: SenderSource, fps: f64) -> Self {
        Self {
            options,
            source,
            fps,
            timeline: Timeline::default(),
            started: Instant::now(),
            last_stats: Instant::now(),
            last_patch: None,
            frames_sent: 0,
            bytes_sent: 0,
            patches_sent: 0,
            key_requests_honoured: 0,
            resized_to: Vec::new(),
        }
    }

    pub(super) fn run(
        &mut self,
        connection: &Connection,
        stop: &AtomicBool,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        loop {
            if stop.load(Ordering::Relaxed) || feedback.server_said_bye() {
                return Ok(());
            }
            if self
                .options
                .max_frames
                .is_some_and(|m| self.frames_sent >= m)
            {
                return Ok(());
            }
            self.honour_key_frame_requests(feedback);
            self.honour_stream_size_request(connection, feedback)?;
            let Some(mut unit) = self.source.next_unit()? else {
                if self.options.repeat && self.frames_sent > 0 {
                    self.start_next_pass()?;
                    continue;
                }
                return Ok(());
            };
            self.timeline.place(&mut unit);
            self.send_unit(connection, unit)?;
            self.send_requested_patch(connection, feedback)?;
            self.send_stats(connection);
        }
    }

    fn honour_key_frame_requests(&mut self, feedback: &Feedback) {
        let requests = feedback.key_requests.load(Ordering::Relaxed);
        if requests > self.key_requests_honoured {
            self.key_requests_honoured = requests;
            if !self.source.request_key_frame() {
                tracing::debug!("key frame requested; a stream copy cannot make one");
            }
        }
    }

    /// A TargetStreamSize: the units the old encoder held, then a new StreamConfig; the next
    /// unit is the new encoder's first, an IDR at the new size.
    fn honour_stream_size_request(
        &mut self,
        connection: &Connection,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        let Some((w, h)) = feedback.take_stream_size_request() else {
            return Ok(());
        };
        let limit = (w > 0 && h > 0).then_some((u32::from(w), u32::from(h)));
        let Some((held, description)) = self.source.limit_size(limit)? else {
            tracing::info!("server asked for at most {w}x{h}: nothing to change");
            return Ok(());
        };
        for mut unit in held {
            self.timeline.place(&mut unit);
            self.send_unit(connection, unit)?;
        }
        tracing::info!(
            "server asked for at most {w}x{h}: now streaming {}x{}",
            description.width,
            description.height
        );
        self.resized_to
            .push((description.width, description.height));
        connection.send(&stream_config(&description))
    }

    /// `--repeat`: open the source again, its timestamps continuing this pass's.
    fn start_next_pass(&mut self) -> Result<(), SendError> {
        self.timeline.next_pass(self.fps);
        let options = self.options;
        (self.source, _) =
            SenderSource::open(&options.source, options.bitrate, options.stream_size)?;
        Ok(())
    }

    fn send_unit(&mut self, connection: &Connection, unit: EncodedUnit) -> Result<(), SendError> {
        if self.options.pace {
            self.timeline.wait_for(unit.pts_us, self.started);
        }
        self.bytes_sent += unit.data.len() as u64;
        connection.send(&Message::VideoUnit {
            pts_us: unit.pts_us,
            key: unit.key,
            data: unit.data,
        })?;
        self.frames_sent += 1;
        Ok(())
    }

    /// Requested HR patches go out at most five per second, each from the frame just sent.
    fn send_requested_patch(
        &mut self,
        connection: &Connection,
        feedback: &Feedback,
    ) -> Result<(), SendError> {
        let Some(request) = feedback.patch_request().filter(|r| r.count > 0) else {
            return Ok(());
        };
        if self
            .last_patch
            .is_some_and(|t| t.elapsed() < PATCH_INTERVAL)
        {
            return Ok(());
        }
        self.last_patch = Some(Instant::now());
        match hr_patch(
            &self.source,
            request.size,
            self.patches_sent,
            &self.timeline,
        ) {
            Some(patch) => {
                connection.send(&patch)?;
                feedback.patch_sent();
                self.patches_sent += 1;
            }
            None => {
                tracing::warn!(
                    "the server asked for {} HR patches; this source has no frames larger than the stream (use --stream-size below the source size)",
                    request.count
                );
                feedback.clear_patch_request();
            }
        }
        Ok(())
    }

    /// Stats once a second; a lost Stats message is not an error.
    fn send_stats(&mut self, connection: &Connection) {
        if self.last_stats.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_stats = Instant::now();
        let fps = self.frames_sent as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let _ = connection.send(&Message::Stats {
            frames_sent: self.frames_sent,
            bytes_sent: self.bytes_sent,
            frames_dropped: 0,
            encoder_fps_milli: (fps * 1000.0) as u32,
        });
    }
}
