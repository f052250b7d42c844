#!/usr/bin/env bash
# `isynth dedup` on the shared JSONL reader: a bad line is named as FILE:LINE with exit 3 and no
# output left behind (invalid UTF-8, a line that is not an object, a missing field); a file
# with a BOM, CRLF line ends and blank lines is read, blank lines counted in the line numbers
# of the report, and kept lines copied without their CR.
set -u
isynth=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, want-exit, want-fragment, file
  "$isynth" dedup "$4" -o "$tmp/out.jsonl" -q 2>"$tmp/err"
  rc=$?
  if [ "$rc" != "$2" ]; then echo "FAIL $1: exit $rc, want $2"; cat "$tmp/err"; fail=1; fi
  if ! grep -qF -- "$3" "$tmp/err"; then echo "FAIL $1: no '$3' in:"; cat "$tmp/err"; fail=1; fi
  if ls "$tmp" | grep -q '^out.jsonl'; then echo "FAIL $1: output left behind"; fail=1; fi
}
printf '{"instruction": "one"}\n\n{"instruction": "bad \xff byte"}\n' >"$tmp/utf8.jsonl"
check utf8 3 "$tmp/utf8.jsonl:3: invalid UTF-8 (byte 0xFF) at byte 22 of the line" "$tmp/utf8.jsonl"
printf '{"instruction": "one"}\n["not", "an object"]\n' >"$tmp/array.jsonl"
check array 3 "$tmp/array.jsonl:2: expected a JSON object, found an array" "$tmp/array.jsonl"
printf '{"instruction": "one"}\n{"output": "x"}\n' >"$tmp/missing.jsonl"
check missing 3 "$tmp/missing.jsonl:2: field 'instruction' is missing" "$tmp/missing.jsonl"

printf '\xef\xbb\xbf{"instruction": "the same words here"}\r\n\r\n{"instruction": "the same words here"}\r\n{"instruction": "something else entirely"}\r\n' >"$tmp/crlf.jsonl"
if ! "$isynth" dedup "$tmp/crlf.jsonl" -o "$tmp/kept.jsonl" --report "$tmp/rep.jsonl" -q 2>"$tmp/err"; then
  echo "FAIL crlf: exit $?"; cat "$tmp/err"; fail=1
fi
want=$(printf '{"instruction": "the same words here"}\n{"instruction": "something else entirely"}\n')
if [ "$(cat "$tmp/kept.jsonl")" != "$want" ] || grep -q $'\r' "$tmp/kept.jsonl"; then
  echo "FAIL crlf: kept lines:"; cat -A "$tmp/kept.jsonl"; fail=1
fi
if ! grep -qF '"line":3,' "$tmp/rep.jsonl" || ! grep -qF '"kept_line":1,' "$tmp/rep.jsonl"; then
  echo "FAIL crlf: report:"; cat "$tmp/rep.jsonl"; fail=1
fi
[ $fail = 0 ] && echo "cli_dedup: all passed"
exit $fail
