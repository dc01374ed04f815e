/* request.c - reading a request: header lookup, path parameters, query parameters, media
 * type checks, the JSON body, and freeing a request. Shaping the answer is reply.c's. */
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

http_req *http_req_new(http_conn *c) {
    http_req *r = base_xcalloc(1, sizeof *r);
    r->conn = c;
    r->start_ms = base_mono_ms();
    base_buf_init(&r->body);
    return r;
}

void http_req_free(http_req *req) {
    if (!req)
        return;
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    for (size_t i = 0; i < req->nparams; i++)
        free(req->params[i]);
    free(req->params);
    free(req->method_name);
    free(req->path);
    free(req->query);
    base_buf_free(&req->body);
    free(req);
}

/* ---- headers and parameters ----------------------------------------------------------- */

const char *http_req_header(const http_req *req, const char *lname) {
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcmp(req->headers[i].name, lname))
            return req->headers[i].value;
    return NULL;
}

uv_loop_t *http_req_loop(const http_req *req) {
    return req->conn->srv->loop;
}

const char *http_req_param(const http_req *req, size_t i) {
    return i < req->nparams ? req->params[i] : NULL;
}

void http_req_on_abort(http_req *req, http_abort_fn fn, void *ud) {
    req->abort_cb = fn;
    req->abort_ud = ud;
}

int http_query_get(const http_req *req, const char *key, char **out) {
    if (!req->query)
        return 0;
    size_t klen = strlen(key);
    const char *p = req->query;
    char *found = NULL;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t nlen = eq ? (size_t)(eq - p) : plen;
        char *name = base_percent_decode(p, nlen, true);
        if (name && strlen(name) == klen && !memcmp(name, key, klen)) {
            if (found) {
                free(found);
                free(name);
                return -1;
            }
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - nlen - 1 : 0;
            found = base_percent_decode(v, vlen, true);
            if (!found || !base_utf8_valid(found, strlen(found))) {
                free(found);
                free(name);
                return -1;
            }
        }
        free(name);
        if (!amp)
            break;
        p = amp + 1;
    }
    if (!found)
        return 0;
    *out = found;
    return 1;
}

int http_query_bool(const http_req *req, const char *key, bool *out) {
    char *v = NULL;
    int r = http_query_get(req, key, &v);
    if (r <= 0)
        return r;
    int res = -1;
    if (!strcmp(v, "true")) {
        *out = true;
        res = 1;
    } else if (!strcmp(v, "false")) {
        *out = false;
        res = 1;
    }
    free(v);
    return res;
}

/* Media type of a header value: the part before ';', trimmed. */
static const char *http_media_type(const char *v, size_t *len) {
    const char *semi = strchr(v, ';');
    *len = semi ? (size_t)(semi - v) : strlen(v);
    return base_trim(v, len);
}

bool http_req_is_json(const http_req *req) {
    const char *ct = http_req_header(req, "content-type");
    if (!ct)
        return false;
    size_t n;
    const char *mt = http_media_type(ct, &n);
    if (n == 16 && base_ascii_ieq(mt, "application/json", 16))
        return true;
    return n > 17 && base_ascii_ieq(mt, "application/", 12) &&
           base_ascii_ieq(mt + n - 5, "+json", 5);
}

bool http_req_accepts(const http_req *req, const char *type, const char *sub) {
    const char *acc = http_req_header(req, "accept");
    if (!acc)
        return true;
    size_t tl = strlen(type), sl = strlen(sub);
    const char *p = acc;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t elen = comma ? (size_t)(comma - p) : strlen(p);
        char *entry = base_xstrndup(p, elen);
        size_t n;
        const char *mt = http_media_type(entry, &n);
        const char *slash = memchr(mt, '/', n);
        bool ok = false;
        if (slash) {
            size_t a = (size_t)(slash - mt), b = n - a - 1;
            bool type_ok = (a == 1 && mt[0] == '*') || (a == tl && base_ascii_ieq(mt, type, tl));
            bool sub_ok =
                (b == 1 && slash[1] == '*') || (b == sl && base_ascii_ieq(slash + 1, sub, sl));
            bool wild_type = a == 1 && mt[0] == '*';
            ok = type_ok && sub_ok && (!wild_type || (b == 1 && slash[1] == '*'));
        }
        free(entry);
        if (ok)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* ---- body ------------------------------------------------------------------------------- */

json_t *http_req_json_body(http_req *req, bool allow_empty) {
    if (allow_empty && req->body.len == 0 && !http_req_header(req, "content-type"))
        return json_object();
    if (!http_req_is_json(req)) {
        http_problem_with_message(req, 415, "unsupported_media_type", "Unsupported Media Type",
                                  "unsupported media type",
                                  "expected request with content-type: application/json");
        return NULL;
    }
    char err[256];
    json_t *v =
        base_json_parse(req->body.data ? req->body.data : "", req->body.len, err, sizeof err);
    if (!v) {
        http_problem_invalid_request(req, "failed to parse the request body as JSON: %s", err);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity",
                           "invalid request: request body must be a JSON object", NULL);
        return NULL;
    }
    return v;
}
