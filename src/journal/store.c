/* store.c - the journal store: id heads per ACP server, the commit queue and its writer
 * thread, retention, and reads on the thread pool. The SQL lives in the backends (sqlite.c,
 * pg.c, chosen by db.c).
 *
 * Locking: one mutex guards the queue, the heads map, the degraded text and the writer's
 * wake-up; the loop holds it only for pointer swaps and counters, never across I/O. */
#include "journal/internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

/* Ids of one server. Owner: the store's heads map. */
typedef struct journal_head {
    uint64_t last_id;      /* last handed out */
    uint64_t pruned_below; /* ids at or below are gone by retention */
    journal_gap *gaps;     /* crash gaps, oldest first */
    size_t ngaps;
} journal_head;

struct journal_store {
    uv_loop_t *loop;
    char *path;     /* as configured: a file or a postgres:// URL */
    char *label;    /* path without secrets, for logs */
    char *instance; /* opts.instance points here (NULL: the backend's default) */
    journal_opts opts;
    journal_db *wdb; /* the writer thread's connection */

    uv_mutex_t mu;
    uv_cond_t wake;    /* writer: work queued or stop */
    uv_cond_t flushed; /* waiters: a batch committed */
    journal_rec **queue;
    uint64_t *queue_seq;
    size_t nqueue, capqueue;
    uint64_t next_seq;
    _Atomic uint64_t committed;
    _Atomic size_t pending; /* queued + in the batch being written */
    bool stop;
    char *degraded; /* NULL when healthy */
    char degraded_copy[256];
    base_map *heads;
    int64_t next_prune_ms;
    /* journal_store_prune_now's request, served by the writer (the one thread that may use
     * wdb): its clock (0 = none), then the outcome. Under mu. */
    int64_t prune_req_ms;
    bool prune_done;
    int64_t prune_result;

    uv_thread_t writer;
    /* Idle reader connections, reused by thread-pool reads. */
    journal_db **readers;
    size_t nreaders, capreaders;
};

/* ---- records ------------------------------------------------------------------------ */

journal_rec *journal_rec_new(const char *server, uint64_t id, journal_dir dir,
                             const char *connection, const char *session, const char *payload,
                             size_t len) {
    journal_rec *r = base_xcalloc(1, sizeof *r);
    r->server = base_xstrdup(server);
    r->id = id;
    r->ts_ms = base_now_ms();
    r->dir = dir;
    r->connection = connection ? base_xstrdup(connection) : NULL;
    r->session = session ? base_xstrdup(session) : NULL;
    r->payload = base_xstrndup(payload, len);
    r->len = len;
    return r;
}

void journal_rec_free(journal_rec *r) {
    if (!r)
        return;
    free(r->server);
    free(r->connection);
    free(r->session);
    free(r->payload);
    free(r);
}

/* ---- heads ---------------------------------------------------------------------------- */

static journal_head *journal_head_of(journal_store *s, const char *server) {
    journal_head *h = base_map_get(s->heads, server);
    if (!h) {
        h = base_xcalloc(1, sizeof *h);
        base_map_put(s->heads, server, h);
    }
    return h;
}

static void journal_head_free(void *p) {
    journal_head *h = p;
    free(h->gaps);
    free(h);
}

/* Called by sqlite.c while loading, before any other thread runs. */
void journal_store_load_head(journal_store *s, const char *server, uint64_t last_id,
                             uint64_t pruned_below) {
    journal_head *h = journal_head_of(s, server);
    h->last_id = last_id;
    h->pruned_below = pruned_below;
}

void journal_store_load_gap(journal_store *s, const char *server, uint64_t from, uint64_t to) {
    journal_head *h = journal_head_of(s, server);
    h->gaps = base_xrealloc(h->gaps, (h->ngaps + 1) * sizeof *h->gaps);
    h->gaps[h->ngaps++] = (journal_gap){from, to, "crash"};
}

void journal_store_note_pruned(journal_store *s, const char *server, uint64_t below) {
    uv_mutex_lock(&s->mu);
    journal_head *h = journal_head_of(s, server);
    if (below > h->pruned_below)
        h->pruned_below = below;
    uv_mutex_unlock(&s->mu);
}

uint64_t journal_store_next_id(journal_store *s, const char *server) {
    uv_mutex_lock(&s->mu);
    uint64_t id = ++journal_head_of(s, server)->last_id;
    uv_mutex_unlock(&s->mu);
    return id;
}

uint64_t journal_store_last_id(journal_store *s, const char *server) {
    uv_mutex_lock(&s->mu);
    journal_head *h = base_map_get(s->heads, server);
    uint64_t id = h ? h->last_id : 0;
    uv_mutex_unlock(&s->mu);
    return id;
}

size_t journal_store_gaps(journal_store *s, const char *server, uint64_t after, journal_gap *out,
                          size_t max) {
    size_t n = 0;
    uv_mutex_lock(&s->mu);
    journal_head *h = base_map_get(s->heads, server);
    if (h) {
        if (h->pruned_below > after && n < max)
            out[n++] = (journal_gap){after + 1, h->pruned_below, "pruned"};
        for (size_t i = 0; i < h->ngaps && n < max; i++)
            if (h->gaps[i].to > after && h->gaps[i].to > h->pruned_below)
                out[n++] = h->gaps[i];
    }
    uv_mutex_unlock(&s->mu);
    return n;
}

/* ---- the commit queue and the writer ------------------------------------------------------ */

uint64_t journal_store_append(journal_store *s, journal_rec *r) {
    uv_mutex_lock(&s->mu);
    if (s->nqueue == s->capqueue) {
        s->capqueue = s->capqueue ? s->capqueue * 2 : 256;
        s->queue = base_xrealloc(s->queue, s->capqueue * sizeof *s->queue);
        s->queue_seq = base_xrealloc(s->queue_seq, s->capqueue * sizeof *s->queue_seq);
    }
    uint64_t seq = ++s->next_seq;
    s->queue[s->nqueue] = r;
    s->queue_seq[s->nqueue] = seq;
    s->nqueue++;
    atomic_fetch_add(&s->pending, 1);
    if (s->nqueue == 1)
        uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->mu);
    return seq;
}

bool journal_store_backlogged(const journal_store *s) {
    return atomic_load(&s->pending) > JOURNAL_MAX_PENDING;
}

uint64_t journal_store_committed(const journal_store *s) {
    return atomic_load(&s->committed);
}

void journal_store_flush(journal_store *s) {
    uv_mutex_lock(&s->mu);
    uint64_t target = s->next_seq;
    while (atomic_load(&s->committed) < target && !s->stop)
        uv_cond_wait(&s->flushed, &s->mu);
    uv_mutex_unlock(&s->mu);
}

const char *journal_store_degraded(journal_store *s) {
    uv_mutex_lock(&s->mu);
    snprintf(s->degraded_copy, sizeof s->degraded_copy, "%s", s->degraded ? s->degraded : "");
    uv_mutex_unlock(&s->mu);
    return s->degraded_copy;
}

static void journal_set_degraded(journal_store *s, char *why) {
    uv_mutex_lock(&s->mu);
    bool was = s->degraded != NULL;
    free(s->degraded);
    s->degraded = why;
    uv_mutex_unlock(&s->mu);
    if (why)
        LOG_ERROR("journal commit failed", "path=%s error=\"%s\" retry=1", s->label, why);
    else if (was)
        LOG_INFO("journal commits resumed", "path=%s", s->label);
}

static void journal_sleep_ms(uv_mutex_t *mu, uv_cond_t *cond, uint64_t ms) {
    uv_mutex_lock(mu);
    uv_cond_timedwait(cond, mu, ms * 1000000ULL);
    uv_mutex_unlock(mu);
}

/* Commit one batch, retrying with backoff until it lands or the store stops: a failing disk
 * makes the journal degraded, never loses what it queued. */
static void journal_commit_batch(journal_store *s, journal_rec **recs, uint64_t *seqs, size_t n) {
    uint64_t backoff = 50;
    for (;;) {
        char *err = NULL;
        if (journal_db_append(s->wdb, recs, n, &err) == 0) {
            if (s->degraded)
                journal_set_degraded(s, NULL);
            break;
        }
        journal_set_degraded(s, err);
        uv_mutex_lock(&s->mu);
        bool stop = s->stop;
        uv_mutex_unlock(&s->mu);
        if (stop && backoff > 3200) {
            LOG_ERROR("journal records lost at shutdown", "path=%s records=%zu", s->label, n);
            break;
        }
        journal_sleep_ms(&s->mu, &s->wake, backoff);
        if (backoff < 5000)
            backoff *= 2;
    }
    for (size_t i = 0; i < n; i++)
        journal_rec_free(recs[i]);
    uv_mutex_lock(&s->mu);
    atomic_store(&s->committed, seqs[n - 1]);
    atomic_fetch_sub(&s->pending, n);
    uv_cond_broadcast(&s->flushed);
    uv_mutex_unlock(&s->mu);
}

/* Retention on the writer's connection: records removed, or -1 (logged). */
static int64_t journal_prune(journal_store *s, int64_t now_ms) {
    char *err = NULL;
    int64_t n = journal_db_prune(s->wdb, s, now_ms, &err);
    if (n < 0) {
        LOG_WARN("journal retention failed", "path=%s error=\"%s\"", s->label, err);
        free(err);
    }
    return n;
}

/* A requested prune first (journal_store_prune_now waits for it), then the periodic one. */
static void journal_maybe_prune(journal_store *s) {
    uv_mutex_lock(&s->mu);
    int64_t req = s->prune_req_ms;
    s->prune_req_ms = 0;
    uv_mutex_unlock(&s->mu);
    if (req) {
        int64_t n = journal_prune(s, req);
        uv_mutex_lock(&s->mu);
        s->prune_result = n;
        s->prune_done = true;
        uv_cond_broadcast(&s->flushed);
        uv_mutex_unlock(&s->mu);
    }
    int64_t now = base_now_ms();
    if (now < s->next_prune_ms)
        return;
    s->next_prune_ms = now + (int64_t)s->opts.prune_every_ms;
    journal_prune(s, now);
}

static void journal_writer_main(void *arg) {
    journal_store *s = arg;
    journal_rec **recs = NULL;
    uint64_t *seqs = NULL;
    size_t cap = 0;
    for (;;) {
        uv_mutex_lock(&s->mu);
        while (!s->nqueue && !s->stop && !s->prune_req_ms) {
            int64_t wait = s->next_prune_ms - base_now_ms();
            if (wait <= 0)
                break;
            uv_cond_timedwait(&s->wake, &s->mu, (uint64_t)wait * 1000000ULL);
        }
        size_t n = s->nqueue;
        bool stop = s->stop;
        if (n) {
            /* Take the whole queue: everything appended while the last commit ran goes into
             * this transaction. */
            if (n > cap) {
                cap = s->capqueue;
                recs = base_xrealloc(recs, cap * sizeof *recs);
                seqs = base_xrealloc(seqs, cap * sizeof *seqs);
            }
            memcpy(recs, s->queue, n * sizeof *recs);
            memcpy(seqs, s->queue_seq, n * sizeof *seqs);
            s->nqueue = 0;
        }
        uv_mutex_unlock(&s->mu);
        if (n)
            journal_commit_batch(s, recs, seqs, n);
        else if (stop)
            break;
        journal_maybe_prune(s);
    }
    free(recs);
    free(seqs);
}

uint64_t journal_store_prune_now(journal_store *s, int64_t now_ms) {
    journal_store_flush(s);
    uv_mutex_lock(&s->mu);
    s->prune_req_ms = now_ms ? now_ms : 1;
    s->prune_done = false;
    uv_cond_signal(&s->wake);
    while (!s->prune_done && !s->stop)
        uv_cond_wait(&s->flushed, &s->mu);
    int64_t n = s->prune_done ? s->prune_result : -1;
    uv_mutex_unlock(&s->mu);
    return n < 0 ? 0 : (uint64_t)n;
}

/* ---- reads on the thread pool ----------------------------------------------------------- */

struct journal_read {
    uv_work_t work;
    journal_store *store;
    char *server;
    uint64_t after, before;
    size_t limit;
    unsigned dir_mask;
    journal_read_fn done;
    void *ud;
    bool cancelled;
    journal_rec **recs;
    size_t n;
    char *error;
};

static journal_db *journal_reader_take(journal_store *s, char **err) {
    uv_mutex_lock(&s->mu);
    journal_db *db = s->nreaders ? s->readers[--s->nreaders] : NULL;
    uv_mutex_unlock(&s->mu);
    return db ? db : journal_db_open(s->path, false, &s->opts, err);
}

static void journal_reader_give(journal_store *s, journal_db *db) {
    uv_mutex_lock(&s->mu);
    if (s->nreaders == s->capreaders) {
        s->capreaders = s->capreaders ? s->capreaders * 2 : 4;
        s->readers = base_xrealloc(s->readers, s->capreaders * sizeof *s->readers);
    }
    s->readers[s->nreaders++] = db;
    uv_mutex_unlock(&s->mu);
}

static void journal_read_work(uv_work_t *w) {
    journal_read *rd = w->data;
    journal_db *db = journal_reader_take(rd->store, &rd->error);
    if (!db)
        return;
    if (journal_db_read(db, rd->server, rd->after, rd->before, rd->limit, rd->dir_mask, &rd->recs,
                        &rd->n, &rd->error) < 0) {
        journal_db_close(db); /* may be broken: do not pool it */
        return;
    }
    journal_reader_give(rd->store, db);
}

static void journal_read_after(uv_work_t *w, int status) {
    journal_read *rd = w->data;
    if (!rd->cancelled) {
        const char *err = rd->error ? rd->error : status ? uv_strerror(status) : NULL;
        rd->done(rd->ud, err ? NULL : rd->recs, err ? 0 : rd->n, err);
        if (!err)
            rd->n = 0; /* the callee took or freed them */
    }
    for (size_t i = 0; i < rd->n; i++)
        journal_rec_free(rd->recs[i]);
    free(rd->recs);
    free(rd->error);
    free(rd->server);
    free(rd);
}

journal_read *journal_store_read(journal_store *s, const char *server, uint64_t after,
                                 uint64_t before, size_t limit, unsigned dir_mask,
                                 journal_read_fn done, void *ud) {
    journal_read *rd = base_xcalloc(1, sizeof *rd);
    rd->store = s;
    rd->server = base_xstrdup(server);
    rd->after = after;
    rd->before = before;
    rd->limit = limit;
    rd->dir_mask = dir_mask;
    rd->done = done;
    rd->ud = ud;
    rd->work.data = rd;
    uv_queue_work(s->loop, &rd->work, journal_read_work, journal_read_after);
    return rd;
}

void journal_read_cancel(journal_read *rd) {
    rd->cancelled = true;
}

/* ---- open and close --------------------------------------------------------------------- */

static void journal_opts_defaults(journal_opts *o, char **path_out, char **instance_out) {
    if (!o->max_age_ms)
        o->max_age_ms =
            base_env_int("SANDBOX_AGENT_JOURNAL_MAX_AGE_DAYS", 30, 1, 36500) * 86400000LL;
    if (!o->max_bytes)
        o->max_bytes = base_env_int("SANDBOX_AGENT_JOURNAL_MAX_BYTES", (int64_t)1 << 30,
                                    (int64_t)1 << 20, INT64_MAX);
    const char *sync = getenv("SANDBOX_AGENT_JOURNAL_SYNC");
    if (sync && strcmp(sync, "full") == 0)
        o->sync_full = true;
    if (!o->prune_every_ms)
        o->prune_every_ms = 60000;
    *path_out =
        o->path ? base_xstrdup(o->path) : base_xasprintf("%s/journal.sqlite3", base_data_dir());
    o->path = NULL;
    const char *inst = o->instance ? o->instance : getenv("SANDBOX_AGENT_JOURNAL_INSTANCE");
    *instance_out = inst && *inst ? base_xstrdup(inst) : NULL;
    o->instance = *instance_out;
}

journal_store *journal_store_open(uv_loop_t *loop, const journal_opts *opts, char **error) {
    journal_store *s = base_xcalloc(1, sizeof *s);
    s->loop = loop;
    if (opts)
        s->opts = *opts;
    journal_opts_defaults(&s->opts, &s->path, &s->instance);
    s->heads = base_map_new();
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->wake);
    uv_cond_init(&s->flushed);
    s->label = journal_db_label(s->path);
    s->wdb = journal_db_open(s->path, true, &s->opts, error);
    if (!s->wdb || journal_db_load(s->wdb, s, error) < 0) {
        if (s->wdb)
            journal_db_close(s->wdb);
        base_map_free(s->heads, journal_head_free);
        uv_mutex_destroy(&s->mu);
        uv_cond_destroy(&s->wake);
        uv_cond_destroy(&s->flushed);
        free(s->path);
        free(s->label);
        free(s->instance);
        free(s);
        return NULL;
    }
    s->next_prune_ms = base_now_ms() + 1000;
    if (uv_thread_create(&s->writer, journal_writer_main, s) != 0) {
        *error = base_xstrdup("cannot start the journal writer thread");
        journal_db_close(s->wdb);
        base_map_free(s->heads, journal_head_free);
        free(s->path);
        free(s->label);
        free(s->instance);
        free(s);
        return NULL;
    }
    LOG_INFO("journal open", "path=%s servers=%zu", s->label, base_map_count(s->heads));
    return s;
}

void journal_store_close(journal_store *s) {
    if (!s)
        return;
    uv_mutex_lock(&s->mu);
    s->stop = true;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->mu);
    uv_thread_join(&s->writer);
    char *err = NULL;
    if (journal_db_mark_clean(s->wdb, &err) < 0) {
        LOG_WARN("journal not marked clean", "path=%s error=\"%s\"", s->label, err);
        free(err);
    }
    journal_db_close(s->wdb);
    for (size_t i = 0; i < s->nreaders; i++)
        journal_db_close(s->readers[i]);
    free(s->readers);
    base_map_free(s->heads, journal_head_free);
    free(s->queue);
    free(s->queue_seq);
    free(s->degraded);
    uv_mutex_destroy(&s->mu);
    uv_cond_destroy(&s->wake);
    uv_cond_destroy(&s->flushed);
    free(s->path);
    free(s->label);
    free(s->instance);
    free(s);
}

const char *journal_store_path(const journal_store *s) {
    return s->label; /* shown to people: no password */
}
