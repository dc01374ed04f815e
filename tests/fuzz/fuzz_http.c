/* fuzz_http.c - libFuzzer target for the HTTP layer (parser callbacks, router, auth, query
 * and header accessors, replies, problems, streams, aborts), driven without sockets through
 * http_server_feed_for_test.
 *
 * Two servers are built once: one without a token, one with a token and a CORS
 * configuration. Every input is fed to both. Besides synthetic routes, the real agents
 * routes (GET /v1/agents[/{agent}], POST /v1/agents/{agent}/install) are mounted; their
 * data directory is $XDG_DATA_HOME (run.sh points it into build/fuzz/). After each feed the harness
 * checks an invariant of the layer: every request that went asynchronous (its handler returned
 * without answering) had its abort callback run exactly once before the feed returned.
 *
 * Build and run: bash tests/fuzz/run.sh (or make fuzz). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "base/base.h"
#include "http/http.h"

static http_server *srv_open, *srv_auth;
static size_t pending_async; /* handlers that went asynchronous, not yet aborted */
static size_t aborted;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_http: invariant violated: %s\n", what);
    __builtin_trap();
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void h_json(http_req *req, void *ud) {
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(req->method_name));
    json_object_set_new(o, "path", json_stringn(req->path, strlen(req->path)));
    json_t *params = json_array();
    for (size_t i = 0; i < req->nparams; i++) {
        const char *p = http_req_param(req, i);
        /* Params are decoded bytes; keep only valid UTF-8 in JSON. */
        json_t *s = json_string(p);
        json_array_append_new(params, s ? s : json_null());
    }
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "body", json_integer((json_int_t)req->body.len));
    json_object_set_new(o, "chunked", json_boolean(req->chunked_body));
    json_object_set_new(o, "accepts_json",
                        json_boolean(http_req_accepts(req, "application", "json")));
    json_object_set_new(o, "accepts_sse",
                        json_boolean(http_req_accepts(req, "text", "event-stream")));
    json_object_set_new(o, "is_json", json_boolean(http_req_is_json(req)));
    const char *ua = http_req_header(req, "user-agent");
    if (ua) {
        json_t *s = json_string(ua);
        if (s)
            json_object_set_new(o, "ua", s);
    }
    char *v = NULL;
    int r = http_query_get(req, "q", &v);
    json_object_set_new(o, "q", json_integer(r));
    if (r == 1) {
        json_t *s = json_string(v);
        if (s)
            json_object_set_new(o, "qv", s);
        free(v);
    }
    bool b = false;
    json_object_set_new(o, "flag", json_integer(http_query_bool(req, "flag", &b)));
    http_reply_json(req, 200, o);
}

static void h_problem(http_req *req, void *ud) {
    const char *p = http_req_param(req, 0);
    if (req->body.len & 1)
        http_problem_invalid_request(req, "bad thing: %s", p ? p : "");
    else
        http_problem_with_message(req, 409, "conflict", "Conflict", "conflict", p ? p : "");
}

static void h_stream(http_req *req, void *ud) {
    /* For HEAD, http_stream_start completes (and frees) the request and returns false. */
    bool head = req->method == HTTP_M_HEAD;
    bool started = http_stream_start(req, 200, "text/event-stream", "cache-control: no-cache\r\n");
    if (started == head)
        fail("http_stream_start must return false exactly for HEAD");
    if (!started)
        return;
    if (!http_stream_write_str(req, "event: message\nid: 1\ndata: {}\n\n"))
        fail("stream write on a fresh stream failed");
    base_rcbuf *rc = base_rcbuf_new(req->path, strlen(req->path));
    http_stream_write(req, rc);
    base_rcbuf_unref(rc);
    http_stream_write_str(req, ": heartbeat\n\n");
    http_stream_end(req);
}

static void on_abort(http_req *req, void *ud) {
    if (req != ud)
        fail("abort callback got a different request");
    if (pending_async == 0)
        fail("abort callback without a pending request");
    pending_async--;
    aborted++;
}

static void h_async(http_req *req, void *ud) {
    pending_async++;
    http_req_on_abort(req, on_abort, req);
    /* not answered: the feed aborts it */
}

static void h_async_stream(http_req *req, void *ud) {
    if (!http_stream_start(req, 200, "text/event-stream", NULL))
        return; /* HEAD */
    pending_async++;
    http_req_on_abort(req, on_abort, req);
    http_stream_write_str(req, "data: open\n\n");
}

static void h_body(http_req *req, void *ud) {
    json_t *v = http_req_json_body(req, ud != NULL);
    if (!v)
        return; /* answered with 415/400/422 */
    http_reply_json(req, 201, v);
}

static void h_static(http_req *req, void *ud) {
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_static(req, 200, "application/json", body, sizeof body - 1);
}

static void h_echo(http_req *req, void *ud) {
    http_reply(req, 200, "application/octet-stream", "x-echo: 1\r\n", req->body.data,
               req->body.len);
}

static void h_empty(http_req *req, void *ud) {
    http_reply_empty(req, req->body.len ? 202 : 204);
}

static void routes(http_server *srv) {
    http_route(srv, HTTP_M_GET, "/", 0, h_static, NULL);
    http_route(srv, HTTP_M_GET, "/v1/health", HTTP_ROUTE_AUTH, h_static, NULL);
    http_route(srv, HTTP_M_GET | HTTP_M_POST, "/v1/json/{id}", HTTP_ROUTE_AUTH, h_json, NULL);
    http_route(srv, HTTP_M_GET, "/v1/a/{x}/b/{y}", HTTP_ROUTE_AUTH, h_json, NULL);
    http_route(srv, HTTP_M_GET | HTTP_M_DELETE, "/v1/problem/{id}", HTTP_ROUTE_AUTH, h_problem,
               NULL);
    http_route(srv, HTTP_M_GET, "/v1/stream", HTTP_ROUTE_AUTH, h_stream, NULL);
    http_route(srv, HTTP_M_GET, "/v1/async", HTTP_ROUTE_AUTH, h_async, NULL);
    http_route(srv, HTTP_M_POST, "/v1/async", HTTP_ROUTE_AUTH, h_async, NULL);
    http_route(srv, HTTP_M_GET, "/v1/sse", HTTP_ROUTE_AUTH, h_async_stream, NULL);
    http_route(srv, HTTP_M_POST | HTTP_M_PUT, "/v1/body", HTTP_ROUTE_AUTH, h_body, NULL);
    http_route(srv, HTTP_M_POST, "/v1/body-empty", HTTP_ROUTE_AUTH, h_body, "allow");
    http_route(srv, HTTP_M_PUT | HTTP_M_PATCH, "/v1/echo", 0, h_echo, NULL);
    http_route(srv, HTTP_M_GET, "/v1/ws/{id}", HTTP_ROUTE_AUTH | HTTP_ROUTE_QUERY_TOKEN, h_empty,
               NULL);
    http_route(srv, HTTP_M_GET | HTTP_M_POST, "/ui/*", 0, h_json, NULL);
    http_route(srv, HTTP_M_DELETE, "/open/{id}", 0, h_empty, NULL);
}

/* Pretend the mock has one live instance, so serverStatus is rendered too. */
static size_t fake_instances(void *ud, const char *agent, int64_t *oldest_ms) {
    if (strcmp(agent, "mock") != 0)
        return 0;
    *oldest_ms = base_now_ms() - 1000;
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (!getenv("SANDBOX_AGENT_LOG"))
        setenv("SANDBOX_AGENT_LOG", "error", 1);
    base_log_init();
    /* The install route writes the mock launcher: keep it away from the real data dir. */
    if (!getenv("XDG_DATA_HOME"))
        setenv("XDG_DATA_HOME", "/tmp/sandbox-agent-fuzz-data", 1);

    http_config cfg;
    http_config_defaults(&cfg);
    cfg.max_body_bytes = 4096; /* small, so that 413 paths are reachable */
    srv_open = http_server_new(uv_default_loop(), &cfg);
    routes(srv_open);
    agents_routes(srv_open, uv_default_loop(), fake_instances, NULL);

    static const char *origins[] = {"http://localhost:3000", "https://example.com", NULL};
    static const char *methods[] = {"GET", "POST", NULL};
    http_config_defaults(&cfg);
    cfg.token = "fuzz-token";
    cfg.cors_origins = origins;
    cfg.cors_methods = methods;
    cfg.cors_credentials = true;
    cfg.max_body_bytes = 1 << 20;
    srv_auth = http_server_new(uv_default_loop(), &cfg);
    routes(srv_auth);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    http_server *servers[2] = {srv_open, srv_auth};
    for (int i = 0; i < 2; i++) {
        pending_async = 0;
        aborted = 0;
        free(http_server_feed_for_test(servers[i], (const char *)data, size, NULL));
        if (pending_async != 0)
            fail("an asynchronous request was not aborted when the feed returned");
    }
    return 0;
}
