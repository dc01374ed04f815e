/* events.c - GET /v1/sessions/{id}/events: a page of the session's SessionEvents read from
 * the journal, or, with Accept: text/event-stream, a follow: the journal's events after the
 * client's offset, then live ones as the bridge publishes them.
 *
 * Why the follow cannot lose or repeat an event: it listens to the index before its first
 * read and, while it replays, notes only the highest eventIndex published (`seen`). Every
 * published event was appended to the journal before it was published, and a read sees
 * every record appended before it started; so reading on until the replay reaches `seen`
 * (or a read comes back short, which proves nothing up to the `seen` of its start is
 * missing) covers everything, and from then on live events are sent as they come, each only
 * when its index is past the last one sent. Nothing is buffered while replaying: whatever a
 * listener skipped is in the journal, and the next read fetches it. */
#include "sessionapi/internal.h"

#include <stdlib.h>
#include <string.h>

#define SESSIONAPI_REPLAY_PAGE 256
/* Replay pacing: stop reading while this much is unsent, go on once it drained. */
#define SESSIONAPI_REPLAY_HIGH (1u << 20)
#define SESSIONAPI_REPLAY_LOW (256u << 10)

/* ---- SessionEvents ------------------------------------------------------------------------- */

static json_t *sessionapi_rec_json(const char *as_id, const journal_rec *r) {
    return sessions_event_json(as_id, r->server, r->id, r->sidx, r->ts_ms,
                               r->dir == JOURNAL_FROM_CLIENT, r->payload, r->len);
}

json_t *sessionapi_live_event_json(const char *as_id, const sessions_event *ev) {
    return sessions_event_json(as_id, ev->server, ev->id, ev->sidx, ev->ts_ms, ev->from_client,
                               ev->payload, ev->len);
}

base_rcbuf *sessionapi_event_frame(const json_t *event) {
    if (!event)
        return NULL;
    char id[24];
    snprintf(id, sizeof id, "%lld",
             (long long)json_integer_value(json_object_get(event, "eventIndex")));
    char *data = base_json_compact(event);
    base_rcbuf *f = http_sse_frame("session_event", id, data, strlen(data));
    free(data);
    return f;
}

/* The records are ours, the array the store's. */
static void sessionapi_free_recs(journal_rec **recs, size_t n) {
    for (size_t i = 0; i < n; i++)
        journal_rec_free(recs[i]);
}

static void sessionapi_problem_journal_disabled(http_req *req) {
    http_reply_problem(req, 409, "journal_disabled", "Journal Disabled",
                       "the server runs without a journal (--journal memory): past events are "
                       "not kept; follow them live with Accept: text/event-stream",
                       NULL);
}

/* ---- a page (JSON) ------------------------------------------------------------------------- */

/* One page being read. Owner: itself; freed when it answered or its request went away. */
typedef struct sessionapi_page {
    http_req *req;
    journal_read *rd;
    char *as_id;
    size_t limit;
} sessionapi_page;

static void sessionapi_page_free(sessionapi_page *p) {
    free(p->as_id);
    free(p);
}

static void sessionapi_page_abort(http_req *req, void *ud) {
    sessionapi_page *p = ud;
    journal_read_cancel(p->rd);
    sessionapi_page_free(p);
}

static void sessionapi_page_done(void *ud, journal_rec **recs, size_t n, const char *error) {
    sessionapi_page *p = ud;
    http_req_on_abort(p->req, NULL, NULL);
    if (error) {
        http_problem_with_message(p->req, 500, "journal_error", "Journal Error",
                                  "cannot read the journal", error);
    } else {
        /* One record more than asked tells whether another page follows. */
        json_t *items = json_array();
        uint64_t last = 0;
        for (size_t i = 0; i < n && i < p->limit; i++) {
            json_t *ev = sessionapi_rec_json(p->as_id, recs[i]);
            if (ev)
                json_array_append_new(items, ev);
            last = recs[i]->sidx;
        }
        json_t *page = json_pack("{s:o}", "items", items);
        if (n > p->limit)
            json_object_set_new(page, "nextOffset", json_integer((json_int_t)last));
        http_reply_json(p->req, 200, page);
    }
    sessionapi_free_recs(recs, n);
    sessionapi_page_free(p);
}

/* ---- the follow (SSE) ---------------------------------------------------------------------- */

/* One follow. Owner: its stream: freed by the stream's on_close. */
struct sessionapi_follow {
    sessionapi *api; /* NULL once the API was freed */
    http_sse *sse;
    char *session; /* the ACP sessionId (the index's key) */
    char *as_id;   /* the id the client asked with: the events' sessionId */
    sessions_listener *live;
    journal_read *rd; /* the replay's read in flight, or NULL */
    bool replaying;
    uint64_t sent;  /* highest eventIndex sent, or skipped as the client asked */
    uint64_t seen;  /* highest eventIndex published since listening */
    uint64_t asked; /* `seen` when the read in flight started */
    sessionapi_follow *next, *prev;
};

static void sessionapi_follow_send(sessionapi_follow *f, json_t *ev, uint64_t sidx) {
    if (sidx <= f->sent)
        return;
    f->sent = sidx;
    base_rcbuf *frame = sessionapi_event_frame(ev);
    if (frame) {
        http_sse_send(f->sse, frame);
        base_rcbuf_unref(frame);
    }
}

static void sessionapi_follow_live(void *ud, const sessions_event *ev) {
    sessionapi_follow *f = ud;
    if (f->replaying) {
        if (ev->sidx > f->seen)
            f->seen = ev->sidx; /* the replay reads it from the journal */
        return;
    }
    if (ev->sidx <= f->sent || !http_sse_is_open(f->sse))
        return;
    json_t *j = sessionapi_live_event_json(f->as_id, ev);
    sessionapi_follow_send(f, j, ev->sidx);
    json_decref(j);
}

static void sessionapi_follow_read(sessionapi_follow *f);

static void sessionapi_follow_pump(http_sse *sse, void *ud) {
    sessionapi_follow_read(ud);
}

static void sessionapi_follow_read_done(void *ud, journal_rec **recs, size_t n, const char *error) {
    sessionapi_follow *f = ud;
    f->rd = NULL;
    if (error) {
        LOG_WARN("session follow: journal read failed", "session=%s error=\"%s\"", f->session,
                 error);
        sessionapi_free_recs(recs, n);
        http_sse_end(f->sse);
        return;
    }
    for (size_t i = 0; i < n && http_sse_is_open(f->sse); i++) {
        json_t *ev = sessionapi_rec_json(f->as_id, recs[i]);
        sessionapi_follow_send(f, ev, recs[i]->sidx);
        json_decref(ev);
    }
    sessionapi_free_recs(recs, n);
    if (n < SESSIONAPI_REPLAY_PAGE && f->asked > f->sent)
        f->sent = f->asked; /* nothing up to it is left in the journal (pruned or deleted) */
    if (!http_sse_is_open(f->sse))
        return; /* its on_close follows */
    if (http_sse_queued(f->sse) > SESSIONAPI_REPLAY_HIGH)
        http_sse_on_drain(f->sse, SESSIONAPI_REPLAY_LOW, sessionapi_follow_pump, f);
    else
        sessionapi_follow_read(f);
}

/* The next page of the replay, or the switch to live once it has caught up. */
static void sessionapi_follow_read(sessionapi_follow *f) {
    if (!f->api || !http_sse_is_open(f->sse))
        return;
    if (f->sent >= f->seen) {
        f->replaying = false;
        return;
    }
    f->asked = f->seen;
    f->rd = journal_store_read_session(f->api->store, f->session, f->sent, SESSIONAPI_REPLAY_PAGE,
                                       sessionapi_follow_read_done, f);
}

static void sessionapi_follow_detach(sessionapi_follow *f) {
    if (!f->api)
        return;
    if (f->live)
        sessions_index_unlisten(f->api->ix, f->live);
    f->live = NULL;
    if (f->rd)
        journal_read_cancel(f->rd);
    f->rd = NULL;
    if (f->prev)
        f->prev->next = f->next;
    else
        f->api->follows = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->api = NULL;
}

static void sessionapi_follow_closed(http_sse *sse, void *ud) {
    sessionapi_follow *f = ud;
    sessionapi_follow_detach(f);
    free(f->session);
    free(f->as_id);
    free(f);
}

void sessionapi_follows_end(sessionapi *api, const char *session) {
    for (sessionapi_follow *f = api->follows; f; f = f->next)
        if (strcmp(f->session, session) == 0)
            http_sse_end(f->sse); /* freed by its on_close, from the loop */
}

void sessionapi_follows_free(sessionapi *api) {
    while (api->follows) {
        sessionapi_follow *f = api->follows;
        sessionapi_follow_detach(f);
        http_sse_end(f->sse);
    }
}

static void sessionapi_follow_start(sessionapi *api, http_req *req, const sessions_entry *e,
                                    uint64_t after) {
    sessionapi_follow *f = base_xcalloc(1, sizeof *f);
    http_sse_opts o = {.heartbeat_ms = api->heartbeat_ms,
                       .heartbeat_comment = "heartbeat",
                       .on_close = sessionapi_follow_closed,
                       .ud = f};
    f->sse = http_sse_start(req, &o);
    if (!f->sse) {
        free(f); /* HEAD: headers only, and req is gone */
        return;
    }
    f->api = api;
    f->session = base_xstrdup(e->id);
    f->as_id = base_xstrdup(http_req_param(req, 0));
    f->next = api->follows;
    if (api->follows)
        api->follows->prev = f;
    api->follows = f;
    f->sent = after;
    f->seen = e->events; /* every event up to it is in the journal already */
    f->live = sessions_index_listen(api->ix, f->session, sessionapi_follow_live, f);
    /* Without a journal there is nothing to replay: live events only. */
    f->replaying = api->store != NULL;
    if (f->replaying)
        sessionapi_follow_read(f);
}

/* ---- GET /v1/sessions/{id}/events ---------------------------------------------------------- */

void sessionapi_events_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    bool sse = sessionapi_wants_sse(req);
    uint64_t offset, limit, last_id = 0;
    if (!sessionapi_query_u64(req, "offset", 0, 0, UINT64_MAX, &offset) ||
        !sessionapi_query_u64(req, "limit", SESSIONAPI_LIMIT_DEFAULT, 1, SESSIONAPI_LIMIT_MAX,
                              &limit))
        return;
    int r = sse ? http_sse_last_event_id(req, &last_id) : 0;
    if (r < 0)
        return; /* answered 400 */
    const sessions_entry *e = sessionapi_find(api, req);
    if (!e)
        return;
    if (sse) {
        /* A reconnecting client's Last-Event-ID says where it stopped. */
        sessionapi_follow_start(api, req, e, r > 0 ? last_id : offset);
        return;
    }
    if (!api->store) {
        sessionapi_problem_journal_disabled(req);
        return;
    }
    sessionapi_page *p = base_xcalloc(1, sizeof *p);
    p->req = req;
    p->as_id = base_xstrdup(http_req_param(req, 0));
    p->limit = (size_t)limit;
    http_req_on_abort(req, sessionapi_page_abort, p);
    p->rd = journal_store_read_session(api->store, e->id, offset, p->limit + 1,
                                       sessionapi_page_done, p);
}
