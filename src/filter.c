/* The filter chain. Exact duplicates are found through a hash set of dedup keys (NFKC, case
 * folded, no spaces or punctuation), so full-width/half-width and spacing variants of one
 * instruction collide; copies of the examples shown in the prompt are caught by containment
 * of keys, which catches the near-verbatim copies small models make. */
#include "isynth/filter.h"
#include "isynth/checks.h"
#include "isynth/normalize.h"
#include "isynth/quality.h"
#include "isynth/rouge.h"
#include "internal.h"

#include <string.h>

typedef struct entry {
    char *key;
    char *ref;
} entry;

typedef struct toks {
    uint32_t *ids;
    size_t n;
    bool input; /* the ref's task has an input (combo only) */
} toks;

/* A hash set of token runs (their run_hash), each with a value: open addressing, hash 0 the
 * empty slot. */
typedef struct run_set {
    struct run_entry {
        uint64_t h;
        size_t val;
    } * e;
    size_t cap, n;
} run_set;

struct isynth_filter {
    isynth_filter_params p;
    entry *tab; /* open addressing, power-of-two size */
    size_t cap, n;
    isynth_keywords *kw;
    isynth_quality_params qp;
    isynth_tokenizer *tok;
    isynth_sim_index *sim; /* instructions of seeds and pool; item id = index into refs */
    char **refs;
    toks *combo; /* instruction + input of each ref, aligned with refs */
    size_t n_refs, cap_refs;
    size_t *seed_refs; /* indices into refs of the seeds, for the fragment check */
    size_t n_seed_refs, cap_seed_refs;
    isynth_sim_index *sim_out; /* outputs of seeds and pool; item id = index into out_refs */
    char **out_refs;
    size_t n_out, cap_out;
    /* the seeds' outputs for the fragment rule of output_copy: their tokens, and a hash set of
       every run of FRAG_RUN tokens in any of them (0 is the empty slot) */
    toks *seed_out;
    char **seed_out_refs;
    size_t n_seed_out, cap_seed_out;
    run_set runs;
    /* every run of LONG_RUN tokens in a seed's instruction, input or output; value: the seed's
       index in refs */
    run_set lruns;
    isynth_scaffold *scaf;
    int64_t except; /* the ref index left out of the similarity checks (an evolved task's
                       parent) during isynth_filter_check_evolved; -1 otherwise */
};

/* A shared run this long is copied text, not shared grammar: "の可能形として" is 7 tokens, while
 * the particles and endings any two Japanese answers share (ことが大切です) seldom reach 6 in a
 * row with one seed. */
#define FRAG_RUN 6

/* A run this long in an answer, verbatim from a seed and absent from the row's own instruction
 * and input, is the seed's content pasted in (its memo's sentences, its answer's list): 16
 * characters of Japanese, 16 words of English; the longest stock phrase of a letter
 * (よろしくお願いいたします) is 12. */
#define LONG_RUN 16

isynth_filter_params isynth_filter_params_default(void)
{
    return (isynth_filter_params){
        .lang = ISYNTH_LANG_JA,
        .min_instruction_chars = 4,
        .max_instruction_chars = 1000,
        .max_input_chars = 4000,
        .min_output_chars = 1,
        .max_output_chars = 6000,
        .copy_ratio = 0.8,
        .rouge_threshold = 0.7,
        .check_output = true,
        .quality = true,
        .keywords_path = NULL,
        .tokenizer = ISYNTH_TOKENIZER_CHARS,
        .row_checks = true,
        .template_text = NULL,
        .output_copy_min_tokens = 20,
        .fragment_ratio = 0.8,
        .output_fragment_share = 0.5,
        .report_nearest = true,
    };
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

isynth_err isynth_filter_new(const isynth_filter_params *p, isynth_filter **out, isynth_error *err)
{
    isynth_filter *f = isynth_calloc(1, sizeof *f);
    *out = NULL;
    if (!f) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    f->p = *p;
    f->except = -1;
    f->p.keywords_path = NULL; /* borrowed only during this call */
    f->p.template_text = NULL;
    f->qp = isynth_quality_params_default(p->lang);
    isynth_err rc = p->keywords_path ? isynth_keywords_load(p->keywords_path, &f->kw, err)
                                     : isynth_keywords_default(&f->kw, err);
    if (!rc) rc = isynth_tokenizer_new((isynth_tokenizer_kind)p->tokenizer, &f->tok, err);
    if (!rc) rc = isynth_sim_index_new(f->tok, &f->sim, err);
    if (!rc) rc = isynth_sim_index_new(f->tok, &f->sim_out, err);
    if (!rc && p->row_checks) rc = isynth_scaffold_new(&f->scaf, err);
    if (!rc && f->scaf && p->template_text)
        rc = isynth_scaffold_add_template(f->scaf, p->template_text, err);
    if (rc) {
        isynth_filter_free(f);
        return rc;
    }
    *out = f;
    return ISYNTH_OK;
}

void isynth_filter_free(isynth_filter *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->cap; i++) {
        isynth_free(f->tab[i].key);
        isynth_free(f->tab[i].ref);
    }
    isynth_free(f->tab);
    for (size_t i = 0; i < f->n_refs; i++)
        isynth_free(f->refs[i]);
    isynth_free(f->refs);
    for (size_t i = 0; i < f->n_refs; i++)
        isynth_free(f->combo[i].ids);
    isynth_free(f->combo);
    isynth_free(f->seed_refs);
    for (size_t i = 0; i < f->n_out; i++)
        isynth_free(f->out_refs[i]);
    isynth_free(f->out_refs);
    for (size_t i = 0; i < f->n_seed_out; i++) {
        isynth_free(f->seed_out[i].ids);
        isynth_free(f->seed_out_refs[i]);
    }
    isynth_free(f->seed_out);
    isynth_free(f->seed_out_refs);
    isynth_free(f->runs.e);
    isynth_free(f->lruns.e);
    isynth_scaffold_free(f->scaf);
    isynth_sim_index_free(f->sim_out);
    isynth_sim_index_free(f->sim);
    isynth_tokenizer_free(f->tok);
    isynth_keywords_free(f->kw);
    isynth_free(f);
}

static entry *lookup(isynth_filter *f, const char *key)
{
    if (!f->cap) return NULL;
    size_t i = hash(key) & (f->cap - 1);
    while (f->tab[i].key) {
        if (!strcmp(f->tab[i].key, key)) return &f->tab[i];
        i = (i + 1) & (f->cap - 1);
    }
    return NULL;
}

static isynth_err grow(isynth_filter *f)
{
    size_t cap = f->cap ? f->cap * 2 : 256;
    entry *tab = isynth_calloc(cap, sizeof *tab);
    if (!tab) return ISYNTH_ERR_NOMEM;
    for (size_t i = 0; i < f->cap; i++) {
        if (!f->tab[i].key) continue;
        size_t j = hash(f->tab[i].key) & (cap - 1);
        while (tab[j].key)
            j = (j + 1) & (cap - 1);
        tab[j] = f->tab[i];
    }
    isynth_free(f->tab);
    f->tab = tab;
    f->cap = cap;
    return ISYNTH_OK;
}

isynth_err isynth_filter_normalize(isynth_task *t, isynth_error *err)
{
    char **fields[] = {&t->instruction, &t->input, &t->output};
    for (size_t i = 0; i < 3; i++) {
        char *norm;
        size_t len;
        isynth_err rc = isynth_normalize_text(*fields[i], strlen(*fields[i]), &norm, &len, err);
        if (rc) return rc;
        isynth_free(*fields[i]);
        *fields[i] = norm;
    }
    return ISYNTH_OK;
}

/* The key of instruction + input: the same instruction on a different input is a new task. */
static isynth_err task_key(const isynth_task *t, char **key, isynth_error *err)
{
    buf b;
    buf_init(&b, BUF_MAX_TASK_TEXT);
    isynth_err rc;
    if ((rc = buf_adds(&b, t->instruction)) || (rc = buf_addc(&b, '\n')) ||
        (rc = buf_adds(&b, t->input))) {
        buf_free(&b);
        return buf_error(err, rc, &b, NULL, "a task's instruction and input");
    }
    size_t len;
    rc = isynth_normalize_dedup_key(b.p, b.len, key, &len, err);
    buf_free(&b);
    return rc;
}

static isynth_err task_tokens(isynth_filter *f, const isynth_task *t, uint32_t **ids, size_t *n,
                              isynth_error *err);
static bool has_letters(const char *s);

/* Adds the instruction to the ROUGE-L index under a new item id that maps back to ref, and
 * keeps the tokens of instruction + input for the same-instruction-new-input rule. */
static isynth_err sim_add(isynth_filter *f, const char *ref, const isynth_task *t,
                          isynth_error *err)
{
    if (f->n_refs == f->cap_refs) {
        size_t cap = array_next_cap(f->cap_refs, 256);
        if (ARRAY_RESIZE(f->refs, cap) || ARRAY_RESIZE(f->combo, cap))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        f->cap_refs = cap;
    }
    char *r = isynth_strdup(ref);
    if (!r) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    toks *c = &f->combo[f->n_refs];
    memset(c, 0, sizeof *c);
    c->input = has_letters(t->input);
    isynth_err rc = task_tokens(f, t, &c->ids, &c->n, err);
    if (!rc)
        rc = isynth_sim_index_add(f->sim, (int64_t)f->n_refs, t->instruction,
                                  strlen(t->instruction), err);
    if (rc) {
        isynth_free(c->ids);
        isynth_free(r);
        return rc;
    }
    if (ref[0] == 's') {
        if (f->n_seed_refs == f->cap_seed_refs && ARRAY_GROW(f->seed_refs, f->cap_seed_refs, 64)) {
            isynth_free(c->ids);
            isynth_free(r);
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
        f->seed_refs[f->n_seed_refs++] = f->n_refs;
    }
    f->refs[f->n_refs++] = r;
    return ISYNTH_OK;
}

/* Tokenises text with the filter's tokenizer, keeping at most ISYNTH_SIM_MAX_TOKENS tokens
 * (seed outputs can be long; their head decides a copy). */
static isynth_err tokens_of(isynth_filter *f, const char *text, uint32_t **ids, size_t *n,
                            isynth_error *err)
{
    isynth_err rc = isynth_tokenize(f->tok, text, strlen(text), ids, n, err);
    if (!rc && *n > ISYNTH_SIM_MAX_TOKENS) *n = ISYNTH_SIM_MAX_TOKENS;
    return rc;
}

static uint64_t run_hash_n(const uint32_t *ids, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ ids[i]) * 1099511628211ull;
    return h ? h : 1;
}

static uint64_t run_hash(const uint32_t *ids)
{
    return run_hash_n(ids, FRAG_RUN);
}

/* The value stored with hash h, or (size_t)-1 when h is not in the set. */
static size_t run_set_get(const run_set *rs, uint64_t h)
{
    if (!rs->cap) return (size_t)-1;
    for (size_t i = h & (rs->cap - 1);; i = (i + 1) & (rs->cap - 1)) {
        if (rs->e[i].h == h) return rs->e[i].val;
        if (!rs->e[i].h) return (size_t)-1;
    }
}

/* Adds h with val (a hash already there keeps its first value). */
static isynth_err run_set_put(run_set *rs, uint64_t h, size_t val)
{
    if ((rs->n + 1) * 2 > rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        struct run_entry *t = isynth_calloc(cap, sizeof *t);
        if (!t) return ISYNTH_ERR_NOMEM;
        for (size_t k = 0; k < rs->cap; k++) {
            if (!rs->e[k].h) continue;
            size_t i = rs->e[k].h & (cap - 1);
            while (t[i].h)
                i = (i + 1) & (cap - 1);
            t[i] = rs->e[k];
        }
        isynth_free(rs->e);
        rs->e = t;
        rs->cap = cap;
    }
    size_t i = h & (rs->cap - 1);
    while (rs->e[i].h && rs->e[i].h != h)
        i = (i + 1) & (rs->cap - 1);
    if (!rs->e[i].h) {
        rs->e[i] = (struct run_entry){h, val};
        rs->n++;
    }
    return ISYNTH_OK;
}

/* Puts every run of LONG_RUN tokens of a seed's three fields in the set, with the seed's index in
 * refs (the last one sim_add made). */
static isynth_err seed_long_runs_add(isynth_filter *f, const isynth_task *t, isynth_error *err)
{
    size_t seed = f->n_refs - 1;
    const char *fields[3] = {t->instruction, t->input, t->output};
    isynth_err rc = ISYNTH_OK;
    for (int k = 0; k < 3 && !rc; k++) {
        uint32_t *ids = NULL;
        size_t n = 0;
        rc = isynth_tokenize(f->tok, fields[k], strlen(fields[k]), &ids, &n, err);
        for (size_t i = 0; !rc && i + LONG_RUN <= n; i++)
            if (run_set_put(&f->lruns, run_hash_n(ids + i, LONG_RUN), seed))
                rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        isynth_free(ids);
    }
    return rc;
}

/* Keeps a seed's output tokens (taking ids on success) and its runs in the hash set. */
static isynth_err seed_output_add(isynth_filter *f, const char *ref, uint32_t *ids, size_t n,
                                  isynth_error *err)
{
    if (f->n_seed_out == f->cap_seed_out) {
        size_t cap = array_next_cap(f->cap_seed_out, 64);
        if (ARRAY_RESIZE(f->seed_out, cap) || ARRAY_RESIZE(f->seed_out_refs, cap))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        f->cap_seed_out = cap;
    }
    char *r = isynth_strdup(ref);
    if (!r) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i + FRAG_RUN <= n; i++)
        if (run_set_put(&f->runs, run_hash(ids + i), 0)) {
            isynth_free(r);
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
    f->seed_out[f->n_seed_out] = (toks){ids, n, false};
    f->seed_out_refs[f->n_seed_out++] = r;
    return ISYNTH_OK;
}

/* How many of c's tokens lie inside a run of FRAG_RUN or more tokens that s has too, leaving out
 * the tokens marked in `given` (text the task itself gives). One row of
 * common-suffix lengths: O(cn * sn) time, O(sn) memory (row holds sn + 1 entries). */
static size_t run_cover(const uint32_t *c, size_t cn, const uint32_t *s, size_t sn, uint32_t *row,
                        unsigned char *mark, const unsigned char *given)
{
    memset(row, 0, (sn + 1) * sizeof *row);
    memset(mark, 0, cn);
    for (size_t i = 0; i < cn; i++) {
        uint32_t diag = 0, longest = 0;
        for (size_t j = 0; j < sn; j++) {
            uint32_t up = row[j + 1];
            row[j + 1] = c[i] == s[j] ? diag + 1 : 0;
            if (row[j + 1] > longest) longest = row[j + 1];
            diag = up;
        }
        if (longest >= FRAG_RUN) memset(mark + i + 1 - longest, 1, longest);
    }
    size_t covered = 0;
    for (size_t i = 0; i < cn; i++)
        covered += mark[i] && !given[i];
    return covered;
}

isynth_err isynth_filter_add_output(isynth_filter *f, const char *ref, const char *output,
                                    isynth_error *err)
{
    if (!output[0] || ref[0] == 'p') return ISYNTH_OK;
    if (f->n_out == f->cap_out && ARRAY_GROW(f->out_refs, f->cap_out, 256))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    char *r = isynth_strdup(ref);
    if (!r) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    uint32_t *ids = NULL;
    size_t n = 0;
    isynth_err rc = tokens_of(f, output, &ids, &n, err);
    if (!rc && n) rc = isynth_sim_index_add_tokens(f->sim_out, (int64_t)f->n_out, ids, n, err);
    if (!rc && n && ref[0] == 's') {
        rc = seed_output_add(f, ref, ids, n, err);
        if (!rc) ids = NULL; /* now the filter's */
    }
    isynth_free(ids);
    if (rc || !n) {
        isynth_free(r);
        return rc;
    }
    f->out_refs[f->n_out++] = r;
    return ISYNTH_OK;
}

/* Tokens of instruction + input: a fragment is measured against them, and a candidate with an
 * input is a ROUGE-L copy only when they are one. */
static isynth_err task_tokens(isynth_filter *f, const isynth_task *t, uint32_t **ids, size_t *n,
                              isynth_error *err)
{
    buf b;
    buf_init(&b, BUF_MAX_TASK_TEXT);
    isynth_err rc;
    if ((rc = buf_adds(&b, t->instruction)) || (rc = buf_addc(&b, '\n')) ||
        (rc = buf_adds(&b, t->input))) {
        buf_free(&b);
        return buf_error(err, rc, &b, NULL, "a task's instruction and input");
    }
    rc = tokens_of(f, b.p, ids, n, err);
    buf_free(&b);
    return rc;
}

isynth_err isynth_filter_add(isynth_filter *f, const char *ref, const isynth_task *t,
                             isynth_error *err)
{
    char *key;
    isynth_err rc = task_key(t, &key, err);
    if (rc) return rc;
    if (lookup(f, key)) {
        isynth_free(key);
        return ISYNTH_OK;
    }
    if ((f->n + 1) * 2 > f->cap && grow(f)) {
        isynth_free(key);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    char *r = isynth_strdup(ref);
    if (!r) {
        isynth_free(key);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    size_t i = hash(key) & (f->cap - 1);
    while (f->tab[i].key)
        i = (i + 1) & (f->cap - 1);
    f->tab[i].key = key;
    f->tab[i].ref = r;
    f->n++;
    rc = sim_add(f, ref, t, err);
    if (!rc) rc = isynth_filter_add_output(f, ref, t->output, err);
    if (!rc && ref[0] == 's') rc = seed_long_runs_add(f, t, err);
    return rc;
}

/* True when one key contains the other and the shorter is at least `ratio` of the longer. */
static bool contains_copy(const char *a, const char *b, double ratio)
{
    size_t la = strlen(a), lb = strlen(b);
    if (!la || !lb) return false;
    const char *lng = la >= lb ? a : b, *sht = la >= lb ? b : a;
    size_t ll = la >= lb ? la : lb, ls = la >= lb ? lb : la;
    return (double)ls >= ratio * (double)ll && strstr(lng, sht) != NULL;
}

static bool field_copy(const char *a, const char *b, double ratio)
{
    return (!a[0] && !b[0]) || !strcmp(a, b) || contains_copy(a, b, ratio);
}

/* A copy of an example: its instruction, and its input, are the example's or nearly all of
 * it (one contains the other). The same instruction on a new input is a new task. */
static isynth_err is_example_copy(const isynth_task *t, const isynth_task *ex, double ratio,
                                  bool *copy, isynth_error *err)
{
    const char *fa[2] = {t->instruction, t->input}, *fb[2] = {ex->instruction, ex->input};
    *copy = true;
    for (size_t i = 0; i < 2 && *copy; i++) {
        char *ka = NULL, *kb = NULL;
        size_t la, lb;
        isynth_err rc = isynth_normalize_dedup_key(fa[i], strlen(fa[i]), &ka, &la, err);
        if (!rc) rc = isynth_normalize_dedup_key(fb[i], strlen(fb[i]), &kb, &lb, err);
        if (!rc) *copy = field_copy(ka, kb, ratio);
        isynth_free(ka);
        isynth_free(kb);
        if (rc) return rc;
    }
    return ISYNTH_OK;
}

/* What a match with ref means: a seed ("s3") makes a seed copy, a line of the prompt's own
 * instructions ("p2") a prompt copy, a generated task ("g12") the given reason. */
static const char *copy_reason(const char *ref, const char *generated)
{
    return ref[0] == 's' ? "seed_copy" : ref[0] == 'p' ? "prompt_copy" : generated;
}

static bool has_letters(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\n') return true;
    return false;
}

/* ROUGE-L of the instruction: against each example shown (a near-copy of what the model was
 * given is a seed copy), then the exact nearest neighbour in seeds and pool, stored for every
 * candidate. A candidate with an input is a copy only when instruction + input is one too:
 * the same instruction on a new input is a new task ("Summarize the following passage."). */
static isynth_err rouge_check(isynth_filter *f, const isynth_task *t, const toks *ct,
                              const isynth_task *const *examples, const char *const *example_refs,
                              size_t k, isynth_verdict *v, isynth_error *err)
{
    double thr = f->p.rouge_threshold;
    const uint32_t *ids = ct[0].ids, *cids = ct[1].ids;
    size_t n = ct[0].n, cn = ct[1].n;
    bool has_input = has_letters(t->input);
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < k && thr > 0; i++) {
        uint32_t *eids = NULL;
        size_t en = 0;
        if ((rc = isynth_tokenize(f->tok, examples[i]->instruction,
                                  strlen(examples[i]->instruction), &eids, &en, err)))
            goto out;
        double score = isynth_rouge_l_f(ids, n, eids, en);
        isynth_free(eids);
        if (score >= thr && has_input && has_letters(examples[i]->input)) {
            /* the same instruction on a new input is a new task (an instruction that takes
               an input: one that is a whole task on its own stays a copy, whatever is added) */
            if ((rc = task_tokens(f, examples[i], &eids, &en, err))) goto out;
            double whole = isynth_rouge_l_f(cids, cn, eids, en);
            isynth_free(eids);
            if (whole < thr) continue;
        }
        if (score >= thr) {
            v->reason = "seed_copy";
            snprintf(v->detail, sizeof v->detail, "%s rouge_l=%.3f", example_refs[i], score);
            v->nn_score = score;
            snprintf(v->nn_ref, sizeof v->nn_ref, "%s", example_refs[i]);
            goto out;
        }
    }
    int64_t nn = -1;
    double score = 0;
    double floor = f->p.report_nearest || thr <= 0 ? 0.0 : thr;
    if ((rc = isynth_sim_index_nearest_except_tokens(f->sim, ids, n, floor, f->except, &nn, &score,
                                                     err)))
        goto out;
    if (nn >= 0 && (size_t)nn < f->n_refs) {
        snprintf(v->nn_ref, sizeof v->nn_ref, "%s", f->refs[nn]);
        v->nn_score = score;
        bool excused = thr > 0 && score >= thr && has_input && f->combo[nn].input &&
                       isynth_rouge_l_f(cids, cn, f->combo[nn].ids, f->combo[nn].n) < thr;
        if (thr > 0 && score >= thr && !excused) {
            v->reason = copy_reason(f->refs[nn], "rouge");
            snprintf(v->detail, sizeof v->detail, "%s rouge_l=%.3f", f->refs[nn], score);
        }
    } else {
        v->nn_score = 0;
    }
out:
    return rc;
}

static bool is_example_ref(const char *ref, const char *const *example_refs, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (!strcmp(ref, example_refs[i])) return true;
    return false;
}

/* An instruction that is a seed's or an example's output (ROUGE-L F at the threshold against
 * the outputs), or a fragment of a seed or an example: fragment_ratio of its tokens in order
 * inside one of them, at least 12 tokens and 30% of that task's length, so that a short common
 * directive ("次の文章を要約してください") on a new input stays a new task. */
static isynth_err widened_seed_copy(isynth_filter *f, const toks *ct,
                                    const isynth_task *const *examples,
                                    const char *const *example_refs, size_t k, isynth_verdict *v,
                                    isynth_error *err)
{
    double thr = f->p.rouge_threshold > 0 ? f->p.rouge_threshold : 0.7;
    const uint32_t *ids = ct[0].ids;
    size_t n = ct[0].n;
    isynth_err rc = ISYNTH_OK;
    int64_t nn = -1;
    double score = 0;
    if (n >= 8 &&
        !(rc = isynth_sim_index_nearest_tokens(f->sim_out, ids, n, thr, &nn, &score, err)) &&
        nn >= 0 && score >= thr) {
        const char *ref = f->out_refs[nn];
        if (ref[0] == 's' || is_example_ref(ref, example_refs, k)) {
            v->reason = "seed_copy";
            snprintf(v->detail, sizeof v->detail, "instruction is %s's output rouge_l=%.3f", ref,
                     score);
        }
    }
    if (rc || v->reason) return rc;
    ids = ct[1].ids;
    n = ct[1].n;
    double ratio = f->p.fragment_ratio > 0 ? f->p.fragment_ratio : 0.8;
    /* the seeds, then the examples that are not seeds */
    size_t ns = f->n_seed_refs;
    for (size_t i = 0; n >= 12 && i < ns + k && !v->reason && !rc; i++) {
        uint32_t *sids = NULL;
        size_t sn = 0;
        const char *ref;
        if (i < ns) {
            if ((int64_t)f->seed_refs[i] == f->except) continue;
            ref = f->refs[f->seed_refs[i]];
            sids = f->combo[f->seed_refs[i]].ids;
            sn = f->combo[f->seed_refs[i]].n;
        } else {
            ref = example_refs[i - ns];
            if (ref[0] == 's' || (rc = task_tokens(f, examples[i - ns], &sids, &sn, err))) continue;
        }
        size_t need = (size_t)(ratio * (double)n + 0.999999), lcs = 0;
        if (sn >= need && (double)n >= 0.3 * (double)sn &&
            isynth_lcs_bound_multiset(ids, n, sids, sn) >= need &&
            !(rc = isynth_lcs_length(ids, n, sids, sn, &lcs)) && lcs >= need) {
            v->reason = "seed_copy";
            snprintf(v->detail, sizeof v->detail, "fragment of %s: %zu of %zu tokens in order", ref,
                     lcs, n);
        }
        if (i >= ns) isynth_free(sids);
    }
    return rc;
}

static bool has_japanese(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (ja_script_of(cp) != JA_NONE) return true;
        i += l ? l : 1;
    }
    return false;
}

/* An output that is a near-copy of a seed's, an example's or an accepted task's output. Short
 * outputs (labels such as 否定的, answers such as 42です。) are legitimately shared. */
/* An output whose tokens lie, for output_fragment_share of them, in runs of FRAG_RUN or more
 * shared with one seed's output or one example's: the seed's answer pasted under a new
 * instruction with its key words swapped (「見れる」 for 「メールを送る」). The hash set of the
 * seeds' runs rules most outputs out before any per-seed comparison. */
static isynth_err output_fragment(isynth_filter *f, const uint32_t *ids, size_t n,
                                  const unsigned char *given, const isynth_task *const *examples,
                                  const char *const *example_refs, size_t k, isynth_verdict *v,
                                  isynth_error *err)
{
    size_t need = (size_t)(f->p.output_fragment_share * (double)n + 0.999999);
    size_t union_cover = 0, last = 0; /* tokens inside a hashed run of any seed */
    for (size_t i = 0; i + FRAG_RUN <= n; i++)
        if (run_set_get(&f->runs, run_hash(ids + i)) != (size_t)-1) {
            size_t from = i > last ? i : last;
            union_cover += i + FRAG_RUN - from;
            last = i + FRAG_RUN;
        }
    bool seeds = union_cover >= need, generated = false;
    for (size_t i = 0; i < k; i++)
        generated |= example_refs[i][0] != 's' && examples[i]->output[0];
    if (!seeds && !generated) return ISYNTH_OK;
    /* the seeds' outputs, then the outputs of generated rows shown in the prompt */
    uint32_t *row = NULL, *eids = NULL;
    size_t row_cap = 0;
    unsigned char *mark = isynth_malloc(n);
    isynth_err rc = mark ? ISYNTH_OK : ISYNTH_ERR_NOMEM;
    size_t ns = seeds ? f->n_seed_out : 0;
    for (size_t i = 0; !rc && !v->reason && i < ns + k; i++) {
        const uint32_t *sids;
        size_t sn = 0;
        const char *ref;
        if (i < ns) {
            sids = f->seed_out[i].ids;
            sn = f->seed_out[i].n;
            ref = f->seed_out_refs[i];
        } else {
            size_t e = i - ns;
            if (example_refs[e][0] == 's' || !examples[e]->output[0]) continue;
            isynth_free(eids);
            eids = NULL;
            if ((rc = tokens_of(f, examples[e]->output, &eids, &sn, err))) break;
            sids = eids;
            ref = example_refs[e];
        }
        if (sn + 1 > row_cap) {
            if ((rc = ARRAY_RESIZE(row, sn + 1))) break;
            row_cap = sn + 1;
        }
        size_t c = run_cover(ids, n, sids, sn, row, mark, given);
        if (c >= need) {
            v->reason = "output_copy";
            snprintf(v->detail, sizeof v->detail,
                     "%zu of %zu tokens in runs shared with %s's output", c, n, ref);
        }
    }
    isynth_free(eids);
    isynth_free(row);
    isynth_free(mark);
    if (rc == ISYNTH_ERR_NOMEM) return isynth_error_set(err, rc, "out of memory");
    return rc;
}

/* An output holding a run of LONG_RUN tokens from a seed that the row's own instruction and input
 * do not give. A mail or a letter is left out: their set phrases (ご不明な点がございましたら、
 * お気軽にお問い合わせください) run longer than that in any two of them. */
static isynth_err seed_content(isynth_filter *f, const isynth_task *t, const uint32_t *ids,
                               size_t n, const unsigned char *given, isynth_verdict *v)
{
    static const char *const letters[] = {"メール",   "手紙",  "返信",   "挨拶",
                                          "あいさつ", "お礼",  "お詫び", "案内文",
                                          "email",    "Email", "letter", "Letter"};
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        if (strstr(t->instruction, letters[i])) return ISYNTH_OK;
    for (size_t i = 0; i + LONG_RUN <= n; i++) {
        size_t seed = run_set_get(&f->lruns, run_hash_n(ids + i, LONG_RUN));
        if (seed == (size_t)-1) continue;
        size_t own = 0;
        for (size_t j = i; j < i + LONG_RUN; j++)
            own += given[j];
        if (own == LONG_RUN) continue;
        v->reason = "output_copy";
        snprintf(v->detail, sizeof v->detail,
                 "a run of %d tokens from %s's text that the task does not give", LONG_RUN,
                 f->refs[seed]);
        break;
    }
    return ISYNTH_OK;
}

/* Marks in given[0, n) the output tokens inside a run of FRAG_RUN tokens that the task's own
 * instruction and input (own) hold too: text a row was given, which it may quote. */
static void mark_given(const uint32_t *ids, size_t n, const uint32_t *own, size_t on,
                       unsigned char *given)
{
    memset(given, 0, n);
    for (size_t i = 0; i + FRAG_RUN <= n; i++)
        for (size_t j = 0; j + FRAG_RUN <= on; j++)
            if (own[j] == ids[i] && !memcmp(own + j, ids + i, FRAG_RUN * sizeof *ids)) {
                memset(given + i, 1, FRAG_RUN);
                break;
            }
}

/* `task` holds the tokens of t's instruction + input (task_tokens) when the caller has them, else
 * NULL and they are made here when needed. */
static isynth_err output_copy(isynth_filter *f, const isynth_task *t, const toks *task,
                              const isynth_task *const *examples, const char *const *example_refs,
                              size_t k, isynth_verdict *v, isynth_error *err)
{
    double thr = f->p.rouge_threshold > 0 ? f->p.rouge_threshold : 0.7;
    uint32_t *ids = NULL;
    size_t n = 0;
    isynth_err rc = tokens_of(f, t->output, &ids, &n, err);
    int64_t nn = -1;
    double score = 0;
    size_t min = f->p.output_copy_min_tokens;
    if (!has_japanese(t->output)) min = (min + 1) / 2;
    if (!rc && n >= min &&
        !(rc = isynth_sim_index_nearest_tokens(f->sim_out, ids, n, thr, &nn, &score, err)) &&
        nn >= 0 && score >= thr) {
        v->reason = "output_copy";
        snprintf(v->detail, sizeof v->detail, "%s output rouge_l=%.3f", f->out_refs[nn], score);
    }
    bool frag = n >= min && n >= FRAG_RUN && f->p.output_fragment_share > 0;
    bool content = n >= LONG_RUN && f->lruns.n;
    uint32_t *own = NULL; /* made here when the caller had no task tokens */
    size_t on = task ? task->n : 0;
    unsigned char *given = NULL;
    if (!rc && !v->reason && (frag || content)) {
        if (!task) rc = task_tokens(f, t, &own, &on, err);
        if (!rc && !(given = isynth_malloc(n)))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        if (!rc) mark_given(ids, n, task ? task->ids : own, on, given);
    }
    if (!rc && !v->reason && frag)
        rc = output_fragment(f, ids, n, given, examples, example_refs, k, v, err);
    if (!rc && !v->reason && content) rc = seed_content(f, t, ids, n, given, v);
    isynth_free(given);
    isynth_free(own);
    isynth_free(ids);
    return rc;
}

static isynth_err check_inner(isynth_filter *f, const isynth_task *t,
                              const isynth_task *const *examples, const char *const *example_refs,
                              size_t k, bool with_output, isynth_verdict *v, char **key,
                              isynth_error *err)
{
    memset(v, 0, sizeof *v);
    v->nn_score = -1;
    *key = NULL;
    isynth_filter_params pv = f->p;
    pv.check_output = pv.check_output && with_output;
    const isynth_filter_params *p = &pv;
    size_t ni = isynth_normalize_utf8_chars(t->instruction, strlen(t->instruction));
    size_t nin = isynth_normalize_utf8_chars(t->input, strlen(t->input));
    size_t no = isynth_normalize_utf8_chars(t->output, strlen(t->output));
    isynth_err rc = task_key(t, key, err);
    if (rc) return rc;
    if (ni == 0 || (*key)[0] == '\0' || (p->check_output && no == 0)) {
        v->reason = "empty";
        return ISYNTH_OK;
    }
    if (ni < p->min_instruction_chars || (p->check_output && no < p->min_output_chars)) {
        v->reason = "too_short";
        return ISYNTH_OK;
    }
    if (ni > p->max_instruction_chars || nin > p->max_input_chars ||
        (p->check_output && no > p->max_output_chars)) {
        v->reason = "too_long";
        return ISYNTH_OK;
    }
    entry *e = lookup(f, *key);
    if (e) {
        v->reason = copy_reason(e->ref, "duplicate");
        snprintf(v->detail, sizeof v->detail, "%s", e->ref);
        return ISYNTH_OK;
    }
    for (size_t i = 0; i < k; i++) {
        bool copy;
        if ((rc = is_example_copy(t, examples[i], p->copy_ratio, &copy, err))) return rc;
        if (copy) {
            v->reason = "seed_copy";
            snprintf(v->detail, sizeof v->detail, "%s", example_refs[i]);
            return ISYNTH_OK;
        }
    }
    if (p->quality) {
        const char *q = isynth_quality_check(&f->qp, f->kw, t->instruction, strlen(t->instruction));
        if (q) {
            v->reason = q;
            return ISYNTH_OK;
        }
    }
    if (p->row_checks && (rc = isynth_checks_task(f->scaf, t, p->check_output, &v->reason,
                                                  v->detail, sizeof v->detail, err)))
        return rc;
    if (v->reason) return ISYNTH_OK;
    /* the instruction's tokens, and instruction + input's, once for the similarity checks */
    toks ct[2] = {{NULL, 0, false}, {NULL, 0, false}};
    if (!(rc = tokens_of(f, t->instruction, &ct[0].ids, &ct[0].n, err)) &&
        !(rc = task_tokens(f, t, &ct[1].ids, &ct[1].n, err)) &&
        !(rc = rouge_check(f, t, ct, examples, example_refs, k, v, err)) && !v->reason)
        rc = widened_seed_copy(f, ct, examples, example_refs, k, v, err);
    if (!rc && !v->reason && p->check_output)
        rc = output_copy(f, t, &ct[1], examples, example_refs, k, v, err);
    isynth_free(ct[0].ids);
    isynth_free(ct[1].ids);
    return rc;
}

/* On an error *key is NULL: nothing for the caller to free (a failed allocation after the key
 * was made once leaked it). */
static isynth_err check(isynth_filter *f, const isynth_task *t, const isynth_task *const *examples,
                        const char *const *example_refs, size_t k, bool with_output,
                        isynth_verdict *v, char **key, isynth_error *err)
{
    isynth_err rc = check_inner(f, t, examples, example_refs, k, with_output, v, key, err);
    if (rc) {
        isynth_free(*key);
        *key = NULL;
    }
    return rc;
}

isynth_err isynth_filter_check(isynth_filter *f, const isynth_task *t,
                               const isynth_task *const *examples, const char *const *example_refs,
                               size_t k, isynth_verdict *v, char **key, isynth_error *err)
{
    return check(f, t, examples, example_refs, k, true, v, key, err);
}

isynth_err isynth_filter_check_early(isynth_filter *f, const isynth_task *t,
                                     const isynth_task *const *examples,
                                     const char *const *example_refs, size_t k, isynth_verdict *v,
                                     char **key, isynth_error *err)
{
    return check(f, t, examples, example_refs, k, false, v, key, err);
}

isynth_err isynth_filter_check_answer(isynth_filter *f, const isynth_task *t, isynth_verdict *v,
                                      isynth_error *err)
{
    memset(v, 0, sizeof *v);
    v->nn_score = -1;
    isynth_err rc;
    if (f->p.row_checks &&
        (rc = isynth_checks_task(f->scaf, t, true, &v->reason, v->detail, sizeof v->detail, err)))
        return rc;
    return v->reason ? ISYNTH_OK : output_copy(f, t, NULL, NULL, NULL, 0, v, err);
}

/* The framing words of the evolution prompts (prompt.c) and of WizardLM's, which a rewrite that
 * copies its prompt carries. */
static const char *const evol_words[] = {
    "元のタスク",     "書き換えたタスク", "書き換え後",         "書き換え前",
    "新しいタスク:",  "#Given Prompt#",   "#Rewritten Prompt#", "#Created Prompt#",
    "Given Prompt",   "Rewritten Prompt", "Original task",      "Rewritten task",
    "The given task", "入力が不要なら",   "入力は不要なら"};

isynth_err isynth_filter_check_evolved(isynth_filter *f, const isynth_task *t, const char *parent,
                                       const isynth_task *pt, bool must_grow, isynth_verdict *v,
                                       char **key, isynth_error *err)
{
    int64_t pi = -1;
    for (size_t i = 0; i < f->n_refs && pi < 0; i++)
        if (!strcmp(f->refs[i], parent)) pi = (int64_t)i;
    if (pi < 0) {
        *key = NULL;
        return isynth_error_set(err, ISYNTH_ERR_NOT_FOUND, "evolved task: no parent %s", parent);
    }
    f->except = pi;
    isynth_err rc = check(f, t, NULL, NULL, 0, false, v, key, err);
    f->except = -1;
    if (rc) return rc;
    if (v->reason && !strcmp(v->detail, parent)) { /* the parent itself, written back */
        v->reason = "no_evolution";
        snprintf(v->detail, sizeof v->detail, "a copy of %s", parent);
    }
    if (v->reason) return ISYNTH_OK;
    for (size_t i = 0; i < sizeof evol_words / sizeof evol_words[0]; i++)
        if (strstr(t->instruction, evol_words[i]) || strstr(t->input, evol_words[i])) {
            v->reason = "prompt_copy";
            snprintf(v->detail, sizeof v->detail, "the evolution prompt's words: %s",
                     evol_words[i]);
            return ISYNTH_OK;
        }
    /* WizardLM's first elimination rule: the rewrite gains no information over its parent. A
     * rewrite that keeps the input is judged by its instruction (a constraint added to the
     * instruction of a task with a long text is a real change), else by instruction + input */
    bool same_input = !strcmp(t->input, pt->input);
    uint32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (same_input)
        rc = tokens_of(f, t->instruction, &a, &na, err);
    else
        rc = task_tokens(f, t, &a, &na, err);
    if (!rc)
        rc = same_input ? tokens_of(f, pt->instruction, &b, &nb, err)
                        : task_tokens(f, pt, &b, &nb, err);
    if (rc) {
        isynth_free(a);
        isynth_free(*key);
        *key = NULL;
        return rc;
    }
    double score = isynth_rouge_l_f(a, na, b, nb);
    isynth_free(a);
    isynth_free(b);
    if (score >= 0.9) {
        v->reason = "no_evolution";
        snprintf(v->detail, sizeof v->detail, "%s rouge_l=%.3f", parent, score);
    } else if (must_grow && na <= nb) {
        v->reason = "no_evolution";
        snprintf(v->detail, sizeof v->detail, "not longer than %s (%zu <= %zu tokens)", parent, na,
                 nb);
    }
    return ISYNTH_OK;
}
