#!/usr/bin/env bash
# The judge, the facts and self-consistency through the CLI with the real default model:
# `isynth check --judge` on labelled rows, `generate --judge --consistency 2` on the sample
# seeds, then `isynth judge --run` again (nothing left to judge) and the review workbook.
set -eu
isynth=$1 model=$2 py=$3 src=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ISYNTH_MODEL=$model
# three good rows and one junk row of the labelled set
"$py" - "$src/tests/data/labelled/ja.jsonl" "$tmp/in.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
pick = [r for r in rows if r["expect"] == "keep" and r["facts"]][:3] + \
       [r for r in rows if r["expect"] == "scaffolding"][:1]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for r in pick:
        f.write(json.dumps({k: r[k] for k in ("instruction", "input", "output")},
                           ensure_ascii=False) + "\n")
PY
"$isynth" check "$tmp/in.jsonl" --seeds "$src/tests/data/labelled/seeds_ja.jsonl" \
  -o "$tmp/kept.jsonl" --rejected "$tmp/rej.jsonl" --judge -q
"$py" - "$tmp" <<'PY'
import json, sys, os
d = sys.argv[1]
kept = [json.loads(l) for l in open(os.path.join(d, "kept.jsonl"), encoding="utf-8")]
rej = [json.loads(l) for l in open(os.path.join(d, "rej.jsonl"), encoding="utf-8")]
assert len(kept) == 3 and len(rej) == 1 and rej[0]["reason"] == "scaffolding", (kept, rej)
for k in kept:
    j = k["judge"]
    assert 1 <= j["score"] <= 5 and j["reason"] and j["model"], j
    assert isinstance(j["false_claims"], list)
    assert k["verify"], k
    assert all(v in k["output"] for v in k["verify"]), k
print("check --judge:", [k["judge"]["score"] for k in kept])
PY
args=(generate --seeds "$src/data/seeds_ja.jsonl" --out "$tmp/run" -n 1 --parallel 4
      --max-tokens 384 --seed 11 --judge --consistency 2 -q --two-stage --max-requests 300)
"$isynth" "${args[@]}" >/dev/null 2>"$tmp/gen.err" || { cat "$tmp/gen.err"; exit 1; }
"$isynth" judge --run "$tmp/run" >/dev/null 2>"$tmp/judge.err"
grep -q "judged 0 rows" "$tmp/judge.err" || { cat "$tmp/judge.err"; exit 1; }
"$isynth" export --run "$tmp/run" --xlsx "$tmp/review.xlsx" >/dev/null
"$py" - "$tmp/run" "$tmp/review.xlsx" <<'PY'
import json, sqlite3, sys, os
run, xlsx = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(run, "data.jsonl"), encoding="utf-8")]
assert len(rows) == 1, rows
r = rows[0]
assert "verify" in r and isinstance(r["verify"], list), r
assert 1 <= r["judge"]["score"] <= 5, r
db = sqlite3.connect(os.path.join(run, "run.db"))
assert db.execute("select count(*) from judgements where score is not null").fetchone()[0] == 1
if r["verify"]:
    assert r["consistency"]["k"] == 2, r
card = open(os.path.join(run, "README.md"), encoding="utf-8").read()
assert "## Quality" in card and "Judged rows: 1" in card, card
import openpyxl
ws = openpyxl.load_workbook(xlsx)["review"]
head = [c.value for c in ws[1]]
assert "verify" in head and "judge" in head, head
assert isinstance(ws.cell(row=2, column=head.index("judge") + 1).value, (int, float))
print("generate --judge:", r["judge"]["score"], r["verify"], r.get("consistency"))
PY
echo "1 passed, 0 failed"
