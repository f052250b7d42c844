/* The figures of a run at a glance, from run.db. No SQL here: the store reads, this adds up. */
#include "isynth/status.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct window_acc {
    long n, candidates, kept;
    long long tokens;
    long long first_at, last_at;
    double first_seconds;
} window_acc;

static isynth_err add_request(void *user, const isynth_request_sum *q, isynth_error *err)
{
    (void)err;
    window_acc *w = user;
    if (w->n++ == 0) {
        w->first_at = q->at;
        w->first_seconds = q->seconds;
    }
    w->last_at = q->at;
    w->candidates += q->candidates;
    w->kept += q->kept;
    w->tokens += q->completion_tokens;
    return ISYNTH_OK;
}

/* A number the run recorded in meta, or fallback. */
static isynth_err meta_number(isynth_store *st, const char *key, double fallback, double *out,
                              isynth_error *err)
{
    char *v = NULL;
    isynth_err rc = isynth_store_meta_get(st, key, &v, err);
    *out = fallback;
    if (!rc && v && *v) {
        char *end;
        double d = strtod(v, &end);
        if (!*end && d >= 0) *out = d;
    }
    isynth_free(v);
    return rc;
}

double isynth_status_token_cost(long long prompt_tokens, long long completion_tokens,
                                double price_in, double price_out)
{
    return ((double)prompt_tokens * price_in + (double)completion_tokens * price_out) / 1e6;
}

isynth_err isynth_status_get(isynth_store *st, long window, double price_in, double price_out,
                             isynth_run_status *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    if (window <= 0) window = 20;
    double target = 0;
    isynth_err rc;
    if ((rc = isynth_store_totals(st, &out->totals, err)) ||
        (rc = meta_number(st, "target", 0, &target, err)) ||
        (rc = meta_number(st, "price_in", 0, &out->price_in, err)) ||
        (rc = meta_number(st, "price_out", 0, &out->price_out, err)))
        return rc;
    out->target = (long)target;
    if (price_in >= 0) out->price_in = price_in;
    if (price_out >= 0) out->price_out = price_out;
    out->cost = isynth_status_token_cost(out->totals.prompt_tokens, out->totals.completion_tokens,
                                         out->price_in, out->price_out);
    window_acc w = {0};
    if ((rc = isynth_store_each_request(st, window, add_request, &w, err))) return rc;
    out->window = w.n;
    out->window_candidates = w.candidates;
    out->window_kept = w.kept;
    out->recent_yield = w.n ? (w.candidates ? (double)w.kept / (double)w.candidates : 0) : -1;
    /* the window's span: from the start of its first request to the end of its last */
    double span = (double)(w.last_at - w.first_at) + w.first_seconds;
    if (w.n && span > 0) {
        out->tokens_per_s = (double)w.tokens / span;
        out->kept_per_min = 60.0 * (double)w.kept / span;
    }
    long left = out->target - out->totals.accepted;
    if (out->target > 0 && left <= 0)
        out->eta_s = 0;
    else if (out->target > 0 && out->kept_per_min > 0)
        out->eta_s = 60.0 * (double)left / out->kept_per_min;
    else
        out->eta_s = -1;
    if (left <= 0 || out->cost <= 0)
        out->cost_to_target = 0;
    else if (out->totals.accepted > 0)
        out->cost_to_target = out->cost / (double)out->totals.accepted * (double)left;
    else
        out->cost_to_target = -1;
    return ISYNTH_OK;
}
