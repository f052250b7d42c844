/* JSON Lines: the one line reader (include/isynth/jsonl.h) that the table reader, the seed
 * loader and `isynth dedup` read through, the one record parser (jansson under the record
 * limits of json_load_record), and the table reader and writer for .jsonl.
 *
 * jansson is the JSON decoder. The table reader adds a fast path for the common line, an
 * object of string and null values: a byte scan for the first pass's keys and a decoder of
 * plain strings for the rows, each giving up (and handing the line to jansson) at anything
 * else, so that jansson alone decides what is valid and what every value means
 * (tests/fuzz_table.c checks the two agree). It makes `convert` of 100,000 rows a third
 * faster. */
#include "table_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the line reader ---- */

struct isynth_jsonl_reader {
    char *path;
    FILE *f;
    buf line;         /* the line being read, capped at max_line_bytes */
    char rbuf[65536]; /* read buffer */
    size_t rpos, rlen;
    size_t file_line; /* lines read */
    const char *text; /* the line handed out (BOM and CR dropped), in `line` */
    size_t text_len;
    json_t *obj; /* the last line parsed (jsonl_object), or NULL */
};

isynth_jsonl_params isynth_jsonl_params_default(void)
{
    isynth_jsonl_params p = {.max_line_bytes = TABLE_DEFAULT_MAX_LINE};
    return p;
}

void isynth_jsonl_close(isynth_jsonl_reader *r)
{
    if (!r) return;
    if (r->f) fclose(r->f);
    buf_free(&r->line);
    json_decref(r->obj);
    isynth_free(r->path);
    isynth_free(r);
}

isynth_err jsonl_reader_open_stream(const char *path, FILE *f, const isynth_jsonl_params *p,
                                    isynth_jsonl_reader **out, isynth_error *err)
{
    *out = NULL;
    isynth_jsonl_reader *r = isynth_calloc(1, sizeof *r);
    if (!r || !(r->path = isynth_strdup(path))) {
        isynth_free(r);
        fclose(f);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    }
    r->f = f;
    size_t max = p && p->max_line_bytes ? p->max_line_bytes : TABLE_DEFAULT_MAX_LINE;
    buf_init(&r->line, max);
    *out = r;
    return ISYNTH_OK;
}

isynth_err isynth_jsonl_open(const char *path, const isynth_jsonl_params *p,
                             isynth_jsonl_reader **out, isynth_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return jsonl_reader_open_stream(path, f, p, out, err);
}

size_t isynth_jsonl_line(const isynth_jsonl_reader *r)
{
    return r->file_line;
}

isynth_err jsonl_rewind(isynth_jsonl_reader *r, isynth_error *err)
{
    if (fseek(r->f, 0, SEEK_SET))
        return isynth_error_set(err, ISYNTH_ERR_IO,
                                "%s: cannot read the file a second time (a pipe?): %s", r->path,
                                strerror(errno));
    r->rpos = r->rlen = 0;
    r->file_line = 0;
    r->text = NULL;
    json_decref(r->obj);
    r->obj = NULL;
    return ISYNTH_OK;
}

/* Reads one line (without its newline) into r->line through the read buffer, refusing it at
 * the cap before the rest is read; *eof at the end of the file. */
static isynth_err read_line(isynth_jsonl_reader *r, bool *eof, isynth_error *err)
{
    buf_reset(&r->line);
    *eof = false;
    bool any = false;
    for (;;) {
        if (r->rpos == r->rlen) {
            r->rlen = fread(r->rbuf, 1, sizeof r->rbuf, r->f);
            r->rpos = 0;
            if (r->rlen == 0) {
                if (ferror(r->f))
                    return isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", r->path);
                break;
            }
        }
        any = true;
        char *start = r->rbuf + r->rpos;
        char *nl = memchr(start, '\n', r->rlen - r->rpos);
        size_t n = nl ? (size_t)(nl - start) : r->rlen - r->rpos;
        isynth_err rc = buf_add(&r->line, start, n);
        if (rc == ISYNTH_ERR_TOO_LARGE)
            return isynth_error_set(err, rc, "%s:%zu: longer than the line limit of %zu bytes",
                                    r->path, r->file_line + 1, r->line.max);
        if (rc)
            return isynth_error_set(err, rc, "%s:%zu: out of memory", r->path, r->file_line + 1);
        r->rpos += n + (nl ? 1 : 0);
        if (nl) break;
    }
    if (!any)
        *eof = true;
    else
        r->file_line++;
    return ISYNTH_OK;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

isynth_err isynth_jsonl_next(isynth_jsonl_reader *r, const char **text, size_t *len,
                             isynth_error *err)
{
    *text = NULL;
    *len = 0;
    json_decref(r->obj);
    r->obj = NULL;
    r->text = NULL;
    for (;;) {
        bool eof;
        isynth_err rc = read_line(r, &eof, err);
        if (rc || eof) return rc;
        const char *p = r->line.p ? r->line.p : "";
        size_t n = r->line.len;
        if (r->file_line == 1 && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
            p += 3;
            n -= 3;
        }
        if (n && p[n - 1] == '\r') n--;
        if (blank(p, n)) continue;
        size_t bad;
        if (!utf8_valid(p, n, &bad)) {
            if (p[bad] == '\0')
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s:%zu: NUL byte at byte %zu of the line", r->path,
                                        r->file_line, bad + 1);
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s:%zu: invalid UTF-8 (byte 0x%02X) at byte %zu of the line",
                                    r->path, r->file_line, (unsigned char)p[bad], bad + 1);
        }
        *text = r->text = p;
        *len = r->text_len = n;
        return ISYNTH_OK;
    }
}

/* ---- the record parser ---- */

const char *jsonl_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

isynth_err jsonl_fail(isynth_error *err, const char *path, size_t line, isynth_err rc,
                      const json_error_t *je, const char *over)
{
    if (rc == ISYNTH_ERR_NOMEM || (!over && json_error_code(je) == json_error_out_of_memory))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s:%zu: out of memory", path, line);
    if (over) return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s:%zu: %s", path, line, over);
    const char *what = json_error_code(je) == json_error_premature_end_of_input ? "truncated JSON"
                       : json_error_code(je) == json_error_duplicate_key        ? "duplicate key"
                                                                                : "malformed JSON";
    return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s:%zu: %s at column %d: %s", path, line, what,
                            je->column, je->text);
}

isynth_err jsonl_object(isynth_jsonl_reader *r, json_t **obj, isynth_error *err)
{
    *obj = NULL;
    if (!r->obj) {
        json_error_t je;
        const char *over;
        if (!r->text) return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: no line read", r->path);
        isynth_err rc = json_load_record(
            r->text, r->text_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &r->obj, &je, &over);
        if (rc) return jsonl_fail(err, r->path, r->file_line, rc, &je, over);
        if (!json_is_object(r->obj)) {
            const char *t = jsonl_type_name(r->obj);
            json_decref(r->obj);
            r->obj = NULL;
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "%s:%zu: expected a JSON object, found %s", r->path,
                                    r->file_line, t);
        }
    }
    *obj = r->obj;
    return ISYNTH_OK;
}

isynth_err isynth_jsonl_get_string(isynth_jsonl_reader *r, const char *key, const char **s,
                                   size_t *n, isynth_error *err)
{
    *s = NULL;
    *n = 0;
    json_t *o;
    isynth_err rc = jsonl_object(r, &o, err);
    if (rc) return rc;
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s:%zu: field '%s' is %s", r->path,
                                r->file_line, key, v ? "not a string" : "missing");
    *s = json_string_value(v);
    *n = json_string_length(v);
    return ISYNTH_OK;
}

/* ---- the table reader ---- */

struct jsonl_state {
    isynth_jsonl_reader *lr;
    json_t *keys;     /* object used as an ordered set of keys, values are column indexes */
    char keybuf[256]; /* a key of the line being read (longer keys go through jansson) */
    buf scratch;      /* a decoded string value */
};

void jsonl_table_free(isynth_table_reader *r)
{
    jsonl_state *j = r->jsonl;
    if (!j) return;
    isynth_jsonl_close(j->lr);
    json_decref(j->keys);
    buf_free(&j->scratch);
    isynth_free(j);
    r->jsonl = NULL;
}

/* Skips a JSON string starting at s[i] == '"'; returns the index after it, or 0 when the
 * string is unterminated. *esc is set when it holds a backslash escape. */
static size_t skip_string(const char *s, size_t n, size_t i, bool *esc)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            *esc = true;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

static isynth_err add_key(isynth_table_reader *r, const char *k, size_t len, isynth_error *err)
{
    /* the fast scan takes a key's bytes as they are (the line reader has checked their
     * UTF-8): refuse here what JSON and jansson refuse */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)k[i] < 0x20)
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "%s:%zu: a key holds control character 0x%02x", r->path,
                                    isynth_jsonl_line(r->jsonl->lr), (unsigned char)k[i]);
    char *key = isynth_strndup(k, len);
    if (!key) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    isynth_err rc = ISYNTH_OK;
    if (!json_object_get(r->jsonl->keys, key)) {
        json_t *idx;
        if (r->header.n >= ISYNTH_XLSX_MAX_COLS)
            rc = isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "%s:%zu: more than %u distinct keys",
                                  r->path, isynth_jsonl_line(r->jsonl->lr), ISYNTH_XLSX_MAX_COLS);
        else if (!(idx = json_integer((json_int_t)r->header.n)) ||
                 json_object_set_new(r->jsonl->keys, key, idx) || sl_push(&r->header, key, len))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    }
    isynth_free(key);
    return rc;
}

/* Member framing of a one-line JSON object, shared by the key scan and the flat-line decoder:
 * object_open puts i on the first key (1), on the end of an empty object "{}" (0), or fails
 * (-1); member_key reads a key without escapes and its ':' and leaves i on the value;
 * member_end takes the ',' (1) or the closing '}' followed by blanks only (0), or fails (-1). */
static int object_open(const char *s, size_t n, size_t *i)
{
    *i = skip_ws(s, n, 0);
    if (*i >= n || s[*i] != '{') return -1;
    *i = skip_ws(s, n, *i + 1);
    if (*i < n && s[*i] == '}') return skip_ws(s, n, *i + 1) == n ? 0 : -1;
    return 1;
}

static bool member_key(const char *s, size_t n, size_t *i, size_t *k0, size_t *klen)
{
    bool esc = false;
    if (*i >= n || s[*i] != '"') return false;
    size_t e = skip_string(s, n, *i, &esc);
    if (!e || esc) return false;
    *k0 = *i + 1;
    *klen = e - 1 - *k0;
    *i = skip_ws(s, n, e);
    if (*i >= n || s[*i] != ':') return false;
    *i = skip_ws(s, n, *i + 1);
    return true;
}

static int member_end(const char *s, size_t n, size_t *i)
{
    *i = skip_ws(s, n, *i);
    if (*i < n && s[*i] == '}') return skip_ws(s, n, *i + 1) == n ? 0 : -1;
    if (*i >= n || s[*i] != ',') return -1;
    *i = skip_ws(s, n, *i + 1);
    return 1;
}

/* The first pass only needs the top-level keys of each line, in order: a byte scan that
 * builds nothing, instead of a full parse (which made the first pass cost as much as the
 * second). Calls add_key for each key whose text has no escape; returns false when
 * the line is not that simple (escaped key, odd syntax): the caller then parses it fully. */
static bool scan_keys(isynth_table_reader *r, const char *s, size_t n, isynth_error *err,
                      isynth_err *rc)
{
    size_t i;
    int more = object_open(s, n, &i);
    while (more > 0) {
        size_t k0, klen;
        if (!member_key(s, n, &i, &k0, &klen)) return false;
        if ((*rc = add_key(r, s + k0, klen, err))) return true;
        /* skip the value: strings whole, brackets counted */
        int depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                bool e2 = false;
                size_t j = skip_string(s, n, i, &e2);
                if (!j) return false;
                i = j - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (depth == 0) break;
                depth--;
            } else if (c == ',' && depth == 0) {
                break;
            }
        }
        if (i >= n || depth != 0) return false;
        more = member_end(s, n, &i);
    }
    return more == 0;
}

isynth_err jsonl_table_open(isynth_table_reader *r, isynth_error *err)
{
    r->jsonl = isynth_calloc(1, sizeof *r->jsonl);
    if (!r->jsonl) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    buf_init(&r->jsonl->scratch, r->p.max_line_bytes);
    isynth_jsonl_params jp = {.max_line_bytes = r->p.max_line_bytes};
    isynth_err rc = isynth_jsonl_open(r->path, &jp, &r->jsonl->lr, err);
    if (rc) return rc;
    r->jsonl->keys = json_object();
    if (!r->jsonl->keys)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    for (;;) {
        const char *s;
        size_t n;
        rc = isynth_jsonl_next(r->jsonl->lr, &s, &n, err);
        if (rc) return rc;
        if (!s) break;
        if (scan_keys(r, s, n, err, &rc)) {
            if (rc) return rc;
            continue;
        }
        /* not a simple line: a full parse gives its keys, or the error with line and column */
        json_t *o;
        if ((rc = jsonl_object(r->jsonl->lr, &o, err))) return rc;
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if ((rc = add_key(r, k, strlen(k), err))) return rc;
        }
    }
    if (r->header.n == 0)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: no JSON objects with keys", r->path);
    r->line = 0;
    return jsonl_rewind(r->jsonl->lr, err);
}

/* Points each column at its cell (or ""), in header order; frees slot. */
static isynth_err order_row(isynth_table_reader *r, size_t *slot, const char *const **cells,
                            const size_t **lens, isynth_error *err)
{
    size_t nh = r->header.n;
    isynth_err rc = ISYNTH_OK;
    size_t *l;
    const char **tmpp = NULL;
    if (sl_ptrs(&r->row, 0, r->row.n, nh, &l) ||
        !(tmpp = isynth_malloc(nh * sizeof *tmpp + nh * sizeof(size_t) + 1))) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    } else {
        /* pointers for items 0..n-1 are in p; rebuild in column order in place */
        const char **p = r->row.ptr;
        size_t n = r->row.n;
        size_t *tl = (size_t *)(void *)(tmpp + nh);
        for (size_t i = 0; i < nh; i++) {
            bool have = slot[i] != SIZE_MAX && slot[i] < n;
            tmpp[i] = have ? p[slot[i]] : "";
            tl[i] = have ? l[slot[i]] : 0;
        }
        memcpy(p, tmpp, nh * sizeof *p);
        memcpy(l, tl, nh * sizeof *l);
        *cells = p;
        *lens = l;
    }
    isynth_free(tmpp);
    isynth_free(slot);
    return rc;
}

/* Decodes the JSON string at s[i] == '"' into out; returns the index after it, or 0 when the
 * string is anything but plain (an escape other than the usual ones, \\u0000, a lone
 * surrogate, a control byte, invalid UTF-8): the caller then lets jansson judge the line. */
static size_t decode_string(const char *s, size_t n, size_t i, buf *out)
{
    buf_reset(out);
    size_t run = ++i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            if (buf_add(out, s + run, i - run)) return 0;
            return utf8_valid(out->p ? out->p : "", out->len, NULL) ? i + 1 : 0;
        }
        if (c < 0x20) return 0;
        if (c != '\\') continue;
        if (buf_add(out, s + run, i - run) || i + 1 >= n) return 0;
        char e = s[++i], ch;
        switch (e) {
        case '"':
            ch = '"';
            break;
        case '\\':
            ch = '\\';
            break;
        case '/':
            ch = '/';
            break;
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        case 'u': {
            uint32_t cp = 0;
            for (int k = 0; k < 4; k++) {
                if (++i >= n) return 0;
                char h = s[i];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0) return 0;
                cp = cp * 16 + (uint32_t)d;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0; /* jansson decides */
            char u[3];
            size_t ul = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            if (ul == 1)
                u[0] = (char)cp;
            else if (ul == 2) {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
            } else {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
            }
            if (buf_add(out, u, ul)) return 0;
            run = i + 1;
            continue;
        }
        default:
            return 0;
        }
        if (buf_addc(out, ch)) return 0;
        run = i + 1;
    }
    return 0;
}

#define NULL_SLOT (SIZE_MAX - 1) /* a column given null: no cell, but its key was seen */

/* The common line, an object of string and null values: decoded straight into r->row with
 * slot[] set, without building a jansson object. Returns false (row untouched in meaning;
 * the caller resets it) when the line is anything else, and jansson then parses it. */
static bool flat_line(isynth_table_reader *r, const char *s, size_t n, size_t *slot,
                      isynth_error *err, isynth_err *rc)
{
    size_t i;
    int more = object_open(s, n, &i);
    while (more > 0) {
        size_t k0, klen;
        if (!member_key(s, n, &i, &k0, &klen) || klen >= sizeof r->jsonl->keybuf) return false;
        memcpy(r->jsonl->keybuf, s + k0, klen);
        r->jsonl->keybuf[klen] = '\0';
        json_t *idx = json_object_get(r->jsonl->keys, r->jsonl->keybuf);
        if (!idx) return false;
        size_t col = (size_t)json_integer_value(idx);
        if (i < n && s[i] == '"') {
            if (slot[col] != SIZE_MAX || !(i = decode_string(s, n, i, &r->jsonl->scratch)))
                return false;
            if ((*rc = sl_push(&r->row, r->jsonl->scratch.p ? r->jsonl->scratch.p : "",
                               r->jsonl->scratch.len))) {
                *rc = isynth_error_set(err, *rc, "%s:%zu: out of memory", r->path, r->line);
                return true;
            }
            slot[col] = r->row.n - 1;
        } else if (n - i >= 4 && !memcmp(s + i, "null", 4)) {
            /* seen, with no cell: a later member with the same key is a duplicate, which
               jansson reports */
            if (slot[col] != SIZE_MAX) return false;
            slot[col] = NULL_SLOT;
            i += 4;
        } else {
            return false;
        }
        more = member_end(s, n, &i);
    }
    return more == 0;
}

isynth_err jsonl_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                            isynth_error *err)
{
    /* cells in header order: an index per column into r->row, or none */
    sl_reset(&r->row);
    size_t nh = r->header.n;
    size_t *slot = isynth_malloc(nh * sizeof *slot);
    if (!slot) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    for (size_t i = 0; i < nh; i++)
        slot[i] = SIZE_MAX;
    const char *line;
    size_t n;
    isynth_err rc = isynth_jsonl_next(r->jsonl->lr, &line, &n, err);
    if (rc || !line) {
        isynth_free(slot);
        return rc;
    }
    r->line = isynth_jsonl_line(r->jsonl->lr);
    if (flat_line(r, line, n, slot, err, &rc)) {
        if (rc) {
            isynth_free(slot);
            return rc;
        }
        return order_row(r, slot, cells, lens, err);
    }
    /* anything else: jansson parses the line (and reports what is wrong with it) */
    sl_reset(&r->row);
    for (size_t i = 0; i < nh; i++)
        slot[i] = SIZE_MAX;
    json_t *o;
    if ((rc = jsonl_object(r->jsonl->lr, &o, err))) {
        isynth_free(slot);
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        json_t *idx = json_object_get(r->jsonl->keys, k);
        if (!idx) {
            rc = isynth_error_set(err, ISYNTH_ERR_PARSE,
                                  "%s:%zu: key '%s' was not there on the first pass", r->path,
                                  r->line, k);
            break;
        }
        size_t col = (size_t)json_integer_value(idx);
        if (json_is_null(v)) continue;
        if (json_is_string(v)) {
            rc = sl_push(&r->row, json_string_value(v), json_string_length(v));
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            rc = t ? sl_push(&r->row, t, strlen(t)) : ISYNTH_ERR_NOMEM;
            free(t);
        }
        if (rc) {
            rc = isynth_error_set(err, rc, "%s:%zu: out of memory", r->path, r->line);
            break;
        }
        slot[col] = r->row.n - 1;
    }
    if (rc) {
        isynth_free(slot);
        return rc;
    }
    return order_row(r, slot, cells, lens, err);
}

/* ---- the table writer ---- */

isynth_err jsonl_write_line(buf *b, const strlist *names, const char *const *cells,
                            const size_t *lens)
{
    buf_reset(b);
    isynth_err rc = buf_addc(b, '{');
    for (size_t i = 0; i < names->n && !rc; i++) {
        if (i) rc = buf_addc(b, ',');
        if (!rc) rc = buf_add_json_str(b, names->data.p + names->off[i], names->len[i]);
        if (!rc) rc = buf_addc(b, ':');
        const char *s = cells[i] ? cells[i] : "";
        size_t len = cells[i] ? (lens ? lens[i] : strlen(s)) : 0;
        if (!rc) rc = buf_add_json_str(b, s, len);
    }
    return rc ? rc : buf_add(b, "}\n", 2);
}
