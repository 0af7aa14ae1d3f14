//! Protocol v2's channel security after Welcome (docs/protocol.md, "Encryption"): one key per
//! direction derived with HKDF-SHA256 from the device key and both nonces, and every message
//! sealed with AES-256-GCM under a per-direction counter, so altered, replayed, dropped or
//! reordered records fail to open. Pure: no sockets, so the fuzz target can reach `open`.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::protocol::{Message, Nonce, ProtocolError, HEADER_BYTES, MAX_MESSAGE_BYTES};

/// Bytes of the AES-GCM tag at the end of every record.
pub const TAG_BYTES: usize = 16;

/// The two challenges of one connection: the server's (ServerHello) and the client's
/// (ClientHello). Both proofs and both keys depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonces {
    pub server: Nonce,
    pub client: Nonce,
}

/// A 32-byte key: a device key or a direction's AES key (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The keys of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub client_to_server: SecretKey,
    pub server_to_client: SecretKey,
}

/// HKDF-SHA256 (RFC 5869): salt = server nonce || client nonce, ikm = the device key.
pub fn derive_keys(device_key: &[u8; 32], nonces: &Nonces) -> SessionKeys {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(&nonces.server);
    salt[32..].copy_from_slice(&nonces.client);
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), device_key);
    let expand = |info: &[u8]| {
        let mut key = [0u8; 32];
        hkdf.expand(info, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        SecretKey(key)
    };
    SessionKeys {
        client_to_server: expand(b"stronglive-v2 client to server"),
        server_to_client: expand(b"stronglive-v2 server to client"),
    }
}

/// Why a record could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed record of {length} bytes is outside {min}..={max}")]
    BadLength {
        length: usize,
        min: usize,
        max: usize,
    },
    #[error("record {record} failed authentication (altered, replayed, dropped or reordered)")]
    Forged { record: u64 },
    #[error("record {record}: {source}")]
    Message { record: u64, source: ProtocolError },
}

/// The record length announced by a 4-byte header, refused before any allocation unless it
/// can hold a type byte and the tag and opens to at most `MAX_MESSAGE_BYTES`.
pub fn parse_sealed_header(header: [u8; HEADER_BYTES]) -> Result<usize, SealError> {
    let length = u32::from_be_bytes(header) as usize;
    let (min, max) = (1 + TAG_BYTES, MAX_MESSAGE_BYTES + TAG_BYTES);
    if !(min..=max).contains(&length) {
        return Err(SealError::BadLength { length, min, max });
    }
    Ok(length)
}

/// AES-GCM's 96-bit IV: 4 zero bytes and the record counter (u64 BE).
fn iv(counter: u64) -> GcmNonce<aes_gcm::aead::consts::U12> {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&counter.to_be_bytes());
    iv.into()
}

/// The sending half of one direction.
pub struct Sealer {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Sealer {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.0.into()),
            counter: 0,
        }
    }

    /// The record for `message`: length, then type + payload encrypted, then the tag.
    pub fn seal(&mut self, message: &Message) -> Vec<u8> {
        let mut record = message.encode();
        let length = (record.len() - HEADER_BYTES + TAG_BYTES) as u32;
        let header = length.to_be_bytes();
        record[..HEADER_BYTES].copy_from_slice(&header);
        let mut body = record.split_off(HEADER_BYTES);
        self.cipher
            .encrypt_in_place(&iv(self.counter), &header, &mut body)
            .expect("AES-GCM seals any message under 64 GiB");
        self.counter += 1;
        record.extend_from_slice(&body);
        record
    }
}

/// The receiving half of one direction.
pub struct Opener {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Opener {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.0.into()),
            counter: 0,
        }
    }

    /// Open the record whose header was `header` and whose `body` (ciphertext and tag)
    /// followed; the counter it must carry is the next one expected.
    pub fn open(
        &mut self,
        header: [u8; HEADER_BYTES],
        mut body: Vec<u8>,
    ) -> Result<Message, SealError> {
        let record = self.counter;
        self.cipher
            .decrypt_in_place(&iv(record), &header, &mut body)
            .map_err(|_| SealError::Forged { record })?;
        self.counter += 1;
        Message::decode(&body).map_err(|source| SealError::Message { record, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::golden;

    fn golden_nonces() -> Nonces {
        Nonces {
            server: std::array::from_fn(|i| i as u8),
            client: golden("client_nonce").try_into().unwrap(),
        }
    }

    fn golden_keys() -> SessionKeys {
        let device_key: [u8; 32] = golden("device_key").try_into().unwrap();
        derive_keys(&device_key, &golden_nonces())
    }

    fn split(record: &[u8]) -> ([u8; 4], Vec<u8>) {
        (record[..4].try_into().unwrap(), record[4..].to_vec())
    }

    /// The keys and records of the independent Python implementation (docs/protocol-golden.txt).
    #[test]
    fn keys_and_records_match_the_golden_values_both_ways() {
        let keys = golden_keys();
        assert_eq!(keys.client_to_server.0.to_vec(), golden("key_c2s"));
        assert_eq!(keys.server_to_client.0.to_vec(), golden("key_s2c"));
        let decode = |name: &str| {
            let bytes = golden(name);
            Message::decode(&bytes[4..]).unwrap()
        };
        let mut client = Sealer::new(&keys.client_to_server);
        assert_eq!(client.seal(&decode("StreamConfig")), golden("sealed_c2s_0"));
        assert_eq!(client.seal(&decode("VideoUnit")), golden("sealed_c2s_1"));
        let mut from_server = Opener::new(&keys.server_to_client);
        for (name, expected) in [
            ("sealed_s2c_0", "KeyFrameRequest"),
            ("sealed_s2c_1", "TargetBitrate"),
        ] {
            let (header, body) = split(&golden(name));
            assert_eq!(parse_sealed_header(header), Ok(body.len()));
            assert_eq!(from_server.open(header, body).unwrap(), decode(expected));
        }
    }

    /// An on-path attacker's edits: a flipped bit, a replayed record, two records swapped, a
    /// record sealed for the other direction. Each fails, naming the record.
    #[test]
    fn altered_replayed_reordered_and_reflected_records_are_refused() {
        let keys = golden_keys();
        let mut sealer = Sealer::new(&keys.client_to_server);
        let first = sealer.seal(&Message::KeyFrameRequest);
        let second = sealer.seal(&Message::Bye {
            reason: "done".into(),
        });
        let open_all = |records: &[&[u8]]| {
            let mut opener = Opener::new(&keys.client_to_server);
            records
                .iter()
                .map(|r| {
                    let (header, body) = split(r);
                    opener.open(header, body)
                })
                .collect::<Vec<_>>()
        };
        assert!(open_all(&[&first, &second]).iter().all(Result::is_ok));
        let mut flipped = second.clone();
        flipped[6] ^= 0x01;
        assert_eq!(
            open_all(&[&first, &flipped])[1],
            Err(SealError::Forged { record: 1 })
        );
        assert_eq!(
            open_all(&[&first, &first])[1],
            Err(SealError::Forged { record: 1 })
        );
        assert_eq!(
            open_all(&[&second, &first])[0],
            Err(SealError::Forged { record: 0 })
        );
        let reflected = Sealer::new(&keys.server_to_client).seal(&Message::KeyFrameRequest);
        assert_eq!(
            open_all(&[&reflected])[0],
            Err(SealError::Forged { record: 0 })
        );
        let err = parse_sealed_header([0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().contains("outside 17..="), "{err}");
        assert!(parse_sealed_header([0, 0, 0, 16]).is_err());
    }

    /// The fuzz target's property (fuzz/fuzz_targets/sealed_record.rs), run deterministically:
    /// no mutation of genuine records, and no random bytes, open or panic.
    #[test]
    fn mutated_and_random_records_never_open_or_panic() {
        let keys = golden_keys();
        let mut next = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut sealer = Sealer::new(&keys.client_to_server);
        let genuine: Vec<Vec<u8>> = ["StreamConfig", "VideoUnit", "HrPatch", "Bye"]
            .iter()
            .map(|name| sealer.seal(&Message::decode(&golden(name)[4..]).unwrap()))
            .collect();
        for round in 0..5_000 {
            let record = if round % 2 == 0 {
                let mut r = genuine[0].clone(); // counter 0: the one a fresh opener expects
                for _ in 0..1 + next() % 3 {
                    let i = (next() % r.len() as u64) as usize;
                    r[i] ^= 1 << (next() % 8);
                }
                if next() % 4 == 0 {
                    r.truncate((next() % r.len() as u64) as usize);
                }
                r
            } else {
                (0..next() % 96).map(|_| next() as u8).collect()
            };
            if record == genuine[0] || record.len() < HEADER_BYTES {
                continue;
            }
            let header: [u8; 4] = record[..4].try_into().unwrap();
            let Ok(length) = parse_sealed_header(header) else {
                continue;
            };
            let body = record[4..].iter().copied().take(length).collect();
            let opened = Opener::new(&keys.client_to_server).open(header, body);
            assert!(opened.is_err(), "a forged record opened: {record:02x?}");
        }
    }
}
