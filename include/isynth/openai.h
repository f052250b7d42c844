/* OpenAI-compatible HTTP backend: requests to /v1/chat/completions or /v1/completions on one
 * or more servers (vLLM, llama-server, Ollama), many in flight from one thread over libcurl's
 * multi interface, with retries, back-off and servers set aside while they keep failing.
 * The result is an ordinary isynth_backend (see backend.h). */
#ifndef ISYNTH_OPENAI_H
#define ISYNTH_OPENAI_H

#include "isynth/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum isynth_openai_endpoint {
    ISYNTH_OPENAI_CHAT = 0,    /* POST <base>/v1/chat/completions with "messages" */
    ISYNTH_OPENAI_COMPLETIONS, /* POST <base>/v1/completions with "prompt" (base models) */
} isynth_openai_endpoint;

/* Everything is borrowed during isynth_openai_backend_new(); the backend copies what it keeps.
 * Times are in seconds. */
typedef struct isynth_openai_params {
    /* Base URLs, http:// or https://, e.g. "http://gpu1:8000" or "http://gpu1:8000/v1/":
     * trailing slashes are dropped and "/v1" is appended unless the path already ends in it. */
    const char *const *base_urls;
    size_t n_base_urls;
    const char *model; /* the served model name sent as "model"; required */
    /* Sent as "Authorization: Bearer <key>" when non-empty. The caller reads it (from
     * OPENAI_API_KEY or a key file); the library never reads the environment, never logs the
     * key and replaces it with "[redacted]" in any error text. */
    const char *api_key;
    isynth_openai_endpoint endpoint; /* default chat. With completions, chat requests are sent
                                        as a prompt made of their messages' contents */
    int concurrency;        /* requests in flight (incl. those waiting to retry); default 8 */
    double connect_timeout; /* per connection attempt; default 10 */
    double total_timeout;   /* per attempt, whole exchange; default 600 */
    /* Once the response has started, an attempt with no byte received for this long is
     * abandoned and retried; default 30. Before the first byte only total_timeout applies,
     * since a non-streamed generation sends nothing until it is done. */
    double stall_timeout;
    int max_retries;           /* attempts beyond the first; default 5 */
    double backoff_base;       /* retry n waits uniform(0, min(cap, base * 2^(n-1))); 0.5 */
    double backoff_cap;        /* default 30 */
    double retry_after_max;    /* a server's Retry-After is honoured up to this; default 120 */
    int fail_threshold;        /* consecutive failures that set a server aside; default 3 */
    double cooldown;           /* how long a server stays aside; default 30 */
    size_t max_response_bytes; /* larger bodies fail the request (no retry); default 8 MiB */
    uint64_t jitter_seed;      /* seed for back-off jitter; 0 picks one from the clock */
    /* The served model's chat template (its Jinja text, or a name llama.cpp knows such as
     * "chatml"), copied; NULL: unknown. Only Magpie needs it: it writes the template's user
     * turn opening out and sends it to the completions endpoint. */
    const char *chat_template;
} isynth_openai_params;

/* Defaults as documented above; base_urls, model and api_key are NULL. */
isynth_openai_params isynth_openai_params_default(void);

/* Checks the parameters and creates the backend (no network traffic yet). On success *out is a
 * backend the caller frees with isynth_backend_free(); on failure *out is NULL and err says
 * which field is wrong (ISYNTH_ERR_INVALID) or ISYNTH_ERR_NOMEM / ISYNTH_ERR_HTTP (libcurl
 * could not be set up).
 *
 * Behaviour of the backend:
 * - submit() copies the request into a JSON body (temperature, top_p, max_tokens, seed masked
 *   to 31 bits) and queues it; it fails with ISYNTH_ERR_INVALID when capacity() is 0 or a
 *   string is not valid UTF-8. capacity() = concurrency - in_flight().
 * - Each attempt goes to the usable server with the fewest requests outstanding. Connection
 *   errors, time-outs, stalls, HTTP 408, 429, 5xx and a 200 whose body is not the expected
 *   JSON are retried after exponential back-off with full jitter, or after the server's
 *   Retry-After when it sends one. Other statuses fail at once with the server's message
 *   (JSON "error.message" when present). A server with fail_threshold consecutive retryable
 *   failures is set aside for cooldown seconds, unless no other server is usable (then
 *   back-off alone paces it); after the cool-down one more failure sets it aside again.
 * - A request that fails past max_retries is delivered with status ISYNTH_ERR_HTTP and the
 *   last error; a body over max_response_bytes with ISYNTH_ERR_TOO_LARGE. Every submitted
 *   request is delivered exactly once by step(), unless the backend is freed first.
 * - A request with json_schema is sent with "response_format": {"type": "json_schema",
 *   "json_schema": {"name", "schema", "strict": true}} (and, on the completions endpoint, the
 *   schema again as llama-server's top-level "json_schema"). A server that answers 400 or 422
 *   naming response_format or json_schema is remembered, per base URL and endpoint, as not
 *   taking it: that request is sent again at once without it (one more attempt, counted in
 *   retries), later requests to it go without it, and their results have constrained false.
 *   req.grammar is not sent.
 * - info(): kind "openai", model and model_name = the model name, license "",
 *   has_chat_template true for the chat endpoint, parallel = concurrency. */
isynth_err isynth_openai_backend_new(const isynth_openai_params *p, isynth_backend **out,
                                     isynth_error *err);

#ifdef __cplusplus
}
#endif
#endif
