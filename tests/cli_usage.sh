#!/usr/bin/env bash
# Help texts, exit codes for usage errors, and refusal of bad options before any work.
set -u
isynth=$1 src=$2
fail=0
check() { # want_rc description command...
  local want=$1 what=$2; shift 2
  "$@" >/tmp/isynth-usage.out 2>/tmp/isynth-usage.err
  local rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL $what: exit $rc, want $want"; cat /tmp/isynth-usage.err; fail=1; fi
}
check 0 "--help" "$isynth" --help
grep -q "generate" /tmp/isynth-usage.out || { echo "FAIL --help lists no generate"; fail=1; }
check 0 "generate --help" "$isynth" generate --help
grep -q -- "--seeds" /tmp/isynth-usage.out || { echo "FAIL generate --help lacks --seeds"; fail=1; }
check 2 "no command" "$isynth"
check 2 "unknown command" "$isynth" frobnicate
check 2 "missing --out" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl"
check 2 "bad -n" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x -n zero
check 2 "bad --top-p" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --top-p 3
check 2 "model and api" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --model a --api-base http://127.0.0.1:1
check 2 "bad --timeout" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --api-base http://127.0.0.1:1 --api-model m --timeout -1
check 2 "bad --method" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --method evolve
check 2 "--rounds without evol" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --rounds 2
check 2 "bad --rounds" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --method evol --rounds 0
check 2 "evol with --two-stage" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --method evol --two-stage
check 2 "--magpie-system without magpie" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --magpie-system none
check 2 "magpie with --template" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/x --method magpie --template README.md
check 1 "unreadable model" "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/isynth-usage-run --model /nonexistent.gguf
grep -q "nonexistent.gguf" /tmp/isynth-usage.err || { echo "FAIL model error does not name the file"; fail=1; }
# the default model is looked for in $ISYNTH_CACHE, as the set-up puts it there
check 2 "default model under ISYNTH_CACHE" env ISYNTH_CACHE=/nonexistent-isynth-cache ISYNTH_MODEL= "$isynth" generate --seeds "$src/data/seeds_ja.jsonl" --out /tmp/isynth-usage-nc
grep -q "/nonexistent-isynth-cache/models/" /tmp/isynth-usage.err || { echo "FAIL the default model is not looked for under ISYNTH_CACHE"; fail=1; }
check 0 "convert --help" "$isynth" convert --help
check 2 "convert --level (gone)" "$isynth" convert --level 9 "$src/data/seeds_ja.jsonl" /tmp/isynth-usage.xlsx
grep -q "unknown option '--level'" /tmp/isynth-usage.err || { echo "FAIL --level message"; fail=1; }
[ -e /tmp/isynth-usage.xlsx ] && { echo "FAIL a refused convert wrote its output"; fail=1; }
check 0 "convert to xlsx" "$isynth" convert "$src/data/seeds_ja.jsonl" /tmp/isynth-usage.xlsx
rm -rf /tmp/isynth-usage-run /tmp/isynth-usage.xlsx /tmp/isynth-usage.out /tmp/isynth-usage.err
[ $fail = 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
