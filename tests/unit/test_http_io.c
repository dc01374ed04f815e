/* test_http_io.c - the HTTP layer's socket-level features on a real loopback port:
 * streamed request bodies with backpressure, sized downloads paced by drain callbacks,
 * WebSocket upgrade/echo/close, and SSE heartbeats and the slow-consumer drop. The loop
 * runs on the main thread; a client thread speaks raw HTTP and WebSocket frames with
 * blocking sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "unit.h"
#include "http_fixture.h"

static uv_loop_t *loop;
static int port;

/* ---- server side ---------------------------------------------------------------------------- */

typedef struct upload {
    http_req *req;
    uint64_t bytes;
    uint32_t sum;
    uv_timer_t timer;
    int pauses;
} upload;

static void upload_closed(uv_handle_t *h) {
    free(h->data);
}

static void upload_resume(uv_timer_t *t) {
    upload *u = t->data;
    if (u->req)
        http_req_resume_body(u->req);
}

static void upload_data(http_req *req, const char *data, size_t len, void *ud) {
    upload *u = ud;
    u->bytes += len;
    for (size_t i = 0; i < len; i++)
        u->sum = u->sum * 31 + (unsigned char)data[i];
    /* Pretend every chunk needs a slow write: pause, resume from the loop. */
    http_req_pause_body(req);
    u->pauses++;
    uv_timer_start(&u->timer, upload_resume, 0, 0);
}

static void upload_end(http_req *req, void *ud) {
    upload *u = ud;
    u->req = NULL;
    http_reply_json(req, 200,
                    json_pack("{s:I,s:I,s:b}", "bytes", (json_int_t)u->bytes, "sum",
                              (json_int_t)u->sum, "paused", u->pauses > 0));
    uv_close((uv_handle_t *)&u->timer, upload_closed);
}

static void upload_abort(http_req *req, void *ud) {
    upload *u = ud;
    u->req = NULL;
    uv_close((uv_handle_t *)&u->timer, upload_closed);
}

static const http_body_sink upload_sink = {upload_data, upload_end};

static void upload_handler(http_req *req, void *ud) {
    upload *u = base_xcalloc(1, sizeof *u);
    u->req = req;
    uv_timer_init(loop, &u->timer);
    u->timer.data = u;
    http_req_on_abort(req, upload_abort, u);
    http_req_read_body(req, &upload_sink, u, 4u << 20);
}

typedef struct download {
    uint64_t left;
    uint64_t pos;
} download;

static void download_abort(http_req *req, void *ud) {
    free(ud);
}

static void download_pump(http_req *req, void *ud) {
    download *d = ud;
    /* Produce until 256 KiB are queued, then wait for the drain. */
    while (d->left && http_stream_queued(req) < (256u << 10)) {
        size_t n = d->left < 65536 ? (size_t)d->left : 65536;
        base_rcbuf *b = base_rcbuf_new(NULL, n);
        for (size_t i = 0; i < n; i++)
            b->data[i] = (char)((d->pos + i) % 251);
        d->pos += n;
        d->left -= n;
        http_stream_write(req, b);
        base_rcbuf_unref(b);
    }
    if (!d->left) {
        http_req_on_abort(req, NULL, NULL);
        http_stream_end(req);
        free(d);
        return;
    }
    http_stream_on_drain(req, 64u << 10, download_pump, d);
}

static void download_handler(http_req *req, void *ud) {
    char *n = NULL;
    uint64_t len = 0;
    if (http_query_get(req, "n", &n) == 1)
        base_parse_u64(n, strlen(n), &len);
    free(n);
    if (!http_stream_start_sized(req, 200, "application/octet-stream", NULL, len))
        return;
    download *d = base_xcalloc(1, sizeof *d);
    d->left = len;
    http_req_on_abort(req, download_abort, d);
    download_pump(req, d);
}

static int ws_closed;

static void ws_text(http_ws *ws, const char *data, size_t len, void *ud) {
    if (len == 5 && !memcmp(data, "close", 5)) {
        http_ws_close(ws, 1000, "bye");
        return;
    }
    http_ws_send_text(ws, data, len);
}

static void ws_binary(http_ws *ws, const char *data, size_t len, void *ud) {
    http_ws_send_binary(ws, data, len);
}

static void ws_close_cb(http_ws *ws, void *ud) {
    ws_closed++;
}

static const http_ws_callbacks ws_cb = {ws_text, ws_binary, ws_close_cb};

static void ws_handler(http_req *req, void *ud) {
    http_ws_accept(req, &ws_cb, NULL);
}

/* GET /sse-hb: one event, then heartbeat comments every few milliseconds while idle. */
static int sse_closes;
static void sse_closed(http_sse *s, void *ud) {
    sse_closes++;
}

static void sse_hb_handler(http_req *req, void *ud) {
    http_sse_opts o = {.heartbeat_ms = 5, .heartbeat_comment = "hb", .on_close = sse_closed};
    http_sse *s = http_sse_start(req, &o);
    if (s)
        CHECK(http_sse_send_event(s, "message", "1", "hello", 5));
}

/* GET /sse-flood: 64 KiB events, written at once, to a client that reads nothing until the
 * handler is done (flood_done): past the stream queue limit the stream is dropped. */
static sem_t flood_done;
static int flood_sent;
static bool flood_dropped, flood_open_after;

static void sse_flood_handler(http_req *req, void *ud) {
    http_sse_opts o = {.on_close = sse_closed};
    http_sse *s = http_sse_start(req, &o);
    CHECK(s != NULL);
    size_t n = 64u << 10;
    char *data = base_xmalloc(n);
    memset(data, 'x', n);
    base_rcbuf *f = http_sse_frame("message", NULL, data, n);
    free(data);
    for (int i = 0; i < 4096 && !flood_dropped; i++) {
        if (http_sse_send(s, f))
            flood_sent++;
        else
            flood_dropped = true;
    }
    base_rcbuf_unref(f);
    flood_open_after = http_sse_is_open(s);
    sem_post(&flood_done);
}

/* ---- client side (own thread, blocking sockets) ---------------------------------------------- */

static int cli_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void cli_send(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

/* Read until the buffer holds the end of headers plus `body` bytes (or EOF). */
static char *cli_read_response(int fd, size_t *total, size_t *hdr_len) {
    base_buf b;
    base_buf_init(&b);
    char tmp[65536];
    long want = -1;
    for (;;) {
        char *e = b.data ? strstr(b.data, "\r\n\r\n") : NULL;
        if (e && want < 0) {
            *hdr_len = (size_t)(e - b.data) + 4;
            char *cl = strstr(b.data, "content-length: ");
            want = cl && cl < e ? strtol(cl + 16, NULL, 10) : 0;
        }
        if (want >= 0 && b.len >= *hdr_len + (size_t)want)
            break;
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0)
            break;
        base_buf_append(&b, tmp, (size_t)r);
    }
    return base_buf_steal(&b, total);
}

static void test_upload(void) {
    int fd = cli_connect();
    CHECK(fd >= 0);
    size_t n = 3u << 20;
    char *body = base_xmalloc(n);
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(i * 7 % 256);
        sum = sum * 31 + (unsigned char)body[i];
    }
    char *head =
        base_xasprintf("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    cli_send(fd, head, strlen(head));
    cli_send(fd, body, n);
    size_t tot, hl = 0;
    char *resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 200", 12));
    char *expect = base_xasprintf("{\"bytes\":%zu,\"sum\":%u,\"paused\":true}", n, sum);
    CHECK(strstr(resp, expect) != NULL);
    free(resp);
    free(expect);
    /* Same connection: the next request still works (keep-alive after a streamed body). */
    const char *get = "GET /download?n=10 HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(fd, get, strlen(get));
    resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 200", 12) && tot == hl + 10);
    free(resp);
    /* Over the 4 MiB limit announced up front: 413 before any byte is read. */
    free(head);
    head = "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n";
    cli_send(fd, head, strlen(head));
    resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 413", 12));
    free(resp);
    free(body);
    close(fd);
    /* Chunked body over the limit: 413 once the limit is crossed. */
    fd = cli_connect();
    head = "PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    cli_send(fd, head, strlen(head));
    char chunk[70000];
    memset(chunk, 'a', sizeof chunk);
    char size[32];
    for (int i = 0; i < 70; i++) {
        snprintf(size, sizeof size, "%zx\r\n", sizeof chunk);
        cli_send(fd, size, strlen(size));
        cli_send(fd, chunk, sizeof chunk);
        cli_send(fd, "\r\n", 2);
    }
    resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 413", 12));
    free(resp);
    close(fd);
}

static void test_download(void) {
    int fd = cli_connect();
    size_t n = 20u << 20;
    char *get = base_xasprintf("GET /download?n=%zu HTTP/1.1\r\nHost: x\r\n\r\n", n);
    cli_send(fd, get, strlen(get));
    free(get);
    size_t tot, hl = 0;
    char *resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 200", 12));
    CHECK(tot == hl + n);
    bool ok = true;
    for (size_t i = 0; i < n && hl + i < tot; i++)
        if ((unsigned char)resp[hl + i] != i % 251)
            ok = false;
    CHECK(ok);
    free(resp);
    close(fd);
}

static void ws_send_frame(int fd, int opcode, const char *p, size_t n) {
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    }
    unsigned char mask[4] = {1, 2, 3, 4};
    memcpy(h + hl, mask, 4);
    hl += 4;
    cli_send(fd, h, hl);
    char *m = base_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        m[i] = (char)(p[i] ^ mask[i % 4]);
    cli_send(fd, m, n);
    free(m);
}

/* Reads one unmasked server frame; returns its opcode and payload (caller frees). */
static int ws_read_frame(int fd, char **payload, size_t *len) {
    unsigned char h[2];
    if (read(fd, h, 2) != 2)
        return -1;
    size_t n = h[1] & 0x7f;
    if (n == 126) {
        unsigned char e[2];
        if (read(fd, e, 2) != 2)
            return -1;
        n = (size_t)e[0] << 8 | e[1];
    }
    *payload = base_xmalloc(n + 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, *payload + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    (*payload)[n] = 0;
    *len = n;
    return h[0] & 0x0f;
}

static void test_ws(void) {
    int fd = cli_connect();
    const char *up = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: tty, other\r\n\r\n";
    cli_send(fd, up, strlen(up));
    char buf[1024];
    size_t got = 0;
    while (got < sizeof buf - 1) { /* headers only: the server sends nothing else yet */
        ssize_t r = read(fd, buf + got, 1);
        if (r <= 0)
            break;
        got++;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    CHECK(!strncmp(buf, "HTTP/1.1 101", 12));
    /* RFC 6455's own example key and accept value. */
    CHECK(strstr(buf, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL);
    CHECK(strstr(buf, "sec-websocket-protocol: tty\r\n") != NULL);
    ws_send_frame(fd, 1, "hello", 5);
    char *p = NULL;
    size_t n = 0;
    CHECK(ws_read_frame(fd, &p, &n) == 1 && n == 5 && !memcmp(p, "hello", 5));
    free(p);
    char big[300];
    memset(big, 'z', sizeof big);
    ws_send_frame(fd, 2, big, sizeof big);
    CHECK(ws_read_frame(fd, &p, &n) == 2 && n == sizeof big && p[299] == 'z');
    free(p);
    ws_send_frame(fd, 1, "close", 5);
    CHECK(ws_read_frame(fd, &p, &n) == 8); /* close frame from the server */
    free(p);
    ws_send_frame(fd, 8, "\x03\xe8", 2); /* answer it */
    CHECK(read(fd, buf, 1) == 0);        /* then the server closes the socket */
    close(fd);

    /* Missing upgrade headers: a 400 problem, not a crash. */
    fd = cli_connect();
    const char *plain = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(fd, plain, strlen(plain));
    size_t tot, hl = 0;
    char *resp = cli_read_response(fd, &tot, &hl);
    CHECK(!strncmp(resp, "HTTP/1.1 400", 12));
    CHECK(strstr(resp, "upgrade") != NULL);
    free(resp);
    close(fd);
}

static void test_sse(void) {
    /* Heartbeats: after the event, idle time brings ": hb" comment lines. */
    int fd = cli_connect();
    const char *get = "GET /sse-hb HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(fd, get, strlen(get));
    base_buf b;
    base_buf_init(&b);
    char tmp[4096];
    const char *ev = NULL, *hb = NULL;
    while (!hb) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0)
            break;
        base_buf_append(&b, tmp, (size_t)r);
        ev = strstr(b.data, "event: message\nid: 1\ndata: hello\n\n");
        hb = ev ? strstr(ev, "\r\n: hb\n\n\r\n") : NULL;
    }
    CHECK(!strncmp(b.data, "HTTP/1.1 200", 12));
    CHECK(ev != NULL && hb != NULL);
    base_buf_free(&b);
    close(fd);

    /* A consumer that reads nothing is dropped once its unsent bytes pass the limit: the
     * connection closes without the terminating chunk. */
    fd = cli_connect();
    get = "GET /sse-flood HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(fd, get, strlen(get));
    sem_wait(&flood_done);
    base_buf_init(&b);
    ssize_t r;
    while ((r = read(fd, tmp, sizeof tmp)) > 0)
        base_buf_append(&b, tmp, (size_t)r);
    CHECK(r == 0 || errno == ECONNRESET); /* the end of the connection, not a read timeout */
    CHECK(b.len > 12 && !strncmp(b.data, "HTTP/1.1 200", 12));
    CHECK(b.len < 5 || memcmp(b.data + b.len - 5, "0\r\n\r\n", 5) != 0);
    base_buf_free(&b);
    close(fd);
}

static void *client_main(void *arg) {
    test_upload();
    test_download();
    test_ws();
    test_sse();
    unit_client_done();
    return NULL;
}

static void run(void) {
    loop = uv_default_loop();
    http_config cfg;
    http_config_defaults(&cfg);
    cfg.port = 0;
    /* Find a free port by binding to 0 first. */
    port = unit_free_port();
    cfg.port = port;
    cfg.max_body_bytes = 1u << 20;     /* streamed routes have their own limit */
    cfg.stream_queue_limit = 1u << 20; /* the SSE flood test crosses it sooner */
    http_server *srv = http_server_new(loop, &cfg);
    http_route(srv, HTTP_M_PUT, "/upload", HTTP_ROUTE_STREAM_BODY, upload_handler, NULL);
    http_route(srv, HTTP_M_GET, "/download", 0, download_handler, NULL);
    http_route(srv, HTTP_M_GET, "/ws", 0, ws_handler, NULL);
    http_route(srv, HTTP_M_GET, "/sse-hb", 0, sse_hb_handler, NULL);
    http_route(srv, HTTP_M_GET, "/sse-flood", 0, sse_flood_handler, NULL);
    sem_init(&flood_done, 0, 0);
    CHECK(http_server_listen(srv) == 0);
    unit_run_client(loop, client_main);
    CHECK(ws_closed == 1); /* the echo socket told its owner it closed */
    /* The flood was cut off by the queue limit, not by running out of events, and the
     * stream reported itself finished at once. */
    CHECK(flood_dropped && flood_sent > 0 && !flood_open_after);
    http_server_close(srv, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(sse_closes == 2); /* each stream told its owner once */
    sem_destroy(&flood_done);
    http_server_free(srv);
    CHECK(uv_loop_close(loop) == 0);
}

UNIT_MAIN(setenv("SANDBOX_AGENT_LOG", "error", 1); base_log_init(); run())
