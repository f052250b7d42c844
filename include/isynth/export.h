/* The run's exports: data.jsonl, rejected.jsonl and the dataset card (README.md), written from
 * the run store alone, so that they can be rewritten at any time (after a resume, a judge
 * pass, a consistency check or an imported review). */
#ifndef ISYNTH_EXPORT_H
#define ISYNTH_EXPORT_H

#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes DIR/data.jsonl, DIR/rejected.jsonl and DIR/README.md (dataset card) from the store,
 * each through a temporary file renamed into place. */
isynth_err isynth_export_run(isynth_store *st, isynth_error *err);

/* Writes DIR/README.md alone: provenance, filter counts and, once a review workbook was
 * imported, the review counts. The one writer of the card, used by generate and by the
 * reviewed-dataset export. */
isynth_err isynth_export_card(isynth_store *st, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
