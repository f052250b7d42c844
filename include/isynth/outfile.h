/* Files replaced whole, for a caller that writes its own bytes (`isynth dedup` copies the lines
 * it keeps): the library's one way of writing a file, as every export and table uses it. The
 * bytes go to a new temporary beside the path (never following a link planted there); commit
 * flushes, syncs and renames it into place, so a reader never sees half a file, and a writer
 * that fails, is stopped or is killed leaves the path as it was (a killed one's temporary is
 * removed by the next writer of that path). */
#ifndef ISYNTH_OUTFILE_H
#define ISYNTH_OUTFILE_H

#include "isynth/common.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_outfile isynth_outfile;

/* Creates the temporary for path. On success the caller owns *out and ends it with
 * isynth_outfile_commit or isynth_outfile_abort. */
isynth_err isynth_outfile_open(const char *path, isynth_outfile **out, isynth_error *err);

/* The stream to write to; owned by o (the caller never closes it). */
FILE *isynth_outfile_stream(isynth_outfile *o);

/* Puts the file in place (flush, fsync, rename, fsync of the directory) and frees o, also on
 * failure, when the temporary is removed and path left as it was. */
isynth_err isynth_outfile_commit(isynth_outfile *o, isynth_error *err);

/* Removes the temporary, leaves path as it was, frees o; NULL ok. */
void isynth_outfile_abort(isynth_outfile *o);

#ifdef __cplusplus
}
#endif
#endif
