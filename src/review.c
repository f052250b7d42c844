/* The review round trip on top of the run store. Generated text in `candidates` is never
 * changed: a reviewer's decision and edited text live in `review` (one row per task, NULL text =
 * unchanged) and every change is appended to `review_history`, so the generated text and each
 * edit stay queryable. The workbook also points the reviewer at what to distrust: the facts to
 * verify are listed and emphasised in the output, the judge's score is a number cell with a
 * conditional fill. Those columns are informational: import finds columns by header name and
 * reads only id, status, instruction, input, output and comment, so workbooks of the previous
 * release (without them) import as before. An import is all or nothing: it runs in one
 * transaction, collects every problem and rolls back if there is any; re-importing the same
 * workbook finds nothing that differs and writes nothing. */
#include "internal.h"
#include "isynth/review.h"
#include "isynth/pipeline.h"
#include "isynth/xlsx.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS review("
    "  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id),"
    "  status TEXT NOT NULL CHECK(status IN ('pending','accepted','edited','rejected')),"
    "  instruction TEXT, input TEXT, output TEXT, comment TEXT, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS review_history("
    "  id INTEGER PRIMARY KEY, candidate_id INTEGER NOT NULL, field TEXT NOT NULL,"
    "  old TEXT, new TEXT, source TEXT NOT NULL, at TEXT NOT NULL);";

static const char *STATUS[] = {"pending", "accepted", "edited", "rejected"};
static const char *STATUS_JA[] = {"未確認", "採用", "修正", "不採用"};

enum {
    C_ID,
    C_STATUS,
    C_INSTR,
    C_INPUT,
    C_OUTPUT,
    C_VERIFY,
    C_JUDGE,
    C_JREASON,
    C_SEEDS,
    C_ORIGIN,
    C_NEAREST,
    C_ROUGE,
    C_FLAGS,
    C_COMMENT,
    NCOL
};
static const char *COLS[NCOL] = {"id",      "status",  "instruction",  "input",  "output",
                                 "verify",  "judge",   "judge_reason", "seeds",  "origin",
                                 "nearest", "rouge_l", "flags",        "comment"};

/* The judge column's fills: 1-2 red, 3 amber, 4-5 green (Excel's "light fill, dark text"). */
static const isynth_xlsx_band JUDGE_BANDS[] = {
    {.min = 1, .max = 2, .fill = 0xFFC7CE, .font = 0x9C0006},
    {.min = 3, .max = 3, .fill = 0xFFEB9C, .font = 0x9C5700},
    {.min = 4, .max = 5, .fill = 0xC6EFCE, .font = 0x006100}};

static isynth_err db_err(isynth_store *st, isynth_error *err, const char *what)
{
    return isynth_error_set(err, ISYNTH_ERR_STORE, "%s/run.db: %s: %s", isynth_store_dir(st), what,
                            sqlite3_errmsg(isynth_store_db(st)));
}

static const char *txt(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

static isynth_err ensure_schema(isynth_store *st, isynth_error *err)
{
    if (sqlite3_exec(isynth_store_db(st), SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(st, err, "creating the review tables");
    return ISYNTH_OK;
}

static bool run_is_japanese(isynth_store *st)
{
    char *lang = NULL;
    isynth_store_meta_get(st, "lang", &lang, NULL);
    bool ja = lang && !strcmp(lang, "ja");
    isynth_free(lang);
    return ja;
}

/* "s3" or "g12" to its instruction, into b. */
static void ref_text(sqlite3_stmt *seed_q, sqlite3_stmt *cand_q, const char *ref, buf *b)
{
    buf_reset(b);
    if (!ref || (ref[0] != 's' && ref[0] != 'g')) return;
    sqlite3_stmt *q = ref[0] == 's' ? seed_q : cand_q;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, strtoll(ref + 1, NULL, 10));
    if (sqlite3_step(q) == SQLITE_ROW)
        buf_printf(b, "%s: %s", ref, txt(q, 0));
    else
        buf_adds(b, ref);
}

/* The first occurrence of needle in hay, or NULL. */
static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
    for (const char *p = hay; m && (size_t)(hay + n - p) >= m;) {
        p = memchr(p, needle[0], (size_t)(hay + n - p) - m + 1);
        if (!p || !memcmp(p, needle, m)) return p;
        p++;
    }
    return NULL;
}

static int span_cmp(const void *a, const void *b)
{
    const isynth_xlsx_span *x = a, *y = b;
    return x->off != y->off ? (x->off < y->off ? -1 : 1) : (x->len > y->len) - (x->len < y->len);
}

/* A row's facts as the workbook shows them: the verify cell (one fact a line) and the output's
 * marks. Each fact marks its first occurrence in the output: a fact is one claim, and a short one
 * ("3") would otherwise light up every unrelated occurrence. Overlapping marks are merged; a fact
 * not in the output (edited away) is listed but marks nothing. */
typedef struct facts {
    buf text;
    isynth_xlsx_span *marks;
    size_t nmarks, cap;
} facts;

static isynth_err add_mark(facts *f, size_t off, size_t len)
{
    if (f->nmarks == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        isynth_xlsx_span *m = isynth_realloc(f->marks, cap * sizeof *m);
        if (!m) return ISYNTH_ERR_NOMEM;
        f->marks = m;
        f->cap = cap;
    }
    f->marks[f->nmarks++] = (isynth_xlsx_span){.off = off, .len = len};
    return ISYNTH_OK;
}

/* verify (vlen bytes, NULL when absent) is a JSON array of strings; anything else is shown as it
 * is (when it is text) and marks nothing. */
static isynth_err collect_facts(facts *f, const char *verify, size_t vlen, const char *out,
                                size_t olen)
{
    buf_reset(&f->text);
    f->nmarks = 0;
    if (!verify) return ISYNTH_OK;
    json_t *a = json_loadb(verify, vlen, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return utf8_valid(verify, vlen, NULL) ? buf_add(&f->text, verify, vlen) : ISYNTH_OK;
    }
    isynth_err rc = ISYNTH_OK;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        size_t n = json_string_length(v);
        if (!json_is_string(v) || n == 0) continue;
        const char *s = json_string_value(v), *hit = find(out, olen, s, n);
        if (f->text.len) rc = buf_addc(&f->text, '\n');
        if (!rc) rc = buf_add(&f->text, s, n);
        if (!rc && hit) rc = add_mark(f, (size_t)(hit - out), n);
        if (rc) break;
    }
    json_decref(a);
    if (rc || f->nmarks < 2) return rc;
    qsort(f->marks, f->nmarks, sizeof *f->marks, span_cmp);
    size_t k = 0;
    for (size_t j = 1; j < f->nmarks; j++) {
        isynth_xlsx_span *last = &f->marks[k], *m = &f->marks[j];
        size_t end = last->off + last->len;
        if (m->off < end) {
            if (m->off + m->len > end) last->len = m->off + m->len - last->off;
        } else {
            f->marks[++k] = *m;
        }
    }
    f->nmarks = k + 1;
    return ISYNTH_OK;
}

/* The judge's reason, then "false: a; b" when it named false claims (a JSON array of strings). */
static isynth_err judge_text(buf *b, const char *reason, const char *false_claims)
{
    buf_reset(b);
    isynth_err rc = buf_adds(b, reason ? reason : "");
    json_t *a = false_claims ? json_loads(false_claims, 0, NULL) : NULL;
    size_t i, shown = 0;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (rc || !json_is_string(v) || json_string_length(v) == 0) continue;
        if (!shown++)
            rc = buf_adds(b, b->len ? "\nfalse: " : "false: ");
        else
            rc = buf_adds(b, "; ");
        if (!rc) rc = buf_add(b, json_string_value(v), json_string_length(v));
    }
    json_decref(a);
    return rc;
}

static isynth_xlsx_cell text_cell(const char *s)
{
    return (isynth_xlsx_cell){.text = s, .len = s ? strlen(s) : 0};
}

static isynth_err write_run_sheet(isynth_store *st, isynth_xlsx_writer *w, isynth_error *err)
{
    isynth_xlsx_column cols[2] = {{.name = "key", .width = 28},
                                  {.name = "value", .width = 80, .wrap = true}};
    isynth_err rc = isynth_xlsx_add_sheet(w, "run", cols, 2, err);
    sqlite3_stmt *q = NULL;
    if (!rc && sqlite3_prepare_v2(isynth_store_db(st), "SELECT key, value FROM meta ORDER BY key",
                                  -1, &q, NULL) != SQLITE_OK)
        rc = db_err(st, err, "reading the configuration");
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
        const char *kv[2] = {txt(q, 0), txt(q, 1)};
        rc = isynth_xlsx_write_row(w, kv, NULL, 2, err);
    }
    sqlite3_finalize(q);
    const char *counts[][2] = {{"tasks accepted by the filters", "accepted"},
                               {"tasks rejected by the filters", "rejected"}};
    for (size_t i = 0; i < 2 && !rc; i++) {
        long n = 0;
        rc = isynth_store_count(st, counts[i][1], &n, err);
        char v[32];
        snprintf(v, sizeof v, "%ld", n);
        const char *kv[2] = {counts[i][0], v};
        if (!rc) rc = isynth_xlsx_write_row(w, kv, NULL, 2, err);
    }
    return rc;
}

isynth_err isynth_review_export_xlsx(isynth_store *st, const char *path, bool include_rejected,
                                     size_t *rows, isynth_error *err)
{
    if (rows) *rows = 0;
    isynth_err rc = ensure_schema(st, err);
    if (rc) return rc;
    bool ja = run_is_japanese(st);
    const char **labels = ja ? STATUS_JA : STATUS;
    const char *choices[5] = {labels[0], labels[1], labels[2], labels[3], NULL};
    isynth_xlsx_column cols[NCOL] = {
        {.name = "id", .width = 10, .locked = true},
        {.name = "status", .width = 12, .choices = choices},
        {.name = "instruction", .width = 50, .wrap = true},
        {.name = "input", .width = 40, .wrap = true},
        {.name = "output", .width = 70, .wrap = true},
        {.name = "verify", .width = 30, .wrap = true, .locked = true},
        {.name = "judge", .width = 8, .numeric = true, .bands = JUDGE_BANDS, .nbands = 3},
        {.name = "judge_reason", .width = 40, .wrap = true},
        {.name = "seeds", .width = 14, .wrap = true},
        {.name = "origin", .width = 40, .wrap = true},
        {.name = "nearest", .width = 40, .wrap = true},
        {.name = "rouge_l", .width = 9},
        {.name = "flags", .width = 20, .wrap = true},
        {.name = "comment", .width = 30, .wrap = true},
    };
    sqlite3 *db = isynth_store_db(st);
    sqlite3_stmt *q = NULL, *seed_q = NULL, *cand_q = NULL;
    isynth_xlsx_writer *w = NULL;
    buf nearest, seeds, flags, jreason, origin, parent_text;
    buf_init(&origin, 1 << 20);
    buf_init(&parent_text, 1 << 20);
    char *method = NULL;
    /* runs made before there was a choice have no "method": they are Self-Instruct */
    if (isynth_store_meta_get(st, "method", &method, NULL) == ISYNTH_OK && method && !method[0]) {
        isynth_free(method);
        method = NULL;
    }
    buf_init(&nearest, 0);
    buf_init(&seeds, 0);
    buf_init(&flags, 0);
    buf_init(&jreason, 0);
    facts fx = {.marks = NULL};
    buf_init(&fx.text, 0);
    if (sqlite3_prepare_v2(db,
                           "SELECT c.id, c.status, COALESCE(r.instruction, c.instruction),"
                           " COALESCE(r.input, c.input), COALESCE(r.output, c.output),"
                           " q.examples, c.nn_ref, c.nn_score, c.reason, c.detail, q.truncated,"
                           " r.status, r.comment, c.verify, j.score, j.reason, j.false_claims"
                           " FROM candidates c JOIN requests q ON q.id = c.request_id"
                           " LEFT JOIN review r ON r.candidate_id = c.id"
                           " LEFT JOIN judgements j ON j.candidate_id = c.id"
                           " AND j.score IS NOT NULL"
                           " WHERE c.status = 'accepted' OR (?1 AND c.status = 'rejected')"
                           " ORDER BY c.id",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT instruction FROM seeds WHERE id = ?1", -1, &seed_q, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT instruction FROM candidates WHERE id = ?1", -1, &cand_q,
                           NULL) != SQLITE_OK) {
        rc = db_err(st, err, "reading the tasks");
        goto done;
    }
    sqlite3_bind_int(q, 1, include_rejected);
    rc = isynth_xlsx_writer_open(path, NULL, &w, err);
    if (!rc) rc = isynth_xlsx_add_sheet(w, "review", cols, NCOL, err);
    size_t n = 0;
    int step;
    while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
        char id[32], score[32], judge[16];
        snprintf(id, sizeof id, "g%lld", (long long)sqlite3_column_int64(q, 0));
        bool rejected = !strcmp(txt(q, 1), "rejected");
        const char *rstatus = (const char *)sqlite3_column_text(q, 11);
        size_t si = rejected ? 3 : 0;
        for (size_t k = 0; rstatus && k < 4; k++)
            if (!strcmp(rstatus, STATUS[k])) si = k;
        ref_text(seed_q, cand_q, (const char *)sqlite3_column_text(q, 6), &nearest);
        score[0] = '\0';
        if (sqlite3_column_type(q, 7) != SQLITE_NULL && sqlite3_column_double(q, 7) >= 0)
            snprintf(score, sizeof score, "%.3f", sqlite3_column_double(q, 7));
        buf_reset(&seeds);
        json_t *ex = json_loads(txt(q, 5), 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(ex, i, v)
        {
            if (json_is_string(v))
                buf_printf(&seeds, "%s%s", seeds.len ? " " : "", json_string_value(v));
        }
        json_decref(ex);
        /* how the row was made: the method, and for an evolved row its operation, round and
           parent's text, so the reviewer sees what it was rewritten from */
        buf_reset(&origin);
        char *parent = NULL, *op = NULL;
        int round = 0;
        isynth_err lrc = method && !strcmp(method, "evol")
                             ? isynth_store_get_lineage(st, sqlite3_column_int64(q, 0), &parent,
                                                        &op, &round, NULL)
                             : ISYNTH_ERR_NOT_FOUND;
        if (lrc == ISYNTH_OK) {
            ref_text(seed_q, cand_q, parent, &parent_text);
            buf_printf(&origin, "evol: %s, round %d, from %s", op, round,
                       parent_text.len ? parent_text.p : parent);
        } else if (method && strcmp(method, "self-instruct")) {
            buf_adds(&origin, method);
        }
        isynth_free(parent);
        isynth_free(op);
        buf_reset(&flags);
        if (rejected) buf_printf(&flags, "rejected: %s", txt(q, 8));
        if (sqlite3_column_type(q, 9) != SQLITE_NULL)
            buf_printf(&flags, "%s%s", flags.len ? "; " : "", txt(q, 9));
        if (sqlite3_column_int(q, 10)) buf_printf(&flags, "%struncated", flags.len ? "; " : "");
        int ck = 0;
        char *dis = NULL, *alt = NULL;
        if (!isynth_store_get_consistency(st, sqlite3_column_int64(q, 0), &ck, &dis, &alt, NULL) &&
            ck && strcmp(dis, "[]") != 0)
            buf_printf(&flags, "%sfacts that changed in %d re-answers: %s (they said %s)",
                       flags.len ? "; " : "", ck, dis, alt);
        isynth_free(dis);
        isynth_free(alt);
        const char *out = txt(q, 4);
        size_t olen = strlen(out);
        judge[0] = '\0';
        bool judged = sqlite3_column_type(q, 14) != SQLITE_NULL;
        if (judged) snprintf(judge, sizeof judge, "%d", sqlite3_column_int(q, 14));
        if (collect_facts(&fx, (const char *)sqlite3_column_blob(q, 13),
                          (size_t)sqlite3_column_bytes(q, 13), out, olen) ||
            judge_text(&jreason, judged ? txt(q, 15) : NULL, judged ? txt(q, 16) : NULL)) {
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        isynth_xlsx_cell cells[NCOL] = {
            [C_ID] = text_cell(id),
            [C_STATUS] = text_cell(labels[si]),
            [C_INSTR] = text_cell(txt(q, 2)),
            [C_INPUT] = text_cell(txt(q, 3)),
            [C_OUTPUT] = {.text = out, .len = olen, .marks = fx.marks, .nmarks = fx.nmarks},
            [C_VERIFY] = {.text = fx.text.p, .len = fx.text.len},
            [C_JUDGE] = text_cell(judge),
            [C_JREASON] = {.text = jreason.p, .len = jreason.len},
            [C_SEEDS] = {.text = seeds.p, .len = seeds.len},
            [C_ORIGIN] = {.text = origin.p, .len = origin.len},
            [C_NEAREST] = {.text = nearest.p, .len = nearest.len},
            [C_ROUGE] = text_cell(score),
            [C_FLAGS] = {.text = flags.p, .len = flags.len},
            [C_COMMENT] = text_cell(txt(q, 12)),
        };
        rc = isynth_xlsx_write_cells(w, cells, NCOL, err);
        n++;
    }
    if (!rc && step != SQLITE_DONE) rc = db_err(st, err, "reading the tasks");
    if (!rc) rc = write_run_sheet(st, w, err);
    if (!rc) {
        rc = isynth_xlsx_writer_close(w, err);
        w = NULL;
    }
    if (!rc && rows) *rows = n;
done:
    isynth_xlsx_writer_free(w);
    sqlite3_finalize(q);
    sqlite3_finalize(seed_q);
    sqlite3_finalize(cand_q);
    buf_free(&nearest);
    buf_free(&seeds);
    buf_free(&flags);
    buf_free(&jreason);
    buf_free(&origin);
    buf_free(&parent_text);
    isynth_free(method);
    buf_free(&fx.text);
    isynth_free(fx.marks);
    return rc;
}

/* ---- import ---- */

typedef struct problems {
    buf b;
    size_t n;
} problems;

static void problem(problems *p, const char *fmt, const char *a, size_t row, const char *c)
{
    p->n++;
    if (p->n > 12) return;
    buf_printf(&p->b, "\n  row %zu: ", row);
    buf_printf(&p->b, fmt, a, c);
}

static int parse_status(const char *s)
{
    for (int k = 0; k < 4; k++)
        if (!strcmp(s, STATUS[k]) || !strcmp(s, STATUS_JA[k])) return k;
    return -1;
}

typedef struct imp {
    isynth_store *st;
    sqlite3_stmt *cur, *seen, *seen_row, *hist, *upsert;
    const char *source;
    char now[21];
} imp;

static isynth_err history(imp *m, long long id, const char *field, const char *old, const char *new)
{
    sqlite3_stmt *h = m->hist;
    sqlite3_reset(h);
    sqlite3_bind_int64(h, 1, id);
    sqlite3_bind_text(h, 2, field, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 3, old, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 4, new, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 5, m->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 6, m->now, -1, SQLITE_STATIC);
    return sqlite3_step(h) == SQLITE_DONE ? ISYNTH_OK : ISYNTH_ERR_STORE;
}

/* The number of a task id written exactly as the workbook has it, "g" and 1 to 18 digits with
 * no leading zero (no sign, no space: "g +1" or "g01" is not an id); 0 otherwise. */
static long long task_id(const char *s)
{
    if (s[0] != 'g' || s[1] < '1' || s[1] > '9') return 0;
    long long id = 0;
    size_t i = 1;
    for (; s[i] >= '0' && s[i] <= '9' && i <= 18; i++)
        id = id * 10 + (s[i] - '0');
    return s[i] ? 0 : id;
}

/* Applies one workbook row; problems go to p; store failures are returned. */
static isynth_err import_row(imp *m, const isynth_xlsx_row *row, const size_t *map, problems *p,
                             isynth_review_report *rep)
{
    const char *v[NCOL];
    for (size_t k = 0; k < NCOL; k++)
        v[k] = map[k] != SIZE_MAX && map[k] < row->ncells ? row->cells[map[k]] : "";
    long long id = task_id(v[C_ID]);
    if (id <= 0) {
        problem(p, "id '%s' is not a task id (g<N>)%s", v[C_ID], row->row, "");
        return ISYNTH_OK;
    }
    sqlite3_reset(m->seen);
    sqlite3_bind_int64(m->seen, 1, id);
    sqlite3_bind_int64(m->seen, 2, (sqlite3_int64)row->row);
    if (sqlite3_step(m->seen) != SQLITE_DONE) {
        sqlite3_reset(m->seen_row);
        sqlite3_bind_int64(m->seen_row, 1, id);
        char first[32] = "?";
        if (sqlite3_step(m->seen_row) == SQLITE_ROW)
            snprintf(first, sizeof first, "%lld", (long long)sqlite3_column_int64(m->seen_row, 0));
        problem(p, "id '%s' appears twice (first at row %s)", v[C_ID], row->row, first);
        return ISYNTH_OK;
    }
    int sk = v[C_STATUS][0] ? parse_status(v[C_STATUS]) : 0;
    if (sk < 0) {
        problem(p,
                "unknown status '%s' (pending/accepted/edited/rejected or 未確認/採用/修正/"
                "不採用)%s",
                v[C_STATUS], row->row, "");
        return ISYNTH_OK;
    }
    sqlite3_stmt *c = m->cur;
    sqlite3_reset(c);
    sqlite3_bind_int64(c, 1, id);
    if (sqlite3_step(c) != SQLITE_ROW) {
        problem(p, "unknown id '%s' (not a task of this run; was the id changed?)%s", v[C_ID],
                row->row, "");
        return ISYNTH_OK;
    }
    if (p->n) return ISYNTH_OK; /* nothing will be applied: only keep checking */
    rep->rows++;
    /* columns 0..2 generated text, 3..5 reviewed text (NULL = unchanged), 6 status, 7 comment,
     * 8 filter status */
    bool has_review = sqlite3_column_type(c, 6) != SQLITE_NULL;
    const char *old_status = has_review                       ? txt(c, 6)
                             : !strcmp(txt(c, 8), "rejected") ? "rejected"
                                                              : "pending";
    static const int tcol[3] = {C_INSTR, C_INPUT, C_OUTPUT};
    static const char *tname[3] = {"instruction", "input", "output"};
    const char *newt[3];
    bool edited = false, changed = false;
    isynth_err rc = ISYNTH_OK;
    for (int k = 0; k < 3 && !rc; k++) {
        const char *gen = txt(c, k);
        const char *cur = sqlite3_column_type(c, 3 + k) != SQLITE_NULL ? txt(c, 3 + k) : gen;
        const char *nv = v[tcol[k]];
        newt[k] = strcmp(nv, gen) ? nv : NULL;
        if (newt[k]) edited = true;
        if (strcmp(nv, cur)) {
            changed = true;
            rc = history(m, id, tname[k], cur, nv);
        }
    }
    const char *new_status = STATUS[sk];
    if (edited && (sk == 0 || sk == 1)) new_status = "edited";
    if (!v[C_STATUS][0] && !edited) new_status = old_status;
    bool status_changed = strcmp(new_status, old_status) != 0;
    if (!rc && status_changed) rc = history(m, id, "status", old_status, new_status);
    bool comment_changed = strcmp(v[C_COMMENT], txt(c, 7)) != 0;
    if (!rc && comment_changed) rc = history(m, id, "comment", txt(c, 7), v[C_COMMENT]);
    if (rc || !(changed || status_changed || comment_changed)) return rc;
    sqlite3_stmt *u = m->upsert;
    sqlite3_reset(u);
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_text(u, 2, new_status, -1, SQLITE_STATIC);
    for (int k = 0; k < 3; k++)
        if (newt[k])
            sqlite3_bind_text(u, 3 + k, newt[k], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(u, 3 + k);
    if (v[C_COMMENT][0])
        sqlite3_bind_text(u, 6, v[C_COMMENT], -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(u, 6);
    sqlite3_bind_text(u, 7, m->now, -1, SQLITE_STATIC);
    if (sqlite3_step(u) != SQLITE_DONE) return ISYNTH_ERR_STORE;
    rep->status_changed += status_changed;
    rep->text_changed += changed || comment_changed;
    return ISYNTH_OK;
}

/* Headers match by name whatever the column order, ignoring ASCII case and surrounding spaces
 * (a reviewer's "Output "); columns with other names are ignored. */
static bool header_is(const char *h, size_t n, const char *name)
{
    while (n && (*h == ' ' || *h == '\t'))
        h++, n--;
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return n == strlen(name) && !strncasecmp(h, name, n);
}

isynth_err isynth_review_import_xlsx(isynth_store *st, const char *path, isynth_review_report *rep,
                                     isynth_error *err)
{
    isynth_review_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    isynth_err rc = ensure_schema(st, err);
    if (rc) return rc;
    sqlite3 *db = isynth_store_db(st);
    isynth_xlsx_reader *r = NULL;
    imp m = {.st = st, .source = path};
    utc_now(m.now);
    problems p = {.n = 0};
    buf_init(&p.b, 0);
    bool in_tx = false;
    rc = isynth_xlsx_reader_open(path, NULL, &r, err);
    if (!rc) rc = isynth_xlsx_open_sheet(r, "review", err);
    const isynth_xlsx_row *row = NULL;
    if (!rc) rc = isynth_xlsx_next_row(r, &row, err);
    if (rc) goto done;
    size_t map[NCOL];
    for (size_t k = 0; k < NCOL; k++) {
        map[k] = SIZE_MAX;
        for (size_t i = 0; row && i < row->ncells; i++)
            if (header_is(row->cells[i], row->lens[i], COLS[k])) map[k] = i;
    }
    buf missing;
    buf_init(&missing, 0);
    for (size_t k = 0; k <= C_OUTPUT; k++)
        if (map[k] == SIZE_MAX) buf_printf(&missing, "%s%s", missing.len ? ", " : "", COLS[k]);
    if (missing.len) {
        rc = isynth_error_set(err, ISYNTH_ERR_PARSE,
                              "%s: import refused, nothing applied: sheet 'review' has no "
                              "column %s",
                              path, missing.p);
        buf_free(&missing);
        goto done;
    }
    buf_free(&missing);
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE IF NOT EXISTS import_seen(id INTEGER PRIMARY KEY, row "
                     "INTEGER NOT NULL); DELETE FROM import_seen;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT c.instruction, c.input, c.output, r.instruction, r.input,"
                           " r.output, r.status, r.comment, c.status FROM candidates c"
                           " LEFT JOIN review r ON r.candidate_id = c.id"
                           " WHERE c.id = ?1 AND c.status IN ('accepted', 'rejected')",
                           -1, &m.cur, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO import_seen(id, row) VALUES(?1, ?2)", -1, &m.seen,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT row FROM import_seen WHERE id = ?1", -1, &m.seen_row,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO review_history(candidate_id, field, old, new, source, at)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &m.hist, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO review(candidate_id, status, instruction, input, output,"
                           " comment, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                           " ON CONFLICT(candidate_id) DO UPDATE SET status = excluded.status,"
                           " instruction = excluded.instruction, input = excluded.input,"
                           " output = excluded.output, comment = excluded.comment,"
                           " updated_at = excluded.updated_at",
                           -1, &m.upsert, NULL) != SQLITE_OK) {
        rc = db_err(st, err, "preparing the import");
        goto done;
    }
    rc = isynth_store_begin(st, err);
    if (rc) goto done;
    in_tx = true;
    for (;;) {
        rc = isynth_xlsx_next_row(r, &row, err);
        if (rc || !row) break;
        rc = import_row(&m, row, map, &p, rep);
        if (rc) {
            rc = db_err(st, err, "applying the review");
            break;
        }
    }
    if (!rc && p.n) {
        rc = isynth_error_set(err, ISYNTH_ERR_PARSE,
                              "%s: import refused, nothing applied (%zu problem%s):%s%s", path, p.n,
                              p.n == 1 ? "" : "s", p.b.p ? p.b.p : "", p.n > 12 ? "\n  ..." : "");
    }
    if (!rc) {
        rc = isynth_store_commit(st, err);
        in_tx = false;
    }
done:
    if (in_tx) isynth_store_rollback(st);
    if (rc) memset(rep, 0, sizeof *rep);
    sqlite3_finalize(m.cur);
    sqlite3_finalize(m.seen);
    sqlite3_finalize(m.seen_row);
    sqlite3_finalize(m.hist);
    sqlite3_finalize(m.upsert);
    isynth_xlsx_reader_close(r);
    buf_free(&p.b);
    return rc;
}

/* ---- dataset ---- */

isynth_err isynth_review_export_jsonl(isynth_store *st, const char *path, isynth_dataset_format fmt,
                                      size_t *rows, isynth_error *err)
{
    if (rows) *rows = 0;
    isynth_err rc = ensure_schema(st, err);
    if (rc) return rc;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(isynth_store_db(st),
                           "SELECT c.id, COALESCE(r.instruction, c.instruction),"
                           " COALESCE(r.input, c.input), COALESCE(r.output, c.output)"
                           " FROM candidates c JOIN review r ON r.candidate_id = c.id"
                           " WHERE r.status IN ('accepted', 'edited') ORDER BY c.id",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(st, err, "reading the reviewed tasks");
    atomic_file a;
    rc = atomic_open(&a, path, err);
    if (rc) {
        sqlite3_finalize(q);
        return rc;
    }
    buf b;
    buf_init(&b, 0);
    size_t n = 0;
    int step;
    while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
        const char *in = txt(q, 1), *inp = txt(q, 2), *out = txt(q, 3);
        buf_reset(&b);
        if (fmt == ISYNTH_DATASET_ALPACA) {
            rc = buf_adds(&b, "{\"instruction\":");
            rc = rc ? rc : buf_add_json_str(&b, in, strlen(in));
            rc = rc ? rc : buf_adds(&b, ",\"input\":");
            rc = rc ? rc : buf_add_json_str(&b, inp, strlen(inp));
            rc = rc ? rc : buf_adds(&b, ",\"output\":");
            rc = rc ? rc : buf_add_json_str(&b, out, strlen(out));
        } else {
            buf user;
            buf_init(&user, 0);
            rc = buf_adds(&user, in);
            if (!rc && inp[0]) rc = buf_printf(&user, "\n\n%s", inp);
            rc = rc ? rc : buf_adds(&b, "{\"messages\":[{\"role\":\"user\",\"content\":");
            rc = rc ? rc : buf_add_json_str(&b, user.p ? user.p : "", user.len);
            rc = rc ? rc : buf_adds(&b, "},{\"role\":\"assistant\",\"content\":");
            rc = rc ? rc : buf_add_json_str(&b, out, strlen(out));
            rc = rc ? rc : buf_adds(&b, "}]");
            buf_free(&user);
        }
        rc =
            rc ? rc : buf_printf(&b, ",\"id\":\"g%lld\"}\n", (long long)sqlite3_column_int64(q, 0));
        if (rc)
            rc = isynth_error_set(err, rc, "%s: out of memory", path);
        else if (fwrite(b.p, 1, b.len, a.f) != b.len)
            rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", path);
        n++;
    }
    if (!rc && step != SQLITE_DONE) rc = db_err(st, err, "reading the reviewed tasks");
    sqlite3_finalize(q);
    buf_free(&b);
    if (rc) {
        atomic_abort(&a);
        return rc;
    }
    rc = atomic_commit(&a, err);
    if (!rc) rc = isynth_export_card(st, err);
    if (!rc && rows) *rows = n;
    return rc;
}
