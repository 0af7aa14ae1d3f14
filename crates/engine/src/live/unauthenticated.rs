//! The transports without authentication, off unless the user turns them on: STRONGLIVE's
//! original framing (the legacy listener) and RTMP/SRT through FFmpeg's listeners. Each
//! connection becomes a session like an authenticated peer's.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::admission::Ticket;
use super::framing::MessageReader;
use super::protocol::{parse_header, HEADER_BYTES, MAX_MESSAGE_BYTES};
use super::session_table::{end_session, open_session, BadStream, ServerEvent, SessionEnd, Shared};
use crate::media::h264::EncodedUnit;
use crate::media::ingest::PacketSource;
use crate::pipeline::deaf_sender;
use crate::pipeline::{IngestItem, LiveSession};
use stronglive_wire::annexb;

/// STRONGLIVE's original client: `u32 BE length` + one H.264 access unit, repeated; no
/// handshake, no timestamps (arrival time is used). Codec-config chunks (SPS/PPS only) are held
/// and put in front of the next unit. Nothing is loaded for a peer until its first chunk: a
/// silent connection holds only its thread and its place among the unproven (`pending`) for
/// the idle timeout.
pub(super) fn handle_legacy_peer(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    pending: Ticket,
) {
    let _ = stream.set_nodelay(true);
    let label = format!("STRONGLIVE client @ {peer}");
    let mut reader = MessageReader {
        stream: &stream,
        stop: &shared.stop,
    };
    let first = match read_chunk(&mut reader, shared) {
        Ok(chunk) => chunk,
        Err(reason) => {
            tracing::info!("{label}: {reason} before its first chunk");
            return;
        }
    };
    drop(pending);
    let Some((_, session)) = open_session(shared, &label, deaf_sender()) else {
        return;
    };
    let reason = pump_legacy_chunks(shared, &mut reader, &session, first);
    tracing::info!("{label}: {reason}");
    let _ = stream.shutdown(Shutdown::Both);
    end_session(shared, session, reason);
}

/// One length-prefixed chunk holding at least one Annex-B NAL unit.
fn read_chunk(reader: &mut MessageReader, shared: &Shared) -> Result<Vec<u8>, SessionEnd> {
    let idle = shared.config.idle_timeout;
    let deadline = Instant::now() + idle;
    let mut header = [0u8; HEADER_BYTES];
    reader.read_exact_by(&mut header, deadline, idle)?;
    let length = parse_header(header, MAX_MESSAGE_BYTES).map_err(BadStream::ChunkLength)?;
    let mut data = vec![0u8; length];
    reader.read_exact_by(&mut data, deadline, idle)?;
    if annexb::nal_units(&data).is_empty() {
        return Err(BadStream::NotAnnexB { length }.into());
    }
    Ok(data)
}

/// Chunks into the session, starting with `first`, until the peer leaves or misbehaves.
fn pump_legacy_chunks(
    shared: &Shared,
    reader: &mut MessageReader,
    session: &LiveSession,
    first: Vec<u8>,
) -> SessionEnd {
    let started = Instant::now();
    let mut held_sets: Vec<u8> = Vec::new();
    let mut next = Some(first);
    loop {
        let mut data = match next.take().map_or_else(|| read_chunk(reader, shared), Ok) {
            Ok(data) => data,
            Err(reason) => return reason,
        };
        if annexb::nal_units(&data)
            .iter()
            .all(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS))
        {
            held_sets = data;
            continue;
        }
        if !held_sets.is_empty() {
            let mut joined = std::mem::take(&mut held_sets);
            joined.extend_from_slice(&data);
            data = joined;
        }
        let unit = EncodedUnit {
            pts_us: started.elapsed().as_micros() as i64,
            key: annexb::is_key_frame(&data),
            data,
        };
        if !session.ingest(IngestItem::Unit {
            unit,
            received: Instant::now(),
        }) {
            return SessionEnd::SessionStopped;
        }
    }
}

/// RTMP/SRT: FFmpeg listens for one sender at a time; each connection is a session.
pub(super) fn ingest_loop(shared: &Arc<Shared>, url: &str) {
    while !shared.stop.load(Ordering::Relaxed) {
        let mut source =
            match PacketSource::listen(url, Arc::clone(&shared.stop), shared.config.idle_timeout) {
                Ok(s) => s,
                Err(e) => {
                    if !shared.stop.load(Ordering::Relaxed) {
                        tracing::warn!("ingest {url}: {e}");
                        let _ = shared.events.send(ServerEvent::Rejected {
                            peer: url.to_string(),
                            reason: e.to_string(),
                        });
                        thread::sleep(Duration::from_millis(500));
                    }
                    continue;
                }
            };
        let label = format!("ingest {url}");
        let Some((_, session)) = open_session(shared, &label, deaf_sender()) else {
            continue;
        };
        session.ingest(IngestItem::Config(source.description().clone()));
        let reason = loop {
            match source.next_unit() {
                Ok(Some(unit)) => {
                    if !session.ingest(IngestItem::Unit {
                        unit,
                        received: Instant::now(),
                    }) {
                        break SessionEnd::SessionStopped;
                    }
                }
                Ok(None) => break SessionEnd::SenderEnded,
                Err(e) => break BadStream::Ingest(Arc::new(e)).into(),
            }
        };
        end_session(shared, session, reason);
    }
}
