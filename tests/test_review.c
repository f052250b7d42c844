/* Unit tests for the review round trip: export a run's workbook, edit it as a reviewer would,
 * import it (twice: the second time changes nothing), refuse bad workbooks without applying
 * anything, and export the reviewed dataset in both shapes. The workbook's facts to verify
 * (listed, and emphasised in the output as rich text) and judge columns (a number with
 * conditional fills) are checked in the sheet XML, and import ignores them, also in a workbook of
 * the previous release without them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crash.h"
#include "internal.h"
#include "isynth/review.h"
#include "isynth/xlsx.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

/* The review sheet's columns: id status instruction input output verify judge judge_reason seeds
 * origin nearest rouge_l flags comment. */
#define NC 14
enum {
    ID,
    STATUS,
    INSTR,
    INPUT,
    OUTPUT,
    VERIFY,
    JUDGE,
    JREASON,
    SEEDS,
    ORIGIN,
    NEAREST,
    ROUGE,
    FLAGS,
    COMMENT
};
static const char *HEADERS[NC] = {"id",      "status",  "instruction",  "input",  "output",
                                  "verify",  "judge",   "judge_reason", "seeds",  "origin",
                                  "nearest", "rouge_l", "flags",        "comment"};
/* The columns of the previous release's workbook. */
static const size_t OLD_COLS[] = {ID,    STATUS,  INSTR, INPUT, OUTPUT,
                                  SEEDS, NEAREST, ROUGE, FLAGS, COMMENT};

static const char *G5_OUT = "川端康成は1968年にノーベル文学賞を受賞した。1968年の受賞は日本人初。";

static char dir[256];
#include "rundb.h" /* after dir */

static isynth_store *make_run(void)
{
    snprintf(dir, sizeof dir, "/tmp/isynth-test-review-XXXXXX");
    assert_non_null(mkdtemp(dir));
    isynth_store *st;
    isynth_error e = {0};
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "lang", "ja", &e), ISYNTH_OK);
    isynth_request_rec rq = {.stage = 1,
                             .status = ISYNTH_REQ_DONE,
                             .examples = (const char *const[]){"s1", "s2"},
                             .n_examples = 2,
                             .prompt = "p",
                             .response = "r",
                             .response_len = 1};
    long long req;
    assert_int_equal(isynth_store_add_request(st, &rq, &req, &e), ISYNTH_OK);
    const char *texts[][3] = {{"日本の首都は？", "", "東京です。"},
                              {"=1+1 を計算して", "", "2"},
                              {"俳句を作って", "桜", "桜咲く\n春の訪れ\n待ちわびて"}};
    /* g1 one fact, g2 a fact that is the whole output, g3 an older row without facts */
    const char *verify[] = {"[\"東京\"]", "[\"2\"]", NULL};
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        isynth_candidate_rec c = {.request_id = req,
                                  .idx = i,
                                  .instruction = texts[i][0],
                                  .input = texts[i][1],
                                  .output = texts[i][2],
                                  .dedup_key = key,
                                  .status = ISYNTH_CAND_ACCEPTED,
                                  .nn_ref = i ? "g1" : NULL,
                                  .nn_score = i ? 0.25 : -1,
                                  .verify = verify[i]};
        long long id;
        assert_int_equal(isynth_store_add_candidate(st, &c, &id, &e), ISYNTH_OK);
    }
    isynth_candidate_rec rj = {.request_id = req,
                               .idx = 3,
                               .instruction = "短すぎ",
                               .input = "",
                               .output = "",
                               .dedup_key = "k3",
                               .status = ISYNTH_CAND_REJECTED,
                               .reason = "length"};
    long long id;
    assert_int_equal(isynth_store_add_candidate(st, &rj, &id, &e), ISYNTH_OK);
    /* g5: facts repeated, overlapping and one no longer in the output */
    isynth_candidate_rec c5 = {.request_id = req,
                               .idx = 4,
                               .instruction = "川端康成について一文で",
                               .input = "",
                               .output = G5_OUT,
                               .dedup_key = "k5",
                               .status = ISYNTH_CAND_ACCEPTED,
                               .nn_score = -1,
                               .verify = "[\"1968年\",\"ノーベル文学賞\",\"ノーベル\",\"日本人初\","
                                         "\"存在しない\"]"};
    assert_int_equal(isynth_store_add_candidate(st, &c5, &id, &e), ISYNTH_OK);
    assert_int_equal(id, 5);
    isynth_judgement_rec j[] = {
        {.candidate_id = 1, .score = 5, .reason = "正しい。", .model = "m"},
        {.candidate_id = 2, .score = 0, .model = "m", .error = "timeout"},
        {.candidate_id = 5,
         .score = 2,
         .reason = "受賞年を確認",
         .false_claims = "[\"1968年\",\"日本人初\"]",
         .model = "m"},
    };
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(isynth_store_put_judgement(st, &j[k], &e), ISYNTH_OK);
    return st;
}

/* Reads sheet "review" of path into rows[r][c] (strdup'd), returns the row count. */
static size_t read_review(const char *path, char *rows[8][NC])
{
    isynth_error e = {0};
    isynth_xlsx_reader *r;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, "review", &e), ISYNTH_OK);
    const isynth_xlsx_row *row;
    size_t n = 0;
    while (!isynth_xlsx_next_row(r, &row, &e) && row && n < 8) {
        for (size_t c = 0; c < NC; c++)
            rows[n][c] = strdup(c < row->ncells ? row->cells[c] : "");
        n++;
    }
    isynth_xlsx_reader_close(r);
    return n;
}

/* Writes rows[0..n) (rows[0] the header) as sheet "review", the columns listed in pick (NULL:
 * the first ncols). */
static void write_picked(const char *path, char *rows[8][NC], size_t n, const size_t *pick,
                         size_t ncols)
{
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    isynth_xlsx_column cols[NC];
    const char *cells[NC];
    for (size_t c = 0; c < ncols; c++)
        cols[c] = (isynth_xlsx_column){.name = rows[0][pick ? pick[c] : c]};
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_add_sheet(w, "review", cols, ncols, &e), ISYNTH_OK);
    for (size_t i = 1; i < n; i++) {
        for (size_t c = 0; c < ncols; c++)
            cells[c] = rows[i][pick ? pick[c] : c];
        assert_int_equal(isynth_xlsx_write_row(w, cells, NULL, ncols, &e), ISYNTH_OK);
    }
    assert_int_equal(isynth_xlsx_writer_close(w, &e), ISYNTH_OK);
}

static void write_review(const char *path, char *rows[8][NC], size_t n, size_t ncols)
{
    write_picked(path, rows, n, NULL, ncols);
}

static void free_rows(char *rows[8][NC])
{
    for (size_t i = 0; i < 8; i++)
        for (size_t c = 0; c < NC; c++)
            free(rows[i][c]);
}

static void remove_run(isynth_store *st)
{
    isynth_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static long count(isynth_store *st, const char *sql)
{
    (void)st;
    return q(sql);
}

static void set(char **cell, const char *v)
{
    free(*cell);
    *cell = strdup(v);
}

static void test_round_trip(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    char path[300], edited[300], out[300];
    snprintf(path, sizeof path, "%s/review.xlsx", dir);
    snprintf(edited, sizeof edited, "%s/edited.xlsx", dir);
    size_t n;
    assert_int_equal(isynth_review_export_xlsx(st, path, false, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 4);
    char *rows[8][NC] = {{0}};
    size_t nr = read_review(path, rows);
    assert_int_equal(nr, 5);
    assert_string_equal(rows[0][0], "id");
    assert_string_equal(rows[1][0], "g1");
    assert_string_equal(rows[1][STATUS], "未確認");
    assert_string_equal(rows[2][INSTR], "=1+1 を計算して");
    assert_string_equal(rows[2][NEAREST], "g1: 日本の首都は？");
    assert_string_equal(rows[2][ROUGE], "0.250");
    assert_string_equal(rows[1][SEEDS], "s1 s2");
    assert_string_equal(rows[4][ID], "g5");
    assert_int_equal(isynth_review_export_xlsx(st, path, true, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 5);

    /* the reviewer accepts g1, rejects g2, fixes g3's output */
    set(&rows[1][STATUS], "採用");
    set(&rows[2][STATUS], "rejected");
    set(&rows[3][OUTPUT], "桜咲く\n春の訪れ\n待ちわびる");
    set(&rows[3][COMMENT], "語尾を修正");
    write_review(edited, rows, nr, NC);
    isynth_review_report rep;
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.rows, 4);
    assert_int_equal(rep.status_changed, 3);
    assert_int_equal(rep.text_changed, 1);
    assert_int_equal(count(st, "SELECT count(*) FROM review WHERE status = 'edited'"), 1);
    assert_int_equal(count(st, "SELECT count(*) FROM candidates WHERE output = "
                               "'桜咲く\n春の訪れ\n待ちわびて'"),
                     1); /* generated text kept */
    long hist = count(st, "SELECT count(*) FROM review_history");
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.status_changed + rep.text_changed, 0);
    assert_int_equal(count(st, "SELECT count(*) FROM review_history"), hist);

    /* refusals: nothing applied */
    set(&rows[1][STATUS], "pending");
    set(&rows[2][ID], "g99");
    set(&rows[3][ID], "g1");
    write_review(edited, rows, nr, NC);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "nothing applied"));
    assert_non_null(strstr(e.msg, "row 3: unknown id 'g99'"));
    assert_non_null(strstr(e.msg, "row 4: id 'g1' appears twice (first at row 2)"));
    assert_int_equal(count(st, "SELECT count(*) FROM review WHERE status = 'accepted'"), 1);
    /* ids written loosely are not ids (strtoll once read "g +1" and "g01" as g1) */
    const char *loose[] = {"g +1", "g01", "g+1", "g 1", "g1 ", "g99999999999999999999"};
    for (size_t k = 0; k < sizeof loose / sizeof loose[0]; k++) {
        set(&rows[2][ID], loose[k]);
        set(&rows[3][ID], "g3");
        write_review(edited, rows, nr, NC);
        assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_ERR_PARSE);
        char want[96];
        snprintf(want, sizeof want, "id '%s' is not a task id", loose[k]);
        assert_non_null(strstr(e.msg, want));
    }
    write_review(edited, rows, nr, 4);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "no column output"));

    /* the dataset: accepted and edited only, edits applied */
    snprintf(out, sizeof out, "%s/dataset.jsonl", dir);
    assert_int_equal(isynth_review_export_jsonl(st, out, ISYNTH_DATASET_ALPACA, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 2);
    char *s;
    size_t len;
    assert_int_equal(read_file_limited(out, 1 << 20, &s, &len, &e), ISYNTH_OK);
    assert_string_equal(s, "{\"instruction\":\"日本の首都は？\",\"input\":\"\",\"output\":"
                           "\"東京です。\",\"id\":\"g1\"}\n"
                           "{\"instruction\":\"俳句を作って\",\"input\":\"桜\",\"output\":"
                           "\"桜咲く\\n春の訪れ\\n待ちわびる\",\"id\":\"g3\"}\n");
    isynth_free(s);
    assert_int_equal(isynth_review_export_jsonl(st, out, ISYNTH_DATASET_MESSAGES, &n, &e),
                     ISYNTH_OK);
    assert_int_equal(read_file_limited(out, 1 << 20, &s, &len, &e), ISYNTH_OK);
    assert_non_null(
        strstr(s, "{\"messages\":[{\"role\":\"user\",\"content\":\"俳句を作って\\n\\n桜\"},"
                  "{\"role\":\"assistant\",\"content\":"));
    isynth_free(s);
    char card[300];
    snprintf(card, sizeof card, "%s/README.md", dir);
    assert_int_equal(read_file_limited(card, 1 << 20, &s, &len, &e), ISYNTH_OK);
    assert_non_null(strstr(s, "| edited | 1 |"));
    assert_non_null(strstr(s, "## Provenance")); /* the whole card, from one writer */
    isynth_free(s);

    free_rows(rows);
    remove_run(st);
}

/* The sheet XML of a workbook (malloc'd). */
static char *sheet_xml(const char *path)
{
    int ze;
    zip_t *za = zip_open(path, ZIP_RDONLY, &ze);
    assert_non_null(za);
    zip_stat_t zs;
    assert_int_equal(zip_stat(za, "xl/worksheets/sheet1.xml", 0, &zs), 0);
    char *b = malloc(zs.size + 1);
    zip_file_t *f = zip_fopen(za, "xl/worksheets/sheet1.xml", 0);
    assert_non_null(f);
    assert_int_equal(zip_fread(f, b, zs.size), (zip_int64_t)zs.size);
    b[zs.size] = '\0';
    zip_fclose(f);
    zip_close(za);
    return b;
}

/* The XML of one cell ("E2"), malloc'd; NULL when the cell is absent (empty). */
static char *cell_xml(const char *sheet, const char *ref)
{
    char open[32];
    snprintf(open, sizeof open, "<c r=\"%s\"", ref);
    const char *a = strstr(sheet, open);
    if (!a) return NULL;
    const char *z = strstr(a, "</c>");
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

static void test_facts_and_judge(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    char path[300], edited[300];
    snprintf(path, sizeof path, "%s/review.xlsx", dir);
    snprintf(edited, sizeof edited, "%s/edited.xlsx", dir);
    size_t n;
    assert_int_equal(isynth_review_export_xlsx(st, path, false, &n, &e), ISYNTH_OK);
    char *rows[8][NC] = {{0}};
    size_t nr = read_review(path, rows);
    assert_int_equal(nr, 5);
    for (size_t c = 0; c < NC; c++)
        assert_string_equal(rows[0][c], HEADERS[c]);
    /* g1: one fact, judged 5 */
    assert_string_equal(rows[1][VERIFY], "東京");
    assert_string_equal(rows[1][JUDGE], "5");
    assert_string_equal(rows[1][JREASON], "正しい。");
    /* g2: the judge failed: no score, no reason */
    assert_string_equal(rows[2][VERIFY], "2");
    assert_string_equal(rows[2][JUDGE], "");
    assert_string_equal(rows[2][JREASON], "");
    /* g3: an older row, neither facts nor judgement */
    assert_string_equal(rows[3][VERIFY], "");
    assert_string_equal(rows[3][JUDGE], "");
    /* g5: every fact listed (also the one not in the output), the false claims named */
    assert_string_equal(rows[4][OUTPUT], G5_OUT);
    assert_string_equal(rows[4][VERIFY], "1968年\nノーベル文学賞\nノーベル\n日本人初\n存在しない");
    assert_string_equal(rows[4][JUDGE], "2");
    assert_string_equal(rows[4][JREASON], "受賞年を確認\nfalse: 1968年; 日本人初");

    char *sheet = sheet_xml(path);
    /* judge: number cells, no text type, and three fills over the data rows */
    char *c = cell_xml(sheet, "G2");
    assert_non_null(c);
    assert_null(strstr(c, " t=\""));
    assert_non_null(strstr(c, "<v>5</v>"));
    free(c);
    assert_null(cell_xml(sheet, "G3"));
    c = cell_xml(sheet, "G5");
    assert_non_null(strstr(c, "<v>2</v>"));
    free(c);
    assert_non_null(strstr(sheet, "<conditionalFormatting sqref=\"G2:G5\">"));
    assert_int_equal(count_of(sheet, "<cfRule type=\"cellIs\""), 3);
    /* output: the first occurrence of each fact in bold, overlapping facts one run */
    c = cell_xml(sheet, "E5");
    assert_non_null(strstr(c, "t=\"inlineStr\""));
    assert_int_equal(count_of(c, "<b/>"), 3);
    assert_non_null(strstr(c, "<t>1968年</t>"));
    assert_non_null(strstr(c, "<t>ノーベル文学賞</t>"));
    assert_non_null(strstr(c, "<t>日本人初</t>"));
    assert_non_null(strstr(c, "を受賞した。1968年の受賞は</t>")); /* the second 1968年 plain */
    free(c);
    c = cell_xml(sheet, "E2");
    assert_int_equal(count_of(c, "<r>"), 2);
    assert_non_null(strstr(c, "<t>東京</t>"));
    free(c);
    c = cell_xml(sheet, "E3"); /* the whole output is the fact: a plain string, emphasised */
    assert_null(strstr(c, "<r>"));
    assert_non_null(strstr(c, "<t>2</t>"));
    free(c);
    c = cell_xml(sheet, "E4"); /* no facts: the plain string cell of the previous release */
    assert_null(strstr(c, "<r>"));
    assert_non_null(strstr(c, "t=\"inlineStr\"><is><t>桜咲く\n春の訪れ\n待ちわびて</t></is>"));
    free(c);
    free(sheet);

    /* the informational columns are ignored on import: edits there change nothing */
    set(&rows[1][VERIFY], "書き換えた事実");
    set(&rows[1][JUDGE], "1");
    set(&rows[1][JREASON], "");
    set(&rows[4][STATUS], "採用");
    write_review(edited, rows, nr, NC);
    isynth_review_report rep;
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.rows, 4);
    assert_int_equal(rep.status_changed, 1);
    assert_int_equal(rep.text_changed, 0);
    assert_int_equal(count(st, "SELECT count(*) FROM review_history"), 1);
    assert_int_equal(count(st, "SELECT count(*) FROM candidates WHERE verify = '[\"東京\"]'"), 1);
    assert_int_equal(count(st, "SELECT count(*) FROM judgements WHERE score = 5"), 1);

    /* a workbook of the previous release: its ten columns, no verify or judge */
    set(&rows[1][STATUS], "不採用");
    set(&rows[1][COMMENT], "古い形式");
    set(&rows[1][OUTPUT], "首都は東京都です。");
    write_picked(edited, rows, nr, OLD_COLS, sizeof OLD_COLS / sizeof OLD_COLS[0]);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.rows, 4);
    assert_int_equal(rep.status_changed, 1);
    assert_int_equal(rep.text_changed, 1);
    assert_int_equal(count(st, "SELECT count(*) FROM review WHERE candidate_id = 1 AND status = "
                               "'rejected' AND comment = '古い形式'"),
                     1);

    /* headers are found by name in any case, with stray spaces, in any order */
    set(&rows[0][OUTPUT], " Output ");
    set(&rows[0][STATUS], "STATUS");
    const size_t shuffled[] = {COMMENT, OUTPUT, JUDGE, ID, INPUT, STATUS, INSTR};
    write_picked(edited, rows, nr, shuffled, sizeof shuffled / sizeof shuffled[0]);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.status_changed + rep.text_changed, 0);

    /* a re-export after review marks the facts in the reviewed output */
    assert_int_equal(isynth_review_export_xlsx(st, path, false, &n, &e), ISYNTH_OK);
    sheet = sheet_xml(path);
    c = cell_xml(sheet, "E2");
    assert_non_null(strstr(c, "<t>首都は</t></r><r><rPr><b/>"));
    assert_non_null(strstr(c, "<t>東京</t>"));
    free(c);
    free(sheet);
    free_rows(rows);
    remove_run(st);
}

/* ---- crash points (crash.h) ---- */

static void text_of(isynth_store *st, const char *sql, char *out, size_t cap)
{
    (void)st;
    q_text(sql, out, cap);
}

/* The state an import leaves: decisions, edits and history, as one string. */
static void review_state(isynth_store *st, char *out, size_t cap)
{
    char have[8];
    text_of(st, "SELECT count(*) FROM sqlite_master WHERE name IN ('review', 'review_history')",
            have, sizeof have);
    if (strcmp(have, "2") != 0) { /* made by the first import */
        snprintf(out, cap, "0 0 0 0");
        return;
    }
    text_of(st,
            "SELECT (SELECT count(*) FROM review WHERE status = 'accepted') || ' ' || "
            "(SELECT count(*) FROM review WHERE status = 'rejected') || ' ' || "
            "(SELECT count(*) FROM review WHERE status = 'edited') || ' ' || "
            "(SELECT count(*) FROM review_history)",
            out, cap);
}

/* Exports st's workbook to path, and writes at edited the reviewer's version the walks import:
 * g1 accepted, g2 rejected, g3's output fixed. */
static void write_edited(isynth_store *st, const char *path, const char *edited)
{
    size_t n;
    isynth_error e = {0};
    assert_int_equal(isynth_review_export_xlsx(st, path, false, &n, &e), ISYNTH_OK);
    char *rows[8][NC] = {{0}};
    size_t nr = read_review(path, rows);
    set(&rows[1][STATUS], "採用");
    set(&rows[2][STATUS], "rejected");
    set(&rows[3][OUTPUT], "桜咲く\n春の訪れ\n待ちわびる");
    write_review(edited, rows, nr, NC);
    free_rows(rows);
}

/* Opens the run in dir and imports the workbook at path into it; its error code. */
static int import_run(void *path)
{
    isynth_store *st;
    isynth_err rc = isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, NULL);
    if (rc) return (int)rc;
    isynth_review_report rep;
    rc = isynth_review_import_xlsx(st, path, &rep, NULL);
    isynth_store_close(st);
    return (int)rc;
}

/* Every crash point of an import (before and after its COMMIT): the process dies there, and
 * then the run holds either none of the reviewer's decisions or all of them, its database is
 * sound, and the same import again ends in the state of an import never interrupted. */
static void test_import_crash_walk(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    char path[300], edited[300];
    snprintf(path, sizeof path, "%s/review.xlsx", dir);
    snprintf(edited, sizeof edited, "/tmp/isynth-test-review-walk-%ld.xlsx", (long)getpid());
    write_edited(st, path, edited);
    char before[64], want[64], now[64];
    review_state(st, before, sizeof before);
    /* the uninterrupted import, counting its points */
    isynth_review_report rep;
    crash_arm(0);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    long points = crash_disarm();
    review_state(st, want, sizeof want);
    assert_string_not_equal(before, want);
    remove_run(st);
    assert_true(points >= 2);
    print_message("import crash walk: %ld points\n", points);
    for (long k = 1; k <= points; k++) {
        st = make_run();
        isynth_store_close(st);
        assert_int_equal(crash_child(k, import_run, edited), CRASH_EXIT);
        assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
        sqlite3 *db = rundb_open();
        assert_db_sound(db);
        sqlite3_close(db);
        review_state(st, now, sizeof now);
        assert_true(!strcmp(now, before) || !strcmp(now, want)); /* none or all */
        assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
        review_state(st, now, sizeof now);
        assert_string_equal(now, want);
        remove_run(st);
    }
    unlink(edited);
}

/* Allocation failures, SQLite's included, at every allocation of an export of the workbook, an
 * import of the reviewed one and an export of the dataset: each ends OK or with an error, never
 * a crash or a leak; a failed import applies nothing, and the same import again, with nothing
 * failing, ends in the state of one that never failed; no failed export leaves a file. */
static void test_review_alloc_walk(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    char path[300], edited[300], data[300], want[64], now[64], before[64];
    snprintf(path, sizeof path, "%s/review.xlsx", dir);
    snprintf(edited, sizeof edited, "/tmp/isynth-test-review-aw-%ld.xlsx", (long)getpid());
    snprintf(data, sizeof data, "%s/reviewed.jsonl", dir);
    size_t n;
    write_edited(st, path, edited);
    review_state(st, before, sizeof before);
    /* counts, on a copy of the run's state: import then export */
    isynth_review_report rep;
    isynth_alloc_fail_at(0, false);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    long imports = isynth_alloc_fail_at(0, false);
    review_state(st, want, sizeof want);
    assert_int_equal(isynth_review_export_jsonl(st, data, ISYNTH_DATASET_ALPACA, &n, &e),
                     ISYNTH_OK);
    long exports = isynth_alloc_fail_at(0, false);
    assert_int_equal(isynth_review_export_xlsx(st, path, true, &n, &e), ISYNTH_OK);
    long xlsx = isynth_alloc_fail_at(0, false);
    remove_run(st);
    long failed = 0, most = imports > exports ? imports : exports;
    most = most > xlsx ? most : xlsx;
    for (long k = 1; k <= most; k++) {
        st = make_run();
        isynth_alloc_fail_at(k <= imports ? k : 0, false);
        isynth_err rc = isynth_review_import_xlsx(st, edited, &rep, &e);
        isynth_alloc_fail_at(0, false);
        review_state(st, now, sizeof now);
        if (rc) {
            failed++;
            assert_string_equal(now, before); /* nothing applied */
            isynth_error first = e;
            rc = isynth_review_import_xlsx(st, edited, &rep, &e);
            if (rc) print_error("allocation %ld: %s; then: %s\n", k, first.msg, e.msg);
            assert_int_equal(rc, ISYNTH_OK);
            review_state(st, now, sizeof now);
        }
        assert_string_equal(now, want);
        /* the exports of the reviewed run, failing at each allocation in turn */
        if (k <= exports) {
            unlink(data);
            isynth_alloc_fail_at(k, false);
            rc = isynth_review_export_jsonl(st, data, ISYNTH_DATASET_ALPACA, &n, &e);
            isynth_alloc_fail_at(0, false);
            if (rc) assert_int_not_equal(access(data, F_OK), 0);
        }
        if (k <= xlsx) {
            unlink(path);
            isynth_alloc_fail_at(k, false);
            rc = isynth_review_export_xlsx(st, path, true, &n, &e);
            isynth_alloc_fail_at(0, false);
            if (rc) assert_int_not_equal(access(path, F_OK), 0);
        }
        remove_run(st);
    }
    unlink(edited);
    print_message("review allocation walk: %ld allocations in an import (%ld failed it), %ld in "
                  "a dataset export, %ld in a workbook export\n",
                  imports, failed, exports, xlsx);
    assert_true(failed > 0);
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1; /* the dependencies' allocations go through ours */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_facts_and_judge),
        cmocka_unit_test(test_import_crash_walk), cmocka_unit_test(test_review_alloc_walk)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
