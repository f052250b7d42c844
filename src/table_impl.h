/* What the table's format files share (src/table.c, table_csv.c, table_jsonl.c,
 * table_xlsx.c): the reader and writer handles, a list of strings for rows and headers, and
 * each format's entry points behind the dispatch in table.c. One reader and one writer per
 * format, each in its own file; nothing here is public API. */
#ifndef ISYNTH_TABLE_IMPL_H
#define ISYNTH_TABLE_IMPL_H

#include "internal.h"
#include "isynth/jsonl.h"
#include "isynth/table.h"
#include "isynth/xlsx.h"

#include <jansson.h>
#include <stdio.h>

/* link names with the library's prefix (tests/symbols.sh) */
#define sl_init isynth__sl_init
#define sl_free isynth__sl_free
#define sl_reset isynth__sl_reset
#define sl_push isynth__sl_push
#define sl_ptrs isynth__sl_ptrs
#define table_set_header isynth__table_set_header
#define table_reader_open_as isynth__table_reader_open_as
#define csv_reader_open isynth__csv_reader_open
#define csv_reader_next isynth__csv_reader_next
#define csv_reader_free isynth__csv_reader_free
#define csv_write_line isynth__csv_write_line
#define jsonl_table_open isynth__jsonl_table_open
#define jsonl_table_next isynth__jsonl_table_next
#define jsonl_table_free isynth__jsonl_table_free
#define jsonl_write_line isynth__jsonl_write_line
#define jsonl_reader_open_stream isynth__jsonl_reader_open_stream
#define jsonl_rewind isynth__jsonl_rewind
#define jsonl_object isynth__jsonl_object
#define jsonl_fail isynth__jsonl_fail
#define jsonl_type_name isynth__jsonl_type_name
#define xlsx_table_open isynth__xlsx_table_open
#define xlsx_table_next isynth__xlsx_table_next
#define xlsx_table_writer_open isynth__xlsx_table_writer_open

#define TABLE_DEFAULT_MAX_LINE (64u << 20)
/* The cap of a row's fields held together (a reader's header, row or queued CSV record): a JSONL
 * line or an xlsx row (64 MiB) decodes to no more bytes than it has, and a CSV record is held to
 * the same bound; plus a NUL a field. */
#define TABLE_ROW_CAP(max_line)                                                                    \
    (((size_t)(max_line) > TABLE_DEFAULT_MAX_LINE ? (size_t)(max_line) : TABLE_DEFAULT_MAX_LINE) + \
     ISYNTH_XLSX_MAX_COLS)

/* A list of strings stored back to back (NUL-separated) with offsets: a row or a header. */
typedef struct strlist {
    buf data;
    size_t *off;
    size_t *len;
    size_t n, cap;
    const char **ptr; /* filled by sl_ptrs */
    size_t ptr_cap;
} strlist;

void sl_init(strlist *l, size_t max);
void sl_free(strlist *l);
void sl_reset(strlist *l);
isynth_err sl_push(strlist *l, const char *s, size_t n);
/* Makes l->ptr point at items [first, first+count), padding with "" up to `width`; *lens_out
 * gets the lengths (in the same allocation, valid until the next call). */
isynth_err sl_ptrs(strlist *l, size_t first, size_t count, size_t width, size_t **lens_out);

typedef struct csv_state csv_state;
typedef struct jsonl_state jsonl_state;

struct isynth_table_reader {
    isynth_table_format fmt;
    isynth_table_reader_params p;
    char *path;
    strlist header;
    strlist row;
    size_t line;           /* where the last row came from */
    isynth_xlsx_reader *x; /* xlsx */
    csv_state *csv;        /* csv */
    jsonl_state *jsonl;    /* jsonl */
};

/* Sets the header from the first row (r->line): drops trailing empty names, refuses empty or
 * repeated ones, naming the line ("PATH:3: ...") or the sheet row ("PATH: row 1: ..."). */
isynth_err table_set_header(isynth_table_reader *r, const char *const *cells, const size_t *lens,
                            size_t n, isynth_error *err);

/* Opens path as a table of format fmt, whatever its extension (the seed loader's format
 * parameter); a CSV reader reads f when it is non-NULL (and closes it, also on failure). */
isynth_err table_reader_open_as(const char *path, isynth_table_format fmt, FILE *f,
                                const isynth_table_reader_params *p, isynth_table_reader **out,
                                isynth_error *err);

/* Each format's reader: open reads the header into r->header; next hands out a row of exactly
 * r->header.n cells (*cells NULL at the end); free releases the format's state. */
isynth_err csv_reader_open(isynth_table_reader *r, FILE *f, isynth_error *err);
isynth_err csv_reader_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                           isynth_error *err);
void csv_reader_free(isynth_table_reader *r);
isynth_err jsonl_table_open(isynth_table_reader *r, isynth_error *err);
isynth_err jsonl_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                            isynth_error *err);
void jsonl_table_free(isynth_table_reader *r);
isynth_err xlsx_table_open(isynth_table_reader *r, isynth_error *err);
isynth_err xlsx_table_next(isynth_table_reader *r, const char *const **cells, const size_t **lens,
                           isynth_error *err);

/* Each text format's writer: one row (n cells; lens NULL for NUL-terminated ones) as the bytes
 * of its line in b. */
isynth_err csv_write_line(buf *b, const char *const *cells, const size_t *lens, size_t n,
                          bool raw_formulas);
isynth_err jsonl_write_line(buf *b, const strlist *names, const char *const *cells,
                            const size_t *lens);
/* The workbook writer: "Sheet1" with the columns named, header frozen and filtered. */
isynth_err xlsx_table_writer_open(const char *path, const char *const *names, size_t ncols,
                                  isynth_xlsx_writer **out, isynth_error *err);

/* The JSONL reader over a stream the caller opened (a file, or the bytes the seed loader
 * already holds through fmemopen); the reader closes f. `path` names it in messages. */
isynth_err jsonl_reader_open_stream(const char *path, FILE *f, const isynth_jsonl_params *p,
                                    isynth_jsonl_reader **out, isynth_error *err);
/* Back to the first line (for a second pass; a pipe cannot). */
isynth_err jsonl_rewind(isynth_jsonl_reader *r, isynth_error *err);
/* The last line read, parsed as a JSON object under the record limits (json_load_record),
 * duplicate keys refused; owned by the reader until the next line. Errors name the file, line
 * and, for malformed JSON, the column ("PATH:LINE: truncated JSON at column 7: ..."). */
isynth_err jsonl_object(isynth_jsonl_reader *r, json_t **obj, isynth_error *err);
/* "an object", "an array", "a string", "a number", "a boolean" or "null", for messages. */
const char *jsonl_type_name(const json_t *v);
/* A parse failure of json_load_record as the reader words it: code and "PATH:LINE: why". */
isynth_err jsonl_fail(isynth_error *err, const char *path, size_t line, isynth_err rc,
                      const json_error_t *je, const char *over);

#endif
