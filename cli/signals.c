/* SIGINT and SIGTERM ask the running command to stop at its next safe point: the library
 * functions take a pointer to this flag and return ISYNTH_ERR_CANCELLED once they see it. */
#include "cli.h"

#include <signal.h>
#include <string.h>

/* The one stop flag of the CLI. The library's stop pointers are volatile int *: sig_atomic_t,
 * the type a signal handler may write, is int on the platforms isynth builds on. */
_Static_assert(_Generic((sig_atomic_t)0, int : 1, default : 0), "sig_atomic_t is not int");
volatile sig_atomic_t cli_stop;

static void on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
