/* The store's review section: task refs parsed strictly, a ref's instruction, the walks over the
 * configuration and over the tasks a reviewer sees (which tasks each set holds, the examples a
 * request showed as a list, the status of a task never decided, edits applied), and a
 * decision's record: what differs from the task's state goes to the history, a text equal to
 * the generated one is kept as "as generated", the same decision twice writes nothing. What
 * was written is read back with SQLite itself, beside the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "isynth/store.h"

#define TMPDIR_NAME "store-review"
#include "tmpdir.h"

/* A run: seeds s1 "seed one" and s2; request 1 showed s2 and g1, request 2
 * nothing; g1 accepted (judged 4, facts), g2 rejected (length), g3 pending (stage 2), g4
 * accepted from request 2. */
static isynth_store *make_run(void)
{
    isynth_store *st;
    isynth_error e = {0};
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "model", "m.gguf", &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "lang", "ja", &e), ISYNTH_OK);
    isynth_task tasks[2] = {
        {.id = "a", .instruction = "seed one", .input = "", .output = "o", .eval_aspect = ""},
        {.id = "b", .instruction = "seed two", .input = "", .output = "o", .eval_aspect = ""}};
    isynth_seedset seeds = {.tasks = tasks, .n = 2};
    assert_int_equal(isynth_store_put_seeds(st, &seeds, &e), ISYNTH_OK);
    static const char *const examples[] = {"s2", "g1"};
    long long req[2];
    for (int i = 0; i < 2; i++) {
        isynth_request_rec rq = {.stage = 1,
                                 .status = ISYNTH_REQ_DONE,
                                 .examples = examples,
                                 .n_examples = i == 0 ? 2 : 0,
                                 .prompt = "p",
                                 .truncated = i == 1};
        assert_int_equal(isynth_store_add_request(st, &rq, &req[i], &e), ISYNTH_OK);
    }
    const isynth_cand_status status[4] = {ISYNTH_CAND_ACCEPTED, ISYNTH_CAND_REJECTED,
                                          ISYNTH_CAND_PENDING, ISYNTH_CAND_ACCEPTED};
    for (int i = 0; i < 4; i++) {
        char instr[16], key[8];
        snprintf(instr, sizeof instr, "task %d", i + 1);
        snprintf(key, sizeof key, "k%d", i);
        isynth_candidate_rec c = {.request_id = req[i == 3],
                                  .idx = i,
                                  .instruction = instr,
                                  .input = "in",
                                  .output = "out",
                                  .dedup_key = key,
                                  .status = status[i],
                                  .reason = i == 1 ? "length" : NULL,
                                  .nn_ref = i ? "s1" : NULL,
                                  .nn_score = i ? 0.5 : -1,
                                  .verify = i ? NULL : "[\"out\"]"};
        long long id;
        assert_int_equal(isynth_store_add_candidate(st, &c, &id, &e), ISYNTH_OK);
        assert_int_equal(id, i + 1);
    }
    isynth_judgement_rec j = {.candidate_id = 1, .score = 4, .reason = "ok", .model = "m"};
    assert_int_equal(isynth_store_put_judgement(st, &j, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_review_init(st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_review_init(st, &e), ISYNTH_OK); /* again: nothing to do */
    return st;
}

/* A number read with SQLite beside the store. */
static long long query(const char *sql)
{
    char path[200];
    snprintf(path, sizeof path, "%s/run.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long long n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void test_parse_ref(void **state)
{
    (void)state;
    char kind = 0;
    long long id = 0;
    assert_true(isynth_store_parse_ref("s3", &kind, &id));
    assert_int_equal(kind, 's');
    assert_int_equal(id, 3);
    assert_true(isynth_store_parse_ref("g120", &kind, &id));
    assert_int_equal(kind, 'g');
    assert_int_equal(id, 120);
    assert_true(isynth_store_parse_ref("g999999999999999999", &kind, &id)); /* 18 digits */
    assert_int_equal(id, 999999999999999999LL);
    const char *bad[] = {"",
                         "s",
                         "g",
                         "x1",
                         "S3",
                         "s0",
                         "s03",
                         "s-1",
                         "s+1",
                         "s 1",
                         "s1 ",
                         "s1x",
                         "g1234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kind = 0;
        id = 0;
        assert_false(isynth_store_parse_ref(bad[i], &kind, &id));
        assert_int_equal(kind, 0); /* untouched */
        assert_int_equal(id, 0);
    }
    assert_false(isynth_store_parse_ref(NULL, &kind, &id));
}

static void test_ref_instruction(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    char *t;
    assert_int_equal(isynth_store_ref_instruction(st, "s1", &t, &e), ISYNTH_OK);
    assert_string_equal(t, "seed one");
    isynth_free(t);
    assert_int_equal(isynth_store_ref_instruction(st, "g2", &t, &e), ISYNTH_OK);
    assert_string_equal(t, "task 2");
    isynth_free(t);
    /* seed 3 and candidate 9 do not exist; s4 is not candidate 4; the rest are not refs */
    const char *none[] = {"s3", "g9", "s4", "x1", "g01", "", NULL};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        t = (char *)"untouched";
        assert_int_equal(isynth_store_ref_instruction(st, none[i], &t, &e), ISYNTH_ERR_NOT_FOUND);
        assert_null(t);
    }
    isynth_store_close(st);
}

typedef struct kv {
    char text[256];
    int n;
} kv;

static isynth_err add_meta(void *user, const char *key, const char *value, isynth_error *err)
{
    (void)err;
    kv *m = user;
    size_t len = strlen(m->text);
    snprintf(m->text + len, sizeof m->text - len, "%s=%s;", key, value);
    return ++m->n == 99 ? ISYNTH_ERR_CANCELLED : ISYNTH_OK;
}

static void test_each_meta(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    kv m = {.n = 0};
    assert_int_equal(isynth_store_each_meta(st, add_meta, &m, &e), ISYNTH_OK);
    /* in key order (the store's own keys after these) */
    assert_int_equal(strncmp(m.text, "lang=ja;model=m.gguf;", 21), 0);
    m = (kv){.n = 97}; /* the callback stops the walk at its second call */
    assert_int_equal(isynth_store_each_meta(st, add_meta, &m, &e), ISYNTH_ERR_CANCELLED);
    assert_int_equal(m.n, 99);
    isynth_store_close(st);
}

/* The rows a walk gave, one line each. */
typedef struct rows {
    char text[1024];
    int n, stop_at;
} rows;

static isynth_err add_row(void *user, const isynth_review_rec *r, isynth_error *err)
{
    rows *w = user;
    size_t len = strlen(w->text);
    char *p = w->text + len;
    size_t cap = sizeof w->text - len;
    int k = snprintf(p, cap, "g%lld %s %d [", r->id, r->rejected ? "rejected" : "accepted",
                     (int)r->status);
    for (size_t i = 0; i < r->nexamples; i++)
        k += snprintf(p + k, cap - k, "%s%s", i ? "," : "", r->examples[i]);
    k += snprintf(p + k, cap - k,
                  "] %s/%s/%s '%s' nn=%s %.2f reason=%s trunc=%d verify=%.*s "
                  "judge=%d %s\n",
                  r->instruction, r->input, r->output, r->comment, r->nn_ref ? r->nn_ref : "-",
                  r->nn_score, r->reason ? r->reason : "-", r->truncated, (int)r->verify_len,
                  r->verify ? r->verify : "", r->judge_score,
                  r->judge_reason ? r->judge_reason : "-");
    if (++w->n == w->stop_at)
        return isynth_error_set(err, ISYNTH_ERR_IO, "stopped at g%lld", r->id);
    return ISYNTH_OK;
}

static void test_each_review_row(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    rows w = {.n = 0};
    assert_int_equal(isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_ACCEPTED, add_row, &w, &e),
                     ISYNTH_OK);
    assert_string_equal(w.text,
                        "g1 accepted 0 [s2,g1] task 1/in/out '' nn=- -1.00 reason=- trunc=0 "
                        "verify=[\"out\"] judge=4 ok\n"
                        "g4 accepted 0 [] task 4/in/out '' nn=s1 0.50 reason=- trunc=1 verify= "
                        "judge=0 -\n");
    w = (rows){.n = 0};
    assert_int_equal(isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_FILTERED, add_row, &w, &e),
                     ISYNTH_OK);
    assert_int_equal(w.n, 3); /* the pending g3 is no task to review */
    /* rejected by the filters and never decided: the status is rejected */
    assert_non_null(strstr(w.text, "g2 rejected 3 [s2,g1] task 2/in/out '' nn=s1 0.50 "
                                   "reason=length"));
    w = (rows){.n = 0};
    assert_int_equal(isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_KEPT, add_row, &w, &e),
                     ISYNTH_OK);
    assert_int_equal(w.n, 0); /* nobody decided anything yet */

    /* decisions: g4 edited, g2 (rejected by the filters) accepted, g1 rejected */
    isynth_review_put d[] = {
        {.id = 4,
         .status = ISYNTH_REVIEW_EDITED,
         .output = "better",
         .comment = "fixed",
         .source = "wb",
         .at = "2026-01-01T00:00:00Z"},
        {.id = 2, .status = ISYNTH_REVIEW_ACCEPTED, .source = "wb", .at = "2026-01-01T00:00:00Z"},
        {.id = 1, .status = ISYNTH_REVIEW_REJECTED, .source = "wb", .at = "2026-01-01T00:00:00Z"}};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(isynth_store_put_review(st, &d[i], NULL, &e), ISYNTH_OK);
    w = (rows){.n = 0};
    assert_int_equal(isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_KEPT, add_row, &w, &e),
                     ISYNTH_OK);
    assert_int_equal(w.n, 2);
    assert_non_null(strstr(w.text, "g2 rejected 1 "));
    assert_non_null(strstr(w.text, "g4 accepted 2 [] task 4/in/better 'fixed'"));
    assert_null(strstr(w.text, "g1 "));
    /* the callback's error stops the walk, its message kept */
    w = (rows){.n = 0, .stop_at = 1};
    assert_int_equal(isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_FILTERED, add_row, &w, &e),
                     ISYNTH_ERR_IO);
    assert_int_equal(w.n, 1);
    assert_string_equal(e.msg, "stopped at g1");
    isynth_store_close(st);
}

static void test_get_review(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    isynth_review_state s;
    assert_int_equal(isynth_store_get_review(st, 2, &s, &e), ISYNTH_OK);
    assert_string_equal(s.instruction, "task 2");
    assert_string_equal(s.output, "out");
    assert_null(s.edited_instruction);
    assert_null(s.edited_output);
    assert_string_equal(s.comment, "");
    assert_int_equal(s.status, ISYNTH_REVIEW_REJECTED);
    isynth_store_review_state_clear(&s);
    assert_null(s.instruction);
    assert_int_equal(isynth_store_get_review(st, 1, &s, &e), ISYNTH_OK);
    assert_int_equal(s.status, ISYNTH_REVIEW_PENDING);
    isynth_store_review_state_clear(&s);
    /* pending in stage 2, or no such task */
    assert_int_equal(isynth_store_get_review(st, 3, &s, &e), ISYNTH_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "no task 3 to review"));
    assert_null(s.instruction);
    assert_int_equal(isynth_store_get_review(st, 99, &s, &e), ISYNTH_ERR_NOT_FOUND);
    isynth_store_review_state_clear(NULL);
    isynth_store_close(st);
}

static void test_put_review(void **state)
{
    (void)state;
    isynth_store *st = make_run();
    isynth_error e = {0};
    isynth_review_changes ch;
    /* the state as it is, the generated text given back: nothing differs, nothing is written */
    isynth_review_put d = {.id = 1,
                           .status = ISYNTH_REVIEW_PENDING,
                           .instruction = "task 1",
                           .input = "in",
                           .output = "out",
                           .comment = "",
                           .source = "a.xlsx",
                           .at = "2026-01-01T00:00:00Z"};
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_OK);
    assert_false(ch.text || ch.status || ch.comment);
    assert_int_equal(query("SELECT count(*) FROM review"), 0);
    assert_int_equal(query("SELECT count(*) FROM review_history"), 0);

    /* an edit with a comment: the old and new values in the history, the text as the edit */
    d.output = "edited out";
    d.status = ISYNTH_REVIEW_EDITED;
    d.comment = "why";
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_OK);
    assert_true(ch.text && ch.status && ch.comment);
    assert_int_equal(query("SELECT count(*) FROM review_history"), 3);
    assert_int_equal(query("SELECT count(*) FROM review_history WHERE candidate_id = 1 AND "
                           "field = 'output' AND old = 'out' AND new = 'edited out' AND "
                           "source = 'a.xlsx' AND at = '2026-01-01T00:00:00Z'"),
                     1);
    assert_int_equal(query("SELECT count(*) FROM review_history WHERE field = 'status' AND "
                           "old = 'pending' AND new = 'edited'"),
                     1);
    assert_int_equal(query("SELECT count(*) FROM review WHERE candidate_id = 1 AND status = "
                           "'edited' AND instruction IS NULL AND input IS NULL AND output = "
                           "'edited out' AND comment = 'why'"),
                     1);
    assert_int_equal(query("SELECT count(*) FROM candidates WHERE id = 1 AND output = 'out'"), 1);
    isynth_review_state s;
    assert_int_equal(isynth_store_get_review(st, 1, &s, &e), ISYNTH_OK);
    assert_string_equal(s.output, "out"); /* generated text kept */
    assert_string_equal(s.edited_output, "edited out");
    assert_int_equal(s.status, ISYNTH_REVIEW_EDITED);
    assert_string_equal(s.comment, "why");
    isynth_store_review_state_clear(&s);

    /* the same decision again writes nothing */
    d.at = "2026-01-02T00:00:00Z";
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_OK);
    assert_false(ch.text || ch.status || ch.comment);
    assert_int_equal(query("SELECT count(*) FROM review_history"), 3);
    assert_int_equal(query("SELECT count(*) FROM review WHERE updated_at = "
                           "'2026-01-01T00:00:00Z'"),
                     1);

    /* back to the generated text (given, or NULL), the comment dropped: "as generated" again */
    d.output = NULL;
    d.comment = NULL;
    d.status = ISYNTH_REVIEW_ACCEPTED;
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_OK);
    assert_true(ch.text && ch.status && ch.comment);
    assert_int_equal(query("SELECT count(*) FROM review_history WHERE field = 'output' AND "
                           "old = 'edited out' AND new = 'out'"),
                     1);
    assert_int_equal(query("SELECT count(*) FROM review_history WHERE field = 'comment' AND "
                           "old = 'why' AND new = ''"),
                     1);
    assert_int_equal(query("SELECT count(*) FROM review WHERE candidate_id = 1 AND status = "
                           "'accepted' AND output IS NULL AND comment IS NULL"),
                     1);

    /* not a task to review, or no status: refused, nothing written */
    long long hist = query("SELECT count(*) FROM review_history");
    d.id = 3;
    d.output = "x";
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_ERR_NOT_FOUND);
    d.id = 1;
    d.status = (isynth_review_status)7;
    assert_int_equal(isynth_store_put_review(st, &d, &ch, &e), ISYNTH_ERR_INVALID);
    assert_int_equal(query("SELECT count(*) FROM review_history"), hist);
    isynth_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ref),
        cmocka_unit_test_setup_teardown(test_ref_instruction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_review_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_review, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
