#!/usr/bin/env bash
# The project's test command (called by `make test` and CI). Each crate is compiled once, with
# one feature set: the wire crate alone first (it needs neither libtorch nor FFmpeg and fails in
# seconds), then every other test against real FFmpeg and libtorch; the binary that build made
# is the one the studio smoke test opens under Xvfb, the install test installs and the Android
# companion's interop tests talk to (none of them runs `cargo build`, whose feature set would
# differ from the tests' and compile the crates a second time).
set -euo pipefail
cd "$(dirname "$0")/.."
# Release profile for tests too: optimised pixel loops, and one build serves everything below.
cargo test --release --locked -p stronglive-wire
cargo test --release --locked --workspace --exclude stronglive-wire
export STRONGLIVE_BIN="${CARGO_TARGET_DIR:-target}/release/stronglive"
./scripts/gui_smoke.sh
# The desktop install: a temporary prefix, the entry launched on an MP4, the .deb checked.
./scripts/package_test.sh
# The Android companion: JVM protocol + interop tests against the binary just built, signed APK.
./android-companion/build.sh
