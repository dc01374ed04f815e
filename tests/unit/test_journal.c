/* test_journal.c - the durable journal store (SQLite): ids across restarts and crashes,
 * batch commits, reads on the thread pool, retention gaps, refusing bad databases; and the
 * string map it uses. */
#include "unit.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "journal/journal.h"

static char tmpdir[64];

static char *db_path(const char *name) {
    return base_xasprintf("%s/%s", tmpdir, name);
}

static journal_store *open_at(const char *path, journal_opts *o, char **err) {
    journal_opts d = {0};
    if (!o)
        o = &d;
    o->path = path;
    *err = NULL;
    return journal_store_open(uv_default_loop(), o, err);
}

static void append(journal_store *s, const char *server, journal_dir dir, const char *json) {
    uint64_t id = journal_store_next_id(s, server);
    journal_store_append(s, journal_rec_new(server, id, dir, "conn-1", NULL, json, strlen(json)));
}

/* Reads run on the thread pool: run the loop until done fired. */
typedef struct got {
    bool done;
    journal_rec **recs;
    size_t n;
    char *error;
} got;

static void got_cb(void *ud, journal_rec **recs, size_t n, const char *error) {
    got *g = ud;
    g->done = true;
    g->recs = malloc((n ? n : 1) * sizeof *recs);
    for (size_t i = 0; i < n; i++)
        g->recs[i] = recs[i];
    g->n = n;
    g->error = error ? strdup(error) : NULL;
}

static void got_free(got *g) {
    for (size_t i = 0; i < g->n; i++)
        journal_rec_free(g->recs[i]);
    free(g->recs);
    free(g->error);
    memset(g, 0, sizeof *g);
}

static void read_all(journal_store *s, const char *server, uint64_t after, uint64_t before,
                     size_t limit, unsigned mask, got *g) {
    memset(g, 0, sizeof *g);
    journal_store_read(s, server, after, before, limit, mask, got_cb, g);
    while (!g->done)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
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
    journal_store *s = open_at(path, NULL, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    CHECK(journal_store_last_id(s, "srv") == 0);
    for (int i = 0; i < 10; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "{\"n\":%d}", i + 1);
        append(s, "srv", i % 2 ? JOURNAL_FROM_CLIENT : JOURNAL_FROM_AGENT, buf);
    }
    append(s, "other", JOURNAL_FROM_AGENT, "{\"o\":1}");
    CHECK(journal_store_last_id(s, "srv") == 10);
    journal_store_flush(s);
    CHECK(journal_store_committed(s) == 11);
    CHECK(journal_store_degraded(s)[0] == 0);

    got g;
    read_all(s, "srv", 0, 0, 100, 3, &g);
    CHECK(g.error == NULL && g.n == 10);
    if (g.n == 10) {
        CHECK(g.recs[0]->id == 1 && g.recs[9]->id == 10);
        CHECK_STR(g.recs[0]->payload, "{\"n\":1}");
        CHECK(g.recs[1]->dir == JOURNAL_FROM_CLIENT);
        CHECK_STR(g.recs[0]->connection, "conn-1");
        CHECK(g.recs[0]->ts_ms > 0);
    }
    got_free(&g);
    read_all(s, "srv", 0, 0, 100, 1u << JOURNAL_FROM_AGENT, &g); /* direction filter */
    CHECK(g.n == 5 && g.recs[0]->id == 1 && g.recs[1]->id == 3);
    got_free(&g);
    read_all(s, "srv", 4, 8, 100, 3, &g); /* 4 < id < 8 */
    CHECK(g.n == 3 && g.recs[0]->id == 5 && g.recs[2]->id == 7);
    got_free(&g);
    read_all(s, "srv", 0, 0, 2, 3, &g); /* limit */
    CHECK(g.n == 2 && g.recs[1]->id == 2);
    got_free(&g);
    read_all(s, "nobody", 0, 0, 10, 3, &g);
    CHECK(g.n == 0 && g.error == NULL);
    got_free(&g);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 0);
    journal_store_close(s);

    /* A clean restart: ids continue, nothing missing. */
    s = open_at(path, NULL, &err);
    CHECK(s != NULL);
    CHECK(journal_store_last_id(s, "srv") == 10);
    CHECK(journal_store_next_id(s, "srv") == 11);
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 0);
    read_all(s, "other", 0, 0, 10, 3, &g);
    CHECK(g.n == 1 && g.recs[0]->id == 1);
    got_free(&g);
    journal_store_close(s);
    free(path);
}

static void test_crash_gap(void) {
    char *path = db_path("crash.sqlite3");
    pid_t pid = fork();
    if (pid == 0) {
        char *err;
        journal_store *s = open_at(path, NULL, &err);
        if (!s)
            _exit(2);
        for (int i = 0; i < 5; i++)
            append(s, "srv", JOURNAL_FROM_AGENT, "{}");
        journal_store_flush(s);
        _exit(0); /* no close: as if killed */
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *err;
    journal_store *s = open_at(path, NULL, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    /* The five committed events are kept; ids resume past the crash gap. */
    CHECK(journal_store_last_id(s, "srv") == 5 + JOURNAL_CRASH_GAP);
    journal_gap gaps[4];
    size_t n = journal_store_gaps(s, "srv", 2, gaps, 4);
    CHECK(n == 1);
    CHECK(n == 1 && gaps[0].from == 6 && gaps[0].to == 5 + JOURNAL_CRASH_GAP);
    CHECK(n == 1 && strcmp(gaps[0].reason, "crash") == 0);
    CHECK(journal_store_gaps(s, "srv", 5 + JOURNAL_CRASH_GAP, gaps, 4) == 0);
    got g;
    read_all(s, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 5);
    got_free(&g);
    append(s, "srv", JOURNAL_FROM_AGENT, "{\"after\":1}");
    journal_store_close(s);
    /* A clean stop after the crash: no second gap. */
    s = open_at(path, NULL, &err);
    CHECK(journal_store_last_id(s, "srv") == 6 + JOURNAL_CRASH_GAP);
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 1);
    journal_store_close(s);
    free(path);
}

static void test_retention(void) {
    char *path = db_path("ret.sqlite3");
    char *err;
    journal_opts o = {.max_bytes = 4000, .prune_every_ms = 3600000};
    journal_store *s = open_at(path, &o, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    char big[101];
    memset(big, 'x', 100);
    big[0] = '"', big[99] = '"', big[100] = 0;
    for (int i = 0; i < 60; i++) /* 6000 bytes: above the 4000 bound */
        append(s, i % 3 ? "a" : "b", JOURNAL_FROM_AGENT, big);
    uint64_t removed = journal_store_prune_now(s, base_now_ms());
    /* Down to 90% of the bound: 36 records of 100 bytes kept. */
    CHECK(removed == 24);
    got g;
    read_all(s, "a", 0, 0, 100, 3, &g);
    size_t kept_a = g.n;
    uint64_t first_a = g.n ? g.recs[0]->id : 0;
    got_free(&g);
    read_all(s, "b", 0, 0, 100, 3, &g);
    CHECK(kept_a + g.n == 36);
    got_free(&g);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "a", 0, gaps, 4) == 1);
    CHECK(gaps[0].from == 1 && gaps[0].to == first_a - 1 && !strcmp(gaps[0].reason, "pruned"));
    CHECK(journal_store_gaps(s, "a", first_a - 1, gaps, 4) == 0);
    /* By age: everything is older than "now + 40 days". */
    removed = journal_store_prune_now(s, base_now_ms() + 40LL * 86400000);
    CHECK(removed == 36);
    read_all(s, "a", 0, 0, 100, 3, &g);
    CHECK(g.n == 0);
    got_free(&g);
    uint64_t last = journal_store_last_id(s, "a");
    journal_store_close(s);
    /* The pruned watermark survives a restart. */
    s = open_at(path, &o, &err);
    CHECK(journal_store_gaps(s, "a", 0, gaps, 4) == 1 && gaps[0].to == last);
    CHECK(journal_store_next_id(s, "a") == last + 1);
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
    journal_store *s = open_at(junk, NULL, &err);
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
    s = open_at(other, NULL, &err);
    CHECK(s == NULL && err && strstr(err, "something else"));
    free(err);

    /* A newer schema. */
    char *newer = db_path("newer.sqlite3");
    s = open_at(newer, NULL, &err);
    journal_store_close(s);
    sqlite3_open(newer, &db);
    sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL);
    sqlite3_close(db);
    s = open_at(newer, NULL, &err);
    CHECK(s == NULL && err && strstr(err, "newer"));
    free(err);

    /* An unwritable place. */
    if (geteuid() != 0) {
        char *ro = db_path("ro");
        mkdir(ro, 0555);
        char *p = base_xasprintf("%s/j.sqlite3", ro);
        s = open_at(p, NULL, &err);
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
    journal_store *s = open_at(path, NULL, &err);
    for (int i = 0; i < 20000; i++)
        append(s, "srv", JOURNAL_FROM_AGENT, "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}");
    journal_store_flush(s);
    got g;
    read_all(s, "srv", 0, 0, 100000, 3, &g);
    CHECK(g.n == 20000);
    bool ordered = true;
    for (size_t i = 0; i < g.n; i++)
        if (g.recs[i]->id != i + 1)
            ordered = false;
    CHECK(ordered);
    got_free(&g);
    CHECK(!journal_store_backlogged(s));
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
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s", tmpdir, tmpdir);
    if (system(cmd) != 0)
        return 1;
})
