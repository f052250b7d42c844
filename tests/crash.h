/* Crash points for the crash walks (src/internal.h's fault_point): count the points of an
 * operation, or run it in a child process that ends at the N-th one, then check the database it
 * left. A header of static functions shared by test_pipeline.c, test_review.c and
 * test_ledger.c; include it after cmocka.h. */
#ifndef ISYNTH_TEST_CRASH_H
#define ISYNTH_TEST_CRASH_H

#include <sqlite3.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define CRASH_EXIT 86 /* the exit code of a process ended at its crash point */

static long crash_at, crash_seen;

static void crash_hook(const char *where)
{
    (void)where;
    if (++crash_seen == crash_at) _exit(CRASH_EXIT);
}

/* Counts crash points from now; with at > 0 the process ends with CRASH_EXIT at point at. */
static void crash_arm(long at)
{
    crash_at = at;
    crash_seen = 0;
    fault_set_hook(crash_hook);
}

/* Stops counting; returns the points passed since crash_arm. */
static long crash_disarm(void)
{
    fault_set_hook(NULL);
    return crash_seen;
}

/* Runs op(arg) in a child armed to end at point at; returns the child's exit code (CRASH_EXIT
 * when it ended there, 0 when op finished, 1 when op failed). */
static int crash_child(long at, int (*op)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        crash_arm(at);
        _exit(op(arg) ? 1 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Asserts that PRAGMA integrity_check finds db sound. */
static void assert_db_sound(sqlite3 *db)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "pragma integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
}

#endif
