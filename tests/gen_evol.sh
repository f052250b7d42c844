#!/usr/bin/env bash
# `isynth generate --method evol --rounds 2` with the real default model: every rewrite is
# recorded with its parent and operation, the elimination's reasons appear in run.db, a second
# round rewrites an accepted first-round row when there is one, and data.jsonl carries the
# lineage.
set -eu
isynth=$1 model=$2 py=$3 src=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
"$isynth" generate --method evol --rounds 2 --seeds "$src/data/seeds_ja.jsonl" --out "$tmp/run" \
  -n 3 --model "$model" --parallel 2 --max-tokens 256 --seed 7 --max-requests 16 \
  >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
# 0: three rows accepted; 4: the request limit came first (the 0.5B model rewrites poorly)
[ "$rc" = 0 ] || [ "$rc" = 4 ] || { cat "$tmp/stderr"; exit 1; }
"$py" - "$tmp/run" "$src/data/seeds_ja.jsonl" <<'PY'
import json, os, sqlite3, sys
run, seeds = sys.argv[1], sys.argv[2]
db = sqlite3.connect(os.path.join(run, "run.db"))
assert db.execute("select value from meta where key='method'").fetchone()[0] == "evol"
ops = {"constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth"}
rows = db.execute("select c.id, c.status, c.reason, l.parent, l.operation, l.round from "
                  "candidates c join requests r on r.id = c.request_id left join lineage l on "
                  "l.candidate_id = c.id where r.stage = 1").fetchall()
assert rows, "no rewrite recorded"
n_seeds = sum(1 for l in open(seeds, encoding="utf-8") if l.strip())
for cid, status, reason, parent, op, rnd in rows:
    if reason in ("unparseable", "truncated"):
        continue
    assert op in ops, (cid, op)
    assert rnd in (1, 2), (cid, rnd)
    if rnd == 1:
        assert parent.startswith("s") and 1 <= int(parent[1:]) <= n_seeds, parent
    else:
        p = db.execute("select c.status, l.round from candidates c join lineage l on "
                       "l.candidate_id = c.id where c.id = ?", (int(parent[1:]),)).fetchone()
        assert p == ("accepted", 1), (cid, parent, p)
# a round-1 row accepted before the last request was rewritten again
acc1 = db.execute("select count(*) from candidates c join lineage l on l.candidate_id = c.id "
                  "where c.status = 'accepted' and l.round = 1").fetchone()[0]
r2 = db.execute("select count(*) from lineage where round = 2").fetchone()[0]
for l in open(os.path.join(run, "data.jsonl"), encoding="utf-8"):
    r = json.loads(l)
    assert r["method"] == "evol" and r["evolution"] in ops and r["round"] in (1, 2), r
    assert r["parent_id"], r
reasons = dict(db.execute("select reason, count(*) from candidates where reason is not null "
                          "group by reason").fetchall())
print(f"evol: {len(rows)} rewrites, {acc1} accepted in round 1, {r2} in round 2; {reasons}")
PY
