/* http.h - our HTTP/1.1 server layer on libuv + llhttp (strict parsing).
 *
 * One listener, many connections, one request in flight per connection (pipelined requests
 * wait their turn, so responses leave in order). Handlers answer synchronously with
 * http_reply_* or go asynchronous: they return without answering, register an abort
 * callback, and answer later. Streams start with http_stream_start and stay open until
 * http_stream_end or the client leaves; event streams use http_sse_*, built on them.
 *
 * Policy lives here too: limits (header 431, body 413), timeouts (header read, idle
 * keep-alive, slow body, stalled writes), bearer auth, CORS, problem+json errors. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "base/base.h"

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef struct http_req http_req;

/* Method bits for the router (HEAD is implied by GET). */
enum {
    HTTP_M_GET = 1 << 0,
    HTTP_M_HEAD = 1 << 1,
    HTTP_M_POST = 1 << 2,
    HTTP_M_PUT = 1 << 3,
    HTTP_M_DELETE = 1 << 4,
    HTTP_M_PATCH = 1 << 5,
    HTTP_M_OPTIONS = 1 << 6,
};

typedef void (*http_handler_fn)(http_req *req, void *ud);
typedef void (*http_abort_fn)(http_req *req, void *ud);

/* Route flags. */
enum {
    HTTP_ROUTE_AUTH = 1 << 0,        /* bearer token required when the server has one */
    HTTP_ROUTE_QUERY_TOKEN = 1 << 1, /* ?access_token= also accepted (WebSocket routes) */
    HTTP_ROUTE_PREFIX = 1 << 2,      /* pattern ends in '*': matches the prefix and below */
    HTTP_ROUTE_STREAM_BODY = 1 << 3, /* handler runs at end of headers and reads the body
                                        itself with http_req_read_body (large uploads) */
    /* OpenCode clients' auth conventions (the /opencode routes): `Authorization: Basic
     * base64(<any user>:<token>)` is accepted besides the bearer token (what `opencode
     * attach --password` sends), and a 401 carries the OpenCode errors body
     * {"errors":[{"message":"missing or invalid bearer token"}]} instead of the problem, plus
     * the allow header when the path is known but the method is not. */
    HTTP_ROUTE_OPENCODE_AUTH = 1 << 4,
};

typedef struct http_header {
    char *name; /* lower-cased */
    char *value;
} http_header;

/* Where a request's response stands. Only the http layer moves it, one way:
 *   NONE -> DONE                 a reply (http_reply_*), or a stream start for HEAD
 *   NONE -> CHUNKED | SIZED      http_stream_start / http_stream_start_sized
 *   CHUNKED | SIZED -> DONE      http_stream_end
 *   NONE -> UPGRADED             http_ws_accept (101; the connection is the WebSocket's)
 * Any other step is a bug and aborts (BASE_ASSERT): answering twice, writing to a stream
 * that was never started or already ended. */
typedef enum {
    HTTP_RESP_NONE,
    HTTP_RESP_CHUNKED,
    HTTP_RESP_SIZED,
    HTTP_RESP_DONE,
    HTTP_RESP_UPGRADED,
} http_resp_state;

/* One request. Owner: its connection, which frees it after the response completes or
 * the connection closes. A handler that answers later must call http_req_on_abort and
 * must not touch req after its abort callback ran. */
struct http_req {
    http_conn *conn;
    unsigned method;   /* one HTTP_M_* bit */
    char *method_name; /* e.g. "GET" */
    char *path;        /* raw path, not decoded */
    char *query;       /* raw query string without '?', or NULL */
    http_header *headers;
    size_t nheaders;
    base_buf body;
    char **params; /* percent-decoded path parameters, in pattern order */
    size_t nparams;
    bool http10;
    bool keep_alive;
    bool chunked_body;
    int64_t content_length; /* -1 when unknown (chunked or absent) */
    int status;             /* response status once answered (for the access log) */
    uint64_t start_ms;
    /* internal */
    http_resp_state resp;
    uint64_t stream_left; /* SIZED: body bytes still to send */
    http_abort_fn abort_cb;
    void *abort_ud;
};

/* Server configuration. Owner: the caller; copied by http_server_new. */
typedef struct http_config {
    const char *host;
    int port;
    const char *token;         /* NULL = no auth */
    const char **cors_origins; /* NULL-terminated, may be NULL */
    const char **cors_methods; /* NULL-terminated; NULL = any */
    const char **cors_headers; /* NULL-terminated; NULL = any */
    bool cors_credentials;
    size_t max_body_bytes;      /* 413 above this */
    uint64_t header_timeout_ms; /* from a request's first byte to its end of headers */
    uint64_t idle_timeout_ms;   /* keep-alive connection with no request */
    uint64_t body_timeout_ms;   /* no body progress for this long */
    uint64_t write_timeout_ms;  /* queued output making no progress for this long */
    size_t stream_queue_limit;  /* a stream whose unsent bytes exceed this is dropped */
} http_config;

void http_config_defaults(http_config *cfg);

http_server *http_server_new(uv_loop_t *loop, const http_config *cfg);
/* Bind and listen. Returns 0 or a libuv error code. */
int http_server_listen(http_server *srv);
/* Register a route. pattern uses {name} for one path segment, e.g. "/v1/acp/{id}". */
void http_route(http_server *srv, unsigned methods, const char *pattern, unsigned flags,
                http_handler_fn fn, void *ud);
/* Stop accepting, end every stream, close every connection (abort callbacks run), then
 * call done. After done the server can be freed with http_server_free. */
void http_server_close(http_server *srv, void (*done)(void *), void *ud);
void http_server_free(http_server *srv);
/* Feed raw bytes through the parser and router without a socket (tests and the fuzzer).
 * Returns every byte the server answered (caller frees; *out_len gets the length). A
 * request still unanswered when the input is consumed is aborted. */
char *http_server_feed_for_test(http_server *srv, const char *data, size_t len, size_t *out_len);

/* ---- request accessors ---- */
const char *http_req_header(const http_req *req, const char *lname);
/* The loop the request is served on (for the handler's own work and timers). */
uv_loop_t *http_req_loop(const http_req *req);
const char *http_req_param(const http_req *req, size_t i);
void http_req_on_abort(http_req *req, http_abort_fn fn, void *ud);
/* Query lookup: returns 1 and a decoded copy in *out (caller frees), 0 when absent, -1 when
 * the key appears twice or is malformed (*out untouched). */
int http_query_get(const http_req *req, const char *key, char **out);
/* Strict bool (only "true"/"false"): 1 found, 0 absent, -1 bad or duplicate. */
int http_query_bool(const http_req *req, const char *key, bool *out);
/* True when content-type is application/json or application/(anything)+json (params ignored). */
bool http_req_is_json(const http_req *req);
/* True when the Accept header is absent or some entry matches type/sub, type/any or any/any. */
bool http_req_accepts(const http_req *req, const char *type, const char *sub);

/* ---- replies (each completes the request) ---- */
void http_reply(http_req *req, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len);
/* Like http_reply but the body is static memory that outlives the write. */
void http_reply_static(http_req *req, int status, const char *content_type, const void *body,
                       size_t len);
void http_reply_empty(http_req *req, int status);
/* Steals the reference to body. */
void http_reply_json(http_req *req, int status, json_t *body);
/* Problem details (RFC 7807). extra is an object whose members follow `detail` (stolen;
 * may be NULL). */
void http_reply_problem(http_req *req, int status, const char *code, const char *title,
                        const char *detail, json_t *extra);
/* Shorthands for the common problems. */
void http_problem_invalid_request(http_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void http_problem_with_message(http_req *req, int status, const char *code, const char *title,
                               const char *prefix, const char *message);
/* Parse the body as JSON for a JSON route: checks content type (415), syntax (400) and
 * that it is an object (422). On failure it answers and returns NULL. */
json_t *http_req_json_body(http_req *req, bool allow_empty);

/* ---- streams (chunked) ---- */
/* Send status + headers with chunked encoding; the request stays open. Returns false when
 * no stream follows (HEAD): the request is then complete and must not be touched. */
bool http_stream_start(http_req *req, int status, const char *content_type,
                       const char *extra_headers);
/* Queue one chunk. Returns false when the consumer was dropped (too slow or gone); the
 * abort callback has then run. The rcbuf is referenced, not copied. */
bool http_stream_write(http_req *req, base_rcbuf *data);
bool http_stream_write_str(http_req *req, const char *s);
/* Send the terminating chunk and complete the request. */
void http_stream_end(http_req *req);

/* ---- streamed request bodies (routes flagged HTTP_ROUTE_STREAM_BODY) ---- */
typedef struct http_body_sink {
    /* One piece of the body, in order. May call http_req_pause_body to apply
     * backpressure (e.g. while a disk write is in flight) and resume later. */
    void (*on_data)(http_req *req, const char *data, size_t len, void *ud);
    /* The whole body arrived; the handler now answers. */
    void (*on_end)(http_req *req, void *ud);
} http_body_sink;
/* Start receiving the body. A body larger than max_bytes is answered 413 by the layer and
 * the abort callback runs. If the handler answers without calling this (an early error),
 * the body is discarded and the connection closed after the answer. */
void http_req_read_body(http_req *req, const http_body_sink *sink, void *ud, uint64_t max_bytes);
void http_req_pause_body(http_req *req);
void http_req_resume_body(http_req *req);

/* ---- sized response streams (large downloads) ---- */
/* Like http_stream_start but with a content-length instead of chunked encoding: the
 * caller then writes exactly `length` bytes with http_stream_write and ends with
 * http_stream_end. Returns false for HEAD (request complete, do not touch it). */
bool http_stream_start_sized(http_req *req, int status, const char *content_type,
                             const char *extra_headers, uint64_t length);
/* Bytes queued on the connection and not yet written to the socket. */
size_t http_stream_queued(const http_req *req);
/* Call fn once when the queued output has drained below low_water bytes (use it to pace
 * a producer instead of letting the queue grow). */
void http_stream_on_drain(http_req *req, size_t low_water, void (*fn)(http_req *req, void *ud),
                          void *ud);

/* ---- Server-Sent Events (sse.c) ---- */
/* One event stream on a GET: `200`, `content-type: text/event-stream`, `cache-control:
 * no-cache`, chunked. The owner decides which events go out and when (replay, then live);
 * the stream frames them, sends a heartbeat comment after heartbeat_ms without an event,
 * drops a consumer whose unsent bytes pass the server's stream_queue_limit, and tells the
 * owner once, with on_close, that it is finished. */
typedef struct http_sse http_sse;
/* The stream is finished: the owner ended it, the client left, it was dropped as too slow,
 * or the server is closing. Runs once, from the loop (never inside an http_sse_* call), and
 * always after a successful http_sse_start; s is freed after return. */
typedef void (*http_sse_close_fn)(http_sse *s, void *ud);
typedef void (*http_sse_drain_fn)(http_sse *s, void *ud);
/* Owner: the caller; http_sse_start copies what it needs (the comment text included). */
typedef struct http_sse_opts {
    uint64_t heartbeat_ms; /* idle time before a heartbeat comment (0: none) */
    /* Text of the heartbeat comment line, e.g. "heartbeat" sends ": heartbeat\n\n";
     * NULL or "" sends the bare ":\n\n". */
    const char *heartbeat_comment;
    http_sse_close_fn on_close;
    void *ud;
} http_sse_opts;

/* The idle time before a heartbeat every stream of the server uses:
 * SANDBOX_AGENT_SSE_HEARTBEAT_MS (15000, at least 10). */
uint64_t http_sse_heartbeat_ms(void);
/* Start the stream (req then belongs to it). Returns NULL for HEAD, which gets the headers
 * only: the request is complete and on_close never runs. */
http_sse *http_sse_start(http_req *req, const http_sse_opts *opts);
/* Still open: sends can succeed. False once finished (before on_close has run). */
bool http_sse_is_open(const http_sse *s);
/* Send one framed event (see http_sse_frame; referenced, not copied, so one frame can go
 * to many streams) and restart the heartbeat clock. False when the stream is finished or
 * this send dropped it; on_close follows from the loop. */
bool http_sse_send(http_sse *s, base_rcbuf *frame);
/* Frame and send one event. */
bool http_sse_send_event(http_sse *s, const char *event, const char *id, const char *data,
                         size_t len);
/* Unsent bytes, and a one-shot call when they drain below low_water: a replay paces itself
 * with these instead of queueing a whole backlog at once. */
size_t http_sse_queued(const http_sse *s);
void http_sse_on_drain(http_sse *s, size_t low_water, http_sse_drain_fn fn, void *ud);
/* End the stream cleanly (terminating chunk). Does nothing once finished. */
void http_sse_end(http_sse *s);

/* Frame one event into out: `event: E` (when event is not NULL), `id: I` (when id is not
 * NULL), one `data: ` line per line of data (CRLF, CR and LF all split lines; empty data is
 * one empty data line), then a blank line. event and id must not contain CR or LF. */
void http_sse_format(base_buf *out, const char *event, const char *id, const char *data,
                     size_t len);
/* The same as a shareable buffer (caller unrefs). */
base_rcbuf *http_sse_frame(const char *event, const char *id, const char *data, size_t len);
/* An event id as sent back in Last-Event-ID: surrounding whitespace is ignored, then an
 * optional '+' and a decimal u64. 1 (and *out) when valid, 0 when empty, -1 otherwise. */
int http_sse_parse_id(const char *value, uint64_t *out);
/* The request's Last-Event-ID header: 1 with *out, 0 when absent or empty, -1 when bad; it
 * then has answered 400 (`invalid request: Last-Event-ID must be a positive integer`) and
 * req is complete. (A last_event_id query parameter is ignored, as in the reference.) */
int http_sse_last_event_id(http_req *req, uint64_t *out);

/* ---- WebSocket (RFC 6455, via wslay) ---- */
typedef struct http_ws http_ws;
typedef struct http_ws_callbacks {
    void (*on_text)(http_ws *ws, const char *data, size_t len, void *ud);
    void (*on_binary)(http_ws *ws, const char *data, size_t len, void *ud);
    /* The socket is gone (closed by either side or dropped); ws is freed after return. */
    void (*on_close)(http_ws *ws, void *ud);
} http_ws_callbacks;
/* The one check of a WebSocket upgrade request: Connection includes "upgrade", Upgrade
 * includes "websocket", Sec-WebSocket-Version is 13, Sec-WebSocket-Key has 24 characters
 * (16 bytes in base64). True when all hold (req untouched). Otherwise it answers 400
 * (problem+json, invalid_request, naming the header) and returns false: req is complete.
 * A route that must refuse bad upgrades before its own lookups (400 beats 404, as in the
 * reference) calls this first; http_ws_accept calls it again anyway. */
bool http_ws_check_upgrade(http_req *req);
/* Upgrade the request: http_ws_check_upgrade, then the 101 handshake. On failure it has
 * answered (400) and returns NULL. Echoes the first offered subprotocol. The request is
 * consumed either way: do not touch req afterwards. */
http_ws *http_ws_accept(http_req *req, const http_ws_callbacks *cb, void *ud);
/* Queue a frame (copied). False when the peer is gone or too slow (it is then dropped). */
bool http_ws_send_text(http_ws *ws, const char *data, size_t len);
bool http_ws_send_binary(http_ws *ws, const char *data, size_t len);
/* Send a close frame; on_close follows once the socket is closed. */
void http_ws_close(http_ws *ws, uint16_t code, const char *reason);

/* Format an RFC 7231 date for the Date header (cached per second). */
const char *http_date_now(void);

#endif
