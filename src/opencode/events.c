/* events.c - the OpenCode event bus and its SSE streams, GET /event and GET /global/event
 * (§12): one process-wide broadcast, every event numbered from 1 and kept in a ring for
 * Last-Event-ID replays; a server.heartbeat data event every 30 s; server.connected and
 * worktree.ready announced at each connect. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

#define OPENCODE_HEARTBEAT_MS 30000

/* One subscriber. Owner: the bus list; freed from its stream's on_close. */
struct opencode_sub {
    opencode *oc; /* NULL once the API is freed */
    http_sse *sse;
    opencode_sub *next, *prev;
};

static base_rcbuf *opencode_frame(uint64_t id, const char *type, json_t *props) {
    json_t *ev = json_pack("{s:s,s:o}", "type", type, "properties", props);
    char *data = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ev);
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)id);
    base_rcbuf *f = http_sse_frame(NULL, id ? idbuf : NULL, data, strlen(data));
    free(data);
    return f;
}

static void opencode_send_all(opencode *oc, base_rcbuf *frame) {
    for (opencode_sub *s = oc->subs; s; s = s->next)
        http_sse_send(s->sse, frame); /* a dropped stream reports on_close later */
}

void opencode_emit(opencode *oc, const char *type, json_t *props) {
    uint64_t id = ++oc->last_event;
    base_rcbuf *f = opencode_frame(id, type, props);
    size_t slot = id % OPENCODE_RING;
    if (oc->ring[slot].frame)
        base_rcbuf_unref(oc->ring[slot].frame);
    oc->ring[slot].id = id;
    oc->ring[slot].frame = f;
    opencode_send_all(oc, f);
}

static void opencode_heartbeat_cb(uv_timer_t *t) {
    opencode *oc = t->data;
    base_rcbuf *f = opencode_frame(0, "server.heartbeat", json_object());
    opencode_send_all(oc, f);
    base_rcbuf_unref(f);
}

static void opencode_sub_closed(http_sse *sse, void *ud) {
    opencode_sub *s = ud;
    opencode *oc = s->oc;
    if (oc) {
        if (s->prev)
            s->prev->next = s->next;
        else
            oc->subs = s->next;
        if (s->next)
            s->next->prev = s->prev;
        if (!oc->subs)
            uv_timer_stop(oc->heartbeat);
    }
    free(s);
}

static void opencode_event_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    /* A Last-Event-ID that is not a number is ignored (§12.1), not refused. */
    uint64_t after = 0;
    const char *lei = http_req_header(req, "last-event-id");
    bool replay = lei && http_sse_parse_id(lei, &after) == 1;
    char *dir = opencode_directory(req);
    http_sse_opts o = {
        .heartbeat_ms = 15000, .heartbeat_comment = NULL, .on_close = opencode_sub_closed};
    opencode_sub *s = base_xcalloc(1, sizeof *s);
    o.ud = s;
    s->sse = http_sse_start(req, &o);
    if (!s->sse) { /* HEAD */
        free(s);
        free(dir);
        return;
    }
    s->oc = oc;
    base_rcbuf *hb = opencode_frame(0, "server.heartbeat", json_object());
    http_sse_send(s->sse, hb);
    base_rcbuf_unref(hb);
    if (replay) {
        uint64_t first = oc->last_event > OPENCODE_RING ? oc->last_event - OPENCODE_RING + 1 : 1;
        for (uint64_t id = after + 1 > first ? after + 1 : first; id <= oc->last_event; id++) {
            size_t slot = id % OPENCODE_RING;
            if (oc->ring[slot].id == id)
                http_sse_send(s->sse, oc->ring[slot].frame);
        }
    }
    s->next = oc->subs;
    if (oc->subs)
        oc->subs->prev = s;
    oc->subs = s;
    if (!uv_is_active((uv_handle_t *)oc->heartbeat))
        uv_timer_start(oc->heartbeat, opencode_heartbeat_cb, OPENCODE_HEARTBEAT_MS,
                       OPENCODE_HEARTBEAT_MS);
    /* Everyone hears of a new connection, as in the reference (Q23). */
    opencode_emit(oc, "server.connected", json_object());
    opencode_emit(oc, "worktree.ready", json_pack("{s:s,s:s}", "branch", "main", "name", dir));
    free(dir);
}

void opencode_events_routes(opencode *oc, http_server *srv) {
    oc->heartbeat = base_xmalloc(sizeof *oc->heartbeat);
    uv_timer_init(oc->loop, oc->heartbeat);
    oc->heartbeat->data = oc;
    http_route(srv, HTTP_M_GET, "/opencode/event", OPENCODE_ROUTE, opencode_event_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/global/event", OPENCODE_ROUTE, opencode_event_handler,
               oc);
}

static void opencode_timer_free(uv_handle_t *h) {
    free(h);
}

void opencode_events_free(opencode *oc) {
    for (opencode_sub *s = oc->subs; s; s = s->next) {
        s->oc = NULL; /* its on_close still comes: it frees only itself */
        http_sse_end(s->sse);
    }
    oc->subs = NULL;
    if (uv_is_closing((uv_handle_t *)oc->heartbeat))
        free(oc->heartbeat); /* the server's final walk closed it, and its callback ran */
    else
        uv_close((uv_handle_t *)oc->heartbeat, opencode_timer_free);
    for (size_t i = 0; i < OPENCODE_RING; i++)
        if (oc->ring[i].frame)
            base_rcbuf_unref(oc->ring[i].frame);
}
