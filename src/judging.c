/* Judging a run: every accepted row without a score goes to the judge (judge.c), and each
 * outcome is one transaction in run.db, the same ledger rule as generation: kill -9 loses at
 * most the rows in flight. A score below the minimum rejects the row with reason "judge". */
#include "isynth/judge.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct jrow {
    long long id;
    char *instruction, *input, *output;
    char *parent; /* Evol-Instruct: the task it rewrote, or NULL */
} jrow;

typedef struct jstate {
    isynth_store *st;
    const isynth_judge_run_params *p;
    jrow *rows;
    size_t n, cap, next;
    long done, judged, failed;
    bool evol;          /* the run is Evol-Instruct: rows are judged beside their parents */
    isynth_task *seeds; /* its seeds, in run.db's order (parents "s<N>") */
    size_t n_seeds, cap_seeds;
} jstate;

static isynth_err keep_seed(void *user, const isynth_task *seed, isynth_error *err)
{
    jstate *s = user;
    if (s->n_seeds == s->cap_seeds && ARRAY_GROW(s->seeds, s->cap_seeds, 64))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = task_init(&s->seeds[s->n_seeds], NULL, seed->instruction, seed->input, "");
    if (rc) return isynth_error_set(err, rc, "out of memory");
    s->n_seeds++;
    return ISYNTH_OK;
}

/* An evolved row's parent as the judge sees it: its instruction, then its input. *out is NULL
 * for a row without lineage. */
static isynth_err parent_text(jstate *s, long long id, char **out, isynth_error *err)
{
    *out = NULL;
    char *ref = NULL, *op = NULL;
    int round = 0;
    isynth_err rc = isynth_store_get_lineage(s->st, id, &ref, &op, &round, err);
    if (rc == ISYNTH_ERR_NOT_FOUND) return ISYNTH_OK;
    if (rc) return rc;
    isynth_task own = {0};
    const isynth_task *t = NULL;
    long long n = strtoll(ref + 1, NULL, 10);
    if (ref[0] == 's' && n >= 1 && (size_t)n <= s->n_seeds) {
        t = &s->seeds[n - 1];
    } else if (ref[0] == 'g') {
        rc = isynth_store_get_candidate(s->st, n, &own, err);
        if (rc == ISYNTH_ERR_NOT_FOUND) rc = ISYNTH_OK;
        if (!rc && own.instruction) t = &own;
    }
    buf b;
    buf_init(&b, 1 << 20);
    if (!rc && t &&
        (buf_adds(&b, t->instruction) ||
         (t->input && t->input[0] && buf_printf(&b, "\n\n%s", t->input)) || !(*out = buf_take(&b))))
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    buf_free(&b);
    isynth_task_clear(&own);
    isynth_free(ref);
    isynth_free(op);
    return rc;
}

isynth_judge_run_params isynth_judge_run_params_default(void)
{
    return (isynth_judge_run_params){
        .judge = isynth_judge_params_default(),
        .min_score = 0,
    };
}

static isynth_err collect(void *user, const isynth_row_rec *row, isynth_error *err)
{
    jstate *s = user;
    if (s->n == s->cap && ARRAY_GROW(s->rows, s->cap, 64))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    jrow *r = &s->rows[s->n];
    r->id = row->id;
    r->instruction = isynth_strdup(row->instruction ? row->instruction : "");
    r->input = isynth_strdup(row->input ? row->input : "");
    r->output = isynth_strdup(row->output ? row->output : "");
    r->parent = NULL;
    isynth_err rc = !r->instruction || !r->input || !r->output
                        ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
                    : s->evol ? parent_text(s, row->id, &r->parent, err)
                              : ISYNTH_OK;
    if (rc) {
        isynth_free(r->instruction);
        isynth_free(r->input);
        isynth_free(r->output);
        return rc; /* the lineage lookup's own error, when it was that */
    }
    s->n++;
    return ISYNTH_OK;
}

static isynth_err next_row(void *user, isynth_judge_row *row, bool *have, isynth_error *err)
{
    (void)err;
    jstate *s = user;
    *have = s->next < s->n;
    if (!*have) return ISYNTH_OK;
    jrow *r = &s->rows[s->next++];
    *row = (isynth_judge_row){.id = (uint64_t)r->id,
                              .instruction = r->instruction,
                              .input = r->input,
                              .output = r->output,
                              .parent = r->parent};
    return ISYNTH_OK;
}

static isynth_err on_done(void *user, const isynth_judge_outcome *o, isynth_error *err)
{
    jstate *s = user;
    const isynth_judgement *j = o->status == ISYNTH_OK ? o->judgement : NULL;
    char *claims = j ? isynth_judgement_claims_json(j) : NULL;
    if (j && !claims) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    char why[256] = "";
    if (!j) snprintf(why, sizeof why, "%s", o->error ? o->error : isynth_strerror(o->status));
    isynth_judgement_rec rec = {
        .candidate_id = (long long)o->id,
        .score = j ? j->score : 0,
        .reason = j ? j->reason : NULL,
        .false_claims = claims,
        .model = o->model,
        .error = j ? NULL : why,
    };
    isynth_err rc = isynth_store_begin(s->st, err);
    if (!rc) rc = isynth_store_put_judgement(s->st, &rec, err);
    if (!rc && j && s->p->min_score > 0 && j->score < s->p->min_score) {
        char detail[128];
        snprintf(detail, sizeof detail, "judge score %d < %d", j->score, s->p->min_score);
        rc = isynth_store_reject(s->st, (long long)o->id, "judge", detail, err);
    }
    if (!rc)
        rc = isynth_store_commit(s->st, err);
    else
        isynth_store_rollback(s->st);
    isynth_free(claims);
    if (rc) return rc;
    s->done++;
    if (j)
        s->judged++;
    else
        s->failed++;
    if (s->p->progress) s->p->progress(s->p->progress_user, s->done, (long)s->n, s->failed);
    return ISYNTH_OK;
}

isynth_err isynth_judge_store(isynth_store *st, isynth_backend *be,
                              const isynth_judge_run_params *p, long *judged, long *failed,
                              isynth_error *err)
{
    jstate s = {.st = st, .p = p};
    isynth_judge_params jp = p->judge;
    char *lang = NULL;
    isynth_err rc = isynth_store_meta_get(st, "lang", &lang, err);
    if (rc) return rc;
    jp.lang = lang && !strcmp(lang, "en") ? ISYNTH_LANG_EN : ISYNTH_LANG_JA;
    isynth_free(lang);
    char *method = NULL;
    if ((rc = isynth_store_meta_get(st, "method", &method, err))) return rc;
    s.evol = method && !strcmp(method, "evol");
    isynth_free(method);
    if (s.evol) rc = isynth_store_each_seed(st, keep_seed, &s, err);
    if (!rc) rc = isynth_store_each_row(st, ISYNTH_CAND_ACCEPTED, true, collect, &s, err);
    if (rc == ISYNTH_ERR_NOMEM) isynth_error_set(err, rc, "out of memory");
    if (!rc && s.n) rc = isynth_judge_run(be, &jp, next_row, on_done, &s, p->stop, err);
    for (size_t i = 0; i < s.n; i++) {
        isynth_free(s.rows[i].instruction);
        isynth_free(s.rows[i].input);
        isynth_free(s.rows[i].output);
        isynth_free(s.rows[i].parent);
    }
    isynth_free(s.rows);
    for (size_t i = 0; i < s.n_seeds; i++)
        isynth_task_clear(&s.seeds[i]);
    isynth_free(s.seeds);
    if (judged) *judged = s.judged;
    if (failed) *failed = s.failed;
    return rc;
}
