/* Parser: free model text to candidate tasks. Tolerant of numbering variants ("タスク1:",
 * "Task 2.", "## 3", full-width digits, markdown bold), missing or extra sections, truncated
 * output and junk; never crashes on any bytes. */
#ifndef ISYNTH_PARSE_H
#define ISYNTH_PARSE_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result of parsing one response. tasks[i] carry instruction/input/output (id and
 * eval_aspect are ""); all owned by the result. */
typedef struct isynth_parsed {
    isynth_task *tasks;
    size_t n;
    /* Blocks that looked like a task but could not be used, with a short static reason
     * ("no instruction", "truncated", "no output"...). */
    size_t n_unparseable;
    const char **unparseable_reasons;
    char **unparseable_text; /* the raw block, owned */
} isynth_parsed;

typedef struct isynth_parse_params {
    bool want_output;   /* true: a task needs an output section (one-stage mode) */
    bool truncated;     /* true: the generation hit max tokens; the last block is dropped
                           as truncated unless it is complete */
    size_t max_tasks;   /* stop after this many tasks; default 20 */
} isynth_parse_params;

isynth_parse_params isynth_parse_params_default(void);

/* Parses len bytes of text (any bytes; invalid UTF-8 is replaced). On success *out is a new
 * result the caller frees with isynth_parsed_free(); zero tasks is success, not an error. */
isynth_err isynth_parse_tasks(const char *text, size_t len, const isynth_parse_params *params,
                              isynth_parsed **out, isynth_error *err);

void isynth_parsed_free(isynth_parsed *p);

#ifdef __cplusplus
}
#endif
#endif
