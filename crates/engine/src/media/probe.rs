//! Describe a media file: container, duration, the video stream that will be upscaled and the
//! other tracks that will be carried over.

use std::path::{Path, PathBuf};

use ffmpeg_next::{codec, format, media};

use crate::frame::{ColorInfo, ColorMatrix, ColorRange, HdrTransfer};

use super::{check_input_file, init, rational_f64, MediaError};

#[derive(Debug, Clone)]
pub struct VideoInfo {
    pub stream_index: usize,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub pixel_format: String,
    pub bit_depth: u8,
    /// Average frame rate in frames per second (0 when the file does not say).
    pub fps: f64,
    /// Frames the stream holds: the container's count, or duration x fps when it has none.
    pub frame_count: Option<u64>,
    /// Clockwise rotation a player applies, from the display matrix, in degrees.
    pub rotation: f64,
    pub color: ColorInfo,
    /// PQ or HLG; `None` for SDR.
    pub hdr: Option<HdrTransfer>,
}

#[derive(Debug, Clone)]
pub struct MediaInfo {
    pub path: PathBuf,
    pub container: String,
    pub duration_s: f64,
    pub video: VideoInfo,
    pub audio_streams: usize,
    pub subtitle_streams: usize,
}

pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    let input = open_input(path)?;
    describe(path, &input)
}

/// Prefix that makes a "path" an FFmpeg lavfi filter graph (benchmarks, the reference sender).
pub const LAVFI_PREFIX: &str = "lavfi:";

pub(crate) fn open_input(path: &Path) -> Result<format::context::Input, MediaError> {
    init();
    let open_err = |reason: String| MediaError::Open {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(graph) = path.to_str().and_then(|s| s.strip_prefix(LAVFI_PREFIX)) {
        ffmpeg_next::device::register_all();
        // SAFETY: looking up a registered demuxer by a NUL-terminated name.
        let lavfi = unsafe { ffmpeg_next::ffi::av_find_input_format(c"lavfi".as_ptr()) };
        if lavfi.is_null() {
            return Err(open_err("this FFmpeg has no lavfi input".into()));
        }
        // SAFETY: a non-null demuxer returned by FFmpeg, valid for the process lifetime.
        let lavfi = unsafe { format::format::Input::wrap(lavfi as *mut _) };
        return format::open(graph, &format::format::Format::Input(lavfi))
            .map(format::context::Context::input)
            .map_err(|e| open_err(e.to_string()));
    }
    check_input_file(path)?;
    // ffmpeg-next panics on paths that are not UTF-8 or contain NUL; refuse them politely.
    if path.to_str().is_none_or(|s| s.contains('\0')) {
        return Err(open_err("path is not valid UTF-8".into()));
    }
    format::input(&path).map_err(|e| open_err(e.to_string()))
}

/// The file's main video stream, or an error naming the streams it has instead.
pub(crate) fn video_stream<'a>(
    path: &Path,
    input: &'a format::context::Input,
) -> Result<format::stream::Stream<'a>, MediaError> {
    input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| MediaError::NoVideo {
            path: path.to_path_buf(),
            streams: stream_summary(input),
        })
}

pub(crate) fn describe(
    path: &Path,
    input: &format::context::Input,
) -> Result<MediaInfo, MediaError> {
    let stream = video_stream(path, input)?;
    let params = stream.parameters();
    let codec_id = params.id();
    let ctx = codec::context::Context::from_parameters(params).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let decoder = ctx.decoder().video().map_err(|e| MediaError::NoDecoder {
        path: path.to_path_buf(),
        codec: format!("{codec_id:?}"),
        reason: e.to_string(),
    })?;
    let pixel = decoder.format();
    // SAFETY: the descriptor pointer is a static FFmpeg table entry; comp[0] is luma.
    let bit_depth = pixel
        .descriptor()
        .map(|d| unsafe { (*d.as_ptr()).comp[0].depth as u8 })
        .unwrap_or(8);
    let duration_s = if input.duration() > 0 {
        input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
    } else {
        stream.duration() as f64 * rational_f64(stream.time_base())
    };
    let fps = rational_f64(stream.avg_frame_rate());
    let frame_count = if stream.frames() > 0 {
        Some(stream.frames() as u64)
    } else if fps > 0.0 && duration_s > 0.0 {
        Some((duration_s * fps).round() as u64)
    } else {
        None
    };
    let video = VideoInfo {
        stream_index: stream.index(),
        codec: format!("{codec_id:?}").to_lowercase(),
        width: decoder.width(),
        height: decoder.height(),
        pixel_format: format!("{pixel:?}").to_lowercase(),
        bit_depth,
        fps,
        frame_count,
        rotation: display_rotation(&stream),
        color: color_info(
            decoder.color_space(),
            decoder.color_range(),
            pixel,
            decoder.height(),
        ),
        hdr: match decoder.color_transfer_characteristic() {
            ffmpeg_next::color::TransferCharacteristic::SMPTE2084 => Some(HdrTransfer::Pq),
            ffmpeg_next::color::TransferCharacteristic::ARIB_STD_B67 => Some(HdrTransfer::Hlg),
            _ => None,
        },
    };
    let count = |kind| {
        input
            .streams()
            .filter(|s| s.parameters().medium() == kind)
            .count()
    };
    Ok(MediaInfo {
        path: path.to_path_buf(),
        container: input.format().name().to_string(),
        duration_s,
        video,
        audio_streams: count(media::Type::Audio),
        subtitle_streams: count(media::Type::Subtitle),
    })
}

fn stream_summary(input: &format::context::Input) -> String {
    let kinds: Vec<String> = input
        .streams()
        .map(|s| format!("{:?}", s.parameters().medium()).to_lowercase())
        .collect();
    if kinds.is_empty() {
        "none".into()
    } else {
        kinds.join(", ")
    }
}

/// The display matrix of a stream, raw, if it has one (copied verbatim to the output).
pub(crate) fn display_matrix(stream: &format::stream::Stream) -> Option<Vec<u8>> {
    stream
        .side_data()
        .find(|sd| sd.kind() == codec::packet::side_data::Type::DisplayMatrix)
        .map(|sd| sd.data().to_vec())
}

fn display_rotation(stream: &format::stream::Stream) -> f64 {
    match display_matrix(stream) {
        Some(m) if m.len() >= 36 => {
            // SAFETY: the side data is a 3x3 int32 matrix (36 bytes), as the length check ensures.
            let angle = unsafe { ffmpeg_next::ffi::av_display_rotation_get(m.as_ptr().cast()) };
            // FFmpeg reports counter-clockwise degrees; players rotate clockwise by the negation.
            let cw = (-angle).rem_euclid(360.0);
            if cw.is_nan() {
                0.0
            } else {
                cw
            }
        }
        _ => 0.0,
    }
}

/// Colour convention of a stream or frame, with the players' defaults for untagged video.
pub(crate) fn color_info(
    space: ffmpeg_next::color::Space,
    range: ffmpeg_next::color::Range,
    pixel: format::Pixel,
    height: u32,
) -> ColorInfo {
    use ffmpeg_next::color::{Range, Space};
    let default = ColorInfo::default_for_height(height);
    let matrix = match space {
        Space::BT709 => ColorMatrix::Bt709,
        Space::BT2020NCL | Space::BT2020CL => ColorMatrix::Bt2020,
        Space::BT470BG | Space::SMPTE170M | Space::FCC => ColorMatrix::Bt601,
        _ => default.matrix,
    };
    let full_pixel = matches!(
        pixel,
        format::Pixel::YUVJ420P | format::Pixel::YUVJ422P | format::Pixel::YUVJ444P
    );
    let range = match range {
        Range::JPEG => ColorRange::Full,
        Range::MPEG => ColorRange::Limited,
        _ if full_pixel => ColorRange::Full,
        _ => default.range,
    };
    ColorInfo {
        matrix,
        range,
        bits: 8,
    }
}
