//! Run a model over a large picture tile by tile, each tile padded with `margin` pixels of real
//! neighbouring context so seams vanish: the output of each tile's centre equals what the model
//! would produce on the whole picture, as long as `margin` covers the model's receptive field.

use tch::Tensor;

use super::{SrError, SrModel};

/// Tile geometry: core size in input pixels and the context margin added on each side.
#[derive(Debug, Clone, Copy)]
pub struct TilePlan {
    pub tile: i64,
    pub margin: i64,
}

/// Upscale `input` (N x C x H x W) with `model`, in tiles when it is larger than `plan.tile`.
pub fn forward_tiled(
    model: &dyn SrModel,
    input: &Tensor,
    plan: TilePlan,
) -> Result<Tensor, SrError> {
    let size = input.size();
    let (h, w) = (size[2], size[3]);
    if h <= plan.tile && w <= plan.tile {
        return model.forward(input);
    }
    let s = i64::from(model.scale());
    let out = Tensor::f_zeros(
        [size[0], size[1], h * s, w * s],
        (input.kind(), input.device()),
    )?;
    let mut y0 = 0;
    while y0 < h {
        let y1 = (y0 + plan.tile).min(h);
        let mut x0 = 0;
        while x0 < w {
            let x1 = (x0 + plan.tile).min(w);
            // Context window clamped to the picture; borders then behave as in an untiled run.
            let (cy0, cy1) = ((y0 - plan.margin).max(0), (y1 + plan.margin).min(h));
            let (cx0, cx1) = ((x0 - plan.margin).max(0), (x1 + plan.margin).min(w));
            let tile = input.narrow(2, cy0, cy1 - cy0).narrow(3, cx0, cx1 - cx0);
            let up = model.forward(&tile)?;
            let core = up.f_narrow(2, (y0 - cy0) * s, (y1 - y0) * s)?.f_narrow(
                3,
                (x0 - cx0) * s,
                (x1 - x0) * s,
            )?;
            out.f_narrow(2, y0 * s, (y1 - y0) * s)?
                .f_narrow(3, x0 * s, (x1 - x0) * s)?
                .f_copy_(&core)?;
            x0 = x1;
        }
        y0 = y1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::{baseline::Bicubic, ComputeDevice};
    use tch::{Device, Kind};

    #[test]
    fn tiled_bicubic_equals_whole_frame() {
        let model = Bicubic::new(4, &ComputeDevice::cpu());
        let input = Tensor::rand([1, 3, 37, 53], (Kind::Float, Device::Cpu));
        let whole = model.forward(&input).unwrap();
        let tiled = forward_tiled(
            &model,
            &input,
            TilePlan {
                tile: 16,
                margin: 4,
            },
        )
        .unwrap();
        assert_eq!(tiled.size(), whole.size());
        let diff = (&tiled - &whole).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "tiles differ from whole-frame run by {diff}");
        // Without context the seams show: the test can tell a broken margin from a good one.
        let seamed = forward_tiled(
            &model,
            &input,
            TilePlan {
                tile: 16,
                margin: 0,
            },
        )
        .unwrap();
        let seam_diff = (&seamed - &whole).abs().max().double_value(&[]);
        assert!(
            seam_diff > 1e-3,
            "zero-margin tiles unexpectedly exact ({seam_diff})"
        );
    }
}
