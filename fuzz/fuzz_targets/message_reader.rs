//! The message reader with deadlines over a real loopback socket, fed any bytes: plain reads
//! (handshake limit, then the session limit) and sealed reads must end in a message or an
//! error, never a panic, and never wait past their deadline once the peer has closed.
#![no_main]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use stronglive_wire::framing::MessageReader;
use stronglive_wire::protocol::{MAX_HANDSHAKE_BYTES, MAX_MESSAGE_BYTES};
use stronglive_wire::secure::{derive_keys, Nonces, Opener};

fn listener() -> &'static TcpListener {
    static LISTENER: OnceLock<TcpListener> = OnceLock::new();
    LISTENER.get_or_init(|| TcpListener::bind("127.0.0.1:0").expect("loopback listener"))
}

fuzz_target!(|data: &[u8]| {
    let listener = listener();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    peer.write_all(data).unwrap();
    drop(peer);
    let stop = AtomicBool::new(false);
    let mut reader = MessageReader {
        stream: &ours,
        stop: &stop,
    };
    let started = Instant::now();
    let limit = Duration::from_secs(2);
    if reader.read(MAX_HANDSHAKE_BYTES, limit).is_ok() {
        while reader.read(MAX_MESSAGE_BYTES, limit).is_ok() {}
    }
    let keys = derive_keys(
        &[7; 32],
        &Nonces {
            server: [1; 32],
            client: [2; 32],
        },
    );
    let mut opener = Opener::new(&keys.client_to_server);
    while reader.read_sealed(&mut opener, limit).is_ok() {}
    assert!(
        started.elapsed() < limit,
        "a closed peer kept the reader waiting"
    );
});
