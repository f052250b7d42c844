/* Generation throughput of the embedded backend on realistic Self-Instruct prompts: R
 * requests, P decoded together, each generating exactly G tokens (end-of-generation ignored,
 * as llama-batched-bench does), with or without the shared prompt-head KV reuse. Like
 * llama-batched-bench, one short untimed request warms the backend up first (the first decode
 * allocates the compute graph's buffers). --grammar samples under the reply grammar of
 * isynth_prompt_grammar, as generate does; --no-adapt keeps the thread count fixed (see
 * isynth_llama_params.adapt_threads). Prints one line of key=value figures for
 * bench/gen/run.sh. */
#include "isynth/isynth.h"
#include "isynth/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *grammar; /* --grammar: the reply grammar, else NULL */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct totals {
    long done, prompt, gen;
    double first_done;
} totals;

/* A failed request stops the benchmark: step() returns its error. */
static isynth_err on_done(void *user, const isynth_gen_result *r, isynth_error *err)
{
    totals *t = user;
    if (r->status)
        return isynth_error_set(err, r->status, "request failed: %s", r->error ? r->error : "?");
    t->done++;
    t->prompt += r->prompt_tokens;
    t->gen += r->completion_tokens;
    return ISYNTH_OK;
}

/* Builds the few-shot prompt for ex[0..n) and submits it for exactly max_tokens tokens. Returns
 * non-zero after printing the error. */
static int submit(isynth_backend *be, const isynth_prompt_params *pp, const isynth_task *const *ex,
                  size_t n, int max_tokens, uint64_t id)
{
    isynth_error err;
    isynth_prompt pr;
    if (isynth_prompt_build(pp, ex, n, &pr, &err)) {
        fprintf(stderr, "bench_gen: %s\n", err.msg);
        return 1;
    }
    isynth_msg msgs[2] = {{"system", pr.system}, {"user", pr.user}};
    isynth_gen_req req = {.id = id,
                          .chat = true,
                          .msgs = msgs,
                          .n_msgs = 2,
                          .max_tokens = max_tokens,
                          .temperature = 0.7f,
                          .top_p = 0.95f,
                          .seed = id,
                          .ignore_eog = true,
                          .grammar = grammar};
    int rc = isynth_backend_submit(be, &req, &err) != ISYNTH_OK;
    if (rc) fprintf(stderr, "bench_gen: %s\n", err.msg);
    isynth_prompt_clear(&pr);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *seeds_path = NULL;
    int parallel = 1, requests = 0, gen = 200, examples = 4;
    bool reuse = true, same_prompt = false, use_grammar = false, adapt = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds_path = argv[++i];
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            requests = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
            gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--examples") && i + 1 < argc)
            examples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-prefix-cache"))
            reuse = false;
        else if (!strcmp(argv[i], "--same-prompt"))
            same_prompt = true;
        else if (!strcmp(argv[i], "--grammar"))
            use_grammar = true;
        else if (!strcmp(argv[i], "--no-adapt"))
            adapt = false;
        else {
            fprintf(stderr, "usage: bench_gen --model GGUF --seeds FILE [--parallel P] "
                            "[--requests R] [--gen G] [--examples K] [--no-prefix-cache] "
                            "[--same-prompt] [--grammar] [--no-adapt]\n");
            return 2;
        }
    }
    if (!model || !seeds_path) return 2;
    if (requests <= 0) requests = parallel;
    isynth_error err;
    isynth_seedset *seeds;
    isynth_seeds_params sp = isynth_seeds_params_default();
    if (isynth_seeds_load(seeds_path, &sp, &seeds, &err)) {
        fprintf(stderr, "bench_gen: %s\n", err.msg);
        return 1;
    }
    isynth_llama_params lp = isynth_llama_params_default();
    lp.model_path = model;
    lp.parallel = parallel;
    lp.reuse_prefix = reuse;
    lp.adapt_threads = adapt;
    isynth_backend *be;
    if (isynth_llama_backend_new(&lp, &be, &err)) {
        fprintf(stderr, "bench_gen: %s\n", err.msg);
        return 1;
    }
    isynth_prompt_params pp = isynth_prompt_params_default();
    pp.lang = seeds->lang;
    if (use_grammar && isynth_prompt_grammar(&pp, false, &grammar, &err)) {
        fprintf(stderr, "bench_gen: %s\n", err.msg);
        return 1;
    }
    totals t = {0};
    int submitted = 0;
    uint64_t rng = 12345;
    {
        /* warm-up: one real prompt, 4 tokens, not counted */
        const isynth_task *ex[1] = {&seeds->tasks[0]};
        totals w = {0};
        if (submit(be, &pp, ex, 1, 4, 1u << 30)) return 1;
        while (w.done < 1)
            if (isynth_backend_step(be, on_done, &w, &err)) {
                fprintf(stderr, "bench_gen: %s\n", err.msg);
                return 1;
            }
    }
    double t0 = now_s();
    while (t.done < requests) {
        while (submitted < requests && isynth_backend_capacity(be) > 0) {
            const isynth_task *ex[16];
            for (int k = 0; k < examples && k < 16; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t idx = same_prompt ? (size_t)k : (size_t)(rng >> 33) % seeds->n;
                ex[k] = &seeds->tasks[idx];
            }
            if (submit(be, &pp, ex, (size_t)examples, gen, (uint64_t)submitted)) return 1;
            submitted++;
        }
        if (isynth_backend_step(be, on_done, &t, &err)) {
            fprintf(stderr, "bench_gen: %s\n", err.msg);
            return 1;
        }
    }
    double wall = now_s() - t0;
    printf("parallel=%d requests=%d prefix_cache=%s grammar=%s prompt_tokens_avg=%.0f "
           "gen_tokens=%ld wall_s=%.2f gen_tok_s=%.2f total_tok_s=%.2f\n",
           parallel, requests, reuse ? "on" : "off", grammar ? "on" : "off",
           (double)t.prompt / requests, t.gen, wall, t.gen / wall, (t.gen + t.prompt) / wall);
    isynth_backend_free(be);
    isynth_seeds_free(seeds);
    isynth_free(grammar);
    return 0;
}
