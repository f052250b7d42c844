/* `isynth import --run DIR review.xlsx`: a reviewed workbook's statuses and edits into run.db,
 * all or nothing. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void import_usage(FILE *f)
{
    fprintf(f, "usage: isynth import --run DIR review.xlsx\n\n"
               "Applies the statuses and edited cells of a review workbook (made by\n"
               "'isynth export --xlsx') to DIR/run.db in one transaction; the generated text\n"
               "is kept as history. Unknown or repeated ids, a missing column or an unknown\n"
               "status refuse the whole import. Importing the same file twice changes nothing.\n");
}

int cmd_import(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            import_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--run") && i + 1 < argc) {
            dir = argv[++i];
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            fprintf(stderr, "isynth import: unexpected argument '%s'\n", argv[i]);
            import_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!dir || !file) {
        import_usage(stderr);
        return EXIT_USAGE;
    }
    isynth_error err = {0};
    isynth_store *st = NULL;
    isynth_review_report rep = {0};
    isynth_err rc = cli_open_run(dir, &st, &err);
    if (!rc) rc = isynth_review_import_xlsx(st, file, &rep, &err);
    isynth_store_close(st);
    if (rc) {
        fprintf(stderr, "isynth import: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        return exit_code_for(rc);
    }
    fprintf(stderr, "isynth import: %zu rows read, %zu statuses changed, %zu rows edited\n",
            rep.rows, rep.status_changed, rep.text_changed);
    return EXIT_OK;
}
