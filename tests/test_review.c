/* Unit tests for the review round trip: export a run's workbook, edit it as a reviewer would,
 * import it (twice: the second time changes nothing), refuse bad workbooks without applying
 * anything, and export the reviewed dataset in both shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "isynth/review.h"
#include "isynth/xlsx.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static isynth_store *make_run(void)
{
    snprintf(dir, sizeof dir, "/tmp/isynth-test-review-XXXXXX");
    assert_non_null(mkdtemp(dir));
    isynth_store *st;
    isynth_error e = {0};
    assert_int_equal(isynth_store_open(dir, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "lang", "ja", &e), ISYNTH_OK);
    isynth_request_rec rq = {.stage = 1,
                             .status = "done",
                             .examples = "[\"s1\",\"s2\"]",
                             .prompt = "p",
                             .response = "r",
                             .response_len = 1};
    long long req;
    assert_int_equal(isynth_store_add_request(st, &rq, &req, &e), ISYNTH_OK);
    const char *texts[][3] = {{"日本の首都は？", "", "東京です。"},
                              {"=1+1 を計算して", "", "2"},
                              {"俳句を作って", "桜", "桜咲く\n春の訪れ\n待ちわびて"}};
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        isynth_candidate_rec c = {.request_id = req,
                                  .idx = i,
                                  .instruction = texts[i][0],
                                  .input = texts[i][1],
                                  .output = texts[i][2],
                                  .dedup_key = key,
                                  .status = "accepted",
                                  .nn_ref = i ? "g1" : NULL,
                                  .nn_score = i ? 0.25 : -1};
        long long id;
        assert_int_equal(isynth_store_add_candidate(st, &c, &id, &e), ISYNTH_OK);
    }
    isynth_candidate_rec rj = {.request_id = req,
                               .idx = 3,
                               .instruction = "短すぎ",
                               .input = "",
                               .output = "",
                               .dedup_key = "k3",
                               .status = "rejected",
                               .reason = "length"};
    long long id;
    assert_int_equal(isynth_store_add_candidate(st, &rj, &id, &e), ISYNTH_OK);
    return st;
}

/* Reads sheet "review" of path into rows[r][c] (strdup'd), returns the row count. */
static size_t read_review(const char *path, char *rows[8][10])
{
    isynth_error e = {0};
    isynth_xlsx_reader *r;
    assert_int_equal(isynth_xlsx_reader_open(path, NULL, &r, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_open_sheet(r, "review", &e), ISYNTH_OK);
    const isynth_xlsx_row *row;
    size_t n = 0;
    while (!isynth_xlsx_next_row(r, &row, &e) && row && n < 8) {
        for (size_t c = 0; c < 10; c++)
            rows[n][c] = strdup(c < row->ncells ? row->cells[c] : "");
        n++;
    }
    isynth_xlsx_reader_close(r);
    return n;
}

static void write_review(const char *path, char *rows[8][10], size_t n, size_t ncols)
{
    isynth_error e = {0};
    isynth_xlsx_writer *w;
    isynth_xlsx_column cols[10];
    for (size_t c = 0; c < ncols; c++)
        cols[c] = (isynth_xlsx_column){.name = rows[0][c]};
    assert_int_equal(isynth_xlsx_writer_open(path, NULL, &w, &e), ISYNTH_OK);
    assert_int_equal(isynth_xlsx_add_sheet(w, "review", cols, ncols, &e), ISYNTH_OK);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(isynth_xlsx_write_row(w, (const char *const *)rows[i], NULL, ncols, &e),
                         ISYNTH_OK);
    assert_int_equal(isynth_xlsx_writer_close(w, &e), ISYNTH_OK);
}

static long count(isynth_store *st, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(isynth_store_db(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
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
    assert_int_equal(n, 3);
    char *rows[8][10] = {{0}};
    size_t nr = read_review(path, rows);
    assert_int_equal(nr, 4);
    assert_string_equal(rows[0][0], "id");
    assert_string_equal(rows[1][0], "g1");
    assert_string_equal(rows[1][1], "未確認");
    assert_string_equal(rows[2][2], "=1+1 を計算して");
    assert_string_equal(rows[2][6], "g1: 日本の首都は？");
    assert_string_equal(rows[2][7], "0.250");
    assert_string_equal(rows[1][5], "s1 s2");
    assert_int_equal(isynth_review_export_xlsx(st, path, true, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 4);

    /* the reviewer accepts g1, rejects g2, fixes g3's output */
    set(&rows[1][1], "採用");
    set(&rows[2][1], "rejected");
    set(&rows[3][4], "桜咲く\n春の訪れ\n待ちわびる");
    set(&rows[3][9], "語尾を修正");
    write_review(edited, rows, nr, 10);
    isynth_review_report rep;
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_OK);
    assert_int_equal(rep.rows, 3);
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
    set(&rows[1][1], "pending");
    set(&rows[2][0], "g99");
    set(&rows[3][0], "g1");
    write_review(edited, rows, nr, 10);
    assert_int_equal(isynth_review_import_xlsx(st, edited, &rep, &e), ISYNTH_ERR_PARSE);
    assert_non_null(strstr(e.msg, "nothing applied"));
    assert_non_null(strstr(e.msg, "row 3: unknown id 'g99'"));
    assert_non_null(strstr(e.msg, "row 4: id 'g1' appears twice (first at row 2)"));
    assert_int_equal(count(st, "SELECT count(*) FROM review WHERE status = 'accepted'"), 1);
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

    for (size_t i = 0; i < 8; i++)
        for (size_t c = 0; c < 10; c++)
            free(rows[i][c]);
    isynth_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
