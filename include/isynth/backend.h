/* The LLM backend interface: requests in flight, results by callback, one thread.
 * The pipeline submits while capacity() > 0 and calls step() to make progress; step() calls
 * the callback once for every request that finished (successfully or not). Two
 * implementations: embedded llama.cpp (llm_llama.c) and OpenAI-compatible HTTP
 * (llm_openai.c). */
#ifndef ISYNTH_BACKEND_H
#define ISYNTH_BACKEND_H

#include "isynth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isynth_backend isynth_backend;

/* One chat message; strings are borrowed. */
typedef struct isynth_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} isynth_msg;

/* Early stop. A watcher sees a reply while it is decoded and may drop its tail: */
typedef enum isynth_watch_act {
    ISYNTH_WATCH_GO = 0, /* go on */
    ISYNTH_WATCH_CUT,    /* drop the text from *at on and decode again from there: the embedded
                            backend rewinds its KV cache and grammar to the token boundary at or
                            before *at and samples anew (with another random stream); a backend
                            that cannot rewind ends the reply there instead */
    ISYNTH_WATCH_END,    /* end the reply at *at: the result's text is text[0, *at) */
} isynth_watch_act;

/* Called with the whole text decoded so far (borrowed for the call) after each token, for a
 * request that set one; *act starts at ISYNTH_WATCH_GO and *at at len. The embedded backend
 * calls it after every token; the HTTP backend asks the server to stream ("stream": true) and
 * calls it after every event that adds text, and CUT or END there cancels the transfer. A reply
 * that starts again (a retried attempt after some text was seen) is announced by a call with
 * len 0, whose *act is ignored. An error return (err set, naming the cause) stops the backend's
 * step as a failing isynth_gen_cb does, and step() returns it unchanged. */
typedef isynth_err (*isynth_watch_fn)(void *user, uint64_t id, const char *text, size_t len,
                                      isynth_watch_act *act, size_t *at, isynth_error *err);

/* One generation request. Everything is borrowed for the duration of submit(): the backend
 * copies what it keeps. */
typedef struct isynth_gen_req {
    uint64_t id; /* the caller's id, given back in the result */
    bool chat;   /* true: use msgs (chat template / chat API); false: use prompt */
    const isynth_msg *msgs;
    size_t n_msgs;
    const char *prompt; /* plain completion prompt for base models */
    bool raw;           /* prompt is given as the model reads it, a chat template's special
                           tokens written out ("<|im_start|>user\n"): the embedded backend
                           reads their text as those tokens (Magpie's user-turn prefix, from
                           isynth_chat_user_prefix); servers' completion endpoints do so anyway */
    int max_tokens;
    float temperature;
    float top_p;
    uint64_t seed;   /* per-request sampling seed */
    bool ignore_eog; /* generate exactly max_tokens (benchmarks); llama backend only */
    /* Constrained replies (NULL or "": free text, as before). Give both when the reply must be
     * a JSON object: each backend uses the one it can enforce and reports in
     * isynth_gen_result.constrained whether it did. */
    const char *grammar;     /* GBNF with a "root" rule; the embedded backend samples under it.
                                A grammar llama.cpp cannot parse fails the request (delivered
                                with ISYNTH_ERR_BACKEND), not submit() */
    const char *json_schema; /* a JSON Schema (object) sent by the HTTP backend as
                                response_format {"type": "json_schema"}; submit() fails with
                                ISYNTH_ERR_INVALID when it is not a JSON object */
    const char *schema_name; /* response_format's json_schema.name; NULL: "response" */
    isynth_watch_fn watch;   /* NULL: none */
    void *watch_user;        /* given to watch; must outlive the request */
} isynth_gen_req;

/* One finished request, given to the callback. Pointers are borrowed until it returns. */
typedef struct isynth_gen_result {
    uint64_t id;
    isynth_err status; /* ISYNTH_OK or the failure */
    const char *text;  /* generated text (may hold invalid UTF-8 from a server) */
    size_t len;
    const char *error; /* failure message (the server's, when there is one), or NULL */
    bool truncated;    /* stopped at max_tokens rather than end of generation */
    long prompt_tokens;
    long completion_tokens; /* every token decoded, those a watcher cut away included */
    int retries;            /* attempts beyond the first (HTTP) */
    double seconds;         /* wall time from submit to finish */
    /* The reply was generated under req.grammar (embedded) or req.json_schema (HTTP, accepted
     * by the server). False without a constraint, and when the server rejected it (HTTP 400
     * naming response_format or json_schema) and the request was sent again without it: the
     * text is then free and must be parsed tolerantly. */
    bool constrained;
    const char *server; /* the server of the last attempt (HTTP base URL), or NULL */
} isynth_gen_result;

/* Called by step() for each finished request. An error return (err set, naming the cause: the
 * callback's own failure, a store refusing a write, ...) stops the step: the backend calls back
 * no more, drops every request still in flight, finished or not (none is reported later, and
 * in_flight() is 0 after), and step() returns that error with err as the callback left it. */
typedef isynth_err (*isynth_gen_cb)(void *user, const isynth_gen_result *r, isynth_error *err);

/* Totals since the backend was created. */
typedef struct isynth_backend_stats {
    long requests;
    long retries;
    long failures;
    long prompt_tokens;
    long completion_tokens;
    double busy_seconds; /* wall time with at least one request in flight */
} isynth_backend_stats;

/* What the backend knows of its model; strings owned by the backend, valid until free. */
typedef struct isynth_backend_info {
    const char *kind;          /* "llama" or "openai" */
    const char *model;         /* model file path or served model name */
    const char *model_name;    /* general.name from GGUF metadata, or the API model name */
    const char *license;       /* general.license from GGUF metadata, or "" */
    bool has_chat_template;    /* a chat template is available (always true for the chat API) */
    const char *chat_template; /* the template itself, for isynth_chat_user_prefix: the GGUF's
                                  tokenizer.chat_template (embedded), the one given in the
                                  server's parameters (HTTP), or NULL */
    bool rewinds;              /* ISYNTH_WATCH_CUT decodes again from the cut (embedded backend);
                                  false: it ends the reply there, as END does (HTTP) */
    int parallel;              /* requests it runs at once */
    uint64_t n_params;         /* the model's parameter count (embedded), 0 when unknown */
} isynth_backend_info;

/* Implementation table; implementations fill one and wrap it with isynth_backend_wrap(). */
typedef struct isynth_backend_ops {
    size_t (*capacity)(void *impl);
    size_t (*in_flight)(void *impl);
    isynth_err (*submit)(void *impl, const isynth_gen_req *req, isynth_error *err);
    isynth_err (*step)(void *impl, isynth_gen_cb cb, void *user, isynth_error *err);
    void (*info)(void *impl, isynth_backend_info *out);
    void (*stats)(void *impl, isynth_backend_stats *out);
    void (*free)(void *impl);
} isynth_backend_ops;

/* Wraps an implementation; on success the backend owns impl (ops->free releases it). */
isynth_err isynth_backend_wrap(const isynth_backend_ops *ops, void *impl, isynth_backend **out);

/* How many more requests can be submitted now. */
size_t isynth_backend_capacity(isynth_backend *b);
/* Requests submitted and not yet reported. */
size_t isynth_backend_in_flight(isynth_backend *b);
/* Starts a request; the backend copies what it needs from req. */
isynth_err isynth_backend_submit(isynth_backend *b, const isynth_gen_req *req, isynth_error *err);
/* Makes progress (decodes a batch, or waits on sockets up to about 100 ms) and calls cb for
 * each finished request, giving it err. An error return means the backend itself is broken,
 * not a request, or is the error cb or a request's watcher returned (then nothing is left in
 * flight: see isynth_gen_cb). */
isynth_err isynth_backend_step(isynth_backend *b, isynth_gen_cb cb, void *user, isynth_error *err);
/* Fills out with pointers owned by the backend. */
void isynth_backend_info_get(isynth_backend *b, isynth_backend_info *out);
void isynth_backend_stats_get(isynth_backend *b, isynth_backend_stats *out);
/* Frees the backend and its implementation; NULL-safe. Requests still in flight are dropped. */
void isynth_backend_free(isynth_backend *b);

/* Magpie's prompt: the chat template tmpl (a Jinja text as GGUF files carry it, or a name
 * llama.cpp knows: "chatml", "llama3", "gemma", ...) applied to msgs (a system message, or
 * none) and ended at the opening of the next user turn, so that a model given it writes the
 * user's message itself. Built by llama.cpp's template code (llama_chat_apply_template), which
 * needs no model. On success *out is new (the caller frees it with isynth_free);
 * ISYNTH_ERR_MODEL when llama.cpp does not know the template or the template has no user turn
 * to open. */
isynth_err isynth_chat_user_prefix(const char *tmpl, const isynth_msg *msgs, size_t n_msgs,
                                   char **out, isynth_error *err);

/* ---- embedded llama.cpp ---- */
typedef struct isynth_llama_params {
    const char *model_path; /* GGUF file; borrowed during the call */
    int parallel;           /* sequences decoded together; default 4 */
    int n_ctx_per_seq;      /* context per sequence; default 2048 */
    int n_threads;          /* default: number of online CPUs */
    int n_batch;            /* tokens per llama_decode; default 512 */
    bool reuse_prefix;      /* decode the shared prompt prefix once; default true */
    bool quiet;             /* silence llama.cpp's log; default true */
    bool adapt_threads;     /* time generation with n_threads and with one thread now and then,
                               and keep the faster: beside other CPU-heavy work, llama.cpp's
                               spinning threads fall far below a fair share; default true */
} isynth_llama_params;

isynth_llama_params isynth_llama_params_default(void);
/* Loads the model. On success *out is a backend the caller frees with isynth_backend_free. */
isynth_err isynth_llama_backend_new(const isynth_llama_params *p, isynth_backend **out,
                                    isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
