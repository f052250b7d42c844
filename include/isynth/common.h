/* isynth common definitions: error codes, the error report, the allocation layer.
 * Every other public header includes this one. */
#ifndef ISYNTH_COMMON_H
#define ISYNTH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. 0 is success. This enum only ever grows at its end. */
typedef enum isynth_err {
    ISYNTH_OK = 0,
    ISYNTH_ERR_NOMEM,     /* an allocation failed */
    ISYNTH_ERR_IO,        /* a file could not be opened, read, written or renamed */
    ISYNTH_ERR_PARSE,     /* malformed input (file, line and field in the message) */
    ISYNTH_ERR_UTF8,      /* input is not valid UTF-8 */
    ISYNTH_ERR_TOO_LARGE, /* input exceeds a documented limit */
    ISYNTH_ERR_INVALID,   /* an invalid argument or option value */
    ISYNTH_ERR_STORE,     /* the SQLite run store failed */
    ISYNTH_ERR_MODEL,     /* the model could not be loaded or used */
    ISYNTH_ERR_BACKEND,   /* the LLM backend failed */
    ISYNTH_ERR_NOT_FOUND, /* a named thing does not exist */
    ISYNTH_ERR_MISMATCH,  /* the run directory holds a different configuration */
    ISYNTH_ERR_CANCELLED, /* the operation was interrupted by the caller */
    ISYNTH_ERR_HTTP,      /* an HTTP request failed */
    ISYNTH_ERR_XLSX,      /* a workbook is malformed or hostile */
} isynth_err;

/* Returns a static, never-NULL description of an error code; the caller frees nothing. */
const char *isynth_strerror(isynth_err code);

/* Seconds on the monotonic clock, for durations (the library's one clock). */
double isynth_now(void);

/* A human-readable report filled by library calls that fail. Caller-owned, usually on the
 * stack; functions take an `isynth_error *` that may be NULL. */
typedef struct isynth_error {
    isynth_err code;
    char msg[1024];
} isynth_error;

/* Sets code and a printf-style message into `e` (no-op when e is NULL); returns code. */
isynth_err isynth_error_set(isynth_error *e, isynth_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears `e` to ISYNTH_OK with an empty message (no-op when e is NULL). */
void isynth_error_clear(isynth_error *e);

/* Allocation layer used by the whole library. The memory is the caller's and is released with
 * isynth_free(). isynth_realloc(p, 0) frees p and returns NULL. */
void *isynth_malloc(size_t n);
void *isynth_calloc(size_t count, size_t size);
void *isynth_realloc(void *p, size_t n);
void isynth_free(void *p);
/* Copies n bytes of s and adds a NUL; caller frees with isynth_free(). NULL on failure. */
char *isynth_strndup(const char *s, size_t n);
/* Copies a NUL-terminated string (NULL gives NULL); caller frees with isynth_free(). */
char *isynth_strdup(const char *s);

/* Optional, once at program start, from one thread, before any other call into isynth,
 * jansson, SQLite or libcurl: routes those three libraries' allocations through the layer above,
 * with each library's supported hook (json_set_alloc_funcs, SQLITE_CONFIG_MALLOC,
 * curl_global_init_mem), so that their allocation failures reach isynth as such. It sets the
 * libraries' process-wide configuration: an application that configures them itself leaves it
 * out (isynth works either way). The isynth CLI and the tests call it. */
isynth_err isynth_global_init(isynth_error *err);

/* Fault injection for tests: makes the n-th allocation from now (1-based) and every later one
 * fail when `sticky`, or only that one otherwise. n = 0 turns injection off. Returns how many
 * allocations were counted since the last call. Not thread-safe: for single-threaded tests. */
long isynth_alloc_fail_at(long n, bool sticky);

#ifdef __cplusplus
}
#endif
#endif
