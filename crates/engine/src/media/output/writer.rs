//! [`MediaWriter`]: the upscaled video encoded and muxed with the stream-copied tracks, into a
//! temporary file moved into place by [`MediaWriter::finish`].

use std::collections::HashMap;
use std::path::PathBuf;

use ffmpeg_next::{codec, encoder, format, Packet, Rational};

use crate::frame::{ColorInfo, ColorMatrix, ColorRange, YuvFrame};
use ffmpeg_next::color::{Primaries, Range, Space, TransferCharacteristic};

use super::muxer::{
    add_copied_tracks, copy_display_matrix, open_temporary_output, stream_time_base, write_header,
    OutputLayout, StreamCopy,
};
use crate::atomic_file::PendingFile;
use crate::media::convert::{convert_format, to_ffmpeg_picture, ScalerBox, MICROSECONDS};
use crate::media::decode::{PassthroughPacket, VideoDecoder};
use crate::media::encode::{
    open_encoder, EncodeParams, EncoderAttempt, EncoderChoice, OpenedEncoder, Quality,
};
use crate::media::hdr::HdrMetadata;
use crate::media::MediaError;

/// What the caller wants written.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub encoder: EncoderChoice,
    pub quality: Quality,
}

pub struct MediaWriter {
    final_path: PathBuf,
    /// The hidden temporary file; removed on drop unless `finish` moved it into place.
    pending: Option<PendingFile>,
    octx: format::context::Output,
    encoder: encoder::Video,
    encoder_name: String,
    skipped: Vec<EncoderAttempt>,
    video_out: usize,
    encoder_time_base: Rational,
    video_out_time_base: Rational,
    /// Copied tracks by input stream index.
    copies: HashMap<usize, StreamCopy>,
    /// Frame durations by pts: encoders drop them, the muxer needs them (last frame, VFR).
    durations: HashMap<i64, i64>,
    frames_in: u64,
    layout: OutputLayout,
    /// Frames to the encoder's pixel format, when it is not theirs.
    converter: Option<ScalerBox>,
}

impl MediaWriter {
    /// Create the output for `decoder`'s file: the video stream re-encoded at the plan's size,
    /// audio and subtitle tracks copied, rotation and colour tags kept.
    pub fn create(plan: &OutputPlan, decoder: &VideoDecoder) -> Result<Self, MediaError> {
        let (container, pending, mut octx) = open_temporary_output(&plan.path)?;
        let write_err = |reason: String| MediaError::Write {
            path: plan.path.clone(),
            reason,
        };

        let input = decoder.input();
        let info = decoder.info();
        let ist = input
            .stream(info.video.stream_index)
            .ok_or_else(|| write_err("input video stream vanished".into()))?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let params = transcode_params(plan, decoder, &ist, global_header);
        let (bits, hdr, time_base) = (params.bits, params.hdr, params.time_base);
        let (opened, video_out) = add_video_stream(&mut octx, plan, &params)?;
        if bits > 8 && !is_ten_bit(opened.encoder.format()) {
            tracing::warn!(
                "{}: {} cannot encode 10-bit video: written as 8-bit",
                plan.path.display(),
                opened.name
            );
        }
        {
            let mut ost = octx
                .stream_mut(video_out)
                .ok_or_else(|| write_err("output video stream vanished".into()))?;
            ost.set_metadata(ist.metadata().to_owned());
            copy_display_matrix(&mut ost, &ist);
            hdr.add_to_stream(&mut ost);
        }

        let mut copies = add_copied_tracks(&mut octx, input, container, &plan.path, |i| {
            decoder.is_passthrough(i)
        })?;
        octx.set_metadata(input.metadata().to_owned());
        write_header(&mut octx, &plan.path, container, OutputLayout::Indexed)?;
        // The muxer may have changed time bases; read back what it chose.
        for copy in copies.values_mut() {
            copy.output_time_base = stream_time_base(&octx, copy.output_index);
        }
        Ok(Self::assemble(
            plan,
            pending,
            octx,
            opened,
            video_out,
            time_base,
            copies,
            OutputLayout::Indexed,
        ))
    }

    /// An output for frames that come from no file (the live path's SR output): video only,
    /// timestamps in microseconds, written as fragmented MP4 so a crash loses at most the last
    /// fragment (about a second).
    pub fn create_live(plan: &OutputPlan, fps: f64, color: ColorInfo) -> Result<Self, MediaError> {
        let (container, pending, mut octx) = open_temporary_output(&plan.path)?;
        let (primaries, transfer, space) = match color.matrix {
            ColorMatrix::Bt709 => (
                Primaries::BT709,
                TransferCharacteristic::BT709,
                Space::BT709,
            ),
            ColorMatrix::Bt601 => (
                Primaries::SMPTE170M,
                TransferCharacteristic::SMPTE170M,
                Space::SMPTE170M,
            ),
            ColorMatrix::Bt2020 => (
                Primaries::BT2020,
                TransferCharacteristic::BT2020_10,
                Space::BT2020NCL,
            ),
        };
        let fps_milli = (fps.clamp(1.0, 240.0) * 1000.0).round() as i32;
        let params = EncodeParams {
            width: plan.width,
            height: plan.height,
            time_base: MICROSECONDS,
            frame_rate: Some(Rational(fps_milli, 1000)),
            aspect: Rational(1, 1),
            primaries,
            transfer,
            space,
            range: match color.range {
                ColorRange::Limited => Range::MPEG,
                ColorRange::Full => Range::JPEG,
            },
            global_header: octx.format().flags().contains(format::Flags::GLOBAL_HEADER),
            key_interval: Some((fps.clamp(1.0, 240.0).round() as u32).max(1)),
            bits: 8,
            hdr: HdrMetadata::default(),
        };
        let (opened, video_out) = add_video_stream(&mut octx, plan, &params)?;
        write_header(&mut octx, &plan.path, container, OutputLayout::Fragmented)?;
        Ok(Self::assemble(
            plan,
            pending,
            octx,
            opened,
            video_out,
            MICROSECONDS,
            HashMap::new(),
            OutputLayout::Fragmented,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        plan: &OutputPlan,
        pending: PendingFile,
        octx: format::context::Output,
        opened: OpenedEncoder,
        video_out: usize,
        encoder_time_base: Rational,
        copies: HashMap<usize, StreamCopy>,
        layout: OutputLayout,
    ) -> Self {
        Self {
            final_path: plan.path.clone(),
            pending: Some(pending),
            encoder_time_base,
            video_out_time_base: stream_time_base(&octx, video_out),
            octx,
            encoder: opened.encoder,
            encoder_name: opened.name,
            skipped: opened.skipped,
            video_out,
            copies,
            durations: HashMap::new(),
            frames_in: 0,
            layout,
            converter: None,
        }
    }

    /// The encoder in use, e.g. `libx264`.
    pub fn encoder_name(&self) -> &str {
        &self.encoder_name
    }

    /// Encoders tried before the one in use, with the reason each was skipped.
    pub fn skipped_encoders(&self) -> &[EncoderAttempt] {
        &self.skipped
    }

    pub fn write_frame(&mut self, yuv: &YuvFrame) -> Result<(), MediaError> {
        // frames come as 8- or 10-bit planar; the encoder may take another depth or layout
        let picture = to_ffmpeg_picture(yuv);
        let mut frame = convert_format(&mut self.converter, &picture, self.encoder.format())
            .map_err(|e| self.encode_error(e.to_string()))?
            .unwrap_or(picture);
        frame.set_pts(yuv.pts);
        if let Some(pts) = yuv.pts {
            self.durations.insert(pts, yuv.duration);
        }
        self.frames_in += 1;
        self.encoder
            .send_frame(&frame)
            .map_err(|e| self.encode_error(e.to_string()))?;
        self.drain_encoder()
    }

    pub fn write_passthrough(&mut self, item: PassthroughPacket) -> Result<(), MediaError> {
        let Some(copy) = self.copies.get(&item.input_stream).copied() else {
            return Ok(());
        };
        let mut packet = item.packet;
        packet.rescale_ts(copy.input_time_base, copy.output_time_base);
        packet.set_stream(copy.output_index);
        packet.set_position(-1);
        packet
            .write_interleaved(&mut self.octx)
            .map_err(|e| self.write_error(format!("cannot write packet: {e}")))
    }

    /// Flush the encoder, write the trailer and move the file into place.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        self.encoder
            .send_eof()
            .map_err(|e| self.encode_error(e.to_string()))?;
        self.drain_encoder()?;
        self.octx
            .write_trailer()
            .map_err(|e| self.write_error(format!("cannot finish file: {e}")))?;
        let pending = self.pending.take().expect("finish runs once");
        pending
            .commit()
            .map_err(|e| self.write_error(format!("cannot move finished file into place: {e}")))
    }

    /// After a failed write: keep what reached the file under the final name. Only a
    /// fragmented output (the live recordings) plays without its trailer, so only it can;
    /// the encoder is flushed and the trailer written where the file still takes them.
    pub fn keep_written(mut self) -> Result<PathBuf, MediaError> {
        if self.layout != OutputLayout::Fragmented || self.frames_in == 0 {
            return Err(self.write_error("nothing playable to keep".into()));
        }
        let _ = self.encoder.send_eof();
        let _ = self.drain_encoder();
        let _ = self.octx.write_trailer();
        let pending = self.pending.take().expect("keep_written runs once");
        pending
            .commit()
            .map_err(|e| self.write_error(format!("cannot move the partial file into place: {e}")))
    }

    fn drain_encoder(&mut self) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            if let Some(d) = packet.pts().and_then(|pts| self.durations.remove(&pts)) {
                packet.set_duration(d);
            }
            packet.set_stream(self.video_out);
            packet.rescale_ts(self.encoder_time_base, self.video_out_time_base);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(|e| self.write_error(format!("cannot write video packet: {e}")))?;
        }
        Ok(())
    }

    fn encode_error(&self, reason: String) -> MediaError {
        MediaError::Encode {
            path: self.final_path.clone(),
            frame: self.frames_in,
            reason: format!("{}: {reason}", self.encoder_name),
        }
    }

    fn write_error(&self, reason: String) -> MediaError {
        MediaError::Write {
            path: self.final_path.clone(),
            reason,
        }
    }
}

/// What the re-encoded video of `decoder`'s file is asked to be: the plan's size, the input
/// stream's timing, colour tags, bit depth and HDR metadata.
fn transcode_params(
    plan: &OutputPlan,
    decoder: &VideoDecoder,
    ist: &format::stream::Stream,
    global_header: bool,
) -> EncodeParams {
    let in_params = ist.parameters();
    // SAFETY: reading plain fields of the stream's codec parameters.
    let (primaries, transfer, space, range) = unsafe {
        let p = &*in_params.as_ptr();
        (
            p.color_primaries.into(),
            p.color_trc.into(),
            p.color_space.into(),
            p.color_range.into(),
        )
    };
    let avg = ist.avg_frame_rate();
    let bits = decoder.sample_bits();
    let time_base = decoder.time_base();
    EncodeParams {
        width: plan.width,
        height: plan.height,
        time_base: Rational(time_base.numerator, time_base.denominator),
        frame_rate: (avg.numerator() > 0 && avg.denominator() > 0).then_some(avg),
        aspect: Rational(1, 1),
        primaries,
        transfer,
        space,
        range,
        global_header,
        key_interval: None,
        bits,
        hdr: HdrMetadata::of_video(&decoder.info().path, transfer, bits),
    }
}

/// Whether the encoder's pixel format keeps 10 bits a sample.
fn is_ten_bit(format: format::Pixel) -> bool {
    matches!(format, format::Pixel::YUV420P10LE | format::Pixel::P010LE)
}

/// Open the first usable encoder of the plan's list and add its stream (codec tag set so Apple
/// players open HEVC: "hvc1").
fn add_video_stream(
    octx: &mut format::context::Output,
    plan: &OutputPlan,
    params: &EncodeParams,
) -> Result<(OpenedEncoder, usize), MediaError> {
    let opened = open_encoder(&plan.encoder, plan.quality, params).map_err(|tried| {
        MediaError::NoEncoder {
            path: plan.path.clone(),
            tried: tried
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }
    })?;
    let mut ost = octx
        .add_stream(encoder::find(codec::Id::None))
        .map_err(|e| MediaError::Write {
            path: plan.path.clone(),
            reason: format!("cannot add video stream: {e}"),
        })?;
    ost.set_parameters(&opened.encoder);
    ost.set_time_base(params.time_base);
    if let Some(rate) = params.frame_rate {
        ost.set_avg_frame_rate(rate);
    }
    let hevc = opened.name.starts_with("hevc") || opened.name == "libx265";
    // SAFETY: plain field write on a valid stream's codec parameters.
    unsafe {
        (*(*ost.as_mut_ptr()).codecpar).codec_tag = if hevc {
            u32::from_le_bytes(*b"hvc1")
        } else {
            0
        };
    }
    let index = ost.index();
    Ok((opened, index))
}
