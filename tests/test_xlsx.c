/* Unit tests for the workbook writer and reader and the table layer: round trips of hard text,
 * Excel's cell limit, hand-made workbooks in the shapes Excel, LibreOffice and openpyxl write,
 * one test per hostile-workbook refusal, and allocation-failure walks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "isynth/table.h"
#include "isynth/xlsx.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <jansson.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/isynth-test-xlsx-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *repeat(const char *unit, size_t times)
{
    size_t u = strlen(unit);
    char *s = malloc(u * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * u, unit, u);
    s[u * times] = '\0';
    return s;
}

/* ---- round trip ---- */

#define NCOLS 4

static void test_round_trip(void **state)
{
    (void)state;
    char *long_ja = repeat("日本語のテキスト。", 1111); /* 9,999 characters */
    char *long_a = repeat("a", 10000);
    const char *rows[][NCOLS] = {
        {"改行\nあり", "tab\there", "emoji 😀🎉 and CJK 漢字かなカナ", "=SUM(A1:A3)"},
        {"+1", "-minus", "@mention", ""},
        {"", "", "", "only last"},
        {long_ja, long_a, "\r\nCRLF\r", "  leading and trailing  "},
        {"literal _x0041_ and _x005F_", "ctl \x01\x1f", "&<>\"'", "=HYPERLINK(\"x\")"},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    const char *path = tpath("rt.xlsx");
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    const char *status[] = {"pending", "accepted", "edited", "rejected", NULL};
    isynth_xlsx_column cols[NCOLS] = {{.name = "id", .locked = true},
                                      {.name = "status", .choices = status},
                                      {.name = "text", .width = 60, .wrap = true},
                                      {.name = "more", .wrap = true}};
    assert_int_equal(isynth_xlsx_add_sheet(w, "review", cols, NCOLS, &e), ISYNTH_OK);
    for (size_t i = 0; i < nrows; i++)
        assert_int_equal(isynth_xlsx_write_row(w, rows[i], NULL, NCOLS, &e), ISYNTH_OK);
    isynth_xlsx_column rc[2] = {{.name = "key"}, {.name = "value"}};
    assert_int_equal(isynth_xlsx_add_sheet(w, "run", rc, 2, &e), ISYNTH_OK);
    const char *kv[] = {"model", "qwen"};
    assert_int_equal(isynth_xlsx_write_row(w, kv, NULL, 2, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_writer_close(w, &e), ISYNTH_OK);
    assert_int_equal(access(path, F_OK), 0);

    isynth_xlsx_reader *r;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_sheet_count(r), 2);
    assert_string_equal(isynth_xlsx_sheet_name(r, 0), "review");
    assert_string_equal(isynth_xlsx_sheet_name(r, 1), "run");
    assert_int_equal(isynth_xlsx_open_sheet(r, "review", &e), ISYNTH_OK);
    const isynth_xlsx_row *row;
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_non_null(row);
    assert_int_equal(row->row, 1);
    assert_string_equal(row->cells[0], "id");
    for (size_t i = 0; i < nrows; i++) {
        assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
        assert_non_null(row);
        assert_int_equal(row->row, i + 2);
        for (size_t c = 0; c < NCOLS; c++) {
            const char *want = rows[i][c];
            const char *got = c < row->ncells ? row->cells[c] : "";
            size_t glen = c < row->ncells ? row->lens[c] : 0;
            assert_int_equal(glen, strlen(want));
            assert_string_equal(got, want);
        }
    }
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_null(row);
    assert_int_equal(isynth_xlsx_open_sheet(r, "run", &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_string_equal(row->cells[1], "qwen");
    assert_int_equal(isynth_xlsx_open_sheet(r, "nope", &e), ISYNTH_ERR_NOT_FOUND);
    isynth_xlsx_reader_close(r);
    free(long_ja);
    free(long_a);
}

static void test_cell_limit(void **state)
{
    (void)state;
    const char *path = tpath("limit.xlsx");
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    isynth_xlsx_column cols[2] = {{.name = "a"}, {.name = "b"}};
    assert_int_equal(isynth_xlsx_add_sheet(w, "s", cols, 2, &e), ISYNTH_OK);
    char *ok = repeat("x", 32767), *over = repeat("x", 32768);
    char *emoji = repeat("😀", 16384); /* 16,384 code points, 32,768 UTF-16 units */
    const char *r1[] = {"fits", ok};
    assert_int_equal(isynth_xlsx_write_row(w, r1, NULL, 2, &e), ISYNTH_OK);
    const char *r2[] = {"too long", over};
    assert_int_equal(isynth_xlsx_write_row(w, r2, NULL, 2, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "row 3 column B"));
    assert_non_null(strstr(e.msg, "32768"));
    const char *r3[] = {emoji, "x"};
    assert_int_equal(isynth_xlsx_write_row(w, r3, NULL, 2, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "row 3 column A"));
    const char *r4[] = {"bad \xff utf8", "x"};
    assert_int_equal(isynth_xlsx_write_row(w, r4, NULL, 2, &e), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(e.msg, "column A"));
    const char nul[] = {'a', 0, 'b'};
    const char *r5[] = {nul, "x"};
    size_t l5[] = {3, 1};
    assert_int_equal(isynth_xlsx_write_row(w, r5, l5, 2, &e), ISYNTH_ERR_UTF8);
    const char *r6[] = {"after", "errors"};
    assert_int_equal(isynth_xlsx_write_row(w, r6, NULL, 2, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_writer_close(w, &e), ISYNTH_OK);

    isynth_xlsx_reader *r;
    const isynth_xlsx_row *row;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->lens[1], 32767);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->row, 3); /* refused rows left no trace */
    assert_string_equal(row->cells[0], "after");
    isynth_xlsx_reader_close(r);
    free(ok);
    free(over);
    free(emoji);
}

static void test_bad_sheet_name(void **state)
{
    (void)state;
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    const char *path = tpath("badname.xlsx");
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    isynth_xlsx_column c = {.name = "a"};
    assert_int_equal(isynth_xlsx_add_sheet(w, "a/b", &c, 1, &e), ISYNTH_ERR_INVALID);
    isynth_xlsx_writer_free(w);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* ---- typed cells: marks (rich text), numeric columns, conditional fills ---- */

/* The text of one entry of a zip (NUL-terminated, malloc'd). */
static char *zip_text(const char *path, const char *name)
{
    int ze;
    zip_t *za = zip_open(path, ZIP_RDONLY, &ze);
    assert_non_null(za);
    zip_stat_t st;
    assert_int_equal(zip_stat(za, name, 0, &st), 0);
    char *b = malloc(st.size + 1);
    zip_file_t *f = zip_fopen(za, name, 0);
    assert_non_null(f);
    assert_int_equal(zip_fread(f, b, st.size), (zip_int64_t)st.size);
    b[st.size] = '\0';
    zip_fclose(f);
    zip_close(za);
    return b;
}

/* The XML of cell ref ("B2") in a sheet, malloc'd, or NULL when there is no such cell. */
static char *cell_xml(const char *sheet, const char *ref)
{
    char open[32];
    snprintf(open, sizeof open, "<c r=\"%s\"", ref);
    const char *a = strstr(sheet, open);
    if (!a) return NULL;
    const char *z = strstr(a, "</c>"); /* the writer never leaves a cell empty */
    assert_non_null(z);
    size_t n = (size_t)(z - a) + 4;
    char *x = malloc(n + 1);
    memcpy(x, a, n);
    x[n] = '\0';
    return x;
}

static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_marks_numbers_bands(void **state)
{
    (void)state;
    const char *path = tpath("typed.xlsx");
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    const isynth_xlsx_band bands[] = {{.min = 1, .max = 2, .fill = 0xFFC7CE, .font = 0x9C0006},
                                      {.min = 3, .max = 3, .fill = 0xFFEB9C}};
    isynth_xlsx_column cols[3] = {{.name = "text", .wrap = true},
                                  {.name = "n", .numeric = true, .bands = bands, .nbands = 2},
                                  {.name = "plain"}};
    assert_int_equal(isynth_xlsx_add_sheet(w, "s", cols, 3, &e), ISYNTH_OK);
    /* marks: in the middle (multi-byte), at both ends, adjacent (joined), a whole cell; runs
     * holding a literal _xHHHH_, a control character, a leading = and surrounding spaces */
    const char *t1 = "川端康成は1968年にノーベル文学賞を受賞した。";
    const char *y1 = strstr(t1, "1968年"), *n1 = strstr(t1, "ノーベル");
    isynth_xlsx_span m1[] = {{(size_t)(y1 - t1), strlen("1968年")},
                             {(size_t)(n1 - t1), strlen("ノーベル")},
                             {(size_t)(n1 - t1) + strlen("ノーベル"), strlen("文学賞")}};
    const char *t2 = "=SUM(A1) _x0041_ \x01 tail ";
    isynth_xlsx_span m2[] = {{0, 8}, {strlen(t2) - 5, 5}};
    const char *t3 = "2";
    isynth_xlsx_span m3[] = {{0, 1}};
    const char *nums[] = {"3",  "0.50", "-2",    "1e3", "007",
                          "+1", "1.",   "1e400", "abc", "1234567890123456",
                          " 4", "0x10", "inf",   "=1",  ""};
    size_t nnums = sizeof nums / sizeof nums[0];
    for (size_t i = 0; i < nnums; i++) {
        isynth_xlsx_cell row[3] = {{.text = t1, .len = strlen(t1)},
                                   {.text = nums[i], .len = strlen(nums[i])},
                                   {.text = "3", .len = 1}};
        if (i == 0) row[0].marks = m1, row[0].nmarks = 3;
        if (i == 1) row[0] = (isynth_xlsx_cell){t2, strlen(t2), m2, 2};
        if (i == 2) row[0] = (isynth_xlsx_cell){t3, 1, m3, 1};
        assert_int_equal(isynth_xlsx_write_cells(w, row, 3, &e), ISYNTH_OK);
    }
    /* marks out of place are refused, name the cell and leave no partial row */
    isynth_xlsx_span bad[][2] = {
        {{0, 0}, {0, 0}},  /* empty */
        {{5, 2}, {0, 1}},  /* out of order */
        {{0, 4}, {2, 4}},  /* overlapping */
        {{1, 2}, {0, 0}},  /* inside 川 (3 bytes) */
        {{0, 200}, {0, 0}} /* past the end */
    };
    size_t nbad[] = {1, 2, 2, 1, 1};
    for (size_t i = 0; i < 5; i++) {
        isynth_xlsx_cell row[2] = {
            {.text = t1, .len = strlen(t1), .marks = bad[i], .nmarks = nbad[i]},
            {.text = "x", .len = 1}};
        assert_int_equal(isynth_xlsx_write_cells(w, row, 2, &e), ISYNTH_ERR_INVALID);
        assert_non_null(strstr(e.msg, "column A: mark"));
    }
    isynth_xlsx_cell nomarks = {.text = "a", .len = 1, .marks = NULL, .nmarks = 1};
    assert_int_equal(isynth_xlsx_write_cells(w, &nomarks, 1, &e), ISYNTH_ERR_INVALID);
    /* a bad fill is refused before the sheet is touched */
    const isynth_xlsx_band inverted = {.min = 5, .max = 1, .fill = 0xFF0000};
    isynth_xlsx_column badc = {.name = "x", .bands = &inverted, .nbands = 1};
    assert_int_equal(isynth_xlsx_add_sheet(w, "t", &badc, 1, &e), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(e.msg, "conditional fill"));
    assert_int_equal(isynth_xlsx_writer_rows(w), 1 + nnums);
    assert_int_equal(isynth_xlsx_writer_close(w, &e), ISYNTH_OK);

    /* the reader gets the text back: runs joined, numbers as their shortest text */
    const char *want_num[] = {"3",  "0.5",  "-2",    "1000", "007",
                              "+1", "1.",   "1e400", "abc",  "1234567890123456",
                              " 4", "0x10", "inf",   "=1",   ""};
    isynth_xlsx_reader *r;
    const isynth_xlsx_row *row;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    for (size_t i = 0; i < nnums; i++) {
        assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
        assert_non_null(row);
        assert_string_equal(row->cells[0], i == 1 ? t2 : i == 2 ? t3 : t1);
        assert_string_equal(row->ncells > 1 ? row->cells[1] : "", want_num[i]);
        assert_string_equal(row->cells[2], "3");
    }
    isynth_xlsx_reader_close(r);

    /* and the XML says what each cell is */
    char *sheet = zip_text(path, "xl/worksheets/sheet1.xml");
    char *c = cell_xml(sheet, "A2");
    assert_non_null(strstr(c, "t=\"inlineStr\""));
    /* 川端康成は | 1968年 | に | ノーベル文学賞 (two adjacent marks, one run) | を受賞した。 */
    assert_int_equal(count_of(c, "<r>"), 5);
    assert_int_equal(count_of(c, "<b/>"), 2);
    assert_non_null(strstr(c, "<color rgb=\"FFC00000\"/>"));
    assert_non_null(strstr(c, ">ノーベル文学賞</t>"));
    free(c);
    c = cell_xml(sheet, "A3");
    assert_int_equal(count_of(c, "<b/>"), 2);
    assert_non_null(strstr(c, "<t>=SUM(A1)</t>"));        /* text, not a formula */
    assert_non_null(strstr(c, "_x005F_x0041_ _x0001_ ")); /* escaped in its run */
    assert_null(strstr(c, "<f>"));
    free(c);
    c = cell_xml(sheet, "A4"); /* wholly marked: a plain string in the emphasised font */
    assert_null(strstr(c, "<r>"));
    assert_non_null(strstr(c, "<t>2</t>"));
    free(c);
    const char *numeric_refs[] = {"B2", "B3", "B4", "B5"};
    for (size_t i = 0; i < 4; i++) {
        c = cell_xml(sheet, numeric_refs[i]);
        assert_null(strstr(c, " t=\""));
        assert_non_null(strstr(c, "<v>"));
        free(c);
    }
    for (size_t i = 4; i < nnums; i++) {
        char ref[8];
        snprintf(ref, sizeof ref, "B%zu", i + 2);
        c = cell_xml(sheet, ref);
        if (nums[i][0])
            assert_non_null(strstr(c, "t=\"inlineStr\""));
        else
            assert_null(c);
        free(c);
    }
    c = cell_xml(sheet, "C2"); /* "3" in a text column stays text */
    assert_non_null(strstr(c, "t=\"inlineStr\""));
    free(c);
    char want_cf[64];
    snprintf(want_cf, sizeof want_cf, "<conditionalFormatting sqref=\"B2:B%zu\">", nnums + 1);
    assert_non_null(strstr(sheet, want_cf));
    assert_int_equal(count_of(sheet, "<cfRule type=\"cellIs\""), 2);
    free(sheet);
    char *styles = zip_text(path, "xl/styles.xml");
    assert_non_null(strstr(styles, "<dxfs count=\"2\">"));
    assert_non_null(strstr(styles, "FFFFC7CE"));
    free(styles);
}

/* ---- hand-made workbooks ---- */

typedef struct part {
    const char *name;
    const char *data;
    size_t len; /* 0: strlen */
} part;

static const char *CT = "<?xml version=\"1.0\"?><Types "
                        "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
static const char *ROOT_RELS =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
    "Target=\"xl/workbook.xml\"/></Relationships>";
static const char *WB = "<?xml version=\"1.0\"?><workbook "
                        "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
                        "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/"
                        "relationships\"><sheets><sheet name=\"Data\" sheetId=\"1\" "
                        "r:id=\"rId1\"/></sheets></workbook>";
static const char *WB_RELS =
    "<?xml version=\"1.0\"?><Relationships "
    "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
    "Target=\"/xl/worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings\" "
    "Target=\"sharedStrings.xml\"/></Relationships>";

static void make_zip(const char *path, const part *parts, size_t n)
{
    int ze;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
        zip_source_t *s = zip_source_buffer(za, parts[i].data, len, 0);
        assert_non_null(s);
        assert_true(zip_file_add(za, parts[i].name, s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
}

/* A workbook with the standard parts and the given sheet and shared strings. */
static void make_book(const char *path, const char *sheet, const char *sst)
{
    part p[] = {{"[Content_Types].xml", CT, 0},
                {"_rels/.rels", ROOT_RELS, 0},
                {"xl/workbook.xml", WB, 0},
                {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
                {"xl/worksheets/sheet1.xml", sheet, 0},
                {"xl/sharedStrings.xml", sst ? sst : "<sst/>", 0}};
    make_zip(path, p, 6);
}

#define SHEET_HEAD                                                                                 \
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"                                \
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"

static void test_foreign_shapes(void **state)
{
    (void)state;
    /* Shared strings with rich-text runs and Japanese phonetic runs (Excel), inline strings,
     * numbers, booleans, a formula's cached value, missing and out-of-order cells, rows without
     * r attributes, an x: prefix (.NET writers). */
    const char *sst =
        "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/"
        "2006/main\" count=\"3\" uniqueCount=\"3\">"
        "<si><t>id</t></si>"
        "<si><r><rPr><b/></rPr><t>リッチ</t></r><r><t xml:space=\"preserve\"> テキスト</t></r>"
        "</si>"
        "<si><t>東京</t><rPh sb=\"0\" eb=\"2\"><t>トウキョウ</t></rPh><phoneticPr fontId=\"1\"/>"
        "</si></sst>";
    const char *sheet =
        SHEET_HEAD "<sheetData>"
                   "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"inlineStr\"><is>"
                   "<t>name</t></is></c><c r=\"C1\" t=\"inlineStr\"><is><t>n</t></is></c></row>"
                   "<row r=\"3\"><c r=\"C3\"><v>3.5</v></c><c r=\"A3\" t=\"s\"><v>1</v></c></row>"
                   "<row><c t=\"b\"><v>1</v></c><c t=\"s\"><v>2</v></c><c t=\"str\"><f>A1</f>"
                   "<v>x_x000D_y</v></c></row>"
                   "<row r=\"7\"><c r=\"B7\" t=\"e\"><v>#N/A</v></c></row>"
                   "<row r=\"8\"><c r=\"A8\" s=\"1\"/></row>"
                   "</sheetData></worksheet>";
    const char *path = tpath("foreign.xlsx");
    make_book(path, sheet, sst);
    isynth_error e = {0};
    isynth_xlsx_reader *r;
    const isynth_xlsx_row *row;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_string_equal(isynth_xlsx_sheet_name(r, 0), "Data");
    assert_int_equal(isynth_xlsx_open_sheet(r, "Data", &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->ncells, 3);
    assert_string_equal(row->cells[0], "id");
    assert_string_equal(row->cells[1], "name");
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->row, 3);
    assert_int_equal(row->ncells, 3);
    assert_string_equal(row->cells[0], "リッチ テキスト");
    assert_string_equal(row->cells[1], "");
    assert_string_equal(row->cells[2], "3.5");
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->row, 4);
    assert_string_equal(row->cells[0], "TRUE");
    assert_string_equal(row->cells[1], "東京");
    assert_string_equal(row->cells[2], "x\ry");
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->row, 7);
    assert_string_equal(row->cells[1], "#N/A");
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_null(row); /* row 8 has only a styled empty cell */
    isynth_xlsx_reader_close(r);

    /* the same sheet with an x: prefix on every element */
    const char *pref = "<?xml version=\"1.0\"?><x:worksheet "
                       "xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
                       "<x:sheetData><x:row r=\"1\"><x:c r=\"B1\" t=\"inlineStr\"><x:is><x:t>b"
                       "</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>";
    make_book(path, pref, NULL);
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_next_row(r, &row, &e), ISYNTH_OK);
    assert_int_equal(row->ncells, 2);
    assert_string_equal(row->cells[1], "b");
    isynth_xlsx_reader_close(r);
}

/* ---- deflate level ---- */

static unsigned rd16(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8;
}
static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

/* Reads the general-purpose flags of every deflated entry from the zip's central directory and
 * returns their compression-option bits (APPNOTE 4.4.4: 0 normal, 2 maximum, 4 fast, 6 super
 * fast), failing the test if the entries disagree. */
static unsigned deflate_option(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    unsigned char *b = malloc((size_t)n);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    long e = n - 22;
    while (e >= 0 && memcmp(b + e, "PK\5\6", 4))
        e--;
    assert_true(e >= 0);
    uint32_t entries = rd16(b + e + 10), off = rd32(b + e + 16);
    assert_true(off < (uint32_t)e);
    unsigned opt = 99;
    size_t deflated = 0;
    for (uint32_t i = 0; i < entries; i++) {
        assert_memory_equal(b + off, "PK\1\2", 4);
        unsigned flags = rd16(b + off + 8), method = rd16(b + off + 10);
        if (method == 8) {
            if (opt == 99) opt = flags & 6;
            assert_int_equal(flags & 6, opt);
            deflated++;
        }
        off += 46 + rd16(b + off + 28) + rd16(b + off + 30) + rd16(b + off + 32);
    }
    free(b);
    assert_true(deflated >= 5);
    return opt;
}

/* The package is deflated at libxlsxwriter's own level: nothing in isynth reaches underneath the
 * library to change it (the level shows in the flags minizip writes: 0 is zlib's default), and
 * the workbook reads back whole. */
static void test_deflate_level(void **state)
{
    (void)state;
    isynth_error err = {0};
    isynth_xlsx_writer *w;
    assert_int_equal(isynth_xlsx_writer_open(tpath("level.xlsx"), NULL, &w, &err), ISYNTH_OK);
    isynth_xlsx_column cols[2] = {{.name = "id"}, {.name = "text", .wrap = true}};
    assert_int_equal(isynth_xlsx_add_sheet(w, "s", cols, 2, &err), ISYNTH_OK);
    char id[16];
    for (int r = 0; r < 200; r++) {
        snprintf(id, sizeof id, "%d", r);
        const char *row[2] = {id, "日本語のテキストを何度も書く。"};
        assert_int_equal(isynth_xlsx_write_row(w, row, NULL, 2, &err), ISYNTH_OK);
    }
    assert_int_equal(isynth_xlsx_writer_close(w, &err), ISYNTH_OK);
    assert_int_equal(deflate_option(tpath("level.xlsx")), 0);
    isynth_xlsx_reader *r;
    assert_int_equal(isynth_xlsx_reader_open(tpath("level.xlsx"), NULL, &r, &err), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, "s", &err), ISYNTH_OK);
    size_t rows = 0;
    const isynth_xlsx_row *row;
    while (isynth_xlsx_next_row(r, &row, &err) == ISYNTH_OK && row) {
        if (rows++ == 0) continue;
        assert_int_equal(row->ncells, 2);
        assert_string_equal(row->cells[1], "日本語のテキストを何度も書く。");
    }
    assert_int_equal(rows, 201);
    isynth_xlsx_reader_close(r);
}

/* ---- hostile workbooks: each refused with ISYNTH_ERR_XLSX and a message naming why ---- */

static void expect_refused_params(const char *path, const isynth_xlsx_reader_params *p,
                                  const char *why)
{
    isynth_error e = {0};
    isynth_xlsx_reader *r = NULL;
    isynth_err rc = isynth_xlsx_reader_open(path, p, &r, &e);
    if (!rc) {
        rc = isynth_xlsx_open_sheet(r, NULL, &e);
        const isynth_xlsx_row *row;
        while (!rc && !(rc = isynth_xlsx_next_row(r, &row, &e)) && row)
            ;
        isynth_xlsx_reader_close(r);
    }
    if (rc != ISYNTH_ERR_XLSX || !strstr(e.msg, why))
        fail_msg("%s: expected ISYNTH_ERR_XLSX with '%s', got %d: %s", path, why, rc, e.msg);
}

static void expect_refused(const char *path, const char *why)
{
    expect_refused_params(path, NULL, why);
}

static void test_hostile_dtd(void **state)
{
    (void)state;
    const char *path = tpath("dtd.xlsx");
    make_book(path,
              "<?xml version=\"1.0\"?><!DOCTYPE worksheet SYSTEM \"http://example.com/x.dtd\">"
              "<worksheet><sheetData/></worksheet>",
              NULL);
    expect_refused(path, "DTD");
}

static void test_hostile_billion_laughs(void **state)
{
    (void)state;
    const char *lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                      "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
                      "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
                      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
                      "<sst><si><t>&lol3;</t></si></sst>";
    const char *path = tpath("lol.xlsx");
    make_book(path,
              SHEET_HEAD "<sheetData><row><c t=\"s\"><v>0</v></c></row></sheetData></worksheet>",
              lol);
    expect_refused(path, "DTD");
    /* an entity used without a declaration is an XML error, not an expansion */
    make_book(path, SHEET_HEAD "<sheetData><row><c><v>&lol;</v></c></row></sheetData></worksheet>",
              NULL);
    expect_refused(path, "undefined entity");
}

static void test_hostile_depth(void **state)
{
    (void)state;
    char *open = repeat("<a>", 200), *close = repeat("</a>", 200);
    size_t n = strlen(SHEET_HEAD) + strlen(open) + strlen(close) + 32;
    char *x = malloc(n);
    snprintf(x, n, "%s%s%s</worksheet>", SHEET_HEAD, open, close);
    const char *path = tpath("deep.xlsx");
    make_book(path, x, NULL);
    expect_refused(path, "nested deeper");
    free(open);
    free(close);
    free(x);
}

static void test_hostile_entries(void **state)
{
    (void)state;
    const char *path = tpath("many.xlsx");
    size_t n = 10010;
    part *p = calloc(n, sizeof *p);
    char(*names)[32] = calloc(n, 32);
    p[0] = (part){"_rels/.rels", ROOT_RELS, 0};
    for (size_t i = 1; i < n; i++) {
        snprintf(names[i], 32, "junk/%zu", i);
        p[i] = (part){names[i], "x", 0};
    }
    make_zip(path, p, n);
    expect_refused(path, "zip entries");
    free(p);
    free(names);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    /* a 5 MB sheet of blanks compresses over 1000:1 */
    size_t n = 5u << 20;
    char *big = malloc(n + 200);
    size_t h = strlen(SHEET_HEAD);
    memcpy(big, SHEET_HEAD, h);
    memset(big + h, ' ', n);
    strcpy(big + h + n, "<sheetData/></worksheet>");
    const char *path = tpath("bomb.xlsx");
    make_book(path, big, NULL);
    expect_refused(path, "compression ratio");

    isynth_xlsx_reader_params p = isynth_xlsx_reader_params_default();
    p.max_ratio = 1u << 30;
    p.max_entry_bytes = 1u << 20;
    expect_refused_params(path, &p, "over the limit of 1048576");
    p = isynth_xlsx_reader_params_default();
    p.max_ratio = 1u << 30;
    p.max_total_bytes = 2u << 20;
    expect_refused_params(path, &p, "uncompressed in all");
    p = isynth_xlsx_reader_params_default();
    p.max_file_bytes = 1000;
    expect_refused_params(path, &p, "over the limit of 1000");
    free(big);

    /* one cell over the cell cap, shared strings over theirs */
    char *cell = repeat("y", 5000);
    size_t cn = strlen(cell) + 400;
    char *sheet = malloc(cn);
    snprintf(sheet, cn, SHEET_HEAD "<sheetData><row><c><v>%s</v></c></row></sheetData></worksheet>",
             cell);
    make_book(path, sheet, NULL);
    p = isynth_xlsx_reader_params_default();
    p.max_cell_bytes = 4096;
    expect_refused_params(path, &p, "a cell's text");
    snprintf(sheet, cn, "<sst><si><t>%s</t></si><si><t>%s</t></si></sst>", cell, cell);
    make_book(path, SHEET_HEAD "<sheetData/></worksheet>", sheet);
    p = isynth_xlsx_reader_params_default();
    p.max_strings_bytes = 6000;
    expect_refused_params(path, &p, "shared strings over");
    free(cell);
    free(sheet);
}

static void test_hostile_malformed(void **state)
{
    (void)state;
    const char *path = tpath("bad.xlsx");
    FILE *f = fopen(path, "wb");
    fputs("this is not a zip file", f);
    fclose(f);
    expect_refused(path, "not a readable .xlsx");

    part p[] = {{"hello.txt", "hi", 0}};
    make_zip(path, p, 1);
    expect_refused(path, "not an .xlsx workbook");

    make_book(path,
              SHEET_HEAD "<sheetData><row><c t=\"s\"><v>7</v></c></row></sheetData>"
                         "</worksheet>",
              NULL);
    expect_refused(path, "shared string that does not exist");
    make_book(path, SHEET_HEAD "<sheetData><row><c><v>1</v></row></sheetData></worksheet>", NULL);
    expect_refused(path, "malformed XML at line 1");
    make_book(path, SHEET_HEAD "<sheetData><row r=\"5\"/><row r=\"2\"/></sheetData></worksheet>",
              NULL);
    expect_refused(path, "out of order");
    make_book(path,
              SHEET_HEAD "<sheetData><row><c r=\"ZZZZ1\"><v>1</v></c></row></sheetData>"
                         "</worksheet>",
              NULL);
    expect_refused(path, "bad cell reference");
    make_book(path, SHEET_HEAD "<sheetData><row><c><v>\xff</v></c></row></sheetData></worksheet>",
              NULL);
    expect_refused(path, "malformed XML");
}

/* ---- tables ---- */

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    char *s;
    size_t n;
    isynth_error e;
    if (read_file_limited(path, 1 << 20, &s, &n, &e)) return NULL;
    char *c = strdup(s);
    isynth_free(s);
    return c;
}

static void test_table_round_trip(void **state)
{
    (void)state;
    const char *jsonl = "{\"instruction\":\"=1+1\",\"output\":\"改行\\nタブ\\t😀\"}\n"
                        "\n"
                        "{\"output\":\"only output\",\"score\":0.5,\"tags\":[\"a\",\"b\"],"
                        "\"ok\":true,\"none\":null}\n";
    const char *in = tpath("t.jsonl"), *x = tpath("t.xlsx"), *c = tpath("t.csv"),
               *back = tpath("back.jsonl");
    write_file(in, jsonl);
    isynth_error e = {0};
    size_t rows;
    assert_int_equal(isynth_table_convert(in, x, NULL, NULL, &rows, &e), ISYNTH_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(isynth_table_convert(x, c, NULL, NULL, &rows, &e), ISYNTH_OK);
    assert_int_equal(isynth_table_convert(c, back, NULL, NULL, &rows, &e), ISYNTH_OK);
    char *got = slurp(back);
    assert_string_equal(got, "{\"instruction\":\"=1+1\",\"output\":\"改行\\nタブ\\t😀\","
                             "\"score\":\"\",\"tags\":\"\",\"ok\":\"\",\"none\":\"\"}\n"
                             "{\"instruction\":\"\",\"output\":\"only output\",\"score\":\"0.5\","
                             "\"tags\":\"[\\\"a\\\",\\\"b\\\"]\",\"ok\":\"true\",\"none\":\"\"}\n");
    free(got);
    got = slurp(c);
    assert_string_equal(got, "instruction,output,score,tags,ok,none\r\n"
                             "'=1+1,\"改行\nタブ\t😀\",,,,\r\n"
                             ",only output,0.5,\"[\"\"a\"\",\"\"b\"\"]\",true,\r\n");
    free(got);
}

/* The JSONL first pass reads only top-level keys with a byte scan: brackets, commas and quotes
 * inside strings and nested values must not confuse it, an escaped key falls back to a full
 * parse, and a broken line is still reported with its line number. */
static void test_jsonl_key_scan(void **state)
{
    (void)state;
    const char *path = tpath("keys.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"a\": \"x,}{\\\"\", \"b\": {\"c\": [1, \"]\", {\"z\": 2}]}}\n"
          "\n"
          "{\"b\\u0041\": 1, \"a\": \"y\"}\n"
          "  {\"d\" : null , \"e\":[ ] }  \n",
          f);
    fclose(f);
    isynth_table_reader *r;
    isynth_error e;
    assert_int_equal(isynth_table_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    const char *want[] = {"a", "b", "bA", "d", "e"};
    assert_int_equal(isynth_table_ncols(r), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(isynth_table_col_name(r, i), want[i]);
    const char *const *cells;
    const size_t *lens;
    assert_int_equal(isynth_table_next(r, &cells, &lens, &e), ISYNTH_OK);
    assert_string_equal(cells[0], "x,}{\"");
    isynth_table_reader_close(r);

    write_file(path, "{\"a\": 1}\n{\"a\": \"unterminated}\n");
    assert_int_equal(isynth_table_reader_open(path, NULL, &r, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "keys.jsonl:2: truncated JSON"));

    /* keys jansson refuses are refused by the fast scan too, as what they are (an invalid
     * UTF-8 key was once "out of memory", a raw control byte accepted); the line reader checks
     * every line's UTF-8 before the scan sees it */
    write_file(path, "{\"a\": 1}\n{\"k\xff\": 1}\n");
    assert_int_equal(isynth_table_reader_open(path, NULL, &r, &e), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(e.msg, ":2: invalid UTF-8 (byte 0xFF) at byte 4 of the line"));
    write_file(path, "{\"k\x01\": 1}\n");
    assert_int_equal(isynth_table_reader_open(path, NULL, &r, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, ":1: a key holds control character 0x01"));
}

/* The JSONL reader decodes plain lines itself and hands the rest to jansson: both paths must
 * give the same cells. Each line's expected cells come from jansson on that line alone. */
static void test_jsonl_fast_path_equals_jansson(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "{\"a\": \"plain 日本語\", \"b\": null}",
        "{\"a\":\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t end\",\"b\":\"\"}",
        "{\"a\": \"\\u3042\\u00e9\\u0041\\uFFFD\", \"b\": \"x\"}",
        "{\"a\": \"\\ud83d\\ude00 surrogate pair\"}",
        "{\"b\": 12.50, \"a\": true}",
        "{\"a\": [1, {\"k\": \"v\"}], \"b\": {\"z\": null}}",
        "  { \"a\" : \"spaces\" , \"b\" : null }  ",
        "{}",
        "{\"a\": \"emoji 😀 and ＡＢＣ\"}",
    };
    const char *path = tpath("fast.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    isynth_table_reader *r;
    isynth_error e;
    assert_int_equal(isynth_table_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_table_ncols(r), 2);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *const *cells;
        const size_t *lens;
        assert_int_equal(isynth_table_next(r, &cells, &lens, &e), ISYNTH_OK);
        assert_non_null(cells);
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        for (size_t c = 0; c < 2; c++) {
            json_t *v = json_object_get(o, isynth_table_col_name(r, c));
            char *want = NULL;
            if (json_is_string(v))
                want = strdup(json_string_value(v));
            else if (v && !json_is_null(v))
                want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            assert_int_equal(lens[c], want ? strlen(want) : 0);
            assert_string_equal(cells[c], want ? want : "");
            free(want);
        }
        json_decref(o);
    }
    isynth_table_reader_close(r);

    /* lines jansson must refuse are still refused, with their line */
    static const char *const bad[] = {
        "{\"a\": \"x\", \"a\": \"y\"}", /* duplicate key */
        "{\"a\": null, \"a\": \"y\"}",  /* duplicate key after a null (the fast path once
                                             took the second) */
        "{\"a\": \"x\", \"a\": null}",  /* and before one */
        "{\"a\": \"nul \\u0000\"}",     /* NUL */
        "{\"a\": \"lone \\ud800\"}",    /* lone surrogate */
        "{\"a\": \"raw\ttab\"}",        /* raw control character */
        "{\"a\": \"bad \\q\"}",         /* unknown escape */
        "{\"a\": \"\xff\"}",            /* invalid UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "{\"a\": \"ok\"}\n%s\n", bad[i]);
        fclose(f);
        isynth_err rc = isynth_table_reader_open(path, NULL, &r, &e);
        if (rc == ISYNTH_OK) {
            const char *const *cells;
            const size_t *lens;
            assert_int_equal(isynth_table_next(r, &cells, &lens, &e), ISYNTH_OK);
            rc = isynth_table_next(r, &cells, &lens, &e);
            isynth_table_reader_close(r);
        }
        assert_int_not_equal(rc, ISYNTH_OK);
        assert_non_null(strstr(e.msg, "fast.jsonl:2: "));
    }
}

/* Opens path and reads every row; the first error. */
static isynth_err read_all(const char *path, isynth_error *e)
{
    isynth_table_reader *r = NULL;
    isynth_err rc = isynth_table_reader_open(path, NULL, &r, e);
    if (rc) return rc;
    const char *const *cells;
    const size_t *lens;
    do {
        cells = NULL;
        rc = isynth_table_next(r, &cells, &lens, e);
    } while (!rc && cells);
    isynth_table_reader_close(r);
    return rc;
}

/* Writes text to path and reads it whole: it must be read, or refused with refusal in the
 * message when refusal is non-NULL. */
static void expect_read(const char *path, const char *text, const char *refusal)
{
    isynth_error e;
    write_file(path, text);
    isynth_err rc = read_all(path, &e);
    if (!refusal) {
        assert_int_equal(rc, ISYNTH_OK);
        return;
    }
    assert_int_equal(rc, ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, refusal));
}

/* A JSON line is held to JSON_MAX_VALUES values and JSON_MAX_DEPTH levels before jansson
 * builds it (a 60 MB line of [{},{},...] once took 4.8 GB); a line at the limits is read. */
static void test_jsonl_limits(void **state)
{
    (void)state;
    const char *path = tpath("limits.jsonl");
    size_t cap = 70000 * 3 + 64;
    char *line = malloc(cap);
    assert_non_null(line);
    for (int over = 0; over < 2; over++) {
        /* {"a":"x","b":[{},{},...]}: brackets and commas, 1 + 1 + 1 + 2 * items - 1 */
        size_t items = over ? 32768 : 32767, n = 0;
        n += (size_t)sprintf(line + n, "{\"a\":\"x\",\"b\":[");
        for (size_t i = 0; i < items; i++)
            n += (size_t)sprintf(line + n, i ? ",{}" : "{}");
        sprintf(line + n, "]}\n");
        expect_read(path, line,
                    over ? "limits.jsonl:1: more than the limit of 65536 JSON values" : NULL);
    }
    for (int over = 0; over < 2; over++) {
        size_t depth = over ? 64 : 63, n = 0; /* the object itself is one level */
        n += (size_t)sprintf(line + n, "{\"a\":\"x\",\"b\":");
        for (size_t i = 0; i < depth; i++)
            line[n++] = '[';
        for (size_t i = 0; i < depth; i++)
            line[n++] = ']';
        sprintf(line + n, "}\n");
        expect_read(path, line, over ? "limits.jsonl:1: nested deeper than the limit of 64" : NULL);
    }
    free(line);
}

static void test_table_errors(void **state)
{
    (void)state;
    isynth_error e = {0};
    const char *in = tpath("e.jsonl"), *out = tpath("e.csv");
    write_file(in, "{\"a\":\"1\"}\n{\"a\":\n");
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "e.jsonl:2: truncated JSON"));
    assert_int_not_equal(access(out, F_OK), 0);
    write_file(in, "{\"a\":\"1\"}\n[1]\n");
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "e.jsonl:2: expected a JSON object, found an array"));

    const char *csv = tpath("e.csv"), *o2 = tpath("e2.jsonl");
    write_file(csv, "a,b\n1,2\n\"unterminated,3\n");
    assert_int_equal(isynth_table_convert(csv, o2, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "e.csv:3: field 'a': unterminated quoted field"));
    write_file(csv, "a,a\n1,2\n");
    assert_int_equal(isynth_table_convert(csv, o2, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "appears twice"));
    write_file(csv, "a,b\n1,2\n\"multi\nline\",x\n1,2,3\n");
    assert_int_equal(isynth_table_convert(csv, o2, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "e.csv:5: 3 fields, but the header has 2 columns"));
    write_file(csv, "a,b\n1,\xff\n");
    assert_int_equal(isynth_table_convert(csv, o2, NULL, NULL, NULL, &e), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(e.msg, "e.csv:2: field 'b': invalid UTF-8 (byte 0xFF)"));
    assert_int_not_equal(access(o2, F_OK), 0);

    /* a 32,768-character value cannot go into a workbook: refused, naming the input line */
    char *big = repeat("x", 32768);
    size_t n = strlen(big) + 32;
    char *s = malloc(n);
    snprintf(s, n, "a,b\nok,1\n%s,2\n", big);
    write_file(csv, s);
    const char *xo = tpath("e.xlsx");
    assert_int_equal(isynth_table_convert(csv, xo, NULL, NULL, NULL, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "e.csv:3: "));
    assert_non_null(strstr(e.msg, "column A"));
    assert_int_not_equal(access(xo, F_OK), 0);
    free(big);
    free(s);
    assert_int_equal(isynth_table_convert(csv, tpath("x.txt"), NULL, NULL, NULL, &e),
                     ISYNTH_ERR_INVALID);
}

/* ---- allocation failures: every failing allocation gives an error, leaks nothing and leaves
 * no output file ---- */

static isynth_err write_and_read(const char *path)
{
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    isynth_err rc = isynth_xlsx_writer_open(path, NULL, &w, &e);
    if (rc) return rc;
    const char *ch[] = {"a", "b", NULL};
    const isynth_xlsx_band band = {.min = 1, .max = 2, .fill = 0xFFC7CE};
    isynth_xlsx_column cols[4] = {{.name = "id", .locked = true},
                                  {.name = "s", .choices = ch},
                                  {.name = "t", .wrap = true},
                                  {.name = "n", .numeric = true, .bands = &band, .nbands = 1}};
    const char *row[] = {"1", "a", "_x0041_ テキスト\n改行", "2"};
    const char *t = "_x0041_ テキスト\n改行";
    const isynth_xlsx_span marks[] = {{0, 7}, {8, 3}};
    isynth_xlsx_cell cells[4] = {
        {"2", 1, NULL, 0}, {"b", 1, NULL, 0}, {t, strlen(t), marks, 2}, {"1.5", 3, NULL, 0}};
    if ((rc = isynth_xlsx_add_sheet(w, "review", cols, 4, &e)) ||
        (rc = isynth_xlsx_write_row(w, row, NULL, 4, &e)) ||
        (rc = isynth_xlsx_write_cells(w, cells, 4, &e))) {
        isynth_xlsx_writer_free(w);
        return rc;
    }
    if ((rc = isynth_xlsx_writer_close(w, &e))) return rc;
    isynth_xlsx_reader *r;
    if ((rc = isynth_xlsx_reader_open(path, NULL, &r, &e))) return rc;
    const isynth_xlsx_row *rr;
    size_t n = 0;
    if (!(rc = isynth_xlsx_open_sheet(r, NULL, &e)))
        while (!(rc = isynth_xlsx_next_row(r, &rr, &e)) && rr)
            n++;
    isynth_xlsx_reader_close(r);
    if (!rc && n != 3) rc = ISYNTH_ERR_INVALID;
    return rc;
}

static void test_alloc_fail_xlsx(void **state)
{
    (void)state;
    const char *path = tpath("af.xlsx");
    isynth_alloc_fail_at(0, false);
    assert_int_equal(write_and_read(path), ISYNTH_OK);
    long total = isynth_alloc_fail_at(0, false);
    assert_true(total > 10);
    remove(path);
    for (long n = 1; n <= total; n++) {
        isynth_alloc_fail_at(n, false);
        isynth_err rc = write_and_read(path);
        isynth_alloc_fail_at(0, false);
        if (rc == ISYNTH_OK) {
            remove(path);
            continue;
        }
        assert_true(rc == ISYNTH_ERR_NOMEM);
        remove(path);
    }
    char tmpglob[600];
    snprintf(tmpglob, sizeof tmpglob, "ls %s/af.xlsx.tmp.* >/dev/null 2>&1", tmpdir);
    assert_int_not_equal(system(tmpglob), 0);
}

static void test_alloc_fail_table(void **state)
{
    (void)state;
    const char *in = tpath("af.csv"), *mid = tpath("af.jsonl"), *out = tpath("af2.xlsx");
    write_file(in, "a,b\n\"x\ny\",=1\n,z\n");
    isynth_error e = {0};
    isynth_alloc_fail_at(0, false);
    assert_int_equal(isynth_table_convert(in, mid, NULL, NULL, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_table_convert(mid, out, NULL, NULL, NULL, &e), ISYNTH_OK);
    long total = isynth_alloc_fail_at(0, false);
    for (long n = 1; n <= total; n++) {
        remove(mid);
        remove(out);
        isynth_alloc_fail_at(n, false);
        isynth_err rc = isynth_table_convert(in, mid, NULL, NULL, NULL, &e);
        if (!rc) rc = isynth_table_convert(mid, out, NULL, NULL, NULL, &e);
        isynth_alloc_fail_at(0, false);
        if (rc) {
            assert_int_equal(rc, ISYNTH_ERR_NOMEM);
            assert_int_not_equal(access(out, F_OK), 0);
        }
    }
}

/* Wide CSV headers: more columns than a sheet can hold is refused while the row is read (a
 * 64 MiB row of commas once took 2 GB, 300,000 names did not finish in 60 s), and repeated
 * names are found by sorting, not by comparing every pair. */
static void test_csv_wide_header(void **state)
{
    (void)state;
    const char *in = tpath("wide.csv"), *out = tpath("wide.jsonl");
    size_t n = 20000;
    char *line = malloc(n * 8 + 16);
    assert_non_null(line);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(line + len, "%sc%zu", i ? "," : "", i);
    strcpy(line + len, "\n1\n");
    write_file(in, line);
    isynth_error e = {0};
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "more than 16384 columns in a record"));
    /* 16,000 names, the last one a repeat of the sixth */
    len = 0;
    for (size_t i = 0; i < 16000; i++)
        len += (size_t)sprintf(line + len, "%sc%zu", i ? "," : "", i);
    strcpy(line + len, ",c5\n1\n");
    write_file(in, line);
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "header name 'c5' appears twice"));
    free(line);
    assert_int_not_equal(access(out, F_OK), 0);
}

/* Every writer's temporary is new and exclusive: a symlink planted at the name the writers
 * once used ("<out>.tmp.<pid>", this process's pid, since the conversion runs in it) is never
 * followed, the file it points to is untouched, and no temporary is left behind. */
static void test_temp_symlink(void **state)
{
    (void)state;
    const char *outs[] = {"s.csv", "s.jsonl", "s.xlsx"};
    const char *in = tpath("s_in.jsonl"), *victim = tpath("victim.txt");
    write_file(in, "{\"a\":\"1\"}\n{\"a\":\"2\"}\n");
    for (size_t k = 0; k < 3; k++) {
        write_file(victim, "precious");
        char out[300], trap[340];
        snprintf(out, sizeof out, "%s", tpath(outs[k]));
        snprintf(trap, sizeof trap, "%s.tmp.%ld", out, (long)getpid());
        assert_int_equal(symlink(victim, trap), 0);
        isynth_error e = {0};
        assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_OK);
        char *v = slurp(victim);
        assert_string_equal(v, "precious");
        free(v);
        struct stat st;
        assert_int_equal(lstat(out, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(unlink(trap), 0);
        /* nothing else beside the output: no temporary, no private directory */
        DIR *d = opendir(tmpdir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)))
            assert_null(strstr(de->d_name, ".tmp"));
        closedir(d);
    }
    /* a failed conversion leaves nothing either */
    write_file(in, "{\"a\":\"1\"}\n{\"a\":\n");
    isynth_error e = {0};
    assert_int_equal(isynth_table_convert(in, tpath("f.xlsx"), NULL, NULL, NULL, &e),
                     ISYNTH_ERR_PARSE);
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        assert_null(strstr(de->d_name, ".tmp"));
        assert_null(strstr(de->d_name, "f.xlsx"));
    }
    closedir(d);
}

/* A writer killed mid-write leaves PATH.tmp.PID.HEX behind; the next write of PATH removes it
 * when that process is gone, and leaves a live writer's temporary, other names and what a
 * symlink points to alone. */
static void test_temp_sweep(void **state)
{
    (void)state;
    const char *in = tpath("w_in.jsonl"), *out = tpath("w.jsonl"), *victim = tpath("w_victim");
    write_file(in, "{\"a\":\"1\"}\n");
    write_file(victim, "precious");
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0) _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    char stale[300], link[300], live[300], other[300];
    snprintf(stale, sizeof stale, "%s.tmp.%ld.0badcafe", out, (long)dead);
    snprintf(link, sizeof link, "%s.tmp.%ld.0badbeef", out, (long)dead);
    snprintf(live, sizeof live, "%s.tmp.%ld.0badcafe", out, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.%ld.notahexx", out, (long)dead);
    write_file(stale, "{\"a\":\"torn");
    assert_int_equal(symlink(victim, link), 0);
    write_file(live, "being written");
    write_file(other, "x");
    isynth_error e = {0};
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_OK);
    struct stat st;
    assert_int_not_equal(lstat(stale, &st), 0);
    assert_int_not_equal(lstat(link, &st), 0);
    char *v = slurp(victim);
    assert_string_equal(v, "precious");
    free(v);
    assert_int_equal(lstat(live, &st), 0);
    assert_int_equal(lstat(other, &st), 0);
    unlink(live);
    unlink(other);
}

/* CSV output: cells a spreadsheet would run as formulas get a leading ' unless raw formulas
 * are asked for; other cells, and the JSONL output, are untouched. */
static void test_csv_formulas(void **state)
{
    (void)state;
    isynth_error e = {0};
    const char *in = tpath("f.jsonl"), *out = tpath("f.csv");
    write_file(in, "{\"a\":\"=HYPERLINK(\\\"http://x\\\",\\\"y\\\")\",\"b\":\"+1+1\"}\n"
                   "{\"a\":\"@SUM(A1)\",\"b\":\"-2\"}\n"
                   "{\"a\":\"\\tx\",\"b\":\"a=b\"}\n"
                   "{\"a\":\"'=quoted\",\"b\":\"'tis\"}\n");
    assert_int_equal(isynth_table_convert(in, out, NULL, NULL, NULL, &e), ISYNTH_OK);
    char *got = slurp(out);
    assert_string_equal(got, "a,b\r\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+1+1\r\n"
                             "'@SUM(A1),'-2\r\n'\tx,a=b\r\n''=quoted,''tis\r\n");
    free(got);
    /* isynth reads its own quote back off: the round trip gives the original cells */
    const char *back = tpath("f2.jsonl");
    assert_int_equal(isynth_table_convert(out, back, NULL, NULL, NULL, &e), ISYNTH_OK);
    char *orig = slurp(in);
    got = slurp(back);
    assert_string_equal(got, orig);
    free(got);
    free(orig);
    isynth_table_writer_params wp = isynth_table_writer_params_default();
    wp.csv_raw_formulas = true;
    assert_int_equal(isynth_table_convert(in, out, NULL, &wp, NULL, &e), ISYNTH_OK);
    got = slurp(out);
    assert_string_equal(got, "a,b\r\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",+1+1\r\n"
                             "@SUM(A1),-2\r\n\tx,a=b\r\n'=quoted,'tis\r\n");
    free(got);
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1; /* the dependencies' allocations go through ours */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_cell_limit),
        cmocka_unit_test(test_bad_sheet_name),
        cmocka_unit_test(test_foreign_shapes),
        cmocka_unit_test(test_hostile_dtd),
        cmocka_unit_test(test_hostile_billion_laughs),
        cmocka_unit_test(test_hostile_depth),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_hostile_malformed),
        cmocka_unit_test(test_table_round_trip),
        cmocka_unit_test(test_jsonl_limits),
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_jsonl_key_scan),
        cmocka_unit_test(test_jsonl_fast_path_equals_jansson),
        cmocka_unit_test(test_alloc_fail_xlsx),
        cmocka_unit_test(test_alloc_fail_table),
        cmocka_unit_test(test_deflate_level),
        cmocka_unit_test(test_temp_sweep),
        cmocka_unit_test(test_csv_formulas),
        cmocka_unit_test(test_temp_symlink),
        cmocka_unit_test(test_csv_wide_header),
        cmocka_unit_test(test_marks_numbers_bands),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
