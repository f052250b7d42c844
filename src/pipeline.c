/* The generation loop. One thread: keep the backend full, and for every finished request
 * parse, filter and record it with its candidates in ONE transaction. The in-memory state
 * (pool, dedup keys, counts) is rebuilt from run.db at start, which is what makes a rerun
 * after kill -9 continue with no duplicate and no lost row. */
#include "isynth/pipeline.h"
#include "isynth/export.h"
#include "isynth/checks.h"
#include "isynth/normalize.h"
#include "isynth/parse.h"
#include "isynth/prompt.h"
#include "isynth/seeds.h"
#include "isynth/verify.h"
#include "isynth/status.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REASONS 32

typedef struct pooled {
    isynth_task t;
    char ref[24];
} pooled;

/* A task dropped while its reply was decoded (early stop), recorded with the reply. */
typedef struct stopped {
    char *instruction, *input, *key;
    isynth_verdict v;
} stopped;

#define MAX_STOPPED 64

typedef struct inflight {
    uint64_t id;
    int stage;
    size_t scan;     /* early stop: the reply's bytes before this are checked */
    size_t rep_scan; /* the reply's length at the last loop check */
    stopped *stop;   /* tasks dropped from this reply */
    size_t n_stop;
    isynth_prompt pr;
    bool chat;
    size_t k;
    size_t ex[16];       /* example indices: < n_seeds a seed, else pool index + n_seeds */
    long long parent;    /* stage 2: candidate id */
    isynth_task answer;  /* stage 2: the instruction being answered */
    int restarts;        /* Magpie: user turns dropped for their language */
    bool lang_ok;        /* Magpie: the user turn's start is in the run's language */
    size_t para1;        /* Magpie: where the turn's first paragraph ends (0: not yet) */
    bool lang_ended;     /* Magpie: the reply was ended for its language (recorded as stopped) */
    char parent_ref[24]; /* Evol: the task rewritten ("s3", "g12") */
    isynth_evol_op op;   /* Evol: how */
    int round;           /* Evol: 1 for a rewrite of a seed */
    struct inflight *next;
} inflight;

typedef struct run {
    const isynth_gen_params *p;
    isynth_backend *be;
    isynth_store *st;
    const isynth_seedset *seeds;
    isynth_seedset *own_seeds; /* loaded here when the caller gave none */
    isynth_filter *filter;
    isynth_verifier *verifier; /* the facts to verify of each accepted row */
    isynth_prompt_params pp;
    bool chat;
    bool two_stage;        /* instructions first, each answered by a second request (asked
                              for, or Magpie) */
    bool magpie;           /* stage 1 is a user turn the model writes (--method magpie) */
    const char *chat_tmpl; /* Magpie: the backend's chat template */
    bool evol;             /* stage 1 rewrites a task (--method evol) */
    struct evq {
        char ref[24];
        int round; /* the round that made it */
        isynth_task t;
    } * evq; /* Evol: accepted rewrites waiting for their next round */
    size_t n_evq, cap_evq;
    bool json;               /* replies are requested as JSON (HTTP, constrained) */
    bool rewinds;            /* the backend writes another task in place of a cut one; else a
                                cut ends the reply (a server's stream is cancelled) */
    char *grammar;           /* the reply's GBNF (embedded backend, constrained), or NULL */
    char *schema;            /* the reply's JSON schema (HTTP, constrained), or NULL */
    char out_label[48];      /* "\n出力:": its instruction and input are written (early stop) */
    char field_label[3][48]; /* "\n指示: ", "\n入力: ", "\n出力: ": a field starts after one */
    char task_label[48];     /* "\n\nタスク": a task starts after its blank line */
    pooled *pool;
    size_t n_pool, cap_pool;
    inflight *flying;
    long long *stage2; /* pending candidate ids waiting for an answer request */
    size_t n_stage2, cap_stage2;
    uint64_t next_id;
    uint64_t rng;
    isynth_progress prog;
    const char *reasons[MAX_REASONS];
    char reason_names[MAX_REASONS][32];
    long reason_counts[MAX_REASONS];
    double t0;
    long consecutive_failures;
    struct {
        long candidates, kept;
    } * win; /* the recent yield's ring (min_yield), win_cap entries */
    size_t win_cap, win_n, win_pos;
    long win_cand, win_kept;
    isynth_gen_end end; /* why no request may start any more */
} run;

const char *isynth_gen_end_name(isynth_gen_end end)
{
    switch (end) {
    case ISYNTH_END_TARGET:
        return "target reached";
    case ISYNTH_END_MAX_REQUESTS:
        return "request limit";
    case ISYNTH_END_MAX_TOKENS:
        return "generated-token budget";
    case ISYNTH_END_MAX_COST:
        return "cost budget";
    case ISYNTH_END_LOW_YIELD:
        return "low yield";
    case ISYNTH_END_NONE:
        break;
    }
    return "not ended";
}

isynth_gen_params isynth_gen_params_default(void)
{
    return (isynth_gen_params){
        .target = 20,
        .n_examples = 4,
        .n_generated_examples = 1,
        .n_new = 3,
        .format = ISYNTH_FORMAT_AUTO,
        .lang_check = true,
        .rounds = 1,
        .topics = true,
        .constrain = true,
        .early_stop = true,
        .temperature = 0.7f,
        .top_p = 0.95f,
        .max_tokens = 512,
        .seed = 1,
        .yield_window = 20,
        .filter = isynth_filter_params_default(),
    };
}

const char *isynth_gen_method_name(isynth_gen_method m)
{
    return m == ISYNTH_METHOD_MAGPIE ? "magpie"
           : m == ISYNTH_METHOD_EVOL ? "evol"
                                     : "self-instruct";
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void count_reason_n(run *r, const char *reason, long n)
{
    for (size_t i = 0; i < r->prog.n_reasons; i++)
        if (!strcmp(r->reasons[i], reason)) {
            r->reason_counts[i] += n;
            return;
        }
    if (r->prog.n_reasons < MAX_REASONS) {
        size_t i = r->prog.n_reasons++;
        snprintf(r->reason_names[i], sizeof r->reason_names[i], "%s", reason);
        r->reasons[i] = r->reason_names[i];
        r->reason_counts[i] = n;
    }
}

static void count_reason(run *r, const char *reason)
{
    count_reason_n(r, reason, 1);
}

static isynth_err pool_add(run *r, const char *ref, const char *instruction, const char *input,
                           const char *output)
{
    if (r->n_pool == r->cap_pool && ARRAY_GROW(r->pool, r->cap_pool, 64)) return ISYNTH_ERR_NOMEM;
    pooled *q = &r->pool[r->n_pool];
    memset(q, 0, sizeof *q);
    snprintf(q->ref, sizeof q->ref, "%s", ref);
    isynth_err rc = task_init(&q->t, ref, instruction, input, output);
    if (rc) return rc;
    r->n_pool++;
    return ISYNTH_OK;
}

static isynth_err stage2_push(run *r, long long id)
{
    if (r->n_stage2 == r->cap_stage2 && ARRAY_GROW(r->stage2, r->cap_stage2, 32))
        return ISYNTH_ERR_NOMEM;
    r->stage2[r->n_stage2++] = id;
    return ISYNTH_OK;
}

/* ---- configuration: recorded on the first run, checked on every later one ---- */

typedef struct cfg_item {
    const char *key;
    char val[512];
    bool identity; /* must match to continue a run */
} cfg_item;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static isynth_err check_config(run *r, isynth_error *err)
{
    const isynth_gen_params *p = r->p;
    isynth_backend_info bi;
    isynth_backend_info_get(r->be, &bi);
    char tmpl_sha[65] = "builtin";
    if (p->template_text) sha256_hex(p->template_text, strlen(p->template_text), tmpl_sha);
    cfg_item items[] = {
        {"seeds_file", "", false},
        {"seeds_sha256", "", true},
        {"seeds_shape", "", false},
        {"seeds_count", "", false},
        {"lang", "", true},
        {"backend", "", false},
        {"model", "", true},
        {"model_sha256", "", true},
        {"model_name", "", false},
        {"model_license", "", false},
        {"prompt_format", "", true},
        {"template_sha256", "", true},
        {"method", "", true},
        {"rounds", "", false},
        {"two_stage", "", true},
        {"examples", "", false},
        {"generated_examples", "", false},
        {"tasks_per_request", "", false},
        {"temperature", "", false},
        {"top_p", "", false},
        {"max_tokens", "", false},
        {"seed", "", false},
        {"rouge_threshold", "", false},
        {"target", "", false},
        {"topics", "", false},
        {"constrained", "", false},
        {"early_stop", "", false},
        {"price_in", "", false},
        {"price_out", "", false},
        {"seeds_run", "", false},
    };
    size_t i = 0;
    const char *seeds_path = p->seeds_path ? p->seeds_path : r->seeds->path ? r->seeds->path : "";
    snprintf(items[i++].val, 512, "%s",
             !strncmp(seeds_path, "run:", 4) ? seeds_path : base_name(seeds_path));
    char mem_sha[65]; /* seeds built in memory have no file: their tasks' hash stands for it */
    if (!r->seeds->sha256[0]) sha256_tasks_hex(r->seeds->tasks, r->seeds->n, mem_sha);
    snprintf(items[i++].val, 512, "%s", r->seeds->sha256[0] ? r->seeds->sha256 : mem_sha);
    snprintf(items[i++].val, 512, "%s", r->seeds->shape ? r->seeds->shape : "memory");
    snprintf(items[i++].val, 512, "%zu", r->seeds->n);
    snprintf(items[i++].val, 512, "%s", isynth_lang_name(r->seeds->lang));
    snprintf(items[i++].val, 512, "%s", bi.kind);
    snprintf(items[i++].val, 512, "%s", base_name(bi.model ? bi.model : ""));
    /* the file's own fingerprint: the same name may hold another model (a server names its
     * model, and has no file here) */
    isynth_err frc = ISYNTH_OK;
    if (!strcmp(bi.kind, "llama") && bi.model && *bi.model)
        frc = sha256_file_edges_hex(bi.model, 8u << 20, items[i].val, err);
    if (frc) return frc;
    i++;
    snprintf(items[i++].val, 512, "%s", bi.model_name ? bi.model_name : "");
    snprintf(items[i++].val, 512, "%s", bi.license ? bi.license : "");
    snprintf(items[i++].val, 512, "%s", r->chat ? "chat" : "completion");
    snprintf(items[i++].val, 512, "%s", tmpl_sha);
    snprintf(items[i++].val, 512, "%s", isynth_gen_method_name(p->method));
    snprintf(items[i++].val, 512, "%d", r->evol ? p->rounds : 0);
    snprintf(items[i++].val, 512, "%s", r->two_stage ? "yes" : "no");
    snprintf(items[i++].val, 512, "%d", p->n_examples);
    snprintf(items[i++].val, 512, "%d", p->n_generated_examples);
    snprintf(items[i++].val, 512, "%d", p->n_new);
    snprintf(items[i++].val, 512, "%.3g", p->temperature);
    snprintf(items[i++].val, 512, "%.3g", p->top_p);
    snprintf(items[i++].val, 512, "%d", p->max_tokens);
    snprintf(items[i++].val, 512, "%llu", (unsigned long long)p->seed);
    snprintf(items[i++].val, 512, "%.3g", p->filter.rouge_threshold);
    snprintf(items[i++].val, 512, "%ld", p->target);
    snprintf(items[i++].val, 512, "%s", p->topics ? "yes" : "no");
    snprintf(items[i++].val, 512, "%s", r->grammar ? "grammar" : r->schema ? "json_schema" : "no");
    snprintf(items[i++].val, 512, "%s", p->early_stop && (r->two_stage || !r->json) ? "yes" : "no");
    snprintf(items[i++].val, 512, "%.17g", p->price_in);
    snprintf(items[i++].val, 512, "%.17g", p->price_out);
    snprintf(items[i++].val, 512, "%s", r->seeds->source ? r->seeds->source : "");

    isynth_err rc;
    for (i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (!items[i].identity) continue;
        char *have = NULL;
        if ((rc = isynth_store_meta_get(r->st, items[i].key, &have, err))) return rc;
        if (have && strcmp(have, items[i].val) != 0) {
            rc = isynth_error_set(err, ISYNTH_ERR_MISMATCH,
                                  "%s/run.db was made with %s = %s, not %s: continue it with "
                                  "the same settings or choose another --out",
                                  p->out_dir, items[i].key, have, items[i].val);
            isynth_free(have);
            return rc;
        }
        isynth_free(have);
    }
    if ((rc = isynth_store_begin(r->st, err))) return rc;
    char now[21];
    utc_now(now);
    char *created = NULL;
    rc = isynth_store_meta_get(r->st, "created_at", &created, err);
    if (!rc && !created) rc = isynth_store_meta_set(r->st, "created_at", now, err);
    isynth_free(created);
    for (i = 0; i < sizeof items / sizeof items[0] && !rc; i++)
        rc = isynth_store_meta_set(r->st, items[i].key, items[i].val, err);
    if (!rc) rc = isynth_store_meta_set(r->st, "isynth_version", "0.1.0", err);
    if (rc) {
        isynth_store_rollback(r->st);
        return rc;
    }
    return isynth_store_commit(r->st, err);
}

/* The lines of the request's own instructions join the pool as "p<N>", so that a model that
 * copies its prompt ("互いに種類の異なるタスクにすること。") is caught like a seed copy. Magpie's
 * system message goes in by sentences: a user turn that says it back is one of them
 * (「料理」について日本語で具体的な質問や依頼を書きます。). */
static isynth_err add_prompt_lines(run *r, isynth_error *err)
{
    const char *rule;
    const char *text = isynth_prompt_instructions(&r->pp, &rule);
    isynth_prompt_params pt = r->pp;
    pt.topic = r->p->topics ? "" : NULL;
    if (r->magpie) {
        text = isynth_prompt_magpie_text(&pt, r->p->magpie_system);
        rule = "";
    } else if (r->evol) {
        text = isynth_prompt_evol_rules(r->pp.lang);
        rule = "";
    }
    const char *parts[2] = {text, rule};
    int n = 0;
    for (size_t k = 0; k < 2; k++) {
        for (const char *p = parts[k]; *p;) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (r->magpie) {
                const char *dot = strstr(p, "。");
                const char *dot_en = strstr(p, ". ");
                if (dot && (size_t)(dot - p) < len) len = (size_t)(dot - p) + 3;
                if (dot_en && (size_t)(dot_en - p) < len) len = (size_t)(dot_en - p) + 1;
            }
            while (len && (*p == '-' || *p == ' ')) {
                p++;
                len--;
            }
            char *line = isynth_strndup(p, len), ref[24];
            if (!line) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
            /* drop the placeholders: "どれも「{{topic}}」に関する" */
            for (char *q; (q = strstr(line, "{{")) != NULL;) {
                char *end = strstr(q, "}}");
                memmove(q, end ? end + 2 : q + 2, strlen(end ? end + 2 : q + 2) + 1);
            }
            if (isynth_normalize_utf8_chars(line, strlen(line)) >= 8) {
                isynth_task t = {.instruction = line, .input = "", .output = ""};
                snprintf(ref, sizeof ref, "p%d", ++n);
                isynth_err rc = isynth_filter_add(r->filter, ref, &t, err);
                if (rc) {
                    isynth_free(line);
                    return rc;
                }
            }
            isynth_free(line);
            p += len;
            while (*p == '\n' || *p == ' ')
                p++;
        }
    }
    return ISYNTH_OK;
}

/* ---- rebuilding state from run.db ---- */

/* The filters' error for a stored candidate names it. */
static isynth_err load_failed(isynth_err rc, long long id, isynth_error *err)
{
    if (!err) return rc;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : isynth_strerror(rc));
    return isynth_error_set(err, rc, "run.db, candidate %lld: %s", id, msg);
}

static isynth_err load_accepted(void *user, long long id, const char *instruction,
                                const char *input, const char *output, const char *key,
                                isynth_error *err)
{
    (void)key;
    run *r = user;
    char ref[24];
    snprintf(ref, sizeof ref, "g%lld", id);
    isynth_task t = {
        .instruction = (char *)instruction, .input = (char *)input, .output = (char *)output};
    isynth_err rc = isynth_filter_add(r->filter, ref, &t, err);
    if (rc) return load_failed(rc, id, err);
    if (pool_add(r, ref, instruction, input, output))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory loading the run");
    return ISYNTH_OK;
}

static isynth_err load_pending(void *user, long long id, const char *instruction, const char *input,
                               const char *output, const char *key, isynth_error *err)
{
    (void)output;
    (void)key;
    run *r = user;
    char ref[24];
    snprintf(ref, sizeof ref, "g%lld", id);
    isynth_task t = {.instruction = (char *)instruction, .input = (char *)input, .output = ""};
    isynth_err rc = isynth_filter_add(r->filter, ref, &t, err);
    if (rc) return load_failed(rc, id, err);
    if (stage2_push(r, id))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory loading the run");
    return ISYNTH_OK;
}

static isynth_err load_reason(void *user, const char *reason, long n, isynth_error *err)
{
    (void)err;
    count_reason_n(user, reason, n);
    return ISYNTH_OK;
}

/* The recent yield: a ring of the last yield_window stage-1 requests' (candidates, kept). */
static void window_push(run *r, long candidates, long kept)
{
    if (!r->win_cap) return;
    if (r->win_n == r->win_cap) {
        r->win_cand -= r->win[r->win_pos].candidates;
        r->win_kept -= r->win[r->win_pos].kept;
    } else {
        r->win_n++;
    }
    r->win[r->win_pos].candidates = candidates;
    r->win[r->win_pos].kept = kept;
    r->win_pos = (r->win_pos + 1) % r->win_cap;
    r->win_cand += candidates;
    r->win_kept += kept;
    r->prog.recent_yield = r->win_cand > 0 ? (double)r->win_kept / (double)r->win_cand : 0.0;
}

static isynth_err load_window(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)err;
    window_push(user, q->candidates, q->kept);
    return ISYNTH_OK;
}

static double run_cost(const run *r)
{
    return isynth_status_token_cost(r->prog.run_prompt_tokens, r->prog.run_completion_tokens,
                                    r->p->price_in, r->p->price_out);
}

static isynth_err load_counts(run *r, isynth_error *err)
{
    isynth_run_totals t;
    isynth_err rc;
    if ((rc = isynth_store_totals(r->st, &t, err))) return rc;
    r->prog.accepted = t.accepted;
    r->prog.accepted_at_start = t.accepted;
    r->prog.pending = t.pending;
    r->prog.rejected = t.rejected;
    r->prog.requests = t.requests;
    r->prog.failed = t.failed;
    r->prog.run_prompt_tokens = t.prompt_tokens;
    r->prog.run_completion_tokens = t.completion_tokens;
    r->prog.cost = run_cost(r);
    r->prog.recent_yield = -1;
    if ((rc = isynth_store_each_reason(r->st, load_reason, r, err))) return rc;
    if (r->win_cap) rc = isynth_store_each_request(r->st, (long)r->win_cap, load_window, r, err);
    return rc;
}

/* The budget that forbids another request, or ISYNTH_END_NONE. */
static isynth_gen_end budget_spent(const run *r)
{
    const isynth_gen_params *p = r->p;
    if (p->max_generated_tokens > 0 && r->prog.run_completion_tokens >= p->max_generated_tokens)
        return ISYNTH_END_MAX_TOKENS;
    if (p->max_cost > 0 && r->prog.cost >= p->max_cost) return ISYNTH_END_MAX_COST;
    return ISYNTH_END_NONE;
}

/* Low yield forbids more stage-1 requests (answers of instructions already kept go on). */
static bool yield_too_low(const run *r)
{
    return r->p->min_yield > 0 && r->win_cap && r->win_n == r->win_cap &&
           r->prog.recent_yield < r->p->min_yield;
}

/* ---- requests ---- */

static void inflight_free(inflight *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_stop; i++) {
        isynth_free(f->stop[i].instruction);
        isynth_free(f->stop[i].input);
        isynth_free(f->stop[i].key);
    }
    isynth_free(f->stop);
    isynth_prompt_clear(&f->pr);
    isynth_task_clear(&f->answer);
    isynth_free(f);
}

static const isynth_task *example_task(run *r, size_t idx)
{
    return idx < r->seeds->n ? &r->seeds->tasks[idx] : &r->pool[idx - r->seeds->n].t;
}

static void example_ref(run *r, size_t idx, char *out, size_t cap)
{
    if (idx < r->seeds->n)
        snprintf(out, cap, "s%zu", idx + 1);
    else
        snprintf(out, cap, "%s", r->pool[idx - r->seeds->n].ref);
}

/* The tasks a request showed as examples, with their refs ("s3", "g12"), for the filter. */
static void request_examples(run *r, const inflight *f, const isynth_task **ex, char (*refs)[24],
                             const char **refp)
{
    for (size_t i = 0; i < f->k; i++) {
        ex[i] = example_task(r, f->ex[i]);
        example_ref(r, f->ex[i], refs[i], sizeof refs[i]);
        refp[i] = refs[i];
    }
}

/* Draws k distinct examples: generated ones (up to n_generated) from the pool, the rest from
 * the seeds, in random order. */
static size_t draw_examples(run *r, size_t *ex)
{
    size_t want = (size_t)(r->p->n_examples > 0 ? r->p->n_examples : 4);
    if (want > 16) want = 16;
    size_t n_seeds = r->seeds->n;
    size_t n_gen = r->p->n_generated_examples > 0 ? (size_t)r->p->n_generated_examples : 0;
    if (n_gen > r->n_pool) n_gen = r->n_pool;
    if (n_gen > want) n_gen = want;
    size_t n_s = want - n_gen;
    if (n_s > n_seeds) n_s = n_seeds;
    size_t k = 0;
    while (k < n_s) {
        size_t c = (size_t)(splitmix(&r->rng) % n_seeds);
        bool dup = false;
        for (size_t j = 0; j < k; j++)
            dup |= ex[j] == c;
        if (!dup) ex[k++] = c;
    }
    size_t tries = 0;
    while (k < n_s + n_gen && tries++ < 1000) {
        size_t c = n_seeds + (size_t)(splitmix(&r->rng) % r->n_pool);
        bool dup = false;
        for (size_t j = n_s; j < k; j++)
            dup |= ex[j] == c;
        if (!dup) ex[k++] = c;
    }
    for (size_t i = k; i > 1; i--) {
        size_t j = (size_t)(splitmix(&r->rng) % i);
        size_t t = ex[i - 1];
        ex[i - 1] = ex[j];
        ex[j] = t;
    }
    return k;
}

static isynth_err on_watch(void *user, uint64_t id, const char *text, size_t len,
                           isynth_watch_act *act, size_t *at, isynth_error *err);
static isynth_err on_watch_magpie(void *user, uint64_t id, const char *text, size_t len,
                                  isynth_watch_act *act, size_t *at, isynth_error *err);
static isynth_err on_watch_answer(void *user, uint64_t id, const char *text, size_t len,
                                  isynth_watch_act *act, size_t *at, isynth_error *err);

static isynth_err submit(run *r, inflight *f, isynth_error *err)
{
    isynth_msg msgs[2] = {{"system", f->pr.system}, {"user", f->pr.user}};
    bool s1 = f->stage == 1;
    bool magpie = s1 && r->magpie;
    isynth_gen_req req = {
        .id = f->id,
        .chat = r->chat && !magpie,
        .raw = magpie,
        .msgs = msgs,
        .n_msgs = 2,
        .prompt = f->pr.completion,
        .max_tokens = r->p->max_tokens,
        .temperature = r->p->temperature,
        .top_p = r->p->top_p,
        .seed = splitmix(&r->rng),
        .grammar = s1 ? r->grammar : NULL,
        .json_schema = s1 ? r->schema : NULL,
        .schema_name = "tasks",
        .watch = magpie                                                ? on_watch_magpie
                 : s1 && r->p->early_stop && !r->two_stage && !r->json ? on_watch
                 : !s1 && r->p->early_stop                             ? on_watch_answer
                                                                       : NULL,
        .watch_user = r,
    };
    isynth_err rc = isynth_backend_submit(r->be, &req, err);
    if (rc) return rc;
    f->next = r->flying;
    r->flying = f;
    r->prog.in_flight++;
    return ISYNTH_OK;
}

/* Magpie's prompt: the system message (with a random subject) and the chat template up to a
 * user turn's opening. f->pr.system keeps the message, f->pr.completion the whole prompt. */
static isynth_err magpie_prompt(run *r, inflight *f, isynth_error *err)
{
    isynth_prompt_params pp = r->pp;
    if (r->p->topics) {
        size_t n_topics;
        const char *const *topics = isynth_prompt_topics(r->pp.lang, &n_topics);
        pp.topic = topics[splitmix(&r->rng) % n_topics];
    }
    isynth_err rc = isynth_prompt_magpie_system(&pp, r->p->magpie_system, &f->pr.system, err);
    if (rc) return rc;
    isynth_msg sys = {"system", f->pr.system};
    return isynth_chat_user_prefix(r->chat_tmpl, &sys, f->pr.system[0] ? 1 : 0, &f->pr.completion,
                                   err);
}

/* Adds an accepted rewrite to the tasks the next round rewrites (Evol). */
static isynth_err evq_push(run *r, long long id, int round, const char *instruction,
                           const char *input)
{
    if (r->n_evq == r->cap_evq && ARRAY_GROW(r->evq, r->cap_evq, 16)) return ISYNTH_ERR_NOMEM;
    struct evq *e = &r->evq[r->n_evq];
    snprintf(e->ref, sizeof e->ref, "g%lld", id);
    e->round = round;
    isynth_err rc = task_init(&e->t, NULL, instruction, input, "");
    if (rc) return rc;
    r->n_evq++;
    return ISYNTH_OK;
}

static isynth_err load_frontier(void *user, long long id, int round, const char *instruction,
                                const char *input, isynth_error *err)
{
    return evq_push(user, id, round, instruction, input)
               ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
               : ISYNTH_OK;
}

/* Evol's request: the next accepted rewrite waiting for its round, else a seed drawn at random,
 * rewritten by an operation drawn at random. */
static isynth_err evol_prompt(run *r, inflight *f, isynth_error *err)
{
    /* the parent stays with the request (in f->answer, unused in stage 1) for the elimination */
    if (r->n_evq > 0) {
        struct evq *e = &r->evq[--r->n_evq];
        snprintf(f->parent_ref, sizeof f->parent_ref, "%s", e->ref);
        f->round = e->round + 1;
        f->answer = e->t;
    } else {
        size_t i = (size_t)(splitmix(&r->rng) % r->seeds->n);
        const isynth_task *s = &r->seeds->tasks[i];
        snprintf(f->parent_ref, sizeof f->parent_ref, "s%zu", i + 1);
        f->round = 1;
        if (!(f->answer.instruction = isynth_strdup(s->instruction)) ||
            !(f->answer.input = isynth_strdup(s->input)) || !(f->answer.output = isynth_strdup("")))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    f->op = (isynth_evol_op)(splitmix(&r->rng) % ISYNTH_EVOL_N);
    return isynth_prompt_evol(&r->pp, &f->answer, f->op, &f->pr, err);
}

static isynth_err submit_stage1(run *r, isynth_error *err)
{
    inflight *f = isynth_calloc(1, sizeof *f);
    if (!f) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    f->id = ++r->next_id;
    f->stage = 1;
    if (r->magpie || r->evol) {
        isynth_err rc = r->magpie ? magpie_prompt(r, f, err) : evol_prompt(r, f, err);
        if (!rc) rc = submit(r, f, err);
        if (rc) inflight_free(f);
        return rc;
    }
    f->k = draw_examples(r, f->ex);
    const isynth_task *ex[16];
    for (size_t i = 0; i < f->k; i++)
        ex[i] = example_task(r, f->ex[i]);
    isynth_prompt_params pp = r->pp;
    if (r->p->topics) {
        size_t n_topics;
        const char *const *topics = isynth_prompt_topics(r->pp.lang, &n_topics);
        pp.topic = topics[splitmix(&r->rng) % n_topics];
    }
    isynth_err rc = isynth_prompt_build(&pp, ex, f->k, &f->pr, err);
    if (!rc) rc = submit(r, f, err);
    if (rc) inflight_free(f);
    return rc;
}

static isynth_err submit_stage2(run *r, isynth_error *err)
{
    long long cid = r->stage2[--r->n_stage2];
    inflight *f = isynth_calloc(1, sizeof *f);
    if (!f) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = isynth_store_get_candidate(r->st, cid, &f->answer, err);
    if (rc == ISYNTH_ERR_NOT_FOUND)
        rc = isynth_error_set(err, ISYNTH_ERR_STORE, "run.db: candidate %lld vanished", cid);
    if (!rc) {
        f->id = ++r->next_id;
        f->stage = 2;
        f->parent = cid;
        if (!(rc = isynth_prompt_answer(&r->pp, &f->answer, &f->pr, err))) rc = submit(r, f, err);
    }
    if (rc) inflight_free(f);
    return rc;
}

/* The language an output is written in (a translation task's answer is not the run's). */
static isynth_lang output_lang(const char *output)
{
    const char *texts[1] = {output};
    return isynth_lang_detect(texts, 1);
}

static isynth_err record_candidate(run *r, long long req_id, int idx, isynth_task *t,
                                   const inflight *f, isynth_error *err)
{
    isynth_err rc = isynth_filter_normalize(t, err);
    if (rc == ISYNTH_ERR_UTF8) {
        isynth_candidate_rec c = {.request_id = req_id,
                                  .idx = idx,
                                  .instruction = "",
                                  .input = "",
                                  .output = "",
                                  .dedup_key = "",
                                  .status = ISYNTH_CAND_REJECTED,
                                  .reason = "unparseable",
                                  .detail = "invalid text",
                                  .nn_score = -1};
        count_reason(r, "unparseable");
        r->prog.rejected++;
        return isynth_store_add_candidate(r->st, &c, NULL, err);
    }
    if (rc) return rc;
    const isynth_task *ex[16];
    char refs[16][24];
    const char *refp[16];
    request_examples(r, f, ex, refs, refp);
    isynth_verdict v;
    char *key = NULL;
    if (r->evol)
        rc = isynth_filter_check_evolved(r->filter, t, f->parent_ref, &f->answer,
                                         isynth_evol_op_grows(f->op), &v, &key, err);
    else
        rc = isynth_filter_check(r->filter, t, ex, refp, f->k, &v, &key, err);
    if (rc) return rc;
    isynth_cand_status status = r->two_stage ? ISYNTH_CAND_PENDING : ISYNTH_CAND_ACCEPTED;
    const char *reason = v.reason;
    if (!reason && r->prog.accepted + r->prog.pending >= r->p->target) reason = "over_target";
    if (reason) status = ISYNTH_CAND_REJECTED;
    char *facts = NULL;
    if (!reason && !r->two_stage &&
        (rc = isynth_verify_json(r->verifier, t->output, strlen(t->output), output_lang(t->output),
                                 &facts, err))) {
        isynth_free(key);
        return rc;
    }
    isynth_candidate_rec c = {
        .request_id = req_id,
        .idx = idx,
        .instruction = t->instruction,
        .input = t->input,
        .output = t->output,
        .dedup_key = key,
        .status = status,
        .reason = reason,
        .detail = v.detail[0] ? v.detail : NULL,
        .nn_ref = v.nn_ref[0] ? v.nn_ref : NULL,
        .nn_score = v.nn_score,
        .verify = facts,
    };
    long long cid = 0;
    rc = isynth_store_add_candidate(r->st, &c, &cid, err);
    isynth_free(key);
    isynth_free(facts);
    if (!rc && r->evol)
        rc = isynth_store_add_lineage(r->st, cid, f->parent_ref, isynth_evol_op_name(f->op),
                                      f->round, err);
    if (rc) return rc;
    if (reason) {
        count_reason(r, reason);
        r->prog.rejected++;
        return ISYNTH_OK;
    }
    char ref[24];
    snprintf(ref, sizeof ref, "g%lld", cid);
    if ((rc = isynth_filter_add(r->filter, ref, t, err))) return rc;
    if (r->two_stage) {
        r->prog.pending++;
        return stage2_push(r, cid) ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
                                   : ISYNTH_OK;
    }
    r->prog.accepted++;
    return pool_add(r, ref, t->instruction, t->input, t->output)
               ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
               : ISYNTH_OK;
}

/* A block the parser could not use. One cut off by max tokens is "truncated" (the token
 * budget lost it, not the format); every other is "unparseable", with the parser's why. */
/* Records text (its first 2,000 bytes, made valid UTF-8) as a rejected candidate. */
static isynth_err record_rejected_text(run *r, long long req_id, int idx, const char *text,
                                       const char *reason, const char *detail, isynth_error *err)
{
    size_t n = strlen(text);
    char *capped = isynth_strndup(text, n > 2000 ? 2000 : n);
    size_t len;
    char *clean = capped ? utf8_sanitize(capped, strlen(capped), &len) : NULL;
    isynth_free(capped);
    if (!clean) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_candidate_rec c = {.request_id = req_id,
                              .idx = idx,
                              .instruction = clean,
                              .input = "",
                              .output = "",
                              .dedup_key = "",
                              .status = ISYNTH_CAND_REJECTED,
                              .reason = reason,
                              .detail = detail,
                              .nn_score = -1};
    isynth_err rc = isynth_store_add_candidate(r->st, &c, NULL, err);
    isynth_free(clean);
    if (!rc) {
        count_reason(r, reason);
        r->prog.rejected++;
    }
    return rc;
}

static isynth_err record_unparseable(run *r, long long req_id, int idx, const char *text,
                                     const char *why, isynth_error *err)
{
    return record_rejected_text(r, req_id, idx, text,
                                strcmp(why, "truncated") ? "unparseable" : "truncated", why, err);
}

/* ---- early stop ---- */

static inflight *find_flying(run *r, uint64_t id)
{
    for (inflight *f = r->flying; f; f = f->next)
        if (f->id == id) return f;
    return NULL;
}

static const char *find_bytes(const char *s, size_t n, const char *w, size_t wn)
{
    for (size_t i = 0; wn && i + wn <= n; i++)
        if (s[i] == w[0] && !memcmp(s + i, w, wn)) return s + i;
    return NULL;
}

/* The byte offset where 1-based line `line` of s starts. */
static size_t line_offset(const char *s, size_t n, long line)
{
    size_t off = 0;
    for (long l = 1; l < line && off < n; off++)
        if (s[off] == '\n') l++;
    return off;
}

/* What a watcher does with an error of the code it calls: running out of memory stops the run
 * (its cause kept in err); any other error (text too long or not yet a task) only means that
 * nothing is stopped early. */
static isynth_err watch_err(isynth_err rc, const isynth_error *cause, isynth_error *err)
{
    if (rc != ISYNTH_ERR_NOMEM) return ISYNTH_OK;
    if (!cause || !cause->msg[0]) return isynth_error_set(err, rc, "out of memory");
    if (err) *err = *cause;
    return rc;
}

/* Judges the last task of text[0, upto) (its output label starts at upto): *doomed with *v and
 * *start (where the task begins in text) when the filters reject it already. Errors as
 * watch_err says. */
static isynth_err doomed_task(run *r, inflight *f, const char *text, size_t upto, isynth_verdict *v,
                              size_t *start, stopped *out, bool *doomed, isynth_error *err)
{
    *doomed = false;
    buf full;
    buf_init(&full, BUF_MAX_REPLY);
    size_t plen = r->chat ? 0 : strlen(f->pr.parse_prefix);
    isynth_err rc = plen ? buf_add(&full, f->pr.parse_prefix, plen) : ISYNTH_OK;
    if (!rc) rc = buf_add(&full, text, upto);
    if (rc) {
        buf_free(&full);
        return watch_err(rc, NULL, err);
    }
    isynth_parse_params pp = isynth_parse_params_default();
    pp.want_output = false;
    isynth_parsed *parsed = NULL;
    isynth_error cause;
    isynth_error_clear(&cause);
    rc = isynth_parse_tasks(full.p, full.len, &pp, &parsed, &cause);
    if (!rc && parsed->n > 0) {
        isynth_task *t = &parsed->tasks[parsed->n - 1];
        size_t at = line_offset(full.p, full.len, t->line);
        *start = at > plen ? at - plen : 0;
        const isynth_task *ex[16];
        char refs[16][24];
        const char *refp[16];
        request_examples(r, f, ex, refs, refp);
        char *key = NULL;
        rc = isynth_filter_normalize(t, &cause);
        if (!rc) rc = isynth_filter_check_early(r->filter, t, ex, refp, f->k, v, &key, &cause);
        if (!rc && v->reason) {
            out->instruction = t->instruction;
            out->input = t->input;
            out->key = key;
            out->v = *v;
            t->instruction = t->input = NULL;
            key = NULL;
            *doomed = true;
        }
        isynth_free(key);
    }
    isynth_parsed_free(parsed);
    buf_free(&full);
    return watch_err(rc, &cause, err);
}

static size_t last_at(const char *s, size_t n, const char *w)
{
    size_t wn = strlen(w);
    for (size_t i = n >= wn ? n - wn + 1 : 0; i-- > 0;)
        if (!memcmp(s + i, w, wn)) return i;
    return (size_t)-1;
}

/* A loop in the field being written ("これは…です。" over and over until max tokens): the row
 * check "repetition" already rejects it. Its rules that more text cannot undo are used as they
 * are (a line or sentence three times, a unit back to back); the share of text in repeated
 * 6-grams, which new text could lower again, only at 85% or more of 200 characters or more (a
 * reply that deep in a loop would need hundreds of new characters to fall back under the row
 * check's 60%; the clause cycles small models fall into never do). On a loop *start gets where
 * its task begins and *out the task's text so far. */
static bool loop_in(const char *s, size_t n, char *detail, size_t cap)
{
    const char *why = isynth_checks_repetition(s, n, detail, cap);
    return why && !(strstr(detail, "6-gram") &&
                    (atoi(detail) < 85 || isynth_normalize_utf8_chars(s, n) < 200));
}

/* A loop in text[from, len), looked for once every 48 new bytes past 64 (f->rep_scan keeps
 * where the last look was): the watchers of Magpie's turns and of answers end it there. */
static bool looping_since(inflight *f, const char *text, size_t len, size_t from)
{
    if (len < f->rep_scan + 48 || len - from < 64) return false;
    f->rep_scan = len;
    char detail[128];
    return loop_in(text + from, len - from, detail, sizeof detail);
}

/* A loop in the field being written of the last task: *loop with *start and *out as for
 * doomed_task. Fails only when memory runs out. */
static isynth_err looping_task(run *r, const char *text, size_t len, size_t *start, stopped *out,
                               bool *loop, isynth_error *err)
{
    *loop = false;
    size_t t = last_at(text, len, r->task_label);
    size_t ts = t == (size_t)-1 ? 0 : t + 2;
    size_t fs = ts;
    for (int i = 0; i < 3; i++) {
        size_t a = last_at(text + ts, len - ts, r->field_label[i]);
        if (a != (size_t)-1 && ts + a + strlen(r->field_label[i]) > fs)
            fs = ts + a + strlen(r->field_label[i]);
    }
    if (len - fs < 64) return ISYNTH_OK;
    char detail[128];
    if (!loop_in(text + fs, len - fs, detail, sizeof detail)) return ISYNTH_OK;
    size_t n = len - ts > 2000 ? 2000 : len - ts, clean_len;
    char *clean = utf8_sanitize(text + ts, n, &clean_len);
    if (!clean || !(out->input = isynth_strdup(""))) {
        isynth_free(clean);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    out->instruction = clean;
    out->v.reason = "repetition";
    out->v.nn_score = -1;
    snprintf(out->v.detail, sizeof out->v.detail, "%s", detail);
    *start = ts;
    *loop = true;
    return ISYNTH_OK;
}

/* The watcher of a one-stage request: when a task's output label appears, its instruction and
 * input are complete, and a task the filters reject already is cut before its output costs
 * anything; a field caught in a loop is cut too. After 2 * n_new cuts the reply ends before
 * the doomed task instead. With a backend that cannot rewind (a server's stream), a cut ends
 * the reply: a loop ends it, and a doomed task only when it is the last one asked for.
 * A reply that starts again (a retried request) comes back with len 0, which resets the
 * scan. Fails when memory runs out (a task stopped must be recorded). */
static isynth_err on_watch(void *user, uint64_t id, const char *text, size_t len,
                           isynth_watch_act *act, size_t *at, isynth_error *err)
{
    run *r = user;
    inflight *f = find_flying(r, id);
    size_t ll = strlen(r->out_label);
    if (!f || !ll) return ISYNTH_OK;
    if (f->scan > len) f->scan = len;
    if (f->rep_scan > len) f->rep_scan = len;
    isynth_verdict v;
    size_t start = 0;
    stopped st = {0};
    bool doomed = false;
    isynth_err rc;
    if (len >= f->rep_scan + 48) {
        f->rep_scan = len;
        if ((rc = looping_task(r, text, len, &start, &st, &doomed, err))) return rc;
    }
    const char *hit = doomed ? NULL : find_bytes(text + f->scan, len - f->scan, r->out_label, ll);
    if (!doomed && !hit) {
        if (len >= ll && len - ll + 1 > f->scan) f->scan = len - ll + 1;
        return ISYNTH_OK;
    }
    int n_new = r->p->n_new > 0 ? r->p->n_new : 1;
    if (!doomed) {
        size_t q = (size_t)(hit - text);
        f->scan = q + ll;
        /* a backend that cannot rewind would end the reply at the cut and lose the tasks
         * after it: the doomed task is stopped only when it is the last one asked for (its
         * output and whatever follows are then worth nothing), else written out and rejected
         * when the reply is parsed */
        if (!r->rewinds) {
            size_t before = 0;
            for (const char *h = text;
                 (h = find_bytes(h, (size_t)(text + q - h), r->out_label, ll)) != NULL; h += ll)
                before++;
            if (before + 1 < (size_t)n_new) return ISYNTH_OK;
        }
        if ((rc = doomed_task(r, f, text, q, &v, &start, &st, &doomed, err))) return rc;
        if (!doomed) return ISYNTH_OK;
    }
    if (f->n_stop < MAX_STOPPED) {
        if (!f->stop) f->stop = isynth_calloc(MAX_STOPPED, sizeof *f->stop);
        if (f->stop) {
            f->stop[f->n_stop++] = st;
            st = (stopped){0};
        }
    }
    bool lost = st.instruction != NULL; /* not kept: no room for its record */
    isynth_free(st.instruction);
    isynth_free(st.input);
    isynth_free(st.key);
    if (lost && !f->stop) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (!r->rewinds || f->n_stop > (size_t)(2 * n_new)) {
        *at = start;
        *act = ISYNTH_WATCH_END;
        return ISYNTH_OK;
    }
    /* the task's header stays: the backend writes another instruction after it */
    size_t ll0 = strlen(r->field_label[0]) - 1; /* "\n指示:" */
    const char *lab = find_bytes(text + start, len - start, r->field_label[0], ll0);
    size_t instr = lab ? (size_t)(lab - text) + ll0 : start;
    while (instr < len && text[instr] == ' ')
        instr++;
    *at = instr;
    f->scan = f->rep_scan = instr;
    *act = ISYNTH_WATCH_CUT;
    return ISYNTH_OK;
}

/* ---- Magpie ---- */

static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

/* Whether the first 16 characters of a user turn are in the run's language: for Japanese, a
 * kana among them (Chinese, which small models drift into, has none; code and English have no
 * kanji either); for English, letters detected as English. -1 while fewer than 16 are
 * written. */
static int magpie_lang(const run *r, const char *s, size_t n, bool whole)
{
    size_t i = 0, chars = 0;
    bool kana = false;
    while (i < n && chars < 16) {
        uint32_t c;
        size_t l = utf8_decode(s + i, n - i, &c);
        if (!l) break;
        if (c > ' ') chars++;
        kana |= ja_script_of(c) == JA_HIRAGANA || ja_script_of(c) == JA_KATAKANA;
        i += l;
    }
    if (chars < 16 && !whole) return -1;
    if (r->pp.lang == ISYNTH_LANG_JA) return kana;
    char *head = isynth_strndup(s, i);
    if (!head) return 1; /* the filters decide */
    const char *texts[1] = {head};
    int ok = isynth_lang_detect(texts, 1) == r->pp.lang;
    isynth_free(head);
    return ok;
}

/* Labels small models frame a user turn with, in Japanese and English: a line that starts with
 * an answer label ends the turn (the model went on to answer it), a question label before the
 * turn is dropped. */
static const char *const answer_labels[] = {"回答", "答え",         "答案",    "解答",
                                            "応答", "アシスタント", "AI",      "Answer",
                                            "A:",   "Assistant",    "Response"};
static const char *const question_labels[] = {"質問", "依頼", "ユーザー", "Question", "Q:", "User"};

/* The length of a label (and its colon) at s, or 0. */
static size_t label_at(const char *s, size_t n, const char *const *labels, size_t n_labels)
{
    for (size_t i = 0; i < n_labels; i++) {
        size_t l = strlen(labels[i]);
        if (l > n || memcmp(s, labels[i], l)) continue;
        if (labels[i][l - 1] == ':') return l;
        size_t j = l;
        while (j < n && s[j] == ' ')
            j++;
        if (j < n && s[j] == ':') return j + 1;
        if (j + 3 <= n && !memcmp(s + j, "：", 3)) return j + 3;
    }
    return 0;
}

/* Where a line in text[from, n) starts with an answer label, or (size_t)-1. */
static size_t answer_line(const char *s, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        if (s[i] == '\n') {
            size_t j = skip_space(s, i + 1, n);
            if (label_at(s + j, n - j, answer_labels,
                         sizeof answer_labels / sizeof answer_labels[0]))
                return i;
        }
    return (size_t)-1;
}

/* Keeps a user turn dropped for its language, for the record (reason "wrong_language"); past
 * MAX_STOPPED of them the rest go unrecorded. Fails when memory runs out. */
static isynth_err magpie_drop(inflight *f, const char *text, size_t len, isynth_error *err)
{
    if (f->n_stop >= MAX_STOPPED) return ISYNTH_OK;
    if (!f->stop && !(f->stop = isynth_calloc(MAX_STOPPED, sizeof *f->stop)))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    size_t clean_len;
    stopped st = {0};
    st.instruction = utf8_sanitize(text, len > 2000 ? 2000 : len, &clean_len);
    st.input = isynth_strdup("");
    if (!st.instruction || !st.input) {
        isynth_free(st.instruction);
        isynth_free(st.input);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    st.v.reason = "wrong_language";
    st.v.nn_score = -1;
    snprintf(st.v.detail, sizeof st.v.detail, "the user turn did not start in the run's language");
    f->stop[f->n_stop++] = st;
    return ISYNTH_OK;
}

/* The watcher of a Magpie request: the model writes a user turn and, small ones especially,
 * goes on with the answer instead of ending its turn. The turn ends after its first paragraph,
 * or after its second when the first refers to a text it does not hold ("次の文章を要約し
 * てください。" and the text). A turn that starts in another language is dropped and written
 * again (lang_check), and one caught in a loop ends there (the filters reject it). */
static isynth_err on_watch_magpie(void *user, uint64_t id, const char *text, size_t len,
                                  isynth_watch_act *act, size_t *at, isynth_error *err)
{
    run *r = user;
    inflight *f = find_flying(r, id);
    if (!f) return ISYNTH_OK;
    if (len == 0 || f->para1 > len) {
        f->lang_ok = false;
        f->para1 = f->rep_scan = 0;
        return ISYNTH_OK;
    }
    size_t b = skip_space(text, 0, len);
    size_t al = answer_line(text, b, len);
    if (al != (size_t)-1) {
        *at = al;
        *act = ISYNTH_WATCH_END;
        return ISYNTH_OK;
    }
    if (!f->para1) {
        const char *bl = find_bytes(text + b, len - b, "\n\n", 2);
        if (bl) {
            f->para1 = (size_t)(bl - text);
            char *p1 = isynth_strndup(text + b, f->para1 - b);
            if (!p1) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
            char detail[160];
            bool refers = isynth_checks_missing_input(p1, "", detail, sizeof detail);
            isynth_free(p1);
            if (!refers) {
                *at = f->para1;
                *act = ISYNTH_WATCH_END;
                return ISYNTH_OK;
            }
        }
    } else {
        size_t c = skip_space(text, f->para1, len);
        const char *bl = c < len ? find_bytes(text + c, len - c, "\n\n", 2) : NULL;
        if (bl) {
            *at = (size_t)(bl - text);
            *act = ISYNTH_WATCH_END;
            return ISYNTH_OK;
        }
    }
    if (r->p->lang_check && !f->lang_ok) {
        int ok = magpie_lang(r, text + b, len - b, false);
        if (ok == 1) f->lang_ok = true;
        if (ok == 0) {
            isynth_err rc = magpie_drop(f, text + b, len - b, err);
            if (rc) return rc;
            if (r->rewinds && f->restarts < 4) {
                f->restarts++;
                f->para1 = f->rep_scan = 0;
                *at = 0;
                *act = ISYNTH_WATCH_CUT;
                return ISYNTH_OK;
            }
            f->lang_ended = true;
            *at = len;
            *act = ISYNTH_WATCH_END;
            return ISYNTH_OK;
        }
    }
    if (looping_since(f, text, len, b)) {
        *at = len;
        *act = ISYNTH_WATCH_END;
    }
    return ISYNTH_OK;
}

static isynth_err record_stopped(run *r, long long req_id, int idx, const stopped *s,
                                 isynth_error *err);

/* A user turn that only says the system message back in other order (具体的な質問や依頼は何で
 * すか?, 日本語で何を言いますか? under "…日本語で具体的な質問や依頼を書きます"): every word
 * of two or more kanji or katakana in it is a word of the system message. Those words are what
 * a question is about; a turn with none of its own asks about nothing. */
static bool magpie_parrot(const char *turn, const char *system)
{
    size_t n = strlen(turn), words = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = utf8_decode(turn + i, n - i, &c);
        if (!l) return false;
        ja_script k = ja_script_of(c);
        if (k != JA_KANJI && k != JA_KATAKANA) {
            i += l;
            continue;
        }
        size_t j = i + l, chars = 1;
        for (uint32_t d; j < n; chars++) {
            size_t m = utf8_decode(turn + j, n - j, &d);
            if (!m || ja_script_of(d) != k) break;
            j += m;
        }
        if (chars >= 2) {
            char w[128];
            if (j - i >= sizeof w) return false;
            memcpy(w, turn + i, j - i);
            w[j - i] = '\0';
            if (!strstr(system, w)) return false;
            words++;
        }
        i = j;
    }
    return words > 0;
}

/* The watcher of an answer (second stage): an answer caught in a loop ends there instead of
 * running to max tokens; the row check "repetition" then rejects it as it would have. */
static isynth_err on_watch_answer(void *user, uint64_t id, const char *text, size_t len,
                                  isynth_watch_act *act, size_t *at, isynth_error *err)
{
    (void)err;
    run *r = user;
    inflight *f = find_flying(r, id);
    if (!f) return ISYNTH_OK;
    if (len == 0 || f->rep_scan > len) {
        f->rep_scan = 0;
        return ISYNTH_OK;
    }
    if (looping_since(f, text, len, 0)) {
        *at = len;
        *act = ISYNTH_WATCH_END;
    }
    return ISYNTH_OK;
}

/* A Magpie reply: the user turn is the instruction (its second paragraph, when the first
 * refers to it, the input); it then waits for its answer like a two-stage instruction. */
static isynth_err handle_magpie(run *r, inflight *f, long long req_id, const char *text, size_t len,
                                bool truncated, isynth_error *err)
{
    int idx = 0;
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < f->n_stop && !rc; i++)
        rc = record_stopped(r, req_id, idx++, &f->stop[i], err);
    if (rc || f->lang_ended) return rc;
    size_t b = skip_space(text, 0, len);
    size_t al = answer_line(text, b, len);
    if (al != (size_t)-1) len = al;
    if (label_at(text + b, len - b, answer_labels, sizeof answer_labels / sizeof answer_labels[0]))
        return record_unparseable(r, req_id, idx, text, "an answer, not a user turn", err);
    b = skip_space(text,
                   b + label_at(text + b, len - b, question_labels,
                                sizeof question_labels / sizeof question_labels[0]),
                   len);
    /* a Markdown heading's marks: the title is the request ("# 長方形の面積を求める") */
    while (b < len && text[b] == '#')
        b++;
    b = skip_space(text, b, len);
    size_t e1 = len, b2 = len, e2 = len;
    const char *bl = find_bytes(text + b, len - b, "\n\n", 2);
    if (bl) {
        e1 = (size_t)(bl - text);
        b2 = skip_space(text, e1, len);
        const char *bl2 = find_bytes(text + b2, len - b2, "\n\n", 2);
        if (bl2) e2 = (size_t)(bl2 - text);
    }
    while (e1 > b && (text[e1 - 1] == ' ' || text[e1 - 1] == '\n' || text[e1 - 1] == '\r'))
        e1--;
    if (e1 == b) return record_unparseable(r, req_id, idx, text, "no task found", err);
    if (truncated && !bl && al == (size_t)-1)
        return record_unparseable(r, req_id, idx, text, "truncated", err);
    isynth_task t = {0};
    t.instruction = isynth_strndup(text + b, e1 - b);
    char detail[160];
    bool refers = t.instruction && b2 < len &&
                  isynth_checks_missing_input(t.instruction, "", detail, sizeof detail);
    t.input = refers ? isynth_strndup(text + b2, e2 - b2) : isynth_strdup("");
    t.output = isynth_strdup("");
    if (!t.instruction || !t.input || !t.output) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    } else if (f->pr.system && f->pr.system[0] && magpie_parrot(t.instruction, f->pr.system)) {
        rc = record_rejected_text(r, req_id, idx, t.instruction, "prompt_copy",
                                  "the user turn only says the system message's words", err);
    } else {
        rc = record_candidate(r, req_id, idx, &t, f, err);
    }
    isynth_task_clear(&t);
    return rc;
}

static isynth_err record_stopped(run *r, long long req_id, int idx, const stopped *s,
                                 isynth_error *err)
{
    char detail[192];
    snprintf(detail, sizeof detail, "stopped early%s%s", s->v.detail[0] ? ": " : "", s->v.detail);
    isynth_candidate_rec c = {
        .request_id = req_id,
        .idx = idx,
        .instruction = s->instruction,
        .input = s->input,
        .output = "",
        .dedup_key = s->key ? s->key : "",
        .status = ISYNTH_CAND_REJECTED,
        .reason = s->v.reason,
        .detail = detail,
        .nn_ref = s->v.nn_ref[0] ? s->v.nn_ref : NULL,
        .nn_score = s->v.nn_score,
    };
    isynth_err rc = isynth_store_add_candidate(r->st, &c, NULL, err);
    if (!rc) {
        count_reason(r, s->v.reason);
        r->prog.rejected++;
        r->prog.stopped++;
    }
    return rc;
}

static isynth_err handle_stage1(run *r, inflight *f, long long req_id, const char *text, size_t len,
                                bool truncated, bool constrained, isynth_error *err)
{
    buf full;
    buf_init(&full, BUF_MAX_REPLY);
    isynth_err rc = ISYNTH_OK;
    if (!r->chat) rc = buf_adds(&full, f->pr.parse_prefix);
    if (!rc) rc = buf_add(&full, text, len);
    if (rc) {
        buf_free(&full);
        return buf_error(err, rc, &full, NULL, "the model's reply");
    }
    isynth_parse_params pp = isynth_parse_params_default();
    pp.want_output = !r->two_stage;
    if (r->evol) pp.max_tasks = 1; /* one rewrite a request: what follows is the model going on */
    pp.truncated = truncated;
    isynth_parsed *parsed = NULL;
    if (r->json && constrained) {
        rc = isynth_parse_json_tasks(text, len, &pp, &parsed, err);
        /* a server that took response_format and ignored it answered in text */
        if (!rc && parsed->n == 0 && parsed->n_unparseable == 0) {
            isynth_parsed_free(parsed);
            parsed = NULL;
            rc = isynth_parse_tasks(full.p, full.len, &pp, &parsed, err);
        }
    } else {
        rc = isynth_parse_tasks(full.p, full.len, &pp, &parsed, err);
        /* a server that refused the schema may still have answered in JSON, as asked */
        if (!rc && r->json && parsed->n == 0) {
            isynth_parsed *pj = NULL;
            if (!(rc = isynth_parse_json_tasks(text, len, &pp, &pj, err)) && pj->n > 0) {
                isynth_parsed_free(parsed);
                parsed = pj;
                pj = NULL;
            }
            isynth_parsed_free(pj);
        }
    }
    buf_free(&full);
    if (rc) {
        isynth_parsed_free(parsed);
        return rc;
    }
    int idx = 0;
    for (size_t i = 0; i < parsed->n && !rc; i++)
        rc = record_candidate(r, req_id, idx++, &parsed->tasks[i], f, err);
    for (size_t i = 0; i < parsed->n_unparseable && !rc; i++)
        rc = record_unparseable(r, req_id, idx++, parsed->unparseable_text[i],
                                parsed->unparseable_reasons[i], err);
    if (!rc && parsed->n == 0 && parsed->n_unparseable == 0 && f->n_stop == 0)
        rc = record_unparseable(r, req_id, idx++, text, "no task found", err);
    for (size_t i = 0; i < f->n_stop && !rc; i++)
        rc = record_stopped(r, req_id, idx++, &f->stop[i], err);
    isynth_parsed_free(parsed);
    return rc;
}

/* An accepted rewrite of a round below the last is rewritten again. */
static isynth_err evol_next_round(run *r, const inflight *f, isynth_error *err)
{
    char *parent = NULL, *op = NULL;
    int round = 0;
    isynth_err rc = isynth_store_get_lineage(r->st, f->parent, &parent, &op, &round, err);
    isynth_free(parent);
    isynth_free(op);
    if (rc == ISYNTH_ERR_NOT_FOUND) return ISYNTH_OK;
    if (rc || round >= r->p->rounds) return rc;
    return evq_push(r, f->parent, round, f->answer.instruction, f->answer.input)
               ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
               : ISYNTH_OK;
}

static isynth_err handle_stage2(run *r, inflight *f, const char *text, size_t len, bool truncated,
                                isynth_error *err)
{
    char *norm = NULL;
    size_t nlen = 0;
    isynth_err rc = isynth_normalize_text(text, len, &norm, &nlen, NULL);
    if (rc == ISYNTH_ERR_NOMEM) return isynth_error_set(err, rc, "out of memory");
    const char *reason = NULL;
    size_t chars = norm ? isynth_normalize_utf8_chars(norm, nlen) : 0;
    if (!norm || chars == 0)
        reason = "empty";
    else if (truncated)
        reason = "truncated";
    else if (chars > r->p->filter.max_output_chars)
        reason = "too_long";
    isynth_verdict v = {0};
    if (!reason) {
        isynth_task t = f->answer;
        t.output = norm;
        if ((rc = isynth_filter_check_answer(r->filter, &t, &v, err))) {
            isynth_free(norm);
            return rc;
        }
        reason = v.reason;
    }
    if (!reason && r->prog.accepted >= r->p->target) reason = "over_target";
    char *facts = NULL;
    if (!reason &&
        (rc = isynth_verify_json(r->verifier, norm, nlen, output_lang(norm), &facts, err))) {
        isynth_free(norm);
        return rc;
    }
    rc = isynth_store_finish_candidate(r->st, f->parent, norm ? norm : "",
                                       reason ? ISYNTH_CAND_REJECTED : ISYNTH_CAND_ACCEPTED, reason,
                                       v.detail[0] ? v.detail : NULL, facts, err);
    isynth_free(facts);
    if (!rc) {
        r->prog.pending--;
        if (reason) {
            count_reason(r, reason);
            r->prog.rejected++;
        } else {
            char ref[24];
            snprintf(ref, sizeof ref, "g%lld", f->parent);
            r->prog.accepted++;
            if (pool_add(r, ref, f->answer.instruction, f->answer.input, norm))
                rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
            else
                rc = isynth_filter_add_output(r->filter, ref, norm, err);
            if (!rc && r->evol) rc = evol_next_round(r, f, err);
        }
    }
    isynth_free(norm);
    return rc;
}

/* One finished request: recorded with its candidates in one transaction. An error (the
 * store's, the filters', memory, or 20 failed requests in a row) stops the backend's step and
 * the run with that cause. */
static isynth_err on_result(void *user, const isynth_gen_result *res, isynth_error *err)
{
    run *r = user;
    inflight **pp = &r->flying, *f = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->id == res->id) {
            f = *pp;
            *pp = f->next;
            break;
        }
    if (!f) return ISYNTH_OK;
    r->prog.in_flight--;
    size_t len = 0;
    char *text = utf8_sanitize(res->text ? res->text : "", res->text ? res->len : 0, &len);
    buf prompt;
    buf_init(&prompt, 2 * BUF_MAX_PROMPT); /* the system and user turns, each a prompt */
    /* the examples shown (stage 1), as their refs */
    char refs[16][24];
    const char *refp[16];
    size_t n_refs = f->stage == 1 ? f->k : 0;
    for (size_t i = 0; i < n_refs; i++) {
        example_ref(r, f->ex[i], refs[i], sizeof refs[i]);
        refp[i] = refs[i];
    }
    isynth_err rc = text ? ISYNTH_OK : ISYNTH_ERR_NOMEM;
    if (!rc)
        rc = r->chat && !(r->magpie && f->stage == 1)
                 ? buf_printf(&prompt, "[system]\n%s\n\n[user]\n%s", f->pr.system, f->pr.user)
                 : buf_adds(&prompt, f->pr.completion);
    if (rc == ISYNTH_ERR_TOO_LARGE) {
        isynth_error_set(err, rc,
                         "recording request %llu: its prompt is over the limit of %zu bytes",
                         (unsigned long long)res->id, prompt.max);
        goto done;
    }
    if (rc) {
        isynth_error_set(err, rc, "recording request %llu: %s", (unsigned long long)res->id,
                         isynth_strerror(rc));
        goto done;
    }
    bool ok = res->status == ISYNTH_OK;
    isynth_request_rec rec = {
        .stage = f->stage,
        .status = ok ? ISYNTH_REQ_DONE : ISYNTH_REQ_FAILED,
        .examples = refp,
        .n_examples = n_refs,
        .parent = f->parent,
        .prompt = prompt.p,
        .response = text,
        .response_len = len,
        .error = ok ? NULL : (res->error ? res->error : isynth_strerror(res->status)),
        .truncated = res->truncated,
        .prompt_tokens = res->prompt_tokens,
        .completion_tokens = res->completion_tokens,
        .retries = res->retries,
        .seconds = res->seconds,
        .server = res->server,
    };
    long long req_id = 0;
    long kept0 = r->prog.accepted + r->prog.pending, all0 = kept0 + r->prog.rejected;
    if ((rc = isynth_store_begin(r->st, err))) goto done;
    rc = isynth_store_add_request(r->st, &rec, &req_id, err);
    if (!rc && ok && f->stage == 1 && r->magpie)
        rc = handle_magpie(r, f, req_id, text, len, res->truncated, err);
    else if (!rc && ok && f->stage == 1)
        rc = handle_stage1(r, f, req_id, text, len, res->truncated, res->constrained, err);
    else if (!rc && ok && f->stage == 2)
        rc = handle_stage2(r, f, text, len, res->truncated, err);
    if (rc) {
        isynth_store_rollback(r->st);
        goto done;
    }
    if ((rc = isynth_store_commit(r->st, err))) goto done;
    r->prog.requests++;
    r->prog.completion_tokens += res->completion_tokens;
    r->prog.run_prompt_tokens += res->prompt_tokens;
    r->prog.run_completion_tokens += res->completion_tokens;
    r->prog.cost = run_cost(r);
    if (ok && f->stage == 1) {
        long kept = r->prog.accepted + r->prog.pending;
        window_push(r, kept + r->prog.rejected - all0, kept - kept0);
    }
    if (ok) {
        r->consecutive_failures = 0;
    } else {
        r->prog.failed++;
        r->consecutive_failures++;
        if (f->stage == 2 && stage2_push(r, f->parent))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        /* a rewrite of an accepted row that failed goes back to wait for its round */
        else if (f->stage == 1 && r->evol && f->parent_ref[0] == 'g' &&
                 evq_push(r, strtoll(f->parent_ref + 1, NULL, 10), f->round - 1,
                          f->answer.instruction, f->answer.input))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        else if (r->consecutive_failures >= 20)
            rc = isynth_error_set(err, ISYNTH_ERR_BACKEND,
                                  "%ld requests in a row failed; the last: %s",
                                  r->consecutive_failures, rec.error);
    }
done:
    buf_free(&prompt);
    isynth_free(text);
    inflight_free(f);
    if (r->p->progress && !rc) {
        r->prog.elapsed = isynth_now() - r->t0;
        r->p->progress(r->p->progress_user, &r->prog);
    }
    return rc;
}

static bool want_more_stage1(run *r)
{
    long need = r->p->target - r->prog.accepted - r->prog.pending;
    if (need <= 0) return false;
    long flying1 = 0;
    for (inflight *f = r->flying; f; f = f->next)
        flying1 += f->stage == 1;
    /* assume about half the tasks asked for survive the filters */
    return flying1 * (r->p->n_new > 1 ? r->p->n_new : 1) < 2 * need;
}

static isynth_err loop(run *r, isynth_error *err)
{
    long max_req = r->p->max_requests > 0 ? r->p->max_requests : 30 * r->p->target + 30;
    isynth_err rc = ISYNTH_OK;
    for (;;) {
        if (r->p->stop && *r->p->stop)
            return isynth_error_set(err, ISYNTH_ERR_CANCELLED, "interrupted");
        while (isynth_backend_capacity(r->be) > 0) {
            isynth_gen_end spent = budget_spent(r);
            if (spent) {
                r->end = spent;
                break;
            }
            if (r->n_stage2 > 0 && r->prog.accepted < r->p->target) {
                rc = submit_stage2(r, err);
            } else if (want_more_stage1(r) && r->prog.requests + r->prog.in_flight < max_req) {
                if (yield_too_low(r)) {
                    r->end = ISYNTH_END_LOW_YIELD;
                    break;
                }
                rc = submit_stage1(r, err);
            } else {
                break;
            }
            if (rc) return rc;
        }
        if (isynth_backend_in_flight(r->be) == 0) break;
        if ((rc = isynth_backend_step(r->be, on_result, r, err))) return rc;
    }
    if (r->prog.accepted >= r->p->target)
        r->prog.end = ISYNTH_END_TARGET;
    else if (r->end)
        r->prog.end = r->end;
    else
        r->prog.end = ISYNTH_END_MAX_REQUESTS;
    return ISYNTH_OK;
}

static void run_free(run *r)
{
    while (r->flying) {
        inflight *f = r->flying;
        r->flying = f->next;
        inflight_free(f);
    }
    for (size_t i = 0; i < r->n_pool; i++)
        isynth_task_clear(&r->pool[i].t);
    isynth_free(r->pool);
    isynth_free(r->stage2);
    for (size_t i = 0; i < r->n_evq; i++)
        isynth_task_clear(&r->evq[i].t);
    isynth_free(r->evq);
    isynth_free(r->win);
    isynth_free(r->grammar);
    isynth_free(r->schema);
    isynth_filter_free(r->filter);
    isynth_verifier_free(r->verifier);
    isynth_seeds_free(r->own_seeds);
    isynth_store_close(r->st);
}

isynth_err isynth_generate(const isynth_gen_params *p, isynth_backend *backend,
                           isynth_progress *last, isynth_error *err)
{
    run r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.be = backend;
    r.t0 = isynth_now();
    r.prog.target = p->target;
    r.prog.reasons = r.reasons;
    r.prog.reason_counts = r.reason_counts;
    if (p->target < 1)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "the target (-n) must be at least 1");
    if (p->max_cost > 0 && p->price_in <= 0 && p->price_out <= 0)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "a cost budget needs a price (--price-in or --price-out)");
    if (p->min_yield > 0 && (p->yield_window < 1 || p->yield_window > 100000))
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "the yield window must be 1 to 100000 requests");

    isynth_err rc = ISYNTH_OK;
    if (p->seeds) {
        if (!p->seeds->n || !p->seeds->tasks)
            return isynth_error_set(err, ISYNTH_ERR_INVALID, "the seed set holds no task");
        r.seeds = p->seeds;
    } else {
        isynth_seeds_params sp = isynth_seeds_params_default();
        sp.map = p->seeds_map;
        if ((rc = isynth_seeds_load(p->seeds_path, &sp, &r.own_seeds, err))) return rc;
        r.seeds = r.own_seeds;
    }
    isynth_backend_info bi;
    isynth_backend_info_get(backend, &bi);
    r.chat = p->format == ISYNTH_FORMAT_CHAT ||
             (p->format == ISYNTH_FORMAT_AUTO && bi.has_chat_template);
    r.pp = isynth_prompt_params_default();
    r.pp.lang = r.seeds->lang;
    r.pp.template_text = p->template_text;
    r.pp.n_new = p->n_new;
    r.magpie = p->method == ISYNTH_METHOD_MAGPIE;
    r.evol = p->method == ISYNTH_METHOD_EVOL;
    r.two_stage = p->two_stage || r.magpie || r.evol;
    if (r.evol && (p->rounds < 1 || p->rounds > 100)) {
        rc = isynth_error_set(err, ISYNTH_ERR_INVALID, "--rounds must be 1 to 100");
        goto out;
    }
    if (r.evol && p->template_text) {
        rc = isynth_error_set(err, ISYNTH_ERR_INVALID,
                              "Evol-Instruct takes no --template: its prompts are the operations'");
        goto out;
    }
    r.pp.two_stage = r.two_stage;
    if (r.magpie) {
        if (p->template_text) {
            rc = isynth_error_set(err, ISYNTH_ERR_INVALID,
                                  "Magpie takes no --template: its prompt is the chat template's "
                                  "user turn (steer it with --magpie-system)");
            goto out;
        }
        if (!bi.chat_template) {
            rc = isynth_error_set(err, ISYNTH_ERR_INVALID,
                                  "Magpie needs the model's chat template: %s",
                                  bi.kind && !strcmp(bi.kind, "openai")
                                      ? "give the served model's with --chat-template"
                                      : "this model file has none");
            goto out;
        }
        r.chat_tmpl = bi.chat_template;
        /* the template must open a user turn before the first request is due */
        char *probe = NULL;
        isynth_msg sys = {"system", "s"};
        if ((rc = isynth_chat_user_prefix(r.chat_tmpl, &sys, 1, &probe, err))) goto out;
        isynth_free(probe);
    }
    /* the reply's format: a grammar for the embedded backend, a JSON schema for servers */
    bool http = bi.kind && !strcmp(bi.kind, "openai");
    r.rewinds = bi.rewinds;
    if (p->constrain && !p->template_text && !r.magpie && !r.evol && (!http || p->json_schema)) {
        r.json = http;
        r.pp.json_reply = http;
        rc = http ? isynth_prompt_json_schema(&r.pp, &r.schema, err)
                  : isynth_prompt_grammar(&r.pp, !r.chat, &r.grammar, err);
        if (rc) goto out;
    }
    {
        isynth_prompt_labels lb;
        isynth_prompt_labels_get(r.pp.lang, &lb);
        snprintf(r.out_label, sizeof r.out_label, "\n%s:", lb.output);
        snprintf(r.field_label[0], sizeof r.field_label[0], "\n%s: ", lb.instruction);
        snprintf(r.field_label[1], sizeof r.field_label[1], "\n%s: ", lb.input);
        snprintf(r.field_label[2], sizeof r.field_label[2], "\n%s: ", lb.output);
        snprintf(r.task_label, sizeof r.task_label, "\n\n%s", lb.task);
    }
    isynth_filter_params fp = p->filter;
    fp.lang = r.seeds->lang;
    fp.check_output = !r.two_stage;
    fp.template_text = p->template_text;
    if ((rc = isynth_store_open(p->out_dir, ISYNTH_STORE_CREATE, &r.st, err)) ||
        (rc = check_config(&r, err)) || (rc = isynth_store_put_seeds(r.st, r.seeds, err)) ||
        (rc = isynth_filter_new(&fp, &r.filter, err)) ||
        (rc = isynth_verifier_new(NULL, &r.verifier, err)))
        goto out;
    for (size_t i = 0; i < r.seeds->n; i++) {
        char ref[24];
        snprintf(ref, sizeof ref, "s%zu", i + 1);
        if ((rc = isynth_filter_add(r.filter, ref, &r.seeds->tasks[i], err))) goto out;
    }
    if ((rc = add_prompt_lines(&r, err))) goto out;
    if (p->min_yield > 0) {
        if (!(r.win = isynth_calloc((size_t)p->yield_window, sizeof *r.win))) {
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
            goto out;
        }
        r.win_cap = (size_t)p->yield_window;
    }
    if ((rc = isynth_store_each_candidate(r.st, ISYNTH_CAND_ACCEPTED, load_accepted, &r, err)) ||
        (rc = isynth_store_each_candidate(r.st, ISYNTH_CAND_PENDING, load_pending, &r, err)) ||
        (r.evol &&
         (rc = isynth_store_each_evol_frontier(r.st, p->rounds, load_frontier, &r, err))) ||
        (rc = load_counts(&r, err)))
        goto out;
    r.rng = p->seed ^ ((uint64_t)r.prog.requests * 0x9E3779B97F4A7C15ull);
    splitmix(&r.rng);
    rc = loop(&r, err);
    if (!rc || rc == ISYNTH_ERR_CANCELLED) {
        isynth_error ex_err;
        isynth_err erc = isynth_export_run(r.st, &ex_err);
        if (erc) {
            if (err) *err = ex_err;
            rc = erc;
        }
    }
out:
    if (last) {
        r.prog.elapsed = isynth_now() - r.t0;
        r.prog.in_flight = 0;
        *last = r.prog;
        last->reasons = NULL;
        last->reason_counts = NULL;
        last->n_reasons = 0;
    }
    run_free(&r);
    return rc;
}
