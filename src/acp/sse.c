/* sse.c - the ACP event stream: GET /v1/acp/{serverId} replays the instance journal after
 * Last-Event-ID, then follows it live, with heartbeats while idle. */
#include "acp/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- SSE streams ----------------------------------------------------------------------- */

static void acp_stream_free_cb(uv_handle_t *h) {
    acp_stream *s = h->data;
    acp_instance *in = s->inst;
    if (s->prev)
        s->prev->next = s->next;
    else
        in->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    free(h);
    acp_maybe_free(in);
}

/* Stop delivering to a stream; the struct goes away once its timer has closed. */
static void acp_stream_detach(acp_stream *s) {
    if (s->sub) {
        acp_journal_unsubscribe(s->inst->journal, s->sub);
        s->sub = NULL;
    }
    if (s->req)
        http_req_on_abort(s->req, NULL, NULL);
    s->req = NULL;
    if (s->heartbeat && !uv_is_closing((uv_handle_t *)s->heartbeat))
        uv_close((uv_handle_t *)s->heartbeat, acp_stream_free_cb);
}

static void acp_stream_abort_cb(http_req *req, void *ud) {
    acp_stream *s = ud;
    s->req = NULL;
    acp_stream_detach(s);
}

static void acp_heartbeat_cb(uv_timer_t *t) {
    acp_stream *s = t->data;
    if (s->req)
        http_stream_write_str(s->req, ": heartbeat\n\n");
}

static void acp_stream_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    if (!s->req)
        return;
    if (!http_stream_write(s->req, frame))
        return; /* dropped: the abort callback detached us */
    uv_timer_again(s->heartbeat);
}

void acp_end_streams(acp_instance *in) {
    acp_stream *s = in->streams;
    while (s) {
        acp_stream *next = s->next;
        http_req *req = s->req;
        acp_stream_detach(s);
        if (req)
            http_stream_end(req);
        s = next;
    }
}

/* ---- GET (SSE) ------------------------------------------------------------------------------ */

static void acp_replay_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    if (s->req)
        http_stream_write(s->req, frame);
}

void acp_get_handler(http_req *req, void *ud) {
    acp_bridge *b = ud;
    if (!http_req_accepts(req, "text", "event-stream")) {
        http_problem_with_message(req, 406, "not_acceptable", "Not Acceptable", "not acceptable",
                                  "accept must allow text/event-stream");
        return;
    }
    uint64_t after = 0;
    const char *lei = http_req_header(req, "last-event-id");
    if (lei) {
        size_t n = strlen(lei);
        const char *t = base_trim(lei, &n);
        if (!base_parse_u64(t, n, &after)) {
            http_problem_invalid_request(req, "Last-Event-ID must be a positive integer");
            return;
        }
    }
    const char *server_id = http_req_param(req, 0);
    acp_instance *in = acp_find(b, server_id);
    if (!in) {
        char *detail = base_xasprintf("session not found: %s", server_id);
        http_reply_problem(req, 404, "session_not_found", "Session Not Found", detail,
                           json_pack("{s:s}", "sessionId", server_id));
        free(detail);
        return;
    }
    if (!http_stream_start(req, 200, "text/event-stream", "cache-control: no-cache\r\n"))
        return; /* HEAD: headers only, and req is gone */
    acp_stream *s = base_xcalloc(1, sizeof *s);
    s->inst = in;
    s->req = req;
    s->heartbeat = base_xmalloc(sizeof(uv_timer_t));
    uv_timer_init(b->loop, s->heartbeat);
    s->heartbeat->data = s;
    s->next = in->streams;
    if (in->streams)
        in->streams->prev = s;
    in->streams = s;
    http_req_on_abort(req, acp_stream_abort_cb, s);
    acp_journal_replay(in->journal, after, acp_replay_sink, s);
    if (!s->req)
        return; /* dropped during replay */
    s->sub = acp_journal_subscribe(in->journal, acp_stream_sink, s);
    uv_timer_start(s->heartbeat, acp_heartbeat_cb, b->heartbeat_ms, b->heartbeat_ms);
}

