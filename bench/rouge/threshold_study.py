#!/usr/bin/env python3
"""Threshold study for ROUGE-L on chars tokens (Japanese): score distributions of near-copies
versus different tasks, using isynth's own tokens and scores (rouge_tool score chars).

  threshold_study.py TOOL WORKDIR
"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests"))
from rouge_parity import JA, mutate  # noqa: E402

# hand-written paraphrases: same task, reworded the way a model rewords a seed
PARA = [
    ("次の文章を読んで、筆者の主張を三行で要約してください。", "以下の文章を読み、筆者の言いたいことを3行にまとめてください。"),
    ("日本の四季について、小学生にも分かるように説明してください。", "小学生でも理解できるように、日本の四季を説明して。"),
    ("健康的な朝ごはんの献立を一週間分考えてください。", "一週間分の健康的な朝食メニューを考えてください。"),
    ("会議の議事録を、決定事項と宿題に分けて整理してください。", "議事録を決定事項と宿題に分けて整理して下さい。"),
    ("地球温暖化を防ぐために個人ができることを５つ挙げてください。", "地球温暖化対策として個人にできることを5つ教えてください。"),
    ("睡眠の質を上げるための習慣を、科学的根拠とともに紹介してください。", "睡眠の質を高める習慣を科学的な根拠と一緒に紹介してください。"),
    ("子ども向けに、雨が降る仕組みをやさしく説明してください。", "雨が降る仕組みを子どもにもわかるようにやさしく説明して。"),
    ("旅行の持ち物リストを、季節ごとに分けて作ってください。", "季節別に旅行の持ち物リストを作成してください。"),
    ("株式投資の初心者が気をつけるべき点を三つ教えてください。", "株の初心者が注意すべきポイントを3つ教えてください。"),
    ("新入社員向けに、ビジネスメールの基本的な書き方をまとめてください。", "新入社員のために、ビジネスメールの書き方の基本をまとめてください。"),
    ("敬語の種類（尊敬語・謙譲語・丁寧語）の違いを例文で示して。", "尊敬語・謙譲語・丁寧語の違いを例文を使って示してください。"),
    ("俳句とは何か、季語と五七五の形式に触れながら説明してください。", "季語や五七五の形式に触れつつ、俳句とは何かを説明してください。"),
]


def main():
    tool, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    rnd = random.Random(5)
    classes = {"near copy (1-4 edits)": [], "paraphrase (hand-written)": [],
               "different task": []}
    for _ in range(3000):
        a = rnd.choice(JA)
        classes["near copy (1-4 edits)"].append((a, mutate(a, rnd)))
        b = rnd.choice([s for s in JA if s != a])
        classes["different task"].append((a, b))
    classes["paraphrase (hand-written)"] = PARA
    scores = {}
    for name, pairs in classes.items():
        inp = os.path.join(work, "study.jsonl")
        out = os.path.join(work, "study.out.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for a, b in pairs:
                f.write(json.dumps({"a": a, "b": b}, ensure_ascii=False) + "\n")
        subprocess.run([tool, "score", "chars", inp, out], check=True)
        scores[name] = sorted(json.loads(l)["f"] for l in open(out, encoding="utf-8"))
    print("%-28s %6s %6s %6s %6s %6s" % ("pairs (chars tokens)", "n", "p5", "median", "p95",
                                          "max"))
    for name, s in scores.items():
        q = lambda p: s[min(len(s) - 1, int(p * len(s)))]
        print("%-28s %6d %6.3f %6.3f %6.3f %6.3f" % (name, len(s), q(0.05), q(0.5), q(0.95),
                                                   s[-1]))
    print("\nshare rejected at each threshold")
    print("%-10s" % "threshold" + "".join("%28s" % n for n in scores))
    for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        print("%-10.2f" % t + "".join("%27.1f%%" % (100 * sum(x >= t for x in s) / len(s))
                                      for s in scores.values()))


if __name__ == "__main__":
    main()
