//! STRONGLIVE's framing as the legacy listener reads it (`u32 BE length` + one Annex-B access
//! unit, repeated) with any bytes: lengths over the limit are refused from the header alone,
//! and each chunk's NAL scan never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stronglive_wire::annexb;
use stronglive_wire::protocol::{parse_header, HEADER_BYTES, MAX_MESSAGE_BYTES};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while rest.len() >= HEADER_BYTES {
        let header: [u8; HEADER_BYTES] = rest[..HEADER_BYTES].try_into().unwrap();
        let Ok(length) = parse_header(header, MAX_MESSAGE_BYTES) else {
            return;
        };
        assert!(length <= MAX_MESSAGE_BYTES);
        let Some(chunk) = rest.get(HEADER_BYTES..HEADER_BYTES + length) else {
            return;
        };
        let units = annexb::nal_units(chunk);
        let _ = units
            .iter()
            .all(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS));
        let _ = annexb::is_key_frame(chunk);
        rest = &rest[HEADER_BYTES + length..];
    }
});
