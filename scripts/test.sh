#!/usr/bin/env bash
# The project's test command (called by `make test` and CI).
# 1. The wire crate (protocol, sealing, pairing, SRVC stream) alone, as a machine without
#    libtorch or FFmpeg builds it: no torch virtualenv on PATH, its own target directory (so
#    its narrower feature set never invalidates the main build); fails in seconds.
# 2. Every other test against real FFmpeg and libtorch, each crate compiled once with one
#    feature set; the binary that build made is the one the studio smoke test opens under Xvfb,
#    the install test installs and the Android companion's interop tests talk to (none of them
#    runs `cargo build`, whose feature set would differ from the tests' and compile the crates a
#    second time).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
path_without_torch=$(tr ':' '\n' <<<"$PATH" | grep -vxF "${VIRTUAL_ENV:-/nonexistent}/bin" | paste -sd:)
env -u VIRTUAL_ENV -u LIBTORCH_USE_PYTORCH -u LIBTORCH PATH="$path_without_torch" \
  CARGO_TARGET_DIR="$target/wire-alone" cargo test --release --locked -p stronglive-wire
# Release profile for tests too: optimised pixel loops, and one build serves everything below.
cargo test --release --locked --workspace --exclude stronglive-wire
export STRONGLIVE_BIN="$target/release/stronglive"
./scripts/gui_smoke.sh
# The desktop install: a temporary prefix, the entry launched on an MP4, the .deb checked.
./scripts/package_test.sh
# The Android companion: JVM protocol + interop tests against the binary just built, signed APK.
./android-companion/build.sh
