//! A small rate-quality chart as PNG (for `srvc eval`): PSNR-Y (vertical) against kbit/s
//! (horizontal), one coloured polyline per method, grid lines with numeric tick labels drawn
//! with a built-in 3x5 digit font. The legend (colours) is printed by the caller.

use std::path::Path;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};

const W: u32 = 900;
const H: u32 = 560;
const LEFT: u32 = 70;
const RIGHT: u32 = 20;
const TOP: u32 = 20;
const BOTTOM: u32 = 50;

/// Colours of the series, in order (the caller names them).
pub const COLOURS: [(&str, [u8; 3]); 4] = [
    ("black", [20, 20, 20]),
    ("blue", [40, 90, 220]),
    ("green", [30, 150, 60]),
    ("red", [210, 40, 40]),
];

/// Draw `series` (each a list of (kbit/s, PSNR-Y) points) into `path`.
pub fn rate_quality(series: &[Vec<(f64, f64)>], path: &Path) -> Result<()> {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let points = series.iter().flatten();
    let max_x = points.clone().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let (min_y, max_y) = points
        .map(|p| p.1)
        .fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (min_y, max_y) = ((min_y - 0.5).floor(), (max_y + 0.5).ceil());
    let to_px = |(x, y): (f64, f64)| {
        let px = LEFT as f64 + x / max_x.max(1e-9) * f64::from(W - LEFT - RIGHT);
        let py = f64::from(H - BOTTOM)
            - (y - min_y) / (max_y - min_y).max(1e-9) * f64::from(H - TOP - BOTTOM);
        (px, py)
    };
    let grid = Rgb([225, 225, 225]);
    let x_step = nice_step(max_x / 8.0);
    let mut x = 0.0;
    while x <= max_x {
        let (px, _) = to_px((x, min_y));
        line(
            &mut img,
            (px, f64::from(TOP)),
            (px, f64::from(H - BOTTOM)),
            grid,
            1,
        );
        text(
            &mut img,
            &format!("{x:.0}"),
            px as i64 - 6,
            i64::from(H - BOTTOM) + 8,
        );
        x += x_step;
    }
    let y_step = nice_step((max_y - min_y) / 8.0);
    let mut y = min_y;
    while y <= max_y + 1e-9 {
        let (_, py) = to_px((0.0, y));
        line(
            &mut img,
            (f64::from(LEFT), py),
            (f64::from(W - RIGHT), py),
            grid,
            1,
        );
        text(&mut img, &format!("{y:.1}"), 8, py as i64 - 2);
        y += y_step;
    }
    let axis = Rgb([60, 60, 60]);
    line(
        &mut img,
        (f64::from(LEFT), f64::from(H - BOTTOM)),
        (f64::from(W - RIGHT), f64::from(H - BOTTOM)),
        axis,
        1,
    );
    line(
        &mut img,
        (f64::from(LEFT), f64::from(TOP)),
        (f64::from(LEFT), f64::from(H - BOTTOM)),
        axis,
        1,
    );
    for (points, (_, colour)) in series.iter().zip(COLOURS) {
        draw_series(&mut img, points, Rgb(colour), &to_px);
    }
    img.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One series as a line through its points in rate order, each point a 7x7 dot.
fn draw_series(
    img: &mut RgbImage,
    points: &[(f64, f64)],
    colour: Rgb<u8>,
    to_px: &impl Fn((f64, f64)) -> (f64, f64),
) {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in sorted.windows(2) {
        line(img, to_px(pair[0]), to_px(pair[1]), colour, 2);
    }
    for p in &sorted {
        let (px, py) = to_px(*p);
        for dy in -3..=3 {
            for dx in -3..=3 {
                put(img, px as i64 + dx, py as i64 + dy, colour);
            }
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

fn put(img: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, colour);
    }
}

fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: Rgb<u8>, width: i64) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as i64).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        for d in 0..width {
            put(img, x as i64 + d, y as i64, colour);
            put(img, x as i64, y as i64 + d, colour);
        }
    }
}

/// Digits, '.', '-' in a 3x5 font, drawn at 2x.
fn text(img: &mut RgbImage, s: &str, x: i64, y: i64) {
    const GLYPHS: [(char, [u8; 5]); 12] = [
        ('0', [7, 5, 5, 5, 7]),
        ('1', [2, 6, 2, 2, 7]),
        ('2', [7, 1, 7, 4, 7]),
        ('3', [7, 1, 7, 1, 7]),
        ('4', [5, 5, 7, 1, 1]),
        ('5', [7, 4, 7, 1, 7]),
        ('6', [7, 4, 7, 5, 7]),
        ('7', [7, 1, 1, 1, 1]),
        ('8', [7, 5, 7, 5, 7]),
        ('9', [7, 5, 7, 1, 7]),
        ('.', [0, 0, 0, 0, 2]),
        ('-', [0, 0, 7, 0, 0]),
    ];
    let ink = Rgb([80, 80, 80]);
    for (i, c) in s.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(g, _)| *g == c) else {
            continue;
        };
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        put(
                            img,
                            x + i as i64 * 8 + col * 2 + dx,
                            y + r as i64 * 2 + dy,
                            ink,
                        );
                    }
                }
            }
        }
    }
}
