//! Engine-wide picture types shared by `media` (which fills them from FFmpeg frames), `sr`
//! (which turns them into tensors) and `pipeline` (which moves them between threads).

/// Colour matrix used to turn Y'CbCr into R'G'B'. The three that cameras and files actually
/// use are distinguished (BT.2020 non-constant luminance: HDR and 10-bit phone video);
/// everything else is treated as BT.709 (HD) or BT.601 (SD) by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMatrix {
    Bt601,
    Bt709,
    Bt2020,
}

/// The two HDR transfer functions phones and files use; SDR video has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrTransfer {
    /// SMPTE ST 2084 (HDR10, Dolby Vision's base layer): absolute light up to 10,000 cd/m².
    Pq,
    /// ARIB STD-B67 hybrid log-gamma (iPhone HDR video): relative scene light.
    Hlg,
}

impl HdrTransfer {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pq => "HDR (PQ)",
            Self::Hlg => "HDR (HLG)",
        }
    }
}

/// Limited ("TV", 16..235) or full ("PC", 0..255) range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorRange {
    Limited,
    Full,
}

/// How the samples of a [`YuvFrame`] map to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorInfo {
    pub matrix: ColorMatrix,
    pub range: ColorRange,
    /// Bits per sample: 8 (one byte each) or 10 (little-endian u16 each, the low 10 bits:
    /// FFmpeg's yuv420p10le). Only offline jobs of 10-bit files ask the decoder for 10.
    pub bits: u8,
}

impl ColorInfo {
    /// The convention a decoder should assume when a stream carries no tags: BT.709 for HD and
    /// larger, BT.601 below (what players do), limited range.
    pub fn default_for_height(height: u32) -> Self {
        let matrix = if height >= 720 {
            ColorMatrix::Bt709
        } else {
            ColorMatrix::Bt601
        };
        Self {
            matrix,
            range: ColorRange::Limited,
            bits: 8,
        }
    }

    /// Bytes per sample in the planes: 1 for 8-bit, 2 for 10-bit.
    pub fn bytes_per_sample(&self) -> usize {
        if self.bits > 8 {
            2
        } else {
            1
        }
    }
}

/// A 4:2:0 planar picture (Y full size, U and V at half size rounded up), tightly packed;
/// 8-bit, or 10-bit where `color.bits` says so.
#[derive(Clone)]
pub struct YuvFrame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// Presentation time in the source stream's time base; `None` when the source had none.
    pub pts: Option<i64>,
    /// How long this frame is shown, in the source stream's time base (0 when unknown).
    pub duration: i64,
    pub color: ColorInfo,
}

impl YuvFrame {
    pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(2), height.div_ceil(2))
    }

    /// A frame of the given size with every sample 0, in `color`'s sample size.
    pub fn zeroed(width: u32, height: u32, color: ColorInfo) -> Self {
        let (cw, ch) = Self::chroma_size(width, height);
        let bytes = color.bytes_per_sample();
        Self {
            width,
            height,
            y: vec![0; (width * height) as usize * bytes],
            u: vec![0; (cw * ch) as usize * bytes],
            v: vec![0; (cw * ch) as usize * bytes],
            pts: None,
            duration: 0,
            color,
        }
    }

    /// A frame of the given size filled with one colour (used by benchmarks and tests); 8-bit.
    pub fn filled(width: u32, height: u32, y: u8, u: u8, v: u8, color: ColorInfo) -> Self {
        let (cw, ch) = Self::chroma_size(width, height);
        Self {
            width,
            height,
            y: vec![y; (width * height) as usize],
            u: vec![u; (cw * ch) as usize],
            v: vec![v; (cw * ch) as usize],
            pts: None,
            duration: 0,
            color: ColorInfo { bits: 8, ..color },
        }
    }
}

impl std::fmt::Debug for YuvFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YuvFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pts", &self.pts)
            .field("duration", &self.duration)
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}
