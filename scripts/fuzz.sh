#!/usr/bin/env bash
# Fuzz every parser a peer reaches (fuzz/fuzz_targets/*.rs) with libFuzzer on the stable
# toolchain: the coverage flags cargo-fuzz would pass, set by hand (cargo-fuzz itself needs
# nightly). Seeds: the golden messages and sealed records of docs/protocol-golden.txt.
# Usage: scripts/fuzz.sh [SECONDS per target] [TARGET...]   (default 60, every target)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(protocol_parser message_reader sealed_record annexb legacy_framing)
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
# --target keeps RUSTFLAGS off build scripts, as cargo-fuzz does.
cargo build --release --locked $(printf -- '--bin %s ' "${targets[@]}") --target "$target"
for name in "${targets[@]}"; do
    mkdir -p "corpus/$name" artifacts
    grep -v '^#' ../docs/protocol-golden.txt | while read -r seed hex; do
        python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))" "$hex" \
            > "corpus/$name/$seed"
    done
    echo "fuzz: $name for ${seconds}s"
    "./target/$target/release/$name" "corpus/$name" -artifact_prefix="artifacts/$name-" \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
done
