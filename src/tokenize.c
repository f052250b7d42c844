/* Tokenisers for ROUGE-L: text -> integer token ids from a vocabulary the tokenizer owns.
 * The one idea: Japanese has no spaces, so the default tokenizer makes every kanji and kana
 * character a token while Latin words stay whole, after NFKC + case folding (utf8proc, run in
 * our own buffers so that every allocation goes through isynth_malloc). */
#include "isynth/rouge.h"
#include "internal.h"

#include <string.h>
#include <utf8proc.h>

#ifdef ISYNTH_HAVE_MECAB
#include <mecab.h>
#endif

#define VOCAB_MAX ((size_t)1 << 30)
/* A text normalised for MeCab, or one token: NFKC grows UTF-8 about 11-fold at most (U+FDFA, 3
 * bytes, becomes 33) from the ISYNTH_TOKENIZE_MAX_BYTES read. */
#define NORM_MAX (12 * ISYNTH_TOKENIZE_MAX_BYTES)

struct isynth_tokenizer {
    isynth_tokenizer_kind kind;
    /* vocabulary: token texts in one arena, an open-addressing table of id+1 */
    buf arena;
    uint32_t *off, *len;
    uint64_t *hash;
    size_t nv, vcap;
    uint32_t *table;
    size_t tmask;
    /* scratch reused across calls */
    int32_t *cps;
    size_t cpcap;
    buf tokbuf;  /* the token being assembled */
    buf normbuf; /* normalised UTF-8 for MeCab */
    uint32_t *ids;
    size_t nids, idcap;
#ifdef ISYNTH_HAVE_MECAB
    mecab_t *mecab;
#endif
};

static const char *const kind_names[] = {"chars", "words", "mecab"};

isynth_err isynth_tokenizer_kind_from_name(const char *name, isynth_tokenizer_kind *kind)
{
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, kind_names[i])) {
            *kind = (isynth_tokenizer_kind)i;
            return ISYNTH_OK;
        }
    return ISYNTH_ERR_INVALID;
}

const char *isynth_tokenizer_kind_name(isynth_tokenizer_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

/* ---- character classes ------------------------------------------------------------------ */

enum cclass { C_SEP, C_CJK, C_WORD, C_MARK };

static enum cclass char_class(int32_t c)
{
    switch (uc_kind_of(c)) {
    case UC_MARK:
        return C_MARK;
    case UC_ALNUM:
        return ja_script_of((uint32_t)c) != JA_NONE ? C_CJK : C_WORD;
    default:
        return C_SEP;
    }
}

#define NORM_OPTS (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STABLE)

size_t isynth_chars_token_count(const char *text, size_t len)
{
    size_t count = 0, i = 0;
    bool in_word = false;
    while (i < len) {
        uint32_t cp;
        size_t l = utf8_decode(text + i, len - i, &cp);
        i += l;
        utf8proc_int32_t d[32];
        utf8proc_ssize_t nd =
            utf8proc_decompose_char((utf8proc_int32_t)cp, d, 32,
                                    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD, NULL);
        if (nd < 0 || nd > 32) {
            d[0] = (utf8proc_int32_t)cp;
            nd = 1;
        }
        for (utf8proc_ssize_t k = 0; k < nd; k++) {
            switch (char_class(d[k])) {
            case C_CJK:
                count++;
                in_word = false;
                break;
            case C_WORD:
                if (!in_word) count++;
                in_word = true;
                break;
            case C_MARK:
                break;
            default:
                in_word = false;
            }
        }
    }
    return count;
}

/* ---- vocabulary ------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static isynth_err vocab_rehash(isynth_tokenizer *t, size_t cap)
{
    uint32_t *tab = isynth_calloc(cap, sizeof *tab);
    if (!tab) return ISYNTH_ERR_NOMEM;
    for (size_t id = 0; id < t->nv; id++) {
        size_t j = t->hash[id] & (cap - 1);
        while (tab[j])
            j = (j + 1) & (cap - 1);
        tab[j] = (uint32_t)id + 1;
    }
    isynth_free(t->table);
    t->table = tab;
    t->tmask = cap - 1;
    return ISYNTH_OK;
}

/* Returns the id of s[0..n), adding it when new. */
static isynth_err intern(isynth_tokenizer *t, const char *s, size_t n, uint32_t *id)
{
    uint64_t h = hash_bytes(s, n);
    size_t j = h & t->tmask;
    for (uint32_t e; (e = t->table[j]) != 0; j = (j + 1) & t->tmask) {
        uint32_t k = e - 1;
        if (t->hash[k] == h && t->len[k] == n && !memcmp(t->arena.p + t->off[k], s, n)) {
            *id = k;
            return ISYNTH_OK;
        }
    }
    if (t->nv >= VOCAB_MAX || t->arena.len + n > UINT32_MAX) return ISYNTH_ERR_TOO_LARGE;
    if (t->nv == t->vcap) {
        size_t cap = array_next_cap(t->vcap, 256);
        if (ARRAY_RESIZE(t->off, cap) || ARRAY_RESIZE(t->len, cap) || ARRAY_RESIZE(t->hash, cap))
            return ISYNTH_ERR_NOMEM;
        t->vcap = cap;
    }
    size_t at = t->arena.len;
    isynth_err rc = buf_add(&t->arena, s, n);
    if (rc) return rc;
    t->off[t->nv] = (uint32_t)at;
    t->len[t->nv] = (uint32_t)n;
    t->hash[t->nv] = h;
    t->table[j] = (uint32_t)t->nv + 1;
    *id = (uint32_t)t->nv++;
    if (t->nv * 2 > t->tmask + 1) {
        rc = vocab_rehash(t, (t->tmask + 1) * 2);
        if (rc) {
            /* the table is still valid at a higher load; keep going */
            return t->nv * 10 > (t->tmask + 1) * 9 ? rc : ISYNTH_OK;
        }
    }
    return ISYNTH_OK;
}

size_t isynth_tokenizer_vocab_size(const isynth_tokenizer *tok)
{
    return tok ? tok->nv : 0;
}

const char *isynth_tokenizer_token(const isynth_tokenizer *tok, uint32_t id, size_t *len)
{
    if (!tok || id >= tok->nv) return NULL;
    *len = tok->len[id];
    return tok->arena.p + tok->off[id];
}

/* ---- life cycle ------------------------------------------------------------------------- */

isynth_err isynth_tokenizer_new(isynth_tokenizer_kind kind, isynth_tokenizer **out,
                                isynth_error *err)
{
    *out = NULL;
    if ((unsigned)kind > ISYNTH_TOKENIZER_MECAB)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "unknown tokenizer kind %d", (int)kind);
#ifndef ISYNTH_HAVE_MECAB
    if (kind == ISYNTH_TOKENIZER_MECAB)
        return isynth_error_set(err, ISYNTH_ERR_NOT_FOUND,
                                "tokenizer mecab: isynth was built without MeCab "
                                "(install libmecab-dev and mecab-ipadic-utf8, then rebuild)");
#endif
    isynth_tokenizer *t = isynth_calloc(1, sizeof *t);
    if (!t) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "tokenizer: out of memory");
    t->kind = kind;
    buf_init(&t->arena, UINT32_MAX); /* the vocabulary's uint32 offsets */
    buf_init(&t->tokbuf, NORM_MAX);
    buf_init(&t->normbuf, NORM_MAX);
    if (vocab_rehash(t, 512)) {
        isynth_tokenizer_free(t);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "tokenizer: out of memory");
    }
#ifdef ISYNTH_HAVE_MECAB
    if (kind == ISYNTH_TOKENIZER_MECAB) {
        t->mecab = mecab_new2("");
        if (!t->mecab) {
            isynth_error_set(err, ISYNTH_ERR_NOT_FOUND,
                             "tokenizer mecab: cannot load the MeCab dictionary (%s); install "
                             "mecab-ipadic-utf8 or set MECABRC",
                             mecab_strerror(NULL));
            isynth_tokenizer_free(t);
            return ISYNTH_ERR_NOT_FOUND;
        }
    }
#endif
    *out = t;
    return ISYNTH_OK;
}

void isynth_tokenizer_free(isynth_tokenizer *t)
{
    if (!t) return;
#ifdef ISYNTH_HAVE_MECAB
    if (t->mecab) mecab_destroy(t->mecab);
#endif
    buf_free(&t->arena);
    buf_free(&t->tokbuf);
    buf_free(&t->normbuf);
    isynth_free(t->off);
    isynth_free(t->len);
    isynth_free(t->hash);
    isynth_free(t->table);
    isynth_free(t->cps);
    isynth_free(t->ids);
    isynth_free(t);
}

/* ---- tokenising ------------------------------------------------------------------------- */

static isynth_err push_id(isynth_tokenizer *t, uint32_t id)
{
    if (t->nids == t->idcap && ARRAY_GROW(t->ids, t->idcap, 64)) return ISYNTH_ERR_NOMEM;
    t->ids[t->nids++] = id;
    return ISYNTH_OK;
}

static isynth_err flush_token(isynth_tokenizer *t)
{
    if (t->tokbuf.len == 0) return ISYNTH_OK;
    uint32_t id;
    isynth_err rc = intern(t, t->tokbuf.p, t->tokbuf.len, &id);
    buf_reset(&t->tokbuf);
    return rc ? rc : push_id(t, id);
}

static isynth_err add_cp(buf *b, int32_t cp)
{
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, u);
    return buf_add(b, u, (size_t)n);
}

/* NFKC + case folding of text into t->cps; returns the number of code points in *n. */
static isynth_err normalize(isynth_tokenizer *t, const char *text, size_t len, size_t *n)
{
    *n = 0;
    if (len == 0) return ISYNTH_OK;
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)text;
    for (;;) {
        utf8proc_ssize_t r = utf8proc_decompose_custom(
            u, (utf8proc_ssize_t)len, t->cps, (utf8proc_ssize_t)t->cpcap, NORM_OPTS, NULL, NULL);
        if (r < 0) return ISYNTH_ERR_UTF8;
        if ((size_t)r <= t->cpcap) {
            r = utf8proc_normalize_utf32(t->cps, r, NORM_OPTS);
            if (r < 0) return ISYNTH_ERR_UTF8;
            *n = (size_t)r;
            return ISYNTH_OK;
        }
        if (ARRAY_RESIZE(t->cps, (size_t)r)) return ISYNTH_ERR_NOMEM;
        t->cpcap = (size_t)r;
    }
}

static isynth_err tokenize_chars(isynth_tokenizer *t, size_t ncp)
{
    enum cclass cur = C_SEP;
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < ncp && !rc; i++) {
        int32_t c = t->cps[i];
        enum cclass k = char_class(c);
        switch (k) {
        case C_CJK:
            rc = flush_token(t);
            if (!rc) rc = add_cp(&t->tokbuf, c);
            cur = C_CJK;
            break;
        case C_WORD:
            if (cur != C_WORD) rc = flush_token(t);
            if (!rc) rc = add_cp(&t->tokbuf, c);
            cur = C_WORD;
            break;
        case C_MARK:
            if (cur != C_SEP) rc = add_cp(&t->tokbuf, c);
            break;
        default:
            rc = flush_token(t);
            cur = C_SEP;
        }
    }
    return rc ? rc : flush_token(t);
}

/* rouge-score: text.lower(), then every run of characters outside [a-z0-9] separates tokens.
 * Python's lower() maps only U+0130 (to "i" + U+0307) and U+212A (to "k") into ASCII from
 * outside it; utf8proc_tolower agrees on U+212A and gives a plain "i" for U+0130. */
static isynth_err tokenize_words(isynth_tokenizer *t, const char *text, size_t len)
{
    size_t i = 0;
    isynth_err rc = ISYNTH_OK;
    while (i < len && !rc) {
        uint32_t cp;
        i += utf8_decode(text + i, len - i, &cp);
        int32_t l = cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? (int32_t)cp + 32 : (int32_t)cp)
                              : utf8proc_tolower((utf8proc_int32_t)cp);
        if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
            rc = buf_addc(&t->tokbuf, (char)l);
            if (!rc && cp == 0x130) rc = flush_token(t);
        } else {
            rc = flush_token(t);
        }
    }
    return rc ? rc : flush_token(t);
}

#ifdef ISYNTH_HAVE_MECAB
static bool has_text(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        enum cclass k = char_class((int32_t)cp);
        if (k == C_CJK || k == C_WORD) return true;
    }
    return false;
}

static isynth_err tokenize_mecab(isynth_tokenizer *t, size_t ncp)
{
    buf_reset(&t->normbuf);
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < ncp && !rc; i++)
        rc = add_cp(&t->normbuf, t->cps[i]);
    if (rc || t->normbuf.len == 0) return rc;
    const mecab_node_t *node = mecab_sparse_tonode2(t->mecab, t->normbuf.p, t->normbuf.len);
    if (!node) return ISYNTH_ERR_INVALID;
    for (; node && !rc; node = node->next) {
        if (node->stat != MECAB_NOR_NODE && node->stat != MECAB_UNK_NODE) continue;
        if (!node->length || !has_text(node->surface, node->length)) continue;
        uint32_t id;
        rc = intern(t, node->surface, node->length, &id);
        if (!rc) rc = push_id(t, id);
    }
    return rc;
}
#endif

isynth_err isynth_tokenize(isynth_tokenizer *t, const char *text, size_t len, uint32_t **ids,
                           size_t *n, isynth_error *err)
{
    *ids = NULL;
    *n = 0;
    if (len > ISYNTH_TOKENIZE_MAX_BYTES)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "tokenize: text of %zu bytes exceeds the limit of %zu", len,
                                ISYNTH_TOKENIZE_MAX_BYTES);
    size_t bad;
    if (!utf8_valid(text, len, &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                "tokenize: invalid UTF-8 or NUL byte at offset %zu", bad);
    t->nids = 0;
    buf_reset(&t->tokbuf);
    isynth_err rc;
    size_t ncp = 0;
    if (t->kind == ISYNTH_TOKENIZER_WORDS) {
        rc = tokenize_words(t, text, len);
    } else {
        rc = normalize(t, text, len, &ncp);
        if (!rc) {
#ifdef ISYNTH_HAVE_MECAB
            if (t->kind == ISYNTH_TOKENIZER_MECAB)
                rc = tokenize_mecab(t, ncp);
            else
#endif
                rc = tokenize_chars(t, ncp);
        }
    }
    if (!rc && t->nids) {
        *ids = isynth_malloc(t->nids * sizeof **ids);
        if (!*ids)
            rc = ISYNTH_ERR_NOMEM;
        else {
            memcpy(*ids, t->ids, t->nids * sizeof **ids);
            *n = t->nids;
        }
    }
    if (rc == ISYNTH_ERR_NOMEM) return isynth_error_set(err, rc, "tokenize: out of memory");
    if (rc == ISYNTH_ERR_TOO_LARGE)
        return isynth_error_set(err, rc, "tokenize: vocabulary exceeds its limit");
    if (rc) return isynth_error_set(err, rc, "tokenize: %s", isynth_strerror(rc));
    return ISYNTH_OK;
}
