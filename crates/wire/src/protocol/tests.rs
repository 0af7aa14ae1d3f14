//! The protocol's golden-byte tests: every message against docs/protocol-golden.txt (written
//! by an independent implementation), limits, malformed payloads and a deterministic fuzz run.
//! `golden` is shared with the tests of `secure`, `framing` and `pairing`.

use super::message::kind;
use super::*;

/// `docs/protocol-golden.txt`, written by an independent Python implementation of
/// docs/protocol.md (scripts/protocol_golden.py); the Android tests read the same file.
pub(crate) fn golden(name: &str) -> Vec<u8> {
    let text = include_str!("../../../../docs/protocol-golden.txt");
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from docs/protocol-golden.txt"));
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn samples() -> Vec<Message> {
    let sets = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
    ];
    let mut nonce = [0u8; 32];
    nonce.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let mut device_id = [0u8; 16];
    device_id
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0xa0 + i as u8);
    let proof: Proof = golden("proof").try_into().unwrap();
    vec![
        Message::ServerHello {
            version: 2,
            nonce,
            server_name: "Studio".into(),
        },
        Message::ClientHello {
            version: 2,
            device_id,
            device_name: "Pixel 7".into(),
            client_nonce: golden("client_nonce").try_into().unwrap(),
            proof,
        },
        Message::Welcome {
            session_id: 0x0102_0304_0506_0708,
            server_proof: golden("server_proof").try_into().unwrap(),
        },
        Message::Reject {
            code: RejectCode::BadProof,
            reason: "wrong pairing secret".into(),
        },
        Message::StreamConfig {
            codec: Codec::H264,
            width: 960,
            height: 540,
            fps_num: 30000,
            fps_den: 1001,
            bitrate: 2_000_000,
            parameter_sets: sets,
        },
        Message::VideoUnit {
            pts_us: 33_366,
            key: true,
            data: vec![0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33],
        },
        Message::HrPatch {
            frame_pts_us: 33_366,
            x: 128,
            y: 64,
            width: 48,
            height: 48,
            format: PatchFormat::Png,
            data: vec![0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
        },
        Message::TargetBitrate {
            bits_per_second: 1_500_000,
        },
        Message::KeyFrameRequest,
        Message::PatchRequest { count: 4, size: 96 },
        Message::TargetStreamSize {
            width: 640,
            height: 360,
        },
        Message::Stats {
            frames_sent: 300,
            bytes_sent: 1_234_567,
            frames_dropped: 2,
            encoder_fps_milli: 29_970,
        },
        Message::Bye {
            reason: "end of source".into(),
        },
    ]
}

#[test]
fn every_message_matches_its_golden_bytes_both_ways() {
    for message in samples() {
        let bytes = golden(message.name());
        assert_eq!(message.encode(), bytes, "encoding {}", message.name());
        let (parsed, used) = parse_frame(&bytes, MAX_MESSAGE_BYTES).unwrap().unwrap();
        assert_eq!(parsed, message);
        assert_eq!(used, bytes.len());
    }
}

/// A stream size must be even on both sides, or 0 x 0 (back to the sender's own size).
#[test]
fn target_stream_sizes_are_even_or_a_reset() {
    let frame = |w: u16, h: u16| {
        let mut bytes = vec![0, 0, 0, 5, kind::TARGET_STREAM_SIZE];
        bytes.extend_from_slice(&w.to_be_bytes());
        bytes.extend_from_slice(&h.to_be_bytes());
        bytes
    };
    let parse = |b: Vec<u8>| parse_frame(&b, MAX_MESSAGE_BYTES).map(|m| m.map(|(m, _)| m));
    assert_eq!(
        parse(frame(0, 0)),
        Ok(Some(Message::TargetStreamSize {
            width: 0,
            height: 0
        }))
    );
    for (w, h) in [(641, 360), (640, 0), (0, 360)] {
        let err = parse(frame(w, h)).unwrap_err().to_string();
        assert!(
            err.contains("TargetStreamSize") && err.contains("even"),
            "{err}"
        );
    }
}

#[test]
fn partial_frames_ask_for_more_and_limits_are_checked_first() {
    let bytes = golden("StreamConfig");
    for cut in 0..bytes.len() {
        assert_eq!(parse_frame(&bytes[..cut], MAX_MESSAGE_BYTES), Ok(None));
    }
    // A huge announced length is refused from the 4 header bytes alone.
    let err = parse_frame(&[0xff, 0xff, 0xff, 0xf0], MAX_MESSAGE_BYTES).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::TooLarge {
            length: 0xffff_fff0,
            limit: MAX_MESSAGE_BYTES
        }
    );
    assert!(err
        .to_string()
        .contains("4294967280 bytes exceeds the 4194304-byte limit"));
    let hello = golden("ClientHello");
    assert!(parse_frame(&hello, 16).is_err(), "handshake limit applies");
    assert_eq!(parse_header([0, 0, 0, 0], 10), Err(ProtocolError::Empty));
}

#[test]
fn malformed_payloads_name_what_is_wrong() {
    let mut bad_magic = golden("ServerHello");
    bad_magic[5] = b'X';
    assert!(matches!(
        parse_frame(&bad_magic, MAX_MESSAGE_BYTES),
        Err(ProtocolError::BadMagic { .. })
    ));
    let mut odd_width = golden("StreamConfig");
    odd_width[7] = 0xc1; // 961
    let err = parse_frame(&odd_width, MAX_MESSAGE_BYTES).unwrap_err();
    assert!(err.to_string().contains("width = 961"), "{err}");
    let mut trailing = golden("Welcome");
    trailing.push(0);
    trailing[3] += 1;
    assert!(matches!(
        parse_frame(&trailing, MAX_MESSAGE_BYTES),
        Err(ProtocolError::TrailingBytes { extra: 1, .. })
    ));
    let err = Message::decode(&[0x55]).unwrap_err();
    assert_eq!(err.to_string(), "unknown message type 0x55");
    let mut bad_key = golden("VideoUnit");
    bad_key[13] = 7;
    assert!(parse_frame(&bad_key, MAX_MESSAGE_BYTES).is_err());
    // A version-1 hello is refused by its version, before its (different) layout is read.
    let mut old = golden("ClientHello");
    old[10] = 1;
    let err = parse_frame(&old, MAX_MESSAGE_BYTES).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ClientHello speaks protocol version 1, this end 2"
    );
}

/// The fuzz target's property, run deterministically: no input makes the parser panic, and
/// whatever parses re-encodes to the same bytes.
#[test]
fn random_and_mutated_input_never_panics() {
    let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
    let seeds: Vec<Vec<u8>> = samples().iter().map(Message::encode).collect();
    for round in 0..20_000 {
        let mut bytes = if round % 2 == 0 {
            seeds[(next() % seeds.len() as u64) as usize].clone()
        } else {
            (0..next() % 64).map(|_| next() as u8).collect()
        };
        for _ in 0..(next() % 4) {
            if !bytes.is_empty() {
                let i = (next() % bytes.len() as u64) as usize;
                bytes[i] = next() as u8;
            }
        }
        if let Ok(Some((message, used))) = parse_frame(&bytes, MAX_MESSAGE_BYTES) {
            assert_eq!(message.encode(), bytes[..used]);
        }
    }
}
