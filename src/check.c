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

/* Writes o (consumed) as one line. */
static isynth_err put_line(atomic_file *a, json_t *o, isynth_error *err)
{
    char *line = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    if (!line) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    bool ok = fputs(line, a->f) >= 0 && fputc('\n', a->f) != EOF;
    free(line);
    return ok ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", a->path);
}

/* Sets o[key] to v (consumed, NULL: memory ran out). */
static isynth_err set_new(json_t *o, const char *key, json_t *v, isynth_error *err)
{
    return json_object_set_new(o, key, v) ? isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory")
                                          : ISYNTH_OK;
}

/* Sets o[key] to the string s (NULL: ""); text that is not UTF-8 (a detail cut inside a
 * character) is an error naming the row and the field, not a memory failure. */
static isynth_err set_str(json_t *o, const char *key, const char *s, const isynth_check_row *row,
                          isynth_error *err)
{
    if (!s) s = "";
    size_t bad;
    if (!utf8_valid(s, strlen(s), &bad))
        return isynth_error_set(err, ISYNTH_ERR_UTF8, "line %ld: %s is not valid UTF-8 (byte %zu)",
                                row->task.line, key, bad);
    return set_new(o, key, json_string(s), err);
}

/* Sets o[key] to the JSON text s (the verifier's facts, the judge's claims). */
static isynth_err set_json(json_t *o, const char *key, const char *s, const isynth_check_row *row,
                           isynth_error *err)
{
    json_error_t je;
    json_t *v = json_loads(s, 0, &je);
    if (!v && json_error_code(&je) != json_error_out_of_memory)
        return isynth_error_set(err, ISYNTH_ERR_PARSE, "line %ld: %s: %s", row->task.line, key,
                                je.text);
    return set_new(o, key, v, err);
}

/* The judge's verdict on a kept row. */
static isynth_err judge_json(const isynth_check_row *row, json_t **out, isynth_error *err)
{
    json_t *j = *out = json_object();
    if (!j) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = set_new(j, "score", json_integer(row->judge_score), err);
    if (!rc) rc = set_str(j, "reason", row->judge_reason, row, err);
    if (!rc)
        rc = row->judge_false_claims
                 ? set_json(j, "false_claims", row->judge_false_claims, row, err)
                 : set_new(j, "false_claims", json_array(), err);
    if (!rc) rc = set_str(j, "model", row->judge_model, row, err);
    return rc;
}

/* One row of the kept (kept) or rejected file as a new object in *out; an error names its
 * cause (memory, or text that cannot be written as JSON). */
static isynth_err row_json(const isynth_check_row *row, bool kept, json_t **out, isynth_error *err)
{
    json_t *o = *out = json_object();
    if (!o) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    isynth_err rc = row->has_id ? set_str(o, "id", row->task.id, row, err) : ISYNTH_OK;
    if (!rc) rc = set_str(o, "instruction", row->task.instruction, row, err);
    if (!rc) rc = set_str(o, "input", row->task.input, row, err);
    if (!rc) rc = set_str(o, "output", row->task.output, row, err);
    if (!rc && row->task.eval_aspect[0])
        rc = set_str(o, "eval_aspect", row->task.eval_aspect, row, err);
    if (kept) {
        if (!rc && row->verify) rc = set_json(o, "verify", row->verify, row, err);
        if (!rc && row->judge_score > 0) {
            json_t *j;
            rc = judge_json(row, &j, err);
            if (!rc)
                rc = set_new(o, "judge", j, err);
            else
                json_decref(j);
        }
    } else {
        if (!rc) rc = set_str(o, "reason", row->reason, row, err);
        if (!rc) rc = set_str(o, "detail", row->detail, row, err);
        if (!rc) rc = set_new(o, "line", json_integer(row->task.line), err);
    }
    if (rc) {
        json_decref(o);
        *out = NULL;
    }
    return rc;
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
        if (row->reason && !rejected_path) continue;
        json_t *o;
        if (!(rc = row_json(row, !row->reason, &o, err)))
            rc = put_line(row->reason ? &j : &k, o, err);
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
