/* internal.h - shared between the files of the http module only (not a public header). */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <llhttp.h>

#include "http/http.h"

typedef struct http_route_entry {
    unsigned methods;
    char *pattern;
    char **segs; /* pattern split on '/'; "{x}" marks a parameter, "*" a prefix tail */
    size_t nsegs;
    unsigned flags;
    http_handler_fn fn;
    void *ud;
    struct http_route_entry *next;
} http_route_entry;

typedef enum {
    HTTP_CONN_IDLE,     /* between requests */
    HTTP_CONN_HEADERS,  /* reading a request head */
    HTTP_CONN_BODY,     /* reading a request body */
    HTTP_CONN_HANDLING, /* a request is dispatched and not yet answered (or is streaming) */
    HTTP_CONN_DRAINING, /* answered an error and closing; swallowing input for a while */
    HTTP_CONN_WS,       /* upgraded: bytes belong to the WebSocket */
} http_conn_state;

/* Where a streamed request body stands (HTTP_ROUTE_STREAM_BODY routes):
 *   NONE -> EARLY      its headers are complete: dispatch the handler now
 *   EARLY -> OFFERED   dispatched; the body is not the handler's yet (unread input waits)
 *   OFFERED -> FLOWING http_req_read_body: the parser feeds the sink
 *   FLOWING <-> PAUSED http_req_pause_body / http_req_resume_body
 *   any -> NONE        the body ended, broke off, or the request was answered
 * Bodies of other routes are buffered whole before dispatch and stay NONE. */
typedef enum http_body_state {
    HTTP_BODY_NONE = 0,
    HTTP_BODY_EARLY,
    HTTP_BODY_OFFERED,
    HTTP_BODY_FLOWING,
    HTTP_BODY_PAUSED,
} http_body_state;

/* A body is streaming to (or offered to) the active request. */
#define HTTP_BODY_STREAMING(c) ((c)->body >= HTTP_BODY_OFFERED)

/* One client connection. Owner: the server's connection list. Freed in the close callback
 * of its last libuv handle (tcp and timer), never directly. */
struct http_conn {
    http_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int open_handles;
    llhttp_t parser;
    base_buf in; /* received bytes; those from in_pos on are not yet parsed */
    size_t in_pos;
    size_t head_bytes;     /* request line and headers so far (431 past the limit) */
    bool in_head;          /* header callbacks belong to the head, not to chunked trailers */
    const char *exec_base; /* start of the bytes of the current parser pass */
    bool exec_tail_lf;     /* the previous pass ended in a line feed and blanks */
    http_req *cur;         /* request being parsed */
    http_req *active;      /* request dispatched and awaiting its answer */
    base_buf url;
    base_buf hfield;
    base_buf hvalue;
    bool hvalue_open;
    bool msg_complete;
    int reject_status; /* set by parser callbacks: 413 body too large */
    http_conn_state state;
    uint64_t state_since_ms;
    bool reading;
    bool closing;
    bool shutting_down;
    bool dispatching;
    bool in_io;        /* inside a read/resume pass: timer armed once at its end */
    bool fake;         /* fuzz/test connection with no socket */
    bool saw_eof;      /* the client half-closed; answer the active request, then close */
    base_buf fake_out; /* fake connections: what would have been written */
    http_ws *ws;       /* set once upgraded; owned by the connection */
    bool ws_closing;   /* close frame sent: cut off if the peer does not answer */
    /* Streamed request body (HTTP_ROUTE_STREAM_BODY): the request was dispatched at end of
     * headers and the parser keeps feeding its body to the sink. */
    http_body_state body;
    const http_body_sink *sink;
    void *sink_ud;
    uint64_t body_max;
    uint64_t body_seen;
    /* Drain notification for a streaming producer. */
    void (*drain_fn)(http_req *req, void *ud);
    void *drain_ud;
    size_t drain_low;
    bool drain_due;
    size_t write_pending;
    uint64_t last_write_ms;
    struct http_conn *prev, *next;
    struct http_conn *resume_next;
    bool in_resume;
};

/* The server. Owner: the caller of http_server_new; freed by http_server_free. */
struct http_server {
    uv_loop_t *loop;
    http_config cfg; /* strings are owned copies */
    uv_tcp_t listener;
    bool listening;
    uv_idle_t resume_idle;
    http_conn *resume_head;
    http_route_entry *routes;
    http_conn *conns;
    size_t nconns;
    bool closing;
    int closing_handles;
    void (*close_done)(void *);
    void *close_ud;
};

/* router.c */
void http_router_dispatch(http_server *srv, http_req *req);
/* The flags of the route that would serve req (0 when none). */
unsigned http_router_flags(http_server *srv, const http_req *req);
void http_routes_free(http_server *srv);

/* reply.c */
void http_cors_preflight(http_req *req);
/* Move req's response to `to`; a step http.h does not list aborts (BASE_ASSERT). */
void http_resp_set(http_req *req, http_resp_state to);
/* A chunked or sized stream is open on req. */
static inline bool http_resp_streaming(const http_req *req) {
    return req->resp == HTTP_RESP_CHUNKED || req->resp == HTTP_RESP_SIZED;
}

/* request.c */
http_req *http_req_new(http_conn *c);
void http_req_free(http_req *req);

/* parse.c: the parser callbacks of every connection. */
extern const llhttp_settings_t http_parse_settings;
/* Request line plus header fields (431 above it), the bound http_parser used to apply. */
#define HTTP_MAX_HEAD_BYTES (80u << 10)

/* server.c */
void http_conn_set_state(http_conn *c, http_conn_state s);
void http_conn_write(http_conn *c, uv_buf_t *bufs, unsigned n, char *owned, base_rcbuf *rc);
void http_conn_request_done(http_conn *c, http_req *req);
void http_conn_close(http_conn *c);
void http_conn_finish_response(http_conn *c, bool close_after);
void http_conn_ws_takeover(http_conn *c, http_req *req);
void http_conn_ws_close_timer(http_conn *c);

/* ws.c */
void http_ws_feed(http_conn *c, const char *data, size_t len);
void http_ws_conn_closed(http_conn *c);
void http_ws_server_closing(http_conn *c);

#endif
