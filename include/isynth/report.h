/* The run report: one self-contained HTML page (DIR/report.html) with interactive charts of a
 * run, drawn by Chart.js (embedded into the page, with its licence) from the run's figures,
 * which the page carries as JSON. It opens offline in any browser. */
#ifndef ISYNTH_REPORT_H
#define ISYNTH_REPORT_H

#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the report of the run in st to path (NULL: DIR/report.html), through a temporary
 * renamed into place. */
isynth_err isynth_report_write(isynth_store *st, const char *path, isynth_error *err);

/* The Chart.js build and its licence text embedded into every report (static strings). */
const char *isynth_report_chartjs_version(void);

#ifdef __cplusplus
}
#endif
#endif
