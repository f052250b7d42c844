/* The command-line tool's shared pieces: subcommand entry points and exit codes. The CLI owns
 * the terminal; the library never prints. */
#ifndef ISYNTH_CLI_H
#define ISYNTH_CLI_H

#include "isynth/isynth.h"
#include "isynth/openai.h"

#include <signal.h>

/* Exit codes, documented in README.md and `isynth --help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUN = 1,   /* the run failed (backend, store, I/O) */
    EXIT_USAGE = 2,         /* bad command line */
    EXIT_INPUT = 3,         /* bad input file (seeds, workbook, JSONL) */
    EXIT_PARTIAL = 4,       /* finished without reaching the target (-n), e.g. request cap */
    EXIT_BUDGET_TOKENS = 5, /* the generated-token budget was spent before the target */
    EXIT_BUDGET_COST = 6,   /* the cost budget was spent before the target */
    EXIT_LOW_YIELD = 7,     /* stopped: the recent requests' candidates were almost all rejected */
    EXIT_INTERRUPTED = 130,
};

/* Each subcommand takes argv after the subcommand name (argv[0] is the subcommand). */
int cmd_generate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_dedup(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_check(int argc, char **argv);

int cmd_judge(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Reads option opt's value s as a number in [lo, hi] into *out; false, with the problem printed
 * as "isynth CMD: ...", when it is not one (NaN and trailing text included). */
bool cli_parse_double(const char *cmd, const char *s, double lo, double hi, double *out,
                      const char *opt);

/* Opens DIR/run.db for writing (*st, closed by the caller), refusing a directory that holds no
 * run (ISYNTH_ERR_NOT_FOUND) instead of creating one (cli/export.c; export and import). */
isynth_err cli_open_run(const char *dir, isynth_store **st, isynth_error *err);

/* After a command's options: refuses arguments left over and a missing --run, then opens DIR's
 * run store for reading (*st, closed by the caller). Prints the problem, prefixed with
 * "isynth CMD", and returns its exit code; EXIT_OK when *st is open. */
int cli_open_run_read(const char *cmd, int argc, char **argv, const char *dir, isynth_store **st);

/* "6 min 40 s" (or "unknown" when s < 0) into out. */
void cli_format_duration(double s, char *out, size_t cap);

/* Options that choose a model (cli/backend.c). Strings are borrowed from argv. */
typedef struct cli_backend_opts {
    const char *model;    /* --model GGUF, or NULL */
    char *api_bases;      /* --api-base URL[,URL] (split in place), or NULL */
    const char *key_file; /* --api-key-file */
    isynth_llama_params lp;
    isynth_openai_params op; /* op.model is --api-model */
} cli_backend_opts;

cli_backend_opts cli_backend_opts_default(void);
/* Creates the backend the options name; prints the problem and returns an exit code on
 * failure (EXIT_OK on success, *be then owned by the caller). */
int cli_backend_new(const char *cmd, cli_backend_opts *o, bool quiet, isynth_backend **be);
/* The default model's path under $HOME/.cache/isynth (malloc'd, caller frees). */
char *cli_default_model(void);
/* Reads a file of at most 1 MiB into a malloc'd string, or prints why not and gives NULL. */
char *cli_read_small_file(const char *cmd, const char *path, const char *what);

/* Judges the accepted rows of the run in dir that have no score yet with be, showing progress
 * unless quiet, then rewrites the run's exports; *accepted gets the accepted rows after it. */
isynth_err cli_judge_run(const char *dir, isynth_backend *be, int min_score, bool quiet,
                         volatile int *stop, long *accepted, isynth_error *err);

/* Set by SIGINT/SIGTERM once cli_catch_stop_signals() ran; handed to the library as its stop
 * flag (cli/signals.c). */
extern volatile sig_atomic_t cli_stop;
void cli_catch_stop_signals(void);

/* Maps a library error to an exit code. */
int exit_code_for(isynth_err rc);

#endif
