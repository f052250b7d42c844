/* The table reader and writer for .xlsx: the first row of the chosen sheet is the header, rows
 * are numbered as the sheet numbers them; the writer makes "Sheet1" with the header frozen and
 * filtered and text wrapped. The workbook itself is xlsx_read.c's and xlsx_write.c's. */
#include "table_impl.h"

#include <stdio.h>
#include <string.h>

/* Checks a row's width against the header: extra non-empty cells are an error. */
static isynth_err check_width(isynth_table_reader *r, const size_t *lens, size_t n,
                              isynth_error *err)
{
    for (size_t i = r->header.n; i < n; i++)
        if (lens[i]) {
            char col[8];
            return isynth_error_set(err, ISYNTH_ERR_PARSE,
                                    "%s: row %zu: a value in column %s, past the %zu header "
                                    "columns",
                                    r->path, r->line, isynth_xlsx_col_name(i, col), r->header.n);
        }
    return ISYNTH_OK;
}

isynth_err xlsx_table_open(isynth_table_reader *r, isynth_error *err)
{
    isynth_err rc = isynth_xlsx_reader_open(r->path, NULL, &r->x, err);
    if (!rc) rc = isynth_xlsx_open_sheet(r->x, r->p.sheet, err);
    const isynth_xlsx_row *row = NULL;
    if (!rc) rc = isynth_xlsx_next_row(r->x, &row, err);
    if (rc) return rc;
    if (!row)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "%s: the sheet is empty (no header row)",
                                r->path);
    r->line = row->row;
    return table_set_header(r, row->cells, row->lens, row->ncells, err);
}

isynth_err xlsx_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
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

isynth_err xlsx_table_writer_open(const char *path, const char *const *names, size_t ncols,
                                  isynth_xlsx_writer **out, isynth_error *err)
{
    isynth_xlsx_column *cols = isynth_calloc(ncols, sizeof *cols);
    if (!cols) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < ncols; i++) {
        size_t n = strlen(names[i] ? names[i] : "");
        cols[i] = (isynth_xlsx_column){.name = names[i],
                                       .width = n < 10   ? 14
                                                : n > 48 ? 50
                                                         : (double)n + 2,
                                       .wrap = true};
    }
    isynth_xlsx_writer_params xp = isynth_xlsx_writer_params_default();
    isynth_err rc = isynth_xlsx_writer_open(path, &xp, out, err);
    if (!rc) rc = isynth_xlsx_add_sheet(*out, "Sheet1", cols, ncols, err);
    isynth_free(cols);
    return rc;
}
