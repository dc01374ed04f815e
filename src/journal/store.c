/* store.c - the journal store: id heads per ACP server, the commit queue (records and
 * session summaries) and its writer thread, retention, and reads on the thread pool that
 * also see what is not committed yet. The database code lives behind journal_db_*
 * (sqlite.c or pg.c, chosen by db.c).
 *
 * Locking: one mutex guards the queue, the batch being committed, the heads map, the
 * degraded text and the writer's wake-up; the loop holds it only for pointer swaps and
 * counters, a read for copying the uncommitted records it needs; never across I/O.
 *
 * Commit waiters (journal_store_when_committed) live on the loop thread only; the writer
 * learns under the mutex that some wait and then wakes the loop through a uv_async. */
#include "journal/internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

/* Ids of one server. Owner: the store's heads map. */
typedef struct journal_head {
    uint64_t last_id;      /* last handed out */
    uint64_t pruned_below; /* ids at or below are gone by retention */
    journal_gap *gaps;     /* crash gaps, oldest first */
    size_t ngaps;
} journal_head;

/* One queued write. Owner: the queue, then the writer's batch; journal_item_clear frees
 * what it holds once the batch is committed. */
typedef enum journal_item_kind {
    JOURNAL_ITEM_DEAD,   /* a put superseded by a later one for the same session */
    JOURNAL_ITEM_RECORD, /* rec */
    JOURNAL_ITEM_PUT,    /* session, json, ts_ms */
    JOURNAL_ITEM_DELETE  /* session */
} journal_item_kind;

typedef struct journal_item {
    journal_item_kind kind;
    uint64_t seq;
    journal_rec *rec;
    char *session;
    char *json;
    int64_t ts_ms;
} journal_item;

/* One journal_store_when_committed call. Owner: the store's waiter list (loop thread); freed
 * after its callback ran. */
typedef struct journal_waiter {
    uint64_t target; /* the sequence that must be committed */
    journal_committed_fn cb;
    void *ud;
    struct journal_waiter *next;
} journal_waiter;

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
    journal_item *queue;
    size_t nqueue, capqueue;
    /* The batch the writer is committing, reachable here until its commit finishes so that
     * reads can copy from it: the queue and the batch swap buffers. */
    journal_item *batch;
    size_t nbatch, capbatch;
    /* Session id -> 1 + queue index of its latest put, to coalesce the puts of a batch. */
    base_map *queued_puts;
    uint64_t next_seq;
    _Atomic uint64_t committed;
    _Atomic size_t pending; /* records queued + in the batch being written */
    bool stop;
    int flushers;   /* threads waiting in journal_store_flush: the writer commits at once */
    bool urgent;    /* a summary to commit at once is queued (journal_store_put_session_now) */
    bool waiting;   /* commit waiters exist: the writer wakes the loop after each commit */
    char *degraded; /* NULL when healthy */
    char degraded_copy[256];
    base_map *heads;
    int64_t next_prune_ms;
    /* journal_store_prune_now's request, served by the writer (the one thread that may use
     * wdb): its clock (0 = none), then the outcome. Under mu. */
    int64_t prune_req_ms;
    bool prune_done;
    int64_t prune_result;

    /* Commit waiters, oldest (lowest target) first; loop thread only. */
    journal_waiter *waiters, **waiters_tail;
    uv_async_t *async; /* the writer wakes the loop: a commit, or a failed one */

    uv_thread_t writer;
    /* The writer's scratch arrays for one step of a batch (writer thread only). */
    journal_rec **wrecs;
    journal_session_put *wputs;
    size_t wcap;
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

static void journal_item_clear(journal_item *it) {
    journal_rec_free(it->rec);
    free(it->session);
    free(it->json);
    memset(it, 0, sizeof *it);
}

/* Under mu: queue an item, wake the writer; returns its sequence. */
static uint64_t journal_enqueue(journal_store *s, journal_item it) {
    if (s->nqueue == s->capqueue) {
        s->capqueue = s->capqueue ? s->capqueue * 2 : 256;
        s->queue = base_xrealloc(s->queue, s->capqueue * sizeof *s->queue);
    }
    it.seq = ++s->next_seq;
    s->queue[s->nqueue++] = it;
    if (s->nqueue == 1)
        uv_cond_signal(&s->wake);
    return it.seq;
}

uint64_t journal_store_append(journal_store *s, journal_rec *r) {
    uv_mutex_lock(&s->mu);
    uint64_t seq = journal_enqueue(s, (journal_item){.kind = JOURNAL_ITEM_RECORD, .rec = r});
    atomic_fetch_add(&s->pending, 1);
    uv_mutex_unlock(&s->mu);
    return seq;
}

/* Under mu: the queued put of a session is superseded (a later put or a delete). */
static void journal_drop_queued_put(journal_store *s, const char *id) {
    uintptr_t at = (uintptr_t)base_map_del(s->queued_puts, id);
    if (at) {
        journal_item_clear(&s->queue[at - 1]);
        s->queue[at - 1].kind = JOURNAL_ITEM_DEAD;
    }
}

void journal_store_put_session(journal_store *s, const char *id, const char *json) {
    journal_item it = {.kind = JOURNAL_ITEM_PUT,
                       .session = base_xstrdup(id),
                       .json = base_xstrdup(json),
                       .ts_ms = base_now_ms()};
    uv_mutex_lock(&s->mu);
    /* The bridge puts a summary after every event: only the newest of a batch is written,
     * at the newest one's place in the queue, so it still follows the records before it. */
    journal_drop_queued_put(s, id);
    journal_enqueue(s, it);
    base_map_put(s->queued_puts, id, (void *)(uintptr_t)s->nqueue);
    uv_mutex_unlock(&s->mu);
}

void journal_store_put_session_now(journal_store *s, const char *id, const char *json) {
    journal_store_put_session(s, id, json);
    uv_mutex_lock(&s->mu);
    s->urgent = true;
    uv_cond_signal(&s->wake); /* the writer may be waiting for its batch to grow */
    uv_mutex_unlock(&s->mu);
}

void journal_store_delete_session(journal_store *s, const char *id) {
    journal_item it = {.kind = JOURNAL_ITEM_DELETE, .session = base_xstrdup(id)};
    uv_mutex_lock(&s->mu);
    journal_drop_queued_put(s, id);
    journal_enqueue(s, it);
    uv_mutex_unlock(&s->mu);
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
    s->flushers++;
    uv_cond_signal(&s->wake); /* cut a group-commit wait short */
    while (atomic_load(&s->committed) < target && !s->stop)
        uv_cond_wait(&s->flushed, &s->mu);
    s->flushers--;
    uv_mutex_unlock(&s->mu);
}

/* ---- commit waiters (loop thread) ---------------------------------------------------------- */

/* Call the waiters that can be answered: committed (0), or, when closing, not (UV_ECANCELED),
 * or, while commits fail, UV_EIO. A callback may add waiters: they are answered here too
 * when they can be. */
static void journal_waiters_run(journal_store *s, bool closing) {
    while (s->waiters) {
        journal_waiter *w = s->waiters;
        uv_mutex_lock(&s->mu);
        bool failing = s->degraded != NULL;
        uv_mutex_unlock(&s->mu);
        int status;
        if (atomic_load(&s->committed) >= w->target)
            status = 0;
        else if (closing)
            status = UV_ECANCELED;
        else if (failing)
            status = UV_EIO;
        else
            break; /* the rest have higher targets */
        s->waiters = w->next;
        if (!s->waiters)
            s->waiters_tail = &s->waiters;
        w->cb(w->ud, status);
        free(w);
    }
    uv_mutex_lock(&s->mu);
    s->waiting = s->waiters != NULL;
    uv_mutex_unlock(&s->mu);
    /* A waiter keeps the loop running (as a timer would); none: the store does not. */
    if (closing || uv_is_closing((uv_handle_t *)s->async))
        return;
    if (s->waiters)
        uv_ref((uv_handle_t *)s->async);
    else
        uv_unref((uv_handle_t *)s->async);
}

static void journal_async_cb(uv_async_t *a) {
    journal_waiters_run(a->data, false);
}

void journal_store_when_committed(journal_store *s, journal_committed_fn cb, void *ud) {
    journal_waiter *w = base_xcalloc(1, sizeof *w);
    w->cb = cb;
    w->ud = ud;
    uv_mutex_lock(&s->mu);
    w->target = s->next_seq;
    /* Under the mutex: a commit that ends after this sees it and wakes the loop; one that
     * ended before is seen by the callback the send below schedules. */
    s->waiting = true;
    uv_cond_signal(&s->wake); /* cut a group-commit wait short */
    uv_mutex_unlock(&s->mu);
    *s->waiters_tail = w;
    s->waiters_tail = &w->next;
    uv_ref((uv_handle_t *)s->async);
    uv_async_send(s->async); /* answered from the loop, never inside this call */
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
    if (why && s->waiting)
        uv_async_send(s->async); /* they hear that the disk fails rather than wait for it */
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

/* One transaction of a batch: records, or session puts, or one session delete. */
typedef struct journal_step {
    journal_rec **recs;
    size_t nrecs;
    journal_session_put *puts;
    size_t nputs;
    const char *deleted;
} journal_step;

static int journal_step_run(journal_store *s, const journal_step *st, char **err) {
    if (st->nrecs)
        return journal_db_append(s->wdb, st->recs, st->nrecs, err);
    if (st->nputs)
        return journal_db_put_sessions(s->wdb, st->puts, st->nputs, err);
    return journal_db_delete_session(s->wdb, st->deleted, err);
}

/* Run one step, retrying with backoff until it lands or the store stops: a failing disk
 * makes the journal degraded, never loses what it queued. */
static void journal_step_commit(journal_store *s, const journal_step *st) {
    uint64_t backoff = 50;
    for (;;) {
        char *err = NULL;
        if (journal_step_run(s, st, &err) == 0) {
            if (s->degraded)
                journal_set_degraded(s, NULL);
            return;
        }
        journal_set_degraded(s, err);
        uv_mutex_lock(&s->mu);
        bool stop = s->stop;
        uv_mutex_unlock(&s->mu);
        if (stop && backoff > 3200) {
            LOG_ERROR("journal writes lost at shutdown", "path=%s records=%zu sessions=%zu",
                      s->label, st->nrecs, st->nputs + (st->deleted != NULL));
            return;
        }
        journal_sleep_ms(&s->mu, &s->wake, backoff);
        if (backoff < 5000)
            backoff *= 2;
    }
}

/* Commit s->batch in order. A delete is a barrier: what precedes it is committed first and
 * what follows after. Between deletes, the records go first and the summaries after them
 * (the order a summary must keep is only to follow the records queued before it). */
static void journal_commit_batch(journal_store *s, size_t n) {
    journal_item *items = s->batch;
    if (n > s->wcap) {
        s->wcap = n;
        s->wrecs = base_xrealloc(s->wrecs, n * sizeof *s->wrecs);
        s->wputs = base_xrealloc(s->wputs, n * sizeof *s->wputs);
    }
    size_t records = 0;
    for (size_t i = 0; i < n;) {
        journal_step recs = {.recs = s->wrecs}, puts = {.puts = s->wputs};
        for (; i < n && items[i].kind != JOURNAL_ITEM_DELETE; i++) {
            if (items[i].kind == JOURNAL_ITEM_RECORD)
                recs.recs[recs.nrecs++] = items[i].rec;
            else if (items[i].kind == JOURNAL_ITEM_PUT)
                puts.puts[puts.nputs++] =
                    (journal_session_put){items[i].session, items[i].json, items[i].ts_ms};
        }
        if (recs.nrecs)
            journal_step_commit(s, &recs);
        if (puts.nputs)
            journal_step_commit(s, &puts);
        if (i < n)
            journal_step_commit(s, &(journal_step){.deleted = items[i++].session});
        records += recs.nrecs;
    }
    uv_mutex_lock(&s->mu);
    s->nbatch = 0; /* committed: reads find these in the database now */
    atomic_store(&s->committed, items[n - 1].seq);
    atomic_fetch_sub(&s->pending, records);
    uv_cond_broadcast(&s->flushed);
    if (s->waiting)
        uv_async_send(s->async);
    uv_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        journal_item_clear(&items[i]);
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

/* Under mu, with records queued: group commit. Give the batch up to commit_delay_ms to grow
 * before committing it, unless the store stops, a flush, a prune or a commit waiter waits,
 * or the batch is big already. Why: a transaction's fixed cost (the WAL frames of every b-tree page
 * it touched, the commit) dwarfs an insert's, and without the wait a bridge exchanging one envelope
 * at a time pays it per envelope, on a core the loop and the agents need. Appends only wake the
 * writer on an empty queue, so this wait is one sleep, not a wake-up per record. */
static void journal_group_wait(journal_store *s) {
    if (!s->opts.commit_delay_ms)
        return;
    uint64_t deadline = uv_hrtime() + s->opts.commit_delay_ms * 1000000ULL;
    while (!s->stop && !s->flushers && !s->prune_req_ms && !s->urgent && !s->waiting &&
           s->nqueue < JOURNAL_GROUP_MAX) {
        uint64_t now = uv_hrtime();
        if (now >= deadline || uv_cond_timedwait(&s->wake, &s->mu, deadline - now) != 0)
            break;
    }
}

static void journal_writer_main(void *arg) {
    journal_store *s = arg;
    /* The writer yields to the event loop when they compete for a core: a commit that takes
     * the loop's core shows in the bridge's tail latency. It still gets its share under
     * sustained load, and producers pause when it falls behind (journal_store_backlogged). */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        LOG_DEBUG("journal writer keeps the default priority", "errno=%d", errno);
    for (;;) {
        uv_mutex_lock(&s->mu);
        while (!s->nqueue && !s->stop && !s->prune_req_ms) {
            int64_t wait = s->next_prune_ms - base_now_ms();
            if (wait <= 0)
                break;
            uv_cond_timedwait(&s->wake, &s->mu, (uint64_t)wait * 1000000ULL);
        }
        if (s->nqueue)
            journal_group_wait(s);
        size_t n = s->nqueue;
        bool stop = s->stop;
        s->urgent = false;
        if (n) {
            /* Take the whole queue: everything appended while the last commit ran goes into
             * this batch. */
            journal_item *q = s->queue;
            size_t cap = s->capqueue;
            s->queue = s->batch;
            s->capqueue = s->capbatch;
            s->batch = q;
            s->capbatch = cap;
            s->nbatch = n;
            s->nqueue = 0;
            if (base_map_count(s->queued_puts)) {
                base_map_free(s->queued_puts, NULL);
                s->queued_puts = base_map_new();
            }
        }
        uv_mutex_unlock(&s->mu);
        if (n)
            journal_commit_batch(s, n);
        else if (stop)
            break;
        journal_maybe_prune(s);
    }
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

/* A read in flight. Owner: the read itself, freed in journal_read_after on the loop. */
struct journal_read {
    uv_work_t work;
    journal_store *store;
    char *server;           /* a server's records (journal_store_read), or */
    char *session;          /* a session's (journal_store_read_session) */
    uint64_t after, before; /* bounds on the key: id, or sidx (before 0 = none) */
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

/* What a read orders by and deduplicates on. */
static uint64_t journal_read_key(const journal_read *rd, const journal_rec *r) {
    return rd->session ? r->sidx : r->id;
}

static bool journal_read_matches(const journal_read *rd, const journal_rec *r) {
    if (rd->session) {
        if (!r->session || strcmp(r->session, rd->session) != 0)
            return false;
    } else if (strcmp(r->server, rd->server) != 0 || !(rd->dir_mask & (1u << r->dir))) {
        return false;
    }
    uint64_t key = journal_read_key(rd, r);
    return key > rd->after && (!rd->before || key < rd->before);
}

static journal_rec *journal_rec_dup(const journal_rec *r) {
    journal_rec *c =
        journal_rec_new(r->server, r->id, r->dir, r->connection, r->session, r->payload, r->len);
    c->ts_ms = r->ts_ms;
    c->sidx = r->sidx;
    return c;
}

/* qsort context is not portable: the two orders are two comparators. */
static int journal_cmp_id(const void *a, const void *b) {
    uint64_t x = (*(journal_rec *const *)a)->id, y = (*(journal_rec *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int journal_cmp_sidx(const void *a, const void *b) {
    uint64_t x = (*(journal_rec *const *)a)->sidx, y = (*(journal_rec *const *)b)->sidx;
    return x < y ? -1 : x > y;
}

/* Under mu: gather the uncommitted records a read must see, from the batch being committed
 * (older) then the queue. A queued delete of a session hides its records before it. */
static size_t journal_gather(const journal_read *rd, const journal_item *items, size_t n,
                             const journal_rec ***out, size_t count, size_t *cap) {
    for (size_t i = 0; i < n; i++) {
        const journal_item *it = &items[i];
        if (it->kind == JOURNAL_ITEM_DELETE) {
            size_t kept = 0;
            for (size_t j = 0; j < count; j++)
                if (!(*out)[j]->session || strcmp((*out)[j]->session, it->session) != 0)
                    (*out)[kept++] = (*out)[j];
            count = kept;
        } else if (it->kind == JOURNAL_ITEM_RECORD && journal_read_matches(rd, it->rec)) {
            if (count == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *out = base_xrealloc(*out, *cap * sizeof **out);
            }
            (*out)[count++] = it->rec;
        }
    }
    return count;
}

/* Copies of the matching records still queued or being committed: sorted by the read's key,
 * at most limit of them (no others can be among the first limit of the result). */
static journal_rec **journal_snapshot(journal_store *s, const journal_read *rd, size_t *nout) {
    const journal_rec **found = NULL;
    size_t n = 0, cap = 0;
    uv_mutex_lock(&s->mu);
    n = journal_gather(rd, s->batch, s->nbatch, &found, n, &cap);
    n = journal_gather(rd, s->queue, s->nqueue, &found, n, &cap);
    if (n > 1)
        qsort(found, n, sizeof *found, rd->session ? journal_cmp_sidx : journal_cmp_id);
    if (n > rd->limit)
        n = rd->limit;
    journal_rec **copies = n ? base_xcalloc(n, sizeof *copies) : NULL;
    for (size_t i = 0; i < n; i++)
        copies[i] = journal_rec_dup(found[i]);
    uv_mutex_unlock(&s->mu);
    free(found);
    *nout = n;
    return copies;
}

/* Merge the database's records with the uncommitted copies, both sorted by key, into
 * rd->recs: the database's wins a duplicate (the copy was committed meanwhile), at most
 * limit. Takes both arrays. */
static void journal_merge(journal_read *rd, journal_rec **db, size_t ndb, journal_rec **mem,
                          size_t nmem) {
    if (!nmem) {
        rd->recs = db;
        rd->n = ndb;
        return;
    }
    journal_rec **out = base_xcalloc(ndb + nmem, sizeof *out);
    size_t n = 0, i = 0, j = 0;
    while ((i < ndb || j < nmem) && n < rd->limit) {
        uint64_t kd = i < ndb ? journal_read_key(rd, db[i]) : UINT64_MAX;
        uint64_t km = j < nmem ? journal_read_key(rd, mem[j]) : UINT64_MAX;
        if (i < ndb && (j == nmem || kd <= km)) {
            if (j < nmem && kd == km)
                journal_rec_free(mem[j++]);
            out[n++] = db[i++];
        } else {
            out[n++] = mem[j++];
        }
    }
    for (; i < ndb; i++)
        journal_rec_free(db[i]);
    for (; j < nmem; j++)
        journal_rec_free(mem[j]);
    free(db);
    free(mem);
    rd->recs = out;
    rd->n = n;
}

static void journal_read_work(uv_work_t *w) {
    journal_read *rd = w->data;
    journal_store *s = rd->store;
    /* The copies first, the database after: a record committed in between is in both (and
     * deduplicated), none can be in neither. */
    size_t nmem = 0;
    journal_rec **mem = journal_snapshot(s, rd, &nmem);
    journal_rec **db_recs = NULL;
    size_t ndb = 0;
    journal_db *db = journal_reader_take(s, &rd->error);
    int rc = -1;
    if (db) {
        rc = rd->session ? journal_db_read_session(db, rd->session, rd->after, rd->limit, &db_recs,
                                                   &ndb, &rd->error)
                         : journal_db_read(db, rd->server, rd->after, rd->before, rd->limit,
                                           rd->dir_mask, &db_recs, &ndb, &rd->error);
        if (rc < 0)
            journal_db_close(db); /* may be broken: do not pool it */
        else
            journal_reader_give(s, db);
    }
    if (rc < 0) {
        for (size_t i = 0; i < nmem; i++)
            journal_rec_free(mem[i]);
        free(mem);
        return;
    }
    journal_merge(rd, db_recs, ndb, mem, nmem);
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
    free(rd->session);
    free(rd);
}

static journal_read *journal_read_start(journal_store *s, journal_read *rd, journal_read_fn done,
                                        void *ud) {
    rd->store = s;
    rd->done = done;
    rd->ud = ud;
    rd->work.data = rd;
    uv_queue_work(s->loop, &rd->work, journal_read_work, journal_read_after);
    return rd;
}

journal_read *journal_store_read(journal_store *s, const char *server, uint64_t after,
                                 uint64_t before, size_t limit, unsigned dir_mask,
                                 journal_read_fn done, void *ud) {
    journal_read *rd = base_xcalloc(1, sizeof *rd);
    rd->server = base_xstrdup(server);
    rd->after = after;
    rd->before = before;
    rd->limit = limit;
    rd->dir_mask = dir_mask;
    return journal_read_start(s, rd, done, ud);
}

journal_read *journal_store_read_session(journal_store *s, const char *session, uint64_t after_sidx,
                                         size_t limit, journal_read_fn done, void *ud) {
    journal_read *rd = base_xcalloc(1, sizeof *rd);
    rd->session = base_xstrdup(session);
    rd->after = after_sidx;
    rd->limit = limit;
    return journal_read_start(s, rd, done, ud);
}

void journal_read_cancel(journal_read *rd) {
    rd->cancelled = true;
}

int journal_store_load_sessions(journal_store *s, journal_session_fn fn, void *ud, char **error) {
    journal_store_flush(s); /* puts queued so far are stored ones too */
    journal_db *db = journal_reader_take(s, error);
    if (!db)
        return -1;
    if (journal_db_load_sessions(db, fn, ud, error) < 0) {
        journal_db_close(db);
        return -1;
    }
    journal_reader_give(s, db);
    return 0;
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
        o->prune_every_ms = (uint64_t)base_env_int("SANDBOX_AGENT_JOURNAL_PRUNE_INTERVAL_MS", 60000,
                                                   100, INT32_MAX);
    if (o->commit_delay_ms < 0)
        o->commit_delay_ms = 0;
    else if (!o->commit_delay_ms)
        o->commit_delay_ms =
            base_env_int("SANDBOX_AGENT_JOURNAL_COMMIT_DELAY_MS", JOURNAL_COMMIT_DELAY_MS, 0, 1000);
    *path_out =
        o->path ? base_xstrdup(o->path) : base_xasprintf("%s/journal.sqlite3", base_data_dir());
    o->path = NULL;
    const char *inst = o->instance ? o->instance : getenv("SANDBOX_AGENT_JOURNAL_INSTANCE");
    *instance_out = inst && *inst ? base_xstrdup(inst) : NULL;
    o->instance = *instance_out;
}

static void journal_async_free(uv_handle_t *h) {
    free(h);
}

/* The writer is gone. The server's final walk over the loop may have closed the handle
 * already (and the loop has run since): then it is only memory. */
static void journal_async_close(journal_store *s) {
    if (uv_is_closing((uv_handle_t *)s->async))
        free(s->async);
    else
        uv_close((uv_handle_t *)s->async, journal_async_free);
    s->async = NULL;
}

/* Free what a store holds once its writer is gone (or never started). */
static void journal_store_free(journal_store *s) {
    journal_db_close(s->wdb);
    for (size_t i = 0; i < s->nreaders; i++)
        journal_db_close(s->readers[i]);
    free(s->readers);
    base_map_free(s->heads, journal_head_free);
    free(s->queue);
    free(s->batch);
    free(s->wrecs);
    free(s->wputs);
    base_map_free(s->queued_puts, NULL);
    free(s->degraded);
    uv_mutex_destroy(&s->mu);
    uv_cond_destroy(&s->wake);
    uv_cond_destroy(&s->flushed);
    free(s->path);
    free(s->label);
    free(s->instance);
    free(s);
}

journal_store *journal_store_open(uv_loop_t *loop, const journal_opts *opts, char **error) {
    journal_store *s = base_xcalloc(1, sizeof *s);
    s->loop = loop;
    if (opts)
        s->opts = *opts;
    journal_opts_defaults(&s->opts, &s->path, &s->instance);
    s->heads = base_map_new();
    s->queued_puts = base_map_new();
    uv_mutex_init(&s->mu);
    uv_cond_init(&s->wake);
    uv_cond_init(&s->flushed);
    s->waiters_tail = &s->waiters;
    s->label = journal_db_label(s->path);
    s->wdb = journal_db_open(s->path, true, &s->opts, error);
    if (!s->wdb || journal_db_load(s->wdb, s, error) < 0) {
        journal_store_free(s);
        return NULL;
    }
    s->next_prune_ms = base_now_ms() + 1000;
    s->async = base_xmalloc(sizeof *s->async);
    uv_async_init(loop, s->async, journal_async_cb);
    s->async->data = s;
    uv_unref((uv_handle_t *)s->async);
    if (uv_thread_create(&s->writer, journal_writer_main, s) != 0) {
        *error = base_xstrdup("cannot start the journal writer thread");
        journal_async_close(s);
        journal_store_free(s);
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
    journal_waiters_run(s, true); /* the writer committed what it could: everyone hears */
    journal_async_close(s);
    journal_store_free(s);
}

const char *journal_store_path(const journal_store *s) {
    return s->label; /* shown to people: no password */
}

const char *journal_store_backend(const journal_store *s) {
    return journal_db_backend(s->path);
}
