/* libFuzzer target for the table readers and the seed loader, from bytes written to a temporary
 * file (they read paths). The first byte picks the reader: JSONL, CSV, the seed loader on a
 * .jsonl, .json or .csv file, or the JSON Lines reader with a string field (as `dedup` reads). Any
 * crash, leak, hang or sanitizer report is a bug; refusals are the expected outcome.
 *
 * For JSONL it is also a differential test of the reader's fast path (a byte scan and decoder
 * of its own for flat lines) against jansson: when the reader accepts a file, every non-blank
 * line must be a JSON object jansson accepts with the same flags, and every cell must be what
 * jansson makes of that key's value (a string as it is, null as "", anything else as compact
 * JSON). A difference aborts. Built only with -DISYNTH_FUZZ=ON (clang); see tests/xlsx.cmake. */
#include "isynth/jsonl.h"
#include "isynth/seeds.h"
#include "isynth/table.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static const char *file_of(const char *ext, const uint8_t *d, size_t n)
{
    static char path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/isynth-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/in.%s", dir, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f)) abort();
    return path;
}

/* The cell jansson makes of v: malloc'd. */
static char *cell_of(json_t *v)
{
    if (!v || json_is_null(v)) return strdup("");
    if (json_is_string(v)) {
        char *s = malloc(json_string_length(v) + 1);
        if (!s) abort();
        memcpy(s, json_string_value(v), json_string_length(v) + 1);
        return s;
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The lines the reader treats as rows: split at \n, a trailing \r dropped, a BOM on the first
 * line dropped, blank lines (spaces, tabs) skipped. *next moves past the line. */
static const char *next_line(const char *d, size_t n, size_t *pos, size_t *len)
{
    while (*pos < n) {
        const char *s = d + *pos;
        const char *nl = memchr(s, '\n', n - *pos);
        size_t l = nl ? (size_t)(nl - s) : n - *pos;
        bool first = *pos == 0;
        *pos += l + (nl ? 1 : 0);
        if (l && s[l - 1] == '\r') l--;
        if (first && l >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
            s += 3;
            l -= 3;
        }
        size_t k = 0;
        while (k < l && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
            k++;
        if (k == l) continue;
        *len = l;
        return s;
    }
    return NULL;
}

static void jsonl_differential(const char *path, const uint8_t *data, size_t size)
{
    isynth_table_reader *r;
    if (isynth_table_reader_open(path, NULL, &r, NULL)) return;
    size_t ncols = isynth_table_ncols(r);
    /* read every row first: the file counts only when the reader accepts all of it */
    char ***rows = NULL;
    size_t nrows = 0;
    bool ok = true;
    for (;;) {
        const char *const *cells = NULL;
        const size_t *lens;
        if (isynth_table_next(r, &cells, &lens, NULL)) {
            ok = false;
            break;
        }
        if (!cells) break;
        char **copy = malloc(ncols * sizeof *copy);
        rows = realloc(rows, (nrows + 1) * sizeof *rows);
        if (!copy || !rows) abort();
        for (size_t c = 0; c < ncols; c++) {
            if (strlen(cells[c]) != lens[c]) abort(); /* no NUL inside a cell */
            copy[c] = strdup(cells[c]);
        }
        rows[nrows++] = copy;
    }
    if (ok) {
        size_t pos = 0, len, i = 0;
        const char *line;
        while ((line = next_line((const char *)data, size, &pos, &len))) {
            json_error_t je;
            json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
            if (!o || !json_is_object(o) || i >= nrows) abort(); /* accepted what jansson refuses */
            for (size_t c = 0; c < ncols; c++) {
                char *want = cell_of(json_object_get(o, isynth_table_col_name(r, c)));
                if (!want || strcmp(want, rows[i][c])) abort(); /* a cell differs */
                free(want);
            }
            json_decref(o);
            i++;
        }
        if (i != nrows) abort();
    }
    for (size_t i = 0; i < nrows; i++) {
        for (size_t c = 0; c < ncols; c++)
            free(rows[i][c]);
        free(rows[i]);
    }
    free(rows);
    isynth_table_reader_close(r);
}

/* Every line through isynth_jsonl_next and its "t" field, until the first refusal. */
static void read_lines(const char *path)
{
    isynth_jsonl_reader *r;
    if (isynth_jsonl_open(path, NULL, &r, NULL)) return;
    const char *line, *s;
    size_t n, sn;
    while (!isynth_jsonl_next(r, &line, &n, NULL) && line) {
        if (memchr(line, '\0', n) || memchr(line, '\n', n)) abort();
        if (!isynth_jsonl_get_string(r, "t", &s, &sn, NULL) && strlen(s) != sn) abort();
    }
    isynth_jsonl_close(r);
}

static void read_table(const char *path)
{
    isynth_table_reader *r;
    if (isynth_table_reader_open(path, NULL, &r, NULL)) return;
    const char *const *cells;
    const size_t *lens;
    size_t sum = 0;
    while (!isynth_table_next(r, &cells, &lens, NULL) && cells)
        for (size_t c = 0; c < isynth_table_ncols(r); c++)
            sum += lens[c] + (size_t)(cells[c][lens[c]] == '\0');
    (void)sum;
    isynth_table_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0] % 6;
    data++;
    size--;
    static const char *const ext[] = {"jsonl", "csv", "jsonl", "json", "csv", "jsonl"};
    const char *path = file_of(ext[mode], data, size);
    if (mode == 0) {
        jsonl_differential(path, data, size);
    } else if (mode == 1) {
        read_table(path);
    } else if (mode == 5) {
        read_lines(path);
    } else {
        isynth_seeds_params p = isynth_seeds_params_default();
        isynth_seedset *s = NULL;
        if (!isynth_seeds_load(path, &p, &s, NULL)) isynth_seeds_free(s);
    }
    return 0;
}
