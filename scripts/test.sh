#!/usr/bin/env bash
# The project's test command (called by `make test` and CI): every Rust test against real
# FFmpeg and libtorch, then the studio window opened for real under Xvfb and screenshotted,
# then installed into a temporary prefix and launched from its desktop entry, then the Android
# companion built and tested.
set -euo pipefail
cd "$(dirname "$0")/.."
# Release profile for tests too: one build serves `make run`, `make test` and CI.
cargo test --release --locked
./scripts/gui_smoke.sh
# The desktop install: a temporary prefix, the entry launched on an MP4, the .deb checked.
./scripts/package_test.sh
# The Android companion: JVM protocol + interop tests against the binary just built, signed APK.
./android-companion/build.sh
