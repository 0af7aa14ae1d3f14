# StrongLive Studio. Two commands matter: `make run` (set up, build, open the studio) and
# `make test` (set up, build, run every test). `make check` = what CI runs + fmt + clippy.

SHELL := /bin/bash
CACHE_DIR ?= $(HOME)/.cache/stronglive
VENV := $(CACHE_DIR)/torch-venv
# tch finds libtorch through the virtualenv's python; the target dir lives outside the clone so
# consecutive clones (CI) build incrementally.
export PATH := $(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)
export VIRTUAL_ENV := $(VENV)
export LIBTORCH_USE_PYTORCH := 1
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
BIN := $(CARGO_TARGET_DIR)/release/stronglive

.PHONY: setup build run test android check fmt layout clippy bench bench-live bench-ui fuzz data models eval sr-only-check clean-output install uninstall deb

setup:
	@./scripts/setup.sh

build: setup
	cargo build --release --locked

run: build
	$(BIN) $(ARGS)

test: setup
	./scripts/test.sh

# The Android companion alone: JVM + interop tests and the signed debug APK (needs `make build`)
android: build
	./android-companion/build.sh

fmt:
	cargo fmt --all -- --check

# clippy.toml + [workspace.lints]: functions over 80 lines are errors
clippy: setup
	cargo clippy --release --workspace --all-targets --locked -- -D warnings

# The layout rules: no file-level import cycles, no tch/ffmpeg_next paths in pipeline code, no
# file over 500 lines outside tests (scripts/check_layout.py)
layout:
	python3 scripts/check_layout.py

# The studio into PREFIX (default ~/.local): binary + libtorch CPU + models, desktop entry
# ("Open with" for MP4/MOV/MKV/WebM), icons, AppStream metainfo (packaging/install.sh)
PREFIX ?= $(HOME)/.local
install: build
	./packaging/install.sh $(PREFIX)

uninstall:
	./packaging/install.sh --uninstall $(PREFIX)

# A Debian package of the same files under /usr (packaging/make_deb.sh), into $(CARGO_TARGET_DIR)/deb
deb: build
	./packaging/make_deb.sh

# the FFmpeg-free build (train/eval/models only) that runs on GPU machines without FFmpeg
sr-only-check: setup
	cargo check --release --locked -p stronglive --no-default-features --bins

check: fmt layout clippy sr-only-check test

bench: build
	$(BIN) bench $(ARGS)

# The live path over loopback (sender -> server -> SR), per input size: fps, drops, latency
bench-live: build
	$(BIN) bench --live $(ARGS)

# Studio frame time while 4K frames arrive (egui_kittest + wgpu, headless)
bench-ui: setup
	cargo bench --locked -p stronglive-studio --bench ui_frames

# libFuzzer on every parser a peer reaches (stable toolchain), SECONDS each; SECONDS=600 make fuzz
fuzz:
	./scripts/fuzz.sh $(or $(SECONDS),60)

# Training and evaluation photos from Debian packages (scripts/fetch_data.sh; ~620 MB of .debs)
data: setup
	./scripts/fetch_data.sh

# The recipe of the shipped models (README "Models"); resumable: re-run continues from the
# checkpoints in $(CACHE_DIR)/checkpoints. Then `make eval` measures them and fills the cards.
models: build data
	$(BIN) train --name fmen-nano-x4 --preset fmen-nano --steps 6000 --lr 2e-3 --threads 1 --resume
	$(BIN) train --name fmen-tiny-x4 --preset fmen-tiny --steps 6000 --lr 1e-3 --resume
	$(BIN) train --name fmen-sl-x4 --preset fmen-sl --plain --steps 6000 --lr 6e-4 --resume

eval: build data
	$(BIN) eval --update-cards $(ARGS)
