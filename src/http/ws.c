/* ws.c - WebSocket connections: the upgrade handshake (our code) and framing (wslay).
 *
 * After a successful handshake the HTTP connection belongs to its http_ws: bytes read
 * from the socket go to wslay, frames wslay wants to send become ordinary connection
 * writes. Ping/pong and the close handshake are wslay's; closing the socket, dropping a
 * peer that does not read, and telling the owner (on_close) are ours. */
#include "http/internal.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define HTTP_WS_MAX_MSG (16u << 20)
#define HTTP_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* One WebSocket. Owner: its connection (c->ws); freed when the connection closes, right
 * after on_close has run. */
struct http_ws {
    http_conn *conn;
    wslay_event_context_ptr ctx;
    http_ws_callbacks cb;
    void *ud;
    const char *in; /* bytes being handed to wslay by the current feed */
    size_t in_len;
    bool closing;
    int in_feed; /* >0 while wslay runs our callbacks: freeing waits for the feed's end */
    bool dead;   /* the connection is gone; free once no feed is running */
};

static void http_ws_free(http_ws *ws) {
    wslay_event_context_free(ws->ctx);
    free(ws);
}

/* ---- handshake helpers -------------------------------------------------------------------- */

/* True when a comma-separated header value contains token (case-insensitive). */
static bool http_ws_has_token(const char *value, const char *token) {
    size_t tl = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *t = base_trim(p, &n);
        if (n == tl && base_ascii_ieq(t, token, tl))
            return true;
        p = end;
    }
    return false;
}

static void http_ws_accept_key(const char *key, char out[BASE64_ENCODE_RAW_LENGTH(20) + 1]) {
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha);
    sha1_update(&sha, strlen(key), (const uint8_t *)key);
    sha1_update(&sha, sizeof HTTP_WS_GUID - 1, (const uint8_t *)HTTP_WS_GUID);
    sha1_digest(&sha, SHA1_DIGEST_SIZE, digest);
    base64_encode_raw((char *)out, SHA1_DIGEST_SIZE, digest);
    out[BASE64_ENCODE_RAW_LENGTH(20)] = 0;
}

/* ---- wslay callbacks ------------------------------------------------------------------------ */

static ssize_t http_ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                               void *user_data) {
    http_ws *ws = user_data;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t http_ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                               int flags, void *user_data) {
    http_ws *ws = user_data;
    http_conn *c = ws->conn;
    if (ws->dead || c->closing) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    char *copy = base_xmalloc(len);
    memcpy(copy, data, len);
    uv_buf_t b = base_uv_buf(copy, len);
    http_conn_write(c, &b, 1, copy, NULL);
    return (ssize_t)len;
}

static void http_ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                           void *user_data) {
    http_ws *ws = user_data;
    if (ws->dead || ws->conn->closing)
        return;
    if (a->opcode == WSLAY_TEXT_FRAME && ws->cb.on_text)
        ws->cb.on_text(ws, (const char *)a->msg, a->msg_length, ws->ud);
    else if (a->opcode == WSLAY_BINARY_FRAME && ws->cb.on_binary)
        ws->cb.on_binary(ws, (const char *)a->msg, a->msg_length, ws->ud);
}

static const struct wslay_event_callbacks http_ws_callbacks_tbl = {
    .recv_callback = http_ws_recv_cb,
    .send_callback = http_ws_send_cb,
    .on_msg_recv_callback = http_ws_msg_cb,
};

/* Push queued frames out; close the socket once both directions are finished. */
static void http_ws_flush(http_ws *ws) {
    http_conn *c = ws->conn;
    if (c->closing)
        return;
    if (wslay_event_send(ws->ctx) != 0) {
        http_conn_close(c);
        return;
    }
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))
        http_conn_close(c); /* close handshake complete */
}

/* ---- used by server.c ---------------------------------------------------------------------- */

void http_ws_feed(http_conn *c, const char *data, size_t len) {
    http_ws *ws = c->ws;
    ws->in = data;
    ws->in_len = len;
    /* A callback may drop the connection (say, a slow peer while answering); the ws and
     * its wslay context must outlive wslay_event_recv, so freeing waits for us. */
    ws->in_feed++;
    int r = wslay_event_recv(ws->ctx);
    ws->in_feed--;
    ws->in_len = 0;
    if (ws->dead) {
        http_ws_free(ws);
        return;
    }
    if (r != 0) {
        http_conn_close(c);
        return;
    }
    http_ws_flush(ws);
}

void http_ws_conn_closed(http_conn *c) {
    http_ws *ws = c->ws;
    c->ws = NULL;
    ws->dead = true;
    if (ws->cb.on_close)
        ws->cb.on_close(ws, ws->ud);
    if (!ws->in_feed)
        http_ws_free(ws);
}

void http_ws_server_closing(http_conn *c) {
    http_ws_close(c->ws, 1001, "server shutting down");
}

/* ---- public ------------------------------------------------------------------------------- */

bool http_ws_check_upgrade(http_req *req) {
    const char *upgrade = http_req_header(req, "upgrade");
    const char *connection = http_req_header(req, "connection");
    const char *version = http_req_header(req, "sec-websocket-version");
    const char *key = http_req_header(req, "sec-websocket-key");
    if (!connection || !http_ws_has_token(connection, "upgrade")) {
        http_problem_invalid_request(req, "Connection header did not include 'upgrade'");
        return false;
    }
    if (!upgrade || !http_ws_has_token(upgrade, "websocket")) {
        http_problem_invalid_request(req, "Upgrade header did not include 'websocket'");
        return false;
    }
    if (!version || strcmp(version, "13") != 0) {
        http_problem_invalid_request(req, "Sec-WebSocket-Version must be 13");
        return false;
    }
    if (!key || strlen(key) != 24) {
        http_problem_invalid_request(req, "Sec-WebSocket-Key must be 16 base64-encoded bytes");
        return false;
    }
    return true;
}

http_ws *http_ws_accept(http_req *req, const http_ws_callbacks *cb, void *ud) {
    http_conn *c = req->conn;
    if (!http_ws_check_upgrade(req))
        return NULL;
    if (c->fake) { /* no socket to take over */
        http_problem_invalid_request(req, "WebSocket needs a socket");
        return NULL;
    }
    char accept[BASE64_ENCODE_RAW_LENGTH(20) + 1];
    http_ws_accept_key(http_req_header(req, "sec-websocket-key"), accept);
    base_buf h;
    base_buf_init(&h);
    base_buf_appendf(&h,
                     "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                     "connection: upgrade\r\nsec-websocket-accept: %s\r\ndate: %s\r\n",
                     accept, http_date_now());
    const char *proto = http_req_header(req, "sec-websocket-protocol");
    if (proto && *proto) {
        /* Browsers and undici abort when an offered subprotocol is not echoed. */
        size_t n = strcspn(proto, ",");
        const char *first = base_trim(proto, &n);
        base_buf_appends(&h, "sec-websocket-protocol: ");
        base_buf_append(&h, first, n);
        base_buf_appends(&h, "\r\n");
    }
    base_buf_appends(&h, "\r\n");
    size_t hl;
    char *head = base_buf_steal(&h, &hl);
    uv_buf_t b = base_uv_buf(head, hl);
    http_conn_write(c, &b, 1, head, NULL);

    http_ws *ws = base_xcalloc(1, sizeof *ws);
    ws->conn = c;
    ws->cb = *cb;
    ws->ud = ud;
    if (wslay_event_context_server_init(&ws->ctx, &http_ws_callbacks_tbl, ws) != 0) {
        free(ws);
        http_conn_close(c);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, HTTP_WS_MAX_MSG);
    c->ws = ws;
    http_resp_set(req, HTTP_RESP_UPGRADED);
    req->status = 101;
    http_conn_ws_takeover(c, req);
    return ws;
}

static bool http_ws_queue(http_ws *ws, uint8_t opcode, const char *data, size_t len) {
    http_conn *c = ws->conn;
    if (ws->dead || !c || c->closing || ws->closing)
        return false;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (queued + len > c->srv->cfg.stream_queue_limit) {
        LOG_WARN("dropping slow WebSocket peer", "queued_bytes=%zu", queued);
        http_conn_close(c);
        return false;
    }
    struct wslay_event_msg m = {.opcode = opcode, .msg = (const uint8_t *)data, .msg_length = len};
    if (wslay_event_queue_msg(ws->ctx, &m) != 0)
        return false;
    if (!ws->in_feed) /* inside a feed, the feed flushes once wslay has returned */
        http_ws_flush(ws);
    return !c->closing;
}

bool http_ws_send_text(http_ws *ws, const char *data, size_t len) {
    return http_ws_queue(ws, WSLAY_TEXT_FRAME, data, len);
}

bool http_ws_send_binary(http_ws *ws, const char *data, size_t len) {
    return http_ws_queue(ws, WSLAY_BINARY_FRAME, data, len);
}

void http_ws_close(http_ws *ws, uint16_t code, const char *reason) {
    http_conn *c = ws->conn;
    if (ws->dead || ws->closing || c->closing)
        return;
    ws->closing = true;
    const char *r = reason ? reason : "";
    if (wslay_event_queue_close(ws->ctx, code, (const uint8_t *)r, strlen(r)) != 0) {
        http_conn_close(c);
        return;
    }
    if (!ws->in_feed)
        http_ws_flush(ws);
    /* A peer that never answers the close frame is cut off by the connection timer. */
    if (!c->closing)
        http_conn_ws_close_timer(c);
}
