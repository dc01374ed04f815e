/* test_journal.c - the durable journal store (SQLite): ids across restarts and crashes,
 * batch commits, reads on the thread pool, retention gaps, refusing bad databases, the v1 to
 * v2 migration, session summaries and session reads, reads that see uncommitted records,
 * commit waiters, replay speed; and the string map it uses. */
#include "unit.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "journal/journal.h"
#include "journal_fixture.h"

static char tmpdir[64];

static char *db_path(const char *name) {
    return base_xasprintf("%s/%s", tmpdir, name);
}

/* One integer from the database file, through a connection of the test's own. */
static long long sql_int(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    sqlite3_open(path, &db);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Holds the database's write lock from another connection: the store's writer blocks in
 * its commit until released, so what is appended meanwhile stays uncommitted. */
static sqlite3 *lock_writes(const char *path) {
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    return db;
}

static void unlock_writes(sqlite3 *db) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}

static void test_map(void) {
    base_map *m = base_map_new();
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(base_map_put(m, key, (void *)(intptr_t)(i + 1)) == NULL);
    }
    CHECK(base_map_count(m) == 1000);
    CHECK((intptr_t)base_map_get(m, "k500") == 501);
    CHECK(base_map_get(m, "nope") == NULL);
    CHECK((intptr_t)base_map_put(m, "k7", (void *)99) == 8);
    CHECK((intptr_t)base_map_get(m, "k7") == 99);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(base_map_del(m, key) != NULL);
    }
    CHECK(base_map_count(m) == 500);
    CHECK(base_map_get(m, "k0") == NULL && (intptr_t)base_map_get(m, "k1") == 2);
    /* Churn through tombstones: the table must not fill up with them. */
    for (int i = 0; i < 20000; i++) {
        base_map_put(m, "churn", (void *)1);
        base_map_del(m, "churn");
    }
    CHECK(base_map_count(m) == 500 && (intptr_t)base_map_get(m, "k999") == 1000);
    base_map_free(m, NULL);
}

static void test_ids_reads_and_restart(void) {
    char *path = db_path("a.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    CHECK(journal_store_last_id(s, "srv") == 0);
    jf_append_ten(s, "{\"n\":%d}");
    jf_append(s, "other", JOURNAL_FROM_AGENT, "{\"o\":1}");
    CHECK(journal_store_last_id(s, "srv") == 10);
    journal_store_flush(s);
    CHECK(journal_store_committed(s) == 11);
    CHECK(journal_store_degraded(s)[0] == 0);
    jf_check_reads(s, "{\"n\":1}");
    journal_store_close(s);

    /* A clean restart: ids continue, nothing missing. */
    s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    CHECK(journal_store_last_id(s, "srv") == 10);
    CHECK(journal_store_next_id(s, "srv") == 11);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 0);
    jf_got g;
    jf_read(s, "other", 0, 0, 10, 3, &g);
    CHECK(g.n == 1 && g.recs[0]->id == 1);
    jf_got_free(&g);
    journal_store_close(s);
    free(path);
}

static void test_crash_gap(void) {
    char *path = db_path("crash.sqlite3");
    journal_store *s = jf_crash_and_restart(path, NULL);
    if (s) {
        /* The crash gap is the only one, and stays one gap across the clean restart. */
        journal_gap gaps[4];
        CHECK(journal_store_gaps(s, "srv", 2, gaps, 4) == 1);
        CHECK(journal_store_gaps(s, "srv", 5 + JOURNAL_CRASH_GAP, gaps, 4) == 0);
    }
    journal_store_close(s);
    free(path);
}

static void test_retention(void) {
    char *path = db_path("ret.sqlite3");
    char *err;
    journal_opts o = {.max_bytes = 4000, .prune_every_ms = 3600000};
    journal_store *s = jf_open(path, &o, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    uint64_t first_a = jf_prune_by_size(s);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "a", first_a - 1, gaps, 4) == 0);
    s = jf_prune_by_age_and_restart(s, path, &o);
    jf_got g;
    jf_read(s, "a", 0, 0, 100, 3, &g);
    CHECK(g.n == 0);
    jf_got_free(&g);
    journal_store_close(s);
    free(path);
}

static void test_bad_databases(void) {
    char *err;
    /* Not a database at all. */
    char *junk = db_path("junk.sqlite3");
    int fd = open(junk, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    char garbage[8192];
    memset(garbage, 'G', sizeof garbage);
    CHECK(write(fd, garbage, sizeof garbage) == (ssize_t)sizeof garbage);
    close(fd);
    journal_store *s = jf_open(junk, NULL, &err);
    CHECK(s == NULL && err && strstr(err, "junk.sqlite3"));
    if (err)
        fprintf(stderr, "  (expected) %s\n", err);
    free(err);

    /* An SQLite database of something else. */
    char *other = db_path("other.sqlite3");
    sqlite3 *db;
    sqlite3_open(other, &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    s = jf_open(other, NULL, &err);
    CHECK(s == NULL && err && strstr(err, "something else"));
    free(err);

    /* A newer schema. */
    char *newer = db_path("newer.sqlite3");
    s = jf_open(newer, NULL, &err);
    journal_store_close(s);
    sqlite3_open(newer, &db);
    sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL);
    sqlite3_close(db);
    s = jf_open(newer, NULL, &err);
    CHECK(s == NULL && err && strstr(err, "newer"));
    free(err);

    /* An unwritable place. */
    if (geteuid() != 0) {
        char *ro = db_path("ro");
        mkdir(ro, 0555);
        char *p = base_xasprintf("%s/j.sqlite3", ro);
        s = jf_open(p, NULL, &err);
        CHECK(s == NULL && err != NULL);
        free(err);
        free(p);
        free(ro);
    }
    free(junk);
    free(other);
    free(newer);
}

/* Many appends from the loop while the writer commits: every one lands, in order. */
static void test_many_appends(void) {
    char *path = db_path("many.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    for (int i = 0; i < 20000; i++)
        jf_append(s, "srv", JOURNAL_FROM_AGENT, "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}");
    journal_store_flush(s);
    jf_check_all_in_order(s, 20000);
    CHECK(!journal_store_backlogged(s));
    journal_store_close(s);
    free(path);
}

/* A version-1 file (as the previous release wrote it) is migrated at open: its records keep
 * their ids and gain sidx 0, and sessions can be stored. */
static void test_migrate_v1(void) {
    char *path = db_path("v1.sqlite3");
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK(sqlite3_exec(
              db,
              "PRAGMA journal_mode=WAL;"
              "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
              "CREATE TABLE servers(name TEXT PRIMARY KEY, last_id INTEGER NOT NULL,"
              " pruned_below INTEGER NOT NULL DEFAULT 0);"
              "CREATE TABLE gaps(server TEXT NOT NULL, from_id INTEGER NOT NULL,"
              " to_id INTEGER NOT NULL);"
              "CREATE TABLE events(seq INTEGER PRIMARY KEY, server TEXT NOT NULL, id INTEGER NOT "
              "NULL, ts_ms INTEGER NOT NULL, dir INTEGER NOT NULL, connection TEXT, session TEXT,"
              " payload TEXT NOT NULL);"
              "CREATE UNIQUE INDEX events_server_id ON events(server, id);"
              "CREATE INDEX events_session ON events(session, seq) WHERE session IS NOT NULL;"
              "CREATE INDEX events_ts ON events(ts_ms);"
              "INSERT INTO meta VALUES('schema_version','1'),('running','0'),"
              "('payload_bytes','8');"
              "INSERT INTO servers VALUES('srv',2,0);"
              "INSERT INTO events(server,id,ts_ms,dir,connection,session,payload) VALUES"
              "('srv',1,1000,0,'c','old','{\"a\":1}'),('srv',2,1001,1,NULL,NULL,'{}');",
              NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(sql_int(path, "SELECT value FROM meta WHERE key='schema_version'") == 2);
    CHECK(sql_int(path, "SELECT count(*) FROM pragma_table_info('events') WHERE name='sidx'") == 1);
    CHECK(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name='events_session_sidx'") ==
          1);
    CHECK(journal_store_last_id(s, "srv") == 2);
    jf_got g;
    jf_read(s, "srv", 0, 0, 10, 3, &g);
    CHECK(g.n == 2);
    if (g.n == 2) {
        CHECK(g.recs[0]->sidx == 0 && g.recs[1]->sidx == 0);
        CHECK_STR(g.recs[0]->session, "old");
        CHECK_STR(g.recs[0]->payload, "{\"a\":1}");
    }
    jf_got_free(&g);
    jf_loaded l = {0};
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 0);
    journal_store_put_session(s, "new", "{\"v\":1}");
    jf_append_in(s, "srv", "new", 1, "{\"b\":1}");
    journal_store_close(s);

    /* The migrated file opens as version 2 from now on, with what was stored. */
    s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    memset(&l, 0, sizeof l);
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 1);
    CHECK(l.n == 1 && !strcmp(l.ids[0], "new") && !strcmp(l.jsons[0], "{\"v\":1}") &&
          l.last[0] == 1);
    jf_read_session(s, "new", 0, 10, &g);
    CHECK(g.n == 1 && g.recs[0]->id == 3 && g.recs[0]->sidx == 1);
    jf_got_free(&g);
    journal_store_close(s);
    free(path);
}

/* Session reads, summaries, last indexes and deleting a session. */
static long long payload_bytes(void *path) {
    return sql_int(path, "SELECT value FROM meta WHERE key='payload_bytes'");
}

static void test_sessions(void) {
    char *path = db_path("sessions.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    jf_check_sessions(s, payload_bytes, path);
    jf_got g;
    jf_read_session(s, "B", 0, 100, &g); /* B is untouched by A's delete */
    CHECK(g.n == 6);
    jf_got_free(&g);
    jf_loaded l = {0};
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 2);
    CHECK(jf_loaded_find(&l, "A") < 0 && jf_loaded_find(&l, "B") >= 0);
    jf_check_put_after_delete(s, &l);
    journal_store_close(s);
    free(path);
}

/* Summaries of one batch are coalesced to the newest, and none is committed ahead of the
 * records queued before it: triggers log the writer's inserts in the order it makes them. */
static void test_session_put_order(void) {
    char *path = db_path("order.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE wlog(n INTEGER PRIMARY KEY, kind TEXT, v INTEGER);"
                       "CREATE TRIGGER wlog_e AFTER INSERT ON events BEGIN"
                       " INSERT INTO wlog(kind,v) VALUES('e',new.sidx); END;"
                       "CREATE TRIGGER wlog_s AFTER INSERT ON sessions BEGIN"
                       " INSERT INTO wlog(kind,v) VALUES('s',json_extract(new.json,'$.n')); END;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    sqlite3 *lock = lock_writes(path);
    for (int i = 1; i <= 200; i++) {
        jf_append_in(s, "srv", "S", (uint64_t)i, "{}");
        char json[32];
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        journal_store_put_session(s, "S", json);
    }
    unlock_writes(lock);
    journal_store_flush(s);
    /* Every summary n follows at least n records; the newest is the one kept. */
    CHECK(sql_int(path, "SELECT count(*) FROM wlog w WHERE kind='s' AND"
                        " (SELECT count(*) FROM wlog e WHERE e.kind='e' AND e.n<w.n)<w.v") == 0);
    long long puts = sql_int(path, "SELECT count(*) FROM wlog WHERE kind='s'");
    printf("  200 puts while the writer was held: %lld written\n", puts);
    CHECK(puts >= 1 && puts <= 3); /* the batch taken before the lock, then one */
    CHECK(sql_int(path, "SELECT json_extract(json,'$.n') FROM sessions WHERE id='S'") == 200);
    journal_store_close(s);
    free(path);
}

/* Reads see every record appended before them, committed or not. */
static void test_read_sees_uncommitted(void) {
    char *path = db_path("visible.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    for (int i = 1; i <= 300; i++)
        jf_append_in(s, "srv", "S", (uint64_t)i, "{\"committed\":1}");
    journal_store_flush(s);
    sqlite3 *lock = lock_writes(path);
    uint64_t seq = 0;
    for (int i = 301; i <= 3000; i++) {
        uint64_t id = journal_store_next_id(s, "srv");
        journal_rec *r =
            journal_rec_new("srv", id, i % 2 ? JOURNAL_FROM_AGENT : JOURNAL_FROM_CLIENT, NULL, "S",
                            "{\"queued\":1}", 12);
        r->sidx = (uint64_t)i;
        seq = journal_store_append(s, r);
    }
    jf_append_in(s, "other", "T", 1, "{}");
    CHECK(journal_store_committed(s) < seq);

    jf_got g;
    jf_read(s, "srv", 0, 0, 100000, 3, &g);
    CHECK(g.n == 3000);
    bool ok = g.n == 3000;
    for (size_t i = 0; ok && i < g.n; i++)
        ok = g.recs[i]->id == i + 1 && g.recs[i]->sidx == i + 1;
    CHECK(ok);
    CHECK(g.n == 3000 && !strcmp(g.recs[2999]->payload, "{\"queued\":1}") &&
          g.recs[2999]->dir == JOURNAL_FROM_CLIENT);
    jf_got_free(&g);
    /* Bounds, direction and limit across the committed and the uncommitted part. */
    jf_read(s, "srv", 250, 400, 1000, 1u << JOURNAL_FROM_AGENT, &g);
    /* 251..300 committed (all from the agent), then the odd ids up to 399. */
    ok = g.n == 100;
    for (size_t i = 0; ok && i < g.n; i++)
        ok = g.recs[i]->id == (i < 50 ? 251 + i : 301 + 2 * (i - 50)) &&
             g.recs[i]->dir == JOURNAL_FROM_AGENT;
    CHECK(ok);
    jf_got_free(&g);
    jf_read(s, "srv", 290, 0, 20, 3, &g);
    CHECK(g.n == 20 && g.recs[0]->id == 291 && g.recs[19]->id == 310);
    jf_got_free(&g);
    jf_read_session(s, "S", 2990, 100, &g);
    CHECK(g.n == 10 && g.recs[0]->sidx == 2991 && g.recs[9]->sidx == 3000);
    jf_got_free(&g);
    jf_read_session(s, "T", 0, 100, &g);
    CHECK(g.n == 1);
    jf_got_free(&g);
    /* A queued delete hides the records of that session queued before it. */
    journal_store_delete_session(s, "T");
    jf_read_session(s, "T", 0, 100, &g);
    CHECK(g.n == 0);
    jf_got_free(&g);
    CHECK(journal_store_committed(s) < seq); /* all of that was read from memory */
    unlock_writes(lock);
    journal_store_flush(s);
    jf_read_session(s, "S", 0, 100000, &g);
    CHECK(g.n == 3000 && g.recs[2999]->sidx == 3000);
    jf_got_free(&g);
    journal_store_close(s);
    free(path);
}

/* ---- commit waiters ---- */

/* What the waiters of one test saw, in the order they were called. */
typedef struct cw_log {
    journal_store *s;
    const char *path;
    int n;
    int tag[8];
    int status[8];
    uint64_t committed[8]; /* journal_store_committed when it was called */
    long long stored;      /* sessions stored in the file, as the last waiter saw them */
} cw_log;

typedef struct cw {
    cw_log *log;
    int tag;
} cw;

static void cw_cb(void *ud, int status) {
    cw *w = ud;
    cw_log *l = w->log;
    if (l->n < 8) {
        l->tag[l->n] = w->tag;
        l->status[l->n] = status;
        l->committed[l->n] = journal_store_committed(l->s);
    }
    l->n++;
    l->stored = sql_int(l->path, "SELECT count(*) FROM sessions");
}

/* Waiters run on the loop: a pending one keeps it running. */
static void cw_run_until(cw_log *l, int n) {
    while (l->n < n)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
}

/* journal_store_when_committed: called from the loop, never inside the call; only once what
 * was queued before it is committed, and in order; with UV_EIO while commits fail rather
 * than after the disk recovers; and at close, once the final commit took its writes. */
static void test_commit_waiters(void) {
    char *path = db_path("waiters.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    cw_log l = {.s = s, .path = path};
    cw w[6];
    for (int i = 0; i < 6; i++)
        w[i] = (cw){&l, i};

    /* Nothing queued: still answered from the loop, not inside the call. */
    journal_store_when_committed(s, cw_cb, &w[0]);
    CHECK(l.n == 0);
    cw_run_until(&l, 1);
    CHECK(l.tag[0] == 0 && l.status[0] == 0);

    /* The writer held: waiters wait, and are answered in order once it commits. */
    sqlite3 *lock = lock_writes(path);
    jf_append_in(s, "srv", "S", 1, "{}");
    journal_store_when_committed(s, cw_cb, &w[1]);
    jf_append_in(s, "srv", "S", 2, "{}");
    journal_store_put_session_now(s, "S", "{\"n\":1}");
    journal_store_when_committed(s, cw_cb, &w[2]);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* the loop hears of them: nothing to answer */
    CHECK(l.n == 1 && journal_store_committed(s) == 0);
    unlock_writes(lock);
    cw_run_until(&l, 3);
    CHECK(l.tag[1] == 1 && l.status[1] == 0 && l.committed[1] >= 1);
    CHECK(l.tag[2] == 2 && l.status[2] == 0 && l.committed[2] >= 3);
    CHECK(l.stored == 1); /* the summary queued before it is in the file */

    /* Commits fail: the waiter hears so instead of waiting for the disk to recover. */
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK(sqlite3_exec(db,
                       "CREATE TRIGGER held BEFORE INSERT ON sessions BEGIN"
                       " SELECT RAISE(ABORT, 'held by the test'); END;",
                       NULL, NULL, NULL) == SQLITE_OK);
    journal_store_put_session_now(s, "T", "{\"n\":2}");
    journal_store_when_committed(s, cw_cb, &w[3]);
    cw_run_until(&l, 4);
    CHECK(l.tag[3] == 3 && l.status[3] == UV_EIO && l.stored == 1);
    CHECK(strstr(journal_store_degraded(s), "held by the test") != NULL);
    CHECK(sqlite3_exec(db, "DROP TRIGGER held", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    journal_store_flush(s); /* the writer's retry lands */
    CHECK(journal_store_degraded(s)[0] == 0);
    journal_store_when_committed(s, cw_cb, &w[4]);
    cw_run_until(&l, 5);
    CHECK(l.tag[4] == 4 && l.status[4] == 0 && l.stored == 2);

    /* Closing answers a waiter the loop never got to: its writes were committed first. */
    journal_store_put_session_now(s, "U", "{\"n\":3}");
    journal_store_when_committed(s, cw_cb, &w[5]);
    journal_store_close(s);
    CHECK(l.n == 6 && l.tag[5] == 5 && l.status[5] == 0 && l.stored == 3);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* the store's wake-up handle closes */
    free(path);
}

/* Replay a server (session NULL) or a session in pages of 1000 from the start; returns the
 * records seen, *ordered when keys ran 1, 2, 3... */
static size_t replay_pages(journal_store *s, const char *session, bool *ordered) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t after = 0;
    size_t total = 0;
    *ordered = true;
    for (;;) {
        jf_got g;
        if (session)
            jf_read_session(s, session, after, 1000, &g);
        else
            jf_read(s, "srv", after, 0, 1000, 3, &g);
        for (size_t i = 0; i < g.n; i++)
            *ordered = *ordered && (session ? g.recs[i]->sidx : g.recs[i]->id) == after + i + 1;
        total += g.n;
        after += g.n;
        size_t n = g.n;
        jf_got_free(&g);
        if (n < 1000)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("  %s replay of %zu records in pages of 1000: %.0f ms\n", session ? "session" : "server",
           total, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    return total;
}

/* Replay speed: 100,000 records read back in pages of 1000. Printed, not asserted. */
static void test_replay_speed(void) {
    char *path = db_path("speed.sqlite3");
    char *err;
    journal_store *s = jf_open(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    const char *payload = "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{"
                          "\"sessionId\":\"S\",\"update\":{\"sessionUpdate\":\"agent_message_"
                          "chunk\",\"content\":{\"type\":\"text\",\"text\":\"hello world\"}}}}";
    for (int i = 1; i <= 100000; i++)
        jf_append_in(s, "srv", "S", (uint64_t)i, payload);
    journal_store_flush(s);
    bool ordered;
    CHECK(replay_pages(s, NULL, &ordered) == 100000 && ordered);
    CHECK(replay_pages(s, "S", &ordered) == 100000 && ordered);
    journal_store_close(s);
    free(path);
}

UNIT_MAIN({
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sa-journal-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_map();
    test_ids_reads_and_restart();
    test_crash_gap();
    test_retention();
    test_bad_databases();
    test_many_appends();
    test_migrate_v1();
    test_sessions();
    test_session_put_order();
    test_read_sees_uncommitted();
    test_commit_waiters();
    test_replay_speed();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s", tmpdir, tmpdir);
    if (system(cmd) != 0)
        return 1;
})
