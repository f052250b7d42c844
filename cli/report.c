/* isynth report: writes a run's HTML report (charts of outcomes, acceptance, nearest-neighbour
 * ROUGE-L, lengths, diversity, judge scores, speed), the page `generate` also writes. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f, "usage: isynth report --run DIR [-o FILE]\n\n"
               "Writes DIR/report.html (or FILE): one self-contained page that opens offline in\n"
               "a browser, with interactive charts of the run: outcomes per reason, acceptance\n"
               "over the requests, nearest-neighbour ROUGE-L with the threshold, instruction and\n"
               "output lengths beside the seeds', distinct n-grams, subjects and seeds used,\n"
               "judge scores, rows with facts to verify, tokens per second, failures and\n"
               "retries. Safe while the run is going. Prints the page's path.\n\n"
               "  --run DIR        the run directory\n"
               "  -o, --out FILE   where to write the page (default DIR/report.html)\n"
               "  -h, --help       this text\n\n"
               "Exit codes: 0 done, 1 the run store cannot be read or the page written, 2 bad\n"
               "command line or no run in DIR.\n");
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"run", required_argument, 0, 'r'},
        {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
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
    int code = cli_open_run_read("report", argc, argv, dir, &st);
    if (code != EXIT_OK) return code;
    isynth_error err;
    isynth_err rc = isynth_report_write(st, out, &err);
    isynth_store_close(st);
    if (rc) {
        fprintf(stderr, "isynth report: %s\n", err.msg[0] ? err.msg : isynth_strerror(rc));
        return exit_code_for(rc);
    }
    if (out)
        printf("%s\n", out);
    else
        printf("%s/report.html\n", dir);
    return EXIT_OK;
}
