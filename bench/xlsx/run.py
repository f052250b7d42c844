#!/usr/bin/env python3
"""xlsx benchmark: isynth against the Python tools a user would otherwise pick.

Writes N rows of Japanese review data (id, status, instruction, input, output, scores) from one
JSONL file to .xlsx, and reads workbooks back cell by cell, each contender in its own process so
peak memory is its own:

  write: isynth convert (C, libxlsxwriter constant_memory), openpyxl write_only (lxml),
         XlsxWriter constant_memory; all three deflate at zlib's default level (6)
  read:  isynth reader (libzip + expat), openpyxl read_only, python-calamine (Rust)

Two corpora, because the deflate that every writer ends with costs very different amounts on
them: "realistic" sentences built from a small vocabulary (repetitive, so the sheet XML deflates
to 8% of its size, quickly) and "random" Japanese characters as in the issue's own measurement
(the XML deflates to about 45%, slowly; a 55-60 MB workbook).

Every writer does the same job: stream the JSONL line by line, parse it, write six string
cells. Every reader walks every cell of every row and sums text lengths. Both workbooks read are
the one isynth wrote (inline strings) and the one openpyxl wrote (shared strings).

usage: run.py --isynth PATH --reader PATH [--rows N] [--work DIR] [--corpus realistic|random|both]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

NOUNS = ["機械学習", "データベース", "東京の観光地", "日本の伝統料理", "気候変動", "健康的な食事",
         "リモートワーク", "電気自動車", "睡眠の質", "読書習慣", "量子コンピュータ", "地方創生",
         "少子高齢化", "プログラミング教育", "再生可能エネルギー", "日本語の敬語", "俳句",
         "防災対策", "キャッシュレス決済", "住宅ローン", "新入社員研修", "顧客満足度", "物流",
         "桜の開花", "温泉旅館", "スマートフォン", "サイバーセキュリティ", "農業の自動化"]
TASKS = ["について簡単に説明してください。", "の利点と欠点を三つずつ挙げてください。",
         "を小学生にも分かるように説明してください。", "に関する短い記事の見出しを考えてください。",
         "について、初心者向けのアドバイスを五つ書いてください。",
         "をテーマにした俳句を一句作ってください。", "の将来について意見を述べてください。",
         "について、次の文章を要約してください。", "に関するよくある誤解を訂正してください。"]
PHRASES = ["一般的に", "例えば", "その一方で", "近年では", "重要なのは", "具体的には", "さらに",
           "結論として", "多くの専門家は", "日本では", "最初に", "しかし"]
PREDS = ["大きな影響を与えています", "注目を集めています", "慎重に検討する必要があります",
         "効率を大幅に改善できます", "さまざまな課題が残っています", "身近なものになりました",
         "長い歴史があります", "費用対効果が高いと言えます", "社会全体で取り組むべきです",
         "地域によって差があります", "今後さらに普及すると考えられます"]
STATUS = ["pending", "accepted", "edited", "rejected"]
HEADER = ["id", "status", "instruction", "input", "output", "scores"]


def sentence(rng):
    return "%s、%sは%s。" % (rng.choice(PHRASES), rng.choice(NOUNS), rng.choice(PREDS))


HIRAGANA = [chr(c) for c in range(0x3041, 0x3094)]
KATAKANA = [chr(c) for c in range(0x30A1, 0x30F7)]
KANJI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def random_text(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        out.append(rng.choice(HIRAGANA) if r < 0.5 else rng.choice(KANJI) if r < 0.85
                   else rng.choice(KATAKANA) if r < 0.97 else "。")
    return "".join(out)


def make_random_rows(n, seed=5):
    rng = random.Random(seed)
    for i in range(n):
        yield ["gen-%06d" % (i + 1), rng.choice(STATUS), random_text(rng, rng.randint(20, 80)),
               random_text(rng, rng.randint(0, 120)), random_text(rng, rng.randint(80, 300)),
               "rouge_l=%.3f nearest=%d" % (rng.random() * 0.7, rng.randint(1, n))]


def make_rows(n, seed=9):
    rng = random.Random(seed)
    for i in range(n):
        instr = rng.choice(NOUNS) + rng.choice(TASKS)
        if rng.random() < 0.5:
            instr += sentence(rng)
        inp = "" if rng.random() < 0.4 else "".join(sentence(rng) for _ in range(rng.randint(1, 4)))
        out = "\n".join("".join(sentence(rng) for _ in range(rng.randint(1, 4)))
                        for _ in range(rng.randint(1, 4)))
        scores = "rouge_l=%.3f nearest=%d" % (rng.random() * 0.7, rng.randint(1, n))
        yield ["gen-%06d" % (i + 1), rng.choice(STATUS), instr, inp, out, scores]


# ---- workers: each runs in its own process ----

def rows_from_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            yield [o[h] for h in HEADER]


def w_openpyxl(src, dst):
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("review")
    ws.append(HEADER)
    for r in rows_from_jsonl(src):
        cells = []
        for v in r:
            c = WriteOnlyCell(ws, value=v)
            c.data_type = "s"  # text, never a formula (as isynth writes)
            cells.append(c)
        ws.append(cells)
    wb.save(dst)


def w_xlsxwriter(src, dst):
    import xlsxwriter
    wb = xlsxwriter.Workbook(dst, {"constant_memory": True, "strings_to_formulas": False,
                                   "strings_to_numbers": False, "strings_to_urls": False})
    ws = wb.add_worksheet("review")
    ws.write_row(0, 0, HEADER)
    for i, r in enumerate(rows_from_jsonl(src), 1):
        for c, v in enumerate(r):
            ws.write_string(i, c, v)
    wb.close()


def r_openpyxl(path):
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = cells = nbytes = 0
    for ws in wb.worksheets:
        for r in ws.iter_rows(values_only=True):
            rows += 1
            for v in r:
                if v is not None and v != "":
                    cells += 1
                    nbytes += len(str(v).encode())
    wb.close()
    print("%d rows %d cells %d bytes" % (rows, cells, nbytes))


def r_calamine(path):
    from python_calamine import CalamineWorkbook
    wb = CalamineWorkbook.from_path(path)
    rows = cells = nbytes = 0
    for name in wb.sheet_names:
        for r in wb.get_sheet_by_name(name).iter_rows():
            rows += 1
            for v in r:
                if v is not None and v != "":
                    cells += 1
                    nbytes += len(str(v).encode())
    print("%d rows %d cells %d bytes" % (rows, cells, nbytes))


WORKERS = {"w-openpyxl": w_openpyxl, "w-xlsxwriter": w_xlsxwriter,
           "r-openpyxl": r_openpyxl, "r-calamine": r_calamine}


# ---- driver ----

def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd):
    """Runs cmd; returns (seconds, peak RSS in MB, stdout).

    The peak is the child's own VmHWM, polled every 2 ms until it exits. ru_maxrss from wait4
    is not used: on Linux it also counts the Python parent's pages resident at fork time
    (the high-water mark of the memory the child had before exec), about 13 MB here, which
    would hide the footprint of a small C reader."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks, err_chunks = [], []
    import threading
    def drain(src, dst):
        for chunk in iter(lambda: src.read(65536), b""):
            dst.append(chunk)
    ts = [threading.Thread(target=drain, args=(p.stdout, out_chunks)),
          threading.Thread(target=drain, args=(p.stderr, err_chunks))]
    for t in ts:
        t.start()
    peak = 0
    while p.poll() is None:
        peak = max(peak, vm_hwm_kb(p.pid))
        time.sleep(0.002)
    dt = time.perf_counter() - t0
    for t in ts:
        t.join()
    out = b"".join(out_chunks).decode()
    err = b"".join(err_chunks).decode()
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), err))
    return dt, peak / 1024.0, out.strip()


def run_corpus(a, corpus, me):
    work = os.path.join(a.work, corpus)
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data-%d.jsonl" % a.rows)
    if not os.path.exists(data):
        gen = make_rows if corpus == "realistic" else make_random_rows
        with open(data + ".tmp", "w", encoding="utf-8") as f:
            for r in gen(a.rows):
                f.write(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) + "\n")
        os.rename(data + ".tmp", data)
    chars = 0
    with open(data, encoding="utf-8") as f:
        for line in f:
            chars += sum(len(v) for v in json.loads(line).values())

    out = {k: os.path.join(work, k + ".xlsx")
           for k in ("isynth", "openpyxl", "xlsxwriter")}
    small = os.path.join(work, "data-small.jsonl")
    with open(data, encoding="utf-8") as f, open(small, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= a.rows // 10:
                break
            g.write(line)
    writes = []
    for key, name, cmd in (
            ("isynth", "isynth convert", [a.isynth, "convert", data, out["isynth"]]),
            ("openpyxl", "openpyxl write_only (lxml)", me + ["w-openpyxl", data, out["openpyxl"]]),
            ("xlsxwriter", "XlsxWriter constant_memory",
             me + ["w-xlsxwriter", data, out["xlsxwriter"]])):
        dt, mb, _ = measure(cmd)
        writes.append((key, name, dt, mb, os.path.getsize(out[key])))
    dt_s, mb_s, _ = measure([a.isynth, "convert", small, os.path.join(work, "small.xlsx")])

    reads = []
    for wbname in ("isynth", "openpyxl"):
        path = out[wbname]
        for name, cmd in (("isynth", [a.reader, path]),
                          ("openpyxl read_only", me + ["r-openpyxl", path]),
                          ("python-calamine", me + ["r-calamine", path])):
            dt, mb, res = measure(cmd)
            reads.append((wbname, name, dt, mb, res))

    print()
    print("== corpus %s: %d rows x %d columns, %.1f M characters (%s)"
          % (corpus, a.rows, len(HEADER), chars / 1e6, data))
    print("WRITE (JSONL in, .xlsx out)")
    print("%-30s %9s %11s %9s %10s" % ("tool", "seconds", "peak MB", "file MB", "/ isynth"))
    t = {k: dt for k, _, dt, _, _ in writes}
    m = {k: mb for k, _, _, mb, _ in writes}
    for _, name, dt, mb, size in writes:
        print("%-30s %9.2f %11.1f %9.1f %9.1fx" % (name, dt, mb, size / 1e6, dt / t["isynth"]))
    print("isynth at %d rows: %.2f s, peak %.1f MB (%.1f MB at %d rows)"
          % (a.rows // 10, dt_s, mb_s, m["isynth"], a.rows))
    print("READ every cell (workbook written by: isynth = inline strings, "
          "openpyxl = shared strings)")
    print("%-10s %-22s %9s %11s %10s  %s" % ("workbook", "tool", "seconds", "peak MB",
                                             "/ isynth", "checked"))
    for wbname in ("isynth", "openpyxl"):
        rs = [r for r in reads if r[0] == wbname]
        base = rs[0][2]
        for _, name, dt, mb, res in rs:
            print("%-10s %-22s %9.2f %11.1f %9.1fx  %s" % (wbname, name, dt, mb, dt / base, res))
    r = {(w, n.split()[0]): (dt, mb) for w, n, dt, mb, _ in reads}
    print("targets (same compression): write %.1fx openpyxl (>= 2), %.1fx XlsxWriter (> 1), "
          "memory %.1f -> %.1f MB from %d to %d rows (flat)"
          % (t["openpyxl"] / t["isynth"], t["xlsxwriter"] / t["isynth"], mb_s, m["isynth"],
             a.rows // 10, a.rows))
    for w in ("isynth", "openpyxl"):
        print("         read %s workbook: %.2fx python-calamine's speed (>= 1), memory %.3f of "
              "openpyxl's (<= 0.2)" % (w, r[(w, "python-calamine")][0] / r[(w, "isynth")][0],
                                      r[(w, "isynth")][1] / r[(w, "openpyxl")][1]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] in WORKERS:
        WORKERS[sys.argv[1]](*sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isynth", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--work", default="bench-xlsx")
    ap.add_argument("--corpus", choices=("realistic", "random", "both"), default="both")
    a = ap.parse_args()
    me = [sys.executable, os.path.abspath(__file__)]
    for corpus in (("realistic", "random") if a.corpus == "both" else (a.corpus,)):
        run_corpus(a, corpus, me)


if __name__ == "__main__":
    main()
