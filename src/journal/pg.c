/* pg.c - the journal in PostgreSQL, for fleets of sandboxes sharing one database: schema
 * and migrations, batch commits, reads and retention over libpq (loaded on first use, see
 * base/lpq.h). Every function runs on the thread that owns the connection (the writer
 * thread, or a thread-pool worker for reads), never on the loop.
 *
 * Schema (in the PostgreSQL schema sandbox_agent; version 2, as SQLite's):
 *   meta(key, value)               schema_version
 *   instances(name, running, payload_bytes, host, opened_ms, closed_ms)
 *   servers(instance, name, last_id, pruned_below)
 *   gaps(instance, server, from_id, to_id)
 *   events(seq, instance, server, id, ts_ms, dir, connection, session, payload, sidx)
 *   sessions(instance, id, json, updated_ms)  (v2)
 * An instance is one sandbox-agent server's namespace (SANDBOX_AGENT_JOURNAL_INSTANCE, else
 * a random id kept in the data directory), so sandboxes that reuse the same ACP server ids
 * never collide; everything the SQLite file holds for its one server, this holds per
 * instance. The writer holds a session advisory lock on its instance: a second server that
 * would write the same one is refused.
 *
 * Connection loss (the database restarts, the network drops): every call first reconnects
 * when the connection is bad. A failed batch is retried by the store with backoff; since a
 * connection can die after the server committed but before the answer arrived, the retry
 * first checks whether the batch is already there. */
#include "journal/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/lpq.h"

#define JOURNAL_PG_SCHEMA_VERSION 2
/* pg_advisory_xact_lock key (two int4 space) that serialises schema setup across a fleet
 * starting at once: "sa" "jr". */
#define JOURNAL_PG_SETUP_LOCK "1935764065, 1785883250"

/* One connection. Owner: the store, through journal_db (db.c); journal_pg_close frees it. */
struct journal_pg {
    PGconn *conn;
    char *label;    /* the URL without secrets, for errors */
    char *instance; /* this server's namespace */
    bool writer;
    bool sync_full;
    bool locked;      /* writer: holds the instance's advisory lock on this connection */
    bool unsure;      /* writer: the last append failed, it may have committed all the same */
    char sqlstate[6]; /* of the last failed statement ("" when none came back) */
    int64_t max_age_ms, max_bytes;
};

/* ---- connection ------------------------------------------------------------------------- */

static void journal_pg_notice(void *arg, const char *message) {
    LOG_DEBUG("journal postgres notice", "message=\"%.*s\"", (int)strcspn(message, "\n"), message);
}

/* The server's message without its trailing newline. Caller frees. */
static char *journal_pg_errf(journal_pg *d, const PGresult *res, const char *what) {
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!*m)
        m = d->conn ? PQerrorMessage(d->conn) : "out of memory";
    /* One line for the logs: libpq's hints come on indented lines of their own. */
    base_buf b;
    base_buf_init(&b);
    base_buf_appendf(&b, "%s: ", what);
    for (const char *p = m; *p;) {
        size_t n = strcspn(p, "\n");
        base_buf_append(&b, p, n);
        p += n;
        p += strspn(p, "\n\t ");
        if (*p)
            base_buf_append(&b, " ", 1);
    }
    return base_buf_steal(&b, NULL);
}

/* Run one statement with text parameters. 0 (the rows in *out when asked for, caller
 * clears), or -1 with *error. */
static int journal_pg_run(journal_pg *d, const char *what, const char *sql, int nparams,
                          const char *const *params, PGresult **out, char **error) {
    PGresult *res = nparams ? PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(d->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        snprintf(d->sqlstate, sizeof d->sqlstate, "%s", code ? code : "");
        if (error)
            *error = journal_pg_errf(d, res, what);
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static void journal_pg_rollback(journal_pg *d) {
    if (PQstatus(d->conn) == CONNECTION_OK)
        journal_pg_run(d, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
}

static int64_t journal_pg_int(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static PGconn *journal_pg_connect(const char *url) {
    /* Our defaults first: the URL's own parameters, expanded from dbname, override them.
     * Keepalives notice a database that vanished without closing the connection. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "application_name",
                                       "client_encoding",
                                       "dbname",
                                       NULL};
    const char *const vals[] = {"10", "30", "10", "3", "sandbox-agent", "UTF8", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c)
        PQsetNoticeProcessor(c, journal_pg_notice, NULL);
    return c;
}

/* The writer's exclusive claim on its instance, held as long as the connection lives. It
 * waits a little: the session of a server that was just killed may take a moment to end. */
static int journal_pg_lock(journal_pg *d, char **error) {
    const char *p[] = {d->instance};
    char *e = NULL;
    if (journal_pg_run(d, "cannot lock the instance", "SET lock_timeout = '5s'", 0, NULL, NULL,
                       error) < 0)
        return -1;
    d->locked = journal_pg_run(d, "cannot lock the instance",
                               "SELECT pg_advisory_lock(hashtextextended('sandbox-agent journal "
                               "instance ' || $1, 0))",
                               1, p, NULL, &e) == 0;
    journal_pg_run(d, "cannot lock the instance", "SET lock_timeout = 0", 0, NULL, NULL, NULL);
    if (!d->locked) {
        *error = strcmp(d->sqlstate, "55P03") == 0 /* lock_not_available */
                     ? base_xasprintf("instance %s is in use by another sandbox-agent server "
                                      "(give each server its own "
                                      "SANDBOX_AGENT_JOURNAL_INSTANCE)",
                                      d->instance)
                     : base_xstrdup(e);
        free(e);
        return -1;
    }
    return 0;
}

static int journal_pg_session_setup(journal_pg *d, char **error) {
    if (d->sync_full && journal_pg_run(d, "cannot set synchronous_commit",
                                       "SET synchronous_commit = on", 0, NULL, NULL, error) < 0)
        return -1;
    return d->writer ? journal_pg_lock(d, error) : 0;
}

/* Reconnect when the connection broke (the database restarted): 0 when usable. */
static int journal_pg_ready(journal_pg *d, char **error) {
    if (PQstatus(d->conn) == CONNECTION_OK && (!d->writer || d->locked))
        return 0;
    if (PQstatus(d->conn) != CONNECTION_OK) {
        d->locked = false;
        PQreset(d->conn);
        if (PQstatus(d->conn) != CONNECTION_OK) {
            *error = journal_pg_errf(d, NULL, "cannot reach the database");
            return -1;
        }
        LOG_INFO("journal database reconnected", "path=%s", d->label);
    }
    return journal_pg_session_setup(d, error);
}

/* ---- instance --------------------------------------------------------------------------- */

/* The configured instance (the store resolved SANDBOX_AGENT_JOURNAL_INSTANCE into it), else
 * the id kept in the data directory, created by the writer on its first run. Caller
 * frees. */
static char *journal_pg_instance(const char *configured, bool create, char **error) {
    if (configured)
        return base_xstrdup(configured);
    char *file = base_xasprintf("%s/journal-instance", base_data_dir());
    char buf[128] = {0};
    FILE *f = fopen(file, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[strcspn(buf, "\r\n")] = 0;
        if (n && buf[0]) {
            free(file);
            return base_xstrdup(buf);
        }
    }
    if (!create) {
        *error = base_xasprintf("cannot read the journal instance id from %s", file);
        free(file);
        return NULL;
    }
    base_random_hex(buf, 16);
    buf[32] = '\n';
    base_mkdirs(base_data_dir());
    int rc = base_write_file_atomic(file, buf, 33, 0644);
    buf[32] = 0;
    if (rc < 0) {
        *error =
            base_xasprintf("cannot write the journal instance id to %s: %s", file, strerror(-rc));
        free(file);
        return NULL;
    }
    free(file);
    return base_xstrdup(buf);
}

/* ---- schema ------------------------------------------------------------------------------ */

static const char journal_pg_schema_v1[] =
    "CREATE SCHEMA IF NOT EXISTS sandbox_agent;"
    "CREATE TABLE sandbox_agent.meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE sandbox_agent.instances(name TEXT PRIMARY KEY,"
    " running BOOLEAN NOT NULL DEFAULT false, payload_bytes BIGINT NOT NULL DEFAULT 0,"
    " host TEXT, opened_ms BIGINT, closed_ms BIGINT);"
    "CREATE TABLE sandbox_agent.servers(instance TEXT NOT NULL, name TEXT NOT NULL,"
    " last_id BIGINT NOT NULL, pruned_below BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY(instance, name));"
    "CREATE TABLE sandbox_agent.gaps(instance TEXT NOT NULL, server TEXT NOT NULL,"
    " from_id BIGINT NOT NULL, to_id BIGINT NOT NULL);"
    "CREATE TABLE sandbox_agent.events(seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " instance TEXT NOT NULL, server TEXT NOT NULL, id BIGINT NOT NULL, ts_ms BIGINT NOT NULL,"
    " dir SMALLINT NOT NULL, connection TEXT, session TEXT, payload TEXT NOT NULL);"
    "CREATE UNIQUE INDEX events_server_id ON sandbox_agent.events(instance, server, id);"
    "CREATE INDEX events_instance_seq ON sandbox_agent.events(instance, seq);"
    "CREATE INDEX events_session ON sandbox_agent.events(instance, session, seq)"
    " WHERE session IS NOT NULL;"
    "CREATE INDEX events_ts ON sandbox_agent.events(instance, ts_ms);"
    "INSERT INTO sandbox_agent.meta VALUES('schema_version', '0');";

/* v2: durable sessions; (instance, session, sidx) serves session reads, max(sidx) and
 * deleting a session's records. Client-to-agent records have id 0 (as in sqlite.c): only
 * agent records need unique ids. */
static const char journal_pg_schema_v2[] =
    "ALTER TABLE sandbox_agent.events ADD COLUMN sidx BIGINT NOT NULL DEFAULT 0;"
    "DROP INDEX sandbox_agent.events_server_id;"
    "CREATE INDEX events_server_id ON sandbox_agent.events(instance, server, id);"
    "CREATE UNIQUE INDEX events_server_agent_id ON sandbox_agent.events(instance, server, id)"
    " WHERE dir = 0;"
    "DROP INDEX sandbox_agent.events_session;"
    "CREATE INDEX events_session_sidx ON sandbox_agent.events(instance, session, sidx)"
    " WHERE session IS NOT NULL;"
    "CREATE TABLE sandbox_agent.sessions(instance TEXT NOT NULL, id TEXT NOT NULL,"
    " json TEXT NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY(instance, id));";

/* Migrations by version: entry i brings a database from version i to i+1. */
static const char *const journal_pg_migrations[JOURNAL_PG_SCHEMA_VERSION] = {journal_pg_schema_v1,
                                                                             journal_pg_schema_v2};

/* The schema version inside the setup transaction: 0 when there is none yet, -1 when the
 * sandbox_agent schema holds something else or cannot be read. */
static int journal_pg_version(journal_pg *d, char **error) {
    PGresult *res = NULL;
    if (journal_pg_run(d, "cannot read the database",
                       "SELECT to_regclass('sandbox_agent.meta') IS NOT NULL, (SELECT count(*) "
                       "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                       "n.nspname = 'sandbox_agent')",
                       0, NULL, &res, error) < 0)
        return -1;
    bool has_meta = PQgetvalue(res, 0, 0)[0] == 't';
    int64_t relations = journal_pg_int(res, 0, 1);
    PQclear(res);
    if (!has_meta) {
        if (relations) {
            *error = base_xstrdup("the schema sandbox_agent holds something else (no journal "
                                  "meta table)");
            return -1;
        }
        return 0;
    }
    if (journal_pg_run(d, "cannot read the schema version",
                       "SELECT value FROM sandbox_agent.meta WHERE key = 'schema_version'", 0, NULL,
                       &res, error) < 0)
        return -1;
    int v = PQntuples(res) ? (int)journal_pg_int(res, 0, 0) : -1;
    PQclear(res);
    if (v < 0)
        *error = base_xstrdup("the journal meta table has no schema version");
    return v;
}

static int journal_pg_migrate(journal_pg *d, char **error) {
    /* Many sandboxes may start at once against an empty database: one sets it up, the
     * others wait for the lock and then find the schema current. */
    if (journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0 ||
        journal_pg_run(d, "cannot lock the schema setup",
                       "SELECT pg_advisory_xact_lock(" JOURNAL_PG_SETUP_LOCK ")", 0, NULL, NULL,
                       error) < 0)
        goto fail;
    int v = journal_pg_version(d, error);
    if (v < 0)
        goto fail;
    if (v > JOURNAL_PG_SCHEMA_VERSION) {
        *error = base_xasprintf("schema version %d was written by a newer sandbox-agent (this "
                                "one knows up to %d)",
                                v, JOURNAL_PG_SCHEMA_VERSION);
        goto fail;
    }
    for (; v < JOURNAL_PG_SCHEMA_VERSION; v++) {
        char set[128];
        snprintf(set, sizeof set,
                 "UPDATE sandbox_agent.meta SET value = '%d' WHERE key = 'schema_version'", v + 1);
        if (journal_pg_run(d, "cannot migrate the schema", journal_pg_migrations[v], 0, NULL, NULL,
                           error) < 0 ||
            journal_pg_run(d, "cannot migrate the schema", set, 0, NULL, NULL, error) < 0)
            goto fail;
        LOG_INFO("journal schema migrated", "path=%s to=%d", d->label, v + 1);
    }
    if (journal_pg_run(d, "cannot commit the schema", "COMMIT", 0, NULL, NULL, error) < 0)
        goto fail;
    return 0;
fail:
    journal_pg_rollback(d);
    return -1;
}

/* ---- open and close ----------------------------------------------------------------------- */

journal_pg *journal_pg_open(const char *path, bool writer, const journal_opts *opts, char **error) {
    const char *why = NULL;
    char *label = journal_db_label(path);
    if (!base_pq(&why)) {
        *error = base_xasprintf("journal %s: %s", label, why);
        free(label);
        return NULL;
    }
    journal_pg *d = base_xcalloc(1, sizeof *d);
    d->label = label;
    d->writer = writer;
    d->sync_full = opts->sync_full;
    d->max_age_ms = opts->max_age_ms;
    d->max_bytes = opts->max_bytes;
    char *e = NULL;
    d->instance = journal_pg_instance(opts->instance, writer, &e);
    if (d->instance) {
        d->conn = journal_pg_connect(path);
        if (PQstatus(d->conn) != CONNECTION_OK)
            e = journal_pg_errf(d, NULL, "cannot connect");
        else if (!writer || journal_pg_migrate(d, &e) == 0)
            journal_pg_session_setup(d, &e); /* on failure, e says why */
    }
    if (e) {
        *error = base_xasprintf("journal %s: %s", d->label, e);
        free(e);
        journal_pg_close(d);
        return NULL;
    }
    return d;
}

void journal_pg_close(journal_pg *d) {
    if (!d)
        return;
    if (d->conn)
        PQfinish(d->conn); /* ends the session: releases the instance lock */
    free(d->label);
    free(d->instance);
    free(d);
}

/* ---- load --------------------------------------------------------------------------------- */

int journal_pg_load(journal_pg *d, journal_store *s, char **error) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char now[32], gap[32];
    snprintf(now, sizeof now, "%lld", (long long)base_now_ms());
    snprintf(gap, sizeof gap, "%llu", (unsigned long long)JOURNAL_CRASH_GAP);
    const char *p1[] = {d->instance};
    const char *p2[] = {d->instance, gap};
    const char *p3[] = {d->instance, host, now};
    PGresult *res = NULL;
    if (journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0 ||
        journal_pg_run(d, "cannot register the instance",
                       "INSERT INTO sandbox_agent.instances(name) VALUES($1) ON CONFLICT DO "
                       "NOTHING",
                       1, p1, NULL, error) < 0 ||
        journal_pg_run(d, "cannot read the instance",
                       "SELECT running FROM sandbox_agent.instances WHERE name = $1 FOR UPDATE", 1,
                       p1, &res, error) < 0)
        goto fail;
    bool unclean = PQntuples(res) && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = NULL;
    if (unclean) {
        /* Ids handed out but not committed before the stop may have reached clients: skip
         * past all of them, and remember the range so replays can say it is missing. */
        if (journal_pg_run(d, "cannot record the crash gap",
                           "INSERT INTO sandbox_agent.gaps SELECT instance, name, last_id + 1, "
                           "last_id + $2::bigint FROM sandbox_agent.servers WHERE instance = $1",
                           2, p2, NULL, error) < 0 ||
            journal_pg_run(d, "cannot skip the crash gap",
                           "UPDATE sandbox_agent.servers SET last_id = last_id + $2::bigint "
                           "WHERE instance = $1",
                           2, p2, NULL, error) < 0)
            goto fail;
        LOG_WARN("journal was not closed cleanly",
                 "instance=%s detail=\"event ids resume %llu past the last committed one of "
                 "each server\"",
                 d->instance, (unsigned long long)JOURNAL_CRASH_GAP);
    }
    if (journal_pg_run(d, "cannot mark the instance running",
                       "UPDATE sandbox_agent.instances SET running = true, host = $2, "
                       "opened_ms = $3 WHERE name = $1",
                       3, p3, NULL, error) < 0 ||
        journal_pg_run(d, "cannot load the servers",
                       "SELECT name, last_id, pruned_below FROM sandbox_agent.servers WHERE "
                       "instance = $1",
                       1, p1, &res, error) < 0)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
        journal_store_load_head(s, PQgetvalue(res, i, 0), (uint64_t)journal_pg_int(res, i, 1),
                                (uint64_t)journal_pg_int(res, i, 2));
    PQclear(res);
    res = NULL;
    if (journal_pg_run(d, "cannot load the gaps",
                       "SELECT server, from_id, to_id FROM sandbox_agent.gaps WHERE instance = "
                       "$1 ORDER BY from_id",
                       1, p1, &res, error) < 0)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++)
        journal_store_load_gap(s, PQgetvalue(res, i, 0), (uint64_t)journal_pg_int(res, i, 1),
                               (uint64_t)journal_pg_int(res, i, 2));
    PQclear(res);
    if (journal_pg_run(d, "cannot commit", "COMMIT", 0, NULL, NULL, error) < 0)
        goto fail;
    LOG_INFO("journal instance", "path=%s instance=%s", d->label, d->instance);
    return 0;
fail:
    journal_pg_rollback(d);
    return -1;
}

int journal_pg_mark_clean(journal_pg *d, char **error) {
    if (journal_pg_ready(d, error) < 0)
        return -1;
    char now[32];
    snprintf(now, sizeof now, "%lld", (long long)base_now_ms());
    const char *p[] = {d->instance, now};
    return journal_pg_run(d, "cannot mark the stop clean",
                          "UPDATE sandbox_agent.instances SET running = false, closed_ms = $2 "
                          "WHERE name = $1",
                          2, p, NULL, error);
}

/* ---- append ------------------------------------------------------------------------------ */

/* One field of COPY's text format: backslash escapes for the characters that delimit. */
static void journal_pg_copy_field(base_buf *b, const char *s, size_t len) {
    if (!s) {
        base_buf_append(b, "\\N", 2);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i], esc;
        switch (c) {
        case '\\':
            esc = '\\';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\t':
            esc = 't';
            break;
        default:
            continue;
        }
        base_buf_append(b, s + start, i - start);
        char pair[2] = {'\\', esc};
        base_buf_append(b, pair, 2);
        start = i + 1;
    }
    base_buf_append(b, s + start, len - start);
}

/* A retry after a failure whose outcome is unknown (the connection died around COMMIT):
 * the batch is one transaction, so one of its records tells whether all of it landed: an
 * agent record by its id, else one with a session by its index there, else the first one
 * by its time and payload (client records have id 0). */
static int journal_pg_batch_landed(journal_pg *d, journal_rec **recs, size_t n, char **error) {
    const journal_rec *pick = NULL;
    for (size_t i = 0; i < n && !pick; i++)
        if (recs[i]->dir == JOURNAL_FROM_AGENT)
            pick = recs[i];
    for (size_t i = 0; i < n && !pick; i++)
        if (recs[i]->session)
            pick = recs[i];
    PGresult *res = NULL;
    int r;
    char num[32], ts[32];
    if (pick && pick->dir == JOURNAL_FROM_AGENT) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)pick->id);
        const char *p[] = {d->instance, pick->server, num};
        r = journal_pg_run(d, "cannot check the previous batch",
                           "SELECT 1 FROM sandbox_agent.events WHERE instance = $1 AND server = $2 "
                           "AND id = $3 AND dir = 0",
                           3, p, &res, error);
    } else if (pick) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)pick->sidx);
        const char *p[] = {d->instance, pick->session, num};
        r = journal_pg_run(
            d, "cannot check the previous batch",
            "SELECT 1 FROM sandbox_agent.events WHERE instance = $1 AND session = $2 "
            "AND sidx = $3",
            3, p, &res, error);
    } else {
        pick = recs[0];
        snprintf(ts, sizeof ts, "%lld", (long long)pick->ts_ms);
        const char *p[] = {d->instance, pick->server, ts, pick->payload};
        r = journal_pg_run(d, "cannot check the previous batch",
                           "SELECT 1 FROM sandbox_agent.events WHERE instance = $1 AND server = $2 "
                           "AND ts_ms = $3 AND payload = $4",
                           4, p, &res, error);
    }
    if (r < 0)
        return -1;
    int landed = PQntuples(res) > 0;
    PQclear(res);
    return landed;
}

/* COPY the records into events (inside the caller's transaction). */
static int journal_pg_copy(journal_pg *d, journal_rec **recs, size_t n, char **error) {
    PGresult *res = PQexec(d->conn, "COPY sandbox_agent.events(instance, server, id, ts_ms, dir, "
                                    "connection, session, sidx, payload) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        *error = journal_pg_errf(d, res, "cannot append");
        PQclear(res);
        return -1;
    }
    PQclear(res);
    base_buf b;
    base_buf_init(&b);
    bool sent = true;
    for (size_t i = 0; i < n && sent; i++) {
        journal_rec *r = recs[i];
        journal_pg_copy_field(&b, d->instance, strlen(d->instance));
        base_buf_appendf(&b, "\t");
        journal_pg_copy_field(&b, r->server, strlen(r->server));
        base_buf_appendf(&b, "\t%llu\t%lld\t%d\t", (unsigned long long)r->id, (long long)r->ts_ms,
                         (int)r->dir);
        journal_pg_copy_field(&b, r->connection, r->connection ? strlen(r->connection) : 0);
        base_buf_append(&b, "\t", 1);
        journal_pg_copy_field(&b, r->session, r->session ? strlen(r->session) : 0);
        base_buf_appendf(&b, "\t%llu\t", (unsigned long long)r->sidx);
        journal_pg_copy_field(&b, r->payload, r->len);
        base_buf_append(&b, "\n", 1);
        if (b.len >= (1 << 18) || i + 1 == n) {
            sent = PQputCopyData(d->conn, b.data, (int)b.len) == 1;
            b.len = 0;
        }
    }
    base_buf_free(&b);
    if (PQputCopyEnd(d->conn, sent ? NULL : "client gave up") != 1) {
        *error = journal_pg_errf(d, NULL, "cannot append");
        return -1;
    }
    int rc = 0;
    while ((res = PQgetResult(d->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            *error = journal_pg_errf(d, res, "cannot append");
            rc = -1;
        }
        PQclear(res);
    }
    if (rc == 0 && !sent) {
        *error = journal_pg_errf(d, NULL, "cannot append");
        rc = -1;
    }
    return rc;
}

/* The server heads and the payload total, and COMMIT, in one round trip. */
static char *journal_pg_tail_sql(journal_pg *d, journal_rec **recs, size_t n) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "INSERT INTO sandbox_agent.servers(instance, name, last_id) VALUES ");
    char *inst = PQescapeLiteral(d->conn, d->instance, strlen(d->instance));
    int64_t bytes = 0;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        journal_rec *r = recs[i];
        bytes += (int64_t)r->len;
        /* The server's head only needs the batch's last id for it. */
        bool last_of_server = true;
        for (size_t j = i + 1; j < n && last_of_server; j++)
            if (strcmp(recs[j]->server, r->server) == 0)
                last_of_server = false;
        if (!last_of_server)
            continue;
        char *srv = PQescapeLiteral(d->conn, r->server, strlen(r->server));
        base_buf_appendf(&b, "%s(%s, %s, %llu)", first ? "" : ", ", inst, srv,
                         (unsigned long long)r->id);
        PQfreemem(srv);
        first = false;
    }
    base_buf_appendf(&b,
                     " ON CONFLICT (instance, name) DO UPDATE SET last_id = "
                     "GREATEST(servers.last_id, excluded.last_id);"
                     "UPDATE sandbox_agent.instances SET payload_bytes = payload_bytes + %lld "
                     "WHERE name = %s;COMMIT",
                     (long long)bytes, inst);
    PQfreemem(inst);
    return base_buf_steal(&b, NULL);
}

int journal_pg_append(journal_pg *d, journal_rec **recs, size_t n, char **error) {
    if (journal_pg_ready(d, error) < 0)
        return -1;
    if (d->unsure) {
        int landed = journal_pg_batch_landed(d, recs, n, error);
        if (landed < 0)
            return -1;
        d->unsure = false;
        if (landed)
            return 0;
    }
    char *tail = NULL;
    if (journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0 ||
        journal_pg_copy(d, recs, n, error) < 0)
        goto fail;
    tail = journal_pg_tail_sql(d, recs, n);
    if (journal_pg_run(d, "cannot commit", tail, 0, NULL, NULL, error) < 0)
        goto fail;
    free(tail);
    return 0;
fail:
    free(tail);
    d->unsure = true;
    journal_pg_rollback(d);
    return -1;
}

/* ---- read -------------------------------------------------------------------------------- */

/* A read, once more on a fresh connection when the first attempt found it broken. */
static int journal_pg_query(journal_pg *d, const char *what, const char *sql, int nparams,
                            const char *const *params, PGresult **out, char **error) {
    if (journal_pg_ready(d, error) < 0)
        return -1;
    if (journal_pg_run(d, what, sql, nparams, params, out, error) == 0)
        return 0;
    if (PQstatus(d->conn) == CONNECTION_OK)
        return -1;
    free(*error);
    *error = NULL;
    if (journal_pg_ready(d, error) < 0)
        return -1;
    return journal_pg_run(d, what, sql, nparams, params, out, error);
}

static char *journal_pg_dup(const PGresult *res, int row, int col) {
    return PQgetisnull(res, row, col) ? NULL : base_xstrdup(PQgetvalue(res, row, col));
}

/* The rows of a read (the columns of JOURNAL_PG_COLS) as records. */
#define JOURNAL_PG_COLS "server, id, ts_ms, dir, connection, session, sidx, payload"
static void journal_pg_collect(PGresult *res, journal_rec ***out, size_t *nout) {
    size_t n = (size_t)PQntuples(res);
    journal_rec **recs = base_xmalloc((n ? n : 1) * sizeof *recs);
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        journal_rec *r = base_xcalloc(1, sizeof *r);
        r->server = journal_pg_dup(res, row, 0);
        r->id = (uint64_t)journal_pg_int(res, row, 1);
        r->ts_ms = journal_pg_int(res, row, 2);
        r->dir = (journal_dir)journal_pg_int(res, row, 3);
        r->connection = journal_pg_dup(res, row, 4);
        r->session = journal_pg_dup(res, row, 5);
        r->sidx = (uint64_t)journal_pg_int(res, row, 6);
        r->len = (size_t)PQgetlength(res, row, 7);
        r->payload = base_xstrndup(PQgetvalue(res, row, 7), r->len);
        recs[i] = r;
    }
    PQclear(res);
    *out = recs;
    *nout = n;
}

static void journal_pg_limit(char *buf, size_t cap, size_t limit) {
    snprintf(buf, cap, "%llu",
             (unsigned long long)(limit > (size_t)INT64_MAX ? (size_t)INT64_MAX : limit));
}

int journal_pg_read(journal_pg *d, const char *server, uint64_t after, uint64_t before,
                    size_t limit, unsigned dir_mask, journal_rec ***out, size_t *nout,
                    char **error) {
    char a[32], b[32], m[16], l[32];
    snprintf(a, sizeof a, "%llu", (unsigned long long)after);
    snprintf(b, sizeof b, "%lld", before ? (long long)before : (long long)INT64_MAX);
    snprintf(m, sizeof m, "%u", dir_mask);
    journal_pg_limit(l, sizeof l, limit);
    const char *p[] = {d->instance, server, a, b, m, l};
    PGresult *res = NULL;
    if (journal_pg_query(d, "cannot read events",
                         "SELECT " JOURNAL_PG_COLS " FROM sandbox_agent.events WHERE instance = $1 "
                         "AND server = $2 AND id > $3::bigint AND id < $4::bigint AND ((1 << dir) "
                         "& $5::int) <> 0 ORDER BY id LIMIT $6::bigint",
                         6, p, &res, error) < 0)
        return -1;
    journal_pg_collect(res, out, nout);
    return 0;
}

int journal_pg_read_session(journal_pg *d, const char *session, uint64_t after_sidx, size_t limit,
                            journal_rec ***out, size_t *nout, char **error) {
    char a[32], l[32];
    snprintf(a, sizeof a, "%llu", (unsigned long long)after_sidx);
    journal_pg_limit(l, sizeof l, limit);
    const char *p[] = {d->instance, session, a, l};
    PGresult *res = NULL;
    if (journal_pg_query(d, "cannot read events",
                         "SELECT " JOURNAL_PG_COLS " FROM sandbox_agent.events WHERE instance = $1 "
                         "AND session = $2 AND sidx > $3::bigint ORDER BY sidx LIMIT $4::bigint",
                         4, p, &res, error) < 0)
        return -1;
    journal_pg_collect(res, out, nout);
    return 0;
}

/* ---- sessions ------------------------------------------------------------------------------ */

int journal_pg_put_sessions(journal_pg *d, const journal_session_put *puts, size_t n,
                            char **error) {
    if (journal_pg_ready(d, error) < 0 ||
        journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ms[32];
        snprintf(ms, sizeof ms, "%lld", (long long)puts[i].updated_ms);
        const char *p[] = {d->instance, puts[i].id, puts[i].json, ms};
        if (journal_pg_run(d, "cannot store sessions",
                           "INSERT INTO sandbox_agent.sessions(instance, id, json, updated_ms) "
                           "VALUES($1, $2, $3, $4::bigint) ON CONFLICT (instance, id) DO UPDATE "
                           "SET json = excluded.json, updated_ms = excluded.updated_ms",
                           4, p, NULL, error) < 0)
            goto fail;
    }
    if (journal_pg_run(d, "cannot commit", "COMMIT", 0, NULL, NULL, error) < 0)
        goto fail;
    return 0;
fail:
    journal_pg_rollback(d);
    return -1;
}

int journal_pg_delete_session(journal_pg *d, const char *id, char **error) {
    const char *p[] = {d->instance, id};
    if (journal_pg_ready(d, error) < 0 ||
        journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0)
        return -1;
    /* Retried after a lost answer, it finds nothing left to remove: no harm done. */
    if (journal_pg_run(d, "cannot delete the session",
                       "WITH gone AS (DELETE FROM sandbox_agent.events WHERE instance = $1 AND "
                       "session = $2 RETURNING octet_length(payload) AS n) UPDATE "
                       "sandbox_agent.instances SET payload_bytes = payload_bytes - (SELECT "
                       "coalesce(sum(n), 0) FROM gone) WHERE name = $1",
                       2, p, NULL, error) < 0 ||
        journal_pg_run(d, "cannot delete the session",
                       "DELETE FROM sandbox_agent.sessions WHERE instance = $1 AND id = $2", 2, p,
                       NULL, error) < 0 ||
        journal_pg_run(d, "cannot commit", "COMMIT", 0, NULL, NULL, error) < 0) {
        journal_pg_rollback(d);
        return -1;
    }
    return 0;
}

int journal_pg_load_sessions(journal_pg *d, journal_session_fn fn, void *ud, char **error) {
    const char *p[] = {d->instance};
    PGresult *res = NULL;
    if (journal_pg_query(d, "cannot read sessions",
                         "SELECT s.id, s.json, (SELECT coalesce(max(e.sidx), 0) FROM "
                         "sandbox_agent.events e WHERE e.instance = s.instance AND e.session = "
                         "s.id) FROM sandbox_agent.sessions s WHERE s.instance = $1",
                         1, p, &res, error) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        fn(ud, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), (uint64_t)journal_pg_int(res, i, 2));
    PQclear(res);
    return 0;
}

/* ---- retention --------------------------------------------------------------------------- */

/* The highest seq to remove: older than the maximum age, or enough of the oldest for the
 * payload total to fall to 90% of the bound. 0 when nothing is due, -1 on error. */
static int64_t journal_pg_cutoff(journal_pg *d, int64_t now_ms, char **error) {
    char old[32], cap[32];
    snprintf(old, sizeof old, "%lld", (long long)(now_ms - d->max_age_ms));
    snprintf(cap, sizeof cap, "%lld", (long long)(d->max_bytes / 10 * 9));
    const char *p[] = {d->instance, old, cap};
    PGresult *res = NULL;
    if (journal_pg_run(
            d, "retention",
            "SELECT (SELECT coalesce(max(seq), 0) FROM sandbox_agent.events WHERE instance = $1 "
            "AND ts_ms < $2::bigint), (SELECT payload_bytes - $3::bigint FROM "
            "sandbox_agent.instances WHERE name = $1)",
            3, p, &res, error) < 0)
        return -1;
    int64_t cutoff = journal_pg_int(res, 0, 0);
    int64_t excess = journal_pg_int(res, 0, 1);
    PQclear(res);
    if (excess <= 0 || d->max_bytes <= 0)
        return cutoff;
    /* Over the size bound: the first seq at which the running total of the oldest payloads
     * covers the excess (the index on (instance, seq) lets this stop early). */
    char ex[32];
    snprintf(ex, sizeof ex, "%lld", (long long)excess);
    const char *q[] = {d->instance, ex};
    if (journal_pg_run(d, "retention",
                       "SELECT coalesce((SELECT seq FROM (SELECT seq, sum(octet_length(payload)) "
                       "OVER (ORDER BY seq) AS run FROM sandbox_agent.events WHERE instance = $1) "
                       "t WHERE run >= $2::bigint ORDER BY seq LIMIT 1), (SELECT max(seq) FROM "
                       "sandbox_agent.events WHERE instance = $1), 0)",
                       2, q, &res, error) < 0)
        return -1;
    int64_t c = journal_pg_int(res, 0, 0);
    PQclear(res);
    return c > cutoff ? c : cutoff;
}

int64_t journal_pg_prune(journal_pg *d, journal_store *s, int64_t now_ms, char **error) {
    if (journal_pg_ready(d, error) < 0)
        return -1;
    int64_t cutoff = journal_pg_cutoff(d, now_ms, error);
    if (cutoff <= 0)
        return cutoff;
    char cut[32];
    snprintf(cut, sizeof cut, "%lld", (long long)cutoff);
    const char *p[] = {d->instance, cut};
    PGresult *lost = NULL;
    int64_t removed = 0, bytes = 0;
    if (journal_pg_run(d, "cannot begin", "BEGIN", 0, NULL, NULL, error) < 0 ||
        journal_pg_run(d, "retention",
                       "SELECT server, max(id), count(*), sum(octet_length(payload)) FROM "
                       "sandbox_agent.events WHERE instance = $1 AND seq <= $2::bigint GROUP BY "
                       "server",
                       2, p, &lost, error) < 0)
        goto fail;
    for (int i = 0; i < PQntuples(lost); i++) {
        const char *u[] = {d->instance, PQgetvalue(lost, i, 0), PQgetvalue(lost, i, 1)};
        removed += journal_pg_int(lost, i, 2);
        bytes += journal_pg_int(lost, i, 3);
        if (journal_pg_run(d, "retention",
                           "UPDATE sandbox_agent.servers SET pruned_below = GREATEST(pruned_below, "
                           "$3::bigint) WHERE instance = $1 AND name = $2",
                           3, u, NULL, error) < 0)
            goto fail;
    }
    char nbytes[32];
    snprintf(nbytes, sizeof nbytes, "%lld", (long long)bytes);
    const char *pb[] = {d->instance, nbytes};
    if (journal_pg_run(d, "retention",
                       "DELETE FROM sandbox_agent.events WHERE instance = $1 AND seq <= $2::bigint",
                       2, p, NULL, error) < 0 ||
        journal_pg_run(d, "retention",
                       "UPDATE sandbox_agent.instances SET payload_bytes = payload_bytes - "
                       "$2::bigint WHERE name = $1",
                       2, pb, NULL, error) < 0 ||
        journal_pg_run(d, "cannot commit", "COMMIT", 0, NULL, NULL, error) < 0)
        goto fail;
    /* What each server lost, told to the store only once the deletion is committed. */
    for (int i = 0; i < PQntuples(lost); i++)
        journal_store_note_pruned(s, PQgetvalue(lost, i, 0), (uint64_t)journal_pg_int(lost, i, 1));
    PQclear(lost);
    LOG_INFO("journal retention", "instance=%s removed=%lld bytes=%lld", d->instance,
             (long long)removed, (long long)bytes);
    return removed;
fail:
    PQclear(lost);
    journal_pg_rollback(d);
    return -1;
}
