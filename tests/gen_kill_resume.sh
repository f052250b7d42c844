#!/usr/bin/env bash
# SIGKILL in the middle of a run, then the same command again: the run reaches its target,
# every task accepted before the kill is still there unchanged, and nothing is duplicated.
set -eu
isynth=$1 model=$2 py=$3 src=$4
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# the request limit is generous: this test is about the kill, not the model's yield (about one
# task kept in ten requests with the default model since the row checks)
args=(generate --seeds "$src/data/seeds_ja.jsonl" --out "$tmp/run" -n 3 --model "$model"
      --parallel 4 --max-tokens 384 --seed 5 --max-requests 300 --two-stage)
"$isynth" "${args[@]}" >/dev/null 2>"$tmp/first.err" &
pid=$!
count() {
  "$py" -c 'import sqlite3,sys
try:
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=5)
    print(db.execute("select count(*) from candidates where status=\"accepted\"").fetchone()[0])
except Exception:
    print(0)' "$tmp/run/run.db"
}
for _ in $(seq 1 600); do
  [ -f "$tmp/run/run.db" ] && [ "$(count)" -ge 1 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
kill -0 "$pid" 2>/dev/null || { echo "the first run ended before it could be killed"; cat "$tmp/first.err"; exit 1; }
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
"$py" - "$tmp/run/run.db" "$tmp/before.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
rows = db.execute("select id, instruction, input, output from candidates where status='accepted' order by id").fetchall()
assert 1 <= len(rows) < 3, len(rows)
json.dump(rows, open(sys.argv[2], "w"))
print("accepted before the kill:", len(rows))
PY
"$isynth" "${args[@]}" >/dev/null 2>"$tmp/second.err" || { cat "$tmp/second.err"; exit 1; }
"$py" - "$tmp/run" "$tmp/before.json" <<'PY'
import json, sqlite3, sys, os
run = sys.argv[1]
before = [tuple(r) for r in json.load(open(sys.argv[2]))]
db = sqlite3.connect(os.path.join(run, "run.db"))
after = db.execute("select id, instruction, input, output from candidates where status='accepted' order by id").fetchall()
assert len(after) == 3, len(after)
for r in before:
    assert r in after, ("lost or changed after resume", r)
keys = db.execute("select dedup_key from candidates where status='accepted'").fetchall()
assert len(set(keys)) == 3, "duplicate accepted tasks"
lines = [json.loads(l) for l in open(os.path.join(run, "data.jsonl"), encoding="utf-8")]
assert len(lines) == 3 and len({l["instruction"] for l in lines}) == 3
print("after resume: 3 accepted, none lost, none duplicated")
PY
echo "1 passed, 0 failed"
