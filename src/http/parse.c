/* parse.c - reading a request's head and body off the wire: the llhttp callbacks that build
 * the http_req (request line, headers, target split and dot-segment removal, body buffering
 * or hand-off to a streaming sink), with the head size limit and the refusals llhttp itself
 * does not make (obs-fold, HTTP/0.9). The connection's state machine is in server.c. */
#include <string.h>
#include <strings.h>

#include "http/internal.h"

/* ---- parser callbacks ---------------------------------------------------------------- */

/* Counts request-line and header bytes against HTTP_MAX_HEAD_BYTES (llhttp has no limit of
 * its own). Returns false, with the 431 noted, when the head is too large. */
static bool http_head_room(llhttp_t *p, http_conn *c, size_t len) {
    c->head_bytes += len;
    if (c->head_bytes <= HTTP_MAX_HEAD_BYTES)
        return true;
    c->reject_status = 431;
    llhttp_set_error_reason(p, "request headers exceed the server limit");
    return false;
}

static int http_on_message_begin(llhttp_t *p) {
    http_conn *c = p->data;
    if (c->cur)
        http_req_free(c->cur);
    c->cur = http_req_new(c);
    c->url.len = 0;
    c->hfield.len = 0;
    c->hvalue.len = 0;
    c->hvalue_open = false;
    c->head_bytes = 0;
    c->in_head = true;
    http_conn_set_state(c, HTTP_CONN_HEADERS);
    return 0;
}

static int http_on_url(llhttp_t *p, const char *at, size_t len) {
    http_conn *c = p->data;
    if (!http_head_room(p, c, len))
        return HPE_USER;
    base_buf_append(&c->url, at, len);
    return 0;
}

static void http_push_header(http_conn *c) {
    if (!c->hvalue_open)
        return;
    http_req *r = c->cur;
    r->headers = base_xrealloc(r->headers, (r->nheaders + 1) * sizeof(http_header));
    http_header *h = &r->headers[r->nheaders++];
    h->name = base_xstrndup(c->hfield.data ? c->hfield.data : "", c->hfield.len);
    for (char *q = h->name; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q + 32);
    size_t vlen = c->hvalue.len;
    const char *v = base_trim(c->hvalue.data ? c->hvalue.data : "", &vlen);
    h->value = base_xstrndup(v, vlen);
    c->hfield.len = 0;
    c->hvalue.len = 0;
    c->hvalue_open = false;
}

/* Whether only spaces and tabs stand between a line feed and `at`: a header value that
 * starts a line is a folded continuation. Looks back within this parser pass, and at how the
 * previous pass ended when the value starts this one. */
static bool http_after_line_break(const http_conn *c, const char *at) {
    const char *q = at;
    while (q > c->exec_base && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    if (q > c->exec_base)
        return q[-1] == '\n';
    return c->exec_tail_lf;
}

/* Header callbacks after the head are chunked-body trailers: checked by the parser, not
 * kept (the request may already be with its handler). */
static int http_on_header_field(llhttp_t *p, const char *at, size_t len) {
    http_conn *c = p->data;
    if (!http_head_room(p, c, len))
        return HPE_USER;
    if (!c->in_head)
        return 0;
    if (c->hvalue_open)
        http_push_header(c);
    base_buf_append(&c->hfield, at, len);
    return 0;
}

static int http_on_header_value(llhttp_t *p, const char *at, size_t len) {
    http_conn *c = p->data;
    if (!http_head_room(p, c, len))
        return HPE_USER;
    if (!c->in_head)
        return 0;
    /* (An empty value arrives as an empty span after its line break: not a fold.) */
    if (len && http_after_line_break(c, at)) {
        /* obs-fold: llhttp takes the continuation line as more of the value. RFC 9112 lets
         * a server refuse it, and a proxy in front of us may join or split it otherwise. */
        llhttp_set_error_reason(p, "obsolete line folding in a header value");
        return HPE_USER;
    }
    c->hvalue_open = true;
    base_buf_append(&c->hvalue, at, len);
    return 0;
}

static unsigned http_method_bit(unsigned m) {
    switch (m) {
    case HTTP_GET:
        return HTTP_M_GET;
    case HTTP_HEAD:
        return HTTP_M_HEAD;
    case HTTP_POST:
        return HTTP_M_POST;
    case HTTP_PUT:
        return HTTP_M_PUT;
    case HTTP_DELETE:
        return HTTP_M_DELETE;
    case HTTP_PATCH:
        return HTTP_M_PATCH;
    case HTTP_OPTIONS:
        return HTTP_M_OPTIONS;
    default:
        return 0;
    }
}

/* RFC 3986 remove_dot_segments, in place: "/ui/../v1/x" is "/v1/x", so a route is chosen
 * (and its auth applied) for the path the request really names. Segments above the root
 * stay at the root. Percent-encoded dots are data, not segments. */
static void http_remove_dot_segments(char *path) {
    char *out = path, *in = path;
    while (*in) {
        if (in[0] != '/') { /* not reachable for origin-form targets; keep as is */
            *out++ = *in++;
            continue;
        }
        const char *seg = in + 1;
        size_t n = strcspn(seg, "/");
        if (n == 1 && seg[0] == '.') {
            in += 2;
            if (!*in)
                *out++ = '/';
            continue;
        }
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > path && *--out != '/')
                ;
            in += 3;
            if (!*in)
                *out++ = '/';
            continue;
        }
        memmove(out, in, n + 1);
        out += n + 1;
        in += n + 1;
    }
    if (out == path)
        *out++ = '/';
    *out = 0;
}

/* Request target -> path and query. The fragment is dropped (it ends the target, even
 * before a '?'), and the absolute form "http://host:port/path" is reduced to its path. */
static void http_split_target(http_req *r, const char *url, size_t len) {
    const char *hash = memchr(url, '#', len);
    if (hash)
        len = (size_t)(hash - url);
    const char *start = url;
    if (len > 7 &&
        (base_ascii_ieq(url, "http://", 7) || (len > 8 && base_ascii_ieq(url, "https://", 8)))) {
        const char *auth = url + (url[4] == ':' ? 7 : 8);
        const char *slash = memchr(auth, '/', len - (size_t)(auth - url));
        const char *qm = memchr(auth, '?', len - (size_t)(auth - url));
        if (qm && (!slash || qm < slash))
            slash = NULL;
        start = slash ? slash : url + len;
        if (!slash) {
            /* "http://host" or "http://host?q": the path is "/". */
            r->path = base_xstrdup("/");
            if (qm)
                r->query = base_xstrndup(qm + 1, len - (size_t)(qm + 1 - url));
            return;
        }
    }
    size_t rest = len - (size_t)(start - url);
    const char *q = memchr(start, '?', rest);
    size_t plen = q ? (size_t)(q - start) : rest;
    r->path = base_xstrndup(start, plen);
    http_remove_dot_segments(r->path);
    if (q)
        r->query = base_xstrndup(q + 1, rest - plen - 1);
}

static int http_on_headers_complete(llhttp_t *p) {
    http_conn *c = p->data;
    http_req *r = c->cur;
    http_push_header(c);
    c->in_head = false;
    if (p->http_major != 1) {
        /* HTTP/0.9 (a request line without a version) has no headers to frame a body. */
        llhttp_set_error_reason(p, "unsupported HTTP version");
        return -1;
    }
    r->method = http_method_bit(p->method);
    r->method_name = base_xstrdup(llhttp_method_name((llhttp_method_t)p->method));
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    r->keep_alive = llhttp_should_keep_alive(p) != 0;
    http_split_target(r, c->url.data ? c->url.data : "", c->url.len);
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool sized = (p->flags & F_CONTENT_LENGTH) != 0;
    bool has_body = chunked || (sized && p->content_length > 0);
    r->chunked_body = chunked;
    r->content_length = chunked || !sized ? -1 : (int64_t)p->content_length;
    if (http_router_flags(c->srv, r) & HTTP_ROUTE_STREAM_BODY) {
        /* The handler takes the body as it arrives: dispatch now, before any of it. */
        c->body = HTTP_BODY_EARLY;
        return HPE_PAUSED;
    }
    if (sized && p->content_length > c->srv->cfg.max_body_bytes) {
        c->reject_status = 413;
        return HPE_PAUSED;
    }
    const char *expect = http_req_header(r, "expect");
    if (expect && has_body && !strcasecmp(expect, "100-continue") && !c->fake) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        http_conn_write(c, &b, 1, NULL, NULL);
    }
    http_conn_set_state(c, HTTP_CONN_BODY);
    return 0;
}

static int http_on_body(llhttp_t *p, const char *at, size_t len) {
    http_conn *c = p->data;
    if (HTTP_BODY_STREAMING(c)) {
        http_req *sr = c->active;
        if (!sr || c->body == HTTP_BODY_OFFERED)
            return 0; /* answered early: the rest is discarded, the connection closes */
        c->body_seen += len;
        if (c->body_seen > c->body_max) {
            c->reject_status = 413;
            return HPE_PAUSED;
        }
        c->sink->on_data(sr, at, len, c->sink_ud);
        if (c->body == HTTP_BODY_PAUSED || c->active != sr)
            return HPE_PAUSED;
        return 0;
    }
    http_req *r = c->cur;
    if (r->body.len + len > c->srv->cfg.max_body_bytes) {
        c->reject_status = 413;
        return HPE_PAUSED;
    }
    base_buf_append(&r->body, at, len);
    return 0;
}

static int http_on_message_complete(llhttp_t *p) {
    http_conn *c = p->data;
    c->msg_complete = true;
    return HPE_PAUSED;
}

const llhttp_settings_t http_parse_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_url,
    .on_header_field = http_on_header_field,
    .on_header_value = http_on_header_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};
