/* journal_fixture.h - helpers shared by the journal store tests (SQLite and PostgreSQL): open
 * a store at a path or URL, append a record with the next id (of a session or none), run a
 * thread-pool read to completion, collect what journal_store_load_sessions reports; and the
 * parts of the tests both backends must pass alike (reads, crash gaps, retention, sessions),
 * so that the two stores are held to one contract. Include after unit.h. */
#ifndef JOURNAL_FIXTURE_H
#define JOURNAL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "journal/journal.h"
#include "unit.h"

static inline journal_store *jf_open(const char *path, journal_opts *o, char **err) {
    journal_opts d = {0};
    if (!o)
        o = &d;
    o->path = path;
    *err = NULL;
    return journal_store_open(uv_default_loop(), o, err);
}

static inline void jf_append(journal_store *s, const char *server, journal_dir dir,
                             const char *json) {
    uint64_t id = journal_store_next_id(s, server);
    journal_store_append(s, journal_rec_new(server, id, dir, "conn-1", NULL, json, strlen(json)));
}

/* A record of a session, with its index there. */
static inline void jf_append_in(journal_store *s, const char *server, const char *session,
                                uint64_t sidx, const char *json) {
    uint64_t id = journal_store_next_id(s, server);
    journal_rec *r =
        journal_rec_new(server, id, JOURNAL_FROM_AGENT, "conn-1", session, json, strlen(json));
    r->sidx = sidx;
    journal_store_append(s, r);
}

/* What a read delivered. Owner: the test; jf_got_free releases it. */
typedef struct jf_got {
    bool done;
    journal_rec **recs;
    size_t n;
    char *error;
} jf_got;

static inline void jf_got_cb(void *ud, journal_rec **recs, size_t n, const char *error) {
    jf_got *g = ud;
    g->done = true;
    g->recs = malloc((n ? n : 1) * sizeof *recs);
    for (size_t i = 0; i < n; i++)
        g->recs[i] = recs[i];
    g->n = n;
    g->error = error ? strdup(error) : NULL;
}

static inline void jf_got_free(jf_got *g) {
    for (size_t i = 0; i < g->n; i++)
        journal_rec_free(g->recs[i]);
    free(g->recs);
    free(g->error);
    memset(g, 0, sizeof *g);
}

/* Reads run on the thread pool: run the loop until done fired. */
static inline void jf_read(journal_store *s, const char *server, uint64_t after, uint64_t before,
                           size_t limit, unsigned mask, jf_got *g) {
    memset(g, 0, sizeof *g);
    journal_store_read(s, server, after, before, limit, mask, jf_got_cb, g);
    while (!g->done)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
}

static inline void jf_read_session(journal_store *s, const char *session, uint64_t after,
                                   size_t limit, jf_got *g) {
    memset(g, 0, sizeof *g);
    journal_store_read_session(s, session, after, limit, jf_got_cb, g);
    while (!g->done)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
}

/* What journal_store_load_sessions reported: the first 8 sessions (the tests store fewer).
 * Owner: the test, on its stack; nothing to free. */
typedef struct jf_loaded {
    char ids[8][32];
    char jsons[8][64];
    uint64_t last[8];
    size_t n;
} jf_loaded;

static inline void jf_loaded_cb(void *ud, const char *id, const char *json, uint64_t last_sidx) {
    jf_loaded *l = ud;
    if (l->n == 8)
        return;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", id);
    snprintf(l->jsons[l->n], sizeof l->jsons[0], "%s", json);
    l->last[l->n++] = last_sidx;
}

/* The index of a loaded session, or -1. */
static inline int jf_loaded_find(const jf_loaded *l, const char *id) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->ids[i], id))
            return (int)i;
    return -1;
}

/* ---- what both stores must do alike ------------------------------------------------------- */

/* Ten records on "srv", ids 1 to 10, from the agent at odd ids; fmt gives each payload from
 * its id (one %d). */
static inline void jf_append_ten(journal_store *s, const char *fmt) {
    for (int i = 0; i < 10; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, fmt, i + 1);
        jf_append(s, "srv", i % 2 ? JOURNAL_FROM_CLIENT : JOURNAL_FROM_AGENT, buf);
    }
}

/* Reads of what jf_append_ten wrote (first: the payload of id 1): everything, the direction
 * filter, bounds, the limit, a server with nothing, and no gaps. */
static inline void jf_check_reads(journal_store *s, const char *first) {
    jf_got g;
    jf_read(s, "srv", 0, 0, 100, 3, &g);
    CHECK(g.error == NULL && g.n == 10);
    if (g.n == 10) {
        CHECK(g.recs[0]->id == 1 && g.recs[9]->id == 10);
        CHECK_STR(g.recs[0]->payload, first);
        CHECK(g.recs[1]->dir == JOURNAL_FROM_CLIENT);
        CHECK_STR(g.recs[0]->connection, "conn-1");
        CHECK(g.recs[0]->session == NULL && g.recs[0]->ts_ms > 0);
    }
    jf_got_free(&g);
    jf_read(s, "srv", 0, 0, 100, 1u << JOURNAL_FROM_AGENT, &g); /* direction filter */
    CHECK(g.n == 5 && g.recs[0]->id == 1 && g.recs[1]->id == 3);
    jf_got_free(&g);
    jf_read(s, "srv", 4, 8, 100, 3, &g); /* 4 < id < 8 */
    CHECK(g.n == 3 && g.recs[0]->id == 5 && g.recs[2]->id == 7);
    jf_got_free(&g);
    jf_read(s, "srv", 0, 0, 2, 3, &g); /* limit */
    CHECK(g.n == 2 && g.recs[1]->id == 2);
    jf_got_free(&g);
    jf_read(s, "nobody", 0, 0, 10, 3, &g);
    CHECK(g.n == 0 && g.error == NULL);
    jf_got_free(&g);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "srv", 0, gaps, 4) == 0);
}

/* Every record of "srv" read back: n of them, ids 1 to n. */
static inline void jf_check_all_in_order(journal_store *s, size_t n) {
    jf_got g;
    jf_read(s, "srv", 0, 0, 100000, 3, &g);
    CHECK(g.n == n);
    bool ordered = true;
    for (size_t i = 0; i < g.n; i++)
        if (g.recs[i]->id != i + 1)
            ordered = false;
    CHECK(ordered);
    jf_got_free(&g);
}

/* A child process commits five records and dies without closing the store; the store,
 * opened again (the dead one's lock may linger: open waits), keeps the five and resumes ids
 * past a crash gap; a clean stop after that adds no second gap. Returns the store after that
 * clean restart (NULL if it did not open); the caller closes it. */
static inline journal_store *jf_crash_and_restart(const char *where, journal_opts *o) {
    pid_t pid = fork();
    if (pid == 0) {
        char *err;
        journal_store *s = jf_open(where, o, &err);
        if (!s)
            _exit(2);
        for (int i = 0; i < 5; i++)
            jf_append(s, "srv", JOURNAL_FROM_AGENT, "{}");
        journal_store_flush(s);
        _exit(0); /* no close: as if killed */
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *err;
    journal_store *s = jf_open(where, o, &err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        free(err);
        return NULL;
    }
    CHECK(journal_store_last_id(s, "srv") == 5 + JOURNAL_CRASH_GAP);
    journal_gap gaps[4];
    size_t n = journal_store_gaps(s, "srv", 2, gaps, 4);
    CHECK(n == 1 && gaps[0].from == 6 && gaps[0].to == 5 + JOURNAL_CRASH_GAP);
    CHECK(n == 1 && strcmp(gaps[0].reason, "crash") == 0);
    jf_got g;
    jf_read(s, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 5);
    jf_got_free(&g);
    jf_append(s, "srv", JOURNAL_FROM_AGENT, "{\"after\":1}");
    journal_store_close(s);
    s = jf_open(where, o, &err);
    CHECK(s && journal_store_last_id(s, "srv") == 6 + JOURNAL_CRASH_GAP);
    CHECK(s && journal_store_gaps(s, "srv", 0, gaps, 4) == 1);
    return s;
}

/* On a store opened with max_bytes 4000: 60 records of 100 bytes on servers a and b are
 * pruned down to 90% of the bound, the oldest first, leaving a gap. Returns a's first id
 * kept. */
static inline uint64_t jf_prune_by_size(journal_store *s) {
    char big[101];
    memset(big, 'x', 100);
    big[0] = '"', big[99] = '"', big[100] = 0;
    for (int i = 0; i < 60; i++) /* 6000 bytes: above the 4000 bound */
        jf_append(s, i % 3 ? "a" : "b", JOURNAL_FROM_AGENT, big);
    uint64_t removed = journal_store_prune_now(s, base_now_ms());
    CHECK(removed == 24); /* down to 90% of the bound: 36 records of 100 bytes kept */
    jf_got g;
    jf_read(s, "a", 0, 0, 100, 3, &g);
    size_t kept_a = g.n;
    uint64_t first_a = g.n ? g.recs[0]->id : 0;
    jf_got_free(&g);
    jf_read(s, "b", 0, 0, 100, 3, &g);
    CHECK(kept_a + g.n == 36);
    jf_got_free(&g);
    journal_gap gaps[4];
    CHECK(journal_store_gaps(s, "a", 0, gaps, 4) == 1);
    CHECK(gaps[0].from == 1 && gaps[0].to == first_a - 1 && !strcmp(gaps[0].reason, "pruned"));
    return first_a;
}

/* Then by age: everything is older than "now + 40 days". The pruned watermark survives a
 * restart (the store at where, with o, is closed and opened again). Returns the reopened
 * store; the caller closes it. */
static inline journal_store *jf_prune_by_age_and_restart(journal_store *s, const char *where,
                                                         journal_opts *o) {
    CHECK(journal_store_prune_now(s, base_now_ms() + 40LL * 86400000) == 36);
    uint64_t last = journal_store_last_id(s, "a");
    journal_store_close(s);
    char *err;
    s = jf_open(where, o, &err);
    journal_gap gaps[4];
    CHECK(s && journal_store_gaps(s, "a", 0, gaps, 4) == 1 && gaps[0].to == last);
    CHECK(s && journal_store_next_id(s, "a") == last + 1);
    return s;
}

/* Session records on two servers (A: 6 on srv; B: 6 across srv and srv2), one record of no
 * session, and summaries (B's put twice, C's with no records); then session reads, the
 * summaries and last indexes, and deleting A: its summary, records and their bytes
 * (payload_bytes(ctx): the store's count of them) go. */
static inline void jf_check_sessions(journal_store *s, long long (*payload_bytes)(void *),
                                     void *ctx) {
    for (int i = 1; i <= 6; i++) {
        jf_append_in(s, "srv", "A", (uint64_t)i, "{\"a\":1}");
        jf_append_in(s, i % 2 ? "srv" : "srv2", "B", (uint64_t)i, "{\"bb\":1}");
    }
    jf_append(s, "srv", JOURNAL_FROM_CLIENT, "{\"none\":1}");
    journal_store_put_session(s, "A", "{\"name\":\"a\"}");
    journal_store_put_session(s, "B", "{\"name\":\"b1\"}");
    journal_store_put_session(s, "B", "{\"name\":\"b2\"}");
    journal_store_put_session(s, "C", "{\"name\":\"c\"}");
    journal_store_flush(s);

    jf_got g;
    jf_read_session(s, "B", 0, 100, &g); /* across servers, both directions, sidx order */
    bool in_order = g.n == 6;
    for (size_t i = 0; i < g.n; i++)
        in_order = in_order && g.recs[i]->sidx == i + 1 && !strcmp(g.recs[i]->session, "B");
    CHECK(in_order);
    CHECK(g.n == 6 && !strcmp(g.recs[1]->server, "srv2"));
    jf_got_free(&g);
    jf_read_session(s, "A", 2, 3, &g); /* after, limit */
    CHECK(g.n == 3 && g.recs[0]->sidx == 3 && g.recs[2]->sidx == 5);
    jf_got_free(&g);
    jf_read_session(s, "nope", 0, 10, &g);
    CHECK(g.n == 0 && g.error == NULL);
    jf_got_free(&g);

    jf_loaded l = {0};
    char *err = NULL;
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, &l, &err) == 0 && l.n == 3);
    free(err);
    int a = jf_loaded_find(&l, "A"), b = jf_loaded_find(&l, "B"), c = jf_loaded_find(&l, "C");
    CHECK(a >= 0 && b >= 0 && c >= 0);
    if (a >= 0 && b >= 0 && c >= 0) {
        CHECK(l.last[a] == 6 && l.last[b] == 6 && l.last[c] == 0);
        CHECK(!strcmp(l.jsons[b], "{\"name\":\"b2\"}"));
    }

    /* Deleting A takes its summary, its records and their bytes; B is untouched. */
    long long bytes = payload_bytes(ctx);
    CHECK(bytes == 6 * 7 + 6 * 8 + 10);
    journal_store_delete_session(s, "A");
    journal_store_flush(s);
    CHECK(payload_bytes(ctx) == bytes - 6 * 7);
    jf_read_session(s, "A", 0, 100, &g);
    CHECK(g.n == 0);
    jf_got_free(&g);
    jf_read(s, "srv", 0, 0, 100, 3, &g);
    CHECK(g.n == 4); /* B's three on srv and the sessionless one */
    jf_got_free(&g);
}

/* A summary put after a delete in the same batch comes back; one before it does not. What
 * the store then loads is left in *l. */
static inline void jf_check_put_after_delete(journal_store *s, jf_loaded *l) {
    journal_store_put_session(s, "C", "{\"gone\":1}");
    journal_store_delete_session(s, "C");
    journal_store_put_session(s, "D", "{\"gone\":1}");
    journal_store_delete_session(s, "D");
    journal_store_put_session(s, "D", "{\"back\":1}");
    memset(l, 0, sizeof *l);
    char *err = NULL;
    CHECK(journal_store_load_sessions(s, jf_loaded_cb, l, &err) == 0 && l->n == 2);
    free(err);
    int d = jf_loaded_find(l, "D");
    CHECK(jf_loaded_find(l, "C") < 0 && d >= 0 && !strcmp(l->jsons[d], "{\"back\":1}"));
}

#endif
