#!/usr/bin/env bash
# Builds whatever is missing and serves the demo on 127.0.0.1 (default port 8080).
# Usage: scripts/serve.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec node scripts/serve.mjs --port "${1:-8080}"
