//! The live path end to end on loopback: the real `stronglive serve` process, the real
//! `stronglive send`, raw sockets for misbehaving peers, a STRONGLIVE-style client, ffmpeg as an
//! RTMP/SRT sender.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bin, count_frames, ffprobe, frame_times, num, streams_of, test_pattern};
use stronglive_engine::live::pairing::{
    compute_proof, random_bytes, verify_server_proof, PairingSecret, PairingUri,
};
use stronglive_engine::live::protocol::{
    parse_frame, Codec, Message, PatchFormat, RejectCode, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use stronglive_engine::live::secure::{derive_keys, parse_sealed_header, Nonces, Opener, Sealer};
use stronglive_engine::media::ingest::PacketSource;

/// Tests that count frames against the wall clock hold this shared; a test that keeps every
/// core busy (live learning) holds it exclusively, so it never starves them.
static CPU: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn cpu_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|p| p.into_inner())
}

fn cpu_exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().unwrap_or_else(|p| p.into_inner())
}

/// A testsrc2 clip encoded the way a phone sends video: H.264, no B-frames, a key frame every
/// second (at 10 fps).
fn phone_clip(spec: &str, out: &Path) {
    test_pattern(
        spec,
        &[
            "-c:v", "libx264", "-bf", "0", "-g", "10", "-pix_fmt", "yuv420p",
        ],
        out,
    );
}

/// A running `stronglive serve` with its stdout collected line by line.
struct Serve {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _config: tempfile::TempDir,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &Path)]) -> Serve {
        let config = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--bind", "127.0.0.1:0", "--no-qr", "--show-secret"])
            .args(args)
            .envs(env.iter().copied())
            .env("STRONGLIVE_CONFIG_DIR", config.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stronglive serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let serve = Serve {
            child,
            lines,
            reader: Some(reader),
            _config: config,
        };
        serve.wait_for("pair: ", Duration::from_secs(60));
        serve
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first line containing `needle`, waiting up to `timeout` for it.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "serve never printed {needle:?}; output so far:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until a metrics line reports at least `n` frames received.
    /// Waits for a metrics line counting at least `n` frames; returns the largest count seen
    /// (a lower bound on the frames that have arrived: the lines are up to a second old).
    fn wait_for_frames(&self, n: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let received = |line: &String| -> Option<u64> {
            line.split("frames ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        };
        while !self
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(received)
            .any(|f| f >= n)
        {
            assert!(
                Instant::now() < deadline,
                "never {n} frames:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(received)
            .max()
            .unwrap_or(n)
    }

    fn uri_text(&self) -> String {
        self.wait_for("pair: ", Duration::from_secs(1))
            .trim_start_matches("pair: ")
            .to_string()
    }

    fn uri(&self) -> PairingUri {
        self.uri_text().parse().unwrap()
    }

    fn address(&self) -> String {
        let uri = self.uri();
        format!("{}:{}", uri.hosts[0], uri.port)
    }

    fn wait_exit(mut self, timeout: Duration) -> (i32, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Everything it printed: the reader ends at the closed pipe.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return (status.code().unwrap_or(-1), self.output());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("serve did not exit; output:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C, as a user would stop it.
    fn interrupt(self) -> (i32, String) {
        // SAFETY: sending SIGINT to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.wait_exit(Duration::from_secs(60))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send_cmd(source: &str, uri: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["send", source, "--pair", uri]).args(extra);
    cmd
}

/// `stronglive send`, which must succeed; its stdout.
fn send_ok(source: &str, uri: &str, extra: &[&str]) -> String {
    let sent = send_cmd(source, uri, extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&sent.stdout).into_owned();
    assert!(
        sent.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    stdout
}

/// A client that does the handshake like the phone, with the secret it is given; after a
/// Welcome whose server proof checks out, it seals what it sends and opens what it reads.
fn handshake(address: &str, secret: &PairingSecret, name: &str) -> (Peer, Message) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Message::ServerHello { nonce, .. } = read_message(&mut stream) else {
        panic!("no ServerHello")
    };
    let device_id = random_bytes().unwrap();
    let key = secret.device_key(&device_id);
    let nonces = Nonces {
        server: nonce,
        client: random_bytes().unwrap(),
    };
    let hello = Message::ClientHello {
        version: PROTOCOL_VERSION,
        device_id,
        device_name: name.into(),
        client_nonce: nonces.client,
        proof: compute_proof(&key, &nonces, PROTOCOL_VERSION, &device_id, name),
    };
    stream.write_all(&hello.encode()).unwrap();
    let answer = read_message(&mut stream);
    let keys = match &answer {
        Message::Welcome {
            session_id,
            server_proof,
        } => {
            assert!(verify_server_proof(
                &key,
                &nonces,
                *session_id,
                server_proof
            ));
            Some(derive_keys(&key, &nonces))
        }
        _ => None,
    };
    let peer = Peer {
        sealer: keys.as_ref().map(|k| Sealer::new(&k.client_to_server)),
        opener: keys.as_ref().map(|k| Opener::new(&k.server_to_client)),
        stream,
    };
    (peer, answer)
}

/// The test's end of a protocol connection.
struct Peer {
    stream: TcpStream,
    sealer: Option<Sealer>,
    opener: Option<Opener>,
}

impl Peer {
    /// One message, sealed once the handshake is done.
    fn send(&mut self, message: &Message) -> std::io::Result<()> {
        let bytes = match self.sealer.as_mut() {
            Some(sealer) => sealer.seal(message),
            None => message.encode(),
        };
        self.stream.write_all(&bytes)
    }

    /// The next message from the server, opened.
    fn read(&mut self) -> Message {
        let Some(opener) = self.opener.as_mut() else {
            return read_message(&mut self.stream);
        };
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).expect("record header");
        let mut body = vec![0u8; parse_sealed_header(header).unwrap()];
        self.stream.read_exact(&mut body).expect("record body");
        opener.open(header, body).unwrap()
    }
}

fn read_message(stream: &mut TcpStream) -> Message {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((m, _)) = parse_frame(&buf, MAX_MESSAGE_BYTES).unwrap() {
            return m;
        }
        let n = stream.read(&mut chunk).expect("read from server");
        assert!(n > 0, "server closed before a complete message");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// True once the server has closed the connection (read returns 0 or an error).
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn stream_config(width: u16, height: u16) -> Message {
    Message::StreamConfig {
        codec: Codec::H264,
        width,
        height,
        fps_num: 10,
        fps_den: 1,
        bitrate: 0,
        parameter_sets: Vec::new(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_ten_second_clip_is_received_upscaled_and_recorded_frame_for_frame() {
    let _cpu = cpu_shared();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("phone.mp4");
    phone_clip("size=192x108:rate=10:duration=10", &clip);
    let record = dir.path().join("rec");
    // The default model on a CPU is the CPU tier; the queue is long enough that nothing is
    // dropped even when the machine is busy, so every frame must come out.
    let serve = Serve::start(&[
        "--record",
        record.to_str().unwrap(),
        "--once",
        "--sr-queue",
        "240",
        "--sr-every-frame",
    ]);
    assert!(
        serve.output().contains("model: fmen-tiny-x4 on cpu"),
        "{}",
        serve.output()
    );
    let sent_out = send_ok(
        clip.to_str().unwrap(),
        &serve.uri_text(),
        &["--name", "test phone"],
    );
    assert!(
        sent_out.contains("sent 100 frames") && sent_out.contains("stream copy"),
        "{sent_out}"
    );
    // Paced at the clip's own rate: ten seconds of video take about ten seconds.
    let seconds: f64 = sent_out
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(" s")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((9.0..20.0).contains(&seconds), "sending took {seconds} s");

    let (code, out) = serve.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "100 units received, 100 frames decoded, 100 super-resolved + 0 filled, 0 dropped, 0 decode errors"
        ),
        "{out}"
    );
    // Metrics once a second while streaming.
    let metric_lines: Vec<&str> = out.lines().filter(|l| l.contains("fps, out")).collect();
    assert!(metric_lines.len() >= 5, "{out}");
    assert!(metric_lines
        .iter()
        .any(|l| l.contains("192x108 -> 768x432") && l.contains("latency")));

    let input = record.join("session-1-input.mp4");
    let output = record.join("session-1-x4.mp4");
    assert_eq!(count_frames(&input), 100);
    assert_eq!(count_frames(&output), 100);
    let probe = ffprobe(&output, false);
    let video = streams_of(&probe, "video")[0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(768), Some(432))
    );
    let duration = num(&probe["format"]["duration"]);
    assert!(
        (duration - 10.0).abs() < 0.3,
        "SR recording lasts {duration} s"
    );
    let names = common::listing(&record);
    assert_eq!(
        names,
        ["session-1-input.mp4", "session-1-x4.mp4"],
        "no partial files left"
    );
}

/// A server capped at 320x180 (`--max-stream-size`) asks a 640x360 sender for less
/// (TargetStreamSize); the sender switches (new StreamConfig, IDR at 320x180) and says so; the
/// session keeps its first size, so the 4x take holds every frame at 2560x1440.
#[test]
fn a_capped_server_asks_for_a_smaller_stream_and_keeps_its_output_size() {
    let _cpu = cpu_shared();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("rec");
    let serve = Serve::start(&[
        "--record",
        record.to_str().unwrap(),
        "--once",
        "--model",
        "bicubic",
        "--sr-queue",
        "240",
        "--sr-every-frame",
        "--max-stream-size",
        "320x180",
    ]);
    let sent = send_ok(
        "lavfi:testsrc2=size=640x360:rate=15:duration=4",
        &serve.uri_text(),
        &[],
    );
    assert!(
        sent.contains("sent 60 frames")
            && sent.contains("the server asked for a smaller stream: now 320x180"),
        "{sent}"
    );
    let (code, out) = serve.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 dropped, 0 decode errors"), "{out}");
    let output = record.join("session-1-x4.mp4");
    assert_eq!(count_frames(&output), 60);
    let probe = ffprobe(&output, false);
    let video = streams_of(&probe, "video")[0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(2560), Some(1440))
    );
    // the input take holds the stream as sent, both sizes, every frame decodable
    assert_eq!(count_frames(&record.join("session-1-input.mp4")), 60);
}

/// A server at its session cap refuses the next paired device as busy (naming the cap) while
/// the session it has keeps streaming to the end.
#[test]
fn a_server_at_its_session_cap_refuses_the_next_device_as_busy() {
    let _cpu = cpu_shared();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("phone.mp4");
    phone_clip("size=192x108:rate=10:duration=4", &clip);
    let serve = Serve::start(&["--model", "bicubic", "--max-sessions", "1"]);
    let first = send_cmd(
        clip.to_str().unwrap(),
        &serve.uri_text(),
        &["--name", "first"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    serve.wait_for("session 1 started", Duration::from_secs(20));
    let second = send_cmd(
        clip.to_str().unwrap(),
        &serve.uri_text(),
        &["--name", "second"],
    )
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("1 sessions already streaming (at most 1)"),
        "{said}"
    );
    let first = first.wait_with_output().unwrap();
    let first_out = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success() && first_out.contains("sent 40 frames"),
        "{first_out}"
    );
}

/// When even filling falls behind (a slow model and a 3-frame queue: frames are dropped), the
/// session's rate controller asks the sender for fewer bits, says why in the metrics, and the
/// sender hears it; a session that keeps up asks for nothing (the test above).
#[test]
fn a_session_that_falls_behind_asks_the_sender_for_fewer_bits() {
    let _cpu = cpu_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("phone.mp4");
    phone_clip("size=640x360:rate=30:duration=6", &clip);
    let serve = Serve::start(&["--once", "--model", "fmen-sl-x4", "--sr-queue", "3"]);
    // the secret read from a file, not the command line
    let uri_file = dir.path().join("pairing.txt");
    std::fs::write(&uri_file, serve.uri_text() + "\n").unwrap();
    let sent = send_ok(
        clip.to_str().unwrap(),
        &format!("@{}", uri_file.display()),
        &[],
    );
    let (code, out) = serve.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("asked") && out.contains("Mbit/s: frames dropped in front of SR"),
        "{out}"
    );
    let asked: Vec<f64> = sent
        .lines()
        .find_map(|l| l.strip_prefix("the server asked for "))
        .unwrap_or_else(|| panic!("the sender heard no bitrate request: {sent}"))
        .trim_end_matches(" Mbit/s")
        .split(", ")
        .map(|b| b.parse().unwrap())
        .collect();
    assert!(asked.windows(2).all(|w| w[1] < w[0]), "{asked:?}");
}

/// A stream faster than SR can go (fmen-sl on a CPU at 30 fps): every frame still comes out,
/// most of them filled, the SR share is reported below 100%, and the 4x take holds every input
/// frame once, in order, at the input's timestamps.
#[test]
fn a_stream_faster_than_sr_still_gets_every_frame_out_at_its_timestamps() {
    let _cpu = cpu_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("phone.mp4");
    phone_clip("size=320x180:rate=30:duration=3", &clip);
    let record = dir.path().join("rec");
    let serve = Serve::start(&[
        "--record",
        record.to_str().unwrap(),
        "--once",
        "--model",
        "fmen-sl-x4",
    ]);
    send_ok(clip.to_str().unwrap(), &serve.uri_text(), &[]);
    let (code, out) = serve.wait_exit(Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    let summary = out.lines().find(|l| l.contains("ended (")).unwrap();
    let counts: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // "session 1 ended (...): 90 units received, 90 frames decoded, A super-resolved + F filled, 0 dropped"
    assert!(
        summary.contains("90 units received, 90 frames decoded")
            && summary.contains(" filled, 0 dropped"),
        "{summary}"
    );
    let (sr, filled) = (counts[3], counts[4]);
    assert_eq!(sr + filled, 90, "{summary}");
    assert!(
        sr >= 1 && filled >= 45,
        "SR cannot keep 30 fps here: {summary}"
    );
    let shares: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("(SR ").nth(1)?.split('%').next()?.parse().ok())
        .collect();
    assert!(
        !shares.is_empty() && shares.iter().all(|s| *s < 100.0),
        "{out}"
    );

    let input = frame_times(&record.join("session-1-input.mp4"));
    let output = frame_times(&record.join("session-1-x4.mp4"));
    assert_eq!((input.len(), output.len()), (90, 90));
    let relative = |t: &[f64]| t.iter().map(|x| x - t[0]).collect::<Vec<_>>();
    for (i, (a, b)) in relative(&input).iter().zip(relative(&output)).enumerate() {
        assert!(
            (a - b).abs() < 0.002,
            "frame {i}: input at {a} s, 4x take at {b} s"
        );
    }
    assert!(
        output.windows(2).all(|w| w[1] > w[0]),
        "4x take out of order or duplicated: {output:?}"
    );
}

#[test]
fn bad_peers_are_rejected_while_a_legitimate_session_keeps_streaming() {
    let serve = Serve::start(&[
        "--model",
        "bicubic",
        "--handshake-timeout",
        "2",
        "--idle-timeout",
        "2",
        "--sr-queue",
        "240",
        "--sr-every-frame",
    ]);
    let uri = serve.uri();
    let address = serve.address();
    // The legitimate sender: a live-encoded test pattern, 8 s at 10 fps.
    let legit = send_cmd(
        "lavfi:testsrc2=size=128x72:rate=10:duration=8",
        &serve.uri_text(),
        &["--name", "legit phone"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    serve.wait_for("session 1 started: legit phone", Duration::from_secs(30));

    unauthenticated_peers_are_refused_and_cut_off(&serve, &address);
    a_slow_hello_is_cut_off(&address);
    handshakes_held_open_are_capped_per_host(&address);
    // Authenticated peers that misbehave after the handshake.
    let secret = uri.secret.clone();
    authenticated_peers_that_misbehave_are_closed(&serve, &address, &secret);
    a_version_1_app_is_told_which_versions_meet(&address);
    corrupt_h264_is_survived_and_a_key_frame_asked_for(&serve, &address, &secret);

    // Meanwhile the legitimate session streamed every frame.
    let legit = legit.wait_with_output().unwrap();
    let legit_out = String::from_utf8_lossy(&legit.stdout);
    assert!(
        legit.status.success(),
        "{legit_out}{}",
        String::from_utf8_lossy(&legit.stderr)
    );
    assert!(legit_out.contains("sent 80 frames"), "{legit_out}");
    let end = serve.wait_for("session 1 ended", Duration::from_secs(30));
    assert!(
        end.contains(
            "80 units received, 80 frames decoded, 80 super-resolved + 0 filled, 0 dropped, 0 decode errors"
        ),
        "{end}"
    );
    let (code, out) = serve.interrupt();
    assert_eq!(code, 0, "{out}");
}

/// Peers refused before or at the handshake: a wrong secret, silence, garbage, an oversized
/// length, STRONGLIVE's client on the authenticated port.
fn unauthenticated_peers_are_refused_and_cut_off(serve: &Serve, address: &str) {
    // Wrong secret: a clear Reject, then the server closes.
    let wrong = PairingSecret::generate().unwrap();
    let (mut intruder, answer) = handshake(address, &wrong, "intruder");
    assert_eq!(
        answer,
        Message::Reject {
            code: RejectCode::BadProof,
            reason: "wrong pairing secret".into()
        }
    );
    assert!(closed_by_server(
        &mut intruder.stream,
        Duration::from_secs(5)
    ));
    serve.wait_for(
        "authentication failed: wrong pairing secret",
        Duration::from_secs(5),
    );

    // No handshake at all: cut off at the handshake deadline.
    let started = Instant::now();
    let mut silent = TcpStream::connect(address).unwrap();
    assert!(closed_by_server(&mut silent, Duration::from_secs(10)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    serve.wait_for("no complete message within 2s", Duration::from_secs(5));

    // Garbage bytes.
    let mut garbage = TcpStream::connect(address).unwrap();
    garbage
        .write_all(&[0, 0, 0, 9, 0x55, 1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    assert!(closed_by_server(&mut garbage, Duration::from_secs(5)));
    serve.wait_for("unknown message type 0x55", Duration::from_secs(5));

    // A length over the (pre-authentication) limit: refused from the 4 length bytes.
    let mut huge = TcpStream::connect(address).unwrap();
    huge.write_all(&[0xff, 0xff, 0xff, 0xf0]).unwrap();
    assert!(closed_by_server(&mut huge, Duration::from_secs(5)));
    serve.wait_for(
        "4294967280 bytes exceeds the 1024-byte limit",
        Duration::from_secs(5),
    );

    // STRONGLIVE's client on the authenticated port is refused, not misread as video.
    let mut legacy_here = TcpStream::connect(address).unwrap();
    legacy_here
        .write_all(&[0, 0, 0, 8, 0, 0, 0, 1, 0x67, 0x42, 0, 0x1e])
        .unwrap();
    assert!(closed_by_server(&mut legacy_here, Duration::from_secs(5)));
    serve.wait_for("unknown message type 0x00", Duration::from_secs(5));
}

/// Slowloris: a valid hello, one byte every 300 ms, never finishes in time.
fn a_slow_hello_is_cut_off(address: &str) {
    let mut slow = TcpStream::connect(address).unwrap();
    let started = Instant::now();
    let hello = Message::ClientHello {
        version: PROTOCOL_VERSION,
        device_id: [7; 16],
        device_name: "slow".into(),
        client_nonce: [9; 32],
        proof: [0; 32],
    }
    .encode();
    let mut cut_off = false;
    for byte in hello {
        if slow.write_all(&[byte]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(cut_off || closed_by_server(&mut slow, Duration::from_secs(3)));
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the slow peer was not cut off"
    );
}

fn handshakes_held_open_are_capped_per_host(address: &str) {
    // One host holding handshakes open: capped per address, answered Busy at once (no thread,
    // no waiting out the deadline); its places come back when it lets go.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(address).unwrap();
            assert!(matches!(read_message(&mut s), Message::ServerHello { .. }));
            s
        })
        .collect();
    let started = Instant::now();
    let mut fifth = TcpStream::connect(address).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match read_message(&mut fifth) {
        Message::Reject { code, reason } => {
            assert_eq!(code, RejectCode::Busy);
            assert!(reason.contains("from 127.0.0.1"), "{reason}");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(held);
    // Their threads see the close at their next read (at once): the places are free again.
    std::thread::sleep(Duration::from_millis(500));
}

/// A length over the 4 MiB limit, a peer vanishing mid-frame, and an on-path attacker.
fn authenticated_peers_that_misbehave_are_closed(
    serve: &Serve,
    address: &str,
    secret: &PairingSecret,
) {
    // ... a length over the 4 MiB limit
    let (mut big, answer) = handshake(address, secret, "big sender");
    assert!(matches!(answer, Message::Welcome { .. }), "{answer:?}");
    big.stream.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
    assert!(closed_by_server(&mut big.stream, Duration::from_secs(5)));
    serve.wait_for(
        "sealed record of 2147483647 bytes is outside 17..=4194320",
        Duration::from_secs(5),
    );

    // ... vanishing in the middle of a frame
    let (mut vanish, _) = handshake(address, secret, "vanishing phone");
    vanish.send(&stream_config(128, 72)).unwrap();
    let unit = vanish.sealer.as_mut().unwrap().seal(&Message::VideoUnit {
        pts_us: 0,
        key: true,
        data: vec![0, 0, 0, 1, 0x65, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    });
    vanish.stream.write_all(&unit[..unit.len() / 2]).unwrap();
    drop(vanish);
    serve.wait_for("closed in the middle of a message", Duration::from_secs(5));

    // ... an on-path attacker: a record altered in flight, and one replayed. Each is refused
    // by its authentication tag and the connection closed.
    for (name, attack) in [("altered", 0), ("replayed", 1)] {
        let (mut victim, _) = handshake(address, secret, &format!("{name} phone"));
        victim.send(&stream_config(128, 72)).unwrap();
        let stats = Message::Stats {
            frames_sent: 0,
            bytes_sent: 0,
            frames_dropped: 0,
            encoder_fps_milli: 0,
        };
        let mut record = victim.sealer.as_mut().unwrap().seal(&stats);
        if attack == 0 {
            record[7] ^= 0x20;
            victim.stream.write_all(&record).unwrap();
        } else {
            victim.stream.write_all(&record).unwrap();
            victim.stream.write_all(&record).unwrap();
        }
        assert!(closed_by_server(&mut victim.stream, Duration::from_secs(5)));
    }
    serve.wait_for(
        "(record 1 failed authentication (altered, replayed, dropped or reordered))",
        Duration::from_secs(5),
    );
    serve.wait_for("(record 2 failed authentication", Duration::from_secs(5));
}

fn a_version_1_app_is_told_which_versions_meet(address: &str) {
    // ... a version-1 app: told which versions meet, not "malformed".
    let mut old_app = TcpStream::connect(address).unwrap();
    old_app
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(
        read_message(&mut old_app),
        Message::ServerHello { .. }
    ));
    let mut old_hello = Message::ClientHello {
        version: PROTOCOL_VERSION,
        device_id: [1; 16],
        device_name: "old app".into(),
        client_nonce: [2; 32],
        proof: [3; 32],
    }
    .encode();
    old_hello[10] = 1;
    old_app.write_all(&old_hello).unwrap();
    match read_message(&mut old_app) {
        Message::Reject { code, reason } => {
            assert_eq!(code, RejectCode::Version);
            assert!(reason.contains("version 1, this server 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

fn corrupt_h264_is_survived_and_a_key_frame_asked_for(
    serve: &Serve,
    address: &str,
    secret: &PairingSecret,
) {
    // ... corrupt H.264: survived, counted, and the server asks for a key frame.
    let (mut corrupt, _) = handshake(address, secret, "corrupt phone");
    corrupt.send(&stream_config(128, 72)).unwrap();
    let mut noise = 0x1234_5678u32;
    for i in 0..20 {
        let mut data = vec![0, 0, 0, 1, 0x65];
        data.extend((0..300).map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            noise as u8
        }));
        let m = Message::VideoUnit {
            pts_us: i * 100_000,
            key: true,
            data,
        };
        corrupt.send(&m).unwrap();
    }
    assert_eq!(corrupt.read(), Message::KeyFrameRequest);
    corrupt
        .send(&Message::Bye {
            reason: "done".into(),
        })
        .unwrap();
    let corrupt_end = serve.wait_for("ended (peer said bye: done)", Duration::from_secs(10));
    assert!(!corrupt_end.contains(" 0 decode errors"), "{corrupt_end}");
}

/// Exactly what STRONGLIVE's Android client does, to a fresh server's legacy listener: the
/// encoder's codec-config buffer, then the access units of a 3 s, 10 fps clip (key frame every
/// 10) in the order `arrange` leaves them, each as a 4-byte big-endian length and the bytes, no
/// handshake. Returns the server's exit output.
fn stream_to_legacy_listener(extra: &[&str], arrange: impl FnOnce(&mut Vec<Vec<u8>>)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("legacy.mp4");
    phone_clip("size=128x72:rate=10:duration=3", &clip);
    let mut args = vec!["--model", "bicubic", "--legacy", "127.0.0.1:0", "--once"];
    args.extend_from_slice(&["--sr-queue", "240"]);
    args.extend_from_slice(extra);
    let serve = Serve::start(&args);
    let line = serve.wait_for("STRONGLIVE-compatible", Duration::from_secs(10));
    let address = line.rsplit(' ').next().unwrap().to_string();
    let mut source = PacketSource::open_file(&clip).unwrap();
    let mut units = Vec::new();
    while let Some(unit) = source.next_unit().unwrap() {
        units.push(unit.data);
    }
    assert_eq!(units.len(), 30);
    arrange(&mut units);
    // A peer that connects and says nothing gets no session (no model loaded for it): the
    // real client below is session 1.
    let silent = TcpStream::connect(&address).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut client = TcpStream::connect(&address).unwrap();
    let chunks = std::iter::once(source.description().parameter_sets.clone()).chain(units);
    for chunk in chunks {
        client
            .write_all(&(chunk.len() as u32).to_be_bytes())
            .unwrap();
        client.write_all(&chunk).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let client_port = client.local_addr().unwrap().port();
    drop(client);
    let (code, out) = serve.wait_exit(Duration::from_secs(60));
    drop(silent);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "session 1 started: STRONGLIVE client @ 127.0.0.1:{client_port}"
        )),
        "{out}"
    );
    out
}

#[test]
fn the_stronglive_compatible_listener_takes_length_prefixed_access_units() {
    let out = stream_to_legacy_listener(&["--sr-every-frame"], |_| {});
    assert!(
        out.contains(
            "30 units received, 30 frames decoded, 30 super-resolved + 0 filled, 0 dropped"
        ),
        "{out}"
    );
}

/// The original app sends each frame from a new thread, so units can arrive out of order: the
/// session survives swapped units (counted as decode errors, a key frame asked for), the decoder
/// never sticks, and the GOPs after the disorder decode whole.
#[test]
fn the_stronglive_compatible_listener_survives_reordered_units() {
    // two P-frames of the first GOP arrive swapped, as do two of the second
    let out = stream_to_legacy_listener(&[], |units| {
        units.swap(4, 5);
        units.swap(13, 14);
    });
    let summary = out.lines().find(|l| l.contains("ended (")).unwrap();
    assert!(summary.contains("30 units received"), "{summary}");
    let decoded: u64 = summary
        .split(" frames decoded")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // the last GOP (10 units) is untouched and must decode whole; the decoder never stops
    assert!(decoded >= 20, "{summary}");
}

/// A peer that announces 128x72 and then sends 256x144 pictures is closed, and the report
/// says why; what it sent within its announcement went through.
#[test]
fn a_stream_larger_than_it_announced_is_closed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (dir.path().join("small.mp4"), dir.path().join("large.mp4"));
    phone_clip("size=128x72:rate=10:duration=1", &small);
    phone_clip("size=256x144:rate=10:duration=1", &large);
    let units_of = |clip: &Path| {
        let mut source = PacketSource::open_file(clip).unwrap();
        let mut units = Vec::new();
        while let Some(unit) = source.next_unit().unwrap() {
            units.push(unit);
        }
        (source.description().parameter_sets.clone(), units)
    };
    let serve = Serve::start(&["--model", "bicubic", "--once", "--sr-every-frame"]);
    let (mut peer, answer) = handshake(&serve.address(), &serve.uri().secret, "growing phone");
    assert!(matches!(answer, Message::Welcome { .. }), "{answer:?}");
    peer.send(&stream_config(128, 72)).unwrap();
    let mut pts = 0;
    for (sets, units) in [units_of(&small), units_of(&large)] {
        for (i, unit) in units.into_iter().enumerate() {
            let mut data = if i == 0 { sets.clone() } else { Vec::new() };
            data.extend_from_slice(&unit.data);
            let message = Message::VideoUnit {
                pts_us: pts,
                key: unit.key,
                data,
            };
            pts += 100_000;
            if peer.send(&message).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (code, out) = serve.wait_exit(Duration::from_secs(30));
    assert_ne!(code, 0, "a refused stream is a problem: {out}");
    assert!(
        out.contains(
            "stream refused: its pictures are 256x144, larger than the 128x72 it announced"
        ),
        "{out}"
    );
    assert!(out.contains("10 super-resolved"), "{out}");
}

/// Streams 3 s of video with FFmpeg to `serve --ingest url_for_serve`; every frame must arrive.
/// `silent_first`: a TCP peer connects first and says nothing; the listener (one sender at a
/// time) must drop it after the idle timeout and take the real sender.
fn ingest_via_ffmpeg(url_for_serve: &str, ffmpeg_output: &[&str], silent_first: Option<u16>) {
    // FFmpeg hands the first packets over in a burst after probing the stream; the long queue
    // keeps them all (a live session would drop the oldest).
    let serve = Serve::start(&[
        "--model",
        "bicubic",
        "--ingest",
        url_for_serve,
        "--once",
        "--sr-queue",
        "240",
        "--sr-every-frame",
        "--idle-timeout",
        "2",
    ]);
    serve.wait_for("listening: FFmpeg ingest", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500)); // FFmpeg opens its listening socket
    if let Some(port) = silent_first {
        let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let dropped = serve.wait_for("rejected rtmp://", Duration::from_secs(10));
        assert!(dropped.contains("or nothing for 2 s"), "{dropped}");
        drop(silent);
        std::thread::sleep(Duration::from_millis(500)); // the listener is opened again
    }
    let mut args = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=128x72:rate=10:duration=3",
        "-c:v",
        "libx264",
        "-bf",
        "0",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
    ];
    args.extend_from_slice(ffmpeg_output);
    let sender = Command::new("ffmpeg").args(&args).output().unwrap();
    assert!(
        sender.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let (code, out) = serve.wait_exit(Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("30 frames decoded, 30 super-resolved + 0 filled, 0 dropped"),
        "{out}"
    );
}

#[test]
fn an_rtmp_sender_is_ingested_after_a_silent_peer_times_out() {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/phone");
    ingest_via_ffmpeg(&url, &["-f", "flv", &url], Some(port));
}

#[test]
fn an_srt_sender_is_ingested() {
    let port = free_port();
    // SRT's live mode drops packets whose retransmission misses the latency window (120 ms by
    // default); on a 2-core CI machine running the other tests the UDP socket can overflow and a
    // NAK round trip take longer, so this test, which counts every frame, turns late-packet drop
    // off and widens the window (both are options the listener URL passes through to FFmpeg).
    let options = "tlpktdrop=0";
    let listen_url = format!("srt://127.0.0.1:{port}?{options}");
    // linger: SRT's live mode drops unacknowledged data when the caller closes; a real sender
    // streams on, this 3-second one must wait for its last packets to arrive.
    let caller_url = format!("srt://127.0.0.1:{port}?mode=caller&linger=5&{options}");
    ingest_via_ffmpeg(&listen_url, &["-f", "mpegts", &caller_url], None);
}

#[test]
fn pair_prints_a_qr_code_and_a_stable_uri_until_renewed() {
    let config = tempfile::tempdir().unwrap();
    let pair = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("pair")
            .args(args)
            .env("STRONGLIVE_CONFIG_DIR", config.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let uri_of = |out: &str| -> PairingUri {
        out.lines()
            .find_map(|l| l.strip_prefix("pair: "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = pair(&["--port", "9000"]);
    assert!(
        first.contains('█') || first.contains('▀'),
        "no QR code drawn:\n{first}"
    );
    let uri = uri_of(&first);
    assert_eq!(uri.port, 9000);
    assert!(uri.hosts.iter().all(|h| !h.is_loopback()) || uri.hosts.len() == 1);
    assert!(uri.expires.is_some());
    assert_eq!(
        uri_of(&pair(&["--no-qr"])).secret,
        uri.secret,
        "same code until renewed"
    );
    assert_ne!(uri_of(&pair(&["--new", "--no-qr"])).secret, uri.secret);
    assert!(pair(&["--list"]).contains("no paired devices"));
    let mode = std::fs::metadata(config.path().join("pairing.json")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o077, 0);
}

/// `serve`'s output goes to logs: the secret is redacted there unless asked for; and a
/// `pair --revoke` lasts across `serve` starts (which used to mint a fresh secret).
#[test]
fn serve_keeps_the_secret_out_of_logs_and_a_revoke_lasts() {
    let config = tempfile::tempdir().unwrap();
    let run = |command: &str, args: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.arg(command).args(args);
        if command == "serve" {
            // serve runs until stopped: a bound port and a prompt exit are all this needs.
            cmd.args(["--bind", "127.0.0.1:0", "--model", "bicubic", "--once"]);
        }
        let mut child = cmd
            .env("STRONGLIVE_CONFIG_DIR", config.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_lines = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // serve's pairing lines come before it waits for a sender; pair exits by itself.
        while !first_lines.contains("pair")
            || (command == "serve" && !first_lines.contains("listening"))
        {
            if stdout.read_line(&mut first_lines).unwrap() == 0 {
                break;
            }
        }
        if command == "serve" {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        (status, first_lines, err)
    };
    let (_, code, _) = run("pair", &["--no-qr"]);
    let secret = code
        .lines()
        .find_map(|l| l.strip_prefix("pair: "))
        .unwrap()
        .parse::<PairingUri>()
        .unwrap()
        .secret
        .to_hex();
    let (_, logged, _) = run("serve", &[]);
    assert!(logged.contains("secret=<redacted>"), "{logged}");
    assert!(!logged.contains(&secret), "secret in serve's log: {logged}");
    let (_, shown, _) = run("serve", &["--show-secret"]);
    assert!(shown.contains(&secret), "{shown}");

    let (status, _, _) = run("pair", &["--revoke"]);
    assert!(status.success());
    let (_, after, _) = run("serve", &["--show-secret"]);
    assert!(after.contains("pairing is revoked"), "{after}");
    assert!(
        !after.contains("secret="),
        "serve minted a new code: {after}"
    );
    let (status, _, err) = run("pair", &["--no-qr"]);
    assert!(!status.success() && err.contains("pair --new"), "{err}");
    let (_, renewed, _) = run("pair", &["--new", "--no-qr"]);
    assert!(
        renewed.contains("secret=") && !renewed.contains(&secret),
        "{renewed}"
    );
}

/// A rogue server (it has the phone's pairing link but not the device key the real desktop
/// stored, like a relay of someone else's handshake) answers Welcome with a proof it cannot
/// make: the sender refuses, and not one byte of video reaches it.
#[test]
fn a_server_that_cannot_prove_the_device_key_gets_no_video() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rogue = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let hello = Message::ServerHello {
            version: PROTOCOL_VERSION,
            nonce: [5; 32],
            server_name: "rogue".into(),
        };
        stream.write_all(&hello.encode()).unwrap();
        assert!(matches!(
            read_message(&mut stream),
            Message::ClientHello { .. }
        ));
        let welcome = Message::Welcome {
            session_id: 1,
            server_proof: [0x42; 32],
        };
        stream.write_all(&welcome.encode()).unwrap();
        let mut after = Vec::new();
        let _ = stream.read_to_end(&mut after);
        after
    });
    let secret = "ab".repeat(32);
    let uri = format!("stronglive://pair?v=1&host=127.0.0.1&port={port}&secret={secret}");
    let out = send_cmd("lavfi:testsrc2=size=128x72:rate=10:duration=2", &uri, &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not prove it holds this device's pairing key"),
        "{err}"
    );
    assert_eq!(
        rogue.join().unwrap(),
        Vec::<u8>::new(),
        "the sender sent data after Welcome"
    );
}

#[test]
fn send_explains_a_bad_uri_an_unreachable_server_and_a_missing_file() {
    let run = |source: &str, uri: &str| {
        let out = send_cmd(source, uri, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let secret = "ab".repeat(32);
    let err = run("lavfi:testsrc2", "stronglive://pair?v=1&port=7878");
    assert!(err.contains("no host= address"), "{err}");
    let port = free_port();
    let err = run(
        "lavfi:testsrc2=size=64x48",
        &format!("stronglive://pair?v=1&host=127.0.0.1&port={port}&secret={secret}"),
    );
    assert!(
        err.contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        !err.contains(&secret),
        "the secret must not be printed: {err}"
    );
    let err = run(
        "/nonexistent/clip.mp4",
        &format!("stronglive://pair?v=1&host=127.0.0.1&port={port}&secret={secret}"),
    );
    assert!(err.contains("/nonexistent/clip.mp4: no such file"), "{err}");
}

#[test]
fn hr_patches_flow_when_the_server_asks_and_are_saved_with_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("rec");
    let serve = Serve::start(&[
        "--model",
        "bicubic",
        "--record",
        record.to_str().unwrap(),
        "--request-patches",
        "2",
        "--patch-size",
        "64",
        "--once",
        "--sr-queue",
        "240",
        "--sr-every-frame",
    ]);
    // A "camera" at 640x360 streaming at 160x90: patches come from the 640x360 frames.
    let sent_out = send_ok(
        "lavfi:testsrc2=size=640x360:rate=10:duration=4",
        &serve.uri_text(),
        &["--stream-size", "160x90"],
    );
    assert!(
        sent_out.contains("sent 40 frames") && sent_out.contains("2 HR patches"),
        "{sent_out}"
    );
    let (code, out) = serve.wait_exit(Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "40 super-resolved + 0 filled, 0 dropped, 0 decode errors, 2 HR patches (0 refused)"
        ),
        "{out}"
    );
    let patches = record.join("session-1-patches");
    let names = common::listing(&patches);
    assert_eq!(names.len(), 2, "{names:?}");
    for name in names {
        let png = std::fs::read(patches.join(&name)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        assert_eq!((size(16), size(20)), (64, 64), "{name}: IHDR size");
        // NAME = PTS_X_Y.png, inside the 640x360 frame.
        let parts: Vec<u32> = name
            .trim_end_matches(".png")
            .split('_')
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(parts[1] + 64 <= 640 && parts[2] + 64 <= 360, "{name}");
    }
    // The recorded input is the 160x90 stream, the SR output 640x360.
    let video = |p: &str| {
        let probe = ffprobe(&record.join(p), false);
        let v = streams_of(&probe, "video")[0].clone();
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
    };
    assert_eq!(video("session-1-input.mp4"), (160, 90));
    assert_eq!(video("session-1-x4.mp4"), (640, 360));
}

#[test]
fn recordings_survive_a_crash_and_a_ctrl_c_finalises_them() {
    let _cpu = cpu_shared();
    let dir = tempfile::tempdir().unwrap();
    let start_session = |record: &Path| {
        let serve = Serve::start(&[
            "--model",
            "bicubic",
            "--record",
            record.to_str().unwrap(),
            "--sr-queue",
            "240",
            "--sr-every-frame",
        ]);
        let sender = send_cmd(
            "lavfi:testsrc2=size=128x72:rate=10:duration=30",
            &serve.uri_text(),
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        serve.wait_for("session 1 started", Duration::from_secs(30));
        // About four seconds of video, several 1-second fragments.
        let arrived = serve.wait_for_frames(40, Duration::from_secs(30));
        (serve, sender, arrived)
    };

    // kill -9 mid-stream: the partial files play up to their last complete fragment: at most the
    // last second (10 frames at 10 fps) is lost, plus the 4 frames a take's queue may hold.
    let crashed = dir.path().join("crashed");
    let (mut serve, mut sender, arrived) = start_session(&crashed);
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    let _ = sender.wait();
    let names = common::listing(&crashed);
    for output in ["session-1-input.mp4", "session-1-x4.mp4"] {
        let partials: Vec<&String> = names
            .iter()
            .filter(|n| common::is_partial_of(n, output))
            .collect();
        assert_eq!(
            partials.len(),
            1,
            "one partial {output} expected: {names:?}"
        );
        let name = partials[0];
        let frames = count_frames(&crashed.join(name));
        assert!(
            frames + 14 >= arrived,
            "{name}: only {frames} of at least {arrived} frames survived the crash"
        );
    }

    // Ctrl-C mid-stream: sessions end, recordings are finished and renamed, the sender is told.
    let stopped = dir.path().join("stopped");
    let (serve, sender, _) = start_session(&stopped);
    let (code, out) = serve.interrupt();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("session 1 ended (server stopping)"), "{out}");
    let sender = sender.wait_with_output().unwrap();
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let said = String::from_utf8_lossy(&sender.stdout);
    assert!(
        said.contains("the server ended the session: server stopping"),
        "{said}"
    );
    assert_eq!(
        common::listing(&stopped),
        ["session-1-input.mp4", "session-1-x4.mp4"]
    );
    let input_frames = count_frames(&stopped.join("session-1-input.mp4"));
    assert!(input_frames >= 40, "{input_frames}");
    assert!(count_frames(&stopped.join("session-1-x4.mp4")) >= input_frames - 2);
}

/// The studio's live engine: demo clip on repeat over loopback, Record switched on and off while
/// it streams (the GUI's Record button) gives one complete take of input and 4x output.
#[test]
fn live_service_records_a_take_switched_on_and_off_mid_stream() {
    let _cpu = cpu_shared();
    use stronglive_engine::live::pairing::PairingStore;
    use stronglive_engine::live::service::{ListenerSettings, LiveCommand, LiveEvent, LiveService};
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("demo.mp4");
    phone_clip("size=128x72:rate=10:duration=2", &clip);
    let service = LiveService::start(
        PairingStore::in_dir(&dir.path().join("config")),
        "bicubic".into(),
        stronglive_engine::sr::DevicePreference::CPU,
        || {},
    )
    .unwrap();
    let wait_for = |what: &str, pick: &dyn Fn(&LiveEvent) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match service.events.recv_timeout(left) {
                Ok(e) if pick(&e) => return e,
                Ok(LiveEvent::Problem(p)) => panic!("{what}: problem {p}"),
                Ok(_) => {}
                Err(_) => panic!("no {what}"),
            }
        }
    };
    service.send(LiveCommand::Start(ListenerSettings {
        port: 0,
        ..ListenerSettings::default()
    }));
    wait_for("listening", &|e| matches!(e, LiveEvent::Listening { .. }));
    service.send(LiveCommand::StartDemo(clip));
    wait_for("a session", &|e| {
        matches!(
            e,
            LiveEvent::Server(stronglive_engine::live::server::ServerEvent::SessionStarted { .. })
        )
    });
    std::thread::sleep(Duration::from_millis(1500));
    let takes = dir.path().join("takes");
    service.send(LiveCommand::Record(Some(takes.clone())));
    std::thread::sleep(Duration::from_secs(4)); // two passes of the 2 s clip: repeat works too
    service.send(LiveCommand::Record(None));
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        service.display.take().is_some(),
        "frames reached the display slot"
    );
    service.send(LiveCommand::StopDemo);
    wait_for("the session's end", &|e| {
        matches!(
            e,
            LiveEvent::Server(stronglive_engine::live::server::ServerEvent::SessionEnded { .. })
        )
    });
    let names = common::listing(&takes);
    assert_eq!(
        names,
        ["session-1-input.mp4", "session-1-x4.mp4"],
        "{names:?}"
    );
    let input = count_frames(&takes.join("session-1-input.mp4"));
    let output = count_frames(&takes.join("session-1-x4.mp4"));
    // About four seconds at 10 fps; the input take starts at the next key frame.
    assert!((25..=50).contains(&input), "input take has {input} frames");
    assert!(
        (25..=50).contains(&output),
        "output take has {output} frames"
    );
}

/// `serve --learn` recording into `record`, saving models into `models`, with `camera` sent to
/// it at 1/4 size (160x88) by the reference sender. Every frame sent is upscaled and recorded,
/// through however many weight swaps happen; returns serve's output and its learning summary.
fn stream_while_learning(camera: &Path, models: &Path, record: &Path) -> (String, String) {
    let serve = Serve::start_with_env(
        &[
            "--model",
            "fmen-tiny-x4",
            "--learn",
            "--record",
            record.to_str().unwrap(),
            "--sr-queue",
            "240",
            "--sr-every-frame",
            "--once",
        ],
        &[("STRONGLIVE_MODELS", models)],
    );
    let sent_out = send_ok(
        camera.to_str().unwrap(),
        &serve.uri_text(),
        &["--stream-size", "160x88"],
    );
    let sent: u64 = sent_out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{sent_out}"));
    assert!(sent >= 200, "{sent_out}");
    let (code, out) = serve.wait_exit(Duration::from_secs(240));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{sent} frames decoded, {sent} super-resolved + 0 filled, 0 dropped"
        )),
        "{out}"
    );
    assert_eq!(count_frames(&record.join("session-1-x4.mp4")), sent);
    let learned = out
        .lines()
        .find(|l| l.starts_with("session 1 learned:"))
        .unwrap_or_else(|| panic!("no learning summary:\n{out}"))
        .to_string();
    (out, learned)
}

/// A scene cut mid-stream: SR goes back to the generic weights at the cut's first frame (the
/// take's log says so, at the cut's timestamp), learning starts over on the new scene, and
/// every frame is still upscaled and recorded.
#[test]
fn a_scene_cut_sends_sr_back_to_the_generic_weights_at_its_first_frame() {
    let _cpu = cpu_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (models, record) = (dir.path().join("models"), dir.path().join("rec"));
    // 4 s of the demo's pan, then its last 4 s flipped, recoloured and brightened.
    let camera = dir.path().join("cut.mp4");
    common::demo_camera(
        &camera,
        ",split[x][y];[x]trim=0:4,setpts=PTS-STARTPTS[a];[y]trim=4:8,setpts=PTS-STARTPTS,vflip,hue=h=120,eq=brightness=0.25[b];[a][b]concat=n=2:v=1",
    );
    let (_, learned) = stream_while_learning(&camera, &models, &record);
    assert!(learned.ends_with(", 1 scene cut(s)"), "{learned}");
    let log = std::fs::read_to_string(record.join("session-1-x4.log")).unwrap();
    let cut = log
        .lines()
        .find(|l| l.ends_with("generic (scene cut at this frame)"))
        .unwrap_or_else(|| panic!("{log}"));
    // The cut is at 4 s (frame 120 at 30 fps) of a stream whose pts start at 0.
    let pts: i64 = cut
        .strip_prefix("frame pts ")
        .and_then(|p| p.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{cut}"));
    assert!(
        (pts - 4_000_000).abs() <= 34_000,
        "cut noted at {pts} us:\n{log}"
    );
}

/// `serve --learn`: the sender's HR patches teach the model the scene while it streams, better
/// weights are swapped in mid-stream without losing or repeating a frame, and the adapted model
/// is saved with a card that `upscale --model NAME` runs.
#[test]
fn live_learning_adapts_the_model_mid_stream_and_keeps_it() {
    // Learning keeps both cores busy: the wall-clock tests above wait for it to finish.
    let _cpu = cpu_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let record = dir.path().join("rec");
    // A natural picture panning (the bundled demo), as a 640x352 "camera" streaming 160x88.
    let camera = dir.path().join("camera.mp4");
    common::demo_camera(&camera, "");
    let (out, learned) = stream_while_learning(&camera, &models, &record);
    let version: u64 = learned
        .split("model v")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{learned}"));
    assert!(version >= 1, "no better weights were deployed: {learned}");
    assert!(
        learned.ends_with(", 0 scene cut(s)"),
        "a pan is one scene: {learned}"
    );
    let gain: f64 = learned
        .split(", ")
        .find(|p| p.ends_with("dB vs generic on held-out patches"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("{learned}"));
    assert!(gain > 0.0, "held-out PSNR did not rise: {learned}");
    // The take's log says which weights made which frames: generic from the first frame, then
    // each swap with the frame it took effect on.
    let log = std::fs::read_to_string(record.join("session-1-x4.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines[0].starts_with("frame pts ") && lines[0].ends_with("fmen-tiny-x4 v0 (generic)"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .skip(1)
            .any(|l| l.contains(" v1, adapted: held-out ")),
        "{log}"
    );

    // The adapted model is a user model with a card naming its base, usable offline.
    let card_path = out
        .lines()
        .find_map(|l| l.strip_prefix("saved the adapted model "))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no saved model:\n{out}"));
    assert_eq!(card_path.parent(), Some(models.as_path()));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    assert!(card["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("fmen-tiny-x4 adapted")));
    assert!(card_path.with_extension("safetensors").exists());
    let name = card_path.file_stem().unwrap().to_str().unwrap();
    let small = dir.path().join("small.mp4");
    common::ffmpeg(&[
        "-i",
        camera.to_str().unwrap(),
        "-vf",
        "scale=160:88",
        "-frames:v",
        "5",
        small.to_str().unwrap(),
    ]);
    let upscaled = common::stronglive_with_env(
        &[
            "upscale",
            small.to_str().unwrap(),
            "--model",
            name,
            "--encoder",
            "libx264",
        ],
        &[("STRONGLIVE_MODELS", &models)],
    );
    assert_eq!(upscaled.code, Some(0), "{}", upscaled.stderr);
    assert_eq!(count_frames(&dir.path().join("small_x4.mp4")), 5);
}

/// Streams a 128x72 10 fps clip over the protocol to `serve` and, after the fifth unit, the
/// HR patches `patches(pts of that unit, a 64x64 PNG)` gives; then says bye. Returns serve's
/// exit code and output.
fn stream_with_patches(
    serve: Serve,
    patches: impl Fn(i64, &[u8]) -> Vec<Message>,
) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("phone.mp4");
    phone_clip("size=128x72:rate=10:duration=3", &clip);
    let uri = serve.uri();
    let (mut peer, welcome) = handshake(&serve.address(), &uri.secret, "patchy phone");
    assert!(matches!(welcome, Message::Welcome { .. }), "{welcome:?}");
    let mut source = PacketSource::open_file(&clip).unwrap();
    let config = Message::StreamConfig {
        codec: Codec::H264,
        width: 128,
        height: 72,
        fps_num: 10,
        fps_den: 1,
        bitrate: 500_000,
        parameter_sets: source.description().parameter_sets.clone(),
    };
    peer.send(&config).unwrap();
    let mut png = Vec::new();
    image::RgbImage::from_pixel(64, 64, image::Rgb([90, 120, 200]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut units = 0;
    while let Some(unit) = source.next_unit().unwrap() {
        let pts = unit.pts_us;
        let message = Message::VideoUnit {
            pts_us: pts,
            key: unit.key,
            data: unit.data,
        };
        peer.send(&message).unwrap();
        units += 1;
        if units == 5 {
            for patch in patches(pts, &png) {
                peer.send(&patch).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let bye = Message::Bye {
        reason: "done".into(),
    };
    peer.send(&bye).unwrap();
    serve.wait_exit(Duration::from_secs(120))
}

fn hr_patch(pts: i64, x: u16, size: u16, data: &[u8]) -> Message {
    Message::HrPatch {
        frame_pts_us: pts,
        x,
        y: 0,
        width: size,
        height: size,
        format: PatchFormat::Png,
        data: data.to_vec(),
    }
}

/// A learner refuses and counts every patch it cannot use (not an image, a size other than the
/// message says, off the x4 grid, outside the frame, for a frame the server never decoded,
/// larger than it asked for); the session streams on, every frame upscaled.
#[test]
fn bad_patches_are_refused_and_counted_while_the_session_goes_on() {
    let serve = Serve::start(&[
        "--model",
        "fmen-tiny-x4",
        "--learn",
        "--once",
        "--sr-queue",
        "240",
        "--sr-every-frame",
    ]);
    let (code, out) = stream_with_patches(serve, |pts, png| {
        vec![
            hr_patch(pts, 0, 64, b"not an image at all"),
            hr_patch(pts, 0, 32, png),         // the PNG is 64x64
            hr_patch(pts, 2, 64, png),         // off the x4 grid
            hr_patch(pts, 480, 64, png),       // 480 + 64 > 512, the HR frame's width
            hr_patch(999_999_999, 0, 64, png), // no such frame
            hr_patch(pts, 0, 128, png),        // larger than the 96 px asked for
        ]
    });
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("30 frames decoded, 30 super-resolved + 0 filled, 0 dropped"),
        "{out}"
    );
    assert!(
        out.contains("session 1 learned: 0 pairs (6 patches refused)"),
        "{out}"
    );
    assert!(!out.contains("saved the adapted model"), "{out}");
}

/// Patches the server never asked for are refused, counted and not saved: a sender cannot
/// fill the recording folder; patches beyond the count asked for are refused the same way.
#[test]
fn patches_not_asked_for_are_refused_and_never_saved() {
    for (asked, admitted) in [(None, 0), (Some("2"), 2)] {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("rec");
        let mut args = vec![
            "--once",
            "--record",
            record.to_str().unwrap(),
            "--sr-queue",
            "240",
            "--sr-every-frame",
        ];
        if let Some(count) = asked {
            args.extend(["--request-patches", count, "--patch-size", "64"]);
        }
        let serve = Serve::start(&args);
        let (code, out) = stream_with_patches(serve, |pts, png| {
            (0..8).map(|i| hr_patch(pts, i * 4, 64, png)).collect()
        });
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&format!(
                "30 super-resolved + 0 filled, 0 dropped, 0 decode errors, 8 HR patches ({} refused)",
                8 - admitted
            )),
            "asked {asked:?}: {out}"
        );
        let saved = record.join("session-1-patches");
        let saved = if saved.exists() {
            common::listing(&saved).len()
        } else {
            0
        };
        assert_eq!(saved, admitted, "asked {asked:?}");
    }
}
