/* The generation loop's bookkeeping, driven by a scripted in-process backend. This is a test
 * double on purpose: it produces, on demand, what a real model will not (a failed request,
 * junk, the same task twice, a copy of an example) so that the counts, the reasons, the
 * two-stage flow and the resume logic can be checked exactly. The real model is exercised by
 * tests/gen_e2e.sh and tests/gen_kill_resume.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "crash.h"
#include "script.h"
#include "isynth/pipeline.h"
#include "isynth/seeds.h"
#include "isynth/status.h"

#define TMPDIR_NAME "pipeline"
#include "tmpdir.h"
#include "rundb.h"

/* dir/name, in a static buffer */
static const char *q_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* The text of the first column of sql's first row into out. */
static void qs(const char *sql, char *out, size_t cap)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(q_path("run.db"), &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static isynth_gen_params params(long target)
{
    isynth_gen_params p = isynth_gen_params_default();
    p.seeds_path = ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl";
    p.out_dir = dir;
    p.target = target;
    return p;
}

/* A scripted run of p that must succeed: its closing progress. */
static isynth_progress run_ok(const isynth_gen_params *p)
{
    isynth_backend *b = scripted(0);
    isynth_progress last;
    isynth_error e;
    isynth_err rc = isynth_generate(p, b, &last, &e);
    isynth_backend_free(b);
    if (rc) fail_msg("generate: %s", e.msg);
    return last;
}

static void test_counts_and_resume(void **state)
{
    (void)state;
    isynth_gen_params p = params(5);
    isynth_progress last = run_ok(&p);
    assert_int_equal(last.accepted, 5);
    assert_int_equal(q("select count(*) from candidates where status='accepted'"), 5);
    /* every request's second task repeats the previous request's first one */
    assert_true(q("select count(*) from candidates where reason in ('duplicate','rouge')") >= 1);
    /* the refusal every 3rd request is recorded as unparseable, not dropped */
    assert_true(q("select count(*) from candidates where reason='unparseable'") >= 1);
    assert_int_equal(q("select count(*) from requests where status='done'"),
                     q("select count(distinct request_id) from candidates"));
    long requests = q("select count(*) from requests");

    /* the same call again: nothing to do, nothing added */
    isynth_error e;
    isynth_backend *b = scripted(0);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    assert_int_equal(q("select count(*) from requests"), requests);

    /* a higher target continues the run; accepted keys stay unique */
    p.target = 9;
    b = scripted(0);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    assert_int_equal(q("select count(*) from candidates where status='accepted'"), 9);
    assert_int_equal(q("select count(distinct dedup_key) from candidates where status='accepted'"),
                     9);
    char path[256];
    snprintf(path, sizeof path, "%s/data.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    assert_int_equal(lines, 9);

    /* other settings on the same directory are refused, nothing changes */
    p.two_stage = true;
    b = scripted(0);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_MISMATCH);
    assert_non_null(strstr(e.msg, "two_stage"));
    isynth_backend_free(b);
}

static void test_failures_recorded(void **state)
{
    (void)state;
    isynth_gen_params p = params(3);
    isynth_backend *b = scripted(2); /* every second request fails */
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    assert_int_equal(last.accepted, 3);
    assert_true(q("select count(*) from requests where status='failed'") >= 1);
    assert_int_equal(q("select count(*) from requests where status='failed' and "
                       "error like '%scripted failure%'"),
                     q("select count(*) from requests where status='failed'"));
}

/* Runs sql on the run's run.db. */
static void exec_sql(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(q_path("run.db"), &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The generation callback fails when the store refuses to record a request (a trigger raises):
 * the run stops with the store's error and message, not a relabelled one; the backend was left
 * with nothing in flight, and nothing of the refused request was kept. */
static void test_store_refuses(void **state)
{
    (void)state;
    isynth_gen_params p = params(2);
    isynth_progress last = run_ok(&p);
    long requests = q("select count(*) from requests");
    exec_sql("CREATE TRIGGER refuse BEFORE INSERT ON requests "
             "BEGIN SELECT RAISE(ABORT, 'the disk quota says no'); END");
    p.target = 6;
    isynth_backend *b = scripted(0);
    isynth_error e;
    isynth_error_clear(&e);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_STORE);
    assert_int_equal(e.code, ISYNTH_ERR_STORE);
    assert_non_null(strstr(e.msg, "the disk quota says no"));
    assert_null(strstr(e.msg, "out of memory"));
    assert_int_equal(isynth_backend_in_flight(b), 0);
    isynth_backend_free(b);
    assert_int_equal(q("select count(*) from requests"), requests);
    /* the run goes on once the store takes writes again */
    exec_sql("DROP TRIGGER refuse");
    b = scripted(0);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    assert_int_equal(last.accepted, 6);
}

/* A stored candidate the filters cannot take back on resume (its text is not UTF-8): the
 * filters' error comes back with the candidate named, where the loading callback's failure
 * used to become "out of memory loading the run". */
static void test_resume_bad_candidate(void **state)
{
    (void)state;
    isynth_gen_params p = params(2);
    isynth_progress last = run_ok(&p);
    long long id = q("select min(id) from candidates where status='accepted'");
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE candidates SET instruction = CAST(x'e381ff41' AS TEXT) WHERE id = %lld", id);
    exec_sql(sql);
    p.target = 4;
    isynth_backend *b = scripted(0);
    isynth_error e;
    isynth_error_clear(&e);
    isynth_err rc = isynth_generate(&p, b, &last, &e);
    isynth_backend_free(b);
    assert_int_not_equal(rc, ISYNTH_OK);
    assert_int_not_equal(rc, ISYNTH_ERR_NOMEM);
    assert_int_equal(e.code, rc);
    assert_null(strstr(e.msg, "out of memory"));
    char want[64];
    snprintf(want, sizeof want, "candidate %lld", id);
    if (!strstr(e.msg, want)) fail_msg("%s: %s", isynth_strerror(rc), e.msg);
}

static void test_two_stage(void **state)
{
    (void)state;
    isynth_gen_params p = params(4);
    p.two_stage = true;
    isynth_progress last = run_ok(&p);
    assert_int_equal(last.accepted, 4);
    assert_int_equal(q("select count(*) from candidates where status='accepted' and output "
                       "like '回答その%'"),
                     4);
    assert_true(q("select count(*) from requests where stage=2") >= 4);
}

static void test_request_limit(void **state)
{
    (void)state;
    isynth_gen_params p = params(50);
    p.max_requests = 4;
    isynth_progress last = run_ok(&p);
    assert_true(last.accepted < 50);
    assert_int_equal(q("select count(*) from requests"), 4);
}

/* ---- budgets: every figure from run.db ---- */

static int fresh(void **state);

/* Runs generate with the params and a backend of the given parallelism; returns its code. */
static isynth_err run_budget(const isynth_gen_params *p, int cap, isynth_progress *last)
{
    isynth_backend *b = scripted_cap(cap);
    isynth_error e;
    isynth_err rc = isynth_generate(p, b, last, &e);
    isynth_backend_free(b);
    if (rc) print_message("generate: %s\n", e.msg);
    return rc;
}

/* Each scripted request uses 10 prompt and 20 generated tokens. A budget of 100 generated
 * tokens stops after the 5th request one at a time; with two in flight the 6th, started at 80,
 * finishes too (at most parallelism - 1 over). The request limit and the target are far. */
static void test_token_budget(void **state)
{
    (void)state;
    isynth_gen_params p = params(100);
    p.max_generated_tokens = 100;
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_MAX_TOKENS);
    assert_int_equal(q("select count(*) from requests"), 5);
    assert_int_equal(q("select sum(completion_tokens) from requests"), 100);
    assert_int_equal(last.run_completion_tokens, 100);
    assert_int_equal(last.run_prompt_tokens, 50);
    /* the same command again: the budget is spent, no request is made */
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_MAX_TOKENS);
    assert_int_equal(q("select count(*) from requests"), 5);
    /* a higher budget continues from what run.db holds */
    p.max_generated_tokens = 160;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(q("select count(*) from requests"), 8);
    assert_int_equal(last.run_completion_tokens, 160);

    fresh(state);
    p.max_generated_tokens = 100;
    assert_int_equal(run_budget(&p, 2, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_MAX_TOKENS);
    assert_int_equal(q("select count(*) from requests"), 6);
}

/* 10 prompt tokens at 100,000 per million are 1.0, 20 generated at 100,000 are 2.0: 3.0 a
 * request, so a budget of 10 stops after the 4th (9.0 before it). */
static void test_cost_budget(void **state)
{
    (void)state;
    isynth_gen_params p = params(100);
    p.max_cost = 10;
    p.price_in = 100000;
    p.price_out = 100000;
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_MAX_COST);
    assert_int_equal(q("select count(*) from requests"), 4);
    assert_true(last.cost > 11.99 && last.cost < 12.01);
    /* a cost budget without a price is refused before anything is asked */
    fresh(state);
    p.price_in = p.price_out = 0;
    isynth_backend *b = scripted_cap(1);
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_INVALID);
    isynth_backend_free(b);
    assert_non_null(strstr(e.msg, "price"));
}

/* The script's requests keep fewer than all their candidates (every third is a refusal, and
 * the second task of each repeats the previous request's first): a minimum yield of 99% over 3
 * requests stops after the 3rd; a minimum of 1% lets the run reach its target. */
static void test_min_yield(void **state)
{
    (void)state;
    isynth_gen_params p = params(100);
    p.min_yield = 0.99;
    p.yield_window = 3;
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_LOW_YIELD);
    assert_int_equal(q("select count(*) from requests"), 3);
    assert_true(last.recent_yield >= 0 && last.recent_yield < 0.99);
    /* the window is rebuilt from run.db: the same command again stops at once */
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_LOW_YIELD);
    assert_int_equal(q("select count(*) from requests"), 3);

    fresh(state);
    p = params(5);
    p.min_yield = 0.01;
    p.yield_window = 3;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.end, ISYNTH_END_TARGET);
    assert_int_equal(last.accepted, 5);
}

static int generate_budget(void *arg)
{
    (void)arg;
    isynth_gen_params p = params(100);
    p.max_generated_tokens = 100;
    isynth_progress last;
    return (int)run_budget(&p, 1, &last);
}

/* A run under a token budget killed at each of its crash points and run again ends with the
 * same totals as the run that was never killed: no request counted twice, none forgotten. */
static void test_budget_crash_walk(void **state)
{
    crash_arm(0);
    assert_int_equal(generate_budget(NULL), 0);
    long points = crash_disarm();
    assert_true(points >= 10);
    long want_req = q("select count(*) from requests");
    long want_tok = q("select sum(completion_tokens) from requests");
    assert_int_equal(want_req, 5);
    for (long n = 1; n <= points; n++) {
        fresh(state);
        assert_int_equal(crash_child(n, generate_budget, NULL), CRASH_EXIT);
        assert_int_equal(generate_budget(NULL), 0);
        assert_int_equal(q("select count(*) from requests"), want_req);
        assert_int_equal(q("select sum(completion_tokens) from requests"), want_tok);
        isynth_store *st;
        isynth_error e;
        isynth_run_totals t;
        assert_int_equal(isynth_store_open_read(dir, &st, &e), ISYNTH_OK);
        assert_int_equal(isynth_store_totals(st, &t, &e), ISYNTH_OK);
        isynth_store_close(st);
        assert_int_equal(t.requests, want_req);
        assert_int_equal(t.completion_tokens, want_tok);
    }
}

/* isynth status, from another process, while the run writes run.db: after each finished
 * request the CLI's --json figures equal the run's own progress. */
typedef struct live {
    int checks;
    bool ok;
} live;

static void on_live(void *user, const isynth_progress *pr)
{
    live *l = user;
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' status --run '%s' --json", ISYNTH_CLI, dir);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    int st = f ? pclose(f) : -1;
    out[n] = '\0';
    json_t *o = json_loads(out, 0, NULL);
    if (st != 0 || !o) {
        print_message("status failed (%d): %s\n", st, out);
        l->ok = false;
        json_decref(o);
        return;
    }
    l->checks++;
    if (json_integer_value(json_object_get(o, "accepted")) != pr->accepted ||
        json_integer_value(json_object_get(o, "rejected")) != pr->rejected ||
        json_integer_value(json_object_get(o, "requests")) != pr->requests ||
        json_integer_value(json_object_get(o, "generated_tokens")) != pr->run_completion_tokens ||
        json_integer_value(json_object_get(o, "target")) != pr->target) {
        print_message("status disagrees with the run: %s\n", out);
        l->ok = false;
    }
    json_decref(o);
}

static void test_status_live(void **state)
{
    (void)state;
    isynth_gen_params p = params(5);
    live l = {.ok = true};
    p.progress = on_live;
    p.progress_user = &l;
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_true(l.ok);
    assert_int_equal(l.checks, (int)last.requests);
    assert_true(l.checks >= 5);
}

/* Small models write the prompt's own rules back as a task: caught as prompt_copy. */
static void test_prompt_copy(void **state)
{
    (void)state;
    isynth_gen_params p = params(3);
    isynth_backend *b = scripted_ex(0, true);
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    assert_int_equal(last.accepted, 3);
    assert_true(q("select count(*) from candidates where reason='prompt_copy'") >= 1);
    assert_int_equal(q("select count(*) from candidates where status='accepted' and "
                       "instruction like '%互いに種類%'"),
                     0);
}

/* Early stop drops exactly the tasks the filters reject by their instruction and input, records
 * each with its reason, saves their outputs' tokens, and never drops a task that a run without
 * early stop accepts (or rejects only for its output). */
static void run_streamed(bool early_stop, bool no_rewind, const isynth_seedset *seeds, long *tokens)
{
    isynth_gen_params p = params(100);
    p.max_requests = 6;
    p.early_stop = early_stop;
    script *sc = calloc(1, sizeof *sc);
    sc->cap = 2;
    sc->stream = true;
    sc->seed = &seeds->tasks[0];
    sc->no_rewind = no_rewind;
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&ops, sc, &b), ISYNTH_OK);
    isynth_progress last;
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_OK);
    isynth_backend_free(b);
    *tokens = last.completion_tokens;
    assert_int_equal(last.stopped, q("select count(*) from candidates where detail like "
                                     "'stopped early%'"));
}

/* The second run of a comparison goes to a fresh sibling of the test's run directory (saved
 * in full_dir); leave_sibling removes it and makes the test's directory current again. */
static void enter_sibling(char *full_dir, const char *suffix)
{
    memcpy(full_dir, dir, sizeof dir);
    snprintf(dir, sizeof dir, "%.100s-%s", full_dir, suffix);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    assert_int_equal(system(cmd), 0);
}

static void leave_sibling(const char *full_dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    memcpy(dir, full_dir, sizeof dir);
}

/* A run's accepted rows seed the next run (--seeds run:DIR): its card names the source run. */
static void test_run_as_seeds(void **state)
{
    (void)state;
    isynth_gen_params p = params(4);
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    char first[128], spec[160];
    snprintf(spec, sizeof spec, "run:%s", dir);
    enter_sibling(first, "next");
    p = params(2);
    p.seeds_path = spec;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.accepted, 2);
    assert_int_equal(q("select count(*) from seeds"), 4);
    assert_int_equal(q("select count(*) from seeds where ext_id like 'g%'"), 4);
    char card[4096] = "";
    FILE *f = fopen(q_path("README.md"), "r");
    assert_non_null(f);
    size_t n = fread(card, 1, sizeof card - 1, f);
    card[n] = '\0';
    fclose(f);
    assert_non_null(strstr(card, "| seeds_file | run:"));
    assert_non_null(strstr(card, "| seeds_run | "));
    assert_non_null(strstr(card, "4 accepted, not reviewed rows"));
    leave_sibling(first);
}

/* Seeds built in memory (no file: no path, no shape, no file hash) run like loaded ones: the
 * run store records no file name, a hash of the tasks stands for the file's, so the same
 * tasks continue the run and other tasks are refused. */
static void test_seeds_in_memory(void **state)
{
    (void)state;
    isynth_seedset *loaded = NULL;
    assert_int_equal(
        isynth_seeds_load(ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl", NULL, &loaded, NULL),
        ISYNTH_OK);
    isynth_seedset mem = {.tasks = loaded->tasks, .n = loaded->n, .lang = ISYNTH_LANG_JA};
    isynth_gen_params p = params(3);
    p.seeds_path = NULL;
    p.seeds = &mem;
    isynth_progress last;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.accepted, 3);
    assert_int_equal(q("select count(*) from seeds"), (long)loaded->n);
    char val[128];
    qs("select value from meta where key='seeds_file'", val, sizeof val);
    assert_string_equal(val, "");
    qs("select value from meta where key='seeds_shape'", val, sizeof val);
    assert_string_equal(val, "memory");
    qs("select value from meta where key='seeds_sha256'", val, sizeof val);
    assert_int_equal(strlen(val), 64);
    assert_string_not_equal(val, loaded->sha256); /* the tasks' hash, not a file's */

    /* the same tasks continue the run */
    p.target = 4;
    assert_int_equal(run_budget(&p, 1, &last), ISYNTH_OK);
    assert_int_equal(last.accepted, 4);

    /* other tasks are other seeds */
    char *kept = loaded->tasks[0].instruction;
    loaded->tasks[0].instruction = "別の指示です。";
    isynth_backend *b = scripted(0);
    isynth_error e;
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_MISMATCH);
    assert_non_null(strstr(e.msg, "seeds_sha256"));
    isynth_backend_free(b);
    loaded->tasks[0].instruction = kept;

    /* an empty set is refused, not divided by */
    mem.n = 0;
    b = scripted(0);
    assert_int_equal(isynth_generate(&p, b, &last, &e), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(e.msg, "no task"));
    isynth_backend_free(b);
    isynth_seeds_free(loaded);
}

static void test_early_stop(void **state)
{
    (void)state;
    isynth_seedset *seeds = NULL;
    assert_int_equal(
        isynth_seeds_load(ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl", NULL, &seeds, NULL), ISYNTH_OK);
    long full_tokens, early_tokens;
    run_streamed(false, false, seeds, &full_tokens);
    /* the run without early stop: what it accepted and what it rejected, and why */
    long accepted = q("select count(*) from candidates where status='accepted'");
    long echo = q("select count(*) from candidates where reason='echo'");
    long loops = q("select count(*) from candidates where reason='repetition'");
    assert_true(loops >= 6);
    assert_true(accepted >= 6);
    assert_true(echo >= 1);
    assert_int_equal(q("select count(*) from candidates where detail like 'stopped early%'"), 0);
    char full_dir[sizeof dir];
    enter_sibling(full_dir, "early");
    run_streamed(true, false, seeds, &early_tokens);
    /* every request dropped its seed copy, and its repeat of the request before */
    long stopped = q("select count(*) from candidates where detail like 'stopped early%'");
    assert_true(stopped >= 6);
    assert_int_equal(q("select count(*) from candidates where detail like 'stopped early%' and "
                       "(reason is null or output != '')"),
                     0);
    assert_int_equal(q("select count(*) from candidates where status='accepted'"), accepted);
    assert_int_equal(q("select count(*) from candidates where reason='echo'"), echo);
    /* each loop was cut while it looped, not written to its end */
    assert_int_equal(q("select count(*) from candidates where reason='repetition' and detail "
                       "like 'stopped early%'"),
                     loops);
    /* the same accepted rows as the run without early stop, one by one */
    char sql[512];
    snprintf(sql, sizeof sql,
             "select count(*) from candidates c where status='accepted' and exists (select 1 "
             "from f.candidates d where d.status='accepted' and d.instruction=c.instruction)");
    char path[256];
    snprintf(path, sizeof path, "%s/run.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char attach[300];
    snprintf(attach, sizeof attach, "attach '%s/run.db' as f", full_dir);
    assert_int_equal(sqlite3_exec(db, attach, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), accepted);
    sqlite3_finalize(st);
    /* each stopped task was rejected, for the same reason, by the run that wrote it in full */
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "select count(*) from candidates c where detail like "
                                        "'stopped early%' and not exists (select 1 from "
                                        "f.candidates d where d.status='rejected' and "
                                        "instr(c.instruction, d.instruction) > 0 and "
                                        "d.reason=c.reason)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* the dropped tasks' inputs and outputs were never decoded */
    assert_true(early_tokens < full_tokens);
    leave_sibling(full_dir);
    isynth_seeds_free(seeds);
}

/* A backend that cannot rewind (a server's stream): a cut ends the reply, so the watcher lets a
 * doomed task through unless it is the last one asked for (the third), and ends a loop. Every
 * request loses exactly its tail: the third task when it is doomed (a repeat of the request
 * before), else the loop of the fifth; the seed copy in second place is written out and
 * rejected as before; nothing accepted is lost. */
static void test_early_stop_no_rewind(void **state)
{
    (void)state;
    isynth_seedset *seeds = NULL;
    assert_int_equal(
        isynth_seeds_load(ISYNTH_SOURCE_DIR "/data/seeds_ja.jsonl", NULL, &seeds, NULL), ISYNTH_OK);
    long full_tokens, early_tokens;
    run_streamed(false, false, seeds, &full_tokens);
    long accepted = q("select count(*) from candidates where status='accepted'");
    long seed_copies = q("select count(*) from candidates where reason='seed_copy'");
    char full_dir[sizeof dir];
    enter_sibling(full_dir, "norw");
    run_streamed(true, true, seeds, &early_tokens);
    long requests = q("select count(*) from requests");
    assert_int_equal(q("select count(*) from candidates where status='accepted'"), accepted);
    assert_int_equal(q("select count(*) from candidates where detail like 'stopped early%'"),
                     requests);
    /* no request lost more than its tail: one stop each */
    assert_int_equal(q("select count(*) from (select request_id from candidates where detail "
                       "like 'stopped early%' group by request_id having count(*) > 1)"),
                     0);
    /* the seed copies, not last, were written in full and rejected when parsed */
    assert_int_equal(q("select count(*) from candidates where reason='seed_copy' and "
                       "detail not like 'stopped early%' and output != ''"),
                     seed_copies);
    assert_true(q("select count(*) from candidates where reason='repetition' and detail like "
                  "'stopped early%'") >= 1);
    assert_true(early_tokens < full_tokens);
    leave_sibling(full_dir);
    isynth_seeds_free(seeds);
}

static int fresh(void **state)
{
    teardown(state);
    return setup(state);
}

/* ---- crash points (crash.h) ---- */

/* The lines of FILE in dir, each of which must be whole (end in \n) and a JSON object; -1 when
 * the file does not exist. The ids of the lines go to ids (joined by \n) when non-NULL. */
static long whole_json_lines(const char *name, char *ids, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long lines = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    if (ids) ids[0] = '\0';
    while ((n = getline(&line, &lcap, f)) > 0) {
        assert_int_equal(line[n - 1], '\n'); /* never a torn last line */
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        assert_non_null(o);
        assert_true(json_is_object(o));
        const char *id = json_string_value(json_object_get(o, "id"));
        if (ids && id) {
            strncat(ids, id, cap - strlen(ids) - 2);
            strcat(ids, "\n");
        }
        json_decref(o);
        lines++;
    }
    free(line);
    fclose(f);
    return lines;
}

static void assert_integrity(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(q_path("run.db"), &db), SQLITE_OK);
    assert_db_sound(db);
    sqlite3_close(db);
}

/* Runs generate to target in the test's directory; returns its error code. */
static int generate_to(void *target)
{
    isynth_gen_params p = params(*(long *)target);
    isynth_backend *b = scripted(0);
    isynth_progress last;
    isynth_error e;
    isynth_err rc = isynth_generate(&p, b, &last, &e);
    isynth_backend_free(b);
    if (rc) print_message("generate: %s\n", e.msg);
    return (int)rc;
}

/* Runs generate to target; with at > 0 in a child that ends at that crash point. Returns the
 * error code, or the child's exit code. */
static int generate_maybe_crash(long target, long at)
{
    return at > 0 ? crash_child(at, generate_to, &target) : generate_to(&target);
}

/* Every crash point of a whole run (before and after each COMMIT, before and after each
 * export's rename), one process death at each: after it, the run directory holds whole files
 * only and a sound database; the same command again reaches the target with every row accepted
 * before the crash still there, no duplicate, and exports that match the store. */
static void test_crash_walk(void **state)
{
    const long target = 5;
    /* a run with the hook counting only: how many points there are */
    crash_arm(0);
    assert_int_equal(generate_maybe_crash(target, 0), 0);
    long points = crash_disarm();
    assert_true(points >= 10);
    print_message("crash walk: %ld crash points in a run to %ld rows\n", points, target);
    for (long n = 1; n <= points; n++) {
        fresh(state);
        assert_int_equal(generate_maybe_crash(target, n), CRASH_EXIT);
        /* right after the crash */
        bool have_db = access(q_path("run.db"), F_OK) == 0 &&
                       q("select count(*) from sqlite_master where name='candidates'") == 1;
        long before = 0;
        char kept_before[4096] = "";
        if (have_db) {
            assert_integrity();
            before = q("select count(*) from candidates where status='accepted'");
            qs("select coalesce(group_concat(id), '') from candidates where status='accepted'",
               kept_before, sizeof kept_before);
            assert_true(q("select count(*) from candidates where status='accepted'") ==
                        q("select count(distinct dedup_key) from candidates where "
                          "status='accepted'"));
        }
        long lines = whole_json_lines("data.jsonl", NULL, 0);
        assert_true(lines <= target);
        whole_json_lines("rejected.jsonl", NULL, 0);
        /* the same command again */
        assert_int_equal(generate_maybe_crash(target, 0), 0);
        assert_integrity();
        assert_int_equal(q("select count(*) from candidates where status='accepted'"), target);
        assert_int_equal(q("select count(distinct dedup_key) from candidates where "
                           "status='accepted'"),
                         target);
        assert_true(before <= target);
        char ids[4096];
        assert_int_equal(whole_json_lines("data.jsonl", ids, sizeof ids), target);
        /* the file's ids are the store's accepted rows, each once */
        for (char *id = ids, *e; (e = strchr(id, '\n')) != NULL; id = e + 1) {
            *e = '\0';
            char sql[200];
            snprintf(sql, sizeof sql,
                     "select count(*) from candidates where status='accepted' and 'g' || id = "
                     "'%.32s'",
                     id);
            assert_int_equal(q(sql), 1);
        }
        assert_int_equal(access(q_path("README.md"), F_OK), 0);
        /* a temporary the crash left is gone: the rerun's writers removed it */
        char cmd[300];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", dir);
        assert_int_not_equal(system(cmd), 0);
        /* every row accepted before the crash is still accepted */
        char sql[4200];
        snprintf(sql, sizeof sql,
                 "select count(*) from candidates where status='accepted' and id in (%s)",
                 kept_before);
        assert_int_equal(q(sql), before);
    }
}

/* Allocation failures across a whole scripted run, SQLite's and libcurl's included (main routes
 * them through the layer): the n-th allocation fails, for n spread over the run. The run ends
 * OK or with an error, never a crash or a leak (ASan), and the same command again, with nothing
 * failing, reaches the target from whatever the failed run left. */
static void test_alloc_walk(void **state)
{
    const long target = 3;
    isynth_alloc_fail_at(0, false);
    assert_int_equal(generate_maybe_crash(target, 0), 0);
    long total = isynth_alloc_fail_at(0, false);
    assert_true(total > 1000);
    long step = total / 250 > 1 ? total / 250 : 1, failed = 0;
    for (long n = 1; n <= total; n += step) {
        fresh(state);
        isynth_gen_params p = params(target);
        isynth_backend *b = scripted(0);
        isynth_progress last;
        isynth_error e;
        isynth_err rc = b ? ISYNTH_OK : ISYNTH_ERR_NOMEM;
        isynth_alloc_fail_at(n, false);
        if (!rc) rc = isynth_generate(&p, b, &last, &e);
        isynth_alloc_fail_at(0, false);
        isynth_backend_free(b);
        failed += rc != ISYNTH_OK;
        if (rc) assert_true(e.msg[0] != '\0');
        assert_int_equal(generate_maybe_crash(target, 0), 0);
        assert_integrity();
        assert_int_equal(q("select count(*) from candidates where status='accepted'"), target);
        assert_int_equal(whole_json_lines("data.jsonl", NULL, 0), target);
    }
    print_message("allocation walk: %ld allocations in a run, %ld failed at, %ld runs ended in "
                  "an error\n",
                  total, (total + step - 1) / step, failed);
    assert_true(failed > 0);
}

int main(void)
{
    if (isynth_global_init(NULL)) return 1; /* the dependencies' allocations go through ours */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counts_and_resume, fresh),
        cmocka_unit_test_setup(test_failures_recorded, fresh),
        cmocka_unit_test_setup(test_store_refuses, fresh),
        cmocka_unit_test_setup(test_resume_bad_candidate, fresh),
        cmocka_unit_test_setup(test_two_stage, fresh),
        cmocka_unit_test_setup(test_request_limit, fresh),
        cmocka_unit_test_setup(test_token_budget, fresh),
        cmocka_unit_test_setup(test_cost_budget, fresh),
        cmocka_unit_test_setup(test_min_yield, fresh),
        cmocka_unit_test_setup(test_budget_crash_walk, fresh),
        cmocka_unit_test_setup(test_status_live, fresh),
        cmocka_unit_test_setup(test_run_as_seeds, fresh),
        cmocka_unit_test_setup(test_seeds_in_memory, fresh),
        cmocka_unit_test_setup(test_prompt_copy, fresh),
        cmocka_unit_test_setup(test_early_stop, fresh),
        cmocka_unit_test_setup(test_early_stop_no_rewind, fresh),
        cmocka_unit_test_setup(test_crash_walk, fresh),
        cmocka_unit_test_setup(test_alloc_walk, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
