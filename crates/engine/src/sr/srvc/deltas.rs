//! Weights as the model stream sees them: one flat `f32` vector in canonical order (tensors
//! sorted by name, each row-major), the top fraction of changes chosen by magnitude, quantised,
//! and applied back with plain `f32` arithmetic (`w + q * scale`, no fused multiply-add) so the
//! encoder, the decoder and the Python reader agree to the bit.

use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use super::stream::{Quantization, Segment, SegmentValues, StreamError, StreamHeader};
use crate::sr::model::Weights;
use crate::sr::SrError;

/// A model's weights flattened: tensor names, shapes and values in canonical order.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatWeights {
    pub names: Vec<String>,
    pub shapes: Vec<Vec<i64>>,
    pub values: Vec<f32>,
}

impl FlatWeights {
    pub fn of(weights: &Weights) -> Result<Self, SrError> {
        let mut flat = Self {
            names: Vec::new(),
            shapes: Vec::new(),
            values: Vec::new(),
        };
        for (name, t) in sorted(weights) {
            let flat_t = t.to_kind(Kind::Float).contiguous().view(-1);
            flat.values.extend(Vec::<f32>::try_from(&flat_t)?);
            flat.names.push(name.clone());
            flat.shapes.push(t.size());
        }
        Ok(flat)
    }

    /// Back to named tensors (CPU, fp32) for a network's `set_weights`.
    pub fn to_weights(&self, version: u64) -> Weights {
        let mut offset = 0usize;
        let tensors = self
            .names
            .iter()
            .zip(&self.shapes)
            .map(|(name, shape)| {
                let n = shape.iter().product::<i64>().max(1) as usize;
                let t = Tensor::from_slice(&self.values[offset..offset + n]).view(shape.as_slice());
                offset += n;
                (name.clone(), t)
            })
            .collect();
        Weights { version, tensors }
    }

    /// (name, element count) per tensor, as the stream header lists them.
    pub fn layout(&self) -> Vec<(String, u64)> {
        self.names
            .iter()
            .zip(&self.shapes)
            .map(|(n, s)| (n.clone(), s.iter().product::<i64>().max(1) as u64))
            .collect()
    }

    /// SHA-256 over each tensor's name, shape and little-endian values, in canonical order.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        let mut offset = 0usize;
        for (name, shape) in self.names.iter().zip(&self.shapes) {
            h.update(name.as_bytes());
            h.update([0u8]);
            for d in shape {
                h.update(d.to_le_bytes());
            }
            let n = shape.iter().product::<i64>().max(1) as usize;
            for v in &self.values[offset..offset + n] {
                h.update(v.to_le_bytes());
            }
            offset += n;
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn sorted(weights: &Weights) -> Vec<&(String, Tensor)> {
    let mut tensors: Vec<&(String, Tensor)> = weights.tensors.iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// The header of a stream of changes to `base` (named `name`, of this architecture and scale):
/// its hash and layout come from the weights themselves.
pub fn header_for_weights(
    name: &str,
    base: &FlatWeights,
    architecture: &str,
    hyperparameters: serde_json::Value,
    scale: u32,
    quantization: Quantization,
) -> StreamHeader {
    StreamHeader {
        base: name.to_string(),
        base_sha256: base.sha256(),
        architecture: architecture.to_string(),
        hyperparameters,
        scale,
        quantization,
        tensors: base.layout(),
        parameters: base.values.len() as u64,
    }
}

/// How many of `parameters` weights `fraction` is (at least one).
pub fn changes_of(parameters: usize, fraction: f64) -> usize {
    ((parameters as f64 * fraction).ceil() as usize).clamp(1, parameters.max(1))
}

/// Positions of the `fraction` largest |new - old| changes (at least one), ascending.
pub fn top_changes(old: &[f32], new: &[f32], fraction: f64) -> Vec<u32> {
    top_k(old, new, changes_of(old.len(), fraction))
}

/// Positions of the `k` largest |new - old| changes (`k` at least one), ascending.
pub fn top_k(old: &[f32], new: &[f32], k: usize) -> Vec<u32> {
    let k = k.clamp(1, old.len().max(1));
    let mut order: Vec<u32> = (0..old.len() as u32).collect();
    let magnitude = |i: &u32| (new[*i as usize] - old[*i as usize]).abs();
    order.select_nth_unstable_by(k - 1, |a, b| magnitude(b).total_cmp(&magnitude(a)));
    let mut top = order[..k].to_vec();
    top.sort_unstable();
    top
}

/// Which tensor each flat position belongs to: the tensors' start offsets.
fn tensor_starts(layout: &[(String, u64)]) -> Vec<u64> {
    let mut starts = Vec::with_capacity(layout.len());
    let mut offset = 0;
    for (_, n) in layout {
        starts.push(offset);
        offset += n;
    }
    starts
}

fn tensor_of(starts: &[u64], index: u32) -> usize {
    starts.partition_point(|&s| s <= u64::from(index)) - 1
}

/// The segment that moves `old` towards `new` at `indices`, quantised as the header says.
/// Changes that quantise to zero are left out: they would cost bytes and change nothing (and an
/// int8 tensor whose changes are all zero has no scale for the decoder to multiply by).
pub fn quantise(
    header: &StreamHeader,
    old: &[f32],
    new: &[f32],
    indices: Vec<u32>,
    start_pts_us: i64,
) -> Segment {
    let delta = |i: u32| new[i as usize] - old[i as usize];
    let (indices, values) = match header.quantization {
        Quantization::Fp16 => {
            let (kept, values): (Vec<u32>, Vec<u16>) = indices
                .into_iter()
                .map(|i| (i, half::f16::from_f32(delta(i)).to_bits()))
                .filter(|(_, bits)| bits & 0x7fff != 0)
                .unzip();
            (kept, SegmentValues::Fp16(values))
        }
        Quantization::Int8 => {
            let starts = tensor_starts(&header.tensors);
            let mut max = vec![0f32; header.tensors.len()];
            for &i in &indices {
                let t = tensor_of(&starts, i);
                max[t] = max[t].max(delta(i).abs());
            }
            let scale_of: Vec<f32> = max.iter().map(|m| m / 127.0).collect();
            let (kept, values): (Vec<u32>, Vec<i8>) = indices
                .into_iter()
                .filter_map(|i| {
                    let s = scale_of[tensor_of(&starts, i)];
                    let q = if s > 0.0 {
                        (delta(i) / s).round().clamp(-127.0, 127.0) as i8
                    } else {
                        0
                    };
                    (q != 0).then_some((i, q))
                })
                .unzip();
            let mut used = vec![false; header.tensors.len()];
            for &i in &kept {
                used[tensor_of(&starts, i)] = true;
            }
            let scales = (0..header.tensors.len())
                .filter(|&t| used[t])
                .map(|t| (t as u32, scale_of[t]))
                .collect();
            (kept, SegmentValues::Int8 { scales, values })
        }
    };
    Segment {
        start_pts_us,
        from_base: false,
        indices,
        values,
    }
}

/// Apply a segment to `weights` (the previous segment's result) in place; a segment `from_base`
/// first puts back the `base` weights.
pub fn apply(
    header: &StreamHeader,
    base: &[f32],
    weights: &mut [f32],
    segment: &Segment,
    index: usize,
) -> Result<(), StreamError> {
    let bad = |reason: String| StreamError::BadSegment {
        segment: index,
        reason,
    };
    if weights.len() as u64 != header.parameters || base.len() != weights.len() {
        return Err(bad(format!(
            "{} weights ({} in the base), the header declares {}",
            weights.len(),
            base.len(),
            header.parameters
        )));
    }
    if segment.from_base {
        weights.copy_from_slice(base);
    }
    match &segment.values {
        SegmentValues::Fp16(values) => {
            for (i, v) in segment.indices.iter().zip(values) {
                let w = &mut weights[*i as usize];
                *w += half::f16::from_bits(*v).to_f32();
            }
        }
        SegmentValues::Int8 { scales, values } => {
            let starts = tensor_starts(&header.tensors);
            let mut scale_of = vec![None; header.tensors.len()];
            for (t, s) in scales {
                scale_of[*t as usize] = Some(*s);
            }
            for (i, q) in segment.indices.iter().zip(values) {
                let t = tensor_of(&starts, *i);
                let scale = scale_of[t]
                    .ok_or_else(|| bad(format!("a change in tensor {t}, which has no scale")))?;
                let w = &mut weights[*i as usize];
                *w += f32::from(*q) * scale;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::srvc::stream::{StreamHeader, StreamReader};
    use crate::sr::srvc::{write_header, write_segment};

    fn header(quantization: Quantization, layout: Vec<(String, u64)>) -> StreamHeader {
        StreamHeader {
            base: "test".into(),
            base_sha256: String::new(),
            architecture: "fmen".into(),
            hyperparameters: serde_json::Value::Null,
            scale: 4,
            quantization,
            parameters: layout.iter().map(|(_, n)| n).sum(),
            tensors: layout,
        }
    }

    #[test]
    fn the_largest_changes_are_kept_and_applied_within_their_quantisation_step() {
        let layout = vec![("a".to_string(), 6u64), ("b".to_string(), 4u64)];
        let old: Vec<f32> = (0..10).map(|i| i as f32 * 0.1).collect();
        let mut new = old.clone();
        new[1] += 0.5;
        new[7] -= 0.02;
        new[8] += 0.001;
        let top = top_changes(&old, &new, 0.2);
        assert_eq!(top, vec![1, 7]);
        for q in [Quantization::Int8, Quantization::Fp16] {
            let h = header(q, layout.clone());
            let segment = quantise(&h, &old, &new, top.clone(), 0);
            let mut bytes = Vec::new();
            write_header(&mut bytes, &h);
            write_segment(&mut bytes, &segment);
            let read = StreamReader::new(&bytes)
                .unwrap()
                .next_segment()
                .unwrap()
                .unwrap();
            let mut rebuilt = old.clone();
            apply(&h, &old, &mut rebuilt, &read, 0).unwrap();
            for i in 0..10 {
                let step = if q == Quantization::Int8 {
                    0.5 / 127.0
                } else {
                    1e-3
                };
                let expected = if top.contains(&(i as u32)) {
                    new[i]
                } else {
                    old[i]
                };
                assert!((rebuilt[i] - expected).abs() <= step, "{q:?} {i}");
                if !top.contains(&(i as u32)) {
                    assert_eq!(
                        rebuilt[i].to_bits(),
                        old[i].to_bits(),
                        "unstreamed weights move"
                    );
                }
            }
        }
    }

    #[test]
    fn changes_that_quantise_to_zero_are_left_out_and_apply_cleanly() {
        // Tensor "a" does not move at all; in "b" one change is far below the int8 step.
        let layout = vec![("a".to_string(), 3u64), ("b".to_string(), 3u64)];
        let old = vec![0.5f32; 6];
        let mut new = old.clone();
        new[3] += 0.5;
        new[4] += 1e-6;
        for q in [Quantization::Int8, Quantization::Fp16] {
            let h = header(q, layout.clone());
            let segment = quantise(&h, &old, &new, vec![0, 1, 3, 4], 0);
            let expected: Vec<u32> = if q == Quantization::Int8 {
                vec![3]
            } else {
                vec![3, 4]
            };
            assert_eq!(segment.indices, expected, "{q:?}");
            if let SegmentValues::Int8 { scales, .. } = &segment.values {
                assert_eq!(scales.len(), 1, "a scale for a tensor without changes");
            }
            let mut rebuilt = old.clone();
            apply(&h, &old, &mut rebuilt, &segment, 0).unwrap();
            assert!((rebuilt[3] - new[3]).abs() < 1e-3);
            assert_eq!(&rebuilt[..3], &old[..3]);
        }
    }

    #[test]
    fn flat_weights_round_trip_in_canonical_order_with_a_stable_hash() {
        let w = Weights {
            version: 0,
            tensors: vec![
                (
                    "z".into(),
                    Tensor::from_slice(&[1f32, 2., 3., 4.]).view([2, 2]),
                ),
                ("a".into(), Tensor::from_slice(&[5f32])),
            ],
        };
        let flat = FlatWeights::of(&w).unwrap();
        assert_eq!(flat.names, vec!["a", "z"]);
        assert_eq!(flat.values, vec![5., 1., 2., 3., 4.]);
        assert_eq!(flat.layout(), vec![("a".into(), 1), ("z".into(), 4)]);
        let back = FlatWeights::of(&flat.to_weights(1)).unwrap();
        assert_eq!(back, flat);
        assert_eq!(back.sha256(), flat.sha256());
        let mut other = flat.clone();
        other.values[0] = 5.000001;
        assert_ne!(other.sha256(), flat.sha256());
    }
}
