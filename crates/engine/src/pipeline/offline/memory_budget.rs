//! Jobs that cannot fit are refused before they start: an 8K input upscaled x4 needs gigabytes
//! per frame in flight (fp32 RGB at 16x the input's pixels), and finding out by running means
//! the OOM killer or a failed allocation mid-file. The estimate is deliberately coarse (bytes per
//! output and input pixel for what a job holds at once), checked against what the system says
//! is available.

/// Bytes per output pixel that each SR lane holds: the fp32 RGB output, the network's output
/// before the shuffle, a tile's copy, and the 8-bit YUV frame.
const LANE_BYTES_PER_OUTPUT_PIXEL: u64 = 38;
/// Bytes per output pixel held once: the encoder's queue and its own frames (x265 lookahead).
const SHARED_BYTES_PER_OUTPUT_PIXEL: u64 = 51;
/// Bytes per input pixel per lane: the fp32 RGB input and the network's features over one tile.
const LANE_BYTES_PER_INPUT_PIXEL: u64 = 24;
/// Libraries, models and buffers that do not scale with the picture.
const BASELINE_BYTES: u64 = 512 << 20;

/// Memory a job of this size is expected to need at its peak.
pub fn offline_need(input: (u32, u32), scale: u32, lanes: usize) -> u64 {
    let in_px = u64::from(input.0) * u64::from(input.1);
    let out_px = in_px * u64::from(scale) * u64::from(scale);
    let lanes = lanes.max(1) as u64;
    out_px * (lanes * LANE_BYTES_PER_OUTPUT_PIXEL + SHARED_BYTES_PER_OUTPUT_PIXEL)
        + in_px * lanes * LANE_BYTES_PER_INPUT_PIXEL
        + BASELINE_BYTES
}

/// What the system can give without swapping (Linux `MemAvailable`); `None` where unknown.
pub fn available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimate grows with the output's pixels and the lanes, and a 12K input x4 needs more
    /// than any desktop has.
    #[test]
    fn need_scales_with_output_pixels_and_lanes() {
        let hd = offline_need((960, 540), 4, 2);
        assert!(hd > 1 << 30 && hd < 2 << 30, "960x540 x4: {hd}");
        assert!(offline_need((960, 540), 4, 4) > hd);
        // four times the pixels: more than twice the need (the baseline does not scale)
        assert!(offline_need((1920, 1080), 4, 2) > 2 * hd);
        assert!(offline_need((12288, 12288), 4, 1) > 200 << 30);
    }
}
