/* router.c - exact path matching with {param} segments, auth, 404/405, and dispatch.
 *
 * Order of checks matches the reference: OPTIONS is answered by the CORS layer; an
 * unknown path is a 404 problem without auth; a known path checks the bearer token
 * before the method, so a wrong method without a token is 401, not 405. */
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

static char **router_split(const char *path, size_t *n) {
    /* "/a/b" -> ["a","b"]; "/" -> [""]; a trailing slash yields a final empty segment so
     * that "/v1/health/" never matches "/v1/health". */
    size_t cap = 8, cnt = 0;
    char **segs = base_xmalloc(cap * sizeof(char *));
    const char *p = path[0] == '/' ? path + 1 : path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (cnt == cap)
            segs = base_xrealloc(segs, (cap *= 2) * sizeof(char *));
        segs[cnt++] = base_xstrndup(p, len);
        if (!slash)
            break;
        p = slash + 1;
    }
    *n = cnt;
    return segs;
}

static void router_free_segs(char **segs, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(segs[i]);
    free(segs);
}

void http_route(http_server *srv, unsigned methods, const char *pattern, unsigned flags,
                http_handler_fn fn, void *ud) {
    http_route_entry *r = base_xcalloc(1, sizeof *r);
    r->methods = methods;
    if (methods & HTTP_M_GET)
        r->methods |= HTTP_M_HEAD;
    r->pattern = base_xstrdup(pattern);
    r->segs = router_split(pattern, &r->nsegs);
    if (r->nsegs && !strcmp(r->segs[r->nsegs - 1], "*"))
        flags |= HTTP_ROUTE_PREFIX;
    r->flags = flags;
    r->fn = fn;
    r->ud = ud;
    /* Keep registration order: it decides the order of the allow header. */
    http_route_entry **pp = &srv->routes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
}

void http_routes_free(http_server *srv) {
    http_route_entry *r = srv->routes;
    while (r) {
        http_route_entry *next = r->next;
        router_free_segs(r->segs, r->nsegs);
        free(r->pattern);
        free(r);
        r = next;
    }
    srv->routes = NULL;
}

#define ROUTER_MAX_PARAMS 8

/* Match the raw path against a route without allocating; records parameter spans. */
static bool router_match(const http_route_entry *r, const char *path, const char **pstart,
                         size_t *plen, size_t *np_out) {
    bool prefix = r->flags & HTTP_ROUTE_PREFIX;
    size_t fixed = prefix ? r->nsegs - 1 : r->nsegs;
    const char *p = path[0] == '/' ? path + 1 : path;
    size_t np = 0;
    for (size_t i = 0; i < fixed; i++) {
        if (!p)
            return false; /* path has fewer segments */
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        const char *ps = r->segs[i];
        if (ps[0] == '{') {
            if (len == 0 || np == ROUTER_MAX_PARAMS)
                return false;
            pstart[np] = p;
            plen[np++] = len;
        } else if (strlen(ps) != len || memcmp(ps, p, len) != 0) {
            return false;
        }
        p = slash ? slash + 1 : NULL;
    }
    if (!prefix && p)
        return false; /* path has more segments (a trailing slash counts as one) */
    *np_out = np;
    return true;
}

/* Decode the recorded parameter spans into req->params; false on a malformed escape. */
static bool router_set_params(http_req *req, const char **pstart, const size_t *plen, size_t np) {
    req->params = base_xcalloc(np ? np : 1, sizeof(char *));
    for (size_t i = 0; i < np; i++) {
        req->params[i] = base_percent_decode(pstart[i], plen[i], false);
        if (!req->params[i])
            return false;
        if (!base_utf8_valid(req->params[i], strlen(req->params[i]))) {
            free(req->params[i]);
            req->params[i] = NULL;
            return false;
        }
        req->nparams = i + 1;
    }
    return true;
}

/* `Basic base64(user:password)` whose password is the token; the user name is not checked
 * (OpenCode clients send "opencode", the secret is the password). */
static bool router_basic_ok(const char *auth, const char *tok, size_t tlen) {
    if (strncmp(auth, "Basic ", 6) != 0)
        return false;
    const char *b64 = auth + 6;
    size_t len = strlen(b64);
    if (len == 0 || len > 4096)
        return false;
    uint8_t *raw = base_xmalloc(BASE64_DECODE_LENGTH(len) + 1);
    struct base64_decode_ctx ctx;
    size_t n = BASE64_DECODE_LENGTH(len);
    base64_decode_init(&ctx);
    bool ok = base64_decode_update(&ctx, &n, raw, len, b64) && base64_decode_final(&ctx);
    const char *colon = ok ? memchr(raw, ':', n) : NULL;
    if (colon) {
        const char *pw = colon + 1;
        ok = base_ct_equal(pw, n - (size_t)(pw - (const char *)raw), tok, tlen);
    } else {
        ok = false;
    }
    free(raw);
    return ok;
}

static bool router_token_ok(const http_server *srv, const http_req *req, unsigned flags) {
    const char *tok = srv->cfg.token;
    size_t tlen = strlen(tok);
    const char *auth = http_req_header(req, "authorization");
    if (auth && !strncmp(auth, "Bearer ", 7)) {
        const char *given = auth + 7;
        if (base_ct_equal(given, strlen(given), tok, tlen))
            return true;
    }
    if (auth && (flags & HTTP_ROUTE_OPENCODE_AUTH) && router_basic_ok(auth, tok, tlen))
        return true;
    if (flags & HTTP_ROUTE_QUERY_TOKEN) {
        char *q = NULL;
        if (http_query_get(req, "access_token", &q) == 1) {
            bool ok = base_ct_equal(q, strlen(q), tok, tlen);
            free(q);
            return ok;
        }
    }
    return false;
}

static void router_allow_header(base_buf *b, unsigned methods) {
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {{HTTP_M_POST, "POST"},      {HTTP_M_PUT, "PUT"},       {HTTP_M_GET, "GET"},
                 {HTTP_M_HEAD, "HEAD"},      {HTTP_M_DELETE, "DELETE"}, {HTTP_M_PATCH, "PATCH"},
                 {HTTP_M_OPTIONS, "OPTIONS"}};
    bool first = true;
    base_buf_appends(b, "allow: ");
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(methods & order[i].bit))
            continue;
        base_buf_appendf(b, "%s%s", first ? "" : ",", order[i].name);
        first = false;
    }
    base_buf_appends(b, "\r\n");
}

/* The OpenCode clients' 401 (opencode-compat.md §2.2): their errors body, no
 * WWW-Authenticate, and the allow header when the method did not match (allowed != 0). */
static void router_opencode_401(http_req *req, unsigned allowed) {
    static const char body[] = "{\"errors\":[{\"message\":\"missing or invalid bearer token\"}]}";
    base_buf h;
    base_buf_init(&h);
    if (allowed)
        router_allow_header(&h, allowed);
    http_reply(req, 401, "application/json", h.len ? h.data : NULL, body, sizeof body - 1);
    base_buf_free(&h);
}

unsigned http_router_flags(http_server *srv, const http_req *req) {
    const char *pstart[ROUTER_MAX_PARAMS];
    size_t plen[ROUTER_MAX_PARAMS], np;
    for (http_route_entry *r = srv->routes; r; r = r->next)
        if ((r->methods & req->method) && router_match(r, req->path, pstart, plen, &np))
            return r->flags;
    return 0;
}

void http_router_dispatch(http_server *srv, http_req *req) {
    if (req->method == HTTP_M_OPTIONS) {
        http_cors_preflight(req);
        return;
    }
    const char *pstart[ROUTER_MAX_PARAMS], *hstart[ROUTER_MAX_PARAMS];
    size_t plen[ROUTER_MAX_PARAMS], hlen[ROUTER_MAX_PARAMS], np, hnp = 0;
    unsigned allowed = 0, flags = 0;
    http_route_entry *hit = NULL;
    for (http_route_entry *r = srv->routes; r; r = r->next) {
        if (!router_match(r, req->path, pstart, plen, &np))
            continue;
        allowed |= r->methods;
        flags |= r->flags;
        if (!hit && (r->methods & req->method)) {
            hit = r;
            hnp = np;
            memcpy(hstart, pstart, np * sizeof(char *));
            memcpy(hlen, plen, np * sizeof(size_t));
        }
    }
    if (!allowed) {
        http_reply_problem(req, 404, "invalid_request", "Not Found", "endpoint not found", NULL);
        return;
    }
    if ((flags & HTTP_ROUTE_AUTH) && srv->cfg.token &&
        !router_token_ok(srv, req, hit ? hit->flags : flags)) {
        if (flags & HTTP_ROUTE_OPENCODE_AUTH) {
            router_opencode_401(req, hit ? 0 : allowed);
            return;
        }
        http_reply_problem(
            req, 401, "token_invalid", "Token Invalid", "token invalid",
            json_pack("{s:{s:s}}", "details", "message", "missing or invalid bearer token"));
        return;
    }
    if (!hit) {
        base_buf h;
        base_buf_init(&h);
        router_allow_header(&h, allowed);
        http_reply(req, 405, NULL, h.data, NULL, 0);
        base_buf_free(&h);
        return;
    }
    if (!router_set_params(req, hstart, hlen, hnp)) {
        http_problem_invalid_request(req, "path parameters must be percent-encoded UTF-8");
        return;
    }
    hit->fn(req, hit->ud);
}
