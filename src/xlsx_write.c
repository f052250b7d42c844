/* Streaming .xlsx writer over libxlsxwriter in constant-memory mode: each row is flushed to a
 * scratch file as soon as the next one starts, so memory stays flat however many rows are
 * written. Every cell is written with worksheet_write_string, never as a formula or number, and
 * is checked first (valid UTF-8, at most Excel's 32,767 UTF-16 units) so a bad cell is a clear
 * error naming its row and column instead of a silent truncation. The workbook is assembled
 * under a temporary name and renamed into place only when complete. */
#include "internal.h"
#include "isynth/xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

typedef struct wcol {
    lxw_format *fmt;
    char **choices; /* NULL-terminated copy, or NULL */
} wcol;

struct isynth_xlsx_writer {
    lxw_workbook *wb;
    lxw_worksheet *ws;
    char *sheet;
    char *path;
    char *tmp;
    wcol *cols;
    size_t ncols;
    size_t row; /* rows written to the current sheet, header included */
    buf scratch;
    buf escaped;
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
    }
    isynth_free(w->cols);
    w->cols = NULL;
    w->ncols = 0;
}

static void writer_release(isynth_xlsx_writer *w)
{
    free_cols(w);
    isynth_free(w->sheet);
    isynth_free(w->path);
    isynth_free(w->tmp);
    buf_free(&w->scratch);
    buf_free(&w->escaped);
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
    buf_init(&w->scratch, 0);
    buf_init(&w->escaped, 0);
    buf t;
    buf_init(&t, 0);
    w->path = isynth_strdup(path);
    if (!w->path || buf_printf(&t, "%s.tmp.%ld", path, (long)getpid()) ||
        !(w->tmp = buf_take(&t))) {
        buf_free(&t);
        writer_release(w);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    }
    lxw_workbook_options opt = {
        .constant_memory = LXW_TRUE, .tmpdir = (char *)p->tmpdir, .use_zip64 = LXW_TRUE};
    w->wb = workbook_new_opt(w->tmp, &opt);
    if (!w->wb) {
        writer_release(w);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: cannot start a workbook", path);
    }
    *out = w;
    return ISYNTH_OK;
}

static void finish_sheet(isynth_xlsx_writer *w)
{
    if (!w->ws) return;
    size_t last = w->row ? w->row - 1 : 0;
    if (w->ncols) worksheet_autofilter(w->ws, 0, 0, (lxw_row_t)last, (lxw_col_t)(w->ncols - 1));
    for (size_t c = 0; c < w->ncols && last >= 1; c++) {
        if (!w->cols[c].choices) continue;
        lxw_data_validation dv = {0};
        dv.validate = LXW_VALIDATION_TYPE_LIST;
        dv.value_list = w->cols[c].choices;
        dv.ignore_blank = LXW_VALIDATION_ON;
        worksheet_data_validation_range(w->ws, 1, (lxw_col_t)c, (lxw_row_t)last, (lxw_col_t)c, &dv);
    }
    free_cols(w);
    w->ws = NULL;
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

isynth_err isynth_xlsx_add_sheet(isynth_xlsx_writer *w, const char *name,
                                 const isynth_xlsx_column *cols, size_t ncols, isynth_error *err)
{
    if (ncols == 0 || ncols > ISYNTH_XLSX_MAX_COLS)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: sheet '%s' needs 1..%u columns",
                                w->path, name, ISYNTH_XLSX_MAX_COLS);
    if (!utf8_valid(name, strlen(name), NULL) ||
        workbook_validate_sheet_name(w->wb, name) != LXW_NO_ERROR)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: '%s' is not a valid sheet name (1..31 characters, none of "
                                "[]:*?/\\, not used twice)",
                                w->path, name);
    finish_sheet(w);
    isynth_free(w->sheet);
    w->sheet = isynth_strdup(name);
    w->cols = isynth_calloc(ncols, sizeof *w->cols);
    if (!w->sheet || !w->cols)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
    w->ncols = ncols;
    w->ws = workbook_add_worksheet(w->wb, name);
    lxw_format *head = workbook_add_format(w->wb);
    if (!w->ws || !head)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
    format_set_bold(head);
    format_set_bg_color(head, 0xDDEBF7);
    format_set_align(head, LXW_ALIGN_VERTICAL_TOP);
    w->row = 0;
    bool protect = false;
    for (size_t c = 0; c < ncols; c++) {
        lxw_format *f = workbook_add_format(w->wb);
        if (!f) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", w->path);
        format_set_align(f, LXW_ALIGN_VERTICAL_TOP);
        if (cols[c].wrap) format_set_text_wrap(f);
        if (cols[c].locked)
            protect = true;
        else
            format_set_unlocked(f);
        w->cols[c].fmt = f;
        if (cols[c].choices && !(w->cols[c].choices = copy_choices(cols[c].choices)))
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
        if ((c & 0xC0) != 0x80) u += c >= 0xF0 ? 2 : 1;
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
 * "_x005F_xHHHH_" so that it reads back as itself. The result is NUL-terminated in b. */
static isynth_err escape_ooxml(buf *b, const char *s, size_t n)
{
    buf_reset(b);
    size_t start = 0;
    for (size_t i = 0; i + 7 <= n; i++) {
        if (s[i] == '_' && s[i + 1] == 'x' && is_hex4(s + i + 2) && s[i + 6] == '_') {
            isynth_err rc = buf_add(b, s + start, i - start);
            if (!rc) rc = buf_add(b, "_x005F", 6);
            if (rc) return rc;
            start = i;
        }
    }
    return buf_add(b, s + start, n - start);
}

isynth_err isynth_xlsx_write_row(isynth_xlsx_writer *w, const char *const *cells,
                                 const size_t *lens, size_t n, isynth_error *err)
{
    char col[8];
    if (!w->ws) return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: no sheet started", w->path);
    if (n > w->ncols)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: sheet '%s' row %zu: %zu cells for %zu columns", w->path,
                                w->sheet, w->row + 1, n, w->ncols);
    if (w->row >= ISYNTH_XLSX_MAX_ROWS)
        return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                "%s: sheet '%s': more than Excel's %u rows", w->path, w->sheet,
                                ISYNTH_XLSX_MAX_ROWS);
    /* Check every cell before writing any, so a refused row leaves no partial row behind. */
    for (size_t c = 0; c < n; c++) {
        if (!cells[c]) continue;
        size_t len = lens ? lens[c] : strlen(cells[c]);
        size_t bad;
        if (!utf8_valid(cells[c], len, &bad))
            return isynth_error_set(err, ISYNTH_ERR_UTF8,
                                    "%s: sheet '%s' row %zu column %s: invalid UTF-8 or NUL at "
                                    "byte %zu",
                                    w->path, w->sheet, w->row + 1, isynth_xlsx_col_name(c, col),
                                    bad);
        size_t units = utf16_units(cells[c], len);
        if (units > ISYNTH_XLSX_CELL_MAX)
            return isynth_error_set(err, ISYNTH_ERR_TOO_LARGE,
                                    "%s: sheet '%s' row %zu column %s: %zu characters, over "
                                    "Excel's limit of %d per cell (not truncated)",
                                    w->path, w->sheet, w->row + 1, isynth_xlsx_col_name(c, col),
                                    units, ISYNTH_XLSX_CELL_MAX);
    }
    for (size_t c = 0; c < n; c++) {
        if (!cells[c]) continue;
        size_t len = lens ? lens[c] : strlen(cells[c]);
        if (len == 0) continue;
        isynth_err rc = escape_ooxml(&w->escaped, cells[c], len);
        if (rc) return isynth_error_set(err, rc, "%s: out of memory", w->path);
        lxw_error e = worksheet_write_string(w->ws, (lxw_row_t)w->row, (lxw_col_t)c, w->escaped.p,
                                             w->cols[c].fmt);
        if (e != LXW_NO_ERROR)
            return isynth_error_set(
                err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_XLSX,
                "%s: sheet '%s' row %zu column %s: %s", w->path, w->sheet, w->row + 1,
                isynth_xlsx_col_name(c, col), lxw_strerror(e));
    }
    w->row++;
    return ISYNTH_OK;
}

size_t isynth_xlsx_writer_rows(const isynth_xlsx_writer *w)
{
    return w->row;
}

static bool fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

isynth_err isynth_xlsx_writer_close(isynth_xlsx_writer *w, isynth_error *err)
{
    if (!w) return ISYNTH_OK;
    finish_sheet(w);
    isynth_err rc = ISYNTH_OK;
    lxw_error e = workbook_close(w->wb);
    w->wb = NULL;
    if (e != LXW_NO_ERROR) {
        rc = isynth_error_set(
            err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? ISYNTH_ERR_NOMEM : ISYNTH_ERR_IO,
            "%s: cannot write the workbook: %s", w->path, lxw_strerror(e));
    } else if (!fsync_path(w->tmp) || rename(w->tmp, w->path) != 0) {
        rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    }
    if (rc) remove(w->tmp);
    writer_release(w);
    return rc;
}

void isynth_xlsx_writer_free(isynth_xlsx_writer *w)
{
    if (!w) return;
    if (w->wb) {
        /* libxlsxwriter has no abandon call: closing writes the file, which is then removed. */
        workbook_close(w->wb);
        remove(w->tmp);
    }
    writer_release(w);
}
