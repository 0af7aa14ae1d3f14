//! The sender's side of the server's feedback: a thread reads KeyFrameRequest, PatchRequest,
//! TargetBitrate and Bye while the sending loop writes, and shares what was asked for.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::live::framing::{MessageReader, WireError};
use crate::live::protocol::Message;
use crate::live::secure::Opener;

/// The server's standing request for HR patches: `count` more (each new request replaces the
/// last), `size` x `size` pixels each.
#[derive(Debug, Clone, Copy)]
pub struct PatchRequest {
    pub count: u16,
    pub size: u16,
}

/// What the server asked for, shared between the feedback thread and the sending loop.
#[derive(Default)]
pub struct Feedback {
    pub key_requests: AtomicU64,
    /// Every TargetBitrate the server sent, in order.
    pub bitrate_requests: Mutex<Vec<u32>>,
    patch_request: Mutex<Option<PatchRequest>>,
    /// The newest TargetStreamSize not yet taken by the sending loop (0 x 0: no limit).
    stream_size_request: Mutex<Option<(u16, u16)>>,
    /// The server's Bye reason.
    bye: Mutex<Option<String>>,
}

impl Feedback {
    /// True once the server said Bye (or the state is unreadable).
    pub fn server_said_bye(&self) -> bool {
        self.bye.lock().map(|b| b.is_some()).unwrap_or(true)
    }

    pub fn server_bye(&self) -> Option<String> {
        self.bye.lock().ok().and_then(|b| b.clone())
    }

    pub fn patch_request(&self) -> Option<PatchRequest> {
        self.patch_request.lock().ok().and_then(|r| *r)
    }

    /// One requested patch went out.
    pub fn patch_sent(&self) {
        if let Ok(mut r) = self.patch_request.lock() {
            if let Some(request) = r.as_mut() {
                request.count = request.count.saturating_sub(1);
            }
        }
    }

    /// The newest stream size the server asked for since the last call.
    pub fn take_stream_size_request(&self) -> Option<(u16, u16)> {
        self.stream_size_request
            .lock()
            .ok()
            .and_then(|mut r| r.take())
    }

    pub fn clear_patch_request(&self) {
        if let Ok(mut r) = self.patch_request.lock() {
            *r = None;
        }
    }
}

/// Reads the server's feedback on its own thread until the server says Bye or closes.
pub struct FeedbackThread {
    pub shared: Arc<Feedback>,
    stop_me: Arc<AtomicBool>,
    handle: thread::JoinHandle<()>,
}

impl FeedbackThread {
    /// Read `stream` (a clone of the sending socket) until the server says Bye or closes,
    /// `stop` is raised, or [`finish`](Self::finish) is called.
    pub fn start(
        stream: TcpStream,
        opener: Opener,
        stop: &Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Feedback::default());
        let stop_me = Arc::new(AtomicBool::new(false));
        let handle = {
            let feedback = Arc::clone(&shared);
            let (stop_all, stop_me) = (Arc::clone(stop), Arc::clone(&stop_me));
            thread::Builder::new()
                .name("send-feedback".into())
                .spawn(move || feedback_loop(&stream, opener, &feedback, &stop_all, &stop_me))?
        };
        Ok(Self {
            shared,
            stop_me,
            handle,
        })
    }

    /// Wait up to `grace` for the thread to end by itself, then stop it and join.
    pub fn finish(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        self.stop_me.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

fn feedback_loop(
    stream: &TcpStream,
    mut opener: Opener,
    feedback: &Feedback,
    stop_all: &AtomicBool,
    stop_me: &AtomicBool,
) {
    let mut reader = MessageReader {
        stream,
        stop: stop_me,
    };
    while !stop_all.load(Ordering::Relaxed) {
        match reader.read_sealed(&mut opener, Duration::from_secs(3600)) {
            Ok(Message::KeyFrameRequest) => {
                feedback.key_requests.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Message::TargetBitrate { bits_per_second }) => {
                tracing::info!("server asks for {bits_per_second} bit/s");
                if let Ok(mut asked) = feedback.bitrate_requests.lock() {
                    asked.push(bits_per_second);
                }
            }
            Ok(Message::PatchRequest { count, size }) => {
                tracing::info!("server asks for {count} HR patches of {size} px");
                if let Ok(mut r) = feedback.patch_request.lock() {
                    *r = Some(PatchRequest { count, size });
                }
            }
            Ok(Message::TargetStreamSize { width, height }) => {
                tracing::info!("server asks for pictures of at most {width}x{height}");
                if let Ok(mut r) = feedback.stream_size_request.lock() {
                    *r = Some((width, height));
                }
            }
            Ok(Message::Bye { reason }) => {
                if let Ok(mut b) = feedback.bye.lock() {
                    *b = Some(reason);
                }
                return;
            }
            Ok(other) => tracing::debug!("ignoring {} from the server", other.name()),
            Err(WireError::Sealed(e)) => {
                tracing::warn!("closing: a message from the server {e}");
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Err(_) => return,
        }
    }
}
