//! Scene cuts in a stream, from a cheap content statistic of each decoded frame: a luma
//! histogram and the mean chroma. A pan or zoom over one scene moves them a little; a cut to
//! another scene moves them a lot. Learning uses it to drop what it learned of the old scene at
//! the first frame of the new one (weights learned on one scene can be worse than the generic
//! model on another).

use crate::frame::YuvFrame;

const BINS: usize = 16;
/// Luma samples taken every this many pixels in each direction (a 240x136 frame: ~2000).
const STRIDE: usize = 4;
/// Distance above which two consecutive frames belong to different scenes. Measured (at the
/// stream's 240x136): consecutive frames of pans over one photo (the bench's pan.mp4, the
/// bundled demo) stay below 0.06; the cut between two held-out photos in cut.mp4 is 1.7.
pub const CUT_DISTANCE: f32 = 0.4;

/// A frame's content statistic: normalised luma histogram, then mean U and V (0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct Signature([f32; BINS + 2]);

impl Signature {
    pub fn of(frame: &YuvFrame) -> Self {
        let mut s = [0f32; BINS + 2];
        let (w, h) = (frame.width as usize, frame.height as usize);
        let mut samples = 0f32;
        for row in (0..h).step_by(STRIDE) {
            for &luma in frame.y[row * w..(row + 1) * w].iter().step_by(STRIDE) {
                s[usize::from(luma) * BINS / 256] += 1.0;
                samples += 1.0;
            }
        }
        for bin in &mut s[..BINS] {
            *bin /= samples.max(1.0);
        }
        let mean = |plane: &[u8]| {
            plane.iter().map(|&v| f32::from(v)).sum::<f32>() / (plane.len().max(1) as f32 * 255.0)
        };
        s[BINS] = mean(&frame.u);
        s[BINS + 1] = mean(&frame.v);
        Self(s)
    }

    /// Histogram L1 distance (0..2) plus four times the chroma shift.
    pub fn distance(&self, other: &Self) -> f32 {
        let hist: f32 = (0..BINS).map(|i| (self.0[i] - other.0[i]).abs()).sum();
        let chroma =
            (self.0[BINS] - other.0[BINS]).abs() + (self.0[BINS + 1] - other.0[BINS + 1]).abs();
        hist + 4.0 * chroma
    }
}

/// Watches consecutive frames; counts the cuts seen.
#[derive(Default)]
pub struct SceneCuts {
    last: Option<Signature>,
    /// Cuts so far: frames after the n-th cut belong to scene n.
    pub scene: u64,
}

impl SceneCuts {
    /// True when `frame` starts a new scene.
    pub fn observe(&mut self, frame: &YuvFrame) -> bool {
        let signature = Signature::of(frame);
        let cut = self
            .last
            .as_ref()
            .is_some_and(|last| last.distance(&signature) > CUT_DISTANCE);
        self.last = Some(signature);
        if cut {
            self.scene += 1;
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    /// A gradient frame shifted by `shift` pixels (a pan), brightness `offset`.
    fn gradient(shift: usize, offset: u8) -> YuvFrame {
        let mut f = YuvFrame::filled(64, 48, 0, 128, 128, ColorInfo::default_for_height(48));
        for row in 0..48 {
            for col in 0..64 {
                f.y[row * 64 + col] = (((col + shift) * 3 + row) % 200) as u8 + offset;
            }
        }
        f
    }

    #[test]
    fn a_pan_is_one_scene_and_a_jump_in_content_is_a_cut() {
        let mut cuts = SceneCuts::default();
        for shift in 0..10 {
            assert!(!cuts.observe(&gradient(shift, 0)), "pan step {shift}");
        }
        let other = YuvFrame::filled(64, 48, 200, 90, 160, ColorInfo::default_for_height(48));
        assert!(cuts.observe(&other));
        assert!(!cuts.observe(&other));
        assert_eq!(cuts.scene, 1);
    }
}
