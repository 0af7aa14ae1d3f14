//! Protocol messages over a TCP socket, for both ends: whole-message reads with a deadline and
//! a size limit checked before allocating, and writes; plain during the handshake, sealed
//! (`secure`) after Welcome.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::{parse_header, Message, ProtocolError, HEADER_BYTES};
use crate::secure::{parse_sealed_header, Opener, SealError, Sealer};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Sealed(#[from] SealError),
    #[error("no complete message within {0:?} (too slow or silent)")]
    Timeout(Duration),
    #[error("connection closed{0}")]
    Closed(&'static str),
    #[error("network error: {0}")]
    Io(std::io::Error),
    /// A well-formed message that has no place at this point of the exchange.
    #[error("unexpected {message} from a {peer}")]
    Unexpected {
        message: &'static str,
        peer: &'static str,
    },
    #[error("server stopping")]
    Stopping,
}

/// Reads whole messages with a deadline for each: the socket's read timeout is set to the time
/// left before every read, so a peer sending one byte a second still runs out of time.
pub struct MessageReader<'a> {
    pub stream: &'a TcpStream,
    /// Checked between read slices so a stopping server does not wait out a slow peer.
    pub stop: &'a AtomicBool,
}

/// Longest single blocking read: how quickly a stopping server notices.
const READ_SLICE: Duration = Duration::from_millis(250);

impl MessageReader<'_> {
    pub fn read_exact_by(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        limit: Duration,
    ) -> Result<(), WireError> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.stop.load(Ordering::Relaxed) {
                return Err(WireError::Stopping);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WireError::Timeout(limit));
            }
            self.stream
                .set_read_timeout(Some(left.min(READ_SLICE)))
                .map_err(WireError::Io)?;
            match (&*self.stream).read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Err(WireError::Closed("")),
                Ok(0) => return Err(WireError::Closed(" in the middle of a message")),
                Ok(n) => filled += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(WireError::Io(e)),
            }
        }
        Ok(())
    }

    /// One message; its length is checked against `size_limit` before any allocation.
    pub fn read(&mut self, size_limit: usize, time_limit: Duration) -> Result<Message, WireError> {
        let deadline = Instant::now() + time_limit;
        let mut header = [0u8; HEADER_BYTES];
        self.read_exact_by(&mut header, deadline, time_limit)?;
        let length = parse_header(header, size_limit)?;
        let mut body = vec![0u8; length];
        self.read_exact_by(&mut body, deadline, time_limit)?;
        Ok(Message::decode(&body)?)
    }

    /// One sealed record, opened: its length is checked before allocating, and it must open
    /// with the next counter of `opener`.
    pub fn read_sealed(
        &mut self,
        opener: &mut Opener,
        time_limit: Duration,
    ) -> Result<Message, WireError> {
        let deadline = Instant::now() + time_limit;
        let mut header = [0u8; HEADER_BYTES];
        self.read_exact_by(&mut header, deadline, time_limit)?;
        let length = parse_sealed_header(header)?;
        let mut body = vec![0u8; length];
        self.read_exact_by(&mut body, deadline, time_limit)?;
        Ok(opener.open(header, body)?)
    }
}

/// A handshake message, in the clear.
pub fn send(stream: &TcpStream, message: &Message) -> std::io::Result<()> {
    (&*stream).write_all(&message.encode())
}

/// The sending side of a session after Welcome: every message sealed, the counter advancing
/// in the order the records go out (callers share it behind one lock).
pub struct SealedWriter {
    pub stream: TcpStream,
    sealer: Sealer,
}

impl SealedWriter {
    pub fn new(stream: TcpStream, sealer: Sealer) -> Self {
        Self { stream, sealer }
    }

    pub fn send(&mut self, message: &Message) -> std::io::Result<()> {
        let record = self.sealer.seal(message);
        (&self.stream).write_all(&record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::golden;
    use crate::protocol::{MAX_HANDSHAKE_BYTES, MAX_MESSAGE_BYTES};
    use crate::secure::{derive_keys, Nonces};
    use std::net::TcpListener;

    /// The fuzz target's property (fuzz/fuzz_targets/message_reader.rs), run deterministically
    /// over a real loopback socket: mutated and random byte streams from a peer that then
    /// closes end in a message or an error, never a panic, and never wait out the deadline.
    #[test]
    fn mutated_and_random_streams_end_without_waiting_or_panicking() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut next = crate::test_rng::xorshift(0xdead_beef_cafe_f00d);
        let seeds: Vec<Vec<u8>> = ["ServerHello", "ClientHello", "VideoUnit", "sealed_c2s_0"]
            .iter()
            .map(|name| golden(name))
            .collect();
        let keys = derive_keys(
            &golden("device_key").try_into().unwrap(),
            &Nonces {
                server: std::array::from_fn(|i| i as u8),
                client: golden("client_nonce").try_into().unwrap(),
            },
        );
        let stop = AtomicBool::new(false);
        let limit = Duration::from_secs(2);
        for round in 0..300 {
            let mut data = if round % 2 == 0 {
                let mut d = seeds[(next() % seeds.len() as u64) as usize].clone();
                d.extend(seeds[(next() % seeds.len() as u64) as usize].iter());
                d
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            for _ in 0..next() % 4 {
                if !data.is_empty() {
                    let i = (next() % data.len() as u64) as usize;
                    data[i] = next() as u8;
                }
            }
            let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (ours, _) = listener.accept().unwrap();
            peer.write_all(&data).unwrap();
            drop(peer);
            let mut reader = MessageReader {
                stream: &ours,
                stop: &stop,
            };
            let started = Instant::now();
            if reader.read(MAX_HANDSHAKE_BYTES, limit).is_ok() {
                while reader.read(MAX_MESSAGE_BYTES, limit).is_ok() {}
            }
            let mut opener = Opener::new(&keys.client_to_server);
            while reader.read_sealed(&mut opener, limit).is_ok() {}
            assert!(
                started.elapsed() < limit,
                "round {round}: waited on a closed peer"
            );
        }
    }
}
