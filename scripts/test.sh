#!/usr/bin/env bash
# The project's test command (called by `make test` and CI): every Rust test against real
# FFmpeg and libtorch, then the studio window opened for real under Xvfb and screenshotted,
# then the Android companion built and tested.
set -euo pipefail
cd "$(dirname "$0")/.."
# Release profile for tests too: one build serves `make run`, `make test` and CI.
cargo test --release --locked
./scripts/gui_smoke.sh
# The Android companion: JVM protocol + interop tests against the binary just built, signed APK.
./android-companion/build.sh
