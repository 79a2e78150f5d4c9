#!/usr/bin/env bash
# Trains LeNet5 for one epoch with splash and with PyTorch on the same cores, digits, batch
# size and optimiser (no augmentation), and prints images per second and the ratio.
# PyTorch is installed from PyPI into .venv-bench (once; a large download).
# Usage: scripts/bench-train.sh [MNIST_DIR] [DIGITS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/mnist}
N=${2:-20000}
THREADS=${3:-$(nproc)}
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import torch' 2>/dev/null; then
  echo "== installing PyTorch into .venv-bench"
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q torch
fi
cargo build --release --features cli -q
for act in relu splash; do
  out=$(mktemp -d)
  line=$(target/release/splash train --model lenet5 --activation "$act" --epochs 1 --no-augment \
    --limit "$N" --threads "$THREADS" --data "$DATA" --out "$out/m.safetensors" 2>/dev/null | head -1)
  rm -rf "$out"
  secs=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["train_seconds"])')
  splash_ips=$(python3 -c "print(f'{$N / $secs:.1f}')")
  torch_line=$(.venv-bench/bin/python scripts/bench_torch.py "$DATA" "$N" "$THREADS" "$act")
  torch_ips=${torch_line%% *}
  ratio=$(python3 -c "print(f'{$splash_ips / $torch_ips:.2f}')")
  echo "LeNet5-$act, $N digits, batch 64, $THREADS threads: splash $splash_ips images/s, PyTorch $torch_ips images/s ($torch_line), splash/PyTorch = $ratio"
done
