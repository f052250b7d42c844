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
    size_t *rec_line;  /* per record: line where it starts */
    size_t nrec, rec_cap, rec_head, fields_in_rec;
    bool in_rec;       /* a record has started and not ended */
    char chunk[65536]; /* read buffer: bytes [cpos, clen) not parsed yet */
    size_t cpos, clen;
    size_t rec_first_line; /* where the record being parsed starts */
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
    csv_state *c = ((isynth_table_reader *)ud)->csv;
    if (c->cb_err) return;
    if (c->fields_in_rec >= ISYNTH_XLSX_MAX_COLS) { /* before storing: memory stays bounded */
        c->cb_err = ISYNTH_ERR_TOO_LARGE;
        return;
    }
    const char *p = s ? s : "";
    size_t q = csv_defused_quote(p, s ? len : 0);
    c->cb_err = sl_push(&c->recs, p + q, s ? len - q : 0);
    c->fields_in_rec++;
}

static void csv_on_record(int term, void *ud)
{
    (void)term;
    csv_state *c = ((isynth_table_reader *)ud)->csv;
    c->in_rec = false;
    if (c->cb_err) return;
    if (c->nrec == c->rec_cap) {
        size_t cap = array_next_cap(c->rec_cap, 64);
        if (ARRAY_RESIZE(c->rec_start, cap) || ARRAY_RESIZE(c->rec_nf, cap) ||
            ARRAY_RESIZE(c->rec_line, cap)) {
            c->cb_err = ISYNTH_ERR_NOMEM;
            return;
        }
        c->rec_cap = cap;
    }
    c->rec_start[c->nrec] = c->recs.n - c->fields_in_rec;
    c->rec_nf[c->nrec] = c->fields_in_rec;
    c->rec_line[c->nrec] = c->rec_first_line;
    c->nrec++;
    c->fields_in_rec = 0;
}

/* The name of column k for messages: its header name, "column K" past the header, or "header
 * column K" in the header row itself. */
static const char *column_label(const isynth_table_reader *r, size_t k, char *tmp, size_t cap)
{
    if (r->header.n && k < r->header.n) return isynth_table_col_name(r, k);
    snprintf(tmp, cap, "%scolumn %zu", r->header.n ? "" : "header ", k + 1);
    return tmp;
}

/* A failure of libcsv on the line being fed (at_end: when the file ends inside a record). */
static isynth_err csv_parse_error(isynth_table_reader *r, int code, bool at_end, isynth_error *err)
{
    csv_state *c = r->csv;
    char tmp[48];
    const char *col = column_label(r, c->fields_in_rec, tmp, sizeof tmp);
    size_t line = c->file_line + 1;
    /* libcsv says ENOMEM both when csv_realloc refuses past the cap and when memory runs out */
    if (code == CSV_ENOMEM && c->parser.entry_size < r->p.max_line_bytes)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s:%zu: out of memory", r->path, line);
    if (code == CSV_ENOMEM || code == CSV_ETOOBIG)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "%s:%zu: field '%s': over the size limit of %zu bytes (or out of "
                                "memory)",
                                r->path, line, col, r->p.max_line_bytes);
    if (at_end)
        return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                "%s:%zu: field '%s': unterminated quoted field (its closing quote "
                                "is missing)",
                                r->path, c->rec_first_line, col);
    if (c->rec_first_line != line)
        return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                "%s:%zu: field '%s': malformed quoted field in the record that "
                                "starts at line %zu (a quote inside a field must be doubled, and "
                                "nothing may follow a closing quote)",
                                r->path, line, col, c->rec_first_line);
    return isynth_error_set(err, ISYNTH_ERR_PARSE,
                            "%s:%zu: field '%s': malformed quoted field (a quote inside a field "
                            "must be doubled, and nothing may follow a closing quote)",
                            r->path, line, col);
}

static bool blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Parses more of the file until at least one record is queued or the file ends. Input is fed
 * line by line so each record knows the line it starts on. */
static isynth_err csv_fill(isynth_table_reader *r, isynth_error *err)
{
    csv_state *c = r->csv;
    if (c->rec_head == c->nrec) {
        /* every queued record was handed out: reuse the storage, keeping a partial record */
        size_t keep = c->fields_in_rec, first = c->recs.n - keep;
        if (keep == 0) {
            sl_reset(&c->recs);
        } else if (first > 0) {
            strlist tmp;
            sl_init(&tmp, c->recs.data.max);
            for (size_t i = first; i < c->recs.n; i++)
                if (sl_push(&tmp, c->recs.data.p + c->recs.off[i], c->recs.len[i])) {
                    sl_free(&tmp);
                    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
                }
            sl_free(&c->recs);
            c->recs = tmp;
        }
        c->nrec = c->rec_head = 0;
    }
    /* fed line by line, and only until a record is queued: errors come in file order, and a
       header is known before the lines after it are parsed */
    while (c->rec_head == c->nrec && !c->csv_eof) {
        if (c->cpos == c->clen) {
            size_t n = fread(c->chunk, 1, sizeof c->chunk, c->f);
            c->cpos = 0;
            c->clen = n;
            if (n == 0) {
                if (ferror(c->f))
                    return isynth_error_set(err, ISYNTH_ERR_IO, "%s: read error", r->path);
                c->csv_eof = true;
                if (csv_fini(&c->parser, csv_on_field, csv_on_record, r) != 0)
                    return csv_parse_error(r, csv_error(&c->parser), true, err);
                break;
            }
            if (!c->bom_checked) {
                c->bom_checked = true;
                if (n >= 3 && !memcmp(c->chunk, "\xEF\xBB\xBF", 3)) c->cpos = 3;
            }
        }
        char *p = c->chunk + c->cpos;
        size_t n = c->clen - c->cpos;
        char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        /* a record starts on the first line that is not blank after the last one ended (a
         * line fed in two chunks counts once: its first part decides) */
        if (!c->in_rec && !blank_line(p, seg)) {
            c->in_rec = true;
            c->rec_first_line = c->file_line + 1;
        }
        if (csv_parse(&c->parser, p, seg, csv_on_field, csv_on_record, r) != seg)
            return csv_parse_error(r, csv_error(&c->parser), false, err);
        if (c->cb_err == ISYNTH_ERR_TOO_LARGE && c->fields_in_rec < ISYNTH_XLSX_MAX_COLS)
            return isynth_error_set(err, c->cb_err,
                                    "%s:%zu: the record is over the limit of %zu bytes", r->path,
                                    c->file_line + 1, c->recs.data.max);
        if (c->cb_err)
            return isynth_error_set(err, c->cb_err, "%s:%zu: %s", r->path, c->file_line + 1,
                                    c->cb_err == ISYNTH_ERR_NOMEM
                                        ? "out of memory"
                                        : "more than 16384 columns in a record (a sheet's limit)");
        if (nl) c->file_line++;
        c->cpos += seg;
    }
    return ISYNTH_OK;
}

/* Checks one field's bytes: invalid UTF-8 or a NUL is refused on the line it is on (a quoted
 * field can span lines: the line the record starts on plus the line ends before the byte). */
static isynth_err check_field(isynth_table_reader *r, size_t first, size_t k, isynth_error *err)
{
    const strlist *l = &r->csv->recs;
    const char *p = l->data.p + l->off[first + k];
    size_t bad;
    if (utf8_valid(p, l->len[first + k], &bad)) return ISYNTH_OK;
    size_t line = r->line;
    for (size_t i = 0; i < k; i++) {
        const char *q = l->data.p + l->off[first + i];
        for (size_t j = 0; j < l->len[first + i]; j++)
            line += q[j] == '\n';
    }
    for (size_t i = 0; i < bad; i++)
        line += p[i] == '\n';
    char tmp[48];
    const char *col = column_label(r, k, tmp, sizeof tmp);
    if (p[bad] == '\0')
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s:%zu: field '%s': NUL byte", r->path,
                                line, col);
    return isynth_error_set(err, ISYNTH_ERR_UTF8, "%s:%zu: field '%s': invalid UTF-8 (byte 0x%02X)",
                            r->path, line, col, (unsigned char)p[bad]);
}

/* Hands out the next queued record as (cells, lens, n) after checking its UTF-8. */
static isynth_err csv_take(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                           size_t *n, isynth_error *err)
{
    *cells = NULL;
    isynth_err rc = csv_fill(r, err);
    csv_state *c = r->csv;
    if (rc || c->rec_head == c->nrec) return rc;
    size_t k = c->rec_head++;
    size_t first = c->rec_start[k], nf = c->rec_nf[k];
    r->line = c->rec_line[k];
    for (size_t i = 0; i < nf; i++)
        if ((rc = check_field(r, first, i, err))) return rc;
    size_t width = r->header.n ? r->header.n : nf;
    size_t *l;
    if (sl_ptrs(&c->recs, first, nf < width || !r->header.n ? nf : width, width, &l))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    if (r->header.n) {
        for (size_t i = r->header.n; i < nf; i++)
            if (c->recs.len[first + i])
                return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                        "%s:%zu: %zu fields, but the header has %zu columns",
                                        r->path, r->line, nf, r->header.n);
    }
    *cells = c->recs.ptr;
    *lens = l;
    *n = width;
    return ISYNTH_OK;
}

isynth_err csv_reader_open(isynth_table_reader *r, FILE *f, isynth_error *err)
{
    r->csv = isynth_calloc(1, sizeof *r->csv);
    if (!r->csv) {
        if (f) fclose(f);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    }
    csv_state *c = r->csv;
    sl_init(&c->recs, TABLE_ROW_CAP(r->p.max_line_bytes));
    if (!(c->f = f ? f : fopen(r->path, "rb")))
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot open: %s", r->path,
                                strerror(errno));
    csv_field_cap = r->p.max_line_bytes;
    if (csv_init(&c->parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", r->path);
    c->parser_init = true;
    csv_set_realloc_func(&c->parser, csv_realloc);
    csv_set_free_func(&c->parser, isynth_free);
    csv_set_space_func(&c->parser, csv_no_space);
    const char *const *cells;
    const size_t *lens;
    size_t n;
    isynth_err rc = csv_take(r, &cells, &lens, &n, err);
    if (rc) return rc;
    if (!cells)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s:1: the file is empty (no header)",
                                r->path);
    return table_set_header(r, cells, lens, n, err);
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
