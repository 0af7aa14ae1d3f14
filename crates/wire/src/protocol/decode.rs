//! Reading messages: one message body (type byte + payload) into a [`Message`], checking every
//! field a peer controls (lengths, enum codes, sizes, the hellos' magic and version) and that
//! nothing trails the payload.

use super::message::{kind, type_name, Codec, Message, PatchFormat, ProtocolError, RejectCode};
use super::{MAGIC, PROTOCOL_VERSION};

impl Message {
    /// Parse a message body (type byte + payload, no length header).
    pub fn decode(body: &[u8]) -> Result<Message, ProtocolError> {
        let (&kind_byte, payload) = body.split_first().ok_or(ProtocolError::Empty)?;
        let name = type_name(kind_byte).ok_or(ProtocolError::UnknownType(kind_byte))?;
        let mut r = Reader {
            buf: payload,
            pos: 0,
            message: name,
        };
        let message = match kind_byte {
            kind::SERVER_HELLO => {
                r.magic()?;
                Message::ServerHello {
                    version: r.version()?,
                    nonce: r.array()?,
                    server_name: r.string("server_name")?,
                }
            }
            kind::CLIENT_HELLO => {
                r.magic()?;
                Message::ClientHello {
                    version: r.version()?,
                    device_id: r.array()?,
                    device_name: r.string("device_name")?,
                    client_nonce: r.array()?,
                    proof: r.array()?,
                }
            }
            kind::WELCOME => Message::Welcome {
                session_id: r.u64()?,
                server_proof: r.array()?,
            },
            kind::REJECT => Message::Reject {
                code: r.reject_code()?,
                reason: r.string("reason")?,
            },
            kind::STREAM_CONFIG => decode_stream_config(&mut r)?,
            kind::VIDEO_UNIT => Message::VideoUnit {
                pts_us: r.u64()? as i64,
                key: r.flag("key")?,
                data: r.rest().to_vec(),
            },
            kind::HR_PATCH => decode_hr_patch(&mut r)?,
            kind::TARGET_BITRATE => Message::TargetBitrate {
                bits_per_second: r.u32()?,
            },
            kind::KEY_FRAME_REQUEST => Message::KeyFrameRequest,
            kind::PATCH_REQUEST => Message::PatchRequest {
                count: r.u16()?,
                size: r.u16()?,
            },
            kind::TARGET_STREAM_SIZE => decode_target_stream_size(&mut r)?,
            kind::STATS => Message::Stats {
                frames_sent: r.u64()?,
                bytes_sent: r.u64()?,
                frames_dropped: r.u32()?,
                encoder_fps_milli: r.u32()?,
            },
            kind::BYE => Message::Bye {
                reason: r.string("reason")?,
            },
            other => return Err(ProtocolError::UnknownType(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

/// StreamConfig's payload: the picture size must be even on both sides and the frame rate's
/// denominator non-zero.
fn decode_stream_config(r: &mut Reader) -> Result<Message, ProtocolError> {
    let codec = r.codec()?;
    let width = r.u16()?;
    let height = r.u16()?;
    for (field, value) in [("width", width), ("height", height)] {
        if value == 0 || value % 2 != 0 {
            return Err(r.bad(field, value.into(), "even, 2..=65534"));
        }
    }
    let fps_num = r.u32()?;
    let fps_den = r.u32()?;
    if fps_den == 0 {
        return Err(r.bad("fps_den", 0, "1..=4294967295"));
    }
    let bitrate = r.u32()?;
    let sets_len = r.u32()? as usize;
    Ok(Message::StreamConfig {
        codec,
        width,
        height,
        fps_num,
        fps_den,
        bitrate,
        parameter_sets: r.take(sets_len)?.to_vec(),
    })
}

/// HrPatch's payload: a crop of at least one pixel, the rest of the body is the image.
fn decode_hr_patch(r: &mut Reader) -> Result<Message, ProtocolError> {
    let frame_pts_us = r.u64()? as i64;
    let (x, y, width, height) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    if width == 0 || height == 0 {
        return Err(r.bad("width x height", 0, "at least 1x1"));
    }
    let format = r.patch_format()?;
    Ok(Message::HrPatch {
        frame_pts_us,
        x,
        y,
        width,
        height,
        format,
        data: r.rest().to_vec(),
    })
}

/// TargetStreamSize's payload: even on both sides, or 0 x 0 (back to the sender's own size).
fn decode_target_stream_size(r: &mut Reader) -> Result<Message, ProtocolError> {
    let (width, height) = (r.u16()?, r.u16()?);
    let reset = width == 0 && height == 0;
    for (field, value) in [("width", width), ("height", height)] {
        if !reset && (value == 0 || value % 2 != 0) {
            return Err(r.bad(field, value.into(), "even, 2..=65534 (or both 0)"));
        }
    }
    Ok(Message::TargetStreamSize { width, height })
}

/// A cursor over one message's payload; every error names the message it was reading.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(ProtocolError::Truncated {
                message: self.message,
                have: self.buf.len(),
                need: self.pos.saturating_add(n),
            });
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, ProtocolError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.bad(field, other.into(), "0 or 1")),
        }
    }
    fn string(&mut self, field: &'static str) -> Result<String, ProtocolError> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ProtocolError::BadString {
            message: self.message,
            field,
        })
    }
    fn magic(&mut self) -> Result<(), ProtocolError> {
        let found: [u8; 4] = self.array()?;
        if found != MAGIC {
            return Err(ProtocolError::BadMagic { found });
        }
        Ok(())
    }
    /// A hello's version: another one is refused before the rest (whose layout it may change)
    /// is read, so the peer learns which side to update.
    fn version(&mut self) -> Result<u16, ProtocolError> {
        let found = self.u16()?;
        if found != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                message: self.message,
                found,
                expected: PROTOCOL_VERSION,
            });
        }
        Ok(found)
    }
    fn reject_code(&mut self) -> Result<RejectCode, ProtocolError> {
        Ok(match self.u8()? {
            1 => RejectCode::BadProof,
            2 => RejectCode::PairingExpired,
            3 => RejectCode::Version,
            4 => RejectCode::Malformed,
            5 => RejectCode::Busy,
            other => return Err(self.bad("code", other.into(), "1..=5")),
        })
    }
    fn codec(&mut self) -> Result<Codec, ProtocolError> {
        match self.u8()? {
            1 => Ok(Codec::H264),
            other => Err(self.bad("codec", other.into(), "1 (H.264)")),
        }
    }
    fn patch_format(&mut self) -> Result<PatchFormat, ProtocolError> {
        match self.u8()? {
            1 => Ok(PatchFormat::Png),
            2 => Ok(PatchFormat::Jpeg),
            other => Err(self.bad("format", other.into(), "1 (PNG) or 2 (JPEG)")),
        }
    }
    fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }
    fn bad(&self, field: &'static str, value: u64, valid: &'static str) -> ProtocolError {
        ProtocolError::BadValue {
            message: self.message,
            field,
            value,
            valid,
        }
    }
    fn finish(&self) -> Result<(), ProtocolError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes {
                message: self.message,
                extra: self.buf.len() - self.pos,
            })
        }
    }
}
