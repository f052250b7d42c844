/* How well the LLM judge tells good rows from junk: judges every row of labelled JSONL files
 * (instruction, input, output, expect = "keep" or the name of a rejection reason) and prints,
 * per file, the pairwise ordering accuracy (over every pair of a "keep" row and a junk row, how
 * often the good one scores higher, ties counted as half; 0.5 is a random judge, 1.0 a perfect
 * one) and the mean score of each class. The language of a file is detected from its
 * instructions. The embedded backend with the given model by default, or an OpenAI-compatible
 * server with --api-base. Prints; exits non-zero on a broken run, not on a poor judge. */
#include "isynth/isynth.h"
#include "isynth/judge.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROWS 100000

typedef struct row {
    char *instruction, *input, *output, *expect;
    int score;   /* 0: no valid judgement */
    char *error; /* why not */
    bool constrained;
} row;

typedef struct set {
    const char *path;
    row *rows;
    size_t n, next, done;
    isynth_lang lang;
    long completion_tokens;
} set;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *field(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return strdup(s ? s : "");
}

static int load(set *s, size_t limit)
{
    FILE *f = fopen(s->path, "r");
    if (!f) {
        perror(s->path);
        return 1;
    }
    s->rows = calloc(MAX_ROWS, sizeof *s->rows);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, f) > 0 && s->n < MAX_ROWS && (!limit || s->n < limit)) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "expect"))) {
            fprintf(stderr, "%s:%ld: not a labelled row (%s)\n", s->path, lineno,
                    o ? "no \"expect\"" : je.text);
            json_decref(o);
            free(line);
            fclose(f);
            return 1;
        }
        row *r = &s->rows[s->n++];
        r->instruction = field(o, "instruction");
        r->input = field(o, "input");
        r->output = field(o, "output");
        r->expect = field(o, "expect");
        json_decref(o);
    }
    free(line);
    fclose(f);
    const char **texts = calloc(s->n ? s->n : 1, sizeof *texts);
    for (size_t i = 0; i < s->n; i++)
        texts[i] = s->rows[i].instruction;
    s->lang = isynth_lang_detect(texts, s->n);
    free(texts);
    return 0;
}

static isynth_err next_row(void *user, isynth_judge_row *out, bool *have, isynth_error *err)
{
    (void)err;
    set *s = user;
    *have = s->next < s->n;
    if (!*have) return ISYNTH_OK;
    row *r = &s->rows[s->next];
    *out = (isynth_judge_row){
        .id = s->next, .instruction = r->instruction, .input = r->input, .output = r->output};
    s->next++;
    return ISYNTH_OK;
}

static isynth_err on_done(void *user, const isynth_judge_outcome *o, isynth_error *err)
{
    (void)err;
    set *s = user;
    row *r = &s->rows[o->id];
    r->constrained = o->constrained;
    s->completion_tokens += o->completion_tokens;
    if (o->status == ISYNTH_OK)
        r->score = o->judgement->score;
    else
        r->error = strdup(o->error ? o->error : "?");
    s->done++;
    fprintf(stderr, "\r  %s: %zu/%zu", s->path, s->done, s->n);
    return ISYNTH_OK;
}

/* Pairwise ordering accuracy over (keep, junk) pairs with a score each; -1 without pairs. */
static double pairwise(const set *s, long *pairs)
{
    double wins = 0;
    *pairs = 0;
    for (size_t i = 0; i < s->n; i++) {
        const row *g = &s->rows[i];
        if (!g->score || strcmp(g->expect, "keep")) continue;
        for (size_t j = 0; j < s->n; j++) {
            const row *b = &s->rows[j];
            if (!b->score || !strcmp(b->expect, "keep")) continue;
            wins += g->score > b->score ? 1.0 : g->score == b->score ? 0.5 : 0.0;
            ++*pairs;
        }
    }
    return *pairs ? wins / (double)*pairs : -1;
}

static void report(const set *s, double seconds)
{
    size_t failed = 0, unconstrained = 0;
    for (size_t i = 0; i < s->n; i++) {
        failed += s->rows[i].score == 0;
        unconstrained += s->rows[i].score && !s->rows[i].constrained;
    }
    long pairs;
    double acc = pairwise(s, &pairs);
    printf("%s (%s): %zu rows, %zu without a valid judgement, %zu judged unconstrained, "
           "%.1f s (%.2f rows/s, %.1f generated tokens/row, %.1f tokens/s)\n",
           s->path, isynth_lang_name(s->lang), s->n, failed, unconstrained, seconds,
           seconds > 0 ? (double)s->n / seconds : 0.0,
           s->n ? (double)s->completion_tokens / (double)s->n : 0.0,
           seconds > 0 ? (double)s->completion_tokens / seconds : 0.0);
    if (acc >= 0)
        printf("  pairwise ordering accuracy (keep above junk, ties half): %.3f over %ld pairs; "
               "a random judge scores 0.500, %.2fx that\n",
               acc, pairs, acc / 0.5);
    /* per-class mean score, classes in order of first appearance; "junk" is every non-keep */
    const char *classes[64];
    size_t n_classes = 0;
    for (size_t i = 0; i < s->n && n_classes < 63; i++) {
        size_t k = 0;
        while (k < n_classes && strcmp(classes[k], s->rows[i].expect))
            k++;
        if (k == n_classes) classes[n_classes++] = s->rows[i].expect;
    }
    classes[n_classes++] = "(all junk)";
    printf("  %-16s %5s %6s %s\n", "class", "rows", "mean", "scores 1..5");
    for (size_t k = 0; k < n_classes; k++) {
        bool all_junk = k == n_classes - 1;
        int hist[6] = {0};
        size_t n = 0, scored = 0;
        double sum = 0;
        for (size_t i = 0; i < s->n; i++) {
            const row *r = &s->rows[i];
            bool in = all_junk ? strcmp(r->expect, "keep") != 0 : !strcmp(r->expect, classes[k]);
            if (!in) continue;
            n++;
            if (!r->score) continue;
            scored++;
            sum += r->score;
            hist[r->score]++;
        }
        if (scored)
            printf("  %-16s %5zu %6.2f %d %d %d %d %d\n", classes[k], n, sum / (double)scored,
                   hist[1], hist[2], hist[3], hist[4], hist[5]);
        else
            printf("  %-16s %5zu %6s\n", classes[k], n, "-");
    }
    for (size_t i = 0, shown = 0; i < s->n && shown < 3; i++)
        if (s->rows[i].error) {
            printf("  row %zu: %s\n", i + 1, s->rows[i].error);
            shown++;
        }
}

static void set_free(set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->rows[i].instruction);
        free(s->rows[i].input);
        free(s->rows[i].output);
        free(s->rows[i].expect);
        free(s->rows[i].error);
    }
    free(s->rows);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_judge (--model GGUF [--parallel P] | --api-base URL --api-model "
                    "NAME) [--max-tokens N] [--limit N] [--free] FILE.jsonl...\n"
                    "  FILE: JSONL rows with instruction, input, output and expect (\"keep\" or "
                    "a rejection reason)\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *api_base = NULL, *api_model = NULL;
    int parallel = 4, max_tokens = 0;
    size_t limit = 0;
    bool constrain = true;
    const char *files[32];
    size_t n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--api-base") && i + 1 < argc)
            api_base = argv[++i];
        else if (!strcmp(argv[i], "--api-model") && i + 1 < argc)
            api_model = argv[++i];
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc)
            max_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--free"))
            constrain = false;
        else if (argv[i][0] != '-' && n_files < 32)
            files[n_files++] = argv[i];
        else
            return usage();
    }
    if ((!model && !api_base) || !n_files) return usage();
    isynth_error err;
    isynth_backend *be = NULL;
    if (api_base) {
        isynth_openai_params op = isynth_openai_params_default();
        const char *urls[1] = {api_base};
        op.base_urls = urls;
        op.n_base_urls = 1;
        op.model = api_model ? api_model : "default";
        op.concurrency = parallel;
        if (isynth_openai_backend_new(&op, &be, &err)) {
            fprintf(stderr, "bench_judge: %s\n", err.msg);
            return 1;
        }
    } else {
        isynth_llama_params lp = isynth_llama_params_default();
        lp.model_path = model;
        lp.parallel = parallel;
        lp.n_ctx_per_seq = 3072;
        if (isynth_llama_backend_new(&lp, &be, &err)) {
            fprintf(stderr, "bench_judge: %s\n", err.msg);
            return 1;
        }
    }
    isynth_backend_info info;
    isynth_backend_info_get(be, &info);
    printf("judge: %s (%s), parallel %d, %s replies\n", info.model_name, info.kind, parallel,
           constrain ? "constrained" : "free");
    int rc = 0;
    for (size_t k = 0; k < n_files && !rc; k++) {
        set s = {.path = files[k]};
        if (load(&s, limit)) {
            rc = 1;
            break;
        }
        isynth_judge_params p = isynth_judge_params_default();
        p.lang = s.lang;
        p.chat = info.has_chat_template;
        p.constrain = constrain;
        if (max_tokens > 0) p.max_tokens = max_tokens;
        double t0 = now_s();
        if (isynth_judge_run(be, &p, next_row, on_done, &s, NULL, &err)) {
            fprintf(stderr, "\nbench_judge: %s\n", err.msg);
            rc = 1;
        } else {
            fprintf(stderr, "\n");
            report(&s, now_s() - t0);
        }
        set_free(&s);
    }
    isynth_backend_free(be);
    return rc;
}
