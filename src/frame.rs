//! Engine-wide picture types shared by `media` (which fills them from FFmpeg frames), `sr`
//! (which turns them into tensors) and `pipeline` (which moves them between threads).

/// Colour matrix used to turn Y'CbCr into R'G'B'. Only the two that cameras and files actually
/// use are distinguished; everything else is treated as BT.709 (HD) or BT.601 (SD) by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMatrix {
    Bt601,
    Bt709,
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
        }
    }
}

/// An 8-bit 4:2:0 planar picture (Y full size, U and V at half size rounded up), tightly packed.
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

    /// A frame of the given size filled with one colour (used by benchmarks and tests).
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
            color,
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
