//! Any bytes from a peer: the parser must not panic, must not allocate past the limit, and
//! whatever it accepts must re-encode to exactly the bytes it consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stronglive_wire::protocol;

fuzz_target!(|data: &[u8]| {
    for limit in [protocol::MAX_HANDSHAKE_BYTES, protocol::MAX_MESSAGE_BYTES] {
        if let Ok(Some((message, used))) = protocol::parse_frame(data, limit) {
            assert!(used <= data.len() && used <= limit + protocol::HEADER_BYTES);
            assert_eq!(message.encode(), &data[..used]);
        }
    }
    let _ = protocol::Message::decode(data);
});
