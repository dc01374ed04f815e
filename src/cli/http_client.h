/* http_client.h - a small blocking HTTP/1.1 client for the CLI (api, daemon health checks).
 *
 * One request per connection (Connection: close) over a plain TCP socket. Bodies are
 * parsed with llhttp, so content-length, chunked and until-close bodies all work.
 * The CLI is not an event loop; blocking with poll() timeouts is the simplest correct
 * thing here. */
#ifndef CLI_HTTP_CLIENT_H
#define CLI_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* Result codes of cli_http_do besides 0. */
enum {
    CLI_HTTP_ERR = -1,         /* connect, I/O, timeout or protocol error: see err */
    CLI_HTTP_INTERRUPTED = -2, /* SIGINT arrived while waiting (see cli_http_catch_sigint) */
};

/* A parsed endpoint "http://host[:port][/prefix]". Owner: whoever parsed it; every string
 * is freed by cli_http_endpoint_free. */
typedef struct cli_http_endpoint {
    char *host;   /* without IPv6 brackets */
    char *port;   /* decimal, "80" by default */
    char *prefix; /* "" or "/prefix" (no trailing slash), prepended to every path */
    char *url;    /* normalised, for messages: "http://host:port/prefix" */
} cli_http_endpoint;

/* Parses url into ep. Returns false with a message in err (nothing to free then). */
bool cli_http_endpoint_parse(const char *url, cli_http_endpoint *ep, char *err, size_t cap);
void cli_http_endpoint_free(cli_http_endpoint *ep);

/* Called with each piece of a 2xx response body as it arrives; return false to stop
 * reading (cli_http_do then returns 0). */
typedef bool (*cli_http_body_fn)(const char *data, size_t len, void *ud);

/* One request. Owner: the caller's stack; every pointer is borrowed for the call. */
typedef struct cli_http_request {
    const char *method;
    const char *path;  /* origin-form after the endpoint's prefix, query included */
    const char *token; /* Authorization: Bearer, when non-NULL */
    const char *accept;
    const char *content_type; /* sent with the body when non-NULL */
    const char *body;
    size_t body_len;
    const char *last_event_id; /* Last-Event-ID header, when non-NULL */
    int timeout_ms;            /* bound of every wait for the server; -1: none after connect */
    cli_http_body_fn on_body;  /* streams 2xx bodies instead of collecting them */
    void *ud;
} cli_http_request;

/* The answer. Owner: the caller; freed with cli_http_response_free. */
typedef struct cli_http_response {
    int status;
    char *content_type; /* NULL when absent */
    base_buf body;      /* the whole body, unless it was streamed to on_body */
} cli_http_response;

/* Sends rq to ep and reads the answer into res (always initialised; free it in every case).
 * Returns 0, CLI_HTTP_ERR with a message in err, or CLI_HTTP_INTERRUPTED. */
int cli_http_do(const cli_http_endpoint *ep, const cli_http_request *rq, cli_http_response *res,
                char *err, size_t cap);
void cli_http_response_free(cli_http_response *res);

/* From now on SIGINT interrupts a waiting cli_http_do (CLI_HTTP_INTERRUPTED) instead of
 * killing the process, so a stream can end cleanly. */
void cli_http_catch_sigint(void);

/* ---- Server-Sent Events ------------------------------------------------------------------
 * A text/event-stream body being read: feed it with cli_http_sse_body (a cli_http_body_fn
 * whose ud is the reader) and on_event gets each complete event. */

/* One event: its name ("message" when the stream gave none), the last id seen (may be ""),
 * its data lines joined with "\n". Return false to stop reading the stream. */
typedef bool (*cli_http_sse_fn)(const char *event, const char *id, const char *data, size_t len,
                                void *ud);

/* Owner: the caller's stack; cli_http_sse_free releases its buffers. */
typedef struct cli_http_sse {
    cli_http_sse_fn on_event;
    void *ud;
    base_buf line; /* a line not yet ended */
    base_buf data; /* the data of the event being read */
    char event[64];
    char id[64];
    bool has_data;
    bool stopped; /* on_event returned false */
} cli_http_sse;

void cli_http_sse_init(cli_http_sse *s, cli_http_sse_fn on_event, void *ud);
bool cli_http_sse_body(const char *data, size_t len, void *ud);
/* The stream ended: an event cut short (no blank line after it) is still dispatched. */
void cli_http_sse_finish(cli_http_sse *s);
void cli_http_sse_free(cli_http_sse *s);

/* Appends s percent-encoded as one path segment (everything but unreserved characters). */
void cli_http_append_segment(base_buf *b, const char *s);

#endif
