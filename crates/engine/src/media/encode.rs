//! Video encoder choice: an ordered, hardware-first list. NVENC (HEVC, then H.264) where an
//! NVIDIA driver and an NVENC-capable GPU exist, then x265 and x264. Each encoder that cannot be
//! opened is skipped with its reason, and the reasons travel to the user.

use std::fmt;

use ffmpeg_next::{codec, encoder, format, Dictionary, Error as FfError, Rational};

use super::hdr::HdrMetadata;

/// Encoders tried by `auto`, best first.
pub const HARDWARE_FIRST: &[&str] = &["hevc_nvenc", "h264_nvenc", "libx265", "libx264"];
/// Encoders for live recording, fastest first: H.264 only (x265 cannot keep up with 4K on a CPU).
pub const REALTIME_FIRST: &[&str] = &["h264_nvenc", "libx264"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EncoderChoice {
    #[default]
    Auto,
    /// Live recording: [`REALTIME_FIRST`] with faster presets (x264 veryfast, NVENC p3).
    Realtime,
    /// H.265 only, hardware first: [`HEVC_FIRST`] (SRVC's LR video).
    Hevc,
    Named(String),
}

/// H.265 encoders, hardware first.
pub const HEVC_FIRST: &[&str] = &["hevc_nvenc", "libx265"];

impl std::str::FromStr for EncoderChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            Ok(Self::Auto)
        } else if HARDWARE_FIRST.contains(&s) {
            Ok(Self::Named(s.to_string()))
        } else {
            Err(format!(
                "unknown encoder {s:?}: expected auto, {}",
                HARDWARE_FIRST.join(", ")
            ))
        }
    }
}

impl fmt::Display for EncoderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Realtime => f.write_str("realtime"),
            Self::Hevc => f.write_str("hevc"),
            Self::Named(n) => f.write_str(n),
        }
    }
}

/// Rate control: constant quality (CRF / NVENC CQ, lower is better) or a target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quality {
    /// Each encoder's own sensible default (x264 CRF 20, x265 CRF 22, NVENC CQ 23).
    #[default]
    Default,
    Crf(u8),
    BitsPerSecond(u64),
}

/// Why an encoder in the list was not used.
#[derive(Debug, Clone)]
pub struct EncoderAttempt {
    pub encoder: String,
    pub reason: EncoderUnavailable,
}

/// Why one encoder cannot be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EncoderUnavailable {
    #[error("not built into this FFmpeg")]
    NotBuiltIn,
    /// FFmpeg only says "generic error" without the driver's libcuda: this is the real reason.
    #[error("no NVIDIA driver (libcuda.so.1 cannot be loaded)")]
    NoNvidiaDriver,
    #[error("cannot create context: {0}")]
    Context(FfError),
    #[error("failed to open ({0}); the NVIDIA driver is present, so this GPU probably has no NVENC unit or it is busy")]
    NvencOpen(FfError),
    #[error("failed to open ({0})")]
    Open(FfError),
}

impl fmt::Display for EncoderAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.encoder, self.reason)
    }
}

/// What the encoder is asked to produce.
pub(crate) struct EncodeParams {
    pub width: u32,
    pub height: u32,
    pub time_base: Rational,
    pub frame_rate: Option<Rational>,
    pub aspect: Rational,
    pub primaries: ffmpeg_next::color::Primaries,
    pub transfer: ffmpeg_next::color::TransferCharacteristic,
    pub space: ffmpeg_next::color::Space,
    pub range: ffmpeg_next::color::Range,
    pub global_header: bool,
    /// Frames between key frames; `None` = the encoder's default.
    pub key_interval: Option<u32>,
    /// Bits per sample of the frames to encode (8 or 10): 10 is kept where the encoder can.
    pub bits: u8,
    /// HDR10 metadata to signal (libx265 writes it as SEI).
    pub hdr: HdrMetadata,
}

pub(crate) struct OpenedEncoder {
    pub encoder: encoder::Video,
    pub name: String,
    pub skipped: Vec<EncoderAttempt>,
}

/// Open the first encoder of `choice` that works. A named encoder is tried alone: a user who
/// asked for NVENC wants to hear that it is unavailable, not silently get x264.
pub(crate) fn open_encoder(
    choice: &EncoderChoice,
    quality: Quality,
    params: &EncodeParams,
) -> Result<OpenedEncoder, Vec<EncoderAttempt>> {
    let candidates: Vec<&str> = match choice {
        // 10-bit video: HEVC first (Main 10 plays everywhere HEVC does; H.264's High 10 hardly
        // anywhere), then the H.264 encoders at 8 bits
        EncoderChoice::Auto if params.bits > 8 => HEVC_FIRST
            .iter()
            .chain(HARDWARE_FIRST.iter().filter(|n| !HEVC_FIRST.contains(n)))
            .copied()
            .collect(),
        EncoderChoice::Auto => HARDWARE_FIRST.to_vec(),
        EncoderChoice::Realtime => REALTIME_FIRST.to_vec(),
        EncoderChoice::Hevc => HEVC_FIRST.to_vec(),
        EncoderChoice::Named(n) => vec![n.as_str()],
    };
    let mut skipped = Vec::new();
    let realtime = *choice == EncoderChoice::Realtime;
    for name in candidates {
        // a named encoder keeps 10 bits if it can (the user chose it); auto's H.264 does not
        let ten_bit_ok = !matches!(choice, EncoderChoice::Auto) || HEVC_FIRST.contains(&name);
        match try_open(name, quality, params, realtime, ten_bit_ok) {
            Ok(encoder) => {
                for s in &skipped {
                    tracing::info!("encoder skipped: {s}");
                }
                return Ok(OpenedEncoder {
                    encoder,
                    name: name.to_string(),
                    skipped,
                });
            }
            Err(reason) => skipped.push(EncoderAttempt {
                encoder: name.to_string(),
                reason,
            }),
        }
    }
    Err(skipped)
}

/// The 4:2:0 format the encoder takes: 10-bit (planar, else NVENC's P010) when wanted and
/// supported, 8-bit otherwise.
fn pixel_format(codec: &ffmpeg_next::Codec, ten_bit: bool) -> format::Pixel {
    let supported: Vec<format::Pixel> = codec
        .video()
        .ok()
        .and_then(|v| v.formats().map(|f| f.collect()))
        .unwrap_or_default();
    let wanted: &[format::Pixel] = if ten_bit {
        &[
            format::Pixel::YUV420P10LE,
            format::Pixel::P010LE,
            format::Pixel::YUV420P,
            format::Pixel::NV12,
        ]
    } else {
        &[format::Pixel::YUV420P, format::Pixel::NV12]
    };
    wanted
        .iter()
        .copied()
        .find(|f| supported.contains(f))
        .unwrap_or(format::Pixel::YUV420P)
}

fn try_open(
    name: &str,
    quality: Quality,
    p: &EncodeParams,
    realtime: bool,
    ten_bit_ok: bool,
) -> Result<encoder::Video, EncoderUnavailable> {
    let codec = encoder::find_by_name(name).ok_or(EncoderUnavailable::NotBuiltIn)?;
    let pixel = pixel_format(&codec, p.bits > 8 && ten_bit_ok);
    let nvenc = name.ends_with("_nvenc");
    // FFmpeg only says "generic error" without the driver's libcuda: give the real reason
    if nvenc && !crate::nvidia::driver_present() {
        return Err(EncoderUnavailable::NoNvidiaDriver);
    }
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(EncoderUnavailable::Context)?;
    describe_picture(&mut enc, p, pixel);
    if !realtime && (name == "libx264" || name == "libx265") {
        // FFmpeg's default thread count (1) becomes libx265's frame threads: one frame at a
        // time. 0 = one per core, as x264 and x265 pick on their own (the live recorder keeps
        // zerolatency's sliced threads, which frame threading would replace).
        enc.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
    }
    if let Quality::BitsPerSecond(b) = quality {
        enc.set_bit_rate(b as usize);
        enc.set_max_bit_rate((b * 2) as usize);
    }
    let options = encoder_options(name, quality, p, realtime);
    enc.open_with(options).map_err(|e| {
        if nvenc {
            EncoderUnavailable::NvencOpen(e)
        } else {
            EncoderUnavailable::Open(e)
        }
    })
}

/// The picture the encoder is told to expect: size, pixel format, timing, colour tags.
fn describe_picture(enc: &mut encoder::video::Video, p: &EncodeParams, pixel: format::Pixel) {
    enc.set_width(p.width);
    enc.set_height(p.height);
    enc.set_format(pixel);
    enc.set_time_base(p.time_base);
    enc.set_frame_rate(p.frame_rate);
    enc.set_aspect_ratio(p.aspect);
    enc.set_color_primaries(p.primaries);
    enc.set_color_transfer_characteristic(p.transfer);
    enc.set_colorspace(p.space);
    enc.set_color_range(p.range);
    if p.global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    if let Some(gop) = p.key_interval {
        enc.set_gop(gop);
    }
}

/// The private options of encoder `name`: preset, and the constant-quality level unless a
/// bitrate was asked for.
fn encoder_options(
    name: &str,
    quality: Quality,
    p: &EncodeParams,
    realtime: bool,
) -> Dictionary<'static> {
    let mut options = Dictionary::new();
    let crf = |default: u8| match quality {
        Quality::Crf(q) => q,
        _ => default,
    };
    let constant_quality = !matches!(quality, Quality::BitsPerSecond(_));
    match name {
        "libx264" => {
            options.set("preset", if realtime { "veryfast" } else { "fast" });
            if realtime {
                // No lookahead or frame-thread queue: frames reach the file (and survive a
                // crash) within one fragment instead of ~1.5 s later.
                options.set("tune", "zerolatency");
            }
            if constant_quality {
                options.set("crf", &crf(20).to_string());
            }
        }
        "libx265" => {
            options.set("preset", "fast");
            // x265 prints its own banner and statistics to stderr otherwise.
            let mut params = vec!["log-level=error".to_string()];
            params.extend(p.hdr.x265_params());
            options.set("x265-params", &params.join(":"));
            if constant_quality {
                options.set("crf", &crf(22).to_string());
            }
        }
        _ if name.ends_with("_nvenc") => {
            options.set("preset", if realtime { "p3" } else { "p5" });
            options.set("rc", "vbr");
            if constant_quality {
                options.set("cq", &crf(23).to_string());
            }
        }
        _ => {}
    }
    options
}
