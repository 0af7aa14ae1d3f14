//! H.264 Annex-B and AVCC plumbing with any bytes (what a sender's access units, an RTMP
//! sender's packets and an MP4's avcC reach): no panic, and every NAL unit found lies inside
//! the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stronglive_wire::annexb;

fuzz_target!(|data: &[u8]| {
    let range = data.as_ptr_range();
    for unit in annexb::nal_units(data) {
        assert!(!unit.is_empty());
        assert!(range.start <= unit.as_ptr() && unit.as_ptr_range().end <= range.end);
    }
    let _ = annexb::is_key_frame(data);
    let sets = annexb::parameter_sets(data);
    assert!(annexb::nal_units(&sets)
        .iter()
        .all(|u| matches!(annexb::nal_type(u), annexb::NAL_SPS | annexb::NAL_PPS)));
    for length_size in 0..=5 {
        let _ = annexb::avcc_to_annexb(data, length_size);
    }
    let _ = annexb::avcc_extradata_to_annexb(data);
});
