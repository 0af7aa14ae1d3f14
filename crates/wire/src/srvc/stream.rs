//! The SRVC model stream (docs/srvc-format.md): a header naming the base model, then one
//! segment per few seconds of video, each the sparse change of the weights since the previous
//! segment (indices delta-coded, values quantised), zlib-compressed with a CRC-32. Pure Rust:
//! the weights are a flat `f32` vector in the canonical order (tensors by name, row-major), so
//! the encoder, the decoder and the Python reader rebuild bit-identical weights.

use std::io::{Read, Write};

use crc32fast::Hasher;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

/// `SLSRVC`, a zero, the format version (2: the header JSON is zlib-compressed).
pub const MAGIC: [u8; 8] = *b"SLSRVC\x00\x02";
/// Version 1, still read: the header JSON as is (1.7 kB for fmen-tiny-x4, 0.5 kB compressed:
/// on a 10 s clip the header alone was 60% of a 10% share of the bits).
const MAGIC_V1: [u8; 8] = *b"SLSRVC\x00\x01";
/// The segment flag (version 2 on) that restarts from the base weights; other bits are refused.
const FROM_BASE: u8 = 1;
/// Header JSON larger than this (stored or inflated) is refused before reading it.
const MAX_HEADER_BYTES: u32 = 1 << 20;
/// A compressed segment larger than this is refused before reading it.
const MAX_SEGMENT_BYTES: u32 = 64 << 20;
/// Parameters a stream may describe at most (a 4K-capable SR net has well under this).
const MAX_PARAMETERS: u64 = 64 << 20;

/// How delta values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// IEEE half precision per value.
    Fp16,
    /// One signed byte per value times a per-tensor scale (max |delta| / 127).
    Int8,
}

/// What the decoder needs before the first segment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamHeader {
    /// The model the deltas apply to (found by name like `--model`).
    pub base: String,
    /// SHA-256 of the base weights in canonical order (`weights_sha256`).
    pub base_sha256: String,
    /// The base card's architecture name and hyper-parameters.
    pub architecture: String,
    pub hyperparameters: serde_json::Value,
    pub scale: u32,
    pub quantization: Quantization,
    /// (name, element count) of every tensor, in canonical order; they sum to `parameters`.
    pub tensors: Vec<(String, u64)>,
    pub parameters: u64,
}

/// One segment: from `start_pts_us` on, the weights are the previous ones (or, `from_base`, the
/// base model's) plus these changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start_pts_us: i64,
    /// The weights start again from the base model's: at a new scene that the base model fits
    /// better than the previous scene's weights (version 2 on).
    pub from_base: bool,
    /// Strictly increasing positions in the flat weight vector.
    pub indices: Vec<u32>,
    pub values: SegmentValues,
}

impl Segment {
    /// A segment that changes nothing: the decoder keeps the weights it has.
    pub fn unchanged(start_pts_us: i64, quantization: Quantization) -> Self {
        let values = match quantization {
            Quantization::Fp16 => SegmentValues::Fp16(Vec::new()),
            Quantization::Int8 => SegmentValues::Int8 {
                scales: Vec::new(),
                values: Vec::new(),
            },
        };
        Self {
            start_pts_us,
            from_base: false,
            indices: Vec::new(),
            values,
        }
    }
}

/// The quantised changes of a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentValues {
    Fp16(Vec<u16>),
    /// Per-tensor scales (tensor index in the header, scale), then one byte per index.
    Int8 {
        scales: Vec<(u32, f32)>,
        values: Vec<i8>,
    },
}

/// Why a model stream cannot be read; every variant says where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StreamError {
    #[error("not an SRVC model stream (bad magic)")]
    BadMagic,
    #[error("model stream header: {0}")]
    BadHeader(String),
    #[error("segment {segment}: {reason}")]
    BadSegment { segment: usize, reason: String },
    /// The segment's bytes do not match its checksum: the decoder keeps the previous weights.
    #[error("segment {segment}: checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum {
        segment: usize,
        stored: u32,
        computed: u32,
    },
}

impl StreamHeader {
    fn check(&self) -> Result<(), StreamError> {
        let total: u64 = self.tensors.iter().map(|(_, n)| n).sum();
        if total != self.parameters || self.parameters > MAX_PARAMETERS {
            return Err(StreamError::BadHeader(format!(
                "{} parameters declared, tensors hold {total} (limit {MAX_PARAMETERS})",
                self.parameters
            )));
        }
        Ok(())
    }
}

/// Writes a stream: the header, then segments as they are made.
pub fn write_header(out: &mut Vec<u8>, header: &StreamHeader) {
    let json = serde_json::to_vec(header).expect("the header serialises");
    let compressed = deflate(&json);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
}

pub fn write_segment(out: &mut Vec<u8>, segment: &Segment) {
    write_segment_as(out, segment, MAGIC[7]);
}

/// A segment as format `version` lays it out (version 1 has no flags byte).
fn write_segment_as(out: &mut Vec<u8>, segment: &Segment, version: u8) {
    let mut payload = Vec::new();
    payload.extend_from_slice(&segment.start_pts_us.to_le_bytes());
    if version >= 2 {
        payload.push(u8::from(segment.from_base) * FROM_BASE);
    }
    payload.extend_from_slice(&(segment.indices.len() as u32).to_le_bytes());
    let mut previous: Option<u32> = None;
    for &i in &segment.indices {
        // The first index as is, then the gap to the previous one minus one.
        let gap = previous.map_or(i, |p| i - p - 1);
        write_varint(&mut payload, gap);
        previous = Some(i);
    }
    match &segment.values {
        SegmentValues::Fp16(values) => {
            for v in values {
                payload.extend_from_slice(&v.to_le_bytes());
            }
        }
        SegmentValues::Int8 { scales, values } => {
            payload.extend_from_slice(&(scales.len() as u32).to_le_bytes());
            for (tensor, scale) in scales {
                payload.extend_from_slice(&tensor.to_le_bytes());
                payload.extend_from_slice(&scale.to_le_bytes());
            }
            payload.extend(values.iter().map(|&v| v as u8));
        }
    }
    let compressed = deflate(&payload);
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&compressed).to_le_bytes());
    out.extend_from_slice(&compressed);
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(bytes).expect("compressing into memory");
    z.finish().expect("compressing into memory")
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finalize()
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A stream being read: the header, then segments one by one.
pub struct StreamReader<'a> {
    pub header: StreamHeader,
    /// The format version (the magic's last byte): version 1 segments have no flags.
    version: u8,
    rest: &'a [u8],
    next_segment: usize,
}

impl<'a> StreamReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self, StreamError> {
        if bytes.len() < 12 || (bytes[..8] != MAGIC && bytes[..8] != MAGIC_V1) {
            return Err(StreamError::BadMagic);
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if len > MAX_HEADER_BYTES || 12 + len as usize > bytes.len() {
            return Err(StreamError::BadHeader(format!(
                "{len} bytes declared, {} present (limit {MAX_HEADER_BYTES})",
                bytes.len() - 12
            )));
        }
        let stored = &bytes[12..12 + len as usize];
        let json = if bytes[..8] == MAGIC_V1 {
            stored.to_vec()
        } else {
            let mut json = Vec::new();
            ZlibDecoder::new(stored)
                .take(u64::from(MAX_HEADER_BYTES) + 1)
                .read_to_end(&mut json)
                .map_err(|e| StreamError::BadHeader(format!("cannot inflate: {e}")))?;
            if json.len() > MAX_HEADER_BYTES as usize {
                return Err(StreamError::BadHeader(format!(
                    "inflates past {MAX_HEADER_BYTES} bytes"
                )));
            }
            json
        };
        let header: StreamHeader =
            serde_json::from_slice(&json).map_err(|e| StreamError::BadHeader(e.to_string()))?;
        header.check()?;
        Ok(Self {
            header,
            version: bytes[7],
            rest: &bytes[12 + len as usize..],
            next_segment: 0,
        })
    }

    /// The next segment; `None` at the end. A checksum error still moves past the segment, so
    /// the caller may go on with the next one.
    pub fn next_segment(&mut self) -> Option<Result<Segment, StreamError>> {
        if self.rest.is_empty() {
            return None;
        }
        let index = self.next_segment;
        self.next_segment += 1;
        let bad = |reason: String| StreamError::BadSegment {
            segment: index,
            reason,
        };
        if self.rest.len() < 8 {
            self.rest = &[];
            return Some(Err(bad("truncated segment header".into())));
        }
        let len = u32::from_le_bytes(self.rest[..4].try_into().expect("4 bytes"));
        let stored = u32::from_le_bytes(self.rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_SEGMENT_BYTES || 8 + len as usize > self.rest.len() {
            let present = self.rest.len() - 8;
            self.rest = &[];
            return Some(Err(bad(format!(
                "{len} bytes declared, {present} present (limit {MAX_SEGMENT_BYTES})"
            ))));
        }
        let compressed = &self.rest[8..8 + len as usize];
        self.rest = &self.rest[8 + len as usize..];
        let computed = crc32(compressed);
        if computed != stored {
            return Some(Err(StreamError::Checksum {
                segment: index,
                stored,
                computed,
            }));
        }
        Some(self.parse_segment(compressed).map_err(bad))
    }

    fn parse_segment(&self, compressed: &[u8]) -> Result<Segment, String> {
        let header = &self.header;
        // The largest payload a valid segment can have: nothing beyond it is inflated.
        let limit = 13 + header.parameters * 7 + 4 + header.tensors.len() as u64 * 8;
        let mut payload = Vec::new();
        ZlibDecoder::new(compressed)
            .take(limit + 1)
            .read_to_end(&mut payload)
            .map_err(|e| format!("cannot inflate: {e}"))?;
        if payload.len() as u64 > limit {
            return Err(format!(
                "inflates past the {limit} bytes a segment can have"
            ));
        }
        let mut r = Cursor(&payload);
        let start_pts_us = i64::from_le_bytes(r.take::<8>()?);
        let flags = if self.version >= 2 {
            r.take::<1>()?[0]
        } else {
            0
        };
        if flags & !FROM_BASE != 0 {
            return Err(format!("unknown flags {flags:#04x}"));
        }
        let count = u32::from_le_bytes(r.take::<4>()?);
        if u64::from(count) > header.parameters {
            return Err(format!(
                "{count} changes for {} parameters",
                header.parameters
            ));
        }
        let mut indices = Vec::with_capacity(count as usize);
        let mut previous: Option<u64> = None;
        for _ in 0..count {
            let gap = u64::from(r.varint()?);
            let i = previous.map_or(gap, |p| p + gap + 1);
            if i >= header.parameters {
                return Err(format!("index {i} past {} parameters", header.parameters));
            }
            indices.push(i as u32);
            previous = Some(i);
        }
        let values = match header.quantization {
            Quantization::Fp16 => SegmentValues::Fp16(
                (0..count)
                    .map(|_| r.take::<2>().map(u16::from_le_bytes))
                    .collect::<Result<_, _>>()?,
            ),
            Quantization::Int8 => {
                let n = u32::from_le_bytes(r.take::<4>()?);
                if n as usize > header.tensors.len() {
                    return Err(format!("{n} scales for {} tensors", header.tensors.len()));
                }
                let scales = (0..n)
                    .map(|_| {
                        let t = u32::from_le_bytes(r.take::<4>()?);
                        let s = f32::from_le_bytes(r.take::<4>()?);
                        if t as usize >= header.tensors.len() || !s.is_finite() {
                            return Err(format!("bad scale {s} for tensor {t}"));
                        }
                        Ok((t, s))
                    })
                    .collect::<Result<_, String>>()?;
                let values = (0..count)
                    .map(|_| r.take::<1>().map(|b| b[0] as i8))
                    .collect::<Result<_, _>>()?;
                SegmentValues::Int8 { scales, values }
            }
        };
        if !r.0.is_empty() {
            return Err(format!("{} bytes after the values", r.0.len()));
        }
        Ok(Segment {
            start_pts_us,
            from_base: flags & FROM_BASE != 0,
            indices,
            values,
        })
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.0.len() < N {
            return Err("truncated payload".into());
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("N bytes"))
    }

    fn varint(&mut self) -> Result<u32, String> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let [b] = self.take::<1>()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| "index gap overflows".to_string());
            }
        }
        Err("index gap longer than 5 bytes".into())
    }
}

#[cfg(test)]
mod tests;
