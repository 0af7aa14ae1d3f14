//! The reference sender's connection: TCP to the first of the paired server's addresses that
//! answers, and the handshake that proves both sides hold the pairing key before any video
//! goes out.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use super::options::{device_id_for, ConnectAttempt, SendError, SendOptions, SenderRefusal};
use crate::live::framing::{send, MessageReader, WireError};
use crate::live::pairing::{compute_proof, random_bytes, verify_server_proof};
use crate::live::protocol::{Message, ProtocolError, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use crate::live::secure::{derive_keys, Nonces, Sealer, SessionKeys};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The TCP connection to the server, named by its address in errors. Messages go out plain
/// until the server proved itself in Welcome, sealed after.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    pub(super) server: String,
    pub(super) sealer: Mutex<Option<Sealer>>,
}

impl Connection {
    /// Connect (first host that answers), no Nagle delay, a write timeout for the handshake.
    pub(super) fn open(options: &SendOptions) -> Result<Self, SendError> {
        let (stream, addr) = connect(options)?;
        let connection = Self {
            stream,
            server: addr.to_string(),
            sealer: Mutex::new(None),
        };
        let _ = connection.stream.set_nodelay(true);
        connection
            .stream
            .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| connection.io(e))?;
        Ok(connection)
    }

    pub(super) fn wire(&self, source: WireError) -> SendError {
        SendError::Wire {
            server: self.server.clone(),
            source,
        }
    }

    fn unexpected(&self, expected: &'static str, got: &Message) -> SendError {
        SendError::Unexpected {
            server: self.server.clone(),
            expected,
            got: got.name(),
        }
    }

    pub(super) fn io(&self, e: std::io::Error) -> SendError {
        self.wire(WireError::Io(e))
    }

    pub(super) fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut sealer = self.sealer.lock().unwrap_or_else(|p| p.into_inner());
        let written = match sealer.as_mut() {
            Some(sealer) => (&self.stream).write_all(&sealer.seal(message)),
            None => send(&self.stream, message),
        };
        written.map_err(|e| self.io(e))
    }
}

fn connect(options: &SendOptions) -> Result<(TcpStream, SocketAddr), SendError> {
    let hosts: Vec<IpAddr> = match options.host {
        Some(h) => vec![h],
        None => options.pairing.hosts.clone(),
    };
    let mut attempts = Vec::new();
    for host in &hosts {
        let address = SocketAddr::new(*host, options.pairing.port);
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((stream, address)),
            Err(cause) => attempts.push(ConnectAttempt { address, cause }),
        }
    }
    Err(SendError::Connect { attempts })
}

/// Who answered the handshake, and the session's keys.
pub(super) struct Session {
    pub(super) server_name: String,
    pub(super) session_id: u64,
    pub(super) keys: SessionKeys,
}

/// ServerHello, then our ClientHello with the pairing proof and our nonce, then Welcome (or
/// Reject), whose proof must show the server holds this device's key before anything else is
/// sent: a rogue server gets no video.
pub(super) fn handshake(
    connection: &Connection,
    options: &SendOptions,
    stop: &AtomicBool,
) -> Result<Session, SendError> {
    let mut reader = MessageReader {
        stream: &connection.stream,
        stop,
    };
    let hello = match reader.read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT) {
        Ok(hello) => hello,
        Err(WireError::Protocol(ProtocolError::Version {
            found, expected, ..
        })) => {
            return Err(SendError::Rejected {
                server: connection.server.clone(),
                reason: SenderRefusal::Version { found, expected },
            })
        }
        Err(e) => return Err(connection.wire(e)),
    };
    let Message::ServerHello {
        nonce, server_name, ..
    } = hello
    else {
        return Err(connection.unexpected("ServerHello", &hello));
    };
    let device_id = device_id_for(&options.device_name);
    let device_key = options.pairing.secret.device_key(&device_id);
    let nonces = Nonces {
        server: nonce,
        client: random_bytes().map_err(|source| SendError::Random {
            server: connection.server.clone(),
            source,
        })?,
    };
    connection.send(&client_hello(options, &device_key, &nonces))?;
    let (session_id, server_proof) = match reader.read(MAX_MESSAGE_BYTES, HANDSHAKE_TIMEOUT) {
        Ok(Message::Welcome {
            session_id,
            server_proof,
        }) => (session_id, server_proof),
        Ok(Message::Reject { code, reason }) => {
            return Err(SendError::Rejected {
                server: format!("{server_name} ({})", connection.server),
                reason: SenderRefusal::Server { code, reason },
            })
        }
        Ok(other) => return Err(connection.unexpected("Welcome", &other)),
        Err(e) => return Err(connection.wire(e)),
    };
    if !verify_server_proof(&device_key, &nonces, session_id, &server_proof) {
        let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        return Err(SendError::Rejected {
            server: format!("{server_name} ({})", connection.server),
            reason: SenderRefusal::UnprovenServer,
        });
    }
    Ok(Session {
        server_name,
        session_id,
        keys: derive_keys(&device_key, &nonces),
    })
}

/// Who we are, proven with the paired secret over both nonces.
fn client_hello(options: &SendOptions, device_key: &[u8; 32], nonces: &Nonces) -> Message {
    let device_id = device_id_for(&options.device_name);
    let proof = compute_proof(
        device_key,
        nonces,
        PROTOCOL_VERSION,
        &device_id,
        &options.device_name,
    );
    Message::ClientHello {
        version: PROTOCOL_VERSION,
        device_id,
        device_name: options.device_name.clone(),
        client_nonce: nonces.client,
        proof,
    }
}
