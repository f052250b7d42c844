/* `isynth check`: the filter chain and the facts to verify on any dataset, made by isynth or
 * elsewhere. Reads the dataset and the seeds with the seed loader (JSONL, JSON array, CSV,
 * XLSX; the shapes it recognises, or --map), writes kept and rejected rows atomically. */
#include "cli.h"
#include "isynth/check.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: isynth check IN --seeds SEEDS -o KEPT.jsonl [--rejected REJECTED.jsonl]\n"
            "                    [OPTIONS]\n\n"
            "Runs isynth's whole filter chain on a dataset made anywhere: normalisation, length,\n"
            "quality (start, keywords, language), the row checks (scaffolding, missing_input,\n"
            "unbalanced, repetition, echo, wrong_language), exact duplicates, ROUGE-L against\n"
            "the seeds and the rows kept before, seed_copy and output_copy. Kept rows gain\n"
            "`verify`, the facts a reviewer should check (numbers, dates, names); rejected rows\n"
            "get `reason` and `detail`. A row is never rejected for its facts. IN and SEEDS are\n"
            "read like generate's seeds (JSONL, JSON array, CSV, XLSX; ELYZA, Alpaca,\n"
            "Self-Instruct, messages, or --map). Fields are written NFKC-normalised.\n\n"
            "options:\n"
            "  --seeds FILE           the seed tasks rows must not copy (optional but advised)\n"
            "  -o, --output FILE      kept rows, JSONL (required)\n"
            "  --rejected FILE        rejected rows, JSONL\n"
            "  --map SPEC             column map for IN, as in generate\n"
            "  --seeds-map SPEC       column map for SEEDS\n"
            "  --rouge-threshold T    ROUGE-L F that makes a near-duplicate (default 0.7)\n"
            "  --no-row-checks        skip the row checks\n"
            "  --no-verify            do not list facts to verify\n"
            "  --judge                score kept rows 1-5 with the default model (a `judge`\n"
            "                         field); --judge-model PATH, or --judge-api-base URL with\n"
            "                         --judge-api-model NAME [--judge-api-key-file F], names\n"
            "                         another judge\n"
            "  --judge-min-score N    reject kept rows the judge scores below N (reason judge)\n"
            "  -q, --quiet            no progress or summary on stderr\n\n"
            "exit codes: 0 done, 1 failure, 2 bad command line, 3 bad input file (file and\n"
            "line named), 130 interrupted (no output is left behind).\n");
}

static void progress(void *user, size_t done, size_t total)
{
    if (*(bool *)user) fprintf(stderr, "\rcheck: %zu / %zu rows", done, total);
}

typedef struct judging {
    isynth_check_result *res;
    size_t next;
    int min_score;
    long done, failed;
    bool tty;
} judging;

static isynth_err next_kept(void *user, isynth_judge_row *row, bool *have, isynth_error *err)
{
    (void)err;
    judging *j = user;
    while (j->next < j->res->n && j->res->rows[j->next].reason)
        j->next++;
    *have = j->next < j->res->n;
    if (*have) {
        const isynth_task *t = &j->res->rows[j->next].task;
        *row = (isynth_judge_row){
            .id = j->next, .instruction = t->instruction, .input = t->input, .output = t->output};
        j->next++;
    }
    return ISYNTH_OK;
}

static isynth_err judged(void *user, const isynth_judge_outcome *o, isynth_error *err)
{
    judging *j = user;
    isynth_check_row *row = &j->res->rows[o->id];
    j->done++;
    if (o->status != ISYNTH_OK) {
        j->failed++;
    } else {
        const isynth_judgement *g = o->judgement;
        row->judge_score = g->score;
        row->judge_false_claims = isynth_judgement_claims_json(g);
        row->judge_reason = isynth_strdup(g->reason);
        row->judge_model = isynth_strdup(o->model ? o->model : "");
        if (!row->judge_reason || !row->judge_false_claims || !row->judge_model)
            return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        if (j->min_score && g->score < j->min_score) {
            row->reason = "judge";
            snprintf(row->detail, sizeof row->detail, "judge score %d < %d", g->score,
                     j->min_score);
            j->res->kept--;
            j->res->rejected++;
        }
    }
    if (j->tty) fprintf(stderr, "\r\033[Kjudged %ld (%ld could not be scored)", j->done, j->failed);
    return ISYNTH_OK;
}

/* Scores the kept rows with the judge the options name. */
static isynth_err judge_kept(isynth_check_result *res, cli_backend_opts *jo, int min_score,
                             bool quiet, isynth_error *err)
{
    isynth_backend *be = NULL;
    int code = cli_backend_new("check", jo, quiet, &be);
    if (code != EXIT_OK)
        return isynth_error_set(err, code == EXIT_USAGE ? ISYNTH_ERR_INVALID : ISYNTH_ERR_MODEL,
                                "the judge model could not be set up");
    isynth_backend_info bi;
    isynth_backend_info_get(be, &bi);
    isynth_judge_params jp = isynth_judge_params_default();
    jp.lang = res->lang;
    jp.chat = bi.has_chat_template;
    judging j = {.res = res, .min_score = min_score, .tty = !quiet && isatty(STDERR_FILENO)};
    isynth_err rc = isynth_judge_run(be, &jp, next_kept, judged, &j, &cli_stop, err);
    if (j.tty) fputc('\n', stderr);
    if (!quiet)
        fprintf(stderr, "check: judged %ld rows (%ld could not be scored)\n", j.done - j.failed,
                j.failed);
    isynth_backend_free(be);
    return rc;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seeds", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"rejected", required_argument, NULL, 'r'},
        {"map", required_argument, NULL, 'm'},
        {"seeds-map", required_argument, NULL, 'M'},
        {"rouge-threshold", required_argument, NULL, 't'},
        {"no-row-checks", no_argument, NULL, 'R'},
        {"no-verify", no_argument, NULL, 'V'},
        {"judge", no_argument, NULL, 'j'},
        {"judge-model", required_argument, NULL, 'J'},
        {"judge-api-base", required_argument, NULL, 'B'},
        {"judge-api-model", required_argument, NULL, 'A'},
        {"judge-api-key-file", required_argument, NULL, 'K'},
        {"judge-min-score", required_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *seeds_path = NULL, *out = NULL, *rejected = NULL, *map = NULL, *seeds_map = NULL;
    bool quiet = false, judge = false;
    long min_score = 0;
    cli_backend_opts jo = cli_backend_opts_default();
    isynth_check_params p = isynth_check_params_default();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            seeds_path = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'r':
            rejected = optarg;
            break;
        case 'm':
            map = optarg;
            break;
        case 'M':
            seeds_map = optarg;
            break;
        case 't': {
            char *end;
            p.filter.rouge_threshold = strtod(optarg, &end);
            if (*end || p.filter.rouge_threshold < 0 || p.filter.rouge_threshold > 1) {
                fprintf(stderr, "isynth check: --rouge-threshold wants a number in [0, 1]\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'R':
            p.filter.row_checks = false;
            break;
        case 'V':
            p.verify = false;
            break;
        case 'j':
            judge = true;
            break;
        case 'J':
            jo.model = optarg;
            judge = true;
            break;
        case 'B':
            jo.api_bases = optarg;
            judge = true;
            break;
        case 'A':
            jo.op.model = optarg;
            judge = true;
            break;
        case 'K':
            jo.key_file = optarg;
            break;
        case 'S': {
            char *end;
            min_score = strtol(optarg, &end, 10);
            if (*end || min_score < 1 || min_score > 5) {
                fprintf(stderr, "isynth check: --judge-min-score wants 1 to 5\n");
                return EXIT_USAGE;
            }
            judge = true;
            break;
        }
        case 'q':
            quiet = true;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            help(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !out) {
        fprintf(stderr, "isynth check: %s\n\n",
                optind >= argc ? "no input file given"
                : !out         ? "-o KEPT.jsonl is required"
                               : "one input file only");
        help(stderr);
        return EXIT_USAGE;
    }
    const char *in = argv[optind];
    isynth_error err = {0};
    isynth_seedset *data = NULL, *seeds = NULL;
    isynth_seeds_params sp = isynth_seeds_params_default();
    sp.map = map;
    isynth_err rc = isynth_seeds_load(in, &sp, &data, &err);
    if (!rc && seeds_path) {
        sp.map = seeds_map;
        rc = isynth_seeds_load(seeds_path, &sp, &seeds, &err);
    }
    if (rc) {
        fprintf(stderr, "isynth check: %s\n", err.msg);
        isynth_seeds_free(data);
        return exit_code_for(rc);
    }
    cli_catch_stop_signals();
    bool tty = !quiet && isatty(STDERR_FILENO);
    p.progress = progress;
    p.progress_user = &tty;
    p.stop = &cli_stop;
    double t0 = isynth_now();
    isynth_check_result *res = NULL;
    rc = isynth_check_run(data, seeds, &p, &res, &err);
    if (tty) fputc('\n', stderr);
    if (!rc && judge) rc = judge_kept(res, &jo, (int)min_score, quiet, &err);
    if (!rc) rc = isynth_check_write(res, out, rejected, &err);
    double t1 = isynth_now();
    if (rc) {
        fprintf(stderr, "isynth check: %s\n", err.msg);
    } else if (!quiet) {
        double s = t1 - t0;
        fprintf(stderr, "check: %zu rows: %zu kept (%zu with facts to verify), %zu rejected",
                res->n, res->kept, res->with_facts, res->rejected);
        /* counts per reason, most frequent first */
        const char *names[64];
        size_t counts[64], nr = 0;
        for (size_t i = 0; i < res->n; i++) {
            const char *why = res->rows[i].reason;
            if (!why) continue;
            size_t k = 0;
            while (k < nr && strcmp(names[k], why))
                k++;
            if (k == nr && nr < 64) {
                names[nr] = why;
                counts[nr++] = 0;
            }
            if (k < nr) counts[k]++;
        }
        for (size_t i = 0; i < nr; i++)
            for (size_t j = i + 1; j < nr; j++)
                if (counts[j] > counts[i]) {
                    size_t tc = counts[i];
                    const char *tn = names[i];
                    counts[i] = counts[j];
                    names[i] = names[j];
                    counts[j] = tc;
                    names[j] = tn;
                }
        for (size_t i = 0; i < nr; i++)
            fprintf(stderr, "%s %s %zu", i ? "," : ":", names[i], counts[i]);
        fprintf(stderr, " (%.2f s, %.0f rows/s)\n", s, s > 0 ? (double)res->n / s : 0.0);
    }
    isynth_check_result_free(res);
    isynth_seeds_free(data);
    isynth_seeds_free(seeds);
    return exit_code_for(rc);
}
