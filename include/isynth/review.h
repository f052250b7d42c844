/* isynth review round trip: a run's generated tasks out to a review workbook, the reviewed
 * workbook's statuses and edits back into run.db (generated text kept as history), and the
 * reviewed dataset out as JSONL. Each call makes run.db's review tables first when the run has
 * none (isynth_store_review_init). */
#ifndef ISYNTH_REVIEW_H
#define ISYNTH_REVIEW_H

#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the review workbook: sheet "review" (one row per accepted task in id order, plus the
 * rejected ones when include_rejected, marked) and sheet "run" (configuration and counts).
 * Statuses use Japanese labels when the run's language is Japanese. Each row shows its facts to
 * verify (column verify, one a line, locked; their first occurrences emphasised in the output
 * as rich text) and its judgement (judge: the score as a number cell with red/amber/green fills,
 * empty when not judged; judge_reason: the reason and the claims judged false). *rows (may be
 * NULL) gets the task rows. */
isynth_err isynth_review_export_xlsx(isynth_store *st, const char *path, bool include_rejected,
                                     size_t *rows, isynth_error *err);

typedef struct isynth_review_report {
    size_t rows;           /* task rows read from the workbook */
    size_t status_changed; /* rows whose status changed */
    size_t text_changed;   /* rows whose instruction, input, output or comment changed */
} isynth_review_report;

/* Applies a reviewed workbook to run.db in one transaction. Columns are found by header name
 * (any order; ASCII case and surrounding spaces ignored); only id, status, instruction, input,
 * output and comment are read, so the informational columns (verify, judge, ...) may be edited
 * or absent, as in workbooks of the previous release. Unknown or repeated ids, a missing
 * column or an unknown status refuse the whole import (nothing applied) with every problem
 * listed in err (ISYNTH_ERR_PARSE). Importing the same file again changes nothing. */
isynth_err isynth_review_import_xlsx(isynth_store *st, const char *path, isynth_review_report *rep,
                                     isynth_error *err);

typedef enum isynth_dataset_format {
    ISYNTH_DATASET_ALPACA = 0, /* {"instruction","input","output"} */
    ISYNTH_DATASET_MESSAGES,   /* {"messages":[{"role":"user",...},{"role":"assistant",...}]} */
} isynth_dataset_format;

/* Writes the accepted and edited tasks (edits applied) as JSONL and refreshes the "Review"
 * section of the run's dataset card (DIR/README.md) with the review counts. */
isynth_err isynth_review_export_jsonl(isynth_store *st, const char *path, isynth_dataset_format fmt,
                                      size_t *rows, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
