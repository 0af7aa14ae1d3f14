//! Framing: the 4-byte length header (checked against a limit before anything is allocated)
//! and one whole message cut from the front of a buffer.

use super::message::{Message, ProtocolError};
use super::HEADER_BYTES;

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
