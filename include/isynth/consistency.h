/* Self-consistency over a run: the facts of its accepted rows are checked against the
 * generating model's own re-answers, and the disagreements recorded in the run store. */
#ifndef ISYNTH_CONSISTENCY_H
#define ISYNTH_CONSISTENCY_H

#include "isynth/backend.h"
#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Self-consistency (generate --consistency K): each accepted row with facts to verify is asked
 * again k times of the generating model; the row's facts that fewer than half of the
 * re-answers repeat are recorded as disagreeing, with the numbers and dates the re-answers gave
 * instead. */
typedef struct isynth_consistency_params {
    int k;             /* re-answers per row, 2..16; default 3 */
    float temperature; /* default 0.7 */
    int max_tokens;    /* per re-answer; default 512 (a truncated re-answer is not counted) */
    bool chat;         /* chat messages (default) or a plain prompt for base models */
    uint64_t seed;     /* default 1 */
    void (*progress)(void *user, long done, long total, long flagged); /* may be NULL */
    void *progress_user;
    volatile int *stop;
} isynth_consistency_params;

isynth_consistency_params isynth_consistency_params_default(void);

/* Checks every accepted row of st with facts and no check yet, on be (borrowed). Each row is
 * committed on its own; a row with fewer than two usable re-answers is left for the next call.
 * *checked and *flagged (may be NULL) get this call's counts. */
isynth_err isynth_consistency_store(isynth_store *st, isynth_backend *be,
                                    const isynth_consistency_params *p, long *checked,
                                    long *flagged, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
