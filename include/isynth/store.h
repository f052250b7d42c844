/* The run store: one SQLite file (run.db, WAL) per run directory holding the configuration,
 * the seeds, every request with its raw response, every candidate with its filter decision.
 * run.db is the truth; every export is made from it. Each finished request is committed with
 * its candidates in one transaction, so kill -9 loses at most the requests in flight. */
#ifndef ISYNTH_STORE_H
#define ISYNTH_STORE_H

#include "isynth/task.h"
#include "isynth/seeds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_store isynth_store;

/* A candidate's status. ISYNTH_CAND_ANY (0) means every status where a function counts or walks
 * candidates. */
typedef enum isynth_cand_status {
    ISYNTH_CAND_ANY = 0,
    ISYNTH_CAND_ACCEPTED, /* passed the filters (and the judge's minimum) */
    ISYNTH_CAND_REJECTED, /* with a reason */
    ISYNTH_CAND_PENDING,  /* waiting for its answer (stage 2 of two-stage mode) */
} isynth_cand_status;

/* A request's status; ISYNTH_REQ_ANY (0) means every status where a function counts. */
typedef enum isynth_req_status {
    ISYNTH_REQ_ANY = 0,
    ISYNTH_REQ_DONE,   /* answered */
    ISYNTH_REQ_FAILED, /* the backend failed it (error set) */
} isynth_req_status;

/* A status's name as run.db and the exports spell it ("accepted", "done"); static strings,
 * "any" for ISYNTH_*_ANY and "?" for a value outside the enum. */
const char *isynth_cand_status_name(isynth_cand_status s);
const char *isynth_req_status_name(isynth_req_status s);

/* isynth_store_open's flags. */
enum {
    ISYNTH_STORE_CREATE = 1 << 0, /* a new run: create DIR (and its parents) and run.db if absent */
};

/* Opens DIR/run.db for writing, upgrading a run of an older schema. Without ISYNTH_STORE_CREATE
 * the run must exist: ISYNTH_ERR_NOT_FOUND ("no run here") when DIR/run.db does not. *out is a
 * new handle the caller closes with isynth_store_close. */
isynth_err isynth_store_open(const char *dir, unsigned flags, isynth_store **out,
                             isynth_error *err);
void isynth_store_close(isynth_store *st);

/* The run directory; owned by the store. */
const char *isynth_store_dir(isynth_store *st);

isynth_err isynth_store_begin(isynth_store *st, isynth_error *err);
isynth_err isynth_store_commit(isynth_store *st, isynth_error *err);
void isynth_store_rollback(isynth_store *st);

/* Key/value configuration. get: *val is a new string the caller frees (NULL when absent). */
isynth_err isynth_store_meta_get(isynth_store *st, const char *key, char **val, isynth_error *err);
isynth_err isynth_store_meta_set(isynth_store *st, const char *key, const char *val,
                                 isynth_error *err);

/* Stores the seeds when the table is empty (first run); seed row ids are 1..n in file order. */
isynth_err isynth_store_put_seeds(isynth_store *st, const isynth_seedset *seeds, isynth_error *err);

/* The most examples one request records (the pipeline shows at most 16). */
#define ISYNTH_MAX_REQUEST_EXAMPLES 32

/* A finished request as recorded. Strings borrowed for the call. */
typedef struct isynth_request_rec {
    int stage;                /* 1: tasks (or instructions in two-stage mode); 2: an answer */
    isynth_req_status status; /* done or failed */
    /* the examples shown, in prompt order, as refs: "s3" (seed 3 of the run) or "g12"
     * (candidate 12); stored as rows of request_examples */
    const char *const *examples;
    size_t n_examples;
    long long parent; /* stage 2: the candidate answered; 0 otherwise */
    const char *prompt;
    const char *response;
    size_t response_len;
    const char *error;
    bool truncated;
    long prompt_tokens, completion_tokens;
    int retries;
    double seconds;
    const char *server; /* the server that answered (HTTP base URL), or NULL */
} isynth_request_rec;

/* Inserts a request row; *id gets its row id. */
isynth_err isynth_store_add_request(isynth_store *st, const isynth_request_rec *r, long long *id,
                                    isynth_error *err);

/* A candidate task with its filter decision. Strings borrowed for the call. */
typedef struct isynth_candidate_rec {
    long long request_id;
    int idx; /* position in the response */
    const char *instruction, *input, *output;
    const char *dedup_key;
    isynth_cand_status status; /* accepted, rejected or pending (waiting for stage 2) */
    const char *reason;        /* filter reason when rejected, else NULL */
    const char *detail;        /* e.g. the copied example's ref, or NULL */
    const char *nn_ref;        /* nearest neighbour ("s3", "g12") or NULL */
    double nn_score;           /* its ROUGE-L F, or -1 when not computed */
    const char *verify;        /* facts to verify, a JSON array of strings, or NULL */
} isynth_candidate_rec;

isynth_err isynth_store_add_candidate(isynth_store *st, const isynth_candidate_rec *c,
                                      long long *id, isynth_error *err);
/* Sets a pending candidate's output, status, reason, detail (NULL keeps it) and facts to verify
 * (JSON array or NULL), in stage 2 of two-stage mode. */
isynth_err isynth_store_finish_candidate(isynth_store *st, long long id, const char *output,
                                         isynth_cand_status status, const char *reason,
                                         const char *detail, const char *verify, isynth_error *err);
/* A candidate's instruction and input as new strings in out (the caller clears it with
 * isynth_task_clear); ISYNTH_ERR_NOT_FOUND when there is no candidate with that id. */
isynth_err isynth_store_get_candidate(isynth_store *st, long long id, isynth_task *out,
                                      isynth_error *err);
/* Rejects an accepted candidate afterwards (the judge's minimum score); no-op on other statuses. */
isynth_err isynth_store_reject(isynth_store *st, long long id, const char *reason,
                               const char *detail, isynth_error *err);

/* ---- exports: the rows of data.jsonl and rejected.jsonl, and the card's review counts ---- */

/* One candidate as the exports write it; strings valid during the callback, NULL when absent. */
typedef struct isynth_export_row {
    long long id, request_id;
    const char *instruction, *input, *output;
    const char *created_at;
    const char *reason, *detail; /* the filter's decision (rejected rows) */
    const char *nn_ref;          /* nearest neighbour ("s3", "g12"), NULL when not computed */
    double nn_score;             /* its ROUGE-L F, -1 when not computed */
    const char *verify;          /* facts to verify, a JSON array of strings, or NULL */
    /* the own ids (seeds file's "id") of the seeds its request showed as examples, in prompt
     * order */
    const char *const *seed_ids;
    size_t n_seed_ids;
    /* an evolved row's lineage: parent is the parent seed's own id or "g12"; NULL when the row
     * was not evolved */
    const char *parent, *operation;
    int round;
} isynth_export_row;
typedef isynth_err (*isynth_export_fn)(void *user, const isynth_export_row *row, isynth_error *err);
/* Calls fn for each candidate of a status (accepted or rejected) in id order; fn's error stops
 * the walk and is returned. */
isynth_err isynth_store_each_export_row(isynth_store *st, isynth_cand_status status,
                                        isynth_export_fn fn, void *user, isynth_error *err);

/* The refs of the examples request request_id showed ("s3" seed 3, "g12" candidate 12), in
 * prompt order, written into refs (room for ISYNTH_MAX_REQUEST_EXAMPLES); *n of them, 0 for a
 * request with none or no such request. */
isynth_err isynth_store_request_examples(isynth_store *st, long long request_id, char (*refs)[24],
                                         size_t *n, isynth_error *err);

/* Lineage of an evolved task (generate --method evol): parent is the ref of the task it was
 * rewritten from ("s3": seed 3 of the run, "g12": candidate 12), operation the rewrite's name
 * (isynth_evol_op_name), round 1 for a rewrite of a seed. */
isynth_err isynth_store_add_lineage(isynth_store *st, long long id, const char *parent,
                                    const char *operation, int round, isynth_error *err);
/* A candidate's lineage as new strings (the caller frees them with isynth_free);
 * ISYNTH_ERR_NOT_FOUND (no message) when it has none. */
isynth_err isynth_store_get_lineage(isynth_store *st, long long id, char **parent, char **operation,
                                    int *round, isynth_error *err);
/* Calls fn for every accepted evolved task of a round below max_round that no task was
 * rewritten from yet (the tasks the next round evolves), oldest first; strings borrowed for the
 * call. fn's error stops the walk and is returned. */
typedef isynth_err (*isynth_frontier_fn)(void *user, long long id, int round,
                                         const char *instruction, const char *input,
                                         isynth_error *err);
isynth_err isynth_store_each_evol_frontier(isynth_store *st, int max_round, isynth_frontier_fn fn,
                                           void *user, isynth_error *err);

/* Calls fn for each (operation, round, status) of the evolved candidates with their count. */
typedef isynth_err (*isynth_lineage_sum_fn)(void *user, const char *operation, int round,
                                            isynth_cand_status status, long n, isynth_error *err);
isynth_err isynth_store_each_lineage_sum(isynth_store *st, isynth_lineage_sum_fn fn, void *user,
                                         isynth_error *err);

/* A judgement of one candidate. Strings borrowed for the call. */
typedef struct isynth_judgement_rec {
    long long candidate_id;
    int score;                /* 1-5, or 0 when the row could not be judged (see error) */
    const char *reason;       /* the judge's reason, or NULL */
    const char *false_claims; /* JSON array of strings, or NULL */
    const char *model;        /* the judge model's name */
    const char *error;        /* why there is no score, or NULL */
} isynth_judgement_rec;

/* Records (or replaces) a candidate's judgement. Call inside a transaction to make it one step
 * of the ledger: a row judged and committed is never judged again by a rerun. */
isynth_err isynth_store_put_judgement(isynth_store *st, const isynth_judgement_rec *j,
                                      isynth_error *err);

/* A candidate's judgement when it has a score: *score 1-5 and new strings the caller frees
 * (false_claims a JSON array); *score 0 and NULLs when it was not judged. */
isynth_err isynth_store_get_judgement(isynth_store *st, long long id, int *score, char **reason,
                                      char **false_claims, char **model, isynth_error *err);

/* What the card reports on the accepted rows' quality. */
typedef struct isynth_quality_counts {
    long with_facts;          /* accepted rows with facts to verify */
    long judged;              /* accepted (or judge-rejected) rows with a score */
    long judge_errors;        /* rows the judge could not score */
    long score_hist[6];       /* [1..5]: rows per score */
    long consistency_checked; /* accepted rows re-asked (--consistency) */
    long consistency_flagged; /* of which some fact changed across the re-answers */
} isynth_quality_counts;
isynth_err isynth_store_quality_counts(isynth_store *st, isynth_quality_counts *out,
                                       isynth_error *err);

/* One candidate with what was found about it; strings valid during the callback, NULL when
 * absent (judge_score 0 when not judged). */
typedef struct isynth_row_rec {
    long long id;
    const char *instruction, *input, *output;
    const char *verify;
    int judge_score;
    const char *judge_reason, *judge_false_claims, *judge_model, *judge_error;
} isynth_row_rec;
/* Returns ISYNTH_OK to go on; any error stops the walk and is returned as it is. */
typedef isynth_err (*isynth_row_fn)(void *user, const isynth_row_rec *row, isynth_error *err);
/* Calls fn for each candidate of a status in id order, with its facts and judgement; with
 * unjudged_only, only those without a score. */
isynth_err isynth_store_each_row(isynth_store *st, isynth_cand_status status, bool unjudged_only,
                                 isynth_row_fn fn, void *user, isynth_error *err);

/* Records a candidate's self-consistency check: k re-answers compared, the row's facts most of
 * them did not repeat and the facts they gave instead (JSON arrays of strings). */
isynth_err isynth_store_put_consistency(isynth_store *st, long long id, int k, const char *disagree,
                                        const char *alternatives, isynth_error *err);
/* A candidate's check: *k 0 and NULLs when it has none, else new strings the caller frees. */
isynth_err isynth_store_get_consistency(isynth_store *st, long long id, int *k, char **disagree,
                                        char **alternatives, isynth_error *err);
/* Calls fn for each accepted candidate with facts to verify and no consistency check yet, in id
 * order (judge fields of the row are 0/NULL). */
isynth_err isynth_store_each_unchecked(isynth_store *st, isynth_row_fn fn, void *user,
                                       isynth_error *err);

/* Counts candidates with a status; ISYNTH_CAND_ANY counts all. */
isynth_err isynth_store_count(isynth_store *st, isynth_cand_status status, long *n,
                              isynth_error *err);
/* Counts requests with a status; ISYNTH_REQ_ANY counts all. */
isynth_err isynth_store_count_requests(isynth_store *st, isynth_req_status status, long *n,
                                       isynth_error *err);

/* Calls fn for each candidate of a status in id order; strings valid during the call. fn is
 * given the walk's err; its error stops the walk and is returned unchanged, with err as fn
 * left it. */
typedef isynth_err (*isynth_candidate_fn)(void *user, long long id, const char *instruction,
                                          const char *input, const char *output,
                                          const char *dedup_key, isynth_error *err);
isynth_err isynth_store_each_candidate(isynth_store *st, isynth_cand_status status,
                                       isynth_candidate_fn fn, void *user, isynth_error *err);

/* ---- run statistics: status, budgets and the report ----
 * Everything here is read from run.db, so the figures survive a kill and a resume: a request
 * counts once it is committed, and only then. */

/* Opens an existing run directory's store for reading only (isynth status while a run writes
 * it, isynth report). ISYNTH_ERR_NOT_FOUND when DIR/run.db does not exist; *out as for
 * isynth_store_open. A run of an older schema (2 or 3) is read as it is (2: no server per
 * request; 3: the examples as JSON text); isynth_store_open upgrades it. */
isynth_err isynth_store_open_read(const char *dir, isynth_store **out, isynth_error *err);

/* Whole-run totals. */
typedef struct isynth_run_totals {
    long requests, failed; /* finished requests, and of them those that failed */
    long stage1;           /* of them the requests for tasks (stage 1) */
    long retries;
    long long prompt_tokens, completion_tokens;
    long accepted, rejected, pending; /* candidates by status */
    long stopped;                     /* rejected by early stop (counted in rejected) */
    long long first_at, last_at; /* the first and last request's time (Unix seconds), 0: none */
} isynth_run_totals;
isynth_err isynth_store_totals(isynth_store *st, isynth_run_totals *out, isynth_error *err);

/* Calls fn for each rejection reason with its count, the most frequent first. */
typedef isynth_err (*isynth_reason_fn)(void *user, const char *reason, long n, isynth_error *err);
isynth_err isynth_store_each_reason(isynth_store *st, isynth_reason_fn fn, void *user,
                                    isynth_error *err);

/* One finished request with what came of it; strings and arrays valid during the callback. */
typedef struct isynth_request_sum {
    long long id;
    int stage;
    bool failed, truncated;
    long prompt_tokens, completion_tokens;
    int retries;
    double seconds;  /* its duration */
    long long at;    /* when it was recorded (Unix seconds) */
    long candidates; /* stage 1: candidates it gave (early-stopped ones included) */
    long kept;       /* of them accepted or pending now */
    /* the seeds it showed as examples (stage 1), as seed row ids 1..n, at most
     * ISYNTH_MAX_REQUEST_EXAMPLES */
    const long long *seed_examples;
    size_t n_seed_examples;
    const char *prompt; /* the prompt as recorded */
    const char *server; /* the server that answered (HTTP), or NULL */
} isynth_request_sum;
typedef isynth_err (*isynth_request_fn)(void *user, const isynth_request_sum *r, isynth_error *err);
/* Calls fn for each finished request in id order; with last_stage1 > 0 only for the last that
 * many stage-1 requests that did not fail (the recent yield). */
isynth_err isynth_store_each_request(isynth_store *st, long last_stage1, isynth_request_fn fn,
                                     void *user, isynth_error *err);

/* One candidate as the report sees it; strings valid during the callback, NULL when absent. */
typedef struct isynth_candidate_sum {
    long long id, request_id;
    isynth_cand_status status;
    const char *reason, *detail, *nn_ref;
    double nn_score; /* -1 when not computed */
    const char *instruction, *input, *output;
    bool has_facts;  /* facts to verify were found */
    int judge_score; /* 0: not judged */
} isynth_candidate_sum;
typedef isynth_err (*isynth_candidate_sum_fn)(void *user, const isynth_candidate_sum *c,
                                              isynth_error *err);
isynth_err isynth_store_each_candidate_sum(isynth_store *st, isynth_candidate_sum_fn fn, void *user,
                                           isynth_error *err);

/* The rows a run offers as seeds of another (--seeds run:DIR): once a review workbook was
 * imported with some row decided, the rows the reviewers accepted or edited, with their edits;
 * before that, the accepted candidates. *reviewed says which. fn as for
 * isynth_store_each_candidate (the key argument is NULL). */
isynth_err isynth_store_each_kept_row(isynth_store *st, bool *reviewed, isynth_candidate_fn fn,
                                      void *user, isynth_error *err);

/* Calls fn for each stored seed in file order (fields valid during the callback). */
typedef isynth_err (*isynth_seed_fn)(void *user, const isynth_task *seed, isynth_error *err);
isynth_err isynth_store_each_seed(isynth_store *st, isynth_seed_fn fn, void *user,
                                  isynth_error *err);

/* ---- review: the workbook's rows and the reviewers' decisions ----
 * Generated text in candidates is never changed: a reviewer's decision and edited text are kept
 * beside it (one record per reviewed task) and every change is appended to a history, so the
 * generated text and each edit stay queryable. */

/* A reviewer's decision on a task (the workbook's status column). */
typedef enum isynth_review_status {
    ISYNTH_REVIEW_PENDING = 0, /* not decided */
    ISYNTH_REVIEW_ACCEPTED,
    ISYNTH_REVIEW_EDITED, /* accepted with the reviewer's edits */
    ISYNTH_REVIEW_REJECTED,
} isynth_review_status;

/* The status as run.db and the dataset card spell it ("pending", "accepted", "edited",
 * "rejected"): a static string. */
const char *isynth_review_status_name(isynth_review_status status);

/* Calls fn for each review status with its count of rows, in the order of the statuses' names;
 * no call when no workbook was imported (no review table). */
typedef isynth_err (*isynth_review_count_fn)(void *user, isynth_review_status status, long n,
                                             isynth_error *err);
isynth_err isynth_store_each_review_count(isynth_store *st, isynth_review_count_fn fn, void *user,
                                          isynth_error *err);

/* Creates the review tables when the run has none (a run nobody reviewed): the functions below
 * need them. Call it first, on a store opened with isynth_store_open. */
isynth_err isynth_store_review_init(isynth_store *st, isynth_error *err);

/* A task ref as isynth writes it, "s3" (seed 3 of the run) or "g12" (candidate 12): 's' or 'g'
 * and 1 to 18 digits with no leading zero, nothing else (no sign, no space). true with *kind
 * ('s' or 'g') and *id set when ref is one; false (ref NULL included) otherwise. */
bool isynth_store_parse_ref(const char *ref, char *kind, long long *id);

/* The instruction of the task a ref names (a seed or a candidate), as a new string the caller
 * frees with isynth_free; ISYNTH_ERR_NOT_FOUND (no message) when ref is not a ref or names no
 * task of the run. */
isynth_err isynth_store_ref_instruction(isynth_store *st, const char *ref, char **text,
                                        isynth_error *err);

/* Calls fn for each configuration key with its value, in key order (strings valid during the
 * callback). fn's error stops the walk and is returned. */
typedef isynth_err (*isynth_meta_fn)(void *user, const char *key, const char *value,
                                     isynth_error *err);
isynth_err isynth_store_each_meta(isynth_store *st, isynth_meta_fn fn, void *user,
                                  isynth_error *err);

/* Which tasks isynth_store_each_review_row walks. */
typedef enum isynth_review_rows {
    ISYNTH_REVIEW_ROWS_ACCEPTED = 0, /* the tasks the filters accepted (the workbook) */
    ISYNTH_REVIEW_ROWS_FILTERED,     /* those and the ones the filters rejected */
    ISYNTH_REVIEW_ROWS_KEPT,         /* the tasks reviewers accepted or edited (the dataset) */
} isynth_review_rows;

/* One task as a reviewer sees it. Strings valid during the callback; the texts and comment
 * are never NULL, the others NULL when absent. */
typedef struct isynth_review_rec {
    long long id;
    bool rejected;                            /* rejected by the filters */
    const char *instruction, *input, *output; /* the reviewer's edits applied */
    isynth_review_status status; /* never decided: pending, or rejected when the filters were */
    const char *comment;         /* the reviewer's, "" when none */
    const char *const *examples; /* refs of the examples its request showed, in order */
    size_t nexamples;
    const char *nn_ref;          /* its nearest neighbour's ref */
    double nn_score;             /* and their ROUGE-L F, -1 when not computed */
    const char *reason, *detail; /* the filters' reason (when rejected) and detail */
    bool truncated;              /* its request's reply was cut at the token limit */
    const char *verify;          /* facts to verify (verify_len bytes, a JSON array) */
    size_t verify_len;
    int judge_score;                               /* 1-5, 0 when not judged */
    const char *judge_reason, *judge_false_claims; /* when judged (false claims a JSON array) */
} isynth_review_rec;
/* Returns ISYNTH_OK to go on; any error (its cause in err) stops the walk and is returned. */
typedef isynth_err (*isynth_review_fn)(void *user, const isynth_review_rec *row, isynth_error *err);
/* Calls fn for each task of the set in id order. */
isynth_err isynth_store_each_review_row(isynth_store *st, isynth_review_rows set,
                                        isynth_review_fn fn, void *user, isynth_error *err);

/* A task's state under review, strings the caller's (isynth_store_review_state_clear). */
typedef struct isynth_review_state {
    char *instruction, *input, *output; /* as generated */
    /* the reviewer's text, NULL where it is as generated */
    char *edited_instruction, *edited_input, *edited_output;
    isynth_review_status status; /* never decided: pending, or rejected when the filters were */
    char *comment;               /* "" when none */
} isynth_review_state;
/* Fills *out for the task id; ISYNTH_ERR_NOT_FOUND (with a message) when the run has no
 * accepted or rejected task with that id. */
isynth_err isynth_store_get_review(isynth_store *st, long long id, isynth_review_state *out,
                                   isynth_error *err);
/* Frees the strings of s and zeroes it (NULL is a no-op). */
void isynth_store_review_state_clear(isynth_review_state *s);

/* A reviewer's decision on a task. Strings borrowed for the call. */
typedef struct isynth_review_put {
    long long id;
    isynth_review_status status;
    const char *instruction, *input, *output; /* the text now, NULL: as generated */
    const char *comment;                      /* NULL or "": none */
    const char *source;                       /* where the decision came from (a workbook) */
    const char *at;                           /* when, "YYYY-MM-DDTHH:MM:SSZ" */
} isynth_review_put;
/* What a decision changed. */
typedef struct isynth_review_changes {
    bool text;    /* the instruction, input or output */
    bool status;  /* the status */
    bool comment; /* the comment */
} isynth_review_changes;
/* Records a decision: each of the text fields, the status and the comment that differs from
 * the task's state is appended to the history (old and new value, source and time), then the
 * state is replaced; a text equal to the generated one is kept as "as generated". Nothing is
 * written when nothing differs, so the same decision twice changes nothing. *changed (may be
 * NULL) says what differed. ISYNTH_ERR_NOT_FOUND as for isynth_store_get_review. Call it in a
 * transaction to make a whole import one step. */
isynth_err isynth_store_put_review(isynth_store *st, const isynth_review_put *d,
                                   isynth_review_changes *changed, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
