/* `isynth judge`: scores the accepted rows of a run with a judge model (the default model, a
 * GGUF file, or a server), each outcome committed as it comes, so an interrupted judge
 * continues where it stopped. Also the judging step of `generate --judge`. */
#include "cli.h"
#include "isynth/export.h"
#include "isynth/judge.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: isynth judge --run DIR [--model PATH | --api-base URL --api-model NAME]\n"
            "                    [--min-score N] [OPTIONS]\n\n"
            "Sends every accepted row of the run that has no score yet to a judge model, with a\n"
            "rubric in the data's language (the instruction is clear and complete, the answer\n"
            "correct, complete and in the right language; claims it believes false are named).\n"
            "The reply is constrained to a JSON object {score 1-5, reason, false_claims}. Scores\n"
            "go into run.db, DIR/data.jsonl (field judge) and the review workbook. Each row is\n"
            "committed as it is judged: an interrupted judge continues where it stopped.\n\n"
            "options:\n"
            "  --run DIR              the run directory (required)\n"
            "  --model PATH           judge GGUF (default: $ISYNTH_MODEL, else the default model)\n"
            "  --parallel N           sequences judged together, embedded model (default 4)\n"
            "  --api-base URL[,URL]   judge on OpenAI-compatible servers, with --api-model NAME\n"
            "  --api-model NAME       served model name\n"
            "  --api-key-file FILE    API key (otherwise $OPENAI_API_KEY)\n"
            "  --concurrency N        requests in flight to servers (default 8)\n"
            "  --min-score N          reject rows scored below N (reason judge)\n"
            "  -q, --quiet            no progress\n\n"
            "exit codes: 0 done, 1 failure, 2 bad command line, 130 interrupted (rerun to\n"
            "continue).\n");
}

static void on_progress(void *user, long done, long total, long failed)
{
    bool *tty = user;
    if (*tty) fprintf(stderr, "\r\033[Kjudged %ld/%ld (%ld failed)", done, total, failed);
}

isynth_err cli_judge_run(const char *dir, isynth_backend *be, int min_score, bool quiet,
                         volatile int *stop, long *accepted, isynth_error *err)
{
    isynth_store *st = NULL;
    isynth_err rc = isynth_store_open(dir, 0, &st, err);
    if (rc) return rc;
    bool tty = !quiet && isatty(2);
    isynth_backend_info bi;
    isynth_backend_info_get(be, &bi);
    isynth_judge_run_params jp = isynth_judge_run_params_default();
    jp.judge.chat = bi.has_chat_template;
    jp.min_score = min_score;
    jp.progress = on_progress;
    jp.progress_user = &tty;
    jp.stop = stop;
    long judged = 0, failed = 0;
    rc = isynth_judge_store(st, be, &jp, &judged, &failed, err);
    if (tty) fputc('\n', stderr);
    if (!quiet)
        fprintf(stderr, "isynth: judged %ld rows (%ld could not be scored)\n", judged, failed);
    isynth_error ex;
    isynth_err erc = isynth_export_run(st, &ex);
    if (!rc && erc) {
        rc = erc;
        if (err) *err = ex;
    }
    if (!rc && accepted) rc = isynth_store_count(st, ISYNTH_CAND_ACCEPTED, accepted, err);
    isynth_store_close(st);
    return rc;
}

int cmd_judge(int argc, char **argv)
{
    enum { O_RUN = 256, O_MODEL, O_PARALLEL, O_BASE, O_APIMODEL, O_KEY, O_CONC, O_MIN };
    static const struct option opts[] = {
        {"run", required_argument, NULL, O_RUN},
        {"model", required_argument, NULL, O_MODEL},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"api-base", required_argument, NULL, O_BASE},
        {"api-model", required_argument, NULL, O_APIMODEL},
        {"api-key-file", required_argument, NULL, O_KEY},
        {"concurrency", required_argument, NULL, O_CONC},
        {"min-score", required_argument, NULL, O_MIN},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_backend_opts bo = cli_backend_opts_default();
    const char *dir = NULL;
    bool quiet = false;
    long min_score = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c == O_PARALLEL || c == O_CONC || c == O_MIN) {
            errno = 0;
            v = strtol(optarg, &end, 10);
            long hi = c == O_MIN ? 5 : 4096;
            if (errno || *end || end == optarg || v < 1 || v > hi) {
                fprintf(stderr, "isynth judge: %s expects an integer from 1 to %ld, not '%s'\n",
                        argv[optind - 1], hi, optarg);
                return EXIT_USAGE;
            }
        }
        switch (c) {
        case O_RUN:
            dir = optarg;
            break;
        case O_MODEL:
            bo.model = optarg;
            break;
        case O_PARALLEL:
            bo.lp.parallel = (int)v;
            break;
        case O_BASE:
            bo.api_bases = optarg;
            break;
        case O_APIMODEL:
            bo.op.model = optarg;
            break;
        case O_KEY:
            bo.key_file = optarg;
            break;
        case O_CONC:
            bo.op.concurrency = (int)v;
            break;
        case O_MIN:
            min_score = v;
            break;
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
    if (optind < argc || !dir) {
        fprintf(stderr, "isynth judge: %s\n",
                !dir ? "--run DIR is required (see --help)" : "unexpected argument");
        return EXIT_USAGE;
    }
    /* a directory without a run is refused before a model is loaded */
    isynth_store *probe = NULL;
    isynth_error oerr;
    if (isynth_store_open(dir, 0, &probe, &oerr)) {
        fprintf(stderr, "isynth judge: %s\n", oerr.msg);
        return EXIT_USAGE;
    }
    isynth_store_close(probe);
    isynth_backend *be = NULL;
    int code = cli_backend_new("judge", &bo, quiet, &be);
    if (code != EXIT_OK) return code;
    cli_catch_stop_signals();
    isynth_error err;
    isynth_error_clear(&err);
    isynth_err rc = cli_judge_run(dir, be, (int)min_score, quiet, &cli_stop, NULL, &err);
    isynth_backend_free(be);
    if (rc == ISYNTH_ERR_CANCELLED) {
        fprintf(stderr, "isynth judge: interrupted; run it again to continue\n");
        return EXIT_INTERRUPTED;
    }
    if (rc) {
        fprintf(stderr, "isynth judge: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        return exit_code_for(rc);
    }
    printf("%s/data.jsonl\n", dir);
    return EXIT_OK;
}
