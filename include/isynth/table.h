/* isynth tables: rows of UTF-8 strings under a header, read from and written to .xlsx, .jsonl
 * and .csv files chosen by extension, one row at a time. This is what `isynth convert` runs on,
 * for data that did not come from a run. */
#ifndef ISYNTH_TABLE_H
#define ISYNTH_TABLE_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum isynth_table_format {
    ISYNTH_TABLE_UNKNOWN = 0,
    ISYNTH_TABLE_XLSX,
    ISYNTH_TABLE_JSONL, /* also .json lines files named .ndjson */
    ISYNTH_TABLE_CSV,
    ISYNTH_TABLE_JSON, /* .json: a JSON array of objects (or JSON lines); the seed loader reads
                          it, the table reader and writer refuse it */
} isynth_table_format;

/* The format named by a path's extension (case-insensitive), or ISYNTH_TABLE_UNKNOWN: the one
 * mapping from extension to format, for tables and seeds. */
isynth_table_format isynth_table_format_from_path(const char *path);

typedef struct isynth_table_reader_params {
    const char *sheet;     /* .xlsx: the sheet to read; NULL = the first */
    size_t max_line_bytes; /* .jsonl line / .csv field limit (default 64 MiB) */
} isynth_table_reader_params;

isynth_table_reader_params isynth_table_reader_params_default(void);

typedef struct isynth_table_reader isynth_table_reader;

/* Opens a table and reads its header: the first row of a sheet or CSV file (names must be
 * non-empty and distinct; trailing empty header cells are dropped), or, for JSONL, every
 * object's keys in first-seen order (a first pass over the file). p may be NULL. */
isynth_err isynth_table_reader_open(const char *path, const isynth_table_reader_params *p,
                                    isynth_table_reader **out, isynth_error *err);

/* The header; names are owned by the reader until close. */
size_t isynth_table_ncols(const isynth_table_reader *r);
const char *isynth_table_col_name(const isynth_table_reader *r, size_t i);

/* Reads the next data row: exactly ncols cells, each valid UTF-8 without NUL, NUL-terminated,
 * missing ones empty. JSONL values that are not strings come as their JSON text (null as an
 * empty cell). Owned by the reader until the next call. *cells = NULL at the end. */
isynth_err isynth_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                             isynth_error *err);

/* Where the last row came from: the file's line (JSONL; CSV: the line the record starts on)
 * or the sheet's row number (xlsx). Messages name it as "PATH:LINE: ..." (JSONL, CSV) or
 * "PATH: row N ..." (xlsx). */
size_t isynth_table_reader_line(const isynth_table_reader *r);

void isynth_table_reader_close(isynth_table_reader *r);

typedef struct isynth_table_writer isynth_table_writer;

typedef struct isynth_table_writer_params {
    bool csv_raw_formulas;    /* .csv only: write cells that start with = + - @ TAB or CR as they
                                 are. Default false: such a cell gets a leading ' (OWASP's CSV
                                 injection advice), so a spreadsheet opening the file shows it
                                 as text instead of running it as a formula */
    const volatile int *stop; /* isynth_table_convert: when non-NULL and *stop becomes
                                 non-zero (a signal handler), the conversion stops at the next
                                 row with ISYNTH_ERR_CANCELLED and leaves nothing behind */
} isynth_table_writer_params;

isynth_table_writer_params isynth_table_writer_params_default(void);

/* Creates a table at a temporary name beside `path`, in the format of its extension, and writes
 * the header (xlsx: sheet "Sheet1", header frozen and filtered, text wrapped; csv: RFC 4180,
 * CRLF; jsonl: one object per row with every column as a string). wp may be NULL for
 * defaults. On success the caller owns *out and must close or free it. */
isynth_err isynth_table_writer_open(const char *path, const char *const *names, size_t ncols,
                                    const isynth_table_writer_params *wp, isynth_table_writer **out,
                                    isynth_error *err);

/* Appends one row of ncols cells (lens may be NULL for NUL-terminated cells). A .csv or .jsonl
 * row whose line would pass 64 MiB (the readers' default max_line_bytes) is
 * ISYNTH_ERR_TOO_LARGE, naming the row. */
isynth_err isynth_table_write_row(isynth_table_writer *w, const char *const *cells,
                                  const size_t *lens, isynth_error *err);

/* Completes the file, renames it to its path and frees w (the temporary is removed on
 * failure). */
isynth_err isynth_table_writer_close(isynth_table_writer *w, isynth_error *err);

/* Abandons the file (nothing is left at path or the temporary name) and frees w; NULL ok. */
void isynth_table_writer_free(isynth_table_writer *w);

/* Converts between formats by extension; *rows (may be NULL) gets the data rows written.
 * `out` is replaced only when the whole conversion succeeds. p and wp may be NULL. */
isynth_err isynth_table_convert(const char *in, const char *out,
                                const isynth_table_reader_params *p,
                                const isynth_table_writer_params *wp, size_t *rows,
                                isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
