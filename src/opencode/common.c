/* common.c - the HTTP rules every /opencode route follows (spec §2): compact JSON with keys
 * sorted at every depth, the OpenCode errors body, the strict and lenient body rules, and
 * the request directory (§5). */
#include "opencode/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void opencode_reply_json(http_req *req, int status, json_t *body) {
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(body);
    if (!s) { /* only an out-of-memory or an invalid value gets here */
        opencode_reply_error(req, 500, "cannot serialise the response");
        return;
    }
    http_reply(req, status, "application/json", NULL, s, strlen(s));
    free(s);
}

void opencode_reply_error(http_req *req, int status, const char *msg) {
    opencode_reply_json(req, status, json_pack("{s:[{s:s}]}", "errors", "message", msg));
}

void opencode_reply_errorf(http_req *req, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    opencode_reply_error(req, status, msg ? msg : "error");
    free(msg);
}

static void opencode_reply_text(http_req *req, int status, const char *text) {
    http_reply(req, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

json_t *opencode_body(http_req *req, bool required) {
    /* The reference's extractor: a JSON content type first, then the JSON itself; an empty
     * body with the right type is malformed JSON. */
    if (!http_req_is_json(req)) {
        if (required)
            opencode_reply_text(req, 415, "Expected request with `Content-Type: application/json`");
        return NULL;
    }
    char err[256];
    json_t *v =
        base_json_parse(req->body.data ? req->body.data : "", req->body.len, err, sizeof err);
    if (!v && required) {
        char *msg = base_xasprintf("Failed to parse the request body as JSON: %s", err);
        opencode_reply_text(req, 400, msg);
        free(msg);
    }
    return v;
}

void opencode_reply_422(http_req *req, const char *what) {
    char *msg =
        base_xasprintf("Failed to deserialize the JSON body into the target type: %s", what);
    opencode_reply_text(req, 422, msg);
    free(msg);
}

json_t *opencode_body_object(http_req *req) {
    json_t *v = opencode_body(req, true);
    if (v && !json_is_object(v)) {
        json_decref(v);
        opencode_reply_422(req, "invalid type: expected a JSON object");
        return NULL;
    }
    return v;
}

static bool opencode_blank(const char *s) {
    size_t n = s ? strlen(s) : 0;
    base_trim(s ? s : "", &n);
    return n == 0;
}

char *opencode_directory(http_req *req) {
    char *q = NULL;
    if (http_query_get(req, "directory", &q) == 1)
        return q; /* even empty, as the reference */
    const char *env = getenv("OPENCODE_COMPAT_DIRECTORY");
    if (!opencode_blank(env))
        return base_xstrdup(env);
    const char *h = http_req_header(req, "x-opencode-directory");
    if (!opencode_blank(h)) {
        /* The v2 SDK percent-encodes it (slashes included); the reference used it raw. */
        char *d = base_percent_decode(h, strlen(h), false);
        return d ? d : base_xstrdup(h);
    }
    char buf[4096];
    size_t n = sizeof buf;
    return uv_cwd(buf, &n) == 0 ? base_xstrdup(buf) : base_xstrdup("/");
}

const char *opencode_str_alias(const json_t *obj, const char *const *keys) {
    for (size_t i = 0; keys[i]; i++) {
        const char *s = json_string_value(json_object_get(obj, keys[i]));
        if (s)
            return s;
    }
    return NULL;
}

void opencode_handle_true(http_req *req, void *ud) {
    opencode_reply_json(req, 200, json_true());
}

void opencode_handle_empty_list(http_req *req, void *ud) {
    opencode_reply_json(req, 200, json_array());
}
