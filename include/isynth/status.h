/* A run at a glance: the figures of `isynth status`, of the progress line and of the report's
 * headline, computed from run.db alone so that they are right after a kill and a resume. */
#ifndef ISYNTH_STATUS_H
#define ISYNTH_STATUS_H

#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_run_status {
    long target; /* -n of the last session; 0 when unknown */
    isynth_run_totals totals;
    double price_in, price_out; /* per million tokens, from the run or the caller; 0: none */
    double cost;                /* of the whole run at those prices */
    long window;                /* stage-1 requests (not failed) the recent figures cover */
    long window_candidates, window_kept;
    double recent_yield;   /* window_kept / window_candidates; -1 with no request */
    double tokens_per_s;   /* generated tokens per second over the window; 0 unknown */
    double kept_per_min;   /* rows kept per minute over the window; 0 unknown */
    double eta_s;          /* seconds to the target at that rate; 0 reached; -1 unknown */
    double cost_to_target; /* predicted further cost to the target at the run's cost per
                              accepted row so far; 0 reached or no prices; -1 unknown */
} isynth_run_status;

/* The cost of prompt and generated tokens at prices per million tokens: the one formula of the
 * budgets, the progress line, status and the report. */
double isynth_status_token_cost(long long prompt_tokens, long long completion_tokens,
                                double price_in, double price_out);

/* Reads the status of the run in st over the last `window` stage-1 requests (20 when 0).
 * price_in/price_out < 0 take the prices the run recorded. */
isynth_err isynth_status_get(isynth_store *st, long window, double price_in, double price_out,
                             isynth_run_status *out, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
