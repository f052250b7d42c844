#!/usr/bin/env bash
# `make test`: the whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the libFuzzer targets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# every optional dependency must be there: a test whose tool or model is missing fails
export ISYNTH_REQUIRE_ALL=ON
# formatting first: every C file as .clang-format says (Debian 12's clang-format 14); a diff
# fails the run, `clang-format -i FILE` fixes it
mapfile -t cfiles < <(cd "$root" && find src cli include tests bench -name '*.[ch]' | sort)
if ! out=$(cd "$root" && clang-format --dry-run --Werror "${cfiles[@]}" 2>&1); then
  printf '%s\n' "$out" | head -40 >&2
  echo "test: these files differ from .clang-format; run clang-format -i on them" >&2
  exit 1
fi
echo "test: formatting of ${#cfiles[@]} C files as .clang-format says"
if [ "${ISYNTH_TEST_ONLY_ASAN:-0}" != 1 ]; then
  bash "$root/scripts/build.sh" build
  ctest --test-dir "$root/build" --output-on-failure -j2
fi
bash "$root/scripts/build.sh" build-asan --asan
ctest --test-dir "$root/build-asan" --output-on-failure -j2 -LE no-asan
# fuzzing: every libFuzzer target (clang; instrumented with ASan + UBSan) from the corpus kept
# in the repository, for a fixed seed and time or number of executions
bash "$root/scripts/build.sh" build-fuzz --fuzz
ctest --test-dir "$root/build-fuzz" --output-on-failure -L fuzz
