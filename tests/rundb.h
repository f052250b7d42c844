/* Reading a unit test's run.db beside the store (the store gives no handle out): rundb_open()
 * is a connection to dir/run.db (tmpdir.h), q(sql) the integer and q_text(sql) the text in the
 * first column of sql's first row. Include after cmocka.h and tmpdir.h. */
#ifndef ISYNTH_TEST_RUNDB_H
#define ISYNTH_TEST_RUNDB_H

#include <sqlite3.h>
#include <stdio.h>

static inline sqlite3 *rundb_open(void)
{
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/run.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

/* sql's first row, stepped on db (finalize *st after reading it) */
static inline void first_row(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) print_error("%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_step(*st), SQLITE_ROW);
}

static inline long q(const char *sql)
{
    sqlite3 *db = rundb_open();
    sqlite3_stmt *st;
    first_row(db, sql, &st);
    long v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static inline void q_text(const char *sql, char *out, size_t cap)
{
    sqlite3 *db = rundb_open();
    sqlite3_stmt *st;
    first_row(db, sql, &st);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

#endif
