//! What a live session outputs for a frame SR has no time for: its bicubic upscale (swscale, in
//! YUV) plus, where the input has not changed since the last super-resolved frame, that frame's
//! detail (its luma minus its own bicubic upscale). Chosen by measurement (`bench --fill`, PSNR-Y
//! of the filled frames against the true ones, SR on every 4th-16th frame): with a still camera
//! (vtest.avi) the carried detail gains +0.4 dB over bicubic alone, on a pan it is within 0.01 dB
//! of it (the moving pixels get none), where carrying it everywhere loses up to 0.6 dB there and
//! repeating the SR frame loses 2-7 dB. A pixel counts as unchanged when its whole 3x3
//! neighbourhood is within 2 luma levels (single pixels or 0-1 levels let a slow pan through).

use crate::frame::YuvFrame;
use crate::media::picture::{FrameUpscaler, PictureError};

/// Input luma may differ by this much (of 255) and still count as unchanged.
const STATIC_LUMA: u8 = 2;

/// The last super-resolved frame's input luma and its detail at output resolution.
struct CarriedDetail {
    lr_luma: Vec<u8>,
    lr_size: (u32, u32),
    detail: Vec<i16>,
}

/// Makes filled frames; not `Send` (swscale): make it on the stage's thread.
pub struct Filler {
    scale: u32,
    upscaler: FrameUpscaler,
    last: Option<CarriedDetail>,
}

impl Filler {
    pub fn new(scale: u32) -> Self {
        Self {
            scale,
            upscaler: FrameUpscaler::new(scale),
            last: None,
        }
    }

    /// After SR of `input` into `output`: keep its detail for the frames filled after it.
    pub fn remember(&mut self, input: &YuvFrame, output: &YuvFrame) -> Result<(), PictureError> {
        let bicubic = self.upscaler.upscale(input)?;
        if bicubic.y.len() != output.y.len() {
            self.last = None;
            return Ok(());
        }
        let detail = output
            .y
            .iter()
            .zip(&bicubic.y)
            .map(|(&sr, &b)| i16::from(sr) - i16::from(b))
            .collect();
        self.last = Some(CarriedDetail {
            lr_luma: input.y.clone(),
            lr_size: (input.width, input.height),
            detail,
        });
        Ok(())
    }

    /// The filled output for `input`.
    pub fn fill(&mut self, input: &YuvFrame) -> Result<YuvFrame, PictureError> {
        let mut out = self.upscaler.upscale(input)?;
        if let Some(last) = &self.last {
            if last.lr_size == (input.width, input.height) {
                self.add_static_detail(last, input, &mut out);
            }
        }
        Ok(out)
    }

    fn add_static_detail(&self, last: &CarriedDetail, input: &YuvFrame, out: &mut YuvFrame) {
        let s = self.scale as usize;
        let (w, h) = (input.width as usize, input.height as usize);
        let out_w = out.width as usize;
        let changed: Vec<bool> = input
            .y
            .iter()
            .zip(&last.lr_luma)
            .map(|(a, b)| a.abs_diff(*b) > STATIC_LUMA)
            .collect();
        // an output pixel's detail comes from a neighbourhood of input pixels (bicubic's
        // support, the network's receptive field): all of its 3x3 must be unchanged
        let still = |x: usize, y: usize| {
            (y.saturating_sub(1)..(y + 2).min(h))
                .all(|ny| (x.saturating_sub(1)..(x + 2).min(w)).all(|nx| !changed[ny * w + nx]))
        };
        for y in 0..h {
            for x in 0..w {
                if !still(x, y) {
                    continue;
                }
                for dy in 0..s {
                    let row = (y * s + dy) * out_w + x * s;
                    for o in row..row + s {
                        let v = i16::from(out.y[o]) + last.detail[o];
                        out.y[o] = v.clamp(0, 255) as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    fn frame(w: u32, h: u32, luma: impl Fn(u32, u32) -> u8) -> YuvFrame {
        let mut f = YuvFrame::filled(w, h, 0, 128, 128, ColorInfo::default_for_height(h));
        for y in 0..h {
            for x in 0..w {
                f.y[(y * w + x) as usize] = luma(x, y);
            }
        }
        f
    }

    /// Detail is carried where the input stayed the same and nowhere else; without an SR frame
    /// to carry from, a fill is the plain bicubic upscale.
    #[test]
    fn detail_is_carried_only_where_the_input_did_not_change() {
        let mut filler = Filler::new(4);
        let still = frame(16, 8, |x, _| 60 + x as u8 * 4);
        let plain = filler.fill(&still).unwrap();
        // an "SR" output: the bicubic upscale with +10 of detail everywhere
        let mut sr = plain.clone();
        sr.y.iter_mut().for_each(|v| *v += 10);
        filler.remember(&still, &sr).unwrap();
        // the next frame: the left half unchanged, the right half changed
        let next = frame(16, 8, |x, _| if x < 8 { 60 + x as u8 * 4 } else { 200 });
        let filled = filler.fill(&next).unwrap();
        let bicubic = FrameUpscaler::new(4).upscale(&next).unwrap();
        let row = 16 * 64 + 4; // output row 16, away from the edges
        for x in 4..24 {
            assert_eq!(filled.y[row + x], bicubic.y[row + x] + 10, "static x={x}");
        }
        for x in 40..60 {
            assert_eq!(filled.y[row + x], bicubic.y[row + x], "changed x={x}");
        }
        assert_eq!((filled.width, filled.height), (64, 32));
    }
}
