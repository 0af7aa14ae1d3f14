//! The pairing secret and what is derived from it: each device's key, the client's proof in
//! its hello and the server's in Welcome (HMAC-SHA256, checked in constant time), and the hex
//! form secrets and keys are stored and shown in.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{PairingError, SECRET_BYTES};
use crate::protocol::{proof_input, server_proof_input, DeviceId, Proof};
use crate::secure::Nonces;

type HmacSha256 = Hmac<Sha256>;

/// A random secret shown once in the QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for PairingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairingSecret(..)")
    }
}

impl PairingSecret {
    pub fn generate() -> Result<Self, PairingError> {
        Ok(Self(random_bytes()?))
    }

    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        hex_decode(text)?.try_into().ok().map(Self)
    }

    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// The key a device with `device_id` derives from this secret and uses for its proofs.
    pub fn device_key(&self, device_id: &DeviceId) -> [u8; 32] {
        hmac(&self.0, &[b"stronglive-device-key-v1", &device_id[..]])
    }
}

/// Operating-system randomness (getrandom), for secrets, nonces and device ids.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PairingError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(PairingError::Random)?;
    Ok(out)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The proof a client sends in its hello: HMAC-SHA256(device key, proof input).
pub fn compute_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    version: u16,
    device_id: &DeviceId,
    device_name: &str,
) -> Proof {
    let input = proof_input(
        &nonces.server,
        &nonces.client,
        version,
        device_id,
        device_name,
    );
    hmac(device_key, &[&input])
}

/// Constant-time check of a client's proof (the `hmac` crate compares in constant time).
pub fn verify_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    version: u16,
    device_id: &DeviceId,
    device_name: &str,
    proof: &Proof,
) -> bool {
    let input = proof_input(
        &nonces.server,
        &nonces.client,
        version,
        device_id,
        device_name,
    );
    verify_hmac(device_key, &input, proof)
}

/// The server's proof in Welcome: HMAC-SHA256(device key, server proof input).
pub fn compute_server_proof(device_key: &[u8; 32], nonces: &Nonces, session_id: u64) -> Proof {
    let input = server_proof_input(&nonces.server, &nonces.client, session_id);
    hmac(device_key, &[&input])
}

/// Constant-time check, by the client, that the server holds its device key.
pub fn verify_server_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    session_id: u64,
    proof: &Proof,
) -> bool {
    let input = server_proof_input(&nonces.server, &nonces.client, session_id);
    verify_hmac(device_key, &input, proof)
}

fn verify_hmac(key: &[u8; 32], input: &[u8], proof: &Proof) -> bool {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(input);
    mac.verify_slice(proof).is_ok()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
