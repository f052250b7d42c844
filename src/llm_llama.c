/* Embedded llama.cpp backend with continuous batching: up to `parallel` sequences share one
 * llama_batch per decode; a slot that finishes takes the next request at once. The shared
 * head of every Self-Instruct prompt (system message and instructions) is decoded once into
 * a prefix sequence and copied into each slot's KV stream instead of being decoded again.
 * Each request has its own sampler chain; a request with a GBNF grammar gets llama.cpp's
 * grammar sampler at the head of its chain, so it can only produce text the grammar allows.
 * A request with a watcher can have the tail of its reply cut while it is decoded: the slot
 * keeps every generated token with the text length after it, so a cut removes the tokens from
 * the KV cache, rebuilds the sampler (the grammar re-reads the kept tokens) and samples on.
 *
 * Fair under contention: llama.cpp's worker threads spin at every barrier of a forward pass,
 * so when another CPU-heavy process takes a core, the thread left waiting burns its share for
 * nothing and generation falls far below a fair share. The backend times its generation steps
 * with all threads and, now and then, with one (which has no barrier), and keeps the faster:
 * alone on the machine that is all threads, beside other work it is often one. */
#include "isynth/backend.h"
#include "internal.h"

#include <llama.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum slot_state { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN, SLOT_FAILED };

typedef struct slot {
    enum slot_state state;
    uint64_t id;
    llama_token *prompt;
    int n_prompt;
    int n_fed;     /* prompt tokens in the KV cache */
    int n_gen;     /* generated tokens kept (the reply so far) */
    int n_decoded; /* generated tokens in all, cut ones included */
    int max_tokens;
    llama_token *gen; /* the kept tokens, and the reply's length in bytes after each */
    size_t *gen_end;
    int cap_gen;
    int cuts;
    llama_token ban; /* the token the last cut text began with, barred from the next draw */
    /* what a cut needs to rebuild the sampler */
    char *grammar;
    float temperature, top_p;
    uint64_t seed;
    isynth_watch_fn watch;
    void *watch_user;
    bool ignore_eog;
    bool constrained; /* sampling under the request's grammar */
    int i_batch;      /* index of this slot's logits in the last batch, or -1 */
    llama_token next;
    struct llama_sampler *smpl;  /* top-k, top-p, temperature, draw */
    struct llama_sampler *gsmpl; /* the request's grammar, or NULL */
    buf out;
    double t0;
    const char *fail_msg;
    char fail_buf[256];
} slot;

typedef struct llama_impl {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_batch batch;
    int n_batch;
    int parallel;
    int n_ctx_seq;
    slot *slots;
    bool reuse_prefix;
    llama_seq_id prefix_seq;
    llama_token *prefix; /* tokens held by prefix_seq */
    int n_prefix;
    char *path;
    char name[256];
    char license[128];
    bool has_template;
    const char *tmpl;
    isynth_backend_stats stats;
    double busy_since;
    long reused_tokens;
    /* thread count control: cost[0] with one thread, cost[1] with all (seconds per generated
       token of full generation steps, moving averages); `use` is the setting in use */
    int n_threads;
    bool adapt_threads;
    int use, best, steps, since_probe, probe_every;
    double cost[2];
    bool known[2];
    long thread_switches;
    llama_token_data *cand; /* the vocabulary's candidates, for sampling under a grammar */
    long grammar_redraws, grammar_full; /* draws the grammar refused; of which over the vocab */
    int n_vocab;
} llama_impl;

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)level;
    (void)text;
    (void)user;
}

isynth_llama_params isynth_llama_params_default(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return (isynth_llama_params){
        .model_path = NULL,
        .parallel = 4,
        .n_ctx_per_seq = 2048,
        .n_threads = cpus > 0 ? (int)cpus : 2,
        .n_batch = 512,
        .reuse_prefix = true,
        .quiet = true,
        .adapt_threads = true,
    };
}

static size_t l_in_flight(void *p)
{
    llama_impl *m = p;
    size_t n = 0;
    for (int i = 0; i < m->parallel; i++)
        n += m->slots[i].state != SLOT_IDLE;
    return n;
}

static size_t l_capacity(void *p)
{
    llama_impl *m = p;
    return (size_t)m->parallel - l_in_flight(p);
}

static void slot_reset(llama_impl *m, slot *s)
{
    if (s->state != SLOT_IDLE)
        llama_memory_seq_rm(llama_get_memory(m->ctx), (llama_seq_id)(s - m->slots), -1, -1);
    isynth_free(s->prompt);
    s->prompt = NULL;
    isynth_free(s->grammar);
    s->grammar = NULL;
    s->watch = NULL;
    if (s->smpl) llama_sampler_free(s->smpl);
    if (s->gsmpl) llama_sampler_free(s->gsmpl);
    s->smpl = s->gsmpl = NULL;
    buf_reset(&s->out);
    s->state = SLOT_IDLE;
    s->i_batch = -1;
}

static isynth_err render_prompt(llama_impl *m, const isynth_gen_req *req, buf *text,
                                isynth_error *err)
{
    if (!req->chat) {
        isynth_err rc = buf_adds(text, req->prompt ? req->prompt : "");
        return rc ? buf_error(err, rc, text, NULL, "the prompt") : ISYNTH_OK;
    }
    if (!m->tmpl)
        return isynth_error_set(err, ISYNTH_ERR_MODEL,
                                "%s: the model has no chat template; use --prompt-format "
                                "completion",
                                m->path);
    struct llama_chat_message *msgs = isynth_calloc(req->n_msgs, sizeof *msgs);
    if (!msgs) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < req->n_msgs; i++) {
        msgs[i].role = req->msgs[i].role;
        msgs[i].content = req->msgs[i].content;
        total += strlen(req->msgs[i].content);
    }
    isynth_err rc = ISYNTH_OK;
    size_t want = 2 * total + 1024; /* a first guess, within the buffer's cap */
    int32_t cap = (int32_t)(want < text->max ? want : text->max);
    for (int attempt = 0; attempt < 2; attempt++) {
        buf_reset(text);
        if ((rc = buf_reserve(text, (size_t)cap))) {
            rc = buf_error(err, rc, text, NULL, "the prompt");
            break;
        }
        int32_t n = llama_chat_apply_template(m->tmpl, msgs, req->n_msgs, true, text->p, cap);
        if (n < 0) {
            rc = isynth_error_set(err, ISYNTH_ERR_MODEL,
                                  "%s: llama.cpp does not support this model's chat template; "
                                  "use --prompt-format completion",
                                  m->path);
            break;
        }
        if (n <= cap) {
            text->len = (size_t)n;
            text->p[n] = '\0';
            rc = ISYNTH_OK;
            break;
        }
        cap = n;
    }
    isynth_free(msgs);
    return rc;
}

/* The marker stands for the user's message; the prefix ends where it starts. Templates that
 * trim or rewrite a message leave a marker of letters alone. */
#define USER_MARK "ISYNTHUSERTURNMARK"

isynth_err isynth_chat_user_prefix(const char *tmpl, const isynth_msg *msgs, size_t n_msgs,
                                   char **out, isynth_error *err)
{
    *out = NULL;
    if (!tmpl || !*tmpl)
        return isynth_error_set(err, ISYNTH_ERR_MODEL, "no chat template to open a user turn with");
    if (n_msgs > 8) return isynth_error_set(err, ISYNTH_ERR_INVALID, "too many messages");
    struct llama_chat_message cm[9];
    size_t total = sizeof USER_MARK;
    for (size_t i = 0; i < n_msgs; i++) {
        cm[i].role = msgs[i].role;
        cm[i].content = msgs[i].content;
        total += strlen(msgs[i].content);
    }
    cm[n_msgs].role = "user";
    cm[n_msgs].content = USER_MARK;
    int32_t cap = (int32_t)(2 * total + 1024);
    for (int attempt = 0; attempt < 2; attempt++) {
        char *text = isynth_malloc((size_t)cap + 1);
        if (!text) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        int32_t n = llama_chat_apply_template(tmpl, cm, n_msgs + 1, false, text, cap);
        if (n < 0) {
            isynth_free(text);
            return isynth_error_set(err, ISYNTH_ERR_MODEL,
                                    "llama.cpp does not support this chat template");
        }
        if (n > cap) {
            isynth_free(text);
            cap = n;
            continue;
        }
        text[n] = '\0';
        char *mark = strstr(text, USER_MARK);
        if (!mark || mark == text) {
            isynth_free(text);
            return isynth_error_set(err, ISYNTH_ERR_MODEL,
                                    "the chat template has no user turn to open");
        }
        *mark = '\0';
        *out = text;
        return ISYNTH_OK;
    }
    return isynth_error_set(err, ISYNTH_ERR_MODEL, "the chat template's output keeps growing");
}

static isynth_err tokenize(llama_impl *m, const char *text, size_t len, bool chat,
                           llama_token **out, int *n, isynth_error *err)
{
    int cap = (int)len + 16;
    llama_token *t = isynth_malloc((size_t)cap * sizeof *t);
    if (!t) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    int r = llama_tokenize(m->vocab, text, (int32_t)len, t, cap, true, chat);
    if (r < 0) {
        isynth_free(t);
        return isynth_error_set(err, ISYNTH_ERR_MODEL, "tokenization failed");
    }
    *out = t;
    *n = r;
    return ISYNTH_OK;
}

/* The request's grammar sampler into *out (NULL without a grammar); ISYNTH_ERR_MODEL when
 * llama.cpp rejects the grammar (a syntax error, an undefined rule or no "root" rule). */
static isynth_err make_grammar(llama_impl *m, const slot *s, struct llama_sampler **out)
{
    *out = NULL;
    if (!s->grammar) return ISYNTH_OK;
    *out = llama_sampler_init_grammar(m->vocab, s->grammar, "root");
    return *out ? ISYNTH_OK : ISYNTH_ERR_MODEL;
}

/* Builds the request's sampler chain into *out: top-k, top-p, temperature and the draw (the
 * grammar is a sampler of its own: see sample()). ISYNTH_ERR_NOMEM when it cannot be made. */
static isynth_err make_sampler(llama_impl *m, const slot *s, struct llama_sampler **out)
{
    *out = NULL;
    struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();
    sp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(sp);
    if (!c) return ISYNTH_ERR_NOMEM;
    (void)m;
    if (s->temperature <= 0) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
        *out = c;
        return ISYNTH_OK;
    }
    llama_sampler_chain_add(c, llama_sampler_init_top_k(40));
    llama_sampler_chain_add(c, llama_sampler_init_top_p(s->top_p > 0 ? s->top_p : 1.0f, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp(s->temperature));
    /* a cut samples again with another stream, or it would write the same text again */
    uint64_t seed = s->seed + (uint64_t)s->cuts * 0x9E3779B97F4A7C15ull;
    llama_sampler_chain_add(c, llama_sampler_init_dist((uint32_t)(seed ^ (seed >> 32))));
    *out = c;
    return ISYNTH_OK;
}

/* Reuses the cached prompt head for slot s: returns how many prompt tokens are already in its
 * KV cache after the copy. */
static int reuse_prefix(llama_impl *m, slot *s)
{
    if (!m->reuse_prefix || m->n_prefix == 0) return 0;
    int l = 0;
    while (l < m->n_prefix && l < s->n_prompt - 1 && m->prefix[l] == s->prompt[l])
        l++;
    if (l < 16)
        return 0; /* another kind of prompt (a two-stage answer): keep the cache for the rest */
    llama_memory_t mem = llama_get_memory(m->ctx);
    if (l < m->n_prefix) {
        /* keep only the part all prompts share */
        if (!llama_memory_seq_rm(mem, m->prefix_seq, l, -1)) {
            llama_memory_seq_rm(mem, m->prefix_seq, -1, -1);
            m->n_prefix = 0;
            return 0;
        }
        m->n_prefix = l;
    }
    /* each sequence has its own KV stream: the whole prefix stream is copied (a memcpy done at
     * the next decode), which costs far less than decoding the tokens again */
    llama_memory_seq_cp(mem, m->prefix_seq, (llama_seq_id)(s - m->slots), -1, -1);
    m->reused_tokens += l;
    return l;
}

static isynth_err l_submit(void *p, const isynth_gen_req *req, isynth_error *err)
{
    llama_impl *m = p;
    slot *s = NULL;
    for (int i = 0; i < m->parallel && !s; i++)
        if (m->slots[i].state == SLOT_IDLE) s = &m->slots[i];
    if (!s) return isynth_error_set(err, ISYNTH_ERR_INVALID, "no free slot: submit past capacity");
    buf text;
    buf_init(&text, BUF_MAX_PROMPT);
    isynth_err rc = render_prompt(m, req, &text, err);
    if (!rc)
        rc = tokenize(m, text.p ? text.p : "", text.len, req->chat || req->raw, &s->prompt,
                      &s->n_prompt, err);
    buf_free(&text);
    if (rc) return rc;
    if (l_in_flight(m) == 0) m->busy_since = isynth_now();
    s->id = req->id;
    s->t0 = isynth_now();
    s->n_gen = 0;
    s->n_decoded = 0;
    s->cuts = 0;
    s->ban = -1;
    s->max_tokens = req->max_tokens > 0 ? req->max_tokens : 512;
    s->temperature = req->temperature;
    s->top_p = req->top_p;
    s->seed = req->seed;
    s->watch = req->watch;
    s->watch_user = req->watch_user;
    if (s->cap_gen < s->max_tokens) {
        if (ARRAY_RESIZE(s->gen, (size_t)s->max_tokens) ||
            ARRAY_RESIZE(s->gen_end, (size_t)s->max_tokens)) {
            isynth_free(s->prompt);
            s->prompt = NULL;
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
        s->cap_gen = s->max_tokens;
    }
    if (req->grammar && *req->grammar && !(s->grammar = isynth_strdup(req->grammar))) {
        isynth_free(s->prompt);
        s->prompt = NULL;
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    s->ignore_eog = req->ignore_eog;
    s->i_batch = -1;
    s->fail_msg = NULL;
    s->constrained = false;
    m->stats.requests++;
    if (s->n_prompt + s->max_tokens > m->n_ctx_seq) {
        snprintf(s->fail_buf, sizeof s->fail_buf,
                 "prompt of %d tokens plus %d to generate exceeds the context of %d per "
                 "sequence",
                 s->n_prompt, s->max_tokens, m->n_ctx_seq);
        s->fail_msg = s->fail_buf;
        s->state = SLOT_FAILED;
        return ISYNTH_OK;
    }
    rc = make_grammar(m, s, &s->gsmpl);
    if (!rc) rc = make_sampler(m, s, &s->smpl);
    if (rc == ISYNTH_ERR_MODEL) {
        /* the same grammar would fail every request: report it on this one, with its cause */
        snprintf(s->fail_buf, sizeof s->fail_buf,
                 "llama.cpp rejected the request's GBNF grammar (a syntax error, an undefined "
                 "rule or no \"root\" rule; llama.cpp prints where on standard error)");
        s->fail_msg = s->fail_buf;
        s->state = SLOT_FAILED;
        return ISYNTH_OK;
    }
    if (rc) {
        isynth_free(s->prompt);
        s->prompt = NULL;
        isynth_free(s->grammar);
        s->grammar = NULL;
        m->stats.requests--;
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    s->constrained = s->grammar != NULL;
    s->n_fed = reuse_prefix(m, s);
    s->state = SLOT_PROMPT;
    return ISYNTH_OK;
}

static void batch_add(struct llama_batch *b, llama_token t, llama_pos pos, llama_seq_id seq,
                      bool logits)
{
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
}

/* Reports slot s's request to cb and frees the slot; cb's error is returned. */
static isynth_err finish(llama_impl *m, slot *s, isynth_err status, const char *msg, bool truncated,
                         isynth_gen_cb cb, void *user, isynth_error *err)
{
    isynth_gen_result r = {
        .id = s->id,
        .status = status,
        .text = s->out.p ? s->out.p : "",
        .len = s->out.len,
        .error = msg,
        .truncated = truncated,
        .prompt_tokens = s->n_prompt,
        .completion_tokens = s->n_decoded,
        .seconds = isynth_now() - s->t0,
        .constrained = s->constrained,
    };
    m->stats.prompt_tokens += s->n_prompt;
    m->stats.completion_tokens += s->n_decoded;
    if (status) m->stats.failures++;
    isynth_err rc = cb(user, &r, err); /* r.text points into the slot: report first */
    slot_reset(m, s);
    if (l_in_flight(m) == 0) m->stats.busy_seconds += isynth_now() - m->busy_since;
    return rc;
}

/* A callback or a watcher failed with rc: every request still in flight is dropped (its
 * sequence removed from the KV cache) and rc is returned for step() to give back. */
static isynth_err drop_all(llama_impl *m, isynth_err rc)
{
    bool busy = l_in_flight(m) > 0;
    for (int i = 0; i < m->parallel; i++)
        slot_reset(m, &m->slots[i]);
    if (busy) m->stats.busy_seconds += isynth_now() - m->busy_since;
    return rc;
}

static void fill_candidates(llama_impl *m, const slot *s, const float *logits,
                            llama_token_data_array *a)
{
    for (int i = 0; i < m->n_vocab; i++)
        m->cand[i] = (llama_token_data){i, logits[i], 0.0f};
    if (s->ban >= 0 && s->ban < m->n_vocab) m->cand[s->ban].logit = -INFINITY;
    *a = (llama_token_data_array){m->cand, (size_t)m->n_vocab, -1, false};
}

/* Applies the samplers of chain c from index `from` on. */
static void apply_from(struct llama_sampler *c, int from, llama_token_data_array *a)
{
    for (int i = from; i < llama_sampler_chain_n(c); i++)
        llama_sampler_apply(llama_sampler_chain_get(c, i), a);
}

static bool allowed(struct llama_sampler *g, llama_token t)
{
    llama_token_data one = {t, 1.0f, 0.0f};
    llama_token_data_array a1 = {&one, 1, -1, false};
    llama_sampler_apply(g, &a1);
    return !(isinf(one.logit) && one.logit < 0);
}

/* Samples slot s's next token. Under a grammar, as llama.cpp's own common sampler does: draw
 * from the free distribution first and keep the token when the grammar allows it (checking one
 * token is cheap). When it does not, the grammar masks the top-k candidates the draw was made
 * from and the draw is made again among those it allows; only when it allows none of them is
 * the whole vocabulary masked (150k checks) before drawing. Either way the token is one the
 * grammar allows. The first draw after a cut may not be the token the cut text started with
 * (s->ban). */
static llama_token sample(llama_impl *m, slot *s)
{
    if (!s->gsmpl && s->ban < 0) return llama_sampler_sample(s->smpl, m->ctx, s->i_batch);
    const float *logits = llama_get_logits_ith(m->ctx, s->i_batch);
    llama_token_data_array a;
    fill_candidates(m, s, logits, &a);
    /* the chain is top-k, top-p, temperature, draw (or greedy alone): keep the top-k */
    bool topk = llama_sampler_chain_n(s->smpl) > 1;
    enum { KEEP = 64 };
    llama_token_data keep[KEEP];
    size_t n_keep = 0;
    if (topk) {
        llama_sampler_apply(llama_sampler_chain_get(s->smpl, 0), &a);
        n_keep = a.size < KEEP ? a.size : KEEP;
        memcpy(keep, a.data, n_keep * sizeof *keep);
        apply_from(s->smpl, 1, &a);
    } else {
        llama_sampler_apply(s->smpl, &a);
    }
    llama_token t = a.data[a.selected].id;
    if (s->gsmpl && !allowed(s->gsmpl, t)) {
        m->grammar_redraws++;
        llama_token_data_array k = {keep, n_keep, -1, false};
        llama_sampler_apply(s->gsmpl, &k);
        size_t ok = 0;
        for (size_t i = 0; i < k.size; i++)
            ok += !(isinf(k.data[i].logit) && k.data[i].logit < 0);
        if (ok) {
            apply_from(s->smpl, 1, &k);
            t = k.data[k.selected].id;
        } else {
            m->grammar_full++;
            fill_candidates(m, s, logits, &a);
            llama_sampler_apply(s->gsmpl, &a);
            llama_sampler_apply(s->smpl, &a);
            t = a.data[a.selected].id;
        }
        a = k.size && ok ? k : a;
    }
    if (s->ban >= 0 && isinf(a.data[a.selected].logit)) {
        /* the barred token was the only one the grammar allowed: draw without the bar */
        s->ban = -1;
        return sample(m, s);
    }
    if (s->gsmpl) llama_sampler_accept(s->gsmpl, t);
    llama_sampler_accept(s->smpl, t);
    s->ban = -1;
    return t;
}

static void set_threads(llama_impl *m, int use)
{
    int n = use ? m->n_threads : 1;
    llama_set_n_threads(m->ctx, n, n);
    if (use != m->use) m->thread_switches++;
    m->use = use;
    m->steps = 0;
}

/* One timed generation step of `per_token` seconds a token with the threads in use. The first
 * step after a switch is not counted (the threads wake up). After probe_every steps on the
 * better setting, 6 steps probe the other; then the cheaper one is kept. A probe that changes
 * nothing doubles the interval (up to 1,024 steps, so a machine that stays quiet pays well under
 * 1% for the probes); one that changes the setting brings it back to 64. */
static void adapt_threads(llama_impl *m, double per_token)
{
    if (m->steps++ == 0) return;
    int u = m->use;
    m->cost[u] = m->known[u] ? 0.7 * m->cost[u] + 0.3 * per_token : per_token;
    m->known[u] = true;
    if (u == m->best) {
        if (++m->since_probe >= (m->known[!u] ? m->probe_every : 16)) set_threads(m, !u);
        return;
    }
    if (m->steps < 7) return;
    int best = m->known[0] && m->cost[0] < m->cost[1] ? 0 : 1;
    m->probe_every = best == m->best ? (m->probe_every < 512 ? 2 * m->probe_every : 1024) : 64;
    m->best = best;
    m->since_probe = 0;
    set_threads(m, m->best);
}

/* Drops the reply from byte `at` on: keeps the tokens that end at or before it, removes the
 * rest from the slot's KV stream, and rebuilds the sampler with the kept tokens accepted (the
 * grammar's state). The last kept token (or the prompt's last) is decoded again to get the
 * logits to sample from. False when the sampler cannot be rebuilt. */
static bool cut(llama_impl *m, slot *s, size_t at)
{
    int k = s->n_gen, had = s->n_gen;
    while (k > 0 && s->gen_end[k - 1] > at)
        k--;
    llama_seq_id seq = (llama_seq_id)(s - m->slots);
    llama_memory_seq_rm(llama_get_memory(m->ctx), seq, s->n_prompt + k - 1, -1);
    s->n_gen = k;
    s->out.len = k ? s->gen_end[k - 1] : 0;
    if (s->out.p) s->out.p[s->out.len] = '\0';
    s->next = k ? s->gen[k - 1] : s->prompt[s->n_prompt - 1];
    /* the same context would draw the same first token, and often the same dropped text */
    s->ban = k < had ? s->gen[k] : -1;
    s->cuts++;
    struct llama_sampler *smpl, *g;
    if (make_sampler(m, s, &smpl)) return false;
    if (make_grammar(m, s, &g)) {
        llama_sampler_free(smpl);
        return false;
    }
    for (int i = 0; i < k && g; i++)
        llama_sampler_accept(g, s->gen[i]);
    llama_sampler_free(s->smpl);
    if (s->gsmpl) llama_sampler_free(s->gsmpl);
    s->smpl = smpl;
    s->gsmpl = g;
    return true;
}

static isynth_err l_step(void *p, isynth_gen_cb cb, void *user, isynth_error *err)
{
    llama_impl *m = p;
    struct llama_batch *b = &m->batch;
    b->n_tokens = 0;
    /* A step either feeds prompts or generates, never both: with one KV stream per sequence,
     * llama.cpp splits a mixed batch into one forward pass for the single tokens and another for
     * the prompt chunk, and the extra pass costs as much as a whole generation step. */
    bool prefill = false;
    for (int i = 0; i < m->parallel; i++)
        prefill |= m->slots[i].state == SLOT_PROMPT;
    for (int i = 0; i < m->parallel; i++) {
        slot *s = &m->slots[i];
        s->i_batch = -1;
        if (s->state == SLOT_FAILED) {
            isynth_err rc = finish(m, s, ISYNTH_ERR_BACKEND, s->fail_msg, false, cb, user, err);
            if (rc) return drop_all(m, rc);
        } else if (s->state == SLOT_GEN && !prefill) {
            s->i_batch = b->n_tokens;
            batch_add(b, s->next, s->n_prompt + s->n_gen - 1, i, true);
        }
    }
    for (int i = 0; i < m->parallel && b->n_tokens < m->n_batch; i++) {
        slot *s = &m->slots[i];
        if (s->state != SLOT_PROMPT) continue;
        while (s->n_fed < s->n_prompt && b->n_tokens < m->n_batch) {
            bool last = s->n_fed == s->n_prompt - 1;
            if (last) s->i_batch = b->n_tokens;
            batch_add(b, s->prompt[s->n_fed], s->n_fed, i, last);
            s->n_fed++;
        }
    }
    if (b->n_tokens == 0) return ISYNTH_OK;
    bool timed = !prefill && b->n_tokens == m->parallel && m->adapt_threads && m->n_threads > 1;
    double t_dec = timed ? isynth_now() : 0;
    int32_t r = llama_decode(m->ctx, *b);
    if (timed && r == 0) adapt_threads(m, (isynth_now() - t_dec) / b->n_tokens);
    if (r != 0)
        return isynth_error_set(err, ISYNTH_ERR_BACKEND, "llama_decode failed (%d)%s", (int)r,
                                r == 1 ? ": KV cache full" : "");
    for (int i = 0; i < m->parallel; i++) {
        slot *s = &m->slots[i];
        if (s->i_batch < 0) continue;
        isynth_err rc = ISYNTH_OK;
        if (s->state == SLOT_PROMPT) {
            s->state = SLOT_GEN;
            if (m->reuse_prefix && m->n_prefix == 0) {
                /* the first prompt seeds the prefix cache; later prompts trim it */
                llama_token *copy = isynth_malloc((size_t)s->n_prompt * sizeof *copy);
                if (copy) {
                    memcpy(copy, s->prompt, (size_t)s->n_prompt * sizeof *copy);
                    isynth_free(m->prefix);
                    m->prefix = copy;
                    m->n_prefix = s->n_prompt - 1;
                    llama_memory_t mem = llama_get_memory(m->ctx);
                    llama_memory_seq_cp(mem, i, m->prefix_seq, -1, -1);
                    llama_memory_seq_rm(mem, m->prefix_seq, m->n_prefix, -1);
                }
            }
        }
        llama_token t = sample(m, s);
        if (!s->ignore_eog && llama_vocab_is_eog(m->vocab, t)) {
            if ((rc = finish(m, s, ISYNTH_OK, NULL, false, cb, user, err))) return drop_all(m, rc);
            continue;
        }
        char piece[256];
        int n = llama_token_to_piece(m->vocab, t, piece, sizeof piece, 0, false);
        s->n_decoded++;
        if (n > 0 && buf_add(&s->out, piece, (size_t)n)) {
            rc = finish(m, s, ISYNTH_ERR_NOMEM, "out of memory", false, cb, user, err);
            if (rc) return drop_all(m, rc);
            continue;
        }
        s->gen[s->n_gen] = t;
        s->gen_end[s->n_gen++] = s->out.len;
        if (s->watch) {
            size_t at = s->out.len;
            isynth_watch_act act = ISYNTH_WATCH_GO;
            if ((rc = s->watch(s->watch_user, s->id, s->out.p, s->out.len, &act, &at, err)))
                return drop_all(m, rc);
            if (at > s->out.len) at = s->out.len;
            if (act == ISYNTH_WATCH_END) {
                s->out.len = at;
                if (s->out.p) s->out.p[at] = '\0';
                if ((rc = finish(m, s, ISYNTH_OK, NULL, false, cb, user, err)))
                    return drop_all(m, rc);
                continue;
            }
            if (act == ISYNTH_WATCH_CUT) {
                if (!cut(m, s, at))
                    rc = finish(m, s, ISYNTH_ERR_NOMEM, "out of memory", false, cb, user, err);
                /* a reply cut again and again still ends: at max_tokens decoded in all, twice */
                else if (s->n_decoded >= 2 * s->max_tokens)
                    rc = finish(m, s, ISYNTH_OK, NULL, true, cb, user, err);
                if (rc) return drop_all(m, rc);
                continue;
            }
        }
        if (s->n_gen >= s->max_tokens || s->n_decoded >= 2 * s->max_tokens) {
            if ((rc = finish(m, s, ISYNTH_OK, NULL, true, cb, user, err))) return drop_all(m, rc);
            continue;
        }
        s->next = t;
    }
    return ISYNTH_OK;
}

static void l_info(void *p, isynth_backend_info *out)
{
    llama_impl *m = p;
    out->kind = "llama";
    out->model = m->path;
    out->model_name = m->name;
    out->license = m->license;
    out->has_chat_template = m->has_template;
    out->chat_template = m->tmpl;
    out->n_params = llama_model_n_params(m->model);
    out->rewinds = true;
    out->parallel = m->parallel;
}

static void l_stats(void *p, isynth_backend_stats *out)
{
    llama_impl *m = p;
    *out = m->stats;
    if (l_in_flight(m)) out->busy_seconds += isynth_now() - m->busy_since;
}

static void l_free(void *p)
{
    llama_impl *m = p;
    if (!m) return;
    for (int i = 0; m->slots && i < m->parallel; i++) {
        slot_reset(m, &m->slots[i]);
        buf_free(&m->slots[i].out);
        isynth_free(m->slots[i].gen);
        isynth_free(m->slots[i].gen_end);
    }
    isynth_free(m->slots);
    isynth_free(m->prefix);
    isynth_free(m->cand);
    if (m->batch.token) llama_batch_free(m->batch);
    if (m->ctx) llama_free(m->ctx);
    if (m->model) llama_model_free(m->model);
    isynth_free(m->path);
    isynth_free(m);
}

static const isynth_backend_ops llama_ops = {
    .capacity = l_capacity,
    .in_flight = l_in_flight,
    .submit = l_submit,
    .step = l_step,
    .info = l_info,
    .stats = l_stats,
    .free = l_free,
};

isynth_err isynth_llama_backend_new(const isynth_llama_params *p, isynth_backend **out,
                                    isynth_error *err)
{
    *out = NULL;
    if (!p->model_path) return isynth_error_set(err, ISYNTH_ERR_INVALID, "no model path given");
    if (p->parallel < 1 || p->parallel > 256)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "parallel must be 1..256, not %d",
                                p->parallel);
    if (access(p->model_path, R_OK) != 0)
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot read the model file",
                                p->model_path);
    if (p->quiet) llama_log_set(quiet_log, NULL);
    llama_backend_init();

    isynth_err rc = ISYNTH_OK;
    llama_impl *m = isynth_calloc(1, sizeof *m);
    if (!m || !(m->path = isynth_strdup(p->model_path)) ||
        !(m->slots = isynth_calloc((size_t)p->parallel, sizeof *m->slots))) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    m->parallel = p->parallel;
    m->n_ctx_seq = p->n_ctx_per_seq > 0 ? p->n_ctx_per_seq : 2048;
    m->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    m->reuse_prefix = p->reuse_prefix;
    m->prefix_seq = p->parallel;
    m->n_threads = p->n_threads > 0 ? p->n_threads : 1;
    m->adapt_threads = p->adapt_threads;
    m->use = m->best = 1;
    m->probe_every = 64;
    for (int i = 0; i < m->parallel; i++) {
        buf_init(&m->slots[i].out, 1 << 20);
        m->slots[i].i_batch = -1;
    }

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    m->model = llama_model_load_from_file(p->model_path, mp);
    if (!m->model) {
        rc =
            isynth_error_set(err, ISYNTH_ERR_MODEL, "%s: not a loadable GGUF model", p->model_path);
        goto fail;
    }
    m->vocab = llama_model_get_vocab(m->model);
    m->n_vocab = llama_vocab_n_tokens(m->vocab);
    if (!(m->cand = isynth_malloc((size_t)m->n_vocab * sizeof *m->cand))) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (llama_model_meta_val_str(m->model, "general.name", m->name, sizeof m->name) < 0)
        m->name[0] = '\0';
    if (llama_model_meta_val_str(m->model, "general.license", m->license, sizeof m->license) < 0)
        m->license[0] = '\0';
    m->tmpl = llama_model_chat_template(m->model, NULL);
    m->has_template = m->tmpl != NULL;

    struct llama_context_params cp = llama_context_default_params();
    int n_seq = m->parallel + (m->reuse_prefix ? 1 : 0);
    cp.n_ctx = (uint32_t)(m->n_ctx_seq * n_seq);
    cp.n_batch = (uint32_t)m->n_batch;
    cp.n_ubatch = (uint32_t)m->n_batch;
    cp.n_seq_max = (uint32_t)n_seq;
    cp.n_threads = p->n_threads;
    cp.n_threads_batch = p->n_threads;
    cp.no_perf = true;
    /* one KV stream per sequence: attention then spans a sequence's own cells, not every
     * sequence's (a unified cache made --parallel 8 run at 0.69x llama-batched-bench) */
    cp.kv_unified = false;
    m->ctx = llama_init_from_model(m->model, cp);
    if (!m->ctx) {
        rc = isynth_error_set(err, ISYNTH_ERR_MODEL, "%s: cannot create a context of %u tokens",
                              p->model_path, cp.n_ctx);
        goto fail;
    }
    m->batch = llama_batch_init(m->n_batch, 0, 1);
    if (!m->batch.token) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = isynth_backend_wrap(&llama_ops, m, out))) {
        isynth_error_set(err, rc, "out of memory");
        goto fail;
    }
    return ISYNTH_OK;
fail:
    l_free(m);
    return rc;
}
