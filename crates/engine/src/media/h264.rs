//! H.264 elementary streams without a container: the live path's decoder (Annex-B access units
//! from a peer -> [`YuvFrame`]s) and the reference sender's low-latency libx264 encoder.

use ffmpeg_next::{codec, decoder, encoder, format, frame, Dictionary, Error as FfError, Packet};
use ffmpeg_next::{Rational, Rescale};

use super::convert::{copy_planes, to_ffmpeg_picture};
use super::probe::color_info;
use crate::frame::YuvFrame;

use super::convert::MICROSECONDS;

/// The largest picture the live decoder allocates (4096x4096): a bound on its memory whatever
/// a peer's stream says.
pub const MAX_DECODED_PIXELS: i64 = 4096 * 4096;

/// Why the live H.264 decoder or encoder cannot be opened or take a frame.
#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    #[error("no H.264 decoder in this FFmpeg")]
    NoDecoder,
    #[error("cannot open the H.264 decoder: {0}")]
    OpenDecoder(FfError),
    #[error("{width}x{height}: H.264 needs an even, non-zero size")]
    BadSize { width: u32, height: u32 },
    #[error("libx264 is not built into this FFmpeg")]
    NoX264,
    #[error("libx264 context: {0}")]
    X264Context(FfError),
    #[error("cannot open libx264: {0}")]
    OpenX264(FfError),
    #[error(
        "frame is {}x{}, the encoder was opened for {}x{}",
        frame.0, frame.1, encoder.0, encoder.1
    )]
    FrameSize {
        frame: (u32, u32),
        encoder: (u32, u32),
    },
    #[error("libx264: {0}")]
    Encode(FfError),
}

/// Decodes a live H.264 stream with no frame reordering delay (low-delay flag, slice threads):
/// each access unit in, its picture out as soon as the decoder has it. Corrupt units are
/// counted and skipped; the next key frame resynchronises.
pub struct H264StreamDecoder {
    decoder: decoder::Video,
    decoded: frame::Video,
    /// Errors since the decoder was created, and the last one (for the session log).
    pub errors: u64,
    pub last_error: Option<String>,
}

impl H264StreamDecoder {
    pub fn new() -> Result<Self, H264Error> {
        super::init();
        let h264 = decoder::find(codec::Id::H264).ok_or(H264Error::NoDecoder)?;
        let mut ctx = codec::context::Context::new_with_codec(h264);
        ctx.set_flags(codec::Flags::LOW_DELAY);
        // A peer's SPS may announce any size: the decoder refuses pictures over this before
        // allocating them (the session refuses smaller ones over its own limit, by name).
        // SAFETY: a plain field of a context this function owns, set before it is opened.
        unsafe {
            (*ctx.as_mut_ptr()).max_pixels = MAX_DECODED_PIXELS;
        }
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Slice,
            count: 0,
            ..Default::default()
        });
        let decoder = ctx.decoder().video().map_err(H264Error::OpenDecoder)?;
        Ok(Self {
            decoder,
            decoded: frame::Video::empty(),
            errors: 0,
            last_error: None,
        })
    }

    /// Feed one Annex-B access unit with its pts (microseconds); returns the pictures that came
    /// out (usually one; none while the decoder waits for a key frame or after corrupt data).
    pub fn decode(&mut self, annexb: &[u8], pts_us: i64) -> Vec<YuvFrame> {
        let mut packet = Packet::copy(annexb);
        packet.set_pts(Some(pts_us));
        packet.set_dts(Some(pts_us));
        if let Err(e) = self.decoder.send_packet(&packet) {
            self.note_error(e);
        }
        self.drain()
    }

    /// Pictures still inside the decoder at the end of the stream.
    pub fn flush(&mut self) -> Vec<YuvFrame> {
        let _ = self.decoder.send_eof();
        self.drain()
    }

    fn note_error(&mut self, e: FfError) {
        self.errors += 1;
        self.last_error = Some(e.to_string());
    }

    fn drain(&mut self) -> Vec<YuvFrame> {
        let mut out = Vec::new();
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    let d = &self.decoded;
                    if !matches!(d.format(), format::Pixel::YUV420P | format::Pixel::YUVJ420P) {
                        self.errors += 1;
                        self.last_error = Some(format!(
                            "pixel format {:?} (live streams must be 8-bit 4:2:0)",
                            d.format()
                        ));
                        continue;
                    }
                    let (w, h) = (d.width(), d.height());
                    let planes = copy_planes(d, w, h);
                    out.push(YuvFrame {
                        width: w,
                        height: h,
                        y: planes.y,
                        u: planes.u,
                        v: planes.v,
                        pts: d.pts(),
                        duration: 0,
                        color: color_info(d.color_space(), d.color_range(), d.format(), h),
                    });
                }
                Err(FfError::Other { errno }) if errno == libc::EAGAIN => break,
                Err(FfError::Eof) => break,
                Err(e) => {
                    self.note_error(e);
                    break;
                }
            }
        }
        out
    }
}

/// One encoded access unit (Annex-B; SPS/PPS in-band before every key frame).
#[derive(Debug, Clone)]
pub struct EncodedUnit {
    pub pts_us: i64,
    pub key: bool,
    pub data: Vec<u8>,
}

/// How the live encoder spends bits.
#[derive(Debug, Clone, Copy)]
pub enum RateControl {
    Crf(u8),
    BitsPerSecond(u32),
}

/// libx264, ultrafast + zerolatency (no lookahead, no B-frames): what a phone's hardware encoder
/// behaves like. Frames go in with microsecond pts; units come out in the same order.
pub struct H264LiveEncoder {
    encoder: encoder::Video,
    width: u32,
    height: u32,
    time_base: Rational,
    force_key: bool,
}

impl H264LiveEncoder {
    pub fn new(
        width: u32,
        height: u32,
        fps: f64,
        rate: RateControl,
        key_interval_s: f64,
    ) -> Result<Self, H264Error> {
        super::init();
        if width % 2 != 0 || height % 2 != 0 || width == 0 || height == 0 {
            return Err(H264Error::BadSize { width, height });
        }
        let x264 = encoder::find_by_name("libx264").ok_or(H264Error::NoX264)?;
        let mut enc = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(H264Error::X264Context)?;
        let fps = if fps > 0.0 { fps } else { 30.0 };
        // A 1/1000 s time base is fine-grained enough for pacing and keeps x264's rate
        // control sane (it derives frame durations from it).
        let time_base = Rational(1, 1000);
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(Rational((fps * 1000.0).round() as i32, 1000)));
        enc.set_gop(((fps * key_interval_s).round() as u32).max(1));
        let mut options = Dictionary::new();
        options.set("preset", "ultrafast");
        options.set("tune", "zerolatency");
        match rate {
            RateControl::Crf(crf) => options.set("crf", &crf.to_string()),
            RateControl::BitsPerSecond(b) => {
                enc.set_bit_rate(b as usize);
                enc.set_max_bit_rate(b as usize);
                options.set("x264-params", &format!("vbv-bufsize={}", b / 1000));
            }
        }
        let encoder = enc.open_with(options).map_err(H264Error::OpenX264)?;
        Ok(Self {
            encoder,
            width,
            height,
            time_base,
            force_key: false,
        })
    }

    /// The next frame is encoded as a key frame (a receiver asked for one).
    pub fn request_key_frame(&mut self) {
        self.force_key = true;
    }

    pub fn encode(&mut self, yuv: &YuvFrame, pts_us: i64) -> Result<Vec<EncodedUnit>, H264Error> {
        if (yuv.width, yuv.height) != (self.width, self.height) {
            return Err(H264Error::FrameSize {
                frame: (yuv.width, yuv.height),
                encoder: (self.width, self.height),
            });
        }
        let mut picture = to_ffmpeg_picture(yuv);
        picture.set_pts(Some(pts_us.rescale(MICROSECONDS, self.time_base)));
        if std::mem::take(&mut self.force_key) {
            picture.set_kind(ffmpeg_next::picture::Type::I);
            // SAFETY: plain field write on a frame we own.
            unsafe { (*picture.as_mut_ptr()).key_frame = 1 };
        }
        self.encoder
            .send_frame(&picture)
            .map_err(H264Error::Encode)?;
        Ok(self.drain())
    }

    pub fn finish(&mut self) -> Vec<EncodedUnit> {
        let _ = self.encoder.send_eof();
        self.drain()
    }

    fn drain(&mut self) -> Vec<EncodedUnit> {
        let mut out = Vec::new();
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            out.push(EncodedUnit {
                pts_us: packet
                    .pts()
                    .unwrap_or(0)
                    .rescale(self.time_base, MICROSECONDS),
                key: packet.is_key(),
                data: packet.data().map(<[u8]>::to_vec).unwrap_or_default(),
            });
        }
        out
    }
}
