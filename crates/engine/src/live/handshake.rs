//! The protocol handshake on the server side: ServerHello with a fresh nonce, the client's
//! HMAC proof checked against the pairing store, Welcome or Reject. Bounded in time (one
//! deadline for the whole exchange) and in number (the accept loop admits a capped number of
//! pending handshakes, in total and per address, before it spawns a thread for one).

use std::net::{Shutdown, TcpStream};

use super::admission::{Refusal, Ticket};
use super::framing::{send, MessageReader, WireError};
use super::pairing::{random_bytes, HelloClaim, PairingError};
use super::protocol::{
    DeviceId, Message, Nonce, Proof, ProtocolError, RejectCode, MAX_HANDSHAKE_BYTES,
    PROTOCOL_VERSION,
};
use super::secure::{Nonces, SecretKey};
use super::session_table::Shared;

/// Why the server refused a peer: the text of the Reject message it was sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum RejectReason {
    #[error(
        "client speaks protocol version {found}, this server {expected}: update the \
         StrongLive app (or this studio, if the app is newer)"
    )]
    Version { found: u16, expected: u16 },
    #[error("bad hello: {0}")]
    BadHello(ProtocolError),
    #[error("expected ClientHello, got {got}")]
    NotClientHello { got: &'static str },
    #[error("{streaming} sessions already streaming (at most {max})")]
    Busy { streaming: usize, max: usize },
    /// No place among the connections still waiting to authenticate.
    #[error("{0}")]
    NoPlace(Refusal),
    #[error(
        "this device is not paired and the pairing code has expired, was replaced or \
         revoked; scan a new one (stronglive pair)"
    )]
    PairingExpired,
    /// The proof did not match (with the store's code for it).
    #[error("wrong pairing secret")]
    WrongSecret(RejectCode),
}

impl RejectReason {
    /// The Reject message's code byte.
    fn code(&self) -> RejectCode {
        match self {
            RejectReason::Version { .. } => RejectCode::Version,
            RejectReason::BadHello(_) | RejectReason::NotClientHello { .. } => {
                RejectCode::Malformed
            }
            RejectReason::Busy { .. } | RejectReason::NoPlace(_) => RejectCode::Busy,
            RejectReason::PairingExpired => RejectCode::PairingExpired,
            RejectReason::WrongSecret(code) => *code,
        }
    }
}

/// Why a handshake did not end with a verified peer.
#[derive(Debug, thiserror::Error)]
pub(super) enum HandshakeError {
    /// The peer was sent a Reject and closed.
    #[error("{code}: {0}", code = .0.code())]
    Rejected(RejectReason),
    #[error(transparent)]
    Wire(#[from] WireError),
    /// No nonce (no random numbers), or the pairing store could not be read.
    #[error("{0}")]
    Pairing(#[from] PairingError),
}

/// Tell the peer why it is refused, close the connection, and say the same to the caller.
pub(super) fn reject(stream: &TcpStream, reason: RejectReason) -> HandshakeError {
    let _ = send(
        stream,
        &Message::Reject {
            code: reason.code(),
            reason: reason.to_string(),
        },
    );
    let _ = stream.shutdown(Shutdown::Both);
    HandshakeError::Rejected(reason)
}

/// A peer whose proof was good: its (printable) name, and what the server's proof and the
/// session keys are made from.
pub(super) struct Verified {
    pub device_name: String,
    pub device_key: SecretKey,
    pub nonces: Nonces,
}

/// What a ClientHello claims: who the peer is and its proof over both nonces.
struct ClientHello {
    version: u16,
    device_id: DeviceId,
    device_name: String,
    client_nonce: Nonce,
    proof: Proof,
}

/// Handshake up to the client's proof; Welcome (with the server's proof) is sent by the caller
/// once the session exists. `_pending` is the peer's place among the unproven connections,
/// freed when the handshake ends however it ends.
pub(super) fn handshake(
    shared: &Shared,
    stream: &TcpStream,
    _pending: Ticket,
) -> Result<Verified, HandshakeError> {
    let nonce = random_bytes()?;
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
    let hello = read_client_hello(shared, stream)?;
    let nonces = Nonces {
        server: nonce,
        client: hello.client_nonce,
    };
    let claim = HelloClaim {
        nonces,
        version: hello.version,
        device_id: &hello.device_id,
        device_name: &hello.device_name,
        proof: &hello.proof,
    };
    let auth = match shared.config.store.authenticate(&claim)? {
        Ok(auth) => auth,
        Err(RejectCode::PairingExpired) => {
            return Err(reject(stream, RejectReason::PairingExpired))
        }
        Err(code) => return Err(reject(stream, RejectReason::WrongSecret(code))),
    };
    let streaming = shared.sessions.lock().map_or(0, |s| s.len());
    let max = shared.config.max_sessions;
    if streaming >= max {
        return Err(reject(stream, RejectReason::Busy { streaming, max }));
    }
    if auth.newly_paired {
        tracing::info!(
            "paired new device {:?} ({})",
            auth.device_name,
            auth.device_id
        );
    }
    Ok(Verified {
        device_name: printable(&hello.device_name),
        device_key: auth.device_key,
        nonces,
    })
}

/// The peer's first message, which must be a ClientHello of this protocol version.
fn read_client_hello(shared: &Shared, stream: &TcpStream) -> Result<ClientHello, HandshakeError> {
    let hello = MessageReader {
        stream,
        stop: &shared.stop,
    }
    .read(MAX_HANDSHAKE_BYTES, shared.config.handshake_timeout);
    let hello = match hello {
        Ok(m) => m,
        Err(WireError::Protocol(ProtocolError::Version {
            found, expected, ..
        })) => return Err(reject(stream, RejectReason::Version { found, expected })),
        Err(WireError::Protocol(e)) => return Err(reject(stream, RejectReason::BadHello(e))),
        Err(e) => return Err(e.into()),
    };
    match hello {
        Message::ClientHello {
            version,
            device_id,
            device_name,
            client_nonce,
            proof,
        } => Ok(ClientHello {
            version,
            device_id,
            device_name,
            client_nonce,
            proof,
        }),
        other => Err(reject(
            stream,
            RejectReason::NotClientHello { got: other.name() },
        )),
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
