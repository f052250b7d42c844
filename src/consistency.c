/* Self-consistency: the generating model is asked each accepted row's instruction k more times,
 * and the row's facts to verify (verify.c) are looked for in the re-answers. A fact most
 * re-answers do not repeat is a cheap sign of an invented one (a model that knows a date gives
 * it every time; one that guesses gives a new one). Each checked row is one transaction, so an
 * interrupted check continues where it stopped. */
#include "isynth/consistency.h"
#include "isynth/normalize.h"
#include "isynth/prompt.h"
#include "isynth/verify.h"
#include "internal.h"

#include <jansson.h>
#include <string.h>

#define MAX_K 16

typedef struct crow {
    long long id;
    isynth_task task;
    char *verify;
    char *answers[MAX_K];
    int submitted, got, failed;
} crow;

typedef struct cstate {
    isynth_store *st;
    isynth_backend *be;
    const isynth_consistency_params *p;
    isynth_prompt_params pp;
    isynth_verifier *vf;
    bool chat;
    crow *rows;
    size_t n, cap, next;
    long done, flagged;
    isynth_error *err;
} cstate;

isynth_consistency_params isynth_consistency_params_default(void)
{
    return (isynth_consistency_params){
        .k = 3, .temperature = 0.7f, .max_tokens = 512, .chat = true, .seed = 1};
}

static void crow_clear(crow *r)
{
    isynth_task_clear(&r->task);
    isynth_free(r->verify);
    for (int i = 0; i < MAX_K; i++)
        isynth_free(r->answers[i]);
    memset(r, 0, sizeof *r);
}

static isynth_err collect(void *user, const isynth_row_rec *row, isynth_error *err)
{
    cstate *s = user;
    if (s->n == s->cap && ARRAY_GROW(s->rows, s->cap, 64))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    crow *r = &s->rows[s->n];
    memset(r, 0, sizeof *r);
    r->id = row->id;
    r->task.id = isynth_strdup("");
    r->task.instruction = isynth_strdup(row->instruction ? row->instruction : "");
    r->task.input = isynth_strdup(row->input ? row->input : "");
    r->task.output = isynth_strdup(row->output ? row->output : "");
    r->task.eval_aspect = isynth_strdup("");
    r->verify = isynth_strdup(row->verify ? row->verify : "[]");
    if (!r->task.id || !r->task.instruction || !r->task.input || !r->task.output ||
        !r->task.eval_aspect || !r->verify) {
        crow_clear(r);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    s->n++;
    return ISYNTH_OK;
}

static isynth_err submit_one(cstate *s, size_t ri)
{
    crow *r = &s->rows[ri];
    isynth_prompt pr;
    isynth_err rc = isynth_prompt_answer(&s->pp, &r->task, &pr, s->err);
    if (rc) return rc;
    isynth_msg msgs[2] = {{"system", pr.system}, {"user", pr.user}};
    isynth_gen_req req = {
        .id = (uint64_t)ri * MAX_K + (uint64_t)r->submitted,
        .chat = s->chat,
        .msgs = msgs,
        .n_msgs = 2,
        .prompt = pr.completion,
        .max_tokens = s->p->max_tokens,
        .temperature = s->p->temperature,
        .top_p = 0.95f,
        .seed = s->p->seed ^ ((uint64_t)r->id * 0x9E3779B97F4A7C15ull) ^ (uint64_t)r->submitted,
    };
    rc = isynth_backend_submit(s->be, &req, s->err);
    isynth_prompt_clear(&pr);
    if (!rc) r->submitted++;
    return rc;
}

static bool contains(const char *hay, const char *needle)
{
    return needle[0] && strstr(hay, needle) != NULL;
}

/* Appends s to a JSON array unless present. */
static int add_unique(json_t *arr, const char *s, size_t n)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *t = json_string_value(v);
        if (t && strlen(t) == n && !memcmp(t, s, n)) return 0;
    }
    return json_array_append_new(arr, json_stringn(s, n));
}

/* Compares the row's facts with its re-answers and records the outcome. */
static isynth_err finish_row(cstate *s, crow *r)
{
    int n = r->got;
    json_t *facts = json_loads(r->verify, 0, NULL);
    json_t *disagree = json_array(), *alt = json_array();
    isynth_err rc = disagree && alt ? ISYNTH_OK : ISYNTH_ERR_NOMEM;
    size_t i;
    json_t *v;
    if (!rc && json_is_array(facts)) {
        json_array_foreach(facts, i, v)
        {
            const char *f = json_string_value(v);
            if (!f) continue;
            int support = 0;
            for (int a = 0; a < n; a++)
                support += contains(r->answers[a], f);
            if (support * 2 < n && add_unique(disagree, f, strlen(f))) rc = ISYNTH_ERR_NOMEM;
        }
    }
    /* what the re-answers said instead: their numbers and dates absent from the row */
    for (int a = 0; a < n && !rc && json_array_size(disagree); a++) {
        const isynth_fact *fx;
        size_t nf;
        const char *texts[1] = {r->answers[a]};
        if ((rc = isynth_verify_facts(s->vf, r->answers[a], strlen(r->answers[a]),
                                      isynth_lang_detect(texts, 1), &fx, &nf, s->err)))
            break;
        for (size_t k = 0; k < nf && json_array_size(alt) < 8; k++) {
            if (fx[k].kind == ISYNTH_FACT_NAME) continue;
            char *span = isynth_strndup(r->answers[a] + fx[k].off, fx[k].len);
            if (!span) {
                rc = ISYNTH_ERR_NOMEM;
                break;
            }
            if (!contains(r->task.output, span) && add_unique(alt, span, fx[k].len))
                rc = ISYNTH_ERR_NOMEM;
            isynth_free(span);
        }
    }
    char *d = NULL, *al = NULL;
    if (!rc) {
        d = json_dumps(disagree, JSON_COMPACT);
        al = json_dumps(alt, JSON_COMPACT);
        if (!d || !al) rc = ISYNTH_ERR_NOMEM;
    }
    if (!rc) rc = isynth_store_put_consistency(s->st, r->id, n, d, al, s->err);
    if (rc == ISYNTH_ERR_NOMEM) isynth_error_set(s->err, rc, "out of memory");
    if (!rc) {
        s->done++;
        s->flagged += json_array_size(disagree) > 0;
    }
    free(d);
    free(al);
    json_decref(facts);
    json_decref(disagree);
    json_decref(alt);
    return rc;
}

/* One re-answer; a row's last is compared and recorded. An error (the store's, memory) stops
 * the backend's step and the check. err is the run's (s->err). */
static isynth_err on_result(void *user, const isynth_gen_result *res, isynth_error *err)
{
    cstate *s = user;
    size_t ri = (size_t)(res->id / MAX_K);
    if (ri >= s->n) return ISYNTH_OK;
    crow *r = &s->rows[ri];
    if (res->status == ISYNTH_OK && !res->truncated && res->text) {
        char *norm = NULL;
        size_t nl;
        isynth_err rc = isynth_normalize_text(res->text, res->len, &norm, &nl, NULL);
        if (rc == ISYNTH_ERR_NOMEM) return isynth_error_set(err, rc, "out of memory");
        if (!rc)
            r->answers[r->got++] = norm;
        else
            r->failed++;
    } else {
        r->failed++;
    }
    if (r->got + r->failed < s->p->k) return ISYNTH_OK;
    isynth_err rc = ISYNTH_OK;
    if (r->got >= 2) { /* fewer re-answers decide nothing: the next call tries again */
        if (!(rc = isynth_store_begin(s->st, s->err))) {
            rc = finish_row(s, r);
            if (!rc)
                rc = isynth_store_commit(s->st, s->err);
            else
                isynth_store_rollback(s->st);
        }
    }
    crow_clear(r);
    if (!rc && s->p->progress) s->p->progress(s->p->progress_user, s->done, (long)s->n, s->flagged);
    return rc;
}

isynth_err isynth_consistency_store(isynth_store *st, isynth_backend *be,
                                    const isynth_consistency_params *p, long *checked,
                                    long *flagged, isynth_error *err)
{
    if (p->k < 2 || p->k > MAX_K)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "--consistency wants 2 to %d re-answers",
                                MAX_K);
    cstate s = {.st = st, .be = be, .p = p, .chat = p->chat, .err = err};
    s.pp = isynth_prompt_params_default();
    char *lang = NULL;
    isynth_err rc = isynth_store_meta_get(st, "lang", &lang, err);
    if (rc) return rc;
    s.pp.lang = lang && !strcmp(lang, "en") ? ISYNTH_LANG_EN : ISYNTH_LANG_JA;
    isynth_free(lang);
    if (!(rc = isynth_verifier_new(NULL, &s.vf, err)))
        rc = isynth_store_each_unchecked(st, collect, &s, err);
    if (rc == ISYNTH_ERR_NOMEM) isynth_error_set(err, rc, "out of memory");
    /* keep the backend full: each row's k requests, row after row */
    size_t cur = 0;
    while (!rc) {
        if (p->stop && *p->stop) {
            rc = isynth_error_set(err, ISYNTH_ERR_CANCELLED, "interrupted");
            break;
        }
        while (!rc && cur < s.n && isynth_backend_capacity(be) > 0) {
            rc = submit_one(&s, cur);
            if (s.rows[cur].submitted >= p->k) cur++;
        }
        if (rc || isynth_backend_in_flight(be) == 0) break;
        rc = isynth_backend_step(be, on_result, &s, err);
    }
    for (size_t i = 0; i < s.n; i++)
        crow_clear(&s.rows[i]);
    isynth_free(s.rows);
    isynth_verifier_free(s.vf);
    if (checked) *checked = s.done;
    if (flagged) *flagged = s.flagged;
    return rc;
}
