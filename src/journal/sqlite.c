/* sqlite.c - the journal's SQLite database: schema and migrations, batch commits, reads
 * and retention. Every function runs on the thread that owns the connection (the writer
 * thread, or a thread-pool worker for reads), never on the loop.
 *
 * Schema (version 2):
 *   meta(key, value)            schema_version, running (1 while a server has it open),
 *                               payload_bytes (total of events.payload, for retention)
 *   servers(name, last_id, pruned_below)
 *   gaps(server, from_id, to_id) id ranges lost in an unclean stop
 *   events(seq, server, id, ts_ms, dir, connection, session, payload, sidx)
 *   sessions(id, json, updated_ms) one summary per ACP session (v2)
 * seq is the commit order across servers; retention removes the lowest seqs, which for each
 * server is a prefix of its ids. sidx is the record's index within its session (0 when it
 * has none); (session, sidx) is indexed for session reads and for MAX(sidx) at startup. */
#include "journal/internal.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "base/base.h"
#include "base/lsqlite.h"

#define JOURNAL_SCHEMA_VERSION 2

struct journal_sqlite {
    sqlite3 *db;
    bool writer;
    int64_t max_age_ms, max_bytes;
    /* Prepared once per connection: the writer's inserts, everyone's reads. */
    sqlite3_stmt *ins_event, *up_server, *put_session, *sel_range, *sel_session;
};

static char *journal_sqlite_err(sqlite3 *db, const char *what) {
    return base_xasprintf("%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int journal_exec(journal_sqlite *d, const char *sql, char **error) {
    char *msg = NULL;
    if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    *error = base_xasprintf("%s", msg ? msg : sqlite3_errmsg(d->db));
    sqlite3_free(msg);
    return -1;
}

static void journal_rollback(journal_sqlite *d) {
    char *ignored = NULL;
    journal_exec(d, "ROLLBACK", &ignored);
    free(ignored);
}

/* The end of a write transaction: add delta to the payload total, commit; on failure roll
 * back, so nothing of it stays. */
static int journal_finish(journal_sqlite *d, int64_t delta, char **error) {
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE meta SET value=value+%lld WHERE key='payload_bytes'",
             (long long)delta);
    if ((delta && journal_exec(d, sql, error) < 0) || journal_exec(d, "COMMIT", error) < 0) {
        journal_rollback(d);
        return -1;
    }
    return 0;
}

static const char journal_schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE servers(name TEXT PRIMARY KEY, last_id INTEGER NOT NULL,"
    " pruned_below INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE gaps(server TEXT NOT NULL, from_id INTEGER NOT NULL,"
    " to_id INTEGER NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, server TEXT NOT NULL, id INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL, dir INTEGER NOT NULL, connection TEXT, session TEXT,"
    " payload TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_server_id ON events(server, id);"
    "CREATE INDEX events_session ON events(session, seq) WHERE session IS NOT NULL;"
    "CREATE INDEX events_ts ON events(ts_ms);"
    "INSERT INTO meta VALUES('schema_version','1'),('running','0'),('payload_bytes','0');";

/* v2: durable sessions. The (session, seq) index gives way to (session, sidx), which serves
 * session reads, MAX(sidx) and deleting a session's records. Event ids number what a server's
 * SSE clients see (agent to client); client-to-agent records have id 0 and are found by
 * session, so only agent records need unique ids. */
static const char journal_schema_v2[] =
    "ALTER TABLE events ADD COLUMN sidx INTEGER NOT NULL DEFAULT 0;"
    "DROP INDEX events_server_id;"
    "CREATE INDEX events_server_id ON events(server, id);"
    "CREATE UNIQUE INDEX events_server_agent_id ON events(server, id) WHERE dir = 0;"
    "DROP INDEX events_session;"
    "CREATE INDEX events_session_sidx ON events(session, sidx) WHERE session IS NOT NULL;"
    "CREATE TABLE sessions(id TEXT PRIMARY KEY, json TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);";

/* Migrations by version: entry i brings a database from version i to i+1. */
static const char *const journal_migrations[JOURNAL_SCHEMA_VERSION] = {journal_schema_v1,
                                                                       journal_schema_v2};

static int64_t journal_meta_int(journal_sqlite *d, const char *key, int64_t def) {
    sqlite3_stmt *st = NULL;
    int64_t v = def;
    if (sqlite3_prepare_v2(d->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* The schema version: 0 for an empty database, -1 when it is not ours or unreadable. */
static int journal_schema_version(journal_sqlite *d, char **error) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        d->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'", -1, &st,
        NULL);
    if (rc != SQLITE_OK) {
        *error = journal_sqlite_err(d->db, "cannot read the database");
        return -1;
    }
    rc = sqlite3_step(st);
    bool has_meta = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        *error = journal_sqlite_err(d->db, "cannot read the database");
        return -1;
    }
    if (!has_meta) {
        sqlite3_prepare_v2(d->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
        bool empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
        sqlite3_finalize(st);
        if (!empty) {
            *error = base_xstrdup("the file is an SQLite database of something else (no journal "
                                  "meta table)");
            return -1;
        }
        return 0;
    }
    return (int)journal_meta_int(d, "schema_version", -1);
}

static int journal_migrate(journal_sqlite *d, char **error) {
    int v = journal_schema_version(d, error);
    if (v < 0)
        return -1;
    if (v > JOURNAL_SCHEMA_VERSION) {
        *error = base_xasprintf("schema version %d was written by a newer sandbox-agent (this "
                                "one knows up to %d)",
                                v, JOURNAL_SCHEMA_VERSION);
        return -1;
    }
    for (; v < JOURNAL_SCHEMA_VERSION; v++) {
        if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
            return -1;
        char set[96];
        snprintf(set, sizeof set, "UPDATE meta SET value='%d' WHERE key='schema_version'", v + 1);
        if (journal_exec(d, journal_migrations[v], error) < 0 || journal_exec(d, set, error) < 0 ||
            journal_exec(d, "COMMIT", error) < 0) {
            journal_rollback(d);
            return -1;
        }
        LOG_INFO("journal schema migrated", "to=%d", v + 1);
    }
    return 0;
}

static int journal_prepare(journal_sqlite *d, char **error) {
    static const char ins[] =
        "INSERT INTO events(server,id,ts_ms,dir,connection,session,payload,sidx)"
        " VALUES(?,?,?,?,?,?,?,?)";
    static const char up[] =
        "INSERT INTO servers(name,last_id) VALUES(?,?) ON CONFLICT(name) DO UPDATE SET "
        "last_id=max(last_id,excluded.last_id)";
    static const char put[] = "INSERT OR REPLACE INTO sessions(id,json,updated_ms) VALUES(?,?,?)";
    /* Both select the columns journal_collect expects, in its order. */
    static const char sel[] =
        "SELECT server,id,ts_ms,dir,connection,session,sidx,payload FROM events WHERE server=? "
        "AND id>? AND id<? AND ((1<<dir)&?)!=0 ORDER BY id LIMIT ?";
    static const char sel_session[] =
        "SELECT server,id,ts_ms,dir,connection,session,sidx,payload FROM events WHERE "
        "session=? AND sidx>? ORDER BY sidx LIMIT ?";
    if ((d->writer && (sqlite3_prepare_v3(d->db, ins, -1, SQLITE_PREPARE_PERSISTENT, &d->ins_event,
                                          NULL) != SQLITE_OK ||
                       sqlite3_prepare_v3(d->db, up, -1, SQLITE_PREPARE_PERSISTENT, &d->up_server,
                                          NULL) != SQLITE_OK ||
                       sqlite3_prepare_v3(d->db, put, -1, SQLITE_PREPARE_PERSISTENT,
                                          &d->put_session, NULL) != SQLITE_OK)) ||
        sqlite3_prepare_v3(d->db, sel, -1, SQLITE_PREPARE_PERSISTENT, &d->sel_range, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v3(d->db, sel_session, -1, SQLITE_PREPARE_PERSISTENT, &d->sel_session,
                           NULL) != SQLITE_OK) {
        *error = journal_sqlite_err(d->db, "cannot prepare statements");
        return -1;
    }
    return 0;
}

journal_sqlite *journal_sqlite_open(const char *path, bool writer, const journal_opts *opts,
                                    char **error) {
    journal_sqlite *d = base_xcalloc(1, sizeof *d);
    d->writer = writer;
    d->max_age_ms = opts->max_age_ms;
    d->max_bytes = opts->max_bytes;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    struct stat st;
    bool fresh = writer && (stat(path, &st) != 0 || st.st_size == 0);
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
        *error = base_xasprintf("cannot open %s: %s", path,
                                d->db ? sqlite3_errmsg(d->db) : "out of memory");
        journal_sqlite_close(d);
        return NULL;
    }
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, 5000);
    char *e = NULL;
    if (writer) {
        /* WAL: readers never block the writer nor the other way round; NORMAL: a commit is
         * durable against the death of the process (the WAL is in the page cache), fsync
         * happens at checkpoints (FULL: at every commit). */
        /* A new, empty file is set up without syncs (switching it to WAL and creating the
         * schema synced a dozen times, most of a fresh server's startup): until its first
         * record there is nothing to lose, and the process dying midway leaves the page cache
         * consistent. */
        const char *sync =
            opts->sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
        if ((fresh && journal_exec(d, "PRAGMA synchronous=OFF", &e) < 0) ||
            journal_exec(d, "PRAGMA journal_mode=WAL", &e) < 0 || journal_migrate(d, &e) < 0 ||
            journal_exec(d, sync, &e) < 0) {
            *error = base_xasprintf("journal %s: %s", path, e);
            free(e);
            journal_sqlite_close(d);
            return NULL;
        }
    }
    if (journal_prepare(d, &e) < 0) {
        *error = base_xasprintf("journal %s: %s", path, e);
        free(e);
        journal_sqlite_close(d);
        return NULL;
    }
    return d;
}

void journal_sqlite_close(journal_sqlite *d) {
    if (!d)
        return;
    sqlite3_finalize(d->ins_event);
    sqlite3_finalize(d->up_server);
    sqlite3_finalize(d->put_session);
    sqlite3_finalize(d->sel_range);
    sqlite3_finalize(d->sel_session);
    sqlite3_close_v2(d->db);
    free(d);
}

/* ---- load ------------------------------------------------------------------------------- */

int journal_sqlite_load(journal_sqlite *d, journal_store *s, char **error) {
    bool unclean = journal_meta_int(d, "running", 0) != 0;
    if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
        return -1;
    if (unclean) {
        /* Ids handed out but not committed before the stop may have reached clients: skip
         * past all of them, and remember the range so replays can say it is missing. */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO gaps SELECT name,last_id+1,last_id+%llu FROM servers;"
                 "UPDATE servers SET last_id=last_id+%llu;",
                 (unsigned long long)JOURNAL_CRASH_GAP, (unsigned long long)JOURNAL_CRASH_GAP);
        if (journal_exec(d, sql, error) < 0)
            goto fail;
        LOG_WARN("journal was not closed cleanly",
                 "detail=\"event ids resume %llu past the last "
                 "committed one of each server\"",
                 (unsigned long long)JOURNAL_CRASH_GAP);
    }
    if (journal_exec(d, "UPDATE meta SET value='1' WHERE key='running'", error) < 0)
        goto fail;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(d->db, "SELECT name,last_id,pruned_below FROM servers", -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        journal_store_load_head(s, (const char *)sqlite3_column_text(st, 0),
                                (uint64_t)sqlite3_column_int64(st, 1),
                                (uint64_t)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_prepare_v2(d->db, "SELECT server,from_id,to_id FROM gaps ORDER BY from_id", -1, &st,
                       NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        journal_store_load_gap(s, (const char *)sqlite3_column_text(st, 0),
                               (uint64_t)sqlite3_column_int64(st, 1),
                               (uint64_t)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    if (journal_exec(d, "COMMIT", error) < 0)
        goto fail;
    return 0;
fail:
    journal_rollback(d);
    return -1;
}

int journal_sqlite_mark_clean(journal_sqlite *d, char **error) {
    return journal_exec(d, "UPDATE meta SET value='0' WHERE key='running'", error);
}

/* ---- append ------------------------------------------------------------------------------ */

static int journal_step_reset(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void journal_bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int journal_sqlite_append(journal_sqlite *d, journal_rec **recs, size_t n, char **error) {
    if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
        return -1;
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        journal_rec *r = recs[i];
        sqlite3_stmt *st = d->ins_event;
        sqlite3_bind_text(st, 1, r->server, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->id);
        sqlite3_bind_int64(st, 3, r->ts_ms);
        sqlite3_bind_int(st, 4, (int)r->dir);
        journal_bind_text(st, 5, r->connection);
        journal_bind_text(st, 6, r->session);
        sqlite3_bind_text(st, 7, r->payload, (int)r->len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)r->sidx);
        if (journal_step_reset(st) != SQLITE_DONE)
            goto fail;
        /* The server's head only needs the batch's last id for it. */
        bool last_of_server = true;
        for (size_t j = i + 1; j < n && last_of_server; j++)
            if (strcmp(recs[j]->server, r->server) == 0)
                last_of_server = false;
        if (last_of_server) {
            sqlite3_bind_text(d->up_server, 1, r->server, -1, SQLITE_STATIC);
            sqlite3_bind_int64(d->up_server, 2, (sqlite3_int64)r->id);
            if (journal_step_reset(d->up_server) != SQLITE_DONE)
                goto fail;
        }
        bytes += (int64_t)r->len;
    }
    return journal_finish(d, bytes, error);
fail:
    *error = journal_sqlite_err(d->db, "cannot append");
    journal_rollback(d);
    return -1;
}

/* ---- read -------------------------------------------------------------------------------- */

static char *journal_col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? base_xstrdup((const char *)t) : NULL;
}

/* Step a bound read statement to its end into a record array; resets it either way. */
static int journal_collect(journal_sqlite *d, sqlite3_stmt *st, journal_rec ***out, size_t *nout,
                           char **error) {
    journal_rec **recs = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            recs = base_xrealloc(recs, cap * sizeof *recs);
        }
        journal_rec *r = base_xcalloc(1, sizeof *r);
        r->server = journal_col_dup(st, 0);
        r->id = (uint64_t)sqlite3_column_int64(st, 1);
        r->ts_ms = sqlite3_column_int64(st, 2);
        r->dir = (journal_dir)sqlite3_column_int(st, 3);
        r->connection = journal_col_dup(st, 4);
        r->session = journal_col_dup(st, 5);
        r->sidx = (uint64_t)sqlite3_column_int64(st, 6);
        const char *payload = (const char *)sqlite3_column_text(st, 7);
        r->len = (size_t)sqlite3_column_bytes(st, 7);
        r->payload = base_xstrndup(payload ? payload : "", r->len);
        recs[n++] = r;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        *error = journal_sqlite_err(d->db, "cannot read events");
        for (size_t i = 0; i < n; i++)
            journal_rec_free(recs[i]);
        free(recs);
        return -1;
    }
    *out = recs;
    *nout = n;
    return 0;
}

static sqlite3_int64 journal_limit(size_t limit) {
    return limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit;
}

int journal_sqlite_read(journal_sqlite *d, const char *server, uint64_t after, uint64_t before,
                        size_t limit, unsigned dir_mask, journal_rec ***out, size_t *nout,
                        char **error) {
    sqlite3_stmt *st = d->sel_range;
    sqlite3_bind_text(st, 1, server, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 3, before ? (sqlite3_int64)before : INT64_MAX);
    sqlite3_bind_int(st, 4, (int)dir_mask);
    sqlite3_bind_int64(st, 5, journal_limit(limit));
    return journal_collect(d, st, out, nout, error);
}

int journal_sqlite_read_session(journal_sqlite *d, const char *session, uint64_t after_sidx,
                                size_t limit, journal_rec ***out, size_t *nout, char **error) {
    sqlite3_stmt *st = d->sel_session;
    sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after_sidx);
    sqlite3_bind_int64(st, 3, journal_limit(limit));
    return journal_collect(d, st, out, nout, error);
}

/* ---- sessions ------------------------------------------------------------------------------ */

int journal_sqlite_put_sessions(journal_sqlite *d, const journal_session_put *puts, size_t n,
                                char **error) {
    if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
        return -1;
    sqlite3_stmt *st = d->put_session;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, puts[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, puts[i].json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, puts[i].updated_ms);
        if (journal_step_reset(st) != SQLITE_DONE)
            goto fail;
    }
    return journal_finish(d, 0, error);
fail:
    *error = journal_sqlite_err(d->db, "cannot store sessions");
    journal_rollback(d);
    return -1;
}

/* Run one statement with text bound to its parameter. */
static int journal_exec_text(journal_sqlite *d, const char *sql, const char *text) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int journal_sqlite_delete_session(journal_sqlite *d, const char *id, char **error) {
    if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int64_t bytes = -1;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT coalesce(sum(length(CAST(payload AS BLOB))),0) FROM events "
                           "WHERE session=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            bytes = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (bytes < 0 || journal_exec_text(d, "DELETE FROM events WHERE session=?", id) < 0 ||
        journal_exec_text(d, "DELETE FROM sessions WHERE id=?", id) < 0) {
        *error = journal_sqlite_err(d->db, "cannot delete the session");
        journal_rollback(d);
        return -1;
    }
    return journal_finish(d, -bytes, error);
}

int journal_sqlite_load_sessions(journal_sqlite *d, journal_session_fn fn, void *ud, char **error) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT id,json,(SELECT coalesce(max(sidx),0) FROM events WHERE "
                           "session=sessions.id) FROM sessions",
                           -1, &st, NULL) != SQLITE_OK) {
        *error = journal_sqlite_err(d->db, "cannot read sessions");
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2));
    if (rc != SQLITE_DONE)
        *error = journal_sqlite_err(d->db, "cannot read sessions");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- retention --------------------------------------------------------------------------- */

static int64_t journal_query_int(journal_sqlite *d, const char *sql, int64_t arg) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, arg);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* The highest seq to remove so that the payload total falls to 90% of the bound. */
static int64_t journal_size_cutoff(journal_sqlite *d, int64_t total) {
    int64_t excess = total - d->max_bytes / 10 * 9;
    sqlite3_stmt *st = NULL;
    int64_t cutoff = 0, freed = 0;
    sqlite3_prepare_v2(d->db, "SELECT seq,length(CAST(payload AS BLOB)) FROM events ORDER BY seq",
                       -1, &st, NULL);
    while (st && freed < excess && sqlite3_step(st) == SQLITE_ROW) {
        cutoff = sqlite3_column_int64(st, 0);
        freed += sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return cutoff;
}

static void journal_free_noted(char **servers, uint64_t *belows, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
    free(belows);
}

int64_t journal_sqlite_prune(journal_sqlite *d, journal_store *s, int64_t now_ms, char **error) {
    int64_t cutoff = journal_query_int(d, "SELECT coalesce(max(seq),0) FROM events WHERE ts_ms<?",
                                       now_ms - d->max_age_ms);
    int64_t total = journal_meta_int(d, "payload_bytes", 0);
    if (total > d->max_bytes) {
        int64_t c = journal_size_cutoff(d, total);
        if (c > cutoff)
            cutoff = c;
    }
    if (cutoff <= 0)
        return 0;
    if (journal_exec(d, "BEGIN IMMEDIATE", error) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int64_t removed = 0, bytes = 0;
    /* What each server lost, told to the store only once the deletion is committed. */
    char **servers = NULL;
    uint64_t *belows = NULL;
    size_t nservers = 0;
    sqlite3_prepare_v2(d->db,
                       "SELECT server,max(id),count(*),sum(length(CAST(payload AS BLOB))) FROM "
                       "events WHERE seq<=? GROUP BY server",
                       -1, &st, NULL);
    sqlite3_stmt *up = NULL;
    sqlite3_prepare_v2(d->db, "UPDATE servers SET pruned_below=max(pruned_below,?) WHERE name=?",
                       -1, &up, NULL);
    if (!st || !up)
        goto fail;
    sqlite3_bind_int64(st, 1, cutoff);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *server = (const char *)sqlite3_column_text(st, 0);
        int64_t below = sqlite3_column_int64(st, 1);
        removed += sqlite3_column_int64(st, 2);
        bytes += sqlite3_column_int64(st, 3);
        sqlite3_bind_int64(up, 1, below);
        sqlite3_bind_text(up, 2, server, -1, SQLITE_TRANSIENT);
        if (journal_step_reset(up) != SQLITE_DONE)
            goto fail;
        servers = base_xrealloc(servers, (nservers + 1) * sizeof *servers);
        belows = base_xrealloc(belows, (nservers + 1) * sizeof *belows);
        servers[nservers] = base_xstrdup(server);
        belows[nservers++] = (uint64_t)below;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    st = up = NULL;
    char sql[160];
    snprintf(sql, sizeof sql,
             "DELETE FROM events WHERE seq<=%lld;"
             "UPDATE meta SET value=value-%lld WHERE key='payload_bytes';",
             (long long)cutoff, (long long)bytes);
    if (journal_exec(d, sql, error) < 0 || journal_exec(d, "COMMIT", error) < 0)
        goto rollback;
    for (size_t i = 0; i < nservers; i++)
        journal_store_note_pruned(s, servers[i], belows[i]);
    journal_free_noted(servers, belows, nservers);
    LOG_INFO("journal retention", "removed=%lld bytes=%lld", (long long)removed, (long long)bytes);
    return removed;
fail:
    *error = journal_sqlite_err(d->db, "retention");
    sqlite3_finalize(st);
    sqlite3_finalize(up);
rollback:
    journal_rollback(d);
    journal_free_noted(servers, belows, nservers);
    return -1;
}
