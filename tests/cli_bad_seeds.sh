#!/usr/bin/env bash
# Every broken seed file: exit code 3, a message naming the file and a line, nothing written.
set -u
isynth=$1 dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
# a 1 MB field, made here rather than committed
python3 -c 'import json; print(json.dumps({"input": "あ" * 400000, "output": "x"}))' >"$tmp/huge_field.jsonl"
: >"$tmp/empty.jsonl"
for f in "$dir"/* "$tmp/huge_field.jsonl" "$tmp/empty.jsonl"; do
  n=$((n + 1))
  out="$tmp/out-$n"
  "$isynth" generate --seeds "$f" --out "$out" -n 1 --model /nonexistent.gguf 2>"$tmp/err" >"$tmp/stdout"
  rc=$?
  name=$(basename "$f")
  if [ "$rc" != 3 ]; then echo "FAIL $name: exit $rc, want 3"; cat "$tmp/err"; fail=1; fi
  if ! grep -qF "$name" "$tmp/err"; then echo "FAIL $name: message does not name the file"; cat "$tmp/err"; fail=1; fi
  if ! grep -qE "$name(:[0-9]+)?: " "$tmp/err"; then echo "FAIL $name: no file:line prefix"; cat "$tmp/err"; fail=1; fi
  if [ -e "$out" ]; then echo "FAIL $name: wrote $out"; fail=1; fi
  if [ -s "$tmp/stdout" ]; then echo "FAIL $name: printed on stdout"; fail=1; fi
done
echo "$n broken seed files checked"
[ $fail = 0 ] && echo "$n passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
