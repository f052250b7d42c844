/* The filter chain. Exact duplicates are found through a hash set of dedup keys (NFKC, case
 * folded, no spaces or punctuation), so full-width/half-width and spacing variants of one
 * instruction collide; copies of the examples shown in the prompt are caught by containment
 * of keys, which catches the near-verbatim copies small models make. */
#include "isynth/filter.h"
#include "isynth/normalize.h"
#include "isynth/quality.h"
#include "isynth/rouge.h"
#include "internal.h"

#include <string.h>

typedef struct entry {
    char *key;
    char *ref;
} entry;

struct isynth_filter {
    isynth_filter_params p;
    entry *tab; /* open addressing, power-of-two size */
    size_t cap, n;
    isynth_keywords *kw;
    isynth_quality_params qp;
    isynth_tokenizer *tok;
    isynth_sim_index *sim; /* instructions of seeds and pool; item id = index into refs */
    char **refs;
    size_t n_refs, cap_refs;
};

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
    };
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

isynth_err isynth_filter_new(const isynth_filter_params *p, isynth_filter **out,
                             isynth_error *err)
{
    isynth_filter *f = isynth_calloc(1, sizeof *f);
    *out = NULL;
    if (!f)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    f->p = *p;
    f->p.keywords_path = NULL; /* borrowed only during this call */
    f->qp = isynth_quality_params_default(p->lang);
    isynth_err rc = p->keywords_path ? isynth_keywords_load(p->keywords_path, &f->kw, err)
                                     : isynth_keywords_default(&f->kw, err);
    if (!rc)
        rc = isynth_tokenizer_new((isynth_tokenizer_kind)p->tokenizer, &f->tok, err);
    if (!rc)
        rc = isynth_sim_index_new(f->tok, &f->sim, err);
    if (rc) {
        isynth_filter_free(f);
        return rc;
    }
    *out = f;
    return ISYNTH_OK;
}

void isynth_filter_free(isynth_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->cap; i++) {
        isynth_free(f->tab[i].key);
        isynth_free(f->tab[i].ref);
    }
    isynth_free(f->tab);
    for (size_t i = 0; i < f->n_refs; i++)
        isynth_free(f->refs[i]);
    isynth_free(f->refs);
    isynth_sim_index_free(f->sim);
    isynth_tokenizer_free(f->tok);
    isynth_keywords_free(f->kw);
    isynth_free(f);
}

static entry *lookup(isynth_filter *f, const char *key)
{
    if (!f->cap)
        return NULL;
    size_t i = hash(key) & (f->cap - 1);
    while (f->tab[i].key) {
        if (!strcmp(f->tab[i].key, key))
            return &f->tab[i];
        i = (i + 1) & (f->cap - 1);
    }
    return NULL;
}

static isynth_err grow(isynth_filter *f)
{
    size_t cap = f->cap ? f->cap * 2 : 256;
    entry *tab = isynth_calloc(cap, sizeof *tab);
    if (!tab)
        return ISYNTH_ERR_NOMEM;
    for (size_t i = 0; i < f->cap; i++) {
        if (!f->tab[i].key)
            continue;
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
        if (rc)
            return rc;
        isynth_free(*fields[i]);
        *fields[i] = norm;
    }
    return ISYNTH_OK;
}

/* The key of instruction + input: the same instruction on a different input is a new task. */
static isynth_err task_key(const isynth_task *t, char **key, isynth_error *err)
{
    buf b;
    buf_init(&b, 0);
    if (buf_adds(&b, t->instruction) || buf_addc(&b, '\n') || buf_adds(&b, t->input)) {
        buf_free(&b);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    size_t len;
    isynth_err rc = isynth_dedup_key(b.p, b.len, key, &len, err);
    buf_free(&b);
    return rc;
}

/* Adds the instruction to the ROUGE-L index under a new item id that maps back to ref. */
static isynth_err sim_add(isynth_filter *f, const char *ref, const isynth_task *t,
                          isynth_error *err)
{
    if (f->n_refs == f->cap_refs) {
        size_t cap = f->cap_refs ? f->cap_refs * 2 : 256;
        char **n = isynth_realloc(f->refs, cap * sizeof *n);
        if (!n)
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        f->refs = n;
        f->cap_refs = cap;
    }
    char *r = isynth_strdup(ref);
    if (!r)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = isynth_sim_index_add(f->sim, (int64_t)f->n_refs, t->instruction,
                                         strlen(t->instruction), err);
    if (rc) {
        isynth_free(r);
        return rc;
    }
    f->refs[f->n_refs++] = r;
    return ISYNTH_OK;
}

isynth_err isynth_filter_add(isynth_filter *f, const char *ref, const isynth_task *t,
                             isynth_error *err)
{
    char *key;
    isynth_err rc = task_key(t, &key, err);
    if (rc)
        return rc;
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
    return sim_add(f, ref, t, err);
}

/* True when one key contains the other and the shorter is at least `ratio` of the longer. */
static bool contains_copy(const char *a, const char *b, double ratio)
{
    size_t la = strlen(a), lb = strlen(b);
    if (!la || !lb)
        return false;
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
        isynth_err rc = isynth_dedup_key(fa[i], strlen(fa[i]), &ka, &la, err);
        if (!rc)
            rc = isynth_dedup_key(fb[i], strlen(fb[i]), &kb, &lb, err);
        if (!rc)
            *copy = field_copy(ka, kb, ratio);
        isynth_free(ka);
        isynth_free(kb);
        if (rc)
            return rc;
    }
    return ISYNTH_OK;
}

/* What a match with ref means: a seed ("s3") makes a seed copy, a line of the prompt's own
 * instructions ("p2") a prompt copy, a generated task ("g12") the given reason. */
static const char *copy_reason(const char *ref, const char *generated)
{
    return ref[0] == 's' ? "seed_copy" : ref[0] == 'p' ? "prompt_copy" : generated;
}

/* ROUGE-L of the instruction: against each example shown (a near-copy of what the model was
 * given is a seed copy), then the exact nearest neighbour in seeds and pool, stored for every
 * candidate. */
static isynth_err rouge_check(isynth_filter *f, const isynth_task *t,
                              const isynth_task *const *examples, const char *const *example_refs,
                              size_t k, isynth_verdict *v, isynth_error *err)
{
    double thr = f->p.rouge_threshold;
    uint32_t *ids = NULL;
    size_t n = 0;
    isynth_err rc = isynth_tokenize(f->tok, t->instruction, strlen(t->instruction), &ids, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < k && thr > 0; i++) {
        uint32_t *eids = NULL;
        size_t en = 0;
        if ((rc = isynth_tokenize(f->tok, examples[i]->instruction,
                                  strlen(examples[i]->instruction), &eids, &en, err)))
            goto out;
        double score = isynth_rouge_l_f(ids, n, eids, en);
        isynth_free(eids);
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
    if ((rc = isynth_sim_index_nearest_tokens(f->sim, ids, n, 0.0, &nn, &score, err)))
        goto out;
    if (nn >= 0 && (size_t)nn < f->n_refs) {
        snprintf(v->nn_ref, sizeof v->nn_ref, "%s", f->refs[nn]);
        v->nn_score = score;
        if (thr > 0 && score >= thr) {
            v->reason = copy_reason(f->refs[nn], "rouge");
            snprintf(v->detail, sizeof v->detail, "%s rouge_l=%.3f", f->refs[nn], score);
        }
    } else {
        v->nn_score = 0;
    }
out:
    isynth_free(ids);
    return rc;
}

isynth_err isynth_filter_check(isynth_filter *f, const isynth_task *t,
                               const isynth_task *const *examples, const char *const *example_refs,
                               size_t k, isynth_verdict *v, char **key, isynth_error *err)
{
    memset(v, 0, sizeof *v);
    v->nn_score = -1;
    *key = NULL;
    const isynth_filter_params *p = &f->p;
    size_t ni = isynth_utf8_chars(t->instruction, strlen(t->instruction));
    size_t nin = isynth_utf8_chars(t->input, strlen(t->input));
    size_t no = isynth_utf8_chars(t->output, strlen(t->output));
    isynth_err rc = task_key(t, key, err);
    if (rc)
        return rc;
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
        if ((rc = is_example_copy(t, examples[i], p->copy_ratio, &copy, err)))
            return rc;
        if (copy) {
            v->reason = "seed_copy";
            snprintf(v->detail, sizeof v->detail, "%s", example_refs[i]);
            return ISYNTH_OK;
        }
    }
    if (p->quality) {
        const char *q = isynth_quality_check(&f->qp, f->kw, t->instruction,
                                             strlen(t->instruction));
        if (q) {
            v->reason = q;
            return ISYNTH_OK;
        }
    }
    return rouge_check(f, t, examples, example_refs, k, v, err);
}
