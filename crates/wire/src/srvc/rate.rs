//! How many weight changes a segment may send so that the model stream stays within a share of
//! the file's bits. Without it the stream costs what `--fraction` makes it cost whatever the
//! video's rate: 40% of the bits of a cheap 10 s pan (where it lost at equal bits), 22% of
//! vtest.avi at CRF 36. The LR video is encoded before any segment is trained, so its size is
//! known and the whole file's allowance can be planned: a scene's first segment (ten times the
//! changes) spends what the file's later segments, at their normal update, leave over, as a
//! video codec's rate control lets a key frame borrow from the frames after it.

use super::stream::Quantization;

/// Bytes a segment costs besides its changes: length and CRC, zlib's frame, start and count,
/// int8's per-tensor scales (measured 40-90 bytes for fmen-tiny-x4).
const SEGMENT_OVERHEAD: f64 = 64.0;

/// Fewer changes than this are not worth a segment (their gain is below what the gate can see).
const MIN_CHANGES: usize = 16;

/// The model stream's allowance over the whole file, and what has been spent of it.
#[derive(Debug, Clone)]
pub struct StreamBudget {
    /// Bytes the whole stream may take (`f64::INFINITY` without a cap).
    allowed: f64,
    spent: f64,
    /// Bytes per change of the segments sent so far (starts at a measured typical value).
    changes_sent: f64,
    change_bytes_sent: f64,
    per_change: f64,
    /// What a segment without changes costs (every segment is written, even an empty one).
    empty_bytes: f64,
}

impl StreamBudget {
    /// The stream may take `max_share` of all the file's bits (LR video + stream); `None` or
    /// 1.0 means no cap. `header_bytes` are spent already; a segment with no changes costs
    /// `empty_bytes`.
    pub fn new(
        max_share: Option<f64>,
        video_bytes: u64,
        (header_bytes, empty_bytes): (usize, usize),
        quantization: Quantization,
    ) -> Self {
        let allowed = match max_share {
            Some(share) if share < 1.0 => video_bytes as f64 * share / (1.0 - share),
            _ => f64::INFINITY,
        };
        // Measured on vtest.avi and the synthetic pans: int8 values + delta-coded indices
        // compress to ~1.5 bytes a change, fp16 ones to ~2.6.
        let per_change = match quantization {
            Quantization::Int8 => 1.6,
            Quantization::Fp16 => 2.6,
        };
        Self {
            allowed,
            spent: header_bytes as f64,
            changes_sent: 0.0,
            change_bytes_sent: 0.0,
            per_change,
            empty_bytes: empty_bytes as f64,
        }
    }

    /// The bytes this segment may take: at least an equal share of what is left with the
    /// `later` segments still to come, at most what leaves each of them `later_changes`, and
    /// always what leaves each of them an empty segment.
    pub fn allowance(&self, later: usize, later_changes: usize) -> f64 {
        let left = (self.allowed - self.spent).max(0.0);
        let normal = self.bytes_for(later_changes);
        let reserve = normal
            .min(left / (later as f64 + 1.0))
            .max(self.empty_bytes);
        left - later as f64 * reserve
    }

    /// The most changes (at most `wanted`) that fit in `bytes`; 0 when too few would fit.
    pub fn changes_within(&self, bytes: f64, wanted: usize) -> usize {
        if !bytes.is_finite() {
            return wanted;
        }
        let fit = ((bytes - SEGMENT_OVERHEAD) / self.per_change)
            .floor()
            .max(0.0) as usize;
        match fit.min(wanted) {
            n if n < MIN_CHANGES => 0,
            n => n,
        }
    }

    /// Fewer changes after `changes` came out at `bytes`, over `allowance`: scaled by the cost
    /// just measured, 5% under, always fewer than before; 0 when too few would be left.
    pub fn shrink(&self, changes: usize, bytes: usize, allowance: f64) -> usize {
        let per_change = (bytes as f64 - SEGMENT_OVERHEAD).max(1.0) / changes.max(1) as f64;
        let fit = ((allowance - SEGMENT_OVERHEAD) / per_change * 0.95)
            .floor()
            .max(0.0) as usize;
        match fit.min(changes.saturating_sub(1)) {
            n if n < MIN_CHANGES => 0,
            n => n,
        }
    }

    /// What a segment of `changes` is expected to cost.
    pub fn bytes_for(&self, changes: usize) -> f64 {
        SEGMENT_OVERHEAD + changes as f64 * self.per_change
    }

    /// A segment written: `bytes` spent, and the cost per change learned from it.
    pub fn record(&mut self, changes: usize, bytes: usize) {
        self.spent += bytes as f64;
        if changes > 0 {
            self.changes_sent += changes as f64;
            self.change_bytes_sent += (bytes as f64 - SEGMENT_OVERHEAD).max(0.0);
            self.per_change = (self.change_bytes_sent / self.changes_sent).max(0.5);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_cap_every_segment_sends_what_it_wants() {
        // 4088 changes would take ~6.6 kB, more than the 10 kB video's share could give.
        for cap in [None, Some(1.0)] {
            let budget = StreamBudget::new(cap, 10_000, (1_000, 25), Quantization::Int8);
            let allowance = budget.allowance(5, 409);
            assert!(allowance.is_infinite(), "{cap:?}: {allowance}");
            assert_eq!(budget.changes_within(allowance, 4088), 4088);
        }
    }

    #[test]
    fn a_scene_start_borrows_what_the_later_segments_leave() {
        // 10% of 90 kB of video: 10 kB for the stream, 1 kB of it the header.
        let mut budget = StreamBudget::new(Some(0.1), 90_000, (1_000, 25), Quantization::Int8);
        let allowance = budget.allowance(5, 400);
        // Five later segments of 400 changes at 1.6 bytes + 64 keep 5 x 704 bytes.
        assert!(
            (allowance - (9_000.0 - 5.0 * 704.0)).abs() < 1e-6,
            "{allowance}"
        );
        let key = budget.changes_within(allowance, 4_000);
        assert_eq!(key, ((allowance - 64.0) / 1.6) as usize);
        budget.record(key, 5_000);
        // The cost per change is learned from what was sent.
        assert!((budget.bytes_for(100) - (64.0 + 100.0 * (4_936.0 / key as f64))).abs() < 1e-9);
    }

    #[test]
    fn a_tight_budget_is_shared_and_never_overdrawn() {
        // 10% of 20 kB: 2.2 kB, 1 kB of it the header; three segments left.
        let mut budget = StreamBudget::new(Some(0.1), 20_000, (1_000, 25), Quantization::Int8);
        let mut spent = 1_000.0;
        for later in (0..3).rev() {
            let allowance = budget.allowance(later, 400);
            let changes = budget.changes_within(allowance, 4_000);
            let bytes = budget.bytes_for(changes).round() as usize;
            assert!(
                bytes as f64 <= allowance + 1.0,
                "{later}: {bytes} > {allowance}"
            );
            budget.record(changes, bytes);
            spent += bytes as f64;
        }
        assert!(spent <= 1_000.0 + 20_000.0 / 9.0 + 1.0, "{spent}");
        // Nothing left: too few changes would fit, so the segment sends none.
        let mut empty = StreamBudget::new(Some(0.01), 20_000, (1_000, 25), Quantization::Int8);
        assert_eq!(empty.changes_within(empty.allowance(0, 400), 4_000), 0);
        empty.record(0, 30);
        assert_eq!(empty.changes_within(empty.allowance(0, 400), 4_000), 0);
        // The last bytes are kept for the later segments' empty segments.
        let mut last = StreamBudget::new(Some(0.1), 9_000, (800, 25), Quantization::Int8);
        last.record(0, 25);
        assert_eq!(last.allowance(3, 400), 175.0 - 3.0 * 43.75);
        last.record(0, 100);
        assert_eq!(last.allowance(3, 400), 75.0 - 3.0 * 25.0);
    }

    #[test]
    fn an_oversized_segment_shrinks_until_it_fits() {
        let budget = StreamBudget::new(Some(0.1), 90_000, (1_000, 25), Quantization::Int8);
        // 1000 changes came out at 3064 bytes (3 a change) for 1564 allowed: ~475 fit.
        let fewer = budget.shrink(1_000, 3_064, 1_564.0);
        assert_eq!(fewer, 475);
        // Always fewer than before, and none when too few would be left.
        assert_eq!(budget.shrink(1_000, 1_100, 2_000.0), 999);
        assert_eq!(budget.shrink(100, 3_064, 100.0), 0);
    }
}
