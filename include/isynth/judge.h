/* The LLM judge: grades one generated row (instruction, input, output) against a rubric (the
 * instruction is clear and complete, the answer correct and complete and in the row's language,
 * claims believed false are named), the reply constrained to one JSON object
 *   {"reason": "...", "false_claims": ["...", ...], "score": 1..5}
 * through a GBNF grammar (embedded backend) or a JSON Schema (HTTP backend), both produced from
 * one description of those fields. A driver keeps a backend full of rows; isynth_judge_store
 * judges a run's accepted rows into its store. */
#ifndef ISYNTH_JUDGE_H
#define ISYNTH_JUDGE_H

#include "isynth/backend.h"
#include "isynth/store.h"
#include "isynth/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of a valid reply; the grammar and the schema enforce them, the parser checks them.
 * Lengths are in characters (Unicode code points) of the decoded strings. */
#define ISYNTH_JUDGE_SCORE_MIN 1
#define ISYNTH_JUDGE_SCORE_MAX 5
#define ISYNTH_JUDGE_REASON_MAX 200 /* reason: 1..200 characters */
#define ISYNTH_JUDGE_CLAIMS_MAX 5   /* false_claims: at most 5 strings... */
#define ISYNTH_JUDGE_CLAIM_MAX 150  /* ...of 1..150 characters each */
/* Replies longer than this are refused by the parsers (ISYNTH_ERR_TOO_LARGE). */
#define ISYNTH_JUDGE_REPLY_MAX (256u << 10)

typedef struct isynth_judge_params {
    isynth_lang lang;        /* language of the rows: the prompt and rubric are in it; ja */
    const char *model_label; /* given back in each outcome; NULL: the backend's model_name.
                                Borrowed for the duration of isynth_judge_run() */
    int max_tokens;          /* per reply; default 512 */
    float temperature;       /* default 0 (greedy) */
    float top_p;             /* default 1 */
    uint64_t seed;           /* a row's sampling seed is seed ^ its id; default 0 */
    bool chat;               /* true (default): system + user messages through the chat template
                                or chat API; false: one plain prompt, for base models */
    bool constrain;          /* send the grammar and the schema (default true); false: free
                                text, parsed tolerantly */
} isynth_judge_params;

/* Defaults as documented above. */
isynth_judge_params isynth_judge_params_default(void);

/* One row to judge. Strings are NUL-terminated UTF-8, borrowed; NULL counts as "". */
typedef struct isynth_judge_row {
    uint64_t id; /* the caller's id, given back in the outcome */
    const char *instruction;
    const char *input;
    const char *output;
    /* Evol-Instruct: the task this row rewrote (its instruction, then its input), or NULL. The
     * judge sees it and is asked to score a rewrite that is essentially the same task 2 or
     * lower (WizardLM's "no information gain", judged by a model). */
    const char *parent;
} isynth_judge_row;

/* A parsed grade. Owned by whoever filled it; release with isynth_judgement_clear(). */
typedef struct isynth_judgement {
    int score;           /* ISYNTH_JUDGE_SCORE_MIN..MAX */
    char *reason;        /* 1..ISYNTH_JUDGE_REASON_MAX characters */
    char **false_claims; /* n_false_claims strings (NULL when there are none) */
    size_t n_false_claims;
} isynth_judgement;

/* Frees the strings of j (not j itself) and zeroes it; NULL-safe. */
void isynth_judgement_clear(isynth_judgement *j);
/* The false claims of j as a JSON array of strings ("[]" when none), in a new string the
 * caller frees with isynth_free(). NULL when memory runs out. */
char *isynth_judgement_claims_json(const isynth_judgement *j);

/* The JSON Schema of the reply, as sent to HTTP servers. *out is the caller's (isynth_free). */
isynth_err isynth_judge_schema(char **out, isynth_error *err);
/* The GBNF grammar of the reply (start rule "root"), as the embedded backend samples under it.
 * Strings take any character but '"', '\' and controls, plus JSON escapes (\uXXXX except
 * surrogates), so Japanese text passes. *out is the caller's (isynth_free). */
isynth_err isynth_judge_grammar(char **out, isynth_error *err);

/* A request for one row, built by isynth_judge_request_build(). `req` is ready to submit and
 * points into this struct's own strings and msgs: use the struct where it was built, and
 * release it with isynth_judge_request_clear(). */
typedef struct isynth_judge_request {
    isynth_gen_req req;
    isynth_msg msgs[2];
    char *system, *user, *prompt; /* prompt: the plain form (system and user joined) */
    char *schema, *grammar;       /* NULL when p->constrain is false */
} isynth_judge_request;

/* Builds the request judging row: messages when p->chat, a plain prompt otherwise, in
 * p->lang, with the grammar and the schema when p->constrain. ISYNTH_ERR_UTF8 when a field of
 * the row is not valid UTF-8 (or holds a NUL), ISYNTH_ERR_NOMEM. On failure *out is cleared. */
isynth_err isynth_judge_request_build(const isynth_judge_params *p, const isynth_judge_row *row,
                                      isynth_judge_request *out, isynth_error *err);
/* Frees what the request owns and zeroes it; NULL-safe. */
void isynth_judge_request_clear(isynth_judge_request *r);

/* Parses a constrained reply: text[0..len) must be exactly one JSON object (surrounding white
 * space allowed) with the three fields within their bounds and no other field. On success *out
 * holds the grade (caller clears it); on failure *out is zeroed and err says what is wrong:
 * ISYNTH_ERR_PARSE (not JSON, missing or unknown field, wrong type, out of bounds),
 * ISYNTH_ERR_TOO_LARGE, ISYNTH_ERR_NOMEM. */
isynth_err isynth_judge_parse(const char *text, size_t len, isynth_judgement *out,
                              isynth_error *err);
/* Parses a free reply: the first balanced {...} in text[0..len) that is JSON, checked like
 * isynth_judge_parse(); prose around it is ignored. Same results and ownership. */
isynth_err isynth_judge_extract(const char *text, size_t len, isynth_judgement *out,
                                isynth_error *err);

/* One judged row, given to the done callback; everything is borrowed until it returns. */
typedef struct isynth_judge_outcome {
    uint64_t id;
    /* ISYNTH_OK: judgement holds the grade. Otherwise the row was not graded: the request
     * failed (the backend's status, e.g. ISYNTH_ERR_HTTP), the reply is not a valid grade
     * (ISYNTH_ERR_PARSE), or the row could not be sent (ISYNTH_ERR_UTF8). */
    isynth_err status;
    const char *error;                 /* why, when status != ISYNTH_OK */
    const isynth_judgement *judgement; /* when status == ISYNTH_OK, else NULL */
    const char *reply;                 /* the model's text, NULL when the request failed */
    size_t reply_len;
    const char *model; /* p->model_label or the backend's model_name */
    bool constrained;  /* the reply was generated under the constraint */
    bool truncated;    /* stopped at max_tokens */
    long prompt_tokens, completion_tokens;
    int retries;
    double seconds;
} isynth_judge_outcome;

/* Gives the next row: sets *have and fills *row (strings borrowed until the next call), or
 * sets *have false when there are no more. A non-zero return stops the run with that error. */
typedef isynth_err (*isynth_judge_next_fn)(void *user, isynth_judge_row *row, bool *have,
                                           isynth_error *err);
/* Receives one row's outcome. A non-zero return stops the run with that error. */
typedef isynth_err (*isynth_judge_done_fn)(void *user, const isynth_judge_outcome *o,
                                           isynth_error *err);

/* Judges rows from next() on be, keeping as many in flight as the backend takes, and calls
 * done() once per row with its grade or why there is none (failed requests and invalid replies
 * are outcomes, not errors of the run). Constrained replies are parsed with
 * isynth_judge_parse(), the others (the server rejected the schema, or p->constrain is false)
 * with isynth_judge_extract(). Returns ISYNTH_OK once every row is done; the error of next()
 * or done() as they returned it; ISYNTH_ERR_CANCELLED soon after *stop becomes non-zero (stop
 * may be NULL); a backend failure; ISYNTH_ERR_NOMEM. On any early return the rows still in
 * flight get no outcome (they stay in the backend, which the caller frees or steps on). */
isynth_err isynth_judge_run(isynth_backend *be, const isynth_judge_params *p,
                            isynth_judge_next_fn next, isynth_judge_done_fn done, void *user,
                            volatile int *stop, isynth_error *err);

/* Judging a run's accepted rows (isynth judge, generate --judge). */
typedef struct isynth_judge_run_params {
    isynth_judge_params judge; /* lang is taken from the run */
    int min_score;             /* rows scored below it are rejected with reason "judge"; 0 keeps
                                  every row */
    /* Called after every judged row; may be NULL. */
    void (*progress)(void *user, long done, long total, long failed);
    void *progress_user;
    volatile int *stop; /* set non-zero to stop soon (ISYNTH_ERR_CANCELLED) */
} isynth_judge_run_params;

isynth_judge_run_params isynth_judge_run_params_default(void);

/* Judges every accepted row of the run in st that has no score yet, with backend be
 * (borrowed). Each outcome is committed on its own, so a run killed while judging loses at
 * most the rows in flight and the next call continues. A row whose request or reply failed is
 * recorded with its error and tried again by the next call. *judged and *failed (may be NULL)
 * get this call's counts. The exports are not rewritten: call isynth_export_run. */
isynth_err isynth_judge_store(isynth_store *st, isynth_backend *be,
                              const isynth_judge_run_params *p, long *judged, long *failed,
                              isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
