//! HDR frames shown on an SDR screen: PQ or HLG BT.2020 video decoded to light, compressed
//! into SDR's range (reference white, 203 cd/m² per ITU-R BT.2408, lands near SDR white;
//! highlights up to the peak roll off instead of clipping), mapped to BT.709 primaries and
//! coded again for a BT.709 screen. For viewing only: jobs keep the HDR samples untouched.

use tch::{Device, Kind, Tensor};

use crate::frame::{ColorInfo, ColorMatrix, ColorRange, HdrTransfer, YuvFrame};

use super::color::{rgb_to_yuv, yuv_to_rgb};
use super::SrError;

/// HDR reference white, cd/m² (BT.2408).
const REFERENCE_WHITE: f64 = 203.0;
/// The brightest light kept distinct, cd/m²: a common grading display's peak.
const PEAK: f64 = 1000.0;

/// `frame` (HDR, any depth) as an 8-bit BT.709 SDR frame for display.
pub fn tone_map_for_sdr(frame: &YuvFrame, transfer: HdrTransfer) -> Result<YuvFrame, SrError> {
    let _guard = tch::no_grad_guard();
    let coded = yuv_to_rgb(frame, Device::Cpu)?.to_kind(Kind::Double);
    let nits = match transfer {
        HdrTransfer::Pq => pq_to_nits(&coded),
        // HLG is scene-relative: its nominal peak is shown at 1000 cd/m² with the
        // reference OOTF's system gamma 1.2 (applied per channel here, for a preview)
        HdrTransfer::Hlg => hlg_to_scene_light(&coded).pow_tensor_scalar(1.2) * PEAK,
    };
    let relative = nits / REFERENCE_WHITE;
    let sdr_linear = bt2020_to_bt709(&reinhard(&relative, PEAK / REFERENCE_WHITE)).clamp(0.0, 1.0);
    // BT.1886 display: code = light^(1/2.4)
    let sdr = sdr_linear.pow_tensor_scalar(1.0 / 2.4).to_kind(Kind::Float);
    let color = ColorInfo {
        matrix: ColorMatrix::Bt709,
        range: ColorRange::Limited,
        bits: 8,
    };
    let mut out = rgb_to_yuv(&sdr, color)?;
    out.pts = frame.pts;
    out.duration = frame.duration;
    Ok(out)
}

/// SMPTE ST 2084 EOTF: code values 0..1 to cd/m².
fn pq_to_nits(e: &Tensor) -> Tensor {
    let (m1, m2) = (0.159_301_757_812_5, 78.843_75);
    let (c1, c2, c3) = (0.835_937_5, 18.851_562_5, 18.687_5);
    let p = e.clamp(0.0, 1.0).pow_tensor_scalar(1.0 / m2);
    let num = (&p - c1).clamp_min(0.0);
    let den = (p * -c3) + c2;
    (num / den).pow_tensor_scalar(1.0 / m1) * 10_000.0
}

/// ARIB STD-B67 inverse OETF: code values 0..1 to scene light 0..1.
fn hlg_to_scene_light(e: &Tensor) -> Tensor {
    let (a, b, c) = (0.178_832_77, 0.284_668_92, 0.559_910_73);
    let e = e.clamp(0.0, 1.0);
    let low = e.square() / 3.0;
    let high = (((&e - c) / a).exp() + b) / 12.0;
    low.where_self(&e.le(0.5), &high)
}

/// Extended Reinhard on the brightest channel (hue kept): `white` maps to 1.
fn reinhard(rgb: &Tensor, white: f64) -> Tensor {
    let brightest = rgb.amax([1i64].as_slice(), true).clamp_min(1e-6);
    let mapped = &brightest * (1.0 + &brightest / (white * white)) / (1.0 + &brightest);
    rgb * (mapped / brightest)
}

/// Linear BT.2020 RGB to linear BT.709 RGB (ITU-R BT.2087), channels in dimension 1.
fn bt2020_to_bt709(rgb: &Tensor) -> Tensor {
    let m = Tensor::from_slice(&[
        1.6605, -0.5876, -0.0728, -0.1246, 1.1329, -0.0083, -0.0182, -0.1006, 1.1187,
    ])
    .view([3, 3])
    .to_kind(rgb.kind());
    // (N, 3, H, W) -> (N, H, W, 3) x M^T -> back
    rgb.permute([0, 2, 3, 1])
        .matmul(&m.tr())
        .permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A neutral 10-bit BT.2020 frame whose every sample is the PQ code for `nits`.
    fn pq_grey(nits: f64) -> YuvFrame {
        let (m1, m2) = (0.159_301_757_812_5, 78.843_75);
        let (c1, c2, c3) = (0.835_937_5, 18.851_562_5, 18.687_5);
        let y = (nits / 10_000.0).powf(m1);
        let e = ((c1 + c2 * y) / (1.0 + c3 * y)).powf(m2);
        let code = (64.0 + e * 876.0).round() as u16;
        let color = ColorInfo {
            matrix: ColorMatrix::Bt2020,
            range: ColorRange::Limited,
            bits: 10,
        };
        let mut frame = YuvFrame::zeroed(8, 8, color);
        for (plane, value) in [
            (&mut frame.y, code),
            (&mut frame.u, 512),
            (&mut frame.v, 512),
        ] {
            for pair in plane.chunks_exact_mut(2) {
                pair.copy_from_slice(&value.to_le_bytes());
            }
        }
        frame
    }

    /// Darker stays darker, reference white lands near SDR white, a 1000-nit highlight is
    /// brighter still without passing white, and 4000 nits does not pass it either.
    #[test]
    fn pq_greys_map_in_order_into_the_sdr_range() {
        let luma = |nits| tone_map_for_sdr(&pq_grey(nits), HdrTransfer::Pq).unwrap().y[0];
        let levels: Vec<u8> = [0.0, 20.0, 100.0, 203.0, 1000.0, 4000.0]
            .iter()
            .map(|&n| luma(n))
            .collect();
        assert!(levels.windows(2).all(|w| w[0] <= w[1]), "{levels:?}");
        assert!(levels[0] <= 17, "black {levels:?}");
        assert!(
            (170..=225).contains(&levels[3]),
            "reference white {levels:?}"
        );
        assert!(levels[4] > levels[3] + 10 && levels[4] <= 235, "{levels:?}");
        assert!(levels[5] <= 235, "{levels:?}");
    }
}
