/* journal_fixture.h - helpers for the journal store tests: open a store at a path or URL,
 * append a record with the next id, and run a thread-pool read to completion. */
#ifndef JOURNAL_FIXTURE_H
#define JOURNAL_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "journal/journal.h"

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

#endif
