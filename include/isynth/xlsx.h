/* isynth workbooks: a streaming .xlsx writer over libxlsxwriter (constant memory; every cell a
 * string unless its column asks for numbers, never a formula) and a streaming, bounded .xlsx
 * reader over libzip + expat that yields one row at a time. Both work on UTF-8 text only;
 * numbers and booleans read back as their text. */
#ifndef ISYNTH_XLSX_H
#define ISYNTH_XLSX_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Excel's limit on one cell, in UTF-16 code units (an emoji counts 2). Longer text is refused
 * with ISYNTH_ERR_TOO_LARGE naming the row and column; it is never truncated. */
#define ISYNTH_XLSX_CELL_MAX 32767
#define ISYNTH_XLSX_MAX_ROWS 1048576u
#define ISYNTH_XLSX_MAX_COLS 16384u

/* Writes the spreadsheet name of a 0-based column ("A", "AB", "XFD") into out; returns out. */
char *isynth_xlsx_col_name(size_t col, char out[8]);

/* ---- writer ---- */

typedef struct isynth_xlsx_writer isynth_xlsx_writer;

typedef struct isynth_xlsx_writer_params {
    const char *tmpdir; /* libxlsxwriter's scratch files; NULL = system default. The package
                           is deflated at libxlsxwriter's own level (zlib's 6). */
} isynth_xlsx_writer_params;

isynth_xlsx_writer_params isynth_xlsx_writer_params_default(void);

/* A conditional fill: the column's data cells holding a number in [min, max] are shown with a
 * `fill` background and `font` text colour (0xRRGGBB; font 0 = unchanged). Excel evaluates it,
 * so it follows the cells when a reviewer sorts or edits them. */
typedef struct isynth_xlsx_band {
    double min, max;
    uint32_t fill;
    uint32_t font;
} isynth_xlsx_band;

/* One column of a sheet. Strings and arrays are borrowed for the duration of
 * isynth_xlsx_add_sheet. A zeroed struct with a name is a plain text column. */
typedef struct isynth_xlsx_column {
    const char *name;           /* header text (row 1) */
    double width;               /* in characters; 0 = from the header's length */
    bool wrap;                  /* wrap text and align to the top */
    bool locked;                /* protected (the sheet is protected when any column is) */
    const char *const *choices; /* NULL-terminated drop-down list, or NULL */
    /* Cells that are plain decimal numbers (-?digits[.digits][e[+-]digits], no leading zero,
     * at most 15 digits) are written as number cells, so sorting and conditional fills treat
     * them as numbers; they read back as the number's shortest text ("0.50" as "0.5"). Any
     * other text is a string cell as in every column. */
    bool numeric;
    const isynth_xlsx_band *bands; /* nbands conditional fills over the data rows, or NULL */
    size_t nbands;
} isynth_xlsx_column;

/* Opens a new workbook that will be written to a temporary name beside `path` and renamed to
 * `path` by isynth_xlsx_writer_close. p may be NULL for defaults. On success the caller owns
 * *out and must call isynth_xlsx_writer_close or isynth_xlsx_writer_free. */
isynth_err isynth_xlsx_writer_open(const char *path, const isynth_xlsx_writer_params *p,
                                   isynth_xlsx_writer **out, isynth_error *err);

/* Starts a new sheet (names: 1..31 characters, none of []:*?/\) and writes its header row:
 * bold, frozen, with an autofilter over the rows that follow. Rows written afterwards go to this
 * sheet; earlier sheets are finished. */
isynth_err isynth_xlsx_add_sheet(isynth_xlsx_writer *w, const char *name,
                                 const isynth_xlsx_column *cols, size_t ncols, isynth_error *err);

/* Appends one row of n cells to the current sheet. cells[i] is UTF-8 text of lens[i] bytes
 * (lens may be NULL: NUL-terminated cells; a NULL cell is empty). Every cell is a string cell
 * (a number cell only in a `numeric` column, for plain decimal numbers), so text starting with
 * = + - @ stays text. Invalid UTF-8 gives ISYNTH_ERR_UTF8, a cell over
 * ISYNTH_XLSX_CELL_MAX gives ISYNTH_ERR_TOO_LARGE; both name the sheet, row and column and
 * leave the writer usable for another row. */
isynth_err isynth_xlsx_write_row(isynth_xlsx_writer *w, const char *const *cells,
                                 const size_t *lens, size_t n, isynth_error *err);

/* A byte range [off, off + len) of a cell's text. */
typedef struct isynth_xlsx_span {
    size_t off, len;
} isynth_xlsx_span;

/* One cell for isynth_xlsx_write_cells: len bytes of UTF-8 text (text NULL or len 0: empty),
 * with nmarks ranges of it to emphasise (bold, dark red) as rich text. Marks are non-empty, in
 * order, not overlapping, within the text and on character boundaries; adjacent ones join. A
 * cell with marks is always a string cell; one wholly marked is written in the emphasised font
 * as a plain string (Excel's rich text needs two runs). */
typedef struct isynth_xlsx_cell {
    const char *text;
    size_t len;
    const isynth_xlsx_span *marks;
    size_t nmarks;
} isynth_xlsx_cell;

/* isynth_xlsx_write_row with cells that carry their length and marks; everything else (checks,
 * errors, numeric columns, text never a formula) is the same, and marks out of place give
 * ISYNTH_ERR_INVALID naming the cell. cells and what they point to are borrowed for the call. */
isynth_err isynth_xlsx_write_cells(isynth_xlsx_writer *w, const isynth_xlsx_cell *cells, size_t n,
                                   isynth_error *err);

/* Number of rows (header included) written to the current sheet. */
size_t isynth_xlsx_writer_rows(const isynth_xlsx_writer *w);

/* Finishes the workbook, renames it into place and frees w (also on failure, when the
 * temporary file is removed and `path` is left untouched). */
isynth_err isynth_xlsx_writer_close(isynth_xlsx_writer *w, isynth_error *err);

/* Abandons an unfinished workbook: removes the temporary file, frees w. NULL is a no-op. */
void isynth_xlsx_writer_free(isynth_xlsx_writer *w);

/* ---- reader ---- */

typedef struct isynth_xlsx_reader isynth_xlsx_reader;

/* Limits that keep hostile workbooks from exhausting memory or time; each refusal is
 * ISYNTH_ERR_XLSX with a message naming the limit. */
typedef struct isynth_xlsx_reader_params {
    uint64_t max_file_bytes;    /* the .xlsx file itself (default 1 GiB) */
    uint64_t max_entries;       /* zip entries (default 10,000) */
    uint64_t max_entry_bytes;   /* uncompressed bytes of one XML part (default 2 GiB) */
    uint64_t max_total_bytes;   /* uncompressed bytes read over the whole workbook (4 GiB) */
    uint64_t max_ratio;         /* uncompressed/compressed of a part over 1 MiB (default 200) */
    uint64_t max_strings_bytes; /* the shared-string table held in memory (default 512 MiB) */
    size_t max_cell_bytes;      /* UTF-8 bytes of one cell's text (default 1 MiB) */
    unsigned max_depth;         /* XML element nesting (default 64) */
    size_t max_tag_bytes;       /* one tag, comment or processing instruction, attributes
                                   included (default 1 MiB): expat rescans an unfinished one on
                                   every chunk, so a longer one would cost quadratic time */
    size_t max_names;           /* distinct element and attribute names in one part (default
                                   4,096; a real sheet uses a few dozen): expat keeps each one
                                   for the part's life */
    size_t max_names_bytes;     /* their total length (default 256 KiB) */
} isynth_xlsx_reader_params;

isynth_xlsx_reader_params isynth_xlsx_reader_params_default(void);

/* Opens a workbook file (or, with _open_mem, bytes the caller keeps alive until close) and
 * reads its sheet list. p may be NULL for defaults. Caller closes *out. */
isynth_err isynth_xlsx_reader_open(const char *path, const isynth_xlsx_reader_params *p,
                                   isynth_xlsx_reader **out, isynth_error *err);
isynth_err isynth_xlsx_reader_open_mem(const void *data, size_t len,
                                       const isynth_xlsx_reader_params *p, isynth_xlsx_reader **out,
                                       isynth_error *err);

/* Sheets in workbook order; names stay owned by the reader until close. */
size_t isynth_xlsx_sheet_count(const isynth_xlsx_reader *r);
const char *isynth_xlsx_sheet_name(const isynth_xlsx_reader *r, size_t i);

/* Starts reading a sheet by name (NULL = the first sheet); ISYNTH_ERR_NOT_FOUND if absent.
 * Loads the shared strings on first use. Any sheet being read is abandoned. */
isynth_err isynth_xlsx_open_sheet(isynth_xlsx_reader *r, const char *name, isynth_error *err);

/* One row of the current sheet: cells indexed by column (missing cells are empty strings,
 * cells placed by their reference, so out-of-order cells land in place), each valid UTF-8
 * without NUL and NUL-terminated. Owned by the reader, valid until the next call. */
typedef struct isynth_xlsx_row {
    size_t row; /* 1-based spreadsheet row number; rows without cells are skipped */
    size_t ncells;
    const char *const *cells;
    const size_t *lens;
} isynth_xlsx_row;

/* Reads the next row into *row. Returns ISYNTH_OK with *row = NULL at the end of the sheet. */
isynth_err isynth_xlsx_next_row(isynth_xlsx_reader *r, const isynth_xlsx_row **row,
                                isynth_error *err);

/* Closes the workbook and frees everything. NULL is a no-op. */
void isynth_xlsx_reader_close(isynth_xlsx_reader *r);

#ifdef __cplusplus
}
#endif
#endif
