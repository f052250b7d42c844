#!/usr/bin/env python3
"""Integration checks for isynth's workbooks against the tools users have: openpyxl reads what
isynth writes, isynth reads what openpyxl and LibreOffice write (including a re-save of its own
workbook after edits), the JSONL loads with Hugging Face `datasets`, and hostile workbooks are
refused by `isynth convert` with exit code 3 and a message naming the reason. The review
workbook of a run with facts to verify and judgements is read with openpyxl (rich runs, number
cells, conditional fills, protection) and LibreOffice, and imported back after edits, also in
the previous release's column set.

usage: xlsx_interop.py CHECK ISYNTH WORKDIR
CHECK: readback | openpyxl-in | libreoffice | datasets | hostile | review
Exit 0 = pass, 1 = fail, 77 = skipped (tool missing).
"""
import base64
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import struct
import tempfile
import time
import zipfile

HEADER = ["id", "status", "instruction", "input", "output"]


def tricky_rows():
    long_ja = "日本語の長いテキスト。" * 1000  # 10,000 characters
    rows = [
        ["1", "pending", "改行\nあり", "tab\there", "emoji 😀🎉 CJK 漢字かなカナ"],
        ["2", "accepted", "=SUM(A1:A3)", "+1", "-minus"],
        ["3", "edited", "@mention", "", "only output"],
        ["4", "rejected", long_ja, "x" * 10000, "  leading and trailing spaces  "],
        ["5", "pending", "literal _x0041_ stays", "&<>\"'", "=HYPERLINK(\"http://x\")"],
        ["6", "", "", "", "last"],
    ]
    return rows


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def write_jsonl(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def isynth_convert(isynth, src, dst, *opts):
    p = run([isynth, "convert", *opts, src, dst])
    if p.returncode != 0:
        sys.exit("isynth convert %s %s failed (%d): %s" % (src, dst, p.returncode, p.stderr))


def compare(got_rows, want_rows, what):
    if len(got_rows) != len(want_rows):
        sys.exit("%s: %d rows, want %d" % (what, len(got_rows), len(want_rows)))
    for i, (g, w) in enumerate(zip(got_rows, want_rows)):
        if g != w:
            for c, (a, b) in enumerate(zip(g, w)):
                if a != b:
                    sys.exit("%s: row %d column %d differs: %r (len %d) != %r (len %d)"
                             % (what, i + 1, c + 1, a[:80], len(a), b[:80], len(b)))
            sys.exit("%s: row %d differs: %r != %r" % (what, i + 1, g, w))


def cell_text(v):
    return "" if v is None else str(v)


def isynth_workbook(isynth, work, *opts):
    src = os.path.join(work, "tricky.jsonl")
    xlsx = os.path.join(work, "tricky%s.xlsx" % "".join(opts))
    write_jsonl(src, HEADER, tricky_rows())
    isynth_convert(isynth, src, xlsx, *opts)
    return xlsx


def check_readback(isynth, work):
    """openpyxl (normal and read-only) reads isynth's workbook with equal text. openpyxl leaves
    OOXML's _xHHHH_ escapes undecoded (Excel and LibreOffice decode them: a literal "_x0041_" is
    stored as "_x005F_x0041_"), so cells go through openpyxl's own unescape() first."""
    import openpyxl
    from openpyxl.utils.escape import unescape
    for opts, ro in (((), False), ((), True)):
        xlsx = isynth_workbook(isynth, work, *opts)
        wb = openpyxl.load_workbook(xlsx, read_only=ro)
        ws = wb.worksheets[0]
        rows = [[unescape(cell_text(c)) for c in r] for r in ws.iter_rows(values_only=True)]
        rows = [r + [""] * (len(HEADER) - len(r)) for r in rows]
        compare(rows[0:1], [HEADER], "openpyxl header")
        compare(rows[1:], tricky_rows(), "openpyxl read_only=%s %s" % (ro, " ".join(opts)))
        if not ro:
            # every cell is a string: nothing became a formula
            for r in ws.iter_rows():
                for c in r:
                    if c.value is not None and c.data_type != "s":
                        sys.exit("cell %s has type %r, want a string"
                                 % (c.coordinate, c.data_type))
            if ws.freeze_panes != "A2":
                sys.exit("header not frozen: %r" % ws.freeze_panes)
            if not ws.auto_filter.ref:
                sys.exit("no autofilter")
        wb.close()
    print("openpyxl read back %d rows equal (normal and read-only)" % len(tricky_rows()))


def check_openpyxl_in(isynth, work):
    """isynth reads workbooks written by openpyxl (shared strings; and write_only mode, where
    text starting with = becomes a formula without a cached value, which reads as empty)."""
    import openpyxl
    from openpyxl.utils.escape import unescape
    for mode in ("normal", "write_only"):
        # openpyxl writes "_x0041_" unescaped, so Excel (and isynth) read it as "A"
        want = [[unescape(v) for v in r] for r in tricky_rows()]
        wb = openpyxl.Workbook(write_only=(mode == "write_only"))
        ws = wb.create_sheet("data") if mode == "write_only" else wb.active
        ws.append(HEADER)
        for r in want:
            ws.append([None if v == "" else v for v in r])
        if mode == "normal":
            ws.title = "data"
            for row in ws.iter_rows():
                for c in row:
                    if isinstance(c.value, str) and c.value.startswith("="):
                        c.data_type = "s"
        else:
            want = [["" if v.startswith("=") else v for v in r] for r in want]
        path = os.path.join(work, "openpyxl-%s.xlsx" % mode)
        wb.save(path)
        out = os.path.join(work, "openpyxl-%s.jsonl" % mode)
        isynth_convert(isynth, path, out)
        got = [[o[h] for h in HEADER] for o in read_jsonl(out)]
        compare(got, want, "isynth reading openpyxl %s" % mode)
    # numbers, booleans and a formula with no cached value
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["n", "b", "s"])
    ws.append([3.5, True, "x"])
    ws.append([42, False, None])
    path = os.path.join(work, "types.xlsx")
    wb.save(path)
    out = os.path.join(work, "types.jsonl")
    isynth_convert(isynth, path, out)
    got = read_jsonl(out)
    want_t = [{"n": "3.5", "b": "TRUE", "s": "x"}, {"n": "42", "b": "FALSE", "s": ""}]
    if got != want_t:
        sys.exit("types: %r != %r" % (got, want_t))
    print("isynth read openpyxl workbooks equal")


def check_libreoffice(isynth, work):
    """An isynth workbook, edited with openpyxl and re-saved by LibreOffice headless, reads back
    with the edits."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        print("soffice not found: skipped")
        return 77
    import openpyxl
    xlsx = isynth_workbook(isynth, work)
    want = tricky_rows()
    # edit like a reviewer: change a status, fix an output, clear a cell
    wb = openpyxl.load_workbook(xlsx)
    ws = wb.worksheets[0]
    ws["B2"] = "accepted"
    want[0][1] = "accepted"
    ws["E3"] = "直した出力\n二行目"
    want[1][4] = "直した出力\n二行目"
    ws["D2"] = None
    want[0][3] = ""
    edited = os.path.join(work, "edited.xlsx")
    wb.save(edited)
    outdir = os.path.join(work, "lo")
    os.makedirs(outdir, exist_ok=True)
    profile = "file://" + os.path.abspath(os.path.join(work, "lo-profile"))
    for src, want_rows in ((xlsx, tricky_rows()), (edited, want)):
        p = run([soffice, "-env:UserInstallation=" + profile, "--headless", "--calc",
                 "--convert-to", "xlsx", "--outdir", outdir, src], timeout=240)
        resaved = os.path.join(outdir, os.path.basename(src))
        if p.returncode != 0 or not os.path.exists(resaved):
            sys.exit("soffice failed (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
        out = os.path.join(work, "lo-" + os.path.basename(src) + ".jsonl")
        isynth_convert(isynth, resaved, out)
        got = [[o.get(h, "") for h in HEADER] for o in read_jsonl(out)]
        compare(got, want_rows, "LibreOffice re-save of " + os.path.basename(src))
        with zipfile.ZipFile(resaved) as z:
            if "xl/sharedStrings.xml" not in z.namelist():
                sys.exit("LibreOffice output unexpectedly has no shared strings")
    print("LibreOffice re-saved workbooks read back equal (with edits)")
    return 0


def check_datasets(isynth, work):
    """The JSONL isynth writes loads with datasets.load_dataset('json') with the same rows."""
    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(work, "hf-cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets
    xlsx = isynth_workbook(isynth, work)
    out = os.path.join(work, "dataset.jsonl")
    isynth_convert(isynth, xlsx, out)
    ds = datasets.load_dataset("json", data_files=out, split="train")
    if ds.column_names != HEADER:
        sys.exit("columns %r != %r" % (ds.column_names, HEADER))
    got = [[ds[i][h] for h in HEADER] for i in range(len(ds))]
    compare(got, tricky_rows(), "datasets")
    print("datasets loaded %d rows, columns %s" % (len(ds), ds.column_names))


CT = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
      'content-types"/>')
ROOT_RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
             'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
             'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
             'Target="xl/workbook.xml"/></Relationships>')
WB = ('<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
      '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
      '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>')
WB_RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
           'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
           '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
           'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
HEAD = ('<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main">')


def book(path, sheet, sst="<sst/>", extra=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WB)
        z.writestr("xl/_rels/workbook.xml.rels", WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", sst)
        for name, data in extra:
            z.writestr(name, data)


def long_target(path):
    """A workbook whose sheet relationship names a 5,000-byte part."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WB)
        z.writestr("xl/_rels/workbook.xml.rels",
                   WB_RELS.replace('Target="worksheets/sheet1.xml"',
                                   'Target="worksheets/%s.xml"' % ("x" * 5000)))


def lying_size(path, sheet, declared=1000):
    """A workbook whose sheet part declares, in its local header and in the central directory,
    an uncompressed size far below what it inflates to (once read in full, 1.3 GB)."""
    book(path, sheet)
    data = bytearray(open(path, "rb").read())
    name = b"xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as z:
        off = z.getinfo(name.decode()).header_offset
    struct.pack_into("<I", data, off + 22, declared)  # local header: uncompressed size
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        n = struct.unpack_from("<H", data, i + 28)[0]
        if bytes(data[i + 46:i + 46 + n]) == name:
            struct.pack_into("<I", data, i + 24, declared)  # central directory
        i = data.find(b"PK\x01\x02", i + 4)
    open(path, "wb").write(bytes(data))


def check_hostile(isynth, work):
    lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10)
                     for i in range(1, 10))
           + ']><sst><si><t>&lol9;</t></si></sst>')
    cases = {
        "billion-laughs": (lambda p: book(p, HEAD + '<sheetData><row><c t="s"><v>0</v></c>'
                                          '</row></sheetData></worksheet>', lol), "DTD"),
        "external-dtd": (lambda p: book(p, '<?xml version="1.0"?><!DOCTYPE worksheet SYSTEM '
                                        '"file:///etc/passwd"><worksheet/>'), "DTD"),
        "deep-xml": (lambda p: book(p, HEAD + "<a>" * 500 + "</a>" * 500 + "</worksheet>"),
                     "nested deeper"),
        "zip-bomb": (lambda p: book(p, HEAD + " " * (50 << 20) + "<sheetData/></worksheet>"),
                     "compression ratio"),
        "lying-size": (lambda p: lying_size(p, HEAD + "<sheetData>" + "<row/>" * (4 << 20)
                                            + "</sheetData></worksheet>"),
                       "bytes its zip directory declares"),
        "many-entries": (lambda p: book(p, HEAD + "<sheetData/></worksheet>",
                                        extra=[("junk/%d" % i, "x") for i in range(10001)]),
                         "zip entries"),
        "not-zip": (lambda p: open(p, "wb").write(b"PK\x03\x04 not really a zip"),
                    "not a readable .xlsx"),
        "no-workbook": (lambda p: zipfile.ZipFile(p, "w").writestr("a.txt", "x"),
                        "not an .xlsx workbook"),
        "bad-shared-index": (lambda p: book(p, HEAD + '<sheetData><row><c t="s"><v>99</v></c>'
                                            '</row></sheetData></worksheet>'),
                             "shared string that does not exist"),
        "malformed-xml": (lambda p: book(p, HEAD + "<sheetData><row></sheetData>"),
                          "malformed XML"),
        # a relationship target past 4 KiB was once reported as "out of memory"
        "long-target": (lambda p: long_target(p), "relationship target longer than 4096"),
        # expat keeps every distinct name for the parser's life (803 MB for 5.6 MB before the cap)
        "many-names": (lambda p: book(p, HEAD + "".join('<n%d a%d=""/>' % (i, i)
                                                        for i in range(400000))
                                      + "<sheetData/></worksheet>"),
                       "distinct XML element and attribute names"),
        # expat rescans an unfinished tag on every chunk: quadratic time without the cap
        "huge-attribute": (lambda p: book(p, HEAD + '<sheetData><row><c r="A1" x="' + noise(4)
                                          + '"/></row></sheetData></worksheet>'),
                           "longer than the limit"),
        "huge-quoted-gt": (lambda p: book(p, HEAD + '<sheetData><row><c r="A1" x="'
                                          + noise(4).replace("A", ">")
                                          + '"/></row></sheetData></worksheet>'),
                           "longer than the limit"),
        "huge-comment": (lambda p: book(p, HEAD + "<!--" + noise(4) + "--><sheetData/>"
                                        "</worksheet>"),
                         "longer than the limit"),
    }
    failed = 0
    for name, (make, why) in cases.items():
        path = os.path.join(work, "hostile-%s.xlsx" % name)
        # built in a child, so that this process stays small: a child's peak memory counts the
        # pages of the process it was forked from
        pid = os.fork()
        if pid == 0:
            try:
                make(path)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        out = os.path.join(work, "hostile-%s.jsonl" % name)
        code, stderr, peak_mb, secs = run_measured([isynth, "convert", path, out], 60)
        ok = code == 3 and why in stderr and not os.path.exists(out) and peak_mb < 100
        print("%-18s exit %d  %5.1f MB  %5.2f s  %s" % (name, code, peak_mb, secs,
                                                       stderr.strip()[:150]))
        if not ok:
            print("  FAIL: want exit 3, %r and a peak under 100 MB" % why)
            failed += 1
    return 1 if failed else 0


def noise(mib):
    """mib MiB of base64 text that deflate cannot shrink past the zip-bomb ratio."""
    return base64.b64encode(os.urandom(mib * 3 * 256 * 1024)).decode()


def run_measured(cmd, timeout):
    """Runs cmd; returns its exit code, stderr, peak resident memory in MB (from wait4; an
    upper bound, as it counts this small process's pages at the fork) and wall seconds. A run past timeout is killed and counts as exit -9."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return proc.returncode, stderr, usage.ru_maxrss / 1024.0, time.monotonic() - start


REVIEW_HEADER = ["id", "status", "instruction", "input", "output", "verify", "judge",
                 "judge_reason", "seeds", "origin", "nearest", "rouge_l", "flags", "comment"]
OLD_HEADER = ["id", "status", "instruction", "input", "output", "seeds", "nearest", "rouge_l",
              "flags", "comment"]
G3_OUT = "川端康成は1968年にノーベル文学賞を受賞した。1968年の受賞は日本人初。"
# (instruction, output, facts to verify or None, judgement (score, reason, false claims) or None)
REVIEW_ROWS = [
    ("日本の首都は？", "東京です。", ["東京"], (5, "正しい。", [])),
    ("=1+1 を計算して", "2", ["2"], None),
    ("川端康成について一文で", G3_OUT, ["1968年", "ノーベル文学賞", "ノーベル", "日本人初", "無い事実"],
     (2, "受賞年を確認", ["1968年", "日本人初"])),
    ("俳句を作って", "桜咲く\n春の訪れ", None, None),
]
# the emphasised runs of each output: each fact's first occurrence, overlapping facts merged
REVIEW_MARKED = [["東京"], ["2"], ["1968年", "ノーベル文学賞", "日本人初"], []]


def make_run(isynth, work):
    """A run directory whose run.db (schema made by isynth itself) holds REVIEW_ROWS."""
    rundir = os.path.join(work, "run")
    os.makedirs(rundir)
    db = os.path.join(rundir, "run.db")
    sqlite3.connect(db).close()
    p = run([isynth, "export", "--run", rundir, "--xlsx", os.path.join(work, "empty.xlsx")])
    if p.returncode != 0:
        sys.exit("isynth export of an empty run failed (%d): %s" % (p.returncode, p.stderr))
    now = "2026-01-01T00:00:00Z"
    con = sqlite3.connect(db)
    con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('lang', 'ja')")
    con.execute("INSERT INTO requests(id, stage, created_at, status, prompt) "
                "VALUES(1, 1, ?, 'done', 'p')", (now,))
    con.execute("INSERT INTO request_examples(request_id, pos, seed_id) VALUES(1, 0, 1)")
    for i, (ins, out, facts, judged) in enumerate(REVIEW_ROWS, 1):
        con.execute("INSERT INTO candidates(id, request_id, idx, instruction, input, output, "
                    "dedup_key, status, nn_score, created_at, verify) "
                    "VALUES(?, 1, ?, ?, '', ?, ?, 'accepted', -1, ?, ?)",
                    (i, i, ins, out, "k%d" % i, now,
                     None if facts is None else json.dumps(facts, ensure_ascii=False)))
        if judged:
            con.execute("INSERT INTO judgements(candidate_id, score, reason, false_claims, model, "
                        "created_at) VALUES(?, ?, ?, ?, 'm', ?)",
                        (i, judged[0], judged[1], json.dumps(judged[2], ensure_ascii=False), now))
    con.commit()
    con.close()
    return rundir


def isynth_export_review(isynth, rundir, xlsx):
    p = run([isynth, "export", "--run", rundir, "--xlsx", xlsx])
    if p.returncode != 0:
        sys.exit("isynth export failed (%d): %s" % (p.returncode, p.stderr))


def isynth_import(isynth, rundir, xlsx):
    p = run([isynth, "import", "--run", rundir, xlsx])
    if p.returncode != 0:
        sys.exit("isynth import %s failed (%d): %s" % (xlsx, p.returncode, p.stderr))
    return p.stderr.strip()


def review_history(rundir):
    con = sqlite3.connect(os.path.join(rundir, "run.db"))
    out = list(con.execute("SELECT candidate_id, field, old, new FROM review_history ORDER BY id"))
    con.close()
    return out


def emphasised(font):
    return bool(font is not None and font.b and font.color is not None
                and font.color.rgb == "FFC00000")


def check_review_openpyxl(xlsx):
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    wb = openpyxl.load_workbook(xlsx, rich_text=True)
    ws = wb["review"]
    header = [c.value for c in ws[1]]
    if header != REVIEW_HEADER:
        sys.exit("review header %r != %r" % (header, REVIEW_HEADER))
    col = {h: i + 1 for i, h in enumerate(REVIEW_HEADER)}
    for r, (ins, out, facts, judged) in enumerate(REVIEW_ROWS, 2):
        def cell(name):
            return ws.cell(row=r, column=col[name])
        want = "\n".join(facts) if facts else None
        if cell("verify").value != want:
            sys.exit("row %d verify %r != %r" % (r, cell("verify").value, want))
        j = cell("judge")
        if judged:
            if j.data_type != "n" or j.value != judged[0]:
                sys.exit("row %d judge %r (type %r), want the number %d"
                         % (r, j.value, j.data_type, judged[0]))
            reason = judged[1] + ("\nfalse: " + "; ".join(judged[2]) if judged[2] else "")
            if cell("judge_reason").value != reason:
                sys.exit("row %d judge_reason %r != %r" % (r, cell("judge_reason").value, reason))
        elif j.value is not None:
            sys.exit("row %d: judge %r for a row never judged" % (r, j.value))
        if not cell("verify").protection.locked or cell("output").protection.locked:
            sys.exit("row %d: verify should be locked and output editable" % r)
        o = cell("output")
        if isinstance(o.value, CellRichText):
            text = "".join(str(b) for b in o.value)
            marked = [b.text for b in o.value if isinstance(b, TextBlock) and emphasised(b.font)]
            plain = "".join(str(b) for b in o.value
                            if not (isinstance(b, TextBlock) and emphasised(b.font)))
        else:
            text = o.value
            marked = [text] if emphasised(o.font) else []
            plain = "" if marked else text
        if text != out:
            sys.exit("row %d output %r != %r" % (r, text, out))
        if marked != REVIEW_MARKED[r - 2]:
            sys.exit("row %d emphasised runs %r != %r" % (r, marked, REVIEW_MARKED[r - 2]))
        if r == 4 and plain.count("1968年") != 1:
            sys.exit("row 4: the second 1968年 should be plain: %r" % (o.value,))
    if not ws.protection.sheet:
        sys.exit("review sheet not protected")
    letter = openpyxl.utils.get_column_letter
    want_range = "%s2:%s%d" % (letter(col["judge"]), letter(col["judge"]), len(REVIEW_ROWS) + 1)
    rules = []
    for cf in ws.conditional_formatting:
        if str(cf.sqref) == want_range:
            rules += [(x.type, x.operator, x.formula) for x in cf.rules]
    want_rules = [("cellIs", "between", ["1", "2"]), ("cellIs", "between", ["3", "3"]),
                  ("cellIs", "between", ["4", "5"])]
    if sorted(rules) != sorted(want_rules):
        sys.exit("conditional formats on %s: %r, want %r" % (want_range, rules, want_rules))
    if ws.auto_filter.ref != "A1:%s%d" % (letter(len(REVIEW_HEADER)), len(REVIEW_ROWS) + 1):
        sys.exit("autofilter %r" % ws.auto_filter.ref)
    wb.close()


def check_review(isynth, work):
    """The review workbook of a run with facts and judgements, read by openpyxl and LibreOffice,
    and imported after edits in the new and the previous release's column sets."""
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    rundir = make_run(isynth, work)
    xlsx = os.path.join(work, "review.xlsx")
    isynth_export_review(isynth, rundir, xlsx)
    check_review_openpyxl(xlsx)
    print("openpyxl: headers, verify, numeric judge, rich runs, fills and protection as expected")

    # a reviewer's edits: the informational columns are ignored, the status applied
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["review"]
    ws["B2"] = "採用"
    ws["F3"] = "書き換えた事実"
    ws["G4"] = 5
    ws["H4"] = "直した理由"
    edited = os.path.join(work, "edited.xlsx")
    wb.save(edited)
    msg = isynth_import(isynth, rundir, edited)
    hist = review_history(rundir)
    if hist != [(1, "status", "pending", "accepted")]:
        sys.exit("import of edited workbook: history %r (%s)" % (hist, msg))

    # the previous release's columns (no verify, judge, judge_reason), from a fresh export
    isynth_export_review(isynth, rundir, xlsx)
    src = openpyxl.load_workbook(xlsx)["review"]
    old = openpyxl.Workbook()
    ows = old.active
    ows.title = "review"
    idx = [REVIEW_HEADER.index(h) for h in OLD_HEADER]
    for r, row in enumerate(src.iter_rows(values_only=True)):
        vals = [row[i] for i in idx]
        if r == 2:
            vals[OLD_HEADER.index("status")] = "不採用"
            vals[OLD_HEADER.index("comment")] = "古い形式"
        ows.append(vals)
    for row in ows.iter_rows():
        for c in row:
            if isinstance(c.value, str) and c.value.startswith("="):
                c.data_type = "s"  # openpyxl would make it a formula
    oldpath = os.path.join(work, "old-columns.xlsx")
    old.save(oldpath)
    msg = isynth_import(isynth, rundir, oldpath)
    hist = review_history(rundir)[1:]
    want = [(2, "status", "pending", "rejected"), (2, "comment", "", "古い形式")]
    if hist != want:
        sys.exit("import of old-column workbook: history %r != %r (%s)" % (hist, want, msg))
    print("import: edits of verify/judge ignored, old column set imported")

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        print("soffice not found: LibreOffice part skipped")
        return 77
    outdir = os.path.join(work, "lo")
    os.makedirs(outdir, exist_ok=True)
    profile = "file://" + os.path.abspath(os.path.join(work, "lo-profile"))
    latest = os.path.join(work, "latest.xlsx")
    isynth_export_review(isynth, rundir, latest)
    for target in ("csv:Text - txt - csv (StarCalc):44,34,76,1", "xlsx"):
        p = run([soffice, "-env:UserInstallation=" + profile, "--headless", "--calc",
                 "--convert-to", target, "--outdir", outdir, latest], timeout=240)
        if p.returncode != 0:
            sys.exit("soffice %s failed (%d): %s %s" % (target, p.returncode, p.stdout, p.stderr))
    with open(os.path.join(outdir, "latest.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != REVIEW_HEADER:
        sys.exit("LibreOffice header %r" % rows[0])
    for r, (ins, out_text, facts, judged) in enumerate(REVIEW_ROWS, 1):
        got = dict(zip(REVIEW_HEADER, rows[r]))
        if got["output"] != out_text or got["verify"] != ("\n".join(facts) if facts else ""):
            sys.exit("LibreOffice row %d: %r" % (r, got))
        if got["judge"] != (str(judged[0]) if judged else ""):
            sys.exit("LibreOffice row %d judge %r" % (r, got["judge"]))
    # LibreOffice's re-save keeps the emphasis (as shared rich strings; it splits a run where
    # the script changes, "1968" + "年", so adjacent bold runs are joined) and imports unchanged
    resaved = os.path.join(outdir, "latest.xlsx")
    wb = openpyxl.load_workbook(resaved, rich_text=True)
    o = wb["review"].cell(row=4, column=REVIEW_HEADER.index("output") + 1).value
    marked, prev_bold = [], False
    for b in (o if isinstance(o, CellRichText) else []):
        bold = isinstance(b, TextBlock) and b.font is not None and bool(b.font.b)
        if bold and prev_bold:
            marked[-1] += b.text
        elif bold:
            marked.append(b.text)
        prev_bold = bold
    if marked != ["1968年", "ノーベル文学賞", "日本人初"]:
        sys.exit("LibreOffice re-save: emphasised runs %r" % (marked,))
    wb.close()
    n = len(review_history(rundir))
    msg = isynth_import(isynth, rundir, resaved)
    if len(review_history(rundir)) != n:
        sys.exit("re-import of the LibreOffice re-save changed something: %s" % msg)
    print("LibreOffice opened the review workbook (csv equal) and its re-save imports")
    return 0




def wait_for_temporary(work, name, proc):
    """Waits until proc has created its output's temporary (its signal handlers are in place
    by then: a signal that came earlier, on a loaded machine, would find none)."""
    deadline = time.monotonic() + 60
    while not any(name in n and n != name for n in os.listdir(work)):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("%s: no temporary appeared (exit %s)" % (name, proc.returncode))
        time.sleep(0.02)


def check_signals(isynth, work):
    """SIGINT or SIGTERM in the middle of `convert` (a large JSONL to .xlsx) and of `dedup`
    (reading a pipe that is still open): exit 130, no output file and no temporary left."""
    import signal
    big = os.path.join(work, "big.jsonl")
    with open(big, "w", encoding="utf-8") as f:
        for i in range(150000):  # about 8 s to convert on 2 cores: the signal comes long before
            f.write(json.dumps({"instruction": "指示%d" % i, "output": "出力" * 20}) + "\n")
    failed = 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = os.path.join(work, "big-%d.xlsx" % sig)
        p = subprocess.Popen([isynth, "convert", big, out], stderr=subprocess.PIPE)
        wait_for_temporary(work, os.path.basename(out), p)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        # the output, PATH.tmp.PID.HEX, or the .xlsx writer's private .NAME.tmp.XXXXXX directory
        left = [n for n in os.listdir(work) if os.path.basename(out) in n]
        print("convert, signal %d: exit %d, left %s: %s" % (sig, p.returncode, left,
                                                           err.decode().strip()[:120]))
        if p.returncode != 130 or left:
            print("  FAIL: want exit 130 and nothing left")
            failed += 1
    out = os.path.join(work, "dedup.jsonl")
    p = subprocess.Popen([isynth, "dedup", "/dev/stdin", "-o", out, "-q"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for i in range(2000):
        p.stdin.write(('{"instruction": "重複のない指示その%d"}\n' % i).encode())
    p.stdin.flush()
    wait_for_temporary(work, "dedup.jsonl", p)
    time.sleep(0.5)  # dedup is now blocked reading the open pipe
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except BrokenPipeError:
        err = b""
        p.wait(timeout=60)
    left = [n for n in os.listdir(work) if "dedup.jsonl" in n]
    print("dedup, SIGINT on an open pipe: exit %d, left %s: %s"
          % (p.returncode, left, err.decode().strip()[:120]))
    if p.returncode != 130 or left:
        print("  FAIL: want exit 130 and nothing left")
        failed += 1
    return 1 if failed else 0


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    check, isynth, work = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fn = {"readback": check_readback, "openpyxl-in": check_openpyxl_in,
          "libreoffice": check_libreoffice, "datasets": check_datasets,
          "hostile": check_hostile, "review": check_review,
          "signals": check_signals}.get(check)
    if not fn:
        sys.exit(__doc__)
    return fn(isynth, work) or 0


if __name__ == "__main__":
    sys.exit(main())
