/* sse.c - the ACP event stream: GET /v1/acp/{serverId} replays the instance journal after
 * Last-Event-ID, then follows it live. The stream itself (framing, heartbeats while idle,
 * dropping a slow consumer) is the http layer's http_sse; this file ties it to a journal. */
#include "acp/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- SSE streams ----------------------------------------------------------------------- */

static void acp_stream_closed(http_sse *sse, void *ud) {
    acp_stream *s = ud;
    acp_instance *in = s->inst;
    if (s->sub)
        acp_journal_unsubscribe(in->journal, s->sub);
    if (s->prev)
        s->prev->next = s->next;
    else
        in->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    acp_maybe_free(in);
}

/* Replayed and live events alike: the journal's stored frame goes out as it is. A stream
 * that is finished (dropped, or the client left) ignores them until its on_close. */
static void acp_stream_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    acp_stream *s = ud;
    http_sse_send(s->sse, frame);
}

void acp_end_streams(acp_instance *in) {
    for (acp_stream *s = in->streams; s; s = s->next)
        http_sse_end(s->sse); /* each one is freed by its on_close, from the loop */
}

/* ---- GET (SSE) ------------------------------------------------------------------------------ */

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
    acp_instance *in = acp_find(b, server_id);
    if (!in) {
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
        return;
    }
    s->inst = in;
    s->next = in->streams;
    if (in->streams)
        in->streams->prev = s;
    in->streams = s;
    acp_journal_replay(in->journal, after, acp_stream_sink, s);
    if (http_sse_is_open(s->sse)) /* else dropped during the replay */
        s->sub = acp_journal_subscribe(in->journal, acp_stream_sink, s);
}
