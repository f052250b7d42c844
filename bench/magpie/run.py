#!/usr/bin/env python3
"""Magpie's language steering: how many instructions in the run's language the model writes per
1,000 generated tokens, with each steering on and off (issue 18, part 2).

For every configuration, `isynth generate --method magpie` runs a fixed number of requests at
three run seeds into its own run directory; the figures are then read from each run's run.db.
Only the first stage (the user turns the model writes) is counted: its tokens are every token
decoded for a user turn, those of turns dropped by the language check included, and an
instruction is "Japanese" when it holds a kana (Chinese, which small models drift into, has
none; nor have code and English). "Kept" is the share of those instructions the filters let
through to be answered (pending or accepted at the end).

usage: run.py --isynth BUILD/isynth --model GGUF --seeds SEEDS --workdir DIR [--requests N]
"""
import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

KANA = re.compile(r"[\u3041-\u309f\u30a1-\u30fa]")

# name, what, extra arguments (the built-in system message is the default)
CONFIGS = [
    ("bare", "no system message, no language check", ["--magpie-system", "none", "--no-lang-check"]),
    ("check", "no system message, language check", ["--magpie-system", "none"]),
    ("system", "Japanese system message, no language check", ["--no-lang-check"]),
    ("both", "Japanese system message + language check (default)", []),
    ("subject", "default, with a random subject in the system message", ["SUBJECT"]),
]
SUBJECT = ("あなたは日本語で答えるアシスタントです。ユーザーは日本人で、「{{topic}}」について"
           "日本語で具体的な質問や依頼を書きます。")


def count(db):
    con = sqlite3.connect(db)
    try:
        req, tok = con.execute(
            "select count(*), coalesce(sum(completion_tokens), 0) from requests where stage = 1"
        ).fetchone()
        rows = con.execute(
            "select c.instruction, c.status, coalesce(c.detail, '') from candidates c "
            "join requests r on r.id = c.request_id where r.stage = 1").fetchall()
    finally:
        con.close()
    written = [(i, s) for i, s, d in rows if not d.startswith("stopped early")]
    dropped = len(rows) - len(written)
    ja = [(i, s) for i, s in written if KANA.search(i)]
    kept = sum(1 for i, s in ja if s in ("pending", "accepted"))
    return req, tok, len(written), dropped, len(ja), kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isynth", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--requests", type=int, default=16,
                    help="requests per run (both stages), 3 runs per configuration")
    ap.add_argument("--only", default="", help="comma-separated configurations")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    print(f"Magpie steering on {os.path.basename(a.seeds)}, {a.requests} requests x 3 run seeds "
          "per configuration (stage 1 counted)")
    print(f"{'config':<8} {'turns':>5} {'tokens':>6} {'written':>7} {'dropped':>7} {'ja':>4} "
          f"{'ja/1ktok':>8} {'kept':>4} {'kept/1ktok':>10} {'wall_s':>6}  what")
    failed = False
    for name, what, extra in CONFIGS:
        if only and name not in only:
            continue
        if extra == ["SUBJECT"]:
            path = os.path.join(a.workdir, "subject.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(SUBJECT)
            extra = ["--magpie-system", path]
        tot = [0] * 6
        t0 = time.monotonic()
        for seed in (1, 2, 3):
            d = os.path.join(a.workdir, f"{name}-{seed}")
            shutil.rmtree(d, ignore_errors=True)
            cmd = [a.isynth, "generate", "--method", "magpie", "--model", a.model, "--seeds",
                   a.seeds, "--out", d, "-n", "100000", "--max-requests", str(a.requests),
                   "--seed", str(seed), "-q"] + extra
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # 4: the request limit, the expected end of a run with an unreachable target
            if r.returncode not in (0, 4):
                print(f"bench-magpie: {name} seed {seed}: exit {r.returncode}: {r.stderr.strip()}",
                      file=sys.stderr)
                failed = True
                continue
            for k, v in enumerate(count(os.path.join(d, "run.db"))):
                tot[k] += v
        wall = time.monotonic() - t0
        req, tok, written, dropped, ja, kept = tot
        per_k = 1000.0 * ja / tok if tok else 0.0
        kept_k = 1000.0 * kept / tok if tok else 0.0
        print(f"{name:<8} {req:>5} {tok:>6} {written:>7} {dropped:>7} {ja:>4} {per_k:>8.1f} "
              f"{kept:>4} {kept_k:>10.1f} {wall:>6.0f}  {what}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
