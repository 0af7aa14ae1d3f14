#!/usr/bin/env bash
# The project's test command (called by `make test` and CI): every Rust test against real
# FFmpeg and libtorch, then the studio window opened for real under Xvfb and screenshotted.
set -euo pipefail
cd "$(dirname "$0")/.."
# Release profile for tests too: one build serves `make run`, `make test` and CI.
cargo test --release --locked
./scripts/gui_smoke.sh
