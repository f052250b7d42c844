#!/usr/bin/env bash
# A run is tied to its model's content, not to the file's name: continuing a run with the same
# model copied elsewhere goes on; continuing it with another file of the same base name (one
# byte of the weights changed) is refused with exit 2 naming model_sha256, and run.db is left
# as it was.
set -eu
isynth=$1 model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/a" "$tmp/b" "$tmp/c"
cp "$model" "$tmp/a/m.gguf"
cp "$model" "$tmp/b/m.gguf"
cp "$model" "$tmp/c/m.gguf"
# the last byte of c's copy differs (the end of the last tensor's data)
size=$(stat -c %s "$tmp/c/m.gguf")
last=$(tail -c 1 "$tmp/c/m.gguf" | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(((last + 1) % 256)))" |
  dd of="$tmp/c/m.gguf" bs=1 seek=$((size - 1)) conv=notrunc status=none
cmp -s "$tmp/a/m.gguf" "$tmp/c/m.gguf" && { echo "the copy was not changed"; exit 1; }
seeds="$(dirname "$0")/../data/seeds_ja.jsonl"
run() { "$isynth" generate --seeds "$seeds" --out "$tmp/run" -n 50 --model "$1" \
  --max-tokens 48 --seed 3 --max-requests "$2" >"$tmp/out" 2>"$tmp/err"; }
rc=0; run "$tmp/a/m.gguf" 1 || rc=$?
[ "$rc" = 4 ] || { echo "first run: exit $rc"; cat "$tmp/err"; exit 1; }
rc=0; run "$tmp/b/m.gguf" 2 || rc=$?
[ "$rc" = 4 ] || { echo "same model elsewhere: exit $rc"; cat "$tmp/err"; exit 1; }
before=$(sha256sum "$tmp/run/run.db")
rc=0; run "$tmp/c/m.gguf" 3 || rc=$?
[ "$rc" = 2 ] || { echo "another model of the same name: exit $rc"; cat "$tmp/err"; exit 1; }
grep -q 'model_sha256' "$tmp/err" || { echo "the refusal does not name model_sha256:"; cat "$tmp/err"; exit 1; }
[ "$before" = "$(sha256sum "$tmp/run/run.db")" ] || { echo "run.db changed on refusal"; exit 1; }
echo ok
