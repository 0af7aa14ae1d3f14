//! The muxer side of every output: the container a file name asks for, a hidden temporary
//! file renamed into place on success, the header options of each layout, and the tracks
//! stream-copied from an input.

use std::collections::HashMap;
use std::path::Path;

use ffmpeg_next::{codec, encoder, format, Dictionary, Rational};

use crate::atomic_file::PendingFile;
use crate::media::probe::display_matrix;
use crate::media::MediaError;

/// FFmpeg muxer name for an output file name.
pub fn container_for(path: &Path) -> Result<&'static str, MediaError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "m4v" => Ok("mp4"),
        "mov" => Ok("mov"),
        "mkv" => Ok("matroska"),
        _ => Err(MediaError::UnsupportedContainer {
            path: path.to_path_buf(),
            ext,
        }),
    }
}

/// A track copied from the input untouched (audio, subtitles).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamCopy {
    pub(crate) output_index: usize,
    pub(crate) input_time_base: Rational,
    pub(crate) output_time_base: Rational,
}

/// Add a stream-copied output track for each input track `include` names (that the container
/// can hold; others are dropped with a warning). Returns them by input index; their output time
/// bases are known only after the header is written.
pub(crate) fn add_copied_tracks(
    octx: &mut format::context::Output,
    input: &format::context::Input,
    container: &str,
    path: &Path,
    include: impl Fn(usize) -> bool,
) -> Result<HashMap<usize, StreamCopy>, MediaError> {
    let write_err = |reason: String| MediaError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let mut copies = HashMap::new();
    for stream in input.streams() {
        if !include(stream.index()) {
            continue;
        }
        let sp = stream.parameters();
        // SAFETY: querying the muxer with a valid codec id.
        let supported = unsafe {
            ffmpeg_next::ffi::avformat_query_codec(
                octx.format().as_ptr(),
                sp.id().into(),
                ffmpeg_next::ffi::FF_COMPLIANCE_NORMAL,
            )
        };
        if supported != 1 {
            tracing::warn!(
                "{}: {:?} track {} ({:?}) cannot be stored in {container}; dropped",
                path.display(),
                sp.medium(),
                stream.index(),
                sp.id()
            );
            continue;
        }
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(|e| write_err(format!("cannot add stream: {e}")))?;
        ost.set_parameters(sp);
        ost.set_time_base(stream.time_base());
        ost.set_metadata(stream.metadata().to_owned());
        // SAFETY: plain field writes on a valid stream.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            (*ost.as_mut_ptr()).disposition = (*stream.as_ptr()).disposition;
        }
        copies.insert(
            stream.index(),
            StreamCopy {
                output_index: ost.index(),
                input_time_base: stream.time_base(),
                output_time_base: Rational(0, 1),
            },
        );
    }
    Ok(copies)
}

/// The input video's rotation (display matrix side data) onto the output video stream.
pub(crate) fn copy_display_matrix(
    ost: &mut format::stream::StreamMut,
    ist: &format::stream::Stream,
) {
    let Some(matrix) = display_matrix(ist) else {
        return;
    };
    // SAFETY: the stream pointer is valid while its context lives; the side data is copied in.
    unsafe {
        let dst = ffmpeg_next::ffi::av_stream_new_side_data(
            ost.as_mut_ptr(),
            ffmpeg_next::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            matrix.len() as _,
        );
        if !dst.is_null() {
            std::ptr::copy_nonoverlapping(matrix.as_ptr(), dst, matrix.len());
        }
    }
}

/// How the muxer lays the file out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputLayout {
    /// Index at the front (`+faststart`): plays while it downloads.
    Indexed,
    /// Fragments of about a second, each complete on its own: survives a crash.
    Fragmented,
}

/// The muxer for a hidden temporary output beside `path`; the [`PendingFile`] deletes it
/// unless committed.
pub(crate) fn open_temporary_output(
    path: &Path,
) -> Result<(&'static str, PendingFile, format::context::Output), MediaError> {
    let container = container_for(path)?;
    let pending = PendingFile::new(path);
    let temp_path = pending.temporary();
    if temp_path.to_str().is_none_or(|s| s.contains('\0')) {
        return Err(MediaError::Write {
            path: path.to_path_buf(),
            reason: "path is not valid UTF-8".into(),
        });
    }
    let octx = format::output_as(temp_path, container).map_err(|e| MediaError::Write {
        path: path.to_path_buf(),
        reason: format!("cannot create {}: {e}", temp_path.display()),
    })?;
    Ok((container, pending, octx))
}

pub(crate) fn write_header(
    octx: &mut format::context::Output,
    path: &Path,
    container: &str,
    layout: OutputLayout,
) -> Result<(), MediaError> {
    let mut options = Dictionary::new();
    match (container, layout) {
        ("matroska", _) => {}
        (_, OutputLayout::Indexed) => options.set("movflags", "+faststart"),
        (_, OutputLayout::Fragmented) => {
            options.set("movflags", "+frag_keyframe+empty_moov+default_base_moof");
            options.set("frag_duration", "1000000");
            // Hand each finished fragment to the OS at once, not when the 32 KB I/O buffer
            // fills: otherwise a crash loses whatever the buffer held, not just one fragment.
            options.set("flush_packets", "1");
        }
    }
    octx.write_header_with(options)
        .map_err(|e| MediaError::Write {
            path: path.to_path_buf(),
            reason: format!("cannot write header: {e}"),
        })?;
    Ok(())
}

pub(crate) fn stream_time_base(octx: &format::context::Output, index: usize) -> Rational {
    octx.stream(index)
        .map(|s| s.time_base())
        .unwrap_or(Rational(1, 1))
}
