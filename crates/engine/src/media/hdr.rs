//! HDR static metadata (mastering display colour volume, content light level): read from a
//! file (its video stream's side data, else its first frame's, where HEVC SEI puts it) and
//! written again: in the output stream's side data (containers that store it, e.g. Matroska)
//! and, for libx265, as its `master-display`/`max-cll` parameters (SEI in every key frame).

use std::path::Path;

use ffmpeg_next::ffi::{AVPacketSideDataType, AVRational};
use ffmpeg_next::frame::side_data::Type as FrameSideData;
use ffmpeg_next::{format, frame, Error as FfError, Packet};

use super::probe::{open_input, video_stream};
use super::MediaError;

/// libavutil's `AVMasteringDisplayMetadata` (mastering_display_metadata.h; the bindings leave
/// it out): primaries in R, G, B order, CIE 1931 xy; luminance in cd/m².
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AVMasteringDisplayMetadata {
    pub display_primaries: [[AVRational; 2]; 3],
    pub white_point: [AVRational; 2],
    pub min_luminance: AVRational,
    pub max_luminance: AVRational,
    pub has_primaries: std::ffi::c_int,
    pub has_luminance: std::ffi::c_int,
}

/// libavutil's `AVContentLightMetadata`: the brightest pixel and brightest frame average, cd/m².
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_snake_case)]
pub struct AVContentLightMetadata {
    pub MaxCLL: std::ffi::c_uint,
    pub MaxFALL: std::ffi::c_uint,
}

/// What an HDR10 file says about the display it was graded on and its brightest content.
#[derive(Clone, Copy, Default)]
pub struct HdrMetadata {
    pub mastering: Option<AVMasteringDisplayMetadata>,
    pub light: Option<AVContentLightMetadata>,
}

impl std::fmt::Debug for HdrMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HdrMetadata")
            .field("mastering", &self.mastering.map(|m| master_display(&m)))
            .field("light", &self.light.map(|l| (l.MaxCLL, l.MaxFALL)))
            .finish()
    }
}

/// A plain C struct read out of side data bytes (None when they are too short).
fn read_struct<T: Copy>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= std::mem::size_of::<T>())
        // SAFETY: T is a plain C struct of integers (AVRational, c_int, c_uint) for which every
        // bit pattern is valid; the length is checked and the read is unaligned.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

impl HdrMetadata {
    pub fn is_empty(&self) -> bool {
        self.mastering.is_none() && self.light.is_none()
    }

    /// The metadata of `path`'s video: its stream side data, else its first decoded frame's.
    pub fn of_file(path: &Path) -> Result<Self, MediaError> {
        let mut input = open_input(path)?;
        let stream = video_stream(path, &input)?;
        let index = stream.index();
        let mut found = Self::default();
        for side in stream.side_data() {
            use ffmpeg_next::packet::side_data::Type;
            match side.kind() {
                Type::MasteringDisplayMetadata => found.mastering = read_struct(side.data()),
                Type::ContentLightLevel => found.light = read_struct(side.data()),
                _ => {}
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        let first = first_frame(path, &mut input, index)?;
        Ok(Self {
            mastering: first
                .side_data(FrameSideData::MasteringDisplayMetadata)
                .and_then(|s| read_struct(s.data())),
            light: first
                .side_data(FrameSideData::ContentLightLevel)
                .and_then(|s| read_struct(s.data())),
        })
    }

    /// The metadata of a PQ/HLG or high-depth video (none otherwise, or when it has none or it
    /// cannot be read: the output is still correct video, only without the grading display's
    /// figures). SDR 8-bit files are not opened again.
    pub fn of_video(
        path: &Path,
        transfer: ffmpeg_next::color::TransferCharacteristic,
        bits: u8,
    ) -> Self {
        use ffmpeg_next::color::TransferCharacteristic as Trc;
        if !matches!(transfer, Trc::SMPTE2084 | Trc::ARIB_STD_B67) && bits <= 8 {
            return Self::default();
        }
        Self::of_file(path).unwrap_or_else(|e| {
            tracing::warn!("{}: HDR metadata not read: {e}", path.display());
            Self::default()
        })
    }

    /// libx265's parameters for this metadata (empty when there is none).
    pub fn x265_params(&self) -> Vec<String> {
        let mut params = Vec::new();
        if let Some(m) = &self.mastering {
            params.push(format!("master-display={}", master_display(m)));
        }
        if let Some(l) = &self.light {
            params.push(format!("max-cll={},{}", l.MaxCLL, l.MaxFALL));
        }
        params
    }

    /// Attach the metadata to an output stream (before the header is written).
    pub fn add_to_stream(&self, stream: &mut format::stream::StreamMut) {
        if let Some(m) = &self.mastering {
            add_side_data(
                stream,
                AVPacketSideDataType::AV_PKT_DATA_MASTERING_DISPLAY_METADATA,
                m,
            );
        }
        if let Some(l) = &self.light {
            add_side_data(
                stream,
                AVPacketSideDataType::AV_PKT_DATA_CONTENT_LIGHT_LEVEL,
                l,
            );
        }
    }
}

fn add_side_data<T: Copy>(
    stream: &mut format::stream::StreamMut,
    kind: AVPacketSideDataType,
    value: &T,
) {
    let size = std::mem::size_of::<T>();
    // SAFETY: FFmpeg allocates `size` bytes owned by the stream and returns them (or null);
    // a plain struct is copied in.
    unsafe {
        let data = ffmpeg_next::ffi::av_stream_new_side_data(stream.as_mut_ptr(), kind, size);
        if !data.is_null() {
            std::ptr::copy_nonoverlapping(value as *const T as *const u8, data, size);
        }
    }
}

/// x265's `G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)`: chromaticities in 0.00002, luminance in
/// 0.0001 cd/m² (FFmpeg keeps R, G, B in that order).
fn master_display(m: &AVMasteringDisplayMetadata) -> String {
    let chroma = |r: AVRational| to_units(r, 50_000.0);
    let lum = |r: AVRational| to_units(r, 10_000.0);
    let [r, g, b] = m.display_primaries;
    format!(
        "G({},{})B({},{})R({},{})WP({},{})L({},{})",
        chroma(g[0]),
        chroma(g[1]),
        chroma(b[0]),
        chroma(b[1]),
        chroma(r[0]),
        chroma(r[1]),
        chroma(m.white_point[0]),
        chroma(m.white_point[1]),
        lum(m.max_luminance),
        lum(m.min_luminance)
    )
}

fn to_units(r: AVRational, per_unit: f64) -> i64 {
    if r.den == 0 {
        return 0;
    }
    (f64::from(r.num) / f64::from(r.den) * per_unit).round() as i64
}

/// The first frame of the video stream `index` (decoding stops there).
fn first_frame(
    path: &Path,
    input: &mut format::context::Input,
    index: usize,
) -> Result<frame::Video, MediaError> {
    let fail = |reason: String| MediaError::Open {
        path: path.to_path_buf(),
        reason,
    };
    let parameters = input
        .stream(index)
        .ok_or_else(|| fail("video stream vanished".into()))?
        .parameters();
    let mut decoder = ffmpeg_next::codec::context::Context::from_parameters(parameters)
        .and_then(|c| c.decoder().video())
        .map_err(|e| fail(e.to_string()))?;
    let mut decoded = frame::Video::empty();
    let mut packet = Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) if packet.stream() == index => {
                let _ = decoder.send_packet(&packet);
            }
            Ok(()) => continue,
            Err(FfError::Eof) => {
                let _ = decoder.send_eof();
            }
            Err(e) => return Err(fail(e.to_string())),
        }
        match decoder.receive_frame(&mut decoded) {
            Ok(()) => return Ok(decoded),
            Err(FfError::Eof) => return Err(MediaError::NoFrames(path.to_path_buf())),
            Err(_) => {}
        }
    }
}
