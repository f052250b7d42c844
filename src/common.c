/* Errors as values and the one allocation layer of the library. Tests can make the N-th
 * allocation fail (SQLite's fault injector, curl's torture mode) and walk N over an operation. */
#include "internal.h"
#include "isynth/common.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const messages[] = {
    [ISYNTH_OK] = "ok",
    [ISYNTH_ERR_NOMEM] = "out of memory",
    [ISYNTH_ERR_IO] = "input/output error",
    [ISYNTH_ERR_PARSE] = "malformed input",
    [ISYNTH_ERR_UTF8] = "invalid UTF-8",
    [ISYNTH_ERR_TOO_LARGE] = "input too large",
    [ISYNTH_ERR_INVALID] = "invalid argument",
    [ISYNTH_ERR_STORE] = "run store error",
    [ISYNTH_ERR_MODEL] = "model error",
    [ISYNTH_ERR_BACKEND] = "backend error",
    [ISYNTH_ERR_NOT_FOUND] = "not found",
    [ISYNTH_ERR_MISMATCH] = "configuration mismatch",
    [ISYNTH_ERR_CANCELLED] = "cancelled",
    [ISYNTH_ERR_HTTP] = "HTTP error",
    [ISYNTH_ERR_XLSX] = "workbook error",
};

double isynth_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *isynth_strerror(isynth_err code)
{
    if ((unsigned)code < sizeof messages / sizeof messages[0] && messages[code])
        return messages[code];
    return "unknown error";
}

isynth_err isynth_error_set(isynth_error *e, isynth_err code, const char *fmt, ...)
{
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void isynth_error_clear(isynth_error *e)
{
    if (!e) return;
    e->code = ISYNTH_OK;
    e->msg[0] = '\0';
}

/* Atomic: once isynth_global_init routes libcurl here, its resolver thread allocates too. The
 * injection itself is for single-threaded tests. */
static _Atomic long fail_at;
static _Atomic long alloc_count;
static _Atomic bool fail_sticky;

long isynth_alloc_fail_at(long n, bool sticky)
{
    long counted = alloc_count;
    fail_at = n;
    fail_sticky = sticky;
    alloc_count = 0;
    return counted;
}

static _Atomic unsigned long failures;

static bool should_fail(void)
{
    long k = ++alloc_count;
    if (fail_at <= 0) return false;
    bool fail = fail_sticky ? k >= fail_at : k == fail_at;
    if (fail) failures++;
    return fail;
}

unsigned long alloc_failures(void)
{
    return failures;
}

void *alloc_uninjected(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) failures++;
    return p;
}

void *isynth_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (!p) failures++;
    return p;
}

void *isynth_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) failures++;
    return p;
}

void *isynth_realloc(void *p, size_t n)
{
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (should_fail()) return NULL;
    void *q = realloc(p, n);
    if (!q) failures++;
    return q;
}

void isynth_free(void *p)
{
    free(p);
}

char *isynth_strndup(const char *s, size_t n)
{
    char *d = isynth_malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *isynth_strdup(const char *s)
{
    return s ? isynth_strndup(s, strlen(s)) : NULL;
}
