/* Tests of the LLM judge (src/judge.c).
 *
 * Default group (unit): the prompt in each language with its rubric, the schema and grammar
 * produced from one field description, the parsers on good, Japanese, malformed and
 * out-of-range replies and on free text, and the driver against a scripted backend: a test
 * double made with isynth_backend_wrap() whose replies each test writes, so that failures,
 * callback errors and the stop flag can be produced on demand. Then every allocation in turn
 * is made to fail.
 *
 * Integration groups, each with a real peer:
 *   test_judge llama          the embedded backend, the default model, the GBNF grammar
 *   test_judge llama-server   the real llama-server on a loopback port, response_format
 *   test_judge stub           tests/http_stub.py answering 400 to response_format: the
 *                             backend falls back and the judge extracts the object from prose */
#include "isynth/judge.h"
#include "isynth/openai.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#ifndef ISYNTH_PYTHON
#define ISYNTH_PYTHON "python3"
#endif
#ifndef ISYNTH_HTTP_STUB
#define ISYNTH_HTTP_STUB ISYNTH_SOURCE_DIR "/tests/http_stub.py"
#endif
#ifndef ISYNTH_LLAMA_SERVER
#define ISYNTH_LLAMA_SERVER ""
#endif
#ifndef ISYNTH_MODEL
#define ISYNTH_MODEL ""
#endif

#include "child.h"

#define S(x) (x), strlen(x)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- rows ---- */

static const isynth_judge_row ja_rows[] = {
    {0, "日本で一番高い山の名前と、その標高を答えてください。", "",
     "日本で一番高い山は富士山で、標高は3776メートルです。", NULL},
    {1, "次の文章を要約してください。", "", "この文章は、環境問題について述べています。", NULL},
    {2, "次の計算をしてください。", "12 × 8", "12 × 8 = 96 です。", NULL},
    {3, "日本の首都はどこですか。", "", "日本の首都は大阪です。", NULL},
};

static const isynth_judge_row en_rows[] = {
    {0, "What is the boiling point of water at sea level in Celsius?", "",
     "Water boils at 100 degrees Celsius at sea level.", NULL},
    {1, "Summarize the following article.", "", "The article is about climate change.", NULL},
};

/* ---- the scripted backend: a test double ---- */

/* What the double answers for one request id. */
typedef struct scripted {
    isynth_err status;
    const char *text;
    bool constrained;
    bool truncated;
    const char *error;
} scripted;

typedef struct seen {
    bool chat;
    char *system, *user, *prompt, *grammar, *schema;
    int max_tokens;
    float temperature;
} seen;

typedef struct fake {
    size_t cap;
    size_t per_step; /* results delivered per step */
    uint64_t flight[64];
    size_t n_flight;
    size_t max_flight;
    const scripted *replies; /* indexed by request id */
    size_t n_replies;
    seen seen[64];
    size_t n_seen;
    isynth_err step_fails; /* step returns this once a request is in flight */
} fake;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static size_t f_capacity(void *impl)
{
    fake *f = impl;
    return f->cap - f->n_flight;
}

static size_t f_in_flight(void *impl)
{
    return ((fake *)impl)->n_flight;
}

static isynth_err f_submit(void *impl, const isynth_gen_req *req, isynth_error *err)
{
    fake *f = impl;
    if (f->n_flight >= f->cap)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "fake: submit past capacity");
    assert_true(req->id < f->n_replies);
    f->flight[f->n_flight++] = req->id;
    if (f->n_flight > f->max_flight) f->max_flight = f->n_flight;
    if (f->n_seen < 64) {
        seen *s = &f->seen[f->n_seen++];
        s->chat = req->chat;
        s->system = req->n_msgs > 0 ? dup_or_null(req->msgs[0].content) : NULL;
        s->user = req->n_msgs > 1 ? dup_or_null(req->msgs[1].content) : NULL;
        s->prompt = dup_or_null(req->prompt);
        s->grammar = dup_or_null(req->grammar);
        s->schema = dup_or_null(req->json_schema);
        s->max_tokens = req->max_tokens;
        s->temperature = req->temperature;
    }
    return ISYNTH_OK;
}

static isynth_err f_step(void *impl, isynth_gen_cb cb, void *user, isynth_error *err)
{
    fake *f = impl;
    if (f->step_fails) return isynth_error_set(err, f->step_fails, "fake: the backend broke");
    size_t k = f->per_step ? f->per_step : f->n_flight;
    for (size_t i = 0; i < k && f->n_flight; i++) {
        uint64_t id = f->flight[0];
        memmove(f->flight, f->flight + 1, (f->n_flight - 1) * sizeof f->flight[0]);
        f->n_flight--;
        const scripted *sc = &f->replies[id];
        isynth_gen_result r = {
            .id = id,
            .status = sc->status,
            .text = sc->status ? NULL : sc->text,
            .len = sc->status || !sc->text ? 0 : strlen(sc->text),
            .error = sc->status ? sc->error : NULL,
            .truncated = sc->truncated,
            .prompt_tokens = 100,
            .completion_tokens = 20,
            .seconds = 0.01,
            .constrained = sc->constrained,
        };
        isynth_err rc = cb(user, &r, err);
        if (rc) { /* the requests left are dropped, as a backend does */
            f->n_flight = 0;
            return rc;
        }
    }
    return ISYNTH_OK;
}

static void f_info(void *impl, isynth_backend_info *out)
{
    (void)impl;
    out->kind = "fake";
    out->model = "fake-model";
    out->model_name = "fake-model-name";
    out->license = "";
    out->has_chat_template = true;
    out->parallel = 1;
}

static void f_stats(void *impl, isynth_backend_stats *out)
{
    (void)impl;
    (void)out;
}

static void f_free(void *impl)
{
    fake *f = impl;
    for (size_t i = 0; i < f->n_seen; i++) {
        free(f->seen[i].system);
        free(f->seen[i].user);
        free(f->seen[i].prompt);
        free(f->seen[i].grammar);
        free(f->seen[i].schema);
    }
    free(f);
}

static const isynth_backend_ops fake_ops = {
    .capacity = f_capacity,
    .in_flight = f_in_flight,
    .submit = f_submit,
    .step = f_step,
    .info = f_info,
    .stats = f_stats,
    .free = f_free,
};

/* A scripted backend; *f stays valid until the backend is freed. NULL when out of memory. */
static isynth_backend *fake_new(size_t cap, const scripted *replies, size_t n, fake **f)
{
    fake *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->cap = cap;
    x->replies = replies;
    x->n_replies = n;
    isynth_backend *b = NULL;
    if (isynth_backend_wrap(&fake_ops, x, &b)) {
        free(x);
        return NULL;
    }
    *f = x;
    return b;
}

/* ---- a caller of the driver ---- */

typedef struct got {
    int n;
    int count[64];
    isynth_err status[64];
    int score[64];
    char *reason[64];
    size_t n_claims[64];
    char *error[64];
    bool constrained[64];
    char *model[64];
} got;

typedef struct feed {
    const isynth_judge_row *rows;
    size_t n, next;
    got g;
    int fail_next_at; /* next() fails when asked for this row (1-based), 0: never */
    int fail_done_at; /* done() fails on this outcome (1-based), 0: never */
    int stop_at;      /* done() sets *stop on this outcome */
    volatile int *stop;
    int done_calls;
} feed;

static isynth_err feed_next(void *user, isynth_judge_row *row, bool *have, isynth_error *err)
{
    feed *fd = user;
    if (fd->fail_next_at && (int)fd->next + 1 == fd->fail_next_at)
        return isynth_error_set(err, ISYNTH_ERR_STORE, "store: disk I/O error reading row %zu",
                                fd->next + 1);
    *have = fd->next < fd->n;
    if (*have) *row = fd->rows[fd->next++];
    return ISYNTH_OK;
}

static isynth_err feed_done(void *user, const isynth_judge_outcome *o, isynth_error *err)
{
    feed *fd = user;
    fd->done_calls++;
    if (fd->fail_done_at && fd->done_calls == fd->fail_done_at)
        return isynth_error_set(err, ISYNTH_ERR_STORE, "store: database is locked");
    assert_true(o->id < 64);
    int i = (int)o->id;
    got *g = &fd->g;
    g->n++;
    g->count[i]++;
    g->status[i] = o->status;
    g->constrained[i] = o->constrained;
    free(g->model[i]);
    g->model[i] = strdup(o->model);
    if (o->status == ISYNTH_OK) {
        assert_non_null(o->judgement);
        assert_null(o->error);
        assert_non_null(o->reply);
        g->score[i] = o->judgement->score;
        free(g->reason[i]);
        g->reason[i] = strdup(o->judgement->reason);
        g->n_claims[i] = o->judgement->n_false_claims;
    } else {
        assert_null(o->judgement);
        assert_non_null(o->error);
        free(g->error[i]);
        g->error[i] = strdup(o->error);
    }
    if (fd->stop_at && fd->done_calls == fd->stop_at) *fd->stop = 1;
    return ISYNTH_OK;
}

static void feed_free(feed *fd)
{
    for (int i = 0; i < 64; i++) {
        free(fd->g.reason[i]);
        free(fd->g.error[i]);
        free(fd->g.model[i]);
    }
}

/* ---- prompt, schema and grammar ---- */

static bool has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return true;
    return false;
}

static void test_prompt_ja(void **state)
{
    (void)state;
    isynth_judge_params p = isynth_judge_params_default();
    assert_int_equal(p.lang, ISYNTH_LANG_JA);
    assert_true(p.chat && p.constrain);
    isynth_judge_request r;
    isynth_error err;
    assert_int_equal(isynth_judge_request_build(&p, &ja_rows[0], &r, &err), ISYNTH_OK);
    assert_true(r.req.chat);
    assert_int_equal(r.req.n_msgs, 2);
    assert_string_equal(r.req.msgs[0].role, "system");
    assert_string_equal(r.req.msgs[1].role, "user");
    const char *u = r.req.msgs[1].content;
    /* the rubric, in Japanese: complete instruction, correct answer, language, false claims */
    assert_non_null(strstr(r.req.msgs[0].content, "審査員"));
    assert_non_null(strstr(u, "評価基準"));
    assert_non_null(strstr(u, "指示が明確で、それだけで完結"));
    assert_non_null(strstr(u, "正しく、漏れなく"));
    assert_non_null(strstr(u, "日本語で書かれている"));
    assert_non_null(strstr(u, "false_claims"));
    /* the row, with an empty input shown as なし */
    assert_non_null(strstr(u, "## 指示\n日本で一番高い山の名前と、その標高を答えてください。\n"));
    assert_non_null(strstr(u, "## 入力\nなし\n"));
    assert_non_null(strstr(u, "## 出力\n日本で一番高い山は富士山で"));
    assert_null(strstr(u, "Criteria"));
    /* constrained both ways, from the same description */
    char *schema, *grammar;
    assert_int_equal(isynth_judge_schema(&schema, &err), ISYNTH_OK);
    assert_int_equal(isynth_judge_grammar(&grammar, &err), ISYNTH_OK);
    assert_string_equal(r.req.json_schema, schema);
    assert_string_equal(r.req.grammar, grammar);
    assert_string_equal(r.req.schema_name, "judgement");
    assert_int_equal(r.req.max_tokens, 512);
    assert_true(r.req.temperature == 0.0f);
    assert_int_equal(r.req.id, 0);
    isynth_free(schema);
    isynth_free(grammar);
    /* the plain form holds the same text and ends where the reply starts */
    assert_non_null(strstr(r.req.prompt, r.req.msgs[0].content));
    assert_non_null(strstr(r.req.prompt, u));
    assert_true(strlen(r.req.prompt) > strlen("回答: "));
    assert_string_equal(r.req.prompt + strlen(r.req.prompt) - strlen("回答: "), "回答: ");
    isynth_judge_request_clear(&r);
    isynth_judge_request_clear(&r); /* idempotent */

    /* an input is shown as given */
    assert_int_equal(isynth_judge_request_build(&p, &ja_rows[2], &r, &err), ISYNTH_OK);
    assert_non_null(strstr(r.req.msgs[1].content, "## 入力\n12 × 8\n"));
    assert_int_equal(r.req.seed, 2);
    /* no parent section for a row that is not a rewrite */
    assert_null(strstr(r.req.msgs[1].content, "元のタスク"));
    isynth_judge_request_clear(&r);

    /* an Evol-Instruct rewrite is shown after its parent, with the rule against rewrites that
     * change nothing */
    isynth_judge_row ev = ja_rows[1];
    ev.parent = "光合成とは何か説明してください。";
    ev.instruction =
        "光合成とは何か、葉緑体のはたらきに触れて、中学生にもわかるように説明してください。";
    assert_int_equal(isynth_judge_request_build(&p, &ev, &r, &err), ISYNTH_OK);
    const char *eu = r.req.msgs[1].content;
    const char *par = strstr(eu, "## 元のタスク");
    assert_non_null(par);
    assert_non_null(strstr(par, "点数を2以下"));
    assert_non_null(strstr(par, "\n光合成とは何か説明してください。\n"));
    assert_true(par < strstr(eu, "## 指示\n光合成とは何か、葉緑体"));
    isynth_judge_request_clear(&r);
}

static void test_prompt_en(void **state)
{
    (void)state;
    isynth_judge_params p = isynth_judge_params_default();
    p.lang = ISYNTH_LANG_EN;
    p.chat = false;
    p.max_tokens = 300;
    p.seed = 0x100;
    isynth_judge_request r;
    isynth_error err;
    assert_int_equal(isynth_judge_request_build(&p, &en_rows[1], &r, &err), ISYNTH_OK);
    assert_false(r.req.chat);
    const char *u = r.req.msgs[1].content;
    assert_non_null(strstr(u, "# Criteria"));
    assert_non_null(strstr(u, "clear and complete on its own"));
    assert_non_null(strstr(u, "correctly and completely"));
    assert_non_null(strstr(u, "in English"));
    assert_non_null(strstr(u, "false_claims"));
    assert_non_null(strstr(u, "## Input\n(none)\n"));
    /* an English row gets an English prompt: no Japanese anywhere */
    assert_false(has_non_ascii(r.req.prompt));
    assert_string_equal(r.req.prompt + strlen(r.req.prompt) - strlen("Answer: "), "Answer: ");
    assert_int_equal(r.req.max_tokens, 300);
    assert_int_equal(r.req.seed, 0x101);
    isynth_judge_request_clear(&r);

    /* unconstrained: neither grammar nor schema */
    p.constrain = false;
    assert_int_equal(isynth_judge_request_build(&p, &en_rows[0], &r, &err), ISYNTH_OK);
    assert_null(r.req.grammar);
    assert_null(r.req.json_schema);
    isynth_judge_request_clear(&r);

    /* a row that is not UTF-8 cannot be sent */
    isynth_judge_row bad = {9, "Explain", "", "caf\xe9", NULL};
    assert_int_equal(isynth_judge_request_build(&p, &bad, &r, &err), ISYNTH_ERR_UTF8);
    assert_non_null(strstr(err.msg, "row 9: the output is not valid UTF-8"));
    assert_null(r.user);
}

static void test_schema_from_fields(void **state)
{
    (void)state;
    char *text;
    assert_int_equal(isynth_judge_schema(&text, NULL), ISYNTH_OK);
    json_error_t je;
    json_t *s = json_loads(text, 0, &je);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
    assert_true(json_is_false(json_object_get(s, "additionalProperties")));
    json_t *req = json_object_get(s, "required");
    assert_int_equal(json_array_size(req), 3);
    /* generated in this order: the reason and claims first, the score conditioned on them */
    assert_string_equal(json_string_value(json_array_get(req, 0)), "reason");
    assert_string_equal(json_string_value(json_array_get(req, 1)), "false_claims");
    assert_string_equal(json_string_value(json_array_get(req, 2)), "score");
    json_t *pr = json_object_get(s, "properties");
    json_t *sc = json_object_get(pr, "score");
    assert_string_equal(json_string_value(json_object_get(sc, "type")), "integer");
    assert_int_equal(json_integer_value(json_object_get(sc, "minimum")), ISYNTH_JUDGE_SCORE_MIN);
    assert_int_equal(json_integer_value(json_object_get(sc, "maximum")), ISYNTH_JUDGE_SCORE_MAX);
    json_t *re = json_object_get(pr, "reason");
    assert_string_equal(json_string_value(json_object_get(re, "type")), "string");
    assert_int_equal(json_integer_value(json_object_get(re, "maxLength")), ISYNTH_JUDGE_REASON_MAX);
    json_t *fc = json_object_get(pr, "false_claims");
    assert_string_equal(json_string_value(json_object_get(fc, "type")), "array");
    assert_int_equal(json_integer_value(json_object_get(fc, "maxItems")), ISYNTH_JUDGE_CLAIMS_MAX);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fc, "items"), "maxLength")),
                     ISYNTH_JUDGE_CLAIM_MAX);
    json_decref(s);
    isynth_free(text);
}

static void test_grammar_from_fields(void **state)
{
    (void)state;
    char *g;
    assert_int_equal(isynth_judge_grammar(&g, NULL), ISYNTH_OK);
    char want[128];
    /* the object, its keys in the schema's order, every length bounded */
    assert_non_null(strstr(g, "root ::= \"{\" ws \"\\\"reason\\\"\" ws \":\" ws reason ws"));
    assert_true(strstr(g, "\"\\\"false_claims\\\"\"") < strstr(g, "\"\\\"score\\\"\""));
    assert_non_null(strstr(g, " ws \":\" ws score ws \"}\"\n"));
    assert_non_null(strstr(g, "score ::= \"1\" | \"2\" | \"3\" | \"4\" | \"5\"\n"));
    snprintf(want, sizeof want, "reason ::= \"\\\"\" char{1,%d} \"\\\"\"\n",
             ISYNTH_JUDGE_REASON_MAX);
    assert_non_null(strstr(g, want));
    snprintf(want, sizeof want, "( ws \",\" ws false-claims-item ){0,%d} )?",
             ISYNTH_JUDGE_CLAIMS_MAX - 1);
    assert_non_null(strstr(g, want));
    snprintf(want, sizeof want, "false-claims-item ::= \"\\\"\" char{1,%d} \"\\\"\"\n",
             ISYNTH_JUDGE_CLAIM_MAX);
    assert_non_null(strstr(g, want));
    /* strings: any character but quote, backslash and controls (so kana and kanji), escapes */
    assert_non_null(strstr(g, "char ::= [^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ( [\"\\\\/bfnrt]"));
    assert_non_null(strstr(g, "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n"));
    assert_null(strstr(g, "*")); /* nothing unbounded */
    assert_null(strstr(g, "+"));
    isynth_free(g);
}

/* ---- parsing ---- */

static void expect_parse(const char *text, int score, const char *reason, size_t n_claims)
{
    isynth_judgement j;
    isynth_error err;
    isynth_err rc = isynth_judge_parse(S(text), &j, &err);
    if (rc) fail_msg("parse of %s: %s", text, err.msg);
    assert_int_equal(j.score, score);
    assert_string_equal(j.reason, reason);
    assert_int_equal(j.n_false_claims, n_claims);
    isynth_judgement_clear(&j);
    assert_null(j.reason);
}

static void expect_bad(isynth_err (*fn)(const char *, size_t, isynth_judgement *, isynth_error *),
                       const char *text, size_t len, isynth_err want, const char *needle)
{
    isynth_judgement j;
    isynth_error err;
    isynth_err rc = fn(text, len, &j, &err);
    if (rc != want) fail_msg("'%.80s': got %d (%s), want %d", text, rc, err.msg, want);
    if (needle && !strstr(err.msg, needle)) fail_msg("'%s' not in '%s'", needle, err.msg);
    assert_null(j.reason);
    assert_null(j.false_claims);
}

static void test_parse_good(void **state)
{
    (void)state;
    expect_parse("{\"score\": 4, \"reason\": \"ok\", \"false_claims\": []}", 4, "ok", 0);
    expect_parse("\n  {\"false_claims\":[\"a\",\"b\"],\"score\":1,\"reason\":\"bad\"}\n\n", 1,
                 "bad", 2);
    expect_parse("{\"score\": 5, \"reason\": \"a \\\"quoted\\\" \\\\ word\\n\", "
                 "\"false_claims\": []}",
                 5, "a \"quoted\" \\ word\n", 0);
    isynth_judgement j;
    assert_int_equal(
        isynth_judge_parse(S("{\"score\":2,\"reason\":\"x\",\"false_claims\":[\"one\",\"two\","
                             "\"three\",\"four\",\"five\"]}"),
                           &j, NULL),
        ISYNTH_OK);
    assert_int_equal(j.n_false_claims, 5);
    assert_string_equal(j.false_claims[4], "five");
    isynth_judgement_clear(&j);
}

static void test_parse_japanese(void **state)
{
    (void)state;
    expect_parse("{\"score\": 2, \"reason\": \"出力の首都が誤っている。\", "
                 "\"false_claims\": [\"日本の首都は大阪です。\"]}",
                 2, "出力の首都が誤っている。", 1);
    /* \u escapes decode (あ), a surrogate pair too (𠮷) */
    expect_parse("{\"score\": 3, \"reason\": \"\\u3042\\ud842\\udfb7\", \"false_claims\": []}", 3,
                 "あ𠮷", 0);
    /* lengths are characters, not bytes: 200 kana (600 bytes) pass, 201 do not */
    char text[2048];
    char reason[1024] = "";
    for (int i = 0; i < ISYNTH_JUDGE_REASON_MAX; i++)
        strcat(reason, "あ");
    snprintf(text, sizeof text, "{\"score\": 3, \"reason\": \"%s\", \"false_claims\": []}", reason);
    expect_parse(text, 3, reason, 0);
    strcat(reason, "あ");
    snprintf(text, sizeof text, "{\"score\": 3, \"reason\": \"%s\", \"false_claims\": []}", reason);
    expect_bad(isynth_judge_parse, S(text), ISYNTH_ERR_PARSE,
               "'reason' has 201 characters, outside 1..200");
}

static void test_parse_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"", "not one JSON object"},
        {"score: 4", "not one JSON object"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_cl", "not one JSON object"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_claims\": []} and more", "not one JSON"},
        {"Here: {\"score\": 4, \"reason\": \"ok\", \"false_claims\": []}", "not one JSON"},
        {"[4, \"ok\", []]", "not an object"},
        {"{\"score\": 4, \"reason\": \"ok\"}", "no 'false_claims'"},
        {"{\"reason\": \"ok\", \"false_claims\": []}", "no 'score'"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_claims\": [], \"note\": 1}",
         "unknown field 'note'"},
        {"{\"score\": \"4\", \"reason\": \"ok\", \"false_claims\": []}",
         "'score' is not an integer"},
        {"{\"score\": 4.0, \"reason\": \"ok\", \"false_claims\": []}", "'score' is not an integer"},
        {"{\"score\": 0, \"reason\": \"ok\", \"false_claims\": []}", "'score' is 0, outside 1..5"},
        {"{\"score\": 6, \"reason\": \"ok\", \"false_claims\": []}", "'score' is 6, outside 1..5"},
        {"{\"score\": 10, \"reason\": \"ok\", \"false_claims\": []}", "outside 1..5"},
        {"{\"score\": -1, \"reason\": \"ok\", \"false_claims\": []}", "outside 1..5"},
        {"{\"score\": 4, \"reason\": \"\", \"false_claims\": []}", "'reason' has 0 characters"},
        {"{\"score\": 4, \"reason\": null, \"false_claims\": []}", "'reason' is not a string"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_claims\": \"none\"}", "is not an array"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_claims\": [1]}",
         "'false_claims'[0] is not a string"},
        {"{\"score\": 4, \"reason\": \"ok\", \"false_claims\": [\"a\",\"b\",\"c\",\"d\",\"e\","
         "\"f\"]}",
         "has 6 items, more than 5"},
        {"{\"score\": 4, \"score\": 5, \"reason\": \"ok\", \"false_claims\": []}",
         "not one JSON object"},
        {"{\"score\": 4, \"reason\": \"a\\u0000b\", \"false_claims\": []}", "not one JSON"},
        {"{\"score\": 4, \"reason\": \"\\ud800\", \"false_claims\": []}", "not one JSON"},
        {"{\"score\": 4, \"reason\": \"caf\xe9\", \"false_claims\": []}", "not one JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_bad(isynth_judge_parse, S(cases[i].text), ISYNTH_ERR_PARSE, cases[i].needle);
    /* a NUL byte inside the text */
    static const char nul[] = "{\"score\": 4, \"reason\": \"o\0k\", \"false_claims\": []}";
    expect_bad(isynth_judge_parse, nul, sizeof nul - 1, ISYNTH_ERR_PARSE, NULL);
    expect_bad(isynth_judge_parse, NULL, 0, ISYNTH_ERR_PARSE, NULL);
    /* endless text is refused before it is parsed */
    size_t big = ISYNTH_JUDGE_REPLY_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    expect_bad(isynth_judge_parse, huge, big, ISYNTH_ERR_TOO_LARGE, "over the limit");
    expect_bad(isynth_judge_extract, huge, big, ISYNTH_ERR_TOO_LARGE, "over the limit");
    free(huge);
}

static void test_extract(void **state)
{
    (void)state;
    isynth_judgement j;
    isynth_error err;
    /* prose, a brace group that is not JSON, a code fence, braces inside strings */
    const char *t = "採点しました。{理由は下に書きます}\n```json\n{\"score\": 2, \"reason\": "
                    "\"出力に誤り {大阪} がある\", \"false_claims\": [\"首都は大阪\"]}\n```\n以上。"
                    "{\"score\": 5, \"reason\": \"second\", \"false_claims\": []}";
    assert_int_equal(isynth_judge_extract(S(t), &j, &err), ISYNTH_OK);
    assert_int_equal(j.score, 2); /* the first object, not the second */
    assert_string_equal(j.reason, "出力に誤り {大阪} がある");
    assert_int_equal(j.n_false_claims, 1);
    assert_string_equal(j.false_claims[0], "首都は大阪");
    isynth_judgement_clear(&j);
    /* the whole text being the object works too */
    assert_int_equal(
        isynth_judge_extract(S("{\"score\":3,\"reason\":\"r\",\"false_claims\":[]}"), &j, &err),
        ISYNTH_OK);
    isynth_judgement_clear(&j);
    /* a nested object inside counts as part of the outer one */
    expect_bad(isynth_judge_extract,
               S("x {\"score\": {\"v\": 4}, \"reason\": \"r\", \"false_claims\": []} y"),
               ISYNTH_ERR_PARSE, "'score' is not an integer");
    /* the first JSON object is checked, and fails: no fishing for a later one */
    expect_bad(isynth_judge_extract,
               S("{\"score\": 9, \"reason\": \"r\", \"false_claims\": []} "
                 "{\"score\": 4, \"reason\": \"r\", \"false_claims\": []}"),
               ISYNTH_ERR_PARSE, "'score' is 9");
    expect_bad(isynth_judge_extract, S("I think it deserves a 4."), ISYNTH_ERR_PARSE,
               "holds no JSON object");
    expect_bad(isynth_judge_extract, S("{\"score\": 4, \"reason\": \"cut"), ISYNTH_ERR_PARSE,
               "holds no JSON object");
    expect_bad(isynth_judge_extract, S("{{{{ unbalanced"), ISYNTH_ERR_PARSE, "no JSON object");
    /* many unmatched braces stay cheap and fail cleanly */
    size_t n = 200000;
    char *braces = malloc(n);
    memset(braces, '{', n);
    double t0 = now_s();
    expect_bad(isynth_judge_extract, braces, n, ISYNTH_ERR_PARSE, "no JSON object");
    for (size_t i = 0; i + 2 < n; i += 3) /* "{a}": balanced, not JSON */
        braces[i + 1] = 'a', braces[i + 2] = '}';
    expect_bad(isynth_judge_extract, braces, n, ISYNTH_ERR_PARSE, "no JSON object");
    assert_true(now_s() - t0 < 2.0);
    free(braces);
}

/* ---- the driver ---- */

#define GOOD(s) "{\"score\": " #s ", \"reason\": \"理由\", \"false_claims\": []}"

static void test_run_all_good(void **state)
{
    (void)state;
    scripted replies[10];
    isynth_judge_row rows[10];
    for (int i = 0; i < 10; i++) {
        static const char *const texts[] = {GOOD(1), GOOD(2), GOOD(3), GOOD(4), GOOD(5)};
        replies[i] = (scripted){.text = texts[i % 5], .constrained = true};
        rows[i] = ja_rows[i % 4];
        rows[i].id = (uint64_t)i;
    }
    fake *f;
    isynth_backend *be = fake_new(3, replies, 10, &f);
    f->per_step = 1;
    feed fd = {.rows = rows, .n = 10};
    isynth_judge_params p = isynth_judge_params_default();
    p.model_label = "judge-model";
    isynth_error err;
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err), ISYNTH_OK);
    assert_int_equal(fd.g.n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fd.g.count[i], 1);
        assert_int_equal(fd.g.status[i], ISYNTH_OK);
        assert_int_equal(fd.g.score[i], i % 5 + 1);
        assert_string_equal(fd.g.reason[i], "理由");
        assert_true(fd.g.constrained[i]);
        assert_string_equal(fd.g.model[i], "judge-model");
    }
    assert_int_equal(f->max_flight, 3); /* kept full */
    assert_int_equal(f->n_seen, 10);
    for (size_t i = 0; i < f->n_seen; i++) {
        assert_true(f->seen[i].chat);
        assert_non_null(f->seen[i].grammar);
        assert_non_null(f->seen[i].schema);
        assert_non_null(strstr(f->seen[i].user, "評価基準"));
    }
    feed_free(&fd);
    isynth_backend_free(be);

    /* no label: the backend's model name; no rows: nothing to do */
    be = fake_new(2, replies, 10, &f);
    feed empty = {.rows = rows, .n = 0};
    p.model_label = NULL;
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &empty, NULL, &err), ISYNTH_OK);
    assert_int_equal(empty.done_calls, 0);
    feed one = {.rows = rows, .n = 1};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &one, NULL, &err), ISYNTH_OK);
    assert_string_equal(one.g.model[0], "fake-model-name");
    feed_free(&one);
    isynth_backend_free(be);
}

static void test_run_failures(void **state)
{
    (void)state;
    static const scripted replies[] = {
        /* 0 */ {.text = GOOD(4), .constrained = true},
        /* 1 */ {.status = ISYNTH_ERR_HTTP, .error = "HTTP 500 from http://x/v1: boom"},
        /* 2 */
        {.text = "{\"score\": 7, \"reason\": \"r\", \"false_claims\": []}", .constrained = true},
        /* 3 */
        {.text = "{\"score\": 4, \"reason\": \"理由が長すぎて",
         .constrained = true,
         .truncated = true},
        /* 4: the server could not be constrained: prose around the object is fine */
        /* 4 */ {.text = "評価: " GOOD(2) " 以上", .constrained = false},
        /* 5: constrained replies are parsed strictly */
        /* 5 */ {.text = "評価: " GOOD(2), .constrained = true},
        /* 6 */ {.text = "no object at all", .constrained = false},
        /* 7: never sent (the row is not UTF-8) */
        /* 7 */ {.text = GOOD(5), .constrained = true},
        /* 8 */ {.status = ISYNTH_ERR_BACKEND, .error = NULL},
    };
    isynth_judge_row rows[9];
    for (int i = 0; i < 9; i++) {
        rows[i] = ja_rows[0];
        rows[i].id = (uint64_t)i;
    }
    rows[7].output = "\xff";
    fake *f;
    isynth_backend *be = fake_new(4, replies, 9, &f);
    feed fd = {.rows = rows, .n = 9};
    isynth_judge_params p = isynth_judge_params_default();
    isynth_error err;
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err), ISYNTH_OK);
    assert_int_equal(fd.g.n, 9);
    for (int i = 0; i < 9; i++)
        assert_int_equal(fd.g.count[i], 1);
    assert_int_equal(fd.g.status[0], ISYNTH_OK);
    assert_int_equal(fd.g.score[0], 4);
    assert_int_equal(fd.g.status[1], ISYNTH_ERR_HTTP);
    assert_string_equal(fd.g.error[1], "HTTP 500 from http://x/v1: boom");
    assert_int_equal(fd.g.status[2], ISYNTH_ERR_PARSE);
    assert_non_null(strstr(fd.g.error[2], "'score' is 7, outside 1..5"));
    assert_int_equal(fd.g.status[3], ISYNTH_ERR_PARSE);
    assert_non_null(strstr(fd.g.error[3], "(the reply was cut at max_tokens)"));
    assert_int_equal(fd.g.status[4], ISYNTH_OK);
    assert_int_equal(fd.g.score[4], 2);
    assert_false(fd.g.constrained[4]);
    assert_int_equal(fd.g.status[5], ISYNTH_ERR_PARSE);
    assert_int_equal(fd.g.status[6], ISYNTH_ERR_PARSE);
    assert_non_null(strstr(fd.g.error[6], "holds no JSON object"));
    assert_int_equal(fd.g.status[7], ISYNTH_ERR_UTF8);
    assert_non_null(strstr(fd.g.error[7], "row 7: the output is not valid UTF-8"));
    assert_int_equal(fd.g.status[8], ISYNTH_ERR_BACKEND);
    assert_string_equal(fd.g.error[8], isynth_strerror(ISYNTH_ERR_BACKEND));
    assert_int_equal(f->n_seen, 8); /* row 7 never reached the backend */
    feed_free(&fd);
    isynth_backend_free(be);
}

static void test_run_callback_errors(void **state)
{
    (void)state;
    scripted replies[8];
    isynth_judge_row rows[8];
    for (int i = 0; i < 8; i++) {
        replies[i] = (scripted){.text = GOOD(3), .constrained = true};
        rows[i] = ja_rows[1];
        rows[i].id = (uint64_t)i;
    }
    isynth_judge_params p = isynth_judge_params_default();
    isynth_error err;
    fake *f;

    /* next() fails: its error, as it said it */
    isynth_backend *be = fake_new(2, replies, 8, &f);
    f->per_step = 1;
    feed fd = {.rows = rows, .n = 8, .fail_next_at = 5};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err),
                     ISYNTH_ERR_STORE);
    assert_string_equal(err.msg, "store: disk I/O error reading row 5");
    assert_true(fd.done_calls <= 4);
    feed_free(&fd);
    isynth_backend_free(be);

    /* done() fails on the third outcome: the run stops there, with done()'s error */
    be = fake_new(4, replies, 8, &f);
    fd = (feed){.rows = rows, .n = 8, .fail_done_at = 3};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err),
                     ISYNTH_ERR_STORE);
    assert_string_equal(err.msg, "store: database is locked");
    assert_int_equal(err.code, ISYNTH_ERR_STORE);
    assert_int_equal(fd.done_calls, 3); /* the fourth result of that step was not reported */
    feed_free(&fd);
    isynth_backend_free(be);

    /* done() fails on a row that is never sent */
    rows[0].instruction = "\xc3";
    be = fake_new(4, replies, 8, &f);
    fd = (feed){.rows = rows, .n = 8, .fail_done_at = 1};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err),
                     ISYNTH_ERR_STORE);
    assert_int_equal(f->n_seen, 0);
    feed_free(&fd);
    isynth_backend_free(be);
    rows[0].instruction = ja_rows[1].instruction;

    /* the backend breaks */
    be = fake_new(4, replies, 8, &f);
    f->step_fails = ISYNTH_ERR_BACKEND;
    fd = (feed){.rows = rows, .n = 8};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err),
                     ISYNTH_ERR_BACKEND);
    assert_string_equal(err.msg, "fake: the backend broke");
    feed_free(&fd);
    isynth_backend_free(be);

    assert_int_equal(isynth_judge_run(NULL, &p, feed_next, feed_done, &fd, NULL, &err),
                     ISYNTH_ERR_INVALID);
}

static void test_run_stop(void **state)
{
    (void)state;
    scripted replies[40];
    isynth_judge_row rows[40];
    for (int i = 0; i < 40; i++) {
        replies[i] = (scripted){.text = GOOD(3), .constrained = true};
        rows[i] = en_rows[0];
        rows[i].id = (uint64_t)i;
    }
    isynth_judge_params p = isynth_judge_params_default();
    p.lang = ISYNTH_LANG_EN;
    isynth_error err;
    fake *f;
    isynth_backend *be = fake_new(3, replies, 40, &f);
    f->per_step = 1;
    volatile int stop = 0;
    feed fd = {.rows = rows, .n = 40, .stop_at = 4, .stop = &stop};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, &stop, &err),
                     ISYNTH_ERR_CANCELLED);
    assert_int_equal(fd.done_calls, 4); /* one result per step: stopped right after it */
    assert_true(fd.next <= 4 + 3);      /* nothing asked past what was in flight */
    assert_int_equal(isynth_backend_in_flight(be), fd.next - 4);
    feed_free(&fd);
    isynth_backend_free(be); /* drops the rows in flight */

    /* already set: nothing is asked for */
    be = fake_new(3, replies, 40, &f);
    stop = 1;
    fd = (feed){.rows = rows, .n = 40};
    assert_int_equal(isynth_judge_run(be, &p, feed_next, feed_done, &fd, &stop, &err),
                     ISYNTH_ERR_CANCELLED);
    assert_int_equal(fd.next, 0);
    isynth_backend_free(be);
}

/* Every allocation of building, parsing and a whole run fails in turn: each failure is a
 * NOMEM return (never a crash, a wrong outcome or, under ASan, a leak). */
static void test_alloc_failures(void **state)
{
    (void)state;
    static const char *const reply =
        "{\"score\": 2, \"reason\": \"誤り\", \"false_claims\": [\"a\", \"b\"]}";
    isynth_judge_params p = isynth_judge_params_default();
    for (long n = 1;; n++) {
        isynth_alloc_fail_at(n, false);
        isynth_error err;
        isynth_judge_request r;
        isynth_err rc = isynth_judge_request_build(&p, &ja_rows[0], &r, &err);
        assert_true(rc == ISYNTH_OK || rc == ISYNTH_ERR_NOMEM);
        isynth_judge_request_clear(&r);
        isynth_judgement j;
        isynth_err rc2 = isynth_judge_parse(S(reply), &j, &err);
        assert_true(rc2 == ISYNTH_OK || rc2 == ISYNTH_ERR_NOMEM);
        if (!rc2) assert_int_equal(j.n_false_claims, 2);
        isynth_judgement_clear(&j);
        rc2 = isynth_judge_extract(S(reply), &j, &err);
        assert_true(rc2 == ISYNTH_OK || rc2 == ISYNTH_ERR_NOMEM);
        isynth_judgement_clear(&j);
        long counted = isynth_alloc_fail_at(0, false);
        if (counted < n) break;
    }
    scripted replies[6];
    isynth_judge_row rows[6];
    for (int i = 0; i < 6; i++) {
        replies[i] = (scripted){.text = reply, .constrained = i % 2};
        rows[i] = ja_rows[i % 4];
        rows[i].id = (uint64_t)i;
    }
    for (long n = 1;; n++) {
        fake *f;
        isynth_alloc_fail_at(n, false);
        isynth_backend *be = fake_new(2, replies, 6, &f);
        feed fd = {.rows = rows, .n = 6};
        isynth_error err;
        isynth_err rc = be ? isynth_judge_run(be, &p, feed_next, feed_done, &fd, NULL, &err)
                           : isynth_error_set(&err, ISYNTH_ERR_NOMEM, "wrap: out of memory");
        long counted = isynth_alloc_fail_at(0, false);
        assert_true(rc == ISYNTH_OK || rc == ISYNTH_ERR_NOMEM);
        if (rc == ISYNTH_OK) {
            assert_int_equal(fd.g.n, 6);
            for (int i = 0; i < 6; i++)
                assert_int_equal(fd.g.score[i], 2);
        } else if (!strstr(err.msg, "out of memory")) {
            fail_msg("allocation %ld: '%s'", n, err.msg);
        }
        for (int i = 0; i < 6; i++)
            assert_true(fd.g.count[i] <= 1);
        feed_free(&fd);
        isynth_backend_free(be);
        if (counted < n) break;
    }
}

/* ---- integration: real peers ---- */

/* Judges rows on be and checks that every reply parsed; prints each grade. */
static void judge_all(isynth_backend *be, const isynth_judge_params *p,
                      const isynth_judge_row *rows, size_t n, bool want_constrained)
{
    feed fd = {.rows = rows, .n = n};
    isynth_error err;
    double t0 = now_s();
    isynth_err rc = isynth_judge_run(be, p, feed_next, feed_done, &fd, NULL, &err);
    if (rc) fail_msg("judge run: %s", err.msg);
    assert_int_equal(fd.g.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        int id = (int)rows[i].id;
        if (fd.g.status[id]) fail_msg("row %d: %s", id, fd.g.error[id] ? fd.g.error[id] : "?");
        assert_int_equal(fd.g.constrained[id], want_constrained);
        fprintf(stderr, "  row %d: score %d (%zu false claims) %s\n", id, fd.g.score[id],
                fd.g.n_claims[id], fd.g.reason[id]);
    }
    fprintf(stderr, "  %zu rows in %.1f s\n", n, now_s() - t0);
    feed_free(&fd);
}

static void test_llama_grammar(void **state)
{
    (void)state;
    if (!*ISYNTH_MODEL || access(ISYNTH_MODEL, R_OK)) {
        if (ISYNTH_REQUIRE_ALL) fail_msg("no model at '%s', which is required here", ISYNTH_MODEL);
        skip();
    }
    isynth_llama_params lp = isynth_llama_params_default();
    lp.model_path = ISYNTH_MODEL;
    lp.parallel = 4;
    isynth_backend *be = NULL;
    isynth_error err;
    if (isynth_llama_backend_new(&lp, &be, &err)) fail_msg("%s", err.msg);
    isynth_judge_params p = isynth_judge_params_default();
    p.max_tokens = 256;
    judge_all(be, &p, ja_rows, 4, true);
    isynth_backend_free(be);
}

/* The bad-grammar check needs a result callback of its own. */
typedef struct one_result {
    int n;
    isynth_err status;
    char msg[512];
    bool constrained;
    char text[512];
} one_result;

static isynth_err on_one(void *user, const isynth_gen_result *r, isynth_error *err)
{
    (void)err;
    one_result *o = user;
    o->n++;
    o->status = r->status;
    o->constrained = r->constrained;
    snprintf(o->msg, sizeof o->msg, "%s", r->error ? r->error : "");
    snprintf(o->text, sizeof o->text, "%.*s", (int)(r->len < 500 ? r->len : 500),
             r->text ? r->text : "");
    return ISYNTH_OK;
}

/* Fails with ISYNTH_ERR_STORE at its fail_at-th result, or the watcher with ISYNTH_ERR_PARSE at
 * its watch_fail_at-th call. */
typedef struct failing_cb {
    int calls, fail_at, watched, watch_fail_at;
} failing_cb;

static isynth_err fail_cb(void *user, const isynth_gen_result *r, isynth_error *err)
{
    failing_cb *f = user;
    if (++f->calls == f->fail_at)
        return isynth_error_set(err, ISYNTH_ERR_STORE, "the store refused request %llu",
                                (unsigned long long)r->id);
    return ISYNTH_OK;
}

static isynth_err fail_watch(void *user, uint64_t id, const char *text, size_t len,
                             isynth_watch_act *act, size_t *at, isynth_error *err)
{
    (void)text;
    (void)len;
    (void)act;
    (void)at;
    failing_cb *f = user;
    if (++f->watched == f->watch_fail_at)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "the watcher of %llu gave up",
                                (unsigned long long)id);
    return ISYNTH_OK;
}

/* The default model on 2 sequences of 512 tokens (skipped without the model, failed when
 * the model is required). */
static isynth_backend *small_llama(void)
{
    if (!*ISYNTH_MODEL || access(ISYNTH_MODEL, R_OK)) {
        if (ISYNTH_REQUIRE_ALL) fail_msg("no model at '%s', which is required here", ISYNTH_MODEL);
        skip();
    }
    isynth_llama_params lp = isynth_llama_params_default();
    lp.model_path = ISYNTH_MODEL;
    lp.parallel = 2;
    lp.n_ctx_per_seq = 512;
    isynth_backend *be = NULL;
    isynth_error err;
    if (isynth_llama_backend_new(&lp, &be, &err)) fail_msg("%s", err.msg);
    return be;
}

/* The embedded backend stops at a callback's or a watcher's error and returns it unchanged,
 * with every sequence dropped; it generates normally afterwards. */
static void test_llama_callback_error(void **state)
{
    (void)state;
    isynth_backend *be = small_llama();
    isynth_error err;
    isynth_msg m[1] = {{"user", "Count from one to twenty."}};
    isynth_gen_req req = {.id = 1, .chat = true, .msgs = m, .n_msgs = 1, .max_tokens = 4};
    failing_cb f = {.fail_at = 1};
    for (uint64_t id = 1; id <= 2; id++) {
        req.id = id;
        req.max_tokens = id == 1 ? 4 : 64; /* the first finishes while the second decodes */
        assert_int_equal(isynth_backend_submit(be, &req, &err), ISYNTH_OK);
    }
    isynth_err rc = ISYNTH_OK;
    isynth_error_clear(&err);
    while (!rc && isynth_backend_in_flight(be))
        rc = isynth_backend_step(be, fail_cb, &f, &err);
    assert_int_equal(rc, ISYNTH_ERR_STORE);
    assert_non_null(strstr(err.msg, "the store refused request 1"));
    assert_int_equal(f.calls, 1);
    assert_int_equal(isynth_backend_in_flight(be), 0);
    assert_int_equal(isynth_backend_capacity(be), 2);
    /* a watcher's error, the same way */
    failing_cb w = {.watch_fail_at = 3};
    req.id = 3;
    req.max_tokens = 32;
    req.watch = fail_watch;
    req.watch_user = &w;
    assert_int_equal(isynth_backend_submit(be, &req, &err), ISYNTH_OK);
    rc = ISYNTH_OK;
    while (!rc && isynth_backend_in_flight(be))
        rc = isynth_backend_step(be, fail_cb, &w, &err);
    assert_int_equal(rc, ISYNTH_ERR_PARSE);
    assert_non_null(strstr(err.msg, "the watcher of 3 gave up"));
    assert_int_equal(w.calls, 0);
    assert_int_equal(isynth_backend_in_flight(be), 0);
    /* and the backend generates as before */
    one_result r = {0};
    req.id = 4;
    req.max_tokens = 8;
    req.watch = NULL;
    assert_int_equal(isynth_backend_submit(be, &req, &err), ISYNTH_OK);
    while (isynth_backend_in_flight(be))
        assert_int_equal(isynth_backend_step(be, on_one, &r, &err), ISYNTH_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.status, ISYNTH_OK);
    assert_true(strlen(r.text) > 0);
    isynth_backend_free(be);
}

static void test_llama_bad_grammar(void **state)
{
    (void)state;
    isynth_backend *be = small_llama();
    isynth_error err;
    isynth_msg m[1] = {{"user", "Say yes or no."}};
    isynth_gen_req bad = {.id = 1,
                          .chat = true,
                          .msgs = m,
                          .n_msgs = 1,
                          .max_tokens = 8,
                          .grammar = "root ::= undefined-rule"};
    isynth_gen_req good = bad;
    good.id = 2;
    good.grammar = "root ::= \"yes\" | \"no\"";
    one_result r1 = {0}, r2 = {0};
    assert_int_equal(isynth_backend_submit(be, &bad, &err), ISYNTH_OK);
    while (isynth_backend_in_flight(be))
        assert_int_equal(isynth_backend_step(be, on_one, &r1, &err), ISYNTH_OK);
    assert_int_equal(r1.n, 1);
    assert_int_equal(r1.status, ISYNTH_ERR_BACKEND);
    assert_non_null(strstr(r1.msg, "rejected the request's GBNF grammar"));
    assert_false(r1.constrained);
    /* the backend is fine afterwards, and a valid grammar binds the reply */
    assert_int_equal(isynth_backend_submit(be, &good, &err), ISYNTH_OK);
    while (isynth_backend_in_flight(be))
        assert_int_equal(isynth_backend_step(be, on_one, &r2, &err), ISYNTH_OK);
    assert_int_equal(r2.status, ISYNTH_OK);
    assert_true(r2.constrained);
    assert_true(!strcmp(r2.text, "yes") || !strcmp(r2.text, "no"));
    isynth_backend_free(be);
}

/* Starts the stub; reads "PORT n" from its stdout. */
static int start_stub(child *c)
{
    char *argv[] = {(char *)ISYNTH_PYTHON, (char *)ISYNTH_HTTP_STUB, "--exit-on-stdin-eof", NULL};
    int out = -1;
    c->stdin_fd = -1;
    c->pid = spawn(argv, &c->stdin_fd, &out, NULL);
    if (c->pid < 0) return -1;
    char line[64] = {0};
    size_t n = 0;
    struct pollfd pfd = {.fd = out, .events = POLLIN};
    double deadline = now_s() + 30;
    while (n < sizeof line - 1 && !strchr(line, '\n') && now_s() < deadline) {
        if (poll(&pfd, 1, 1000) <= 0) continue;
        ssize_t r = read(out, line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(out);
    if (sscanf(line, "PORT %d", &c->port) != 1) {
        stop_child(c);
        return -1;
    }
    return 0;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    size_t len = s * n;
    char **acc = u;
    size_t old = *acc ? strlen(*acc) : 0;
    char *q = realloc(*acc, old + len + 1);
    if (!q) return 0;
    memcpy(q + old, p, len);
    q[old + len] = '\0';
    *acc = q;
    return len;
}

static char *http_get(int port, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *e = curl_easy_init();
    char *body = NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK || code != 200) {
        free(body);
        return NULL;
    }
    return body;
}

static long stub_stat(int port, const char *what, const char *mode)
{
    char *body = http_get(port, "/stats");
    assert_non_null(body);
    json_t *root = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(root);
    long v = (long)json_integer_value(json_object_get(json_object_get(root, what), mode));
    json_decref(root);
    return v;
}

static isynth_backend *http_backend(int port, const char *mode, const char *model, int conc,
                                    isynth_openai_endpoint endpoint)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", port, mode);
    const char *urls[1] = {url};
    isynth_openai_params op = isynth_openai_params_default();
    op.base_urls = urls;
    op.n_base_urls = 1;
    op.model = model;
    op.concurrency = conc;
    op.endpoint = endpoint;
    op.total_timeout = 300;
    op.backoff_base = 0.02;
    op.backoff_cap = 0.1;
    isynth_backend *be = NULL;
    isynth_error err;
    if (isynth_openai_backend_new(&op, &be, &err)) fail_msg("%s", err.msg);
    return be;
}

static void test_stub_fallback(void **state)
{
    (void)state;
    child stub = {.stdin_fd = -1};
    if (start_stub(&stub)) fail_msg("cannot start %s %s", ISYNTH_PYTHON, ISYNTH_HTTP_STUB);
    /* a server that rejects response_format: each row is judged from the prose reply */
    isynth_backend *be =
        http_backend(stub.port, "nofmt+judge", "test-model", 2, ISYNTH_OPENAI_CHAT);
    isynth_judge_params p = isynth_judge_params_default();
    isynth_judge_row rows[8];
    for (int i = 0; i < 8; i++) {
        rows[i] = ja_rows[i % 4];
        rows[i].id = (uint64_t)i;
        rows[i].input = i >= 4 ? "別の入力" : ""; /* distinct bodies */
    }
    judge_all(be, &p, rows, 8, false);
    /* only the requests in flight before the first 400 carried response_format */
    long formats = stub_stat(stub.port, "formats", "nofmt+judge");
    assert_true(formats >= 1 && formats <= 2);
    assert_int_equal(stub_stat(stub.port, "hits", "nofmt+judge"), 8 + formats);
    isynth_backend_stats st;
    isynth_backend_stats_get(be, &st);
    assert_int_equal(st.retries, formats);
    assert_int_equal(st.failures, 0);
    isynth_backend_free(be);
    /* a server that takes it: constrained replies, strictly parsed */
    be = http_backend(stub.port, "judge", "test-model", 2, ISYNTH_OPENAI_CHAT);
    judge_all(be, &p, rows, 4, true);
    assert_int_equal(stub_stat(stub.port, "formats", "judge"), 4);
    isynth_backend_free(be);
    stop_child(&stub);
}

static child server = {.stdin_fd = -1};

static int llama_server_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    if (!*ISYNTH_LLAMA_SERVER || !*ISYNTH_MODEL || access(ISYNTH_LLAMA_SERVER, X_OK) ||
        access(ISYNTH_MODEL, R_OK)) {
        fprintf(stderr, "llama-server or model missing (ISYNTH_LLAMA_SERVER, ISYNTH_MODEL)\n");
        return -1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        server.port = free_port();
        char port[16];
        snprintf(port, sizeof port, "%d", server.port);
        char *argv[] = {(char *)ISYNTH_LLAMA_SERVER,
                        "-m",
                        (char *)ISYNTH_MODEL,
                        "--parallel",
                        "4",
                        "--port",
                        port,
                        "--host",
                        "127.0.0.1",
                        "-c",
                        "8192",
                        "-t",
                        "2",
                        NULL};
        server.pid = spawn(argv, &server.stdin_fd, NULL, "llama-server-judge.log");
        double t0 = now_s();
        while (now_s() - t0 < 180) {
            if (waitpid(server.pid, NULL, WNOHANG) == server.pid) {
                server.pid = 0;
                break;
            }
            char *h = http_get(server.port, "/health");
            if (h) {
                free(h);
                return 0;
            }
            usleep(200000);
        }
        stop_child(&server);
    }
    fprintf(stderr, "llama-server did not become healthy (see llama-server-judge.log)\n");
    return -1;
}

static int llama_server_teardown(void **state)
{
    (void)state;
    stop_child(&server);
    curl_global_cleanup();
    return 0;
}

static void test_llama_server_schema(void **state)
{
    (void)state;
    /* chat: response_format */
    isynth_backend *be = http_backend(server.port, "", "default", 4, ISYNTH_OPENAI_CHAT);
    isynth_judge_params p = isynth_judge_params_default();
    p.max_tokens = 256;
    judge_all(be, &p, ja_rows, 4, true);
    isynth_backend_stats st;
    isynth_backend_stats_get(be, &st);
    assert_int_equal(st.retries, 0); /* accepted the first time */
    isynth_backend_free(be);
    /* completions with a plain prompt: llama-server takes the top-level json_schema there */
    be = http_backend(server.port, "", "default", 2, ISYNTH_OPENAI_COMPLETIONS);
    p.chat = false;
    p.lang = ISYNTH_LANG_EN;
    judge_all(be, &p, en_rows, 2, true);
    isynth_backend_stats_get(be, &st);
    assert_int_equal(st.retries, 0);
    isynth_backend_free(be);
}

static int stub_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int stub_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "llama")) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_llama_callback_error),
            cmocka_unit_test(test_llama_bad_grammar),
            cmocka_unit_test(test_llama_grammar),
        };
        return cmocka_run_group_tests_name("judge_llama", tests, NULL, NULL);
    }
    if (argc > 1 && !strcmp(argv[1], "llama-server")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_llama_server_schema)};
        return cmocka_run_group_tests_name("judge_llama_server", tests, llama_server_setup,
                                           llama_server_teardown);
    }
    if (argc > 1 && !strcmp(argv[1], "stub")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_stub_fallback)};
        return cmocka_run_group_tests_name("judge_stub", tests, stub_setup, stub_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_ja),           cmocka_unit_test(test_prompt_en),
        cmocka_unit_test(test_schema_from_fields),  cmocka_unit_test(test_grammar_from_fields),
        cmocka_unit_test(test_parse_good),          cmocka_unit_test(test_parse_japanese),
        cmocka_unit_test(test_parse_malformed),     cmocka_unit_test(test_extract),
        cmocka_unit_test(test_run_all_good),        cmocka_unit_test(test_run_failures),
        cmocka_unit_test(test_run_callback_errors), cmocka_unit_test(test_run_stop),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests_name("judge", tests, NULL, NULL);
}
