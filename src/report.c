/* The run report: DIR/report.html, one self-contained page. The figures are added up here from
 * the store's walks (no SQL in this file), put into the page as JSON, and drawn in the browser
 * by Chart.js, which the page embeds with its licence (cmake/embed.cmake copies Debian's
 * libjs-chart.js into the library). Everything is aggregated in C, so the page's size and the
 * browser's work do not grow with the run: a 50,000-candidate run makes a page of the same
 * size as a 50-candidate one. */
#include "isynth/report.h"
#include "isynth/pipeline.h"
#include "isynth/prompt.h"
#include "isynth/status.h"
#include "internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char isynth_chartjs[];
extern const size_t isynth_chartjs_len;
extern const unsigned char isynth_chartjs_license[];
extern const size_t isynth_chartjs_license_len;

const char *isynth_report_chartjs_version(void)
{
    return "Chart.js 3.9.1 (Debian libjs-chart.js)";
}

#define NN_BINS 50
#define MAX_BUCKETS 120  /* points of the per-request and per-time series */
#define MAX_FACT_ROWS 50 /* rows with facts to verify listed in the page */
#define NGRAM_MAX 4

/* Length bins in characters: [edge[i], edge[i+1]) with the last open-ended. */
static const long len_edges[] = {0, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000};
#define N_LEN ((int)(sizeof len_edges / sizeof len_edges[0]))

/* A set of 64-bit hashes (distinct n-grams), open addressing. */
typedef struct hset {
    uint64_t *slot;
    size_t cap, n;
} hset;

static bool hset_add(hset *h, uint64_t v)
{
    if (v == 0) v = 1;
    if ((h->n + 1) * 2 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        uint64_t *s = isynth_calloc(cap, sizeof *s);
        if (!s) return false;
        for (size_t i = 0; i < h->cap; i++)
            if (h->slot[i]) {
                size_t j = (size_t)(h->slot[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
                while (s[j])
                    j = (j + 1) & (cap - 1);
                s[j] = h->slot[i];
            }
        isynth_free(h->slot);
        h->slot = s;
        h->cap = cap;
    }
    size_t j = (size_t)(v * 0x9E3779B97F4A7C15ull) & (h->cap - 1);
    while (h->slot[j]) {
        if (h->slot[j] == v) return true;
        j = (j + 1) & (h->cap - 1);
    }
    h->slot[j] = v;
    h->n++;
    return true;
}

/* Distinct character n-grams (n = 1..NGRAM_MAX) of a set of texts. */
typedef struct ngrams {
    hset set[NGRAM_MAX];
    long long total[NGRAM_MAX];
    long texts;
} ngrams;

static bool ngrams_add(ngrams *g, const char *s)
{
    uint32_t win[NGRAM_MAX] = {0};
    size_t have = 0, len = strlen(s);
    g->texts++;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (!k) break;
        i += k;
        if (cp == ' ' || cp == '\n' || cp == '\t' || cp == 0x3000) continue;
        memmove(win, win + 1, sizeof win - sizeof win[0]);
        win[NGRAM_MAX - 1] = cp;
        have++;
        for (int n = 1; n <= NGRAM_MAX && (size_t)n <= have; n++) {
            uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
            for (int j = NGRAM_MAX - n; j < NGRAM_MAX; j++)
                h = (h ^ win[j]) * 1099511628211ull;
            if (!hset_add(&g->set[n - 1], h)) return false;
            g->total[n - 1]++;
        }
    }
    return true;
}

static void ngrams_free(ngrams *g)
{
    for (int n = 0; n < NGRAM_MAX; n++)
        isynth_free(g->set[n].slot);
}

static long chars(const char *s)
{
    long n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int len_bin(long n)
{
    int b = 0;
    while (b + 1 < N_LEN && n >= len_edges[b + 1])
        b++;
    return b;
}

/* A series bucketed into at most MAX_BUCKETS points. */
typedef struct series {
    double x[MAX_BUCKETS];
    double a[MAX_BUCKETS], b[MAX_BUCKETS], c[MAX_BUCKETS], d[MAX_BUCKETS];
    int n;
} series;

typedef struct acc {
    /* requests */
    long n_req;
    long per_bucket;  /* stage-1 requests per acceptance point */
    long stage1_done; /* stage-1 requests (not failed) walked so far */
    series accept;    /* x: last request number; a: candidates, b: kept */
    long long first_at, span;
    long bucket_s; /* seconds per time point */
    series time;   /* x: seconds since the first request; a: requests, b: generated
                      tokens, c: failed, d: retries */
    long n_seeds;
    long *seed_shown, *seed_kept;
    /* subjects */
    const char *topic_pre, *topic_post;
    size_t topic_pre_len;
    json_t *subjects;      /* subject -> {requests, kept} */
    json_t *servers;       /* server -> {requests, failed, retries} */
    const char *no_server; /* the label of requests without one */
    /* candidates */
    long nn_acc[NN_BINS], nn_rej[NN_BINS];
    long len_ins_gen[N_LEN], len_out_gen[N_LEN], len_ins_seed[N_LEN], len_out_seed[N_LEN];
    long n_gen;
    ngrams g_gen, g_seed;
    long judge[6];
    long facts;
    json_t *fact_rows;
    json_t *samples; /* the first accepted rows */
} acc;

/* A row's text as a JSON string; text that is not valid UTF-8 (a store written by hand) is
 * shown as a marker rather than failing the report. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("(text that is not valid UTF-8)");
}

static isynth_err nomem(isynth_error *err)
{
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
}

/* Adds n to counter key of the object named name in obj (both made at 0 when absent); -1 when
 * out of memory. */
static int count(json_t *obj, const char *name, const char *key, long n)
{
    json_t *o = json_object_get(obj, name);
    if (!o && (!(o = json_object()) || json_object_set_new(obj, name, o))) return -1;
    json_t *c = json_object_get(o, key);
    if (c) return json_integer_set(c, json_integer_value(c) + n);
    return json_object_set_new(o, key, json_integer(n));
}

/* The subject a request's prompt names, between the topic rule's two halves, or NULL. */
static const char *find_subject(const acc *a, const char *prompt, size_t *len)
{
    if (!a->topic_pre || !prompt) return NULL;
    const char *s = strstr(prompt, a->topic_pre);
    if (!s) return NULL;
    s += a->topic_pre_len;
    const char *e = a->topic_post[0] ? strstr(s, a->topic_post) : strchr(s, '\n');
    if (!e || e == s || e - s > 200) return NULL;
    *len = (size_t)(e - s);
    return s;
}

static isynth_err add_request(void *user, const isynth_request_sum *q, isynth_error *err)
{
    acc *a = user;
    /* over time */
    long long dt = q->at - a->first_at; /* < 0 when the clock was set back during the run */
    int tb = dt < 0 ? 0 : (int)(dt / a->bucket_s);
    if (tb >= MAX_BUCKETS) tb = MAX_BUCKETS - 1;
    a->time.a[tb] += 1;
    a->time.b[tb] += (double)q->completion_tokens;
    a->time.c[tb] += q->failed;
    a->time.d[tb] += q->retries;
    const char *sv = q->server ? q->server : a->no_server;
    if (count(a->servers, sv, "requests", 1) || count(a->servers, sv, "failed", q->failed) ||
        count(a->servers, sv, "retries", q->retries))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (q->stage != 1 || q->failed) return ISYNTH_OK;
    /* acceptance over the run's requests */
    long idx = a->stage1_done++;
    int ab = (int)(idx / a->per_bucket);
    if (ab >= MAX_BUCKETS) ab = MAX_BUCKETS - 1;
    if (ab + 1 > a->accept.n) a->accept.n = ab + 1;
    a->accept.x[ab] = (double)idx + 1;
    a->accept.a[ab] += (double)q->candidates;
    a->accept.b[ab] += (double)q->kept;
    /* seeds shown */
    for (size_t i = 0; i < q->n_seed_examples; i++) {
        long long k = q->seed_examples[i];
        if (k >= 1 && k <= a->n_seeds) {
            a->seed_shown[k - 1]++;
            a->seed_kept[k - 1] += q->kept;
        }
    }
    /* subjects */
    size_t sl;
    const char *subj = find_subject(a, q->prompt, &sl);
    if (subj && utf8_valid(subj, sl, NULL)) { /* a hand-written template could hold other bytes */
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)sl, subj);
        if (count(a->subjects, name, "requests", 1) || count(a->subjects, name, "kept", q->kept))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    return ISYNTH_OK;
}

static isynth_err add_candidate(void *user, const isynth_candidate_sum *c, isynth_error *err)
{
    acc *a = user;
    bool kept = c->status == ISYNTH_CAND_ACCEPTED || c->status == ISYNTH_CAND_PENDING;
    if (c->nn_score >= 0) {
        int b = (int)(c->nn_score * NN_BINS);
        if (b >= NN_BINS) b = NN_BINS - 1;
        (kept ? a->nn_acc : a->nn_rej)[b]++;
    }
    if (c->judge_score >= 1 && c->judge_score <= 5) a->judge[c->judge_score]++;
    if (c->status != ISYNTH_CAND_ACCEPTED) return ISYNTH_OK;
    a->n_gen++;
    a->len_ins_gen[len_bin(chars(c->instruction))]++;
    a->len_out_gen[len_bin(chars(c->output))]++;
    if (!ngrams_add(&a->g_gen, c->instruction ? c->instruction : ""))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (c->has_facts) {
        a->facts++;
        if (json_array_size(a->fact_rows) < MAX_FACT_ROWS &&
            json_array_append_new(a->fact_rows, json_pack("{s:I, s:o}", "id", (json_int_t)c->id,
                                                          "instruction", jstr(c->instruction))))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    if (json_array_size(a->samples) < 20 &&
        json_array_append_new(a->samples, json_pack("{s:I, s:o, s:o, s:o, s:f}", "id",
                                                    (json_int_t)c->id, "instruction",
                                                    jstr(c->instruction), "input", jstr(c->input),
                                                    "output", jstr(c->output), "nn", c->nn_score)))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    return ISYNTH_OK;
}

static isynth_err add_seed(void *user, const isynth_task *t, isynth_error *err)
{
    (void)err;
    acc *a = user;
    a->len_ins_seed[len_bin(chars(t->instruction))]++;
    a->len_out_seed[len_bin(chars(t->output))]++;
    return ngrams_add(&a->g_seed, t->instruction ? t->instruction : "") ? ISYNTH_OK
                                                                        : ISYNTH_ERR_NOMEM;
}

static isynth_err count_seed(void *user, const isynth_task *t, isynth_error *err)
{
    (void)err;
    (void)t;
    ((acc *)user)->n_seeds++;
    return ISYNTH_OK;
}

static isynth_err add_reason(void *user, const char *reason, long n, isynth_error *err)
{
    (void)err;
    return json_array_append_new(user, json_pack("[s, I]", reason, (json_int_t)n))
               ? ISYNTH_ERR_NOMEM
               : ISYNTH_OK;
}

static json_t *longs(const long *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *doubles(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* A meta value as a JSON string ("" when absent). */
static json_t *meta_str(isynth_store *st, const char *key)
{
    char *v = NULL;
    if (isynth_store_meta_get(st, key, &v, NULL)) return NULL;
    json_t *j = jstr(v);
    isynth_free(v);
    return j;
}

static json_t *distinct(const ngrams *g)
{
    double v[NGRAM_MAX];
    for (int n = 0; n < NGRAM_MAX; n++)
        v[n] = g->total[n] ? (double)g->set[n].n / (double)g->total[n] : 0;
    return doubles(v, NGRAM_MAX);
}

/* Builds the page's data. */
/* Evol-Instruct: rewrites and accepted rows per operation and per round. */
static isynth_err add_lineage_sum(void *user, const char *operation, int round,
                                  isynth_cand_status status, long n, isynth_error *err)
{
    json_t *ev = user;
    char rk[16];
    snprintf(rk, sizeof rk, "%d", round);
    json_t *groups[2] = {json_object_get(ev, "operations"), json_object_get(ev, "rounds")};
    const char *keys[2] = {operation, rk};
    for (int g = 0; g < 2; g++) {
        json_t *o = json_object_get(groups[g], keys[g]);
        if (!o) {
            if (!(o = json_pack("{s:I, s:I}", "rewrites", (json_int_t)0, "accepted",
                                (json_int_t)0)) ||
                json_object_set_new(groups[g], keys[g], o))
                return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
        json_int_t rw = json_integer_value(json_object_get(o, "rewrites")) + n;
        json_int_t ac = json_integer_value(json_object_get(o, "accepted")) +
                        (status == ISYNTH_CAND_ACCEPTED ? n : 0);
        if (json_object_set_new(o, "rewrites", json_integer(rw)) ||
            json_object_set_new(o, "accepted", json_integer(ac)))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    return ISYNTH_OK;
}

static isynth_err build_data(isynth_store *st, json_t **out, isynth_error *err)
{
    *out = NULL;
    acc *a = isynth_calloc(1, sizeof *a);
    if (!a) return nomem(err);
    isynth_err rc = ISYNTH_OK;
    json_t *d = NULL, *reasons = json_array();
    a->subjects = json_object();
    a->servers = json_object();
    a->fact_rows = json_array();
    a->samples = json_array();
    char *lang = NULL, *backend = NULL;
    if (!reasons || !a->subjects || !a->servers || !a->fact_rows || !a->samples) {
        rc = nomem(err);
        goto out;
    }
    isynth_run_status s;
    if ((rc = isynth_status_get(st, 20, -1, -1, &s, err)) ||
        (rc = isynth_store_each_reason(st, add_reason, reasons, err)) ||
        (rc = isynth_store_each_seed(st, count_seed, a, err)) ||
        (rc = isynth_store_meta_get(st, "lang", &lang, err)) ||
        (rc = isynth_store_meta_get(st, "backend", &backend, err)))
        goto out;
    a->no_server = backend && !strcmp(backend, "openai") ? "(not sent)" : "embedded llama.cpp";
    if (a->n_seeds && (!(a->seed_shown = isynth_calloc((size_t)a->n_seeds, sizeof(long))) ||
                       !(a->seed_kept = isynth_calloc((size_t)a->n_seeds, sizeof(long))))) {
        rc = nomem(err);
        goto out;
    }
    /* the buckets are sized from the totals: stage-1 requests per acceptance point, seconds per
     * time point */
    a->n_req = s.totals.requests;
    a->first_at = s.totals.first_at;
    a->span = s.totals.last_at - s.totals.first_at;
    a->per_bucket = s.totals.stage1 / MAX_BUCKETS + 1;
    a->bucket_s = 60;
    while (a->span / a->bucket_s >= MAX_BUCKETS)
        a->bucket_s *= 2;
    /* the subject rule of the run's language, split around {{topic}} */
    isynth_prompt_params pp = isynth_prompt_params_default();
    pp.lang = lang && !strcmp(lang, "en") ? ISYNTH_LANG_EN : ISYNTH_LANG_JA;
    const char *rule = NULL;
    isynth_prompt_instructions(&pp, &rule);
    char pre[256] = "", post[256] = "";
    const char *mark = rule ? strstr(rule, "{{topic}}") : NULL;
    if (mark) {
        const char *from = rule;
        while (*from == '\n' || *from == '-' || *from == ' ')
            from++;
        snprintf(pre, sizeof pre, "%.*s", (int)(mark - from), from);
        snprintf(post, sizeof post, "%s", mark + 9);
        char *nl = strchr(post, '\n');
        if (nl) *nl = '\0';
        a->topic_pre = pre;
        a->topic_pre_len = strlen(pre);
        a->topic_post = post;
    }
    if ((rc = isynth_store_each_request(st, 0, add_request, a, err)) ||
        (rc = isynth_store_each_candidate_sum(st, add_candidate, a, err)) ||
        (rc = isynth_store_each_seed(st, add_seed, a, err))) {
        if (rc == ISYNTH_ERR_NOMEM) nomem(err);
        goto out;
    }
    for (int i = 0; i < a->accept.n; i++) {
        a->accept.c[i] = a->accept.a[i] > 0 ? a->accept.b[i] / a->accept.a[i] : 0;
    }
    int nt = (int)(a->span / a->bucket_s) + 1;
    if (nt > MAX_BUCKETS) nt = MAX_BUCKETS;
    if (a->n_req == 0) nt = 0;
    for (int i = 0; i < nt; i++) {
        a->time.x[i] = (double)(i * a->bucket_s) / 60.0;
        a->time.b[i] /= (double)a->bucket_s; /* tokens per second */
    }
    double threshold = 0.7;
    {
        char *t = NULL;
        if (!isynth_store_meta_get(st, "rouge_threshold", &t, NULL) && t && *t)
            threshold = strtod(t, NULL);
        isynth_free(t);
    }
    long edges[N_LEN];
    memcpy(edges, len_edges, sizeof edges);
    const isynth_run_totals *t = &s.totals;
    d = json_pack("{s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
                  "s:I, s:I, s:I, "
                  "s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I}, s:o}",
                  "run", "model", meta_str(st, "model_name"), "model_file", meta_str(st, "model"),
                  "backend", meta_str(st, "backend"), "created_at", meta_str(st, "created_at"),
                  "lang", meta_str(st, "lang"), "seeds_file", meta_str(st, "seeds_file"), "version",
                  meta_str(st, "isynth_version"), "method", meta_str(st, "method"), "totals",
                  "target", (json_int_t)s.target, "accepted", (json_int_t)t->accepted, "rejected",
                  (json_int_t)t->rejected, "pending", (json_int_t)t->pending, "stopped",
                  (json_int_t)t->stopped, "requests", (json_int_t)t->requests, "failed",
                  (json_int_t)t->failed, "retries", (json_int_t)t->retries, "prompt_tokens",
                  (json_int_t)t->prompt_tokens, "generated_tokens",
                  (json_int_t)t->completion_tokens, "cost", s.cost, "price_in", s.price_in,
                  "price_out", s.price_out, "tokens_per_s", s.tokens_per_s, "recent_yield",
                  s.recent_yield, "first_at", (json_int_t)t->first_at, "last_at",
                  (json_int_t)t->last_at, "reasons", json_incref(reasons));
    if (!d) {
        rc = nomem(err);
        goto out;
    }
    json_t *seeds_shown = longs(a->seed_shown, (int)a->n_seeds);
    json_t *seeds_kept = longs(a->seed_kept, (int)a->n_seeds);
    if (json_object_set_new(
            d, "acceptance",
            json_pack("{s:I, s:o, s:o, s:o, s:o}", "per_point", (json_int_t)a->per_bucket,
                      "request", doubles(a->accept.x, a->accept.n), "candidates",
                      doubles(a->accept.a, a->accept.n), "kept", doubles(a->accept.b, a->accept.n),
                      "rate", doubles(a->accept.c, a->accept.n))) ||
        json_object_set_new(d, "nn",
                            json_pack("{s:f, s:i, s:o, s:o}", "threshold", threshold, "bins",
                                      NN_BINS, "accepted", longs(a->nn_acc, NN_BINS), "rejected",
                                      longs(a->nn_rej, NN_BINS))) ||
        json_object_set_new(
            d, "lengths",
            json_pack("{s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "edges", longs(edges, N_LEN),
                      "n_seeds", (json_int_t)a->n_seeds, "n_generated", (json_int_t)a->n_gen,
                      "instruction_seeds", longs(a->len_ins_seed, N_LEN), "instruction_generated",
                      longs(a->len_ins_gen, N_LEN), "output_seeds", longs(a->len_out_seed, N_LEN),
                      "output_generated", longs(a->len_out_gen, N_LEN))) ||
        json_object_set_new(d, "diversity",
                            json_pack("{s:o, s:o, s:O, s:o, s:o}", "seeds", distinct(&a->g_seed),
                                      "generated", distinct(&a->g_gen), "subjects", a->subjects,
                                      "seed_shown", seeds_shown, "seed_kept", seeds_kept)) ||
        json_object_set_new(d, "judge",
                            json_pack("{s:o, s:I, s:O}", "scores", longs(a->judge + 1, 5),
                                      "rows_with_facts", (json_int_t)a->facts, "fact_rows",
                                      a->fact_rows)) ||
        json_object_set_new(d, "time",
                            json_pack("{s:I, s:O, s:o, s:o, s:o, s:o, s:o}", "bucket_s",
                                      (json_int_t)a->bucket_s, "servers", a->servers, "minute",
                                      doubles(a->time.x, nt), "requests", doubles(a->time.a, nt),
                                      "tokens_per_s", doubles(a->time.b, nt), "failed",
                                      doubles(a->time.c, nt), "retries", doubles(a->time.d, nt))) ||
        json_object_set(d, "samples", a->samples)) {
        rc = nomem(err);
        goto out;
    }
    /* an Evol-Instruct run: its operations and rounds (runs of other methods, and run.db files
       of releases without the lineage table, have none) */
    char *method = NULL;
    if ((rc = isynth_store_meta_get(st, "method", &method, err))) goto out;
    if (method && !strcmp(method, "evol")) {
        json_t *ev = json_pack("{s:{}, s:{}}", "operations", "rounds");
        if (!ev || json_object_set_new(d, "evolution", ev)) rc = nomem(err);
        if (!rc &&
            (rc = isynth_store_each_lineage_sum(st, add_lineage_sum, ev, err)) == ISYNTH_ERR_NOMEM)
            rc = nomem(err);
    }
    isynth_free(method);
    if (rc) goto out;
    *out = d;
    d = NULL;
out:
    json_decref(d);
    json_decref(reasons);
    json_decref(a->subjects);
    json_decref(a->servers);
    json_decref(a->fact_rows);
    json_decref(a->samples);
    ngrams_free(&a->g_gen);
    ngrams_free(&a->g_seed);
    isynth_free(a->seed_shown);
    isynth_free(a->seed_kept);
    isynth_free(lang);
    isynth_free(backend);
    isynth_free(a);
    return rc;
}

/* The page around the data: the error trap first (so that an error anywhere, Chart.js's
 * included, is seen), then Chart.js, the data, and the script that draws the charts and, once
 * drawn, checks that each canvas has paint on it (data-painted, read by the browser test). */
static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>isynth run report</title>\n<style>\n"
    "body{font-family:system-ui,'Noto Sans CJK JP',sans-serif;margin:1.5em auto;max-width:"
    "1100px;color:#222;padding:0 1em}\n"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1.2em}\n"
    ".card{border:1px solid #ddd;border-radius:6px;padding:.8em}\n"
    ".chart{position:relative;height:280px}\n"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2em .6em;"
    "text-align:left;vertical-align:top}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".note{color:#666;font-size:.9em}\n</style>\n"
    "<script>\n(function(){var e=window.__isynthErrors=[];"
    "window.addEventListener('error',function(x){e.push(String(x.message||x))});"
    "window.addEventListener('unhandledrejection',function(x){e.push(String(x.reason))});"
    "var ce=console.error;console.error=function(){e.push(Array.prototype.join.call(arguments,"
    "' '));return ce.apply(console,arguments)};})();\n</script>\n"
    "<script>\n";

static const char page_mid[] =
    "\n</script>\n</head><body>\n<h1>isynth run report</h1>\n"
    "<div id=\"head\"></div>\n"
    "<div class=\"grid\">\n"
    "<div class=\"card\"><h2>Outcomes</h2><div class=\"chart\"><canvas id=\"c-outcomes\">"
    "</canvas></div><p class=\"note\">Every candidate: accepted, or the first filter that "
    "rejected it.</p></div>\n"
    "<div class=\"card\"><h2>Acceptance over the run</h2><div class=\"chart\"><canvas "
    "id=\"c-accept\"></canvas></div><p class=\"note\">Share of the candidates kept, per group "
    "of requests: a falling line is a run drying up.</p></div>\n"
    "<div class=\"card\"><h2>Nearest neighbour (ROUGE-L)</h2><div class=\"chart\"><canvas "
    "id=\"c-nn\"></canvas></div><p class=\"note\">Each candidate's ROUGE-L F against the "
    "closest seed or accepted task; the threshold is marked.</p></div>\n"
    "<div class=\"card\"><h2>Instruction length</h2><div class=\"chart\"><canvas "
    "id=\"c-len-ins\"></canvas></div><p class=\"note\">Characters, share of rows: seeds beside "
    "accepted rows.</p></div>\n"
    "<div class=\"card\"><h2>Output length</h2><div class=\"chart\"><canvas id=\"c-len-out\">"
    "</canvas></div></div>\n"
    "<div class=\"card\"><h2>Diversity</h2><div class=\"chart\"><canvas id=\"c-distinct\">"
    "</canvas></div><p class=\"note\">Distinct character n-grams of the instructions over all "
    "n-grams (higher: more varied).</p></div>\n"
    "<div class=\"card\"><h2>Subjects</h2><div class=\"chart\"><canvas id=\"c-subjects\">"
    "</canvas></div><p class=\"note\">Requests per subject, and rows kept from them.</p></div>\n"
    "<div class=\"card\"><h2>Seeds the rows were prompted from</h2><div class=\"chart\"><canvas "
    "id=\"c-seeds\"></canvas></div><p class=\"note\">Times each seed was shown as an example, "
    "and rows kept from those requests.</p></div>\n"
    "<div class=\"card\" id=\"card-evol\" style=\"display:none\"><h2>Evolution</h2><div "
    "class=\"chart\"><canvas "
    "id=\"c-evol\"></canvas></div><p class=\"note\" id=\"evol-note\"></p></div>\n"
    "<div class=\"card\"><h2>Judge scores</h2><div class=\"chart\"><canvas id=\"c-judge\">"
    "</canvas></div><p class=\"note\" id=\"judge-note\"></p></div>\n"
    "<div class=\"card\"><h2>Generation speed</h2><div class=\"chart\"><canvas id=\"c-speed\">"
    "</canvas></div><p class=\"note\">Generated tokens per second and requests finished, over "
    "the run's time.</p></div>\n"
    "<div class=\"card\"><h2>Failures and retries per server</h2><div class=\"chart\"><canvas "
    "id=\"c-fail\"></canvas></div><p class=\"note\">Requests each server answered, those that "
    "failed after every retry, and the retries.</p></div>\n"
    "</div>\n<h2>Rows with facts to verify</h2><div id=\"facts\"></div>\n"
    "<h2>First accepted rows</h2><div id=\"samples\"></div>\n"
    "<p class=\"note\" id=\"selfcheck\"></p>\n"
    "<p class=\"note\">Charts by Chart.js 3.9.1 (MIT licence, below), embedded from Debian's "
    "libjs-chart.js.</p>\n"
    "<details><summary class=\"note\">Chart.js licence</summary><pre id=\"license\">";

static const char page_script[] =
    "</pre></details>\n<script type=\"application/json\" id=\"isynth-data\">";

static const char page_tail[] =
    "</script>\n<script>\n"
    "(function(){\n"
    "var D=JSON.parse(document.getElementById('isynth-data').textContent);\n"
    "var T=D.totals,made=[];\n"
    "Chart.defaults.animation=false;Chart.defaults.maintainAspectRatio=false;\n"
    "function el(t,x,c){var e=document.createElement(t);if(x!=null)e.textContent=x;"
    "if(c)e.className=c;return e}\n"
    "function chart(id,cfg){var c=document.getElementById(id);made.push(c);"
    "return new Chart(c,cfg)}\n"
    "function pct(v){return (100*v).toFixed(1)+'%'}\n"
    "var C=['#3366cc','#dc3912','#ff9900','#109618','#990099','#0099c6','#dd4477','#66aa00'];\n"
    /* headline */
    "var h=document.getElementById('head'),tb=el('table');\n"
    "function row(k,v){var r=el('tr');r.appendChild(el('th',k));r.appendChild(el('td',v));"
    "tb.appendChild(r)}\n"
    "row('model',(D.run.model||D.run.model_file)+' ('+D.run.backend+')');"
    "row('seeds',D.run.seeds_file+' "
    "('+D.run.lang+')');row('method',D.run.method||'self-instruct');row('started',D.run.created_at)"
    ";\n"
    "row('accepted',T.accepted+(T.target?' of '+T.target+' wanted':''));\n"
    "row('rejected',T.rejected+' ('+T.stopped+' stopped early)');\n"
    "row('requests',T.requests+' ('+T.failed+' failed, '+T.retries+' retries)');\n"
    "row('tokens',T.generated_tokens+' generated, '+T.prompt_tokens+' prompt');\n"
    "row('accepted per 1,000 generated tokens',T.generated_tokens?"
    "(1000*T.accepted/T.generated_tokens).toFixed(2):'-');\n"
    "if(T.price_in||T.price_out)row('cost',T.cost.toFixed(4)+' (at '+T.price_in+' / '+"
    "T.price_out+' per million prompt / generated tokens)');\n"
    "if(T.recent_yield>=0)row('recent yield',pct(T.recent_yield)+' of the candidates of the "
    "last 20 requests');\nh.appendChild(tb);\n"
    /* outcomes */
    "var ol=['accepted'].concat(D.reasons.map(function(r){return r[0]})),"
    "ov=[T.accepted].concat(D.reasons.map(function(r){return r[1]}));\n"
    "if(T.pending){ol.splice(1,0,'pending');ov.splice(1,0,T.pending)}\n"
    "chart('c-outcomes',{type:'bar',data:{labels:ol,datasets:[{label:'candidates',data:ov,"
    "backgroundColor:ol.map(function(l){return l=='accepted'?'#109618':l=='pending'?'#ff9900':"
    "'#dc3912'})}]},options:{indexAxis:'y',plugins:{legend:{display:false}}}});\n"
    /* acceptance */
    "var A=D.acceptance;chart('c-accept',{type:'line',data:{labels:A.request,datasets:[{label:"
    "'kept share',data:A.rate.map(function(v){return 100*v}),borderColor:C[0],yAxisID:'y'},"
    "{label:'candidates',data:A.candidates,borderColor:C[2],yAxisID:'y1'}]},options:{scales:{"
    "x:{title:{display:true,text:'request (stage 1), '+A.per_point+' per point'}},y:{min:0,"
    "max:100,title:{display:true,text:'% kept'}},y1:{position:'right',beginAtZero:true,grid:{"
    "drawOnChartArea:false},title:{display:true,text:'candidates'}}}}});\n"
    /* nearest neighbour */
    "var N=D.nn,w=1/N.bins,pa=[],pr=[],mx=1;for(var i=0;i<N.bins;i++){pa.push({x:(i+.5)*w,y:"
    "N.accepted[i]});pr.push({x:(i+.5)*w,y:N.rejected[i]});mx=Math.max(mx,N.accepted[i],"
    "N.rejected[i])}\n"
    "chart('c-nn',{type:'line',data:{datasets:[{label:'accepted',data:pa,borderColor:C[3],"
    "backgroundColor:'rgba(16,150,24,.25)',fill:true,stepped:'middle',pointRadius:0},{label:"
    "'rejected',data:pr,borderColor:C[1],backgroundColor:'rgba(220,57,18,.2)',fill:true,"
    "stepped:'middle',pointRadius:0},{label:'threshold '+N.threshold,data:[{x:N.threshold,y:0},"
    "{x:N.threshold,y:mx}],borderColor:'#000',borderDash:[6,4],pointRadius:0}]},options:{"
    "scales:{x:{type:'linear',min:0,max:1,title:{display:true,text:'ROUGE-L F to the nearest "
    "neighbour'}},y:{beginAtZero:true,title:{display:true,text:'candidates'}}}}});\n"
    /* lengths */
    "var L=D.lengths,ll=L.edges.map(function(e,i){return i+1<L.edges.length?e+'-'+"
    "(L.edges[i+1]-1):e+'+'});\n"
    "function share(v,n){return v.map(function(x){return n?100*x/n:0})}\n"
    "function lens(id,s,g){chart(id,{type:'bar',data:{labels:ll,datasets:[{label:'seeds ('+"
    "L.n_seeds+')',data:share(s,L.n_seeds),backgroundColor:C[0]},{label:'accepted ('+"
    "L.n_generated+')',data:share(g,L.n_generated),backgroundColor:C[2]}]},options:{scales:{"
    "x:{title:{display:true,text:'characters'}},y:{beginAtZero:true,title:{display:true,text:"
    "'% of rows'}}}}})}\n"
    "lens('c-len-ins',L.instruction_seeds,L.instruction_generated);"
    "lens('c-len-out',L.output_seeds,L.output_generated);\n"
    /* diversity */
    "var V=D.diversity;chart('c-distinct',{type:'bar',data:{labels:['1-grams','2-grams',"
    "'3-grams','4-grams'],datasets:[{label:'seeds',data:V.seeds,backgroundColor:C[0]},{label:"
    "'accepted',data:V.generated,backgroundColor:C[2]}]},options:{scales:{y:{min:0,max:1,"
    "title:{display:true,text:'distinct / all'}}}}});\n"
    "var sk=Object.keys(V.subjects).sort(function(a,b){return V.subjects[b].requests-"
    "V.subjects[a].requests}).slice(0,40);\n"
    "chart('c-subjects',{type:'bar',data:{labels:sk.length?sk:['(no subjects)'],datasets:[{"
    "label:'requests',data:sk.map(function(k){return V.subjects[k].requests}),"
    "backgroundColor:C[0]},{label:'kept rows',data:sk.map(function(k){return V.subjects[k]."
    "kept}),backgroundColor:C[3]}]},options:{indexAxis:'y'}});\n"
    "var sl=V.seed_shown.map(function(_,i){return 's'+(i+1)});\n"
    "chart('c-seeds',{type:'bar',data:{labels:sl,datasets:[{label:'shown',data:V.seed_shown,"
    "backgroundColor:C[0]},{label:'kept rows',data:V.seed_kept,backgroundColor:C[3]}]}});\n"
    /* evolution (Evol-Instruct runs) */
    "if(D.evolution){var EO=D.evolution.operations,ek=Object.keys(EO),ER=D.evolution.rounds;"
    "document.getElementById('card-evol').style.display='';"
    "chart('c-evol',{type:'bar',data:{labels:ek,datasets:[{label:'rewrites',data:ek.map("
    "function(k){return EO[k].rewrites}),backgroundColor:C[0]},{label:'accepted',data:ek.map("
    "function(k){return EO[k].accepted}),backgroundColor:C[3]}]}});"
    "document.getElementById('evol-note').textContent='Rewrites per operation and those "
    "accepted. By round: '+Object.keys(ER).map(function(r){return 'round '+r+': '+ER[r]."
    "accepted+' of '+ER[r].rewrites}).join(', ')+'.';}\n"
    /* judge */
    "var J=D.judge,js=J.scores.reduce(function(a,b){return a+b},0);\n"
    "chart('c-judge',{type:'bar',data:{labels:['1','2','3','4','5'],datasets:[{label:'rows',"
    "data:J.scores,backgroundColor:C[4]}]},options:{plugins:{legend:{display:false}},scales:{"
    "x:{title:{display:true,text:'score'}},y:{beginAtZero:true}}}});\n"
    "document.getElementById('judge-note').textContent=js?js+' rows judged.':'No row was judged "
    "(isynth judge, or generate --judge).';\n"
    /* time */
    "var M=D.time,tl=M.minute.map(function(m){return m.toFixed(m<10?1:0)});\n"
    "chart('c-speed',{type:'line',data:{labels:tl,datasets:[{label:'generated tokens/s',data:"
    "M.tokens_per_s,borderColor:C[0],yAxisID:'y'},{label:'requests',data:M.requests,"
    "borderColor:C[2],yAxisID:'y1'}]},options:{scales:{x:{title:{display:true,text:'minute "
    "('+M.bucket_s+' s per point)'}},y:{beginAtZero:true},y1:{position:'right',beginAtZero:true,"
    "grid:{drawOnChartArea:false}}}}});\n"
    "var sv=Object.keys(M.servers);\n"
    "chart('c-fail',{type:'bar',data:{labels:sv.length?sv:['(no request)'],datasets:[{label:"
    "'requests',data:sv.map(function(k){return M.servers[k].requests}),backgroundColor:C[0]},"
    "{label:'failed',data:sv.map(function(k){return M.servers[k].failed}),backgroundColor:C[1]},"
    "{label:'retries',data:sv.map(function(k){return M.servers[k].retries}),backgroundColor:"
    "C[2]}]},options:{scales:{y:{beginAtZero:true}}}});\n"
    /* tables */
    "function table(rows,cols,into,empty){var e=document.getElementById(into);if(!rows.length)"
    "{e.appendChild(el('p',empty,'note'));return}var t=el('table'),hr=el('tr');cols.forEach("
    "function(c){hr.appendChild(el('th',c))});t.appendChild(hr);rows.forEach(function(r){var "
    "tr=el('tr');cols.forEach(function(c){tr.appendChild(el('td',r[c]==null?'':String(r[c])))})"
    ";t.appendChild(tr)});e.appendChild(t)}\n"
    "table(J.fact_rows,['id','instruction'],'facts','No accepted row has numbers, dates or "
    "names to check.');\n"
    "table(D.samples,['id','instruction','input','output'],'samples','No row was accepted.');\n"
    /* self-check: paint on every canvas */
    "var ok=0;made.forEach(function(c){var x=c.getContext('2d').getImageData(0,0,c.width,"
    "c.height).data,n=0;for(var i=3;i<x.length;i+=16)if(x[i])n++;c.setAttribute("
    "'data-painted',n);if(n>0)ok++});\n"
    "var b=document.body;b.setAttribute('data-charts',made.length);b.setAttribute("
    "'data-painted',ok);b.setAttribute('data-errors',window.__isynthErrors.length);\n"
    "document.getElementById('selfcheck').textContent=ok+' of '+made.length+' charts drawn.';\n"
    "})();\n</script>\n</body></html>\n";

/* Appends JSON into a <script> element: every '<' (which can only be inside a string) becomes
 * \u003c, so no "</script>" or "<!--" in a row's text can end or change the element. */
static isynth_err add_script_json(buf *b, const char *s)
{
    isynth_err rc = ISYNTH_OK;
    for (const char *p = s; *p && !rc;) {
        const char *lt = strchr(p, '<');
        size_t n = lt ? (size_t)(lt - p) : strlen(p);
        rc = buf_add(b, p, n);
        if (!rc && lt) rc = buf_adds(b, "\\u003c");
        p += n + (lt != NULL);
    }
    return rc;
}

/* Appends text for an HTML text node: '<' and '&' escaped. */
static isynth_err add_html_text(buf *b, const char *s, size_t n)
{
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == '<')
            rc = buf_adds(b, "&lt;");
        else if (s[i] == '&')
            rc = buf_adds(b, "&amp;");
        else
            rc = buf_addc(b, s[i]);
    }
    return rc;
}

isynth_err isynth_report_write(isynth_store *st, const char *path, isynth_error *err)
{
    json_t *data = NULL;
    isynth_err rc = build_data(st, &data, err);
    if (rc) return rc;
    char *json = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(data);
    if (!json) return nomem(err);
    buf page, where;
    buf_init(&page, BUF_MAX_PAGE);
    buf_init(&where, 8192);
    if (buf_adds(&page, page_head) || buf_add(&page, isynth_chartjs, isynth_chartjs_len) ||
        buf_adds(&page, page_mid) ||
        add_html_text(&page, (const char *)isynth_chartjs_license, isynth_chartjs_license_len) ||
        buf_adds(&page, page_script) || add_script_json(&page, json) ||
        buf_adds(&page, page_tail) ||
        (path ? buf_adds(&where, path)
              : buf_printf(&where, "%s/report.html", isynth_store_dir(st)))) {
        rc = nomem(err);
        goto out;
    }
    atomic_file a;
    if ((rc = atomic_open(&a, where.p, err))) goto out;
    if (fwrite(page.p, 1, page.len, a.f) != page.len) {
        atomic_abort(&a);
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", where.p);
        goto out;
    }
    rc = atomic_commit(&a, err);
out:
    free(json);
    buf_free(&page);
    buf_free(&where);
    return rc;
}
