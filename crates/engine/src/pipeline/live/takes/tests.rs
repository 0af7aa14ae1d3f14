//! The recorder stages against real files: finalised, abandoned and kept takes.

use super::*;

/// The names in a folder, sorted: what the recorder left behind.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
use crate::frame::ColorInfo;
use crossbeam_channel::bounded;

fn frames(n: i64) -> impl Iterator<Item = YuvFrame> {
    (0..n).map(|i| YuvFrame {
        pts: Some(i * 100_000),
        duration: 100_000,
        ..YuvFrame::filled(
            64,
            48,
            (16 + i * 10) as u8,
            128,
            128,
            ColorInfo::default_for_height(48),
        )
    })
}

#[test]
fn a_take_ended_by_its_producer_is_finalised() {
    crate::media::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session-1-x4.mp4");
    let (tx, rx) = bounded(16);
    let recorder = std::thread::spawn(move || record_output_stage(rx, "test"));
    tx.send(Record::Start(path.clone())).unwrap();
    for f in frames(5) {
        tx.send(Record::Item(f)).unwrap();
    }
    tx.send(Record::End).unwrap();
    let outcome = recorder.join().unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert_eq!(outcome.recordings, vec![path.clone()]);
    assert_eq!(names_in(dir.path()), vec!["session-1-x4.mp4"]);
}

/// The producer (the SR stage) dies mid-take: its sender goes away without End. The take
/// must not appear under its final name, nor stay behind as a temporary file.
#[test]
fn a_take_whose_producer_vanished_is_abandoned() {
    crate::media::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session-1-x4.mp4");
    let (tx, rx) = bounded(16);
    let recorder = std::thread::spawn(move || record_output_stage(rx, "test"));
    let producer = std::thread::spawn(move || {
        tx.send(Record::Start(path)).unwrap();
        for f in frames(5) {
            tx.send(Record::Item(f)).unwrap();
        }
        panic!("SR stage failed mid-take");
    });
    assert!(producer.join().is_err());
    let outcome = recorder.join().unwrap();
    assert!(outcome.recordings.is_empty());
    assert!(
        matches!(
            outcome.problems.as_slice(),
            [SessionProblem::RecordingAbandoned {
                what: RecordedStream::Output,
                ..
            }]
        ),
        "{:?}",
        outcome.problems
    );
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

/// The disk fills (here: the write fails at frame 10): the take stops, but the 10 frames
/// written are kept under the final name, playable, and the problem says where.
#[test]
fn a_write_error_keeps_the_frames_written_before_it() {
    crate::media::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session-1-x4.mp4");
    let (tx, rx) = bounded(64);
    let recorder = std::thread::spawn(move || {
        let mut written = 0;
        record_takes(
            rx,
            RecordedStream::Output,
            |path, writer: &mut Option<MediaWriter>, frame: YuvFrame| {
                if written == 10 {
                    return Err(MediaError::Write {
                        path: path.to_path_buf(),
                        reason: "No space left on device".into(),
                    });
                }
                written += 1;
                let writer = match writer {
                    Some(w) => w,
                    None => writer.insert(open_output_take(path, &frame, "test")?),
                };
                writer.write_frame(&frame)
            },
        )
    });
    tx.send(Record::Start(path.clone())).unwrap();
    for f in frames(20) {
        tx.send(Record::Item(f)).unwrap();
    }
    tx.send(Record::End).unwrap();
    let outcome = recorder.join().unwrap();
    assert_eq!(outcome.recordings, vec![path.clone()]);
    match outcome.problems.as_slice() {
        [problem @ SessionProblem::RecordingStopped {
            kept: Some(kept), ..
        }] => {
            assert_eq!(kept, &path);
            let text = problem.to_string();
            assert!(
                text.contains("No space left") && text.contains("kept in"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names_in(dir.path()), vec!["session-1-x4.mp4"]);
    let mut decoder = crate::media::decode::VideoDecoder::open(&path).unwrap();
    let mut decoded = 0;
    while decoder.next_frame().unwrap().is_some() {
        decoded += 1;
    }
    assert_eq!(decoded, 10);
}

/// A take whose folder does not exist yet: the recorder makes it (the input and output
/// recorders start at different times; neither may count on the other).
#[test]
fn a_take_into_a_missing_folder_makes_the_folder() {
    crate::media::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/folder/session-1-x4.mp4");
    let (tx, rx) = bounded(16);
    let recorder = std::thread::spawn(move || record_output_stage(rx, "test"));
    tx.send(Record::Start(path.clone())).unwrap();
    for f in frames(3) {
        tx.send(Record::Item(f)).unwrap();
    }
    tx.send(Record::End).unwrap();
    let outcome = recorder.join().unwrap();
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    assert_eq!(outcome.recordings, vec![path]);
}
