/* `isynth export`: a run's review workbook (--xlsx) or its reviewed dataset (--jsonl). */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void export_usage(FILE *f)
{
    fprintf(f, "usage: isynth export --run DIR --xlsx review.xlsx [--include-rejected]\n"
               "       isynth export --run DIR --jsonl dataset.jsonl [--format alpaca|messages]\n\n"
               "--xlsx   the review workbook: sheet 'review' (one row per task; edit status,\n"
               "         instruction, input, output, comment) and sheet 'run'\n"
               "--jsonl  the accepted and edited tasks after review (edits applied), and the\n"
               "         dataset card DIR/README.md refreshed with the review counts\n");
}

isynth_err cli_open_run(const char *dir, isynth_store **st, isynth_error *err)
{
    return isynth_store_open(dir, 0, st, err);
}

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *xlsx = NULL, *jsonl = NULL, *format = "alpaca";
    bool rejected = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            export_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--run") && more) {
            dir = argv[++i];
        } else if (!strcmp(a, "--xlsx") && more) {
            xlsx = argv[++i];
        } else if (!strcmp(a, "--jsonl") && more) {
            jsonl = argv[++i];
        } else if (!strcmp(a, "--format") && more) {
            format = argv[++i];
        } else if (!strcmp(a, "--include-rejected")) {
            rejected = true;
        } else {
            fprintf(stderr, "isynth export: unexpected argument '%s'\n", a);
            export_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!dir || !!xlsx == !!jsonl || (strcmp(format, "alpaca") && strcmp(format, "messages"))) {
        export_usage(stderr);
        return EXIT_USAGE;
    }
    isynth_error err = {0};
    isynth_store *st = NULL;
    isynth_err rc = cli_open_run(dir, &st, &err);
    size_t rows = 0;
    if (!rc && xlsx)
        rc = isynth_review_export_xlsx(st, xlsx, rejected, &rows, &err);
    else if (!rc)
        rc = isynth_review_export_jsonl(
            st, jsonl, strcmp(format, "messages") ? ISYNTH_DATASET_ALPACA : ISYNTH_DATASET_MESSAGES,
            &rows, &err);
    isynth_store_close(st);
    if (rc) {
        fprintf(stderr, "isynth export: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        return exit_code_for(rc);
    }
    fprintf(stderr, "isynth export: %zu tasks written to %s\n", rows, xlsx ? xlsx : jsonl);
    return EXIT_OK;
}
