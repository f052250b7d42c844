/* The Self-Instruct filters besides ROUGE-L, keeping their intent rather than their code:
 * `len(inst.split()) <= 3` and `not inst[0].isascii()` reject every Japanese instruction, so
 * lengths are counted in chars-tokenizer tokens, "starts with non-text" looks at Unicode
 * categories, and keywords match on script-run boundaries instead of spaces. Everything here
 * reads the text once per keyword through a per-character NFKD + case-folding stream, so no
 * filter allocates. */
#include "isynth/quality.h"
#include "isynth/rouge.h"
#include "internal.h"

#include <string.h>
#include <utf8proc.h>

#define KW_MAX_BYTES 256
#define KW_MAX_CPS 256
#define KW_MAX_COUNT 100000

struct isynth_keywords {
    int32_t **cps; /* normalised code points of each keyword */
    size_t *ncp;
    size_t n, cap;
};

/* ---- scripts ------------------------------------------------------------------------------ */

enum script { S_OTHER, S_ALNUM, S_KANJI, S_KATAKANA, S_HIRAGANA, S_MARK, S_SPACE };

static bool is_space(int32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
           utf8proc_category(c) == UTF8PROC_CATEGORY_ZS ||
           utf8proc_category(c) == UTF8PROC_CATEGORY_ZL ||
           utf8proc_category(c) == UTF8PROC_CATEGORY_ZP;
}

static enum script script_of(int32_t c)
{
    if (is_space(c)) return S_SPACE;
    ja_script js = ja_script_of((uint32_t)c);
    if (js == JA_KANJI) return S_KANJI;
    if (js == JA_KATAKANA) return S_KATAKANA;
    if (js == JA_HIRAGANA) return S_HIRAGANA;
    switch (uc_kind_of(c)) {
    case UC_MARK:
        return S_MARK;
    case UC_ALNUM:
        return S_ALNUM;
    default:
        return S_OTHER;
    }
}

/* A stream of normalised code points from a byte offset, whitespace runs folded into ' '. */
typedef struct nstream {
    const char *s;
    size_t len, pos;
    int32_t d[32];
    int nd, di;
} nstream;

static void ns_init(nstream *ns, const char *s, size_t len, size_t pos)
{
    ns->s = s;
    ns->len = len;
    ns->pos = pos;
    ns->nd = ns->di = 0;
}

/* Next normalised code point, or -1 at the end. */
static int32_t ns_next(nstream *ns)
{
    for (;;) {
        if (ns->di < ns->nd) {
            int32_t c = ns->d[ns->di++];
            if (!is_space(c)) return c;
            /* fold this whitespace with all that follows */
            for (;;) {
                while (ns->di < ns->nd && is_space(ns->d[ns->di]))
                    ns->di++;
                if (ns->di < ns->nd || ns->pos >= ns->len) break;
                uint32_t cp;
                size_t l = utf8_decode(ns->s + ns->pos, ns->len - ns->pos, &cp);
                ns->nd = uc_decompose((int32_t)cp, ns->d);
                if (!is_space(ns->d[0])) {
                    ns->nd = ns->di = 0;
                    break;
                }
                ns->pos += l;
                ns->di = 0;
            }
            return ' ';
        }
        if (ns->pos >= ns->len) return -1;
        uint32_t cp;
        ns->pos += utf8_decode(ns->s + ns->pos, ns->len - ns->pos, &cp);
        ns->nd = uc_decompose((int32_t)cp, ns->d);
        ns->di = 0;
    }
}

/* ---- keyword lists ------------------------------------------------------------------------ */

isynth_err isynth_keywords_new(isynth_keywords **out, isynth_error *err)
{
    *out = isynth_calloc(1, sizeof **out);
    return *out ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_NOMEM, "keywords: out of memory");
}

void isynth_keywords_free(isynth_keywords *kw)
{
    if (!kw) return;
    for (size_t i = 0; i < kw->n; i++)
        isynth_free(kw->cps[i]);
    isynth_free(kw->cps);
    isynth_free(kw->ncp);
    isynth_free(kw);
}

size_t isynth_keywords_count(const isynth_keywords *kw)
{
    return kw ? kw->n : 0;
}

isynth_err isynth_keywords_add(isynth_keywords *kw, const char *word, size_t len, isynth_error *err)
{
    size_t bad;
    if (len > KW_MAX_BYTES)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "keyword longer than %d bytes",
                                KW_MAX_BYTES);
    if (!utf8_valid(word, len, &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8, "keyword: invalid UTF-8 at byte %zu",
                                bad + 1);
    if (kw->n >= KW_MAX_COUNT)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "more than %d keywords", KW_MAX_COUNT);
    int32_t tmp[KW_MAX_CPS];
    size_t n = 0;
    nstream ns;
    ns_init(&ns, word, len, 0);
    for (int32_t c; (c = ns_next(&ns)) >= 0;) {
        if (n == KW_MAX_CPS) return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "keyword too long");
        tmp[n++] = c;
    }
    size_t a = 0;
    while (a < n && tmp[a] == ' ')
        a++;
    while (n > a && tmp[n - 1] == ' ')
        n--;
    if (n == a) return isynth_error_set(err, ISYNTH_ERR_INVALID, "empty keyword");
    if (kw->n == kw->cap) {
        size_t cap = array_next_cap(kw->cap, 32);
        if (ARRAY_RESIZE(kw->cps, cap) || ARRAY_RESIZE(kw->ncp, cap))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "keywords: out of memory");
        kw->cap = cap;
    }
    int32_t *c = isynth_malloc((n - a) * sizeof *c);
    if (!c) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "keywords: out of memory");
    memcpy(c, tmp + a, (n - a) * sizeof *c);
    kw->cps[kw->n] = c;
    kw->ncp[kw->n++] = n - a;
    return ISYNTH_OK;
}

static const char *const default_keywords[] = {
    "image",     "images",   "graph", "graphs", "picture",        "pictures", "file",  "files",
    "map",       "maps",     "draw",  "plot",   "go to",          "video",    "audio", "music",
    "flowchart", "diagram",  "画像",  "図",     "グラフ",         "写真",     "動画",  "音声",
    "音楽",      "ファイル", "地図",  "描いて", "フローチャート",
};

isynth_err isynth_keywords_default(isynth_keywords **out, isynth_error *err)
{
    isynth_err rc = isynth_keywords_new(out, err);
    for (size_t i = 0; !rc && i < sizeof default_keywords / sizeof *default_keywords; i++)
        rc = isynth_keywords_add(*out, default_keywords[i], strlen(default_keywords[i]), err);
    if (rc) {
        isynth_keywords_free(*out);
        *out = NULL;
    }
    return rc;
}

isynth_err isynth_keywords_load(const char *path, isynth_keywords **out, isynth_error *err)
{
    *out = NULL;
    char *data;
    size_t len;
    isynth_err rc = read_file_limited(path, (size_t)4 << 20, &data, &len, err);
    if (rc) return rc;
    isynth_keywords *kw = NULL;
    rc = isynth_keywords_new(&kw, err);
    size_t line = 0, i = 0;
    while (!rc && i < len) {
        line++;
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        size_t a = i, b = e;
        while (a < b && (data[a] == ' ' || data[a] == '\t'))
            a++;
        while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r'))
            b--;
        if (line == 1 && b - a >= 3 && !memcmp(data + a, "\xEF\xBB\xBF", 3)) a += 3; /* BOM */
        if (b > a && data[a] != '#') {
            rc = isynth_keywords_add(kw, data + a, b - a, err);
            if (rc && err) {
                char msg[sizeof err->msg];
                memcpy(msg, err->msg, sizeof msg);
                isynth_error_set(err, rc, "%s:%zu: %s", path, line, msg);
            }
        }
        i = e + 1;
    }
    isynth_free(data);
    if (rc) {
        isynth_keywords_free(kw);
        return rc;
    }
    *out = kw;
    return ISYNTH_OK;
}

/* Script of the last base character before byte offset pos (S_SPACE at the start). */
static enum script script_before(const char *s, size_t pos)
{
    while (pos > 0) {
        size_t p = pos - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80)
            p--;
        uint32_t cp;
        utf8_decode(s + p, pos - p, &cp);
        int32_t d[32];
        int nd = uc_decompose((int32_t)cp, d);
        for (int k = nd - 1; k >= 0; k--) {
            enum script sc = script_of(d[k]);
            if (sc != S_MARK) return sc;
        }
        pos = p;
    }
    return S_SPACE;
}

static bool boundary_clash(int32_t kw_end, enum script neighbour)
{
    enum script sc = script_of(kw_end);
    return (sc == S_ALNUM || sc == S_KANJI || sc == S_KATAKANA) && sc == neighbour;
}

/* Whether keyword k matches at byte offset pos (a character boundary). */
static bool match_at(const int32_t *k, size_t nk, const char *s, size_t len, size_t pos)
{
    nstream ns;
    ns_init(&ns, s, len, pos);
    for (size_t i = 0; i < nk; i++)
        if (ns_next(&ns) != k[i]) return false;
    int32_t next = ns_next(&ns);
    if (next >= 0 && script_of(next) == S_MARK)
        return false; /* the last character carries a mark the keyword does not */
    if (next >= 0 && boundary_clash(k[nk - 1], script_of(next))) return false;
    return !boundary_clash(k[0], script_before(s, pos));
}

const char *isynth_quality_keywords(const isynth_keywords *kw, const char *text, size_t len,
                                    size_t *which)
{
    if (!utf8_valid(text, len, NULL)) return "invalid_utf8";
    if (!kw) return NULL;
    size_t pos = 0;
    while (pos < len) {
        for (size_t i = 0; i < kw->n; i++)
            if (match_at(kw->cps[i], kw->ncp[i], text, len, pos)) {
                if (which) *which = i;
                return "keyword";
            }
        uint32_t cp;
        pos += utf8_decode(text + pos, len - pos, &cp);
    }
    return NULL;
}

/* ---- length, start, language -------------------------------------------------------------- */

const char *isynth_quality_length(const char *text, size_t len, size_t min_tokens,
                                  size_t max_tokens)
{
    if (!utf8_valid(text, len, NULL)) return "invalid_utf8";
    size_t n = isynth_chars_token_count(text, len);
    if (n < min_tokens) return "too_short_tokens";
    if (max_tokens && n > max_tokens) return "too_long_tokens";
    return NULL;
}

const char *isynth_quality_start(const char *text, size_t len)
{
    if (!utf8_valid(text, len, NULL)) return "invalid_utf8";
    size_t pos = 0;
    while (pos < len) {
        uint32_t cp;
        pos += utf8_decode(text + pos, len - pos, &cp);
        int32_t c = (int32_t)cp;
        if (is_space(c) || c == 0xFEFF) continue;
        switch (utf8proc_category(c)) {
        case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PI:
            return NULL; /* 「 ( “ open a quoted or bracketed subject */
        case UTF8PROC_CATEGORY_PO:
            if (c == '"' || c == '\'') return NULL;
            return "starts_with_punctuation";
        case UTF8PROC_CATEGORY_PC:
        case UTF8PROC_CATEGORY_PD:
        case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PF:
            return "starts_with_punctuation";
        default:
            return uc_kind_of(c) == UC_ALNUM ? NULL : "starts_with_non_text";
        }
    }
    return "empty";
}

const char *isynth_quality_language(const char *text, size_t len, isynth_lang lang,
                                    double min_ratio)
{
    if (!utf8_valid(text, len, NULL)) return "invalid_utf8";
    lang_tally t = {0};
    lang_tally_add(&t, text, len);
    if (t.letters == 0) return "no_letters";
    size_t target = lang == ISYNTH_LANG_JA ? t.kana + t.kanji : t.latin;
    if ((double)target < min_ratio * (double)t.letters) return "wrong_language";
    if (lang == ISYNTH_LANG_JA && t.kana == 0 && t.kanji >= 8) return "wrong_language";
    return NULL;
}

isynth_quality_params isynth_quality_params_default(isynth_lang lang)
{
    if (lang == ISYNTH_LANG_EN) return (isynth_quality_params){ISYNTH_LANG_EN, 4, 150, 0.6};
    return (isynth_quality_params){ISYNTH_LANG_JA, 5, 400, 0.3};
}

const char *isynth_quality_check(const isynth_quality_params *p, const isynth_keywords *kw,
                                 const char *text, size_t len)
{
    if (!utf8_valid(text, len, NULL)) return "invalid_utf8";
    const char *r = isynth_quality_start(text, len);
    if (!r) r = isynth_quality_length(text, len, p->min_tokens, p->max_tokens);
    if (!r && kw) r = isynth_quality_keywords(kw, text, len, NULL);
    if (!r) r = isynth_quality_language(text, len, p->lang, p->min_lang_ratio);
    return r;
}
