/* routes.c - the /v1/sessions routes that read and change the session index: list, show,
 * delete, store the SDK's record; route registration and the helpers every route shares.
 * The events routes are in events.c, the routes that drive a session in drive.c and
 * turn.c. */
#include "sessionapi/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- problems ------------------------------------------------------------------------------ */

void sessionapi_fail_set(sessionapi_fail *f, int status, const char *code, const char *title,
                         json_t *extra, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sessionapi_fail_clear(f);
    f->status = status;
    f->code = code;
    f->title = title;
    f->detail = base_xvasprintf(fmt, ap);
    f->extra = extra;
    va_end(ap);
}

void sessionapi_fail_clear(sessionapi_fail *f) {
    free(f->detail);
    json_decref(f->extra);
    f->detail = NULL;
    f->extra = NULL;
}

void sessionapi_fail_reply(http_req *req, sessionapi_fail *f) {
    if (req) {
        http_reply_problem(req, f->status, f->code, f->title, f->detail, f->extra);
        f->extra = NULL; /* stolen by the reply */
    }
    sessionapi_fail_clear(f);
}

void sessionapi_problem(http_req *req, int status, const char *code, const char *title,
                        json_t *extra, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *detail = base_xvasprintf(fmt, ap);
    va_end(ap);
    http_reply_problem(req, status, code, title, detail, extra);
    free(detail);
}

static void sessionapi_problem_not_found(http_req *req, const char *id) {
    sessionapi_problem(req, 404, "session_not_found", "Session Not Found",
                       json_pack("{s:s}", "sessionId", id), "session not found: %s", id);
}

/* ---- shared helpers ------------------------------------------------------------------------ */

sessions_entry *sessionapi_find(sessionapi *api, http_req *req) {
    const char *id = http_req_param(req, 0);
    sessions_entry *e = sessions_index_resolve(api->ix, id);
    if (!e)
        sessionapi_problem_not_found(req, id);
    return e;
}

bool sessionapi_wants_sse(const http_req *req) {
    const char *accept = http_req_header(req, "accept");
    if (!accept)
        return false;
    static const char want[] = "text/event-stream";
    for (const char *p = accept; *p; p++)
        if (base_ascii_ieq(p, want, sizeof want - 1))
            return true;
    return false;
}

bool sessionapi_query_u64(http_req *req, const char *key, uint64_t def, uint64_t min, uint64_t max,
                          uint64_t *out) {
    char *v = NULL;
    int r = http_query_get(req, key, &v);
    *out = def;
    if (r == 0)
        return true;
    uint64_t n;
    if (r < 0 || !base_parse_u64(v, strlen(v), &n) || n < min || n > max) {
        http_problem_invalid_request(req,
                                     "query parameter `%s` must be given once, as an integer "
                                     "from %llu to %llu",
                                     key, (unsigned long long)min, (unsigned long long)max);
        free(v);
        return false;
    }
    free(v);
    *out = n;
    return true;
}

/* ---- GET /v1/sessions ---------------------------------------------------------------------- */

typedef struct sessionapi_list_ctx {
    const char *agent, *status;
    sessions_entry **v;
    size_t n, cap;
} sessionapi_list_ctx;

static void sessionapi_list_collect(sessions_entry *e, void *ud) {
    sessionapi_list_ctx *c = ud;
    if (c->agent && (!e->agent || strcmp(e->agent, c->agent) != 0))
        return;
    if (c->status && strcmp(sessions_status_name(e->status), c->status) != 0)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = base_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = e;
}

static int sessionapi_list_cmp(const void *a, const void *b) {
    const sessions_entry *x = *(sessions_entry *const *)a, *y = *(sessions_entry *const *)b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

json_t *sessionapi_list_json(sessions_index *ix, const char *agent, const char *status,
                             size_t offset, size_t limit) {
    sessionapi_list_ctx c = {.agent = agent, .status = status};
    sessions_index_each(ix, sessionapi_list_collect, &c);
    if (c.n)
        qsort(c.v, c.n, sizeof *c.v, sessionapi_list_cmp);
    json_t *items = json_array();
    for (size_t i = offset; i < c.n && i - offset < limit; i++)
        json_array_append_new(items, sessions_entry_json(c.v[i]));
    json_t *page = json_pack("{s:o}", "items", items);
    if (offset < c.n && c.n - offset > limit) {
        char cursor[24];
        snprintf(cursor, sizeof cursor, "%zu", offset + limit);
        json_object_set_new(page, "nextCursor", json_string(cursor));
    }
    free(c.v);
    return page;
}

static void sessionapi_list_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    char *agent = NULL, *status = NULL;
    uint64_t offset, limit;
    if (http_query_get(req, "agent", &agent) < 0) {
        http_problem_invalid_request(req, "query parameter `agent` must be given at most once");
        return;
    }
    if (http_query_get(req, "status", &status) < 0 ||
        (status && strcmp(status, "active") && strcmp(status, "ended") &&
         strcmp(status, "agent_exited"))) {
        http_problem_invalid_request(
            req, "query parameter `status` must be one of active, ended, agent_exited");
        goto out;
    }
    /* The cursor is the offset of the next item, as text: opaque to clients. */
    if (!sessionapi_query_u64(req, "cursor", 0, 0, UINT32_MAX, &offset) ||
        !sessionapi_query_u64(req, "limit", SESSIONAPI_LIMIT_DEFAULT, 1, SESSIONAPI_LIMIT_MAX,
                              &limit))
        goto out;
    http_reply_json(req, 200,
                    sessionapi_list_json(api->ix, agent, status, (size_t)offset, (size_t)limit));
out:
    free(agent);
    free(status);
}

/* ---- GET /v1/sessions/{id} ----------------------------------------------------------------- */

static void sessionapi_get_handler(http_req *req, void *ud) {
    sessions_entry *e = sessionapi_find(ud, req);
    if (e)
        http_reply_json(req, 200, sessions_entry_json(e));
}

/* ---- DELETE /v1/sessions/{id} -------------------------------------------------------------- */

static void sessionapi_delete_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    bool force = false;
    if (http_query_bool(req, "force", &force) < 0) {
        http_problem_invalid_request(req, "query parameter `force` must be true or false");
        return;
    }
    sessions_entry *e = sessionapi_find(api, req);
    if (!e)
        return;
    char *id = base_xstrdup(e->id);
    sessionapi_drive *d = base_map_get(api->drives, id);
    if (e->status == SESSIONS_ACTIVE && e->server) {
        /* Ours to end: the REST API started it, or runs it on an instance it started (a
         * session continued over REST after a restart). */
        bool ours = (e->origin && strcmp(e->origin, "rest") == 0) ||
                    (d && d->client && d->owns_server &&
                     strcmp(acp_client_server_id(d->client), e->server) == 0);
        if (!ours && !force) {
            sessionapi_problem(req, 409, "session_active", "Session Active",
                               json_pack("{s:s,s:s}", "sessionId", id, "serverId", e->server),
                               "session %s is active on ACP server %s; delete it with "
                               "?force=true to close that server",
                               id, e->server);
            free(id);
            return;
        }
        char *server = base_xstrdup(e->server);
        if (d)
            sessionapi_drive_drop(d, true);
        d = NULL;
        if (acp_bridge_has_server(api->bridge, server))
            acp_bridge_close_server(api->bridge, server);
        free(server);
    }
    if (d)
        sessionapi_drive_drop(d, true);
    sessionapi_follows_end(api, id);
    sessions_index_remove(api->ix, id);
    if (api->store)
        journal_store_delete_session(api->store, id);
    LOG_INFO("session deleted", "session=%s", id);
    free(id);
    http_reply_empty(req, 204);
}

/* ---- PUT /v1/sessions/{id}/record ---------------------------------------------------------- */

static void sessionapi_record_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    const char *id = http_req_param(req, 0);
    json_t *rec = http_req_json_body(req, false);
    if (!rec)
        return; /* answered */
    const char *local = json_string_value(json_object_get(rec, "id"));
    const char *acp_id = json_string_value(json_object_get(rec, "agentSessionId"));
    if (!local || !*local || !acp_id) {
        http_problem_invalid_request(req, "the body must be a SessionRecord: an object with "
                                          "string `id` and `agentSessionId`");
    } else if (strcmp(acp_id, id) != 0) {
        http_problem_invalid_request(req,
                                     "record.agentSessionId (%s) must be the session id of "
                                     "the path (%s)",
                                     acp_id, id);
    } else {
        sessions_entry *e = sessions_index_get(api->ix, id);
        if (!e) {
            sessionapi_problem_not_found(req, id);
        } else {
            sessions_index_set_record(api->ix, e, json_incref(rec));
            http_reply_json(req, 200, sessions_entry_json(e));
        }
    }
    json_decref(rec);
}

/* ---- registration -------------------------------------------------------------------------- */

sessionapi *sessionapi_routes(http_server *srv, uv_loop_t *loop, sessions_index *index,
                              journal_store *store, acp_bridge *bridge) {
    sessionapi *api = base_xcalloc(1, sizeof *api);
    api->loop = loop;
    api->ix = index;
    api->store = store;
    api->bridge = bridge;
    api->drives = base_map_new();
    api->heartbeat_ms = http_sse_heartbeat_ms();
    const unsigned A = HTTP_ROUTE_AUTH;
    http_route(srv, HTTP_M_GET, "/v1/sessions", A, sessionapi_list_handler, api);
    http_route(srv, HTTP_M_POST, "/v1/sessions", A, sessionapi_create_handler, api);
    http_route(srv, HTTP_M_GET, "/v1/sessions/{id}", A, sessionapi_get_handler, api);
    http_route(srv, HTTP_M_DELETE, "/v1/sessions/{id}", A, sessionapi_delete_handler, api);
    http_route(srv, HTTP_M_GET, "/v1/sessions/{id}/events", A, sessionapi_events_handler, api);
    http_route(srv, HTTP_M_PUT, "/v1/sessions/{id}/record", A, sessionapi_record_handler, api);
    http_route(srv, HTTP_M_POST, "/v1/sessions/{id}/messages", A, sessionapi_messages_handler, api);
    http_route(srv, HTTP_M_POST, "/v1/sessions/{id}/permissions/{requestId}", A,
               sessionapi_permission_handler, api);
    http_route(srv, HTTP_M_POST, "/v1/sessions/{id}/cancel", A, sessionapi_cancel_handler, api);
    return api;
}

void sessionapi_free(sessionapi *api) {
    if (!api)
        return;
    sessionapi_follows_free(api);
    while (api->all)
        sessionapi_drive_drop(api->all, true);
    base_map_free(api->drives, NULL);
    free(api);
}
