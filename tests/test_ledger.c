/* Judging and self-consistency on a run store, driven by a scripted in-process backend. This is
 * a test double on purpose: it produces on demand what a real model will not (a failed request,
 * a chosen score, re-answers whose dates change) so that the ledger can be checked exactly:
 * each row judged or re-asked once, failures retried, an interrupted pass continued, low scores
 * rejected. The real model and llama-server judge in tests/judge.cmake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "isynth/consistency.h"
#include "isynth/export.h"
#include "isynth/judge.h"
#include "isynth/pipeline.h"

#define TMPDIR_NAME "ledger"
#include "tmpdir.h"
#include "rundb.h"

typedef struct script {
    uint64_t ids[4];
    char *text[4];
    size_t n;
    int served;
    int fail_at; /* the served-th request fails (0: none) */
    volatile int *stop_after_first;
} script;

static size_t s_capacity(void *p)
{
    return 4 - ((script *)p)->n;
}

static size_t s_in_flight(void *p)
{
    return ((script *)p)->n;
}

static isynth_err s_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    (void)err;
    script *s = p;
    s->ids[s->n] = req->id;
    s->text[s->n++] = strdup(req->chat ? req->msgs[1].content : req->prompt);
    return ISYNTH_OK;
}

/* Judge requests carry the rubric (JSON reply); the others are re-asks of an instruction. */
static void reply(script *s, const char *req, char *out, size_t cap)
{
    bool judge = strstr(req, "score") != NULL;
    if (judge) {
        int score = strstr(req, "悪い例") ? 1 : strstr(req, "普通の例") ? 3 : 5;
        snprintf(out, cap, "{\"score\": %d, \"reason\": \"採点理由%d\", \"false_claims\": %s}",
                 score, score, score == 1 ? "[\"嘘の主張\"]" : "[]");
    } else if (strstr(req, "漱石")) {
        /* the dates of this row change from one answer to the next */
        snprintf(out, cap, "夏目漱石は%d年に生まれました。", 1860 + s->served % 5);
    } else {
        snprintf(out, cap, "徳川慶喜は1867年に大政奉還を行いました。");
    }
}

static isynth_err s_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    script *s = p;
    while (s->n) {
        s->n--;
        char text[512];
        isynth_gen_result r = {.id = s->ids[s->n], .completion_tokens = 10};
        if (++s->served == s->fail_at) {
            r.status = ISYNTH_ERR_HTTP;
            r.error = "HTTP 500: scripted failure";
        } else {
            reply(s, s->text[s->n], text, sizeof text);
            r.text = text;
            r.len = strlen(text);
            r.constrained = true;
        }
        free(s->text[s->n]);
        isynth_err rc = cb(user, &r, err);
        if (rc) {
            while (s->n)
                free(s->text[--s->n]);
            return rc;
        }
        if (s->stop_after_first) *s->stop_after_first = 1;
    }
    return ISYNTH_OK;
}

static void s_info(void *p, isynth_backend_info *out)
{
    (void)p;
    *out = (isynth_backend_info){.kind = "script",
                                 .model = "script.gguf",
                                 .model_name = "judge-x",
                                 .license = "",
                                 .has_chat_template = true,
                                 .parallel = 4};
}

static void s_stats(void *p, isynth_backend_stats *out)
{
    (void)p;
    (void)out;
}

static void s_free(void *p)
{
    script *s = p;
    for (size_t i = 0; i < s->n; i++)
        free(s->text[i]);
    free(p);
}

static const isynth_backend_ops ops = {s_capacity, s_in_flight, s_submit, s_step,
                                       s_info,     s_stats,     s_free};

static isynth_backend *scripted(script **out)
{
    script *s = calloc(1, sizeof *s);
    isynth_backend *b;
    assert_int_equal(isynth_backend_wrap(&ops, s, &b), ISYNTH_OK);
    *out = s;
    return b;
}

/* A run store with four accepted rows: good, ordinary, bad, and one whose dates will change. */
static isynth_store *make_run(long long ids[4])
{
    isynth_store *st;
    assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, NULL), ISYNTH_OK);
    assert_int_equal(isynth_store_meta_set(st, "lang", "ja", NULL), ISYNTH_OK);
    isynth_request_rec rq = {
        .stage = 1, .status = ISYNTH_REQ_DONE, .prompt = "p", .response = "r", .response_len = 1};
    long long req;
    assert_int_equal(isynth_store_add_request(st, &rq, &req, NULL), ISYNTH_OK);
    static const char *const instr[4] = {
        "良い例: 大政奉還について説明してください。", "普通の例: 大政奉還は何年ですか。",
        "悪い例: 大政奉還を説明してください。", "夏目漱石の生年を教えてください。"};
    static const char *const out[4] = {"徳川慶喜は1867年に大政奉還を行いました。", "1867年です。",
                                       "大政奉還は1999年です。",
                                       "夏目漱石は1867年に生まれました。"};
    static const char *const verify[4] = {"[\"徳川慶喜\",\"1867年\",\"大政奉還\"]", "[\"1867年\"]",
                                          "[\"大政奉還\",\"1999年\"]", "[\"夏目漱石\",\"1867年\"]"};
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        isynth_candidate_rec c = {.request_id = req,
                                  .idx = i,
                                  .instruction = instr[i],
                                  .input = "",
                                  .output = out[i],
                                  .dedup_key = key,
                                  .status = ISYNTH_CAND_ACCEPTED,
                                  .nn_score = -1,
                                  .verify = verify[i]};
        assert_int_equal(isynth_store_add_candidate(st, &c, &ids[i], NULL), ISYNTH_OK);
    }
    return st;
}

static int score_of(isynth_store *st, long long id, char **reason)
{
    int score;
    char *r, *claims, *model;
    assert_int_equal(isynth_store_get_judgement(st, id, &score, &r, &claims, &model, NULL),
                     ISYNTH_OK);
    if (score) assert_string_equal(model, "judge-x");
    if (reason)
        *reason = r;
    else
        isynth_free(r);
    isynth_free(claims);
    isynth_free(model);
    return score;
}

static void test_judge_ledger(void **state)
{
    (void)state;
    long long ids[4];
    isynth_store *st = make_run(ids);
    script *s;
    isynth_backend *be = scripted(&s);
    s->fail_at = 2; /* one row's request fails the first time */
    isynth_judge_run_params p = isynth_judge_run_params_default();
    p.min_score = 3;
    long judged, failed;
    isynth_error e;
    assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
    assert_int_equal(judged, 3);
    assert_int_equal(failed, 1);
    /* the failed row is judged by the next pass, and only it */
    s->fail_at = 0;
    s->served = 0;
    assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
    assert_int_equal(judged, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(s->served, 1);
    assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
    assert_int_equal(judged, 0);
    char *reason;
    assert_int_equal(score_of(st, ids[0], &reason), 5);
    assert_string_equal(reason, "採点理由5");
    isynth_free(reason);
    assert_int_equal(score_of(st, ids[1], NULL), 3);
    assert_int_equal(score_of(st, ids[2], NULL), 1);
    /* a score under --judge-min-score rejects the row */
    long accepted;
    assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ACCEPTED, &accepted, NULL), ISYNTH_OK);
    assert_int_equal(accepted, 3);
    isynth_quality_counts qc;
    assert_int_equal(isynth_store_quality_counts(st, &qc, NULL), ISYNTH_OK);
    assert_int_equal(qc.judged, 4);
    assert_int_equal(qc.score_hist[1], 1);
    assert_int_equal(qc.score_hist[5], 2);
    assert_int_equal(qc.with_facts, 3);
    isynth_backend_free(be);
    isynth_store_close(st);
}

static void test_judge_interrupted(void **state)
{
    (void)state;
    long long ids[4];
    isynth_store *st = make_run(ids);
    script *s;
    isynth_backend *be = scripted(&s);
    volatile int stop = 0;
    s->stop_after_first = &stop;
    isynth_judge_run_params p = isynth_judge_run_params_default();
    p.stop = &stop;
    long judged, failed;
    isynth_error e;
    /* the stop comes while rows are in flight: what was committed stays, the rest waits */
    isynth_err rc = isynth_judge_store(st, be, &p, &judged, &failed, &e);
    assert_true(rc == ISYNTH_ERR_CANCELLED || rc == ISYNTH_OK);
    long first = judged;
    assert_true(first >= 1 && first <= 4);
    isynth_backend_free(be);
    be = scripted(&s);
    stop = 0;
    assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
    assert_int_equal(first + judged, 4);
    assert_int_equal(s->served, 4 - first);
    for (int i = 0; i < 4; i++)
        assert_true(score_of(st, ids[i], NULL) > 0);
    isynth_backend_free(be);
    isynth_store_close(st);
}

static void test_consistency(void **state)
{
    (void)state;
    long long ids[4];
    isynth_store *st = make_run(ids);
    script *s;
    isynth_backend *be = scripted(&s);
    isynth_consistency_params p = isynth_consistency_params_default();
    p.k = 3;
    long checked, flagged;
    isynth_error e;
    assert_int_equal(isynth_consistency_store(st, be, &p, &checked, &flagged, &e), ISYNTH_OK);
    assert_int_equal(checked, 4);
    assert_int_equal(s->served, 12);
    int k;
    char *dis, *alt;
    /* the re-answers repeat 1867年 and the names of rows 0 and 1 */
    assert_int_equal(isynth_store_get_consistency(st, ids[0], &k, &dis, &alt, NULL), ISYNTH_OK);
    assert_int_equal(k, 3);
    assert_string_equal(dis, "[]");
    isynth_free(dis);
    isynth_free(alt);
    /* row 2's 1999年 is never repeated; row 3's date changes every time */
    assert_int_equal(isynth_store_get_consistency(st, ids[2], &k, &dis, &alt, NULL), ISYNTH_OK);
    assert_string_equal(dis, "[\"1999年\"]");
    assert_non_null(strstr(alt, "1867年"));
    isynth_free(dis);
    isynth_free(alt);
    assert_int_equal(isynth_store_get_consistency(st, ids[3], &k, &dis, &alt, NULL), ISYNTH_OK);
    assert_string_equal(dis, "[\"1867年\"]");
    assert_non_null(strstr(alt, "年"));
    isynth_free(dis);
    isynth_free(alt);
    assert_true(flagged >= 2);
    /* a second pass has nothing left to ask */
    s->served = 0;
    assert_int_equal(isynth_consistency_store(st, be, &p, &checked, &flagged, &e), ISYNTH_OK);
    assert_int_equal(checked, 0);
    assert_int_equal(s->served, 0);
    /* data.jsonl carries verify, judge and consistency */
    assert_int_equal(isynth_export_run(st, &e), ISYNTH_OK);
    char path[256], line[4096];
    snprintf(path, sizeof path, "%s/data.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "\"verify\":[\"徳川慶喜\",\"1867年\",\"大政奉還\"]"));
    assert_non_null(strstr(line, "\"consistency\":{\"k\":3"));
    isynth_backend_free(be);
    isynth_store_close(st);
}

/* ---- crash points (crash.h) ---- */

static isynth_judge_run_params walk_params(void)
{
    isynth_judge_run_params p = isynth_judge_run_params_default();
    p.min_score = 3;
    return p;
}

/* Opens the run in dir and judges it with a new scripted backend; its error code. */
static int judge_run(void *unused)
{
    (void)unused;
    isynth_store *st;
    isynth_err rc = isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, NULL);
    if (rc) return (int)rc;
    script *s;
    isynth_backend *be = scripted(&s);
    isynth_judge_run_params p = walk_params();
    long judged, failed;
    rc = isynth_judge_store(st, be, &p, &judged, &failed, NULL);
    isynth_backend_free(be);
    isynth_store_close(st);
    return (int)rc;
}

/* A judge pass killed at each of its crash points (before and after each row's COMMIT): the
 * database stays sound, every row judged before the kill keeps its judgement, and the next pass
 * judges exactly the rest, each row once, with the same rejections as an uninterrupted pass. */
static void test_judge_crash_walk(void **state)
{
    long long ids[4];
    isynth_store *st = make_run(ids);
    script *s;
    isynth_backend *be = scripted(&s);
    isynth_judge_run_params p = walk_params();
    long judged, failed;
    isynth_error e;
    crash_arm(0);
    assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
    long points = crash_disarm(), want_accepted;
    isynth_backend_free(be);
    assert_int_equal(judged, 4);
    assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ACCEPTED, &want_accepted, NULL), ISYNTH_OK);
    isynth_store_close(st);
    assert_true(points >= 8);
    print_message("judge crash walk: %ld points\n", points);
    for (long k = 1; k <= points; k++) {
        teardown(state);
        assert_int_equal(setup(state), 0);
        st = make_run(ids);
        isynth_store_close(st);
        assert_int_equal(crash_child(k, judge_run, NULL), CRASH_EXIT);
        assert_int_equal(isynth_store_open(dir, ISYNTH_STORE_CREATE, &st, &e), ISYNTH_OK);
        sqlite3 *db = rundb_open();
        assert_db_sound(db);
        sqlite3_close(db);
        int before = 0;
        for (int i = 0; i < 4; i++)
            before += score_of(st, ids[i], NULL) > 0;
        be = scripted(&s);
        assert_int_equal(isynth_judge_store(st, be, &p, &judged, &failed, &e), ISYNTH_OK);
        assert_int_equal(judged, 4 - before);
        assert_int_equal(s->served, 4 - before); /* no row asked twice */
        isynth_backend_free(be);
        for (int i = 0; i < 4; i++)
            assert_true(score_of(st, ids[i], NULL) > 0);
        long accepted;
        assert_int_equal(isynth_store_count(st, ISYNTH_CAND_ACCEPTED, &accepted, NULL), ISYNTH_OK);
        assert_int_equal(accepted, want_accepted);
        isynth_store_close(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_judge_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_judge_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consistency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_judge_crash_walk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
