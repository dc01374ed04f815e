/* meta_shim.c - a stand-in for the core helper's common.c on the `ocmeta` branch: the four
 * request and reply helpers of internal.h, so the metadata routes build and run on their
 * own. Deleted at merge in favour of common.c. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

void opencode_reply_json(http_req *req, int status, json_t *body) {
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(body);
    http_reply(req, status, "application/json", NULL, s ? s : "null", s ? strlen(s) : 4);
    free(s);
}

void opencode_reply_error(http_req *req, int status, const char *msg) {
    opencode_reply_json(req, status, json_pack("{s:[{s:s}]}", "errors", "message", msg));
}

json_t *opencode_body(http_req *req, bool required) {
    if (!http_req_is_json(req)) {
        if (required) {
            static const char m[] = "Expected request with `Content-Type: application/json`";
            http_reply_static(req, 415, "text/plain; charset=utf-8", m, sizeof m - 1);
        }
        return NULL;
    }
    char err[256] = "";
    json_t *v =
        base_json_parse(req->body.data ? req->body.data : "", req->body.len, err, sizeof err);
    if (!v && required) {
        char *m = base_xasprintf("Failed to parse the request body as JSON: %s", err);
        http_reply(req, 400, "text/plain; charset=utf-8", NULL, m, strlen(m));
        free(m);
    }
    return v;
}

char *opencode_directory(http_req *req) {
    char *q = NULL;
    if (http_query_get(req, "directory", &q) == 1)
        return q;
    const char *env = getenv("OPENCODE_COMPAT_DIRECTORY");
    size_t n = env ? strlen(env) : 0;
    if (env && (base_trim(env, &n), n > 0))
        return base_xstrdup(env);
    const char *h = http_req_header(req, "x-opencode-directory");
    n = h ? strlen(h) : 0;
    if (h && (base_trim(h, &n), n > 0))
        return base_xstrdup(h);
    char *cwd = getcwd(NULL, 0);
    return cwd ? cwd : base_xstrdup("/");
}
