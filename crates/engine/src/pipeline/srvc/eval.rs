//! `stronglive srvc eval HR.mp4`: rate and quality of content-adaptive compression against what
//! a user could do instead, at several CRFs: H.265 at full resolution (same encoder, same CRF),
//! and the same LR H.265 video upscaled by bicubic, by the generic model and by SRVC (the LR
//! video plus its model stream). Quality is PSNR-Y and SSIM-Y (shave = scale) against the HR
//! frames, on every `sample_every`-th frame; rate counts every byte a viewer needs (video +
//! model stream). BD-rate (Bjøntegaard, cubic fit of log-rate over PSNR) summarises each pair.

use std::path::{Path, PathBuf};

use crate::media::{EncoderChoice, MediaError, MediaWriter, OutputPlan, Quality, VideoDecoder};
use crate::sr::color::frame_to_rgb_cpu;
use crate::sr::quality::{psnr_y, ssim_y};
use crate::sr::{load_model, ComputeDevice, SrError, Upscaler};

use crate::pipeline::srvc::encode::{srvc_encode, SrvcEncodeError, SrvcOptions, SrvcReport};
use crate::pipeline::srvc::playback::{model_stream_of, SrvcPlayback};
use crate::pipeline::training_data::crop_to_scale_grid;

/// The ways of sending the HR video that are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    FullResH265,
    LrBicubic,
    LrGeneric,
    LrSrvc,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::FullResH265,
        Method::LrBicubic,
        Method::LrGeneric,
        Method::LrSrvc,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Method::FullResH265 => "H.265 full resolution",
            Method::LrBicubic => "LR H.265 + bicubic",
            Method::LrGeneric => "LR H.265 + generic model",
            Method::LrSrvc => "LR H.265 + SRVC",
        }
    }
}

/// One point of a rate-quality curve.
#[derive(Debug, Clone, Copy)]
pub struct RatePoint {
    pub method: Method,
    pub crf: u8,
    /// Everything a viewer needs: video, plus the model stream for SRVC.
    pub kbps: f64,
    pub psnr_y: f64,
    pub ssim_y: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SrvcEvalError {
    #[error(transparent)]
    Encode(#[from] SrvcEncodeError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{}: {source}", path.display())]
    Sr { path: PathBuf, source: SrError },
}

/// Measure every method at every CRF; `on_point` sees each point as it is measured and
/// `on_encoded` each CRF's SRVC encode (its segments' gains and times).
#[allow(clippy::too_many_arguments)]
pub fn srvc_eval(
    input: &Path,
    crfs: &[u8],
    options: &SrvcOptions,
    device: &ComputeDevice,
    sample_every: usize,
    work_dir: &Path,
    mut on_point: impl FnMut(&RatePoint),
    mut on_encoded: impl FnMut(u8, &SrvcReport),
) -> Result<Vec<RatePoint>, SrvcEvalError> {
    let sr_err = |source| SrvcEvalError::Sr {
        path: input.to_path_buf(),
        source,
    };
    let bicubic = Upscaler::new(
        load_model("bicubic", options.scale, device).map_err(sr_err)?,
        device.clone(),
    );
    let generic = Upscaler::new(
        load_model(&options.base, options.scale, device).map_err(sr_err)?,
        device.clone(),
    );
    let srvc = Upscaler::new(
        load_model(&options.base, options.scale, device).map_err(sr_err)?,
        device.clone(),
    );
    let mut points = Vec::new();
    for &crf in crfs {
        let full = work_dir.join(format!("full-crf{crf}.mkv"));
        let seconds = encode_full_res(input, &full, crf, options.scale)?;
        let (psnr, ssim) = quality(input, &full, None, None, options.scale, sample_every)?;
        let mut push = |p: RatePoint| {
            on_point(&p);
            points.push(p);
        };
        push(RatePoint {
            method: Method::FullResH265,
            crf,
            kbps: kbps(&full, seconds),
            psnr_y: psnr,
            ssim_y: ssim,
        });
        let lr = work_dir.join(format!("srvc-crf{crf}.mkv"));
        let never = std::sync::atomic::AtomicBool::new(false);
        let options = SrvcOptions {
            crf,
            ..options.clone()
        };
        let report = srvc_encode(input, &lr, &options, device, &never, |_| {})?;
        on_encoded(crf, &report);
        let (video_kbps, model_kbps) = report.kbps();
        for (method, upscaler, with_stream) in [
            (Method::LrBicubic, &bicubic, false),
            (Method::LrGeneric, &generic, false),
            (Method::LrSrvc, &srvc, true),
        ] {
            let playback = if with_stream {
                let bytes = model_stream_of(&lr)?.expect("srvc encode attaches the stream");
                // Checked against the generic model, whose weights never change here.
                Some(
                    SrvcPlayback::new(&lr, &bytes, generic.model()).map_err(|e| {
                        SrvcEvalError::Sr {
                            path: lr.clone(),
                            source: SrError::Training(e.to_string()),
                        }
                    })?,
                )
            } else {
                None
            };
            let (psnr, ssim) = quality(
                input,
                &lr,
                Some(upscaler),
                playback,
                options.scale,
                sample_every,
            )?;
            push(RatePoint {
                method,
                crf,
                kbps: video_kbps + if with_stream { model_kbps } else { 0.0 },
                psnr_y: psnr,
                ssim_y: ssim,
            });
        }
        let _ = std::fs::remove_file(&full);
        let _ = std::fs::remove_file(&lr);
    }
    Ok(points)
}

fn kbps(path: &Path, seconds: f64) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 * 8.0 / 1000.0 / seconds.max(1e-3))
}

/// The anchor: the HR video (cropped like the SR methods' output) through H.265 at `crf`;
/// returns its duration in seconds.
fn encode_full_res(input: &Path, out: &Path, crf: u8, scale: u32) -> Result<f64, SrvcEvalError> {
    let mut decoder = VideoDecoder::open(input)?;
    let info = decoder.info().clone();
    let grid = 2 * scale;
    let mut writer = MediaWriter::create(
        &OutputPlan {
            path: out.to_path_buf(),
            width: info.video.width / grid * grid,
            height: info.video.height / grid * grid,
            encoder: EncoderChoice::Hevc,
            quality: Quality::Crf(crf),
        },
        &decoder,
    )?;
    while let Some(frame) = decoder.next_frame()? {
        writer.write_frame(&crop_to_scale_grid(frame, scale))?;
    }
    writer.finish()?;
    Ok(info.duration_s)
}

/// Mean PSNR-Y and SSIM-Y of `candidate`'s frames (upscaled by `upscaler` when given, with the
/// SRVC weights schedule when given) against `input`'s, on every `every`-th frame.
fn quality(
    input: &Path,
    candidate: &Path,
    upscaler: Option<&Upscaler>,
    mut playback: Option<SrvcPlayback>,
    scale: u32,
    every: usize,
) -> Result<(f64, f64), SrvcEvalError> {
    let sr_err = |source| SrvcEvalError::Sr {
        path: candidate.to_path_buf(),
        source,
    };
    let mut hr = VideoDecoder::open(input)?;
    let mut cand = VideoDecoder::open(candidate)?;
    let time_base = cand.time_base();
    let (mut sum_p, mut sum_s, mut n, mut index) = (0.0, 0.0, 0usize, 0usize);
    let cpu = ComputeDevice::cpu().device;
    while let (Some(truth), Some(frame)) = (hr.next_frame()?, cand.next_frame()?) {
        if let (Some(p), Some(up)) = (playback.as_mut(), upscaler) {
            if let Some(w) = p.weights_at(time_base.pts_us(frame.pts)) {
                let network = up.model().as_network().expect("SRVC runs a network");
                network.set_weights(&w).map_err(sr_err)?;
            }
        }
        index += 1;
        if (index - 1) % every.max(1) != 0 {
            continue;
        }
        let truth = frame_to_rgb_cpu(&crop_to_scale_grid(truth, scale)).map_err(sr_err)?;
        let out = match upscaler {
            Some(up) => up
                .upscale_rgb(&frame_to_rgb_cpu(&frame).map_err(sr_err)?)
                .map_err(sr_err)?,
            None => frame_to_rgb_cpu(&frame).map_err(sr_err)?,
        }
        .clamp(0.0, 1.0)
        .to_device(cpu);
        sum_p += psnr_y(&out, &truth, i64::from(scale));
        sum_s += ssim_y(&out, &truth, i64::from(scale));
        n += 1;
    }
    Ok((sum_p / n.max(1) as f64, sum_s / n.max(1) as f64))
}

/// Bjøntegaard delta rate of `test` against `anchor` (each: (kbit/s, PSNR) points): the mean
/// bitrate difference in percent at equal PSNR over the PSNR range both cover (negative: `test`
/// needs fewer bits). `None` without an overlap or with fewer than two points each.
pub fn bd_rate(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let psnr_to_log_rate = |p: &[(f64, f64)]| -> Vec<(f64, f64)> {
        p.iter()
            .map(|&(rate, psnr)| (psnr, rate.max(1e-9).ln()))
            .collect()
    };
    let mean_log_ratio = mean_difference(&psnr_to_log_rate(anchor), &psnr_to_log_rate(test))?;
    Some((mean_log_ratio.exp() - 1.0) * 100.0)
}

/// Bjøntegaard delta PSNR of `test` against `anchor` (each: (kbit/s, PSNR) points): the mean
/// PSNR difference in dB at equal bitrate over the bitrate range both cover (positive: `test`
/// is better for the same bits). `None` as for [`bd_rate`].
pub fn bd_psnr(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let log_rate_to_psnr = |p: &[(f64, f64)]| -> Vec<(f64, f64)> {
        p.iter()
            .map(|&(rate, psnr)| (rate.max(1e-9).ln(), psnr))
            .collect()
    };
    mean_difference(&log_rate_to_psnr(anchor), &log_rate_to_psnr(test))
}

/// The mean of `test`'s y minus `anchor`'s over the x range both cover, each curve fitted by a
/// polynomial of y over x (cubic with four or more points).
fn mean_difference(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    if anchor.len() < 2 || test.len() < 2 {
        return None;
    }
    let fit = |points: &[(f64, f64)]| {
        let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
        polyfit(&xs, &ys, (points.len() - 1).min(3))
    };
    let (pa, pt) = (fit(anchor)?, fit(test)?);
    let range = |p: &[(f64, f64)]| {
        let lo = p.iter().map(|q| q.0).fold(f64::MAX, f64::min);
        let hi = p.iter().map(|q| q.0).fold(f64::MIN, f64::max);
        (lo, hi)
    };
    let ((la, ha), (lt, ht)) = (range(anchor), range(test));
    let (lo, hi) = (la.max(lt), ha.min(ht));
    if hi <= lo {
        return None;
    }
    let integral = |c: &[f64]| {
        let antiderivative = |x: f64| {
            c.iter()
                .enumerate()
                .map(|(k, a)| a * x.powi(k as i32 + 1) / (k as f64 + 1.0))
                .sum::<f64>()
        };
        antiderivative(hi) - antiderivative(lo)
    };
    Some((integral(&pt) - integral(&pa)) / (hi - lo))
}

/// Least-squares polynomial of `degree` through (x, y): coefficients from x^0 up.
fn polyfit(xs: &[f64], ys: &[f64], degree: usize) -> Option<Vec<f64>> {
    let n = degree + 1;
    // Normal equations A^T A c = A^T y, solved by Gaussian elimination with partial pivoting.
    let mut m = vec![vec![0.0; n + 1]; n];
    for (x, y) in xs.iter().zip(ys) {
        for (r, row) in m.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().take(n).enumerate() {
                *cell += x.powi((r + c) as i32);
            }
            row[n] += y * x.powi(r as i32);
        }
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r == col {
                continue;
            }
            let f = row[col] / pivot_row[col];
            for (cell, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                *cell -= f * p;
            }
        }
    }
    Some(
        m.iter()
            .enumerate()
            .map(|(r, row)| row[n] / row[r])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bd_rate_of_a_curve_against_itself_is_zero_and_half_the_bits_is_minus_fifty() {
        let anchor = [(100.0, 30.0), (200.0, 32.0), (400.0, 34.0), (800.0, 36.0)];
        assert!(bd_rate(&anchor, &anchor).unwrap().abs() < 1e-6);
        let half: Vec<(f64, f64)> = anchor.iter().map(|&(r, p)| (r / 2.0, p)).collect();
        assert!((bd_rate(&anchor, &half).unwrap() + 50.0).abs() < 1e-6);
        let disjoint = [(100.0, 40.0), (200.0, 41.0)];
        assert_eq!(bd_rate(&anchor, &disjoint), None);
    }

    #[test]
    fn bd_psnr_of_a_curve_one_db_higher_is_one_db_and_needs_a_common_rate_range() {
        let anchor = [(100.0, 30.0), (200.0, 32.0), (400.0, 34.0), (800.0, 36.0)];
        assert!(bd_psnr(&anchor, &anchor).unwrap().abs() < 1e-9);
        let better: Vec<(f64, f64)> = anchor.iter().map(|&(r, p)| (r, p + 1.0)).collect();
        assert!((bd_psnr(&anchor, &better).unwrap() - 1.0).abs() < 1e-9);
        // Twice the bits for the same PSNR: 2 dB worse on this 2 dB-per-doubling curve.
        let dearer: Vec<(f64, f64)> = anchor.iter().map(|&(r, p)| (r * 2.0, p)).collect();
        assert!((bd_psnr(&anchor, &dearer).unwrap() + 2.0).abs() < 1e-6);
        let disjoint = [(5000.0, 40.0), (9000.0, 41.0)];
        assert_eq!(bd_psnr(&anchor, &disjoint), None);
    }
}
