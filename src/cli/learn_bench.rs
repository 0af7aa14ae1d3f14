//! `stronglive bench --learn CLIP`: how fast live learning pays off on this machine. CLIP's
//! frames are the camera's truth; the stream is what a phone would send (1/4 size through a
//! real H.264 encode). HR patches are cut from the first half of the clip, the fine-tuner
//! learns from them for `--seconds`, and every few seconds the weights it has deployed (those
//! that won on held-out patches) are scored on the second half: frames no patch came from,
//! beside the generic model and bicubic.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use stronglive::frame::YuvFrame;
use stronglive::media::{DemuxItem, VideoDecoder};
use stronglive::pipeline::adapt_video::{cut_pair, PATCH_SIDE, PHONE_CRF};
use stronglive::pipeline::training_data::phone_stream_of;
use stronglive::sr::adapt::{AdaptConfig, Decision, FineTuner, PairBuffer};
use stronglive::sr::color::frame_to_rgb_cpu;
use stronglive::sr::metrics::psnr_y;
use stronglive::sr::{load_model, ComputeDevice, Tensor, Upscaler};

const SCALE: u32 = 4;
/// Frames of the clip used at most (memory: 4K frames are 12 MB each).
const MAX_FRAMES: usize = 300;
/// Later frames scored at each checkpoint.
const SCORED_FRAMES: usize = 10;

/// The clip as the phone sees it (HR) and streams it (LR); frames stay 4:2:0 (12 bits a
/// pixel) and become RGB tensors only while used.
struct Clip {
    hr: Vec<YuvFrame>,
    lr: Vec<YuvFrame>,
}

fn rgb(frame: &YuvFrame) -> Result<Tensor> {
    Ok(frame_to_rgb_cpu(frame)?)
}

/// Learn for `seconds` with `model` (default `fmen-tiny-x4`) on `device`.
pub fn run(
    clip: &Path,
    seconds: u32,
    model: Option<&str>,
    device: stronglive::sr::DevicePreference,
) -> Result<()> {
    let device = ComputeDevice::select(device)?;
    let model_name = model.unwrap_or("fmen-tiny-x4").to_string();
    let clip = load_clip(clip)?;
    let half = clip.hr.len() / 2;
    let upscaler = |name: &str| -> Result<Upscaler> {
        Ok(Upscaler::new(
            load_model(name, SCALE, &device)?,
            device.clone(),
        ))
    };
    let (generic, bicubic) = (upscaler(&model_name)?, upscaler("bicubic")?);
    let network = generic
        .model()
        .as_network()
        .with_context(|| format!("model {model_name} cannot learn (not a network)"))?;
    let mut tuner = FineTuner::new(network, device.device, AdaptConfig::default())?;
    let mut buffer = PairBuffer::new(64 << 20);
    for (i, (hr, lr)) in clip.hr[..half].iter().zip(&clip.lr[..half]).enumerate() {
        let (hr, lr) = (rgb(hr)?, rgb(lr)?);
        buffer.push(cut_pair(&hr, &lr, i, SCALE, i as i64)?);
    }
    let later: Vec<usize> = (half..clip.hr.len())
        .step_by(((clip.hr.len() - half) / SCORED_FRAMES).max(1))
        .collect();
    let cpu = ComputeDevice::cpu().device;
    let score = |up: &Upscaler| -> Result<f64> {
        let mut sum = 0.0;
        for &i in &later {
            let sr = up.upscale_rgb(&rgb(&clip.lr[i])?)?;
            sum += psnr_y(&sr.clamp(0.0, 1.0).to_device(cpu), &rgb(&clip.hr[i])?, 4);
        }
        Ok(sum / later.len() as f64)
    };
    let (generic_db, bicubic_db) = (score(&generic)?, score(&bicubic)?);
    println!(
        "live learning on {} frames ({}x{} camera, streamed at 1/4 through H.264 CRF 23): {} patches of {PATCH_SIDE} px from frames 0-{}, scored on {} later frames; {model_name} on {}",
        clip.hr.len(),
        clip.hr[0].width,
        clip.hr[0].height,
        half,
        half - 1,
        later.len(),
        device.label()
    );
    println!(
        "{:>8} {:>7} {:>8} {:>16} {:>12} {:>12} {:>12} {:>14}",
        "seconds",
        "steps",
        "version",
        "held-out gain",
        "adapted",
        "generic",
        "bicubic",
        "vs generic"
    );
    let live = upscaler(&model_name)?;
    let started = Instant::now();
    let mut next_report = Duration::ZERO;
    let mut held_out_gain = 0.0;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= next_report {
            let adapted_db = score(&live)?;
            println!(
                "{:>8.0} {:>7} {:>8} {:>13.2} dB {:>9.2} dB {:>9.2} dB {:>9.2} dB {:>+11.2} dB",
                elapsed.as_secs_f64(),
                tuner.steps,
                tuner.version,
                held_out_gain,
                adapted_db,
                generic_db,
                bicubic_db,
                adapted_db - generic_db
            );
            next_report += Duration::from_secs(10);
        }
        if elapsed >= Duration::from_secs(u64::from(seconds)) {
            break;
        }
        tuner.train_round(&buffer)?;
        let (scores, decision) = tuner.assess(&buffer)?;
        held_out_gain = scores.gain_after(&decision);
        if let Decision::Deploy(w) | Decision::Revert(w) = decision {
            live.model()
                .as_network()
                .context("live model")?
                .set_weights(&w)?;
        }
    }
    Ok(())
}

/// Decode up to `MAX_FRAMES` frames, cropped to a multiple of 8 so the 1/4 stream has even
/// sides, and make the phone's stream of them.
fn load_clip(path: &Path) -> Result<Clip> {
    let mut decoder = VideoDecoder::open(path)?;
    let mut frames: Vec<YuvFrame> = Vec::new();
    while let Some(item) = decoder.next_item()? {
        if let DemuxItem::Frame(frame) = item {
            let (w, h) = (frame.width & !7, frame.height & !7);
            let frame = stronglive::media::picture::crop(&frame, 0, 0, w, h)
                .context("cannot crop the frame")?;
            frames.push(frame);
            if frames.len() == MAX_FRAMES {
                break;
            }
        }
    }
    if frames.len() < 20 {
        bail!(
            "{}: {} frames; --learn needs at least 20",
            path.display(),
            frames.len()
        );
    }
    if frames[0].width < PATCH_SIDE * 2 || frames[0].height < PATCH_SIDE * 2 {
        bail!(
            "{}: frames must be at least {}x{}",
            path.display(),
            PATCH_SIDE * 2,
            PATCH_SIDE * 2
        );
    }
    let stream = phone_stream_of(&frames, SCALE, PHONE_CRF)?;
    Ok(Clip {
        hr: frames,
        lr: stream,
    })
}
