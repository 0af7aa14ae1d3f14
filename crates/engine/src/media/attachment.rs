//! Files carried inside a Matroska file as attachments (the SRVC model stream): written by
//! remuxing a finished file with the attachment added (every track stream-copied), read back
//! from any input FFmpeg opens. Matroska because attachments are a standard, named part of the
//! format (`mkvextract`, `ffprobe` and players list them; players ignore them), where MP4 would
//! need a custom data track.

use std::path::{Path, PathBuf};

use ffmpeg_next::{codec, encoder, format, media, Error as FfError, Rational};

use super::output::{open_temporary_output, write_header, OutputLayout};
use super::MediaError;

/// Attachments larger than this are not read into memory.
const MAX_ATTACHMENT_BYTES: usize = 256 << 20;

/// Why the attachment stream could not be added to the output.
#[derive(Debug, thiserror::Error)]
enum AttachmentError {
    #[error("cannot add the attachment stream: {0}")]
    AddStream(FfError),
    #[error("out of memory for the attachment ({bytes} bytes)")]
    OutOfMemory { bytes: usize },
}

/// Copy `input`'s tracks into `output` (Matroska) and attach `data` as `filename` with
/// `mimetype`. The output appears whole or not at all.
pub fn remux_with_attachment(
    input: &Path,
    output: &Path,
    filename: &str,
    mimetype: &str,
    data: &[u8],
) -> Result<PathBuf, MediaError> {
    let write_err = |reason: String| MediaError::Write {
        path: output.to_path_buf(),
        reason,
    };
    let mut ictx = format::input(&input).map_err(|e| MediaError::Open {
        path: input.to_path_buf(),
        reason: e.to_string(),
    })?;
    let (container, pending, mut octx) = open_temporary_output(output)?;
    if container != "matroska" {
        return Err(write_err(
            "attachments need a Matroska (.mkv) output".into(),
        ));
    }
    let mut map: Vec<Option<(usize, Rational)>> = Vec::new();
    for ist in ictx.streams() {
        let medium = ist.parameters().medium();
        if !matches!(
            medium,
            media::Type::Video | media::Type::Audio | media::Type::Subtitle
        ) {
            map.push(None);
            continue;
        }
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(|e| write_err(format!("cannot add stream: {e}")))?;
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        ost.set_metadata(ist.metadata().to_owned());
        // SAFETY: plain field writes on a valid stream.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            (*ost.as_mut_ptr()).disposition = (*ist.as_ptr()).disposition;
        }
        map.push(Some((ost.index(), ist.time_base())));
    }
    add_attachment(&mut octx, filename, mimetype, data).map_err(|e| write_err(e.to_string()))?;
    octx.set_metadata(ictx.metadata().to_owned());
    write_header(&mut octx, output, container, OutputLayout::Indexed)?;
    let out_bases: Vec<Rational> = (0..octx.nb_streams())
        .map(|i| {
            octx.stream(i as usize)
                .map_or(Rational(1, 1000), |s| s.time_base())
        })
        .collect();
    for (ist, mut packet) in ictx.packets() {
        let Some(Some((out_index, in_base))) = map.get(ist.index()).copied() else {
            continue;
        };
        packet.rescale_ts(in_base, out_bases[out_index]);
        packet.set_stream(out_index);
        packet.set_position(-1);
        packet
            .write_interleaved(&mut octx)
            .map_err(|e| write_err(format!("cannot write packet: {e}")))?;
    }
    octx.write_trailer()
        .map_err(|e| write_err(format!("cannot finish file: {e}")))?;
    pending
        .commit()
        .map_err(|e| write_err(format!("cannot move finished file into place: {e}")))
}

/// An attachment stream: its bytes are the codec parameters' extradata, its name and type
/// are stream metadata (what the Matroska muxer writes as an AttachedFile).
fn add_attachment(
    octx: &mut format::context::Output,
    filename: &str,
    mimetype: &str,
    data: &[u8],
) -> Result<(), AttachmentError> {
    let mut ost = octx
        .add_stream(encoder::find(codec::Id::None))
        .map_err(AttachmentError::AddStream)?;
    let mut metadata = ffmpeg_next::Dictionary::new();
    metadata.set("filename", filename);
    metadata.set("mimetype", mimetype);
    ost.set_metadata(metadata);
    // SAFETY: the codec parameters belong to the new stream; extradata is allocated with
    // av_mallocz (as FFmpeg frees it) with the padding FFmpeg requires.
    unsafe {
        let par = (*ost.as_mut_ptr()).codecpar;
        (*par).codec_type = ffmpeg_next::ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT;
        (*par).codec_id = ffmpeg_next::ffi::AVCodecID::AV_CODEC_ID_BIN_DATA;
        let padding = ffmpeg_next::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let buf = ffmpeg_next::ffi::av_mallocz(data.len() + padding) as *mut u8;
        if buf.is_null() {
            return Err(AttachmentError::OutOfMemory { bytes: data.len() });
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        (*par).extradata = buf;
        (*par).extradata_size = data.len() as i32;
    }
    Ok(())
}

/// The attachment of `path` with `mimetype`, if it has one.
pub fn read_attachment(path: &Path, mimetype: &str) -> Result<Option<Vec<u8>>, MediaError> {
    let ictx = format::input(&path).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for st in ictx.streams() {
        if st.parameters().medium() != media::Type::Attachment
            || st.metadata().get("mimetype") != Some(mimetype)
        {
            continue;
        }
        // SAFETY: reading the stream's extradata pointer and size, valid while ictx lives.
        let bytes = unsafe {
            let par = &*st.parameters().as_ptr();
            let size = usize::try_from(par.extradata_size).unwrap_or(0);
            if size > MAX_ATTACHMENT_BYTES {
                return Err(MediaError::Open {
                    path: path.to_path_buf(),
                    reason: format!("attachment of {size} bytes (limit {MAX_ATTACHMENT_BYTES})"),
                });
            }
            if par.extradata.is_null() || size == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(par.extradata, size).to_vec()
            }
        };
        return Ok(Some(bytes));
    }
    Ok(None)
}
