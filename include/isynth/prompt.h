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
    /* The reply comes back as the JSON object of isynth_prompt_json_schema (a server enforcing
     * it through response_format): the built-in request then says so instead of asking for the
     * examples' text format. */
    bool json_reply;
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

/* Builds the request for new tasks from k examples (borrowed). A prompt text over 4 MiB (about
 * 1M tokens, past any context window) is ISYNTH_ERR_TOO_LARGE; so for isynth_prompt_answer. */
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

/* Magpie (generate --method magpie): the system message that steers the user turn a model
 * writes when its prompt ends at a user turn's opening. system_text is the caller's (a file's
 * text, {{topic}} allowed; "" for no system message) or NULL for the built-in one of p->lang.
 * The built-in one names no subject: the default model wrote a third as many usable turns when
 * it did, most of them the subject's sentence said back (bench/magpie). */
/* The text before its subject is filled in (borrowed from system_text, or static): its lines
 * are what a model that copies its prompt writes back. Never NULL. */
const char *isynth_prompt_magpie_text(const isynth_prompt_params *p, const char *system_text);
/* The text with {{topic}} filled from p->topic; *out is new (isynth_free). */
isynth_err isynth_prompt_magpie_system(const isynth_prompt_params *p, const char *system_text,
                                       char **out, isynth_error *err);

/* Evol-Instruct (generate --method evol): the operations that rewrite a task, WizardLM's five
 * in depth and one in breadth. */
typedef enum isynth_evol_op {
    ISYNTH_EVOL_CONSTRAINTS = 0,  /* add a constraint or requirement */
    ISYNTH_EVOL_DEEPEN,           /* ask for deeper knowledge or insight */
    ISYNTH_EVOL_CONCRETIZE,       /* general concepts made specific */
    ISYNTH_EVOL_REASONING,        /* require several steps of reasoning */
    ISYNTH_EVOL_COMPLICATE_INPUT, /* a longer, richer input (or one added) */
    ISYNTH_EVOL_BREADTH,          /* a new, rarer task in the same domain */
    ISYNTH_EVOL_N
} isynth_evol_op;

/* "constraints", "deepen", ...; static string ("unknown" out of range). */
const char *isynth_evol_op_name(isynth_evol_op op);
/* True for the operations that add to a task (a rewrite no longer than its parent gained
 * nothing): all but concretize and breadth. */
bool isynth_evol_op_grows(isynth_evol_op op);
/* The rules block of the evolution prompt in a language (static): its lines are what a model
 * that copies its prompt writes back. */
const char *isynth_prompt_evol_rules(isynth_lang lang);
/* The request that rewrites parent (borrowed) by op, in p->lang; the reply is one task in the
 * "指示: / 入力:" format (isynth_parse_tasks without output; a completion continues after
 * "指示: ", which is parse_prefix). */
isynth_err isynth_prompt_evol(const isynth_prompt_params *p, const isynth_task *parent,
                              isynth_evol_op op, isynth_prompt *out, isynth_error *err);

/* The words the built-in format frames tasks with in a language; static strings. */
typedef struct isynth_prompt_labels {
    const char *task;        /* "タスク" / "Task " (before the number) */
    const char *instruction; /* "指示" / "Instruction" */
    const char *input;       /* "入力" / "Input" */
    const char *output;      /* "出力" / "Output" */
    const char *none;        /* "なし" / "<noinput>" (an empty input) */
} isynth_prompt_labels;

void isynth_prompt_labels_get(isynth_lang lang, isynth_prompt_labels *out);

/* The reply the request asks for, as a GBNF grammar (root rule "root") that llama.cpp's grammar
 * sampler enforces while decoding: the examples' text format with the labels of p->lang, at
 * most p->n_new tasks, output fields unless p->two_stage, and no line a parser would misread
 * (a label, a header, a rule, an unclosed fence). completion: the reply continues a completion
 * prompt after its parse_prefix ("タスクN\n指示:") instead of starting with a header. Built from
 * the same labels as the prompt, so the two cannot drift apart. *out is the caller's
 * (isynth_free). */
isynth_err isynth_prompt_grammar(const isynth_prompt_params *p, bool completion, char **out,
                                 isynth_error *err);

/* The same reply as a JSON Schema for servers (response_format json_schema):
 * {"tasks": [{"instruction", "input", "output"}]}, 1..n_new items, no output when two-stage;
 * isynth_parse_json_tasks reads it back. *out is the caller's (isynth_free). */
isynth_err isynth_prompt_json_schema(const isynth_prompt_params *p, char **out, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
