/* NFKC and whitespace normalisation (utf8proc), and dedup keys. Model output and seeds come
 * with full-width digits, ideographic spaces and stray CRs; the same task must compare equal
 * whatever its width or spacing. */
#include "isynth/normalize.h"
#include "internal.h"

#include <string.h>
#include <utf8proc.h>

static isynth_err nfkc(const char *s, size_t n, int extra, utf8proc_uint8_t **out,
                       isynth_error *err)
{
    size_t bad;
    if (!utf8_valid(s, n, &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8, "invalid UTF-8 at byte %zu", bad);
    *out = NULL;
    if (n == 0) {
        *out = (utf8proc_uint8_t *)isynth_strndup("", 0);
        return *out ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | extra);
    if (r < 0)
        return isynth_error_set(err, r == UTF8PROC_ERROR_NOMEM ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_UTF8,
                                "normalisation failed: %s", utf8proc_errmsg(r));
    /* utf8proc allocates with malloc; copy into our allocator so callers use isynth_free. */
    *out = (utf8proc_uint8_t *)isynth_strndup((const char *)m, (size_t)r);
    free(m);
    return *out ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
}

static bool is_space_cp(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return c == '\t' || c == '\v' || c == '\f' || c == ' ' || cat == UTF8PROC_CATEGORY_ZS ||
           c == 0x200B || c == 0xFEFF;
}

isynth_err isynth_normalize_text(const char *s, size_t n, char **out, size_t *out_len,
                                 isynth_error *err)
{
    *out = NULL;
    utf8proc_uint8_t *m;
    isynth_err rc = nfkc(s, n, 0, &m, err);
    if (rc) return rc;
    size_t len = strlen((const char *)m);
    buf b;
    buf_init(&b, len + 1); /* folding space and newlines never lengthens the text */
    size_t pending_nl = 0; /* newlines seen since the last text */
    bool pending_sp = false;
    bool any = false;
    for (size_t i = 0; i < len && !rc;) {
        uint32_t c;
        size_t l = utf8_decode((const char *)m + i, len - i, &c);
        if (c == '\r') {
            if (i + 1 < len && m[i + 1] == '\n') l = 2;
            c = '\n';
        }
        if (c == '\n' || c == 0x2028 || c == 0x2029 || c == 0x85) {
            pending_nl++;
            pending_sp = false;
        } else if (is_space_cp(c)) {
            pending_sp = true;
        } else {
            if (any && pending_nl)
                rc = buf_add(&b, "\n\n", pending_nl > 1 ? 2 : 1);
            else if (any && pending_sp)
                rc = buf_addc(&b, ' ');
            if (!rc) rc = buf_add(&b, m + i, l);
            any = true;
            pending_nl = 0;
            pending_sp = false;
        }
        i += l;
    }
    isynth_free(m);
    if (rc) {
        buf_free(&b);
        return isynth_error_set(err, rc, "out of memory");
    }
    *out_len = b.len;
    *out = buf_take(&b);
    return *out ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
}

isynth_err isynth_normalize_dedup_key(const char *s, size_t n, char **out, size_t *out_len,
                                      isynth_error *err)
{
    *out = NULL;
    utf8proc_uint8_t *m;
    isynth_err rc = nfkc(s, n, UTF8PROC_CASEFOLD, &m, err);
    if (rc) return rc;
    size_t len = strlen((const char *)m);
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t l = utf8_decode((const char *)m + i, len - i, &c);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
        bool drop = c < 0x20 || is_space_cp(c) || c == '\n' || c == '\r' ||
                    (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP) ||
                    (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
                    (cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO) ||
                    cat == UTF8PROC_CATEGORY_CF;
        if (!drop) {
            memmove(m + w, m + i, l);
            w += l;
        }
        i += l;
    }
    m[w] = '\0';
    *out = (char *)m;
    *out_len = w;
    return ISYNTH_OK;
}

size_t isynth_normalize_utf8_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) count++;
    return count;
}
