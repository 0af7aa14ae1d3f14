//! Between FFmpeg frames and [`YuvFrame`]s: plane copies without row padding, and the
//! microsecond time base every live timestamp uses. One place, so the decoders, the encoders
//! and the muxers all convert the same way.

use ffmpeg_next::{format, frame, software::scaling, Error as FfError, Rational};

use crate::frame::YuvFrame;

/// Microsecond time base: the protocol's pts unit, and the live recorders' stream time base.
pub const MICROSECONDS: Rational = Rational(1, 1_000_000);

/// The three 4:2:0 planes of an FFmpeg picture (YUV420P, or YUV420P10LE with two bytes a
/// sample), padding removed.
pub(crate) struct Planes {
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

/// Copy the planes of a `width` x `height` YUV420P or YUV420P10LE picture.
pub(crate) fn copy_planes(picture: &frame::Video, width: u32, height: u32) -> Planes {
    let (cw, ch) = YuvFrame::chroma_size(width, height);
    let bytes = bytes_per_sample(picture.format());
    Planes {
        y: copy_plane(picture, 0, width * bytes, height),
        u: copy_plane(picture, 1, cw * bytes, ch),
        v: copy_plane(picture, 2, cw * bytes, ch),
    }
}

fn bytes_per_sample(format: format::Pixel) -> u32 {
    match format {
        format::Pixel::YUV420P10LE => 2,
        _ => 1,
    }
}

/// The FFmpeg pixel format of frames with `bits` per sample.
pub(crate) fn pixel_format_for(bits: u8) -> format::Pixel {
    if bits > 8 {
        format::Pixel::YUV420P10LE
    } else {
        format::Pixel::YUV420P
    }
}

/// A new YUV420P (or YUV420P10LE) FFmpeg picture holding `yuv`'s pixels (no pts set).
pub(crate) fn to_ffmpeg_picture(yuv: &YuvFrame) -> frame::Video {
    let format = pixel_format_for(yuv.color.bits);
    let mut picture = frame::Video::new(format, yuv.width, yuv.height);
    let (cw, ch) = YuvFrame::chroma_size(yuv.width, yuv.height);
    let bytes = bytes_per_sample(format);
    fill_plane(&mut picture, 0, &yuv.y, yuv.width * bytes, yuv.height);
    fill_plane(&mut picture, 1, &yuv.u, cw * bytes, ch);
    fill_plane(&mut picture, 2, &yuv.v, cw * bytes, ch);
    picture
}

/// sws contexts are not tied to a thread; FFmpeg only forbids concurrent use, which `&mut`
/// access through the owner already rules out.
pub(crate) struct ScalerBox(pub(crate) scaling::Context);
// SAFETY: see above; the context is only ever used through `&mut` of its owner.
unsafe impl Send for ScalerBox {}

/// A pixel format conversion swscale cannot set up or run.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error("no conversion from {from:?} to {to:?}: {cause}")]
    Unsupported {
        from: format::Pixel,
        to: format::Pixel,
        cause: FfError,
    },
    #[error("pixel format conversion to {to:?} failed: {cause}")]
    Failed { to: format::Pixel, cause: FfError },
}

/// `picture` converted to pixel format `to` (same size) through the cached `scaler` (made
/// again when the formats or size change); `None` when it already is in that format.
pub(crate) fn convert_format(
    scaler: &mut Option<ScalerBox>,
    picture: &frame::Video,
    to: format::Pixel,
) -> Result<Option<frame::Video>, ConversionError> {
    if picture.format() == to {
        return Ok(None);
    }
    let (w, h) = (picture.width(), picture.height());
    let stale = scaler.as_ref().is_none_or(|s| {
        let (i, o) = (s.0.input(), s.0.output());
        i.format != picture.format() || i.width != w || i.height != h || o.format != to
    });
    if stale {
        let ctx = scaling::Context::get(
            picture.format(),
            w,
            h,
            to,
            w,
            h,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND,
        )
        .map_err(|cause| ConversionError::Unsupported {
            from: picture.format(),
            to,
            cause,
        })?;
        *scaler = Some(ScalerBox(ctx));
    }
    let mut out = frame::Video::empty();
    if let Some(s) = scaler.as_mut() {
        s.0.run(picture, &mut out)
            .map_err(|cause| ConversionError::Failed { to, cause })?;
    }
    Ok(Some(out))
}

/// Copy one plane (`width` bytes a row) without its row padding.
fn copy_plane(picture: &frame::Video, index: usize, width: u32, height: u32) -> Vec<u8> {
    let stride = picture.stride(index);
    let data = picture.data(index);
    let (w, h) = (width as usize, height as usize);
    let mut out = Vec::with_capacity(w * h);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w]);
    }
    out
}

/// Write one tightly packed plane into a picture whose rows may be padded.
fn fill_plane(picture: &mut frame::Video, index: usize, src: &[u8], width: u32, height: u32) {
    let stride = picture.stride(index);
    let w = width as usize;
    let data = picture.data_mut(index);
    for (row, line) in src.chunks_exact(w).take(height as usize).enumerate() {
        data[row * stride..row * stride + w].copy_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    #[test]
    fn planes_survive_a_padded_picture() {
        // 34 px wide: FFmpeg pads rows to its alignment, so stride != width.
        let mut yuv = YuvFrame::filled(34, 6, 0, 0, 0, ColorInfo::default_for_height(6));
        for (i, p) in yuv.y.iter_mut().enumerate() {
            *p = (i % 251) as u8;
        }
        for (i, p) in yuv.v.iter_mut().enumerate() {
            *p = (i * 7 % 253) as u8;
        }
        let picture = to_ffmpeg_picture(&yuv);
        assert!(picture.stride(0) >= 34);
        let planes = copy_planes(&picture, 34, 6);
        assert_eq!(planes.y, yuv.y);
        assert_eq!(planes.u, yuv.u);
        assert_eq!(planes.v, yuv.v);
    }
}
