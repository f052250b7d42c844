#!/usr/bin/env bash
# `make demo`: generates a few Japanese tasks from the bundled seeds with the default model.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ISYNTH_DEMO_OUT:-$root/runs/demo}
"$root/build/isynth" generate --seeds "$root/data/seeds_ja.jsonl" --out "$out" \
  -n "${ISYNTH_DEMO_N:-3}" --parallel 4
echo "dataset: $out/data.jsonl (card: $out/README.md)"
