/* Generic tables of strings behind one pull reader and one writer, so `isynth convert` is a loop
 * over rows and any pair of formats works. This file holds what every format shares: the
 * format an extension names (the one mapping, which the seed loader uses too), the handles,
 * the header rules, the dispatch to each format's reader and writer (table_csv.c,
 * table_jsonl.c, table_xlsx.c) and the converter. Output goes to a temporary name and is
 * renamed into place only when every row is written. */
#include "table_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

isynth_table_format isynth_table_format_from_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return ISYNTH_TABLE_UNKNOWN;
    if (!strcasecmp(dot, ".xlsx")) return ISYNTH_TABLE_XLSX;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson")) return ISYNTH_TABLE_JSONL;
    if (!strcasecmp(dot, ".csv")) return ISYNTH_TABLE_CSV;
    if (!strcasecmp(dot, ".json")) return ISYNTH_TABLE_JSON;
    return ISYNTH_TABLE_UNKNOWN;
}

/* The formats a table reader and writer handle (.json is the seed loader's only). */
static isynth_table_format table_format(const char *path, isynth_error *err, isynth_err *rc)
{
    isynth_table_format fmt = isynth_table_format_from_path(path);
    if (fmt == ISYNTH_TABLE_UNKNOWN || fmt == ISYNTH_TABLE_JSON) {
        *rc = isynth_error_set(err, ISYNTH_ERR_INVALID,
                               "%s: unknown extension (use .xlsx, .jsonl or .csv)", path);
        return ISYNTH_TABLE_UNKNOWN;
    }
    *rc = ISYNTH_OK;
    return fmt;
}

isynth_table_reader_params isynth_table_reader_params_default(void)
{
    isynth_table_reader_params p = {.sheet = NULL, .max_line_bytes = TABLE_DEFAULT_MAX_LINE};
    return p;
}

void sl_init(strlist *l, size_t max)
{
    memset(l, 0, sizeof *l);
    buf_init(&l->data, max);
}

void sl_free(strlist *l)
{
    buf_free(&l->data);
    isynth_free(l->off);
    isynth_free(l->len);
    isynth_free(l->ptr);
    memset(l, 0, sizeof *l);
}

void sl_reset(strlist *l)
{
    buf_reset(&l->data);
    l->n = 0;
}

isynth_err sl_push(strlist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = array_next_cap(l->cap, 16);
        if (ARRAY_RESIZE(l->off, cap) || ARRAY_RESIZE(l->len, cap)) return ISYNTH_ERR_NOMEM;
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

isynth_err sl_ptrs(strlist *l, size_t first, size_t count, size_t width, size_t **lens_out)
{
    size_t need = width > count ? width : count;
    if (need * 2 > l->ptr_cap) {
        if (ARRAY_RESIZE(l->ptr, need * 2 + 1)) return ISYNTH_ERR_NOMEM;
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
    csv_reader_free(r);
    jsonl_table_free(r);
    sl_free(&r->header);
    sl_free(&r->row);
    isynth_free(r->path);
    isynth_free(r);
}

isynth_err table_set_header(isynth_table_reader *r, const char *const *cells, const size_t *lens,
                            size_t n, isynth_error *err)
{
    char where[40];
    snprintf(where, sizeof where, r->fmt == ISYNTH_TABLE_XLSX ? ": row %zu" : ":%zu", r->line);
    while (n && lens[n - 1] == 0)
        n--;
    if (n == 0)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s%s: the header row is empty", r->path,
                                where);
    if (n > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE, "%s%s: %zu columns, more than %u",
                                r->path, where, n, ISYNTH_XLSX_MAX_COLS);
    for (size_t i = 0; i < n; i++)
        if (lens[i] == 0)
            return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s%s: header column %zu has no name",
                                    r->path, where, i + 1);
    bool nomem;
    size_t dup = find_repeated_name(cells, lens, n, false, &nomem);
    if (nomem) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    if (dup != (size_t)-1)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s%s: header name '%.*s' appears twice",
                                r->path, where, (int)(lens[dup] > 200 ? 200 : lens[dup]),
                                cells[dup]);
    for (size_t i = 0; i < n; i++) {
        if (sl_push(&r->header, cells[i], lens[i]))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    }
    return ISYNTH_OK;
}

/* ---- reader dispatch ---- */

isynth_err table_reader_open_as(const char *path, isynth_table_format fmt, FILE *f,
                                const isynth_table_reader_params *p, isynth_table_reader **out,
                                isynth_error *err)
{
    *out = NULL;
    isynth_err rc = ISYNTH_OK;
    isynth_table_reader *r = isynth_calloc(1, sizeof *r);
    if (!r) {
        if (f) fclose(f);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    }
    r->fmt = fmt;
    r->p = p ? *p : isynth_table_reader_params_default();
    if (!r->p.max_line_bytes) r->p.max_line_bytes = TABLE_DEFAULT_MAX_LINE;
    sl_init(&r->header, TABLE_ROW_CAP(r->p.max_line_bytes));
    sl_init(&r->row, TABLE_ROW_CAP(r->p.max_line_bytes));
    r->path = isynth_strdup(path);
    if (!r->path) {
        if (f) fclose(f);
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    rc = fmt == ISYNTH_TABLE_XLSX  ? xlsx_table_open(r, err)
         : fmt == ISYNTH_TABLE_CSV ? csv_reader_open(r, f, err)
                                   : jsonl_table_open(r, err);
    if (rc) goto fail;
    *out = r;
    return ISYNTH_OK;
fail:
    isynth_table_reader_close(r);
    return rc;
}

isynth_err isynth_table_reader_open(const char *path, const isynth_table_reader_params *p,
                                    isynth_table_reader **out, isynth_error *err)
{
    *out = NULL;
    isynth_err rc;
    isynth_table_format fmt = table_format(path, err, &rc);
    if (rc) return rc;
    return table_reader_open_as(path, fmt, NULL, p, out, err);
}

isynth_err isynth_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                             isynth_error *err)
{
    *cells = NULL;
    *lens = NULL;
    if (r->fmt == ISYNTH_TABLE_XLSX) return xlsx_table_next(r, cells, lens, err);
    if (r->fmt == ISYNTH_TABLE_JSONL) return jsonl_table_next(r, cells, lens, err);
    return csv_reader_next(r, cells, lens, err);
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
    isynth_err rc;
    isynth_table_format fmt = table_format(path, err, &rc);
    if (rc) return rc;
    if (ncols == 0 || ncols > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: 1..%u columns needed", path,
                                ISYNTH_XLSX_MAX_COLS);
    isynth_table_writer *w = isynth_calloc(1, sizeof *w);
    if (!w) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    w->fmt = fmt;
    w->ncols = ncols;
    w->raw_formulas = wp && wp->csv_raw_formulas;
    sl_init(&w->names, TABLE_DEFAULT_MAX_LINE); /* the header: one line */
    buf_init(&w->line, TABLE_DEFAULT_MAX_LINE); /* one line: what a reader takes back */
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
        rc = xlsx_table_writer_open(path, names, ncols, &w->x, err);
        if (rc) goto fail;
    } else {
        rc = atomic_open(&w->af, path, err);
        if (rc) goto fail;
        w->af_open = true;
        if (fmt == ISYNTH_TABLE_CSV) {
            rc = csv_write_line(&w->line, names, NULL, ncols, w->raw_formulas);
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
        rc = w->fmt == ISYNTH_TABLE_CSV
                 ? csv_write_line(&w->line, cells, lens, w->ncols, w->raw_formulas)
                 : jsonl_write_line(&w->line, &w->names, cells, lens);
        if (rc == ISYNTH_ERR_TOO_LARGE)
            return isynth_error_set(err, rc, "%s: row %zu is over the limit of %zu bytes a line",
                                    w->path, w->rows + 1, w->line.max);
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
    isynth_err rc;
    table_format(out, err, &rc);
    if (rc) return rc;
    isynth_table_reader *r = NULL;
    isynth_table_writer *w = NULL;
    rc = isynth_table_reader_open(in, p, &r, err);
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
            isynth_error_set(err, rc, "%s%s%zu: %s", in,
                             isynth_table_format_from_path(in) == ISYNTH_TABLE_XLSX ? ": row "
                                                                                    : ":",
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
