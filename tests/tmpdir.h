/* A unit test's scratch directory, `dir`: made under /tmp by setup() and removed with what it
 * holds by teardown() (cmocka's per-test hooks). Define TMPDIR_NAME (a word naming the test
 * program) before including; include after cmocka.h. */
#ifndef ISYNTH_TEST_TMPDIR_H
#define ISYNTH_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/isynth-test-" TMPDIR_NAME "-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
