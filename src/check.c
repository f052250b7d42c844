/* `isynth check` in the library: a dataset goes through the same filter object `generate` uses,
 * with the seeds as the pool's start and every kept row joining it, so a dataset made elsewhere
 * is held to exactly the rules of a generated one. */
#include "isynth/check.h"
#include "isynth/verify.h"
#include "internal.h"

#include <jansson.h>
#include <string.h>

isynth_check_params isynth_check_params_default(void)
{
    return (isynth_check_params){
        .filter = isynth_filter_params_default(),
        .verify = true,
    };
}

static isynth_err copy_task(const isynth_task *src, isynth_task *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->id = isynth_strdup(src->id ? src->id : "");
    dst->instruction = isynth_strdup(src->instruction);
    dst->input = isynth_strdup(src->input);
    dst->output = isynth_strdup(src->output);
    dst->eval_aspect = isynth_strdup(src->eval_aspect ? src->eval_aspect : "");
    dst->is_classification = src->is_classification;
    dst->line = src->line;
    if (!dst->id || !dst->instruction || !dst->input || !dst->output || !dst->eval_aspect) {
        isynth_task_clear(dst);
        return ISYNTH_ERR_NOMEM;
    }
    return ISYNTH_OK;
}

/* The seed loader names rows without an id "seed-<line>". */
static bool own_id(const isynth_task *t)
{
    char gen[32];
    snprintf(gen, sizeof gen, "seed-%ld", t->line);
    return t->id && t->id[0] && strcmp(t->id, gen) != 0;
}

isynth_err isynth_check_run(const isynth_seedset *data, const isynth_seedset *seeds,
                            const isynth_check_params *p, isynth_check_result **out,
                            isynth_error *err)
{
    *out = NULL;
    isynth_check_result *r = isynth_calloc(1, sizeof *r);
    if (!r || !(r->rows = isynth_calloc(data->n ? data->n : 1, sizeof *r->rows))) {
        isynth_free(r);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    r->lang = seeds ? seeds->lang : data->lang;
    isynth_filter_params fp = p->filter;
    fp.lang = r->lang;
    fp.check_output = true;
    fp.report_nearest = false; /* nothing reports it: let the index prune */
    isynth_filter *f = NULL;
    isynth_verifier *vf = NULL;
    isynth_err rc = isynth_filter_new(&fp, &f, err);
    if (!rc && p->verify) rc = isynth_verifier_new(NULL, &vf, err);
    for (size_t i = 0; seeds && i < seeds->n && !rc; i++) {
        char ref[24];
        snprintf(ref, sizeof ref, "s%zu", i + 1);
        isynth_task t;
        if ((rc = copy_task(&seeds->tasks[i], &t))) {
            isynth_error_set(err, rc, "out of memory");
            break;
        }
        rc = isynth_filter_normalize(&t, err);
        if (!rc) rc = isynth_filter_add(f, ref, &t, err);
        isynth_task_clear(&t);
    }
    for (size_t i = 0; i < data->n && !rc; i++) {
        if (p->stop && *p->stop) {
            rc = isynth_error_set(err, ISYNTH_ERR_CANCELLED, "interrupted");
            break;
        }
        isynth_check_row *row = &r->rows[i];
        if ((rc = copy_task(&data->tasks[i], &row->task))) {
            isynth_error_set(err, rc, "out of memory");
            break;
        }
        r->n = i + 1;
        row->has_id = own_id(&data->tasks[i]);
        if ((rc = isynth_filter_normalize(&row->task, err))) break;
        isynth_verdict v;
        char *key = NULL;
        rc = isynth_filter_check(f, &row->task, NULL, NULL, 0, &v, &key, err);
        isynth_free(key);
        if (rc) break;
        row->reason = v.reason;
        snprintf(row->detail, sizeof row->detail, "%s", v.detail);
        if (row->reason) {
            r->rejected++;
        } else {
            char ref[32];
            snprintf(ref, sizeof ref, "k%zu", i + 1);
            if ((rc = isynth_filter_add(f, ref, &row->task, err))) break;
            r->kept++;
            if (vf) {
                const char *out1[1] = {row->task.output};
                if ((rc = isynth_verify_json(vf, row->task.output, strlen(row->task.output),
                                             isynth_lang_detect(out1, 1), &row->verify, err)))
                    break;
                row->n_facts = strcmp(row->verify, "[]") != 0;
                r->with_facts += row->n_facts > 0;
            }
        }
        if (p->progress && ((i + 1) % 256 == 0 || i + 1 == data->n))
            p->progress(p->progress_user, i + 1, data->n);
    }
    isynth_verifier_free(vf);
    isynth_filter_free(f);
    if (rc) {
        isynth_check_result_free(r);
        return rc;
    }
    *out = r;
    return ISYNTH_OK;
}

void isynth_check_result_free(isynth_check_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        isynth_task_clear(&r->rows[i].task);
        isynth_free(r->rows[i].verify);
        isynth_free(r->rows[i].judge_reason);
        isynth_free(r->rows[i].judge_false_claims);
        isynth_free(r->rows[i].judge_model);
    }
    isynth_free(r->rows);
    isynth_free(r);
}

static isynth_err put_line(atomic_file *a, json_t *o, isynth_error *err)
{
    if (!o) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    char *line = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    if (!line) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    bool ok = fputs(line, a->f) >= 0 && fputc('\n', a->f) != EOF;
    free(line);
    return ok ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", a->path);
}

static json_t *row_json(const isynth_check_row *row, bool kept)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    if (row->has_id) bad |= json_object_set_new(o, "id", json_string(row->task.id));
    bad |= json_object_set_new(o, "instruction", json_string(row->task.instruction));
    bad |= json_object_set_new(o, "input", json_string(row->task.input));
    bad |= json_object_set_new(o, "output", json_string(row->task.output));
    if (row->task.eval_aspect[0])
        bad |= json_object_set_new(o, "eval_aspect", json_string(row->task.eval_aspect));
    if (kept) {
        if (row->verify) bad |= json_object_set_new(o, "verify", json_loads(row->verify, 0, NULL));
        if (row->judge_score > 0) {
            json_t *j = json_object();
            json_object_set_new(j, "score", json_integer(row->judge_score));
            json_object_set_new(j, "reason",
                                json_string(row->judge_reason ? row->judge_reason : ""));
            json_object_set_new(j, "false_claims",
                                row->judge_false_claims
                                    ? json_loads(row->judge_false_claims, 0, NULL)
                                    : json_array());
            json_object_set_new(j, "model", json_string(row->judge_model ? row->judge_model : ""));
            bad |= json_object_set_new(o, "judge", j);
        }
    } else {
        bad |= json_object_set_new(o, "reason", json_string(row->reason));
        bad |= json_object_set_new(o, "detail", json_string(row->detail));
        bad |= json_object_set_new(o, "line", json_integer(row->task.line));
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

isynth_err isynth_check_write(const isynth_check_result *r, const char *kept_path,
                              const char *rejected_path, isynth_error *err)
{
    atomic_file k = {0}, j = {0};
    isynth_err rc = atomic_open(&k, kept_path, err);
    if (!rc && rejected_path && (rc = atomic_open(&j, rejected_path, err))) atomic_abort(&k);
    if (rc) return rc;
    for (size_t i = 0; i < r->n && !rc; i++) {
        const isynth_check_row *row = &r->rows[i];
        if (!row->reason)
            rc = put_line(&k, row_json(row, true), err);
        else if (rejected_path)
            rc = put_line(&j, row_json(row, false), err);
    }
    if (!rc)
        rc = atomic_commit(&k, err);
    else
        atomic_abort(&k);
    if (rejected_path) {
        if (!rc)
            rc = atomic_commit(&j, err);
        else
            atomic_abort(&j);
    }
    return rc;
}
