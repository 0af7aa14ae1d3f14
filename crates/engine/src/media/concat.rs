//! Joining the parts of a chunked job (`upscale --chunk K/N`) into one file by stream copy:
//! the parts' video in order, each placed at its chunk's start in the source (so timestamps
//! are the source's, as a single `upscale` keeps them), and the source's audio and subtitle
//! tracks copied once. Written like every output: a hidden temporary, renamed when complete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ffmpeg_next::{format, media, Packet, Rational, Rescale};

use super::chunks::plan_chunks;
use super::output::{
    add_copied_tracks, copy_display_matrix, open_temporary_output, stream_time_base, write_header,
    OutputLayout, StreamCopy,
};
use super::probe::{open_input, video_stream};
use super::MediaError;

/// What `concat` wrote.
#[derive(Debug, Clone)]
pub struct ConcatReport {
    pub output: PathBuf,
    pub video_packets: u64,
    pub copied_packets: u64,
}

/// A part's video packets, shifted so its first frame lands on its chunk's start.
struct PartReader {
    path: PathBuf,
    input: format::context::Input,
    video: usize,
    time_base: Rational,
    /// Added to every pts/dts (in the part's time base).
    shift: Option<i64>,
    start_pts_source: i64,
    source_time_base: Rational,
    /// For packets read without a duration: the muxer needs the last one's to end the track.
    frame_duration: i64,
}

impl PartReader {
    fn open(
        path: &Path,
        start_pts_source: i64,
        source_time_base: Rational,
    ) -> Result<Self, MediaError> {
        let input = open_input(path)?;
        let stream = video_stream(path, &input)?;
        let rate = stream.avg_frame_rate();
        let frame_duration = if rate.numerator() > 0 && rate.denominator() > 0 {
            1i64.rescale(rate.invert(), stream.time_base()).max(1)
        } else {
            1
        };
        Ok(Self {
            path: path.to_path_buf(),
            video: stream.index(),
            time_base: stream.time_base(),
            frame_duration,
            input,
            shift: None,
            start_pts_source,
            source_time_base,
        })
    }

    /// The next video packet, shifted; `None` at the part's end.
    fn next(&mut self) -> Option<Packet> {
        let mut packet = Packet::empty();
        while packet.read(&mut self.input).is_ok() {
            if packet.stream() != self.video {
                continue;
            }
            // The first packet is the part's IDR, its earliest frame: it goes to the chunk start.
            let shift = *self.shift.get_or_insert_with(|| {
                let start = self
                    .start_pts_source
                    .rescale(self.source_time_base, self.time_base);
                start - packet.pts().unwrap_or(0)
            });
            packet.set_pts(packet.pts().map(|t| t + shift));
            packet.set_dts(packet.dts().map(|t| t + shift));
            if packet.duration() <= 0 {
                packet.set_duration(self.frame_duration);
            }
            return Some(packet);
        }
        None
    }
}

fn seconds(t: Option<i64>, tb: Rational) -> f64 {
    t.map_or(f64::MAX, |t| {
        t as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator())
    })
}

/// Join `parts` (chunks 0..N of `source`, in order) into `output`.
pub fn concat(parts: &[PathBuf], source: &Path, output: &Path) -> Result<ConcatReport, MediaError> {
    let fail = |reason: String| MediaError::Write {
        path: output.to_path_buf(),
        reason,
    };
    let chunks = plan_chunks(source, parts.len() as u32)?;
    let mut src = open_input(source)?;
    let src_video = video_stream(source, &src)?.index();
    let src_tb = src
        .stream(src_video)
        .map_or(Rational(1, 1), |s| s.time_base());
    let mut readers = parts
        .iter()
        .zip(&chunks)
        .map(|(part, chunk)| PartReader::open(part, chunk.first_pts, src_tb))
        .collect::<Result<Vec<_>, _>>()?;

    let (container, pending, mut octx) = open_temporary_output(output)?;
    let video_out = add_video_track(&mut octx, &readers[0], output)?;
    let mut copies = add_copied_tracks(&mut octx, &src, container, output, |i| {
        i != src_video
            && src.stream(i).is_some_and(|s| {
                matches!(
                    s.parameters().medium(),
                    media::Type::Audio | media::Type::Subtitle
                )
            })
    })?;
    octx.set_metadata(src.metadata().to_owned());
    write_header(&mut octx, output, container, OutputLayout::Indexed)?;
    for copy in copies.values_mut() {
        copy.output_time_base = stream_time_base(&octx, copy.output_index);
    }
    let video = VideoTrack {
        index: video_out,
        time_base: stream_time_base(&octx, video_out),
    };
    let mut merge = Merge {
        octx: &mut octx,
        output,
        src: &mut src,
        copies: &copies,
        video,
    };
    let report = merge.run(&mut readers)?;
    octx.write_trailer()
        .map_err(|e| fail(format!("cannot finish file: {e}")))?;
    pending
        .commit()
        .map_err(|e| fail(format!("cannot move finished file into place: {e}")))?;
    Ok(report)
}

/// The output's video stream, described by the first part's (the parts differ only in their
/// frames): parameters, rotation, HDR metadata.
fn add_video_track(
    octx: &mut format::context::Output,
    first_part: &PartReader,
    output: &Path,
) -> Result<usize, MediaError> {
    let fail = |reason: String| MediaError::Write {
        path: output.to_path_buf(),
        reason,
    };
    let first = first_part
        .input
        .stream(first_part.video)
        .ok_or_else(|| fail(format!("{}: no video stream", first_part.path.display())))?;
    let mut ost = octx
        .add_stream(ffmpeg_next::encoder::find(ffmpeg_next::codec::Id::None))
        .map_err(|e| fail(format!("cannot add the video stream: {e}")))?;
    ost.set_parameters(first.parameters());
    ost.set_time_base(first.time_base());
    ost.set_metadata(first.metadata().to_owned());
    copy_display_matrix(&mut ost, &first);
    // HDR metadata the parts' container stored (Matroska); SEI travels in the packets
    // SAFETY: reading a plain field of the part's codec parameters.
    let transfer = unsafe { (*first.parameters().as_ptr()).color_trc.into() };
    super::hdr::HdrMetadata::of_video(&first_part.path, transfer, 8).add_to_stream(&mut ost);
    // SAFETY: a plain field write on a valid stream (the muxer picks its own tag).
    unsafe { (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0 };
    Ok(ost.index())
}

/// The output's video stream and the time base the muxer chose for it.
#[derive(Clone, Copy)]
struct VideoTrack {
    index: usize,
    time_base: Rational,
}

/// Writing the joined file's packets in time order: the parts' video one part after another,
/// the source's copied tracks interleaved by their timestamps.
struct Merge<'a> {
    octx: &'a mut format::context::Output,
    output: &'a Path,
    src: &'a mut format::context::Input,
    copies: &'a HashMap<usize, StreamCopy>,
    video: VideoTrack,
}

impl Merge<'_> {
    fn run(&mut self, readers: &mut [PartReader]) -> Result<ConcatReport, MediaError> {
        let mut report = ConcatReport {
            output: self.output.to_path_buf(),
            video_packets: 0,
            copied_packets: 0,
        };
        let mut part = 0;
        let mut next_video = readers[0].next();
        let mut next_copy = next_copied(self.src, self.copies);
        loop {
            while next_video.is_none() && part + 1 < readers.len() {
                part += 1;
                next_video = readers[part].next();
            }
            let reader = &mut readers[part];
            let video_first = match (&next_video, &next_copy) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(v), Some(c)) => self.video_goes_first(v, reader, c),
            };
            if video_first {
                if let Some(packet) = next_video.take() {
                    self.write_video(packet, reader)?;
                    report.video_packets += 1;
                    next_video = reader.next();
                }
            } else if let Some(packet) = next_copy.take() {
                self.write_copied(packet)?;
                report.copied_packets += 1;
                next_copy = next_copied(self.src, self.copies);
            }
        }
        Ok(report)
    }

    /// Whether video packet `v` of `reader` is due no later than copied packet `c`.
    fn video_goes_first(&self, v: &Packet, reader: &PartReader, c: &Packet) -> bool {
        let copy = &self.copies[&c.stream()];
        seconds(v.dts(), reader.time_base) <= seconds(c.dts(), copy.input_time_base)
    }

    fn write_video(&mut self, mut packet: Packet, reader: &PartReader) -> Result<(), MediaError> {
        packet.rescale_ts(reader.time_base, self.video.time_base);
        packet.set_stream(self.video.index);
        packet.set_position(-1);
        packet
            .write_interleaved(self.octx)
            .map_err(|e| MediaError::Write {
                path: self.output.to_path_buf(),
                reason: format!("{}: cannot write a packet: {e}", reader.path.display()),
            })
    }

    fn write_copied(&mut self, mut packet: Packet) -> Result<(), MediaError> {
        let copy = &self.copies[&packet.stream()];
        packet.rescale_ts(copy.input_time_base, copy.output_time_base);
        packet.set_stream(copy.output_index);
        packet.set_position(-1);
        packet
            .write_interleaved(self.octx)
            .map_err(|e| MediaError::Write {
                path: self.output.to_path_buf(),
                reason: format!("cannot write a copied packet: {e}"),
            })
    }
}

/// The source's next packet of a copied track.
fn next_copied(
    src: &mut format::context::Input,
    copies: &HashMap<usize, StreamCopy>,
) -> Option<Packet> {
    let mut packet = Packet::empty();
    while packet.read(src).is_ok() {
        if copies.contains_key(&packet.stream()) {
            return Some(packet);
        }
    }
    None
}
