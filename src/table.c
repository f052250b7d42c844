/* Generic tables of strings in .xlsx, .jsonl and .csv, behind one pull reader and one writer,
 * so `isynth convert` is a loop over rows and any pair of formats works. Everything streams:
 * memory holds one row (one chunk of CSV records), except that JSONL needs a first pass to
 * learn its columns. Output goes to a temporary name and is renamed into place only when every
 * row is written. */
#include "internal.h"
#include "isynth/table.h"
#include "isynth/xlsx.h"

#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_LINE (64u << 20)

isynth_table_format isynth_table_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return ISYNTH_TABLE_UNKNOWN;
    if (!strcasecmp(dot, ".xlsx")) return ISYNTH_TABLE_XLSX;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson")) return ISYNTH_TABLE_JSONL;
    if (!strcasecmp(dot, ".csv")) return ISYNTH_TABLE_CSV;
    return ISYNTH_TABLE_UNKNOWN;
}

isynth_table_reader_params isynth_table_reader_params_default(void)
{
    isynth_table_reader_params p = {.sheet = NULL, .max_line_bytes = DEFAULT_MAX_LINE};
    return p;
}

/* A list of strings stored back to back (NUL-separated) with offsets: a row or a header. */
typedef struct strlist {
    buf data;
    size_t *off;
    size_t *len;
    size_t n, cap;
    const char **ptr; /* filled by strlist_ptrs */
    size_t ptr_cap;
} strlist;

static void sl_init(strlist *l, size_t max)
{
    memset(l, 0, sizeof *l);
    buf_init(&l->data, max);
}

static void sl_free(strlist *l)
{
    buf_free(&l->data);
    isynth_free(l->off);
    isynth_free(l->len);
    isynth_free(l->ptr);
    memset(l, 0, sizeof *l);
}

static void sl_reset(strlist *l)
{
    buf_reset(&l->data);
    l->n = 0;
}

static isynth_err sl_push(strlist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        size_t *o = isynth_realloc(l->off, cap * sizeof *o);
        if (!o) return ISYNTH_ERR_NOMEM;
        l->off = o;
        size_t *ln = isynth_realloc(l->len, cap * sizeof *ln);
        if (!ln) return ISYNTH_ERR_NOMEM;
        l->len = ln;
        l->cap = cap;
    }
    size_t off = l->data.len;
    isynth_err rc = buf_add(&l->data, s, n);
    if (!rc) rc = buf_addc(&l->data, '\0');
    if (rc) return rc;
    l->off[l->n] = off;
    l->len[l->n] = n;
    l->n++;
    return ISYNTH_OK;
}

/* Makes l->ptr point at items [first, first+count), padding with "" up to `width`. */
static isynth_err sl_ptrs(strlist *l, size_t first, size_t count, size_t width, size_t **lens_out)
{
    size_t need = width > count ? width : count;
    if (need * 2 > l->ptr_cap) {
        const char **p = isynth_realloc(l->ptr, (need * 2 + 1) * sizeof *p);
        if (!p) return ISYNTH_ERR_NOMEM;
        l->ptr = p;
        l->ptr_cap = need * 2;
    }
    /* lengths live after the pointers, in the same allocation */
    size_t *lens = (size_t *)(void *)(l->ptr + need);
    for (size_t i = 0; i < need; i++) {
        bool have = i < count;
        l->ptr[i] = have ? l->data.p + l->off[first + i] : "";
        lens[i] = have ? l->len[first + i] : 0;
    }
    *lens_out = lens;
    return ISYNTH_OK;
}

struct isynth_table_reader {
    isynth_table_format fmt;
    isynth_table_reader_params p;
    char *path;
    strlist header;
    size_t line;
    /* xlsx */
    isynth_xlsx_reader *x;
    strlist row;
    /* csv and jsonl */
    FILE *f;
    size_t file_line;
    buf line_buf;
    char rbuf[65536];
    size_t rpos, rlen;
    /* csv */
    struct csv_parser csv;
    bool csv_init, csv_eof, bom_checked;
    strlist recs;      /* fields of the records parsed but not yet handed out */
    size_t *rec_start; /* per record: first field index in recs */
    size_t *rec_nf;    /* per record: number of fields */
    size_t *rec_line;  /* per record: line where it ends */
    size_t nrec, rec_cap, rec_head, fields_in_rec, rec_end_line;
    isynth_err cb_err;
    /* jsonl */
    json_t *keys;     /* object used as an ordered set of keys, values are column indexes */
    char keybuf[256]; /* a key of the line being read (longer keys go through jansson) */
    buf scratch;      /* a decoded string value */
};

size_t isynth_table_ncols(const isynth_table_reader *r)
{
    return r->header.n;
}

const char *isynth_table_col_name(const isynth_table_reader *r, size_t i)
{
    return i < r->header.n ? r->header.data.p + r->header.off[i] : NULL;
}

size_t isynth_table_reader_line(const isynth_table_reader *r)
{
    return r->line;
}

void isynth_table_reader_close(isynth_table_reader *r)
{
    if (!r) return;
    isynth_xlsx_reader_close(r->x);
    if (r->f) fclose(r->f);
    if (r->csv_init) csv_free(&r->csv);
    sl_free(&r->header);
    sl_free(&r->row);
    sl_free(&r->recs);
    isynth_free(r->rec_start);
    isynth_free(r->rec_nf);
    isynth_free(r->rec_line);
    buf_free(&r->line_buf);
    buf_free(&r->scratch);
    json_decref(r->keys);
    isynth_free(r->path);
    isynth_free(r);
}

/* Sets the header from the first row: drops trailing empty names, refuses empty or repeated
 * ones. `where` names the row for messages ("row 1", "line 3"). */
static isynth_err set_header(isynth_table_reader *r, const char *const *cells, const size_t *lens,
                             size_t n, const char *where, isynth_error *err)
{
    while (n && lens[n - 1] == 0)
        n--;
    if (n == 0)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: %s: the header row is empty", r->path,
                                where);
    if (n > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "%s: %s: %zu columns, more than %u",
                                r->path, where, n, ISYNTH_XLSX_MAX_COLS);
    for (size_t i = 0; i < n; i++)
        if (lens[i] == 0)
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: %s: header column %zu has no name",
                                    r->path, where, i + 1);
    bool nomem;
    size_t dup = find_repeated_name(cells, lens, n, false, &nomem);
    if (nomem) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    if (dup != (size_t)-1)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: %s: header name '%.*s' appears twice",
                                r->path, where, (int)(lens[dup] > 200 ? 200 : lens[dup]),
                                cells[dup]);
    for (size_t i = 0; i < n; i++) {
        if (sl_push(&r->header, cells[i], lens[i]))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    }
    return ISYNTH_OK;
}

/* Checks a row's width against the header: extra non-empty cells are an error. */
static isynth_err check_width(isynth_table_reader *r, const size_t *lens, size_t n,
                              isynth_error *err)
{
    for (size_t i = r->header.n; i < n; i++)
        if (lens[i]) {
            char col[8];
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "%s: %s %zu: a value in column %s, past the %zu header "
                                    "columns",
                                    r->path, r->fmt == ISYNTH_TABLE_XLSX ? "row" : "line", r->line,
                                    isynth_xlsx_col_name(i, col), r->header.n);
        }
    return ISYNTH_OK;
}

/* ---- xlsx ---- */

static isynth_err xlsx_open(isynth_table_reader *r, isynth_error *err)
{
    isynth_err rc = isynth_xlsx_reader_open(r->path, NULL, &r->x, err);
    if (!rc) rc = isynth_xlsx_open_sheet(r->x, r->p.sheet, err);
    const isynth_xlsx_row *row = NULL;
    if (!rc) rc = isynth_xlsx_next_row(r->x, &row, err);
    if (rc) return rc;
    if (!row)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: the sheet is empty (no header row)",
                                r->path);
    char where[32];
    snprintf(where, sizeof where, "row %zu", row->row);
    r->line = row->row;
    return set_header(r, row->cells, row->lens, row->ncells, where, err);
}

static isynth_err xlsx_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                            isynth_error *err)
{
    const isynth_xlsx_row *row;
    isynth_err rc = isynth_xlsx_next_row(r->x, &row, err);
    if (rc || !row) return rc;
    r->line = row->row;
    rc = check_width(r, row->lens, row->ncells, err);
    if (rc) return rc;
    size_t n = row->ncells < r->header.n ? row->ncells : r->header.n;
    sl_reset(&r->row);
    for (size_t i = 0; i < n; i++)
        if (sl_push(&r->row, row->cells[i], row->lens[i]))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    size_t *l;
    if (sl_ptrs(&r->row, 0, n, r->header.n, &l))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    *cells = r->row.ptr;
    *lens = l;
    return ISYNTH_OK;
}

/* ---- csv ---- */

static size_t csv_field_cap = DEFAULT_MAX_LINE;

/* libcsv grows its field buffer through this: capped, and failing like the rest of the library
 * under fault injection. */
static void *csv_realloc(void *p, size_t n)
{
    if (n > csv_field_cap) return NULL;
    return isynth_realloc(p, n);
}

static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static void csv_on_field(void *s, size_t len, void *ud)
{
    isynth_table_reader *r = ud;
    if (r->cb_err) return;
    if (r->fields_in_rec >= ISYNTH_XLSX_MAX_COLS) { /* before storing: memory stays bounded */
        r->cb_err = ISYNTH_ERR_TOO_LARGE;
        return;
    }
    const char *p = s ? s : "";
    size_t q = csv_defused_quote(p, s ? len : 0);
    r->cb_err = sl_push(&r->recs, p + q, s ? len - q : 0);
    r->fields_in_rec++;
}

static void csv_on_record(int c, void *ud)
{
    (void)c;
    isynth_table_reader *r = ud;
    if (r->cb_err) return;
    if (r->nrec == r->rec_cap) {
        size_t cap = r->rec_cap ? r->rec_cap * 2 : 64;
        size_t *a = isynth_realloc(r->rec_start, cap * sizeof *a);
        if (a) r->rec_start = a;
        size_t *b = a ? isynth_realloc(r->rec_nf, cap * sizeof *b) : NULL;
        if (b) r->rec_nf = b;
        size_t *l = b ? isynth_realloc(r->rec_line, cap * sizeof *l) : NULL;
        if (!l) {
            r->cb_err = ISYNTH_ERR_NOMEM;
            return;
        }
        r->rec_line = l;
        r->rec_cap = cap;
    }
    r->rec_start[r->nrec] = r->recs.n - r->fields_in_rec;
    r->rec_nf[r->nrec] = r->fields_in_rec;
    r->rec_line[r->nrec] = r->file_line + 1;
    r->rec_end_line = r->file_line + 1;
    r->nrec++;
    r->fields_in_rec = 0;
}

/* Parses more of the file until at least one record is queued or the file ends. Input is fed
 * line by line so each record knows the line it ends on. */
static isynth_err csv_fill(isynth_table_reader *r, isynth_error *err)
{
    if (r->rec_head == r->nrec) {
        /* every queued record was handed out: reuse the storage, keeping a partial record */
        size_t keep = r->fields_in_rec, first = r->recs.n - keep;
        if (keep == 0) {
            sl_reset(&r->recs);
        } else if (first > 0) {
            strlist tmp;
            sl_init(&tmp, r->recs.data.max);
            for (size_t i = first; i < r->recs.n; i++)
                if (sl_push(&tmp, r->recs.data.p + r->recs.off[i], r->recs.len[i])) {
                    sl_free(&tmp);
                    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
                }
            sl_free(&r->recs);
            r->recs = tmp;
        }
        r->nrec = r->rec_head = 0;
    }
    char chunk[65536];
    while (r->rec_head == r->nrec && !r->csv_eof) {
        size_t n = fread(chunk, 1, sizeof chunk, r->f);
        if (n == 0) {
            if (ferror(r->f))
                return isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", r->path);
            r->csv_eof = true;
            if (csv_fini(&r->csv, csv_on_field, csv_on_record, r) != 0)
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s: line %zu: the record starting here never ends (a "
                                        "quoted field is not closed): %s",
                                        r->path, r->rec_end_line + 1,
                                        csv_strerror(csv_error(&r->csv)));
            break;
        }
        char *p = chunk;
        if (!r->bom_checked) {
            r->bom_checked = true;
            if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
                p += 3;
                n -= 3;
            }
        }
        while (n) {
            char *nl = memchr(p, '\n', n);
            size_t seg = nl ? (size_t)(nl - p) + 1 : n;
            if (csv_parse(&r->csv, p, seg, csv_on_field, csv_on_record, r) != seg) {
                int e = csv_error(&r->csv);
                return isynth_error_set(err,
                                        e == CSV_ENOMEM ? ISYNTH_ERR_TOO_LARGE : ISYNTH_ERR_PARSE,
                                        "%s: line %zu: %s", r->path, r->file_line + 1,
                                        e == CSV_ENOMEM ? "a field over the size limit (or out "
                                                          "of memory)"
                                                        : csv_strerror(e));
            }
            if (r->cb_err)
                return isynth_error_set(
                    err, r->cb_err, "%s: line %zu: %s", r->path, r->file_line + 1,
                    r->cb_err == ISYNTH_ERR_NOMEM ? "out of memory"
                    : r->fields_in_rec >= ISYNTH_XLSX_MAX_COLS
                        ? "more than 16384 fields in a record (the column limit)"
                        : "record too large");
            if (nl) r->file_line++;
            p += seg;
            n -= seg;
        }
    }
    return ISYNTH_OK;
}

/* Hands out the next queued record as (cells, lens, n) after checking its UTF-8. */
static isynth_err csv_take(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                           size_t *n, isynth_error *err)
{
    *cells = NULL;
    isynth_err rc = csv_fill(r, err);
    if (rc || r->rec_head == r->nrec) return rc;
    size_t k = r->rec_head++;
    size_t first = r->rec_start[k], nf = r->rec_nf[k];
    r->line = r->rec_line[k];
    for (size_t i = 0; i < nf; i++) {
        size_t bad;
        if (!utf8_valid(r->recs.data.p + r->recs.off[first + i], r->recs.len[first + i], &bad))
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s: line %zu, field %zu: invalid UTF-8 or NUL", r->path,
                                    r->line, i + 1);
    }
    size_t width = r->header.n ? r->header.n : nf;
    size_t *l;
    if (sl_ptrs(&r->recs, first, nf < width || !r->header.n ? nf : width, width, &l))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    if (r->header.n) {
        for (size_t i = r->header.n; i < nf; i++)
            if (r->recs.len[first + i])
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s: line %zu: %zu fields, the header has %zu", r->path,
                                        r->line, nf, r->header.n);
    }
    *cells = r->recs.ptr;
    *lens = l;
    *n = width;
    return ISYNTH_OK;
}

static isynth_err csv_open(isynth_table_reader *r, isynth_error *err)
{
    csv_field_cap = r->p.max_line_bytes;
    if (csv_init(&r->csv, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    r->csv_init = true;
    csv_set_realloc_func(&r->csv, csv_realloc);
    csv_set_free_func(&r->csv, isynth_free);
    csv_set_space_func(&r->csv, csv_no_space);
    const char *const *cells;
    const size_t *lens;
    size_t n;
    isynth_err rc = csv_take(r, &cells, &lens, &n, err);
    if (rc) return rc;
    if (!cells)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: the file is empty (no header)",
                                r->path);
    char where[32];
    snprintf(where, sizeof where, "line %zu", r->line);
    return set_header(r, cells, lens, n, where, err);
}

/* ---- jsonl ---- */

/* Reads one line (without its newline) into r->line_buf through a 64 KiB read buffer; *eof at
 * the end of the file. */
static isynth_err read_line(isynth_table_reader *r, bool *eof, isynth_error *err)
{
    buf_reset(&r->line_buf);
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
        isynth_err rc = buf_add(&r->line_buf, start, n);
        if (rc)
            return isynth_error_set(err, rc, "%s: line %zu: %s", r->path, r->file_line + 1,
                                    rc == ISYNTH_ERR_TOO_LARGE ? "longer than the line limit"
                                                               : "out of memory");
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

/* Reads the next line that is not blank: *s and *n point into the line buffer (a leading BOM
 * dropped); *s = NULL at the end. */
static isynth_err next_text_line(isynth_table_reader *r, const char **s, size_t *n,
                                 isynth_error *err)
{
    *s = NULL;
    for (;;) {
        bool eof;
        isynth_err rc = read_line(r, &eof, err);
        if (rc || eof) return rc;
        const char *p = r->line_buf.p ? r->line_buf.p : "";
        size_t len = r->line_buf.len;
        if (r->file_line == 1 && len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
            p += 3;
            len -= 3;
        }
        if (blank(p, len)) continue;
        *s = p;
        *n = len;
        return ISYNTH_OK;
    }
}

/* Parses one line as a JSON object; the error names the line and column. */
static isynth_err parse_object(isynth_table_reader *r, const char *s, size_t n, json_t **obj,
                               isynth_error *err)
{
    json_error_t je;
    json_t *v;
    const char *over;
    isynth_err rc = json_load_record(s, n, JSON_REJECT_DUPLICATES, &v, &je, &over);
    if (rc == ISYNTH_ERR_NOMEM)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: line %zu: out of memory", r->path,
                                r->file_line);
    if (rc && over)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: line %zu: %s", r->path, r->file_line,
                                over);
    if (rc)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: line %zu, column %d: %s", r->path,
                                r->file_line, je.column, je.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: line %zu: not a JSON object", r->path,
                                r->file_line);
    }
    *obj = v;
    return ISYNTH_OK;
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
    /* the fast scan takes a key's bytes as they are: refuse here what JSON and jansson refuse
     * (once reported as "out of memory" when jansson would not store the key) */
    size_t bad;
    if (!utf8_valid(k, len, &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8, "%s: line %zu: a key is not valid UTF-8",
                                r->path, r->file_line);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)k[i] < 0x20)
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "%s: line %zu: a key holds control character 0x%02x", r->path,
                                    r->file_line, (unsigned char)k[i]);
    char *key = isynth_strndup(k, len);
    if (!key) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    isynth_err rc = ISYNTH_OK;
    if (!json_object_get(r->keys, key)) {
        json_t *idx;
        if (r->header.n >= ISYNTH_XLSX_MAX_COLS)
            rc = isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                  "%s: line %zu: more than %u distinct keys", r->path, r->file_line,
                                  ISYNTH_XLSX_MAX_COLS);
        else if (!(idx = json_integer((json_int_t)r->header.n)) ||
                 json_object_set_new(r->keys, key, idx) || sl_push(&r->header, key, len))
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

static isynth_err jsonl_open(isynth_table_reader *r, isynth_error *err)
{
    r->keys = json_object();
    if (!r->keys) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    for (;;) {
        const char *s;
        size_t n;
        isynth_err rc = next_text_line(r, &s, &n, err);
        if (rc) return rc;
        if (!s) break;
        if (scan_keys(r, s, n, err, &rc)) {
            if (rc) return rc;
            continue;
        }
        /* not a simple line: a full parse gives its keys, or the error with line and column */
        json_t *o;
        if ((rc = parse_object(r, s, n, &o, err))) return rc;
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if ((rc = add_key(r, k, strlen(k), err))) {
                json_decref(o);
                return rc;
            }
        }
        json_decref(o);
    }
    if (r->header.n == 0)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: no JSON objects with keys", r->path);
    rewind(r->f);
    r->rpos = r->rlen = 0;
    r->file_line = 0;
    r->line = 0;
    return ISYNTH_OK;
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
        if (!member_key(s, n, &i, &k0, &klen) || klen >= sizeof r->keybuf) return false;
        memcpy(r->keybuf, s + k0, klen);
        r->keybuf[klen] = '\0';
        json_t *idx = json_object_get(r->keys, r->keybuf);
        if (!idx) return false;
        size_t col = (size_t)json_integer_value(idx);
        if (i < n && s[i] == '"') {
            if (slot[col] != SIZE_MAX || !(i = decode_string(s, n, i, &r->scratch))) return false;
            if ((*rc = sl_push(&r->row, r->scratch.p ? r->scratch.p : "", r->scratch.len))) {
                *rc = isynth_error_set(err, *rc, "%s: line %zu: out of memory", r->path, r->line);
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

static isynth_err jsonl_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
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
    isynth_err rc = next_text_line(r, &line, &n, err);
    if (rc || !line) {
        isynth_free(slot);
        return rc;
    }
    r->line = r->file_line;
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
    if ((rc = parse_object(r, line, n, &o, err))) {
        isynth_free(slot);
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        json_t *idx = json_object_get(r->keys, k);
        if (!idx) {
            rc = isynth_error_set(err, ISYNTH_ERR_PARSE,
                                  "%s: line %zu: key '%s' was not there on the first pass", r->path,
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
            rc = isynth_error_set(err, rc, "%s: line %zu: out of memory", r->path, r->line);
            break;
        }
        slot[col] = r->row.n - 1;
    }
    json_decref(o);
    if (rc) {
        isynth_free(slot);
        return rc;
    }
    return order_row(r, slot, cells, lens, err);
}

/* ---- reader dispatch ---- */

isynth_err isynth_table_reader_open(const char *path, const isynth_table_reader_params *p,
                                    isynth_table_reader **out, isynth_error *err)
{
    *out = NULL;
    isynth_table_format fmt = isynth_table_format_from_path(path);
    if (fmt == ISYNTH_TABLE_UNKNOWN)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: unknown extension (use .xlsx, .jsonl or .csv)", path);
    isynth_table_reader *r = isynth_calloc(1, sizeof *r);
    if (!r) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    r->fmt = fmt;
    r->p = p ? *p : isynth_table_reader_params_default();
    if (!r->p.max_line_bytes) r->p.max_line_bytes = DEFAULT_MAX_LINE;
    sl_init(&r->header, 0);
    sl_init(&r->row, 0);
    sl_init(&r->recs, 0);
    buf_init(&r->line_buf, r->p.max_line_bytes);
    buf_init(&r->scratch, r->p.max_line_bytes);
    isynth_err rc = ISYNTH_OK;
    r->path = isynth_strdup(path);
    if (!r->path) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fmt != ISYNTH_TABLE_XLSX && !(r->f = fopen(path, "rb"))) {
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    rc = fmt == ISYNTH_TABLE_XLSX  ? xlsx_open(r, err)
         : fmt == ISYNTH_TABLE_CSV ? csv_open(r, err)
                                   : jsonl_open(r, err);
    if (rc) goto fail;
    *out = r;
    return ISYNTH_OK;
fail:
    isynth_table_reader_close(r);
    return rc;
}

isynth_err isynth_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                             isynth_error *err)
{
    *cells = NULL;
    *lens = NULL;
    if (r->fmt == ISYNTH_TABLE_XLSX) return xlsx_next(r, cells, lens, err);
    if (r->fmt == ISYNTH_TABLE_JSONL) return jsonl_next(r, cells, lens, err);
    size_t n;
    for (;;) {
        isynth_err rc = csv_take(r, cells, lens, &n, err);
        if (rc || !*cells) return rc;
        bool empty = true;
        for (size_t i = 0; i < n && empty; i++)
            empty = (*lens)[i] == 0;
        if (!empty) return ISYNTH_OK;
    }
}

/* ---- writer ---- */

struct isynth_table_writer {
    isynth_table_format fmt;
    char *path;
    size_t ncols;
    size_t rows;
    isynth_xlsx_writer *x;
    atomic_file af;
    bool af_open;
    bool raw_formulas; /* csv: formula-like cells as they are */
    strlist names;
    buf line;
};

void isynth_table_writer_free(isynth_table_writer *w)
{
    if (!w) return;
    isynth_xlsx_writer_free(w->x);
    if (w->af_open) atomic_abort(&w->af);
    sl_free(&w->names);
    buf_free(&w->line);
    isynth_free(w->path);
    isynth_free(w);
}

static bool csv_needs_quotes(const char *s, size_t n)
{
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) return true;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') return true;
    return false;
}

static isynth_err csv_line(buf *b, const char *const *cells, const size_t *lens, size_t n,
                           bool raw_formulas)
{
    buf_reset(b);
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *s = cells[i] ? cells[i] : "";
        size_t len = cells[i] ? (lens ? lens[i] : strlen(s)) : 0;
        bool defuse = !raw_formulas && csv_defuse(s, len);
        if (i) rc = buf_addc(b, ',');
        if (rc) break;
        if (!csv_needs_quotes(s, len)) {
            rc = defuse ? buf_addc(b, '\'') : ISYNTH_OK;
            if (!rc) rc = buf_add(b, s, len);
            continue;
        }
        rc = buf_addc(b, '"');
        if (!rc && defuse) rc = buf_addc(b, '\'');
        for (size_t j = 0; j < len && !rc; j++)
            rc = s[j] == '"' ? buf_add(b, "\"\"", 2) : buf_addc(b, s[j]);
        if (!rc) rc = buf_addc(b, '"');
    }
    return rc ? rc : buf_add(b, "\r\n", 2);
}

static isynth_err jsonl_line(isynth_table_writer *w, const char *const *cells, const size_t *lens)
{
    buf *b = &w->line;
    buf_reset(b);
    isynth_err rc = buf_addc(b, '{');
    for (size_t i = 0; i < w->ncols && !rc; i++) {
        if (i) rc = buf_addc(b, ',');
        if (!rc) rc = buf_add_json_str(b, w->names.data.p + w->names.off[i], w->names.len[i]);
        if (!rc) rc = buf_addc(b, ':');
        const char *s = cells[i] ? cells[i] : "";
        size_t len = cells[i] ? (lens ? lens[i] : strlen(s)) : 0;
        if (!rc) rc = buf_add_json_str(b, s, len);
    }
    return rc ? rc : buf_add(b, "}\n", 2);
}

static isynth_err check_cells(isynth_table_writer *w, const char *const *cells, const size_t *lens,
                              size_t n, isynth_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!cells[i]) continue;
        size_t bad;
        if (!utf8_valid(cells[i], lens ? lens[i] : strlen(cells[i]), &bad))
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s: row %zu, column %zu: invalid UTF-8 or NUL at byte %zu",
                                    w->path, w->rows + 1, i + 1, bad);
    }
    return ISYNTH_OK;
}

isynth_table_writer_params isynth_table_writer_params_default(void)
{
    isynth_table_writer_params p = {.csv_raw_formulas = false};
    return p;
}

isynth_err isynth_table_writer_open(const char *path, const char *const *names, size_t ncols,
                                    const isynth_table_writer_params *wp, isynth_table_writer **out,
                                    isynth_error *err)
{
    *out = NULL;
    isynth_table_format fmt = isynth_table_format_from_path(path);
    if (fmt == ISYNTH_TABLE_UNKNOWN)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: unknown extension (use .xlsx, .jsonl or .csv)", path);
    if (ncols == 0 || ncols > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: 1..%u columns needed", path,
                                ISYNTH_XLSX_MAX_COLS);
    isynth_table_writer *w = isynth_calloc(1, sizeof *w);
    if (!w) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    w->fmt = fmt;
    w->ncols = ncols;
    w->raw_formulas = wp && wp->csv_raw_formulas;
    sl_init(&w->names, 0);
    buf_init(&w->line, 0);
    isynth_err rc = ISYNTH_OK;
    isynth_xlsx_column *cols = NULL;
    w->path = isynth_strdup(path);
    if (!w->path) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < ncols; i++) {
        const char *s = names[i] ? names[i] : "";
        size_t bad;
        if (!utf8_valid(s, strlen(s), &bad)) {
            rc = isynth_error_set(err, ISYNTH_ERR_UTF8, "%s: column name %zu is not UTF-8", path,
                                  i + 1);
            goto fail;
        }
        if (sl_push(&w->names, s, strlen(s))) {
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    if (fmt == ISYNTH_TABLE_XLSX) {
        cols = isynth_calloc(ncols, sizeof *cols);
        if (!cols) {
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < ncols; i++) {
            size_t n = strlen(names[i] ? names[i] : "");
            cols[i] = (isynth_xlsx_column){.name = names[i],
                                           .width = n < 10   ? 14
                                                    : n > 48 ? 50
                                                             : (double)n + 2,
                                           .wrap = true};
        }
        isynth_xlsx_writer_params xp = isynth_xlsx_writer_params_default();
        rc = isynth_xlsx_writer_open(path, &xp, &w->x, err);
        if (!rc) rc = isynth_xlsx_add_sheet(w->x, "Sheet1", cols, ncols, err);
        isynth_free(cols);
        if (rc) goto fail;
    } else {
        rc = atomic_open(&w->af, path, err);
        if (rc) goto fail;
        w->af_open = true;
        if (fmt == ISYNTH_TABLE_CSV) {
            rc = csv_line(&w->line, names, NULL, ncols, w->raw_formulas);
            if (rc || fwrite(w->line.p, 1, w->line.len, w->af.f) != w->line.len) {
                rc = isynth_error_set(err, rc ? rc : ISYNTH_ERR_IO, "%s: cannot write", path);
                goto fail;
            }
        }
    }
    *out = w;
    return ISYNTH_OK;
fail:
    isynth_table_writer_free(w);
    return rc;
}

isynth_err isynth_table_write_row(isynth_table_writer *w, const char *const *cells,
                                  const size_t *lens, isynth_error *err)
{
    isynth_err rc;
    if (w->fmt == ISYNTH_TABLE_XLSX) {
        rc = isynth_xlsx_write_row(w->x, cells, lens, w->ncols, err);
    } else {
        rc = check_cells(w, cells, lens, w->ncols, err);
        if (rc) return rc;
        rc = w->fmt == ISYNTH_TABLE_CSV ? csv_line(&w->line, cells, lens, w->ncols, w->raw_formulas)
                                        : jsonl_line(w, cells, lens);
        if (rc) return isynth_error_set(err, rc, "%s: out of memory", w->path);
        if (fwrite(w->line.p, 1, w->line.len, w->af.f) != w->line.len)
            return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot write: %s", w->path,
                                    strerror(errno));
    }
    if (!rc) w->rows++;
    return rc;
}

isynth_err isynth_table_writer_close(isynth_table_writer *w, isynth_error *err)
{
    isynth_err rc;
    if (w->fmt == ISYNTH_TABLE_XLSX) {
        rc = isynth_xlsx_writer_close(w->x, err);
        w->x = NULL;
    } else {
        rc = atomic_commit(&w->af, err);
        w->af_open = false;
    }
    isynth_table_writer_free(w);
    return rc;
}

isynth_err isynth_table_convert(const char *in, const char *out,
                                const isynth_table_reader_params *p,
                                const isynth_table_writer_params *wp, size_t *rows,
                                isynth_error *err)
{
    if (rows) *rows = 0;
    if (isynth_table_format_from_path(out) == ISYNTH_TABLE_UNKNOWN)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: unknown extension (use .xlsx, .jsonl or .csv)", out);
    isynth_table_reader *r = NULL;
    isynth_table_writer *w = NULL;
    isynth_err rc = isynth_table_reader_open(in, p, &r, err);
    if (rc) return rc;
    size_t nc = isynth_table_ncols(r);
    const char **names = isynth_malloc(nc * sizeof *names);
    if (!names) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nc; i++)
        names[i] = isynth_table_col_name(r, i);
    rc = isynth_table_writer_open(out, names, nc, wp, &w, err);
    isynth_free(names);
    if (rc) goto done;
    for (;;) {
        const char *const *cells;
        const size_t *lens;
        if (wp && wp->stop && *wp->stop) {
            rc = isynth_error_set(err, ISYNTH_ERR_CANCELLED, "%s: interrupted; nothing written",
                                  out);
            break;
        }
        rc = isynth_table_next(r, &cells, &lens, err);
        if (rc || !cells) break;
        isynth_error werr = {0};
        rc = isynth_table_write_row(w, cells, lens, &werr);
        if (rc) {
            isynth_error_set(err, rc, "%s: %s %zu: %s", in,
                             isynth_table_format_from_path(in) == ISYNTH_TABLE_XLSX ? "row"
                                                                                    : "line",
                             isynth_table_reader_line(r), werr.msg);
            break;
        }
    }
    if (!rc && wp && wp->stop && *wp->stop)
        rc = isynth_error_set(err, ISYNTH_ERR_CANCELLED, "%s: interrupted; nothing written", out);
    if (rc) goto done;
    if (rows) *rows = w->rows;
    rc = isynth_table_writer_close(w, err);
    w = NULL;
done:
    isynth_table_writer_free(w);
    isynth_table_reader_close(r);
    return rc;
}
