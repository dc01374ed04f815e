/* test_http_sse.c - the http layer's Server-Sent Events helper and its WebSocket upgrade
 * check, without sockets: event framing, Last-Event-ID parsing, a stream's response head,
 * its end and its abort (on_close), and the 400 problems of a bad upgrade. Heartbeats and
 * the slow-consumer drop need a real socket: test_http_io.c has them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http.h"
#include "unit.h"
#include "http_fixture.h"

/* ---- framing ------------------------------------------------------------------------------ */

static bool frame_is(const char *event, const char *id, const char *data, size_t len,
                     const char *want, int line) {
    base_buf b;
    base_buf_init(&b);
    http_sse_format(&b, event, id, data, len);
    bool ok = b.len == strlen(want) && !memcmp(b.data, want, b.len);
    if (!ok)
        fprintf(stderr, "%s:%d: got [%.*s], want [%s]\n", __FILE__, line, (int)b.len,
                b.data ? b.data : "", want);
    base_buf_free(&b);
    return ok;
}
#define CHECK_FRAME(ev, id, data, want)                                                            \
    CHECK(frame_is((ev), (id), (data), strlen(data), (want), __LINE__))

static void test_framing(void) {
    /* Field order event, id, data; a blank line ends the event. */
    CHECK_FRAME("message", "3", "{\"a\":1}", "event: message\nid: 3\ndata: {\"a\":1}\n\n");
    CHECK_FRAME(NULL, NULL, "x", "data: x\n\n");
    CHECK_FRAME("log", NULL, "x", "event: log\ndata: x\n\n");
    CHECK_FRAME(NULL, "18446744073709551615", "x", "id: 18446744073709551615\ndata: x\n\n");
    /* Empty data is one empty data line (the client dispatches an event with data ""). */
    CHECK_FRAME("e", NULL, "", "event: e\ndata: \n\n");
    /* Every line of data gets its own data field; LF, CRLF and a lone CR all end a line,
     * so no CR or LF from the data reaches the wire unframed. */
    CHECK_FRAME(NULL, NULL, "a\nb", "data: a\ndata: b\n\n");
    CHECK_FRAME(NULL, NULL, "a\r\nb", "data: a\ndata: b\n\n");
    CHECK_FRAME(NULL, NULL, "a\rb", "data: a\ndata: b\n\n");
    CHECK_FRAME(NULL, NULL, "a\r\rb", "data: a\ndata: \ndata: b\n\n");
    CHECK_FRAME(NULL, NULL, "a\n\nb", "data: a\ndata: \ndata: b\n\n");
    CHECK_FRAME(NULL, NULL, "a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n");
    /* A trailing line break is an empty last line: the client gets "a\n" back. */
    CHECK_FRAME(NULL, NULL, "a\n", "data: a\ndata: \n\n");
    CHECK_FRAME(NULL, NULL, "a\r\n", "data: a\ndata: \n\n");
    CHECK_FRAME(NULL, NULL, "\n", "data: \ndata: \n\n");
    /* Only len bytes are framed, and a NUL inside them is data. */
    base_buf b;
    base_buf_init(&b);
    http_sse_format(&b, NULL, NULL, "ab\0cXYZ", 4);
    CHECK(b.len == 12 && !memcmp(b.data, "data: ab\0c\n\n", 12));
    base_buf_free(&b);

    /* The shareable form carries the same bytes, NUL-terminated. */
    base_rcbuf *f = http_sse_frame("message", "7", "1\n2", 3);
    CHECK_STR(f->data, "event: message\nid: 7\ndata: 1\ndata: 2\n\n");
    CHECK(f->len == strlen(f->data) && f->refs == 1);
    base_rcbuf_unref(f);
}

static void test_parse_id(void) {
    uint64_t v = 99;
    CHECK(http_sse_parse_id("0", &v) == 1 && v == 0);
    CHECK(http_sse_parse_id("42", &v) == 1 && v == 42);
    CHECK(http_sse_parse_id(" 2 ", &v) == 1 && v == 2);
    CHECK(http_sse_parse_id("\t7\t", &v) == 1 && v == 7);
    CHECK(http_sse_parse_id("+1", &v) == 1 && v == 1);
    CHECK(http_sse_parse_id("007", &v) == 1 && v == 7);
    CHECK(http_sse_parse_id("18446744073709551615", &v) == 1 && v == UINT64_MAX);
    /* Empty (or blank) asks for nothing, like an absent header. */
    v = 99;
    CHECK(http_sse_parse_id("", &v) == 0 && v == 99);
    CHECK(http_sse_parse_id("   ", &v) == 0 && v == 99);
    /* Anything else is bad, and *out is left alone. */
    const char *bad[] = {"abc", "-1",  "5000x", "1.5", "+",   "++1",
                         "+-1", "1 2", "0x1",   "1e3", " - ", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        v = 99;
        int r = http_sse_parse_id(bad[i], &v);
        if (r != -1 || v != 99)
            fprintf(stderr, "%s:%d: [%s] gave %d\n", __FILE__, __LINE__, bad[i], r);
        CHECK(r == -1 && v == 99);
    }
}

/* ---- streams through the server ----------------------------------------------------------- */

static int closes;     /* on_close calls */
static bool was_open;  /* what http_sse_is_open said inside the last on_close */
static int lei_result; /* what http_sse_last_event_id returned in the last handler */
static uint64_t lei_value;

static void on_close(http_sse *s, void *ud) {
    closes++;
    was_open = http_sse_is_open(s);
    CHECK(ud == (void *)&closes);
}

static const http_sse_opts opts = {
    .heartbeat_ms = 60000, .heartbeat_comment = "heartbeat", .on_close = on_close, .ud = &closes};

/* GET /sse?id=N: Last-Event-ID, two events, then the end. */
static void h_sse(http_req *req, void *ud) {
    lei_value = 12345;
    lei_result = http_sse_last_event_id(req, &lei_value);
    if (lei_result < 0)
        return; /* answered 400 */
    int closes_before = closes;
    http_sse *s = http_sse_start(req, &opts);
    if (!s)
        return; /* HEAD */
    CHECK(http_sse_is_open(s));
    CHECK(http_sse_send_event(s, "message", "1", "{\"n\":1}", 7));
    base_rcbuf *f = http_sse_frame(NULL, "2", "two\nlines", 9);
    CHECK(http_sse_send(s, f));
    base_rcbuf_unref(f);
    http_sse_end(s);
    /* Finished: sends fail quietly, ending again does nothing, on_close is still to come. */
    CHECK(!http_sse_is_open(s));
    CHECK(!http_sse_send_event(s, "message", "3", "x", 1));
    http_sse_end(s);
    CHECK(closes == closes_before);
}

/* GET /sse-open: one event, then left open (the feed's end aborts it). */
static http_sse *open_stream;
static void h_sse_open(http_req *req, void *ud) {
    open_stream = http_sse_start(req, &opts);
    if (open_stream)
        CHECK(http_sse_send_event(open_stream, NULL, NULL, "x", 1));
}

static void h_wscheck(http_req *req, void *ud) {
    if (http_ws_check_upgrade(req))
        http_reply_empty(req, 204);
}

static http_server *mk_server(void) {
    http_config cfg;
    http_config_defaults(&cfg);
    http_server *srv = http_server_new(uv_default_loop(), &cfg);
    http_route(srv, HTTP_M_GET, "/sse", 0, h_sse, NULL);
    http_route(srv, HTTP_M_GET, "/sse-open", 0, h_sse_open, NULL);
    http_route(srv, HTTP_M_GET, "/wscheck", 0, h_wscheck, NULL);
    return srv;
}

/* Raw response bytes of a feed (NUL-terminated copy; caller frees). */
static char *feed(http_server *srv, const char *req) {
    size_t n;
    char *out = http_server_feed_for_test(srv, req, strlen(req), &n);
    out = base_xrealloc(out, n + 1);
    out[n] = 0;
    return out;
}

static bool has(const char *hay, const char *needle, int line) {
    if (hay && strstr(hay, needle))
        return true;
    fprintf(stderr, "%s:%d: [%s] not in [%s]\n", __FILE__, line, needle, hay ? hay : "(null)");
    return false;
}
#define CHECK_HAS(hay, needle) CHECK(has((hay), (needle), __LINE__))

static void test_stream(void) {
    http_server *srv = mk_server();

    /* Head, the two events as chunks, the terminating chunk; on_close once, from the loop. */
    closes = 0;
    char *out = feed(srv, "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(!strncmp(out, "HTTP/1.1 200 OK\r\n", 17));
    CHECK_HAS(out, "\r\ncontent-type: text/event-stream\r\n");
    CHECK_HAS(out, "\r\ncache-control: no-cache\r\n");
    CHECK_HAS(out, "\r\ntransfer-encoding: chunked\r\n");
    CHECK_HAS(out, "\r\n\r\n24\r\nevent: message\nid: 1\ndata: {\"n\":1}\n\n\r\n"
                   "1d\r\nid: 2\ndata: two\ndata: lines\n\n\r\n0\r\n\r\n");
    free(out);
    CHECK(lei_result == 0 && lei_value == 12345); /* no Last-Event-ID: *out untouched */
    CHECK(closes == 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(closes == 1 && !was_open);

    /* Last-Event-ID: parsed for the owner; a bad one is a 400 before any stream. */
    out = feed(srv, "GET /sse HTTP/1.1\r\nLast-Event-ID:  +17 \r\n\r\n");
    CHECK(lei_result == 1 && lei_value == 17);
    CHECK(!strncmp(out, "HTTP/1.1 200", 12));
    free(out);
    out = feed(srv, "GET /sse HTTP/1.1\r\nLast-Event-ID:\r\n\r\n");
    CHECK(lei_result == 0);
    CHECK(!strncmp(out, "HTTP/1.1 200", 12));
    free(out);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    closes = 0;
    out = feed(srv, "GET /sse HTTP/1.1\r\nLast-Event-ID: 5000x\r\n\r\n");
    CHECK(lei_result == -1);
    CHECK(!strncmp(out, "HTTP/1.1 400", 12));
    CHECK_HAS(out, "content-type: application/problem+json\r\n");
    CHECK_HAS(out, "{\"type\":\"urn:sandbox-agent:error:invalid_request\",\"title\":\"Invalid "
                   "Request\",\"status\":400,\"detail\":\"invalid request: Last-Event-ID must be "
                   "a positive integer\"}");
    free(out);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(closes == 0); /* no stream was started */

    /* HEAD: headers only, no stream object, no on_close; the connection goes on. */
    out = feed(srv, "HEAD /sse HTTP/1.1\r\n\r\nGET /wscheck HTTP/1.1\r\n\r\n");
    CHECK(!strncmp(out, "HTTP/1.1 200", 12));
    CHECK_HAS(out, "content-type: text/event-stream\r\n");
    CHECK(strstr(out, "data:") == NULL);
    CHECK_HAS(out, "HTTP/1.1 400"); /* the next request was served */
    free(out);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(closes == 0);

    /* A client that leaves an open stream: finished at once, on_close from the loop. */
    closes = 0;
    out = feed(srv, "GET /sse-open HTTP/1.1\r\n\r\n");
    CHECK_HAS(out, "\r\n\r\n9\r\ndata: x\n\n\r\n");
    CHECK(strstr(out, "0\r\n\r\n") == NULL); /* never ended cleanly */
    free(out);
    CHECK(closes == 0 && !http_sse_is_open(open_stream));
    CHECK(!http_sse_send_event(open_stream, NULL, NULL, "y", 1));
    CHECK(http_sse_queued(open_stream) == 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(closes == 1 && !was_open);

    unit_free_server(srv);
}

/* ---- the WebSocket upgrade check ----------------------------------------------------------- */

#define WS_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define WS_OK                                                                                      \
    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"

static void check_ws(http_server *srv, const char *headers, const char *detail, int line) {
    char *req = base_xasprintf("GET /wscheck HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
    char *out = feed(srv, req);
    if (!detail) {
        CHECK(!strncmp(out, "HTTP/1.1 204", 12));
    } else {
        char *body = base_xasprintf(
            "{\"type\":\"urn:sandbox-agent:error:invalid_request\",\"title\":\"Invalid "
            "Request\",\"status\":400,\"detail\":\"invalid request: %s\"}",
            detail);
        CHECK(!strncmp(out, "HTTP/1.1 400", 12));
        CHECK(has(out, "content-type: application/problem+json\r\n", line));
        CHECK(has(out, body, line));
        free(body);
    }
    free(out);
    free(req);
}
#define CHECK_WS(h, detail) check_ws(srv, (h), (detail), __LINE__)

static void test_ws_check(void) {
    http_server *srv = mk_server();
    CHECK_WS(WS_OK WS_KEY, NULL);
    CHECK_WS("connection: UPGRADE\r\nupgrade: WebSocket\r\nsec-websocket-version: 13\r\n" WS_KEY,
             NULL);
    /* Connection first, then Upgrade, then the version, then the key. */
    CHECK_WS("", "Connection header did not include 'upgrade'");
    CHECK_WS("Connection: keep-alive\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" WS_KEY,
             "Connection header did not include 'upgrade'");
    CHECK_WS("Connection: upgraded\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" WS_KEY,
             "Connection header did not include 'upgrade'");
    CHECK_WS("Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" WS_KEY,
             "Upgrade header did not include 'websocket'");
    CHECK_WS("Connection: Upgrade\r\nUpgrade: h2c\r\nSec-WebSocket-Version: 13\r\n" WS_KEY,
             "Upgrade header did not include 'websocket'");
    CHECK_WS("Connection: Upgrade\r\nUpgrade: websocket\r\n" WS_KEY,
             "Sec-WebSocket-Version must be 13");
    CHECK_WS("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n" WS_KEY,
             "Sec-WebSocket-Version must be 13");
    CHECK_WS(WS_OK, "Sec-WebSocket-Key must be 16 base64-encoded bytes");
    CHECK_WS(WS_OK "Sec-WebSocket-Key: c2hvcnQ=\r\n",
             "Sec-WebSocket-Key must be 16 base64-encoded bytes");
    unit_free_server(srv);
}

static void setup(void) {
    setenv("SANDBOX_AGENT_LOG", "error", 1);
    base_log_init();
}

static void teardown(void) {
    CHECK(uv_loop_close(uv_default_loop()) == 0); /* every stream's timer was closed */
}

UNIT_MAIN(setup(); test_framing(); test_parse_id(); test_stream(); test_ws_check(); teardown())
