//! The StrongLive wire protocol, version 2: message types and their exact byte layout (the
//! sealing of messages after the handshake is `secure`).
//! Pure: no sockets, no clocks, only `std` and `thiserror`, so the fuzz target (fuzz/) can
//! compile this file on its own. docs/protocol.md is the specification; the golden-byte tests
//! here and in android-companion/ check both ends against it.
//!
//! Every message on the wire is `length: u32 BE` (bytes that follow) + `type: u8` + payload.
//! All integers are big-endian. Strings are `u16 BE length + UTF-8`.

use std::fmt;

/// Bumped on any incompatible change; both hellos carry it.
pub const PROTOCOL_VERSION: u16 = 2;
/// First bytes of both hellos: a peer that speaks something else is told so at once.
pub const MAGIC: [u8; 4] = *b"SLIV";
/// Largest message after the handshake (type + payload): a 960x540 key frame is ~100 KB, a
/// 4K one a few MB; HR patches are small PNG/JPEG crops.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Largest message before the peer has proved it holds the secret: an anonymous peer cannot
/// make the server allocate more than this.
pub const MAX_HANDSHAKE_BYTES: usize = 1024;
/// Bytes of each side's random challenge.
pub const NONCE_BYTES: usize = 32;
/// Bytes of a device id (random, chosen once by the device).
pub const DEVICE_ID_BYTES: usize = 16;
/// Bytes of an HMAC-SHA256 proof.
pub const PROOF_BYTES: usize = 32;
/// Size of the length prefix.
pub const HEADER_BYTES: usize = 4;

pub type Nonce = [u8; NONCE_BYTES];
pub type DeviceId = [u8; DEVICE_ID_BYTES];
pub type Proof = [u8; PROOF_BYTES];

/// Video codecs a stream config can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264 = 1,
}

/// Encodings an HR patch can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    Png = 1,
    Jpeg = 2,
}

/// Why the server refused a client (the `code` byte of [`Message::Reject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// The proof did not match: wrong or stale pairing secret.
    BadProof = 1,
    /// An unknown device came with an expired (or revoked) pairing secret.
    PairingExpired = 2,
    /// The client speaks another protocol version.
    Version = 3,
    /// The bytes were not a StrongLive hello.
    Malformed = 4,
    /// Too many sessions already.
    Busy = 5,
}

/// One protocol message. Direction: S->C from the server, C->S from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// S->C, first message: protocol version, challenge, the server's display name.
    ServerHello {
        version: u16,
        nonce: Nonce,
        server_name: String,
    },
    /// C->S, answer to the hello: who the device is, its own challenge for the server and the
    /// HMAC proof (see [`proof_input`]).
    ClientHello {
        version: u16,
        device_id: DeviceId,
        device_name: String,
        client_nonce: Nonce,
        proof: Proof,
    },
    /// S->C: proof accepted, and the server's own proof (see [`server_proof_input`]); every
    /// message after this one is sealed.
    Welcome {
        session_id: u64,
        server_proof: Proof,
    },
    /// S->C: refused; the server closes the connection after sending it.
    Reject { code: RejectCode, reason: String },
    /// C->S, before the first video unit and whenever the stream changes.
    StreamConfig {
        codec: Codec,
        width: u16,
        height: u16,
        fps_num: u32,
        fps_den: u32,
        bitrate: u32,
        /// Annex-B SPS/PPS (may be empty when they are sent in-band before key frames).
        parameter_sets: Vec<u8>,
    },
    /// C->S: one access unit, Annex-B, with its presentation time in microseconds.
    VideoUnit {
        pts_us: i64,
        key: bool,
        data: Vec<u8>,
    },
    /// C->S: a full-resolution crop of the frame with `frame_pts_us`, at (x, y) in HR pixels.
    HrPatch {
        frame_pts_us: i64,
        x: u16,
        y: u16,
        width: u16,
        height: u16,
        format: PatchFormat,
        data: Vec<u8>,
    },
    /// S->C: encode at this many bits per second from now on.
    TargetBitrate { bits_per_second: u32 },
    /// S->C: send a key frame as soon as possible (decoder lost sync, recording started).
    KeyFrameRequest,
    /// S->C: send `count` HR patches of `size` x `size` pixels from detailed regions.
    PatchRequest { count: u16, size: u16 },
    /// S->C: send pictures no larger than `width` x `height` (even; the sender keeps its aspect
    /// ratio); 0 x 0 = the sender's own size again.
    TargetStreamSize { width: u16, height: u16 },
    /// C->S, about once a second: what the sender did.
    Stats {
        frames_sent: u64,
        bytes_sent: u64,
        frames_dropped: u32,
        encoder_fps_milli: u32,
    },
    /// Either way: orderly end of the session, with a reason for the log.
    Bye { reason: String },
}

/// What went wrong reading or parsing a message; each says what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("message of {length} bytes exceeds the {limit}-byte limit")]
    TooLarge { length: usize, limit: usize },
    #[error("empty message (length 0, no type byte)")]
    Empty,
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("{message}: payload ends after {have} bytes, needs {need}")]
    Truncated {
        message: &'static str,
        have: usize,
        need: usize,
    },
    #[error("{message}: {extra} unexpected bytes after the payload")]
    TrailingBytes { message: &'static str, extra: usize },
    #[error("{message}: {field} is not valid UTF-8")]
    BadString {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: {field} = {value} (valid: {valid})")]
    BadValue {
        message: &'static str,
        field: &'static str,
        value: u64,
        valid: &'static str,
    },
    #[error("not a StrongLive hello (magic {found:02x?}, expected \"SLIV\")")]
    BadMagic { found: [u8; 4] },
    #[error("{message} speaks protocol version {found}, this end {expected}")]
    Version {
        message: &'static str,
        found: u16,
        expected: u16,
    },
}

mod kind {
    pub const SERVER_HELLO: u8 = 0x01;
    pub const CLIENT_HELLO: u8 = 0x02;
    pub const WELCOME: u8 = 0x03;
    pub const REJECT: u8 = 0x04;
    pub const STREAM_CONFIG: u8 = 0x10;
    pub const VIDEO_UNIT: u8 = 0x11;
    pub const HR_PATCH: u8 = 0x12;
    pub const TARGET_BITRATE: u8 = 0x20;
    pub const KEY_FRAME_REQUEST: u8 = 0x21;
    pub const PATCH_REQUEST: u8 = 0x22;
    pub const TARGET_STREAM_SIZE: u8 = 0x23;
    pub const STATS: u8 = 0x30;
    pub const BYE: u8 = 0x7f;
}

/// Bytes the client's HMAC proof is computed over: a domain label, both nonces and everything
/// the client says about itself, so a captured proof is useless for another nonce or device.
/// `"stronglive-auth-v2" || nonce || client_nonce || version (u16 BE) || device_id ||
/// device_name (UTF-8)`.
pub fn proof_input(
    nonce: &Nonce,
    client_nonce: &Nonce,
    version: u16,
    device_id: &DeviceId,
    device_name: &str,
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(18 + 2 * NONCE_BYTES + 2 + DEVICE_ID_BYTES + device_name.len());
    out.extend_from_slice(b"stronglive-auth-v2");
    out.extend_from_slice(nonce);
    out.extend_from_slice(client_nonce);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(device_id);
    out.extend_from_slice(device_name.as_bytes());
    out
}

/// Bytes the server's proof (in Welcome) is computed over: it shows the client that the server
/// holds the device key, for this connection's nonces and session.
/// `"stronglive-server-v2" || nonce || client_nonce || session_id (u64 BE)`.
pub fn server_proof_input(nonce: &Nonce, client_nonce: &Nonce, session_id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 2 * NONCE_BYTES + 8);
    out.extend_from_slice(b"stronglive-server-v2");
    out.extend_from_slice(nonce);
    out.extend_from_slice(client_nonce);
    out.extend_from_slice(&session_id.to_be_bytes());
    out
}

/// The message length announced by a 4-byte header, refused before any allocation when it is
/// over `limit` (bytes of type + payload).
pub fn parse_header(header: [u8; HEADER_BYTES], limit: usize) -> Result<usize, ProtocolError> {
    let length = u32::from_be_bytes(header) as usize;
    if length == 0 {
        return Err(ProtocolError::Empty);
    }
    if length > limit {
        return Err(ProtocolError::TooLarge { length, limit });
    }
    Ok(length)
}

/// Parse one complete message from the front of `buf` (header included). `Ok(None)` when more
/// bytes are needed; otherwise the message and the bytes it used.
pub fn parse_frame(buf: &[u8], limit: usize) -> Result<Option<(Message, usize)>, ProtocolError> {
    let Some(header) = buf.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(header);
    let length = parse_header(h, limit)?;
    let Some(body) = buf.get(HEADER_BYTES..HEADER_BYTES + length) else {
        return Ok(None);
    };
    Ok(Some((Message::decode(body)?, HEADER_BYTES + length)))
}

impl Message {
    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        type_name(self.kind()).unwrap_or("?")
    }

    fn kind(&self) -> u8 {
        match self {
            Message::ServerHello { .. } => kind::SERVER_HELLO,
            Message::ClientHello { .. } => kind::CLIENT_HELLO,
            Message::Welcome { .. } => kind::WELCOME,
            Message::Reject { .. } => kind::REJECT,
            Message::StreamConfig { .. } => kind::STREAM_CONFIG,
            Message::VideoUnit { .. } => kind::VIDEO_UNIT,
            Message::HrPatch { .. } => kind::HR_PATCH,
            Message::TargetBitrate { .. } => kind::TARGET_BITRATE,
            Message::KeyFrameRequest => kind::KEY_FRAME_REQUEST,
            Message::PatchRequest { .. } => kind::PATCH_REQUEST,
            Message::TargetStreamSize { .. } => kind::TARGET_STREAM_SIZE,
            Message::Stats { .. } => kind::STATS,
            Message::Bye { .. } => kind::BYE,
        }
    }

    /// The whole frame: length header, type byte, payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(vec![0; HEADER_BYTES]);
        w.u8(self.kind());
        match self {
            Message::ServerHello {
                version,
                nonce,
                server_name,
            } => {
                w.bytes(&MAGIC);
                w.u16(*version);
                w.bytes(nonce);
                w.string(server_name);
            }
            Message::ClientHello {
                version,
                device_id,
                device_name,
                client_nonce,
                proof,
            } => {
                w.bytes(&MAGIC);
                w.u16(*version);
                w.bytes(device_id);
                w.string(device_name);
                w.bytes(client_nonce);
                w.bytes(proof);
            }
            Message::Welcome {
                session_id,
                server_proof,
            } => {
                w.u64(*session_id);
                w.bytes(server_proof);
            }
            Message::Reject { code, reason } => {
                w.u8(*code as u8);
                w.string(reason);
            }
            Message::StreamConfig {
                codec,
                width,
                height,
                fps_num,
                fps_den,
                bitrate,
                parameter_sets,
            } => {
                w.u8(*codec as u8);
                w.u16(*width);
                w.u16(*height);
                w.u32(*fps_num);
                w.u32(*fps_den);
                w.u32(*bitrate);
                w.u32(parameter_sets.len() as u32);
                w.bytes(parameter_sets);
            }
            Message::VideoUnit { pts_us, key, data } => {
                w.u64(*pts_us as u64);
                w.u8(u8::from(*key));
                w.bytes(data);
            }
            Message::HrPatch {
                frame_pts_us,
                x,
                y,
                width,
                height,
                format,
                data,
            } => {
                w.u64(*frame_pts_us as u64);
                w.u16(*x);
                w.u16(*y);
                w.u16(*width);
                w.u16(*height);
                w.u8(*format as u8);
                w.bytes(data);
            }
            Message::TargetBitrate { bits_per_second } => {
                w.u32(*bits_per_second);
            }
            Message::KeyFrameRequest => {}
            Message::PatchRequest { count, size } => {
                w.u16(*count);
                w.u16(*size);
            }
            Message::TargetStreamSize { width, height } => {
                w.u16(*width);
                w.u16(*height);
            }
            Message::Stats {
                frames_sent,
                bytes_sent,
                frames_dropped,
                encoder_fps_milli,
            } => {
                w.u64(*frames_sent);
                w.u64(*bytes_sent);
                w.u32(*frames_dropped);
                w.u32(*encoder_fps_milli);
            }
            Message::Bye { reason } => {
                w.string(reason);
            }
        }
        let mut out = w.0;
        let length = (out.len() - HEADER_BYTES) as u32;
        out[..HEADER_BYTES].copy_from_slice(&length.to_be_bytes());
        out
    }

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
            kind::REJECT => {
                let code = r.u8()?;
                let code = match code {
                    1 => RejectCode::BadProof,
                    2 => RejectCode::PairingExpired,
                    3 => RejectCode::Version,
                    4 => RejectCode::Malformed,
                    5 => RejectCode::Busy,
                    other => return Err(r.bad("code", other.into(), "1..=5")),
                };
                Message::Reject {
                    code,
                    reason: r.string("reason")?,
                }
            }
            kind::STREAM_CONFIG => {
                let codec = match r.u8()? {
                    1 => Codec::H264,
                    other => return Err(r.bad("codec", other.into(), "1 (H.264)")),
                };
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
                Message::StreamConfig {
                    codec,
                    width,
                    height,
                    fps_num,
                    fps_den,
                    bitrate,
                    parameter_sets: r.take(sets_len)?.to_vec(),
                }
            }
            kind::VIDEO_UNIT => {
                let pts_us = r.u64()? as i64;
                let key = r.flag("key")?;
                Message::VideoUnit {
                    pts_us,
                    key,
                    data: r.rest().to_vec(),
                }
            }
            kind::HR_PATCH => {
                let frame_pts_us = r.u64()? as i64;
                let (x, y, width, height) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
                if width == 0 || height == 0 {
                    return Err(r.bad("width x height", 0, "at least 1x1"));
                }
                let format = match r.u8()? {
                    1 => PatchFormat::Png,
                    2 => PatchFormat::Jpeg,
                    other => return Err(r.bad("format", other.into(), "1 (PNG) or 2 (JPEG)")),
                };
                Message::HrPatch {
                    frame_pts_us,
                    x,
                    y,
                    width,
                    height,
                    format,
                    data: r.rest().to_vec(),
                }
            }
            kind::TARGET_BITRATE => Message::TargetBitrate {
                bits_per_second: r.u32()?,
            },
            kind::KEY_FRAME_REQUEST => Message::KeyFrameRequest,
            kind::PATCH_REQUEST => Message::PatchRequest {
                count: r.u16()?,
                size: r.u16()?,
            },
            kind::TARGET_STREAM_SIZE => {
                let (width, height) = (r.u16()?, r.u16()?);
                let reset = width == 0 && height == 0;
                for (field, value) in [("width", width), ("height", height)] {
                    if !reset && (value == 0 || value % 2 != 0) {
                        return Err(r.bad(field, value.into(), "even, 2..=65534 (or both 0)"));
                    }
                }
                Message::TargetStreamSize { width, height }
            }
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

fn type_name(kind_byte: u8) -> Option<&'static str> {
    Some(match kind_byte {
        kind::SERVER_HELLO => "ServerHello",
        kind::CLIENT_HELLO => "ClientHello",
        kind::WELCOME => "Welcome",
        kind::REJECT => "Reject",
        kind::STREAM_CONFIG => "StreamConfig",
        kind::VIDEO_UNIT => "VideoUnit",
        kind::HR_PATCH => "HrPatch",
        kind::TARGET_BITRATE => "TargetBitrate",
        kind::KEY_FRAME_REQUEST => "KeyFrameRequest",
        kind::PATCH_REQUEST => "PatchRequest",
        kind::TARGET_STREAM_SIZE => "TargetStreamSize",
        kind::STATS => "Stats",
        kind::BYE => "Bye",
        _ => return None,
    })
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectCode::BadProof => "authentication failed",
            RejectCode::PairingExpired => "pairing code expired",
            RejectCode::Version => "protocol version mismatch",
            RejectCode::Malformed => "malformed handshake",
            RejectCode::Busy => "server busy",
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// Strings longer than 65535 bytes are cut at a character boundary (names and reasons only).
    fn string(&mut self, s: &str) {
        let mut end = s.len().min(u16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16);
        self.bytes(&s.as_bytes()[..end]);
    }
}

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `docs/protocol-golden.txt`, written by an independent Python implementation of
    /// docs/protocol.md (scripts/protocol_golden.py); the Android tests read the same file.
    pub(crate) fn golden(name: &str) -> Vec<u8> {
        let text = include_str!("../../../docs/protocol-golden.txt");
        let hex = text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing from docs/protocol-golden.txt"));
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn samples() -> Vec<Message> {
        let sets = vec![
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
        ];
        let mut nonce = [0u8; 32];
        nonce.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let mut device_id = [0u8; 16];
        device_id
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0xa0 + i as u8);
        let proof: Proof = golden("proof").try_into().unwrap();
        vec![
            Message::ServerHello {
                version: 2,
                nonce,
                server_name: "Studio".into(),
            },
            Message::ClientHello {
                version: 2,
                device_id,
                device_name: "Pixel 7".into(),
                client_nonce: golden("client_nonce").try_into().unwrap(),
                proof,
            },
            Message::Welcome {
                session_id: 0x0102_0304_0506_0708,
                server_proof: golden("server_proof").try_into().unwrap(),
            },
            Message::Reject {
                code: RejectCode::BadProof,
                reason: "wrong pairing secret".into(),
            },
            Message::StreamConfig {
                codec: Codec::H264,
                width: 960,
                height: 540,
                fps_num: 30000,
                fps_den: 1001,
                bitrate: 2_000_000,
                parameter_sets: sets,
            },
            Message::VideoUnit {
                pts_us: 33_366,
                key: true,
                data: vec![0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33],
            },
            Message::HrPatch {
                frame_pts_us: 33_366,
                x: 128,
                y: 64,
                width: 48,
                height: 48,
                format: PatchFormat::Png,
                data: vec![0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
            },
            Message::TargetBitrate {
                bits_per_second: 1_500_000,
            },
            Message::KeyFrameRequest,
            Message::PatchRequest { count: 4, size: 96 },
            Message::TargetStreamSize {
                width: 640,
                height: 360,
            },
            Message::Stats {
                frames_sent: 300,
                bytes_sent: 1_234_567,
                frames_dropped: 2,
                encoder_fps_milli: 29_970,
            },
            Message::Bye {
                reason: "end of source".into(),
            },
        ]
    }

    #[test]
    fn every_message_matches_its_golden_bytes_both_ways() {
        for message in samples() {
            let bytes = golden(message.name());
            assert_eq!(message.encode(), bytes, "encoding {}", message.name());
            let (parsed, used) = parse_frame(&bytes, MAX_MESSAGE_BYTES).unwrap().unwrap();
            assert_eq!(parsed, message);
            assert_eq!(used, bytes.len());
        }
    }

    /// A stream size must be even on both sides, or 0 x 0 (back to the sender's own size).
    #[test]
    fn target_stream_sizes_are_even_or_a_reset() {
        let frame = |w: u16, h: u16| {
            let mut bytes = vec![0, 0, 0, 5, kind::TARGET_STREAM_SIZE];
            bytes.extend_from_slice(&w.to_be_bytes());
            bytes.extend_from_slice(&h.to_be_bytes());
            bytes
        };
        let parse = |b: Vec<u8>| parse_frame(&b, MAX_MESSAGE_BYTES).map(|m| m.map(|(m, _)| m));
        assert_eq!(
            parse(frame(0, 0)),
            Ok(Some(Message::TargetStreamSize {
                width: 0,
                height: 0
            }))
        );
        for (w, h) in [(641, 360), (640, 0), (0, 360)] {
            let err = parse(frame(w, h)).unwrap_err().to_string();
            assert!(
                err.contains("TargetStreamSize") && err.contains("even"),
                "{err}"
            );
        }
    }

    #[test]
    fn partial_frames_ask_for_more_and_limits_are_checked_first() {
        let bytes = golden("StreamConfig");
        for cut in 0..bytes.len() {
            assert_eq!(parse_frame(&bytes[..cut], MAX_MESSAGE_BYTES), Ok(None));
        }
        // A huge announced length is refused from the 4 header bytes alone.
        let err = parse_frame(&[0xff, 0xff, 0xff, 0xf0], MAX_MESSAGE_BYTES).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::TooLarge {
                length: 0xffff_fff0,
                limit: MAX_MESSAGE_BYTES
            }
        );
        assert!(err
            .to_string()
            .contains("4294967280 bytes exceeds the 4194304-byte limit"));
        let hello = golden("ClientHello");
        assert!(parse_frame(&hello, 16).is_err(), "handshake limit applies");
        assert_eq!(parse_header([0, 0, 0, 0], 10), Err(ProtocolError::Empty));
    }

    #[test]
    fn malformed_payloads_name_what_is_wrong() {
        let mut bad_magic = golden("ServerHello");
        bad_magic[5] = b'X';
        assert!(matches!(
            parse_frame(&bad_magic, MAX_MESSAGE_BYTES),
            Err(ProtocolError::BadMagic { .. })
        ));
        let mut odd_width = golden("StreamConfig");
        odd_width[7] = 0xc1; // 961
        let err = parse_frame(&odd_width, MAX_MESSAGE_BYTES).unwrap_err();
        assert!(err.to_string().contains("width = 961"), "{err}");
        let mut trailing = golden("Welcome");
        trailing.push(0);
        trailing[3] += 1;
        assert!(matches!(
            parse_frame(&trailing, MAX_MESSAGE_BYTES),
            Err(ProtocolError::TrailingBytes { extra: 1, .. })
        ));
        let err = Message::decode(&[0x55]).unwrap_err();
        assert_eq!(err.to_string(), "unknown message type 0x55");
        let mut bad_key = golden("VideoUnit");
        bad_key[13] = 7;
        assert!(parse_frame(&bad_key, MAX_MESSAGE_BYTES).is_err());
        // A version-1 hello is refused by its version, before its (different) layout is read.
        let mut old = golden("ClientHello");
        old[10] = 1;
        let err = parse_frame(&old, MAX_MESSAGE_BYTES).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ClientHello speaks protocol version 1, this end 2"
        );
    }

    /// The fuzz target's property, run deterministically: no input makes the parser panic, and
    /// whatever parses re-encodes to the same bytes.
    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        let seeds: Vec<Vec<u8>> = samples().iter().map(Message::encode).collect();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                seeds[(next() % seeds.len() as u64) as usize].clone()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            for _ in 0..(next() % 4) {
                if !bytes.is_empty() {
                    let i = (next() % bytes.len() as u64) as usize;
                    bytes[i] = next() as u8;
                }
            }
            if let Ok(Some((message, used))) = parse_frame(&bytes, MAX_MESSAGE_BYTES) {
                assert_eq!(message.encode(), bytes[..used]);
            }
        }
    }
}
