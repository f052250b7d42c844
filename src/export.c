/* Exports of a run, all made from run.db and written through temporary files renamed into
 * place: data.jsonl (accepted tasks), rejected.jsonl (with reasons) and README.md, a Hugging
 * Face dataset card that records where the data came from. */
#include "isynth/export.h"
#include "isynth/report.h"
#include "isynth/status.h"
#include "internal.h"

#include <jansson.h>
#include <string.h>

/* verify (the facts a reviewer must check) always, judge when the row was judged. */
static isynth_err add_quality(isynth_store *st, json_t *o, long long id, const char *verify,
                              isynth_error *err)
{
    json_t *facts = verify[0] ? json_loads(verify, 0, NULL) : NULL;
    json_object_set_new(o, "verify", json_is_array(facts) ? facts : json_array());
    if (facts && !json_is_array(facts)) json_decref(facts);
    int k;
    char *dis, *alt;
    isynth_err rc = isynth_store_get_consistency(st, id, &k, &dis, &alt, err);
    if (rc) return rc;
    if (k) {
        json_t *c = json_object(), *d = json_loads(dis, 0, NULL), *a = json_loads(alt, 0, NULL);
        json_object_set_new(c, "k", json_integer(k));
        json_object_set_new(c, "disagree", json_is_array(d) ? json_incref(d) : json_array());
        json_object_set_new(c, "alternatives", json_is_array(a) ? json_incref(a) : json_array());
        json_decref(d);
        json_decref(a);
        json_object_set_new(o, "consistency", c);
    }
    isynth_free(dis);
    isynth_free(alt);
    int score;
    char *reason, *claims, *model;
    rc = isynth_store_get_judgement(st, id, &score, &reason, &claims, &model, err);
    if (rc || !score) return rc;
    json_t *j = json_object(), *fc = json_loads(claims, 0, NULL);
    json_object_set_new(j, "score", json_integer(score));
    json_object_set_new(j, "reason", json_string(reason));
    json_object_set_new(j, "false_claims", json_is_array(fc) ? fc : json_array());
    if (fc && !json_is_array(fc)) json_decref(fc);
    json_object_set_new(j, "model", json_string(model));
    json_object_set_new(o, "judge", j);
    isynth_free(reason);
    isynth_free(claims);
    isynth_free(model);
    return ISYNTH_OK;
}

static isynth_err write_line(atomic_file *a, json_t *o, isynth_error *err)
{
    char *line = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    if (!line) return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    bool ok = fputs(line, a->f) >= 0 && fputc('\n', a->f) != EOF;
    free(line);
    fault_point("export line");
    return ok ? ISYNTH_OK : isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", a->path);
}

/* What export_row needs besides the row. */
typedef struct export_ctx {
    isynth_store *st;
    atomic_file *a;
    bool accepted;
    const char *model, *method;
    long count;
} export_ctx;

static isynth_err export_row(void *user, const isynth_export_row *row, isynth_error *err)
{
    export_ctx *x = user;
    json_t *o = json_object();
    char id[32];
    snprintf(id, sizeof id, "g%lld", row->id);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "instruction", json_string(row->instruction ? row->instruction : ""));
    json_object_set_new(o, "input", json_string(row->input ? row->input : ""));
    json_object_set_new(o, "output", json_string(row->output ? row->output : ""));
    if (x->accepted) {
        json_t *seeds = json_array();
        for (size_t i = 0; i < row->n_seed_ids; i++)
            json_array_append_new(seeds, json_string(row->seed_ids[i]));
        json_object_set_new(o, "seed_ids", seeds);
        json_object_set_new(o, "model", json_string(x->model));
        json_object_set_new(o, "method", json_string(x->method));
        /* an evolved row's parent_id (the seed's own id, or "g12"), evolution and round */
        if (!strcmp(x->method, "evol") && row->parent) {
            json_object_set_new(o, "parent_id", json_string(row->parent));
            json_object_set_new(o, "evolution", json_string(row->operation ? row->operation : ""));
            json_object_set_new(o, "round", json_integer(row->round));
        }
        json_object_set_new(o, "created_at", json_string(row->created_at ? row->created_at : ""));
    } else {
        json_object_set_new(o, "reason", json_string(row->reason ? row->reason : ""));
        json_object_set_new(o, "detail", json_string(row->detail ? row->detail : ""));
        json_object_set_new(o, "request_id", json_integer(row->request_id));
    }
    if (row->nn_score >= 0) {
        json_object_set_new(o, "nearest", json_string(row->nn_ref ? row->nn_ref : ""));
        json_object_set_new(o, "nearest_rouge_l", json_real(row->nn_score));
    }
    isynth_err rc = x->accepted
                        ? add_quality(x->st, o, row->id, row->verify ? row->verify : "", err)
                        : ISYNTH_OK;
    if (!rc) rc = write_line(x->a, o, err);
    json_decref(o);
    if (!rc) x->count++;
    return rc;
}

static isynth_err export_jsonl(isynth_store *st, const char *name, bool accepted, char *model,
                               const char *method, long *count, isynth_error *err)
{
    buf path;
    buf_init(&path, BUF_MAX_PATH);
    if (buf_printf(&path, "%s/%s", isynth_store_dir(st), name))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    atomic_file a = {0};
    isynth_err rc = atomic_open(&a, path.p, err);
    export_ctx x = {st, &a, accepted, model, method, 0};
    if (!rc) {
        rc = isynth_store_each_export_row(
            st, accepted ? ISYNTH_CAND_ACCEPTED : ISYNTH_CAND_REJECTED, export_row, &x, err);
        if (!rc)
            rc = atomic_commit(&a, err);
        else
            atomic_abort(&a);
    }
    *count = x.count;
    buf_free(&path);
    return rc;
}

static char *meta(isynth_store *st, const char *key)
{
    char *v = NULL;
    if (isynth_store_meta_get(st, key, &v, NULL) || !v) return isynth_strdup("");
    return v;
}

typedef struct review_counts {
    buf rows;
    long kept; /* accepted and edited */
} review_counts;

static isynth_err review_count(void *user, isynth_review_status status, long n, isynth_error *err)
{
    (void)err;
    review_counts *c = user;
    if (status == ISYNTH_REVIEW_ACCEPTED || status == ISYNTH_REVIEW_EDITED) c->kept += n;
    return buf_printf(&c->rows, "| %s | %ld |\n", isynth_review_status_name(status), n);
}

/* "## Review": counts per review status, once `isynth import` has recorded some. */
static isynth_err review_section(isynth_store *st, buf *b, isynth_error *err)
{
    review_counts c = {.kept = 0};
    buf_init(&c.rows, BUF_MAX_PAGE);
    isynth_err rc = isynth_store_each_review_count(st, review_count, &c, err);
    if (rc && err && err->code) {
        buf_free(&c.rows);
        return rc;
    }
    if (!rc && c.rows.len)
        rc = buf_printf(b,
                        "## Review\n\n| review status | tasks |\n|---|---|\n%s\n"
                        "The reviewed dataset (`isynth export --jsonl`) holds the %ld accepted "
                        "and edited tasks, with reviewers' edits applied; the generated text and "
                        "every edit are kept in run.db (tables review, review_history).\n\n",
                        c.rows.p, c.kept);
    buf_free(&c.rows);
    return rc ? isynth_error_set(err, rc, "writing the card: out of memory") : ISYNTH_OK;
}

/* "## Quality": rows with facts to verify, and the judge's scores once rows are judged. */
static isynth_err quality_section(isynth_store *st, buf *b, long n_accepted, isynth_error *err)
{
    isynth_quality_counts qc;
    isynth_err rc = isynth_store_quality_counts(st, &qc, err);
    if (rc) return rc;
    rc = buf_printf(b,
                    "## Quality\n\n"
                    "Every accepted row passed the filters above. Rows with facts to verify: "
                    "**%ld** of %ld (field `verify`: numbers, dates and names a reviewer must "
                    "check by hand; a small model invents them).\n\n",
                    qc.with_facts, n_accepted);
    if (!rc && qc.consistency_checked)
        rc = buf_printf(b,
                        "Self-consistency: %ld rows with facts were asked again of the "
                        "generating model; in %ld of them a fact changed across the re-answers "
                        "(field `consistency.disagree`): check those first.\n\n",
                        qc.consistency_checked, qc.consistency_flagged);
    if (!rc && (qc.judged || qc.judge_errors)) {
        rc = buf_printf(b,
                        "Judged rows: %ld (%ld could not be scored).\n\n"
                        "| judge score | rows |\n|---|---|\n",
                        qc.judged, qc.judge_errors);
        for (int sc = 5; sc >= 1 && !rc; sc--)
            rc = buf_printf(b, "| %d | %ld |\n", sc, qc.score_hist[sc]);
        if (!rc) rc = buf_adds(b, "\n");
    }
    return rc ? isynth_error_set(err, rc, "writing the card: out of memory") : ISYNTH_OK;
}

/* Appends s as the text of one Markdown table cell or inline run: whatever a seed file's name
 * or a GGUF's metadata holds, it stays one cell of one line and cannot start a heading, a
 * link, an image, emphasis, code or HTML. Control characters become spaces; | \ ` * _ [ ] ( )
 * # ! < > & are escaped (the last three as entities); at most 300 bytes are kept, cut at a
 * character boundary, with "..." after a cut. */
static isynth_err md_cell(buf *b, const char *s)
{
    isynth_err rc = ISYNTH_OK;
    size_t n = strlen(s), i = 0;
    while (i < n && !rc) {
        if (i >= 300 && ((unsigned char)s[i] & 0xC0) != 0x80) return buf_adds(b, "...");
        unsigned char c = (unsigned char)s[i++];
        if (c < 0x20 || c == 0x7f)
            rc = buf_addc(b, ' ');
        else if (c == '<')
            rc = buf_adds(b, "&lt;");
        else if (c == '>')
            rc = buf_adds(b, "&gt;");
        else if (c == '&')
            rc = buf_adds(b, "&amp;");
        else if (strchr("|\\`*_[]()#!~", c))
            rc = buf_addc(b, '\\') ? ISYNTH_ERR_NOMEM : buf_addc(b, (char)c);
        else
            rc = buf_addc(b, (char)c);
    }
    return rc;
}

/* The card's YAML language code: a BCP-47-like tag of letters and '-' (ours are "ja", "en"),
 * anything else becomes "und" so that run.db's text cannot add YAML keys. */
static const char *yaml_lang(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 12) return "und";
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
            return "und";
    return s;
}

/* The value of key in the card's table (v[i] holds keys[i]'s), "" when absent: by name, so
 * that the table's order can change. */
static const char *value_of(const char *const *keys, char *const *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], key)) return v[i] ? v[i] : "";
    return "";
}

static isynth_err card_reason(void *user, const char *reason, long n, isynth_error *err)
{
    (void)err;
    return buf_printf(user, "| rejected: %s | %ld |\n", reason, n);
}

/* The card, with every count from the run's totals. */
static isynth_err write_card(isynth_store *st, isynth_error *err)
{
    isynth_run_status rs;
    isynth_err rc = isynth_status_get(st, 20, -1, -1, &rs, err);
    if (rc) return rc;
    const long n_accepted = rs.totals.accepted, n_rejected = rs.totals.rejected;
    static const char *const keys[] = {"seeds_file",        "seeds_sha256", "seeds_shape",
                                       "seeds_count",       "seeds_run",    "lang",
                                       "backend",           "model",        "model_name",
                                       "model_license",     "method",       "prompt_format",
                                       "two_stage",         "examples",     "generated_examples",
                                       "tasks_per_request", "temperature",  "top_p",
                                       "max_tokens",        "seed",         "rouge_threshold",
                                       "template_sha256",   "topics",       "created_at",
                                       "isynth_version"};
    enum { NK = sizeof keys / sizeof keys[0] };
    char *v[NK];
    for (size_t i = 0; i < NK; i++)
        v[i] = meta(st, keys[i]);
    buf b;
    buf_init(&b, BUF_MAX_PAGE);
    const char *lang_v = value_of(keys, v, NK, "lang");
    const char *lang = lang_v[0] ? yaml_lang(lang_v) : "en";
    const char *size = n_accepted < 1000 ? "n<1K" : n_accepted < 10000 ? "1K<n<10K" : "10K<n<100K";
    rc = buf_printf(&b,
                    "---\n"
                    "# CONFIRM THE LICENCE before publishing: the seed data's licence and the\n"
                    "# model's terms can bind this output. isynth cannot decide it for you.\n"
                    "license: other\n"
                    "license_name: to-be-confirmed\n"
                    "language:\n- %s\n"
                    "task_categories:\n- text-generation\n"
                    "tags:\n- synthetic\n- self-instruct\n- isynth\n"
                    "size_categories:\n- %s\n"
                    "configs:\n- config_name: default\n  data_files:\n  - split: train\n"
                    "    path: data.jsonl\n"
                    "---\n\n"
                    "# Synthetic instruction data\n\n"
                    "%ld instruction/response pairs generated by isynth ",
                    lang, size, n_accepted);
    if (!rc && !(rc = md_cell(&b, value_of(keys, v, NK, "isynth_version"))) &&
        !(rc = buf_adds(&b, " in the manner of Self-Instruct from ")) &&
        !(rc = md_cell(&b, value_of(keys, v, NK, "seeds_count"))))
        rc = buf_adds(&b, " seed tasks, filtered automatically. Machine-generated text can "
                          "contain invented facts: review every row before training on it.\n\n"
                          "## Provenance\n\n"
                          "| item | value |\n|---|---|\n");
    for (size_t i = 0; i < NK && !rc; i++) {
        if (!strcmp(keys[i], "seeds_run") && (!v[i] || !v[i][0])) continue; /* seeds from a file */
        rc = buf_printf(&b, "| %s | ", keys[i]);
        if (!rc)
            rc = v[i][0]                      ? md_cell(&b, v[i])
                 : !strcmp(keys[i], "method") ? buf_adds(&b, "self-instruct") /* older runs */
                                              : buf_adds(&b, "(none)");
        if (!rc) rc = buf_adds(&b, " |\n");
    }
    if (!rc)
        rc = buf_printf(&b,
                        "\nThe model's licence above is what its GGUF metadata says "
                        "(`general.license`); check the model card too.\n\n"
                        "## Counts\n\n| outcome | count |\n|---|---|\n| accepted | %ld |\n"
                        "| rejected | %ld |\n",
                        n_accepted, n_rejected);
    if (!rc) rc = isynth_store_each_reason(st, card_reason, &b, err);
    if (!rc) {
        const isynth_run_totals *t = &rs.totals;
        rc = buf_printf(&b,
                        "| requests | %ld |\n| failed requests | %ld |\n"
                        "| generated tokens | %lld |\n| prompt tokens | %lld |\n"
                        "| accepted per 1,000 generated tokens | %.2f |\n",
                        t->requests, t->failed, t->completion_tokens, t->prompt_tokens,
                        t->completion_tokens
                            ? 1000.0 * (double)t->accepted / (double)t->completion_tokens
                            : 0.0);
        if (!rc && (rs.price_in > 0 || rs.price_out > 0))
            rc = buf_printf(&b,
                            "| cost (at %g / %g per million prompt / generated tokens) | "
                            "%.4f |\n",
                            rs.price_in, rs.price_out, rs.cost);
        if (!rc)
            rc = buf_adds(&b, "\nCharts of the run (outcomes, acceptance over time, nearest-"
                              "neighbour ROUGE-L, lengths, diversity, speed): "
                              "[report.html](report.html) (`isynth generate` writes it with this "
                              "card; `isynth report` "
                              "rewrites it).\n\n");
    }
    if (!rc) rc = quality_section(st, &b, n_accepted, err);
    if (!rc) rc = review_section(st, &b, err);
    if (!rc)
        rc =
            buf_printf(&b, "## Fields\n\n"
                           "- `id`: the task's id in the run (`g<N>`)\n"
                           "- `instruction`, `input`, `output`: the task\n"
                           "- `seed_ids`: the seed tasks shown to the model as examples\n"
                           "- `verify`: the exact substrings of the output that state checkable "
                           "facts (numbers, dates, names): check them by hand\n"
                           "- `judge` (when judged): `score` 1-5, `reason`, `false_claims` and the "
                           "judge `model`\n"
                           "- `consistency` (with --consistency): `k` re-answers, the facts of "
                           "`verify` most of them did not repeat (`disagree`) and the numbers and "
                           "dates they gave instead (`alternatives`)\n"
                           "- `model`, `created_at`: what wrote it, and when (UTC)\n\n"
                           "Load it with `datasets.load_dataset(\"json\", "
                           "data_files=\"data.jsonl\")`.\n");
    for (size_t i = 0; i < NK; i++)
        isynth_free(v[i]);
    if (rc) {
        buf_free(&b);
        return err && err->code ? err->code : isynth_error_set(err, rc, "writing the card");
    }
    buf path;
    buf_init(&path, BUF_MAX_PATH);
    atomic_file a = {0};
    if (buf_printf(&path, "%s/README.md", isynth_store_dir(st)))
        rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (!rc && !(rc = atomic_open(&a, path.p, err))) {
        if (fwrite(b.p, 1, b.len, a.f) != b.len) {
            atomic_abort(&a);
            rc = isynth_error_set(err, ISYNTH_ERR_IO, "%s: write failed", path.p);
        } else {
            rc = atomic_commit(&a, err);
        }
    }
    buf_free(&path);
    buf_free(&b);
    return rc;
}

isynth_err isynth_export_card(isynth_store *st, isynth_error *err)
{
    return write_card(st, err);
}

isynth_err isynth_export_run(isynth_store *st, isynth_error *err)
{
    char *model = meta(st, "model_name");
    if (model && !model[0]) {
        isynth_free(model);
        model = meta(st, "model");
    }
    /* runs made before there was a choice have no "method": they are Self-Instruct */
    char *method = meta(st, "method");
    if (!model || !method) {
        isynth_free(model);
        isynth_free(method);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    const char *m = method[0] ? method : "self-instruct";
    long n_acc = 0, n_rej = 0;
    isynth_err rc = export_jsonl(st, "data.jsonl", true, model, m, &n_acc, err);
    if (!rc) rc = export_jsonl(st, "rejected.jsonl", false, model, m, &n_rej, err);
    isynth_free(method);
    if (!rc) rc = write_card(st, err);
    if (!rc) rc = isynth_report_write(st, NULL, err);
    isynth_free(model);
    return rc;
}
