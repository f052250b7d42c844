/* The table reader and writer for .csv (RFC 4180, through libcsv): the first record is the
 * header; input is fed line by line so that each record knows the lines it spans, and parsed
 * records are queued and handed out one at a time, so memory holds a chunk of records, never
 * the file. A cell the writer defused with a leading quote is read back without it. */
#include "table_impl.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct csv_state {
    FILE *f;
    size_t file_line;
    struct csv_parser parser;
    bool parser_init, csv_eof, bom_checked;
    strlist recs;      /* fields of the records parsed but not yet handed out */
    size_t *rec_start; /* per record: first field index in recs */
    size_t *rec_nf;    /* per record: number of fields */
    size_t *rec_line;  /* per record: line where it ends */
    size_t nrec, rec_cap, rec_head, fields_in_rec, rec_end_line;
    isynth_err cb_err;
};

void csv_reader_free(isynth_table_reader *r)
{
    csv_state *c = r->csv;
    if (!c) return;
    if (c->f) fclose(c->f);
    if (c->parser_init) csv_free(&c->parser);
    sl_free(&c->recs);
    isynth_free(c->rec_start);
    isynth_free(c->rec_nf);
    isynth_free(c->rec_line);
    isynth_free(c);
    r->csv = NULL;
}

static size_t csv_field_cap = TABLE_DEFAULT_MAX_LINE;

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
    if (r->csv->cb_err) return;
    if (r->csv->fields_in_rec >= ISYNTH_XLSX_MAX_COLS) { /* before storing: memory stays bounded */
        r->csv->cb_err = ISYNTH_ERR_TOO_LARGE;
        return;
    }
    const char *p = s ? s : "";
    size_t q = csv_defused_quote(p, s ? len : 0);
    r->csv->cb_err = sl_push(&r->csv->recs, p + q, s ? len - q : 0);
    r->csv->fields_in_rec++;
}

static void csv_on_record(int c, void *ud)
{
    (void)c;
    isynth_table_reader *r = ud;
    if (r->csv->cb_err) return;
    if (r->csv->nrec == r->csv->rec_cap) {
        size_t cap = r->csv->rec_cap ? r->csv->rec_cap * 2 : 64;
        size_t *a = isynth_realloc(r->csv->rec_start, cap * sizeof *a);
        if (a) r->csv->rec_start = a;
        size_t *b = a ? isynth_realloc(r->csv->rec_nf, cap * sizeof *b) : NULL;
        if (b) r->csv->rec_nf = b;
        size_t *l = b ? isynth_realloc(r->csv->rec_line, cap * sizeof *l) : NULL;
        if (!l) {
            r->csv->cb_err = ISYNTH_ERR_NOMEM;
            return;
        }
        r->csv->rec_line = l;
        r->csv->rec_cap = cap;
    }
    r->csv->rec_start[r->csv->nrec] = r->csv->recs.n - r->csv->fields_in_rec;
    r->csv->rec_nf[r->csv->nrec] = r->csv->fields_in_rec;
    r->csv->rec_line[r->csv->nrec] = r->csv->file_line + 1;
    r->csv->rec_end_line = r->csv->file_line + 1;
    r->csv->nrec++;
    r->csv->fields_in_rec = 0;
}

/* Parses more of the file until at least one record is queued or the file ends. Input is fed
 * line by line so each record knows the line it ends on. */
static isynth_err csv_fill(isynth_table_reader *r, isynth_error *err)
{
    if (r->csv->rec_head == r->csv->nrec) {
        /* every queued record was handed out: reuse the storage, keeping a partial record */
        size_t keep = r->csv->fields_in_rec, first = r->csv->recs.n - keep;
        if (keep == 0) {
            sl_reset(&r->csv->recs);
        } else if (first > 0) {
            strlist tmp;
            sl_init(&tmp, r->csv->recs.data.max);
            for (size_t i = first; i < r->csv->recs.n; i++)
                if (sl_push(&tmp, r->csv->recs.data.p + r->csv->recs.off[i], r->csv->recs.len[i])) {
                    sl_free(&tmp);
                    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
                }
            sl_free(&r->csv->recs);
            r->csv->recs = tmp;
        }
        r->csv->nrec = r->csv->rec_head = 0;
    }
    char chunk[65536];
    while (r->csv->rec_head == r->csv->nrec && !r->csv->csv_eof) {
        size_t n = fread(chunk, 1, sizeof chunk, r->csv->f);
        if (n == 0) {
            if (ferror(r->csv->f))
                return isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", r->path);
            r->csv->csv_eof = true;
            if (csv_fini(&r->csv->parser, csv_on_field, csv_on_record, r) != 0)
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s: line %zu: the record starting here never ends (a "
                                        "quoted field is not closed): %s",
                                        r->path, r->csv->rec_end_line + 1,
                                        csv_strerror(csv_error(&r->csv->parser)));
            break;
        }
        char *p = chunk;
        if (!r->csv->bom_checked) {
            r->csv->bom_checked = true;
            if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
                p += 3;
                n -= 3;
            }
        }
        while (n) {
            char *nl = memchr(p, '\n', n);
            size_t seg = nl ? (size_t)(nl - p) + 1 : n;
            if (csv_parse(&r->csv->parser, p, seg, csv_on_field, csv_on_record, r) != seg) {
                int e = csv_error(&r->csv->parser);
                return isynth_error_set(err,
                                        e == CSV_ENOMEM ? ISYNTH_ERR_TOO_LARGE : ISYNTH_ERR_PARSE,
                                        "%s: line %zu: %s", r->path, r->csv->file_line + 1,
                                        e == CSV_ENOMEM ? "a field over the size limit (or out "
                                                          "of memory)"
                                                        : csv_strerror(e));
            }
            if (r->csv->cb_err)
                return isynth_error_set(
                    err, r->csv->cb_err, "%s: line %zu: %s", r->path, r->csv->file_line + 1,
                    r->csv->cb_err == ISYNTH_ERR_NOMEM ? "out of memory"
                    : r->csv->fields_in_rec >= ISYNTH_XLSX_MAX_COLS
                        ? "more than 16384 fields in a record (the column limit)"
                        : "record too large");
            if (nl) r->csv->file_line++;
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
    if (rc || r->csv->rec_head == r->csv->nrec) return rc;
    size_t k = r->csv->rec_head++;
    size_t first = r->csv->rec_start[k], nf = r->csv->rec_nf[k];
    r->line = r->csv->rec_line[k];
    for (size_t i = 0; i < nf; i++) {
        size_t bad;
        if (!utf8_valid(r->csv->recs.data.p + r->csv->recs.off[first + i],
                        r->csv->recs.len[first + i], &bad))
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s: line %zu, field %zu: invalid UTF-8 or NUL", r->path,
                                    r->line, i + 1);
    }
    size_t width = r->header.n ? r->header.n : nf;
    size_t *l;
    if (sl_ptrs(&r->csv->recs, first, nf < width || !r->header.n ? nf : width, width, &l))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    if (r->header.n) {
        for (size_t i = r->header.n; i < nf; i++)
            if (r->csv->recs.len[first + i])
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s: line %zu: %zu fields, the header has %zu", r->path,
                                        r->line, nf, r->header.n);
    }
    *cells = r->csv->recs.ptr;
    *lens = l;
    *n = width;
    return ISYNTH_OK;
}

isynth_err csv_reader_open(isynth_table_reader *r, isynth_error *err)
{
    r->csv = isynth_calloc(1, sizeof *r->csv);
    if (!r->csv) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    sl_init(&r->csv->recs, 0);
    if (!(r->csv->f = fopen(r->path, "rb")))
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", r->path,
                                strerror(errno));
    csv_field_cap = r->p.max_line_bytes;
    if (csv_init(&r->csv->parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    r->csv->parser_init = true;
    csv_set_realloc_func(&r->csv->parser, csv_realloc);
    csv_set_free_func(&r->csv->parser, isynth_free);
    csv_set_space_func(&r->csv->parser, csv_no_space);
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
    return table_set_header(r, cells, lens, n, where, err);
}

/* The next data row; rows whose every cell is empty are skipped. */
isynth_err csv_reader_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                           isynth_error *err)
{
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

static bool csv_needs_quotes(const char *s, size_t n)
{
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) return true;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') return true;
    return false;
}

isynth_err csv_write_line(buf *b, const char *const *cells, const size_t *lens, size_t n,
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
