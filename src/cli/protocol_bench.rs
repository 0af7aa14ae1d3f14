//! `stronglive bench --protocol`: what protocol v2's sealing costs. A stream of VideoUnits at a
//! bitrate (30 units a second, a key frame every second, 8x the size of the others) is framed
//! and parsed in the clear (v1's work) and sealed and opened (v2's), in the same run; the table
//! gives the time per second of stream on one core and the ratio to the clear framing.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Result;
use stronglive_engine::live::protocol::{parse_frame, Message, MAX_MESSAGE_BYTES};
use stronglive_engine::live::secure::{derive_keys, Nonces, Opener, Sealer};

const FPS: usize = 30;

/// One second of stream at `bits_per_second`: 29 delta units and one key unit 8x their size.
fn one_second_of_units(bits_per_second: u64) -> Vec<Message> {
    let bytes = (bits_per_second / 8) as usize;
    let delta = bytes / (FPS - 1 + 8);
    (0..FPS)
        .map(|i| {
            let key = i == 0;
            let size = if key { delta * 8 } else { delta };
            Message::VideoUnit {
                pts_us: (i * 33_333) as i64,
                key,
                data: (0..size).map(|b| (b * 31 + i) as u8).collect(),
            }
        })
        .collect()
}

/// Best of `rounds` timings of `work` over `seconds` seconds of stream, in ms per second.
fn best_ms(rounds: usize, seconds: usize, mut work: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..seconds {
                work();
            }
            started.elapsed().as_secs_f64() * 1e3 / seconds as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Clear framing: encode and parse every unit (what v1 did per message).
fn clear(units: &[Message]) {
    for unit in units {
        let bytes = unit.encode();
        black_box(parse_frame(&bytes, MAX_MESSAGE_BYTES).expect("own framing parses"));
    }
}

/// Sealed: encode, seal, open and parse every unit with fresh counters each second.
fn sealed(units: &[Message], sealer: &mut Sealer, opener: &mut Opener) {
    for unit in units {
        let record = sealer.seal(unit);
        let header = record[..4].try_into().expect("4-byte header");
        black_box(
            opener
                .open(header, record[4..].to_vec())
                .expect("own record opens"),
        );
    }
}

pub fn run(bitrates_mbit: &[f64], seconds: usize) -> Result<()> {
    let keys = derive_keys(
        &[7; 32],
        &Nonces {
            server: [1; 32],
            client: [2; 32],
        },
    );
    println!(
        "protocol v2 sealing (AES-256-GCM) vs clear framing: {FPS} VideoUnits/s, key unit 8x, \
         {seconds} s of stream per run, best of 5 runs, one core"
    );
    println!(
        "{:>10} {:>12} {:>14} {:>14} {:>7} {:>9}",
        "Mbit/s", "unit bytes", "clear ms/s", "sealed ms/s", "ratio", "core %"
    );
    for &mbit in bitrates_mbit {
        let units = one_second_of_units((mbit * 1e6) as u64);
        let mut sealer = Sealer::new(&keys.client_to_server);
        let mut opener = Opener::new(&keys.client_to_server);
        let clear_ms = best_ms(5, seconds, || clear(&units));
        let sealed_ms = best_ms(5, seconds, || sealed(&units, &mut sealer, &mut opener));
        let delta_bytes = units.get(1).map_or(0, |u| u.encode().len());
        println!(
            "{:>10.1} {:>12} {:>14.3} {:>14.3} {:>6.1}x {:>8.2}%",
            mbit,
            delta_bytes,
            clear_ms,
            sealed_ms,
            sealed_ms / clear_ms.max(1e-9),
            sealed_ms / 10.0
        );
    }
    println!(
        "(ms/s: milliseconds of one core per second of stream, both ends' work: seal + open, or \
         encode + parse; core %: sealed ms/s as a share of one core)"
    );
    Ok(())
}
