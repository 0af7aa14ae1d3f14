//! Writing messages: the exact bytes of every message (docs/protocol.md), length header first.

use super::message::Message;
use super::{HEADER_BYTES, MAGIC};

impl Message {
    /// The whole frame: length header, type byte, payload.
    #[allow(
        clippy::too_many_lines,
        reason = "one exhaustive match over every protocol message (docs/protocol.md), kept \
                  whole so a new message is one arm here and one in decode"
    )]
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
}

/// Big-endian fields appended to a frame.
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
