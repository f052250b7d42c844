#!/usr/bin/env bash
# `make demo`: generates a few Japanese tasks from the bundled seeds with the default model.
# Two-stage: the 0.5B default model writes an instruction alone, then answers it, far more often
# in a shape the filters keep (3 tasks in 22 requests against 1 in 120 in one stage).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ISYNTH_DEMO_OUT:-$root/runs/demo}
"$root/build/isynth" generate --seeds "$root/data/seeds_ja.jsonl" --out "$out" \
  -n "${ISYNTH_DEMO_N:-3}" --parallel 4 --two-stage
echo "dataset: $out/data.jsonl (card: $out/README.md, charts: $out/report.html)"
