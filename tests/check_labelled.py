#!/usr/bin/env python3
"""`isynth check` on the labelled set (tests/data/labelled): every row a reviewer keeps is
kept, every junk row is rejected for its own reason (a copy may be named by any copy reason:
the instruction of a copied row is often a near-copy too), and every planted fact of a kept row
is pointed at by `verify` (a listed span overlaps it). A row junk for two reasons names the
second in "also". Rows labelled false_fact carry invented facts no filter can see: they
must be kept or rejected for another reason, and when kept their facts must be listed.

usage: check_labelled.py ISYNTH LABELLED_DIR WORKDIR
"""
import json
import os
import subprocess
import sys

COPY = {"output_copy", "seed_copy", "rouge", "duplicate"}


def spans_of(text, subs):
    """Character spans of every occurrence of each substring."""
    out = []
    for sub in subs:
        i = text.find(sub)
        while sub and i >= 0:
            out.append((i, i + len(sub)))
            i = text.find(sub, i + 1)
    return out


def main():
    isynth, ldir, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    problems = []
    for lang in ("ja", "en"):
        rows = [json.loads(l) for l in open(os.path.join(ldir, lang + ".jsonl"), encoding="utf-8")]
        kept_p = os.path.join(work, lang + "-kept.jsonl")
        rej_p = os.path.join(work, lang + "-rejected.jsonl")
        subprocess.run([isynth, "check", os.path.join(ldir, lang + ".jsonl"),
                        "--seeds", os.path.join(ldir, "seeds_" + lang + ".jsonl"),
                        "-o", kept_p, "--rejected", rej_p, "-q"], check=True)
        rejected = {}
        for line in open(rej_p, encoding="utf-8"):
            o = json.loads(line)
            rejected[o["line"]] = o
        kept = {}
        for line in open(kept_p, encoding="utf-8"):
            o = json.loads(line)
            kept[(o["instruction"], o["input"])] = o
        assert len(kept) + len(rejected) == len(rows), (lang, len(kept), len(rejected), len(rows))
        counts = {}
        for i, r in enumerate(rows, 1):
            want = r["expect"]
            got = rejected.get(i)
            reason = got["reason"] if got else "keep"
            c = counts.setdefault(want, [0, 0])
            c[1] += 1
            ok = (reason == want or (want in ("output_copy", "seed_copy") and reason in COPY)
                  or reason in r.get("also", []) or (want == "false_fact")
                  # a seed's output or passage written as the instruction asks for nothing
                  or (want == "seed_copy" and reason == "no_request"))
            if not ok:
                problems.append("%s line %d: expected %s, got %s (%s)\n    %r -> %r" % (
                    lang, i, want, reason, got["detail"] if got else "", r["instruction"][:80],
                    r["output"][:80]))
                continue
            c[0] += 1
            if reason == "keep":
                k = kept.get((r["instruction"], r["input"]))
                if k is None:
                    problems.append("%s line %d: kept but not in the kept file" % (lang, i))
                    continue
                # a planted fact is found when a listed span overlaps it in the output: "8時"
                # points the reviewer at "午後8時", "Juliet" at "Romeo and Juliet"
                spans = spans_of(k["output"], k.get("verify", []))
                missing = [f for f in r.get("facts", [])
                           if not any(a < e and s < b for a, b in spans_of(k["output"], [f])
                                      for s, e in spans)]
                if missing:
                    problems.append("%s line %d: facts %r not in verify %r" % (
                        lang, i, missing, k.get("verify")))
        print("%s: " % lang + ", ".join("%s %d/%d" % (k, v[0], v[1])
                                        for k, v in sorted(counts.items())))
    # every seed file of the project is good data: the row checks must keep all of it (the one
    # known keyword hit, ファイル in a task about files on a PC, is Self-Instruct's list)
    root = os.path.abspath(os.path.join(ldir, "..", "..", ".."))
    for seeds in ("data/seeds_ja.jsonl", "data/seeds_en.jsonl", "data/seeds_ja.csv",
                  "tests/data/labelled/seeds_ja.jsonl", "tests/data/labelled/seeds_en.jsonl"):
        rej_p = os.path.join(work, "seeds-rejected.jsonl")
        subprocess.run([isynth, "check", os.path.join(root, seeds), "-o",
                        os.path.join(work, "seeds-kept.jsonl"), "--rejected", rej_p, "-q"],
                       check=True)
        for line in open(rej_p, encoding="utf-8"):
            o = json.loads(line)
            if o["reason"] != "keyword":
                problems.append("%s line %d: a seed rejected as %s (%s)" % (
                    seeds, o["line"], o["reason"], o["detail"]))
        print("%s: every seed kept by the row checks" % seeds)
    if problems:
        print("\n".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
