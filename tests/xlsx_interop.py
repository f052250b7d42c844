#!/usr/bin/env python3
"""Integration checks for isynth's workbooks against the tools users have: openpyxl reads what
isynth writes, isynth reads what openpyxl and LibreOffice write (including a re-save of its own
workbook after edits), the JSONL loads with Hugging Face `datasets`, and hostile workbooks are
refused by `isynth convert` with exit code 3 and a message naming the reason.

usage: xlsx_interop.py CHECK ISYNTH WORKDIR
CHECK: readback | openpyxl-in | libreoffice | datasets | hostile
Exit 0 = pass, 1 = fail, 77 = skipped (tool missing).
"""
import json
import os
import shutil
import subprocess
import sys
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
    for opts, ro in (((), False), ((), True), (("--level", "9"), False)):
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
    print("openpyxl read back %d rows equal (deflate level 1 and 9)" % len(tricky_rows()))


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
    }
    failed = 0
    for name, (make, why) in cases.items():
        path = os.path.join(work, "hostile-%s.xlsx" % name)
        make(path)
        out = os.path.join(work, "hostile-%s.jsonl" % name)
        p = run([isynth, "convert", path, out], timeout=60)
        ok = p.returncode == 3 and why in p.stderr and not os.path.exists(out)
        print("%-18s exit %d  %s" % (name, p.returncode, p.stderr.strip()[:150]))
        if not ok:
            print("  FAIL: want exit 3 and %r" % why)
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
          "hostile": check_hostile}.get(check)
    if not fn:
        sys.exit(__doc__)
    return fn(isynth, work) or 0


if __name__ == "__main__":
    sys.exit(main())
