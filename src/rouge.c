/* Exact ROUGE-L and the similarity index behind the Self-Instruct novelty filter and `isynth
 * dedup`. The one idea: every decision is made on integer LCS lengths. A threshold t becomes the
 * smallest LCS that reaches t with rouge-score's own floating-point formula
 * (isynth_rouge_l_min_lcs), and a pair is skipped only when an exact upper bound on its LCS is
 * below that integer; the LCS itself is computed bit-parallel (Hyyro 2004: V' = (V + (V & M)) |
 * (V & ~M), one machine word per 64 pattern tokens). */
#include "isynth/rouge.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID ((uint32_t)1 << 24)

/* ---- the score ---------------------------------------------------------------------------- */

double isynth_rouge_l_f_from_lcs(size_t lcs, size_t m, size_t n)
{
    if (lcs == 0 || m == 0 || n == 0) return 0.0;
    double p = (double)lcs / (double)n; /* any order: the formula is symmetric bit for bit */
    double r = (double)lcs / (double)m;
    return 2.0 * p * r / (p + r);
}

size_t isynth_rouge_l_min_lcs(size_t m, size_t n, double t)
{
    size_t mn = m < n ? m : n;
    if (t <= 0.0) return 1;
    if (t > 1.0 || mn == 0) return mn + 1;
    /* F = 2l/(m+n) exactly in real arithmetic; rounding moves it by far less than one step of
     * 2/(m+n), so the answer lies within a few steps of the real one: walk up from below it. */
    double est = floor(t * (double)(m + n) / 2.0);
    size_t l = est > 3.0 ? (size_t)est - 2 : 1;
    for (; l <= mn; l++)
        if (isynth_rouge_l_f_from_lcs(l, m, n) >= t) return l;
    return mn + 1;
}

/* ---- the bit-parallel kernel -------------------------------------------------------------- */

/* One step of Hyyro's LCS for a text symbol whose match vector is M (W words) over V. */
static inline void lcs_step(uint64_t *V, const uint64_t *M, size_t W)
{
    uint64_t carry = 0;
    for (size_t w = 0; w < W; w++) {
        uint64_t v = V[w], u = v & M[w];
        uint64_t x = v + u;
        uint64_t c1 = x < v;
        uint64_t y = x + carry;
        carry = c1 | (y < x);
        V[w] = y | (v - u);
    }
}

static size_t lcs_count(const uint64_t *V, size_t W, size_t m)
{
    size_t z = 0;
    for (size_t w = 0; w < W; w++) {
        uint64_t v = ~V[w];
        if (w == W - 1 && (m & 63)) v &= (UINT64_C(1) << (m & 63)) - 1;
        z += (size_t)__builtin_popcountll(v);
    }
    return z;
}

/* LCS over a pattern whose match vectors are pm[(slot-1)*W..], where SLOT(c) gives the slot of
 * text symbol c (0 = not in the pattern). V is W words of scratch. */
#define LCS_RUN(SLOT)                                                                              \
    do {                                                                                           \
        if (W == 1) {                                                                              \
            uint64_t v = ~UINT64_C(0);                                                             \
            for (size_t j = 0; j < n; j++) {                                                       \
                uint32_t s = SLOT(b[j]);                                                           \
                if (s) {                                                                           \
                    uint64_t u = v & pm[s - 1];                                                    \
                    v = (v + u) | (v - u);                                                         \
                }                                                                                  \
            }                                                                                      \
            V[0] = v;                                                                              \
        } else {                                                                                   \
            for (size_t w = 0; w < W; w++)                                                         \
                V[w] = ~UINT64_C(0);                                                               \
            for (size_t j = 0; j < n; j++) {                                                       \
                uint32_t s = SLOT(b[j]);                                                           \
                if (s) lcs_step(V, pm + (size_t)(s - 1) * W, W);                                   \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* A small open-addressing map from arbitrary uint32 symbols to slots 1..nsym. */
static inline uint32_t hslot(const uint32_t *keys, const uint32_t *vals, unsigned bits, uint32_t c)
{
    size_t mask = ((size_t)1 << bits) - 1;
    size_t i = (uint32_t)(c * 0x9E3779B1u) >> (32 - bits);
    for (;; i = (i + 1) & mask) {
        uint32_t v = vals[i];
        if (!v || keys[i] == c) return v;
    }
}

/* Builds the match vectors of a[0..m) into pm (cap nsym*W words, zeroed here) and the map. */
static uint32_t build_hashed(const uint32_t *a, size_t m, size_t W, uint64_t *pm, uint32_t *keys,
                             uint32_t *vals, unsigned bits)
{
    size_t mask = ((size_t)1 << bits) - 1;
    memset(vals, 0, (mask + 1) * sizeof *vals);
    uint32_t nsym = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t c = a[j];
        size_t i = (uint32_t)(c * 0x9E3779B1u) >> (32 - bits);
        while (vals[i] && keys[i] != c)
            i = (i + 1) & mask;
        if (!vals[i]) {
            keys[i] = c;
            vals[i] = ++nsym;
            memset(pm + (size_t)(nsym - 1) * W, 0, W * sizeof *pm);
        }
        pm[(size_t)(vals[i] - 1) * W + j / 64] |= UINT64_C(1) << (j & 63);
    }
    return nsym;
}

static unsigned hash_bits_for(size_t m)
{
    unsigned bits = 4;
    while (((size_t)1 << bits) < 2 * m)
        bits++;
    return bits;
}

#define SMALL_LCS 256

isynth_err isynth_lcs_length(const uint32_t *a, size_t m, const uint32_t *b, size_t n, size_t *out)
{
    *out = 0;
    if (m == 0 || n == 0) return ISYNTH_OK;
    if (m > n) { /* the pattern is the shorter side: fewer words per step */
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = m;
        m = n;
        n = tn;
    }
    size_t W = (m + 63) / 64;
    unsigned bits = hash_bits_for(m);
    uint64_t pm_s[SMALL_LCS * (SMALL_LCS / 64)], V_s[SMALL_LCS / 64];
    uint32_t keys_s[2 * SMALL_LCS], vals_s[2 * SMALL_LCS];
    uint64_t *pm = pm_s, *V = V_s;
    uint32_t *keys = keys_s, *vals = vals_s;
    void *heap = NULL;
    if (m > SMALL_LCS) {
        size_t hs = (size_t)1 << bits;
        if (W > SIZE_MAX / 8 / (m + 1)) return ISYNTH_ERR_TOO_LARGE;
        heap = isynth_malloc((m * W + W) * sizeof(uint64_t) + 2 * hs * sizeof(uint32_t));
        if (!heap) return ISYNTH_ERR_NOMEM;
        pm = heap;
        V = pm + m * W;
        keys = (uint32_t *)(V + W);
        vals = keys + hs;
    }
    build_hashed(a, m, W, pm, keys, vals, bits);
#define HSLOT(c) hslot(keys, vals, bits, (c))
    LCS_RUN(HSLOT);
#undef HSLOT
    *out = lcs_count(V, W, m);
    isynth_free(heap);
    return ISYNTH_OK;
}

double isynth_rouge_l_f(const uint32_t *a, size_t m, const uint32_t *b, size_t n)
{
    size_t l;
    if (isynth_lcs_length(a, m, b, n, &l)) return -1.0;
    return isynth_rouge_l_f_from_lcs(l, m, n);
}

size_t isynth_lcs_bound_multiset(const uint32_t *a, size_t m, const uint32_t *b, size_t n)
{
    size_t mn = m < n ? m : n;
    if (mn == 0) return 0;
    if (m > n) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = m;
        m = n;
        n = tn;
    }
    /* count a's symbols in a map, then consume them with b's */
    unsigned bits = hash_bits_for(m);
    size_t hs = (size_t)1 << bits;
    uint32_t keys_s[2 * SMALL_LCS], vals_s[2 * SMALL_LCS], cnt_s[SMALL_LCS + 1];
    uint32_t *keys = keys_s, *vals = vals_s, *cnt = cnt_s;
    void *heap = NULL;
    if (m > SMALL_LCS) {
        heap = isynth_malloc((2 * hs + m + 1) * sizeof(uint32_t));
        if (!heap) return mn; /* still a valid bound */
        keys = heap;
        vals = keys + hs;
        cnt = vals + hs;
    }
    memset(vals, 0, hs * sizeof *vals);
    uint32_t nsym = 0;
    for (size_t j = 0; j < m; j++) {
        size_t i = (uint32_t)(a[j] * 0x9E3779B1u) >> (32 - bits);
        while (vals[i] && keys[i] != a[j])
            i = (i + 1) & (hs - 1);
        if (!vals[i]) {
            keys[i] = a[j];
            vals[i] = ++nsym;
            cnt[nsym] = 0;
        }
        cnt[vals[i]]++;
    }
    size_t common = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t s = hslot(keys, vals, bits, b[j]);
        if (s && cnt[s]) {
            cnt[s]--;
            common++;
        }
    }
    isynth_free(heap);
    return common;
}

/* ---- prepared patterns -------------------------------------------------------------------- */

/* Symbols below DENSE_IDS (every tokenizer vocabulary in practice) are looked up in a direct
 * table; the hash map serves the rest. */
#define DENSE_IDS ((uint32_t)1 << 16)

struct isynth_rouge_pattern {
    size_t m, W;
    unsigned bits;
    uint64_t *pm, *V;
    uint32_t *keys, *vals;
    size_t cap_m, cap_h;
    uint32_t *dense; /* DENSE_IDS slots, or NULL when a symbol is >= DENSE_IDS */
    uint32_t *syms;  /* the symbols set in dense, to clear them */
    size_t nsyms;
    bool use_dense;
    uint64_t *dense64; /* for W == 1: the match word itself, so the loop has no branch */
};

isynth_err isynth_rouge_pattern_new(isynth_rouge_pattern **out, isynth_error *err)
{
    *out = isynth_calloc(1, sizeof **out);
    if (!*out) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "rouge pattern: out of memory");
    return ISYNTH_OK;
}

isynth_err isynth_rouge_pattern_set(isynth_rouge_pattern *p, const uint32_t *a, size_t m,
                                    isynth_error *err)
{
    if (m > ISYNTH_SIM_MAX_TOKENS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "rouge pattern: %zu tokens exceed the limit of %zu", m,
                                ISYNTH_SIM_MAX_TOKENS);
    size_t W = m ? (m + 63) / 64 : 1;
    unsigned bits = hash_bits_for(m ? m : 1);
    size_t hs = (size_t)1 << bits;
    if (m * W + W > p->cap_m) {
        if (ARRAY_RESIZE(p->pm, m * W + W))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "rouge pattern: out of memory");
        p->cap_m = m * W + W;
    }
    if (hs > p->cap_h) {
        if (ARRAY_RESIZE(p->keys, 2 * hs))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "rouge pattern: out of memory");
        p->cap_h = hs;
    }
    p->vals = p->keys + p->cap_h;
    p->m = m;
    p->W = W;
    p->bits = bits;
    p->V = p->pm + m * W;
    uint32_t nsym = build_hashed(a, m, W, p->pm, p->keys, p->vals, bits);
    /* the dense table: clear the previous pattern's symbols, set this one's */
    if (p->dense)
        for (size_t i = 0; i < p->nsyms; i++) {
            p->dense[p->syms[i]] = 0;
            p->dense64[p->syms[i]] = 0;
        }
    p->nsyms = 0;
    uint32_t mx = 0;
    for (size_t j = 0; j < m; j++)
        mx = a[j] > mx ? a[j] : mx;
    bool dense = mx < DENSE_IDS;
    if (dense && !p->dense) {
        p->dense = isynth_calloc(DENSE_IDS, sizeof *p->dense);
        p->syms = isynth_malloc(DENSE_IDS * sizeof *p->syms);
        p->dense64 = isynth_calloc(DENSE_IDS, sizeof *p->dense64);
        if (!p->dense || !p->syms || !p->dense64) {
            isynth_free(p->dense);
            isynth_free(p->syms);
            isynth_free(p->dense64);
            p->dense = p->syms = NULL;
            p->dense64 = NULL;
            dense = false; /* the hash map still works */
        }
    }
    p->use_dense = dense;
    if (dense) {
        for (size_t i = 0; i <= (((size_t)1 << bits) - 1); i++)
            if (p->vals[i]) {
                p->dense[p->keys[i]] = p->vals[i];
                p->dense64[p->keys[i]] = W == 1 ? p->pm[p->vals[i] - 1] : 0;
                p->syms[p->nsyms++] = p->keys[i];
            }
    }
    (void)nsym;
    return ISYNTH_OK;
}

size_t isynth_rouge_pattern_lcs(const isynth_rouge_pattern *p, const uint32_t *b, size_t n)
{
    if (!p->m || !n) return 0;
    const uint64_t *pm = p->pm;
    uint64_t *V = p->V;
    size_t W = p->W;
    const uint32_t *keys = p->keys, *vals = p->vals;
    unsigned bits = p->bits;
    if (p->use_dense && W == 1) {
        const uint64_t *d64 = p->dense64;
        uint64_t v = ~UINT64_C(0);
        for (size_t j = 0; j < n; j++) {
            uint64_t u = v & (b[j] < DENSE_IDS ? d64[b[j]] : 0);
            v = (v + u) | (v - u);
        }
        V[0] = v;
    } else if (p->use_dense) {
        const uint32_t *dense = p->dense;
#define DSLOT(c) ((c) < DENSE_IDS ? dense[(c)] : 0)
        LCS_RUN(DSLOT);
#undef DSLOT
    } else {
#define HSLOT(c) hslot(keys, vals, bits, (c))
        LCS_RUN(HSLOT);
#undef HSLOT
    }
    return lcs_count(V, W, p->m);
}

double isynth_rouge_pattern_f(const isynth_rouge_pattern *p, const uint32_t *b, size_t n)
{
    return isynth_rouge_l_f_from_lcs(isynth_rouge_pattern_lcs(p, b, n), p->m, n);
}

void isynth_rouge_pattern_free(isynth_rouge_pattern *p)
{
    if (!p) return;
    isynth_free(p->pm);
    isynth_free(p->keys);
    isynth_free(p->dense);
    isynth_free(p->syms);
    isynth_free(p->dense64);
    isynth_free(p);
}

/* ---- the similarity index ----------------------------------------------------------------- */

/* Items are stored in insertion order (their index is their rank for ties). Each item's
 * multiset of tokens is a set of elements (token, k-th occurrence), so multiset intersection is
 * set intersection; every element has an inverted list of the items that hold it. */
typedef struct plist {
    uint32_t *p;
    uint32_t n, cap;
} plist;

typedef struct qel {
    uint32_t df;  /* inverted-list length: probing order */
    uint32_t eid; /* UINT32_MAX: the element is in no item */
} qel;

typedef struct cand {
    uint32_t item;
    uint32_t count; /* matched elements among the probed ones */
    uint32_t ub;    /* upper bound on the LCS */
} cand;

struct isynth_sim_index {
    isynth_tokenizer *tok;
    /* items */
    size_t n, cap;
    int64_t *ids;
    uint32_t *len;
    uint32_t **toks; /* tokens, then the sorted element ids, in one allocation per item */
    size_t maxlen;
    size_t tok_bytes; /* bytes held by item token arrays */
    /* elements: (token << 32 | k) -> eid, and their inverted lists */
    uint64_t *ekeys;
    uint32_t *evals;
    size_t emask, ecount;
    plist *lists;
    size_t lcap;
    size_t post_bytes;
    /* per-token scratch indexed by token id, always back to zero between calls */
    uint32_t *occ, *slot;
    size_t idcap;
    /* per-query scratch */
    uint32_t *count, *touched;
    size_t countcap;
    qel *qe;
    uint32_t *qsorted, *qtok;
    size_t qcap;
    cand *cands;
    size_t candcap;
    uint64_t *pm, *V;
    size_t pmcap;
    uint32_t *need; /* per candidate length: the smallest LCS reaching the threshold */
    size_t needcap;
    isynth_sim_stats st;
};

isynth_err isynth_sim_index_new(isynth_tokenizer *tok, isynth_sim_index **out, isynth_error *err)
{
    *out = NULL;
    isynth_sim_index *x = isynth_calloc(1, sizeof *x);
    if (!x) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
    x->tok = tok;
    x->emask = 1023;
    x->ekeys = isynth_malloc((x->emask + 1) * sizeof *x->ekeys);
    x->evals = isynth_calloc(x->emask + 1, sizeof *x->evals);
    if (!x->ekeys || !x->evals) {
        isynth_sim_index_free(x);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
    }
    *out = x;
    return ISYNTH_OK;
}

void isynth_sim_index_free(isynth_sim_index *x)
{
    if (!x) return;
    for (size_t i = 0; i < x->n; i++)
        isynth_free(x->toks[i]);
    for (size_t e = 0; e < x->ecount; e++)
        isynth_free(x->lists[e].p);
    isynth_free(x->ids);
    isynth_free(x->len);
    isynth_free(x->toks);
    isynth_free(x->ekeys);
    isynth_free(x->evals);
    isynth_free(x->lists);
    isynth_free(x->occ);
    isynth_free(x->slot);
    isynth_free(x->count);
    isynth_free(x->touched);
    isynth_free(x->qe);
    isynth_free(x->qsorted);
    isynth_free(x->qtok);
    isynth_free(x->cands);
    isynth_free(x->pm);
    isynth_free(x->need);
    isynth_free(x);
}

size_t isynth_sim_index_size(const isynth_sim_index *x)
{
    return x ? x->n : 0;
}

void isynth_sim_index_stats(const isynth_sim_index *x, isynth_sim_stats *st)
{
    *st = x->st;
}

size_t isynth_sim_index_memory(const isynth_sim_index *x)
{
    return sizeof *x + x->cap * (sizeof(int64_t) + sizeof(uint32_t) + sizeof(uint32_t *)) +
           x->tok_bytes + (x->emask + 1) * (sizeof(uint64_t) + sizeof(uint32_t)) +
           x->lcap * sizeof(plist) + x->post_bytes + 2 * x->idcap * sizeof(uint32_t) +
           x->countcap * 2 * sizeof(uint32_t) + x->qcap * (sizeof(qel) + 2 * sizeof(uint32_t)) +
           x->candcap * sizeof(cand) + x->pmcap * sizeof(uint64_t);
}

static uint64_t ehash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

/* Element id of (tok, k) or UINT32_MAX when absent. */
static uint32_t elem_find(const isynth_sim_index *x, uint32_t tok, uint32_t k)
{
    uint64_t key = (uint64_t)tok << 32 | k;
    for (size_t i = ehash(key) & x->emask;; i = (i + 1) & x->emask) {
        if (!x->evals[i]) return UINT32_MAX;
        if (x->ekeys[i] == key) return x->evals[i] - 1;
    }
}

static isynth_err elem_grow(isynth_sim_index *x)
{
    size_t cap = (x->emask + 1) * 2;
    uint64_t *keys = isynth_malloc(cap * sizeof *keys);
    uint32_t *vals = isynth_calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        isynth_free(keys);
        isynth_free(vals);
        return ISYNTH_ERR_NOMEM;
    }
    for (size_t i = 0; i <= x->emask; i++) {
        if (!x->evals[i]) continue;
        size_t j = ehash(x->ekeys[i]) & (cap - 1);
        while (vals[j])
            j = (j + 1) & (cap - 1);
        keys[j] = x->ekeys[i];
        vals[j] = x->evals[i];
    }
    isynth_free(x->ekeys);
    isynth_free(x->evals);
    x->ekeys = keys;
    x->evals = vals;
    x->emask = cap - 1;
    return ISYNTH_OK;
}

static isynth_err elem_get(isynth_sim_index *x, uint32_t tok, uint32_t k, uint32_t *eid)
{
    uint64_t key = (uint64_t)tok << 32 | k;
    size_t i = ehash(key) & x->emask;
    for (; x->evals[i]; i = (i + 1) & x->emask)
        if (x->ekeys[i] == key) {
            *eid = x->evals[i] - 1;
            return ISYNTH_OK;
        }
    if (x->ecount == x->lcap && ARRAY_GROW(x->lists, x->lcap, 1024)) return ISYNTH_ERR_NOMEM;
    if ((x->ecount + 1) * 2 > x->emask + 1) {
        if (elem_grow(x)) return ISYNTH_ERR_NOMEM;
        for (i = ehash(key) & x->emask; x->evals[i]; i = (i + 1) & x->emask)
            ;
    }
    x->ekeys[i] = key;
    x->evals[i] = (uint32_t)x->ecount + 1;
    x->lists[x->ecount] = (plist){0};
    *eid = (uint32_t)x->ecount++;
    return ISYNTH_OK;
}

/* Makes the per-token scratch cover token ids below `need`. */
static isynth_err ensure_ids(isynth_sim_index *x, size_t need)
{
    if (need <= x->idcap) return ISYNTH_OK;
    size_t cap = x->idcap ? x->idcap : 1024;
    while (cap < need)
        cap = array_next_cap(cap, 1024);
    if (ARRAY_RESIZE(x->occ, cap) || ARRAY_RESIZE(x->slot, cap)) return ISYNTH_ERR_NOMEM;
    memset(x->occ + x->idcap, 0, (cap - x->idcap) * sizeof *x->occ);
    memset(x->slot + x->idcap, 0, (cap - x->idcap) * sizeof *x->slot);
    x->idcap = cap;
    return ISYNTH_OK;
}

static isynth_err check_tokens(isynth_sim_index *x, const uint32_t *ids, size_t n,
                               isynth_error *err)
{
    if (n > ISYNTH_SIM_MAX_TOKENS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "similarity index: %zu tokens exceed the limit of %zu", n,
                                ISYNTH_SIM_MAX_TOKENS);
    uint32_t mx = 0;
    for (size_t j = 0; j < n; j++)
        mx = ids[j] > mx ? ids[j] : mx;
    if (n && mx >= MAX_ID)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "similarity index: token id %u is not below 2^24", mx);
    if (n && ensure_ids(x, (size_t)mx + 1))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
    return ISYNTH_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static isynth_err plist_push(plist *l, uint32_t item, size_t *bytes)
{
    if (l->n == l->cap) {
        size_t cap = array_next_cap(l->cap, 4);
        if (cap > UINT32_MAX || ARRAY_RESIZE(l->p, cap)) return ISYNTH_ERR_NOMEM;
        *bytes += (cap - l->cap) * sizeof *l->p;
        l->cap = (uint32_t)cap;
    }
    l->p[l->n++] = item;
    return ISYNTH_OK;
}

isynth_err isynth_sim_index_add_tokens(isynth_sim_index *x, int64_t id, const uint32_t *ids,
                                       size_t n, isynth_error *err)
{
    isynth_err rc = check_tokens(x, ids, n, err);
    if (rc) return rc;
    if (x->n >= UINT32_MAX - 1)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "similarity index: too many items");
    if (x->n == x->cap) {
        size_t cap = array_next_cap(x->cap, 256);
        if (ARRAY_RESIZE(x->ids, cap) || ARRAY_RESIZE(x->len, cap) || ARRAY_RESIZE(x->toks, cap))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
        x->cap = cap;
    }
    uint32_t *t = isynth_malloc((2 * n + 1) * sizeof *t);
    if (!t) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
    memcpy(t, ids, n * sizeof *t);
    uint32_t *el = t + n;
    uint32_t item = (uint32_t)x->n;
    size_t done = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t k = ++x->occ[ids[j]];
        if (elem_get(x, ids[j], k, &el[j])) goto fail;
    }
    for (size_t j = 0; j < n; j++)
        x->occ[ids[j]] = 0;
    for (; done < n; done++)
        if (plist_push(&x->lists[el[done]], item, &x->post_bytes)) goto fail;
    qsort(el, n, sizeof *el, cmp_u32);
    x->ids[item] = id;
    x->len[item] = (uint32_t)n;
    x->toks[item] = t;
    x->tok_bytes += (2 * n + 1) * sizeof *t;
    x->maxlen = n > x->maxlen ? n : x->maxlen;
    x->n++;
    return ISYNTH_OK;
fail:
    for (size_t j = 0; j < n; j++)
        x->occ[ids[j]] = 0;
    for (size_t j = 0; j < done; j++)
        x->lists[el[j]].n--; /* this item was the last one pushed on each list */
    isynth_free(t);
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
}

isynth_err isynth_sim_index_add(isynth_sim_index *x, int64_t id, const char *text, size_t len,
                                isynth_error *err)
{
    uint32_t *ids;
    size_t n;
    isynth_err rc = isynth_tokenize(x->tok, text, len, &ids, &n, err);
    if (rc) return rc;
    rc = isynth_sim_index_add_tokens(x, id, ids, n, err);
    isynth_free(ids);
    return rc;
}

/* Grows the query scratch for a query of m tokens. */
static isynth_err query_scratch(isynth_sim_index *x, size_t m)
{
    if (x->countcap < x->n) {
        size_t cap = x->n + x->n / 2 + 16;
        if (ARRAY_RESIZE(x->count, cap)) return ISYNTH_ERR_NOMEM;
        memset(x->count + x->countcap, 0, (cap - x->countcap) * sizeof *x->count);
        if (ARRAY_RESIZE(x->touched, cap) || ARRAY_RESIZE(x->cands, cap)) return ISYNTH_ERR_NOMEM;
        x->countcap = x->candcap = cap;
    }
    if (x->qcap < m) {
        if (ARRAY_RESIZE(x->qe, m) || ARRAY_RESIZE(x->qsorted, m) || ARRAY_RESIZE(x->qtok, m))
            return ISYNTH_ERR_NOMEM;
        x->qcap = m;
    }
    if (x->needcap < x->maxlen + 1) {
        if (ARRAY_RESIZE(x->need, x->maxlen + 1)) return ISYNTH_ERR_NOMEM;
        x->needcap = x->maxlen + 1;
    }
    size_t W = (m + 63) / 64;
    if (x->pmcap < m * W + W) {
        if (ARRAY_RESIZE(x->pm, m * W + W)) return ISYNTH_ERR_NOMEM;
        x->pmcap = m * W + W;
    }
    return ISYNTH_OK;
}

static int cmp_qel(const void *a, const void *b)
{
    const qel *x = a, *y = b;
    if (x->df != y->df) return (x->df > y->df) - (x->df < y->df);
    return (x->eid > y->eid) - (x->eid < y->eid);
}

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->item > y->item) - (x->item < y->item);
}

/* |E(q) ∩ E(item)| by merging two sorted element lists. */
static size_t intersect(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            c++;
            i++;
            j++;
        }
    }
    return c;
}

/* The search shared by nearest (stop_at_first false) and any_at_least (true). */
static isynth_err search(isynth_sim_index *x, const uint32_t *q, size_t m, double min_score,
                         bool stop_at_first, int64_t except, int64_t *out_id, double *out_score,
                         isynth_error *err)
{
    *out_id = -1;
    *out_score = 0.0;
    isynth_err rc = check_tokens(x, q, m, err);
    if (rc) return rc;
    x->st.queries++;
    if (m == 0 || x->n == 0 || min_score > 1.0) return ISYNTH_OK;
    if (query_scratch(x, m))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "similarity index: out of memory");
    double t = min_score > 0.0 ? min_score : 0.0;

    /* which candidate lengths can reach t at all, and the smallest overlap they need */
    size_t n_lo = 1, n_hi = x->maxlen;
    while (n_lo <= m && isynth_rouge_l_min_lcs(m, n_lo, t) > n_lo)
        n_lo++;
    if (t > 0.0) {
        double est = floor((double)m * (2.0 - t) / t) + 2.0;
        if (est < (double)n_hi) n_hi = (size_t)est;
        while (n_hi >= m && isynth_rouge_l_min_lcs(m, n_hi, t) > m)
            n_hi--;
    }
    if (n_lo > m || n_lo > n_hi) return ISYNTH_OK;
    size_t tau = m + 1;
    for (size_t L = n_lo; L <= m && L <= n_hi; L++) {
        size_t need = isynth_rouge_l_min_lcs(m, L, t);
        tau = need < tau ? need : tau;
    }
    if (n_hi > m) {
        size_t need = isynth_rouge_l_min_lcs(m, m + 1, t);
        tau = need < tau ? need : tau;
    }
    if (tau == 0) tau = 1;
    for (size_t L = n_lo; L <= n_hi; L++)
        x->need[L] = (uint32_t)isynth_rouge_l_min_lcs(m, L, t);
    size_t probe = m - tau + 1; /* pigeonhole: an overlap of tau meets any m-tau+1 elements */

    /* the query's elements, rarest first, and its match vectors */
    size_t W = (m + 63) / 64, nsym = 0, nq = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t c = q[j];
        uint32_t k = ++x->occ[c];
        uint32_t eid = elem_find(x, c, k);
        x->qe[j] = (qel){eid == UINT32_MAX ? 0 : x->lists[eid].n, eid};
        if (eid != UINT32_MAX) x->qsorted[nq++] = eid;
        if (!x->slot[c]) {
            x->slot[c] = (uint32_t)++nsym;
            x->qtok[nsym - 1] = c;
            memset(x->pm + (nsym - 1) * W, 0, W * sizeof *x->pm);
        }
        x->pm[(size_t)(x->slot[c] - 1) * W + j / 64] |= UINT64_C(1) << (j & 63);
    }
    for (size_t j = 0; j < m; j++)
        x->occ[q[j]] = 0;
    qsort(x->qe, m, sizeof *x->qe, cmp_qel);
    qsort(x->qsorted, nq, sizeof *x->qsorted, cmp_u32);

    /* probe the rarest elements' lists, counting matches per item of a feasible length */
    size_t ntouched = 0;
    for (size_t i = 0; i < probe; i++) {
        if (x->qe[i].eid == UINT32_MAX) continue;
        const plist *l = &x->lists[x->qe[i].eid];
        x->st.postings_visited += l->n;
        for (uint32_t k = 0; k < l->n; k++) {
            uint32_t y = l->p[k];
            uint32_t L = x->len[y];
            if (L < n_lo || L > n_hi) continue;
            if (x->count[y]++ == 0) x->touched[ntouched++] = y;
        }
    }
    x->st.candidates += ntouched;
    size_t nc = 0, rest = m - probe;
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t y = x->touched[i], c = x->count[y];
        x->count[y] = 0;
        size_t L = x->len[y], ub = c + rest;
        ub = ub < L ? ub : L;
        ub = ub < m ? ub : m;
        if (ub < x->need[L]) {
            x->st.pruned_count++;
            continue;
        }
        x->cands[nc++] = (cand){y, c, (uint32_t)ub};
    }
    qsort(x->cands, nc, sizeof *x->cands, cmp_cand);

    /* verify, most promising first; the best so far raises the bar */
    int64_t best = -1;
    double best_f = t;
    const uint64_t *pm = x->pm;
    const uint32_t *slot = x->slot;
    uint64_t *V = x->pm + m * W;
    for (size_t i = 0; i < nc; i++) {
        uint32_t y = x->cands[i].item;
        size_t L = x->len[y], ub = x->cands[i].ub;
        if (x->ids[y] == except) continue;
        if (best >= 0 && ub < isynth_rouge_l_min_lcs(m, L, best_f)) {
            x->st.pruned_best++;
            continue;
        }
        const uint32_t *el = x->toks[y] + L;
        size_t ms = intersect(x->qsorted, nq, el, L);
        if (ms < (best >= 0 ? isynth_rouge_l_min_lcs(m, L, best_f) : x->need[L])) {
            x->st.pruned_multiset++;
            continue;
        }
        const uint32_t *b = x->toks[y];
        size_t n = L;
#define DSLOT(c) slot[(c)]
        LCS_RUN(DSLOT);
#undef DSLOT
        size_t lcs = lcs_count(V, W, m);
        x->st.lcs_computed++;
        double f = isynth_rouge_l_f_from_lcs(lcs, m, L);
        if (f <= 0.0 || f < t) continue;
        if (best < 0 || f > best_f || (f == best_f && y < (uint32_t)best)) {
            best = y;
            best_f = f;
            if (stop_at_first) break;
        }
    }
    for (size_t s = 0; s < nsym; s++)
        x->slot[x->qtok[s]] = 0;
    if (best >= 0) {
        *out_id = x->ids[best];
        *out_score = best_f;
    }
    return ISYNTH_OK;
}

isynth_err isynth_sim_index_nearest_tokens(isynth_sim_index *x, const uint32_t *ids, size_t n,
                                           double min_score, int64_t *nn_id, double *nn_score,
                                           isynth_error *err)
{
    return search(x, ids, n, min_score, false, -1, nn_id, nn_score, err);
}

isynth_err isynth_sim_index_nearest_except_tokens(isynth_sim_index *x, const uint32_t *ids,
                                                  size_t n, double min_score, int64_t except_id,
                                                  int64_t *nn_id, double *nn_score,
                                                  isynth_error *err)
{
    return search(x, ids, n, min_score, false, except_id, nn_id, nn_score, err);
}

isynth_err isynth_sim_index_any_at_least_tokens(isynth_sim_index *x, const uint32_t *ids, size_t n,
                                                double threshold, int64_t *hit_id,
                                                double *hit_score, isynth_error *err)
{
    return search(x, ids, n, threshold, true, -1, hit_id, hit_score, err);
}

static isynth_err search_text(isynth_sim_index *x, const char *text, size_t len, double t,
                              bool first, int64_t *id, double *score, isynth_error *err)
{
    *id = -1;
    *score = 0.0;
    uint32_t *ids;
    size_t n;
    isynth_err rc = isynth_tokenize(x->tok, text, len, &ids, &n, err);
    if (rc) return rc;
    rc = search(x, ids, n, t, first, -1, id, score, err);
    isynth_free(ids);
    return rc;
}

isynth_err isynth_sim_index_nearest(isynth_sim_index *x, const char *text, size_t len,
                                    double min_score, int64_t *nn_id, double *nn_score,
                                    isynth_error *err)
{
    return search_text(x, text, len, min_score, false, nn_id, nn_score, err);
}

isynth_err isynth_sim_index_any_at_least(isynth_sim_index *x, const char *text, size_t len,
                                         double threshold, int64_t *hit_id, double *hit_score,
                                         isynth_error *err)
{
    return search_text(x, text, len, threshold, true, hit_id, hit_score, err);
}
