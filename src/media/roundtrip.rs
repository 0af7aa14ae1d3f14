//! In-memory H.264 encode -> decode of a few small frames: the compression a phone's live stream
//! puts on its pictures, applied to training LR patches as augmentation (`train --h264-crf`).

use ffmpeg_next::{codec, decoder, encoder, format, frame, Dictionary, Packet, Rational};

use super::{output::fill_plane, MediaError};
use crate::frame::YuvFrame;

fn failed(stage: &'static str) -> impl Fn(ffmpeg_next::Error) -> MediaError {
    move |e| MediaError::RoundTrip {
        stage,
        reason: e.to_string(),
    }
}

/// Encode `frames` (all one size, even width and height) with libx264 at `crf` (ultrafast,
/// zerolatency, as a live sender would) and decode them back. Frame order and colour tags kept.
pub fn h264_round_trip(frames: &[YuvFrame], crf: u8) -> Result<Vec<YuvFrame>, MediaError> {
    super::init();
    let Some(first) = frames.first() else {
        return Ok(Vec::new());
    };
    let (w, h) = (first.width, first.height);
    if w % 2 != 0 || h % 2 != 0 || frames.iter().any(|f| (f.width, f.height) != (w, h)) {
        return Err(MediaError::RoundTrip {
            stage: "input",
            reason: format!("frames must share one even size, first is {w}x{h}"),
        });
    }
    let x264 = encoder::find_by_name("libx264").ok_or(MediaError::RoundTrip {
        stage: "encoder",
        reason: "libx264 is not built into this FFmpeg".into(),
    })?;
    let mut enc = codec::context::Context::new_with_codec(x264)
        .encoder()
        .video()
        .map_err(failed("encoder context"))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(Rational(1, 30));
    enc.set_frame_rate(Some(Rational(30, 1)));
    let mut options = Dictionary::new();
    options.set("preset", "ultrafast");
    options.set("tune", "zerolatency");
    options.set("crf", &crf.to_string());
    let mut enc = enc.open_with(options).map_err(failed("open libx264"))?;
    let h264 = decoder::find(codec::Id::H264).ok_or(MediaError::RoundTrip {
        stage: "decoder",
        reason: "no H.264 decoder in this FFmpeg".into(),
    })?;
    let mut dec = codec::context::Context::new_with_codec(h264)
        .decoder()
        .video()
        .map_err(failed("decoder context"))?;

    let mut out = Vec::with_capacity(frames.len());
    let mut packet = Packet::empty();
    let mut decoded = frame::Video::empty();
    let (cw, ch) = YuvFrame::chroma_size(w, h);
    let mut collect = |dec: &mut decoder::Video, out: &mut Vec<YuvFrame>| {
        while dec.receive_frame(&mut decoded).is_ok() {
            let source = &frames[out.len().min(frames.len() - 1)];
            out.push(YuvFrame {
                width: w,
                height: h,
                y: super::decode::copy_plane(&decoded, 0, w, h),
                u: super::decode::copy_plane(&decoded, 1, cw, ch),
                v: super::decode::copy_plane(&decoded, 2, cw, ch),
                pts: source.pts,
                duration: source.duration,
                color: source.color,
            });
        }
    };
    for (i, f) in frames.iter().enumerate() {
        let mut picture = frame::Video::new(format::Pixel::YUV420P, w, h);
        fill_plane(&mut picture, 0, &f.y, w, h);
        fill_plane(&mut picture, 1, &f.u, cw, ch);
        fill_plane(&mut picture, 2, &f.v, cw, ch);
        picture.set_pts(Some(i as i64));
        enc.send_frame(&picture).map_err(failed("encode"))?;
        while enc.receive_packet(&mut packet).is_ok() {
            dec.send_packet(&packet).map_err(failed("decode"))?;
            collect(&mut dec, &mut out);
        }
    }
    enc.send_eof().map_err(failed("encode"))?;
    while enc.receive_packet(&mut packet).is_ok() {
        dec.send_packet(&packet).map_err(failed("decode"))?;
        collect(&mut dec, &mut out);
    }
    dec.send_eof().map_err(failed("decode"))?;
    collect(&mut dec, &mut out);
    if out.len() != frames.len() {
        return Err(MediaError::RoundTrip {
            stage: "decode",
            reason: format!("{} frames in, {} out", frames.len(), out.len()),
        });
    }
    Ok(out)
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
