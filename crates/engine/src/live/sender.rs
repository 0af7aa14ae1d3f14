//! The reference sender (`stronglive send`): what the phone does, from a file or an FFmpeg
//! lavfi source. H.264 files without B-frames are stream-copied; anything else (lavfi, other
//! codecs, B-frames) is encoded with libx264 ultrafast/zerolatency (both in
//! [`SenderSource`](crate::media::ingest::SenderSource)). Units are paced at their
//! timestamps, the server's feedback is honoured where the source allows (key-frame requests
//! on encoded sources), stats go out once a second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use connection::{handshake, Connection};
use feedback::FeedbackThread;
use units::{stream_config, UnitLoop};

use super::protocol::Message;
use super::secure::{Opener, Sealer};
use crate::media::ingest::SenderSource;

mod connection;
mod feedback;
mod options;
mod units;

pub use options::{
    device_id_for, ConnectAttempt, SendError, SendOptions, SendReport, SenderRefusal,
};

/// Stream `options.source` to the paired server until the source ends, the server says bye,
/// or `stop` is raised.
pub fn send_stream(options: &SendOptions, stop: Arc<AtomicBool>) -> Result<SendReport, SendError> {
    let (source, description) =
        SenderSource::open(&options.source, options.bitrate, options.stream_size)?;
    let connection = Connection::open(options)?;
    let session = handshake(&connection, options, &stop)?;
    tracing::info!(
        "connected to {} ({}), session {}",
        session.server_name,
        connection.server,
        session.session_id
    );
    let keys = session.keys;
    *connection.sealer.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(Sealer::new(&keys.client_to_server));
    let opener = Opener::new(&keys.server_to_client);
    let feedback = connection
        .stream
        .try_clone()
        .and_then(|stream| FeedbackThread::start(stream, opener, &stop))
        .map_err(|e| connection.io(e))?;
    connection.send(&stream_config(&description))?;
    let mut units = UnitLoop::new(options, source, description.fps);
    let result = units.run(&connection, &stop, &feedback.shared);
    let shared = Arc::clone(&feedback.shared);
    say_goodbye(&connection, &result, feedback);
    let ended_by_server = shared.server_bye();
    match (result, &ended_by_server) {
        // A write that failed because the server closed after its Bye is a normal end.
        (Err(e), Some(reason)) => tracing::info!("server ended the session ({reason}); {e}"),
        (result, _) => result?,
    }
    Ok(SendReport {
        server: format!("{} ({})", session.server_name, connection.server),
        session_id: session.session_id,
        mode: units.source.mode(),
        frames_sent: units.frames_sent,
        bytes_sent: units.bytes_sent,
        key_frame_requests: shared.key_requests.load(Ordering::Relaxed),
        bitrate_requests: shared
            .bitrate_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default(),
        patches_sent: units.patches_sent,
        resized_to: units.resized_to.clone(),
        ended_by_server,
        elapsed: units.started.elapsed(),
    })
}

/// Send Bye, then let the server read everything before the socket goes away; it answers by
/// closing (or has already said Bye), which ends the feedback thread.
fn say_goodbye(connection: &Connection, result: &Result<(), SendError>, feedback: FeedbackThread) {
    let reason = match result {
        Ok(()) => "end of source",
        Err(_) => "sender error",
    };
    let _ = connection.send(&Message::Bye {
        reason: reason.into(),
    });
    let _ = connection.stream.shutdown(std::net::Shutdown::Write);
    feedback.finish(Duration::from_secs(2));
}
