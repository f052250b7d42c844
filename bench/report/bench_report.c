/* Report benchmark: the HTML report of a 50,000-candidate run. Prints the time to write the
 * page (isynth_report_write, best of 3) and the time headless chromium takes to open it and
 * draw every chart, beside the time it takes to open an empty page (the browser's own start),
 * with the targets of issue 17 (under 5 s each).
 *
 * The run is filled through the store's API, as the pipeline records one: 17,000 stage-1
 * requests of 3 candidates each (51,000), 12% accepted, the rest spread over the rejection
 * reasons a real run shows, with Japanese texts of seed-like lengths and ROUGE-L scores.
 *
 * usage: bench_report [--candidates N] [--seeds FILE] [--workdir DIR] */
#include "isynth/isynth.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x1234567;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const kana[] = {"あ", "い", "う", "え", "お", "か", "き", "く", "け", "こ",
                                   "さ", "し", "す", "せ", "そ", "た", "ち", "つ", "て", "と",
                                   "な", "に", "ぬ", "ね", "の", "日", "本", "語", "文", "書"};

/* A seed's text with about a quarter of its characters replaced, into out. */
static void vary(const char *src, char *out, size_t cap)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && w + 8 < cap;) {
        size_t k = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        if (next() % 4 == 0) {
            const char *r = kana[next() % (sizeof kana / sizeof kana[0])];
            size_t rl = strlen(r);
            memcpy(out + w, r, rl);
            w += rl;
        } else {
            memcpy(out + w, p, k);
            w += k;
        }
        p += k;
        while (*p && (*p & 0xC0) == 0x80)
            p++;
    }
    out[w] = '\0';
}

static int fail(const char *what, const isynth_error *e)
{
    fprintf(stderr, "bench_report: %s: %s\n", what, e->msg);
    return 1;
}

/* Seconds chromium takes to load page and dump its DOM into dom; -1 on failure. */
static double browse(const char *workdir, const char *page, const char *dom)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 300 chromium --headless --no-sandbox --disable-gpu --no-first-run "
             "--user-data-dir='%s/profile' --virtual-time-budget=10000 --dump-dom 'file://%s' "
             ">'%s' 2>/dev/null",
             workdir, page, dom);
    double t0 = now_s();
    int rc = system(cmd);
    double t = now_s() - t0;
    return rc == 0 ? t : -1;
}

static long body_attr(const char *path, const char *name)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *b = strstr(buf, "<body");
    const char *a = b ? strstr(b, key) : NULL;
    return a ? strtol(a + strlen(key), NULL, 10) : -1;
}

int main(int argc, char **argv)
{
    long want = 50000;
    const char *seeds_path = "data/seeds_ja.jsonl", *workdir = "/tmp/isynth-bench-report";
    static const struct option opts[] = {{"candidates", required_argument, 0, 'c'},
                                         {"seeds", required_argument, 0, 's'},
                                         {"workdir", required_argument, 0, 'w'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            want = strtol(optarg, NULL, 10);
        else if (c == 's')
            seeds_path = optarg;
        else if (c == 'w')
            workdir = optarg;
        else
            return 2;
    }
    isynth_error e;
    if (isynth_global_init(&e)) return fail("init", &e);
    char cmd[1200], rundir[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", workdir, workdir);
    if (system(cmd) != 0) return 1;
    snprintf(rundir, sizeof rundir, "%s/run", workdir);
    isynth_seedset *seeds;
    isynth_seeds_params sp = isynth_seeds_params_default();
    if (isynth_seeds_load(seeds_path, &sp, &seeds, &e)) return fail(seeds_path, &e);
    isynth_store *st;
    double t0 = now_s();
    if (isynth_store_open(rundir, ISYNTH_STORE_CREATE, &st, &e) ||
        isynth_store_put_seeds(st, seeds, &e) || isynth_store_meta_set(st, "target", "6000", &e) ||
        isynth_store_meta_set(st, "lang", "ja", &e) ||
        isynth_store_meta_set(st, "rouge_threshold", "0.7", &e) ||
        isynth_store_meta_set(st, "model_name", "scripted", &e))
        return fail("store", &e);
    static const char *const reasons[] = {
        "seed_copy",     "no_request", "repetition", "scaffolding",    "echo",
        "missing_input", "duplicate",  "rouge",      "wrong_language", "truncated"};
    long made = 0, requests = 0;
    char ins[2048], out[4096], key[64], ex[2][24], prompt[256];
    const char *examples[2] = {ex[0], ex[1]};
    while (made < want) {
        if (requests % 500 == 0 && isynth_store_begin(st, &e)) return fail("begin", &e);
        snprintf(ex[0], sizeof ex[0], "s%zu", 1 + next() % seeds->n);
        snprintf(ex[1], sizeof ex[1], "s%zu", 1 + next() % seeds->n);
        snprintf(prompt, sizeof prompt,
                 "- 新しいタスクは、どれも「話題%lu」に関する内容にすること。\n",
                 (unsigned long)(next() % 30));
        isynth_request_rec r = {.stage = 1,
                                .status = next() % 50 ? ISYNTH_REQ_DONE : ISYNTH_REQ_FAILED,
                                .examples = examples,
                                .n_examples = 2,
                                .prompt = prompt,
                                .response = "…",
                                .response_len = 3,
                                .prompt_tokens = 900,
                                .completion_tokens = 150 + (long)(next() % 300),
                                .retries = next() % 40 == 0,
                                .seconds = 8.0};
        long long rid;
        if (isynth_store_add_request(st, &r, &rid, &e)) return fail("request", &e);
        requests++;
        for (int i = 0; i < 3 && r.status == ISYNTH_REQ_DONE; i++, made++) {
            const isynth_task *t = &seeds->tasks[next() % seeds->n];
            vary(t->instruction, ins, sizeof ins);
            vary(t->output, out, sizeof out);
            snprintf(key, sizeof key, "k%ld", made);
            bool ok = next() % 100 < 12;
            isynth_candidate_rec cr = {
                .request_id = rid,
                .idx = i,
                .instruction = ins,
                .input = "",
                .output = out,
                .dedup_key = key,
                .status = ok ? ISYNTH_CAND_ACCEPTED : ISYNTH_CAND_REJECTED,
                .reason = ok ? NULL : reasons[next() % (sizeof reasons / sizeof reasons[0])],
                .detail = next() % 3 ? NULL : "stopped early",
                .nn_ref = "s1",
                .nn_score = (double)(next() % 1000) / 1000.0,
                .verify = next() % 5 ? NULL : "[\"1,000円\"]"};
            if (isynth_store_add_candidate(st, &cr, NULL, &e)) return fail("candidate", &e);
        }
        if (requests % 500 == 0 && isynth_store_commit(st, &e)) return fail("commit", &e);
    }
    if (isynth_store_commit(st, &e)) return fail("commit", &e);
    double t_fill = now_s() - t0;
    char page[1100], dom[1100], blank[1100];
    snprintf(page, sizeof page, "%s/report.html", rundir);
    snprintf(dom, sizeof dom, "%s/dom.html", workdir);
    snprintf(blank, sizeof blank, "%s/blank.html", workdir);
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t = now_s();
        if (isynth_report_write(st, NULL, &e)) return fail("report", &e);
        t = now_s() - t;
        if (t < best) best = t;
    }
    isynth_store_close(st);
    isynth_seeds_free(seeds);
    struct stat sb;
    stat(page, &sb);
    FILE *f = fopen(blank, "w");
    if (!f) return 1;
    fputs("<!DOCTYPE html><html><body data-charts=\"0\"></body></html>\n", f);
    fclose(f);
    browse(workdir, blank, dom); /* the first start of a profile is slower: not counted */
    double t_blank = browse(workdir, blank, dom);
    double t_open = 1e9;
    for (int i = 0; i < 3; i++) {
        double t = browse(workdir, page, dom);
        if (t < 0) {
            fprintf(stderr, "bench_report: chromium failed on %s\n", page);
            return 1;
        }
        if (t < t_open) t_open = t;
    }
    long charts = body_attr(dom, "data-charts"), painted = body_attr(dom, "data-painted"),
         errors = body_attr(dom, "data-errors");
    printf("report of a run with %ld candidates in %ld requests (store filled in %.1f s)\n", made,
           requests, t_fill);
    printf("%-44s %10s %12s\n", "", "seconds", "target 5 s");
    printf("%-44s %10.3f %11.1fx\n", "write report.html (best of 3)", best, 5.0 / best);
    printf("%-44s %10.3f %11.1fx\n", "chromium: open it, draw every chart (best of 3)", t_open,
           5.0 / t_open);
    printf("%-44s %10.3f\n", "chromium: open an empty page (its own start)", t_blank);
    printf("page size %.1f KB; charts %ld, painted %ld, errors %ld\n", (double)sb.st_size / 1024,
           charts, painted, errors);
    return charts > 0 && charts == painted && errors == 0 ? 0 : 1;
}
