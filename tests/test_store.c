/* Run store: schema creation, meta, seeds stored once, requests and candidates, the unique
 * key of accepted tasks, persistence across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isynth/export.h"
#include "isynth/store.h"

#define TMPDIR_NAME "store"
#include "tmpdir.h"

static isynth_err collect(void *user, long long id, const char *instruction, const char *input,
                          const char *output, const char *key, isynth_error *err)
{
    (void)err;
    (void)input;
    (void)output;
    (void)key;
    long long *sum = user;
    *sum += id;
    assert_non_null(instruction);
    return 0;
}

/* Walk callbacks that refuse their first row with a message of their own. */
static isynth_err refuse_reason(void *user, const char *reason, long n, isynth_error *err)
{
    (void)user;
    (void)n;
    return isynth_error_set(err, ISYNTH_ERR_INVALID, "refused %s", reason);
}

static isynth_err refuse_request(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)user;
    return isynth_error_set(err, ISYNTH_ERR_PARSE, "refused request %lld", q->id);
}

static isynth_err refuse_seed(void *user, const isynth_task *seed, isynth_error *err)
{
    (void)user;
    return isynth_error_set(err, ISYNTH_ERR_IO, "refused seed %s", seed->instruction);
}

static void test_roundtrip(void **state)
{
    (void)state;
    isynth_store *st;
    isynth_error e;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/runs/a/run", dir); /* parents are created too */
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "model", "m.gguf", &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "model", "n.gguf", &e), ISYNTH_OK);

    isynth_task tasks[2] = {
        {.id = "a",
         .instruction = "指示1",
         .input = "",
         .output = "出力1",
         .eval_aspect = "",
         .line = 1},
        {.id = "b",
         .instruction = "指示2",
         .input = "入力",
         .output = "出力2",
         .eval_aspect = "x",
         .line = 2},
    };
    isynth_seedset seeds = {.tasks = tasks, .n = 2};
    assert_int_equal(isynth_store_put_seeds(st, &seeds, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_put_seeds(st, &seeds, &e), ISYNTH_OK); /* no second copy */

    isynth_request_rec r = {.stage = 1,
                            .status = ISYNTH_REQ_DONE,
                            .examples = (const char *const[]){"s1"},
                            .n_examples = 1,
                            .prompt = "p",
                            .response = "resp",
                            .response_len = 4};
    long long rid;
    assert_int_equal(isynth_store_begin(st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_add_request(st, &r, &rid, &e), ISYNTH_OK);
    isynth_candidate_rec c = {.request_id = rid,
                              .instruction = "新しい指示",
                              .input = "",
                              .output = "答え",
                              .dedup_key = "k1",
                              .status = ISYNTH_CAND_ACCEPTED,
                              .nn_score = -1};
    long long cid;
    assert_int_equal(isynth_store_add_candidate(st, &c, &cid, &e), ISYNTH_OK);
    c.status = ISYNTH_CAND_REJECTED;
    c.reason = "duplicate";
    assert_int_equal(isynth_store_add_candidate(st, &c, NULL, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_commit(st, &e), ISYNTH_OK);

    /* a second accepted row with the same key violates the unique index */
    c.status = ISYNTH_CAND_ACCEPTED;
    c.reason = NULL;
    assert_int_equal(isynth_store_add_candidate(st, &c, NULL, &e), ISYNTH_ERR_STORE);
    assert_non_null(strstr(e.msg, "run.db"));

    /* a transaction rolled back leaves nothing */
    assert_int_equal(isynth_store_begin(st, &e), ISYNTH_OK);
    c.dedup_key = "k2";
    assert_int_equal(isynth_store_add_candidate(st, &c, NULL, &e), ISYNTH_OK);
    isynth_store_rollback(st);
    isynth_store_close(st);

    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    char *v;
    assert_int_equal(isynth_store_meta_get(st, "model", &v, &e), ISYNTH_OK);
    assert_string_equal(v, "n.gguf");
    isynth_free(v);
    assert_int_equal(isynth_store_meta_get(st, "absent", &v, &e), ISYNTH_OK);
    assert_null(v);
    long n;
    assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ACCEPTED, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ANY, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(isynth_store_count_requests(st, ISYNTH_REQ_DONE, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 1);
    long long sum = 0;
    assert_int_equal(isynth_store_each_candidate(st, ISYNTH_CAND_ACCEPTED, collect, &sum, &e),
                     ISYNTH_OK);
    assert_int_equal(sum, cid);
    /* a walk's callback gets the caller's isynth_error: its code and message come back as it
     * set them, for every kind of walk */
    memset(&e, 0, sizeof e);
    assert_int_equal(isynth_store_each_reason(st, refuse_reason, NULL, &e), ISYNTH_ERR_INVALID);
    assert_string_equal(e.msg, "refused duplicate");
    memset(&e, 0, sizeof e);
    assert_int_equal(isynth_store_each_request(st, 0, refuse_request, NULL, &e), ISYNTH_ERR_PARSE);
    assert_string_equal(e.msg, "refused request 1");
    memset(&e, 0, sizeof e);
    assert_int_equal(isynth_store_each_seed(st, refuse_seed, NULL, &e), ISYNTH_ERR_IO);
    assert_string_equal(e.msg, "refused seed 指示1");
    isynth_store_close(st);
    isynth_store_close(NULL);
}

static void test_unwritable(void **state)
{
    (void)state;
    isynth_store *st = (isynth_store *)1;
    isynth_error e;
    assert_int_equal(isynth_store_open("/proc/isynth-no/such", ISYNTH_STORE_CREATE, &st, &e),
                     ISYNTH_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(e.msg, "/proc/isynth-no/such"));
    /* a file where the directory should be */
    char file[300];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(isynth_store_open(file, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_ERR_IO);
    assert_non_null(strstr(e.msg, "Not a directory"));
}

static void test_not_a_database(void **state)
{
    (void)state;
    char sub[300], path[320];
    snprintf(sub, sizeof sub, "%s/junk", dir);
    snprintf(path, sizeof path, "%s/run.db", sub);
    mkdir(sub, 0777);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite file, just text that is long enough to have a header..........",
          f);
    fclose(f);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_ERR_STORE);
    assert_null(st);
    assert_non_null(strstr(e.msg, "run.db"));
}

/* The card takes the seed file's name and the model's GGUF metadata from run.db: whatever they
 * hold stays inside its table cell, adds no YAML key, no heading, link, image or HTML. */
static void test_card_escaped(void **state)
{
    (void)state;
    isynth_store *st;
    isynth_error e;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/card", dir);
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "seeds_file",
                                           "evil\n# Heading | x <script>alert(1)</script>.jsonl",
                                           &e),
                     ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "model_name",
                                           "a|b\n---\nlicense: mit\n[click](http://x) ![i](y)", &e),
                     ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "lang", "ja\nlicense: mit", &e), ISYNTH_OK);
    char long_lic[2000];
    memset(long_lic, 'x', sizeof long_lic - 1);
    long_lic[sizeof long_lic - 1] = '\0';
    assert_int_equal(isynth_store_meta_set(st, "model_license", long_lic, &e), ISYNTH_OK);
    assert_int_equal(isynth_export_card(st, &e), ISYNTH_OK);
    isynth_store_close(st);
    char path[400];
    snprintf(path, sizeof path, "%s/README.md", sub);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int dashes = 0, headings = 0, rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strcmp(line, "---\n")) dashes++;
        if (dashes == 1) assert_null(strstr(line, "license: mit"));
        if (dashes >= 2 && line[0] == '#' && line[1] == ' ')
            headings++; /* (inside the front matter "# ..." is a YAML comment) */
        assert_null(strstr(line, "<script"));
        assert_null(strstr(line, "](http"));
        /* no link but the card's own one to the report */
        if (!strstr(line, "[report.html](report.html)"))
            assert_null(strstr(line, "]("));
        else
            assert_null(strstr(strstr(line, "[report.html](report.html)") + 25, "]("));
        if (!strncmp(line, "| seeds_file |", 14) || !strncmp(line, "| model_name |", 14) ||
            !strncmp(line, "| model_license |", 17)) {
            rows++;
            int pipes = 0;
            for (size_t i = 0; line[i]; i++)
                pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
            assert_int_equal(pipes, 3);
            assert_true(strlen(line) < 400);
        }
    }
    fclose(f);
    assert_int_equal(dashes, 2);   /* the front matter's two fences, no third */
    assert_int_equal(headings, 1); /* "# Synthetic instruction data" alone */
    assert_int_equal(rows, 3);
}

/* One store session (create, seeds, a transaction with a request and two candidates, reopen,
 * counts) with its n-th allocation failing, SQLite's included, for every n: each step ends OK or
 * with an error and a message, never a crash or a leak, and the store opens afterwards with
 * either all of the transaction or none of it. */
static isynth_err store_session(const char *sub, isynth_error *e)
{
    isynth_store *st;
    isynth_err rc = isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, e);
    if (rc) return rc;
    isynth_task tasks[1] = {{.id = "a",
                             .instruction = "指示1",
                             .input = "",
                             .output = "出力1",
                             .eval_aspect = "",
                             .line = 1}};
    isynth_seedset seeds = {.tasks = tasks, .n = 1};
    isynth_request_rec r = {.stage = 1,
                            .status = ISYNTH_REQ_DONE,
                            .examples = (const char *const[]){"s1"},
                            .n_examples = 1,
                            .prompt = "p",
                            .response = "resp",
                            .response_len = 4};
    isynth_candidate_rec c = {.instruction = "新しい指示",
                              .input = "",
                              .output = "答え",
                              .dedup_key = "k1",
                              .status = ISYNTH_CAND_ACCEPTED,
                              .nn_score = -1};
    long long rid;
    long n;
    if (!(rc = isynth_store_put_seeds(st, &seeds, e)) && !(rc = isynth_store_begin(st, e)) &&
        !(rc = isynth_store_add_request(st, &r, &rid, e))) {
        c.request_id = rid;
        if (!(rc = isynth_store_add_candidate(st, &c, NULL, e))) {
            c.status = ISYNTH_CAND_REJECTED;
            c.reason = "duplicate";
            rc = isynth_store_add_candidate(st, &c, NULL, e);
        }
        if (!rc) rc = isynth_store_commit(st, e);
        if (rc) isynth_store_rollback(st);
    }
    if (!rc) rc = isynth_store_count(st, ISYNTH_CAND_ANY, &n, e);
    isynth_store_close(st);
    return rc;
}

static void test_alloc_walk(void **state)
{
    (void)state;
    char sub[300];
    isynth_error e;
    snprintf(sub, sizeof sub, "%s/walk", dir);
    isynth_alloc_fail_at(0, false);
    assert_int_equal(store_session(sub, &e), ISYNTH_OK);
    long total = isynth_alloc_fail_at(0, false), failed = 0;
    assert_true(total > 50);
    for (long k = 1; k <= total; k++) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
        assert_int_equal(system(cmd), 0);
        e.msg[0] = '\0';
        isynth_alloc_fail_at(k, false);
        isynth_err rc = store_session(sub, &e);
        isynth_alloc_fail_at(0, false);
        if (rc) {
            failed++;
            assert_true(e.msg[0] != '\0');
        }
        /* afterwards: the store opens, and holds the transaction whole or not at all */
        isynth_store *st;
        assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
        long cands, reqs;
        assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ANY, &cands, &e), ISYNTH_OK);
        assert_int_equal(isynth_store_count_requests(st, ISYNTH_REQ_ANY, &reqs, &e), ISYNTH_OK);
        assert_true((cands == 0 && reqs == 0) || (cands == 2 && reqs == 1));
        isynth_store_close(st);
    }
    print_message("store allocation walk: %ld allocations, %ld sessions failed\n", total, failed);
    assert_true(failed > 0);
}

typedef struct servers_seen {
    int n;
    char server[4][64];
} servers_seen;

static isynth_err see_server(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)err;
    servers_seen *v = user;
    if (v->n < 4)
        snprintf(v->server[v->n++], sizeof v->server[0], "%s", q->server ? q->server : "(null)");
    return ISYNTH_OK;
}

/* A run.db of schema 2 (the release before the server column): read as it is by the read-only
 * open (status, report while an old run is looked at), upgraded in place by the next open for
 * writing (to 4), its requests kept. The file is made by this store and taken back to schema 2
 * as that release wrote it (the server column dropped, the examples JSON column back, the
 * request_examples table and PRAGMA user_version gone). tests/test_store_schema3.c opens a
 * run.db made by the release of schema 3. */
static void test_schema_2_upgrade(void **state)
{
    (void)state;
    char sub[300], db[320];
    snprintf(sub, sizeof sub, "%s/v2", dir);
    snprintf(db, sizeof db, "%s/run.db", sub);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    isynth_request_rec r = {.stage = 1,
                            .status = ISYNTH_REQ_DONE,
                            .prompt = "p",
                            .response = "x",
                            .response_len = 1,
                            .prompt_tokens = 7,
                            .completion_tokens = 11,
                            .server = "http://a:1"};
    assert_int_equal(isynth_store_add_request(st, &r, NULL, &e), ISYNTH_OK);
    isynth_store_close(st);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "ALTER TABLE requests DROP COLUMN server;"
                                  "ALTER TABLE requests ADD COLUMN examples TEXT;"
                                  "DROP TABLE request_examples;"
                                  "UPDATE requests SET examples = '[\"g1\",\"s3\",5,\"zz\"]';"
                                  "UPDATE meta SET value = '2' WHERE key = 'schema';"
                                  "PRAGMA user_version = 0;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);

    servers_seen v = {0};
    isynth_run_totals t;
    assert_int_equal(isynth_store_open_read(sub, &st, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_totals(st, &t, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_each_request(st, 0, see_server, &v, &e), ISYNTH_OK);
    isynth_store_close(st);
    assert_int_equal(t.requests, 1);
    assert_int_equal(t.completion_tokens, 11);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.server[0], "(null)");

    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    char *ver = NULL;
    assert_int_equal(isynth_store_meta_get(st, "schema", &ver, &e), ISYNTH_OK);
    assert_string_equal(ver, "4");
    free(ver);
    /* the JSON's refs became rows, in order; what was no ref is dropped */
    char refs[ISYNTH_MAX_REQUEST_EXAMPLES][24];
    size_t n;
    assert_int_equal(isynth_store_request_examples(st, 1, refs, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(refs[0], "g1");
    assert_string_equal(refs[1], "s3");
    r.server = "http://b:2";
    assert_int_equal(isynth_store_add_request(st, &r, NULL, &e), ISYNTH_OK);
    v.n = 0;
    assert_int_equal(isynth_store_each_request(st, 0, see_server, &v, &e), ISYNTH_OK);
    assert_int_equal(isynth_store_totals(st, &t, &e), ISYNTH_OK);
    isynth_store_close(st);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.server[0], "(null)");
    assert_string_equal(v.server[1], "http://b:2");
    assert_int_equal(t.requests, 2);
    assert_int_equal(t.prompt_tokens, 14);
}

static isynth_err seeds_shown(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)err;
    long long *got = user;
    got[0] = (long long)q->n_seed_examples;
    for (size_t i = 0; i < q->n_seed_examples && i < 3; i++)
        got[i + 1] = q->seed_examples[i];
    return ISYNTH_OK;
}

/* A request's examples are rows of request_examples: a seed ref and a candidate ref come back
 * in prompt order, the seeds alone in each_request; a ref naming neither is refused before any
 * row is written. */
static void test_request_examples(void **state)
{
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/ex", dir);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    isynth_request_rec r = {.stage = 1,
                            .status = ISYNTH_REQ_DONE,
                            .examples = (const char *const[]){"g7", "s2", "s10"},
                            .n_examples = 3,
                            .prompt = "p"};
    long long id;
    assert_int_equal(isynth_store_add_request(st, &r, &id, &e), ISYNTH_OK);
    char refs[ISYNTH_MAX_REQUEST_EXAMPLES][24];
    size_t n;
    assert_int_equal(isynth_store_request_examples(st, id, refs, &n, &e), ISYNTH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(refs[0], "g7");
    assert_string_equal(refs[1], "s2");
    assert_string_equal(refs[2], "s10");
    long long got[4] = {0};
    assert_int_equal(isynth_store_each_request(st, 0, seeds_shown, got, &e), ISYNTH_OK);
    assert_int_equal(got[0], 2);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 10);
    static const char *const bad[] = {"x1", "s", "s0", "g1x", "p3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r.examples = &bad[i];
        r.n_examples = 1;
        assert_int_equal(isynth_store_add_request(st, &r, NULL, &e), ISYNTH_ERR_INVALID);
        assert_non_null(strstr(e.msg, bad[i]));
    }
    long reqs;
    assert_int_equal(isynth_store_count_requests(st, ISYNTH_REQ_ANY, &reqs, &e), ISYNTH_OK);
    assert_int_equal(reqs, 1);
    isynth_store_close(st);
}

/* Without ISYNTH_STORE_CREATE a directory without run.db is "no run here", and neither the
 * directory nor the file is made; an existing run opens. */
static void test_open_existing(void **state)
{
    (void)state;
    char sub[300], db[320];
    snprintf(sub, sizeof sub, "%s/none/run", dir);
    snprintf(db, sizeof db, "%s/run.db", sub);
    isynth_store *st = (isynth_store *)1;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, 0, &st, &e), ISYNTH_ERR_NOT_FOUND);
    assert_null(st);
    assert_non_null(strstr(e.msg, "no run here"));
    struct stat sb;
    assert_int_not_equal(stat(sub, &sb), 0);
    snprintf(sub, sizeof sub, "%s/empty", dir);
    snprintf(db, sizeof db, "%s/run.db", sub);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(isynth_store_open(sub, 0, &st, &e), ISYNTH_ERR_NOT_FOUND);
    assert_int_not_equal(stat(db, &sb), 0);
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    isynth_store_close(st);
    assert_int_equal(isynth_store_open(sub, 0, &st, &e), ISYNTH_OK);
    isynth_store_close(st);
}

/* A schema this isynth does not know is refused by both opens, naming the file. */
static void test_schema_unknown(void **state)
{
    (void)state;
    char sub[300], db[320];
    snprintf(sub, sizeof sub, "%s/v9", dir);
    snprintf(db, sizeof db, "%s/run.db", sub);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
    isynth_store_close(st);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "UPDATE meta SET value = '9' WHERE key = 'schema'; PRAGMA user_version = 9;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(isynth_store_open_read(sub, &st, &e), ISYNTH_ERR_STORE);
    assert_non_null(strstr(e.msg, "schema version 9"));
    assert_int_equal(isynth_store_open(sub, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_ERR_STORE);
    assert_non_null(strstr(e.msg, "run.db"));
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1; /* the dependencies' allocations go through ours */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_not_a_database),   cmocka_unit_test(test_card_escaped),
        cmocka_unit_test(test_alloc_walk),       cmocka_unit_test(test_schema_2_upgrade),
        cmocka_unit_test(test_request_examples), cmocka_unit_test(test_open_existing),
        cmocka_unit_test(test_schema_unknown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
