/* JSON Lines, one record at a time and in one pass (a pipe works): the one JSONL reader, under
 * the table reader's .jsonl, the seed loader and `isynth dedup`. Lines are split at \n; a CR
 * before it and a UTF-8 BOM on the first line are dropped; blank lines (spaces, tabs) are
 * skipped but counted. Every line handed out is valid UTF-8 without NUL and at most
 * max_line_bytes long. Messages name the file and the line as "PATH:LINE: ...". */
#ifndef ISYNTH_JSONL_H
#define ISYNTH_JSONL_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_jsonl_params {
    size_t max_line_bytes; /* a longer line is ISYNTH_ERR_TOO_LARGE, refused before it is read
                              whole; default (and 0) 64 MiB */
} isynth_jsonl_params;

isynth_jsonl_params isynth_jsonl_params_default(void);

typedef struct isynth_jsonl_reader isynth_jsonl_reader;

/* Opens path for reading ("/dev/stdin" reads a pipe). p may be NULL for defaults. On success
 * the caller owns *out and closes it with isynth_jsonl_close. */
isynth_err isynth_jsonl_open(const char *path, const isynth_jsonl_params *p,
                             isynth_jsonl_reader **out, isynth_error *err);

/* The next line that is not blank, without its line end: *text and *len are owned by the reader
 * until the next call; *text = NULL at the end of the file. A read interrupted by a signal is
 * ISYNTH_ERR_IO ("read error"); the caller that set a stop flag tells the two apart. */
isynth_err isynth_jsonl_next(isynth_jsonl_reader *r, const char **text, size_t *len,
                             isynth_error *err);

/* The 1-based line number of the last line handed out (0 before the first). */
size_t isynth_jsonl_line(const isynth_jsonl_reader *r);

/* The string value of key in the last line, parsed as a JSON object (at most 65,536 values
 * and 64 levels deep; a repeated key is refused). *s (NUL-terminated, valid UTF-8) and *n are
 * owned by the reader until the next line. ISYNTH_ERR_PARSE when the line is not a JSON object
 * ("PATH:LINE: truncated JSON at column 9: ...") or the key is missing or not a string
 * ("PATH:LINE: field 'KEY' is missing"). */
isynth_err isynth_jsonl_get_string(isynth_jsonl_reader *r, const char *key, const char **s,
                                   size_t *n, isynth_error *err);

/* NULL ok. */
void isynth_jsonl_close(isynth_jsonl_reader *r);

#ifdef __cplusplus
}
#endif
#endif
