#!/usr/bin/env bash
# Evaluates the LeNet5 pair trained for ε = 0.3 (scripts/train-adversarial-0.3.sh) with
# AutoAttack's attacks and PGD with restarts, each on one core, and writes
# www/models/lenet5-<act>-adv-0.3.eval.json. Usage: scripts/eval-adversarial-0.3.sh [MNIST_DIR]
# (default $SPLASH_DATA). Set REEVALUATE=1 to recompute reports that exist.
#
# Attacks (names as in `splash eval --attacks`; @N: the first N test digits):
#   fgsm                 one step, all 10,000 digits
#   apgd-ce-100          APGD with the cross-entropy loss, 100 iterations, all 10,000
#   apgd-dlr-t9-100@1000 APGD-T: targeted DLR towards each of the nine next classes
#   square-5000@1000     the Square Attack with 5,000 queries (no gradient)
#   pgd-40-r5-margin@1000  PGD-40, five restarts, margin loss
# at ε = 0.05, 0.1, 0.2, 0.3 and 0.4; transfer from the other activation on 1,000 digits.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${SPLASH_DATA:?set SPLASH_DATA or pass the MNIST directory}}
OUT=www/models
BIN=${SPLASH_BIN:-target/release/splash}
[ -n "${SPLASH_BIN:-}" ] || cargo build --release --features cli
mkdir -p runs
ATTACKS=fgsm,apgd-ce-100,apgd-dlr-t9-100@1000,square-5000@1000,pgd-40-r5-margin@1000

evaluate() { # name transfer-source
  if [ -f "$OUT/$1.eval.json" ] && [ "${REEVALUATE:-0}" != 1 ]; then echo "$1: already evaluated"; return; fi
  RAYON_NUM_THREADS=1 $BIN eval --weights "$OUT/$1.safetensors" --transfer-from "$OUT/$2.safetensors" \
    --data "$DATA" --attacks "$ATTACKS" --epsilons 0.05,0.1,0.2,0.3,0.4 \
    --transfer-digits 1000 --out "$OUT/$1.eval.json" >>"runs/$1.eval.log" 2>&1
}

evaluate lenet5-relu-adv-0.3 lenet5-splash-adv-0.3 &
relu=$!
evaluate lenet5-splash-adv-0.3 lenet5-relu-adv-0.3 &
splash=$!
wait $relu
wait $splash
