/* isynth_global_init: routes the allocations of jansson, SQLite and libcurl through isynth's
 * allocation layer, through each library's own supported hook (json_set_alloc_funcs,
 * SQLITE_CONFIG_MALLOC, curl_global_init_mem), so that an allocation failure there is one the
 * library's callers see and handle like any other, and the allocation-failure tests reach SQLite
 * and libcurl. jansson's allocations are counted but not injected: its lexer asserts on a failed
 * allocation (akheron/jansson#362). expat is given the layer per parser
 * (XML_ParserCreate_MM). */
#include "isynth/common.h"
#include "internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

/* SQLite wants each allocation's size back: it is kept in a 16-byte header (which keeps the
 * 16-byte alignment of malloc). */
#define HDR 16

static void *sq_malloc(int n)
{
    if (n <= 0) return NULL;
    unsigned char *p = isynth_malloc((size_t)n + HDR);
    if (!p) return NULL;
    memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
    return p + HDR;
}

static void sq_free(void *p)
{
    if (p) isynth_free((unsigned char *)p - HDR);
}

static void *sq_realloc(void *p, int n)
{
    if (!p) return sq_malloc(n);
    if (n <= 0) return NULL; /* SQLite never asks for this */
    unsigned char *q = isynth_realloc((unsigned char *)p - HDR, (size_t)n + HDR);
    if (!q) return NULL;
    memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
    return q + HDR;
}

static int sq_size(void *p)
{
    size_t n;
    if (!p) return 0;
    memcpy(&n, (unsigned char *)p - HDR, sizeof n);
    return (int)n;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *u)
{
    (void)u;
    return SQLITE_OK;
}

static void sq_shutdown(void *u)
{
    (void)u;
}

static void *cu_calloc(size_t n, size_t size)
{
    return isynth_calloc(n, size);
}

static char *cu_strdup(const char *s)
{
    return isynth_strdup(s);
}

isynth_err isynth_global_init(isynth_error *err)
{
    static const sqlite3_mem_methods mem = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                            sq_roundup, sq_init, sq_shutdown, NULL};
    json_set_alloc_funcs(alloc_uninjected, isynth_free);
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK)
        return isynth_error_set(err, ISYNTH_ERR_STORE,
                                "isynth_global_init: SQLite was already initialised");
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, isynth_malloc, isynth_free, isynth_realloc,
                             cu_strdup, cu_calloc) != CURLE_OK)
        return isynth_error_set(err, ISYNTH_ERR_HTTP, "isynth_global_init: libcurl failed");
    return ISYNTH_OK;
}
