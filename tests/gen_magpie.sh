#!/usr/bin/env bash
# `isynth generate --method magpie` with the real default model: the prompt is the GGUF's own
# chat template (Qwen2.5's Jinja text, read by llama.cpp) up to the user turn's opening, the
# special tokens are read as tokens (no template text leaks into a row), the rows carry their
# method, and the card names it.
set -eu
isynth=$1 model=$2 py=$3 src=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
"$isynth" generate --method magpie --seeds "$src/data/seeds_ja.jsonl" --out "$tmp/run" -n 2 \
  --model "$model" --parallel 2 --max-tokens 256 --seed 5 --max-requests 12 \
  >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
# 0: two rows accepted; 4: the request limit came first (the 0.5B model writes poor turns)
[ "$rc" = 0 ] || [ "$rc" = 4 ] || { cat "$tmp/stderr"; exit 1; }
"$py" - "$tmp/run" <<'PY'
import json, os, sqlite3, sys
run = sys.argv[1]
db = sqlite3.connect(os.path.join(run, "run.db"))
assert db.execute("select value from meta where key='method'").fetchone()[0] == "magpie"
prompts = [p for (p,) in db.execute("select prompt from requests where stage=1")]
assert prompts, "no user turn was asked for"
for p in prompts:
    assert p.startswith("<|im_start|>system\n"), p
    assert p.endswith("<|im_end|>\n<|im_start|>user\n"), p
    assert p.count("<|im_start|>") == 2, p
turns = [r for r in db.execute(
    "select c.instruction, c.input from candidates c join requests r on r.id = c.request_id "
    "where r.stage = 1")]
assert turns, "no user turn was recorded"
for i, inp in turns:
    assert "<|im_" not in i and "<|im_" not in inp, i
# every instruction kept for an answer got one (or is still waiting only if the run ended)
answered = db.execute("select count(*) from requests where stage=2").fetchone()[0]
kept = db.execute("select count(*) from candidates where status in ('accepted','pending') or "
                  "(status='rejected' and output != '')").fetchone()[0]
assert answered >= 1 or kept == 0, (answered, kept)
for l in open(os.path.join(run, "data.jsonl"), encoding="utf-8"):
    r = json.loads(l)
    assert r["method"] == "magpie" and r["instruction"] and r["output"], r
card = open(os.path.join(run, "README.md"), encoding="utf-8").read()
assert "| method | magpie |" in card, card
print(f"magpie: {len(prompts)} user turns asked, {len(turns)} recorded, {answered} answered")
PY
