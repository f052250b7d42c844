/* Yield: how many usable rows a run gets per generated token and per minute, with each of the
 * levers that decide it switched on and off. One process loads the model once and runs, for
 * every configuration, a fixed number of requests at three run seeds (a target no run reaches,
 * so every run spends exactly its requests), each into its own run directory, then reads the
 * counts back from the runs' stores. "Usable" is an accepted row: every accepted row has passed
 * the filters and the row checks (checks.h), which is what the quality issue asked of one.
 * Prints one line per configuration; exits non-zero only on a broken run. */
#include "isynth/isynth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct config {
    const char *name;
    const char *what;
    void (*apply)(isynth_gen_params *p);
} config;

static void c_before(isynth_gen_params *p)
{
    p->constrain = false;
    p->early_stop = false;
}
static void c_grammar(isynth_gen_params *p)
{
    p->early_stop = false;
}
static void c_default(isynth_gen_params *p)
{
    (void)p;
}
static void c_ex2(isynth_gen_params *p)
{
    p->n_examples = 2;
}
static void c_ex6(isynth_gen_params *p)
{
    p->n_examples = 6;
}
static void c_gen0(isynth_gen_params *p)
{
    p->n_generated_examples = 0;
}
static void c_notopic(isynth_gen_params *p)
{
    p->topics = false;
}
static void c_t10(isynth_gen_params *p)
{
    p->temperature = 1.0f;
}
static void c_t04(isynth_gen_params *p)
{
    p->temperature = 0.4f;
}
static void c_m1(isynth_gen_params *p)
{
    p->n_new = 1;
}
static void c_m5(isynth_gen_params *p)
{
    p->n_new = 5;
}
static void c_two(isynth_gen_params *p)
{
    p->two_stage = true;
}

static const config configs[] = {
    {"before", "free text, no early stop (the release before)", c_before},
    {"grammar", "+ grammar", c_grammar},
    {"default", "+ grammar + early stop", c_default},
    {"ex2", "default, 2 examples", c_ex2},
    {"ex6", "default, 6 examples", c_ex6},
    {"gen0", "default, no generated example", c_gen0},
    {"notopic", "default, no subject", c_notopic},
    {"t0.4", "default, temperature 0.4", c_t04},
    {"t1.0", "default, temperature 1.0", c_t10},
    {"m1", "default, 1 task a request", c_m1},
    {"m5", "default, 5 tasks a request", c_m5},
    {"two", "default, two-stage", c_two},
};

typedef struct totals {
    long requests, candidates, accepted, unparseable, truncated, stopped, tokens;
    double seconds;
} totals;

static isynth_progress last_prog;
static long unparseable_now, truncated_now;

static void progress(void *user, const isynth_progress *pr)
{
    (void)user;
    unparseable_now = truncated_now = 0;
    for (size_t i = 0; i < pr->n_reasons; i++) {
        if (!strcmp(pr->reasons[i], "unparseable")) unparseable_now = pr->reason_counts[i];
        if (!strcmp(pr->reasons[i], "truncated")) truncated_now = pr->reason_counts[i];
    }
}

int main(int argc, char **argv)
{
    const char *model = NULL, *seeds = NULL, *only = NULL;
    const char *work = "/tmp/isynth-bench-yield";
    long requests = 8;
    int parallel = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = argv[++i];
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            requests = atol(argv[++i]);
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--work") && i + 1 < argc)
            work = argv[++i];
        else {
            fprintf(stderr, "usage: bench_yield --model GGUF --seeds FILE [--requests N (8)] "
                            "[--parallel P (4)] [--only NAME,NAME...] [--work DIR]\n"
                            "configurations:");
            for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++)
                fprintf(stderr, " %s", configs[c].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (!model || !seeds || requests < 1) {
        fprintf(stderr, "bench_yield: --model and --seeds are required\n");
        return 2;
    }
    isynth_error err;
    isynth_llama_params lp = isynth_llama_params_default();
    lp.model_path = model;
    lp.parallel = parallel;
    isynth_backend *be = NULL;
    if (isynth_llama_backend_new(&lp, &be, &err)) {
        fprintf(stderr, "bench_yield: %s\n", err.msg);
        return 1;
    }
    mkdir(work, 0755);
    static const uint64_t run_seeds[3] = {1, 2, 3};
    printf("yield on %s, %ld requests x 3 run seeds per configuration, parallel %d\n", seeds,
           requests, parallel);
    printf("%-8s %4s %5s %4s %6s %6s %5s %7s %7s %7s %9s %8s  %s\n", "config", "req", "cand", "acc",
           "usable", "unpars", "trunc", "stopped", "tokens", "wall_s", "use/1ktok", "use/min",
           "what");
    fflush(stdout);
    int rc = 0;
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        if (only) {
            char pat[64];
            snprintf(pat, sizeof pat, ",%s,", configs[c].name);
            char list[512];
            snprintf(list, sizeof list, ",%s,", only);
            if (!strstr(list, pat)) continue;
        }
        totals t = {0};
        for (int s = 0; s < 3; s++) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/%s-%llu", work, configs[c].name,
                     (unsigned long long)run_seeds[s]);
            char cmd[1100];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0) return 1;
            isynth_gen_params gp = isynth_gen_params_default();
            gp.seeds_path = seeds;
            gp.out_dir = dir;
            gp.target = 100000;
            gp.max_requests = requests;
            gp.seed = run_seeds[s];
            gp.progress = progress;
            configs[c].apply(&gp);
            unparseable_now = truncated_now = 0;
            isynth_progress pr;
            isynth_err e = isynth_generate(&gp, be, &pr, &err);
            if (e) {
                fprintf(stderr, "bench_yield: %s seed %llu: %s\n", configs[c].name,
                        (unsigned long long)run_seeds[s], err.msg);
                rc = 1;
                continue;
            }
            t.requests += pr.requests;
            t.candidates += pr.accepted + pr.rejected + pr.pending;
            t.accepted += pr.accepted;
            t.unparseable += unparseable_now;
            t.truncated += truncated_now;
            t.stopped += pr.stopped;
            t.tokens += pr.completion_tokens;
            t.seconds += pr.elapsed;
            last_prog = pr;
        }
        double per_k = t.tokens ? 1000.0 * (double)t.accepted / (double)t.tokens : 0;
        double per_min = t.seconds > 0 ? 60.0 * (double)t.accepted / t.seconds : 0;
        printf("%-8s %4ld %5ld %4ld %6ld %6ld %5ld %7ld %7ld %7.1f %9.2f %8.2f  %s\n",
               configs[c].name, t.requests, t.candidates, t.accepted, t.accepted, t.unparseable,
               t.truncated, t.stopped, t.tokens, t.seconds, per_k, per_min, configs[c].what);
        fflush(stdout);
    }
    isynth_backend_free(be);
    return rc;
}
