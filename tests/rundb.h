/* Reading a unit test's run.db: q(sql) is the integer in the first column of sql's first row,
 * on dir/run.db (tmpdir.h). Include after cmocka.h and tmpdir.h. */
#ifndef ISYNTH_TEST_RUNDB_H
#define ISYNTH_TEST_RUNDB_H

#include <sqlite3.h>
#include <stdio.h>

static long q(const char *sql)
{
    char path[256];
    snprintf(path, sizeof path, "%s/run.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

#endif
