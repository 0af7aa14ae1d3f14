//! Single-picture operations on [`YuvFrame`]s through FFmpeg: resize (the sender streaming below
//! its capture size), crop, and PNG encoding (HR patches for online learning).

use ffmpeg_next::{
    codec, encoder, format, frame, software::scaling, Error as FfError, Packet, Rational,
};

use super::convert::{copy_planes, to_ffmpeg_picture};
use crate::frame::YuvFrame;

/// A picture operation FFmpeg refused, with the sizes and formats it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("no {}x{} -> {}x{} {pixel:?} conversion: {cause}", from.0, from.1, to.0, to.1)]
    NoConversion {
        from: (u32, u32),
        to: (u32, u32),
        pixel: format::Pixel,
        cause: FfError,
    },
    #[error("{pixel:?} conversion failed: {cause}")]
    ConversionFailed {
        pixel: format::Pixel,
        cause: FfError,
    },
    #[error("no {}x{} -> {}x{} scaler: {cause}", from.0, from.1, to.0, to.1)]
    NoScaler {
        from: (u32, u32),
        to: (u32, u32),
        cause: FfError,
    },
    #[error("bicubic upscale failed: {0}")]
    UpscaleFailed(FfError),
    #[error("no PNG encoder in this FFmpeg")]
    NoPngEncoder,
    #[error("PNG encoder: {0}")]
    PngContext(FfError),
    #[error("cannot open the PNG encoder: {0}")]
    PngOpen(FfError),
    #[error("PNG: {0}")]
    Png(FfError),
}

/// One swscale pass: `yuv` to `size` in `pixel` format.
fn convert(
    yuv: &YuvFrame,
    (width, height): (u32, u32),
    pixel: format::Pixel,
    flags: scaling::Flags,
) -> Result<frame::Video, PictureError> {
    super::init();
    let mut scaler = scaling::Context::get(
        format::Pixel::YUV420P,
        yuv.width,
        yuv.height,
        pixel,
        width,
        height,
        flags,
    )
    .map_err(|cause| PictureError::NoConversion {
        from: (yuv.width, yuv.height),
        to: (width, height),
        pixel,
        cause,
    })?;
    let mut out = frame::Video::empty();
    scaler
        .run(&to_ffmpeg_picture(yuv), &mut out)
        .map_err(|cause| PictureError::ConversionFailed { pixel, cause })?;
    Ok(out)
}

/// Resize with an area-averaging filter (what a camera's downscaler approximates).
pub fn resize(yuv: &YuvFrame, width: u32, height: u32) -> Result<YuvFrame, PictureError> {
    let out = convert(
        yuv,
        (width, height),
        format::Pixel::YUV420P,
        scaling::Flags::AREA | scaling::Flags::ACCURATE_RND,
    )?;
    Ok(scaled_frame(&out, width, height, yuv))
}

/// A swscale output picture as a frame with `like`'s timing and colour tags (its planes are
/// not copied).
fn scaled_frame(out: &frame::Video, width: u32, height: u32, like: &YuvFrame) -> YuvFrame {
    let planes = copy_planes(out, width, height);
    YuvFrame {
        width,
        height,
        y: planes.y,
        u: planes.u,
        v: planes.v,
        pts: like.pts,
        duration: like.duration,
        color: like.color,
    }
}

/// Bicubic upscaling by a whole factor in YUV, no colour conversion: the cheap output for live
/// frames SR has no time for. The swscale context is kept between frames (building its filter
/// tables for 4K costs more than scaling one frame) and rebuilt when the input size changes.
/// Not `Send` (swscale's context): make it on the thread that uses it.
pub struct FrameUpscaler {
    scale: u32,
    context: Option<(scaling::Context, (u32, u32))>,
}

impl FrameUpscaler {
    pub fn new(scale: u32) -> Self {
        Self {
            scale,
            context: None,
        }
    }

    pub fn upscale(&mut self, yuv: &YuvFrame) -> Result<YuvFrame, PictureError> {
        let (width, height) = (yuv.width * self.scale, yuv.height * self.scale);
        let size = (yuv.width, yuv.height);
        if self.context.as_ref().is_none_or(|(_, s)| *s != size) {
            super::init();
            let context = scaling::Context::get(
                format::Pixel::YUV420P,
                yuv.width,
                yuv.height,
                format::Pixel::YUV420P,
                width,
                height,
                scaling::Flags::BICUBIC,
            )
            .map_err(|cause| PictureError::NoScaler {
                from: size,
                to: (width, height),
                cause,
            })?;
            self.context = Some((context, size));
        }
        let (context, _) = self.context.as_mut().expect("just made");
        let mut out = frame::Video::empty();
        context
            .run(&to_ffmpeg_picture(yuv), &mut out)
            .map_err(PictureError::UpscaleFailed)?;
        Ok(scaled_frame(&out, width, height, yuv))
    }
}

/// The `width` x `height` region at (x, y); all four are rounded down to even numbers so the
/// chroma planes crop exactly. `None` when the region does not fit.
pub fn crop(yuv: &YuvFrame, x: u32, y: u32, width: u32, height: u32) -> Option<YuvFrame> {
    let (x, y, width, height) = (x & !1, y & !1, width & !1, height & !1);
    if width == 0 || height == 0 || x + width > yuv.width || y + height > yuv.height {
        return None;
    }
    let rows = |plane: &[u8], stride: u32, x: u32, y: u32, w: u32, h: u32| -> Vec<u8> {
        (y..y + h)
            .flat_map(|row| {
                let start = (row * stride + x) as usize;
                plane[start..start + w as usize].iter().copied()
            })
            .collect()
    };
    let (cw, _) = YuvFrame::chroma_size(yuv.width, yuv.height);
    Some(YuvFrame {
        width,
        height,
        y: rows(&yuv.y, yuv.width, x, y, width, height),
        u: rows(&yuv.u, cw, x / 2, y / 2, width / 2, height / 2),
        v: rows(&yuv.v, cw, x / 2, y / 2, width / 2, height / 2),
        ..yuv.clone()
    })
}

/// PNG bytes of a picture (converted to 8-bit RGB with its own colour matrix).
pub fn encode_png(yuv: &YuvFrame) -> Result<Vec<u8>, PictureError> {
    let rgb = convert(
        yuv,
        (yuv.width, yuv.height),
        format::Pixel::RGB24,
        scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
    )?;
    let png = encoder::find(codec::Id::PNG).ok_or(PictureError::NoPngEncoder)?;
    let mut enc = codec::context::Context::new_with_codec(png)
        .encoder()
        .video()
        .map_err(PictureError::PngContext)?;
    enc.set_width(yuv.width);
    enc.set_height(yuv.height);
    enc.set_format(format::Pixel::RGB24);
    enc.set_time_base(Rational(1, 1));
    let mut enc = enc.open().map_err(PictureError::PngOpen)?;
    enc.send_frame(&rgb).map_err(PictureError::Png)?;
    let _ = enc.send_eof();
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet).map_err(PictureError::Png)?;
    Ok(packet.data().map(<[u8]>::to_vec).unwrap_or_default())
}

/// The top-left corner of the `size` x `size` square with the most luma detail (sum of absolute
/// horizontal and vertical differences), searched on a grid of half-patch steps: the regions
/// where SR has the most to learn.
pub fn most_detailed_square(yuv: &YuvFrame, size: u32) -> Option<(u32, u32)> {
    if size == 0 || size > yuv.width || size > yuv.height {
        return None;
    }
    let step = (size / 2).max(1);
    let w = yuv.width as usize;
    let mut best = None;
    let mut best_score = -1i64;
    let mut y0 = 0;
    while y0 + size <= yuv.height {
        let mut x0 = 0;
        while x0 + size <= yuv.width {
            let mut score = 0i64;
            // Every other row and column: enough to rank regions, 4x cheaper.
            for y in (y0..y0 + size - 1).step_by(2) {
                let row = y as usize * w;
                for x in (x0..x0 + size - 1).step_by(2) {
                    let p = i64::from(yuv.y[row + x as usize]);
                    score += (p - i64::from(yuv.y[row + x as usize + 1])).abs()
                        + (p - i64::from(yuv.y[row + w + x as usize])).abs();
                }
            }
            if score > best_score {
                best_score = score;
                best = Some((x0, y0));
            }
            x0 += step;
        }
        y0 += step;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    #[test]
    fn crop_resize_png_and_detail_search() {
        let mut f = YuvFrame::filled(64, 32, 100, 128, 128, ColorInfo::default_for_height(32));
        // A checkerboard in the right half: the detailed region.
        for y in 0..32 {
            for x in 32..64 {
                f.y[y * 64 + x] = if (x + y) % 2 == 0 { 20 } else { 230 };
            }
        }
        assert_eq!(most_detailed_square(&f, 16), Some((32, 0)));
        let c = crop(&f, 33, 3, 17, 9).unwrap();
        assert_eq!((c.width, c.height, c.y.len(), c.u.len()), (16, 8, 128, 32));
        assert_eq!(c.y[0], f.y[2 * 64 + 32]);
        assert!(crop(&f, 60, 0, 16, 16).is_none());
        let small = resize(&f, 16, 8).unwrap();
        assert_eq!((small.width, small.height, small.y.len()), (16, 8, 128));
        let png = encode_png(&c).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
