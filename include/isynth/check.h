/* Checking a finished dataset: the whole filter chain of `generate` (normalisation, length,
 * quality, the row checks, exact duplicates, ROUGE-L against the seeds and the rows kept before,
 * seed and output copies) and the facts to verify, on rows made anywhere. Rows are judged in
 * file order; a row is compared with the seeds and with the rows kept before it, so the first
 * of two near-duplicates stays. */
#ifndef ISYNTH_CHECK_H
#define ISYNTH_CHECK_H

#include "isynth/filter.h"
#include "isynth/seeds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_check_params {
    isynth_filter_params filter; /* lang is taken from the seeds; check_output is forced on */
    bool verify;                 /* list the facts to verify of kept rows; default true */
    /* Called every 256 rows and at the end; may be NULL. */
    void (*progress)(void *user, size_t done, size_t total);
    void *progress_user;
    volatile int *stop; /* when non-NULL and set, the check stops with ISYNTH_ERR_CANCELLED */
} isynth_check_params;

isynth_check_params isynth_check_params_default(void);

/* The decision on one row. The task is the row normalised (NFKC, whitespace), owned here. */
typedef struct isynth_check_row {
    isynth_task task;
    bool has_id;        /* the row carried its own id (else task.id is "seed-<line>") */
    const char *reason; /* NULL when kept; static */
    char detail[128];
    char *verify;   /* kept rows: JSON array of the facts to verify; else NULL */
    size_t n_facts; /* kept rows: 1 when verify lists anything, else 0 */
    /* set by the caller that judges (isynth check --judge); written when score > 0 */
    int judge_score;
    char *judge_reason;
    char *judge_false_claims; /* JSON array */
    char *judge_model;
} isynth_check_row;

typedef struct isynth_check_result {
    isynth_check_row *rows;
    size_t n;
    size_t kept, rejected, with_facts;
    isynth_lang lang;
} isynth_check_result;

/* Checks every task of data against seeds. *out is a new result the caller frees with
 * isynth_check_result_free. */
isynth_err isynth_check_run(const isynth_seedset *data, const isynth_seedset *seeds,
                            const isynth_check_params *p, isynth_check_result **out,
                            isynth_error *err);

/* Writes the kept rows to kept_path (id when the row had one, instruction, input, output,
 * eval_aspect when not empty, verify, judge when judged) and the rejected ones to
 * rejected_path (NULL: not written) with reason, detail and their source line, as JSONL through
 * temporary files renamed into place. */
isynth_err isynth_check_write(const isynth_check_result *r, const char *kept_path,
                              const char *rejected_path, isynth_error *err);

/* NULL-safe. */
void isynth_check_result_free(isynth_check_result *r);

#ifdef __cplusplus
}
#endif
#endif
