/* The generation run: seeds -> prompts -> backend -> parser -> filters -> run store ->
 * exports. Resumable: the same call on the same run directory continues towards the target
 * with no duplicate and no lost row. */
#ifndef ISYNTH_PIPELINE_H
#define ISYNTH_PIPELINE_H

#include "isynth/backend.h"
#include "isynth/filter.h"
#include "isynth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum isynth_prompt_format {
    ISYNTH_FORMAT_AUTO = 0, /* chat when the model has a chat template */
    ISYNTH_FORMAT_CHAT,
    ISYNTH_FORMAT_COMPLETION,
} isynth_prompt_format;

/* How new tasks are made. */
typedef enum isynth_gen_method {
    ISYNTH_METHOD_SELF_INSTRUCT = 0, /* from examples: seeds and accepted rows (default) */
    ISYNTH_METHOD_MAGPIE, /* the model's chat template up to a user turn's opening is the whole
                             prompt: the model writes the user's message (the instruction),
                             which a second request answers. The seeds serve as the filters'
                             references (copies, ROUGE-L) and give the language */
    ISYNTH_METHOD_EVOL,   /* Evol-Instruct: each request rewrites one task (a seed, or in later
                             rounds an accepted rewrite) by one operation (isynth_evol_op), and
                             a second request answers the rewrite; failed rewrites are
                             eliminated (isynth_filter_check_evolved). Every row keeps its
                             parent and operation (run.db's lineage, data.jsonl) */
} isynth_gen_method;

/* "self-instruct", "magpie", "evol"; static string. */
const char *isynth_gen_method_name(isynth_gen_method m);

/* Why a run ended without an error. */
typedef enum isynth_gen_end {
    ISYNTH_END_NONE = 0,     /* still running, or ended by an error or an interruption */
    ISYNTH_END_TARGET,       /* -n rows accepted */
    ISYNTH_END_MAX_REQUESTS, /* the request limit was reached */
    ISYNTH_END_MAX_TOKENS,   /* the generated-token budget was spent */
    ISYNTH_END_MAX_COST,     /* the cost budget was spent */
    ISYNTH_END_LOW_YIELD,    /* the recent requests' candidates were almost all rejected */
} isynth_gen_end;

/* "target", "request limit", ...; static string. */
const char *isynth_gen_end_name(isynth_gen_end end);

/* Progress, given to the callback after every finished request. Owned by the run. */
typedef struct isynth_progress {
    long target;
    long accepted;
    long accepted_at_start; /* accepted when this session began */
    long pending;           /* instructions waiting for their answer (two-stage) */
    long rejected;
    long requests; /* finished requests, this run and earlier ones */
    long failed;
    long in_flight;
    long completion_tokens; /* this session */
    long stopped;           /* tasks dropped by early stop (counted in rejected), this session */
    long long run_prompt_tokens; /* the whole run (every session), as run.db has them */
    long long run_completion_tokens;
    double cost;         /* of the whole run at the given prices; 0 without prices */
    double recent_yield; /* share of candidates kept over the last yield_window stage-1
                            requests that did not fail; -1 before the first */
    isynth_gen_end end;  /* set on the final progress */
    double elapsed;      /* seconds, this session */
    size_t n_reasons;
    const char *const *reasons; /* rejection reasons seen, with their counts */
    const long *reason_counts;
} isynth_progress;

typedef struct isynth_gen_params {
    const char *seeds_path;      /* borrowed, like every string here */
    const char *seeds_map;       /* --map, or NULL */
    const isynth_seedset *seeds; /* already loaded or built seeds (borrowed; seeds_path then only
                                    names them in the card and may be NULL), or NULL to load
                                    seeds_path */
    const char *out_dir;
    long target;              /* accepted tasks wanted (-n) */
    long max_requests;        /* stop after this many requests in total; 0: 30 * target + 30
                                 (the default model keeps about one task in 10-30 requests) */
    int n_examples;           /* examples per prompt; default 4 */
    int n_generated_examples; /* of which drawn from generated tasks when there are some; 1 */
    int n_new;                /* tasks asked per request; default 3 */
    isynth_prompt_format format;
    isynth_gen_method method;
    /* Magpie: the system message (a file's text, {{topic}} allowed; "" for none), or NULL for
     * the built-in one in the seeds' language (isynth_prompt_magpie_system) */
    const char *magpie_system;
    bool lang_check; /* Magpie: a user turn whose first 16 characters are not in the run's
                        language is dropped and written again (at most 4 times a request;
                        a backend that cannot rewind ends it, and the filters reject it).
                        Default true */
    int rounds; /* Evol-Instruct: rounds of evolution; an accepted rewrite of round r < rounds is
                   rewritten again. Default 1 */
    const char *template_text; /* --template contents, or NULL */
    const char *template_name; /* for the record */
    bool two_stage;
    bool topics;       /* ask each request for tasks on a random subject; default true */
    bool constrain;    /* enforce the reply's format while it is decoded: a GBNF grammar
                          (embedded backend), or with json_schema a JSON schema (HTTP,
                          when the server takes response_format); default true */
    bool json_schema;  /* HTTP backends: ask for the reply as JSON under a JSON schema in
                          response_format (needs constrain). Default false: with the
                          default 0.5B model, 59 of 60 tasks written in JSON mode were
                          copies of the prompt's examples, against 18 of 31 in the text
                          format (docs/quality.md, "JSON replies") */
    bool early_stop;   /* check each task as soon as its instruction and input are written
                          and drop it there when the filters would reject it: the embedded
                          backend rewinds and writes another task in its place (at most
                          2 * n_new times a request). Stopped tasks are recorded rejected
                          with their reason and detail "stopped early". In two stages (and
                          Magpie) an answer caught in a loop ends there instead of running to
                          max tokens (the row check "repetition" rejects it as before).
                          Default true */
    float temperature; /* default 0.7 */
    float top_p;       /* default 0.95 */
    int max_tokens;    /* default 512 */
    uint64_t seed;     /* default 1 */
    /* Budgets. Each counts the whole run as run.db has it (earlier sessions included, a
     * request killed before it was recorded not at all). Once one is spent no request is
     * started; those in flight finish (with --parallel P, at most P - 1 over). */
    long long max_generated_tokens; /* 0: no limit */
    double max_cost;                /* in the prices' unit; 0: no limit (needs a price) */
    double price_in;                /* per million prompt tokens; 0 by default */
    double price_out;               /* per million generated tokens; 0 by default */
    double min_yield;               /* stop when fewer than this share of the candidates of the last
                                       yield_window stage-1 requests were kept; 0: never */
    int yield_window;               /* default 20 */
    isynth_filter_params filter;
    void (*progress)(void *user, const isynth_progress *pr);
    void *progress_user;
    volatile int *stop; /* set non-zero (e.g. from a signal handler) to stop soon */
} isynth_gen_params;

isynth_gen_params isynth_gen_params_default(void);

/* Runs (or continues) a generation into p->out_dir with the given backend (borrowed). On
 * success or ISYNTH_ERR_CANCELLED the exports are written. *last gets the final progress. */
isynth_err isynth_generate(const isynth_gen_params *p, isynth_backend *backend,
                           isynth_progress *last, isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
