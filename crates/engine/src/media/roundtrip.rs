//! In-memory H.264 encode -> decode of a few small frames: the compression a phone's live stream
//! puts on its pictures, applied to training LR patches as augmentation (`train --h264-crf`).

use super::h264::{H264LiveEncoder, H264StreamDecoder, RateControl};
use super::MediaError;
use crate::frame::YuvFrame;

/// A round-trip error at `stage`, from whatever went wrong there.
fn failed<E: std::fmt::Display>(stage: &'static str) -> impl Fn(E) -> MediaError {
    move |reason| MediaError::RoundTrip {
        stage,
        reason: reason.to_string(),
    }
}

/// Encode `frames` (all one size, even width and height) with libx264 at `crf` (ultrafast,
/// zerolatency, as a live sender would) and decode them back. Frame order and colour tags kept.
pub fn h264_round_trip(frames: &[YuvFrame], crf: u8) -> Result<Vec<YuvFrame>, MediaError> {
    let Some(first) = frames.first() else {
        return Ok(Vec::new());
    };
    let (w, h) = (first.width, first.height);
    if frames.iter().any(|f| (f.width, f.height) != (w, h)) {
        return Err(failed("input")(format!(
            "frames must share one size, first is {w}x{h}"
        )));
    }
    let mut encoder =
        H264LiveEncoder::new(w, h, 30.0, RateControl::Crf(crf), 10.0).map_err(failed("encoder"))?;
    let mut decoder = H264StreamDecoder::new().map_err(failed("decoder"))?;
    let mut decoded = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        let pts_us = i as i64 * 33_333;
        for unit in encoder.encode(f, pts_us).map_err(failed("encode"))? {
            decoded.extend(decoder.decode(&unit.data, unit.pts_us));
        }
    }
    for unit in encoder.finish() {
        decoded.extend(decoder.decode(&unit.data, unit.pts_us));
    }
    decoded.extend(decoder.flush());
    if decoded.len() != frames.len() {
        return Err(failed("decode")(format!(
            "{} frames in, {} out{}",
            frames.len(),
            decoded.len(),
            decoder
                .last_error
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )));
    }
    Ok(decoded
        .into_iter()
        .zip(frames)
        .map(|(back, source)| YuvFrame {
            pts: source.pts,
            duration: source.duration,
            color: source.color,
            ..back
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    #[test]
    fn round_trip_keeps_count_and_size_and_loses_more_at_higher_crf() {
        // a diagonal gradient with fine detail: compresses visibly at high CRF
        let (w, h) = (32u32, 32u32);
        let frames: Vec<YuvFrame> = (0..6)
            .map(|k| {
                let mut f = YuvFrame::filled(w, h, 0, 128, 128, ColorInfo::default_for_height(h));
                for (i, p) in f.y.iter_mut().enumerate() {
                    let (x, y) = (i as u32 % w, i as u32 / w);
                    *p = ((x * 7 + y * 3 + k * 5) % 64 * 3 + (x ^ y) % 2 * 40) as u8;
                }
                f
            })
            .collect();
        let error = |crf| {
            let back = h264_round_trip(&frames, crf).unwrap();
            assert_eq!(back.len(), frames.len());
            assert!(back.iter().all(|f| f.y.len() == (w * h) as usize));
            let sum: u64 = frames
                .iter()
                .zip(&back)
                .flat_map(|(a, b)| a.y.iter().zip(&b.y))
                .map(|(&a, &b)| u64::from(a.abs_diff(b)))
                .sum();
            sum as f64 / (frames.len() as f64 * f64::from(w * h))
        };
        let (fine, coarse) = (error(10), error(40));
        assert!(
            fine < coarse,
            "CRF 10 error {fine} should be below CRF 40 error {coarse}"
        );
        assert!(coarse > 1.0, "CRF 40 barely changed the picture ({coarse})");
        assert!(h264_round_trip(
            &frames[..1]
                .iter()
                .map(|f| YuvFrame {
                    width: 31,
                    ..f.clone()
                })
                .collect::<Vec<_>>(),
            20
        )
        .is_err());
    }
}
