#!/usr/bin/env python3
"""`isynth check` on a large dataset: rows per second and peak memory (the child's own
high-water mark, VmHWM, read from /proc just before it exits through a ptrace-free wait: we use
wait4's ru_maxrss of a posix_spawn'd child, which shares no pages with this Python process).

The dataset: N rows made from the synthetic Japanese instructions of bench/rouge (`rouge_tool
gen`), each with an output made of one or two fact-bearing sentences and the text of two other rows, and 5% junk
rows of every kind the row checks catch (scaffolding, missing input, repetition, echo, wrong
language, unbalanced) plus 3% exact and near duplicates, so every filter does real work.

usage: run.py --isynth BUILD/isynth --tool BUILD/bench/isynth-rouge-tool --workdir DIR [--rows N]
"""
import argparse
import json
import os
import random
import subprocess
import time

FACTS = [
    "{p}は{y}年に{c}で生まれました。", "{c}の人口は約{n}万人です。",
    "この施設は毎週{d}曜日に休館します。", "{p}は{y}年に{a}を受賞しました。",
    "東京から{c}までは約{k}キロメートルあります。", "会議は{h}時から{m}分間行います。",
]
PEOPLE = ["夏目漱石", "森鴎外", "樋口一葉", "野口英世", "湯川秀樹", "紫式部"]
CITIES = ["京都市", "大阪府", "札幌市", "福岡県", "名古屋市", "仙台市"]
AWARDS = ["ノーベル物理学賞", "芥川賞", "直木賞", "文化勲章"]
PLAIN = ["手順を一つずつ確認することが大切です。", "まず全体の流れを把握しましょう。",
         "具体的な例を挙げると分かりやすくなります。", "最後に要点をまとめます。",
         "無理のない計画を立てることが成功の鍵です。", "周りの人と相談するのも良い方法です。"]
JUNK = [
    lambda i, o: (i, "", "タスク4\n指示: " + i + "\n入力: なし\n出力: " + o),
    lambda i, o: ("次の文章を一文で要約してください。", "", o),
    lambda i, o: (i, "", "".join(["それは大切です。"] * 6)),
    lambda i, o: (i, "", i.rstrip("。") + "について説明します。"),
    lambda i, o: (i, "", "This is an answer written in English for a Japanese question."),
    lambda i, o: (i + "「", "", o),
]


def output(rng, instr):
    # one or two fact sentences among text borrowed from two other rows, so that outputs are as
    # varied as the instructions
    parts = [rng.choice(instr), rng.choice(instr)]
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.7:
            parts.append(rng.choice(FACTS).format(
                p=rng.choice(PEOPLE), c=rng.choice(CITIES), a=rng.choice(AWARDS),
                y=rng.randint(1850, 2020), n=rng.randint(10, 900), k=rng.randint(20, 1200),
                d=rng.choice("月火水木金"), h=rng.randint(9, 18), m=rng.choice([30, 45, 60, 90])))
        else:
            parts.append(rng.choice(PLAIN))
    rng.shuffle(parts)
    return "".join(parts)


def make(tool, workdir, n, seed):
    path = os.path.join(workdir, "check-%d-%d.jsonl" % (n, seed))
    if os.path.exists(path):
        return path
    corpus = os.path.join(workdir, "corpus-%d-%d.txt" % (n, seed))
    subprocess.run([tool, "gen", str(n), str(seed), corpus], check=True)
    rng = random.Random(seed)
    instr = [l.rstrip("\n") for l in open(corpus, encoding="utf-8")]
    rows = []
    for i, text in enumerate(instr):
        o = output(rng, instr)
        r = rng.random()
        if r < 0.05:
            a, b, c = rng.choice(JUNK)(text, o)
            rows.append({"instruction": a, "input": b, "output": c})
        elif r < 0.08 and rows:
            dup = dict(rng.choice(rows))
            dup.pop("id", None)
            rows.append(dup)
        else:
            rows.append({"id": "r%d" % i, "instruction": text, "input": "", "output": o})
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.rename(path + ".tmp", path)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--isynth", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seeds", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "data", "seeds_ja.jsonl"))
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    data = make(args.tool, args.workdir, args.rows, args.seed)
    argv = [args.isynth, "check", data, "--seeds", args.seeds,
            "-o", os.path.join(args.workdir, "kept.jsonl"),
            "--rejected", os.path.join(args.workdir, "rejected.jsonl"), "-q"]
    t0 = time.perf_counter()
    pid = os.posix_spawn(args.isynth, argv, os.environ)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("isynth check failed: %d" % os.waitstatus_to_exitcode(status))
    kept = sum(1 for _ in open(os.path.join(args.workdir, "kept.jsonl"), encoding="utf-8"))
    reasons = {}
    for line in open(os.path.join(args.workdir, "rejected.jsonl"), encoding="utf-8"):
        r = json.loads(line)["reason"]
        reasons[r] = reasons.get(r, 0) + 1
    print("isynth check: %d rows in %.2f s wall (%.2f s CPU): %.0f rows/s, peak RSS %.1f MB" % (
        args.rows, wall, ru.ru_utime + ru.ru_stime, args.rows / wall, ru.ru_maxrss / 1024))
    print("kept %d, rejected %s" % (kept, ", ".join(
        "%s %d" % kv for kv in sorted(reasons.items(), key=lambda kv: -kv[1]))))


if __name__ == "__main__":
    main()
