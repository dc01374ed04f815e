/* journal.c - the event journal of an ACP instance: the subscriber fan-out shared by every
 * implementation, and the in-memory ring used until a durable store takes over. */
#include "acp/acp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The ring. Owner: the instance (through the acp_journal base). */
typedef struct acp_ring {
    acp_journal base;
    acp_ring_entry *slots;
    size_t capacity;
    size_t count; /* entries held, <= capacity */
    size_t head;  /* index of the oldest entry */
    size_t bytes; /* frame bytes held */
    size_t max_bytes;
    uint64_t next_id;
} acp_ring;

base_rcbuf *acp_sse_frame(uint64_t id, const char *json, size_t len) {
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    return http_sse_frame("message", ids, json, len);
}

static void acp_ring_evict(acp_ring *r) {
    acp_ring_entry *e = &r->slots[r->head];
    r->bytes -= e->frame->len;
    base_rcbuf_unref(e->frame);
    e->frame = NULL;
    r->head = (r->head + 1) % r->capacity;
    r->count--;
}

static uint64_t acp_ring_append(acp_journal *j, const char *json, size_t len,
                                base_rcbuf **frame_out) {
    acp_ring *r = (acp_ring *)j;
    uint64_t id = r->next_id++;
    base_rcbuf *frame = acp_sse_frame(id, json, len);
    /* Evict the oldest until the new frame fits both bounds; the newest frame is always
     * kept, even alone above max_bytes, so live delivery never depends on the cap. */
    while (r->count && (r->count == r->capacity || r->bytes + frame->len > r->max_bytes))
        acp_ring_evict(r);
    size_t slot = (r->head + r->count) % r->capacity;
    r->count++;
    r->bytes += frame->len;
    r->slots[slot].id = id;
    r->slots[slot].frame = frame;
    *frame_out = frame;
    return id;
}

static void acp_ring_replay(acp_journal *j, uint64_t after, acp_journal_sink sink, void *ud) {
    acp_ring *r = (acp_ring *)j;
    for (size_t i = 0; i < r->count; i++) {
        acp_ring_entry *e = &r->slots[(r->head + i) % r->capacity];
        if (e->id > after)
            sink(ud, e->id, e->frame);
    }
}

static uint64_t acp_ring_last_id(acp_journal *j) {
    return ((acp_ring *)j)->next_id - 1;
}

static void acp_ring_destroy(acp_journal *j) {
    acp_ring *r = (acp_ring *)j;
    for (size_t i = 0; i < r->count; i++)
        base_rcbuf_unref(r->slots[(r->head + i) % r->capacity].frame);
    free(r->slots);
    free(r);
}

static const acp_journal_ops acp_ring_ops = {
    .append = acp_ring_append,
    .replay = acp_ring_replay,
    .last_id = acp_ring_last_id,
    .destroy = acp_ring_destroy,
};

acp_journal *acp_journal_memory_new(size_t capacity, size_t max_bytes) {
    acp_ring *r = base_xcalloc(1, sizeof *r);
    r->base.ops = &acp_ring_ops;
    r->capacity = capacity ? capacity : 1;
    r->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
    r->slots = base_xcalloc(r->capacity, sizeof(acp_ring_entry));
    r->next_id = 1;
    return &r->base;
}

uint64_t acp_journal_append(acp_journal *j, const char *json, size_t len) {
    base_rcbuf *frame = NULL;
    uint64_t id = j->ops->append(j, json, len, &frame);
    /* Deliver the stored frame; the store keeps its reference, sinks take their own. We
     * hold one across the loop in case a sink triggers eviction. */
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

void acp_journal_replay(acp_journal *j, uint64_t after_id, acp_journal_sink sink, void *ud) {
    j->ops->replay(j, after_id, sink, ud);
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

void acp_journal_free(acp_journal *j) {
    while (j->subs)
        acp_journal_unsubscribe(j, j->subs);
    j->ops->destroy(j);
}
