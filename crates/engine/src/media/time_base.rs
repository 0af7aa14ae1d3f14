//! A stream's time base (seconds per timestamp tick) as the engine passes it around: the
//! pipelines turn timestamps into microseconds with it without naming FFmpeg's types.

/// `numerator / denominator` seconds per tick (FFmpeg's `AVRational` of a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    pub numerator: i32,
    pub denominator: i32,
}

impl TimeBase {
    /// A timestamp in microseconds; a frame without one counts as the start (0).
    pub fn pts_us(self, pts: Option<i64>) -> i64 {
        pts.map_or(0, |pts| {
            pts * 1_000_000 * i64::from(self.numerator) / i64::from(self.denominator).max(1)
        })
    }
}

impl From<ffmpeg_next::Rational> for TimeBase {
    fn from(r: ffmpeg_next::Rational) -> Self {
        Self {
            numerator: r.numerator(),
            denominator: r.denominator(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_microseconds_and_a_missing_one_is_the_start() {
        let mpeg = TimeBase {
            numerator: 1,
            denominator: 90_000,
        };
        assert_eq!(mpeg.pts_us(Some(90_000)), 1_000_000);
        assert_eq!(mpeg.pts_us(Some(3_003)), 33_366);
        assert_eq!(mpeg.pts_us(None), 0);
        let broken = TimeBase {
            numerator: 1,
            denominator: 0,
        };
        assert_eq!(broken.pts_us(Some(5)), 5_000_000);
    }
}
