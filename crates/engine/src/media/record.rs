//! Recording a live input as it arrived: H.264 access units stream-copied (no re-encode) into
//! fragmented MP4, so a crash loses at most the last fragment. Written to a hidden temporary
//! name and renamed when the session ends cleanly.

use std::path::{Path, PathBuf};

use ffmpeg_next::{codec, encoder, format, media, Packet, Rational, Rescale};

use super::convert::MICROSECONDS;
use super::h264::EncodedUnit;
use super::output::{open_temporary_output, stream_time_base, write_header, OutputLayout};
use super::MediaError;
use crate::atomic_file::PendingFile;
use stronglive_wire::annexb;

pub struct UnitRecorder {
    final_path: PathBuf,
    /// The hidden temporary file until `finish` moves it into place.
    pending: Option<PendingFile>,
    octx: format::context::Output,
    stream_time_base: Rational,
    last_dts: Option<i64>,
    units: u64,
}

impl UnitRecorder {
    /// Start the file with the stream's first key frame (units before one are undecodable and
    /// not recorded). `parameter_sets` may be empty when the key frame carries SPS/PPS in-band.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        parameter_sets: &[u8],
        first_key: &EncodedUnit,
    ) -> Result<Self, MediaError> {
        let (container, pending, mut octx) = open_temporary_output(path)?;
        let extradata = if parameter_sets.is_empty() {
            annexb::parameter_sets(&first_key.data)
        } else {
            parameter_sets.to_vec()
        };
        if extradata.is_empty() {
            return Err(MediaError::Write {
                path: path.to_path_buf(),
                reason: "the stream's first key frame carries no SPS/PPS and none were configured"
                    .into(),
            });
        }
        let index = {
            let mut ost = octx
                .add_stream(encoder::find(codec::Id::None))
                .map_err(|e| MediaError::Write {
                    path: path.to_path_buf(),
                    reason: format!("cannot add video stream: {e}"),
                })?;
            ost.set_time_base(MICROSECONDS);
            let fps_milli = (fps.clamp(1.0, 240.0) * 1000.0).round() as i32;
            ost.set_avg_frame_rate(Rational(fps_milli, 1000));
            // SAFETY: filling the codec parameters of a new stream; extradata is allocated with
            // av_mallocz (plus the padding FFmpeg requires) and owned by the parameters after.
            unsafe {
                let par = &mut *(*ost.as_mut_ptr()).codecpar;
                par.codec_type = media::Type::Video.into();
                par.codec_id = codec::Id::H264.into();
                par.width = width as i32;
                par.height = height as i32;
                par.format = ffmpeg_next::ffi::AVPixelFormat::from(format::Pixel::YUV420P) as i32;
                let padding = ffmpeg_next::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
                let buf = ffmpeg_next::ffi::av_mallocz(extradata.len() + padding) as *mut u8;
                if buf.is_null() {
                    return Err(MediaError::Write {
                        path: path.to_path_buf(),
                        reason: "out of memory for the stream header".into(),
                    });
                }
                std::ptr::copy_nonoverlapping(extradata.as_ptr(), buf, extradata.len());
                par.extradata = buf;
                par.extradata_size = extradata.len() as i32;
            }
            ost.index()
        };
        write_header(&mut octx, path, container, OutputLayout::Fragmented)?;
        let mut recorder = Self {
            final_path: path.to_path_buf(),
            pending: Some(pending),
            stream_time_base: stream_time_base(&octx, index),
            octx,
            last_dts: None,
            units: 0,
        };
        recorder.write(first_key)?;
        Ok(recorder)
    }

    /// Append one access unit. Live streams have no B-frames, so decode time = presentation
    /// time; a timestamp that does not move forward is nudged by one tick.
    pub fn write(&mut self, unit: &EncodedUnit) -> Result<(), MediaError> {
        let mut ts = unit.pts_us.rescale(MICROSECONDS, self.stream_time_base);
        if let Some(last) = self.last_dts {
            ts = ts.max(last + 1);
        }
        self.last_dts = Some(ts);
        let mut packet = Packet::copy(&unit.data);
        packet.set_pts(Some(ts));
        packet.set_dts(Some(ts));
        packet.set_stream(0);
        if unit.key {
            packet.set_flags(ffmpeg_next::packet::Flags::KEY);
        }
        packet
            .write_interleaved(&mut self.octx)
            .map_err(|e| MediaError::Write {
                path: self.final_path.clone(),
                reason: format!("cannot write access unit {}: {e}", self.units),
            })?;
        self.units += 1;
        Ok(())
    }

    pub fn units(&self) -> u64 {
        self.units
    }

    /// Write the trailer and move the file into place.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        let fail = |reason: String| MediaError::Write {
            path: self.final_path.clone(),
            reason,
        };
        self.octx
            .write_trailer()
            .map_err(|e| fail(format!("cannot finish file: {e}")))?;
        let pending = self.pending.take().expect("finish runs once");
        pending
            .commit()
            .map_err(|e| fail(format!("cannot move finished file into place: {e}")))
    }
}

impl UnitRecorder {
    /// After a failed write: keep what reached the file under the final name (fragmented MP4
    /// plays up to its last complete fragment; the trailer is written where it still can be).
    pub fn keep_written(mut self) -> Result<PathBuf, MediaError> {
        let _ = self.octx.write_trailer();
        let pending = self.pending.take().expect("keep_written runs once");
        pending.commit().map_err(|e| MediaError::Write {
            path: self.final_path.clone(),
            reason: format!("cannot move the partial file into place: {e}"),
        })
    }
}

impl Drop for UnitRecorder {
    /// An unfinished recording stays as its temporary file: fragmented MP4 plays up to the last
    /// complete fragment, which is the point of recording that way. Only an empty one goes.
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            if self.units > 0 {
                pending.keep_partial();
            }
        }
    }
}
