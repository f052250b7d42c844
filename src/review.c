/* The review round trip on top of the run store. Generated text is never changed: the store
 * keeps a reviewer's decision and edited text beside it and appends every change to a history
 * (isynth_store_put_review), so the generated text and each edit stay queryable; this file
 * knows the workbook, the store knows the tables. The workbook also points the reviewer at what
 * to distrust: the facts to verify are listed and emphasised in the output, the judge's score is
 * a number cell with a conditional fill. Those columns are informational: import finds columns
 * by header name and reads only id, status, instruction, input, output and comment, so
 * workbooks of the previous release (without them) import as before. An import is all or
 * nothing: it runs in one transaction, collects every problem and rolls back if there is any;
 * re-importing the same workbook finds nothing that differs and writes nothing. */
#include "internal.h"
#include "isynth/review.h"
#include "isynth/export.h"
#include "isynth/xlsx.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The workbook's status labels, in isynth_review_status order. */
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

static bool run_is_japanese(isynth_store *st)
{
    char *lang = NULL;
    isynth_store_meta_get(st, "lang", &lang, NULL);
    bool ja = lang && !strcmp(lang, "ja");
    isynth_free(lang);
    return ja;
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
    if (f->nmarks == f->cap && ARRAY_GROW(f->marks, f->cap, 8)) return ISYNTH_ERR_NOMEM;
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

static isynth_err meta_line(void *w, const char *key, const char *value, isynth_error *err)
{
    const char *kv[2] = {key, value};
    return isynth_xlsx_write_row(w, kv, NULL, 2, err);
}

static isynth_err write_run_sheet(isynth_store *st, isynth_xlsx_writer *w, isynth_error *err)
{
    isynth_xlsx_column cols[2] = {{.name = "key", .width = 28},
                                  {.name = "value", .width = 80, .wrap = true}};
    isynth_err rc = isynth_xlsx_add_sheet(w, "run", cols, 2, err);
    if (!rc) rc = isynth_store_each_meta(st, meta_line, w, err);
    const char *counts[2] = {"tasks accepted by the filters", "tasks rejected by the filters"};
    const isynth_cand_status status[2] = {ISYNTH_CAND_ACCEPTED, ISYNTH_CAND_REJECTED};
    for (size_t i = 0; i < 2 && !rc; i++) {
        long n = 0;
        rc = isynth_store_count(st, status[i], &n, err);
        char v[32];
        snprintf(v, sizeof v, "%ld", n);
        const char *kv[2] = {counts[i], v};
        if (!rc) rc = isynth_xlsx_write_row(w, kv, NULL, 2, err);
    }
    return rc;
}

/* The review sheet being written: the workbook, and the cells made for each row. */
typedef struct sheet {
    isynth_store *st;
    isynth_xlsx_writer *w;
    const char **labels;
    char *method; /* the run's method; NULL: Self-Instruct, also for runs made before a choice */
    buf nearest, seeds, flags, jreason, origin, parent_text;
    facts fx;
    size_t n;
} sheet;

/* A cell that could not be made (rc from the buffers): out of memory, or past their cap. */
static isynth_err cell_fail(isynth_err rc, isynth_error *err)
{
    return isynth_error_set(err, rc, "review sheet: %s",
                            rc == ISYNTH_ERR_TOO_LARGE ? "a cell's text passes 1 MiB"
                                                       : "out of memory");
}

/* A ref ("s3", "g12") as the workbook shows it, into b: "s3: <its instruction>", or the ref
 * alone when it names no task; nothing for NULL. */
static isynth_err ref_text(isynth_store *st, const char *ref, buf *b, isynth_error *err)
{
    buf_reset(b);
    if (!ref) return ISYNTH_OK;
    char *text = NULL;
    isynth_err rc = isynth_store_ref_instruction(st, ref, &text, err);
    if (rc == ISYNTH_OK)
        rc = buf_printf(b, "%s: %s", ref, text);
    else if (rc == ISYNTH_ERR_NOT_FOUND)
        rc = buf_adds(b, ref);
    else
        return rc;
    isynth_free(text);
    return rc ? cell_fail(rc, err) : ISYNTH_OK;
}

/* How the row was made: the method, and for an evolved row its operation, round and parent's
 * text, so the reviewer sees what it was rewritten from. */
static isynth_err origin_text(sheet *sh, long long id, isynth_error *err)
{
    buf_reset(&sh->origin);
    if (!sh->method) return ISYNTH_OK;
    char *parent = NULL, *op = NULL;
    int round = 0;
    isynth_err rc = !strcmp(sh->method, "evol")
                        ? isynth_store_get_lineage(sh->st, id, &parent, &op, &round, err)
                        : ISYNTH_ERR_NOT_FOUND;
    if (rc == ISYNTH_OK) {
        rc = ref_text(sh->st, parent, &sh->parent_text, err);
        isynth_err brc = rc ? ISYNTH_OK
                            : buf_printf(&sh->origin, "evol: %s, round %d, from %s", op, round,
                                         sh->parent_text.len ? sh->parent_text.p : parent);
        if (brc) rc = cell_fail(brc, err);
    } else if (rc == ISYNTH_ERR_NOT_FOUND) {
        rc = strcmp(sh->method, "self-instruct") ? buf_adds(&sh->origin, sh->method) : ISYNTH_OK;
        if (rc) rc = cell_fail(rc, err);
    }
    isynth_free(parent);
    isynth_free(op);
    return rc;
}

/* The flags cell: the filters' reason of a rejected row, their detail, a truncated reply, and
 * the facts that changed across re-answers (--consistency). */
static isynth_err flags_text(sheet *sh, const isynth_review_rec *r, isynth_error *err)
{
    buf *f = &sh->flags;
    buf_reset(f);
    isynth_err rc = ISYNTH_OK;
    if (r->rejected) rc = buf_printf(f, "rejected: %s", r->reason ? r->reason : "");
    if (!rc && r->detail) rc = buf_printf(f, "%s%s", f->len ? "; " : "", r->detail);
    if (!rc && r->truncated) rc = buf_printf(f, "%struncated", f->len ? "; " : "");
    if (rc) return cell_fail(rc, err);
    int ck = 0;
    char *dis = NULL, *alt = NULL;
    rc = isynth_store_get_consistency(sh->st, r->id, &ck, &dis, &alt, err);
    if (!rc && ck && strcmp(dis, "[]") != 0 &&
        (rc = buf_printf(f, "%sfacts that changed in %d re-answers: %s (they said %s)",
                         f->len ? "; " : "", ck, dis, alt)))
        rc = cell_fail(rc, err);
    isynth_free(dis);
    isynth_free(alt);
    return rc;
}

static isynth_err sheet_row(void *user, const isynth_review_rec *r, isynth_error *err)
{
    sheet *sh = user;
    char id[32], score[32], judge[16];
    snprintf(id, sizeof id, "g%lld", r->id);
    score[0] = '\0';
    if (r->nn_score >= 0) snprintf(score, sizeof score, "%.3f", r->nn_score);
    judge[0] = '\0';
    if (r->judge_score) snprintf(judge, sizeof judge, "%d", r->judge_score);
    buf_reset(&sh->seeds);
    isynth_err rc = ISYNTH_OK;
    for (size_t i = 0; i < r->nexamples && !rc; i++)
        rc = buf_printf(&sh->seeds, "%s%s", i ? " " : "", r->examples[i]);
    size_t olen = strlen(r->output);
    if (!rc) rc = collect_facts(&sh->fx, r->verify, r->verify_len, r->output, olen);
    if (!rc) rc = judge_text(&sh->jreason, r->judge_reason, r->judge_false_claims);
    if (rc) return cell_fail(rc, err);
    if ((rc = ref_text(sh->st, r->nn_ref, &sh->nearest, err)) ||
        (rc = origin_text(sh, r->id, err)) || (rc = flags_text(sh, r, err)))
        return rc;
    isynth_xlsx_cell cells[NCOL] = {
        [C_ID] = text_cell(id),
        [C_STATUS] = text_cell(sh->labels[r->status]),
        [C_INSTR] = text_cell(r->instruction),
        [C_INPUT] = text_cell(r->input),
        [C_OUTPUT] = {.text = r->output,
                      .len = olen,
                      .marks = sh->fx.marks,
                      .nmarks = sh->fx.nmarks},
        [C_VERIFY] = {.text = sh->fx.text.p, .len = sh->fx.text.len},
        [C_JUDGE] = text_cell(judge),
        [C_JREASON] = {.text = sh->jreason.p, .len = sh->jreason.len},
        [C_SEEDS] = {.text = sh->seeds.p, .len = sh->seeds.len},
        [C_ORIGIN] = {.text = sh->origin.p, .len = sh->origin.len},
        [C_NEAREST] = {.text = sh->nearest.p, .len = sh->nearest.len},
        [C_ROUGE] = text_cell(score),
        [C_FLAGS] = {.text = sh->flags.p, .len = sh->flags.len},
        [C_COMMENT] = text_cell(r->comment),
    };
    rc = isynth_xlsx_write_cells(sh->w, cells, NCOL, err);
    if (!rc) sh->n++;
    return rc;
}

isynth_err isynth_review_export_xlsx(isynth_store *st, const char *path, bool include_rejected,
                                     size_t *rows, isynth_error *err)
{
    if (rows) *rows = 0;
    isynth_err rc = isynth_store_review_init(st, err);
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
    sheet sh = {.st = st, .labels = labels};
    buf *bufs[] = {&sh.nearest, &sh.seeds,   &sh.flags,      &sh.jreason,
                   &sh.origin,  &sh.fx.text, &sh.parent_text};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        buf_init(bufs[i], 1 << 20);
    if (isynth_store_meta_get(st, "method", &sh.method, NULL) == ISYNTH_OK && sh.method &&
        !sh.method[0]) {
        isynth_free(sh.method);
        sh.method = NULL;
    }
    rc = isynth_xlsx_writer_open(path, NULL, &sh.w, err);
    if (!rc) rc = isynth_xlsx_add_sheet(sh.w, "review", cols, NCOL, err);
    if (!rc)
        rc = isynth_store_each_review_row(
            st, include_rejected ? ISYNTH_REVIEW_ROWS_FILTERED : ISYNTH_REVIEW_ROWS_ACCEPTED,
            sheet_row, &sh, err);
    if (!rc) rc = write_run_sheet(st, sh.w, err);
    if (!rc) {
        rc = isynth_xlsx_writer_close(sh.w, err);
        sh.w = NULL;
    }
    if (!rc && rows) *rows = sh.n;
    isynth_xlsx_writer_free(sh.w);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        buf_free(bufs[i]);
    isynth_free(sh.method);
    isynth_free(sh.fx.marks);
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

/* The task ids of the rows read so far, each with the row it was first read at: an open
 * addressing table (ids are > 0; 0 marks a free slot) kept at most half full. */
typedef struct seen_slot {
    long long id;
    size_t row;
} seen_slot;
typedef struct seen_ids {
    seen_slot *slot;
    size_t n, cap; /* cap: 0 or a power of two */
} seen_ids;

static seen_slot *seen_find(seen_slot *slot, size_t cap, long long id)
{
    size_t i = (size_t)((unsigned long long)id * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
    while (slot[i].id && slot[i].id != id)
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* *first gets the row id was first read at, or 0 when it is new (it is then recorded). */
static isynth_err seen_add(seen_ids *s, long long id, size_t row, size_t *first)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        seen_slot *t = isynth_calloc(cap, sizeof *t);
        if (!t) return ISYNTH_ERR_NOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i].id) *seen_find(t, cap, s->slot[i].id) = s->slot[i];
        isynth_free(s->slot);
        s->slot = t;
        s->cap = cap;
    }
    seen_slot *e = seen_find(s->slot, s->cap, id);
    *first = e->id ? e->row : 0;
    if (!e->id) {
        *e = (seen_slot){.id = id, .row = row};
        s->n++;
    }
    return ISYNTH_OK;
}

typedef struct imp {
    isynth_store *st;
    seen_ids seen;
    const char *source;
    char now[21];
} imp;

/* The number of a task id written exactly as the workbook has it ("g12", a ref of the run:
 * "g +1" or "g01" is not an id); 0 otherwise. */
static long long task_id(const char *s)
{
    char kind;
    long long id;
    return isynth_store_parse_ref(s, &kind, &id) && kind == 'g' ? id : 0;
}

/* Applies one workbook row; problems go to p; store failures are returned. */
static isynth_err import_row(imp *m, const isynth_xlsx_row *row, const size_t *map, problems *p,
                             isynth_review_report *rep, isynth_error *err)
{
    const char *v[NCOL];
    for (size_t k = 0; k < NCOL; k++)
        v[k] = map[k] != SIZE_MAX && map[k] < row->ncells ? row->cells[map[k]] : "";
    long long id = task_id(v[C_ID]);
    if (id <= 0) {
        problem(p, "id '%s' is not a task id (g<N>)%s", v[C_ID], row->row, "");
        return ISYNTH_OK;
    }
    size_t first;
    if (seen_add(&m->seen, id, row->row, &first))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (first) {
        char at[32];
        snprintf(at, sizeof at, "%zu", first);
        problem(p, "id '%s' appears twice (first at row %s)", v[C_ID], row->row, at);
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
    isynth_review_state cur;
    isynth_err rc = isynth_store_get_review(m->st, id, &cur, err);
    if (rc == ISYNTH_ERR_NOT_FOUND) {
        problem(p, "unknown id '%s' (not a task of this run; was the id changed?)%s", v[C_ID],
                row->row, "");
        return ISYNTH_OK;
    }
    if (rc) return rc;
    if (p->n) { /* nothing will be applied: only keep checking */
        isynth_store_review_state_clear(&cur);
        return ISYNTH_OK;
    }
    rep->rows++;
    const char *gen[3] = {cur.instruction, cur.input, cur.output};
    const char *shown[3] = {v[C_INSTR], v[C_INPUT], v[C_OUTPUT]};
    bool edited = false;
    for (int k = 0; k < 3; k++)
        edited = edited || strcmp(shown[k], gen[k]);
    isynth_review_status status = (isynth_review_status)sk;
    if (edited && (status == ISYNTH_REVIEW_PENDING || status == ISYNTH_REVIEW_ACCEPTED))
        status = ISYNTH_REVIEW_EDITED;
    if (!v[C_STATUS][0] && !edited) status = cur.status;
    isynth_store_review_state_clear(&cur);
    isynth_review_put d = {.id = id,
                           .status = status,
                           .instruction = shown[0],
                           .input = shown[1],
                           .output = shown[2],
                           .comment = v[C_COMMENT],
                           .source = m->source,
                           .at = m->now};
    isynth_review_changes ch;
    rc = isynth_store_put_review(m->st, &d, &ch, err);
    rep->status_changed += ch.status;
    rep->text_changed += ch.text || ch.comment;
    return rc;
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
    isynth_err rc = isynth_store_review_init(st, err);
    if (rc) return rc;
    isynth_xlsx_reader *r = NULL;
    imp m = {.st = st, .source = path};
    utc_now(m.now);
    problems p = {.n = 0};
    buf_init(&p.b, BUF_MAX_MESSAGE);
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
    buf_init(&missing, BUF_MAX_MESSAGE);
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
    rc = isynth_store_begin(st, err);
    if (rc) goto done;
    in_tx = true;
    for (;;) {
        rc = isynth_xlsx_next_row(r, &row, err);
        if (rc || !row) break;
        rc = import_row(&m, row, map, &p, rep, err);
        if (rc) break;
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
    isynth_free(m.seen.slot);
    isynth_xlsx_reader_close(r);
    buf_free(&p.b);
    return rc;
}

/* ---- dataset ---- */

/* The reviewed dataset being written. */
typedef struct dataset {
    atomic_file a;
    isynth_dataset_format fmt;
    buf user; /* the messages format's user turn */
    size_t n;
} dataset;

/* One task as a dataset line: in the chosen shape, then its id. */
static json_t *dataset_line(dataset *d, const isynth_review_rec *r, const char *id)
{
    json_t *o = json_object();
    if (d->fmt == ISYNTH_DATASET_ALPACA) {
        if (json_object_set_new(o, "instruction", json_string(r->instruction)) ||
            json_object_set_new(o, "input", json_string(r->input)) ||
            json_object_set_new(o, "output", json_string(r->output)))
            goto fail;
    } else {
        buf_reset(&d->user);
        if (buf_adds(&d->user, r->instruction) ||
            (r->input[0] && buf_printf(&d->user, "\n\n%s", r->input)))
            goto fail;
        json_t *msgs =
            json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "user", "content",
                      d->user.p ? d->user.p : "", "role", "assistant", "content", r->output);
        if (json_object_set_new(o, "messages", msgs)) goto fail;
    }
    if (!json_object_set_new(o, "id", json_string(id))) return o;
fail:
    json_decref(o);
    return NULL;
}

static isynth_err dataset_row(void *user, const isynth_review_rec *r, isynth_error *err)
{
    dataset *d = user;
    char id[32];
    snprintf(id, sizeof id, "g%lld", r->id);
    json_t *o = dataset_line(d, r, id);
    char *line = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line)
        return isynth_error_set(err, ISYNTH_ERR_NOMEM,
                                "%s: %s: no JSON line (out of memory, or text not UTF-8)",
                                d->a.path, id);
    bool ok = fputs(line, d->a.f) >= 0 && fputc('\n', d->a.f) != EOF;
    isynth_free(line);
    if (!ok) return isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", d->a.path);
    d->n++;
    return ISYNTH_OK;
}

isynth_err isynth_review_export_jsonl(isynth_store *st, const char *path, isynth_dataset_format fmt,
                                      size_t *rows, isynth_error *err)
{
    if (rows) *rows = 0;
    isynth_err rc = isynth_store_review_init(st, err);
    if (rc) return rc;
    dataset d = {.fmt = fmt};
    rc = atomic_open(&d.a, path, err);
    if (rc) return rc;
    buf_init(&d.user, 1 << 20);
    rc = isynth_store_each_review_row(st, ISYNTH_REVIEW_ROWS_KEPT, dataset_row, &d, err);
    buf_free(&d.user);
    if (rc) {
        atomic_abort(&d.a);
        return rc;
    }
    rc = atomic_commit(&d.a, err);
    if (!rc) rc = isynth_export_card(st, err);
    if (!rc && rows) *rows = d.n;
    return rc;
}
