//! The bytes the handshake's HMAC proofs are computed over (docs/protocol.md): each binds both
//! nonces, so a captured proof is useless on another connection.

use super::{DeviceId, Nonce, DEVICE_ID_BYTES, NONCE_BYTES};

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
