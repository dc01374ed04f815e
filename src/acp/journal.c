/* journal.c - the event journal of one ACP server id: records every envelope in the durable
 * store (when there is one), and keeps the newest agent-to-client frames in a ring so that
 * live delivery and short replays never touch the disk.
 *
 * Why a ring beside the store: a client reconnecting a moment later (the common case) is
 * served from memory, synchronously; only one that has missed more than the ring holds is
 * replayed from the store (sse.c), page by page. */
#include "acp/acp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"

/* One subscriber. Owner: the journal's list; freed by acp_journal_unsubscribe. */
struct acp_journal_sub {
    acp_journal_sink sink;
    void *ud;
    acp_journal_sub *next, *prev;
};

typedef struct acp_ring_entry {
    uint64_t id;
    base_rcbuf *frame;
} acp_ring_entry;

struct acp_journal {
    journal_store *store; /* borrowed; NULL: memory only */
    char *server;
    acp_journal_sub *subs;
    acp_ring_entry *slots;
    size_t capacity;
    size_t count; /* entries held, <= capacity */
    size_t head;  /* index of the oldest entry */
    size_t bytes; /* frame bytes held */
    size_t max_bytes;
    uint64_t last_id;     /* the newest id handed out */
    uint64_t evicted_max; /* agent events up to here may be missing from the ring */
};

base_rcbuf *acp_sse_frame(uint64_t id, const char *json, size_t len) {
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    return http_sse_frame("message", ids, json, len);
}

acp_journal *acp_journal_new(journal_store *store, const char *server, size_t capacity,
                             size_t max_bytes) {
    acp_journal *j = base_xcalloc(1, sizeof *j);
    j->store = store;
    j->server = base_xstrdup(server);
    j->capacity = capacity ? capacity : 1;
    j->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
    j->slots = base_xcalloc(j->capacity, sizeof(acp_ring_entry));
    /* What earlier lives of this server id recorded is in the store only. */
    if (store)
        j->last_id = j->evicted_max = journal_store_last_id(store, server);
    return j;
}

acp_journal *acp_journal_memory_new(size_t capacity, size_t max_bytes) {
    return acp_journal_new(NULL, "", capacity, max_bytes);
}

static void acp_ring_evict(acp_journal *j) {
    acp_ring_entry *e = &j->slots[j->head];
    j->bytes -= e->frame->len;
    if (e->id > j->evicted_max)
        j->evicted_max = e->id;
    base_rcbuf_unref(e->frame);
    e->frame = NULL;
    j->head = (j->head + 1) % j->capacity;
    j->count--;
}

static void acp_ring_push(acp_journal *j, uint64_t id, base_rcbuf *frame) {
    /* Evict the oldest until the new frame fits both bounds; the newest frame is always
     * kept, even alone above max_bytes, so live delivery never depends on the cap. */
    while (j->count && (j->count == j->capacity || j->bytes + frame->len > j->max_bytes))
        acp_ring_evict(j);
    size_t slot = (j->head + j->count) % j->capacity;
    j->count++;
    j->bytes += frame->len;
    j->slots[slot].id = id;
    j->slots[slot].frame = frame;
}

uint64_t acp_journal_record(acp_journal *j, int dir, const char *json, size_t len,
                            const char *connection, const char *session, uint64_t sidx,
                            int64_t ts_ms) {
    /* Ids number what SSE clients see, as the reference's do (from 1, consecutive): a
     * client's own messages are stored without one. */
    bool agent = dir == JOURNAL_FROM_AGENT;
    uint64_t id = 0;
    if (agent)
        id = j->store ? journal_store_next_id(j->store, j->server) : j->last_id + 1;
    if (j->store) {
        journal_rec *r = journal_rec_new(j->server, id, dir, connection, session, json, len);
        r->ts_ms = ts_ms;
        r->sidx = sidx;
        journal_store_append(j->store, r);
    }
    if (!agent)
        return 0;
    j->last_id = id;
    base_rcbuf *frame = acp_sse_frame(id, json, len);
    acp_ring_push(j, id, frame);
    /* The ring keeps its reference, sinks take their own; ours spans the walk in case a
     * sink causes an eviction. */
    base_rcbuf_ref(frame);
    acp_journal_sub *s = j->subs;
    while (s) {
        /* A sink may unsubscribe itself (slow consumer dropped): step first. */
        acp_journal_sub *next = s->next;
        s->sink(s->ud, id, frame);
        s = next;
    }
    base_rcbuf_unref(frame);
    return id;
}

uint64_t acp_journal_append(acp_journal *j, const char *json, size_t len) {
    return acp_journal_record(j, JOURNAL_FROM_AGENT, json, len, NULL, NULL, 0, base_now_ms());
}

void acp_journal_replay(acp_journal *j, uint64_t after, acp_journal_sink sink, void *ud) {
    for (size_t i = 0; i < j->count; i++) {
        acp_ring_entry *e = &j->slots[(j->head + i) % j->capacity];
        if (e->id > after)
            sink(ud, e->id, e->frame);
    }
}

bool acp_journal_ring_covers(const acp_journal *j, uint64_t after) {
    return !j->store || after >= j->evicted_max;
}

uint64_t acp_journal_last_id(const acp_journal *j) {
    return j->last_id;
}

journal_store *acp_journal_store(const acp_journal *j) {
    return j->store;
}

const char *acp_journal_server(const acp_journal *j) {
    return j->server;
}

acp_journal_sub *acp_journal_subscribe(acp_journal *j, acp_journal_sink sink, void *ud) {
    acp_journal_sub *s = base_xcalloc(1, sizeof *s);
    s->sink = sink;
    s->ud = ud;
    s->next = j->subs;
    if (j->subs)
        j->subs->prev = s;
    j->subs = s;
    return s;
}

void acp_journal_unsubscribe(acp_journal *j, acp_journal_sub *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        j->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

bool acp_journal_has_subscribers(const acp_journal *j) {
    return j->subs != NULL;
}

void acp_journal_free(acp_journal *j) {
    if (!j)
        return;
    while (j->subs)
        acp_journal_unsubscribe(j, j->subs);
    for (size_t i = 0; i < j->count; i++)
        base_rcbuf_unref(j->slots[(j->head + i) % j->capacity].frame);
    free(j->slots);
    free(j->server);
    free(j);
}
