#!/usr/bin/env bash
# Trains LeNet5 for one epoch with splash and with PyTorch on the same cores, digits, batch
# size and optimiser (no augmentation), and prints images per second and the ratio.
# Each side runs REPEATS times, alternating, and the medians are compared, since a shared
# machine's speed drifts by ±15 % from minute to minute. Both sides time the training steps
# only (splash's train_seconds leaves out the test-set evaluation after the epoch).
# PyTorch is installed from PyPI into .venv-bench (once; a large download).
# Usage: scripts/bench-train.sh [MNIST_DIR] [DIGITS] [THREADS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SPLASH_DATA:?set SPLASH_DATA to the MNIST folder or pass it}}
N=${2:-20000}
THREADS=${3:-$(nproc)}
REPEATS=${4:-3}
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import torch' 2>/dev/null; then
  echo "== installing PyTorch into .venv-bench"
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q torch
fi
cargo build --release --features cli -q
median() { python3 -c 'import sys, statistics; print(f"{statistics.median(float(v) for v in sys.argv[1:]):.0f}")' "$@"; }
for act in relu splash; do
  ours=() theirs=()
  for _ in $(seq "$REPEATS"); do
    out=$(mktemp -d)
    line=$(target/release/splash train --model lenet5 --activation "$act" --epochs 1 --no-augment \
      --limit "$N" --threads "$THREADS" --data "$DATA" --out "$out/m.safetensors" 2>/dev/null | head -1)
    rm -rf "$out"
    secs=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["train_seconds"])')
    ours+=("$(python3 -c "print($N / $secs)")")
    torch_line=$(.venv-bench/bin/python scripts/bench_torch.py "$DATA" "$N" "$THREADS" "$act" 2>/dev/null)
    theirs+=("${torch_line%% *}")
  done
  splash_ips=$(median "${ours[@]}")
  torch_ips=$(median "${theirs[@]}")
  ratio=$(python3 -c "print(f'{$splash_ips / $torch_ips:.2f}')")
  echo "LeNet5-$act, $N digits, batch 64, $THREADS threads, median of $REPEATS: splash $splash_ips images/s, PyTorch $torch_ips images/s (${torch_line#* images/s }), splash/PyTorch = $ratio"
done
