/* A run directory made by the release before schema 4 (isynth at commit 0e19686, `generate
 * --seeds data/seeds_ja.jsonl -n 3` with the default model; tests/data/run-schema3/README.md):
 * read as it is by the read-only open (status, report), migrated by the open for writing, and
 * exported with the seed ids its requests' JSON examples named. The expected values are read
 * from the old file itself with jansson, not with the store's SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "isynth/export.h"
#include "isynth/pipeline.h"
#include "isynth/status.h"
#include "isynth/store.h"

#define TMPDIR_NAME "store_schema3"
#include "tmpdir.h"

#define RELEASE_DB ISYNTH_TEST_DATA "/run-schema3/run.db"
static char old_db[320]; /* the release's file with one accepted candidate per request */
#define MAX_REQ 64
#define MAX_SEEDS 64

/* What the old file says, read before any isynth open. */
typedef struct expected {
    size_t n_req;
    long long req_id[MAX_REQ];
    long long seeds[MAX_REQ][16]; /* the seed row ids its examples named, in order */
    char refs[MAX_REQ][16][24];   /* all its refs as the JSON spelled them */
    size_t n_all[MAX_REQ];
    size_t n_seeds[MAX_REQ];
    size_t n_refs;                  /* all refs of all requests, seeds and candidates */
    char ext_id[MAX_SEEDS + 1][64]; /* seed row id -> the seed's own id */
    long accepted, rejected;
} expected;

static expected want;

static void copy_file(const char *from, const char *sub)
{
    char path[400];
    mkdir(sub, 0777);
    snprintf(path, sizeof path, "%s/run.db", sub);
    FILE *in = fopen(from, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char b[8192];
    size_t n;
    while ((n = fread(b, 1, sizeof b, in)) > 0)
        assert_int_equal(fwrite(b, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void copy_old_db(const char *sub)
{
    copy_file(old_db, sub);
}

static sqlite3_stmt *query(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
    return s;
}

static sqlite3_stmt *query(sqlite3 *h, const char *sql);

/* The release's run gave no accepted row (tests/data/run-schema3/README.md): the copy the tests
 * start from accepts the first candidate with a key of each request, so that data.jsonl has a
 * row per request. Only candidates' status and reason change; the schema and the examples are
 * the release's. */
static void prepare_old_db(void)
{
    char sub[300];
    snprintf(sub, sizeof sub, "%s/base", dir);
    copy_file(RELEASE_DB, sub);
    snprintf(old_db, sizeof old_db, "%s/run.db", sub);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(old_db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE candidates SET status = 'accepted', reason = NULL, "
                                  "detail = NULL WHERE id IN (SELECT min(id) FROM candidates "
                                  "WHERE dedup_key != '' GROUP BY request_id)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
}

static void read_expected(void)
{
    prepare_old_db();
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(old_db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = query(h, "SELECT value FROM meta WHERE key = 'schema'");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "3");
    sqlite3_finalize(s);
    s = query(h, "SELECT id, ext_id FROM seeds ORDER BY id");
    while (sqlite3_step(s) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(s, 0);
        assert_true(id >= 1 && id <= MAX_SEEDS);
        snprintf(want.ext_id[id], sizeof want.ext_id[id], "%s", sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    s = query(h, "SELECT id, examples FROM requests ORDER BY id");
    while (sqlite3_step(s) == SQLITE_ROW) {
        assert_true(want.n_req < MAX_REQ);
        size_t r = want.n_req++;
        want.req_id[r] = sqlite3_column_int64(s, 0);
        const char *ex = (const char *)sqlite3_column_text(s, 1);
        json_t *a = ex ? json_loads(ex, 0, NULL) : NULL;
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
        {
            const char *ref = json_string_value(v);
            assert_non_null(ref);
            want.n_refs++;
            assert_true(want.n_all[r] < 16);
            snprintf(want.refs[r][want.n_all[r]++], 24, "%s", ref);
            if (ref[0] == 's') want.seeds[r][want.n_seeds[r]++] = strtoll(ref + 1, NULL, 10);
        }
        json_decref(a);
    }
    sqlite3_finalize(s);
    s = query(h, "SELECT coalesce(sum(status = 'accepted'), 0), coalesce(sum(status = "
                 "'rejected'), 0) FROM candidates");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    want.accepted = (long)sqlite3_column_int64(s, 0);
    want.rejected = (long)sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    sqlite3_close(h);
    /* the file is worth its place only if its requests showed seeds and it has both outcomes */
    assert_true(want.n_req >= 3);
    assert_true(want.n_refs > 0);
    assert_true(want.accepted > 0);
    assert_true(want.rejected > 0);
}

/* each_request's seeds shown, compared with the JSON request by request. */
typedef struct seen {
    size_t n;
} seen;

static isynth_err check_request(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)err;
    seen *v = user;
    assert_true(v->n < want.n_req);
    size_t r = v->n++;
    assert_int_equal(q->id, want.req_id[r]);
    assert_int_equal(q->n_seed_examples, want.n_seeds[r]);
    for (size_t i = 0; i < q->n_seed_examples; i++)
        assert_int_equal(q->seed_examples[i], want.seeds[r][i]);
    return ISYNTH_OK;
}

static void check_requests(isynth_store *st)
{
    isynth_error e;
    seen v = {0};
    assert_int_equal(isynth_store_each_request(st, 0, check_request, &v, &e), ISYNTH_OK);
    assert_int_equal(v.n, want.n_req);
}

/* The file's schema as both records say it, read without isynth. */
static void file_schema(const char *sub, char *meta, size_t cap, int *user_version)
{
    char path[400];
    snprintf(path, sizeof path, "%s/run.db", sub);
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = query(h, "SELECT value FROM meta WHERE key = 'schema'");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(meta, cap, "%s", sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    s = query(h, "PRAGMA user_version");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    *user_version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
}

/* status and report read the old file as it is, and leave it at schema 3. */
static void test_read_only_unmigrated(void **state)
{
    (void)state;
    char sub[300], meta[16];
    int uv;
    snprintf(sub, sizeof sub, "%s/ro", dir);
    copy_old_db(sub);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open_read(sub, &st, &e), ISYNTH_OK);
    isynth_run_totals t;
    assert_int_equal(isynth_store_totals(st, &t, &e), ISYNTH_OK);
    assert_int_equal(t.requests, (long)want.n_req);
    assert_int_equal(t.accepted, want.accepted);
    assert_int_equal(t.rejected, want.rejected);
    check_requests(st);
    isynth_run_status rs;
    assert_int_equal(isynth_status_get(st, 20, -1, -1, &rs, &e), ISYNTH_OK);
    isynth_store_close(st);
    file_schema(sub, meta, sizeof meta, &uv);
    assert_string_equal(meta, "3");
    assert_int_equal(uv, 0);
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* The open for writing migrates to 4 (both records), keeps every example, and the export's
 * seed_ids are the seeds' own ids the old JSON named, in its order. */
static void test_migrate_and_export(void **state)
{
    (void)state;
    char sub[300], meta[16], path[400];
    int uv;
    snprintf(sub, sizeof sub, "%s/rw", dir);
    copy_old_db(sub);
    isynth_store *st;
    isynth_error e;
    assert_int_equal(isynth_store_open(sub, 0, &st, &e), ISYNTH_OK);
    check_requests(st);
    for (size_t r = 0; r < want.n_req; r++) {
        char refs[ISYNTH_MAX_REQUEST_EXAMPLES][24];
        size_t n = 99;
        assert_int_equal(isynth_store_request_examples(st, want.req_id[r], refs, &n, &e),
                         ISYNTH_OK);
        assert_int_equal(n, want.n_all[r]);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(refs[i], want.refs[r][i]);
    }
    assert_int_equal(isynth_export_run(st, &e), ISYNTH_OK);
    isynth_store_close(st);
    file_schema(sub, meta, sizeof meta, &uv);
    assert_string_equal(meta, "4");
    assert_int_equal(uv, 4);

    /* data.jsonl: each row's seed_ids from its request's JSON of the old file */
    snprintf(path, sizeof path, "%s/data.jsonl", sub);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1 << 16];
    long rows = 0;
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(old_db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *rq = query(h, "SELECT request_id FROM candidates WHERE id = ?");
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        const char *id = json_string_value(json_object_get(o, "id"));
        assert_non_null(id);
        sqlite3_reset(rq);
        sqlite3_bind_int64(rq, 1, strtoll(id + 1, NULL, 10));
        assert_int_equal(sqlite3_step(rq), SQLITE_ROW);
        long long rid = sqlite3_column_int64(rq, 0);
        size_t r = 0;
        while (r < want.n_req && want.req_id[r] != rid)
            r++;
        assert_true(r < want.n_req);
        json_t *ids = json_object_get(o, "seed_ids");
        assert_true(json_is_array(ids));
        assert_int_equal(json_array_size(ids), want.n_seeds[r]);
        assert_true(want.n_seeds[r] > 0);
        for (size_t i = 0; i < want.n_seeds[r]; i++)
            assert_string_equal(json_string_value(json_array_get(ids, i)),
                                want.ext_id[want.seeds[r][i]]);
        json_decref(o);
        rows++;
    }
    sqlite3_finalize(rq);
    sqlite3_close(h);
    fclose(f);
    assert_int_equal(rows, want.accepted);
    snprintf(path, sizeof path, "%s/rejected.jsonl", sub);
    assert_int_equal(count_lines(path), want.rejected);

    /* a second open finds schema 4 and migrates nothing again */
    assert_int_equal(isynth_store_open(sub, 0, &st, &e), ISYNTH_OK);
    check_requests(st);
    isynth_store_close(st);
    snprintf(path, sizeof path, "%s/run.db", sub);
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = query(h, "SELECT count(*) FROM request_examples");
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), (long long)want.n_refs);
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static int group_setup(void **state)
{
    if (setup(state)) return -1;
    read_expected();
    return 0;
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_only_unmigrated),
        cmocka_unit_test(test_migrate_and_export),
    };
    return cmocka_run_group_tests(tests, group_setup, teardown);
}
