/* test_journal_pg.c - the durable journal store on PostgreSQL, against a real server: ids
 * across restarts and crashes, reads, retention gaps, refusing bad databases, instances
 * that share one database, batch throughput, and a database restart while appends flow
 * (nothing lost, degraded meanwhile). Also, without any server: the error when libpq is
 * missing, and that logged URLs lose their password.
 *
 * The server: SANDBOX_AGENT_TEST_PG_URL (and SANDBOX_AGENT_TEST_PG_DIR, the directory
 * tests/pg/start.sh used, for the restart test), as tests/run.sh exports them; else this
 * test starts its own with tests/pg/start.sh (run from the repository root). Each run
 * works in a database of its own, dropped at the end. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/lpq.h"
#include "journal/internal.h"
#include "journal_fixture.h"

static char tmpdir[64];
static char *pg_dir;    /* the server's directory, for stop/start (NULL: cannot restart) */
static bool pg_own;     /* started here: stop it at the end */
static char *admin_url; /* the server's maintenance database */
static char *db_url;    /* this run's database */
static char db_name[64];

/* base with its database replaced by db (the path after host[:port]). */
static char *url_with_db(const char *base, const char *db) {
    const char *auth = strstr(base, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *rest = auth + alen;
    const char *query = strchr(rest, '?');
    return base_xasprintf("%.*s/%s%s", (int)(auth + alen - base), base, db, query ? query : "");
}

/* Run SQL on a database; 0 when it succeeded. */
static int db_exec(const char *url, const char *sql) {
    const char *keys[] = {"dbname", NULL};
    const char *vals[] = {url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "  sql failed: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "  cannot connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* One integer from a query, or -1. */
static long long db_int(const char *url, const char *sql) {
    const char *keys[] = {"dbname", NULL};
    const char *vals[] = {url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    long long v = -1;
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static char *run_capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[512] = "";
    char *ok = fgets(line, sizeof line, p);
    int st = pclose(p);
    if (!ok || st != 0)
        return NULL;
    line[strcspn(line, "\n")] = 0;
    return base_xstrdup(line);
}

static bool pg_setup(void) {
    const char *url = getenv("SANDBOX_AGENT_TEST_PG_URL");
    const char *dir = getenv("SANDBOX_AGENT_TEST_PG_DIR");
    if (url && *url) {
        admin_url = base_xstrdup(url);
        pg_dir = dir && *dir ? base_xstrdup(dir) : NULL;
    } else {
        /* Directly under /tmp: the server's user must reach it (tmpdir is root's, 0700). */
        pg_dir = base_xstrdup("/tmp/sa-pg-XXXXXX");
        if (!mkdtemp(pg_dir)) {
            free(pg_dir);
            pg_dir = NULL;
            return false;
        }
        char *cmd = base_xasprintf("bash tests/pg/start.sh %s", pg_dir);
        admin_url = run_capture(cmd);
        free(cmd);
        if (!admin_url) {
            free(pg_dir);
            pg_dir = NULL;
            return false;
        }
        pg_own = true;
    }
    snprintf(db_name, sizeof db_name, "sa_journal_test_%d", (int)getpid());
    char *sql = base_xasprintf("CREATE DATABASE %s", db_name);
    bool ok = db_exec(admin_url, sql) == 0;
    free(sql);
    db_url = url_with_db(admin_url, db_name);
    return ok;
}

static void pg_teardown(void) {
    char *sql = base_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    CHECK(db_exec(admin_url, sql) == 0);
    free(sql);
    if (pg_own) {
        char *cmd = base_xasprintf("bash tests/pg/stop.sh %s", pg_dir);
        CHECK(system(cmd) == 0);
        free(cmd);
    }
    free(pg_dir);
    free(admin_url);
    free(db_url);
}

static journal_store *open_as(const char *instance, journal_opts *o, char **err) {
    journal_opts d = {0};
    if (!o)
        o = &d;
    o->instance = instance;
    return jf_open(db_url, o, err);
}

/* ---- without a server ------------------------------------------------------------------ */

/* The library is jf_loaded once per process: the child points the loader at nothing first. */
static void test_missing_libpq(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        setenv("SANDBOX_AGENT_LIBPQ", "/nonexistent/libpq.so.5", 1);
        char *err;
        journal_store *s = jf_open("postgres://u:pw@127.0.0.1:1/db", NULL, &err);
        if (s || !err)
            _exit(2);
        ssize_t w = write(fds[1], err, strlen(err));
        _exit(w > 0 ? 0 : 3);
    }
    close(fds[1]);
    char buf[1024] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    buf[n > 0 ? n : 0] = 0;
    CHECK(strstr(buf, "libpq5") != NULL);          /* names the package */
    CHECK(strstr(buf, "u:***@127.0.0.1") != NULL); /* and the URL, without its password */
    CHECK(strstr(buf, "pw") == NULL);
    fprintf(stderr, "  (expected) %s\n", buf);
}

static void test_label(void) {
    char *l = journal_db_label("postgres://me:s3cret@db.example:5432/fleet?sslmode=require");
    CHECK_STR(l, "postgres://me:***@db.example:5432/fleet");
    free(l);
    l = journal_db_label("postgresql://me@db/fleet?password=s3cret");
    CHECK_STR(l, "postgresql://me@db/fleet");
    free(l);
    l = journal_db_label("/data/journal.sqlite3");
    CHECK_STR(l, "/data/journal.sqlite3");
    free(l);
}

/* ---- against the server ---------------------------------------------------------------- */

static void test_ids_reads_and_restart(void) {
    char *err;
    journal_store *s = open_as("t-ids", NULL, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        free(err);
        return;
    }
    CHECK(journal_store_last_id(s, "srv") == 0);
    jf_append_ten(s, "{\"n\":%d,\"s\":\"tab\\there\\\\\"}");
    journal_store_append(s, journal_rec_new("other", journal_store_next_id(s, "other"),
                                            JOURNAL_FROM_AGENT, NULL, "sess-1", "{\"o\":1}", 7));
    journal_store_flush(s);
    CHECK(journal_store_committed(s) == 11);
    CHECK(journal_store_degraded(s)[0] == 0);

    jf_got g;
    jf_read(s, "other", 0, 0, 10, 3, &g);
    CHECK(g.n == 1 && g.recs[0]->connection == NULL && g.recs[0]->session &&
          !strcmp(g.recs[0]->session, "sess-1"));
    jf_got_free(&g);
    jf_check_reads(s, "{\"n\":1,\"s\":\"tab\\there\\\\\"}"); /* COPY escapes */
    journal_store_close(s);

    /* A clean restart: ids continue, nothing missing. */
    s = open_as("t-ids", NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(journal_store_last_id(s, "srv") == 10);
    CHECK(journal_store_next_id(s, "srv") == 11);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 0);
    journal_store_close(s);
}

static void test_crash_gap(void) {
    journal_opts o = {.instance = "t-crash"};
    journal_store_close(jf_crash_and_restart(db_url, &o));
}

static void test_retention(void) {
    char *err;
    journal_opts o = {.max_bytes = 4000, .prune_every_ms = 3600000};
    journal_store *s = open_as("t-ret", &o, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    jf_prune_by_size(s);
    journal_store_close(jf_prune_by_age_and_restart(s, db_url, &o));
}

/* Two servers sharing the database with the same ACP server id do not see each other;
 * without a configured instance, the id kept in the data directory is used, and kept. */
static void test_instances(void) {
    char *err;
    journal_store *a = open_as("t-inst-a", NULL, &err);
    journal_store *b = open_as("t-inst-b", NULL, &err);
    CHECK(a && b);
    if (!a || !b)
        return;
    for (int i = 0; i < 3; i++)
        jf_append(a, "srv", JOURNAL_FROM_AGENT, "{\"from\":\"a\"}");
    for (int i = 0; i < 5; i++)
        jf_append(b, "srv", JOURNAL_FROM_AGENT, "{\"from\":\"b\"}");
    journal_store_flush(a);
    journal_store_flush(b);
    jf_got g;
    jf_read(a, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 3 && g.recs[0]->id == 1 && !strcmp(g.recs[2]->payload, "{\"from\":\"a\"}"));
    jf_got_free(&g);
    jf_read(b, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 5 && g.recs[4]->id == 5 && !strcmp(g.recs[4]->payload, "{\"from\":\"b\"}"));
    jf_got_free(&g);
    /* A second server on an instance in use is refused (after the lock wait). */
    journal_store *a2 = open_as("t-inst-a", NULL, &err);
    CHECK(a2 == NULL && err && strstr(err, "in use"));
    if (err)
        fprintf(stderr, "  (expected) %s\n", err);
    free(err);
    journal_store_close(a);
    journal_store_close(b);

    /* The default instance (no SANDBOX_AGENT_JOURNAL_INSTANCE): kept in the data dir. */
    unsetenv("SANDBOX_AGENT_JOURNAL_INSTANCE");
    journal_store *d = open_as(NULL, NULL, &err);
    CHECK(d != NULL);
    if (!d)
        return;
    jf_append(d, "srv", JOURNAL_FROM_AGENT, "{}");
    journal_store_close(d);
    char *file = base_xasprintf("%s/journal-instance", base_data_dir());
    CHECK(access(file, R_OK) == 0);
    free(file);
    d = open_as(NULL, NULL, &err);
    CHECK(d && journal_store_last_id(d, "srv") == 1);
    jf_read(d, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 1 && g.error == NULL);
    jf_got_free(&g);
    journal_store_close(d);
}

static void test_bad_databases(void) {
    char *err, *sql;
    /* A newer schema. */
    journal_store *s = open_as("t-newer", NULL, &err);
    CHECK(s != NULL);
    journal_store_close(s);
    long long version =
        db_int(db_url, "SELECT value FROM sandbox_agent.meta WHERE key = 'schema_version'");
    CHECK(version >= 2);
    CHECK(db_exec(db_url, "UPDATE sandbox_agent.meta SET value='99' WHERE key='schema_version'") ==
          0);
    s = open_as("t-newer", NULL, &err);
    CHECK(s == NULL && err && strstr(err, "newer"));
    if (err)
        fprintf(stderr, "  (expected) %s\n", err);
    free(err);
    sql = base_xasprintf("UPDATE sandbox_agent.meta SET value='%lld' WHERE key='schema_version'",
                         version);
    CHECK(db_exec(db_url, sql) == 0);
    free(sql);

    /* A sandbox_agent schema that is not ours. */
    char other[96];
    snprintf(other, sizeof other, "%s_other", db_name);
    sql = base_xasprintf("CREATE DATABASE %s", other);
    CHECK(db_exec(admin_url, sql) == 0);
    free(sql);
    char *other_url = url_with_db(admin_url, other);
    CHECK(db_exec(other_url, "CREATE SCHEMA sandbox_agent; CREATE TABLE sandbox_agent.t(x int)") ==
          0);
    journal_opts o = {.instance = "t-other"};
    s = jf_open(other_url, &o, &err);
    CHECK(s == NULL && err && strstr(err, "something else"));
    free(err);
    free(other_url);
    sql = base_xasprintf("DROP DATABASE %s WITH (FORCE)", other);
    CHECK(db_exec(admin_url, sql) == 0);
    free(sql);

    /* Nothing listening: a clear error at open, with the URL but not its password. */
    s = jf_open("postgres://u:hunter2@127.0.0.1:1/x", &o, &err);
    CHECK(s == NULL && err && strstr(err, "cannot connect") && !strstr(err, "hunter2"));
    CHECK(err && strstr(err, "postgres://u:***@127.0.0.1:1/x"));
    if (err)
        fprintf(stderr, "  (expected) %s\n", err);
    free(err);
}

/* Session reads, summaries, last indexes and deleting a session; another instance sees
 * none of them. */
static long long payload_bytes(void *instance) {
    char *sql = base_xasprintf(
        "SELECT payload_bytes FROM sandbox_agent.instances WHERE name = '%s'", (char *)instance);
    long long v = db_int(db_url, sql);
    free(sql);
    return v;
}

static void test_sessions(void) {
    char *err;
    journal_store *s = open_as("t-sess", NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    jf_check_sessions(s, payload_bytes, "t-sess");
    jf_loaded l;
    jf_check_put_after_delete(s, &l);
    CHECK(jf_loaded_find(&l, "A") < 0 && jf_loaded_find(&l, "B") >= 0);
    journal_store_close(s);

    /* After a restart the summaries are there; another instance has none. */
    s = open_as("t-sess", NULL, &err);
    memset(&l, 0, sizeof l);
    CHECK(s && journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 2);
    journal_store_close(s);
    s = open_as("t-sess-other", NULL, &err);
    memset(&l, 0, sizeof l);
    CHECK(s && journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 0);
    if (s) {
        jf_got g;
        jf_read_session(s, "B", 0, 100, &g);
        CHECK(g.n == 0 && g.error == NULL);
        jf_got_free(&g);
    }
    journal_store_close(s);
}

/* A version 1 database (taken back to v1's shape) migrates at open: records keep their
 * ids and gain sidx 0, and sessions can be stored. */
static void test_migrate_v1(void) {
    char *err;
    journal_store *s = open_as("t-v1", NULL, &err);
    CHECK(s != NULL);
    journal_store_close(s);
    CHECK(db_exec(db_url, "DROP TABLE sandbox_agent.sessions;"
                          "DROP INDEX sandbox_agent.events_session_sidx;"
                          "DROP INDEX sandbox_agent.events_server_agent_id;"
                          "DROP INDEX sandbox_agent.events_server_id;"
                          "CREATE UNIQUE INDEX events_server_id ON sandbox_agent.events(instance,"
                          " server, id);"
                          "ALTER TABLE sandbox_agent.events DROP COLUMN sidx;"
                          "CREATE INDEX events_session ON sandbox_agent.events(instance, session,"
                          " seq) WHERE session IS NOT NULL;"
                          "UPDATE sandbox_agent.meta SET value = '1' WHERE key = "
                          "'schema_version';"
                          "INSERT INTO sandbox_agent.servers VALUES('t-v1', 'srv', 1, 0);"
                          "INSERT INTO sandbox_agent.events(instance, server, id, ts_ms, dir,"
                          " connection, session, payload) VALUES('t-v1', 'srv', 1, 1, 0, NULL,"
                          " 'old', '{}')") == 0);
    s = open_as("t-v1", NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(db_int(db_url, "SELECT value FROM sandbox_agent.meta WHERE key = 'schema_version'") == 2);
    CHECK(journal_store_next_id(s, "srv") == 2);
    jf_got g;
    jf_read(s, "srv", 0, 0, 10, 3, &g);
    CHECK(g.n == 1 && g.recs[0]->sidx == 0 && g.recs[0]->session &&
          !strcmp(g.recs[0]->session, "old"));
    jf_got_free(&g);
    journal_store_put_session(s, "new", "{\"v\":1}");
    jf_loaded l = {0};
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 1);
    journal_store_close(s);
}

/* Append n records from the loop thread and wait for the commit: events per second. */
static double append_rate(journal_store *s, int n) {
    uint64_t t0 = base_mono_ms();
    for (int i = 0; i < n; i++)
        jf_append(s, "srv", JOURNAL_FROM_AGENT,
                  "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\","
                  "\"params\":{\"sessionId\":\"s-1\",\"update\":{\"text\":"
                  "\"hello world\"}}}");
    journal_store_flush(s);
    uint64_t ms = base_mono_ms() - t0;
    return n * 1000.0 / (double)(ms ? ms : 1);
}

/* Many appends while the writer commits: every one lands, in order. The rate is printed
 * beside SQLite's for comparison (a report, not an assertion). */
static void test_many_appends(void) {
    char *err;
    journal_store *s = open_as("t-many", NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    double pg_rate = append_rate(s, 50000);
    jf_check_all_in_order(s, 50000);
    journal_store_close(s);
    char *path = base_xasprintf("%s/many.sqlite3", tmpdir);
    s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    double sq_rate = s ? append_rate(s, 50000) : 0;
    journal_store_close(s);
    free(path);
    fprintf(stderr, "  append throughput, 50000 events: PostgreSQL %.0f/s, SQLite %.0f/s\n",
            pg_rate, sq_rate);
}

/* ---- the database restarts while appends flow ---------------------------------------------- */

static _Atomic int restart_phase; /* 1 stopping, 2 stopped, 3 restart asked, 4 running again */
static _Atomic int restart_ok;

static void *restart_main(void *arg) {
    char *cmd = base_xasprintf("bash tests/pg/stop.sh %s --keep", pg_dir);
    int a = system(cmd);
    free(cmd);
    atomic_store(&restart_phase, 2);
    while (atomic_load(&restart_phase) != 3)
        usleep(1000); /* the main thread asks once it saw the journal degraded */
    cmd = base_xasprintf("bash tests/pg/start.sh %s >/dev/null", pg_dir);
    int b = system(cmd);
    free(cmd);
    atomic_store(&restart_ok, a == 0 && b == 0);
    atomic_store(&restart_phase, 4);
    return NULL;
}

static void test_reconnect(void) {
    if (!pg_dir) {
        fprintf(stderr, "  restart test skipped: SANDBOX_AGENT_TEST_PG_DIR is not set\n");
        return;
    }
    char *err;
    journal_store *s = open_as("t-restart", NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    int appended = 0;
    for (; appended < 100; appended++)
        jf_append(s, "srv", JOURNAL_FROM_AGENT, "{\"phase\":\"before\"}");
    journal_store_flush(s);
    jf_got g;
    jf_read(s, "srv", 0, 0, 10, 3, &g); /* leaves a reader connection in the pool */
    CHECK(g.n == 10);
    jf_got_free(&g);

    /* Appends keep coming (one a millisecond, like a chatty agent) through the stop, until
     * the journal reports it is degraded, and through the start. */
    pthread_t th;
    atomic_store(&restart_phase, 1);
    pthread_create(&th, NULL, restart_main, NULL);
    bool saw_degraded = false;
    char why[256] = "";
    for (;;) {
        jf_append(s, "srv", JOURNAL_FROM_AGENT, "{\"phase\":\"during\"}");
        appended++;
        usleep(1000);
        int phase = atomic_load(&restart_phase);
        if (phase == 2 && journal_store_degraded(s)[0]) {
            saw_degraded = true;
            journal_store_put_session(s, "R", "{\"while\":\"down\"}");
            snprintf(why, sizeof why, "%s", journal_store_degraded(s));
            atomic_store(&restart_phase, 3);
        }
        if (phase == 4)
            break;
    }
    pthread_join(th, NULL);
    CHECK(atomic_load(&restart_ok));
    CHECK(saw_degraded);
    fprintf(stderr, "  (expected) degraded while the database was down: %s\n", why);
    for (int i = 0; i < 100; i++, appended++)
        jf_append(s, "srv", JOURNAL_FROM_AGENT, "{\"phase\":\"after\"}");
    journal_store_flush(s);
    CHECK(journal_store_degraded(s)[0] == 0);

    /* Every record is there exactly once, in order; the pooled reader reconnected. */
    jf_read(s, "srv", 0, 0, 1000000, 3, &g);
    CHECK(g.error == NULL);
    CHECK(g.n == (size_t)appended);
    bool contiguous = true;
    for (size_t i = 0; i < g.n; i++)
        if (g.recs[i]->id != i + 1)
            contiguous = false;
    CHECK(contiguous);
    fprintf(stderr, "  %d records appended across the restart, %zu read back\n", appended, g.n);
    jf_got_free(&g);
    jf_loaded l = {0};
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 1 &&
          !strcmp(l.jsons[0], "{\"while\":\"down\"}"));
    journal_store_close(s);
}

UNIT_MAIN({
    alarm(280); /* a hung reconnect fails the test instead of stalling the suite */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sa-journal-pg-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    char *data = base_xasprintf("%s/data", tmpdir);
    setenv("XDG_DATA_HOME", data, 1);
    free(data);
    unsetenv("SANDBOX_AGENT_JOURNAL_INSTANCE");
    test_missing_libpq();
    test_label();
    if (pg_setup()) {
        test_ids_reads_and_restart();
        test_crash_gap();
        test_retention();
        test_instances();
        test_sessions();
        test_bad_databases();
        test_migrate_v1();
        test_many_appends();
        test_reconnect();
        pg_teardown();
    } else if (system("ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1") == 0) {
        CHECK(!"PostgreSQL is installed but no server could be reached or started");
    } else {
        fprintf(stderr, "test_journal_pg: PostgreSQL is not installed and "
                        "SANDBOX_AGENT_TEST_PG_URL is not set: only the tests without a server "
                        "ran\n");
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
})
