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

.PHONY: setup build run test check fmt clippy bench clean-output

setup:
	@./scripts/setup.sh

build: setup
	cargo build --release --locked

run: build
	$(BIN) $(ARGS)

test: setup
	./scripts/test.sh

fmt:
	cargo fmt --all -- --check

clippy: setup
	cargo clippy --release --all-targets --locked -- -D warnings

check: fmt clippy test

bench: build
	$(BIN) bench $(ARGS)
