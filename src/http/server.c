/* server.c - listener and connection engine: reading, parsing, pipelining, timeouts,
 * writes and closing.
 *
 * A connection holds at most one dispatched request. Bytes that arrive meanwhile are kept
 * (bounded) and parsed only after the answer is complete, which keeps pipelined responses
 * in order. We keep reading even while a request is in flight so that a client leaving an
 * idle stream is noticed at once. */
#include "http/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

/* One shared read slab: the loop is single-threaded and each read is consumed at once. */
static char http_read_slab[65536];
static bool http_slab_busy;

/* Unparsed input held while a request is in flight; past this we stop reading. */
#define HTTP_PENDING_INPUT_CAP (1u << 20)
#define HTTP_DRAIN_MS 2000

/* One queued write. Owner: libuv until the write callback, which frees it. */
typedef struct http_write {
    uv_write_t w;
    http_conn *conn;
    char *owned;
    base_rcbuf *rc;
    size_t bytes;
} http_write;

static void http_conn_process(http_conn *c);
static void http_conn_arm_timer(http_conn *c);
static void http_conn_start_reading(http_conn *c);
static void http_conn_fire_drain(http_conn *c);
static void http_conn_fail(http_conn *c, int status, const char *code, const char *title,
                           const char *prefix, const char *msg);

void http_config_defaults(http_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 2468;
    cfg->max_body_bytes = 32u << 20;
    cfg->header_timeout_ms = 30000;
    cfg->idle_timeout_ms = 120000;
    cfg->body_timeout_ms = 30000;
    cfg->write_timeout_ms = 60000;
    cfg->stream_queue_limit = 16u << 20;
}

static char **http_strv_dup(const char **v) {
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **out = base_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = base_xstrdup(v[i]);
    return out;
}

static void http_strv_free(const char **v) {
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free((char *)v[i]);
    free((void *)v);
}

static void http_resume_cb(uv_idle_t *h) {
    http_server *srv = h->data;
    /* Take the whole queue first: processing may enqueue connections again. */
    http_conn *list = srv->resume_head;
    srv->resume_head = NULL;
    uv_idle_stop(h);
    while (list) {
        http_conn *c = list;
        list = c->resume_next;
        c->resume_next = NULL;
        c->in_resume = false;
        if (c->drain_due && !c->closing)
            http_conn_fire_drain(c);
        if (!c->closing) {
            c->in_io = true;
            http_conn_process(c);
            c->in_io = false;
            http_conn_arm_timer(c);
        }
    }
}

http_server *http_server_new(uv_loop_t *loop, const http_config *cfg) {
    http_server *srv = base_xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->cfg.host = base_xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    srv->cfg.token = cfg->token ? base_xstrdup(cfg->token) : NULL;
    srv->cfg.cors_origins = (const char **)http_strv_dup(cfg->cors_origins);
    srv->cfg.cors_methods = (const char **)http_strv_dup(cfg->cors_methods);
    srv->cfg.cors_headers = (const char **)http_strv_dup(cfg->cors_headers);
    uv_idle_init(loop, &srv->resume_idle);
    srv->resume_idle.data = srv;
    return srv;
}

static void http_enqueue_resume(http_conn *c) {
    if (c->in_resume || c->closing || c->fake)
        return;
    c->in_resume = true;
    c->resume_next = c->srv->resume_head;
    c->srv->resume_head = c;
    uv_idle_start(&c->srv->resume_idle, http_resume_cb);
}

/* ---- connection lifetime -------------------------------------------------------------- */

static void http_conn_free(http_conn *c) {
    http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->conns == c)
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->in_resume) {
        for (http_conn **pp = &srv->resume_head; *pp; pp = &(*pp)->resume_next)
            if (*pp == c) {
                *pp = c->resume_next;
                break;
            }
    }
    base_buf_free(&c->in);
    base_buf_free(&c->url);
    base_buf_free(&c->hfield);
    base_buf_free(&c->hvalue);
    base_buf_free(&c->fake_out);
    free(c);
    srv->nconns--;
    if (srv->closing && srv->nconns == 0 && srv->closing_handles == 0 && srv->close_done) {
        void (*done)(void *) = srv->close_done;
        srv->close_done = NULL;
        done(srv->close_ud);
    }
}

static void http_conn_handle_closed(uv_handle_t *h) {
    http_conn *c = h->data;
    if (--c->open_handles == 0)
        http_conn_free(c);
}

void http_conn_close(http_conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    if (c->ws)
        http_ws_conn_closed(c); /* its owner hears on_close before anything is freed */
    /* Abort callbacks run first so owners drop their pointers before the request dies. */
    http_req *active = c->active;
    c->active = NULL;
    if (active) {
        /* Any request still active here is unfinished (completion clears c->active). */
        if (active->abort_cb)
            active->abort_cb(active, active->abort_ud);
        http_req_free(active);
    }
    if (c->cur) {
        http_req_free(c->cur);
        c->cur = NULL;
    }
    if (c->fake) {
        c->open_handles = 0;
        return; /* the test harness frees it */
    }
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    uv_close((uv_handle_t *)&c->timer, http_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, http_conn_handle_closed);
}

static void http_shutdown_cb(uv_shutdown_t *r, int status) {
    http_conn *c = r->data;
    if (c->closing)
        return;
    if (c->state == HTTP_CONN_DRAINING && status == 0 && c->reading) {
        http_conn_arm_timer(c); /* keep swallowing input until EOF or the drain timer */
        return;
    }
    http_conn_close(c);
}

static void http_conn_shutdown(http_conn *c) {
    if (c->closing || c->shutting_down)
        return;
    if (c->fake) {
        http_conn_close(c);
        return;
    }
    c->shutting_down = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, http_shutdown_cb) != 0)
        http_conn_close(c);
}

/* ---- writes ----------------------------------------------------------------------------- */

/* The producer waiting for the queue to drain gets its turn (once per registration). */
static void http_conn_fire_drain(http_conn *c) {
    void (*fn)(http_req *, void *) = c->drain_fn;
    void *ud = c->drain_ud;
    c->drain_fn = NULL;
    c->drain_due = false;
    if (fn && c->active && !c->closing)
        fn(c->active, ud);
}

static void http_write_cb(uv_write_t *w, int status) {
    http_write *hw = (http_write *)w;
    http_conn *c = hw->conn;
    c->write_pending -= hw->bytes;
    c->last_write_ms = base_mono_ms();
    free(hw->owned);
    base_rcbuf_unref(hw->rc);
    free(hw);
    if (c->closing)
        return;
    if (status < 0) {
        http_conn_close(c);
        return;
    }
    if (c->drain_fn && c->write_pending <= c->drain_low)
        http_conn_fire_drain(c);
    if (c->state == HTTP_CONN_HANDLING || c->state == HTTP_CONN_WS)
        http_conn_arm_timer(c);
}

void http_conn_write(http_conn *c, uv_buf_t *bufs, unsigned n, char *owned, base_rcbuf *rc) {
    if (c->fake && !c->closing && !c->shutting_down)
        for (unsigned i = 0; i < n; i++)
            base_buf_append(&c->fake_out, bufs[i].base, bufs[i].len);
    if (c->closing || c->shutting_down || c->fake) {
        free(owned);
        base_rcbuf_unref(rc);
        return;
    }
    http_write *hw = base_xcalloc(1, sizeof *hw);
    hw->conn = c;
    hw->owned = owned;
    hw->rc = rc;
    for (unsigned i = 0; i < n; i++)
        hw->bytes += bufs[i].len;
    bool was_idle = c->write_pending == 0;
    c->write_pending += hw->bytes;
    if (was_idle)
        c->last_write_ms = base_mono_ms();
    int r = uv_write(&hw->w, (uv_stream_t *)&c->tcp, bufs, n, http_write_cb);
    if (r < 0) {
        c->write_pending -= hw->bytes;
        free(owned);
        base_rcbuf_unref(rc);
        free(hw);
        http_conn_close(c);
        return;
    }
    if (was_idle && (c->state == HTTP_CONN_HANDLING || c->state == HTTP_CONN_WS))
        http_conn_arm_timer(c);
}

/* ---- timers ------------------------------------------------------------------------------ */

static void http_timer_cb(uv_timer_t *t) {
    http_conn *c = t->data;
    if (c->closing)
        return;
    switch (c->state) {
    case HTTP_CONN_IDLE:
        http_conn_close(c);
        break;
    case HTTP_CONN_HEADERS:
    case HTTP_CONN_BODY:
        /* Slow or stalled client: tell it why before closing. */
        http_conn_fail(c, 408, "timeout", "Request Timeout", "timeout",
                       "the client took too long to send the request");
        break;
    case HTTP_CONN_HANDLING:
        LOG_WARN("dropping connection whose output stalled", "pending_bytes=%zu", c->write_pending);
        http_conn_close(c);
        break;
    case HTTP_CONN_DRAINING:
        http_conn_close(c);
        break;
    case HTTP_CONN_WS:
        if (!c->ws_closing)
            LOG_WARN("dropping WebSocket peer whose output stalled", "pending_bytes=%zu",
                     c->write_pending);
        http_conn_close(c);
        break;
    }
}

static void http_conn_arm_timer(http_conn *c) {
    if (c->closing || c->fake)
        return;
    const http_config *cfg = &c->srv->cfg;
    uint64_t now = base_mono_ms(), due = 0;
    switch (c->state) {
    case HTTP_CONN_IDLE:
        due = cfg->idle_timeout_ms;
        break;
    case HTTP_CONN_HEADERS: {
        uint64_t spent = now - c->state_since_ms;
        due = spent >= cfg->header_timeout_ms ? 1 : cfg->header_timeout_ms - spent;
        break;
    }
    case HTTP_CONN_BODY:
        due = cfg->body_timeout_ms;
        break;
    case HTTP_CONN_HANDLING:
        if (c->write_pending == 0) {
            uv_timer_stop(&c->timer);
            return;
        }
        uint64_t spent = now - c->last_write_ms;
        due = spent >= cfg->write_timeout_ms ? 1 : cfg->write_timeout_ms - spent;
        break;
    case HTTP_CONN_DRAINING:
        due = HTTP_DRAIN_MS;
        break;
    case HTTP_CONN_WS:
        if (c->ws_closing) {
            due = HTTP_DRAIN_MS;
            break;
        }
        if (c->write_pending == 0) {
            uv_timer_stop(&c->timer);
            return;
        }
        uint64_t wspent = now - c->last_write_ms;
        due = wspent >= cfg->write_timeout_ms ? 1 : cfg->write_timeout_ms - wspent;
        break;
    }
    uv_timer_start(&c->timer, http_timer_cb, due ? due : 1, 0);
}

/* Inside a read or resume pass the timer is armed once at the end of the pass, for the
 * final state; a request answered synchronously then costs one timer update, not four. */
void http_conn_set_state(http_conn *c, http_conn_state s) {
    if (c->state != s) {
        c->state = s;
        c->state_since_ms = base_mono_ms();
    }
    if (!c->in_io)
        http_conn_arm_timer(c);
}

/* ---- input ---------------------------------------------------------------------------- */

/* Unparsed input is c->in.data[c->in_pos .. c->in.len). Consuming a request moves the offset,
 * not the bytes (Redis keeps qb_pos for the same reason): with many pipelined requests in
 * one read, moving the rest after each would be quadratic. The consumed prefix is dropped
 * once, when more input arrives. */
static size_t http_in_avail(const http_conn *c) {
    return c->in.len - c->in_pos;
}

static void http_in_consume(http_conn *c, size_t n) {
    c->in_pos += n;
    if (c->in_pos >= c->in.len)
        c->in.len = c->in_pos = 0;
}

static void http_in_append(http_conn *c, const char *data, size_t len) {
    if (c->in_pos) {
        memmove(c->in.data, c->in.data + c->in_pos, c->in.len - c->in_pos);
        c->in.len -= c->in_pos;
        c->in_pos = 0;
    }
    base_buf_append(&c->in, data, len);
}

/* ---- processing ---------------------------------------------------------------------- */

/* Answer a protocol-level error on a synthetic request, then drain and close. */
/* A streamed body broke off (too large, bad framing, too slow): its owner hears an abort
 * first, so it releases what it holds (a file descriptor, a temp file), and the client's
 * answer then goes out on that same request. Returns it, or NULL when none streams. */
static http_req *http_conn_abort_stream(http_conn *c) {
    http_req *req = HTTP_BODY_STREAMING(c) ? c->active : NULL;
    c->body = HTTP_BODY_NONE;
    if (req && req->abort_cb) {
        http_abort_fn fn = req->abort_cb;
        req->abort_cb = NULL;
        fn(req, req->abort_ud);
    }
    return req;
}

static void http_conn_fail(http_conn *c, int status, const char *code, const char *title,
                           const char *prefix, const char *msg) {
    http_req *req = http_conn_abort_stream(c);
    if (!req)
        req = c->cur ? c->cur : http_req_new(c);
    else if (c->cur)
        http_req_free(c->cur);
    c->cur = NULL;
    if (!req->method_name)
        req->method_name = base_xstrdup("?");
    if (!req->path)
        req->path = base_xstrdup("?");
    req->keep_alive = false;
    c->active = req;
    c->state = HTTP_CONN_HANDLING;
    http_problem_with_message(req, status, code, title, prefix, msg);
}

static void http_conn_dispatch(http_conn *c) {
    http_req *req = c->cur;
    c->cur = NULL;
    c->msg_complete = false;
    c->active = req;
    http_conn_set_state(c, HTTP_CONN_HANDLING);
    c->dispatching = true;
    http_router_dispatch(c->srv, req);
    c->dispatching = false;
}

/* A streamed body over its limit: the owner hears an abort, the client a 413. */
static void http_conn_body_too_large(http_conn *c) {
    http_req *req = http_conn_abort_stream(c);
    if (!req)
        return;
    char msg[96];
    snprintf(msg, sizeof msg, "request body exceeds the limit of %llu bytes",
             (unsigned long long)c->body_max);
    req->keep_alive = false;
    http_problem_with_message(req, 413, "invalid_request", "Payload Too Large", "invalid request",
                              msg);
}

/* Whether the parser may run now: between requests, or feeding an accepted body. */
static bool http_conn_can_parse(const http_conn *c) {
    if (c->closing || c->shutting_down || c->state == HTTP_CONN_DRAINING || c->ws)
        return false;
    if (!c->active)
        return true;
    return c->body == HTTP_BODY_FLOWING;
}

/* A fresh parser, for the next message after an upgrade we do not serve (h2c and friends
 * are ignored: the connection goes on as plain HTTP/1.1). */
static void http_conn_reset_parser(http_conn *c) {
    llhttp_init(&c->parser, HTTP_REQUEST, &http_parse_settings);
    c->parser.data = c;
}

/* Handle a pause: a complete head or message, a body chunk taken by a paused sink, or a
 * 413. Returns false when the connection must stop parsing for now. */
static bool http_conn_on_pause(http_conn *c) {
    if (c->reject_status == 413 && HTTP_BODY_STREAMING(c)) {
        c->reject_status = 0;
        http_conn_body_too_large(c);
        return false;
    }
    if (c->body == HTTP_BODY_EARLY) {
        c->body = HTTP_BODY_OFFERED;
        http_conn_dispatch(c);
        return true;
    }
    if (c->msg_complete && HTTP_BODY_STREAMING(c)) {
        /* The streamed body is complete: the handler answers now. */
        bool accepted = c->body != HTTP_BODY_OFFERED;
        c->msg_complete = false;
        c->body = HTTP_BODY_NONE;
        http_req *req = c->active;
        if (req && accepted) {
            http_conn_set_state(c, HTTP_CONN_HANDLING);
            c->dispatching = true;
            c->sink->on_end(req, c->sink_ud);
            c->dispatching = false;
        }
        return true;
    }
    if (c->reject_status == 413) {
        c->reject_status = 0;
        char msg[96];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes",
                 c->srv->cfg.max_body_bytes);
        http_conn_fail(c, 413, "invalid_request", "Payload Too Large", "invalid request", msg);
        return false;
    }
    if (c->msg_complete) {
        bool upgrade = c->parser.upgrade;
        http_conn_dispatch(c);
        if (c->ws) {
            /* Upgraded: whatever followed the request are WebSocket frames. */
            if (http_in_avail(c) && !c->closing)
                http_ws_feed(c, c->in.data + c->in_pos, http_in_avail(c));
            c->in.len = c->in_pos = 0;
            return false;
        }
        if (upgrade)
            http_conn_reset_parser(c);
    }
    return true;
}

/* A malformed request: 431 for an oversized head, else 400 with the parser's reason. */
static void http_conn_parse_error(http_conn *c, llhttp_errno_t err) {
    http_in_consume(c, http_in_avail(c));
    if (c->reject_status == 431) {
        c->reject_status = 0;
        http_conn_fail(c, 431, "invalid_request", "Request Header Fields Too Large",
                       "invalid request", "request headers exceed the server limit");
        return;
    }
    const char *why = llhttp_get_error_reason(&c->parser);
    char msg[160];
    snprintf(msg, sizeof msg, "%s (%s)", why && *why ? why : "malformed request",
             llhttp_errno_name(err));
    http_conn_fail(c, 400, "invalid_request", "Bad Request", "invalid request", msg);
}

/* Remember whether this pass ended in a line feed and blanks (see http_after_line_break). */
static void http_note_tail(http_conn *c, const char *data, size_t len) {
    const char *q = data + len;
    while (q > data && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    if (q > data)
        c->exec_tail_lf = q[-1] == '\n';
}

static void http_conn_process(http_conn *c) {
    while (http_conn_can_parse(c)) {
        size_t avail = http_in_avail(c);
        /* With no input, a streamed body still gets one empty pass: a sink that paused on
         * the last body bytes leaves the message's end pending inside the parser. */
        if (avail == 0 && !HTTP_BODY_STREAMING(c))
            break;
        const char *data = c->in.data + c->in_pos;
        c->exec_base = data;
        llhttp_errno_t err = llhttp_execute(&c->parser, data, avail);
        http_note_tail(c, data, avail);
        if (err == HPE_OK) {
            http_in_consume(c, avail);
            break;
        }
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t n = pos && pos >= data && pos <= data + avail ? (size_t)(pos - data) : avail;
        if (err == HPE_PAUSED) {
            http_in_consume(c, n);
            llhttp_resume(&c->parser);
            if (!http_conn_on_pause(c))
                return;
            continue;
        }
        if (err == HPE_PAUSED_UPGRADE) {
            /* Upgrade request whose message end was already handled: parse on afresh. */
            http_in_consume(c, n);
            http_conn_reset_parser(c);
            continue;
        }
        http_conn_parse_error(c, err);
        return;
    }
    if (!c->closing && !c->fake && !c->reading && http_in_avail(c) < HTTP_PENDING_INPUT_CAP &&
        !c->shutting_down && !c->saw_eof) {
        /* Input drained below the cap again: resume reading (see http_read_cb). */
        http_conn_start_reading(c);
    }
}

/* ---- reading --------------------------------------------------------------------------- */

static void http_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    if (!http_slab_busy) {
        http_slab_busy = true;
        *buf = uv_buf_init(http_read_slab, sizeof http_read_slab);
    } else {
        *buf = uv_buf_init(base_xmalloc(65536), 65536);
    }
}

static void http_release_buf(const uv_buf_t *buf) {
    if (buf->base == http_read_slab)
        http_slab_busy = false;
    else
        free(buf->base);
}

static void http_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    http_conn *c = s->data;
    if (nread > 0 && c->ws) {
        http_ws_feed(c, buf->base, (size_t)nread);
        http_release_buf(buf);
        return;
    }
    if (nread < 0) {
        http_release_buf(buf);
        if (HTTP_BODY_STREAMING(c)) {
            http_conn_close(c); /* the client left in the middle of its upload */
            return;
        }
        if (c->state == HTTP_CONN_HANDLING && c->active && c->active->resp == HTTP_RESP_NONE &&
            nread == UV_EOF) {
            /* Half-close after sending a full request is legal; answer, then close. */
            c->active->keep_alive = false;
            c->saw_eof = true;
            if (c->reading)
                uv_read_stop(s);
            c->reading = false;
            return;
        }
        http_conn_close(c);
        return;
    }
    if (nread == 0) {
        http_release_buf(buf);
        return;
    }
    if (c->state == HTTP_CONN_DRAINING) {
        http_release_buf(buf);
        return;
    }
    http_in_append(c, buf->base, (size_t)nread);
    http_release_buf(buf);
    if (!http_conn_can_parse(c)) {
        if (http_in_avail(c) >= HTTP_PENDING_INPUT_CAP) {
            uv_read_stop(s);
            c->reading = false;
        }
        return;
    }
    c->in_io = true;
    http_conn_process(c);
    c->in_io = false;
    /* Re-armed for the final state; in BODY this also restarts the slow-body clock. */
    http_conn_arm_timer(c);
}

static void http_conn_start_reading(http_conn *c) {
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, http_alloc_cb, http_read_cb) == 0)
        c->reading = true;
}

/* ---- request completion ------------------------------------------------------------------ */

void http_conn_request_done(http_conn *c, http_req *req) {
    if (c->active != req)
        return;
    /* A body the handler did not read to the end cannot be skipped safely: close. */
    bool keep = req->keep_alive && !c->srv->closing && !HTTP_BODY_STREAMING(c);
    c->body = HTTP_BODY_NONE;
    c->drain_fn = NULL;
    c->drain_due = false;
    LOG_DEBUG("request", "method=%s path=%s status=%d latency_ms=%llu", req->method_name, req->path,
              req->status, (unsigned long long)(base_mono_ms() - req->start_ms));
    c->active = NULL;
    http_req_free(req);
    if (!keep) {
        c->state = HTTP_CONN_DRAINING;
        http_conn_shutdown(c);
        return;
    }
    if (c->fake) {
        c->state = HTTP_CONN_IDLE;
        return;
    }
    http_conn_set_state(c, HTTP_CONN_IDLE);
    if (!c->dispatching)
        http_enqueue_resume(c);
}

/* ---- accepting ------------------------------------------------------------------------- */

static void http_conn_init_common(http_server *srv, http_conn *c) {
    c->srv = srv;
    http_conn_reset_parser(c);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
}

static void http_free_unaccepted(uv_handle_t *h) {
    free(h->data);
}

static void http_on_connection(uv_stream_t *l, int status) {
    http_server *srv = l->data;
    if (status < 0 || srv->closing)
        return;
    http_conn *c = base_xcalloc(1, sizeof *c);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, http_free_unaccepted);
        return;
    }
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    http_conn_init_common(srv, c);
    uv_tcp_nodelay(&c->tcp, 1);
    http_conn_set_state(c, HTTP_CONN_IDLE);
    http_conn_start_reading(c);
}

int http_server_listen(http_server *srv) {
    struct sockaddr_storage addr;
    int r = uv_ip4_addr(srv->cfg.host, srv->cfg.port, (struct sockaddr_in *)&addr);
    if (r != 0)
        r = uv_ip6_addr(srv->cfg.host, srv->cfg.port, (struct sockaddr_in6 *)&addr);
    if (r != 0)
        return r;
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->listening = true;
    r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->listener, 1024, http_on_connection);
    return r;
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void http_server_handle_closed(uv_handle_t *h) {
    http_server *srv = h->data;
    srv->closing_handles--;
    if (srv->closing && srv->nconns == 0 && srv->closing_handles == 0 && srv->close_done) {
        void (*done)(void *) = srv->close_done;
        srv->close_done = NULL;
        done(srv->close_ud);
    }
}

void http_server_close(http_server *srv, void (*done)(void *), void *ud) {
    srv->closing = true;
    srv->close_done = done;
    srv->close_ud = ud;
    srv->closing_handles = 1;
    uv_close((uv_handle_t *)&srv->resume_idle, http_server_handle_closed);
    if (srv->listening) {
        srv->closing_handles++;
        uv_close((uv_handle_t *)&srv->listener, http_server_handle_closed);
        srv->listening = false;
    }
    /* Streams end cleanly (terminating chunk); everything else is closed. Iterate on a
     * snapshot of next pointers because closing unlinks only in later callbacks. */
    for (http_conn *c = srv->conns; c; c = c->next) {
        if (c->closing)
            continue;
        if (c->ws) {
            http_ws_server_closing(c);
        } else if (c->active && http_resp_streaming(c->active)) {
            /* The owner lets go first (as promised in http.h), then the stream ends. */
            http_req *req = c->active;
            if (req->abort_cb) {
                http_abort_fn fn = req->abort_cb;
                req->abort_cb = NULL;
                fn(req, req->abort_ud);
            }
            if (c->active == req && !c->closing)
                http_stream_end(req);
        } else if (c->active)
            http_conn_close(c);
        else if (c->state == HTTP_CONN_IDLE || c->state == HTTP_CONN_HEADERS ||
                 c->state == HTTP_CONN_BODY)
            http_conn_close(c);
    }
}

void http_server_free(http_server *srv) {
    if (!srv)
        return;
    http_routes_free(srv);
    free((char *)srv->cfg.host);
    free((char *)srv->cfg.token);
    http_strv_free(srv->cfg.cors_origins);
    http_strv_free(srv->cfg.cors_methods);
    http_strv_free(srv->cfg.cors_headers);
    free(srv);
}

char *http_server_feed_for_test(http_server *srv, const char *data, size_t len, size_t *out_len) {
    http_conn *c = base_xcalloc(1, sizeof *c);
    c->fake = true;
    http_conn_init_common(srv, c);
    c->state = HTTP_CONN_IDLE;
    http_in_append(c, data, len);
    http_conn_process(c);
    /* A fake connection has no socket: anything still pending is aborted now. */
    http_conn_close(c);
    char *out = base_buf_steal(&c->fake_out, out_len);
    http_conn_free(c);
    return out;
}

/* ---- streamed request bodies ------------------------------------------------------------- */

void http_req_read_body(http_req *req, const http_body_sink *sink, void *ud, uint64_t max_bytes) {
    http_conn *c = req->conn;
    if (c->active != req || !HTTP_BODY_STREAMING(c))
        return;
    if (c->body == HTTP_BODY_OFFERED)
        c->body = HTTP_BODY_FLOWING;
    c->sink = sink;
    c->sink_ud = ud;
    c->body_max = max_bytes;
    c->body_seen = 0;
    if (req->content_length >= 0 && (uint64_t)req->content_length > max_bytes) {
        http_conn_body_too_large(c);
        return;
    }
    const char *expect = http_req_header(req, "expect");
    if (expect && !strcasecmp(expect, "100-continue") && req->content_length != 0 && !c->fake) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        http_conn_write(c, &b, 1, NULL, NULL);
    }
    http_conn_set_state(c, HTTP_CONN_BODY);
    if (!c->dispatching && !c->fake)
        http_enqueue_resume(c);
}

void http_req_pause_body(http_req *req) {
    http_conn *c = req->conn;
    /* Pausing is for a body being read (http_req_read_body came first). */
    if (c->active != req || c->body != HTTP_BODY_FLOWING)
        return;
    c->body = HTTP_BODY_PAUSED;
    http_conn_set_state(c, HTTP_CONN_HANDLING); /* our slowness is not the client's */
}

void http_req_resume_body(http_req *req) {
    http_conn *c = req->conn;
    if (c->active != req || c->body != HTTP_BODY_PAUSED)
        return;
    c->body = HTTP_BODY_FLOWING;
    http_conn_set_state(c, HTTP_CONN_BODY);
    if (c->fake)
        return;
    if (!c->dispatching)
        http_enqueue_resume(c);
}

/* ---- sized streams and drain ------------------------------------------------------------- */

size_t http_stream_queued(const http_req *req) {
    return req->conn->write_pending;
}

void http_stream_on_drain(http_req *req, size_t low_water, void (*fn)(http_req *req, void *ud),
                          void *ud) {
    http_conn *c = req->conn;
    c->drain_fn = fn;
    c->drain_ud = ud;
    c->drain_low = low_water;
    if (c->write_pending <= low_water) {
        /* Already drained: run from the loop, not from inside the producer's call. */
        c->drain_due = true;
        if (c->fake)
            http_conn_fire_drain(c);
        else
            http_enqueue_resume(c);
    }
}

/* ---- WebSocket takeover ------------------------------------------------------------------- */

void http_conn_ws_takeover(http_conn *c, http_req *req) {
    LOG_DEBUG("request", "method=%s path=%s status=101 latency_ms=%llu", req->method_name,
              req->path, (unsigned long long)(base_mono_ms() - req->start_ms));
    if (c->active == req)
        c->active = NULL;
    http_req_free(req);
    c->state = HTTP_CONN_WS;
    c->state_since_ms = base_mono_ms();
    http_conn_arm_timer(c);
}

void http_conn_ws_close_timer(http_conn *c) {
    c->ws_closing = true;
    http_conn_arm_timer(c);
}
