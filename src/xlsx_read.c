/* Streaming .xlsx reader on libzip + expat. A workbook is a zip of XML parts: _rels/.rels names
 * the workbook part, whose <sheets> and relationships name each sheet's part and the shared
 * strings. A sheet part is fed to expat one chunk at a time, and the parser is suspended at
 * each </row>, so the caller pulls rows while memory holds one row (plus the shared-string
 * table, which sheets index into). Workbooks are foreign input: every size is capped (file,
 * entry count, bytes per part and in total, compression ratio, shared strings, one cell, one
 * row, XML depth), DTDs and entity declarations are refused outright, and each refusal is an
 * ISYNTH_ERR_XLSX naming the part and the limit. */
#include "internal.h"
#include "isynth/xlsx.h"

#include <errno.h>
#include <expat.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define CHUNK 65536
#define MAX_ROW_BYTES (64u << 20)

enum mode { M_ROOT_RELS, M_WORKBOOK, M_WB_RELS, M_SST, M_SHEET };

typedef struct rcell {
    size_t col, off, len;
} rcell;

typedef struct sheet_ref {
    char *name;
    char *rid;
    char *part;
} sheet_ref;

struct isynth_xlsx_reader {
    isynth_xlsx_reader_params lim;
    zip_t *za;
    char *label;
    uint64_t total_read;

    sheet_ref *sheets;
    size_t nsheets;
    char *wb_part;
    char *sst_part;
    bool sst_loaded;

    /* shared strings: NUL-separated texts in sst, starts and lengths per index */
    buf sst;
    size_t *sst_off;
    size_t *sst_len;
    size_t sst_n, sst_cap;

    /* the part being parsed */
    enum mode mode;
    const char *part;
    zip_file_t *zf;
    XML_Parser xp;
    uint64_t part_read;
    uint64_t part_size, part_comp; /* the part's sizes as its zip directory declares them
                                      (UINT64_MAX, 0 when not known) */
    bool last_chunk, part_done, suspended, in_sheet;
    isynth_error herr; /* set by a handler that aborts the parse */

    /* the markup token (tag, comment, PI) the raw bytes are in, scanned before expat sees them
       (mk_tail: the last two bytes, for --> and ?>), and the distinct names of the part */
    enum { MK_TEXT, MK_LT, MK_BANG, MK_TAG, MK_QUOTE, MK_COMMENT, MK_PI, MK_CDATA } mk;
    char mk_quote;
    char mk_tail[2];
    uint64_t mk_len, mk_at;
    char **names; /* open addressing, power-of-two size */
    size_t names_cap, names_n, names_bytes;

    /* parse state */
    unsigned depth;
    int in_sheetdata, in_c, in_v, in_is, in_t, rph, in_si;
    char ctype[16];
    bool collect;
    buf text;
    size_t cur_col, next_col, cur_row, last_row;

    /* the row being built and the one handed out */
    buf cellbuf;
    rcell *rc;
    size_t nrc, rc_cap;
    bool row_ready;
    const char **out_cells;
    size_t *out_lens;
    size_t out_cap;
    isynth_xlsx_row row;
};

isynth_xlsx_reader_params isynth_xlsx_reader_params_default(void)
{
    isynth_xlsx_reader_params p = {
        .max_file_bytes = 1ull << 30,
        .max_entries = 10000,
        .max_entry_bytes = 2ull << 30,
        .max_total_bytes = 4ull << 30,
        .max_ratio = 200,
        .max_strings_bytes = 512ull << 20,
        .max_cell_bytes = 1u << 20,
        .max_depth = 64,
        .max_tag_bytes = 1u << 20,
        .max_names = 4096,
        .max_names_bytes = 256u << 10,
    };
    return p;
}

/* ---- XML part plumbing ---- */

static const XML_Memory_Handling_Suite mm = {isynth_malloc, isynth_realloc, isynth_free};

static const char *local(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static void abort_parse(isynth_xlsx_reader *r, isynth_err code, const char *fmt, const char *a)
{
    if (!r->herr.code) {
        char msg[600];
        snprintf(msg, sizeof msg, fmt, a ? a : "");
        isynth_error_set(&r->herr, code, "%s: %s: %s", r->label, r->part, msg);
    }
    XML_StopParser(r->xp, XML_FALSE);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sys,
                               const XML_Char *pub, int has_internal)
{
    (void)name, (void)sys, (void)pub, (void)has_internal;
    abort_parse(ud, ISYNTH_ERR_XLSX, "refused: a DTD (<!DOCTYPE>) is not allowed in a workbook%s",
                "");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sys,
                              const XML_Char *pub, const XML_Char *notation)
{
    (void)is_param, (void)value, (void)value_len, (void)base, (void)sys, (void)pub, (void)notation;
    abort_parse(ud, ISYNTH_ERR_XLSX,
                "refused: entity declaration '%s' (entity expansion is "
                "not allowed)",
                name);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts);
static void XMLCALL on_end(void *ud, const XML_Char *name);
static void XMLCALL on_text(void *ud, const XML_Char *s, int len);

static void names_clear(isynth_xlsx_reader *r)
{
    for (size_t i = 0; i < r->names_cap; i++)
        isynth_free(r->names[i]);
    isynth_free(r->names);
    r->names = NULL;
    r->names_cap = r->names_n = r->names_bytes = 0;
}

static uint64_t name_hash(const char *name, size_t *len)
{
    uint64_t h = 1469598103934665603ull;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    *len = n;
    return h;
}

/* Counts name among the part's distinct names; false (with the parse aborted) past a cap. */
static bool name_seen(isynth_xlsx_reader *r, const char *name)
{
    size_t len;
    uint64_t h = name_hash(name, &len);
    if (r->names_cap) {
        for (size_t i = h & (r->names_cap - 1); r->names[i]; i = (i + 1) & (r->names_cap - 1))
            if (!strcmp(r->names[i], name)) return true;
    }
    char msg[48];
    if (r->names_n >= r->lim.max_names) {
        snprintf(msg, sizeof msg, "%zu", r->lim.max_names);
        abort_parse(r, ISYNTH_ERR_XLSX,
                    "more than the limit of %s distinct XML element and "
                    "attribute names in one part",
                    msg);
        return false;
    }
    if (r->names_bytes + len > r->lim.max_names_bytes) {
        snprintf(msg, sizeof msg, "%zu", r->lim.max_names_bytes);
        abort_parse(r, ISYNTH_ERR_XLSX,
                    "distinct XML element and attribute names longer than "
                    "the limit of %s bytes in all in one part",
                    msg);
        return false;
    }
    if ((r->names_n + 1) * 2 > r->names_cap) {
        size_t cap = r->names_cap ? r->names_cap * 2 : 64;
        char **t = isynth_calloc(cap, sizeof *t);
        if (!t) {
            abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
            return false;
        }
        for (size_t k = 0; k < r->names_cap; k++) {
            if (!r->names[k]) continue;
            size_t unused;
            size_t i = name_hash(r->names[k], &unused) & (cap - 1);
            while (t[i])
                i = (i + 1) & (cap - 1);
            t[i] = r->names[k];
        }
        isynth_free(r->names);
        r->names = t;
        r->names_cap = cap;
    }
    size_t i = h & (r->names_cap - 1);
    while (r->names[i])
        i = (i + 1) & (r->names_cap - 1);
    r->names[i] = isynth_strdup(name);
    if (!r->names[i]) {
        abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
        return false;
    }
    r->names_n++;
    r->names_bytes += len;
    return true;
}

/* Follows the raw bytes through tags (quotes included), comments, processing instructions and
 * CDATA sections, and refuses a tag, comment or PI longer than max_tag_bytes before expat is
 * given it: expat rescans an unfinished token from its start on every chunk. */
static isynth_err markup_scan(isynth_xlsx_reader *r, const char *b, size_t n, isynth_error *err)
{
    for (size_t i = 0; i < n; i++) {
        /* the long stretches, text and quoted values, are skipped with memchr */
        if (r->mk == MK_TEXT || r->mk == MK_QUOTE) {
            const char *hit = memchr(b + i, r->mk == MK_TEXT ? '<' : r->mk_quote, n - i);
            size_t skip = hit ? (size_t)(hit - (b + i)) : n - i;
            if (r->mk == MK_QUOTE && (r->mk_len += skip) > r->lim.max_tag_bytes) goto too_long;
            i += skip;
            if (!hit) break;
        } else if (r->mk == MK_TAG) {
            size_t j = i;
            while (j < n && b[j] != '"' && b[j] != '\'' && b[j] != '>')
                j++;
            if ((r->mk_len += j - i) > r->lim.max_tag_bytes) goto too_long;
            i = j;
            if (i == n) break;
        }
        char c = b[i];
        switch (r->mk) {
        case MK_TEXT:
            if (c == '<') {
                r->mk = MK_LT;
                r->mk_len = 1;
                r->mk_at = r->part_read - n + i;
            }
            break;
        case MK_LT:
            r->mk = c == '!' ? MK_BANG : c == '?' ? MK_PI : MK_TAG;
            if (r->mk == MK_TAG && c == '>') r->mk = MK_TEXT;
            break;
        case MK_BANG: /* <!-- a comment, <![CDATA[ text, anything else a declaration */
            r->mk = c == '-' ? MK_COMMENT : c == '[' ? MK_CDATA : MK_TAG;
            r->mk_tail[0] = r->mk_tail[1] = 0;
            break;
        case MK_TAG:
            if (c == '"' || c == '\'') {
                r->mk = MK_QUOTE;
                r->mk_quote = c;
            } else if (c == '>') {
                r->mk = MK_TEXT;
            }
            break;
        case MK_QUOTE:
            if (c == r->mk_quote) r->mk = MK_TAG;
            break;
        case MK_COMMENT:
        case MK_PI:
        case MK_CDATA:
            if (c == '>' &&
                ((r->mk == MK_COMMENT && r->mk_tail[0] == '-' && r->mk_tail[1] == '-') ||
                 (r->mk == MK_PI && r->mk_tail[1] == '?') ||
                 (r->mk == MK_CDATA && r->mk_tail[0] == ']' && r->mk_tail[1] == ']')))
                r->mk = MK_TEXT;
            r->mk_tail[0] = r->mk_tail[1];
            r->mk_tail[1] = c;
            break;
        }
        if (r->mk != MK_TEXT && r->mk != MK_CDATA && ++r->mk_len > r->lim.max_tag_bytes)
            goto too_long;
    }
    return ISYNTH_OK;
too_long:
    return isynth_error_set(err, ISYNTH_ERR_XLSX,
                            "%s: %s: a tag, comment or processing instruction at byte %llu is "
                            "longer than the limit of %zu bytes",
                            r->label, r->part, (unsigned long long)r->mk_at, r->lim.max_tag_bytes);
}

static void close_part(isynth_xlsx_reader *r)
{
    names_clear(r);
    if (r->xp) XML_ParserFree(r->xp);
    if (r->zf) zip_fclose(r->zf);
    r->xp = NULL;
    r->zf = NULL;
    r->in_sheet = false;
    r->suspended = false;
}

/* Opens part `name` for parsing in `mode`. *missing is set (and OK returned) when the zip has
 * no such entry and missing is non-NULL. */
static isynth_err open_part(isynth_xlsx_reader *r, const char *name, enum mode mode, bool *missing,
                            isynth_error *err)
{
    close_part(r);
    if (missing) *missing = false;
    zip_int64_t idx = zip_name_locate(r->za, name, 0);
    if (idx < 0) idx = zip_name_locate(r->za, name, ZIP_FL_NOCASE);
    if (idx < 0) {
        if (missing) {
            *missing = true;
            return ISYNTH_OK;
        }
        return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: the workbook has no part '%s'", r->label,
                                name);
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(r->za, (zip_uint64_t)idx, 0, &st) != 0)
        return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: %s: %s", r->label, name,
                                zip_strerror(r->za));
    if ((st.valid & ZIP_STAT_SIZE) && st.size > r->lim.max_entry_bytes)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: %s: %llu bytes uncompressed, over the limit of %llu", r->label,
                                name, (unsigned long long)st.size,
                                (unsigned long long)r->lim.max_entry_bytes);
    if ((st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE) && st.size > (1u << 20) &&
        st.size / (st.comp_size ? st.comp_size : 1) > r->lim.max_ratio)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: %s: compression ratio %llu:1 is over the limit of %llu:1 "
                                "(zip bomb?)",
                                r->label, name,
                                (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)),
                                (unsigned long long)r->lim.max_ratio);
    r->zf = zip_fopen_index(r->za, (zip_uint64_t)idx, 0);
    if (!r->zf)
        return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: %s: cannot open: %s", r->label, name,
                                zip_strerror(r->za));
    r->xp = XML_ParserCreate_MM(NULL, &mm, NULL);
    if (!r->xp) {
        close_part(r);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->label);
    }
    XML_SetUserData(r->xp, r);
    XML_SetElementHandler(r->xp, on_start, on_end);
    XML_SetCharacterDataHandler(r->xp, on_text);
    XML_SetStartDoctypeDeclHandler(r->xp, on_doctype);
    XML_SetEntityDeclHandler(r->xp, on_entity);
    XML_SetParamEntityParsing(r->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    r->mode = mode;
    r->part = name;
    r->part_read = 0;
    r->part_size = (st.valid & ZIP_STAT_SIZE) ? st.size : UINT64_MAX;
    r->part_comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
    r->last_chunk = r->part_done = r->suspended = false;
    isynth_error_clear(&r->herr);
    r->depth = 0;
    r->in_sheetdata = r->in_c = r->in_v = r->in_is = r->in_t = r->rph = r->in_si = 0;
    r->collect = false;
    r->mk = MK_TEXT;
    r->mk_len = r->mk_at = 0;
    buf_reset(&r->text);
    return ISYNTH_OK;
}

static isynth_err xml_failed(isynth_xlsx_reader *r, isynth_error *err)
{
    if (r->herr.code) {
        if (err) *err = r->herr;
        return r->herr.code;
    }
    enum XML_Error e = XML_GetErrorCode(r->xp);
    if (e == XML_ERROR_NO_MEMORY)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: %s: out of memory", r->label, r->part);
    return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: %s: malformed XML at line %lu: %s", r->label,
                            r->part, (unsigned long)XML_GetCurrentLineNumber(r->xp),
                            XML_ErrorString(e));
}

/* Feeds the current part to expat until a handler suspends it (a row is ready), the part ends,
 * or something fails. */
static isynth_err pump(isynth_xlsx_reader *r, isynth_error *err)
{
    for (;;) {
        enum XML_Status st;
        if (r->suspended) {
            r->suspended = false;
            st = XML_ResumeParser(r->xp);
        } else {
            if (r->part_done) return ISYNTH_OK;
            void *b = XML_GetBuffer(r->xp, CHUNK);
            if (!b) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->label);
            zip_int64_t n = zip_fread(r->zf, b, CHUNK);
            if (n < 0)
                return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: %s: %s", r->label, r->part,
                                        zip_file_strerror(r->zf));
            r->part_read += (uint64_t)n;
            r->total_read += (uint64_t)n;
            /* what is actually inflated is counted, whatever the directory says: a part that
             * inflates past its declared size, or past the ratio the declared sizes would have
             * been refused for, is refused as soon as it does */
            if (r->part_read > r->part_size)
                return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                        "%s: %s: inflates to more than the %llu bytes its zip "
                                        "directory declares",
                                        r->label, r->part, (unsigned long long)r->part_size);
            if (r->part_read > (1u << 20) && r->part_comp &&
                r->part_read / r->part_comp > r->lim.max_ratio)
                return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                        "%s: %s: compression ratio over %llu:1 while inflating, "
                                        "over the limit (zip bomb?)",
                                        r->label, r->part, (unsigned long long)r->lim.max_ratio);
            if (r->part_read > r->lim.max_entry_bytes)
                return isynth_error_set(
                    err, ISYNTH_ERR_XLSX, "%s: %s: more than the limit of %llu bytes uncompressed",
                    r->label, r->part, (unsigned long long)r->lim.max_entry_bytes);
            if (r->total_read > r->lim.max_total_bytes)
                return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                        "%s: more than the limit of %llu bytes uncompressed in "
                                        "all",
                                        r->label, (unsigned long long)r->lim.max_total_bytes);
            isynth_err rc = markup_scan(r, b, (size_t)n, err);
            if (rc) return rc;
            r->last_chunk = n == 0;
            st = XML_ParseBuffer(r->xp, (int)n, n == 0);
        }
        if (st == XML_STATUS_ERROR) return xml_failed(r, err);
        if (st == XML_STATUS_SUSPENDED) {
            r->suspended = true;
            return ISYNTH_OK;
        }
        if (r->last_chunk) {
            r->part_done = true;
            return ISYNTH_OK;
        }
    }
}

/* Parses a whole part (no suspension happens outside sheets). */
static isynth_err parse_part(isynth_xlsx_reader *r, const char *name, enum mode mode, bool *missing,
                             isynth_error *err)
{
    isynth_err rc = open_part(r, name, mode, missing, err);
    if (!rc && !(missing && *missing)) rc = pump(r, err);
    close_part(r);
    return rc;
}

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (!strcmp(atts[i], name)) return atts[i + 1];
    return NULL;
}

/* ---- text: OOXML's _xHHHH_ escapes ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Decodes _xHHHH_ in place (the result is never longer); NUL and surrogates stay literal. */
static size_t unescape_ooxml(char *s, size_t n)
{
    if (!memchr(s, '_', n)) return n;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '_' && i + 7 <= n && s[i + 1] == 'x' && s[i + 6] == '_') {
            int h0 = hexval(s[i + 2]), h1 = hexval(s[i + 3]), h2 = hexval(s[i + 4]),
                h3 = hexval(s[i + 5]);
            if (h0 >= 0 && h1 >= 0 && h2 >= 0 && h3 >= 0) {
                uint32_t cp = (uint32_t)(h0 << 12 | h1 << 8 | h2 << 4 | h3);
                if (cp != 0 && (cp < 0xD800 || cp > 0xDFFF)) {
                    o += put_utf8(s + o, cp);
                    i += 7;
                    continue;
                }
            }
        }
        s[o++] = s[i++];
    }
    return o;
}

/* ---- handlers ---- */

static void text_reset(isynth_xlsx_reader *r)
{
    buf_reset(&r->text);
}

static bool parse_ref(const char *s, size_t *col, size_t *row)
{
    size_t c = 0, n = 0;
    while (*s >= 'A' && *s <= 'Z' && n < 4) {
        c = c * 26 + (size_t)(*s - 'A' + 1);
        s++;
        n++;
    }
    if (n == 0 || n > 3 || c > ISYNTH_XLSX_MAX_COLS) return false;
    size_t rw = 0;
    n = 0;
    while (*s >= '0' && *s <= '9' && n < 8) {
        rw = rw * 10 + (size_t)(*s - '0');
        s++;
        n++;
    }
    if (*s || (n && (rw == 0 || rw > ISYNTH_XLSX_MAX_ROWS))) return false;
    *col = c - 1;
    *row = rw;
    return true;
}

static bool parse_uint(const char *s, size_t max, size_t *out)
{
    while (*s == ' ')
        s++;
    size_t v = 0, n = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (size_t)(*s - '0');
        if (++n > 19 || v > max) return false;
        s++;
    }
    while (*s == ' ')
        s++;
    if (!n || *s) return false;
    *out = v;
    return true;
}

static char *dup_attr(isynth_xlsx_reader *r, const char *s)
{
    char *d = isynth_strdup(s);
    if (!d) abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
    return d;
}

static void start_rels(isynth_xlsx_reader *r, const char *el, const XML_Char **atts)
{
    if (strcmp(el, "Relationship")) return;
    const char *type = attr(atts, "Type"), *target = attr(atts, "Target"), *id = attr(atts, "Id");
    if (!type || !target) return;
    size_t tl = strlen(type);
    if (r->mode == M_ROOT_RELS) {
        if (tl >= 15 && !strcmp(type + tl - 15, "/officeDocument") && !r->wb_part)
            r->wb_part = dup_attr(r, target);
        return;
    }
    if (tl >= 14 && !strcmp(type + tl - 14, "/sharedStrings") && !r->sst_part) {
        r->sst_part = dup_attr(r, target);
        return;
    }
    for (size_t i = 0; id && i < r->nsheets; i++)
        if (r->sheets[i].rid && !r->sheets[i].part && !strcmp(r->sheets[i].rid, id))
            r->sheets[i].part = dup_attr(r, target);
}

static void start_workbook(isynth_xlsx_reader *r, const char *el, const XML_Char **atts)
{
    if (strcmp(el, "sheet")) return;
    const char *name = attr(atts, "name"), *rid = NULL;
    for (size_t i = 0; atts[i]; i += 2)
        if (strchr(atts[i], ':') && !strcmp(local(atts[i]), "id")) rid = atts[i + 1];
    if (!name || !rid) return;
    if (r->nsheets >= 4096) {
        abort_parse(r, ISYNTH_ERR_XLSX, "more than 4096 sheets%s", "");
        return;
    }
    if (ARRAY_RESIZE(r->sheets, r->nsheets + 1)) {
        abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
        return;
    }
    sheet_ref *s = r->sheets;
    sheet_ref *n = &s[r->nsheets];
    n->name = n->rid = n->part = NULL;
    r->nsheets++;
    n->name = dup_attr(r, name);
    if (n->name) n->rid = dup_attr(r, rid);
}

static void start_cell(isynth_xlsx_reader *r, const XML_Char **atts)
{
    const char *ref = attr(atts, "r"), *t = attr(atts, "t");
    size_t col = r->next_col, rw = 0;
    if (ref && !parse_ref(ref, &col, &rw)) {
        abort_parse(r, ISYNTH_ERR_XLSX, "bad cell reference '%s'", ref);
        return;
    }
    if (col >= ISYNTH_XLSX_MAX_COLS) {
        abort_parse(r, ISYNTH_ERR_XLSX, "a cell past column XFD%s", "");
        return;
    }
    r->cur_col = col;
    r->next_col = col + 1;
    snprintf(r->ctype, sizeof r->ctype, "%s", t ? t : "n");
    r->in_c = 1;
    text_reset(r);
}

static void start_row(isynth_xlsx_reader *r, const XML_Char **atts)
{
    const char *rs = attr(atts, "r");
    size_t rw = r->last_row + 1;
    if (rs && !parse_uint(rs, ISYNTH_XLSX_MAX_ROWS, &rw)) {
        abort_parse(r, ISYNTH_ERR_XLSX, "bad row number '%s'", rs);
        return;
    }
    if (rw == 0 || rw > ISYNTH_XLSX_MAX_ROWS || rw <= r->last_row) {
        char msg[64];
        snprintf(msg, sizeof msg, "%zu", rw);
        abort_parse(r, ISYNTH_ERR_XLSX, "row %s is out of order or past Excel's last row", msg);
        return;
    }
    r->cur_row = rw;
    r->next_col = 0;
    r->nrc = 0;
    buf_reset(&r->cellbuf);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    isynth_xlsx_reader *r = ud;
    if (++r->depth > r->lim.max_depth) {
        char msg[32];
        snprintf(msg, sizeof msg, "%u", r->lim.max_depth);
        abort_parse(r, ISYNTH_ERR_XLSX, "XML nested deeper than the limit of %s", msg);
        return;
    }
    if (!name_seen(r, name)) return;
    for (size_t i = 0; atts[i]; i += 2)
        if (!name_seen(r, atts[i])) return;
    const char *el = local(name);
    switch (r->mode) {
    case M_ROOT_RELS:
    case M_WB_RELS:
        start_rels(r, el, atts);
        return;
    case M_WORKBOOK:
        start_workbook(r, el, atts);
        return;
    case M_SST:
        if (!strcmp(el, "si")) {
            r->in_si = 1;
            text_reset(r);
        } else if (!strcmp(el, "rPh")) {
            r->rph++;
        } else if (!strcmp(el, "t") && r->in_si && !r->rph) {
            r->in_t = 1;
        }
        break;
    case M_SHEET:
        if (!strcmp(el, "sheetData")) {
            r->in_sheetdata = 1;
        } else if (!r->in_sheetdata) {
            break;
        } else if (!strcmp(el, "row")) {
            start_row(r, atts);
        } else if (!strcmp(el, "c")) {
            start_cell(r, atts);
        } else if (!strcmp(el, "v") && r->in_c) {
            r->in_v = 1;
        } else if (!strcmp(el, "is") && r->in_c) {
            r->in_is = 1;
        } else if (!strcmp(el, "rPh")) {
            r->rph++;
        } else if (!strcmp(el, "t") && r->in_is && !r->rph) {
            r->in_t = 1;
        }
        break;
    }
    r->collect = r->in_v || r->in_t;
}

static isynth_err sst_push(isynth_xlsx_reader *r)
{
    char *s = r->text.p ? r->text.p : "";
    size_t n = unescape_ooxml(s, r->text.len);
    if (r->sst_n == r->sst_cap) {
        size_t cap = array_next_cap(r->sst_cap, 1024);
        if (r->sst.len + cap * 2 * sizeof(size_t) > r->lim.max_strings_bytes)
            return ISYNTH_ERR_TOO_LARGE;
        if (ARRAY_RESIZE(r->sst_off, cap) || ARRAY_RESIZE(r->sst_len, cap)) return ISYNTH_ERR_NOMEM;
        r->sst_cap = cap;
    }
    size_t off = r->sst.len;
    isynth_err rc = buf_add(&r->sst, s, n);
    if (!rc) rc = buf_addc(&r->sst, '\0');
    if (rc) return rc;
    r->sst_off[r->sst_n] = off;
    r->sst_len[r->sst_n] = n;
    r->sst_n++;
    return ISYNTH_OK;
}

static void cell_ref(const isynth_xlsx_reader *r, char out[32])
{
    char col[8];
    snprintf(out, 32, "%s%zu", isynth_xlsx_col_name(r->cur_col, col), r->cur_row);
}

static void end_cell(isynth_xlsx_reader *r)
{
    r->in_c = 0;
    const char *v = r->text.p ? r->text.p : "";
    size_t n = r->text.len;
    char ref[32];
    if (!strcmp(r->ctype, "s")) {
        size_t idx;
        if (!parse_uint(v, SIZE_MAX / 2, &idx) || idx >= r->sst_n) {
            cell_ref(r, ref);
            abort_parse(r, ISYNTH_ERR_XLSX,
                        "cell %s refers to a shared string that does not "
                        "exist",
                        ref);
            return;
        }
        v = r->sst.p + r->sst_off[idx];
        n = r->sst_len[idx];
    } else if (!strcmp(r->ctype, "b")) {
        v = n == 1 && v[0] == '1' ? "TRUE" : "FALSE";
        n = strlen(v);
    } else if (!strcmp(r->ctype, "inlineStr") || !strcmp(r->ctype, "str")) {
        n = unescape_ooxml(r->text.p ? r->text.p : (char *)"", n);
    }
    if (n == 0) return;
    if (r->nrc == r->rc_cap) {
        if (r->rc_cap >= 2 * ISYNTH_XLSX_MAX_COLS) {
            abort_parse(r, ISYNTH_ERR_XLSX, "too many cells in one row%s", "");
            return;
        }
        if (ARRAY_GROW(r->rc, r->rc_cap, 16)) {
            abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
            return;
        }
    }
    size_t off = r->cellbuf.len;
    isynth_err rc = buf_add(&r->cellbuf, v, n);
    if (!rc) rc = buf_addc(&r->cellbuf, '\0');
    if (rc) {
        cell_ref(r, ref);
        abort_parse(r, rc,
                    rc == ISYNTH_ERR_NOMEM ? "out of memory at cell %s"
                                           : "row of cell %s is over 64 MiB of text",
                    ref);
        return;
    }
    r->rc[r->nrc++] = (rcell){r->cur_col, off, n};
}

static void end_row(isynth_xlsx_reader *r)
{
    r->last_row = r->cur_row;
    if (r->nrc == 0) return;
    size_t ncells = 0;
    for (size_t i = 0; i < r->nrc; i++)
        if (r->rc[i].col + 1 > ncells) ncells = r->rc[i].col + 1;
    if (ncells > r->out_cap) {
        if (ARRAY_RESIZE(r->out_cells, ncells) || ARRAY_RESIZE(r->out_lens, ncells)) {
            abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
            return;
        }
        r->out_cap = ncells;
    }
    for (size_t i = 0; i < ncells; i++) {
        r->out_cells[i] = "";
        r->out_lens[i] = 0;
    }
    for (size_t i = 0; i < r->nrc; i++) {
        r->out_cells[r->rc[i].col] = r->cellbuf.p + r->rc[i].off;
        r->out_lens[r->rc[i].col] = r->rc[i].len;
    }
    r->row.row = r->cur_row;
    r->row.ncells = ncells;
    r->row.cells = r->out_cells;
    r->row.lens = r->out_lens;
    r->row_ready = true;
    XML_StopParser(r->xp, XML_TRUE);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    isynth_xlsx_reader *r = ud;
    r->depth--;
    const char *el = local(name);
    if (r->mode == M_SST) {
        if (!strcmp(el, "si")) {
            r->in_si = 0;
            isynth_err rc = sst_push(r);
            if (rc)
                abort_parse(r, rc == ISYNTH_ERR_NOMEM ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_XLSX,
                            rc == ISYNTH_ERR_NOMEM ? "out of memory%s"
                                                   : "shared strings over the size limit%s",
                            "");
        } else if (!strcmp(el, "rPh")) {
            r->rph--;
        } else if (!strcmp(el, "t")) {
            r->in_t = 0;
        }
    } else if (r->mode == M_SHEET && r->in_sheetdata) {
        if (!strcmp(el, "c") && r->in_c)
            end_cell(r);
        else if (!strcmp(el, "v"))
            r->in_v = 0;
        else if (!strcmp(el, "t"))
            r->in_t = 0;
        else if (!strcmp(el, "is"))
            r->in_is = 0;
        else if (!strcmp(el, "rPh"))
            r->rph--;
        else if (!strcmp(el, "row"))
            end_row(r);
        else if (!strcmp(el, "sheetData"))
            r->in_sheetdata = 0;
    }
    r->collect = r->in_v || r->in_t;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    isynth_xlsx_reader *r = ud;
    if (!r->collect) return;
    if (r->text.len + (size_t)len > r->lim.max_cell_bytes) {
        char msg[64];
        snprintf(msg, sizeof msg, "%zu", r->lim.max_cell_bytes);
        abort_parse(r, ISYNTH_ERR_XLSX, "a cell's text is over the limit of %s bytes", msg);
        return;
    }
    if (buf_add(&r->text, s, (size_t)len)) abort_parse(r, ISYNTH_ERR_NOMEM, "out of memory%s", "");
}

/* ---- opening ---- */

/* Resolves a relationship target against the directory of `base` ("xl/workbook.xml"),
 * handling absolute targets and "..". Caller frees. */
/* The zip part a relationship target names, relative to base's directory. *out is the
 * caller's. ISYNTH_ERR_TOO_LARGE for a path over 4 KiB (no real part name comes near). */
static isynth_err resolve(const char *base, const char *target, char **out)
{
    buf b;
    buf_init(&b, 4096);
    isynth_err rc = ISYNTH_OK;
    *out = NULL;
    if (target[0] == '/') {
        target++;
    } else {
        const char *slash = strrchr(base, '/');
        if (slash && (rc = buf_add(&b, base, (size_t)(slash - base + 1)))) goto fail;
    }
    while (*target) {
        const char *e = strchr(target, '/');
        size_t n = e ? (size_t)(e - target) : strlen(target);
        if (n == 2 && !strncmp(target, "..", 2)) {
            if (b.len) b.len--; /* drop the trailing '/' */
            while (b.len && b.p[b.len - 1] != '/')
                b.len--;
            if (b.p) b.p[b.len] = '\0';
        } else if (!(n == 1 && target[0] == '.') && n) {
            if ((rc = buf_add(&b, target, n)) || (e && (rc = buf_addc(&b, '/')))) goto fail;
        }
        target += n + (e ? 1 : 0);
    }
    if (!(*out = buf_take(&b))) rc = ISYNTH_ERR_NOMEM;
    return rc;
fail:
    buf_free(&b);
    return rc;
}

static isynth_err resolve_failed(isynth_xlsx_reader *r, isynth_err rc, isynth_error *err)
{
    if (rc == ISYNTH_ERR_TOO_LARGE)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: a relationship target longer than 4096 bytes", r->label);
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->label);
}

static void reader_free(isynth_xlsx_reader *r)
{
    close_part(r);
    if (r->za) zip_discard(r->za);
    for (size_t i = 0; i < r->nsheets; i++) {
        isynth_free(r->sheets[i].name);
        isynth_free(r->sheets[i].rid);
        isynth_free(r->sheets[i].part);
    }
    isynth_free(r->sheets);
    isynth_free(r->label);
    isynth_free(r->wb_part);
    isynth_free(r->sst_part);
    buf_free(&r->sst);
    isynth_free(r->sst_off);
    isynth_free(r->sst_len);
    buf_free(&r->text);
    buf_free(&r->cellbuf);
    isynth_free(r->rc);
    isynth_free(r->out_cells);
    isynth_free(r->out_lens);
    isynth_free(r);
}

static isynth_err read_structure(isynth_xlsx_reader *r, isynth_error *err)
{
    zip_int64_t n = zip_get_num_entries(r->za, 0);
    if (n < 0 || (uint64_t)n > r->lim.max_entries)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: %lld zip entries, over the limit of %llu", r->label,
                                (long long)n, (unsigned long long)r->lim.max_entries);
    bool missing;
    isynth_err rc = parse_part(r, "_rels/.rels", M_ROOT_RELS, &missing, err);
    if (rc) return rc;
    char *wb = NULL;
    if (r->wb_part) {
        if ((rc = resolve("", r->wb_part, &wb))) return resolve_failed(r, rc, err);
    } else if (!(wb = isynth_strdup("xl/workbook.xml"))) {
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->label);
    }
    isynth_free(r->wb_part);
    r->wb_part = wb;
    rc = parse_part(r, wb, M_WORKBOOK, &missing, err);
    if (rc) return rc;
    if (missing)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: not an .xlsx workbook (no %s in the zip)", r->label, wb);
    if (r->nsheets == 0)
        return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: the workbook lists no sheets", r->label);
    /* xl/workbook.xml's relationships live in xl/_rels/workbook.xml.rels */
    const char *slash = strrchr(wb, '/');
    buf b;
    buf_init(&b, 4096 + 16); /* a part name resolve() kept to 4096 bytes, plus "_rels/" ".rels" */
    if ((slash && buf_add(&b, wb, (size_t)(slash - wb + 1))) || buf_adds(&b, "_rels/") ||
        buf_adds(&b, slash ? slash + 1 : wb) || buf_adds(&b, ".rels")) {
        buf_free(&b);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->label);
    }
    rc = parse_part(r, b.p, M_WB_RELS, &missing, err);
    buf_free(&b);
    if (rc) return rc;
    for (size_t i = 0; i < r->nsheets; i++) {
        if (!r->sheets[i].part) continue;
        char *p;
        if ((rc = resolve(wb, r->sheets[i].part, &p))) return resolve_failed(r, rc, err);
        isynth_free(r->sheets[i].part);
        r->sheets[i].part = p;
    }
    if (r->sst_part) {
        char *p;
        if ((rc = resolve(wb, r->sst_part, &p))) return resolve_failed(r, rc, err);
        isynth_free(r->sst_part);
        r->sst_part = p;
    }
    return ISYNTH_OK;
}

static isynth_err reader_new(const char *label, const isynth_xlsx_reader_params *p,
                             isynth_xlsx_reader **out, isynth_error *err)
{
    *out = NULL;
    isynth_xlsx_reader *r = isynth_calloc(1, sizeof *r);
    if (!r) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", label);
    r->lim = p ? *p : isynth_xlsx_reader_params_default();
    buf_init(&r->sst, r->lim.max_strings_bytes ? r->lim.max_strings_bytes : 1);
    buf_init(&r->text, r->lim.max_cell_bytes ? r->lim.max_cell_bytes : 1); /* one cell's text */
    buf_init(&r->cellbuf, MAX_ROW_BYTES);
    r->label = isynth_strdup(label);
    if (!r->label) {
        reader_free(r);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", label);
    }
    *out = r;
    return ISYNTH_OK;
}

static isynth_err zip_failed(const char *label, zip_error_t *ze, isynth_error *err)
{
    isynth_err rc = zip_error_code_zip(ze) == ZIP_ER_MEMORY ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_XLSX;
    isynth_error_set(err, rc, "%s: not a readable .xlsx (zip) file: %s", label,
                     zip_error_strerror(ze));
    zip_error_fini(ze);
    return rc;
}

isynth_err isynth_xlsx_reader_open(const char *path, const isynth_xlsx_reader_params *p,
                                   isynth_xlsx_reader **out, isynth_error *err)
{
    isynth_xlsx_reader *r;
    isynth_err rc = reader_new(path, p, &r, err);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) != 0) {
        reader_free(r);
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if ((uint64_t)st.st_size > r->lim.max_file_bytes) {
        rc = isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: %lld bytes, over the limit of %llu", path,
                              (long long)st.st_size, (unsigned long long)r->lim.max_file_bytes);
        reader_free(r);
        return rc;
    }
    int zerr = 0;
    r->za = zip_open(path, ZIP_RDONLY, &zerr);
    if (!r->za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        reader_free(r);
        return zip_failed(path, &ze, err);
    }
    rc = read_structure(r, err);
    if (rc) {
        reader_free(r);
        return rc;
    }
    *out = r;
    return ISYNTH_OK;
}

isynth_err isynth_xlsx_reader_open_mem(const void *data, size_t len,
                                       const isynth_xlsx_reader_params *p, isynth_xlsx_reader **out,
                                       isynth_error *err)
{
    isynth_xlsx_reader *r;
    isynth_err rc = reader_new("<memory>", p, &r, err);
    if (rc) return rc;
    if ((uint64_t)len > r->lim.max_file_bytes) {
        rc = isynth_error_set(err, ISYNTH_ERR_XLSX, "<memory>: %zu bytes, over the limit of %llu",
                              len, (unsigned long long)r->lim.max_file_bytes);
        reader_free(r);
        return rc;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (src) r->za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!r->za) {
        if (src) zip_source_free(src);
        reader_free(r);
        return zip_failed("<memory>", &ze, err);
    }
    zip_error_fini(&ze);
    rc = read_structure(r, err);
    if (rc) {
        reader_free(r);
        return rc;
    }
    *out = r;
    return ISYNTH_OK;
}

size_t isynth_xlsx_sheet_count(const isynth_xlsx_reader *r)
{
    return r->nsheets;
}

const char *isynth_xlsx_sheet_name(const isynth_xlsx_reader *r, size_t i)
{
    return i < r->nsheets ? r->sheets[i].name : NULL;
}

isynth_err isynth_xlsx_open_sheet(isynth_xlsx_reader *r, const char *name, isynth_error *err)
{
    close_part(r);
    size_t i = 0;
    if (name) {
        while (i < r->nsheets && strcmp(r->sheets[i].name, name))
            i++;
        if (i == r->nsheets)
            return isynth_error_set(err, ISYNTH_ERR_NOT_FOUND, "%s: no sheet named '%s'", r->label,
                                    name);
    }
    sheet_ref *s = &r->sheets[i];
    if (!s->part)
        return isynth_error_set(err, ISYNTH_ERR_XLSX,
                                "%s: sheet '%s' has no relationship to a worksheet part", r->label,
                                s->name);
    if (!r->sst_loaded && r->sst_part) {
        bool missing;
        isynth_err rc = parse_part(r, r->sst_part, M_SST, &missing, err);
        if (rc) return rc;
        r->sst_loaded = true;
    }
    isynth_err rc = open_part(r, s->part, M_SHEET, NULL, err);
    if (rc) return rc;
    r->in_sheet = true;
    r->last_row = 0;
    r->cur_row = 0;
    return ISYNTH_OK;
}

isynth_err isynth_xlsx_next_row(isynth_xlsx_reader *r, const isynth_xlsx_row **row,
                                isynth_error *err)
{
    *row = NULL;
    if (!r->in_sheet)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: no sheet opened", r->label);
    r->row_ready = false;
    while (!r->row_ready && !r->part_done) {
        isynth_err rc = pump(r, err);
        if (rc) {
            close_part(r);
            return rc;
        }
    }
    if (r->row_ready) *row = &r->row;
    return ISYNTH_OK;
}

void isynth_xlsx_reader_close(isynth_xlsx_reader *r)
{
    if (r) reader_free(r);
}
