/* `isynth convert IN OUT`: tables between .xlsx, .jsonl and .csv, chosen by extension, for data
 * that did not come from a run. OUT is replaced only when the whole conversion succeeds. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void convert_usage(FILE *f)
{
    fprintf(f, "usage: isynth convert [--sheet NAME] [--raw-formulas] IN OUT\n\n"
               "Converts a table between .xlsx, .jsonl and .csv (by file extension).\n"
               "  .xlsx, .csv  the first row is the header\n"
               "  .jsonl       one JSON object per line; keys become columns in first-seen order,\n"
               "               values that are not strings are written as their JSON text\n"
               "               (null as an empty cell)\n"
               "Every cell is written as text: an .xlsx cell starting with = stays text, and a\n"
               ".csv cell starting with = + - @ TAB or CR gets a leading ' so that a spreadsheet\n"
               "opening the file shows it instead of running it as a formula.\n\n"
               "  --sheet NAME  read this sheet of an .xlsx input (default: the first)\n"
               "  --raw-formulas write .csv cells that look like formulas as they are\n");
}

int cmd_convert(int argc, char **argv)
{
    isynth_table_reader_params p = isynth_table_reader_params_default();
    isynth_table_writer_params wp = isynth_table_writer_params_default();
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            convert_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--sheet") && i + 1 < argc) {
            p.sheet = argv[++i];
        } else if (!strcmp(argv[i], "--raw-formulas")) {
            wp.csv_raw_formulas = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "isynth convert: unknown option '%s'\n", argv[i]);
            convert_usage(stderr);
            return EXIT_USAGE;
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            fprintf(stderr, "isynth convert: too many arguments\n");
            return EXIT_USAGE;
        }
    }
    if (!in || !out) {
        convert_usage(stderr);
        return EXIT_USAGE;
    }
    isynth_error err = {0};
    size_t rows = 0;
    cli_catch_stop_signals(); /* SIGINT/SIGTERM: stop at the next row, remove the temporary */
    wp.stop = &cli_stop;
    isynth_err rc = isynth_table_convert(in, out, &p, &wp, &rows, &err);
    if (rc) {
        fprintf(stderr, "isynth convert: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        return rc == ISYNTH_ERR_INVALID ? EXIT_USAGE : exit_code_for(rc);
    }
    fprintf(stderr, "isynth convert: %zu rows written to %s\n", rows, out);
    return EXIT_OK;
}
