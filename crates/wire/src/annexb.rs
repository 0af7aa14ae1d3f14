//! H.264 bitstream plumbing (pure): Annex-B NAL splitting, AVCC (MP4/FLV length-prefixed) to
//! Annex-B, avcC parameter sets, key-frame detection. The wire carries Annex-B; MP4 files and
//! RTMP carry AVCC, so the sender and the RTMP ingest convert.

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// NAL unit types that matter here (ITU-T H.264 table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

/// The NAL units of an Annex-B buffer (start codes removed; empty units skipped).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (k, &(_, payload_start)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&(s, _)| s);
        // A 4-byte start code's leading zero belongs to it, not to the unit before.
        while end > payload_start && data[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        if end > payload_start {
            units.push(&data[payload_start..end]);
        }
    }
    units
}

pub fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |b| b & 0x1f)
}

/// True when the access unit holds an IDR slice.
pub fn is_key_frame(annexb: &[u8]) -> bool {
    nal_units(annexb).iter().any(|u| nal_type(u) == NAL_IDR)
}

/// The SPS and PPS units of an access unit, as Annex-B (empty when it has none).
pub fn parameter_sets(annexb: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for unit in nal_units(annexb) {
        if matches!(nal_type(unit), NAL_SPS | NAL_PPS) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(unit);
        }
    }
    out
}

/// Length-prefixed NAL units (`length_size` bytes each, big-endian) to Annex-B.
pub fn avcc_to_annexb(data: &[u8], length_size: usize) -> Result<Vec<u8>, String> {
    if !(1..=4).contains(&length_size) {
        return Err(format!("NAL length size {length_size} (valid: 1..=4)"));
    }
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut pos = 0;
    while pos < data.len() {
        let header = data
            .get(pos..pos + length_size)
            .ok_or_else(|| format!("NAL length cut off at byte {pos} of {}", data.len()))?;
        let len = header
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        pos += length_size;
        let unit = data.get(pos..pos + len).ok_or_else(|| {
            format!(
                "NAL of {len} bytes at byte {pos} runs past the {}-byte packet",
                data.len()
            )
        })?;
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
        pos += len;
    }
    Ok(out)
}

/// Parameter sets of an `avcC` record (ISO 14496-15), as Annex-B, and its NAL length size.
/// Extradata that already is Annex-B is returned as is with length size 0.
pub fn avcc_extradata_to_annexb(extradata: &[u8]) -> Result<(Vec<u8>, usize), String> {
    if extradata.starts_with(&[0, 0, 1]) || extradata.starts_with(&START_CODE) {
        return Ok((extradata.to_vec(), 0));
    }
    let cut = || format!("avcC record cut off ({} bytes)", extradata.len());
    if extradata.len() < 7 || extradata[0] != 1 {
        return Err(format!(
            "not an avcC record (version byte {:?}, {} bytes)",
            extradata.first(),
            extradata.len()
        ));
    }
    let length_size = usize::from(extradata[4] & 3) + 1;
    let mut out = Vec::new();
    let mut pos = 5;
    for count_mask in [0x1f_u8, 0xff] {
        let count = extradata.get(pos).ok_or_else(cut)? & count_mask;
        pos += 1;
        for _ in 0..count {
            let len_bytes = extradata.get(pos..pos + 2).ok_or_else(cut)?;
            let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            pos += 2;
            let unit = extradata.get(pos..pos + len).ok_or_else(cut)?;
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(unit);
            pos += len;
        }
    }
    Ok((out, length_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let units = nal_units(&data);
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 0][..]]
        );
        assert!(is_key_frame(&data));
        assert_eq!(
            parameter_sets(&data),
            [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3]
        );
    }

    #[test]
    fn avcc_round_trip_and_errors() {
        let avcc = [0, 0, 0, 2, 0x65, 9, 0, 0, 0, 1, 0x41];
        assert_eq!(
            avcc_to_annexb(&avcc, 4).unwrap(),
            [0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x41]
        );
        let err = avcc_to_annexb(&[0, 0, 0, 9, 1], 4).unwrap_err();
        assert!(err.contains("runs past"), "{err}");
        let record = [1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 7, 1, 0, 1, 0x68];
        let (sets, size) = avcc_extradata_to_annexb(&record).unwrap();
        assert_eq!(size, 4);
        assert_eq!(sets, [0, 0, 0, 1, 0x67, 7, 0, 0, 0, 1, 0x68]);
        assert!(avcc_extradata_to_annexb(&record[..9]).is_err());
    }

    /// The fuzz target's property (fuzz/fuzz_targets/annexb.rs), run deterministically: any
    /// bytes, no panic; units lie inside the input; parameter sets hold only SPS/PPS.
    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        let seeds: [&[u8]; 3] = [
            &[
                0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0,
            ],
            &[0, 0, 0, 2, 0x65, 9, 0, 0, 0, 1, 0x41],
            &[1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 7, 1, 0, 1, 0x68],
        ];
        for round in 0..20_000 {
            let mut data: Vec<u8> = if round % 2 == 0 {
                seeds[(next() % 3) as usize].to_vec()
            } else {
                (0..next() % 48).map(|_| (next() % 4) as u8).collect()
            };
            for _ in 0..next() % 4 {
                if !data.is_empty() {
                    let i = (next() % data.len() as u64) as usize;
                    data[i] = next() as u8;
                }
            }
            let range = data.as_ptr_range();
            for unit in nal_units(&data) {
                assert!(!unit.is_empty());
                assert!(range.start <= unit.as_ptr() && unit.as_ptr_range().end <= range.end);
            }
            let sets = parameter_sets(&data);
            assert!(nal_units(&sets)
                .iter()
                .all(|u| matches!(nal_type(u), NAL_SPS | NAL_PPS)));
            let _ = is_key_frame(&data);
            for length_size in 0..=5 {
                let _ = avcc_to_annexb(&data, length_size);
            }
            let _ = avcc_extradata_to_annexb(&data);
        }
    }
}
