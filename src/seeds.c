/* Seed loading: a JSONL, JSON-array, CSV or XLSX file becomes a seed set.
 *
 * The one idea: every record, whatever its shape, is first reduced to a `raw` record of
 * borrowed pointer+length fields (instruction, input, output, id, eval_aspect) each carrying
 * the name it had in the file; add_task() then validates that record in one place (required,
 * non-blank, length limit, task limit) and copies it into the set. Errors therefore always name
 * the file, the 1-based line where the record starts (the row, in a sheet) and the field as the
 * user wrote it. The shape (ELYZA, Self-Instruct, Alpaca, messages, mapped) is decided once,
 * from the first record's keys or from the header row; CSV and XLSX rows share table_row().
 * The files are read by the library's one reader per format (table_jsonl.c, table_csv.c,
 * table_xlsx.c), which validate the bytes (UTF-8, NUL, quoting, JSON limits) and name line and
 * column; this file reads only the JSON array, a format no other caller has, itself. The
 * file's bytes are read once, for their SHA-256, and the readers read them from memory. */
#include "isynth/seeds.h"

#include "isynth/store.h"
#include "table_impl.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_INSTRUCTION, F_INPUT, F_OUTPUT, F_ID, F_EVAL, NFIELDS };
static const char *const field_names[NFIELDS] = {"instruction", "input", "output", "id",
                                                 "eval_aspect"};

typedef enum shape {
    SH_NONE,
    SH_ELYZA,
    SH_SELF_INSTRUCT,
    SH_ALPACA,
    SH_MESSAGES,
    SH_MAPPED,
    SH_RUN /* another run's rows (run:DIR) */
} shape;
static const char *const shape_names[] = {"",       "elyza", "self-instruct", "alpaca", "messages",
                                          "mapped", "run"};

#define LABEL_MAX 80

/* One record before validation: borrowed bytes (s == NULL when absent) and, per field, the
 * name it has in the file, for messages. */
typedef struct raw {
    const char *s[NFIELDS];
    size_t n[NFIELDS];
    char name[NFIELDS][LABEL_MAX];
    char idnum[32]; /* an integer id, printed */
    bool is_classification;
    long line;
} raw;

typedef struct loader {
    const char *path;
    isynth_seeds_params prm;
    isynth_error *err;
    isynth_seedset *set;
    size_t cap;
    shape shape;
    char *mapbuf;
    const char *map[NFIELDS]; /* source column for a field when the caller mapped it */
    lang_tally letters;       /* letters counted over instructions */
    const char *unit;         /* what record numbers count: "line", or "row" of a sheet */
} loader;

static isynth_err fail(loader *ld, isynth_err code, long line, const char *field, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static isynth_err fail(loader *ld, isynth_err code, long line, const char *field, const char *fmt,
                       ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0 && field)
        return isynth_error_set(ld->err, code, "%s:%ld: field '%s': %s", ld->path, line, field,
                                msg);
    if (line > 0) return isynth_error_set(ld->err, code, "%s:%ld: %s", ld->path, line, msg);
    return isynth_error_set(ld->err, code, "%s: %s", ld->path, msg);
}

static isynth_err nomem(loader *ld)
{
    return fail(ld, ISYNTH_ERR_NOMEM, 0, NULL, "out of memory");
}

/* Copies a name into a label, cutting at a UTF-8 boundary so messages stay valid UTF-8. */
static void set_label(char dst[LABEL_MAX], const char *src, size_t n)
{
    if (n >= LABEL_MAX) {
        n = LABEL_MAX - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool ascii_ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn) return false;
    for (size_t i = 0; i < an; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

static bool is_space_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when s holds only ASCII white space and U+3000 IDEOGRAPHIC SPACE. */
static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (is_space_byte(s[i])) continue;
        if (n - i >= 3 && memcmp(s + i, "\xE3\x80\x80", 3) == 0) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

/* ---- the seed set ------------------------------------------------------------------------ */

isynth_seeds_params isynth_seeds_params_default(void)
{
    isynth_seeds_params p = {
        .format = ISYNTH_SEEDS_AUTO,
        .map = NULL,
        .max_file_bytes = (size_t)64 << 20,
        .max_field_bytes = (size_t)256 << 10,
        .max_tasks = 100000,
    };
    return p;
}

void isynth_seeds_free(isynth_seedset *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        isynth_task_clear(&s->tasks[i]);
    isynth_free(s->tasks);
    isynth_free(s->path);
    isynth_free(s->source);
    isynth_free(s);
}

static void raw_init(raw *r, long line)
{
    memset(r, 0, sizeof *r);
    r->line = line;
    for (int f = 0; f < NFIELDS; f++)
        set_label(r->name[f], field_names[f], strlen(field_names[f]));
}

static char *dup_field(const raw *r, int f)
{
    return r->s[f] ? isynth_strndup(r->s[f], r->n[f]) : isynth_strndup("", 0);
}

/* Validates one record and appends it to the set as an owned task. */
static isynth_err add_task(loader *ld, const raw *r)
{
    static const int required[] = {F_INSTRUCTION, F_OUTPUT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        int f = required[i];
        if (!r->s[f])
            return fail(ld, ISYNTH_ERR_PARSE, r->line, r->name[f], "missing (%s is required)",
                        field_names[f]);
        if (is_blank(r->s[f], r->n[f]))
            return fail(ld, ISYNTH_ERR_PARSE, r->line, r->name[f], "empty (%s is required)",
                        field_names[f]);
    }
    for (int f = 0; f < NFIELDS; f++)
        if (r->s[f] && r->n[f] > ld->prm.max_field_bytes)
            return fail(ld, ISYNTH_ERR_TOO_LARGE, r->line, r->name[f],
                        "%zu bytes, longer than the limit of %zu bytes", r->n[f],
                        ld->prm.max_field_bytes);
    if (r->s[F_ID] && is_blank(r->s[F_ID], r->n[F_ID]))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, r->name[F_ID], "empty id");
    isynth_seedset *set = ld->set;
    if (set->n >= ld->prm.max_tasks)
        return fail(ld, ISYNTH_ERR_TOO_LARGE, r->line, NULL, "more than %zu tasks (max_tasks)",
                    ld->prm.max_tasks);
    if (set->n == ld->cap && ARRAY_GROW(set->tasks, ld->cap, 32)) return nomem(ld);
    isynth_task *t = &set->tasks[set->n];
    memset(t, 0, sizeof *t);
    t->instruction = dup_field(r, F_INSTRUCTION);
    t->input = dup_field(r, F_INPUT);
    t->output = dup_field(r, F_OUTPUT);
    t->eval_aspect = dup_field(r, F_EVAL);
    if (r->s[F_ID]) {
        t->id = dup_field(r, F_ID);
    } else {
        buf b;
        buf_init(&b, 64);
        t->id = buf_printf(&b, "seed-%ld", r->line) ? NULL : buf_take(&b);
        buf_free(&b);
    }
    if (!t->instruction || !t->input || !t->output || !t->eval_aspect || !t->id) {
        isynth_task_clear(t);
        return nomem(ld);
    }
    t->is_classification = r->is_classification;
    t->line = r->line;
    set->n++;
    lang_tally_add(&ld->letters, r->s[F_INSTRUCTION], r->n[F_INSTRUCTION]);
    return ISYNTH_OK;
}

static int cmp_task_id(const void *a, const void *b)
{
    const isynth_task *x = *(const isynth_task *const *)a, *y = *(const isynth_task *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Ids name seeds in the run store and the exports, so they must be unique. */
static isynth_err check_unique_ids(loader *ld)
{
    isynth_seedset *set = ld->set;
    if (set->n < 2) return ISYNTH_OK;
    const isynth_task **v = isynth_malloc(set->n * sizeof *v);
    if (!v) return nomem(ld);
    for (size_t i = 0; i < set->n; i++)
        v[i] = &set->tasks[i];
    qsort(v, set->n, sizeof *v, cmp_task_id);
    const isynth_task *first = NULL, *dup = NULL;
    for (size_t i = 1; i < set->n; i++)
        if (strcmp(v[i - 1]->id, v[i]->id) == 0 && (!dup || v[i]->line < dup->line)) {
            first = v[i - 1];
            dup = v[i];
        }
    isynth_err rc = ISYNTH_OK;
    if (dup)
        rc = fail(ld, ISYNTH_ERR_PARSE, dup->line, "id", "duplicate id '%s' (also at %s %ld)",
                  dup->id, ld->unit, first->line);
    isynth_free(v);
    return rc;
}

/* ---- the column map ---------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Parses "instruction=COL,output=COL,...". The columns point into ld->mapbuf. */
static isynth_err parse_map(loader *ld, const char *map)
{
    size_t n = strlen(map);
    if (!utf8_valid(map, n, NULL))
        return isynth_error_set(ld->err, ISYNTH_ERR_INVALID, "seed map: not valid UTF-8");
    ld->mapbuf = isynth_strndup(map, n);
    if (!ld->mapbuf) return nomem(ld);
    char *save = NULL;
    int count = 0;
    for (char *item = strtok_r(ld->mapbuf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            return isynth_error_set(ld->err, ISYNTH_ERR_INVALID,
                                    "seed map: '%s' is not FIELD=COLUMN", trim(item));
        *eq = '\0';
        char *key = trim(item), *col = trim(eq + 1);
        int f = -1;
        for (int i = 0; i < NFIELDS; i++)
            if (strcmp(key, field_names[i]) == 0) f = i;
        if (f < 0)
            return isynth_error_set(ld->err, ISYNTH_ERR_INVALID,
                                    "seed map: unknown field '%s' (expected instruction, input, "
                                    "output, id or eval_aspect)",
                                    key);
        if (!*col)
            return isynth_error_set(ld->err, ISYNTH_ERR_INVALID,
                                    "seed map: field '%s' has an empty column name", key);
        if (ld->map[f])
            return isynth_error_set(ld->err, ISYNTH_ERR_INVALID,
                                    "seed map: field '%s' is mapped twice", key);
        ld->map[f] = col;
        count++;
    }
    if (!count) return isynth_error_set(ld->err, ISYNTH_ERR_INVALID, "seed map: empty");
    return ISYNTH_OK;
}

/* The column a field comes from in the mapped shape: the mapped one, else the column of the
 * field's own name unless the map already uses that column for another field. */
static const char *mapped_source(const loader *ld, int f)
{
    if (ld->map[f]) return ld->map[f];
    for (int i = 0; i < NFIELDS; i++)
        if (ld->map[i] && strcmp(ld->map[i], field_names[f]) == 0) return NULL;
    return field_names[f];
}

/* ---- JSON -------------------------------------------------------------------------------- */

/* Reads obj[key] into field f of r; absent and null leave the field absent. Only an id may
 * be an integer. */
static isynth_err take_str(loader *ld, raw *r, int f, const json_t *obj, const char *key,
                           const char *label)
{
    set_label(r->name[f], label, strlen(label));
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return ISYNTH_OK;
    if (json_is_string(v)) {
        r->s[f] = json_string_value(v);
        r->n[f] = json_string_length(v);
        return ISYNTH_OK;
    }
    if (f == F_ID && json_is_integer(v)) {
        snprintf(r->idnum, sizeof r->idnum, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        r->s[f] = r->idnum;
        r->n[f] = strlen(r->idnum);
        return ISYNTH_OK;
    }
    return fail(ld, ISYNTH_ERR_PARSE, r->line, r->name[f], "expected a string, found %s",
                jsonl_type_name(v));
}

static isynth_err take_bool(loader *ld, raw *r, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return ISYNTH_OK;
    if (!json_is_boolean(v))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, key, "expected true or false, found %s",
                    jsonl_type_name(v));
    r->is_classification = json_is_true(v);
    return ISYNTH_OK;
}

static shape detect_json_shape(const loader *ld, const json_t *obj)
{
    if (ld->mapbuf) return SH_MAPPED;
    if (json_object_get(obj, "messages")) return SH_MESSAGES;
    if (json_object_get(obj, "instruction"))
        return json_object_get(obj, "instances") ? SH_SELF_INSTRUCT : SH_ALPACA;
    if (json_object_get(obj, "input")) return SH_ELYZA;
    return SH_NONE;
}

static isynth_err take_instances(loader *ld, raw *r, const json_t *obj)
{
    json_t *inst = json_object_get(obj, "instances");
    if (!inst || json_is_null(inst))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "instances", "missing");
    if (!json_is_array(inst))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "instances", "expected an array, found %s",
                    jsonl_type_name(inst));
    if (json_array_size(inst) == 0)
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "instances",
                    "empty array (needs at least one {\"input\", \"output\"})");
    json_t *first = json_array_get(inst, 0);
    if (!json_is_object(first))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "instances[0]", "expected an object, found %s",
                    jsonl_type_name(first));
    isynth_err rc = take_str(ld, r, F_INPUT, first, "input", "instances[0].input");
    return rc ? rc : take_str(ld, r, F_OUTPUT, first, "output", "instances[0].output");
}

static isynth_err take_messages(loader *ld, raw *r, const json_t *obj)
{
    set_label(r->name[F_INSTRUCTION], "messages", 8);
    set_label(r->name[F_OUTPUT], "messages", 8);
    json_t *msgs = json_object_get(obj, "messages");
    if (!json_is_array(msgs))
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "messages", "expected an array, found %s",
                    msgs ? jsonl_type_name(msgs) : "nothing");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        char label[LABEL_MAX];
        snprintf(label, sizeof label, "messages[%zu]", i);
        if (!json_is_object(m))
            return fail(ld, ISYNTH_ERR_PARSE, r->line, label, "expected an object, found %s",
                        jsonl_type_name(m));
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role)) {
            snprintf(label, sizeof label, "messages[%zu].role", i);
            return fail(ld, ISYNTH_ERR_PARSE, r->line, label, "expected a string, found %s",
                        role ? jsonl_type_name(role) : "nothing");
        }
        int f = strcmp(json_string_value(role), "user") == 0        ? F_INSTRUCTION
                : strcmp(json_string_value(role), "assistant") == 0 ? F_OUTPUT
                                                                    : -1;
        if (f < 0 || r->s[f]) continue;
        snprintf(label, sizeof label, "messages[%zu].content", i);
        isynth_err rc = take_str(ld, r, f, m, "content", label);
        if (rc) return rc;
    }
    if (!r->s[F_INSTRUCTION])
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "messages", "no user turn with content");
    if (!r->s[F_OUTPUT])
        return fail(ld, ISYNTH_ERR_PARSE, r->line, "messages", "no assistant turn with content");
    return ISYNTH_OK;
}

/* Turns one parsed JSON value into a task; the value's strings are borrowed until add_task
 * has copied them. */
static isynth_err json_record(loader *ld, const json_t *v, long line)
{
    if (!json_is_object(v))
        return fail(ld, ISYNTH_ERR_PARSE, line, NULL, "expected a JSON object, found %s",
                    jsonl_type_name(v));
    if (ld->shape == SH_NONE) {
        ld->shape = detect_json_shape(ld, v);
        if (ld->shape == SH_NONE)
            return fail(ld, ISYNTH_ERR_PARSE, line, "instruction",
                        "missing: the record has none of 'instruction' (Alpaca, Self-Instruct), "
                        "'input' (ELYZA-tasks-100) or 'messages'; pass a column map");
    }
    raw r;
    raw_init(&r, line);
    isynth_err rc = ISYNTH_OK;
    switch (ld->shape) {
    case SH_ELYZA:
        rc = take_str(ld, &r, F_INSTRUCTION, v, "input", "input");
        if (!rc) rc = take_str(ld, &r, F_OUTPUT, v, "output", "output");
        break;
    case SH_ALPACA:
        rc = take_str(ld, &r, F_INSTRUCTION, v, "instruction", "instruction");
        if (!rc) rc = take_str(ld, &r, F_INPUT, v, "input", "input");
        if (!rc) rc = take_str(ld, &r, F_OUTPUT, v, "output", "output");
        break;
    case SH_SELF_INSTRUCT:
        rc = take_str(ld, &r, F_INSTRUCTION, v, "instruction", "instruction");
        if (!rc) rc = take_instances(ld, &r, v);
        break;
    case SH_MESSAGES:
        rc = take_messages(ld, &r, v);
        break;
    case SH_MAPPED:
        for (int f = 0; f < NFIELDS && !rc; f++) {
            const char *key = mapped_source(ld, f);
            if (key) rc = take_str(ld, &r, f, v, key, key);
        }
        break;
    case SH_NONE:
    case SH_RUN: /* not a JSON shape: load_run builds its records */
        break;
    }
    if (!rc && ld->shape != SH_MAPPED) rc = take_str(ld, &r, F_ID, v, "id", "id");
    if (!rc && ld->shape != SH_MAPPED)
        rc = take_str(ld, &r, F_EVAL, v, "eval_aspect", "eval_aspect");
    if (!rc) rc = take_bool(ld, &r, v, "is_classification");
    return rc ? rc : add_task(ld, &r);
}

/* Reports the first invalid UTF-8 sequence or NUL byte at offset `bad` of the text. */
static isynth_err bad_bytes(loader *ld, const char *d, size_t bad)
{
    long line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < bad; i++)
        if (d[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    size_t col = bad - line_start + 1;
    if (d[bad] == '\0')
        return fail(ld, ISYNTH_ERR_PARSE, line, NULL, "NUL byte at byte %zu of the line", col);
    return fail(ld, ISYNTH_ERR_UTF8, line, NULL,
                "invalid UTF-8 (byte 0x%02X) at byte %zu of the line", (unsigned char)d[bad], col);
}

static size_t skip_ws(const char *d, size_t len, size_t i, long *line)
{
    for (; i < len && is_space_byte(d[i]); i++)
        if (d[i] == '\n') (*line)++;
    return i;
}

/* A .json file holding one array of objects; each element keeps the line it starts on. */
static isynth_err load_json_array(loader *ld, const char *d, size_t len, size_t pos, long line)
{
    long open_line = line;
    pos = skip_ws(d, len, pos + 1, &line);
    if (pos < len && d[pos] == ']') {
        pos++;
    } else {
        for (size_t k = 0;; k++) {
            if (pos >= len)
                return fail(ld, ISYNTH_ERR_PARSE, open_line, NULL,
                            "truncated JSON: the array opened here is never closed");
            if (d[pos] != '{')
                return fail(ld, ISYNTH_ERR_PARSE, line, NULL,
                            "array element %zu: expected a JSON object", k);
            json_error_t je;
            json_t *v;
            const char *over;
            isynth_err rc =
                json_load_record(d + pos, len - pos,
                                 JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &v, &je, &over);
            if (rc && over)
                return fail(ld, ISYNTH_ERR_PARSE, line, NULL, "array element %zu: %s", k, over);
            if (rc)
                return jsonl_fail(ld->err, ld->path, (size_t)line + (je.line > 0 ? je.line - 1 : 0),
                                  rc, &je, NULL);
            rc = json_record(ld, v, line);
            json_decref(v);
            if (rc) return rc;
            for (size_t end = pos + (size_t)je.position; pos < end; pos++)
                if (d[pos] == '\n') line++;
            pos = skip_ws(d, len, pos, &line);
            if (pos < len && d[pos] == ',') {
                pos = skip_ws(d, len, pos + 1, &line);
                continue;
            }
            if (pos < len && d[pos] == ']') {
                pos++;
                break;
            }
            if (pos >= len)
                return fail(ld, ISYNTH_ERR_PARSE, open_line, NULL,
                            "truncated JSON: the array opened here is never closed");
            return fail(ld, ISYNTH_ERR_PARSE, line, NULL,
                        "expected ',' or ']' after an array element");
        }
    }
    pos = skip_ws(d, len, pos, &line);
    if (pos < len)
        return fail(ld, ISYNTH_ERR_PARSE, line, NULL, "unexpected data after the JSON array");
    return ISYNTH_OK;
}

/* JSONL through the one JSON Lines reader, over the bytes already read (their SHA-256 is the
 * set's): it skips blank lines, drops CRs and a BOM, checks each line's UTF-8 and parses it as
 * an object, naming line and column. */
static isynth_err load_json_lines(loader *ld, char *data, size_t len)
{
    FILE *f = fmemopen(data, len, "r");
    if (!f) return nomem(ld);
    isynth_jsonl_params jp = {.max_line_bytes = ld->prm.max_file_bytes};
    isynth_jsonl_reader *jr;
    isynth_err rc = jsonl_reader_open_stream(ld->path, f, &jp, &jr, ld->err);
    while (!rc) {
        const char *text;
        size_t n;
        json_t *v;
        rc = isynth_jsonl_next(jr, &text, &n, ld->err);
        if (rc || !text) break;
        rc = jsonl_object(jr, &v, ld->err);
        if (!rc) rc = json_record(ld, v, (long)isynth_jsonl_line(jr));
    }
    isynth_jsonl_close(jr);
    return rc;
}

/* A JSON array of objects (this loader's own format), else JSON lines. */
static isynth_err load_json(loader *ld, char *data, size_t len)
{
    const char *d = data;
    if (len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0) {
        d += 3;
        len -= 3;
    }
    long line = 1;
    size_t i = skip_ws(d, len, 0, &line);
    if (i >= len || d[i] != '[') return load_json_lines(ld, data, len + (size_t)(d - data));
    size_t bad;
    if (!utf8_valid(d, len, &bad)) return bad_bytes(ld, d, bad);
    return load_json_array(ld, d, len, i, line);
}

/* ---- tables: CSV and XLSX share the header and the row -------------------------------------- */

/* A header row and the column each field comes from. CSV builds it field by field from the
 * parser's callbacks, XLSX from the workbook reader's header; both then hand every data row to
 * table_row(), so shape detection, the map, empty rows and the limits behave the same. */
typedef struct header {
    char **names; /* column names, trimmed, owned */
    size_t n, cap;
    long line;        /* where the header row is */
    int col[NFIELDS]; /* column of each field, -1 when absent */
    int cls_col;
} header;

static void header_free(header *h)
{
    for (size_t k = 0; k < h->n; k++)
        isynth_free(h->names[k]);
    isynth_free(h->names);
    h->names = NULL;
    h->n = h->cap = 0;
}

/* Appends a column name (valid UTF-8, no NUL), trimmed of spaces and tabs. */
static isynth_err header_add(loader *ld, header *h, const char *p, size_t n)
{
    if (n > ld->prm.max_field_bytes) {
        char label[LABEL_MAX];
        snprintf(label, sizeof label, "header column %zu", h->n + 1);
        return fail(ld, ISYNTH_ERR_TOO_LARGE, h->line, label,
                    "%zu bytes, longer than the limit of %zu bytes", n, ld->prm.max_field_bytes);
    }
    if (h->n >= ISYNTH_XLSX_MAX_COLS) {
        char label[LABEL_MAX];
        snprintf(label, sizeof label, "header column %zu", h->n + 1);
        return fail(ld, ISYNTH_ERR_TOO_LARGE, h->line, label, "more than %u columns",
                    ISYNTH_XLSX_MAX_COLS);
    }
    if (h->n == h->cap && ARRAY_GROW(h->names, h->cap, 8)) return nomem(ld);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    if (!(h->names[h->n] = isynth_strndup(p, n))) return nomem(ld);
    h->n++;
    return ISYNTH_OK;
}

static int find_column(const header *h, const char *name)
{
    for (size_t k = 0; k < h->n; k++)
        if (ascii_ieq(h->names[k], strlen(h->names[k]), name)) return (int)k;
    return -1;
}

/* Decides the shape from the column names (or the map) and finds each field's column. */
static isynth_err header_finish(loader *ld, header *h)
{
    {
        /* named columns only (empty names are unnamed columns, never duplicates) */
        const char **named = isynth_malloc((h->n ? h->n : 1) * sizeof *named);
        if (!named) return nomem(ld);
        size_t m = 0;
        for (size_t k = 0; k < h->n; k++)
            if (h->names[k][0]) named[m++] = h->names[k];
        bool oom;
        size_t dup = find_repeated_name(named, NULL, m, true, &oom);
        const char *name = dup == (size_t)-1 ? NULL : named[dup];
        isynth_free(named);
        if (oom) return nomem(ld);
        if (name) return fail(ld, ISYNTH_ERR_PARSE, h->line, name, "duplicate column");
    }
    for (int f = 0; f < NFIELDS; f++)
        h->col[f] = -1;
    h->cls_col = find_column(h, "is_classification");
    if (ld->mapbuf) {
        ld->shape = SH_MAPPED;
        for (int f = 0; f < NFIELDS; f++) {
            const char *src = mapped_source(ld, f);
            h->col[f] = src ? find_column(h, src) : -1;
            if (ld->map[f] && h->col[f] < 0)
                return fail(ld, ISYNTH_ERR_PARSE, h->line, ld->map[f],
                            "no such column (mapped to %s)", field_names[f]);
        }
    } else if ((h->col[F_INSTRUCTION] = find_column(h, "instruction")) >= 0) {
        ld->shape = SH_ALPACA;
        h->col[F_INPUT] = find_column(h, "input");
    } else if ((h->col[F_INSTRUCTION] = find_column(h, "input")) >= 0) {
        ld->shape = SH_ELYZA;
    } else {
        buf names;
        buf_init(&names, 512);
        for (size_t k = 0; k < h->n; k++)
            if (buf_printf(&names, "%s'%s'", k ? ", " : "", h->names[k])) break;
        isynth_err rc = fail(ld, ISYNTH_ERR_PARSE, h->line, "instruction",
                             "no such column (the header has %s); expected 'instruction' "
                             "(Alpaca) or 'input' (ELYZA-tasks-100), or pass a column map",
                             names.p ? names.p : "no names");
        buf_free(&names);
        return rc;
    }
    if (ld->shape != SH_MAPPED) {
        h->col[F_OUTPUT] = find_column(h, "output");
        h->col[F_ID] = find_column(h, "id");
        h->col[F_EVAL] = find_column(h, "eval_aspect");
    }
    if (h->col[F_OUTPUT] < 0)
        return fail(ld, ISYNTH_ERR_PARSE, h->line, "output", "no such column");
    return ISYNTH_OK;
}

static isynth_err cell_bool(loader *ld, const header *h, const char *s, size_t n, raw *r)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (ascii_ieq(s, n, yes[i])) {
            r->is_classification = true;
            return ISYNTH_OK;
        }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (ascii_ieq(s, n, no[i])) return ISYNTH_OK;
    return fail(ld, ISYNTH_ERR_PARSE, r->line, h->names[h->cls_col],
                "expected true or false, found '%.*s'", (int)(n > 40 ? 40 : n), s);
}

/* One data row of exactly h->n cells (valid UTF-8 without NUL) that starts at `line`: skipped
 * when every cell is empty, otherwise checked and added as a task. */
static isynth_err table_row(loader *ld, const header *h, const char *const *cells,
                            const size_t *lens, long line)
{
    bool all_empty = true;
    for (size_t k = 0; k < h->n && all_empty; k++)
        all_empty = lens[k] == 0;
    if (all_empty) return ISYNTH_OK; /* spreadsheets export trailing ",,," rows */
    for (size_t k = 0; k < h->n; k++)
        if (lens[k] > ld->prm.max_field_bytes)
            return fail(ld, ISYNTH_ERR_TOO_LARGE, line, h->names[k],
                        "%zu bytes, longer than the limit of %zu bytes", lens[k],
                        ld->prm.max_field_bytes);
    raw r;
    raw_init(&r, line);
    for (int f = 0; f < NFIELDS; f++) {
        int k = h->col[f];
        if (k < 0) continue;
        r.s[f] = cells[k];
        r.n[f] = lens[k];
        set_label(r.name[f], h->names[k], strlen(h->names[k]));
    }
    if (h->cls_col >= 0) {
        isynth_err rc = cell_bool(ld, h, cells[h->cls_col], lens[h->cls_col], &r);
        if (rc) return rc;
    }
    return add_task(ld, &r);
}

/* ---- CSV and XLSX through the table reader ------------------------------------------------ */

/* A CSV file (over the bytes already read, whatever its extension when the format was set) or
 * the first sheet of a workbook, through the table reader, which has already refused what is
 * malformed (quotes, invalid UTF-8, NUL, unnamed or repeated header cells, values past the
 * header; hostile workbooks) naming line or row and column; records are numbered by the line
 * they start on, rows as the sheet numbers them. */
static isynth_err load_table(loader *ld, isynth_table_format fmt, char *data, size_t len)
{
    if (fmt == ISYNTH_TABLE_XLSX && isynth_table_format_from_path(ld->path) != ISYNTH_TABLE_XLSX)
        return fail(ld, ISYNTH_ERR_INVALID, 0, NULL,
                    "xlsx seeds are read by extension: name the workbook *.xlsx");
    FILE *f = NULL;
    if (fmt == ISYNTH_TABLE_CSV && !(f = fmemopen(data, len, "r"))) return nomem(ld);
    header h;
    memset(&h, 0, sizeof h);
    isynth_table_reader_params tp = isynth_table_reader_params_default();
    tp.max_line_bytes = ld->prm.max_file_bytes;
    isynth_table_reader *tr = NULL;
    isynth_err rc = table_reader_open_as(ld->path, fmt, f, &tp, &tr, ld->err);
    if (rc) goto done;
    h.line = (long)isynth_table_reader_line(tr);
    for (size_t k = 0; k < isynth_table_ncols(tr) && !rc; k++) {
        const char *name = isynth_table_col_name(tr, k);
        rc = header_add(ld, &h, name, strlen(name));
    }
    if (!rc) rc = header_finish(ld, &h);
    while (!rc) {
        const char *const *cells;
        const size_t *lens;
        rc = isynth_table_next(tr, &cells, &lens, ld->err);
        if (rc || !cells) break;
        rc = table_row(ld, &h, cells, lens, (long)isynth_table_reader_line(tr));
    }
done:
    header_free(&h);
    isynth_table_reader_close(tr);
    return rc;
}

/* ---- entry point ------------------------------------------------------------------------- */

/* The seed format of a path, by the one extension mapping (isynth_table_format_from_path). */
static isynth_seed_format format_from_name(const char *path)
{
    switch (isynth_table_format_from_path(path)) {
    case ISYNTH_TABLE_JSONL:
    case ISYNTH_TABLE_JSON:
        return ISYNTH_SEEDS_JSONL;
    case ISYNTH_TABLE_CSV:
        return ISYNTH_SEEDS_CSV;
    case ISYNTH_TABLE_XLSX:
        return ISYNTH_SEEDS_XLSX;
    case ISYNTH_TABLE_UNKNOWN:
        break;
    }
    return ISYNTH_SEEDS_AUTO;
}

/* ---- a run's kept rows as seeds (--seeds run:DIR) ------------------------------------------ */

typedef struct run_rows {
    loader *ld;
    buf content; /* every row's fields, NUL-separated: the set's SHA-256 */
} run_rows;

/* One kept row of the run; errors go to the loader's err (the walk's err is the same). */
static isynth_err add_run_row(void *user, long long id, const char *instruction, const char *input,
                              const char *output, const char *key, isynth_error *err)
{
    (void)key;
    (void)err;
    run_rows *rr = user;
    raw r;
    raw_init(&r, (long)rr->ld->set->n + 1);
    snprintf(r.idnum, sizeof r.idnum, "g%lld", id);
    r.s[F_ID] = r.idnum;
    r.n[F_ID] = strlen(r.idnum);
    const int fields[] = {F_INSTRUCTION, F_INPUT, F_OUTPUT};
    const char *text[] = {instruction, input, output};
    for (int i = 0; i < 3; i++) {
        r.s[fields[i]] = text[i] ? text[i] : "";
        r.n[fields[i]] = strlen(r.s[fields[i]]);
        if (buf_add(&rr->content, r.s[fields[i]], r.n[fields[i]] + 1)) return nomem(rr->ld);
    }
    return add_task(rr->ld, &r);
}

/* The accepted (or, after a review, the reviewers' accepted and edited) rows of the run in dir
 * as a seed set; path is "run:DIR", the shape "run", the SHA-256 that of the rows' text. */
static isynth_err load_run(loader *ld, const char *dir)
{
    isynth_store *st = NULL;
    isynth_err rc = isynth_store_open_read(dir, &st, ld->err);
    if (rc) return rc;
    run_rows rr = {.ld = ld};
    buf_init(&rr.content, ld->prm.max_file_bytes);
    bool reviewed = false;
    char *created = NULL;
    rc = isynth_store_each_kept_row(st, &reviewed, add_run_row, &rr, ld->err);
    if (!rc) rc = isynth_store_meta_get(st, "created_at", &created, ld->err);
    isynth_store_close(st);
    if (!rc) {
        buf src;
        buf_init(&src, 8192);
        if (buf_printf(&src, "%s (created %s; %zu %s rows)", dir, created ? created : "?",
                       ld->set->n, reviewed ? "reviewed" : "accepted, not reviewed") ||
            !(ld->set->source = buf_take(&src)))
            rc = nomem(ld);
        buf_free(&src);
    }
    isynth_free(created);
    if (!rc && ld->set->n == 0)
        rc = isynth_error_set(ld->err, ISYNTH_ERR_PARSE,
                              "%s: the run has no %s row to use as a seed", ld->path,
                              reviewed ? "reviewed (accepted or edited)" : "accepted");
    if (!rc) sha256_hex(rr.content.p ? rr.content.p : "", rr.content.len, ld->set->sha256);
    buf_free(&rr.content);
    return rc;
}

isynth_err isynth_seeds_load(const char *path, const isynth_seeds_params *params,
                             isynth_seedset **out, isynth_error *err)
{
    if (out) *out = NULL;
    if (!path || !out)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "seeds: a path and an output are required");
    isynth_error_clear(err);
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.path = path;
    ld.err = err;
    ld.unit = "line";
    ld.prm = params ? *params : isynth_seeds_params_default();
    isynth_seeds_params def = isynth_seeds_params_default();
    if (!ld.prm.max_file_bytes) ld.prm.max_file_bytes = def.max_file_bytes;
    if (!ld.prm.max_field_bytes) ld.prm.max_field_bytes = def.max_field_bytes;
    if (!ld.prm.max_tasks) ld.prm.max_tasks = def.max_tasks;
    char *data = NULL;
    size_t len = 0;
    isynth_err rc = ISYNTH_OK;
    if (!strncmp(path, "run:", 4)) {
        if (!path[4])
            return isynth_error_set(err, ISYNTH_ERR_INVALID, "seeds: run: needs a run directory");
        ld.unit = "row";
        ld.shape = SH_RUN;
        ld.set = isynth_calloc(1, sizeof *ld.set);
        if (!ld.set || !(ld.set->path = isynth_strdup(path)))
            rc = nomem(&ld);
        else
            rc = load_run(&ld, path + 4); /* refuses a run with no row, saying which rows */
        goto loaded;
    }
    isynth_seed_format fmt = ld.prm.format;
    if (fmt == ISYNTH_SEEDS_AUTO) fmt = format_from_name(path);
    if (fmt == ISYNTH_SEEDS_AUTO)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s: cannot tell the seed format from the file name (use .jsonl, "
                                ".json, .csv or .xlsx, or set the format)",
                                path);
    if (fmt != ISYNTH_SEEDS_JSONL && fmt != ISYNTH_SEEDS_CSV && fmt != ISYNTH_SEEDS_XLSX)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "%s: unknown seed format %d", path,
                                (int)fmt);

    if (ld.prm.map && (rc = parse_map(&ld, ld.prm.map))) goto done;
    if ((rc = read_file_limited(path, ld.prm.max_file_bytes, &data, &len, err))) goto done;
    ld.set = isynth_calloc(1, sizeof *ld.set);
    if (!ld.set || !(ld.set->path = isynth_strdup(path))) {
        rc = nomem(&ld);
        goto done;
    }
    sha256_hex(data, len, ld.set->sha256);
    const char *body = data;
    size_t blen = len;
    if (blen >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        blen -= 3;
    }
    if (is_blank(body, blen)) {
        rc = fail(&ld, ISYNTH_ERR_PARSE, 1, NULL, "empty file");
        goto done;
    }
    if (fmt == ISYNTH_SEEDS_XLSX) ld.unit = "row";
    rc = fmt == ISYNTH_SEEDS_JSONL ? load_json(&ld, data, len)
         : fmt == ISYNTH_SEEDS_CSV ? load_table(&ld, ISYNTH_TABLE_CSV, data, len)
                                   : load_table(&ld, ISYNTH_TABLE_XLSX, NULL, 0);
    if (!rc && ld.set->n == 0) rc = fail(&ld, ISYNTH_ERR_PARSE, 0, NULL, "no tasks in the file");
loaded:
    if (!rc) rc = check_unique_ids(&ld);
    if (rc) goto done;
    ld.set->shape = shape_names[ld.shape];
    ld.set->lang = lang_tally_lang(&ld.letters);
    *out = ld.set;
    ld.set = NULL;
done:
    isynth_seeds_free(ld.set);
    isynth_free(data);
    isynth_free(ld.mapbuf);
    return rc;
}
