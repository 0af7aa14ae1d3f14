#!/usr/bin/env bash
# Fuzz the wire-protocol parser (fuzz/fuzz_targets/protocol_parser.rs) with libFuzzer on the
# stable toolchain: the coverage flags cargo-fuzz would pass, set by hand (cargo-fuzz itself
# needs nightly). Seeds: the golden messages of docs/protocol-golden.txt.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
# --target keeps RUSTFLAGS off build scripts, as cargo-fuzz does.
cargo build --release --locked --bin protocol_parser --target "$target"
mkdir -p corpus artifacts
grep -v '^#' ../docs/protocol-golden.txt | while read -r name hex; do
    python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))" "$hex" > "corpus/$name"
done
"./target/$target/release/protocol_parser" corpus -artifact_prefix=artifacts/ \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
