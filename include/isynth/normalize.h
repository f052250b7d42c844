/* Text normalisation: NFKC and whitespace for stored text, and the dedup key used by the
 * exact-duplicate and seed-copy filters. */
#ifndef ISYNTH_NORMALIZE_H
#define ISYNTH_NORMALIZE_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NFKC, CRLF/CR to LF, Unicode spaces (U+3000, NBSP, tabs inside lines) to one ASCII space,
 * trailing spaces on each line removed, runs of blank lines collapsed to one, leading and
 * trailing blank space removed. Input must be valid UTF-8 (ISYNTH_ERR_UTF8 otherwise).
 * On success *out is a new NUL-terminated string the caller frees with isynth_free. */
isynth_err isynth_normalize_text(const char *s, size_t n, char **out, size_t *out_len,
                                 isynth_error *err);

/* The dedup key: NFKC + case folding, with every whitespace, punctuation and symbol
 * character removed, so "東京は、どこ？" and "東京はどこ?" share a key. Caller frees *out. */
isynth_err isynth_normalize_dedup_key(const char *s, size_t n, char **out, size_t *out_len,
                                      isynth_error *err);

/* Number of Unicode code points in valid UTF-8 text. */
size_t isynth_normalize_utf8_chars(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
