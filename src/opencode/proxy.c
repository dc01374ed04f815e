/* proxy.c - the /opencode config, command and TUI routes (opencode-compat.md §7.6, §14),
 * forwarded to a native `opencode serve` when OPENCODE_COMPAT_PROXY_URL names one, answered
 * locally otherwise.
 *
 * Forwarding: same method, the path below /opencode without the query, only the headers
 * authorization, accept and x-opencode-directory, the JSON body re-serialised where the
 * route takes one; the upstream status, content-type and body are relayed. A small HTTP/1.1
 * client on our libuv loop does it (Connection: close, one request per connection, 10 s for
 * the whole exchange). Failing before the response head (resolve, connect, write, timeout)
 * falls back to the local answer, as the reference does; failing after it is a 502.
 *
 * The reference's sidecar (spawning `opencode serve` on demand) is not implemented: its
 * health probe never succeeds against real opencode (quirk Q26), so it only cost seconds per
 * call before falling back. Only http:// targets work (there is no TLS client here); an
 * https:// URL is reported once at startup and ignored. */
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "opencode/internal.h"
#include "opencode/meta_internal.h"

#define OPENCODE_PROXY_TIMEOUT_MS 10000
/* An upstream body larger than this is not relayed (502): config answers are small. */
#define OPENCODE_PROXY_MAX_BODY ((size_t)32 << 20)

/* The forwarding target, parsed once at startup. Owner: this file, for the process life. */
typedef struct opencode_proxy_target {
    char *host;   /* without IPv6 brackets */
    char *port;   /* decimal */
    char *prefix; /* "" or "/base" (no trailing slash) */
    char *hosthdr;
} opencode_proxy_target;

static opencode_proxy_target *opencode_proxy;

/* What the route answers when there is no upstream. */
typedef void (*opencode_local_fn)(http_req *req);

/* How a route takes its body. */
typedef enum {
    OPENCODE_BODY_NONE,     /* no body read, none forwarded */
    OPENCODE_BODY_OPTIONAL, /* J?: forwarded when it is JSON, ignored otherwise */
    OPENCODE_BODY_REQUIRED, /* J: 415/400 before anything else */
} opencode_body_kind;

/* One proxiable route. Static; passed as route data. */
typedef struct opencode_proxy_route {
    const char *pattern;
    unsigned method;
    opencode_body_kind body;
    opencode_local_fn local;
} opencode_proxy_route;

/* ---- local answers (§7.6) ----------------------------------------------------------------- */

static void opencode_local_true(http_req *req) {
    opencode_reply_json(req, 200, json_true());
}

/* No slash commands are defined anywhere in this server. */
static void opencode_local_commands(http_req *req) {
    opencode_reply_json(req, 200, json_array());
}

/* No TUI control request is ever queued here. */
static void opencode_local_control_next(http_req *req) {
    opencode_reply_json(req, 200, json_pack("{s:{},s:s}", "body", "path", ""));
}

/* Nothing is configured globally: our config is per directory (and agents and providers come
 * from the agent catalogue, not from config). */
static void opencode_local_global_config(http_req *req) {
    opencode_reply_json(req, 200, json_pack("{s:{},s:{},s:{}}", "agent", "mcp", "provider"));
}

static void opencode_config_work(opencode_meta_job *j) {
    json_t *mcp = opencode_mcp_config(j->dir, j->err, sizeof j->err);
    if (mcp)
        j->body = json_pack("{s:{},s:o,s:{}}", "agent", "mcp", mcp, "provider");
}

/* The directory's config: its MCP servers (src/config), in OpenCode's config shape. */
static void opencode_local_config(http_req *req) {
    opencode_meta_run(req, opencode_config_work, NULL, NULL);
}

/* The reference echoes the body and stores nothing; we say that nothing is stored. */
static void opencode_local_config_patch(http_req *req) {
    opencode_reply_error(req, 400,
                         "config changes are not stored: sandbox-agent's OpenCode API has no "
                         "writable config (MCP servers: PUT /v1/config/mcp; a native opencode "
                         "can be reached with OPENCODE_COMPAT_PROXY_URL)");
}

/* ---- the forwarding client --------------------------------------------------------------- */

/* One forwarded request. Owner: itself; freed once its handles are closed. */
typedef struct opencode_proxy_call {
    http_req *req; /* NULL once answered or the client left */
    const opencode_proxy_route *route;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t timer;
    int open_handles; /* tcp and timer until their close callbacks ran */
    bool resolving, tcp_started;
    base_buf out; /* the request bytes */
    llhttp_t parser;
    llhttp_settings_t settings;
    bool head_done, complete, in_ctype;
    base_buf field, ctype, body;
} opencode_proxy_call;

static void opencode_proxy_free(opencode_proxy_call *c) {
    base_buf_free(&c->out);
    base_buf_free(&c->field);
    base_buf_free(&c->ctype);
    base_buf_free(&c->body);
    free(c);
}

static void opencode_proxy_closed(uv_handle_t *h) {
    opencode_proxy_call *c = h->data;
    if (--c->open_handles == 0)
        opencode_proxy_free(c);
}

/* Ends the call: answers the client (if still there) with the relayed response, a 502, or
 * the local fallback, then closes the handles. */
static void opencode_proxy_finish(opencode_proxy_call *c, const char *err) {
    http_req *req = c->req;
    c->req = NULL;
    if (req) {
        if (!err && c->complete) {
            const char *ct = c->ctype.len ? c->ctype.data : NULL;
            http_reply(req, (int)c->parser.status_code, ct, NULL, c->body.data, c->body.len);
        } else if (c->head_done) {
            char *m = base_xasprintf("failed to read proxied response: %s",
                                     err ? err : "connection closed early");
            opencode_reply_json(
                req, 502,
                json_pack("{s:{},s:[{s:s}],s:b}", "data", "errors", "message", m, "success", 0));
            free(m);
        } else {
            LOG_INFO("opencode proxy unavailable, answering locally", "path=%s error=\"%s\"",
                     req->path, err ? err : "closed");
            c->route->local(req);
        }
    }
    if (c->resolving)
        return; /* the resolver callback closes the handles */
    uv_timer_stop(&c->timer);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, opencode_proxy_closed);
    if (c->tcp_started && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, opencode_proxy_closed);
}

static void opencode_proxy_abort(http_req *req, void *ud) {
    opencode_proxy_call *c = ud;
    c->req = NULL;
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai);
    else
        opencode_proxy_finish(c, "client left");
}

static void opencode_proxy_timeout(uv_timer_t *t) {
    opencode_proxy_call *c = t->data;
    if (c->resolving) {
        uv_cancel((uv_req_t *)&c->gai);
        return;
    }
    opencode_proxy_finish(c, "timed out after 10 s");
}

/* llhttp callbacks: keep content-type and the body. */
static int opencode_proxy_on_field(llhttp_t *p, const char *at, size_t len) {
    opencode_proxy_call *c = p->data;
    base_buf_append(&c->field, at, len);
    return 0;
}

static int opencode_proxy_on_field_done(llhttp_t *p) {
    opencode_proxy_call *c = p->data;
    c->in_ctype = c->field.len == 12 && base_ascii_ieq(c->field.data, "content-type", 12);
    c->field.len = 0;
    return 0;
}

static int opencode_proxy_on_value(llhttp_t *p, const char *at, size_t len) {
    opencode_proxy_call *c = p->data;
    if (c->in_ctype)
        base_buf_append(&c->ctype, at, len);
    return 0;
}

static int opencode_proxy_on_value_done(llhttp_t *p) {
    opencode_proxy_call *c = p->data;
    if (c->in_ctype) {
        base_buf_append(&c->ctype, "", 1); /* NUL-terminate */
        c->ctype.len--;
        c->in_ctype = false;
    }
    return 0;
}

static int opencode_proxy_on_headers(llhttp_t *p) {
    opencode_proxy_call *c = p->data;
    c->head_done = true;
    return 0;
}

static int opencode_proxy_on_body(llhttp_t *p, const char *at, size_t len) {
    opencode_proxy_call *c = p->data;
    if (c->body.len + len > OPENCODE_PROXY_MAX_BODY)
        return HPE_USER;
    base_buf_append(&c->body, at, len);
    return 0;
}

static int opencode_proxy_on_complete(llhttp_t *p) {
    opencode_proxy_call *c = p->data;
    c->complete = true;
    return HPE_PAUSED;
}

static void opencode_proxy_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    static char slab[64 * 1024];
    buf->base = slab; /* consumed synchronously in on_read */
    buf->len = sizeof slab;
}

static void opencode_proxy_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    opencode_proxy_call *c = s->data;
    if (n == 0)
        return;
    llhttp_errno_t e = n < 0 ? (n == UV_EOF ? llhttp_finish(&c->parser) : HPE_INTERNAL)
                             : llhttp_execute(&c->parser, buf->base, (size_t)n);
    if (c->complete) {
        opencode_proxy_finish(c, NULL);
    } else if (n < 0 && n != UV_EOF) {
        opencode_proxy_finish(c, uv_strerror((int)n));
    } else if (e != HPE_OK) {
        opencode_proxy_finish(c, e == HPE_USER ? "response body too large" : llhttp_errno_name(e));
    } else if (n == UV_EOF) {
        opencode_proxy_finish(c, "connection closed early");
    }
}

static void opencode_proxy_on_write(uv_write_t *w, int status) {
    opencode_proxy_call *c = w->data;
    if (status < 0 && c->req)
        opencode_proxy_finish(c, uv_strerror(status));
}

static void opencode_proxy_on_connect(uv_connect_t *cr, int status) {
    opencode_proxy_call *c = cr->data;
    if (status == UV_ECANCELED || !c->req)
        return; /* finish already ran (client left or timeout) */
    if (status < 0) {
        opencode_proxy_finish(c, uv_strerror(status));
        return;
    }
    uv_buf_t b = base_uv_buf(c->out.data, c->out.len);
    c->wr.data = c;
    int r = uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, opencode_proxy_on_write);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&c->tcp, opencode_proxy_alloc, opencode_proxy_on_read);
    if (r < 0)
        opencode_proxy_finish(c, uv_strerror(r));
}

static void opencode_proxy_on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
    opencode_proxy_call *c = g->data;
    c->resolving = false;
    int r = status;
    if (r == 0 && c->req) {
        uv_tcp_init(g->loop, &c->tcp);
        c->tcp.data = c;
        c->tcp_started = true;
        c->open_handles++;
        c->conn.data = c;
        r = uv_tcp_connect(&c->conn, &c->tcp, ai->ai_addr, opencode_proxy_on_connect);
    }
    uv_freeaddrinfo(ai);
    if (r < 0 || !c->req)
        opencode_proxy_finish(c, r < 0 ? uv_strerror(r) : "client left");
}

/* The request bytes: method, prefix + path below /opencode, three copied headers, body. */
static void opencode_proxy_build(opencode_proxy_call *c, http_req *req, json_t *body) {
    static const char *copied[] = {"authorization", "accept", "x-opencode-directory"};
    base_buf *o = &c->out;
    const char *path = req->path + strlen("/opencode");
    /* HEAD goes up as GET: a HEAD answer's length would leave the parser waiting. */
    base_buf_appendf(o, "%s %s%s HTTP/1.1\r\nhost: %s\r\nconnection: close\r\n",
                     req->method == HTTP_M_HEAD ? "GET" : req->method_name, opencode_proxy->prefix,
                     path, opencode_proxy->hosthdr);
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        const char *v = http_req_header(req, copied[i]);
        if (v)
            base_buf_appendf(o, "%s: %s\r\n", copied[i], v);
    }
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (s)
        base_buf_appendf(o, "content-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
                         strlen(s), s);
    else
        base_buf_appends(o, req->method == HTTP_M_GET || req->method == HTTP_M_HEAD
                                ? "\r\n"
                                : "content-length: 0\r\n\r\n");
    free(s);
}

static void opencode_proxy_start(http_req *req, const opencode_proxy_route *rt, json_t *body) {
    opencode_proxy_call *c = base_xcalloc(1, sizeof *c);
    c->req = req;
    c->route = rt;
    base_buf_init(&c->out);
    base_buf_init(&c->field);
    base_buf_init(&c->ctype);
    base_buf_init(&c->body);
    opencode_proxy_build(c, req, body);
    llhttp_settings_init(&c->settings);
    c->settings.on_header_field = opencode_proxy_on_field;
    c->settings.on_header_field_complete = opencode_proxy_on_field_done;
    c->settings.on_header_value = opencode_proxy_on_value;
    c->settings.on_header_value_complete = opencode_proxy_on_value_done;
    c->settings.on_headers_complete = opencode_proxy_on_headers;
    c->settings.on_body = opencode_proxy_on_body;
    c->settings.on_message_complete = opencode_proxy_on_complete;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
    c->parser.data = c;
    uv_loop_t *loop = http_req_loop(req);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    uv_timer_start(&c->timer, opencode_proxy_timeout, OPENCODE_PROXY_TIMEOUT_MS, 0);
    http_req_on_abort(req, opencode_proxy_abort, c);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->resolving = true;
    int r = uv_getaddrinfo(loop, &c->gai, opencode_proxy_on_resolved, opencode_proxy->host,
                           opencode_proxy->port, &hints);
    if (r < 0) {
        c->resolving = false;
        opencode_proxy_finish(c, uv_strerror(r));
    }
}

/* ---- routes ------------------------------------------------------------------------------- */

static void opencode_proxy_handler(http_req *req, void *ud) {
    const opencode_proxy_route *rt = ud;
    json_t *body = NULL;
    if (rt->body != OPENCODE_BODY_NONE) {
        body = opencode_body(req, rt->body == OPENCODE_BODY_REQUIRED);
        if (!body && rt->body == OPENCODE_BODY_REQUIRED)
            return; /* answered 415/400 */
    }
    if (opencode_proxy)
        opencode_proxy_start(req, rt, body);
    else
        rt->local(req);
    json_decref(body);
}

static const opencode_proxy_route opencode_proxy_table[] = {
    {"/opencode/command", HTTP_M_GET, OPENCODE_BODY_NONE, opencode_local_commands},
    {"/opencode/config", HTTP_M_GET, OPENCODE_BODY_NONE, opencode_local_config},
    {"/opencode/config", HTTP_M_PATCH, OPENCODE_BODY_REQUIRED, opencode_local_config_patch},
    {"/opencode/global/config", HTTP_M_GET, OPENCODE_BODY_NONE, opencode_local_global_config},
    {"/opencode/global/config", HTTP_M_PATCH, OPENCODE_BODY_REQUIRED, opencode_local_config_patch},
    {"/opencode/tui/control/next", HTTP_M_GET, OPENCODE_BODY_NONE, opencode_local_control_next},
    {"/opencode/tui/control/response", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/append-prompt", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/submit-prompt", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/execute-command", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/show-toast", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/publish", HTTP_M_POST, OPENCODE_BODY_OPTIONAL, opencode_local_true},
    {"/opencode/tui/open-help", HTTP_M_POST, OPENCODE_BODY_NONE, opencode_local_true},
    {"/opencode/tui/open-themes", HTTP_M_POST, OPENCODE_BODY_NONE, opencode_local_true},
    {"/opencode/tui/open-models", HTTP_M_POST, OPENCODE_BODY_NONE, opencode_local_true},
    {"/opencode/tui/clear-prompt", HTTP_M_POST, OPENCODE_BODY_NONE, opencode_local_true},
};

static void opencode_open_sessions(http_req *req, void *ud) {
    opencode_local_true(req); /* never proxied, as in the reference */
}

/* OPENCODE_COMPAT_PROXY_URL: trimmed, one trailing '/' removed, http:// with a host and an
 * optional port and base path. NULL (and a log line saying why) otherwise. */
static opencode_proxy_target *opencode_proxy_parse(const char *url) {
    size_t len = strlen(url);
    const char *u = base_trim(url, &len);
    if (len && u[len - 1] == '/')
        len--;
    if (len == 0)
        return NULL;
    char *s = base_xstrndup(u, len);
    opencode_proxy_target *t = NULL;
    if (!strncmp(s, "https://", 8)) {
        LOG_WARN("OPENCODE_COMPAT_PROXY_URL ignored: https is not supported (no TLS client)",
                 "url=%s", s);
    } else if (strncmp(s, "http://", 7) != 0) {
        LOG_WARN("OPENCODE_COMPAT_PROXY_URL ignored: not an http:// URL", "url=%s", s);
    } else {
        const char *h = s + 7, *he, *p;
        if (*h == '[') {
            he = strchr(h, ']');
            p = he ? he + 1 : NULL;
            h++;
        } else {
            he = h + strcspn(h, ":/");
            p = he;
        }
        const char *port = "80";
        size_t port_len = 2;
        if (p && *p == ':') {
            port = p + 1;
            port_len = strspn(port, "0123456789");
            p = port + port_len;
        }
        uint64_t pv;
        bool ok = he && he > h && p && (*p == 0 || *p == '/') &&
                  base_parse_u64(port, port_len, &pv) && pv > 0 && pv < 65536 &&
                  !strpbrk(s, "?# \r\n");
        if (ok) {
            t = base_xcalloc(1, sizeof *t);
            t->host = base_xstrndup(h, (size_t)(he - h));
            t->port = base_xstrndup(port, port_len);
            t->prefix = base_xstrdup(p);
            bool v6 = strchr(t->host, ':') != NULL;
            t->hosthdr =
                base_xasprintf("%s%s%s:%s", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port);
            LOG_INFO("opencode config and TUI routes are forwarded", "url=%s", s);
        } else {
            LOG_WARN("OPENCODE_COMPAT_PROXY_URL ignored: cannot parse it", "url=%s", s);
        }
    }
    free(s);
    return t;
}

void opencode_proxy_routes(http_server *srv, uv_loop_t *loop) {
    const char *url = getenv("OPENCODE_COMPAT_PROXY_URL");
    if (url && !opencode_proxy)
        opencode_proxy = opencode_proxy_parse(url);
    for (size_t i = 0; i < sizeof opencode_proxy_table / sizeof opencode_proxy_table[0]; i++)
        http_route(srv, opencode_proxy_table[i].method, opencode_proxy_table[i].pattern,
                   OPENCODE_ROUTE, opencode_proxy_handler, (void *)&opencode_proxy_table[i]);
    http_route(srv, HTTP_M_POST, "/opencode/tui/open-sessions", OPENCODE_ROUTE,
               opencode_open_sessions, NULL);
}
