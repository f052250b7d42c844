/* Streaming .xlsx writer over libxlsxwriter in constant-memory mode: each row is flushed to a
 * scratch file as soon as the next one starts, so memory stays flat however many rows are
 * written. Every cell is written with worksheet_write_string (or, with marks, as an inline rich
 * string), never as a formula; only a `numeric` column turns plain decimal numbers into number
 * cells. Each cell is checked first (valid UTF-8, at most Excel's 32,767 UTF-16 units, marks in
 * place) so a bad cell is a clear error naming its row and column instead of a silent
 * truncation. The workbook is assembled under a temporary name and renamed into place only when
 * complete. The package is deflated at libxlsxwriter's own level (zlib's default, 6): the library
 * has no option for another, and isynth does not reach underneath it. */
#include "internal.h"
#include "isynth/xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

/* Marked runs of a rich cell: bold, dark red. */
#define MARK_COLOR 0xC00000
/* A cell's escaped text: 32,767 UTF-16 units are at most 3 UTF-8 bytes each; escaping less than
 * doubles them and a rich cell adds a NUL a run (at most one a byte). */
#define MAX_ESCAPED_CELL ((size_t)ISYNTH_XLSX_CELL_MAX * 3 * 3)

typedef struct wband {
    double min, max;
    lxw_format *fmt; /* the conditional (dxf) format */
} wband;

typedef struct wcol {
    lxw_format *fmt;
    bool wrap, locked, numeric;
    char **choices; /* NULL-terminated copy, or NULL */
    wband *bands;
    size_t nbands;
} wcol;

struct isynth_xlsx_writer {
    lxw_workbook *wb;
    lxw_worksheet *ws;
    /* The body-cell formats, one per (emphasised, wrap, locked) triple and shared by every sheet:
     * libxlsxwriter caches a format's style index only for the first of several equal formats
     * and hashes the others again on every cell they are written with (12% of a 100k-row
     * write). Emphasised ones are made on first use, for wholly marked cells. */
    lxw_format *body_fmt[2][2][2];
    lxw_format *mark_fmt; /* the font of marked runs */
    lxw_format *head_fmt;
    char *sheet;
    char *path;
    atomic_file out; /* the workbook's temporary, in a private directory beside path */
    wcol *cols;
    size_t ncols;
    isynth_xlsx_cell *cellv; /* ncols cells: isynth_xlsx_write_row's row as cells */
    size_t row;              /* rows written to the current sheet, header included */
    buf scratch;             /* a rich cell's escaped runs, each NUL-terminated */
    buf escaped;
    lxw_rich_string_tuple *runs; /* a rich cell's runs and the NULL-terminated list of them */
    lxw_rich_string_tuple **run_list;
    size_t runs_cap;
};

isynth_xlsx_writer_params isynth_xlsx_writer_params_default(void)
{
    isynth_xlsx_writer_params p = {.tmpdir = NULL};
    return p;
}

char *isynth_xlsx_col_name(size_t col, char out[8])
{
    char tmp[8];
    size_t n = 0;
    col++;
    while (col && n < 7) {
        tmp[n++] = (char)('A' + (col - 1) % 26);
        col = (col - 1) / 26;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return out;
}

static void free_cols(isynth_xlsx_writer *w)
{
    for (size_t i = 0; i < w->ncols; i++) {
        if (w->cols[i].choices)
            for (char **c = w->cols[i].choices; *c; c++)
                isynth_free(*c);
        isynth_free(w->cols[i].choices);
        isynth_free(w->cols[i].bands);
    }
    isynth_free(w->cols);
    isynth_free(w->cellv);
    w->cols = NULL;
    w->cellv = NULL;
    w->ncols = 0;
}

static void writer_release(isynth_xlsx_writer *w)
{
    free_cols(w);
    isynth_free(w->sheet);
    isynth_free(w->path);
    atomic_abort(&w->out); /* a no-op once committed */
    buf_free(&w->scratch);
    buf_free(&w->escaped);
    isynth_free(w->runs);
    isynth_free(w->run_list);
    isynth_free(w);
}

isynth_err isynth_xlsx_writer_open(const char *path, const isynth_xlsx_writer_params *p,
                                   isynth_xlsx_writer **out, isynth_error *err)
{
    *out = NULL;
    isynth_xlsx_writer_params def = isynth_xlsx_writer_params_default();
    if (!p) p = &def;
    isynth_xlsx_writer *w = isynth_calloc(1, sizeof *w);
    if (!w) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    buf_init(&w->scratch, MAX_ESCAPED_CELL);
    buf_init(&w->escaped, MAX_ESCAPED_CELL);
    w->path = isynth_strdup(path);
    if (!w->path) {
        writer_release(w);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    }
    isynth_err rc = atomic_reserve(&w->out, path, err);
    if (rc) {
        writer_release(w);
        return rc;
    }
    lxw_workbook_options opt = {
        .constant_memory = LXW_TRUE, .tmpdir = (char *)p->tmpdir, .use_zip64 = LXW_TRUE};
    w->wb = workbook_new_opt(w->out.tmp, &opt);
    if (!w->wb) {
        writer_release(w);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: cannot start a workbook", path);
    }
    *out = w;
    return ISYNTH_OK;
}

static isynth_err lxw_fail(isynth_xlsx_writer *w, lxw_error e, isynth_error *err, const char *what)
{
    return isynth_error_set(
        err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_XLSX,
        "%s: sheet '%s': %s: %s", w->path, w->sheet, what, lxw_strerror(e));
}

/* Adds what covers the data rows once their number is known (autofilter, drop-downs,
 * conditional fills) and frees the sheet's columns. */
static isynth_err finish_sheet(isynth_xlsx_writer *w, isynth_error *err)
{
    if (!w->ws) return ISYNTH_OK;
    isynth_err rc = ISYNTH_OK;
    size_t last = w->row ? w->row - 1 : 0;
    if (w->ncols) worksheet_autofilter(w->ws, 0, 0, (lxw_row_t)last, (lxw_col_t)(w->ncols - 1));
    for (size_t c = 0; c < w->ncols && last >= 1; c++) {
        if (w->cols[c].choices) {
            lxw_data_validation dv = {0};
            dv.validate = LXW_VALIDATION_TYPE_LIST;
            dv.value_list = w->cols[c].choices;
            dv.ignore_blank = LXW_VALIDATION_ON;
            worksheet_data_validation_range(w->ws, 1, (lxw_col_t)c, (lxw_row_t)last, (lxw_col_t)c,
                                            &dv);
        }
        for (size_t b = 0; b < w->cols[c].nbands && !rc; b++) {
            const wband *band = &w->cols[c].bands[b];
            lxw_conditional_format cf = {0};
            cf.type = LXW_CONDITIONAL_TYPE_CELL;
            cf.criteria = LXW_CONDITIONAL_CRITERIA_BETWEEN;
            cf.min_value = band->min;
            cf.max_value = band->max;
            cf.format = band->fmt;
            lxw_error e = worksheet_conditional_format_range(w->ws, 1, (lxw_col_t)c,
                                                             (lxw_row_t)last, (lxw_col_t)c, &cf);
            if (e != LXW_NO_ERROR) rc = lxw_fail(w, e, err, "conditional format");
        }
    }
    free_cols(w);
    w->ws = NULL;
    return rc;
}

static char **copy_choices(const char *const *src)
{
    size_t n = 0;
    while (src[n])
        n++;
    char **c = isynth_calloc(n + 1, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i] = isynth_strdup(src[i]);
        if (!c[i]) {
            for (size_t j = 0; j < i; j++)
                isynth_free(c[j]);
            isynth_free(c);
            return NULL;
        }
    }
    return c;
}

/* The body-cell format for (emph, wrap, locked), made on first use; NULL when out of memory. */
static lxw_format *body_format(isynth_xlsx_writer *w, bool emph, bool wrap, bool locked)
{
    lxw_format **f = &w->body_fmt[emph][wrap][locked];
    if (*f || !(*f = workbook_add_format(w->wb))) return *f;
    format_set_align(*f, LXW_ALIGN_VERTICAL_TOP);
    if (wrap) format_set_text_wrap(*f);
    if (!locked) format_set_unlocked(*f);
    if (emph) {
        format_set_bold(*f);
        format_set_font_color(*f, MARK_COLOR);
    }
    return *f;
}

static bool bands_valid(const isynth_xlsx_column *col)
{
    if (col->nbands && !col->bands) return false;
    for (size_t b = 0; b < col->nbands; b++) {
        const isynth_xlsx_band *x = &col->bands[b];
        if (!isfinite(x->min) || !isfinite(x->max) || x->min > x->max || x->fill > 0xFFFFFF ||
            x->font > 0xFFFFFF)
            return false;
    }
    return true;
}

static isynth_err add_bands(isynth_xlsx_writer *w, wcol *wc, const isynth_xlsx_column *col)
{
    if (!col->nbands) return ISYNTH_OK;
    if (!(wc->bands = isynth_calloc(col->nbands, sizeof *wc->bands))) return ISYNTH_ERR_NOMEM;
    wc->nbands = col->nbands;
    for (size_t b = 0; b < col->nbands; b++) {
        lxw_format *f = workbook_add_format(w->wb);
        if (!f) return ISYNTH_ERR_NOMEM;
        format_set_bg_color(f, col->bands[b].fill);
        if (col->bands[b].font) format_set_font_color(f, col->bands[b].font);
        wc->bands[b] = (wband){.min = col->bands[b].min, .max = col->bands[b].max, .fmt = f};
    }
    return ISYNTH_OK;
}

isynth_err isynth_xlsx_add_sheet(isynth_xlsx_writer *w, const char *name,
                                 const isynth_xlsx_column *cols, size_t ncols, isynth_error *err)
{
    if (ncols == 0 || ncols > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: sheet '%s' needs 1..%u columns",
                                w->path, name, ISYNTH_XLSX_MAX_COLS);
    for (size_t c = 0; c < ncols; c++)
        if (!bands_valid(&cols[c]))
            return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                    "%s: sheet '%s' column %zu: a conditional fill needs finite "
                                    "min <= max and colours 0xRRGGBB",
                                    w->path, name, c + 1);
    if (!utf8_valid(name, strlen(name), NULL) ||
        workbook_validate_sheet_name(w->wb, name) != LXW_NO_ERROR)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: '%s' is not a valid sheet name (1..31 characters, none of "
                                "[]:*?/\\, not used twice)",
                                w->path, name);
    isynth_err rc = finish_sheet(w, err);
    if (rc) return rc;
    isynth_free(w->sheet);
    w->sheet = isynth_strdup(name);
    w->cols = isynth_calloc(ncols, sizeof *w->cols);
    w->cellv = isynth_calloc(ncols, sizeof *w->cellv);
    if (!w->sheet || !w->cols || !w->cellv)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
    w->ncols = ncols;
    w->ws = workbook_add_worksheet(w->wb, name);
    if (!w->head_fmt && (w->head_fmt = workbook_add_format(w->wb))) {
        format_set_bold(w->head_fmt);
        format_set_bg_color(w->head_fmt, 0xDDEBF7);
        format_set_align(w->head_fmt, LXW_ALIGN_VERTICAL_TOP);
    }
    lxw_format *head = w->head_fmt;
    if (!w->ws || !head)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
    w->row = 0;
    bool protect = false;
    for (size_t c = 0; c < ncols; c++) {
        wcol *wc = &w->cols[c];
        wc->wrap = cols[c].wrap;
        wc->locked = cols[c].locked;
        wc->numeric = cols[c].numeric;
        protect |= wc->locked;
        if (!(wc->fmt = body_format(w, false, wc->wrap, wc->locked)) ||
            (cols[c].choices && !(wc->choices = copy_choices(cols[c].choices))) ||
            add_bands(w, wc, &cols[c]))
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
        double width = cols[c].width;
        if (width <= 0) {
            size_t n = cols[c].name ? strlen(cols[c].name) : 0;
            width = n < 8 ? 10 : n > 60 ? 62 : (double)n + 2;
        }
        worksheet_set_column(w->ws, (lxw_col_t)c, (lxw_col_t)c, width, NULL);
    }
    worksheet_freeze_panes(w->ws, 1, 0);
    if (protect) {
        lxw_protection prot = {0};
        prot.format_columns = 1;
        prot.format_rows = 1;
        prot.autofilter = 1;
        prot.sort = 1;
        worksheet_protect(w->ws, NULL, &prot);
    }
    for (size_t c = 0; c < ncols; c++) {
        const char *h = cols[c].name ? cols[c].name : "";
        if (!utf8_valid(h, strlen(h), NULL))
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s: sheet '%s': column %zu's name is not valid UTF-8", w->path,
                                    name, c + 1);
        lxw_error e = worksheet_write_string(w->ws, 0, (lxw_col_t)c, h, head);
        if (e != LXW_NO_ERROR)
            return isynth_error_set(err, ISYNTH_ERR_XLSX, "%s: sheet '%s' header: %s", w->path,
                                    name, lxw_strerror(e));
    }
    w->row = 1;
    return ISYNTH_OK;
}

/* Excel counts a cell's length in UTF-16 code units: one per code point, two past U+FFFF. */
static size_t utf16_units(const char *s, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        u += (size_t)((c & 0xC0) != 0x80) + (size_t)(c >= 0xF0);
    }
    return u;
}

static bool is_hex4(const char *p)
{
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* OOXML reads "_xHHHH_" in text as an escaped character; a literal one must be written as
 * "_x005F_xHHHH_" so that it reads back as itself. The result is appended to b and
 * NUL-terminated. */
static isynth_err escape_ooxml(buf *b, const char *s, size_t n)
{
    size_t start = 0, pos = 0;
    while (pos + 7 <= n) {
        const char *q = memchr(s + pos, '_', n - 6 - pos);
        if (!q) break;
        size_t i = (size_t)(q - s);
        pos = i + 1;
        if (s[i + 1] == 'x' && is_hex4(s + i + 2) && s[i + 6] == '_') {
            isynth_err rc = buf_add(b, s + start, i - start);
            if (!rc) rc = buf_add(b, "_x005F", 6);
            if (rc) return rc;
            start = i;
        }
    }
    return buf_add(b, s + start, n - start);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A plain decimal number (-?digits[.digits][e[+-]digits], no leading zero, at most 15 digits) to
 * its value, without strtod and the locale: the digits as an integer (exact in a double) scaled by
 * one power of ten that a double holds exactly (up to 1e22), one correctly rounded operation.
 * Anything else (hex, inf, spaces, "+1", "007", larger exponents) is text. */
static bool plain_number(const char *s, size_t n, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = n && s[0] == '-';
    i += neg;
    if (i == n || !is_digit(s[i]) || (s[i] == '0' && i + 1 < n && is_digit(s[i + 1]))) return false;
    long long mant = 0;
    int digits = 0, scale = 0;
    for (; i < n && is_digit(s[i]); i++, digits++)
        if (digits < 16) mant = mant * 10 + (s[i] - '0');
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        for (; i < n && is_digit(s[i]); i++, digits++, scale--)
            if (digits < 16) mant = mant * 10 + (s[i] - '0');
        if (i == start) return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = i < n && s[i] == '-';
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        size_t start = i;
        int ex = 0;
        for (; i < n && is_digit(s[i]); i++)
            if (ex < 1000) ex = ex * 10 + (s[i] - '0');
        if (i == start) return false;
        scale += eneg ? -ex : ex;
    }
    if (i != n || digits > 15 || scale > 22 || scale < -22) return false;
    double v = (double)mant;
    v = scale >= 0 ? v * pow10[scale] : v / pow10[-scale];
    *out = neg ? -v : v;
    return true;
}

static bool mid_char(const char *s, size_t n, size_t i)
{
    return i < n && ((unsigned char)s[i] & 0xC0) == 0x80;
}

/* Checks a cell before anything of its row is written. */
static isynth_err check_cell(isynth_xlsx_writer *w, size_t c, const isynth_xlsx_cell *cell,
                             isynth_error *err)
{
    char col[8];
    const char *s = cell->text;
    size_t len = s ? cell->len : 0, bad;
    if (s && !utf8_valid(s, len, &bad))
        return isynth_error_set(
            err, ISYNTH_ERR_UTF8,
            "%s: sheet '%s' row %zu column %s: invalid UTF-8 or NUL at byte %zu", w->path, w->sheet,
            w->row + 1, isynth_xlsx_col_name(c, col), bad);
    size_t units = s ? utf16_units(s, len) : 0;
    if (units > ISYNTH_XLSX_CELL_MAX)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "%s: sheet '%s' row %zu column %s: %zu characters, over Excel's "
                                "limit of %d per cell (not truncated)",
                                w->path, w->sheet, w->row + 1, isynth_xlsx_col_name(c, col), units,
                                ISYNTH_XLSX_CELL_MAX);
    if (cell->nmarks && !cell->marks)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: sheet '%s' row %zu column %s: %zu marks and no array", w->path,
                                w->sheet, w->row + 1, isynth_xlsx_col_name(c, col), cell->nmarks);
    size_t end = 0;
    for (size_t i = 0; i < cell->nmarks; i++) {
        const isynth_xlsx_span *m = &cell->marks[i];
        if (m->len == 0 || m->off < end || m->off > len || m->len > len - m->off ||
            mid_char(s, len, m->off) || mid_char(s, len, m->off + m->len))
            return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                    "%s: sheet '%s' row %zu column %s: mark %zu (bytes %zu+%zu) "
                                    "is empty, out of order, overlapping, outside the %zu-byte "
                                    "text or not on a character boundary",
                                    w->path, w->sheet, w->row + 1, isynth_xlsx_col_name(c, col),
                                    i + 1, m->off, m->len, len);
        end = m->off + m->len;
    }
    return ISYNTH_OK;
}

static isynth_err cell_fail(isynth_xlsx_writer *w, size_t c, lxw_error e, isynth_error *err)
{
    char col[8];
    return isynth_error_set(
        err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_XLSX,
        "%s: sheet '%s' row %zu column %s: %s", w->path, w->sheet, w->row + 1,
        isynth_xlsx_col_name(c, col), lxw_strerror(e));
}

static isynth_err nomem(isynth_xlsx_writer *w, isynth_error *err)
{
    return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
}

/* Writes a checked cell with marks as an inline rich string: plain and marked runs, empty ones
 * left out, adjacent marks joined. Each run is escaped on its own, as Excel decodes _xHHHH_ within
 * one run's text. A single run (the whole text marked) is a plain string in the emphasised font,
 * since libxlsxwriter refuses a rich string of one run. */
static isynth_err put_rich(isynth_xlsx_writer *w, size_t c, const isynth_xlsx_cell *cell,
                           isynth_error *err)
{
    const char *s = cell->text;
    size_t need = 2 * cell->nmarks + 2;
    if (need > w->runs_cap) {
        if (ARRAY_RESIZE(w->runs, need) || ARRAY_RESIZE(w->run_list, need)) return nomem(w, err);
        w->runs_cap = need;
    }
    if (!w->mark_fmt) {
        if (!(w->mark_fmt = workbook_add_format(w->wb))) return nomem(w, err);
        format_set_bold(w->mark_fmt);
        format_set_font_color(w->mark_fmt, MARK_COLOR);
    }
    buf_reset(&w->scratch);
    size_t nruns = 0, pos = 0, i = 0;
    while (pos < cell->len) {
        size_t next = i < cell->nmarks ? cell->marks[i].off : cell->len;
        bool marked = next == pos;
        size_t end = next;
        if (marked)
            for (end = pos; i < cell->nmarks && cell->marks[i].off == end; i++)
                end = cell->marks[i].off + cell->marks[i].len;
        isynth_err rc = escape_ooxml(&w->scratch, s + pos, end - pos);
        if (!rc) rc = buf_addc(&w->scratch, '\0');
        if (rc) return nomem(w, err);
        w->runs[nruns++].format = marked ? w->mark_fmt : NULL;
        pos = end;
    }
    char *p = w->scratch.p;
    for (size_t r = 0; r < nruns; r++) {
        w->runs[r].string = p;
        w->run_list[r] = &w->runs[r];
        p += strlen(p) + 1;
    }
    w->run_list[nruns] = NULL;
    wcol *col = &w->cols[c];
    lxw_error e;
    if (nruns == 1) {
        lxw_format *f = body_format(w, true, col->wrap, col->locked);
        if (!f) return nomem(w, err);
        e = worksheet_write_string(w->ws, (lxw_row_t)w->row, (lxw_col_t)c, w->runs[0].string, f);
    } else {
        e = worksheet_write_rich_string(w->ws, (lxw_row_t)w->row, (lxw_col_t)c, w->run_list,
                                        col->fmt);
    }
    return e == LXW_NO_ERROR ? ISYNTH_OK : cell_fail(w, c, e, err);
}

static isynth_err put_cell(isynth_xlsx_writer *w, size_t c, const isynth_xlsx_cell *cell,
                           isynth_error *err)
{
    if (!cell->text || cell->len == 0) return ISYNTH_OK;
    if (cell->nmarks) return put_rich(w, c, cell, err);
    wcol *col = &w->cols[c];
    lxw_error e;
    double v;
    if (col->numeric && plain_number(cell->text, cell->len, &v)) {
        e = worksheet_write_number(w->ws, (lxw_row_t)w->row, (lxw_col_t)c, v, col->fmt);
    } else {
        buf_reset(&w->escaped);
        if (escape_ooxml(&w->escaped, cell->text, cell->len)) return nomem(w, err);
        e = worksheet_write_string(w->ws, (lxw_row_t)w->row, (lxw_col_t)c, w->escaped.p, col->fmt);
    }
    return e == LXW_NO_ERROR ? ISYNTH_OK : cell_fail(w, c, e, err);
}

static isynth_err check_row(isynth_xlsx_writer *w, size_t n, isynth_error *err)
{
    if (!w->ws) return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: no sheet started", w->path);
    if (n > w->ncols)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: sheet '%s' row %zu: %zu cells for %zu columns", w->path,
                                w->sheet, w->row + 1, n, w->ncols);
    if (w->row >= ISYNTH_XLSX_MAX_ROWS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "%s: sheet '%s': more than Excel's %u rows", w->path, w->sheet,
                                ISYNTH_XLSX_MAX_ROWS);
    return ISYNTH_OK;
}

isynth_err isynth_xlsx_write_cells(isynth_xlsx_writer *w, const isynth_xlsx_cell *cells, size_t n,
                                   isynth_error *err)
{
    isynth_err rc = check_row(w, n, err);
    /* Check every cell before writing any, so a refused row leaves no partial row behind. */
    for (size_t c = 0; c < n && !rc; c++)
        rc = check_cell(w, c, &cells[c], err);
    for (size_t c = 0; c < n && !rc; c++)
        rc = put_cell(w, c, &cells[c], err);
    if (!rc) w->row++;
    return rc;
}

isynth_err isynth_xlsx_write_row(isynth_xlsx_writer *w, const char *const *cells,
                                 const size_t *lens, size_t n, isynth_error *err)
{
    isynth_err rc = check_row(w, n, err);
    if (rc) return rc;
    for (size_t c = 0; c < n; c++)
        w->cellv[c] = (isynth_xlsx_cell){.text = cells[c],
                                         .len = !cells[c] ? 0
                                                : lens    ? lens[c]
                                                          : strlen(cells[c])};
    return isynth_xlsx_write_cells(w, w->cellv, n, err);
}

size_t isynth_xlsx_writer_rows(const isynth_xlsx_writer *w)
{
    return w->row;
}

/* Closes (packs) the workbook. libxlsxwriter has no abandon call: lxw_workbook_free leaves a
 * constant-memory sheet's scratch file open (only packing closes it), so a workbook given up on
 * is packed too, and its file then removed. */
static lxw_error close_workbook(isynth_xlsx_writer *w)
{
    lxw_error e = workbook_close(w->wb);
    w->wb = NULL;
    return e;
}

isynth_err isynth_xlsx_writer_close(isynth_xlsx_writer *w, isynth_error *err)
{
    if (!w) return ISYNTH_OK;
    isynth_err rc = finish_sheet(w, err);
    /* After a failure the workbook is still closed (see close_workbook), then removed. */
    lxw_error e = close_workbook(w);
    if (!rc && e != LXW_NO_ERROR) {
        rc = isynth_error_set(
            err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_IO,
            "%s: cannot write the workbook: %s", w->path, lxw_strerror(e));
    } else if (!rc) {
        rc = atomic_commit(&w->out, err);
    }
    writer_release(w); /* removes the temporary when not committed */
    return rc;
}

void isynth_xlsx_writer_free(isynth_xlsx_writer *w)
{
    if (!w) return;
    if (w->wb) close_workbook(w); /* then removed by writer_release */
    writer_release(w);
}
