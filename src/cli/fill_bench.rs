//! `stronglive bench --fill CLIP`: which cheap output a live session should give the frames SR
//! has no time for, by PSNR-Y against the clip's true frames. CLIP's frames are the camera's
//! truth, its phone stream (1/4 area + libx264) the input; SR (the CPU-tier model) runs on every
//! k-th frame, as a session keeping 1/k of the frames would, and the frames between are filled by
//! each strategy: bicubic in YUV (swscale), the last SR frame repeated, bicubic plus the last SR
//! frame's detail (its difference to its own bicubic) carried over everywhere, and the session's
//! fill (`pipeline::fill`: that detail only where the input did not change).

use std::path::Path;

use anyhow::{bail, Result};

use stronglive_engine::frame::YuvFrame;
use stronglive_engine::media::picture::FrameUpscaler;
use stronglive_engine::media::VideoDecoder;
use stronglive_engine::pipeline::adapt_video::PHONE_CRF;
use stronglive_engine::pipeline::live::fill::Filler;
use stronglive_engine::pipeline::training_data::{crop_to_scale_grid, phone_stream_of};
use stronglive_engine::sr::bicubic::upscale_bicubic;
use stronglive_engine::sr::color::frame_to_rgb_cpu;
use stronglive_engine::sr::quality::psnr_y;
use stronglive_engine::sr::registry::DEFAULT_MODEL;
use stronglive_engine::sr::{load_model, ComputeDevice, DevicePreference, Tensor, Upscaler};

const SCALE: u32 = 4;
/// Frames of the clip used (4K truth frames are 12 MB each).
const MAX_FRAMES: usize = 90;

pub struct FillBench<'a> {
    pub clip: &'a Path,
    pub every: &'a [u32],
    pub model: Option<&'a str>,
    pub device: DevicePreference,
}

fn load(path: &Path) -> Result<(Vec<YuvFrame>, Vec<YuvFrame>)> {
    let mut decoder = VideoDecoder::open(path)?;
    let mut hr = Vec::new();
    while let Some(frame) = decoder.next_frame()? {
        hr.push(crop_to_scale_grid(frame, SCALE));
        if hr.len() == MAX_FRAMES {
            break;
        }
    }
    if hr.len() < 16 {
        bail!(
            "{}: {} frames; --fill needs at least 16",
            path.display(),
            hr.len()
        );
    }
    let lr = phone_stream_of(&hr, SCALE, PHONE_CRF)?;
    Ok((hr, lr))
}

/// Mean PSNR-Y of the filled frames for each strategy, and of the SR frames.
struct Scores {
    sr: Vec<f64>,
    bicubic: Vec<f64>,
    repeat: Vec<f64>,
    detail: Vec<f64>,
    static_detail: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn score_every(k: usize, hr: &[YuvFrame], lr: &[YuvFrame], upscaler: &Upscaler) -> Result<Scores> {
    let mut filler = FrameUpscaler::new(SCALE);
    let mut session_fill = Filler::new(SCALE);
    let mut scores = Scores {
        sr: Vec::new(),
        bicubic: Vec::new(),
        repeat: Vec::new(),
        detail: Vec::new(),
        static_detail: Vec::new(),
    };
    let psnr = |out: &Tensor, i: usize| -> Result<f64> {
        Ok(psnr_y(
            &out.clamp(0.0, 1.0),
            &frame_to_rgb_cpu(&hr[i])?,
            i64::from(SCALE),
        ))
    };
    // the last SR frame and its detail over its own bicubic
    let mut last: Option<(Tensor, Tensor)> = None;
    for (i, frame) in lr.iter().enumerate() {
        let input = frame_to_rgb_cpu(frame)?;
        let bicubic = upscale_bicubic(&input, SCALE);
        if i % k == 0 {
            // SR once, scored as the session outputs it (YUV, rounded)
            let sr_frame = upscaler.upscale(frame)?;
            let sr = frame_to_rgb_cpu(&sr_frame)?;
            scores.sr.push(psnr(&sr, i)?);
            let detail = &sr - &bicubic;
            session_fill
                .remember(frame, &sr_frame)
                .map_err(anyhow::Error::msg)?;
            last = Some((sr, detail));
            continue;
        }
        let Some((sr, detail)) = &last else {
            continue;
        };
        let yuv_bicubic = filler.upscale(frame).map_err(anyhow::Error::msg)?;
        scores
            .bicubic
            .push(psnr(&frame_to_rgb_cpu(&yuv_bicubic)?, i)?);
        scores.repeat.push(psnr(sr, i)?);
        scores.detail.push(psnr(&(&bicubic + detail), i)?);
        let session = session_fill.fill(frame).map_err(anyhow::Error::msg)?;
        scores
            .static_detail
            .push(psnr(&frame_to_rgb_cpu(&session)?, i)?);
    }
    Ok(scores)
}

pub fn run(bench: &FillBench) -> Result<()> {
    let device = ComputeDevice::select(bench.device)?;
    let model = bench.model.unwrap_or(DEFAULT_MODEL);
    let upscaler = Upscaler::new(load_model(model, SCALE, &device)?, device.clone());
    let (hr, lr) = load(bench.clip)?;
    println!(
        "fill strategies on {} ({} frames, {}x{} -> {}x{}): SR ({model}) on every k-th frame, PSNR-Y (shave 4) of the frames between",
        bench.clip.display(),
        hr.len(),
        lr[0].width,
        lr[0].height,
        hr[0].width,
        hr[0].height
    );
    println!(
        "{:>4} {:>12} {:>16} {:>16} {:>22} {:>22}",
        "k",
        "SR frames",
        "fill: bicubic",
        "fill: repeat SR",
        "fill: bicubic+SR detail",
        "session: where static"
    );
    for &k in bench.every {
        if k < 2 {
            bail!("--every {k}: k must be at least 2 (1 = SR on every frame, nothing to fill)");
        }
        let s = score_every(k as usize, &hr, &lr, &upscaler)?;
        println!(
            "{k:>4} {:>9.2} dB {:>13.2} dB {:>13.2} dB {:>19.2} dB {:>19.2} dB",
            mean(&s.sr),
            mean(&s.bicubic),
            mean(&s.repeat),
            mean(&s.detail),
            mean(&s.static_detail)
        );
    }
    Ok(())
}
