#!/usr/bin/env python3
"""Integration tests for ROUGE-L against Google's rouge-score.

  rouge_parity.py parity TOOL WORKDIR   >= 10,000 pairs of Japanese and English text: isynth's
                                        tokens fed to rouge_scorer._score_lcs must give isynth's
                                        F bit for bit; the words tokenizer must equal
                                        rouge_score.tokenize.tokenize on every text
  rouge_parity.py dedup ISYNTH WORKDIR  `isynth dedup` keeps exactly what a greedy pass with
                                        rouge-score's _score_lcs keeps; report, errors, atomicity
"""
import json
import os
import random
import shutil
import subprocess
import sys

from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

JA = [
    "次の文章を読んで、筆者の主張を三行で要約してください。",
    "日本の四季について、小学生にも分かるように説明してください。",
    "以下の英文を自然な日本語に翻訳してください。",
    "健康的な朝ごはんの献立を一週間分考えてください。",
    "PythonでFizzBuzzを実装し、コードの各行にコメントを付けてください。",
    "東京から大阪まで新幹線で行く場合の所要時間と料金の目安を教えて。",
    "「猫」という言葉を使わずに猫を説明する短い詩を書いてください。",
    "会議の議事録を、決定事項と宿題に分けて整理してください。",
    "江戸時代の町人文化の特徴を三つ挙げ、それぞれ簡単に説明せよ。",
    "ＡＩと人間の違いについて、あなたの考えを２００字以内で述べてください。",
    "ｶﾀｶﾅの半角文字を全角に直す方法を教えてください。",
    "新入社員向けに、ビジネスメールの基本的な書き方をまとめてください。",
    "地球温暖化を防ぐために個人ができることを５つ挙げてください。",
    "次の数列の規則を見つけて、次に来る数を答えてください：2, 4, 8, 16",
    "お客様からのクレームに対する丁寧な返信文を作成してください。",
    "俳句とは何か、季語と五七五の形式に触れながら説明してください。",
    "以下のレシピを、材料と手順に分けて箇条書きにしてください。",
    "友達を誕生日会に招待するメッセージを、親しみやすい口調で書いて。",
    "量子コンピュータの仕組みを、専門用語をできるだけ使わずに説明して。",
    "次の会話の続きを考えてください。Ａ「明日、空いてる？」Ｂ「",
    "日本の少子高齢化が経済に与える影響について論じてください。",
    "自己紹介文を、趣味と仕事の話を交えて３文で書いてください。",
    "この文章の誤字脱字を指摘し、正しい表記を示してください。",
    "睡眠の質を上げるための習慣を、科学的根拠とともに紹介してください。",
    "織田信長、豊臣秀吉、徳川家康の三人を比較して説明してください。",
    "敬語の種類（尊敬語・謙譲語・丁寧語）の違いを例文で示して。",
    "子ども向けに、雨が降る仕組みをやさしく説明してください。",
    "SQLで売上テーブルから月別の合計を求めるクエリを書いてください。",
    "次の文を受動態に書き換えてください：先生が生徒を褒めた。",
    "旅行の持ち物リストを、季節ごとに分けて作ってください。",
    "🍣と🍜のどちらが好きか、理由とともに答えてください。",
    "株式投資の初心者が気をつけるべき点を三つ教えてください。",
]
EN = [
    "Summarize the following article in three sentences.",
    "Write a haiku about autumn leaves falling in the rain.",
    "Explain the difference between TCP and UDP to a beginner.",
    "Translate the sentence 'I love reading books' into French.",
    "Give me five tips for improving my sleep quality.",
    "Write a Python function that checks whether a string is a palindrome.",
    "What are the main causes of the French Revolution?",
    "Compose a polite email declining a meeting invitation.",
    "List three advantages and three disadvantages of remote work.",
    "Rewrite this paragraph in a more formal tone.",
    "Describe the water cycle for a ten-year-old student.",
    "Classify the following animals as mammals, birds, or reptiles: eagle, whale, lizard.",
    "Generate a catchy slogan for an eco-friendly coffee shop.",
    "Solve for x: 3x + 7 = 22, and explain each step.",
    "Write a short story that begins with 'The door was already open.'",
    "Compare the economies of Japan and Germany after 1950.",
    "It's 2024-05-01; e-mail me_now about the Q3 report, O'Brien!",
    "İstanbul and the \u212aelvin scale: odd Unicode casing in English text.",
    "Ｆｕｌｌｗｉｄｔｈ letters and café naïve résumé accents.",
    "Explain recursion using the Fibonacci sequence as an example.",
    "Suggest a weekly workout plan for a busy office worker.",
    "What is the capital of Australia, and why is it not Sydney?",
]

SWAPS_JA = [("ください", "下さい"), ("説明して", "解説して"), ("、", ""), ("。", "！"),
            ("三", "3"), ("について", "に関して"), ("書いて", "作成して"), ("分かる", "わかる")]


def mutate(s, rnd):
    ops = rnd.randint(1, 4)
    for _ in range(ops):
        r = rnd.random()
        if r < 0.3 and s:
            i = rnd.randrange(len(s))
            s = s[:i] + s[i + 1:]
        elif r < 0.5:
            i = rnd.randrange(len(s) + 1)
            s = s[:i] + rnd.choice("のをにはがでとも、。abc 1") + s[i:]
        elif r < 0.8:
            a, b = rnd.choice(SWAPS_JA)
            s = s.replace(a, b, 1) if rnd.random() < 0.5 else s.replace(b, a, 1)
        else:
            words = s.split(" ")
            rnd.shuffle(words)
            s = " ".join(words)
    return s


def make_pairs(n, seed):
    rnd = random.Random(seed)
    pool = JA + EN
    pairs = []
    while len(pairs) < n:
        k = rnd.random()
        a = rnd.choice(pool)
        if k < 0.35:
            b = mutate(a, rnd)                       # near copies
        elif k < 0.7:
            b = rnd.choice(JA if a in JA else EN)     # same language, different task
        elif k < 0.85:
            b = rnd.choice(pool) + rnd.choice(pool)   # longer texts, past 64 and 128 tokens
            a = a + mutate(a, rnd) + rnd.choice(pool)
        elif k < 0.95:
            b = rnd.choice(pool)                      # anything
        else:
            b = rnd.choice(["", " ", "。", "!!!", "123", "ー"])  # empty and near-empty
        if rnd.random() < 0.5:
            a, b = b, a
        pairs.append((a, b))
    return pairs


def run_parity(tool, work):
    os.makedirs(work, exist_ok=True)
    pairs = make_pairs(12000, 8)
    inp = os.path.join(work, "pairs.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for a, b in pairs:
            f.write(json.dumps({"a": a, "b": b}, ensure_ascii=False) + "\n")
    kinds = ["chars", "words"]
    probe = subprocess.run([tool, "score", "mecab", inp, os.path.join(work, "mecab.jsonl")],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        kinds.append("mecab")
    else:
        print("mecab tokenizer unavailable: " + probe.stderr.strip())
    failures = 0
    for kind in kinds:
        out = os.path.join(work, kind + ".jsonl")
        if kind != "mecab":
            subprocess.run([tool, "score", kind, inp, out], check=True)
        checked = nonzero = longest = 0
        with open(out, encoding="utf-8") as f:
            for (ta, tb), line in zip(pairs, f):
                r = json.loads(line)
                want = rouge_scorer._score_lcs(r["a"], r["b"]).fmeasure
                if want != r["f"]:
                    failures += 1
                    if failures < 10:
                        print(f"MISMATCH {kind}: {ta!r} / {tb!r}: isynth {r['f']!r} "
                              f"rouge-score {want!r}")
                if kind == "words":
                    for text, toks in ((ta, r["a"]), (tb, r["b"])):
                        if rs_tokenize.tokenize(text, None) != toks:
                            failures += 1
                            if failures < 10:
                                print(f"TOKENS differ: {text!r}: {toks} vs "
                                      f"{rs_tokenize.tokenize(text, None)}")
                checked += 1
                nonzero += r["f"] > 0
                longest = max(longest, len(r["a"]), len(r["b"]))
        print(f"{kind}: {checked} pairs equal to rouge-score _score_lcs "
              f"({nonzero} with a positive score, longest {longest} tokens)")
        if checked < 10000:
            failures += 1
    # the failure that motivated it: rouge-score's own tokenizer sees nothing in Japanese
    empty = sum(1 for s in JA if not rs_tokenize.tokenize(s, None))
    print(f"rouge-score's tokenizer gives no token at all for {empty}/{len(JA)} Japanese texts")
    return 1 if failures else 0


def greedy_reference(tokens, t):
    kept = []
    keep = []
    for toks in tokens:
        dup = None
        best = 0.0
        for j, kt in kept:
            f = rouge_scorer._score_lcs(kt, toks).fmeasure
            if f >= t and f > best:
                dup, best = j, f
        keep.append(dup is None)
        if dup is None:
            kept.append((len(keep) - 1, toks))
    return keep


def run_dedup(isynth, work):
    shutil.rmtree(work, ignore_errors=True)  # the atomicity check lists this directory
    os.makedirs(work)
    rnd = random.Random(3)
    records = []
    for i in range(300):
        base = rnd.choice(JA + EN)
        text = mutate(base, rnd) if rnd.random() < 0.5 else base + rnd.choice(JA + EN)
        records.append({"id": i, "instruction": text, "output": "..."})
    inp = os.path.join(work, "in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for k, r in enumerate(records):
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            if k == 10:
                f.write("\n")  # blank lines are skipped
    out = os.path.join(work, "out.jsonl")
    rep = os.path.join(work, "report.jsonl")
    dump = os.path.join(work, "tokens.jsonl")
    p = subprocess.run([isynth, "dedup", inp, "-o", out, "--report", rep, "--dump-tokens", dump,
                        "--threshold", "0.7"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    tokens = [json.loads(l)["tokens"] for l in open(dump, encoding="utf-8")]
    assert len(tokens) == 300
    keep = greedy_reference(tokens, 0.7)
    got = [json.loads(l)["id"] for l in open(out, encoding="utf-8")]
    want = [r["id"] for r, k in zip(records, keep) if k]
    assert got == want, (len(got), len(want))
    reps = [json.loads(l) for l in open(rep, encoding="utf-8")]
    assert len(reps) == 300 - len(want)
    line_tokens = {json.loads(l)["line"]: json.loads(l)["tokens"] for l in open(dump)}
    for r in reps:
        f = rouge_scorer._score_lcs(line_tokens[r["kept_line"]], line_tokens[r["line"]]).fmeasure
        assert f == r["score"] and f >= 0.7, r
        assert r["kept_line"] < r["line"]
    print(f"dedup: kept {len(got)}/300, identical to a greedy pass with rouge-score; "
          f"{len(reps)} report lines with exact scores")

    # a bad line is named, exit 3, and no output file is left behind
    bad = os.path.join(work, "bad.jsonl")
    with open(bad, "w", encoding="utf-8") as f:
        f.write('{"instruction": "ok"}\n{"instruction": "broken"\n')
    out2 = os.path.join(work, "out2.jsonl")
    p = subprocess.run([isynth, "dedup", bad, "-o", out2], capture_output=True, text=True)
    assert p.returncode == 3 and f"{bad}:2:" in p.stderr, (p.returncode, p.stderr)
    assert not any(n.startswith("out2.jsonl") for n in os.listdir(work)), os.listdir(work)
    with open(bad, "w", encoding="utf-8") as f:
        f.write('{"text": "ok"}\n')
    p = subprocess.run([isynth, "dedup", bad, "-o", out2], capture_output=True, text=True)
    assert p.returncode == 3 and "field 'instruction' is missing" in p.stderr, p.stderr
    p = subprocess.run([isynth, "dedup", bad, "-o", out2, "--field", "text", "--tokenizer",
                        "bpe"], capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    p = subprocess.run([isynth, "dedup", bad, "-o", out2, "--field", "text", "-q"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    # an endless line from a pipe is refused at the line cap (64 MiB), not read whole first
    # (getline once took 400 MB from a pipe before refusing): bounded memory, bounded reading
    p = subprocess.Popen([isynth, "dedup", "/dev/stdin", "-o", out2, "-q"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    chunk, fed = b"a" * (1 << 20), 0
    try:
        while fed < (400 << 20):
            p.stdin.write(chunk)
            fed += len(chunk)
    except BrokenPipeError:
        pass
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    assert p.returncode == 3 and "longer than" in err, (p.returncode, err)
    assert fed < (100 << 20), "fed %d MiB before the refusal" % (fed >> 20)
    # 77 MiB in a plain build, 240 MiB under ASan (shadow memory, quarantine); holding the
    # whole 400 MiB line, as getline did, takes more than 400
    assert ru.ru_maxrss < 320 * 1024, "peak RSS %d KiB" % ru.ru_maxrss
    print("dedup: an endless line refused after %d MiB, peak RSS %d MiB"
          % (fed >> 20, ru.ru_maxrss >> 10))
    # a line of [{},{},...] is refused before jansson builds it (a 60 MB one took 4.8 GB)
    with open(bad, "w", encoding="utf-8") as f:
        f.write('{"instruction": "ok"}\n{"instruction": "x", "y": [' + ",".join(["{}"] * 40000)
                + "]}\n")
    p = subprocess.run([isynth, "dedup", bad, "-o", out2], capture_output=True, text=True)
    assert p.returncode == 3 and f"{bad}:2: more than the limit of 65536 JSON values" in p.stderr, \
        (p.returncode, p.stderr)
    print("dedup: errors name file and line; no partial output")
    return 0


if __name__ == "__main__":
    mode, prog, work = sys.argv[1:4]
    sys.exit(run_parity(prog, work) if mode == "parity" else run_dedup(prog, work))
