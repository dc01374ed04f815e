/* sse.c - Server-Sent Events over a chunked response: the one implementation behind every
 * event stream (ACP GET /v1/acp/{id}, the process log follow, and the journal's session
 * follow next).
 *
 * The helper owns the HTTP side of a stream: the response head, event framing, heartbeat
 * comments while idle, Last-Event-ID, drain pacing, and telling the owner once that the
 * stream is finished. The owner owns the events and writes them in whatever order it needs
 * (replay from a buffer or a database, then live), so a new event source needs no new
 * stream code.
 *
 * A consumer that does not read is dropped by http_stream_write once its unsent bytes pass
 * the server's stream_queue_limit (16 MiB by default): its connection closes, the request's
 * abort callback (ours) runs, and the owner hears on_close. on_close always comes from the
 * heartbeat timer's close callback, never from inside an owner's call: an owner that is
 * walking its subscribers while one of them is dropped keeps a valid list. */
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

/* One event stream. Owner: itself once started; it frees itself in its timer's close
 * callback, right after on_close, whether the owner ended the stream or the client left. */
struct http_sse {
    http_req *req;        /* NULL once the stream is finished */
    uv_timer_t heartbeat; /* always initialised: closing it is how the struct goes away */
    uint64_t heartbeat_ms;
    base_rcbuf *comment; /* the heartbeat frame */
    http_sse_close_fn on_close;
    void *ud;
    http_sse_drain_fn drain_fn;
    void *drain_ud;
};

/* ---- framing ------------------------------------------------------------------------------ */

void http_sse_format(base_buf *out, const char *event, const char *id, const char *data,
                     size_t len) {
    /* A line break in a field name or id would start a field of its own: callers pass
     * constants and numbers, so one here is a bug. */
    BASE_ASSERT(!event || !strpbrk(event, "\r\n"));
    BASE_ASSERT(!id || !strpbrk(id, "\r\n"));
    if (event)
        base_buf_appendf(out, "event: %s\n", event);
    if (id)
        base_buf_appendf(out, "id: %s\n", id);
    /* One data line per line of data: CRLF, CR and LF all end a line (the client joins the
     * lines with LF again). */
    size_t i = 0;
    for (;;) {
        size_t n = 0;
        while (i + n < len && data[i + n] != '\n' && data[i + n] != '\r')
            n++;
        base_buf_appends(out, "data: ");
        base_buf_append(out, data + i, n);
        base_buf_appends(out, "\n");
        i += n;
        if (i >= len)
            break;
        i += data[i] == '\r' && i + 1 < len && data[i + 1] == '\n' ? 2 : 1;
    }
    base_buf_appends(out, "\n");
}

base_rcbuf *http_sse_frame(const char *event, const char *id, const char *data, size_t len) {
    base_buf b;
    base_buf_init(&b);
    http_sse_format(&b, event, id, data, len);
    base_rcbuf *r = base_rcbuf_new(b.data, b.len);
    base_buf_free(&b);
    return r;
}

/* ---- Last-Event-ID ------------------------------------------------------------------------- */

int http_sse_parse_id(const char *value, uint64_t *out) {
    size_t n = strlen(value);
    const char *t = base_trim(value, &n);
    if (n == 0)
        return 0;    /* an empty header asks for nothing, as with the reference */
    if (*t == '+') { /* Rust's u64 parser takes a leading '+', so the reference does */
        t++;
        n--;
    }
    return base_parse_u64(t, n, out) ? 1 : -1;
}

int http_sse_last_event_id(http_req *req, uint64_t *out) {
    const char *v = http_req_header(req, "last-event-id");
    if (!v)
        return 0;
    int r = http_sse_parse_id(v, out);
    if (r < 0)
        http_problem_invalid_request(req, "Last-Event-ID must be a positive integer");
    return r;
}

/* ---- the stream --------------------------------------------------------------------------- */

static void http_sse_closed(uv_handle_t *h) {
    http_sse *s = h->data;
    if (s->on_close)
        s->on_close(s, s->ud);
    base_rcbuf_unref(s->comment);
    free(s);
}

/* The stream is finished: no more writes, the owner hears on_close from the loop. */
static void http_sse_finish(http_sse *s) {
    s->req = NULL;
    s->drain_fn = NULL;
    if (!uv_is_closing((uv_handle_t *)&s->heartbeat))
        uv_close((uv_handle_t *)&s->heartbeat, http_sse_closed);
}

static void http_sse_abort_cb(http_req *req, void *ud) {
    http_sse_finish(ud);
}

static void http_sse_heartbeat_cb(uv_timer_t *t) {
    http_sse *s = t->data;
    if (s->req)
        http_stream_write(s->req, s->comment);
}

http_sse *http_sse_start(http_req *req, const http_sse_opts *opts) {
    if (!http_stream_start(req, 200, "text/event-stream", "cache-control: no-cache\r\n"))
        return NULL; /* HEAD: headers only, and req is gone */
    http_sse *s = base_xcalloc(1, sizeof *s);
    s->req = req;
    s->on_close = opts->on_close;
    s->ud = opts->ud;
    s->heartbeat_ms = opts->heartbeat_ms;
    const char *c = opts->heartbeat_comment;
    BASE_ASSERT(!c || !strpbrk(c, "\r\n")); /* one comment line */
    char *frame = c && *c ? base_xasprintf(": %s\n\n", c) : base_xstrdup(":\n\n");
    s->comment = base_rcbuf_new(frame, strlen(frame));
    free(frame);
    uv_timer_init(req->conn->srv->loop, &s->heartbeat);
    s->heartbeat.data = s;
    http_req_on_abort(req, http_sse_abort_cb, s);
    if (s->heartbeat_ms)
        uv_timer_start(&s->heartbeat, http_sse_heartbeat_cb, s->heartbeat_ms, s->heartbeat_ms);
    return s;
}

bool http_sse_is_open(const http_sse *s) {
    return s->req != NULL;
}

bool http_sse_send(http_sse *s, base_rcbuf *frame) {
    if (!s->req)
        return false;
    if (!http_stream_write(s->req, frame))
        return false; /* dropped: our abort callback has finished the stream */
    if (s->heartbeat_ms)
        uv_timer_again(&s->heartbeat); /* the heartbeat is for idle streams only */
    return true;
}

bool http_sse_send_event(http_sse *s, const char *event, const char *id, const char *data,
                         size_t len) {
    if (!s->req)
        return false;
    base_rcbuf *f = http_sse_frame(event, id, data, len);
    bool ok = http_sse_send(s, f);
    base_rcbuf_unref(f);
    return ok;
}

size_t http_sse_queued(const http_sse *s) {
    return s->req ? http_stream_queued(s->req) : 0;
}

static void http_sse_drain_cb(http_req *req, void *ud) {
    http_sse *s = ud;
    http_sse_drain_fn fn = s->drain_fn;
    s->drain_fn = NULL;
    if (fn && s->req)
        fn(s, s->drain_ud);
}

void http_sse_on_drain(http_sse *s, size_t low_water, http_sse_drain_fn fn, void *ud) {
    if (!s->req)
        return;
    s->drain_fn = fn;
    s->drain_ud = ud;
    http_stream_on_drain(s->req, low_water, http_sse_drain_cb, s);
}

void http_sse_end(http_sse *s) {
    http_req *req = s->req;
    if (!req)
        return;
    http_req_on_abort(req, NULL, NULL);
    http_sse_finish(s);
    http_stream_end(req);
}

uint64_t http_sse_heartbeat_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_SSE_HEARTBEAT_MS", 15000, 10, INT32_MAX);
}
