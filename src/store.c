/* SQLite run store. WAL mode with one writer (this process); every finished request is one
 * transaction with its candidates, so a crash at any moment leaves a consistent file. The
 * schema is created on open and versioned in PRAGMA user_version, with meta('schema') kept in
 * step (runs made before version 4 have only the latter); an older run.db is migrated step by
 * step when opened for writing, and read as it is when opened for reading. This file is the
 * only one that knows the schema: the other modules call the typed functions of store.h. */
#include "isynth/store.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_VERSION 4
#define STR_(x) #x
#define STR(x) STR_(x)

struct isynth_store {
    sqlite3 *db;
    char *dir;
    /* statements run once per row (the exports) or per request and candidate (the run),
     * prepared on first use and kept for the store's life */
    sqlite3_stmt *get_judgement, *get_consistency, *get_lineage, *export_seeds, *request_refs;
    sqlite3_stmt *add_request, *add_example, *add_candidate, *finish_candidate, *reject;
    sqlite3_stmt *ref_instruction, *review_get, *review_hist, *review_put; /* review section */
    /* the schema version: SCHEMA_VERSION, or an older one (2, 3) opened for reading */
    int schema;
};

/* One judgement per judged candidate: a score 1-5 with the judge's reason and the claims it
 * believes false (JSON array), or the error that kept the row from being judged. */
#define JUDGEMENTS_TABLE                                                                           \
    "CREATE TABLE IF NOT EXISTS judgements("                                                       \
    "  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id),"                                \
    "  score INTEGER CHECK(score BETWEEN 1 AND 5), reason TEXT, false_claims TEXT,"                \
    "  model TEXT NOT NULL, error TEXT, created_at TEXT NOT NULL);"

/* One self-consistency check per candidate with facts: how many re-answers were compared (k),
 * and the facts of the row that most re-answers did not repeat (JSON array), with the facts the
 * re-answers gave instead (JSON array). */
#define CONSISTENCY_TABLE                                                                          \
    "CREATE TABLE IF NOT EXISTS consistency("                                                      \
    "  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id), k INTEGER NOT NULL,"            \
    "  disagree TEXT NOT NULL, alternatives TEXT NOT NULL, created_at TEXT NOT NULL);"

/* Where an evolved task (Evol-Instruct) comes from: its parent ("s3" a seed, "g12" a generated
 * task), the operation that rewrote it and the round (1: rewritten from a seed). A table of its
 * own, made on every open for writing, so a run.db of an earlier release needs no migration
 * and one that is only read (status, report) need not have it. */
#define LINEAGE_TABLE                                                                              \
    "CREATE TABLE IF NOT EXISTS lineage("                                                          \
    "  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id), parent TEXT NOT NULL,"          \
    "  operation TEXT NOT NULL, round INTEGER NOT NULL);"                                          \
    "CREATE INDEX IF NOT EXISTS lineage_parent ON lineage(parent);"

/* The examples each request showed, in prompt order (pos from 0): a seed of the run (seed_id,
 * "s3") or an earlier candidate (candidate_id, "g12"), exactly one of the two. The ids are not
 * foreign keys: they are what the request's prompt named, and readers join seeds or candidates
 * and skip an id that names nothing, as the readers of schema 3's JSON did. */
#define REQUEST_EXAMPLES_TABLE                                                                     \
    "CREATE TABLE IF NOT EXISTS request_examples("                                                 \
    "  request_id INTEGER NOT NULL REFERENCES requests(id), pos INTEGER NOT NULL,"                 \
    "  seed_id INTEGER, candidate_id INTEGER,"                                                     \
    "  CHECK((seed_id IS NULL) != (candidate_id IS NULL)), PRIMARY KEY(request_id, pos));"

/* Schema 1 (isynth 0.1.0) to 2: the facts to verify of each candidate, and the judgements. */
static const char migrate_1_2[] =
    "ALTER TABLE candidates ADD COLUMN verify TEXT;" JUDGEMENTS_TABLE CONSISTENCY_TABLE
    "UPDATE meta SET value = '2' WHERE key = 'schema';";

/* Schema 2 to 3: the server that answered each request (HTTP base URL; NULL embedded). */
static const char migrate_2_3[] = "ALTER TABLE requests ADD COLUMN server TEXT;"
                                  "UPDATE meta SET value = '3' WHERE key = 'schema';";

/* Schema 3 to 4: the examples of a request leave the JSON text of requests.examples (["s3",
 * "g12"]) for rows of request_examples; text that is no ref (never written) is dropped. */
static const char migrate_3_4[] = REQUEST_EXAMPLES_TABLE
    "INSERT INTO request_examples(request_id, pos, seed_id, candidate_id)"
    " SELECT request_id, pos, CASE kind WHEN 's' THEN n END, CASE kind WHEN 'g' THEN n END FROM"
    " (SELECT r.id AS request_id, e.key AS pos, substr(e.value, 1, 1) AS kind,"
    "  CAST(substr(e.value, 2) AS INTEGER) AS n FROM requests r,"
    "  json_each(CASE WHEN json_valid(r.examples) THEN r.examples ELSE '[]' END) e"
    "  WHERE e.type = 'text' AND (e.value GLOB 's[1-9]*' OR e.value GLOB 'g[1-9]*')"
    "  AND NOT substr(e.value, 2) GLOB '*[^0-9]*');"
    "ALTER TABLE requests DROP COLUMN examples;"
    "UPDATE meta SET value = '4' WHERE key = 'schema';";

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seeds("
    "  id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL, instruction TEXT NOT NULL,"
    "  input TEXT NOT NULL, output TEXT NOT NULL, eval_aspect TEXT NOT NULL,"
    "  is_classification INTEGER NOT NULL, line INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS requests("
    "  id INTEGER PRIMARY KEY, stage INTEGER NOT NULL, created_at TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('done','failed')),"
    "  parent INTEGER, prompt TEXT NOT NULL, response TEXT, error TEXT,"
    "  truncated INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER, completion_tokens INTEGER,"
    "  retries INTEGER NOT NULL DEFAULT 0, seconds REAL, server TEXT);"
    "CREATE TABLE IF NOT EXISTS candidates("
    "  id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  idx INTEGER NOT NULL, instruction TEXT NOT NULL, input TEXT NOT NULL,"
    "  output TEXT NOT NULL, dedup_key TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('accepted','rejected','pending')),"
    "  reason TEXT, detail TEXT, nn_ref TEXT, nn_score REAL, created_at TEXT NOT NULL,"
    "  verify TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS candidates_accepted_key ON candidates(dedup_key)"
    "  WHERE status = 'accepted';"
    "CREATE INDEX IF NOT EXISTS candidates_status ON candidates(status);" JUDGEMENTS_TABLE
        CONSISTENCY_TABLE LINEAGE_TABLE REQUEST_EXAMPLES_TABLE;

static isynth_err db_fail(isynth_store *st, isynth_error *err, const char *what)
{
    return isynth_error_set(err, ISYNTH_ERR_STORE, "%s/run.db: %s: %s", st->dir, what,
                            sqlite3_errmsg(st->db));
}

static isynth_err exec(isynth_store *st, const char *sql, isynth_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        isynth_error_set(err, ISYNTH_ERR_STORE, "%s/run.db: %s", st->dir,
                         msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return ISYNTH_ERR_STORE;
    }
    return ISYNTH_OK;
}

/* mkdir -p: creates dir and its missing parents; 0 or -1 with errno. */
static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The schema version of the open file: PRAGMA user_version, else meta('schema') (a run made
 * before version 4), else 0 (a new file, or one that is not a run store). */
static isynth_err schema_version(isynth_store *st, int *v, isynth_error *err)
{
    *v = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, err, "read the schema version");
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) *v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (r != SQLITE_ROW) return db_fail(st, err, "read the schema version");
    char *old = NULL;
    if (!*v && isynth_store_meta_get(st, "schema", &old, NULL) == ISYNTH_OK && old) {
        long n = strtol(old, NULL, 10);
        *v = n > 0 && n < 1000 ? (int)n : 0;
    }
    isynth_free(old);
    return ISYNTH_OK;
}

isynth_err isynth_store_open(const char *dir, unsigned flags, isynth_store **out, isynth_error *err)
{
    *out = NULL;
    bool create = flags & ISYNTH_STORE_CREATE;
    if (create && mkdir_p(dir) != 0)
        return isynth_error_set(err, ISYNTH_ERR_IO, "%s: cannot create directory: %s", dir,
                                strerror(errno));
    isynth_store *st = isynth_calloc(1, sizeof *st);
    buf path;
    buf_init(&path, BUF_MAX_PATH);
    if (!st || !(st->dir = isynth_strdup(dir)) || buf_printf(&path, "%s/run.db", dir)) {
        buf_free(&path);
        isynth_store_close(st);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    isynth_err rc = ISYNTH_OK;
    struct stat sb;
    if (!create && stat(path.p, &sb) != 0) {
        rc =
            isynth_error_set(err, errno == ENOENT ? ISYNTH_ERR_NOT_FOUND : ISYNTH_ERR_IO, "%s: %s",
                             path.p, errno == ENOENT ? "no run here (no run.db)" : strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(path.p, &st->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0),
                        NULL) != SQLITE_OK) {
        rc = isynth_error_set(err, ISYNTH_ERR_STORE, "%s: cannot open: %s", path.p,
                              st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if ((rc = exec(st,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   "PRAGMA foreign_keys=ON;",
                   err)))
        goto fail;
    if ((rc = exec(st, "BEGIN IMMEDIATE;", err))) goto fail;
    int v = 0;
    rc = schema_version(st, &v, err);
    if (!rc && v > SCHEMA_VERSION)
        rc =
            isynth_error_set(err, ISYNTH_ERR_STORE,
                             "%s: schema version %d, this isynth reads %d (made by a newer isynth)",
                             path.p, v, SCHEMA_VERSION);
    if (!rc && v == 1) rc = exec(st, migrate_1_2, err);
    if (!rc && v >= 1 && v <= 2) rc = exec(st, migrate_2_3, err);
    if (!rc && v >= 1 && v <= 3) rc = exec(st, migrate_3_4, err);
    if (!rc) rc = exec(st, schema, err);
    if (!rc)
        rc = exec(
            st,
            "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '" STR(SCHEMA_VERSION) "');",
            err);
    /* only when it changes: setting it rewrites the file's header, and an open that changes
     * nothing (a refused resume) must leave run.db as it was */
    if (!rc && v != SCHEMA_VERSION)
        rc = exec(st, "PRAGMA user_version = " STR(SCHEMA_VERSION) ";", err);
    if (rc) {
        exec(st, "ROLLBACK;", NULL);
        goto fail;
    }
    if ((rc = isynth_store_commit(st, err))) goto fail;
    st->schema = SCHEMA_VERSION;
    buf_free(&path);
    *out = st;
    return ISYNTH_OK;
fail:
    buf_free(&path);
    isynth_store_close(st);
    return rc;
}

void isynth_store_close(isynth_store *st)
{
    if (!st) return;
    sqlite3_finalize(st->get_judgement);
    sqlite3_finalize(st->get_consistency);
    sqlite3_finalize(st->get_lineage);
    sqlite3_finalize(st->ref_instruction);
    sqlite3_finalize(st->review_get);
    sqlite3_finalize(st->review_hist);
    sqlite3_finalize(st->review_put);
    sqlite3_finalize(st->export_seeds);
    sqlite3_finalize(st->request_refs);
    sqlite3_finalize(st->add_request);
    sqlite3_finalize(st->add_example);
    sqlite3_finalize(st->add_candidate);
    sqlite3_finalize(st->finish_candidate);
    sqlite3_finalize(st->reject);
    if (st->db) sqlite3_close_v2(st->db);
    isynth_free(st->dir);
    isynth_free(st);
}

const char *isynth_store_dir(isynth_store *st)
{
    return st->dir;
}

isynth_err isynth_store_begin(isynth_store *st, isynth_error *err)
{
    return exec(st, "BEGIN IMMEDIATE;", err);
}

isynth_err isynth_store_commit(isynth_store *st, isynth_error *err)
{
    fault_point("before commit");
    isynth_err rc = exec(st, "COMMIT;", err);
    if (!rc) fault_point("after commit");
    return rc;
}

void isynth_store_rollback(isynth_store *st)
{
    if (!sqlite3_get_autocommit(st->db)) exec(st, "ROLLBACK;", NULL);
}

static isynth_err prepare(isynth_store *st, const char *sql, sqlite3_stmt **s, isynth_error *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return db_fail(st, err, "prepare");
    return ISYNTH_OK;
}

/* A statement kept in *slot for the store's life: prepared on first use, reset after. */
static isynth_err kept(isynth_store *st, sqlite3_stmt **slot, const char *sql, sqlite3_stmt **s,
                       isynth_error *err)
{
    if (!*slot) {
        isynth_err rc = prepare(st, sql, slot, err);
        if (rc) return rc;
    }
    *s = *slot;
    return ISYNTH_OK;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

const char *isynth_cand_status_name(isynth_cand_status s)
{
    switch (s) {
    case ISYNTH_CAND_ANY:
        return "any";
    case ISYNTH_CAND_ACCEPTED:
        return "accepted";
    case ISYNTH_CAND_REJECTED:
        return "rejected";
    case ISYNTH_CAND_PENDING:
        return "pending";
    }
    return "?";
}

const char *isynth_req_status_name(isynth_req_status s)
{
    switch (s) {
    case ISYNTH_REQ_ANY:
        return "any";
    case ISYNTH_REQ_DONE:
        return "done";
    case ISYNTH_REQ_FAILED:
        return "failed";
    }
    return "?";
}

/* A candidate's status as run.db spells it, back to the enum (ANY for text it does not know). */
static isynth_cand_status cand_status_of(const char *v)
{
    for (isynth_cand_status k = ISYNTH_CAND_ACCEPTED; k <= ISYNTH_CAND_PENDING; k++)
        if (v && !strcmp(v, isynth_cand_status_name(k))) return k;
    return ISYNTH_CAND_ANY;
}

/* Binds a status's name, or NULL (refused by the table's CHECK) for ANY or a value outside the
 * enum. */
static void bind_status(sqlite3_stmt *s, int i, const char *name)
{
    if (strcmp(name, "any") != 0 && strcmp(name, "?") != 0)
        sqlite3_bind_text(s, i, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static isynth_err step_done(isynth_store *st, sqlite3_stmt *s, isynth_error *err, const char *what)
{
    int r = sqlite3_step(s);
    isynth_err rc = r == SQLITE_DONE ? ISYNTH_OK : db_fail(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

/* step_done for a kept statement: reset for its next use instead of finalized, its bindings
 * (a response can be large) released. */
static isynth_err step_kept(isynth_store *st, sqlite3_stmt *s, isynth_error *err, const char *what)
{
    int r = sqlite3_step(s);
    isynth_err rc = r == SQLITE_DONE ? ISYNTH_OK : db_fail(st, err, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

isynth_err isynth_store_meta_get(isynth_store *st, const char *key, char **val, isynth_error *err)
{
    *val = NULL;
    sqlite3_stmt *s;
    isynth_err rc = prepare(st, "SELECT value FROM meta WHERE key = ?", &s, err);
    if (rc) return rc;
    bind_text(s, 1, key);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        *val = isynth_strdup(v ? v : "");
        if (!*val) rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    } else if (r != SQLITE_DONE) {
        rc = db_fail(st, err, "read meta");
    }
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_meta_set(isynth_store *st, const char *key, const char *val,
                                 isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "INSERT INTO meta(key, value) VALUES(?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            &s, err);
    if (rc) return rc;
    bind_text(s, 1, key);
    bind_text(s, 2, val);
    return step_done(st, s, err, "write meta");
}

isynth_err isynth_store_put_seeds(isynth_store *st, const isynth_seedset *seeds, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st, "SELECT count(*) FROM seeds", &s, err);
    if (rc) return rc;
    long have = sqlite3_step(s) == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (have < 0) return db_fail(st, err, "count seeds");
    if (have > 0) return ISYNTH_OK;
    if ((rc = isynth_store_begin(st, err))) return rc;
    if ((rc = prepare(st,
                      "INSERT INTO seeds(id, ext_id, instruction, input, output, "
                      "eval_aspect, is_classification, line) VALUES(?,?,?,?,?,?,?,?)",
                      &s, err))) {
        isynth_store_rollback(st);
        return rc;
    }
    for (size_t i = 0; i < seeds->n && !rc; i++) {
        const isynth_task *t = &seeds->tasks[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)i + 1);
        bind_text(s, 2, t->id);
        bind_text(s, 3, t->instruction);
        bind_text(s, 4, t->input);
        bind_text(s, 5, t->output);
        bind_text(s, 6, t->eval_aspect);
        sqlite3_bind_int(s, 7, t->is_classification);
        sqlite3_bind_int64(s, 8, t->line);
        if (sqlite3_step(s) != SQLITE_DONE) rc = db_fail(st, err, "insert seed");
    }
    sqlite3_finalize(s);
    if (rc) {
        isynth_store_rollback(st);
        return rc;
    }
    return isynth_store_commit(st, err);
}

/* An example ref as what it names: "s3" seed 3 (*seed true), "g12" candidate 12; false when
 * it is neither. */
static bool parse_ref(const char *ref, bool *seed, long long *n)
{
    if (!ref || (ref[0] != 's' && ref[0] != 'g') || ref[1] < '1' || ref[1] > '9') return false;
    char *end;
    errno = 0;
    *n = strtoll(ref + 1, &end, 10);
    *seed = ref[0] == 's';
    return !*end && errno == 0;
}

isynth_err isynth_store_add_request(isynth_store *st, const isynth_request_rec *r, long long *id,
                                    isynth_error *err)
{
    if (r->n_examples > ISYNTH_MAX_REQUEST_EXAMPLES)
        return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                "%s/run.db: %zu examples in a request, "
                                "at most %d",
                                st->dir, r->n_examples, ISYNTH_MAX_REQUEST_EXAMPLES);
    bool seed[ISYNTH_MAX_REQUEST_EXAMPLES];
    long long ex[ISYNTH_MAX_REQUEST_EXAMPLES];
    for (size_t i = 0; i < r->n_examples; i++)
        if (!parse_ref(r->examples[i], &seed[i], &ex[i]))
            return isynth_error_set(err, ISYNTH_ERR_INVALID,
                                    "%s/run.db: example ref \"%s\" names no seed (s<N>) or "
                                    "candidate (g<N>)",
                                    st->dir, r->examples[i] ? r->examples[i] : "(null)");
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->add_request,
                         "INSERT INTO requests(stage, created_at, status, parent, "
                         "prompt, response, error, truncated, prompt_tokens, "
                         "completion_tokens, retries, seconds, server) "
                         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         &s, err);
    if (rc) return rc;
    char now[21];
    utc_now(now);
    sqlite3_bind_int(s, 1, r->stage);
    bind_text(s, 2, now);
    bind_status(s, 3, isynth_req_status_name(r->status));
    if (r->parent)
        sqlite3_bind_int64(s, 4, r->parent);
    else
        sqlite3_bind_null(s, 4);
    bind_text(s, 5, r->prompt ? r->prompt : "");
    if (r->response)
        sqlite3_bind_text(s, 6, r->response, (int)r->response_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 6);
    bind_text(s, 7, r->error);
    sqlite3_bind_int(s, 8, r->truncated);
    sqlite3_bind_int64(s, 9, r->prompt_tokens);
    sqlite3_bind_int64(s, 10, r->completion_tokens);
    sqlite3_bind_int(s, 11, r->retries);
    sqlite3_bind_double(s, 12, r->seconds);
    bind_text(s, 13, r->server);
    rc = step_kept(st, s, err, "insert request");
    if (rc) return rc;
    long long rid = sqlite3_last_insert_rowid(st->db);
    if (id) *id = rid;
    if (!r->n_examples) return ISYNTH_OK;
    if ((rc = kept(st, &st->add_example,
                   "INSERT INTO request_examples(request_id, pos, seed_id, candidate_id) "
                   "VALUES(?,?,?,?)",
                   &s, err)))
        return rc;
    for (size_t i = 0; i < r->n_examples && !rc; i++) {
        sqlite3_bind_int64(s, 1, rid);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_null(s, 3);
        sqlite3_bind_null(s, 4);
        sqlite3_bind_int64(s, seed[i] ? 3 : 4, ex[i]);
        rc = step_kept(st, s, err, "insert request example");
    }
    return rc;
}

isynth_err isynth_store_add_candidate(isynth_store *st, const isynth_candidate_rec *c,
                                      long long *id, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->add_candidate,
                         "INSERT INTO candidates(request_id, idx, instruction, input, output, "
                         "dedup_key, status, reason, detail, nn_ref, nn_score, created_at, "
                         "verify) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         &s, err);
    if (rc) return rc;
    char now[21];
    utc_now(now);
    sqlite3_bind_int64(s, 1, c->request_id);
    sqlite3_bind_int(s, 2, c->idx);
    bind_text(s, 3, c->instruction);
    bind_text(s, 4, c->input ? c->input : "");
    bind_text(s, 5, c->output ? c->output : "");
    bind_text(s, 6, c->dedup_key);
    bind_status(s, 7, isynth_cand_status_name(c->status));
    bind_text(s, 8, c->reason);
    bind_text(s, 9, c->detail);
    bind_text(s, 10, c->nn_ref);
    if (c->nn_score >= 0)
        sqlite3_bind_double(s, 11, c->nn_score);
    else
        sqlite3_bind_null(s, 11);
    bind_text(s, 12, now);
    bind_text(s, 13, c->verify);
    rc = step_kept(st, s, err, "insert candidate");
    if (!rc && id) *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

isynth_err isynth_store_finish_candidate(isynth_store *st, long long id, const char *output,
                                         isynth_cand_status status, const char *reason,
                                         const char *detail, const char *verify, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->finish_candidate,
                         "UPDATE candidates SET output = ?, status = ?, reason = ?, "
                         "detail = coalesce(?, detail), verify = ? "
                         "WHERE id = ? AND status = 'pending'",
                         &s, err);
    if (rc) return rc;
    bind_text(s, 1, output ? output : "");
    bind_status(s, 2, isynth_cand_status_name(status));
    bind_text(s, 3, reason);
    bind_text(s, 4, detail);
    bind_text(s, 5, verify);
    sqlite3_bind_int64(s, 6, id);
    return step_kept(st, s, err, "update candidate");
}

isynth_err isynth_store_get_candidate(isynth_store *st, long long id, isynth_task *out,
                                      isynth_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    isynth_err rc = prepare(st, "SELECT instruction, input FROM candidates WHERE id = ?", &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (!(out->instruction = isynth_strdup((const char *)sqlite3_column_text(s, 0))) ||
            !(out->input = isynth_strdup((const char *)sqlite3_column_text(s, 1)))) {
            isynth_task_clear(out);
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
    } else if (r == SQLITE_DONE) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOT_FOUND, "%s/run.db: no candidate %lld", st->dir,
                              id);
    } else {
        rc = db_fail(st, err, "read candidate");
    }
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_put_judgement(isynth_store *st, const isynth_judgement_rec *j,
                                      isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "INSERT INTO judgements(candidate_id, score, reason, false_claims, "
                            "model, error, created_at) VALUES(?,?,?,?,?,?,?) "
                            "ON CONFLICT(candidate_id) DO UPDATE SET score = excluded.score, "
                            "reason = excluded.reason, false_claims = excluded.false_claims, "
                            "model = excluded.model, error = excluded.error, "
                            "created_at = excluded.created_at",
                            &s, err);
    if (rc) return rc;
    char now[21];
    utc_now(now);
    sqlite3_bind_int64(s, 1, j->candidate_id);
    if (j->score >= 1 && j->score <= 5)
        sqlite3_bind_int(s, 2, j->score);
    else
        sqlite3_bind_null(s, 2);
    bind_text(s, 3, j->reason);
    bind_text(s, 4, j->false_claims);
    bind_text(s, 5, j->model ? j->model : "");
    bind_text(s, 6, j->error);
    bind_text(s, 7, now);
    return step_done(st, s, err, "insert judgement");
}

/* Calls fn for each row the statement s yields (id, instruction, input, output, verify, then
 * when with_judge score, reason, false_claims, model, error), then finalizes s. */
static isynth_err walk_rows(isynth_store *st, sqlite3_stmt *s, bool with_judge, isynth_row_fn fn,
                            void *user, isynth_error *err)
{
    isynth_err rc = ISYNTH_OK;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        isynth_row_rec row = {
            .id = sqlite3_column_int64(s, 0),
            .instruction = (const char *)sqlite3_column_text(s, 1),
            .input = (const char *)sqlite3_column_text(s, 2),
            .output = (const char *)sqlite3_column_text(s, 3),
            .verify = (const char *)sqlite3_column_text(s, 4),
        };
        if (with_judge) {
            row.judge_score =
                sqlite3_column_type(s, 5) == SQLITE_NULL ? 0 : sqlite3_column_int(s, 5);
            row.judge_reason = (const char *)sqlite3_column_text(s, 6);
            row.judge_false_claims = (const char *)sqlite3_column_text(s, 7);
            row.judge_model = (const char *)sqlite3_column_text(s, 8);
            row.judge_error = (const char *)sqlite3_column_text(s, 9);
        }
        if ((rc = fn(user, &row, err))) break;
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read candidates");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_get_judgement(isynth_store *st, long long id, int *score, char **reason,
                                      char **false_claims, char **model, isynth_error *err)
{
    *score = 0;
    *reason = *false_claims = *model = NULL;
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->get_judgement,
                         "SELECT score, reason, false_claims, model FROM judgements "
                         "WHERE candidate_id = ? AND score IS NOT NULL",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *v[3];
        for (int i = 0; i < 3; i++) {
            v[i] = (const char *)sqlite3_column_text(s, i + 1);
            if (!v[i]) v[i] = i == 1 ? "[]" : "";
        }
        *score = sqlite3_column_int(s, 0);
        *reason = isynth_strdup(v[0]);
        *false_claims = isynth_strdup(v[1]);
        *model = isynth_strdup(v[2]);
        if (!*reason || !*false_claims || !*model) {
            isynth_free(*reason);
            isynth_free(*false_claims);
            isynth_free(*model);
            *reason = *false_claims = *model = NULL;
            *score = 0;
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
    } else if (r != SQLITE_DONE) {
        rc = db_fail(st, err, "read judgement");
    }
    sqlite3_reset(s);
    return rc;
}

isynth_err isynth_store_put_consistency(isynth_store *st, long long id, int k, const char *disagree,
                                        const char *alternatives, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "INSERT OR REPLACE INTO consistency(candidate_id, k, disagree, "
                            "alternatives, created_at) VALUES(?,?,?,?,?)",
                            &s, err);
    if (rc) return rc;
    char now[21];
    utc_now(now);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, k);
    bind_text(s, 3, disagree);
    bind_text(s, 4, alternatives);
    bind_text(s, 5, now);
    return step_done(st, s, err, "insert consistency");
}

isynth_err isynth_store_get_consistency(isynth_store *st, long long id, int *k, char **disagree,
                                        char **alternatives, isynth_error *err)
{
    *k = 0;
    *disagree = *alternatives = NULL;
    sqlite3_stmt *s;
    isynth_err rc =
        kept(st, &st->get_consistency,
             "SELECT k, disagree, alternatives FROM consistency WHERE candidate_id = ?", &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 1);
        const char *a = (const char *)sqlite3_column_text(s, 2);
        *disagree = isynth_strdup(d ? d : "[]");
        *alternatives = isynth_strdup(a ? a : "[]");
        if (!*disagree || !*alternatives) {
            isynth_free(*disagree);
            isynth_free(*alternatives);
            *disagree = *alternatives = NULL;
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        } else {
            *k = sqlite3_column_int(s, 0);
        }
    } else if (r != SQLITE_DONE) {
        rc = db_fail(st, err, "read consistency");
    }
    sqlite3_reset(s);
    return rc;
}

isynth_err isynth_store_each_unchecked(isynth_store *st, isynth_row_fn fn, void *user,
                                       isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT c.id, c.instruction, c.input, c.output, c.verify FROM "
                            "candidates c LEFT JOIN consistency k ON k.candidate_id = c.id "
                            "WHERE c.status = 'accepted' AND k.candidate_id IS NULL AND "
                            "c.verify IS NOT NULL AND c.verify != '[]' ORDER BY c.id",
                            &s, err);
    return rc ? rc : walk_rows(st, s, false, fn, user, err);
}

isynth_err isynth_store_quality_counts(isynth_store *st, isynth_quality_counts *out,
                                       isynth_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT count(*) FROM candidates WHERE status = 'accepted' "
                            "AND verify IS NOT NULL AND verify != '[]'",
                            &s, err);
    if (rc) return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        out->with_facts = (long)sqlite3_column_int64(s, 0);
    else
        rc = db_fail(st, err, "count facts");
    sqlite3_finalize(s);
    if (!rc && !(rc = prepare(st,
                              "SELECT count(*), coalesce(sum(k.disagree != '[]'), 0) FROM "
                              "consistency k JOIN candidates c ON c.id = k.candidate_id "
                              "WHERE c.status = 'accepted'",
                              &s, err))) {
        if (sqlite3_step(s) == SQLITE_ROW) {
            out->consistency_checked = (long)sqlite3_column_int64(s, 0);
            out->consistency_flagged = (long)sqlite3_column_int64(s, 1);
        } else {
            rc = db_fail(st, err, "count consistency");
        }
        sqlite3_finalize(s);
    }
    if (rc || (rc = prepare(st,
                            "SELECT coalesce(j.score, 0), count(*) FROM judgements j "
                            "JOIN candidates c ON c.id = j.candidate_id "
                            "WHERE c.status = 'accepted' OR c.reason = 'judge' GROUP BY 1",
                            &s, err)))
        return rc;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int score = sqlite3_column_int(s, 0);
        long n = (long)sqlite3_column_int64(s, 1);
        if (score >= 1 && score <= 5) {
            out->score_hist[score] += n;
            out->judged += n;
        } else {
            out->judge_errors += n;
        }
    }
    if (r != SQLITE_DONE) rc = db_fail(st, err, "count judgements");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_reject(isynth_store *st, long long id, const char *reason,
                               const char *detail, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->reject,
                         "UPDATE candidates SET status = 'rejected', reason = ?, detail = ? "
                         "WHERE id = ? AND status = 'accepted'",
                         &s, err);
    if (rc) return rc;
    bind_text(s, 1, reason);
    bind_text(s, 2, detail);
    sqlite3_bind_int64(s, 3, id);
    return step_kept(st, s, err, "reject candidate");
}

isynth_err isynth_store_each_row(isynth_store *st, isynth_cand_status status, bool unjudged_only,
                                 isynth_row_fn fn, void *user, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT c.id, c.instruction, c.input, c.output, c.verify, j.score, "
                            "j.reason, j.false_claims, j.model, j.error FROM candidates c "
                            "LEFT JOIN judgements j ON j.candidate_id = c.id "
                            "WHERE c.status = ? AND (? = 0 OR j.candidate_id IS NULL "
                            "OR j.score IS NULL) ORDER BY c.id",
                            &s, err);
    if (rc) return rc;
    bind_status(s, 1, isynth_cand_status_name(status));
    sqlite3_bind_int(s, 2, unjudged_only);
    return walk_rows(st, s, true, fn, user, err);
}

/* status: the name of the status counted, or NULL for all. */
static isynth_err count_where(isynth_store *st, const char *table, const char *status, long *n,
                              isynth_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s", table,
             status ? " WHERE status = ?" : "");
    sqlite3_stmt *s;
    isynth_err rc = prepare(st, sql, &s, err);
    if (rc) return rc;
    if (status) bind_text(s, 1, status);
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = (long)sqlite3_column_int64(s, 0);
    else
        rc = db_fail(st, err, "count");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_count(isynth_store *st, isynth_cand_status status, long *n,
                              isynth_error *err)
{
    return count_where(st, "candidates", status ? isynth_cand_status_name(status) : NULL, n, err);
}

isynth_err isynth_store_count_requests(isynth_store *st, isynth_req_status status, long *n,
                                       isynth_error *err)
{
    return count_where(st, "requests", status ? isynth_req_status_name(status) : NULL, n, err);
}

isynth_err isynth_store_each_candidate(isynth_store *st, isynth_cand_status status,
                                       isynth_candidate_fn fn, void *user, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT id, instruction, input, output, dedup_key FROM candidates "
                            "WHERE status = ? ORDER BY id",
                            &s, err);
    if (rc) return rc;
    bind_status(s, 1, isynth_cand_status_name(status));
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        rc = fn(user, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
                (const char *)sqlite3_column_text(s, 4), err);
        if (rc) break;
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read candidates");
    sqlite3_finalize(s);
    return rc;
}

/* ---- exports: the rows of data.jsonl and rejected.jsonl, and the card's review counts ---- */

/* The own ids of the seeds request rid showed, in prompt order, as new strings in ids (at most
 * ISYNTH_MAX_REQUEST_EXAMPLES; *n of them, the caller frees each). */
static isynth_err export_seed_ids(isynth_store *st, long long rid, char **ids, size_t *n,
                                  isynth_error *err)
{
    *n = 0;
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->export_seeds,
                         "SELECT s.ext_id FROM request_examples e JOIN seeds s ON s.id = e.seed_id "
                         "WHERE e.request_id = ? ORDER BY e.pos",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, rid);
    int r = SQLITE_DONE;
    while (!rc && *n < ISYNTH_MAX_REQUEST_EXAMPLES && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(ids[*n] = isynth_strdup(col_text(s, 0))))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        else
            (*n)++;
    }
    if (!rc && *n < ISYNTH_MAX_REQUEST_EXAMPLES && r != SQLITE_DONE)
        rc = db_fail(st, err, "read request examples");
    sqlite3_reset(s);
    return rc;
}

isynth_err isynth_store_each_export_row(isynth_store *st, isynth_cand_status status,
                                        isynth_export_fn fn, void *user, isynth_error *err)
{
    /* an evolved row's parent "s3" becomes the seed's own id; "g12" stays as it is */
    sqlite3_stmt *s;
    isynth_err rc = prepare(
        st,
        "SELECT c.id, c.request_id, c.instruction, c.input, c.output, c.created_at, c.reason,"
        " c.detail, c.nn_ref, coalesce(c.nn_score, -1), c.verify,"
        " CASE WHEN l.parent GLOB 's[1-9]*' THEN coalesce((SELECT ext_id FROM seeds WHERE id ="
        " CAST(substr(l.parent, 2) AS INTEGER)), l.parent) ELSE l.parent END,"
        " l.operation, l.round FROM candidates c LEFT JOIN lineage l ON l.candidate_id = c.id "
        "WHERE c.status = ? ORDER BY c.id",
        &s, err);
    if (rc) return rc;
    bind_status(s, 1, isynth_cand_status_name(status));
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        char *ids[ISYNTH_MAX_REQUEST_EXAMPLES];
        size_t n_ids = 0;
        rc = export_seed_ids(st, sqlite3_column_int64(s, 1), ids, &n_ids, err);
        isynth_export_row row = {
            .id = sqlite3_column_int64(s, 0),
            .request_id = sqlite3_column_int64(s, 1),
            .instruction = col_text(s, 2),
            .input = col_text(s, 3),
            .output = col_text(s, 4),
            .created_at = col_text(s, 5),
            .reason = col_text(s, 6),
            .detail = col_text(s, 7),
            .nn_ref = col_text(s, 8),
            .nn_score = sqlite3_column_double(s, 9),
            .verify = col_text(s, 10),
            .seed_ids = (const char *const *)ids,
            .n_seed_ids = n_ids,
            .parent = col_text(s, 11),
            .operation = col_text(s, 12),
            .round = sqlite3_column_int(s, 13),
        };
        if (row.nn_score < 0) row.nn_ref = NULL;
        if (!rc) rc = fn(user, &row, err);
        for (size_t i = 0; i < n_ids; i++)
            isynth_free(ids[i]);
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read candidates");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_request_examples(isynth_store *st, long long request_id, char (*refs)[24],
                                         size_t *n, isynth_error *err)
{
    *n = 0;
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->request_refs,
                         "SELECT seed_id, candidate_id FROM request_examples WHERE request_id = ? "
                         "ORDER BY pos",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, request_id);
    int r = SQLITE_DONE;
    while (*n < ISYNTH_MAX_REQUEST_EXAMPLES && (r = sqlite3_step(s)) == SQLITE_ROW) {
        bool seed = sqlite3_column_type(s, 0) != SQLITE_NULL;
        snprintf(refs[*n], sizeof refs[*n], "%c%lld", seed ? 's' : 'g',
                 (long long)sqlite3_column_int64(s, seed ? 0 : 1));
        (*n)++;
    }
    if (*n < ISYNTH_MAX_REQUEST_EXAMPLES && r != SQLITE_DONE)
        rc = db_fail(st, err, "read request examples");
    sqlite3_reset(s);
    return rc;
}

/* ---- lineage (Evol-Instruct) ---- */

isynth_err isynth_store_add_lineage(isynth_store *st, long long id, const char *parent,
                                    const char *operation, int round, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(
        st, "INSERT INTO lineage(candidate_id, parent, operation, round) VALUES(?,?,?,?)", &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, parent);
    bind_text(s, 3, operation);
    sqlite3_bind_int(s, 4, round);
    return step_done(st, s, err, "insert lineage");
}

isynth_err isynth_store_get_lineage(isynth_store *st, long long id, char **parent, char **operation,
                                    int *round, isynth_error *err)
{
    *parent = *operation = NULL;
    *round = 0;
    sqlite3_stmt *s;
    isynth_err rc =
        kept(st, &st->get_lineage,
             "SELECT parent, operation, round FROM lineage WHERE candidate_id = ?", &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *parent = isynth_strdup((const char *)sqlite3_column_text(s, 0));
        *operation = isynth_strdup((const char *)sqlite3_column_text(s, 1));
        *round = sqlite3_column_int(s, 2);
        if (!*parent || !*operation) {
            isynth_free(*parent);
            isynth_free(*operation);
            *parent = *operation = NULL;
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
    } else if (r == SQLITE_DONE) {
        rc = ISYNTH_ERR_NOT_FOUND;
    } else {
        rc = db_fail(st, err, "read lineage");
    }
    sqlite3_reset(s);
    return rc;
}

isynth_err isynth_store_each_evol_frontier(isynth_store *st, int max_round, isynth_frontier_fn fn,
                                           void *user, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT c.id, l.round, c.instruction, c.input FROM candidates c "
                            "JOIN lineage l ON l.candidate_id = c.id WHERE c.status = 'accepted' "
                            "AND l.round < ? AND NOT EXISTS (SELECT 1 FROM lineage k WHERE "
                            "k.parent = 'g' || c.id) ORDER BY c.id",
                            &s, err);
    if (rc) return rc;
    sqlite3_bind_int(s, 1, max_round);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = fn(user, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                     (const char *)sqlite3_column_text(s, 2),
                     (const char *)sqlite3_column_text(s, 3), err)))
            break;
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read lineage");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_each_lineage_sum(isynth_store *st, isynth_lineage_sum_fn fn, void *user,
                                         isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT l.operation, l.round, c.status, count(*) FROM lineage l "
                            "JOIN candidates c ON c.id = l.candidate_id GROUP BY 1, 2, 3 "
                            "ORDER BY 1, 2, 3",
                            &s, err);
    if (rc) return rc;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = fn(user, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                     cand_status_of(col_text(s, 2)), (long)sqlite3_column_int64(s, 3), err)))
            break;
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read lineage");
    sqlite3_finalize(s);
    return rc;
}

/* ---- run statistics: status, budgets and the report ---- */

isynth_err isynth_store_open_read(const char *dir, isynth_store **out, isynth_error *err)
{
    *out = NULL;
    isynth_store *st = isynth_calloc(1, sizeof *st);
    buf path;
    buf_init(&path, BUF_MAX_PATH);
    if (!st || !(st->dir = isynth_strdup(dir)) || buf_printf(&path, "%s/run.db", dir)) {
        buf_free(&path);
        isynth_store_close(st);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    isynth_err rc = ISYNTH_OK;
    struct stat sb;
    if (stat(path.p, &sb) != 0) {
        rc =
            isynth_error_set(err, errno == ENOENT ? ISYNTH_ERR_NOT_FOUND : ISYNTH_ERR_IO, "%s: %s",
                             path.p, errno == ENOENT ? "no run here (no run.db)" : strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(path.p, &st->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = isynth_error_set(err, ISYNTH_ERR_STORE, "%s: cannot open: %s", path.p,
                              st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    int v = 0;
    if ((rc = schema_version(st, &v, err))) goto fail;
    if (v < 2 || v > SCHEMA_VERSION) {
        char ver[16] = "(none)";
        if (v) snprintf(ver, sizeof ver, "%d", v);
        rc = isynth_error_set(err, ISYNTH_ERR_STORE,
                              "%s: schema version %s, this isynth reads %d (a run made by an "
                              "older isynth is upgraded by the next generate or export on it)",
                              path.p, ver, SCHEMA_VERSION);
        goto fail;
    }
    st->schema = v;
    buf_free(&path);
    *out = st;
    return ISYNTH_OK;
fail:
    buf_free(&path);
    isynth_store_close(st);
    return rc;
}

isynth_err isynth_store_totals(isynth_store *st, isynth_run_totals *out, isynth_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    isynth_err rc =
        prepare(st,
                "SELECT count(*), coalesce(sum(status = 'failed'), 0), coalesce(sum(stage = 1), 0),"
                " coalesce(sum(retries), 0), coalesce(sum(prompt_tokens), 0),"
                " coalesce(sum(completion_tokens), 0),"
                " coalesce(CAST(strftime('%s', min(created_at)) AS INTEGER), 0),"
                " coalesce(CAST(strftime('%s', max(created_at)) AS INTEGER), 0) "
                "FROM requests",
                &s, err);
    if (rc) return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->requests = (long)sqlite3_column_int64(s, 0);
        out->failed = (long)sqlite3_column_int64(s, 1);
        out->stage1 = (long)sqlite3_column_int64(s, 2);
        out->retries = (long)sqlite3_column_int64(s, 3);
        out->prompt_tokens = sqlite3_column_int64(s, 4);
        out->completion_tokens = sqlite3_column_int64(s, 5);
        out->first_at = sqlite3_column_int64(s, 6);
        out->last_at = sqlite3_column_int64(s, 7);
    } else {
        rc = db_fail(st, err, "sum requests");
    }
    sqlite3_finalize(s);
    if (rc ||
        (rc = prepare(st,
                      "SELECT coalesce(sum(status = 'accepted'), 0),"
                      " coalesce(sum(status = 'rejected'), 0),"
                      " coalesce(sum(status = 'pending'), 0),"
                      " coalesce(sum(status = 'rejected' AND detail LIKE 'stopped early%'), 0) "
                      "FROM candidates",
                      &s, err)))
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->accepted = (long)sqlite3_column_int64(s, 0);
        out->rejected = (long)sqlite3_column_int64(s, 1);
        out->pending = (long)sqlite3_column_int64(s, 2);
        out->stopped = (long)sqlite3_column_int64(s, 3);
    } else {
        rc = db_fail(st, err, "count candidates");
    }
    sqlite3_finalize(s);
    return rc;
}

/* The walks below: each row of s goes to row(s, walk) until one returns an error, which stops
 * the walk and is returned; s is finalized. */
typedef void (*any_fn)(void); /* the walk's callback, cast back to its type by the row */
typedef struct walk {
    any_fn fn;
    void *user;
    isynth_error *err; /* the caller's, handed to fn: fn's message is the walk's */
    isynth_store *st;  /* review rows: the store, for each row's example refs */
} walk;
typedef isynth_err (*row_fn)(sqlite3_stmt *s, const walk *w);

static isynth_err each(isynth_store *st, sqlite3_stmt *s, row_fn row, const walk *w,
                       const char *what, isynth_error *err)
{
    isynth_err rc = ISYNTH_OK;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW)
        if ((rc = row(s, w))) break;
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

static isynth_err reason_row(sqlite3_stmt *s, const walk *w)
{
    return ((isynth_reason_fn)w->fn)(w->user, col_text(s, 0), (long)sqlite3_column_int64(s, 1),
                                     w->err);
}

isynth_err isynth_store_each_reason(isynth_store *st, isynth_reason_fn fn, void *user,
                                    isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT coalesce(reason, 'other'), count(*) FROM candidates "
                            "WHERE status = 'rejected' GROUP BY 1 ORDER BY 2 DESC, 1",
                            &s, err);
    walk w = {(any_fn)fn, user, err, st};
    return rc ? rc : each(st, s, reason_row, &w, "read reasons", err);
}

static isynth_err request_row(sqlite3_stmt *s, const walk *w)
{
    /* the seeds shown, as the comma-separated row ids the query gathers */
    long long seeds[ISYNTH_MAX_REQUEST_EXAMPLES];
    size_t n_seeds = 0;
    for (const char *p = col_text(s, 11); p && *p && n_seeds < ISYNTH_MAX_REQUEST_EXAMPLES;) {
        char *end;
        long long k = strtoll(p, &end, 10);
        if (end == p) break;
        seeds[n_seeds++] = k;
        p = *end == ',' ? end + 1 : end;
    }
    isynth_request_sum q = {
        .seed_examples = seeds,
        .n_seed_examples = n_seeds,
        .id = sqlite3_column_int64(s, 0),
        .stage = sqlite3_column_int(s, 1),
        .failed = sqlite3_column_int(s, 2) != 0,
        .truncated = sqlite3_column_int(s, 3) != 0,
        .prompt_tokens = (long)sqlite3_column_int64(s, 4),
        .completion_tokens = (long)sqlite3_column_int64(s, 5),
        .retries = sqlite3_column_int(s, 6),
        .seconds = sqlite3_column_double(s, 7),
        .at = sqlite3_column_int64(s, 8),
        .candidates = (long)sqlite3_column_int64(s, 9),
        .kept = (long)sqlite3_column_int64(s, 10),
        .prompt = (const char *)sqlite3_column_text(s, 12),
        .server = (const char *)sqlite3_column_text(s, 13),
    };
    return ((isynth_request_fn)w->fn)(w->user, &q, w->err);
}

isynth_err isynth_store_each_request(isynth_store *st, long last_stage1, isynth_request_fn fn,
                                     void *user, isynth_error *err)
{
    /* the candidates of each request, counted in one pass over candidates(request_id) */
    static const char all[] =
        "SELECT r.id, r.stage, r.status = 'failed', r.truncated, coalesce(r.prompt_tokens, 0),"
        " coalesce(r.completion_tokens, 0), r.retries, coalesce(r.seconds, 0),"
        " coalesce(CAST(strftime('%%s', r.created_at) AS INTEGER), 0), coalesce(c.n, 0),"
        " coalesce(c.kept, 0), %s, r.prompt, %s "
        "FROM requests r LEFT JOIN (SELECT request_id, count(*) AS n,"
        " sum(status IN ('accepted', 'pending')) AS kept FROM candidates GROUP BY request_id) c"
        " ON c.request_id = r.id ";
    static const char recent[] = "WHERE r.id IN (SELECT id FROM requests WHERE stage = 1 "
                                 "AND status = 'done' ORDER BY id DESC LIMIT ?) ";
    /* the seeds shown: rows of request_examples, or (schema 3) the refs "s3" of its JSON */
    static const char seeds4[] = "(SELECT group_concat(seed_id) FROM (SELECT seed_id FROM "
                                 "request_examples e WHERE e.request_id = r.id AND seed_id IS "
                                 "NOT NULL ORDER BY pos))";
    static const char seeds3[] =
        "(SELECT group_concat(CAST(substr(value, 2) AS INTEGER)) FROM json_each(CASE WHEN "
        "json_valid(r.examples) THEN r.examples ELSE '[]' END) WHERE type = 'text' AND "
        "value GLOB 's[1-9]*')";
    buf sql;
    buf_init(&sql, sizeof all + sizeof recent + sizeof seeds3 + 32);
    sqlite3_stmt *s = NULL;
    isynth_err rc = buf_printf(&sql, all, st->schema >= 4 ? seeds4 : seeds3,
                               st->schema >= 3 ? "r.server" : "NULL");
    if (!rc && last_stage1 > 0) rc = buf_adds(&sql, recent);
    if (!rc) rc = buf_adds(&sql, "ORDER BY r.id");
    if (rc) {
        buf_free(&sql);
        return isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    }
    rc = prepare(st, sql.p, &s, err);
    buf_free(&sql);
    if (rc) return rc;
    if (last_stage1 > 0) sqlite3_bind_int64(s, 1, last_stage1);
    walk w = {(any_fn)fn, user, err, st};
    return each(st, s, request_row, &w, "read requests", err);
}

static isynth_err candidate_row(sqlite3_stmt *s, const walk *w)
{
    isynth_candidate_sum c = {
        .id = sqlite3_column_int64(s, 0),
        .request_id = sqlite3_column_int64(s, 1),
        .status = cand_status_of(col_text(s, 2)),
        .reason = (const char *)sqlite3_column_text(s, 3),
        .detail = (const char *)sqlite3_column_text(s, 4),
        .nn_ref = (const char *)sqlite3_column_text(s, 5),
        .nn_score = sqlite3_column_double(s, 6),
        .instruction = (const char *)sqlite3_column_text(s, 7),
        .input = (const char *)sqlite3_column_text(s, 8),
        .output = (const char *)sqlite3_column_text(s, 9),
        .has_facts = sqlite3_column_int(s, 10) != 0,
        .judge_score = sqlite3_column_int(s, 11),
    };
    return ((isynth_candidate_sum_fn)w->fn)(w->user, &c, w->err);
}

isynth_err isynth_store_each_candidate_sum(isynth_store *st, isynth_candidate_sum_fn fn, void *user,
                                           isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT c.id, c.request_id, c.status, c.reason, c.detail, c.nn_ref,"
                            " coalesce(c.nn_score, -1), c.instruction, c.input, c.output,"
                            " c.verify IS NOT NULL AND c.verify NOT IN ('', '[]'),"
                            " coalesce(j.score, 0) "
                            "FROM candidates c LEFT JOIN judgements j ON j.candidate_id = c.id "
                            "ORDER BY c.id",
                            &s, err);
    walk w = {(any_fn)fn, user, err, st};
    return rc ? rc : each(st, s, candidate_row, &w, "read candidates", err);
}

static isynth_err seed_row(sqlite3_stmt *s, const walk *w)
{
    isynth_task t = {
        .id = (char *)sqlite3_column_text(s, 0),
        .instruction = (char *)sqlite3_column_text(s, 1),
        .input = (char *)sqlite3_column_text(s, 2),
        .output = (char *)sqlite3_column_text(s, 3),
        .eval_aspect = (char *)sqlite3_column_text(s, 4),
        .is_classification = sqlite3_column_int(s, 5) != 0,
        .line = (long)sqlite3_column_int64(s, 6),
    };
    return ((isynth_seed_fn)w->fn)(w->user, &t, w->err);
}

isynth_err isynth_store_each_seed(isynth_store *st, isynth_seed_fn fn, void *user,
                                  isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT ext_id, instruction, input, output, eval_aspect,"
                            " is_classification, line FROM seeds ORDER BY id",
                            &s, err);
    walk w = {(any_fn)fn, user, err, st};
    return rc ? rc : each(st, s, seed_row, &w, "read seeds", err);
}

/* The kept rows' walk: its user is one of these, for the callback takes the walk's err. */
typedef struct kept_walk {
    isynth_candidate_fn fn;
    void *user;
    isynth_error *err;
} kept_walk;

static isynth_err kept_row(sqlite3_stmt *s, const walk *w)
{
    const kept_walk *k = w->user;
    return k->fn(k->user, sqlite3_column_int64(s, 0), col_text(s, 1), col_text(s, 2),
                 col_text(s, 3), NULL, k->err);
}

/* Whether a review table exists: a run nobody reviewed (or one opened only for reading, which
 * creates nothing) has none. */
static isynth_err has_review_table(isynth_store *st, bool *have, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                            "name = 'review'",
                            &s, err);
    if (rc) return rc;
    *have = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) > 0;
    sqlite3_finalize(s);
    return ISYNTH_OK;
}

isynth_err isynth_store_each_kept_row(isynth_store *st, bool *reviewed, isynth_candidate_fn fn,
                                      void *user, isynth_error *err)
{
    *reviewed = false;
    sqlite3_stmt *s;
    bool have;
    isynth_err rc = has_review_table(st, &have, err);
    if (rc) return rc;
    if (have) {
        if ((rc = prepare(st, "SELECT count(*) FROM review WHERE status != 'pending'", &s, err)))
            return rc;
        *reviewed = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0;
        sqlite3_finalize(s);
    }
    rc = prepare(st,
                 *reviewed ? "SELECT c.id, coalesce(r.instruction, c.instruction),"
                             " coalesce(r.input, c.input), coalesce(r.output, c.output) "
                             "FROM candidates c JOIN review r ON r.candidate_id = c.id "
                             "WHERE r.status IN ('accepted', 'edited') ORDER BY c.id"
                           : "SELECT id, instruction, input, output FROM candidates "
                             "WHERE status = 'accepted' ORDER BY id",
                 &s, err);
    kept_walk k = {fn, user, err};
    walk w = {NULL, &k, err, st};
    return rc ? rc : each(st, s, kept_row, &w, "read the kept rows", err);
}

/* ---- review: the workbook's rows and the reviewers' decisions ---- */

/* The review tables, made by the first review command on a run (isynth_store_review_init), so
 * a run nobody reviewed has none and needs no migration. review holds a task's decision and
 * edited text (NULL = as generated), review_history every change. */
static const char review_tables[] =
    "CREATE TABLE IF NOT EXISTS review("
    "  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id),"
    "  status TEXT NOT NULL CHECK(status IN ('pending','accepted','edited','rejected')),"
    "  instruction TEXT, input TEXT, output TEXT, comment TEXT, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS review_history("
    "  id INTEGER PRIMARY KEY, candidate_id INTEGER NOT NULL, field TEXT NOT NULL,"
    "  old TEXT, new TEXT, source TEXT NOT NULL, at TEXT NOT NULL);";

/* The statuses as stored, in isynth_review_status order. */
static const char *const review_status_sql[] = {"pending", "accepted", "edited", "rejected"};

/* A stored status (NULL: the task has no review row) as the enum: a task never decided is
 * pending, or rejected when the filters rejected it. */
static isynth_review_status review_status_of(const char *s, bool filter_rejected)
{
    for (int k = 0; s && k < 4; k++)
        if (!strcmp(s, review_status_sql[k])) return (isynth_review_status)k;
    return filter_rejected ? ISYNTH_REVIEW_REJECTED : ISYNTH_REVIEW_PENDING;
}

const char *isynth_review_status_name(isynth_review_status status)
{
    return (unsigned)status < 4 ? review_status_sql[status] : "pending";
}

isynth_err isynth_store_each_review_count(isynth_store *st, isynth_review_count_fn fn, void *user,
                                          isynth_error *err)
{
    bool have;
    isynth_err rc = has_review_table(st, &have, err);
    if (rc || !have) return rc;
    sqlite3_stmt *s;
    if ((rc = prepare(st, "SELECT status, count(*) FROM review GROUP BY status ORDER BY 1", &s,
                      err)))
        return rc;
    int r = SQLITE_DONE;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW)
        rc = fn(user, review_status_of(col_text(s, 0), false), (long)sqlite3_column_int64(s, 1),
                err);
    if (!rc && r != SQLITE_DONE) rc = db_fail(st, err, "read review counts");
    sqlite3_finalize(s);
    return rc;
}

isynth_err isynth_store_review_init(isynth_store *st, isynth_error *err)
{
    return exec(st, review_tables, err);
}

bool isynth_store_parse_ref(const char *ref, char *kind, long long *id)
{
    if (!ref || (ref[0] != 's' && ref[0] != 'g') || ref[1] < '1' || ref[1] > '9') return false;
    long long n = 0;
    size_t i = 1;
    for (; ref[i] >= '0' && ref[i] <= '9' && i <= 18; i++)
        n = n * 10 + (ref[i] - '0');
    if (ref[i]) return false;
    *kind = ref[0];
    *id = n;
    return true;
}

isynth_err isynth_store_ref_instruction(isynth_store *st, const char *ref, char **text,
                                        isynth_error *err)
{
    *text = NULL;
    char kind;
    long long id;
    if (!isynth_store_parse_ref(ref, &kind, &id)) return ISYNTH_ERR_NOT_FOUND;
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->ref_instruction,
                         "SELECT instruction FROM seeds WHERE ?1 = 's' AND id = ?2 UNION ALL "
                         "SELECT instruction FROM candidates WHERE ?1 = 'g' AND id = ?2",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_text(s, 1, &kind, 1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (!(*text = isynth_strdup(col_text(s, 0))))
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
    } else {
        rc = r == SQLITE_DONE ? ISYNTH_ERR_NOT_FOUND : db_fail(st, err, "read a task");
    }
    sqlite3_reset(s);
    return rc;
}

static isynth_err meta_row(sqlite3_stmt *s, const walk *w)
{
    return ((isynth_meta_fn)w->fn)(w->user, col_text(s, 0), col_text(s, 1), w->err);
}

isynth_err isynth_store_each_meta(isynth_store *st, isynth_meta_fn fn, void *user,
                                  isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st, "SELECT key, value FROM meta ORDER BY key", &s, err);
    walk w = {(any_fn)fn, user, err, st};
    return rc ? rc : each(st, s, meta_row, &w, "read the configuration", err);
}

/* Columns of a review row: see isynth_store_each_review_row's query. */
static isynth_err review_row(sqlite3_stmt *s, const walk *w)
{
    char refs[ISYNTH_MAX_REQUEST_EXAMPLES][24];
    const char *refp[ISYNTH_MAX_REQUEST_EXAMPLES];
    size_t nex = 0;
    isynth_err rc =
        isynth_store_request_examples(w->st, sqlite3_column_int64(s, 5), refs, &nex, w->err);
    if (rc) return rc;
    for (size_t i = 0; i < nex; i++)
        refp[i] = refs[i];
    bool rejected = sqlite3_column_int(s, 1) != 0, judged = sqlite3_column_int(s, 14) != 0;
    const char *comment = col_text(s, 12);
    isynth_review_rec r = {
        .id = sqlite3_column_int64(s, 0),
        .rejected = rejected,
        .instruction = col_text(s, 2),
        .input = col_text(s, 3),
        .output = col_text(s, 4),
        .status = review_status_of(col_text(s, 11), rejected),
        .comment = comment ? comment : "",
        .examples = refp,
        .nexamples = nex,
        .nn_ref = col_text(s, 6),
        .nn_score = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 7),
        .reason = col_text(s, 8),
        .detail = col_text(s, 9),
        .truncated = sqlite3_column_int(s, 10) != 0,
        .verify = sqlite3_column_blob(s, 13),
        .verify_len = (size_t)sqlite3_column_bytes(s, 13),
        .judge_score = judged ? sqlite3_column_int(s, 14) : 0,
        .judge_reason = judged ? col_text(s, 15) : NULL,
        .judge_false_claims = judged ? col_text(s, 16) : NULL,
    };
    return ((isynth_review_fn)w->fn)(w->user, &r, w->err);
}

isynth_err isynth_store_each_review_row(isynth_store *st, isynth_review_rows set,
                                        isynth_review_fn fn, void *user, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = prepare(st,
                            "SELECT c.id, c.status = 'rejected', coalesce(r.instruction,"
                            " c.instruction), coalesce(r.input, c.input), coalesce(r.output,"
                            " c.output), q.id, c.nn_ref, c.nn_score, c.reason, c.detail,"
                            " q.truncated, r.status, r.comment, c.verify, j.score, j.reason,"
                            " j.false_claims FROM candidates c"
                            " JOIN requests q ON q.id = c.request_id"
                            " LEFT JOIN review r ON r.candidate_id = c.id"
                            " LEFT JOIN judgements j ON j.candidate_id = c.id"
                            " AND j.score IS NOT NULL"
                            " WHERE CASE ?1 WHEN 0 THEN c.status = 'accepted'"
                            " WHEN 1 THEN c.status IN ('accepted', 'rejected')"
                            " ELSE r.status IN ('accepted', 'edited') END ORDER BY c.id",
                            &s, err);
    if (rc) return rc;
    sqlite3_bind_int(s, 1, (int)set);
    walk w = {(any_fn)fn, user, err, st};
    return each(st, s, review_row, &w, "read the tasks to review", err);
}

void isynth_store_review_state_clear(isynth_review_state *s)
{
    if (!s) return;
    isynth_free(s->instruction);
    isynth_free(s->input);
    isynth_free(s->output);
    isynth_free(s->edited_instruction);
    isynth_free(s->edited_input);
    isynth_free(s->edited_output);
    isynth_free(s->comment);
    memset(s, 0, sizeof *s);
}

/* A copy of column i, or NULL when it is NULL (*ok false when the copy failed). */
static char *col_dup(sqlite3_stmt *s, int i, bool *ok)
{
    const char *v = col_text(s, i);
    char *d = v ? isynth_strdup(v) : NULL;
    if (v && !d) *ok = false;
    return d;
}

isynth_err isynth_store_get_review(isynth_store *st, long long id, isynth_review_state *out,
                                   isynth_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->review_get,
                         "SELECT c.instruction, c.input, c.output, r.instruction, r.input,"
                         " r.output, coalesce(r.comment, ''), r.status, c.status = 'rejected'"
                         " FROM candidates c LEFT JOIN review r ON r.candidate_id = c.id"
                         " WHERE c.id = ?1 AND c.status IN ('accepted', 'rejected')",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        bool ok = true;
        char **field[] = {
            &out->instruction,  &out->input,         &out->output, &out->edited_instruction,
            &out->edited_input, &out->edited_output, &out->comment};
        for (int i = 0; i < 7; i++)
            *field[i] = col_dup(s, i, &ok);
        out->status = review_status_of(col_text(s, 7), sqlite3_column_int(s, 8) != 0);
        if (!ok) {
            isynth_store_review_state_clear(out);
            rc = isynth_error_set(err, ISYNTH_ERR_NOMEM, "out of memory");
        }
    } else if (r == SQLITE_DONE) {
        rc = isynth_error_set(err, ISYNTH_ERR_NOT_FOUND, "%s/run.db: no task %lld to review",
                              st->dir, id);
    } else {
        rc = db_fail(st, err, "read a review");
    }
    sqlite3_reset(s);
    return rc;
}

static isynth_err review_history(isynth_store *st, const isynth_review_put *d, const char *field,
                                 const char *old, const char *new, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->review_hist,
                         "INSERT INTO review_history(candidate_id, field, old, new, source, at)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, d->id);
    bind_text(s, 2, field);
    bind_text(s, 3, old);
    bind_text(s, 4, new);
    bind_text(s, 5, d->source);
    bind_text(s, 6, d->at);
    rc = sqlite3_step(s) == SQLITE_DONE ? ISYNTH_OK : db_fail(st, err, "write the review history");
    sqlite3_reset(s);
    return rc;
}

/* Replaces a task's review row: its status, its texts (text[k] NULL: as generated), comment. */
static isynth_err review_write(isynth_store *st, const isynth_review_put *d,
                               const char *const text[3], const char *comment, isynth_error *err)
{
    sqlite3_stmt *s;
    isynth_err rc = kept(st, &st->review_put,
                         "INSERT INTO review(candidate_id, status, instruction, input, output,"
                         " comment, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                         " ON CONFLICT(candidate_id) DO UPDATE SET status = excluded.status,"
                         " instruction = excluded.instruction, input = excluded.input,"
                         " output = excluded.output, comment = excluded.comment,"
                         " updated_at = excluded.updated_at",
                         &s, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, d->id);
    bind_text(s, 2, review_status_sql[d->status]);
    for (int k = 0; k < 3; k++)
        bind_text(s, 3 + k, text[k]);
    bind_text(s, 6, comment[0] ? comment : NULL);
    bind_text(s, 7, d->at);
    rc = sqlite3_step(s) == SQLITE_DONE ? ISYNTH_OK : db_fail(st, err, "write a review");
    sqlite3_reset(s);
    return rc;
}

isynth_err isynth_store_put_review(isynth_store *st, const isynth_review_put *d,
                                   isynth_review_changes *changed, isynth_error *err)
{
    isynth_review_changes ch = {0};
    if (changed) *changed = ch;
    if ((unsigned)d->status > ISYNTH_REVIEW_REJECTED)
        return isynth_error_set(err, ISYNTH_ERR_INVALID, "review status %d: no such status",
                                (int)d->status);
    isynth_review_state now;
    isynth_err rc = isynth_store_get_review(st, d->id, &now, err);
    if (rc) return rc;
    static const char *const name[3] = {"instruction", "input", "output"};
    const char *gen[3] = {now.instruction, now.input, now.output};
    const char *edit[3] = {now.edited_instruction, now.edited_input, now.edited_output};
    const char *want[3] = {d->instruction, d->input, d->output};
    const char *text[3] = {NULL, NULL, NULL}, *comment = d->comment ? d->comment : "";
    for (int k = 0; k < 3 && !rc; k++) {
        const char *cur = edit[k] ? edit[k] : gen[k], *nv = want[k] ? want[k] : gen[k];
        text[k] = strcmp(nv, gen[k]) ? nv : NULL;
        if (strcmp(nv, cur)) {
            ch.text = true;
            rc = review_history(st, d, name[k], cur, nv, err);
        }
    }
    if (!rc && d->status != now.status) {
        ch.status = true;
        rc = review_history(st, d, "status", review_status_sql[now.status],
                            review_status_sql[d->status], err);
    }
    if (!rc && strcmp(comment, now.comment)) {
        ch.comment = true;
        rc = review_history(st, d, "comment", now.comment, comment, err);
    }
    if (!rc && (ch.text || ch.status || ch.comment)) rc = review_write(st, d, text, comment, err);
    isynth_store_review_state_clear(&now);
    if (!rc && changed) *changed = ch;
    return rc;
}
