//! Y'CbCr <-> R'G'B' conversion in the tensor world, so pixels stay on the compute device from
//! upload to download. Honours the matrix (BT.601/BT.709/BT.2020), range (limited/full) and
//! sample size (8 or 10 bits) of the stream: 10-bit frames become RGB in 0..1 with all their
//! precision, and come back as 10-bit.

use tch::{Device, Kind, Tensor};

use crate::frame::{ColorInfo, ColorMatrix, ColorRange, YuvFrame};

use super::SrError;

/// Luma coefficients (Kr, Kb) of a matrix; Kg = 1 - Kr - Kb.
fn luma_coefficients(matrix: ColorMatrix) -> (f64, f64) {
    match matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
        ColorMatrix::Bt2020 => (0.2627, 0.0593),
    }
}

/// Code values of a convention: luma offset and scale, chroma scale and zero, largest code.
struct CodeScales {
    y_off: f64,
    y_scale: f64,
    c_scale: f64,
    c_mid: f64,
    max: f64,
}

fn code_scales(color: ColorInfo) -> CodeScales {
    // limited range scales with the depth (16..235 -> 64..940); full range spans every code
    let step = f64::from(1u32 << (color.bits.clamp(8, 16) - 8));
    let max = f64::from((1u32 << color.bits.clamp(8, 16)) - 1);
    let c_mid = 128.0 * step;
    match color.range {
        ColorRange::Limited => CodeScales {
            y_off: 16.0 * step,
            y_scale: 219.0 * step,
            c_scale: 224.0 * step,
            c_mid,
            max,
        },
        ColorRange::Full => CodeScales {
            y_off: 0.0,
            y_scale: max,
            c_scale: max,
            c_mid,
            max,
        },
    }
}

/// The three planes' samples (1 or 2 little-endian bytes each) uploaded as one transfer and
/// split on the device into 1 x 1 x H x W float tensors (Y, U, V). For a GPU the packed host
/// buffer is pinned (libtorch's caching host allocator reuses pinned blocks frame after
/// frame) and copied without blocking: one asynchronous DMA instead of three synchronous
/// copies from pageable memory.
fn upload_planes(frame: &YuvFrame, device: Device) -> (Tensor, Tensor, Tensor) {
    let bytes = frame.color.bytes_per_sample();
    let planes = [&frame.y, &frame.u, &frame.v];
    let host = if bytes == 2 {
        let wide: Vec<i16> = planes
            .iter()
            .flat_map(|p| p.chunks_exact(2))
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        Tensor::from_slice(&wide)
    } else {
        let mut packed = Vec::with_capacity(planes.iter().map(|p| p.len()).sum());
        for p in planes {
            packed.extend_from_slice(p);
        }
        Tensor::from_slice(&packed)
    };
    let samples = if device.is_cuda() {
        host.pin_memory(device)
            .to_device_(device, host.kind(), true, false)
    } else {
        host
    }
    .to_kind(Kind::Float);
    let (w, h) = (i64::from(frame.width), i64::from(frame.height));
    let (cw, ch) = YuvFrame::chroma_size(frame.width, frame.height);
    let (cw, ch) = (i64::from(cw), i64::from(ch));
    let y = samples.narrow(0, 0, w * h).view([1, 1, h, w]);
    let u = samples.narrow(0, w * h, cw * ch).view([1, 1, ch, cw]);
    let v = samples
        .narrow(0, w * h + cw * ch, cw * ch)
        .view([1, 1, ch, cw]);
    (y, u, v)
}

/// Upload a 4:2:0 frame and convert it to RGB in 0..1: a 1 x 3 x H x W float tensor on `device`.
pub fn yuv_to_rgb(frame: &YuvFrame, device: Device) -> Result<Tensor, SrError> {
    let (w, h) = (frame.width, frame.height);
    let (cw, ch) = YuvFrame::chroma_size(w, h);
    let bytes = frame.color.bytes_per_sample();
    if frame.y.len() != (w * h) as usize * bytes
        || frame.u.len() != (cw * ch) as usize * bytes
        || frame.v.len() != (cw * ch) as usize * bytes
    {
        return Err(SrError::BadFrame {
            width: w,
            height: h,
            y: frame.y.len(),
            u: frame.u.len(),
            v: frame.v.len(),
        });
    }
    let (kr, kb) = luma_coefficients(frame.color.matrix);
    let kg = 1.0 - kr - kb;
    let k = code_scales(frame.color);

    let (y, u, v) = upload_planes(frame, device);
    let y = (y - k.y_off) / k.y_scale;
    let chroma = Tensor::cat(&[u, v], 1);
    // Chroma sits at half resolution; bring it to luma size (then crop odd sizes back).
    let chroma = chroma
        .upsample_bilinear2d([i64::from(ch * 2), i64::from(cw * 2)], false, 2.0, 2.0)
        .narrow(2, 0, i64::from(h))
        .narrow(3, 0, i64::from(w));
    let chroma = (chroma - k.c_mid) / k.c_scale;
    let cb = chroma.narrow(1, 0, 1);
    let cr = chroma.narrow(1, 1, 1);

    let r = &y + &cr * (2.0 * (1.0 - kr));
    let b = &y + &cb * (2.0 * (1.0 - kb));
    let g = (&y - &r * kr - &b * kb) / kg;
    Ok(Tensor::cat(&[r, g, b], 1).clamp(0.0, 1.0))
}

/// Convert a 1 x 3 x H x W RGB tensor (0..1, any float kind, any device) to a 4:2:0 frame with
/// the given colour convention (8 or 10 bits). Chroma is the 2x2 mean of the full-resolution chroma.
pub fn rgb_to_yuv(rgb: &Tensor, color: ColorInfo) -> Result<YuvFrame, SrError> {
    if rgb.device() == Device::Cpu {
        return Ok(rgb_to_yuv_cpu(rgb, color));
    }
    rgb_to_yuv_tensor(rgb, color)
}

/// The conversion as tensor operations: on a GPU, so that only the planes' samples are
/// downloaded.
fn rgb_to_yuv_tensor(rgb: &Tensor, color: ColorInfo) -> Result<YuvFrame, SrError> {
    let rgb = rgb.to_kind(Kind::Float).clamp(0.0, 1.0);
    let size = rgb.size();
    let (h, w) = (size[2], size[3]);
    let (kr, kb) = luma_coefficients(color.matrix);
    let kg = 1.0 - kr - kb;
    let k = code_scales(color);

    let r = rgb.narrow(1, 0, 1);
    let g = rgb.narrow(1, 1, 1);
    let b = rgb.narrow(1, 2, 1);
    let y = &r * kr + &g * kg + &b * kb;
    let cb = (&b - &y) / (2.0 * (1.0 - kb));
    let cr = (&r - &y) / (2.0 * (1.0 - kr));
    let chroma = Tensor::cat(&[cb, cr], 1).avg_pool2d([2, 2], [2, 2], [0, 0], true, false, None);

    // the three planes rounded and packed on the device: one download instead of three
    let chroma = chroma * k.c_scale + k.c_mid;
    let packed = Tensor::cat(
        &[
            (y * k.y_scale + k.y_off).view([-1]),
            chroma.narrow(1, 0, 1).contiguous().view([-1]),
            chroma.narrow(1, 1, 1).contiguous().view([-1]),
        ],
        0,
    )
    .round()
    .clamp(0.0, k.max);
    let samples: Vec<u8> = if color.bytes_per_sample() == 2 {
        let t = packed.to_kind(Kind::Int16).to_device(Device::Cpu);
        let wide = Vec::<i16>::try_from(&t)?;
        wide.iter().flat_map(|v| v.to_le_bytes()).collect()
    } else {
        Vec::<u8>::try_from(&packed.to_kind(Kind::Uint8).to_device(Device::Cpu))?
    };
    let luma_bytes = (w * h) as usize * color.bytes_per_sample();
    let chroma_bytes = (samples.len() - luma_bytes) / 2;
    // split in place: the luma plane keeps the downloaded buffer
    let mut y_plane = samples;
    let mut u_plane = y_plane.split_off(luma_bytes);
    let v_plane = u_plane.split_off(chroma_bytes);
    Ok(YuvFrame {
        width: w as u32,
        height: h as u32,
        y: y_plane,
        u: u_plane,
        v: v_plane,
        pts: None,
        duration: 0,
        color,
    })
}

/// The conversion in one pass over the pixels, for RGB already in memory: a dozen tensor
/// operations each reading and writing every 4K pixel cost ~300 ms a frame on two cores, this
/// loop ~30 ms. Reads any layout (NCHW or channels-last) through the tensor's strides; the
/// values equal `rgb_to_yuv_tensor`'s up to float rounding (ties go to even, as `round` does).
fn rgb_to_yuv_cpu(rgb: &Tensor, color: ColorInfo) -> YuvFrame {
    let rgb = rgb.to_kind(Kind::Float);
    let view = StridedRgb::of(&rgb);
    let (w, h) = (view.width, view.height);
    let (kr, kb) = luma_coefficients(color.matrix);
    let (kr, kb) = (kr as f32, kb as f32);
    let kg = 1.0 - kr - kb;
    let k = code_scales(color);
    let (y_off, y_scale, c_scale) = (k.y_off as f32, k.y_scale as f32, k.c_scale as f32);
    let (c_mid, max) = (k.c_mid as f32, k.max as f32);
    let code = |v: f32| v.round_ties_even().clamp(0.0, max) as u16;
    let wide = color.bytes_per_sample() == 2;
    let store = |plane: &mut [u8], i: usize, v: u16| {
        if wide {
            plane[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        } else {
            plane[i] = v as u8;
        }
    };
    let (cw, ch) = YuvFrame::chroma_size(w as u32, h as u32);
    let mut frame = YuvFrame::zeroed(w as u32, h as u32, color);
    for cy in 0..ch as usize {
        for cx in 0..cw as usize {
            // the 2x2 block (fewer pixels at odd edges, like avg_pool2d's ceil mode)
            let (mut cb_sum, mut cr_sum, mut n) = (0.0f32, 0.0f32, 0.0f32);
            for y in 2 * cy..(2 * cy + 2).min(h) {
                for x in 2 * cx..(2 * cx + 2).min(w) {
                    let [r, g, b] = view.pixel(x, y);
                    let luma = r * kr + g * kg + b * kb;
                    store(&mut frame.y, y * w + x, code(luma * y_scale + y_off));
                    cb_sum += (b - luma) / (2.0 * (1.0 - kb));
                    cr_sum += (r - luma) / (2.0 * (1.0 - kr));
                    n += 1.0;
                }
            }
            let i = cy * cw as usize + cx;
            store(&mut frame.u, i, code(cb_sum / n * c_scale + c_mid));
            store(&mut frame.v, i, code(cr_sum / n * c_scale + c_mid));
        }
    }
    frame
}

/// A 1 x 3 x H x W f32 CPU tensor read in place through its strides.
struct StridedRgb<'a> {
    data: &'a [f32],
    strides: [usize; 3],
    width: usize,
    height: usize,
}

impl<'a> StridedRgb<'a> {
    fn of(rgb: &'a Tensor) -> Self {
        let size = rgb.size();
        let stride = rgb.stride();
        assert!(
            rgb.kind() == Kind::Float && rgb.device() == Device::Cpu && size[..2] == [1, 3],
            "StridedRgb wants a 1x3xHxW f32 CPU tensor, got {size:?} {:?}",
            rgb.kind()
        );
        let strides = [stride[1] as usize, stride[2] as usize, stride[3] as usize];
        let (height, width) = (size[2] as usize, size[3] as usize);
        let extent = 1 + 2 * strides[0] + (height - 1) * strides[1] + (width - 1) * strides[2];
        // SAFETY: a CPU f32 tensor's storage holds every element its sizes and (non-negative)
        // strides address, i.e. `extent` floats from its data pointer; `rgb` is borrowed for
        // 'a, so the storage outlives the slice, and nothing writes to it meanwhile.
        let data = unsafe { std::slice::from_raw_parts(rgb.data_ptr() as *const f32, extent) };
        Self {
            data,
            strides,
            width,
            height,
        }
    }

    /// R, G, B at (x, y), clamped to 0..1.
    fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let at = y * self.strides[1] + x * self.strides[2];
        std::array::from_fn(|c| self.data[at + c * self.strides[0]].clamp(0.0, 1.0))
    }
}

/// Each picture of an N x 3 x H x W RGB batch as its own 4:2:0 frame.
pub fn rgb_batch_to_frames(rgb: &Tensor, color: ColorInfo) -> Result<Vec<YuvFrame>, SrError> {
    (0..rgb.size()[0])
        .map(|i| rgb_to_yuv(&rgb.narrow(0, i, 1), color))
        .collect()
}

/// One frame as 1 x 3 x H x W RGB in 0..1 on the CPU (for callers that do not pick devices).
pub fn frame_to_rgb_cpu(frame: &YuvFrame) -> Result<Tensor, SrError> {
    yuv_to_rgb(frame, Device::Cpu)
}

/// Frames (all the same size) as one N x 3 x H x W RGB batch in 0..1 on the CPU.
pub fn frames_to_rgb_batch(frames: &[YuvFrame]) -> Result<Tensor, SrError> {
    let rgb = frames
        .iter()
        .map(frame_to_rgb_cpu)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::f_cat(&rgb, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
    }

    /// A smooth, saturated (but in-gamut) gradient frame survives YUV -> RGB -> YUV almost exactly for every convention,
    /// and picking the wrong matrix on the way back is visibly wrong (so the matrix matters).
    #[test]
    fn yuv_rgb_round_trip_respects_matrix_and_range() {
        let (w, h) = (33u32, 17u32);
        for matrix in [ColorMatrix::Bt601, ColorMatrix::Bt709] {
            for range in [ColorRange::Limited, ColorRange::Full] {
                let color = ColorInfo {
                    matrix,
                    range,
                    bits: 8,
                };
                let mut frame = YuvFrame::filled(w, h, 0, 0, 0, color);
                for (i, p) in frame.y.iter_mut().enumerate() {
                    *p = 100 + ((i % w as usize) * 3 / 2) as u8;
                }
                frame.u.iter_mut().for_each(|p| *p = 90);
                frame.v.iter_mut().for_each(|p| *p = 180);
                let rgb = yuv_to_rgb(&frame, Device::Cpu).unwrap();
                assert_eq!(rgb.size(), [1, 3, i64::from(h), i64::from(w)]);
                let back = rgb_to_yuv(&rgb, color).unwrap();
                assert!(psnr(&frame.y, &back.y) > 45.0, "{color:?} luma");
                assert!(psnr(&frame.v, &back.v) > 45.0, "{color:?} chroma");
                let other = ColorInfo {
                    matrix: if matrix == ColorMatrix::Bt601 {
                        ColorMatrix::Bt709
                    } else {
                        ColorMatrix::Bt601
                    },
                    range,
                    bits: 8,
                };
                let wrong = rgb_to_yuv(&rgb, other).unwrap();
                assert!(
                    psnr(&frame.y, &wrong.y) < 40.0,
                    "{color:?} wrong matrix unnoticed"
                );
            }
        }
    }

    /// The one-pass CPU conversion and the tensor one agree on a noisy picture of odd size, in
    /// both memory layouts (rounding of exact ties aside: at most 1 apart, almost all equal).
    #[test]
    fn cpu_conversion_matches_tensor_conversion() {
        tch::manual_seed(5);
        let rgb = Tensor::rand([1, 3, 37, 51], (Kind::Float, Device::Cpu)) * 1.2 - 0.1;
        let nhwc = rgb.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
        for color in [
            ColorInfo {
                matrix: ColorMatrix::Bt601,
                range: ColorRange::Limited,
                bits: 8,
            },
            ColorInfo {
                matrix: ColorMatrix::Bt709,
                range: ColorRange::Full,
                bits: 8,
            },
            ColorInfo {
                matrix: ColorMatrix::Bt2020,
                range: ColorRange::Limited,
                bits: 10,
            },
        ] {
            let reference = rgb_to_yuv_tensor(&rgb, color).unwrap();
            for input in [&rgb, &nhwc] {
                let ours = rgb_to_yuv_cpu(input, color);
                assert_eq!((ours.width, ours.height), (51, 37));
                let bytes = color.bytes_per_sample();
                for (name, a, b) in [
                    ("Y", &ours.y, &reference.y),
                    ("U", &ours.u, &reference.u),
                    ("V", &ours.v, &reference.v),
                ] {
                    let (a, b) = (&samples(a, bytes), &samples(b, bytes));
                    assert_eq!(a.len(), b.len(), "{name}");
                    let off = a.iter().zip(b.iter()).filter(|(x, y)| x != y).count();
                    let worst = a.iter().zip(b.iter()).map(|(x, y)| x.abs_diff(*y)).max();
                    assert!(worst <= Some(1), "{name} {color:?}: worst {worst:?}");
                    assert!(off * 200 < a.len(), "{name} {color:?}: {off} differ");
                }
            }
        }
    }

    fn samples(plane: &[u8], bytes: usize) -> Vec<u16> {
        match bytes {
            2 => plane
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect(),
            _ => plane.iter().map(|&b| u16::from(b)).collect(),
        }
    }

    /// A 10-bit BT.2020 ramp rising one code per pixel survives YUV -> RGB -> YUV within one
    /// code: the quarter steps an 8-bit path would round away are kept.
    #[test]
    fn ten_bit_frames_keep_their_precision() {
        let color = ColorInfo {
            matrix: ColorMatrix::Bt2020,
            range: ColorRange::Limited,
            bits: 10,
        };
        let (w, h) = (64u32, 8u32);
        let mut frame = YuvFrame::zeroed(w, h, color);
        let put = |plane: &mut Vec<u8>, i: usize, v: u16| {
            plane[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes())
        };
        for i in 0..(w * h) as usize {
            put(&mut frame.y, i, 400 + (i % w as usize) as u16);
        }
        for i in 0..frame.u.len() / 2 {
            put(&mut frame.u, i, 500);
            put(&mut frame.v, i, 530);
        }
        let rgb = yuv_to_rgb(&frame, Device::Cpu).unwrap();
        for back in [
            rgb_to_yuv(&rgb, color).unwrap(),
            rgb_to_yuv_tensor(&rgb, color).unwrap(),
        ] {
            let (a, b) = (samples(&frame.y, 2), samples(&back.y, 2));
            let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max();
            assert!(worst <= Some(1), "worst {worst:?}");
            assert_eq!(samples(&back.u, 2)[5], 500);
        }
    }

    /// Known colour: BT.709 limited-range 100% red (Y 63, Cb 102, Cr 240) decodes to pure red;
    /// under the BT.601 matrix the same code values would give visibly non-zero green.
    #[test]
    fn bt709_red_decodes_to_red() {
        let color = ColorInfo {
            matrix: ColorMatrix::Bt709,
            range: ColorRange::Limited,
            bits: 8,
        };
        let frame = YuvFrame::filled(4, 4, 63, 102, 240, color);
        let rgb = yuv_to_rgb(&frame, Device::Cpu).unwrap();
        let px: Vec<f32> = Vec::try_from(
            rgb.mean_dim([2i64, 3].as_slice(), false, Kind::Float)
                .view([-1]),
        )
        .unwrap();
        assert!((px[0] - 1.0).abs() < 0.02, "{px:?}");
        assert!(px[1] < 0.02 && px[2] < 0.02, "{px:?}");
    }
}
