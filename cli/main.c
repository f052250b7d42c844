/* isynth command-line entry: dispatches to subcommands and documents exit codes. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"generate", cmd_generate, "synthesize tasks from seeds into a run directory"},
    {"export", cmd_export, "export a run for review (.xlsx) or as a dataset (.jsonl)"},
    {"import", cmd_import, "apply a reviewed workbook to a run"},
    {"convert", cmd_convert, "convert a table between .xlsx, .jsonl and .csv"},
    {"judge", cmd_judge, "score a run's accepted rows with a judge model (1-5, reason)"},
    {"status", cmd_status, "a run's figures: accepted, rejected, tokens, cost, rate, time left"},
    {"report", cmd_report, "write a run's HTML report with charts (DIR/report.html)"},
    {"check", cmd_check, "run the filter chain and list facts to verify on any dataset"},
    {"dedup", cmd_dedup, "remove near-duplicates from a JSONL dataset (ROUGE-L, Japanese-aware)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: isynth COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'isynth COMMAND --help' describes a command's options.\n\n"
               "exit codes:\n"
               "  0    success\n"
               "  1    the run failed (model, backend, run store, I/O)\n"
               "  2    bad command line\n"
               "  3    bad input file (the message names file, line and field)\n"
               "  4    finished without reaching the target (request limit reached)\n"
               "  5    the generated-token budget was spent before the target\n"
               "  6    the cost budget was spent before the target\n"
               "  7    stopped for low yield (--min-yield)\n"
               "  130  interrupted (SIGINT/SIGTERM); the run store is consistent, rerun to "
               "continue\n");
}

bool cli_parse_double(const char *cmd, const char *s, double lo, double hi, double *out,
                      const char *opt)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "isynth %s: %s expects a number from %g to %g, not '%s'\n", cmd, opt, lo,
                hi, s);
        return false;
    }
    *out = v;
    return true;
}

int exit_code_for(isynth_err rc)
{
    switch (rc) {
    case ISYNTH_OK:
        return EXIT_OK;
    case ISYNTH_ERR_PARSE:
    case ISYNTH_ERR_UTF8:
    case ISYNTH_ERR_TOO_LARGE:
    case ISYNTH_ERR_XLSX:
        return EXIT_INPUT;
    case ISYNTH_ERR_INVALID:
    case ISYNTH_ERR_MISMATCH:
        return EXIT_USAGE;
    case ISYNTH_ERR_CANCELLED:
        return EXIT_INTERRUPTED;
    default:
        return EXIT_FAILURE_RUN;
    }
}

int main(int argc, char **argv)
{
    isynth_error ierr;
    if (isynth_global_init(&ierr)) {
        fprintf(stderr, "isynth: %s\n", ierr.msg);
        return EXIT_FAILURE_RUN;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("isynth 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "isynth: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
