//! Protocol v2's decryption path with any bytes from a peer: `open` must not panic, must refuse
//! anything that is not a record sealed with the session key at the expected counter, and a
//! record it opens must be exactly what sealing the opened message gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stronglive_wire::protocol::HEADER_BYTES;
use stronglive_wire::secure::{derive_keys, parse_sealed_header, Nonces, Opener, Sealer};

fuzz_target!(|data: &[u8]| {
    let keys = derive_keys(
        &[7; 32],
        &Nonces {
            server: [1; 32],
            client: [2; 32],
        },
    );
    let mut opener = Opener::new(&keys.client_to_server);
    let mut rest = data;
    let mut counter = 0u64;
    while rest.len() >= HEADER_BYTES {
        let header: [u8; HEADER_BYTES] = rest[..HEADER_BYTES].try_into().unwrap();
        let Ok(length) = parse_sealed_header(header) else {
            return;
        };
        let Some(body) = rest.get(HEADER_BYTES..HEADER_BYTES + length) else {
            return;
        };
        match opener.open(header, body.to_vec()) {
            Ok(message) => {
                // Only a genuine record opens: resealing at the same counter gives its bytes.
                let mut sealer = Sealer::new(&keys.client_to_server);
                for _ in 0..counter {
                    sealer.seal(&message);
                }
                assert_eq!(sealer.seal(&message), &rest[..HEADER_BYTES + length]);
                counter += 1;
            }
            Err(_) => return,
        }
        rest = &rest[HEADER_BYTES + length..];
    }
});
