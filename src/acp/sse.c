/* sse.c - the ACP event stream: GET /v1/acp/{serverId} replays the journal after
 * Last-Event-ID, then follows it live. The stream itself (framing, heartbeats while idle,
 * dropping a slow consumer) is the http layer's http_sse; this file ties it to a channel.
 *
 * A replay is served from the channel's ring when the ring still holds everything the client
 * missed; otherwise from the durable store, a page at a time, each page sent once the
 * previous one has drained, with no cap. The switch to live delivery is atomic: the stream
 * subscribes before the replay starts and holds the live events that arrive meanwhile; the
 * store read covers every id up to the one current at subscription (journal.h: reads see
 * records not yet committed), and the held events follow, each id sent once.
 *
 * Where the store has no records for ids a client asks for (retention pruned them, or an
 * unclean stop lost them), the stream says so before going on, with an `_adapter/gap`
 * notification whose SSE id is the last id of the range (docs/journal.md). */
#include "acp/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACP_REPLAY_PAGE 1000
/* A replay's writes: big enough to cost few system calls, small enough for the socket to take
 * at once. */
#define ACP_BATCH_BYTES (256u << 10)
/* With a store, only a replay this short comes from the ring in one go; a longer one pages
 * from the store, paced by the client. */
#define ACP_RING_REPLAY_MAX ACP_REPLAY_PAGE
/* Wait for the stream's queue to fall below this before the next page. */
#define ACP_REPLAY_LOW_WATER (256u << 10)
/* Live events held during a replay beyond this end the stream; the client reconnects with
 * its Last-Event-ID and continues from there. */
#define ACP_HELD_MAX_BYTES ((size_t)64 << 20)

/* ---- SSE streams ----------------------------------------------------------------------- */

static void acp_stream_drop_held(acp_stream *s) {
    for (size_t i = 0; i < s->nheld; i++)
        base_rcbuf_unref(s->held[i]);
    free(s->held);
    free(s->held_ids);
    s->held = NULL;
    s->held_ids = NULL;
    s->nheld = s->capheld = s->held_bytes = 0;
}

static void acp_stream_closed(http_sse *sse, void *ud) {
    acp_stream *s = ud;
    acp_channel *ch = s->chan;
    if (s->sub)
        acp_journal_unsubscribe(ch->journal, s->sub);
    if (s->rd)
        journal_read_cancel(s->rd);
    acp_stream_drop_held(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        ch->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    acp_channel_maybe_free(ch);
}

static void acp_stream_send(acp_stream *s, uint64_t id, base_rcbuf *frame) {
    if (id <= s->cursor)
        return; /* already sent (by the replay) */
    s->cursor = id;
    http_sse_send(s->sse, frame);
}

/* Live events: sent at once, or held while the store replay runs. A stream that is
 * finished (dropped, or the client left) ignores them until its on_close. */
static void acp_stream_live(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    if (!s->replaying) {
        acp_stream_send(s, id, frame);
        return;
    }
    if (s->held_bytes + frame->len > ACP_HELD_MAX_BYTES) {
        LOG_WARN("SSE client fell too far behind during a replay; ending its stream",
                 "server_id=%s", s->chan->server_id);
        acp_stream_drop_held(s);
        http_sse_end(s->sse);
        return;
    }
    if (s->nheld == s->capheld) {
        s->capheld = s->capheld ? s->capheld * 2 : 64;
        s->held = base_xrealloc(s->held, s->capheld * sizeof *s->held);
        s->held_ids = base_xrealloc(s->held_ids, s->capheld * sizeof *s->held_ids);
    }
    base_rcbuf_ref(frame);
    s->held[s->nheld] = frame;
    s->held_ids[s->nheld++] = id;
    s->held_bytes += frame->len;
}

void acp_end_streams(acp_instance *in) {
    for (acp_stream *s = in->chan->streams; s; s = s->next)
        http_sse_end(s->sse); /* each one is freed by its on_close, from the loop */
}

/* ---- replay from the store ------------------------------------------------------------ */

/* A replay goes out in batches, one write per page instead of one per event: per-event
 * writes made a 100,000-event replay spend half its time in writev. Owner: the caller's
 * stack. */
typedef struct acp_batch {
    acp_stream *s;
    base_buf out;
} acp_batch;

static void acp_batch_flush(acp_batch *b) {
    if (b->out.len) {
        base_rcbuf *all = base_rcbuf_new(b->out.data, b->out.len);
        http_sse_send(b->s->sse, all);
        base_rcbuf_unref(all);
        b->out.len = 0;
    }
}

static void acp_batch_add(acp_batch *b, uint64_t id, const char *frame, size_t len) {
    if (id <= b->s->cursor)
        return;
    b->s->cursor = id;
    base_buf_append(&b->out, frame, len);
    if (b->out.len >= ACP_BATCH_BYTES)
        acp_batch_flush(b);
}

static void acp_batch_send(acp_batch *b) {
    acp_batch_flush(b);
    base_buf_free(&b->out);
}

/* Tell the client about every gap that ends below `below` (the next id to send). */
static void acp_stream_gaps(acp_batch *b, uint64_t below) {
    acp_stream *s = b->s;
    while (s->gi < s->ngaps && s->gaps[s->gi].to < below) {
        journal_gap *g = &s->gaps[s->gi++];
        uint64_t from = g->from > s->cursor ? g->from : s->cursor + 1;
        if (g->to <= s->cursor)
            continue;
        json_t *n = json_pack("{s:s,s:s,s:{s:I,s:I,s:s}}", "jsonrpc", "2.0", "method",
                              "_adapter/gap", "params", "from", (json_int_t)from, "to",
                              (json_int_t)g->to, "reason", g->reason);
        char *line = base_json_compact(n);
        json_decref(n);
        base_rcbuf *frame = acp_sse_frame(g->to, line, strlen(line));
        free(line);
        acp_batch_add(b, g->to, frame->data, frame->len);
        base_rcbuf_unref(frame);
    }
}

/* The store part is done: what was held follows, then live events flow directly. */
static void acp_stream_go_live(acp_stream *s) {
    acp_batch b = {.s = s};
    acp_stream_gaps(&b, s->until + 1);
    s->replaying = false;
    for (size_t i = 0; i < s->nheld; i++)
        acp_batch_add(&b, s->held_ids[i], s->held[i]->data, s->held[i]->len);
    acp_batch_send(&b);
    acp_stream_drop_held(s);
}

static void acp_stream_next_page(acp_stream *s);

static void acp_stream_drained(http_sse *sse, void *ud) {
    acp_stream_next_page(ud);
}

static void acp_stream_page(void *ud, journal_rec **recs, size_t n, const char *error) {
    acp_stream *s = ud;
    s->rd = NULL;
    if (error) {
        LOG_ERROR("journal replay failed; ending the stream", "server_id=%s error=\"%s\"",
                  s->chan->server_id, error);
        http_sse_end(s->sse);
        return;
    }
    acp_batch b = {.s = s};
    base_buf frame;
    base_buf_init(&frame);
    for (size_t i = 0; i < n; i++) {
        acp_stream_gaps(&b, recs[i]->id);
        char ids[24];
        snprintf(ids, sizeof ids, "%llu", (unsigned long long)recs[i]->id);
        frame.len = 0;
        http_sse_format(&frame, "message", ids, recs[i]->payload, recs[i]->len);
        acp_batch_add(&b, recs[i]->id, frame.data, frame.len);
        journal_rec_free(recs[i]);
    }
    base_buf_free(&frame);
    acp_batch_send(&b);
    if (!http_sse_is_open(s->sse))
        return;
    if (n < ACP_REPLAY_PAGE || s->cursor >= s->until) {
        acp_stream_go_live(s);
        return;
    }
    if (http_sse_queued(s->sse) > ACP_REPLAY_LOW_WATER)
        http_sse_on_drain(s->sse, ACP_REPLAY_LOW_WATER, acp_stream_drained, s);
    else
        acp_stream_next_page(s);
}

static void acp_stream_next_page(acp_stream *s) {
    if (!http_sse_is_open(s->sse))
        return;
    journal_store *store = acp_journal_store(s->chan->journal);
    s->rd = journal_store_read(store, s->chan->server_id, s->cursor, s->until + 1, ACP_REPLAY_PAGE,
                               1u << JOURNAL_FROM_AGENT, acp_stream_page, s);
}

static void acp_ring_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_batch_add(ud, id, frame->data, frame->len);
}

/* Replay what the client missed after `after`, then go live. */
static void acp_stream_begin(acp_stream *s, uint64_t after) {
    acp_journal *j = s->chan->journal;
    /* An id from the future (another server's, or a typo) must not hide live events. */
    uint64_t last = acp_journal_last_id(j);
    s->cursor = after > last ? last : after;
    s->sub = acp_journal_subscribe(j, acp_stream_live, s);
    bool store = acp_journal_store(j) != NULL;
    if (acp_journal_ring_covers(j, after) && (!store || last - s->cursor <= ACP_RING_REPLAY_MAX)) {
        acp_batch b = {.s = s};
        acp_journal_replay(j, after, acp_ring_sink, &b);
        acp_batch_send(&b);
        return;
    }
    s->replaying = true;
    s->until = acp_journal_last_id(j);
    s->ngaps = journal_store_gaps(acp_journal_store(j), s->chan->server_id, after, s->gaps,
                                  sizeof s->gaps / sizeof s->gaps[0]);
    acp_stream_next_page(s);
}

/* ---- GET (SSE) ------------------------------------------------------------------------------ */

/* The channel a GET follows: a live instance's, or, with a store, that of a server id the
 * journal knows and nobody closed (its agent went with an earlier life of the server: the
 * history replays, and a new instance under the same id continues it live). NULL: unknown. */
static acp_channel *acp_get_channel(acp_bridge *b, const char *server_id) {
    acp_instance *in = acp_find(b, server_id);
    if (in)
        return in->chan;
    acp_channel *ch = acp_channel_get(b, server_id, false);
    if (ch)
        return ch;
    /* Closed by DELETE in this life: gone, as in the reference (its sessions' events stay
     * readable under /v1/sessions). */
    if (base_map_get(b->closed, server_id))
        return NULL;
    if (b->store && journal_store_last_id(b->store, server_id) > 0)
        return acp_channel_get(b, server_id, true);
    return NULL;
}

void acp_get_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    if (!http_req_accepts(req, "text", "event-stream")) {
        http_problem_with_message(req, 406, "not_acceptable", "Not Acceptable", "not acceptable",
                                  "accept must allow text/event-stream");
        return;
    }
    uint64_t after = 0;
    if (http_sse_last_event_id(req, &after) < 0)
        return; /* answered 400 */
    const char *server_id = http_req_param(req, 0);
    acp_channel *ch = acp_get_channel(b, server_id);
    if (!ch) {
        char *detail = base_xasprintf("session not found: %s", server_id);
        http_reply_problem(req, 404, "session_not_found", "Session Not Found", detail,
                           json_pack("{s:s}", "sessionId", server_id));
        free(detail);
        return;
    }
    acp_stream *s = base_xcalloc(1, sizeof *s);
    http_sse_opts o = {.heartbeat_ms = b->heartbeat_ms,
                       .heartbeat_comment = "heartbeat",
                       .on_close = acp_stream_closed,
                       .ud = s};
    s->sse = http_sse_start(req, &o);
    if (!s->sse) {
        free(s); /* HEAD: headers only, and req is gone */
        acp_channel_maybe_free(ch);
        return;
    }
    s->chan = ch;
    s->next = ch->streams;
    if (ch->streams)
        ch->streams->prev = s;
    ch->streams = s;
    acp_stream_begin(s, after);
}
