//! How long the studio takes to draw a frame of the Live tab while 4K frames arrive, measured
//! headless with egui_kittest on wgpu (here Mesa's lavapipe: a CPU rasteriser, so a real GPU is
//! faster). Each row: UI frames drawn, ms per UI frame (mean, p95) and the UI fps that implies,
//! with a new pair of frames (960x540 in, 3840x2160 out) uploaded on every UI frame, on none,
//! and on the CPU-conversion reference the shader replaces (YUV->RGBA in Rust, 8.3 M pixels).
//! Run: `cargo bench --bench ui_frames` (or `make bench-ui`).

use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use egui_kittest::Harness;
use stronglive_engine::frame::{ColorInfo, YuvFrame};
use stronglive_studio::{LiveFrame, StudioApp, StudioOptions, Tab};

const FRAMES: usize = 30;

fn noise_frame(width: u32, height: u32, seed: u32) -> Arc<YuvFrame> {
    let mut frame = YuvFrame::filled(
        width,
        height,
        0,
        128,
        128,
        ColorInfo::default_for_height(height),
    );
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    for p in frame
        .y
        .iter_mut()
        .chain(frame.u.iter_mut())
        .chain(frame.v.iter_mut())
    {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *p = (state >> 24) as u8;
    }
    Arc::new(frame)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| {
            let mut app = StudioApp::new(cc, StudioOptions::default());
            app.tab = Tab::Live;
            app
        });
    let inputs: Vec<_> = (0..4).map(|i| noise_frame(960, 540, i + 1)).collect();
    let outputs: Vec<_> = (0..4).map(|i| noise_frame(3840, 2160, i + 11)).collect();
    harness.state_mut().live.state.frame = Some(LiveFrame {
        input: inputs[0].clone(),
        output: outputs[0].clone(),
        super_resolved: true,
        output_width: 3840,
        sequence: 1,
    });
    harness.run_steps(3);

    println!("studio Live tab, 1280x800, {FRAMES} UI frames per row (egui_kittest + wgpu)");
    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "case", "mean ms", "p95 ms", "UI fps"
    );
    let mut rows = Vec::new();
    for (case, new_frames) in [
        ("no new frame (redraw only)", false),
        ("new 960x540 + 3840x2160 frame each UI frame", true),
    ] {
        let mut times = Vec::with_capacity(FRAMES);
        for i in 0..FRAMES {
            if new_frames {
                let k = i % 4;
                harness.state_mut().live.state.frame = Some(LiveFrame {
                    input: inputs[k].clone(),
                    output: outputs[k].clone(),
                    super_resolved: true,
                    output_width: 3840,
                    sequence: 100 + i as u64,
                });
            }
            let started = Instant::now();
            harness.step();
            // Rendering submits the GPU work (texture uploads, shader) and waits for it.
            let _ = harness.render();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        rows.push((case, mean, percentile(&times, 0.95)));
    }
    // The reference the shader replaces: converting the 4K frame to RGBA on the CPU.
    let mut times = Vec::new();
    for k in 0..FRAMES.min(10) {
        let f = &outputs[k % 4];
        let started = Instant::now();
        let mut rgba = vec![0u8; (f.width * f.height * 4) as usize];
        let cw = f.width.div_ceil(2) as usize;
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % f.width as usize, i / f.width as usize);
            let c = (y / 2) * cw + x / 2;
            let luma = (f32::from(f.y[i]) - 16.0) * 1.164;
            let (cb, cr) = (f32::from(f.u[c]) - 128.0, f32::from(f.v[c]) - 128.0);
            px[0] = (luma + 1.596 * cr).clamp(0.0, 255.0) as u8;
            px[1] = (luma - 0.392 * cb - 0.813 * cr).clamp(0.0, 255.0) as u8;
            px[2] = (luma + 2.017 * cb).clamp(0.0, 255.0) as u8;
            px[3] = 255;
        }
        std::hint::black_box(&rgba);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    rows.push((
        "reference: CPU YUV->RGBA of one 4K frame only",
        mean,
        percentile(&times, 0.95),
    ));
    for (case, mean, p95) in rows {
        println!("{case:<44} {mean:>10.1} {p95:>10.1} {:>8.1}", 1000.0 / mean);
    }
}
