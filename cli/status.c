/* isynth status: a run's figures, while it runs (from another terminal) or after, read from
 * run.db without disturbing the writer. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: isynth status --run DIR [--json] [--window K] [--price-in P --price-out P]\n\n"
            "Prints a run's figures: target, accepted, rejected by reason, requests, generated\n"
            "tokens, tokens per second, cost so far, the recent acceptance rate and the time to\n"
            "the target at that rate. Safe while the run is going.\n\n"
            "  --run DIR        the run directory\n"
            "  --json           one JSON object on stdout, for scripts\n"
            "  --window K       recent figures over the last K requests (default 20)\n"
            "  --price-in P     price per million prompt tokens (default: the run's)\n"
            "  --price-out P    price per million generated tokens (default: the run's)\n"
            "  -h, --help       this text\n\n"
            "Exit codes: 0 done, 1 the run store cannot be read, 2 bad command line or no run\n"
            "in DIR.\n");
}

typedef struct reason_acc {
    json_t *obj;     /* --json: reason -> count */
    char text[1024]; /* "seed_copy 20, no_request 10" */
    size_t len;
} reason_acc;

static isynth_err add_reason(void *user, const char *reason, long n, isynth_error *err)
{
    reason_acc *a = user;
    if (a->obj && json_object_set_new(a->obj, reason, json_integer(n)))
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    if (a->len < sizeof a->text) {
        int w = snprintf(a->text + a->len, sizeof a->text - a->len, "%s%s %ld", a->len ? ", " : "",
                         reason, n);
        if (w > 0) a->len += (size_t)w;
    }
    return ISYNTH_OK;
}

void cli_format_duration(double s, char *out, size_t cap)
{
    if (s < 0)
        snprintf(out, cap, "unknown");
    else if (s < 60)
        snprintf(out, cap, "%.0f s", s);
    else if (s < 3600)
        snprintf(out, cap, "%ld min %ld s", (long)(s / 60), (long)s % 60);
    else
        snprintf(out, cap, "%ld h %ld min", (long)(s / 3600), (long)(s / 60) % 60);
}

static void utc(long long t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, cap, "never");
}

static int print_json(const char *dir, const isynth_run_status *s, json_t *reasons)
{
    const isynth_run_totals *t = &s->totals;
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I, "
        "s:I, s:o, s:f, s:f, s:o, s:o, s:I, s:I}",
        "run", dir, "target", (json_int_t)s->target, "accepted", (json_int_t)t->accepted,
        "rejected", (json_int_t)t->rejected, "pending", (json_int_t)t->pending, "reasons",
        json_incref(reasons), "stopped_early", (json_int_t)t->stopped, "requests",
        (json_int_t)t->requests, "failed", (json_int_t)t->failed, "retries", (json_int_t)t->retries,
        "prompt_tokens", (json_int_t)t->prompt_tokens, "generated_tokens",
        (json_int_t)t->completion_tokens, "cost", s->cost, "price_in", s->price_in, "price_out",
        s->price_out, "window", (json_int_t)s->window, "window_candidates",
        (json_int_t)s->window_candidates, "window_kept", (json_int_t)s->window_kept, "recent_yield",
        s->recent_yield >= 0 ? json_real(s->recent_yield) : json_null(), "tokens_per_s",
        s->tokens_per_s, "kept_per_min", s->kept_per_min, "eta_s",
        s->eta_s >= 0 ? json_real(s->eta_s) : json_null(), "cost_to_target",
        s->cost_to_target >= 0 ? json_real(s->cost_to_target) : json_null(), "first_request_at",
        (json_int_t)t->first_at, "last_request_at", (json_int_t)t->last_at);
    if (!o) {
        fprintf(stderr, "isynth status: out of memory\n");
        return EXIT_FAILURE_RUN;
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text) {
        fprintf(stderr, "isynth status: out of memory\n");
        return EXIT_FAILURE_RUN;
    }
    printf("%s\n", text);
    free(text);
    return EXIT_OK;
}

static void print_text(const char *dir, const isynth_run_status *s, const char *reasons)
{
    const isynth_run_totals *t = &s->totals;
    char eta[64], last[64];
    cli_format_duration(s->eta_s, eta, sizeof eta);
    utc(t->last_at, last, sizeof last);
    printf("run          %s\n", dir);
    if (s->target > 0)
        printf("accepted     %ld / %ld (%.0f%%)\n", t->accepted, s->target,
               100.0 * (double)t->accepted / (double)s->target);
    else
        printf("accepted     %ld\n", t->accepted);
    printf("rejected     %ld%s%s%s\n", t->rejected, reasons[0] ? " (" : "", reasons,
           reasons[0] ? ")" : "");
    if (t->pending)
        printf("pending      %ld (instructions waiting for their answer)\n", t->pending);
    printf("requests     %ld (%ld failed, %ld retries)\n", t->requests, t->failed, t->retries);
    printf("tokens       %lld generated, %lld prompt\n", t->completion_tokens, t->prompt_tokens);
    if (s->tokens_per_s > 0)
        printf("speed        %.1f generated tokens/s (last %ld requests)\n", s->tokens_per_s,
               s->window);
    if (s->price_in > 0 || s->price_out > 0)
        printf("cost         %.4f (at %g per million prompt tokens, %g per million generated)"
               "%s\n",
               s->cost, s->price_in, s->price_out,
               s->cost_to_target > 0   ? ""
               : s->cost_to_target < 0 ? "; to the target: unknown yet"
                                       : "");
    if (s->cost_to_target > 0)
        printf("cost ahead   about %.4f more to the target, at the cost per accepted row so far\n",
               s->cost_to_target);
    else
        printf("cost         no prices given (--price-in, --price-out)\n");
    if (s->recent_yield >= 0)
        printf(
            "recent       %.1f%% of %ld candidates of the last %ld requests kept, %.2f rows/min\n",
            100 * s->recent_yield, s->window_candidates, s->window, s->kept_per_min);
    if (s->target > 0) printf("to target    %s\n", s->eta_s == 0 ? "reached" : eta);
    printf("last request %s\n", last);
}

int cli_open_run_read(const char *cmd, int argc, char **argv, const char *dir, isynth_store **st)
{
    *st = NULL;
    if (optind < argc) {
        fprintf(stderr, "isynth %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    if (!dir) {
        fprintf(stderr, "isynth %s: --run DIR is required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    isynth_error err;
    isynth_err rc = isynth_store_open_read(dir, st, &err);
    if (rc) {
        fprintf(stderr, "isynth %s: %s\n", cmd, err.msg);
        return rc == ISYNTH_ERR_NOT_FOUND ? EXIT_USAGE : EXIT_FAILURE_RUN;
    }
    return EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"run", required_argument, 0, 'r'},
        {"json", no_argument, 0, 'j'},
        {"window", required_argument, 0, 'w'},
        {"price-in", required_argument, 0, 'i'},
        {"price-out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL;
    bool as_json = false;
    double window = 20, price_in = -1, price_out = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            dir = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'w':
            if (!cli_parse_double("status", optarg, 1, 100000, &window, "--window"))
                return EXIT_USAGE;
            break;
        case 'i':
            if (!cli_parse_double("status", optarg, 0, 1e9, &price_in, "--price-in"))
                return EXIT_USAGE;
            break;
        case 'o':
            if (!cli_parse_double("status", optarg, 0, 1e9, &price_out, "--price-out"))
                return EXIT_USAGE;
            break;
        case 'h':
            help(stdout);
            return EXIT_OK;
        default:
            help(stderr);
            return EXIT_USAGE;
        }
    }
    isynth_store *st = NULL;
    int code = cli_open_run_read("status", argc, argv, dir, &st);
    if (code != EXIT_OK) return code;
    isynth_error err;
    isynth_err rc;
    isynth_run_status s;
    reason_acc ra = {.obj = as_json ? json_object() : NULL};
    code = EXIT_FAILURE_RUN;
    if (as_json && !ra.obj) {
        fprintf(stderr, "isynth status: out of memory\n");
        goto out;
    }
    if ((rc = isynth_status_get(st, (long)window, price_in, price_out, &s, &err)) ||
        (rc = isynth_store_each_reason(st, add_reason, &ra, &err))) {
        fprintf(stderr, "isynth status: %s\n", rc == ISYNTH_ERR_NOMEM ? "out of memory" : err.msg);
        goto out;
    }
    if (as_json) {
        code = print_json(dir, &s, ra.obj);
    } else {
        print_text(dir, &s, ra.text);
        code = EXIT_OK;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "isynth status: cannot write the output: %s\n", strerror(errno));
        code = EXIT_FAILURE_RUN;
    }
out:
    json_decref(ra.obj);
    isynth_store_close(st);
    return code;
}
