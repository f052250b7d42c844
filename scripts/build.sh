#!/usr/bin/env bash
# Configures and builds isynth in DIR with the dependencies scripts/setup.sh recorded.
# usage: scripts/build.sh DIR [--asan] [--fuzz] [--target T]...
#   --fuzz  clang, with the libFuzzer targets (-DISYNTH_FUZZ=ON); builds only those targets
set -euo pipefail
dir=${1:?usage: scripts/build.sh DIR [--asan] [--fuzz] [--target T]...}
shift
CACHE=${ISYNTH_CACHE:-$HOME/.cache/isynth}
[ -f "$CACHE/env.mk" ] || { echo "build: run scripts/setup.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$CACHE/env.mk"
asan=OFF
fuzz=OFF
target=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) asan=ON ;;
    --fuzz) fuzz=ON ;;
    --target) target+=(--target "$2"); shift ;;
    *) echo "build: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $fuzz = ON ]; then
  export CC=clang
  [ ${#target[@]} -gt 0 ] || target=(--target fuzz_parse --target fuzz_xlsx --target fuzz_table)
fi
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DISYNTH_SANITIZE=$asan \
  -DISYNTH_FUZZ=$fuzz -DISYNTH_REQUIRE_ALL="${ISYNTH_REQUIRE_ALL:-OFF}" \
  -DISYNTH_LLAMA_PREFIX="$ISYNTH_LLAMA_PREFIX" -DISYNTH_MODEL="$ISYNTH_MODEL" \
  -DISYNTH_PYTHON="$ISYNTH_PYTHON" -DISYNTH_LLAMA_SERVER="$ISYNTH_LLAMA_SERVER" >/dev/null
cmake --build "$root/$dir" -j"$(nproc)" "${target[@]}"
