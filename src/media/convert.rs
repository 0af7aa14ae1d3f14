//! Between FFmpeg frames and [`YuvFrame`]s: plane copies without row padding, and the
//! microsecond time base every live timestamp uses. One place, so the decoders, the encoders
//! and the muxers all convert the same way.

use ffmpeg_next::{format, frame, Rational};

use crate::frame::YuvFrame;

/// Microsecond time base: the protocol's pts unit, and the live recorders' stream time base.
pub const MICROSECONDS: Rational = Rational(1, 1_000_000);

/// The three 4:2:0 planes of an FFmpeg picture (8-bit YUV420P), padding removed.
pub(crate) struct Planes {
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

/// Copy the planes of a `width` x `height` YUV420P picture.
pub(crate) fn copy_planes(picture: &frame::Video, width: u32, height: u32) -> Planes {
    let (cw, ch) = YuvFrame::chroma_size(width, height);
    Planes {
        y: copy_plane(picture, 0, width, height),
        u: copy_plane(picture, 1, cw, ch),
        v: copy_plane(picture, 2, cw, ch),
    }
}

/// A new YUV420P FFmpeg picture holding `yuv`'s pixels (no pts set).
pub(crate) fn to_ffmpeg_picture(yuv: &YuvFrame) -> frame::Video {
    let mut picture = frame::Video::new(format::Pixel::YUV420P, yuv.width, yuv.height);
    let (cw, ch) = YuvFrame::chroma_size(yuv.width, yuv.height);
    fill_plane(&mut picture, 0, &yuv.y, yuv.width, yuv.height);
    fill_plane(&mut picture, 1, &yuv.u, cw, ch);
    fill_plane(&mut picture, 2, &yuv.v, cw, ch);
    picture
}

/// Copy one plane without its row padding.
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
