/* Tests of the OpenAI-compatible HTTP backend (src/llm_openai.c).
 *
 * Default group: the backend against tests/http_stub.py, a fault-injecting stub started on
 * 127.0.0.1 with an ephemeral port (the fault is chosen by the URL's first path segment).
 * Each test asserts that every request is delivered exactly once and that statuses, retries
 * and the stub's hit counts are as expected.
 * `test_openai llama-server`: the backend against the real llama-server built from the same
 * llama.cpp source, default model, --parallel 4. */
#include "isynth/isynth.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- child servers ---- */

#include "child.h"

/* Starts the stub with extra arguments; reads "PORT n" from its stdout. */
static int start_stub(child *c, const char *api_key)
{
    char *argv[8];
    int k = 0;
    argv[k++] = (char *)ISYNTH_PYTHON;
    argv[k++] = (char *)ISYNTH_HTTP_STUB;
    argv[k++] = (char *)"--exit-on-stdin-eof";
    if (api_key) {
        argv[k++] = (char *)"--api-key";
        argv[k++] = (char *)api_key;
    }
    argv[k] = NULL;
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

/* A port nothing listens on (bound then closed). */
/* ---- tiny HTTP client for the stub's /stats and /reset ---- */

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

static char *http_simple(int port, const char *path, bool post)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *e = curl_easy_init();
    char *body = NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (post) curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
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
    char *body = http_simple(port, "/stats", false);
    assert_non_null(body);
    json_t *root = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(root);
    long v = (long)json_integer_value(json_object_get(json_object_get(root, what), mode));
    json_decref(root);
    return v;
}

/* ---- driving the backend ---- */

typedef struct outcome {
    int n;
    int count[256];
    isynth_err status[256];
    int retries[256];
    char *error[256];
    char *text[256];
    bool truncated[256];
    bool constrained[256];
    long prompt_tokens, completion_tokens;
    int ok, failed, retried;
    size_t max_in_flight;
    double seconds;
    isynth_backend_stats st;
} outcome;

static isynth_err on_result(void *user, const isynth_gen_result *r, isynth_error *err)
{
    (void)err;
    outcome *o = user;
    assert_true(r->id < (uint64_t)o->n);
    int i = (int)r->id;
    o->count[i]++;
    o->status[i] = r->status;
    o->retries[i] = r->retries;
    o->retried += r->retries;
    o->truncated[i] = r->truncated;
    o->constrained[i] = r->constrained;
    if (r->status == ISYNTH_OK) {
        o->ok++;
        o->text[i] = strndup(r->text, r->len);
        o->prompt_tokens += r->prompt_tokens;
        o->completion_tokens += r->completion_tokens;
        assert_null(r->error);
    } else {
        o->failed++;
        assert_non_null(r->error);
        o->error[i] = strdup(r->error);
    }
    return ISYNTH_OK;
}

static void outcome_free(outcome *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->error[i]);
        free(o->text[i]);
    }
    free(o);
}

typedef struct run_opts {
    const char *tag; /* makes bodies unique per test */
    bool chat;
    int max_tokens;
    double deadline_s;
    const char *json_schema; /* sent with every request when set */
    isynth_watch_fn watch;   /* set on every request: the reply is streamed */
    void *watch_user;
} run_opts;

/* Submits n requests (as capacity allows) and steps until all are delivered. */
static outcome *run_backend(isynth_backend *b, int n, const run_opts *ro)
{
    outcome *o = calloc(1, sizeof *o);
    assert_non_null(o);
    assert_true(n <= 256);
    o->n = n;
    char content[256][128];
    isynth_msg msgs[256][2];
    int next = 0;
    double t0 = now_s();
    isynth_backend_info info;
    isynth_backend_info_get(b, &info);
    size_t conc = (size_t)info.parallel;
    while (o->ok + o->failed < n) {
        while (next < n && isynth_backend_capacity(b) > 0) {
            snprintf(content[next], sizeof content[next], "%s request %d", ro->tag, next);
            msgs[next][0] = (isynth_msg){"system", "You are terse."};
            msgs[next][1] = (isynth_msg){"user", content[next]};
            isynth_gen_req req = {.id = (uint64_t)next,
                                  .chat = ro->chat,
                                  .msgs = msgs[next],
                                  .n_msgs = 2,
                                  .prompt = content[next],
                                  .max_tokens = ro->max_tokens ? ro->max_tokens : 64,
                                  .temperature = 0.7f,
                                  .top_p = 0.95f,
                                  .seed = 1000 + (uint64_t)next,
                                  .json_schema = ro->json_schema,
                                  .watch = ro->watch,
                                  .watch_user = ro->watch_user};
            isynth_error err;
            assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_OK);
            next++;
        }
        size_t inf = isynth_backend_in_flight(b);
        assert_true(inf <= conc);
        assert_int_equal(isynth_backend_capacity(b), conc - inf);
        if (inf > o->max_in_flight) o->max_in_flight = inf;
        isynth_error err;
        assert_int_equal(isynth_backend_step(b, on_result, o, &err), ISYNTH_OK);
        if (now_s() - t0 > (ro->deadline_s ? ro->deadline_s : 60))
            fail_msg("run '%s' did not finish: %d of %d delivered", ro->tag, o->ok + o->failed, n);
    }
    o->seconds = now_s() - t0;
    assert_int_equal(isynth_backend_in_flight(b), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(o->count[i], 1); /* delivered exactly once */
    isynth_backend_stats_get(b, &o->st);
    assert_int_equal(o->st.requests, n);
    assert_int_equal(o->st.failures, o->failed);
    assert_int_equal(o->st.retries, o->retried);
    assert_int_equal(o->st.prompt_tokens, o->prompt_tokens);
    assert_int_equal(o->st.completion_tokens, o->completion_tokens);
    assert_true(o->st.busy_seconds > 0 && o->st.busy_seconds <= o->seconds + 0.5);
    return o;
}

static child stub = {.stdin_fd = -1};

static isynth_openai_params test_params(void)
{
    isynth_openai_params p = isynth_openai_params_default();
    p.model = "test-model";
    p.concurrency = 4;
    p.backoff_base = 0.02;
    p.backoff_cap = 0.1;
    p.stall_timeout = 1;
    p.total_timeout = 20;
    p.connect_timeout = 5;
    p.jitter_seed = 42;
    return p;
}

static isynth_backend *new_backend(const isynth_openai_params *p, const char *const *urls,
                                   size_t n_urls)
{
    isynth_openai_params q = *p;
    q.base_urls = urls;
    q.n_base_urls = n_urls;
    isynth_backend *b = NULL;
    isynth_error err;
    isynth_err rc = isynth_openai_backend_new(&q, &b, &err);
    if (rc) fail_msg("backend_new: %s", err.msg);
    return b;
}

/* base URL for a stub mode; format chosen to exercise normalisation */
static const char *mode_url(char *out, size_t cap, const char *mode, const char *suffix)
{
    snprintf(out, cap, "http://127.0.0.1:%d/%s%s", stub.port, mode, suffix);
    return out;
}

/* Runs n requests against one stub mode with params p. */
static outcome *run_mode(const char *mode, const isynth_openai_params *p, int n, const run_opts *ro)
{
    char url[128];
    const char *urls[1] = {mode_url(url, sizeof url, mode, "")};
    isynth_backend *b = new_backend(p, urls, 1);
    outcome *o = run_backend(b, n, ro);
    isynth_backend_free(b);
    return o;
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    if (start_stub(&stub, NULL)) {
        fprintf(stderr, "cannot start %s %s\n", ISYNTH_PYTHON, ISYNTH_HTTP_STUB);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_child(&stub);
    curl_global_cleanup();
    return 0;
}

static int reset_stub(void **state)
{
    (void)state;
    char *r = http_simple(stub.port, "/reset", true);
    free(r);
    return r ? 0 : -1;
}

/* ---- tests against the stub ---- */

static void test_normal(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    char u1[128], u2[128], u3[128];
    /* three spellings of base URLs: bare, "/v1/" and a path prefix without /v1 */
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/", stub.port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/v1/", stub.port);
    snprintf(u3, sizeof u3, "http://127.0.0.1:%d/ok//", stub.port);
    const char *urls[3] = {u1, u2, u3};
    isynth_backend *b = new_backend(&p, urls, 3);
    isynth_backend_info info;
    isynth_backend_info_get(b, &info);
    assert_string_equal(info.kind, "openai");
    assert_string_equal(info.model_name, "test-model");
    assert_true(info.has_chat_template);
    assert_int_equal(info.parallel, 4);
    run_opts ro = {.tag = "normal", .chat = true};
    outcome *o = run_backend(b, 30, &ro);
    assert_int_equal(o->ok, 30);
    assert_int_equal(o->retried, 0);
    for (int i = 0; i < 30; i++) {
        char want[128];
        snprintf(want, sizeof want, "echo: normal request %d", i);
        assert_string_equal(o->text[i], want);
        assert_false(o->truncated[i]);
    }
    assert_true(o->prompt_tokens > 0 && o->completion_tokens > 0);
    assert_int_equal(o->max_in_flight, 4);
    assert_int_equal(stub_stat(stub.port, "hits", "ok"), 30);
    outcome_free(o);
    isynth_backend_free(b);
}

static void test_completions_and_length(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "plain", .chat = false, .max_tokens = 4};
    outcome *o = run_mode("ok", &p, 5, &ro);
    assert_int_equal(o->ok, 5);
    for (int i = 0; i < 5; i++) {
        char want[128];
        snprintf(want, sizeof want, "echo: plain request %d", i);
        assert_string_equal(o->text[i], want);
        assert_true(o->truncated[i]); /* finish_reason "length" */
    }
    outcome_free(o);
    /* chat requests on the completions endpoint become a prompt of the contents */
    p.endpoint = ISYNTH_OPENAI_COMPLETIONS;
    ro = (run_opts){.tag = "joined", .chat = true};
    o = run_mode("ok", &p, 2, &ro);
    assert_int_equal(o->ok, 2);
    assert_string_equal(o->text[1], "echo: You are terse.\n\njoined request 1");
    outcome_free(o);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "ra429", .chat = true};
    outcome *o = run_mode("ra429", &p, 6, &ro);
    assert_int_equal(o->ok, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(o->retries[i], 1);
    /* back-off alone would wait <= 0.02 s: only Retry-After: 1 explains a second */
    assert_true(o->seconds >= 1.0 && o->seconds < 8.0);
    assert_int_equal(stub_stat(stub.port, "hits", "ra429"), 12);
    outcome_free(o);
}

static void expect_one_retry_each(const char *mode, int n)
{
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = mode, .chat = true, .deadline_s = 30};
    outcome *o = run_mode(mode, &p, n, &ro);
    assert_int_equal(o->ok, n);
    assert_int_equal(o->failed, 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(o->retries[i], 1);
        char want[128];
        snprintf(want, sizeof want, "echo: %s request %d", mode, i);
        assert_string_equal(o->text[i], want);
    }
    assert_int_equal(o->st.retries, n);
    assert_int_equal(stub_stat(stub.port, "hits", mode), 2 * n);
    outcome_free(o);
}

/* ---- streamed replies (a request with a watcher) ---- */

/* What a watcher saw of each request. */
typedef struct watched {
    int calls[64];
    int restarts[64]; /* calls with len 0: the reply started again */
    size_t last[64];  /* len at the last call */
    char *text[64];   /* text at the last call */
    int end_after;    /* END at the end_after-th call of an attempt (0: never) */
    size_t end_at;    /* ... keeping this many bytes (capped at len) */
} watched;

static isynth_err watcher(void *user, uint64_t id, const char *text, size_t len,
                          isynth_watch_act *act, size_t *at, isynth_error *err)
{
    (void)err;
    watched *w = user;
    assert_true(id < 64);
    assert_int_equal(*at, len);
    assert_int_equal(*act, ISYNTH_WATCH_GO);
    if (len == 0) {
        w->restarts[id]++;
        w->calls[id] = 0;
        w->last[id] = 0;
        return ISYNTH_OK;
    }
    assert_true(len > w->last[id]); /* the text only grows within an attempt */
    w->calls[id]++;
    w->last[id] = len;
    free(w->text[id]);
    w->text[id] = strndup(text, len);
    if (w->end_after && w->calls[id] == w->end_after) {
        *at = w->end_at < len ? w->end_at : len;
        *act = ISYNTH_WATCH_END;
    }
    return ISYNTH_OK;
}

static void watched_free(watched *w)
{
    for (int i = 0; i < 64; i++)
        free(w->text[i]);
}

/* ---- a callback's or a watcher's error ---- */

/* Fails with ISYNTH_ERR_STORE at its fail_at-th call (result callback or watcher). */
typedef struct failing {
    int calls, fail_at;
    int delivered;
} failing;

static isynth_err fail_result(void *user, const isynth_gen_result *r, isynth_error *err)
{
    failing *f = user;
    if (++f->calls == f->fail_at)
        return isynth_error_set(err, ISYNTH_ERR_STORE, "the store refused request %llu",
                                (unsigned long long)r->id);
    f->delivered++;
    return ISYNTH_OK;
}

static isynth_err fail_watch(void *user, uint64_t id, const char *text, size_t len,
                             isynth_watch_act *act, size_t *at, isynth_error *err)
{
    (void)text;
    (void)act;
    (void)at;
    failing *f = user;
    if (len && ++f->calls == f->fail_at)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "the watcher of %llu gave up",
                                (unsigned long long)id);
    return ISYNTH_OK;
}

/* Submits n requests (watched by w when given) and steps until step() fails or all are
 * delivered; returns step()'s last code. */
static isynth_err submit_and_step(isynth_backend *b, int n, isynth_watch_fn w, failing *f,
                                  isynth_error *err)
{
    isynth_msg m[1] = {{"user", "callback error"}};
    for (int i = 0; i < n; i++) {
        isynth_gen_req req = {.id = (uint64_t)i,
                              .chat = true,
                              .msgs = m,
                              .n_msgs = 1,
                              .max_tokens = 64,
                              .watch = w,
                              .watch_user = f};
        assert_int_equal(isynth_backend_submit(b, &req, err), ISYNTH_OK);
    }
    double t0 = now_s();
    isynth_err rc = ISYNTH_OK;
    while (!rc && isynth_backend_in_flight(b) > 0) {
        rc = isynth_backend_step(b, fail_result, f, err);
        if (now_s() - t0 > 30) fail_msg("the requests did not finish");
    }
    return rc;
}

/* A result callback's error stops step(), which returns it unchanged; the requests still in
 * flight (on the wire or finished and not yet reported) are dropped, and the backend takes
 * new requests afterwards. */
static void test_callback_error(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    char url[128];
    const char *urls[1] = {mode_url(url, sizeof url, "ok", "")};
    isynth_backend *b = new_backend(&p, urls, 1);
    failing f = {.fail_at = 2};
    isynth_error err;
    isynth_error_clear(&err);
    assert_int_equal(submit_and_step(b, 4, NULL, &f, &err), ISYNTH_ERR_STORE);
    assert_int_equal(err.code, ISYNTH_ERR_STORE);
    assert_non_null(strstr(err.msg, "the store refused request"));
    assert_int_equal(f.calls, 2);
    assert_int_equal(f.delivered, 1);
    assert_int_equal(isynth_backend_in_flight(b), 0);
    assert_int_equal(isynth_backend_capacity(b), 4);
    failing g = {0};
    assert_int_equal(submit_and_step(b, 3, NULL, &g, &err), ISYNTH_OK);
    assert_int_equal(g.delivered, 3);
    assert_int_equal(f.calls, 2); /* none of the dropped requests came back */
    isynth_backend_free(b);
}

/* A watcher's error (inside libcurl's write callback) aborts its transfer and stops step(),
 * which returns it unchanged without reporting any request; nothing stays in flight. */
static void test_watch_error(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    char url[128];
    const char *urls[1] = {mode_url(url, sizeof url, "tasks+drip", "")};
    isynth_backend *b = new_backend(&p, urls, 1);
    failing f = {.fail_at = 5};
    isynth_error err;
    isynth_error_clear(&err);
    assert_int_equal(submit_and_step(b, 3, fail_watch, &f, &err), ISYNTH_ERR_PARSE);
    assert_int_equal(err.code, ISYNTH_ERR_PARSE);
    assert_non_null(strstr(err.msg, "gave up"));
    assert_int_equal(f.calls, 5);
    assert_int_equal(f.delivered, 0);
    assert_int_equal(isynth_backend_in_flight(b), 0);
    failing g = {0};
    assert_int_equal(submit_and_step(b, 2, fail_watch, &g, &err), ISYNTH_OK);
    assert_int_equal(g.delivered, 2);
    assert_int_equal(f.calls, 5);
    isynth_backend_free(b);
}

/* Streamed, watched to the end: the result is the text the watcher saw last, which grew 3
 * characters an event; the usage is the server's (the stub counts characters); the body asked
 * for a stream. Both endpoints. */
static void test_stream_whole(void **state)
{
    (void)state;
    for (int chat = 1; chat >= 0; chat--) {
        isynth_openai_params p = test_params();
        watched w = {0};
        run_opts ro = {.tag = chat ? "streamed chat" : "streamed completion",
                       .chat = chat,
                       .deadline_s = 30,
                       .watch = watcher,
                       .watch_user = &w};
        outcome *o = run_mode("ok", &p, 5, &ro);
        assert_int_equal(o->ok, 5);
        for (int i = 0; i < 5; i++) {
            char want[128];
            snprintf(want, sizeof want, "echo: %s request %d", ro.tag, i);
            assert_string_equal(o->text[i], want);
            assert_string_equal(w.text[i], want);
            assert_int_equal(w.calls[i], (int)(strlen(want) + 2) / 3);
            assert_int_equal(w.restarts[i], 0);
            assert_false(o->truncated[i]);
        }
        long chars = 0;
        for (int i = 0; i < 5; i++)
            chars += (long)strlen(o->text[i]); /* ASCII: the stub's usage is its length */
        assert_int_equal(o->completion_tokens, chars);
        assert_true(o->prompt_tokens > 0);
        outcome_free(o);
        watched_free(&w);
    }
    assert_int_equal(stub_stat(stub.port, "streams", "ok"), 10);
}

/* A watcher that ends the reply: the result keeps what it chose, counts the events received as
 * its tokens, and the transfer is cancelled (the stub sees the client go away). */
static void test_stream_end(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    watched w = {.end_after = 10, .end_at = 25};
    run_opts ro = {
        .tag = "ended early", .chat = true, .deadline_s = 30, .watch = watcher, .watch_user = &w};
    outcome *o = run_mode("tasks+drip", &p, 4, &ro);
    assert_int_equal(o->ok, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w.calls[i], 10);
        assert_int_equal(strlen(o->text[i]), 25);
        assert_memory_equal(o->text[i], w.text[i], 25);
        assert_false(o->truncated[i]);
    }
    assert_int_equal(o->completion_tokens, 4 * 10);
    assert_int_equal(o->prompt_tokens, 0);
    /* the stub notices at its next write, 5 ms later */
    double t0 = now_s();
    while (stub_stat(stub.port, "aborted", "tasks+drip") < 4 && now_s() - t0 < 5)
        usleep(20000);
    assert_int_equal(stub_stat(stub.port, "aborted", "tasks+drip"), 4);
    outcome_free(o);
    watched_free(&w);
}

/* Faults in the middle of a stream (a clean end before the last event, a reset, a stall, a
 * 500 before it starts): each request is retried once, the watcher is told when a reply it saw
 * starts again, and the result is the whole second reply. */
static void test_stream_faults(void **state)
{
    (void)state;
    const char *modes[] = {"trunc", "reset", "stall", "e500"};
    for (size_t m = 0; m < 4; m++) {
        isynth_openai_params p = test_params();
        watched w = {0};
        run_opts ro = {
            .tag = modes[m], .chat = true, .deadline_s = 30, .watch = watcher, .watch_user = &w};
        outcome *o = run_mode(modes[m], &p, 4, &ro);
        assert_int_equal(o->ok, 4);
        for (int i = 0; i < 4; i++) {
            char want[128];
            snprintf(want, sizeof want, "echo: %s request %d", modes[m], i);
            assert_int_equal(o->retries[i], 1);
            assert_string_equal(o->text[i], want);
            assert_string_equal(w.text[i], want);
            /* the stream faults showed half a reply first, the 500 none */
            assert_int_equal(w.restarts[i], strcmp(modes[m], "e500") ? 1 : 0);
        }
        assert_int_equal(stub_stat(stub.port, "streams", modes[m]),
                         strcmp(modes[m], "e500") ? 8 : 4);
        outcome_free(o);
        watched_free(&w);
    }
}

/* A server reporting a negative or absurd usage: counted as 0, never summed into negative or
 * overflowing totals (once undefined behaviour under UBSan). */
static void test_bad_usage(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "badusage", .chat = true, .deadline_s = 30};
    outcome *o = run_mode("badusage", &p, 3, &ro);
    assert_int_equal(o->ok, 3);
    assert_int_equal(o->st.prompt_tokens, 0);
    assert_int_equal(o->st.completion_tokens, 0);
    outcome_free(o);
}

static void test_500_then_ok(void **state)
{
    (void)state;
    expect_one_retry_each("e500", 8);
}

static void test_truncated_json(void **state)
{
    (void)state;
    expect_one_retry_each("trunc", 8);
}

static void test_stall(void **state)
{
    (void)state;
    double t0 = now_s();
    expect_one_retry_each("stall", 4);
    /* stall_timeout is 1 s; the stub would hold the body for 30 s */
    assert_true(now_s() - t0 < 15);
}

static void test_reset_mid_response(void **state)
{
    (void)state;
    expect_one_retry_each("reset", 6);
}

static void test_reset_before_response(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "reset0", .chat = true};
    outcome *o = run_mode("reset0", &p, 6, &ro);
    assert_int_equal(o->ok, 6);
    /* libcurl itself retries once when a reused connection dies before any byte, so the
     * backend may see no failure; the stub saw one reset per request either way */
    for (int i = 0; i < 6; i++)
        assert_true(o->retries[i] <= 1);
    assert_int_equal(stub_stat(stub.port, "hits", "reset0"), 12);
    outcome_free(o);
}

static void test_wrong_model(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    p.model = "no-such-model";
    run_opts ro = {.tag = "model", .chat = true};
    outcome *o = run_mode("ok", &p, 3, &ro);
    assert_int_equal(o->failed, 3);
    assert_int_equal(o->retried, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o->status[i], ISYNTH_ERR_HTTP);
        assert_non_null(strstr(o->error[i], "HTTP 404"));
        assert_non_null(strstr(o->error[i], "The model `no-such-model` does not exist."));
    }
    assert_int_equal(o->st.failures, 3);
    assert_int_equal(stub_stat(stub.port, "hits", "ok"), 3); /* no retry */
    outcome_free(o);
}

static void test_give_up_after_retries(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    p.max_retries = 2;
    p.fail_threshold = 100;
    run_opts ro = {.tag = "giveup", .chat = true};
    outcome *o = run_mode("fail500", &p, 3, &ro);
    assert_int_equal(o->failed, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o->status[i], ISYNTH_ERR_HTTP);
        assert_int_equal(o->retries[i], 2);
        assert_non_null(strstr(o->error[i], "giving up after 2 retries"));
        assert_non_null(strstr(o->error[i], "HTTP 500"));
        assert_non_null(strstr(o->error[i], "internal boom (fail500)"));
    }
    assert_int_equal(stub_stat(stub.port, "hits", "fail500"), 9);
    outcome_free(o);
}

static void failover(const char *bad_url, const char *bad_mode)
{
    isynth_openai_params p = test_params();
    p.fail_threshold = 2;
    p.cooldown = 60;
    char good[128];
    const char *urls[2] = {bad_url, mode_url(good, sizeof good, "slow20", "/v1")};
    isynth_backend *b = new_backend(&p, urls, 2);
    run_opts ro = {.tag = "failover", .chat = true};
    outcome *o = run_backend(b, 40, &ro);
    assert_int_equal(o->ok, 40);
    assert_int_equal(stub_stat(stub.port, "hits", "slow20"), 40);
    /* set aside after 2 consecutive failures: at most those plus what was in flight */
    if (bad_mode) {
        long bad = stub_stat(stub.port, "hits", bad_mode);
        assert_true(bad >= 2 && bad <= 2 + p.concurrency);
    }
    assert_true(o->retried >= 2 && o->retried <= 2 + p.concurrency);
    outcome_free(o);
    isynth_backend_free(b);
}

static void test_failing_server_set_aside(void **state)
{
    (void)state;
    char bad[128];
    failover(mode_url(bad, sizeof bad, "fail500", ""), "fail500");
}

static void test_dead_server_set_aside(void **state)
{
    (void)state;
    char bad[128];
    snprintf(bad, sizeof bad, "http://127.0.0.1:%d", free_port());
    failover(bad, NULL);
}

static void test_concurrency_honoured(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    p.concurrency = 5;
    run_opts ro = {.tag = "conc", .chat = true};
    outcome *o = run_mode("slow300", &p, 20, &ro);
    assert_int_equal(o->ok, 20);
    assert_int_equal(o->max_in_flight, 5);
    assert_int_equal(stub_stat(stub.port, "max_concurrent", "slow300"), 5);
    /* 4 rounds of 300 ms when 5 run at once; serial would take 6 s, 2 at once 3 s */
    assert_true(o->seconds >= 1.15 && o->seconds < 4.0);
    outcome_free(o);
}

static void test_body_cap(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    p.max_response_bytes = 1u << 20;
    run_opts ro = {.tag = "big", .chat = true};
    outcome *o = run_mode("big", &p, 2, &ro);
    assert_int_equal(o->failed, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o->status[i], ISYNTH_ERR_TOO_LARGE);
        assert_int_equal(o->retries[i], 0);
        assert_non_null(strstr(o->error[i], "larger than the limit of 1048576 bytes"));
    }
    outcome_free(o);
    p.max_response_bytes = 8u << 20;
    o = run_mode("big", &p, 1, &ro);
    assert_int_equal(o->ok, 1);
    assert_int_equal(strlen(o->text[0]), 2u << 20);
    outcome_free(o);
}

static void test_api_key_sent_and_redacted(void **state)
{
    (void)state;
    child keyed = {.stdin_fd = -1};
    assert_int_equal(start_stub(&keyed, "sk-right-0123"), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", keyed.port);
    const char *urls[1] = {url};
    isynth_openai_params p = test_params();
    p.api_key = "sk-right-0123";
    isynth_backend *b = new_backend(&p, urls, 1);
    run_opts ro = {.tag = "key", .chat = true};
    outcome *o = run_backend(b, 2, &ro);
    assert_int_equal(o->ok, 2);
    outcome_free(o);
    isynth_backend_free(b);

    p.api_key = "sk-wrong-SECRET-987";
    b = new_backend(&p, urls, 1);
    o = run_backend(b, 2, &ro);
    assert_int_equal(o->failed, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o->retries[i], 0);
        assert_non_null(strstr(o->error[i], "HTTP 401"));
        assert_non_null(strstr(o->error[i], "Incorrect API key provided: [redacted]"));
        assert_null(strstr(o->error[i], "SECRET"));
    }
    outcome_free(o);
    isynth_backend_free(b);

    /* a key long enough that the echoing message is cut to its snippet in the middle of it:
     * redacted before the cut, nothing of it is left (the cut once left 972 of its 1,200
     * characters) */
    static char longkey[1201];
    memcpy(longkey, "sk-long-", 8);
    for (int i = 8; i < 1200; i++)
        longkey[i] = (char)('A' + i % 26);
    p.api_key = longkey;
    b = new_backend(&p, urls, 1);
    o = run_backend(b, 1, &ro);
    assert_int_equal(o->failed, 1);
    assert_non_null(strstr(o->error[0], "Incorrect API key provided: [redacted]"));
    assert_null(strstr(o->error[0], "sk-long"));
    assert_null(strstr(o->error[0], "ABCDEFGH"));
    outcome_free(o);
    isynth_backend_free(b);
    stop_child(&keyed);
}

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}"

static void test_schema_sent(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "schema", .chat = true, .json_schema = SCHEMA};
    outcome *o = run_mode("ok", &p, 6, &ro);
    assert_int_equal(o->ok, 6);
    for (int i = 0; i < 6; i++) {
        assert_true(o->constrained[i]);
        assert_int_equal(o->retries[i], 0);
    }
    assert_int_equal(stub_stat(stub.port, "formats", "ok"), 6);
    outcome_free(o);
    /* without a schema: nothing sent, nothing claimed */
    ro.json_schema = NULL;
    ro.tag = "noschema";
    o = run_mode("ok", &p, 2, &ro);
    assert_false(o->constrained[0] || o->constrained[1]);
    assert_int_equal(stub_stat(stub.port, "formats", "ok"), 6);
    outcome_free(o);
    /* a schema that is not a JSON object is refused at submit */
    const char *urls[1] = {"http://127.0.0.1:1"};
    isynth_backend *b = new_backend(&p, urls, 1);
    isynth_msg m[1] = {{"user", "hi"}};
    isynth_gen_req req = {
        .id = 3, .chat = true, .msgs = m, .n_msgs = 1, .top_p = 1, .json_schema = "{\"type\": "};
    isynth_error err;
    assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(err.msg, "request 3: json_schema is not a JSON object"));
    req.json_schema = "[1]";
    assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_ERR_INVALID);
    assert_int_equal(isynth_backend_in_flight(b), 0);
    isynth_backend_free(b);
}

/* A server that answers 400 to response_format: each request is sent again without it, the
 * server is remembered as such (later requests go plain at once) and the results say the
 * replies were not constrained. A second server that takes it keeps getting it. */
static void test_schema_fallback(void **state)
{
    (void)state;
    isynth_openai_params p = test_params();
    run_opts ro = {.tag = "fallback", .chat = true, .json_schema = SCHEMA};
    outcome *o = run_mode("nofmt", &p, 12, &ro);
    assert_int_equal(o->ok, 12);
    long formats = stub_stat(stub.port, "formats", "nofmt");
    assert_true(formats >= 1 && formats <= p.concurrency); /* only those sent before the 400 */
    assert_int_equal(stub_stat(stub.port, "hits", "nofmt"), 12 + formats);
    for (int i = 0; i < 12; i++) {
        assert_false(o->constrained[i]);
        assert_true(o->retries[i] <= 1);
        char want[128];
        snprintf(want, sizeof want, "echo: fallback request %d", i);
        assert_string_equal(o->text[i], want);
    }
    assert_int_equal(o->retried, formats);
    assert_int_equal(o->st.failures, 0);
    outcome_free(o);

    char u1[128], u2[128];
    const char *urls[2] = {mode_url(u1, sizeof u1, "nofmt", ""), mode_url(u2, sizeof u2, "ok", "")};
    isynth_backend *b = new_backend(&p, urls, 2);
    ro.tag = "mixed";
    o = run_backend(b, 20, &ro);
    assert_int_equal(o->ok, 20);
    long ok_hits = stub_stat(stub.port, "hits", "ok");
    assert_int_equal(stub_stat(stub.port, "formats", "ok"), ok_hits); /* always constrained */
    int constrained = 0;
    for (int i = 0; i < 20; i++)
        constrained += o->constrained[i];
    assert_int_equal(constrained, ok_hits); /* whatever the ok server answered */
    /* a new backend learns again, once per request in flight at most */
    long formats2 = stub_stat(stub.port, "formats", "nofmt") - formats;
    assert_true(formats2 >= 0 && formats2 <= p.concurrency);
    outcome_free(o);
    isynth_backend_free(b);

    /* the completions endpoint falls back the same way */
    p.endpoint = ISYNTH_OPENAI_COMPLETIONS;
    ro = (run_opts){.tag = "fallback-completions", .chat = false, .json_schema = SCHEMA};
    o = run_mode("nofmt", &p, 3, &ro);
    assert_int_equal(o->ok, 3);
    assert_false(o->constrained[0] || o->constrained[1] || o->constrained[2]);
    outcome_free(o);
}

static void expect_invalid(isynth_openai_params p, const char *needle)
{
    isynth_backend *b = (isynth_backend *)&b;
    isynth_error err;
    assert_int_equal(isynth_openai_backend_new(&p, &b, &err), ISYNTH_ERR_INVALID);
    assert_null(b);
    if (!strstr(err.msg, needle)) fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_params_checked(void **state)
{
    (void)state;
    const char *good[1] = {"http://127.0.0.1:1"};
    const char *ftp[1] = {"ftp://host/"};
    const char *nohost[1] = {"http:///v1"};
    isynth_openai_params p = test_params();
    p.base_urls = good;
    p.n_base_urls = 1;
    isynth_openai_params q = p;
    q.n_base_urls = 0;
    expect_invalid(q, "no base URL");
    q = p;
    q.base_urls = ftp;
    expect_invalid(q, "base URL 1");
    q.base_urls = nohost;
    expect_invalid(q, "base URL 1");
    q = p;
    q.model = "";
    expect_invalid(q, "model name");
    q = p;
    q.concurrency = 0;
    expect_invalid(q, "concurrency 0");
    q = p;
    q.api_key = "sk-abc\n";
    expect_invalid(q, "control character");
    q = p;
    q.stall_timeout = 0;
    expect_invalid(q, "time-outs");

    /* credentials in a base URL never reach an error message */
    char cred[128];
    snprintf(cred, sizeof cred, "http://user:hunter2@127.0.0.1:%d/", free_port());
    const char *credurls[1] = {cred};
    isynth_openai_params c = p;
    c.max_retries = 0;
    isynth_backend *cb = new_backend(&c, credurls, 1);
    run_opts ro = {.tag = "cred", .chat = true};
    outcome *o = run_backend(cb, 1, &ro);
    assert_int_equal(o->failed, 1);
    assert_non_null(strstr(o->error[0], "http://***@127.0.0.1:"));
    assert_null(strstr(o->error[0], "hunter2"));
    outcome_free(o);
    isynth_backend_free(cb);

    /* submit checks: invalid UTF-8, capacity */
    isynth_backend *b = new_backend(&p, good, 1);
    isynth_error err;
    isynth_msg bad[1] = {{"user", "\xff\xfe"}};
    isynth_gen_req req = {.id = 7, .chat = true, .msgs = bad, .n_msgs = 1, .top_p = 1};
    assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not valid UTF-8"));
    isynth_msg ok[1] = {{"user", "hi"}};
    req.msgs = ok;
    for (int i = 0; i < 4; i++)
        assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_OK);
    assert_int_equal(isynth_backend_capacity(b), 0);
    assert_int_equal(isynth_backend_submit(b, &req, &err), ISYNTH_ERR_INVALID);
    isynth_backend_free(b); /* drops the 4 in flight without leaking */
}

/* Every allocation of new + submit + run + free fails in turn: each failure is an error
 * return or a delivered NOMEM result, never a lost request or a leak (ASan). */
static void test_alloc_failures(void **state)
{
    (void)state;
    char url[128];
    const char *urls[1] = {mode_url(url, sizeof url, "ok", "")};
    isynth_openai_params p = test_params();
    p.base_urls = urls;
    p.n_base_urls = 1;
    p.api_key = "sk-k";
    for (long n = 1;; n++) {
        isynth_alloc_fail_at(n, false);
        isynth_backend *b = NULL;
        isynth_error err;
        isynth_err rc = isynth_openai_backend_new(&p, &b, &err);
        int delivered = 0, submitted = 0;
        outcome *o = calloc(1, sizeof *o);
        o->n = 3;
        if (rc == ISYNTH_OK) {
            isynth_msg m[1] = {{"user", "alloc"}};
            for (int i = 0; i < 3; i++) {
                isynth_gen_req req = {.id = (uint64_t)i,
                                      .chat = true,
                                      .msgs = m,
                                      .n_msgs = 1,
                                      .top_p = 1,
                                      .max_tokens = 8};
                isynth_err s = isynth_backend_submit(b, &req, &err);
                assert_true(s == ISYNTH_OK || s == ISYNTH_ERR_NOMEM);
                if (s == ISYNTH_OK) {
                    submitted++;
                } else {
                    o->count[i] = 1; /* not submitted: nothing to deliver */
                }
            }
            double t0 = now_s();
            while (isynth_backend_in_flight(b) && now_s() - t0 < 20)
                assert_int_equal(isynth_backend_step(b, on_result, o, &err), ISYNTH_OK);
            delivered = o->ok + o->failed;
            assert_int_equal(delivered, submitted);
            for (int i = 0; i < 3; i++) {
                assert_int_equal(o->count[i], 1);
                if (o->status[i] != ISYNTH_OK && o->status[i] != ISYNTH_ERR_NOMEM)
                    print_error("allocation %ld: request %d ended with %d\n", n, i, o->status[i]);
                assert_true(o->status[i] == ISYNTH_OK || o->status[i] == ISYNTH_ERR_NOMEM);
            }
            isynth_backend_free(b);
        } else {
            assert_int_equal(rc, ISYNTH_ERR_NOMEM);
            assert_null(b);
        }
        outcome_free(o);
        long counted = isynth_alloc_fail_at(0, false);
        if (counted < n) break; /* the whole operation ran without hitting the failure */
    }
}

/* ---- against the real llama-server ---- */

static child server = {.stdin_fd = -1};

static int llama_setup(void **state)
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
        server.pid = spawn(argv, &server.stdin_fd, NULL, "llama-server-test.log");
        double t0 = now_s();
        while (now_s() - t0 < 180) {
            if (waitpid(server.pid, NULL, WNOHANG) == server.pid) {
                server.pid = 0;
                break;
            }
            char *h = http_simple(server.port, "/health", false);
            if (h) {
                free(h);
                return 0;
            }
            usleep(200000);
        }
        stop_child(&server);
    }
    fprintf(stderr, "llama-server did not become healthy (see llama-server-test.log)\n");
    return -1;
}

static int llama_teardown(void **state)
{
    (void)state;
    stop_child(&server);
    curl_global_cleanup();
    return 0;
}

/* A backend on the real llama-server: 4 in flight, 300 s an attempt. */
static isynth_backend *llama_server_backend(void)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", server.port);
    const char *urls[1] = {url};
    isynth_openai_params p = isynth_openai_params_default();
    p.model = "default";
    p.concurrency = 4;
    p.total_timeout = 300;
    return new_backend(&p, urls, 1);
}

static void test_llama_server_chat(void **state)
{
    (void)state;
    isynth_backend *b = llama_server_backend();
    run_opts ro = {.tag = "日本の首都はどこですか。一言で答えてください。",
                   .chat = true,
                   .max_tokens = 24,
                   .deadline_s = 300};
    outcome *o = run_backend(b, 6, &ro);
    assert_int_equal(o->ok, 6);
    for (int i = 0; i < 6; i++) {
        assert_true(strlen(o->text[i]) > 0);
        fprintf(stderr, "  reply %d: %.60s\n", i, o->text[i]);
    }
    assert_true(o->st.prompt_tokens >= 6 * 10);
    assert_true(o->st.completion_tokens >= 6);
    assert_true(o->st.completion_tokens <= 6 * 24);
    assert_int_equal(o->max_in_flight, 4);
    outcome_free(o);
    isynth_backend_free(b);
}

static void test_llama_server_completions(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", server.port);
    const char *urls[1] = {url};
    isynth_openai_params p = isynth_openai_params_default();
    p.model = "default";
    p.concurrency = 2;
    isynth_backend *b = new_backend(&p, urls, 1);
    run_opts ro = {.tag = "Once upon a time", .chat = false, .max_tokens = 4, .deadline_s = 300};
    outcome *o = run_backend(b, 2, &ro);
    assert_int_equal(o->ok, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(o->truncated[i]); /* 4 tokens: stopped by max_tokens */
        assert_true(strlen(o->text[i]) > 0);
    }
    assert_int_equal(o->st.completion_tokens, 8);
    outcome_free(o);
    isynth_backend_free(b);
}

/* Streaming from the real server: replies watched to their end carry the server's usage from
 * the stream's last event; replies a watcher ends after 6 events are cancelled there. */
static void test_llama_server_stream(void **state)
{
    (void)state;
    isynth_backend *b = llama_server_backend();
    watched w = {0};
    run_opts ro = {.tag = "日本の四季について説明してください。",
                   .chat = true,
                   .max_tokens = 16,
                   .deadline_s = 300,
                   .watch = watcher,
                   .watch_user = &w};
    outcome *o = run_backend(b, 4, &ro);
    assert_int_equal(o->ok, 4);
    for (int i = 0; i < 4; i++) {
        assert_true(w.calls[i] > 0);
        assert_string_equal(o->text[i], w.text[i]);
        fprintf(stderr, "  streamed %d: %.60s\n", i, o->text[i]);
    }
    assert_true(o->st.prompt_tokens >= 4 * 10);
    assert_true(o->st.completion_tokens >= 4 && o->st.completion_tokens <= 4 * 16);
    outcome_free(o);
    watched_free(&w);
    isynth_backend_free(b);

    b = llama_server_backend();
    watched w2 = {.end_after = 6, .end_at = (size_t)-1};
    ro.tag = "日本の歴史を詳しく説明してください。";
    ro.max_tokens = 400;
    ro.watch_user = &w2;
    o = run_backend(b, 4, &ro);
    assert_int_equal(o->ok, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w2.calls[i], 6);
        assert_string_equal(o->text[i], w2.text[i]);
        assert_false(o->truncated[i]);
    }
    assert_int_equal(o->st.completion_tokens, 4 * 6);
    outcome_free(o);
    watched_free(&w2);
    isynth_backend_free(b);
}

int main(int argc, char **argv)
{
    if (isynth_global_init(NULL)) return 1; /* libcurl's allocations go through ours */
    if (argc > 1 && !strcmp(argv[1], "llama-server")) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_llama_server_chat),
            cmocka_unit_test(test_llama_server_completions),
            cmocka_unit_test(test_llama_server_stream),
        };
        return cmocka_run_group_tests_name("openai_llama_server", tests, llama_setup,
                                           llama_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_checked),
        cmocka_unit_test_setup(test_normal, reset_stub),
        cmocka_unit_test_setup(test_completions_and_length, reset_stub),
        cmocka_unit_test_setup(test_429_retry_after, reset_stub),
        cmocka_unit_test_setup(test_500_then_ok, reset_stub),
        cmocka_unit_test_setup(test_truncated_json, reset_stub),
        cmocka_unit_test_setup(test_stall, reset_stub),
        cmocka_unit_test_setup(test_reset_mid_response, reset_stub),
        cmocka_unit_test_setup(test_reset_before_response, reset_stub),
        cmocka_unit_test_setup(test_wrong_model, reset_stub),
        cmocka_unit_test_setup(test_give_up_after_retries, reset_stub),
        cmocka_unit_test_setup(test_failing_server_set_aside, reset_stub),
        cmocka_unit_test_setup(test_dead_server_set_aside, reset_stub),
        cmocka_unit_test_setup(test_concurrency_honoured, reset_stub),
        cmocka_unit_test_setup(test_body_cap, reset_stub),
        cmocka_unit_test_setup(test_api_key_sent_and_redacted, reset_stub),
        cmocka_unit_test_setup(test_schema_sent, reset_stub),
        cmocka_unit_test_setup(test_schema_fallback, reset_stub),
        cmocka_unit_test_setup(test_alloc_failures, reset_stub),
        cmocka_unit_test_setup(test_stream_whole, reset_stub),
        cmocka_unit_test_setup(test_bad_usage, reset_stub),
        cmocka_unit_test_setup(test_stream_end, reset_stub),
        cmocka_unit_test_setup(test_stream_faults, reset_stub),
        cmocka_unit_test_setup(test_callback_error, reset_stub),
        cmocka_unit_test_setup(test_watch_error, reset_stub),
    };
    return cmocka_run_group_tests_name("openai", tests, group_setup, group_teardown);
}
