//! The SRVC stream's tests: header and segments read back as written, a version-1 stream still
//! reads, a corrupted segment fails its checksum without losing the next, and oversized or
//! inconsistent fields are refused before anything is allocated.

use super::*;

fn header(quantization: Quantization) -> StreamHeader {
    StreamHeader {
        base: "fmen-tiny-x4".into(),
        base_sha256: "00".repeat(32),
        architecture: "fmen".into(),
        hyperparameters: serde_json::json!({"channels": 20}),
        scale: 4,
        quantization,
        tensors: vec![("a.weight".into(), 10), ("b.bias".into(), 6)],
        parameters: 16,
    }
}

fn segments() -> Vec<Segment> {
    vec![
        Segment {
            start_pts_us: 0,
            from_base: false,
            indices: vec![0, 3, 9, 15],
            values: SegmentValues::Int8 {
                scales: vec![(0, 0.01), (1, 0.5)],
                values: vec![1, -127, 64, 3],
            },
        },
        Segment {
            start_pts_us: 5_000_000,
            from_base: true,
            indices: vec![8],
            values: SegmentValues::Int8 {
                scales: vec![(0, 0.25)],
                values: vec![-2],
            },
        },
    ]
}

fn stream_of(segments: &[Segment]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_header(&mut bytes, &header(Quantization::Int8));
    for s in segments {
        write_segment(&mut bytes, s);
    }
    bytes
}

#[test]
fn header_and_segments_read_back_as_written() {
    let bytes = stream_of(&segments());
    let mut reader = StreamReader::new(&bytes).unwrap();
    assert_eq!(reader.header, header(Quantization::Int8));
    assert_eq!(reader.next_segment(), Some(Ok(segments()[0].clone())));
    assert_eq!(reader.next_segment(), Some(Ok(segments()[1].clone())));
    assert_eq!(reader.next_segment(), None);
}

#[test]
fn a_version_1_stream_with_its_header_uncompressed_still_reads() {
    let json = serde_json::to_vec(&header(Quantization::Int8)).unwrap();
    let mut bytes = MAGIC_V1.to_vec();
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&json);
    // Version 1 segments have no flags: none restarts from the base.
    let segments: Vec<Segment> = segments()
        .into_iter()
        .map(|s| Segment {
            from_base: false,
            ..s
        })
        .collect();
    for s in &segments {
        write_segment_as(&mut bytes, s, 1);
    }
    let mut reader = StreamReader::new(&bytes).unwrap();
    assert_eq!(reader.header, header(Quantization::Int8));
    for want in segments {
        assert_eq!(reader.next_segment(), Some(Ok(want)));
    }
    assert!(reader.next_segment().is_none());
    // Version 2 compresses the header.
    assert!(stream_of(&[]).len() < bytes.len() - json.len() / 2);
}

#[test]
fn a_corrupted_segment_fails_its_checksum_and_the_next_one_still_reads() {
    let mut bytes = stream_of(&segments());
    let first_segment = stream_of(&[]).len();
    bytes[first_segment + 10] ^= 0x40;
    let mut reader = StreamReader::new(&bytes).unwrap();
    assert!(matches!(
        reader.next_segment(),
        Some(Err(StreamError::Checksum { segment: 0, .. }))
    ));
    assert_eq!(reader.next_segment(), Some(Ok(segments()[1].clone())));
}

#[test]
fn oversized_or_inconsistent_fields_are_refused_before_allocating() {
    assert_eq!(
        StreamReader::new(b"not a stream").err(),
        Some(StreamError::BadMagic)
    );
    let mut huge_header = MAGIC.to_vec();
    huge_header.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        StreamReader::new(&huge_header),
        Err(StreamError::BadHeader(_))
    ));
    // A compressed header that inflates past the limit (a zip bomb) stops at the limit.
    let mut bomb = MAGIC.to_vec();
    let inflated = deflate(&vec![b' '; MAX_HEADER_BYTES as usize + 2]);
    bomb.extend_from_slice(&(inflated.len() as u32).to_le_bytes());
    bomb.extend_from_slice(&inflated);
    let err = StreamReader::new(&bomb).err().unwrap();
    assert!(err.to_string().contains("inflates past"), "{err}");
    let mut lying = header(Quantization::Fp16);
    lying.parameters = 1 << 40;
    let mut bytes = Vec::new();
    write_header(&mut bytes, &lying);
    assert!(matches!(
        StreamReader::new(&bytes),
        Err(StreamError::BadHeader(_))
    ));
    // A segment that claims 4 GB.
    let mut bytes = stream_of(&[]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    let mut reader = StreamReader::new(&bytes).unwrap();
    assert!(matches!(
        reader.next_segment(),
        Some(Err(StreamError::BadSegment { segment: 0, .. }))
    ));
    // Flags this version does not know.
    let mut payload = 0i64.to_le_bytes().to_vec();
    payload.push(0x02);
    payload.extend_from_slice(&0u32.to_le_bytes()); // no changes
    payload.extend_from_slice(&0u32.to_le_bytes()); // no scales
    let compressed = deflate(&payload);
    let mut bytes = stream_of(&[]);
    bytes.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32(&compressed).to_le_bytes());
    bytes.extend_from_slice(&compressed);
    let mut reader = StreamReader::new(&bytes).unwrap();
    let err = reader.next_segment().unwrap().unwrap_err();
    assert!(err.to_string().contains("unknown flags 0x02"), "{err}");
    // More changes than parameters, and an index past the end.
    for bad in [
        Segment {
            start_pts_us: 0,
            from_base: false,
            indices: (0..17).collect(),
            values: SegmentValues::Int8 {
                scales: vec![],
                values: vec![0; 17],
            },
        },
        Segment {
            start_pts_us: 0,
            from_base: false,
            indices: vec![16],
            values: SegmentValues::Int8 {
                scales: vec![],
                values: vec![0],
            },
        },
    ] {
        let bytes = stream_of(&[bad]);
        let mut reader = StreamReader::new(&bytes).unwrap();
        let err = reader.next_segment().unwrap().unwrap_err();
        assert!(matches!(err, StreamError::BadSegment { .. }), "{err}");
    }
}
