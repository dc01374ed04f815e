/* reply.c - everything that shapes a response: status lines, common headers, CORS,
 * problem+json errors and response streams (chunked or sized). Reading a request is
 * request.c's. */
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char http_vary[] =
    "vary: origin, access-control-request-method, access-control-request-headers\r\n";

static const char *http_status_text(int s) {
    switch (s) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

const char *http_date_now(void) {
    static char buf[64];
    static time_t last;
    time_t now = time(NULL);
    if (now != last || !buf[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

/* ---- response heads -------------------------------------------------------------------- */

static bool http_origin_allowed(const http_server *srv, const char *origin) {
    if (!origin || !srv->cfg.cors_origins)
        return false;
    for (size_t i = 0; srv->cfg.cors_origins[i]; i++)
        if (!strcmp(srv->cfg.cors_origins[i], origin))
            return true;
    return false;
}

static void http_head_common(base_buf *h, http_req *req, int status) {
    const http_server *srv = req->conn->srv;
    base_buf_appendf(h, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    base_buf_append(h, http_vary, sizeof http_vary - 1);
    base_buf_appendf(h, "date: %s\r\n", http_date_now());
    const char *origin = http_req_header(req, "origin");
    if (http_origin_allowed(srv, origin))
        base_buf_appendf(h, "access-control-allow-origin: %s\r\n", origin);
    if (srv->cfg.cors_credentials)
        base_buf_appends(h, "access-control-allow-credentials: true\r\n");
    if (!req->keep_alive || srv->closing)
        base_buf_appends(h, "connection: close\r\n");
    else if (req->http10)
        base_buf_appends(h, "connection: keep-alive\r\n");
}

void http_resp_set(http_req *req, http_resp_state to) {
    static const unsigned next[] = {
        [HTTP_RESP_NONE] = 1u << HTTP_RESP_CHUNKED | 1u << HTTP_RESP_SIZED | 1u << HTTP_RESP_DONE |
                           1u << HTTP_RESP_UPGRADED,
        [HTTP_RESP_CHUNKED] = 1u << HTTP_RESP_DONE,
        [HTTP_RESP_SIZED] = 1u << HTTP_RESP_DONE,
        [HTTP_RESP_DONE] = 0,
        [HTTP_RESP_UPGRADED] = 0,
    };
    BASE_ASSERT(next[req->resp] & (1u << to));
    req->resp = to;
}

/* The response is complete: what the access log and keep-alive decision need. */
static void http_mark_answered(http_req *req, int status) {
    http_resp_set(req, HTTP_RESP_DONE);
    req->status = status;
    if (req->conn->srv->closing)
        req->keep_alive = false;
}

static void http_send(http_req *req, int status, const char *ctype, const char *extra,
                      const void *body, size_t len, bool body_static) {
    http_mark_answered(req, status);
    base_buf h;
    base_buf_init(&h);
    http_head_common(&h, req, status);
    if (ctype)
        base_buf_appendf(&h, "content-type: %s\r\n", ctype);
    if (status != 204 && status != 304 && status >= 200)
        base_buf_appendf(&h, "content-length: %zu\r\n", len);
    if (extra)
        base_buf_appends(&h, extra);
    base_buf_appends(&h, "\r\n");
    bool with_body = len > 0 && req->method != HTTP_M_HEAD && status != 204;
    http_conn *c = req->conn;
    size_t hlen;
    char *head = base_buf_steal(&h, &hlen);
    if (with_body && !body_static) {
        /* One allocation, one write: copy the body behind the head. */
        head = base_xrealloc(head, hlen + len);
        memcpy(head + hlen, body, len);
        uv_buf_t b = base_uv_buf(head, hlen + len);
        http_conn_write(c, &b, 1, head, NULL);
    } else if (with_body) {
        uv_buf_t b[2] = {base_uv_buf(head, hlen), base_uv_buf((char *)body, len)};
        http_conn_write(c, b, 2, head, NULL);
    } else {
        uv_buf_t b = base_uv_buf(head, hlen);
        http_conn_write(c, &b, 1, head, NULL);
    }
    http_conn_request_done(c, req);
}

void http_reply(http_req *req, int status, const char *content_type, const char *extra_headers,
                const void *body, size_t len) {
    http_send(req, status, content_type, extra_headers, body, len, false);
}

void http_reply_static(http_req *req, int status, const char *content_type, const void *body,
                       size_t len) {
    http_send(req, status, content_type, NULL, body, len, true);
}

void http_reply_empty(http_req *req, int status) {
    http_send(req, status, NULL, NULL, NULL, 0, false);
}

void http_reply_json(http_req *req, int status, json_t *body) {
    char *s = base_json_compact(body);
    json_decref(body);
    http_send(req, status, "application/json", NULL, s, strlen(s), false);
    free(s);
}

void http_reply_problem(http_req *req, int status, const char *code, const char *title,
                        const char *detail, json_t *extra) {
    json_t *p = json_object();
    json_object_set_new(p, "type", json_sprintf("urn:sandbox-agent:error:%s", code));
    json_object_set_new(p, "title", json_string(title));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "detail", json_string(detail));
    if (extra) {
        json_object_update(p, extra);
        json_decref(extra);
    }
    char *s = base_json_compact(p);
    json_decref(p);
    LOG_DEBUG("problem", "status=%d code=%s", status, code);
    http_send(req, status, "application/problem+json", NULL, s, strlen(s), false);
    free(s);
}

void http_problem_invalid_request(http_req *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    char *detail = base_xasprintf("invalid request: %s", msg ? msg : "");
    http_reply_problem(req, 400, "invalid_request", "Invalid Request", detail, NULL);
    free(detail);
    free(msg);
}

void http_problem_with_message(http_req *req, int status, const char *code, const char *title,
                               const char *prefix, const char *message) {
    char *detail = base_xasprintf("%s: %s", prefix, message);
    http_reply_problem(req, status, code, title, detail,
                       json_pack("{s:{s:s}}", "details", "message", message));
    free(detail);
}

/* ---- CORS preflight ---------------------------------------------------------------------- */

static void http_join(base_buf *h, const char *name, const char **list, const char *echo) {
    base_buf_appendf(h, "%s: ", name);
    if (list) {
        for (size_t i = 0; list[i]; i++)
            base_buf_appendf(h, "%s%s", i ? "," : "", list[i]);
    } else if (echo) {
        /* With credentials a literal '*' is not honoured by browsers: echo the request. */
        base_buf_appends(h, echo);
    } else {
        base_buf_appends(h, "*");
    }
    base_buf_appends(h, "\r\n");
}

void http_cors_preflight(http_req *req) {
    const http_server *srv = req->conn->srv;
    base_buf h;
    base_buf_init(&h);
    bool cred = srv->cfg.cors_credentials;
    http_join(&h, "access-control-allow-methods", srv->cfg.cors_methods,
              cred ? http_req_header(req, "access-control-request-method") : NULL);
    http_join(&h, "access-control-allow-headers", srv->cfg.cors_headers,
              cred ? http_req_header(req, "access-control-request-headers") : NULL);
    http_reply(req, 200, NULL, h.data, NULL, 0);
    base_buf_free(&h);
}

/* ---- streams ------------------------------------------------------------------------------ */

/* Shared by both stream kinds: length < 0 means chunked. */
static bool http_stream_begin(http_req *req, int status, const char *content_type,
                              const char *extra_headers, int64_t length) {
    http_conn *c = req->conn;
    BASE_ASSERT(req->resp == HTTP_RESP_NONE);
    req->status = status;
    base_buf h;
    base_buf_init(&h);
    http_head_common(&h, req, status);
    base_buf_appendf(&h, "content-type: %s\r\n", content_type);
    if (length >= 0)
        base_buf_appendf(&h, "content-length: %lld\r\n", (long long)length);
    else
        base_buf_appends(&h, "transfer-encoding: chunked\r\n");
    if (extra_headers)
        base_buf_appends(&h, extra_headers);
    base_buf_appends(&h, "\r\n");
    size_t hlen;
    char *head = base_buf_steal(&h, &hlen);
    uv_buf_t b = base_uv_buf(head, hlen);
    http_conn_write(c, &b, 1, head, NULL);
    if (req->method == HTTP_M_HEAD) {
        /* HEAD gets the headers of the stream and nothing else. */
        http_mark_answered(req, status);
        http_conn_request_done(c, req);
        return false;
    }
    http_resp_set(req, length >= 0 ? HTTP_RESP_SIZED : HTTP_RESP_CHUNKED);
    req->stream_left = length >= 0 ? (uint64_t)length : 0;
    return true;
}

bool http_stream_start(http_req *req, int status, const char *content_type,
                       const char *extra_headers) {
    return http_stream_begin(req, status, content_type, extra_headers, -1);
}

bool http_stream_start_sized(http_req *req, int status, const char *content_type,
                             const char *extra_headers, uint64_t length) {
    return http_stream_begin(req, status, content_type, extra_headers, (int64_t)length);
}

bool http_stream_write(http_req *req, base_rcbuf *data) {
    http_conn *c = req->conn;
    BASE_ASSERT(http_resp_streaming(req));
    if (c->closing)
        return false;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (queued + data->len > c->srv->cfg.stream_queue_limit) {
        LOG_WARN("dropping slow stream consumer", "queued_bytes=%zu path=%s", queued, req->path);
        http_conn_close(c);
        return false;
    }
    if (req->resp == HTTP_RESP_SIZED) {
        /* Raw body bytes; never more than the announced length. */
        size_t n = data->len <= req->stream_left ? data->len : (size_t)req->stream_left;
        req->stream_left -= n;
        if (n) {
            uv_buf_t rb = base_uv_buf(data->data, n);
            http_conn_write(c, &rb, 1, NULL, base_rcbuf_ref(data));
        }
        return !c->closing;
    }
    /* The chunk head is tiny and per write; the payload is shared between consumers. */
    char *head = base_xasprintf("%zx\r\n", data->len);
    static char crlf[] = "\r\n";
    uv_buf_t b[3] = {base_uv_buf(head, strlen(head)), base_uv_buf(data->data, data->len),
                     uv_buf_init(crlf, 2)};
    http_conn_write(c, b, 3, head, base_rcbuf_ref(data));
    return !c->closing;
}

bool http_stream_write_str(http_req *req, const char *s) {
    base_rcbuf *b = base_rcbuf_new(s, strlen(s));
    bool ok = http_stream_write(req, b);
    base_rcbuf_unref(b);
    return ok;
}

void http_stream_end(http_req *req) {
    http_conn *c = req->conn;
    BASE_ASSERT(http_resp_streaming(req));
    if (req->resp == HTTP_RESP_SIZED) {
        /* A body shorter than announced leaves the client waiting: only closing tells it. */
        if (req->stream_left)
            req->keep_alive = false;
    } else {
        static char end[] = "0\r\n\r\n";
        uv_buf_t b = uv_buf_init(end, 5);
        http_conn_write(c, &b, 1, NULL, NULL);
    }
    http_mark_answered(req, req->status);
    http_conn_request_done(c, req);
}
