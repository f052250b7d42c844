/* The command-line tool's shared pieces: subcommand entry points and exit codes. The CLI owns
 * the terminal; the library never prints. */
#ifndef ISYNTH_CLI_H
#define ISYNTH_CLI_H

#include "isynth/isynth.h"

/* Exit codes, documented in README.md and `isynth --help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAILURE_RUN = 1, /* the run failed (backend, store, I/O) */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_INPUT = 3,       /* bad input file (seeds, workbook, JSONL) */
    EXIT_PARTIAL = 4,     /* finished without reaching the target (-n), e.g. request cap */
    EXIT_INTERRUPTED = 130,
};

/* Each subcommand takes argv after the subcommand name (argv[0] is the subcommand). */
int cmd_generate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_dedup(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Maps a library error to an exit code. */
int exit_code_for(isynth_err rc);

#endif
