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
struct sqlite3;

/* Opens (creating when absent) DIR/run.db, creating DIR when needed. *out is a new handle the
 * caller closes with isynth_store_close. */
isynth_err isynth_store_open(const char *dir, isynth_store **out, isynth_error *err);
void isynth_store_close(isynth_store *st);

/* The SQLite handle, owned by the store, for modules with their own queries (review). */
struct sqlite3 *isynth_store_db(isynth_store *st);
/* The run directory; owned by the store. */
const char *isynth_store_dir(isynth_store *st);

isynth_err isynth_store_begin(isynth_store *st, isynth_error *err);
isynth_err isynth_store_commit(isynth_store *st, isynth_error *err);
void isynth_store_rollback(isynth_store *st);

/* Key/value configuration. get: *val is a new string the caller frees (NULL when absent). */
isynth_err isynth_store_meta_get(isynth_store *st, const char *key, char **val,
                                 isynth_error *err);
isynth_err isynth_store_meta_set(isynth_store *st, const char *key, const char *val,
                                 isynth_error *err);

/* Stores the seeds when the table is empty (first run); seed row ids are 1..n in file order. */
isynth_err isynth_store_put_seeds(isynth_store *st, const isynth_seedset *seeds,
                                  isynth_error *err);

/* A finished request as recorded. Strings borrowed for the call. */
typedef struct isynth_request_rec {
    int stage;               /* 1: tasks (or instructions in two-stage mode); 2: an answer */
    const char *status;      /* "done" or "failed" */
    const char *examples;    /* JSON array of example refs shown, e.g. ["s3","g12"] */
    long long parent;        /* stage 2: the candidate answered; 0 otherwise */
    const char *prompt;
    const char *response;
    size_t response_len;
    const char *error;
    bool truncated;
    long prompt_tokens, completion_tokens;
    int retries;
    double seconds;
} isynth_request_rec;

/* Inserts a request row; *id gets its row id. */
isynth_err isynth_store_add_request(isynth_store *st, const isynth_request_rec *r, long long *id,
                                    isynth_error *err);

/* A candidate task with its filter decision. Strings borrowed for the call. */
typedef struct isynth_candidate_rec {
    long long request_id;
    int idx;                 /* position in the response */
    const char *instruction, *input, *output;
    const char *dedup_key;
    const char *status;      /* "accepted", "rejected" or "pending" (waiting for stage 2) */
    const char *reason;      /* filter reason when rejected, else NULL */
    const char *detail;      /* e.g. the copied example's ref, or NULL */
    const char *nn_ref;      /* nearest neighbour ("s3", "g12") or NULL */
    double nn_score;         /* its ROUGE-L F, or -1 when not computed */
} isynth_candidate_rec;

isynth_err isynth_store_add_candidate(isynth_store *st, const isynth_candidate_rec *c,
                                      long long *id, isynth_error *err);
/* Sets a pending candidate's output, status and reason (stage 2 of two-stage mode). */
isynth_err isynth_store_finish_candidate(isynth_store *st, long long id, const char *output,
                                         const char *status, const char *reason,
                                         isynth_error *err);

/* Counts candidates with a status ("accepted", "rejected", "pending"); NULL counts all. */
isynth_err isynth_store_count(isynth_store *st, const char *status, long *n, isynth_error *err);
/* Counts requests with a status ("done", "failed"); NULL counts all. */
isynth_err isynth_store_count_requests(isynth_store *st, const char *status, long *n,
                                       isynth_error *err);

/* Calls fn for each candidate of a status in id order; strings valid during the call.
 * fn returns non-zero to stop (that value is returned as ISYNTH_ERR_CANCELLED). */
typedef int (*isynth_candidate_fn)(void *user, long long id, const char *instruction,
                                   const char *input, const char *output,
                                   const char *dedup_key);
isynth_err isynth_store_each_candidate(isynth_store *st, const char *status,
                                       isynth_candidate_fn fn, void *user, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
