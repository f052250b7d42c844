/* The filter chain a candidate task goes through, each rejection with a reason:
 * normalise (NFKC, whitespace) -> empty / too short / too long -> exact duplicate of a seed or
 * of the pool -> copy of an example shown in its prompt -> the quality filters (keywords, start,
 * language) -> the row checks (checks.h) -> ROUGE-L of the instruction against the examples and
 * the whole pool -> seed_copy widened (an instruction that is a seed's or an example's output,
 * or a fragment of one seed) -> output_copy (an output that is a near-copy of a seed's, an
 * example's or an accepted task's output). */
#ifndef ISYNTH_FILTER_H
#define ISYNTH_FILTER_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_filter isynth_filter;

typedef struct isynth_filter_params {
    isynth_lang lang;
    size_t min_instruction_chars;  /* code points; default 4 */
    size_t max_instruction_chars;  /* default 1000 */
    size_t max_input_chars;        /* default 4000 */
    size_t min_output_chars;       /* default 1 (one-stage mode) */
    size_t max_output_chars;       /* default 6000 */
    double copy_ratio;             /* containment share that makes a copy; default 0.8 */
    double rouge_threshold;        /* reject at or above this ROUGE-L F; <= 0 disables; 0.7 */
    bool check_output;             /* false while an answer is still to come (two-stage) */
    bool quality;                  /* keyword, token length, start and language filters; true */
    const char *keywords_path;     /* keyword list file (one per line), NULL for the built-in */
    int tokenizer;                 /* isynth_tokenizer_kind for ROUGE-L; default chars */
    bool row_checks;               /* scaffolding, missing_input, unbalanced, repetition, echo,
                                      wrong_language (checks.h); default true */
    const char *template_text;     /* the user template whose framing is scaffolding too, or
                                      NULL; borrowed during isynth_filter_new */
    size_t output_copy_min_tokens; /* outputs shorter than this are never output_copy, so that
                                      labels (否定的) and short answers (42です。) can be shared:
                                      default 20 chars-tokenizer tokens (one per kana or kanji)
                                      for Japanese text, half that (Latin words) for text
                                      without Japanese characters */
    double fragment_ratio;         /* share of a candidate's tokens, in order, inside one seed
                                      that makes it a seed fragment; default 0.8 */
    double output_fragment_share;  /* share of an output's tokens (at least
                                      output_copy_min_tokens of them) inside runs of 6 or more
                                      tokens shared with one seed's or example's output that
                                      makes it output_copy: a seed's answer pasted under a new
                                      instruction with a few words changed; default 0.5, 0 off */
    bool report_nearest;           /* find every candidate's exact nearest neighbour (nn_ref,
                                      nn_score) even below the threshold; default true. false
                                      lets the index prune below the threshold (isynth check) */
} isynth_filter_params;

/* The decision on one candidate. Strings are static or owned by the filter until the next
 * call on it. */
typedef struct isynth_verdict {
    const char *reason; /* NULL when accepted; else "empty", "too_short", "too_long",
                           "duplicate", "seed_copy", "prompt_copy", "rouge", "output_copy",
                           "scaffolding", "missing_input", "unbalanced", "repetition", "echo",
                           "wrong_language", a quality.h reason, ... */
    char detail[128];   /* e.g. the ref of the duplicated or copied task */
    char nn_ref[32];    /* nearest neighbour in seeds and pool ("s3", "g12"), or "" */
    double nn_score;    /* its ROUGE-L F, or -1 when not computed */
} isynth_verdict;

isynth_filter_params isynth_filter_params_default(void);

/* Creates a filter. *out is freed with isynth_filter_free. Fails when the keyword file cannot
 * be read or the tokenizer is unavailable. */
isynth_err isynth_filter_new(const isynth_filter_params *p, isynth_filter **out, isynth_error *err);
void isynth_filter_free(isynth_filter *f);

/* Normalises a task's fields in place (NFKC, whitespace); fails on invalid UTF-8. */
isynth_err isynth_filter_normalize(isynth_task *t, isynth_error *err);

/* Adds a task to the pool that later candidates are compared against. ref names it ("s3"
 * for seed 3, "g12" for candidate 12, "p2" for line 2 of the prompt's own instructions, which
 * small models copy back as if it were a task); copied. A match with an "s" ref is rejected
 * as seed_copy, with a "p" ref as prompt_copy. An instruction and input together over 16 MiB
 * (what the tokenizer reads) are ISYNTH_ERR_TOO_LARGE. */
isynth_err isynth_filter_add(isynth_filter *f, const char *ref, const isynth_task *t,
                             isynth_error *err);

/* Adds the answer of a task already added with an empty output (two-stage mode) to the outputs
 * later answers are compared against. ref as for isynth_filter_add; copied. */
isynth_err isynth_filter_add_output(isynth_filter *f, const char *ref, const char *output,
                                    isynth_error *err);

/* Judges the answer of a task whose instruction passed isynth_filter_check without an output
 * (two-stage mode): the row checks with the output, then output_copy. */
isynth_err isynth_filter_check_answer(isynth_filter *f, const isynth_task *t, isynth_verdict *v,
                                      isynth_error *err);

/* Judges a normalised candidate. examples are the tasks shown in its prompt (refs alongside).
 * *key gets the candidate's dedup key (caller frees with isynth_free; NULL after an error).
 * The candidate is not added to the pool: call isynth_filter_add when it is kept. */
isynth_err isynth_filter_check(isynth_filter *f, const isynth_task *t,
                               const isynth_task *const *examples, const char *const *example_refs,
                               size_t k, isynth_verdict *v, char **key, isynth_error *err);

/* Judges a candidate whose output is not written yet (early stop): the checks of
 * isynth_filter_check that read only the instruction and the input, so a candidate it rejects
 * is rejected by isynth_filter_check whatever its output. Same arguments otherwise. */
isynth_err isynth_filter_check_early(isynth_filter *f, const isynth_task *t,
                                     const isynth_task *const *examples,
                                     const char *const *example_refs, size_t k, isynth_verdict *v,
                                     char **key, isynth_error *err);

/* Judges a rewritten task (Evol-Instruct) whose answer is not written yet: the checks of
 * isynth_filter_check_early with no examples, its parent (the ref it was added under, "s3",
 * "g12"; parent_task its text) left out of the similarity checks, which it is meant to
 * resemble; then the evolution's own elimination: "no_evolution" when it is the parent written
 * back or gains nothing over it (ROUGE-L F at 0.9 or above, of the instructions when the input
 * is kept, else of instruction + input; or, with must_grow (the operations that add to a task),
 * no more tokens than the parent), and "prompt_copy" when it carries the evolution prompt's
 * framing words. ISYNTH_ERR_NOT_FOUND when parent is not in the pool. */
isynth_err isynth_filter_check_evolved(isynth_filter *f, const isynth_task *t, const char *parent,
                                       const isynth_task *parent_task, bool must_grow,
                                       isynth_verdict *v, char **key, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
