#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (native and wasm32), the native tests, the
# wasm binding's tests in Node, then builds the site, checks the PyTorch module against the
# CLI (where torch is installed) and runs the browser tests in headless Debian Chromium.
# Installs what is missing first (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# MNIST for the tests that need it (the four IDX .gz files) comes from $SPLASH_DATA; without
# it those tests print that they were skipped, and under CI=true they fail.
scripts/setup.sh --browser --torch

echo "== cargo fmt --check"
cargo fmt --check
echo "== clippy (native, all features)"
cargo clippy --all-targets --all-features -- -D warnings
echo "== clippy (wasm32)"
cargo clippy --target wasm32-unknown-unknown --no-default-features --lib -- -D warnings
cargo clippy --target wasm32-unknown-unknown --no-default-features --features training --lib --tests -- -D warnings
echo "== clippy (wasm32, relaxed SIMD: the kernels' fused multiply-add branch)"
relaxed=$(scripts/relaxed-simd-flags.sh) # on its own line, so that set -e sees it fail
RUSTFLAGS=$relaxed CARGO_TARGET_DIR=target/relaxed-simd \
  cargo clippy --target wasm32-unknown-unknown --no-default-features --lib -- -D warnings
echo "== native tests"
cargo test --release --all-features
echo "== wasm binding tests (Node)"
wasm-pack test --node --release -- --no-default-features --features training --test web
echo "== build the site and the native CLI the browser tests compare against"
scripts/build.sh
cargo build --release --features cli
echo "== PyTorch module against the CLI"
.venv-torch/bin/python python/test_splash_torch.py
echo "== browser tests (headless Chromium; screenshots in test-artifacts/)"
node --test --test-reporter=spec tests/e2e/
