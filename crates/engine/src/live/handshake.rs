//! The protocol handshake on the server side: ServerHello with a fresh nonce, the client's
//! HMAC proof checked against the pairing store, Welcome or Reject. Bounded in time (one
//! deadline for the whole exchange) and in number (the accept loop admits a capped number of
//! pending handshakes, in total and per address, before it spawns a thread for one).

use std::net::{Shutdown, TcpStream};

use super::admission::Ticket;
use super::framing::{send, MessageReader, WireError};
use super::pairing::random_bytes;
use super::pairing::HelloClaim;
use super::protocol::{Message, ProtocolError, RejectCode, MAX_HANDSHAKE_BYTES, PROTOCOL_VERSION};
use super::secure::{Nonces, SecretKey};
use super::session_table::Shared;

pub(super) fn reject(stream: &TcpStream, code: RejectCode, reason: String) -> WireError {
    let _ = send(
        stream,
        &Message::Reject {
            code,
            reason: reason.clone(),
        },
    );
    let _ = stream.shutdown(Shutdown::Both);
    WireError::Rejected(format!("{code}: {reason}"))
}

/// A peer whose proof was good: its (printable) name, and what the server's proof and the
/// session keys are made from.
pub(super) struct Verified {
    pub device_name: String,
    pub device_key: SecretKey,
    pub nonces: Nonces,
}

/// Handshake up to the client's proof; Welcome (with the server's proof) is sent by the caller
/// once the session exists. `_pending` is the peer's place among the unproven connections,
/// freed when the handshake ends however it ends.
pub(super) fn handshake(
    shared: &Shared,
    stream: &TcpStream,
    _pending: Ticket,
) -> Result<Verified, WireError> {
    let nonce = random_bytes().map_err(|e| WireError::Rejected(e.to_string()))?;
    stream
        .set_write_timeout(Some(shared.config.handshake_timeout))
        .map_err(WireError::Io)?;
    send(
        stream,
        &Message::ServerHello {
            version: PROTOCOL_VERSION,
            nonce,
            server_name: shared.config.name.clone(),
        },
    )
    .map_err(WireError::Io)?;
    let hello = MessageReader {
        stream,
        stop: &shared.stop,
    }
    .read(MAX_HANDSHAKE_BYTES, shared.config.handshake_timeout);
    let hello = match hello {
        Ok(m) => m,
        Err(WireError::Protocol(ProtocolError::Version {
            found, expected, ..
        })) => {
            return Err(reject(
                stream,
                RejectCode::Version,
                format!(
                    "client speaks protocol version {found}, this server {expected}: update the \
                     StrongLive app (or this studio, if the app is newer)"
                ),
            ))
        }
        Err(WireError::Protocol(e)) => {
            return Err(reject(
                stream,
                RejectCode::Malformed,
                format!("bad hello: {e}"),
            ))
        }
        Err(e) => return Err(e),
    };
    let Message::ClientHello {
        version,
        device_id,
        device_name,
        client_nonce,
        proof,
    } = hello
    else {
        return Err(reject(
            stream,
            RejectCode::Malformed,
            format!("expected ClientHello, got {}", hello.name()),
        ));
    };
    let nonces = Nonces {
        server: nonce,
        client: client_nonce,
    };
    let claim = HelloClaim {
        nonces,
        version,
        device_id: &device_id,
        device_name: &device_name,
        proof: &proof,
    };
    let outcome = shared
        .config
        .store
        .authenticate(&claim)
        .map_err(|e| WireError::Rejected(e.to_string()))?;
    match outcome {
        Ok(auth) => {
            let streaming = shared.sessions.lock().map_or(0, |s| s.len());
            if streaming >= shared.config.max_sessions {
                return Err(reject(
                    stream,
                    RejectCode::Busy,
                    format!(
                        "{streaming} sessions already streaming (at most {})",
                        shared.config.max_sessions
                    ),
                ));
            }
            if auth.newly_paired {
                tracing::info!(
                    "paired new device {:?} ({})",
                    auth.device_name,
                    auth.device_id
                );
            }
            Ok(Verified {
                device_name: printable(&device_name),
                device_key: auth.device_key,
                nonces,
            })
        }
        Err(code) => {
            let reason = match code {
                RejectCode::PairingExpired => {
                    "this device is not paired and the pairing code has expired, was replaced or revoked; scan a new one (stronglive pair)".to_string()
                }
                _ => "wrong pairing secret".to_string(),
            };
            Err(reject(stream, code, reason))
        }
    }
}

/// A peer-chosen name as it may be shown: control characters (terminal escape sequences, line
/// breaks that would fake log lines) become `?`, and at most 64 characters are kept.
pub(super) fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn peer_names_lose_control_characters_and_excess_length() {
        assert_eq!(printable("Pixel 7"), "Pixel 7");
        assert_eq!(
            printable("evil\x1b]0;owned\x07\nsession 9 started"),
            "evil?]0;owned??session 9 started"
        );
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
        assert_eq!(printable("Téléphone"), "Téléphone");
    }
}
