#!/usr/bin/env bash
# Prints the RUSTFLAGS of the relaxed-SIMD wasm build: .cargo/config.toml's flags for the
# wasm32 target with +relaxed-simd added (RUSTFLAGS replaces those flags, so it must repeat
# them). Used by scripts/build.sh (the build) and scripts/test.sh (clippy on that build).
set -euo pipefail
cd "$(dirname "$0")/.."
flags=$(sed -n 's/^rustflags = \[\(.*\)\]/\1/p' .cargo/config.toml | tr -d '",')
case "$flags" in *+simd128*) ;; *) echo "relaxed-simd-flags.sh: no +simd128 in .cargo/config.toml's rustflags" >&2; exit 1 ;; esac
echo "${flags/+simd128/+simd128,+relaxed-simd}"
