/* OpenAI-compatible HTTP backend over libcurl's multi interface, in the caller's thread.
 *
 * The one idea: every submitted request is a `job` that lives on exactly one of three lists
 * until step() hands it to the callback: `waiting` (not started, or backing off until
 * not_before), `active` (an easy handle in the multi) and `done` (result ready). A failed
 * attempt either goes back to `waiting` with a back-off time or moves to `done`; nothing else
 * can happen to it, so each request is delivered exactly once. Servers are picked per attempt
 * (fewest outstanding among those not set aside), so a retry can land on another server.
 *
 * Stalls are detected here rather than with CURLOPT_LOW_SPEED_*: a non-streamed generation
 * sends no byte until it is finished, which libcurl's low-speed check would call a stall. The
 * clock starts at the first response byte.
 *
 * A request with a JSON Schema carries two bodies, with and without response_format. A server
 * endpoint that answers 400 naming response_format or json_schema is marked as unable to take
 * it, and from then on gets the plain body: the request that met the 400 is sent again at once
 * without it, and its result says it was not constrained. */
#include "isynth/openai.h"

#include "internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_URLS 64
#define MAX_CONCURRENCY 4096
#define POLL_MS 100
#define ERR_BODY_SNIPPET 300

typedef struct server {
    char *base;     /* normalised, ends in /v1, user:password@ masked; used in messages */
    char *url_chat; /* base + /chat/completions */
    char *url_comp; /* base + /completions */
    size_t outstanding;
    int consec_fail;
    double down_until;
    bool no_schema[2]; /* [chat_api]: the endpoint rejected response_format / json_schema */
} server;

typedef struct job job;
struct job {
    job *prev, *next;
    uint64_t id;
    struct openai *owner; /* for the API key to redact, and a watcher's error */
    bool chat_api;        /* which endpoint and which response shape */
    char *body;           /* with the request's response_format when it has one */
    size_t body_len;
    char *plain; /* the same without it, for servers that reject it; NULL: no constraint */
    size_t plain_len;
    bool sent_schema; /* the current or last attempt carried the constraint */
    double submitted, not_before;
    int retries;
    int srv; /* server of the current or last attempt, -1 before the first */
    CURL *easy;
    buf resp;
    bool rx_started, stalled, too_large, nomem;
    double last_rx;
    /* streaming (a request with a watcher asks for "stream": true) */
    isynth_watch_fn watch;
    void *watch_user;
    bool stream;
    int sse;          /* this attempt's 2xx body: 0 not known yet, 1 events, -1 one JSON */
    buf line;         /* the event line being received */
    buf stext;        /* the reply's text so far */
    long chunks;      /* events that added text (one token each on vLLM and llama-server) */
    bool sse_done;    /* "data: [DONE]" or a finish_reason seen */
    bool sse_bad;     /* a malformed event or an error event: the attempt is retried */
    bool watch_ended; /* the watcher ended the reply: the transfer was cancelled */
    bool watched;     /* the watcher saw text of this attempt */
    /* result, once in `done` */
    isynth_err status;
    char *error;
    char *text;
    size_t text_len;
    bool truncated;
    long prompt_tokens, completion_tokens;
    double finished;
};

typedef struct list {
    job *head, *tail;
    size_t n;
} list;

typedef struct openai {
    isynth_openai_params p; /* numeric fields; pointers cleared */
    char *model;
    char *chat_template; /* the caller's, copied; NULL: none */
    char *key;
    size_t key_len;
    CURLM *multi;
    struct curl_slist *headers;
    server *srv;
    size_t n_srv;
    size_t rr;
    list waiting, active, done;
    size_t in_flight;
    CURL **pool;
    size_t n_pool;
    uint64_t rng;
    isynth_backend_stats st;
    double busy_mark;
    bool curl_inited;
    /* A watcher failed inside libcurl's write callback: its transfer was aborted, and step()
     * drops every request and returns the error once libcurl returns. */
    isynth_err watch_rc;
    isynth_error watch_err;
} openai;

/* ---- lists ---- */

static void list_push(list *l, job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static void list_remove(list *l, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->n--;
}

static void job_free(job *j)
{
    if (!j) return;
    isynth_free(j->body);
    isynth_free(j->plain);
    buf_free(&j->resp);
    buf_free(&j->line);
    buf_free(&j->stext);
    isynth_free(j->error);
    isynth_free(j->text);
    isynth_free(j);
}

/* ---- small helpers ---- */

static uint64_t rng_next(openai *o)
{
    uint64_t x = o->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    o->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(openai *o)
{
    return (double)(rng_next(o) >> 11) * (1.0 / 9007199254740992.0);
}

static void busy_mark(openai *o, double now)
{
    if (o->in_flight) o->st.busy_seconds += now - o->busy_mark;
    o->busy_mark = now;
}

static const char *find(const char *h, size_t hn, const char *n, size_t nn)
{
    for (size_t i = 0; nn && i + nn <= hn; i++)
        if (h[i] == n[0] && !memcmp(h + i, n, nn)) return h + i;
    return NULL;
}

/* Replaces every occurrence of the API key in b with "[redacted]", and every run of its first
 * characters long enough to matter (8, or the whole key when shorter): a server may echo the
 * key and cut its own message, and the key must not survive nearly whole. */
static void redact(const openai *o, buf *b)
{
    if (!o || !o->key_len || !b->p) return;
    static const char mask[] = "[redacted]";
    size_t head = o->key_len < 8 ? o->key_len : 8;
    buf out;
    buf_init(&out, b->max); /* the redacted copy replaces b: its cap */
    const char *p = b->p, *end = b->p + b->len;
    bool found = false;
    while (p < end) {
        const char *hit = find(p, (size_t)(end - p), o->key, head);
        if (!hit) break;
        found = true;
        size_t m = head;
        while (m < o->key_len && hit + m < end && hit[m] == o->key[m])
            m++;
        if (buf_add(&out, p, (size_t)(hit - p)) || buf_adds(&out, mask)) goto nomem;
        p = hit + m;
    }
    if (!found) return;
    if (buf_add(&out, p, (size_t)(end - p))) goto nomem;
    buf_free(b);
    *b = out;
    return;
nomem:
    /* cannot build the redacted copy: drop the text rather than risk showing the key */
    buf_free(&out);
    buf_reset(b);
    buf_adds(b, mask);
}

/* Appends at most max bytes of foreign text, printable ASCII and valid UTF-8 only. */
static isynth_err add_snippet(buf *b, const char *s, size_t n, size_t max)
{
    isynth_err rc = ISYNTH_OK;
    size_t i = 0;
    while (i < n && i < max && !rc) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
            if (l) {
                rc = buf_add(b, s + i, l);
                i += l;
                continue;
            }
        }
        rc = buf_addc(b, (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' ? ' ' : '?'));
        i++;
    }
    if (!rc && i < n) rc = buf_adds(b, "...");
    return rc;
}

/* Moves the text of b (redacted) into j->error; b is emptied. On allocation failure j->error
 * is NULL and the result falls back to isynth_strerror(status). */
static void job_set_error(openai *o, job *j, buf *b)
{
    redact(o, b);
    isynth_free(j->error);
    j->error = buf_take(b);
}

/* ---- servers ---- */

static isynth_err normalise_url(const char *in, server *s, isynth_error *err, size_t idx)
{
    size_t n = strlen(in);
    while (n && in[n - 1] == '/')
        n--;
    size_t scheme = 0;
    if (n >= 7 && !strncasecmp(in, "http://", 7))
        scheme = 7;
    else if (n >= 8 && !strncasecmp(in, "https://", 8))
        scheme = 8;
    if (!scheme || n == scheme || in[scheme] == '/')
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "base URL %zu ('%.200s'): expected http://HOST[:PORT][/PATH] or "
                                "https://...",
                                idx + 1, in);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f)
            return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                    "base URL %zu: contains a space or control character", idx + 1);
    bool has_v1 = n - scheme >= 3 && !memcmp(in + n - 3, "/v1", 3);
    buf b;
    buf_init(&b, n + 64); /* the base URL plus "/v1/chat/completions" */
    isynth_err rc = buf_add(&b, in, n);
    if (!rc && !has_v1) rc = buf_adds(&b, "/v1");
    if (rc) goto nomem;
    char *url = buf_take(&b);
    if (!url || buf_printf(&b, "%s/chat/completions", url)) goto nomem_url;
    s->url_chat = buf_take(&b);
    if (!s->url_chat || buf_printf(&b, "%s/completions", url)) goto nomem_url;
    s->url_comp = buf_take(&b);
    if (!s->url_comp) goto nomem_url;
    /* the label for messages hides credentials in the authority (user:password@host) */
    size_t auth_end = scheme;
    while (url[auth_end] && url[auth_end] != '/')
        auth_end++;
    const char *at = NULL;
    for (size_t i = scheme; i < auth_end; i++)
        if (url[i] == '@') at = url + i;
    if (!at) {
        s->base = url;
        return ISYNTH_OK;
    }
    if (buf_add(&b, url, scheme) || buf_adds(&b, "***") || buf_adds(&b, at)) goto nomem_url;
    isynth_free(url);
    s->base = buf_take(&b);
    if (!s->base) goto nomem;
    return ISYNTH_OK;
nomem_url:
    isynth_free(url);
nomem:
    buf_free(&b);
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
}

/* Usable server with the fewest outstanding requests (ties rotate; `avoid`, the server that
 * just failed this request, loses ties). -1 when all are set aside; *wake then gets the time
 * the first comes back. */
static int pick_server(openai *o, double now, int avoid, double *wake)
{
    int best = -1;
    size_t best_score = SIZE_MAX;
    double first_back = INFINITY;
    for (size_t i = 0; i < o->n_srv; i++) {
        size_t k = (o->rr + i) % o->n_srv;
        server *s = &o->srv[k];
        if (s->down_until > now) {
            if (s->down_until < first_back) first_back = s->down_until;
            continue;
        }
        size_t score = s->outstanding * 2 + ((int)k == avoid);
        if (score < best_score) {
            best_score = score;
            best = (int)k;
        }
    }
    o->rr++;
    *wake = first_back;
    return best;
}

/* Counts a retryable failure; sets the server aside past the threshold, unless no other server
 * is usable (then back-off alone paces the retries). */
static void server_failed(openai *o, server *s, double now)
{
    bool other = false;
    for (size_t i = 0; i < o->n_srv && !other; i++)
        other = &o->srv[i] != s && o->srv[i].down_until <= now;
    if (++s->consec_fail >= o->p.fail_threshold && other) {
        s->down_until = now + o->p.cooldown;
        /* after the cool-down one more failure sets it aside again */
        s->consec_fail = o->p.fail_threshold - 1;
    }
}

/* ---- curl callbacks ---- */

static isynth_err add_server_message(const openai *o, buf *msg, const char *body, size_t len);
static long token_count(json_t *v);

/* One event line of a stream (without its newline): "data: {chunk}" adds the chunk's text
 * (choices[0].delta.content on the chat API, choices[0].text on completions), its usage and
 * finish_reason; "data: [DONE]" ends it; comments and other fields are skipped. After text is
 * added the watcher sees the whole reply. Returns false to abort the transfer (the watcher
 * ended the reply or failed, or the event was malformed, or memory ran out: flags say which). */
static bool sse_line(job *j, const char *s, size_t n)
{
    if (j->owner->watch_rc) return false; /* a watcher failed: step() is about to stop */
    if (n && s[n - 1] == '\r') n--;
    if (n < 5 || memcmp(s, "data:", 5)) return true;
    s += 5;
    n -= 5;
    if (n && *s == ' ') s++, n--;
    if (n == 6 && !memcmp(s, "[DONE]", 6)) {
        j->sse_done = true;
        return true;
    }
    json_t *root = json_loadb(s, n, 0, NULL);
    if (!json_is_object(root) || json_object_get(root, "error")) {
        j->sse_bad = true;
        isynth_free(j->error);
        j->error = NULL;
        buf msg;
        buf_init(&msg, BUF_MAX_MESSAGE);
        if (root)
            add_server_message(j->owner, &msg, s, n);
        else
            buf_adds(&msg, "a malformed event in the stream");
        j->error = msg.p ? isynth_strndup(msg.p, msg.len) : NULL;
        buf_free(&msg);
        json_decref(root);
        return false;
    }
    json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage)) {
        j->prompt_tokens = token_count(json_object_get(usage, "prompt_tokens"));
        j->completion_tokens = token_count(json_object_get(usage, "completion_tokens"));
    }
    json_t *choices = json_object_get(root, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    json_t *t = !json_is_object(c0) ? NULL
                : j->chat_api       ? json_object_get(json_object_get(c0, "delta"), "content")
                                    : json_object_get(c0, "text");
    const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
    if (fr) {
        j->sse_done = true;
        j->truncated = !strcmp(fr, "length");
    }
    size_t tn = json_is_string(t) ? json_string_length(t) : 0;
    bool ok = true;
    if (tn) {
        isynth_err rc = buf_add(&j->stext, json_string_value(t), tn);
        if (rc) {
            j->too_large = rc == ISYNTH_ERR_TOO_LARGE;
            j->nomem = !j->too_large;
            ok = false;
        } else {
            j->chunks++;
        }
    }
    json_decref(root);
    if (ok && tn && j->watch) {
        size_t at = j->stext.len;
        j->watched = true;
        isynth_watch_act a = ISYNTH_WATCH_GO;
        openai *o = j->owner;
        o->watch_rc =
            j->watch(j->watch_user, j->id, j->stext.p, j->stext.len, &a, &at, &o->watch_err);
        if (o->watch_rc) return false;
        if (a != ISYNTH_WATCH_GO) {
            if (at < j->stext.len) j->stext.len = at;
            j->watch_ended = true;
            return false;
        }
    }
    return ok;
}

/* Feeds received bytes of an event stream, line by line. */
static bool sse_feed(job *j, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        isynth_err rc = buf_add(&j->line, p, take);
        if (rc) {
            j->too_large = rc == ISYNTH_ERR_TOO_LARGE;
            j->nomem = !j->too_large;
            return false;
        }
        if (!nl) return true;
        bool ok = sse_line(j, j->line.p ? j->line.p : "", j->line.len);
        buf_reset(&j->line);
        if (!ok) return false;
        p += take + 1;
        n -= take + 1;
    }
    return true;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    job *j = userdata;
    size_t n = size * nmemb;
    j->rx_started = true;
    j->last_rx = isynth_now();
    if (j->stream && j->sse >= 0) {
        long code = 0;
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300) {
            /* a server that ignored "stream" answers with one JSON object */
            size_t k = 0;
            while (j->sse == 0 && k < n && strchr(" \t\r\n", ptr[k]))
                k++;
            if (j->sse == 0 && k < n) j->sse = ptr[k] == '{' ? -1 : 1;
            if (j->sse > 0) return sse_feed(j, ptr, n) ? n : 0;
        }
    }
    isynth_err rc = buf_add(&j->resp, ptr, n);
    if (rc == ISYNTH_ERR_TOO_LARGE) {
        j->too_large = true;
        return 0;
    }
    if (rc) {
        j->nomem = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    job *j = userdata;
    j->rx_started = true;
    j->last_rx = isynth_now();
    return size * nmemb;
}

static CURL *easy_get(openai *o)
{
    if (o->n_pool) return o->pool[--o->n_pool];
    CURL *e = curl_easy_init();
    if (!e) return NULL;
    bool ok =
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->p.connect_timeout * 1000)) ==
            CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->p.total_timeout * 1000)) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    if (!ok) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

static void easy_put(openai *o, CURL *e)
{
    if (!e) return;
    if (o->n_pool < (size_t)o->p.concurrency)
        o->pool[o->n_pool++] = e;
    else
        curl_easy_cleanup(e);
}

/* ---- finishing an attempt ---- */

static void job_finish(openai *o, job *j, isynth_err status, double now)
{
    j->status = status;
    j->finished = now;
    easy_put(o, j->easy);
    j->easy = NULL;
    list_push(&o->done, j);
}

/* Fails the request for good with `status` and the message in msg (consumed). */
static void job_fail(openai *o, job *j, isynth_err status, buf *msg, double now)
{
    job_set_error(o, j, msg);
    job_finish(o, j, status, now);
}

/* Clears what an attempt received before the request is sent again; a watcher that saw text
 * of it is told that the reply starts again (len 0). */
static void attempt_reset(job *j)
{
    buf_reset(&j->resp);
    buf_reset(&j->line);
    buf_reset(&j->stext);
    j->rx_started = j->stalled = j->too_large = j->nomem = false;
    j->sse = 0;
    j->chunks = 0;
    j->sse_done = j->sse_bad = j->watch_ended = j->truncated = false;
    j->prompt_tokens = j->completion_tokens = 0;
    openai *o = j->owner;
    if (j->watched && !o->watch_rc) {
        size_t at = 0;
        isynth_watch_act a = ISYNTH_WATCH_GO;
        j->watched = false;
        o->watch_rc = j->watch(j->watch_user, j->id, "", 0, &a, &at, &o->watch_err);
    }
}

/* A streamed reply is complete (or ended by its watcher): its text becomes the result and the
 * request succeeds (msg, empty, is consumed). A cancelled stream never gets the server's
 * usage: its completion tokens are the events received, its prompt tokens 0. */
static void stream_finish(openai *o, job *j, server *s, buf *msg, double now)
{
    s->consec_fail = 0;
    isynth_free(j->text);
    j->text = isynth_strndup(j->stext.p ? j->stext.p : "", j->stext.len);
    if (!j->text) {
        buf_adds(msg, "out of memory");
        job_fail(o, j, ISYNTH_ERR_NOMEM, msg, now);
        return;
    }
    j->text_len = j->stext.len;
    if (!j->completion_tokens) j->completion_tokens = j->chunks;
    buf_free(msg);
    job_finish(o, j, ISYNTH_OK, now);
}

/* A retryable failure: back off and requeue, or give up past max_retries. */
static void job_retry(openai *o, job *j, buf *msg, double retry_after, double now)
{
    if (j->srv >= 0) server_failed(o, &o->srv[j->srv], now);
    if (j->retries >= o->p.max_retries) {
        buf full;
        buf_init(&full, msg->len + 64); /* the last message and the preamble */
        buf_printf(&full, "giving up after %d retr%s: %s", j->retries,
                   j->retries == 1 ? "y" : "ies", msg->p ? msg->p : "");
        buf_free(msg);
        job_fail(o, j, ISYNTH_ERR_HTTP, &full, now);
        return;
    }
    job_set_error(o, j, msg); /* kept as the last error */
    j->retries++;
    o->st.retries++;
    double delay;
    if (retry_after > 0) {
        delay = retry_after < o->p.retry_after_max ? retry_after : o->p.retry_after_max;
    } else {
        double ceil_s = o->p.backoff_base * ldexp(1.0, j->retries - 1);
        if (ceil_s > o->p.backoff_cap) ceil_s = o->p.backoff_cap;
        delay = rng_unit(o) * ceil_s;
    }
    j->not_before = now + delay;
    easy_put(o, j->easy);
    j->easy = NULL;
    attempt_reset(j);
    list_push(&o->waiting, j);
}

/* A server's token count: negative, absurd (over 2^30 in one reply) or not an integer counts
 * as 0, so a hostile server cannot drive the run's totals negative or overflow them. */
static long token_count(json_t *v)
{
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n < 0 || n > (json_int_t)1 << 30 ? 0 : (long)n;
}

/* Pulls the server's message out of an error body: OpenAI/vLLM {"error":{"message"}},
 * Ollama {"error":"..."}, {"message":"..."}, else the start of the raw body. The API key is
 * redacted in the text before it is cut to a snippet, so a cut cannot split the key and leave
 * most of it. */
static isynth_err add_server_message(const openai *o, buf *msg, const char *body, size_t len)
{
    if (!len) return buf_adds(msg, "(empty body)");
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *text = NULL;
    size_t text_len = 0;
    if (root && json_is_object(root)) {
        json_t *e = json_object_get(root, "error");
        json_t *m = json_is_object(e)   ? json_object_get(e, "message")
                    : json_is_string(e) ? e
                                        : json_object_get(root, "message");
        if (json_is_string(m)) {
            text = json_string_value(m);
            text_len = json_string_length(m);
        }
    }
    const char *src = text ? text : body;
    size_t n = text ? text_len : len, cap = text ? 1000 : ERR_BODY_SNIPPET;
    size_t take = o && n > cap + o->key_len ? cap + o->key_len : n;
    buf tmp;
    buf_init(&tmp, take + 1); /* the snippet taken */
    isynth_err rc = buf_add(&tmp, src, take);
    if (!rc) {
        redact(o, &tmp);
        rc = add_snippet(msg, tmp.p ? tmp.p : "", tmp.len, cap);
        if (!rc && take < n && tmp.len <= cap) rc = buf_adds(msg, "...");
    }
    buf_free(&tmp);
    json_decref(root);
    return rc;
}

/* Parses a 2xx body into the job's result. Returns false (with msg set) when it is not the
 * JSON we expect, which the caller treats as retryable. */
static bool parse_success(job *j, buf *msg)
{
    json_error_t je;
    json_t *root = json_loadb(j->resp.p ? j->resp.p : "", j->resp.len, JSON_ALLOW_NUL, &je);
    if (!root) {
        buf_printf(msg, "invalid JSON in a %zu-byte response: %s", j->resp.len, je.text);
        return false;
    }
    bool ok = false;
    json_t *choices = json_object_get(root, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    if (!json_is_object(c0)) {
        buf_adds(msg, "response has no choices[0]");
        goto done;
    }
    json_t *t = j->chat_api ? json_object_get(json_object_get(c0, "message"), "content")
                            : json_object_get(c0, "text");
    const char *s = "";
    size_t n = 0;
    if (json_is_string(t)) {
        s = json_string_value(t);
        n = json_string_length(t);
    } else if (t && !json_is_null(t)) {
        buf_adds(msg, j->chat_api ? "choices[0].message.content is not a string"
                                  : "choices[0].text is not a string");
        goto done;
    }
    isynth_free(j->text);
    j->text = isynth_strndup(s, n);
    if (!j->text) {
        j->nomem = true;
        buf_adds(msg, "out of memory");
        goto done;
    }
    j->text_len = n;
    const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
    j->truncated = fr && !strcmp(fr, "length");
    json_t *usage = json_object_get(root, "usage");
    j->prompt_tokens = token_count(json_object_get(usage, "prompt_tokens"));
    j->completion_tokens = token_count(json_object_get(usage, "completion_tokens"));
    ok = true;
done:
    json_decref(root);
    return ok;
}

static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
        return false;
    default:
        return true;
    }
}

/* True when the body of a 400/422 names the constraint fields: the server (or this endpoint of
 * it) does not take response_format or json_schema. The body is foreign: bounded, NUL-safe. */
static bool names_constraint(const char *body, size_t len)
{
    static const char *const words[] = {"response_format", "json_schema"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t n = strlen(words[w]);
        for (size_t i = 0; body && i + n <= len; i++)
            if (!strncasecmp(body + i, words[w], n)) return true;
    }
    return false;
}

/* The server rejected the constraint: requeue at once; job_start sends the plain body now that
 * the endpoint is marked. Counted as a retry (an attempt beyond the first), not as a failure of
 * the server. */
static void job_resend_plain(openai *o, job *j, double now)
{
    j->retries++;
    o->st.retries++;
    j->not_before = now;
    easy_put(o, j->easy);
    j->easy = NULL;
    attempt_reset(j);
    list_push(&o->waiting, j);
}

/* One attempt ended (curl finished it, or we abandoned a stalled one). */
static void attempt_done(openai *o, job *j, CURLcode rc, double now)
{
    curl_multi_remove_handle(o->multi, j->easy);
    list_remove(&o->active, j);
    server *s = &o->srv[j->srv];
    s->outstanding--;
    buf msg;
    buf_init(&msg, BUF_MAX_MESSAGE);
    if (j->watch_ended) { /* the watcher ended the reply and the transfer was cancelled */
        stream_finish(o, j, s, &msg, now);
        return;
    }
    if (j->nomem) {
        buf_adds(&msg, "out of memory while receiving the response");
        job_fail(o, j, ISYNTH_ERR_NOMEM, &msg, now);
        return;
    }
    if (j->too_large) {
        buf_printf(&msg, "response from %s is larger than the limit of %zu bytes", s->base,
                   o->p.max_response_bytes);
        job_fail(o, j, ISYNTH_ERR_TOO_LARGE, &msg, now);
        return;
    }
    if (j->sse_bad) {
        buf_printf(&msg, "HTTP 200 from %s: %s", s->base,
                   j->error ? j->error : "a malformed event in the stream");
        job_retry(o, j, &msg, 0, now);
        return;
    }
    if (j->stalled) {
        buf_printf(&msg, "%s: response stalled (no data for %.1f s)", s->base, o->p.stall_timeout);
        job_retry(o, j, &msg, 0, now);
        return;
    }
    if (rc != CURLE_OK) {
        buf_printf(&msg, "%s: %s", s->base, curl_easy_strerror(rc));
        if (curl_retryable(rc))
            job_retry(o, j, &msg, 0, now);
        else
            job_fail(o, j, rc == CURLE_OUT_OF_MEMORY ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_HTTP, &msg,
                     now);
        return;
    }
    long code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300 && j->sse > 0) {
        if (!j->sse_done) {
            buf_printf(&msg, "HTTP %ld from %s: the stream ended before its last event", code,
                       s->base);
            job_retry(o, j, &msg, 0, now);
            return;
        }
        stream_finish(o, j, s, &msg, now);
        return;
    }
    if (code >= 200 && code < 300) {
        if (parse_success(j, &msg)) {
            s->consec_fail = 0;
            buf_free(&msg);
            job_finish(o, j, ISYNTH_OK, now);
            return;
        }
        if (j->nomem) {
            job_fail(o, j, ISYNTH_ERR_NOMEM, &msg, now);
            return;
        }
        buf msg2;
        buf_init(&msg2, msg.len + strlen(s->base) + 64); /* msg, the URL, the code */
        buf_printf(&msg2, "HTTP %ld from %s: %s", code, s->base, msg.p ? msg.p : "");
        buf_free(&msg);
        job_retry(o, j, &msg2, 0, now);
        return;
    }
    if (j->sent_schema && (code == 400 || code == 422) &&
        names_constraint(j->resp.p, j->resp.len)) {
        s->no_schema[j->chat_api] = true;
        s->consec_fail = 0;
        buf_free(&msg);
        job_resend_plain(o, j, now);
        return;
    }
    buf_printf(&msg, "HTTP %ld from %s: ", code, s->base);
    add_server_message(o, &msg, j->resp.p, j->resp.len);
    if (code == 408 || code == 429 || code >= 500) {
        curl_off_t ra = 0;
        curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &ra);
        job_retry(o, j, &msg, ra > 0 ? (double)ra : 0, now);
        return;
    }
    s->consec_fail = 0; /* the server answered; the request is what is wrong */
    job_fail(o, j, ISYNTH_ERR_HTTP, &msg, now);
}

/* ---- starting attempts ---- */

static void job_start(openai *o, job *j, double now)
{
    double wake;
    int k = pick_server(o, now, j->srv, &wake);
    if (k < 0) {
        j->not_before = wake;
        list_push(&o->waiting, j);
        return;
    }
    buf msg;
    buf_init(&msg, BUF_MAX_MESSAGE);
    CURL *e = easy_get(o);
    if (!e) {
        buf_adds(&msg, "cannot create a libcurl handle (out of memory)");
        job_fail(o, j, ISYNTH_ERR_NOMEM, &msg, now);
        return;
    }
    server *s = &o->srv[k];
    j->easy = e;
    j->srv = k;
    j->sent_schema = j->plain && !s->no_schema[j->chat_api];
    const char *body = j->plain && !j->sent_schema ? j->plain : j->body;
    size_t body_len = j->plain && !j->sent_schema ? j->plain_len : j->body_len;
    CURLcode ec = CURLE_OK;
    CURLMcode mc = CURLM_OK;
    if (!(ec = curl_easy_setopt(e, CURLOPT_URL, j->chat_api ? s->url_chat : s->url_comp)) &&
        !(ec = curl_easy_setopt(e, CURLOPT_POSTFIELDS, body)) &&
        !(ec = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len)) &&
        !(ec = curl_easy_setopt(e, CURLOPT_WRITEDATA, j)) &&
        !(ec = curl_easy_setopt(e, CURLOPT_HEADERDATA, j)) &&
        !(ec = curl_easy_setopt(e, CURLOPT_PRIVATE, j)))
        mc = curl_multi_add_handle(o->multi, e);
    if (ec || mc) {
        bool nomem = ec == CURLE_OUT_OF_MEMORY || mc == CURLM_OUT_OF_MEMORY;
        buf_printf(&msg, "%s: cannot start the transfer: %s", s->base,
                   ec ? curl_easy_strerror(ec) : curl_multi_strerror(mc));
        job_fail(o, j, nomem ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_HTTP, &msg, now);
        return;
    }
    j->rx_started = false;
    s->outstanding++;
    list_push(&o->active, j);
}

/* Starts every waiting job whose time has come; returns how many left the waiting list. */
static size_t start_due(openai *o, double now)
{
    size_t n = 0;
    job *j = o->waiting.head;
    while (j) {
        job *nx = j->next;
        if (j->not_before <= now) {
            list_remove(&o->waiting, j);
            job_start(o, j, now);
            n++;
        }
        j = nx;
    }
    return n;
}

/* The earliest time a waiting job may start, or INFINITY. */
static double next_wake(const openai *o)
{
    double next = INFINITY;
    for (const job *j = o->waiting.head; j; j = j->next)
        if (j->not_before < next) next = j->not_before;
    return next;
}

static void collect(openai *o)
{
    CURLMsg *m;
    int left;
    double now = isynth_now();
    while ((m = curl_multi_info_read(o->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        job *j = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        if (j) attempt_done(o, j, m->data.result, now);
    }
}

static void check_stalls(openai *o, double now)
{
    job *j = o->active.head;
    while (j) {
        job *nx = j->next;
        if (j->rx_started && now - j->last_rx > o->p.stall_timeout) {
            j->stalled = true;
            attempt_done(o, j, CURLE_OPERATION_TIMEDOUT, now);
        }
        j = nx;
    }
}

/* ---- backend operations ---- */

static size_t op_in_flight(void *impl)
{
    return ((openai *)impl)->in_flight;
}

static size_t op_capacity(void *impl)
{
    openai *o = impl;
    size_t c = (size_t)o->p.concurrency;
    return o->in_flight >= c ? 0 : c - o->in_flight;
}

static isynth_err check_text(const char *s, const char *what, size_t idx, uint64_t id,
                             isynth_error *err)
{
    if (!s)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "request %llu: %s %zu is NULL",
                                (unsigned long long)id, what, idx);
    size_t bad;
    if (!utf8_valid(s, strlen(s), &bad))
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "request %llu: %s %zu is not valid UTF-8 (byte %zu)",
                                (unsigned long long)id, what, idx, bad);
    return ISYNTH_OK;
}

static isynth_err set_new(json_t *obj, const char *key, json_t *v)
{
    return (v && json_object_set_new(obj, key, v) == 0) ? ISYNTH_OK : ISYNTH_ERR_NOMEM;
}

/* Adds the constraint: response_format {"type": "json_schema", "json_schema": {name, schema,
 * strict}} (OpenAI, vLLM, llama-server's chat endpoint), and on the completions endpoint also
 * llama-server's own top-level "json_schema", since its /v1/completions ignores
 * response_format (vLLM ignores the unknown field). */
static isynth_err add_schema(json_t *root, const isynth_gen_req *req, json_t *schema, bool chat_api)
{
    json_t *rf = json_object();
    if (set_new(root, "response_format", rf)) return ISYNTH_ERR_NOMEM;
    json_t *js = json_object();
    if (set_new(rf, "json_schema", js) || set_new(rf, "type", json_string("json_schema")) ||
        set_new(js, "name", json_string(req->schema_name ? req->schema_name : "response")) ||
        json_object_set(js, "schema", schema) || set_new(js, "strict", json_true()))
        return ISYNTH_ERR_NOMEM;
    if (!chat_api && json_object_set(root, "json_schema", schema)) return ISYNTH_ERR_NOMEM;
    return ISYNTH_OK;
}

/* Builds the JSON body for req into *out (isynth_malloc'd), with the constraint when schema is
 * not NULL. */
static isynth_err build_body(openai *o, const isynth_gen_req *req, bool chat_api, json_t *schema,
                             char **out, size_t *out_len, isynth_error *err)
{
    isynth_err rc = ISYNTH_OK;
    buf prompt;
    buf_init(&prompt, BUF_MAX_PROMPT);
    json_t *root = json_object();
    if (!root) goto nomem;
    if (set_new(root, "model", json_string(o->model))) goto nomem;
    if (chat_api) {
        json_t *msgs = json_array();
        if (set_new(root, "messages", msgs)) goto nomem;
        for (size_t i = 0; i < req->n_msgs; i++) {
            json_t *m = json_object();
            if (!m || json_array_append_new(msgs, m) ||
                set_new(m, "role", json_string(req->msgs[i].role)) ||
                set_new(m, "content", json_string(req->msgs[i].content)))
                goto nomem;
        }
    } else if (req->chat) {
        /* completions endpoint: the messages' contents, one paragraph each */
        for (size_t i = 0; i < req->n_msgs; i++)
            if ((i && (rc = buf_adds(&prompt, "\n\n"))) ||
                (rc = buf_adds(&prompt, req->msgs[i].content)))
                goto nomem;
        if (set_new(root, "prompt", json_stringn(prompt.p ? prompt.p : "", prompt.len))) goto nomem;
    } else if (set_new(root, "prompt", json_string(req->prompt))) {
        goto nomem;
    }
    if (req->max_tokens > 0 && set_new(root, "max_tokens", json_integer(req->max_tokens)))
        goto nomem;
    if (set_new(root, "temperature", json_real(req->temperature)) ||
        set_new(root, "top_p", json_real(req->top_p)) ||
        set_new(root, "seed", json_integer((json_int_t)(req->seed & 0x7fffffffu))) ||
        set_new(root, "stream", json_boolean(req->watch != NULL)))
        goto nomem;
    if (req->watch) {
        json_t *so = json_object();
        if (set_new(root, "stream_options", so) || set_new(so, "include_usage", json_true()))
            goto nomem;
    }
    if (schema && add_schema(root, req, schema, chat_api)) goto nomem;
    size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    char *body = n ? isynth_malloc(n + 1) : NULL;
    if (!body) goto nomem;
    json_dumpb(root, body, n, JSON_COMPACT);
    body[n] = '\0';
    *out = body;
    *out_len = n;
    goto done;
nomem:
    if (rc == ISYNTH_ERR_TOO_LARGE)
        rc = isynth_error_set(err, rc, "request %llu: the prompt is over the limit of %zu bytes",
                              (unsigned long long)req->id, prompt.max);
    else
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "request %llu: out of memory",
                              (unsigned long long)req->id);
done:
    json_decref(root);
    buf_free(&prompt);
    return rc;
}

/* Parses req->json_schema (NULL or "": no constraint) into *out, which must be an object. */
static isynth_err load_schema(const isynth_gen_req *req, json_t **out, isynth_error *err)
{
    *out = NULL;
    if (!req->json_schema || !*req->json_schema) return ISYNTH_OK;
    isynth_err rc;
    if ((rc = check_text(req->json_schema, "json_schema", 0, req->id, err)) ||
        (req->schema_name && (rc = check_text(req->schema_name, "schema_name", 0, req->id, err))))
        return rc;
    json_error_t je;
    json_t *s = json_loads(req->json_schema, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(s)) {
        json_decref(s);
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "request %llu: json_schema is not a JSON object%s%s",
                                (unsigned long long)req->id, s ? "" : ": ", s ? "" : je.text);
    }
    *out = s;
    return ISYNTH_OK;
}

static isynth_err op_submit(void *impl, const isynth_gen_req *req, isynth_error *err)
{
    openai *o = impl;
    if (!req) return isynth_error_set(err, ISYNTH_ERR_INVALID, "submit: no request");
    if (op_capacity(o) == 0)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "request %llu: %d requests already in flight (capacity is 0)",
                                (unsigned long long)req->id, o->p.concurrency);
    if (!isfinite(req->temperature) || !isfinite(req->top_p))
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "request %llu: temperature and top_p must be finite",
                                (unsigned long long)req->id);
    isynth_err rc;
    if (req->chat) {
        if (!req->msgs || !req->n_msgs)
            return isynth_error_set(err, ISYNTH_ERR_INVALID, "request %llu: no messages",
                                    (unsigned long long)req->id);
        for (size_t i = 0; i < req->n_msgs; i++) {
            if ((rc = check_text(req->msgs[i].role, "message role", i, req->id, err)) ||
                (rc = check_text(req->msgs[i].content, "message content", i, req->id, err)))
                return rc;
        }
    } else if ((rc = check_text(req->prompt, "prompt", 0, req->id, err))) {
        return rc;
    }
    json_t *schema = NULL;
    if ((rc = load_schema(req, &schema, err))) return rc;
    bool chat_api = req->chat && o->p.endpoint == ISYNTH_OPENAI_CHAT;
    job *j = isynth_calloc(1, sizeof *j);
    if (!j) {
        json_decref(schema);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "request %llu: out of memory",
                                (unsigned long long)req->id);
    }
    rc = build_body(o, req, chat_api, schema, &j->body, &j->body_len, err);
    if (!rc && schema) rc = build_body(o, req, chat_api, NULL, &j->plain, &j->plain_len, err);
    json_decref(schema);
    if (rc) {
        job_free(j);
        return rc;
    }
    double now = isynth_now();
    busy_mark(o, now);
    j->id = req->id;
    j->owner = o;
    j->chat_api = chat_api;
    j->submitted = j->not_before = now;
    j->srv = -1;
    buf_init(&j->resp, o->p.max_response_bytes);
    buf_init(&j->line, o->p.max_response_bytes);
    buf_init(&j->stext, o->p.max_response_bytes);
    j->watch = req->watch;
    j->watch_user = req->watch_user;
    j->stream = req->watch != NULL;
    o->in_flight++;
    list_push(&o->waiting, j);
    return ISYNTH_OK;
}

static void free_list(openai *o, list *l);

/* A callback or a watcher failed with rc: every request is dropped, those on the wire
 * included (their servers' counts given back), and rc is returned for step() to give back. */
static isynth_err drop_all(openai *o, isynth_err rc)
{
    busy_mark(o, isynth_now());
    for (job *j = o->active.head; j; j = j->next)
        if (j->srv >= 0) o->srv[j->srv].outstanding--;
    free_list(o, &o->active);
    free_list(o, &o->waiting);
    free_list(o, &o->done);
    o->in_flight = 0;
    o->watch_rc = ISYNTH_OK;
    return rc;
}

/* Gives each finished request to cb; cb's error stops it (and drops every request). */
static isynth_err deliver(openai *o, isynth_gen_cb cb, void *user, isynth_error *err)
{
    job *j;
    while ((j = o->done.head)) {
        list_remove(&o->done, j);
        busy_mark(o, isynth_now());
        o->in_flight--;
        o->st.requests++;
        if (j->status == ISYNTH_OK) {
            o->st.prompt_tokens += j->prompt_tokens;
            o->st.completion_tokens += j->completion_tokens;
        } else {
            o->st.failures++;
        }
        isynth_gen_result r = {
            .id = j->id,
            .status = j->status,
            .text = j->status == ISYNTH_OK ? j->text : NULL,
            .len = j->status == ISYNTH_OK ? j->text_len : 0,
            .error = j->status == ISYNTH_OK ? NULL
                     : j->error             ? j->error
                                            : isynth_strerror(j->status),
            .truncated = j->truncated,
            .prompt_tokens = j->prompt_tokens,
            .completion_tokens = j->completion_tokens,
            .retries = j->retries,
            .seconds = j->finished - j->submitted,
            .constrained = j->status == ISYNTH_OK && j->sent_schema,
            .server = j->srv >= 0 ? o->srv[j->srv].base : NULL,
        };
        isynth_err rc = cb ? cb(user, &r, err) : ISYNTH_OK;
        job_free(j);
        if (rc) return drop_all(o, rc);
    }
    return ISYNTH_OK;
}

/* A watcher failed (while libcurl ran, or when a retried reply was announced): every request
 * is dropped and its error returned. */
static isynth_err watch_failed(openai *o, isynth_error *err)
{
    if (!o->watch_rc) return ISYNTH_OK;
    if (err) *err = o->watch_err;
    return drop_all(o, o->watch_rc);
}

/* Runs libcurl's transfers and collects the finished ones; a watcher's error (see
 * openai.watch_rc) drops every request and is returned. */
static isynth_err drive(openai *o, isynth_error *err)
{
    int running;
    CURLMcode mc = curl_multi_perform(o->multi, &running);
    if (mc != CURLM_OK && !o->watch_rc)
        return isynth_error_set(err, mc == CURLM_OUT_OF_MEMORY ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_HTTP,
                                "libcurl: %s", curl_multi_strerror(mc));
    if (!o->watch_rc) collect(o);
    return watch_failed(o, err);
}

static isynth_err op_step(void *impl, isynth_gen_cb cb, void *user, isynth_error *err)
{
    openai *o = impl;
    double now = isynth_now();
    busy_mark(o, now);
    start_due(o, now);
    isynth_err rc = drive(o, err);
    if (rc) return rc;
    check_stalls(o, isynth_now());
    if (!o->done.n && o->in_flight) {
        int timeout = POLL_MS;
        double next = next_wake(o);
        if (isfinite(next)) {
            double ms = ceil((next - isynth_now()) * 1000.0);
            if (ms < timeout) timeout = ms < 0 ? 0 : (int)ms;
        }
        if (o->active.n || timeout > 0) {
            CURLMcode mc = curl_multi_poll(o->multi, NULL, 0, timeout, NULL);
            if (mc != CURLM_OK)
                return isynth_error_set(err, ISYNTH_ERR_HTTP, "libcurl: %s",
                                        curl_multi_strerror(mc));
        }
        if ((rc = drive(o, err))) return rc;
        now = isynth_now();
        check_stalls(o, now);
        if (start_due(o, now) && (rc = drive(o, err))) return rc;
    }
    if ((rc = watch_failed(o, err))) return rc; /* a stalled attempt's retry announced */
    return deliver(o, cb, user, err);
}

static void op_info(void *impl, isynth_backend_info *out)
{
    openai *o = impl;
    out->kind = "openai";
    out->model = o->model;
    out->model_name = o->model;
    out->license = "";
    out->has_chat_template = o->p.endpoint == ISYNTH_OPENAI_CHAT;
    out->chat_template = o->chat_template;
    out->parallel = o->p.concurrency;
}

static void op_stats(void *impl, isynth_backend_stats *out)
{
    openai *o = impl;
    busy_mark(o, isynth_now());
    *out = o->st;
}

static void free_list(openai *o, list *l)
{
    job *j;
    while ((j = l->head)) {
        list_remove(l, j);
        if (j->easy) {
            if (o->multi) curl_multi_remove_handle(o->multi, j->easy);
            curl_easy_cleanup(j->easy);
        }
        job_free(j);
    }
}

static void op_free(void *impl)
{
    openai *o = impl;
    if (!o) return;
    free_list(o, &o->active);
    free_list(o, &o->waiting);
    free_list(o, &o->done);
    for (size_t i = 0; i < o->n_pool; i++)
        curl_easy_cleanup(o->pool[i]);
    isynth_free(o->pool);
    if (o->multi) curl_multi_cleanup(o->multi);
    for (struct curl_slist *h = o->headers; h; h = h->next)
        if (h->data) memset(h->data, 0, strlen(h->data)); /* the Authorization line */
    curl_slist_free_all(o->headers);
    for (size_t i = 0; i < o->n_srv; i++) {
        isynth_free(o->srv[i].base);
        isynth_free(o->srv[i].url_chat);
        isynth_free(o->srv[i].url_comp);
    }
    isynth_free(o->srv);
    if (o->key) {
        memset(o->key, 0, o->key_len);
        isynth_free(o->key);
    }
    isynth_free(o->model);
    isynth_free(o->chat_template);
    if (o->curl_inited) curl_global_cleanup();
    isynth_free(o);
}

static const isynth_backend_ops openai_ops = {
    .capacity = op_capacity,
    .in_flight = op_in_flight,
    .submit = op_submit,
    .step = op_step,
    .info = op_info,
    .stats = op_stats,
    .free = op_free,
};

isynth_openai_params isynth_openai_params_default(void)
{
    return (isynth_openai_params){
        .endpoint = ISYNTH_OPENAI_CHAT,
        .concurrency = 8,
        .connect_timeout = 10,
        .total_timeout = 600,
        .stall_timeout = 30,
        .max_retries = 5,
        .backoff_base = 0.5,
        .backoff_cap = 30,
        .retry_after_max = 120,
        .fail_threshold = 3,
        .cooldown = 30,
        .max_response_bytes = 8u << 20,
    };
}

static isynth_err check_params(const isynth_openai_params *p, isynth_error *err)
{
    if (!p->base_urls || p->n_base_urls == 0)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: no base URL given");
    if (p->n_base_urls > MAX_URLS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: %zu base URLs (at most %d)",
                                p->n_base_urls, MAX_URLS);
    for (size_t i = 0; i < p->n_base_urls; i++)
        if (!p->base_urls[i])
            return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: base URL %zu is NULL", i + 1);
    if (!p->model || !*p->model || !utf8_valid(p->model, strlen(p->model), NULL))
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "openai: a model name (valid UTF-8) is required");
    if (p->api_key)
        for (const char *k = p->api_key; *k; k++)
            if ((unsigned char)*k < 0x20 || *k == 0x7f)
                return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                        "openai: the API key contains a control character "
                                        "(a trailing newline from the key file?)");
    if (p->endpoint != ISYNTH_OPENAI_CHAT && p->endpoint != ISYNTH_OPENAI_COMPLETIONS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: unknown endpoint %d",
                                (int)p->endpoint);
    if (p->concurrency < 1 || p->concurrency > MAX_CONCURRENCY)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: concurrency %d is outside 1..%d",
                                p->concurrency, MAX_CONCURRENCY);
    if (!(p->connect_timeout > 0) || !(p->total_timeout > 0) || !(p->stall_timeout > 0) ||
        p->connect_timeout > 1e6 || p->total_timeout > 1e6)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "openai: connect, total and stall time-outs must be > 0");
    if (p->max_retries < 0 || p->max_retries > 1000 || !(p->backoff_base >= 0) ||
        !(p->backoff_cap >= 0) || !(p->retry_after_max >= 0) || !(p->cooldown >= 0) ||
        p->fail_threshold < 1)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "openai: retries, back-off, cool-down out of range");
    if (p->max_response_bytes < 1024)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "openai: max_response_bytes must be at least 1024");
    return ISYNTH_OK;
}

isynth_err isynth_openai_backend_new(const isynth_openai_params *p, isynth_backend **out,
                                     isynth_error *err)
{
    *out = NULL;
    isynth_err rc;
    if (!p) return isynth_error_set(err, ISYNTH_ERR_INVALID, "openai: no parameters");
    if ((rc = check_params(p, err))) return rc;
    openai *o = isynth_calloc(1, sizeof *o);
    if (!o) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    o->p = *p;
    o->p.base_urls = NULL;
    o->p.model = o->p.api_key = o->p.chat_template = NULL;
    o->model = isynth_strdup(p->model);
    if (p->chat_template && *p->chat_template &&
        !(o->chat_template = isynth_strdup(p->chat_template)))
        goto nomem;
    o->srv = isynth_calloc(p->n_base_urls, sizeof *o->srv);
    o->pool = isynth_calloc((size_t)p->concurrency, sizeof *o->pool);
    if (!o->model || !o->srv || !o->pool) goto nomem;
    o->n_srv = p->n_base_urls;
    for (size_t i = 0; i < o->n_srv; i++)
        if ((rc = normalise_url(p->base_urls[i], &o->srv[i], err, i))) goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = isynth_error_set(err, ISYNTH_ERR_HTTP, "openai: libcurl initialisation failed");
        goto fail;
    }
    o->curl_inited = true;
    o->multi = curl_multi_init();
    if (!o->multi) goto nomem;
    /* Our own concurrency bounds the transfers, so libcurl never queues one (a queued transfer
     * would spend its total time-out waiting); keep enough idle connections for keep-alive. */
    curl_multi_setopt(o->multi, CURLMOPT_MAXCONNECTS, (long)p->concurrency + 4);
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *h = curl_slist_append(o->headers, fixed[i]);
        if (!h) goto nomem;
        o->headers = h;
    }
    if (p->api_key && *p->api_key) {
        o->key_len = strlen(p->api_key);
        o->key = isynth_strndup(p->api_key, o->key_len);
        buf auth;
        buf_init(&auth, o->key_len + 32); /* "Authorization: Bearer " and the key */
        if (!o->key || buf_printf(&auth, "Authorization: Bearer %s", p->api_key)) {
            buf_free(&auth);
            goto nomem;
        }
        struct curl_slist *h = curl_slist_append(o->headers, auth.p);
        memset(auth.p, 0, auth.len);
        buf_free(&auth);
        if (!h) goto nomem;
        o->headers = h;
    }
    o->rng = p->jitter_seed ? p->jitter_seed
                            : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
                                  (uint64_t)(isynth_now() * 1e9);
    if (!o->rng) o->rng = 0x9E3779B97F4A7C15ULL;
    o->busy_mark = isynth_now();
    if (isynth_backend_wrap(&openai_ops, o, out)) goto nomem;
    return ISYNTH_OK;
nomem:
    rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "openai: out of memory");
fail:
    op_free(o);
    return rc;
}
