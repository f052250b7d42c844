/* Prompt builder, Self-Instruct style: k example tasks (seeds and already generated ones) in
 * a numbered format the parser reads back, and a request for new, different tasks in the
 * seeds' language. Built-in Japanese and English templates; a template file overrides. */
#ifndef ISYNTH_PROMPT_H
#define ISYNTH_PROMPT_H

#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_prompt_params {
    isynth_lang lang;
    /* User template text with {{examples}}, {{count}} and {{next}}; NULL for the built-in one.
     * Borrowed while prompts are built. */
    const char *template_text;
    int n_new;                /* tasks asked for per request; default 3 */
    bool two_stage;           /* ask for instructions only; answers come from a second request */
    size_t max_example_chars; /* an example's output is cut past this many bytes; default 600 */
    /* A subject the new tasks should be about ({{topic}} in a template), or NULL. Small models
     * copy their examples far less when told what to write about. Borrowed. */
    const char *topic;
} isynth_prompt_params;

/* The built-in subject list for a language: *n gets its length; static strings. */
const char *const *isynth_prompt_topics(isynth_lang lang, size_t *n);

/* A built prompt; all strings owned by it, released by isynth_prompt_clear. */
typedef struct isynth_prompt {
    char *system;       /* chat system message */
    char *user;         /* chat user message */
    char *completion;   /* the same request as one plain text, for base models */
    char *parse_prefix; /* text a completion continues from, prepended before parsing */
} isynth_prompt;

isynth_prompt_params isynth_prompt_params_default(void);

/* Builds the request for new tasks from k examples (borrowed). */
isynth_err isynth_prompt_build(const isynth_prompt_params *p, const isynth_task *const *examples,
                               size_t k, isynth_prompt *out, isynth_error *err);

/* Builds the second-stage request that answers one instruction (two-stage mode). */
isynth_err isynth_prompt_answer(const isynth_prompt_params *p, const isynth_task *t,
                                isynth_prompt *out, isynth_error *err);

void isynth_prompt_clear(isynth_prompt *pr);

/* The request text a prompt is built from (the template file's text, or the built-in one with
 * its subject rule), placeholders unfilled: its lines are what a model that copies its prompt
 * writes back. Static or borrowed from p; never NULL. */
const char *isynth_prompt_instructions(const isynth_prompt_params *p, const char **topic_rule);

/* The words the built-in format frames tasks with in a language; static strings. */
typedef struct isynth_prompt_labels {
    const char *task;        /* "タスク" / "Task " (before the number) */
    const char *instruction; /* "指示" / "Instruction" */
    const char *input;       /* "入力" / "Input" */
    const char *output;      /* "出力" / "Output" */
    const char *none;        /* "なし" / "<noinput>" (an empty input) */
} isynth_prompt_labels;

void isynth_prompt_labels_get(isynth_lang lang, isynth_prompt_labels *out);

#ifdef __cplusplus
}
#endif
#endif
