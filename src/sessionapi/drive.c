/* drive.c - the sessions the REST API drives: each one's in-process ACP client, started on
 * a fresh instance (initialize, then session/new or session/load) or attached to the live
 * instance of its session; the agent's permission requests waiting for
 * POST .../permissions/{requestId}; POST .../cancel. */
#include "sessionapi/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- lifetime ------------------------------------------------------------------------------ */

static void sessionapi_json_free(void *p) {
    json_decref(p);
}

sessionapi_drive *sessionapi_drive_new(sessionapi *api) {
    sessionapi_drive *d = base_xcalloc(1, sizeof *d);
    d->api = api;
    d->refs = 1; /* the API's, dropped by sessionapi_drive_drop */
    d->perms = base_map_new();
    d->next = api->all;
    if (api->all)
        api->all->prev = d;
    api->all = d;
    return d;
}

sessionapi_drive *sessionapi_drive_ref(sessionapi_drive *d) {
    d->refs++;
    return d;
}

void sessionapi_drive_unref(sessionapi_drive *d) {
    if (--d->refs > 0)
        return;
    BASE_ASSERT(!d->api && !d->client && !d->turn);
    base_map_free(d->perms, sessionapi_json_free);
    free(d->id);
    free(d);
}

void sessionapi_drive_name(sessionapi_drive *d, const char *id) {
    free(d->id);
    d->id = base_xstrdup(id);
    sessionapi_drive *old = base_map_put(d->api->drives, id, d);
    if (old && old != d)
        sessionapi_drive_drop(old, false); /* cannot happen: session ids are the agent's */
}

static void sessionapi_perm_cancel(const char *key, void *value, void *ud) {
    acp_client_respond(ud, json_object_get(value, "id"),
                       json_pack("{s:{s:s}}", "outcome", "outcome", "cancelled"));
}

void sessionapi_drive_clear_perms(sessionapi_drive *d, bool cancelled) {
    base_map *perms = d->perms;
    d->perms = base_map_new();
    /* ACP: a client that cancels a turn answers the permission requests still open. */
    if (cancelled && d->client)
        base_map_each(perms, sessionapi_perm_cancel, d->client);
    base_map_free(perms, sessionapi_json_free);
}

void sessionapi_drive_drop(sessionapi_drive *d, bool stop_server) {
    sessionapi *api = d->api;
    if (!api)
        return;
    if (d->turn)
        sessionapi_turn_detach(d->turn);
    sessionapi_drive_clear_perms(d, false);
    if (d->client)
        acp_client_close(d->client, stop_server && d->owns_server);
    d->client = NULL;
    if (d->id && base_map_get(api->drives, d->id) == d)
        base_map_del(api->drives, d->id);
    if (d->prev)
        d->prev->next = d->next;
    else
        api->all = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->next = d->prev = NULL;
    d->api = NULL;
    sessionapi_drive_unref(d);
}

/* ---- the agent's requests ------------------------------------------------------------------ */

char *sessionapi_rpc_id_text(const json_t *id) {
    if (json_is_string(id))
        return base_xstrdup(json_string_value(id));
    char *j = id ? json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    return j ? j : base_xstrdup("null");
}

/* Every envelope the agent sends on the drive's instance: its permission requests for the
 * drive's session wait here for an answer over HTTP. */
static void sessionapi_drive_on_event(void *ud, uint64_t id, const char *session,
                                      const json_t *msg) {
    sessionapi_drive *d = ud;
    if (!d->api || !d->id || !session || strcmp(session, d->id) != 0)
        return;
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (acp_classify(msg) != ACP_MSG_REQUEST || !method ||
        strcmp(method, "session/request_permission") != 0)
        return;
    char *key = sessionapi_rpc_id_text(json_object_get(msg, "id"));
    json_decref(base_map_put(d->perms, key, json_deep_copy(msg)));
    free(key);
}

/* ---- starting an instance ------------------------------------------------------------------ */

/* A fresh instance being prepared. Owner: itself, until done ran. */
typedef struct sessionapi_start {
    sessionapi_drive *d; /* a reference */
    char *cwd;
    char *load_id; /* NULL: session/new */
    sessionapi_start_fn done;
    void *ud;
} sessionapi_start;

static void sessionapi_start_finish(sessionapi_start *st, sessionapi_fail *fail,
                                    const json_t *result) {
    sessionapi_drive *d = st->d;
    if (fail && d->client) {
        acp_client_close(d->client, true); /* the instance was ours and is of no use */
        d->client = NULL;
    }
    st->done(st->ud, fail, result);
    free(st->cwd);
    free(st->load_id);
    free(st);
    sessionapi_drive_unref(d);
}

/* The JSON-RPC error of a response as a 502, or false when it succeeded. The drive may have
 * been dropped meanwhile (the session deleted, the server stopping): that is a failure too. */
static bool sessionapi_start_failed(sessionapi_start *st, const char *method,
                                    const json_t *response, sessionapi_fail *fail) {
    const json_t *error = json_object_get(response, "error");
    if (!st->d->api) {
        sessionapi_fail_set(fail, 410, "session_gone", "Session Gone", NULL,
                            "the session was deleted, or the server is stopping");
        return true;
    }
    if (!error && json_is_object(json_object_get(response, "result")))
        return false;
    const char *msg = json_string_value(json_object_get(error, "message"));
    sessionapi_fail_set(fail, 502, "agent_error", "Agent Error",
                        json_pack("{s:s,s:O?}", "method", method, "error", error),
                        "the agent answered %s with an error: %s", method, msg ? msg : "no result");
    return true;
}

static void sessionapi_start_session_done(void *ud, const json_t *response) {
    sessionapi_start *st = ud;
    sessionapi_fail fail = {0};
    const char *method = st->load_id ? "session/load" : "session/new";
    if (sessionapi_start_failed(st, method, response, &fail)) {
        sessionapi_start_finish(st, &fail, NULL);
        return;
    }
    const json_t *result = json_object_get(response, "result");
    if (!st->load_id && !json_string_value(json_object_get(result, "sessionId"))) {
        sessionapi_fail_set(&fail, 502, "agent_error", "Agent Error", NULL,
                            "the agent answered session/new without a sessionId");
        sessionapi_start_finish(st, &fail, NULL);
        return;
    }
    sessionapi_start_finish(st, NULL, result);
}

static void sessionapi_start_init_done(void *ud, const json_t *response) {
    sessionapi_start *st = ud;
    sessionapi_fail fail = {0};
    if (sessionapi_start_failed(st, "initialize", response, &fail)) {
        sessionapi_start_finish(st, &fail, NULL);
        return;
    }
    const json_t *caps = json_object_get(json_object_get(response, "result"), "agentCapabilities");
    json_t *mcp = json_array();
    if (st->load_id) {
        if (!json_is_true(json_object_get(caps, "loadSession"))) {
            sessionapi_fail_set(&fail, 409, "session_not_loadable", "Session Not Loadable",
                                json_pack("{s:s}", "sessionId", st->load_id),
                                "the session's ACP server is gone and its agent cannot load "
                                "sessions (agentCapabilities.loadSession)");
            json_decref(mcp);
            sessionapi_start_finish(st, &fail, NULL);
            return;
        }
        acp_client_request(
            st->d->client, "session/load",
            json_pack("{s:s,s:s,s:o}", "sessionId", st->load_id, "cwd", st->cwd, "mcpServers", mcp),
            sessionapi_start_session_done, st);
    } else {
        acp_client_request(st->d->client, "session/new",
                           json_pack("{s:s,s:o}", "cwd", st->cwd, "mcpServers", mcp),
                           sessionapi_start_session_done, st);
    }
}

static void sessionapi_uuid(char out[37]) {
    char hex[33];
    base_random_hex(hex, 16);
    hex[12] = '4';                 /* version 4 */
    hex[16] = "89ab"[hex[16] % 4]; /* RFC 4122 variant */
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void sessionapi_drive_start(sessionapi_drive *d, const char *agent, const char *cwd,
                            const char *load_id, sessionapi_start_fn done, void *ud) {
    char uuid[37], server[48];
    sessionapi_uuid(uuid);
    snprintf(server, sizeof server, "rest-%s", uuid);
    if (d->client)
        acp_client_close(d->client, d->owns_server);
    d->client = NULL;
    char *err = NULL;
    d->client = acp_client_open(d->api->bridge, server, agent, sessionapi_drive_on_event, d, &err);
    if (!d->client) {
        sessionapi_fail fail = {0};
        sessionapi_fail_set(&fail, 502, "agent_start_failed", "Agent Start Failed",
                            json_pack("{s:s}", "agent", agent), "cannot start agent %s: %s", agent,
                            err ? err : "unknown error");
        free(err);
        done(ud, &fail, NULL);
        return;
    }
    d->owns_server = true;
    LOG_INFO("rest session: instance started", "server=%s agent=%s load=%s", server, agent,
             load_id ? load_id : "-");
    sessionapi_start *st = base_xcalloc(1, sizeof *st);
    st->d = sessionapi_drive_ref(d);
    st->cwd = base_xstrdup(cwd);
    st->load_id = load_id ? base_xstrdup(load_id) : NULL;
    st->done = done;
    st->ud = ud;
    json_t *params =
        json_pack("{s:i,s:{s:{s:b,s:b},s:b},s:{s:s,s:s}}", "protocolVersion", 1,
                  "clientCapabilities", "fs", "readTextFile", 0, "writeTextFile", 0, "terminal", 0,
                  "clientInfo", "name", "sandbox-agent-rest", "version", BASE_VERSION);
    acp_client_request(d->client, "initialize", params, sessionapi_start_init_done, st);
}

bool sessionapi_drive_attach(sessionapi_drive *d, const sessions_entry *e) {
    if (e->status != SESSIONS_ACTIVE || !e->server ||
        !acp_bridge_has_server(d->api->bridge, e->server))
        return false;
    if (d->client && strcmp(acp_client_server_id(d->client), e->server) == 0 &&
        !acp_client_agent_exited(d->client))
        return true;
    if (d->client)
        acp_client_close(d->client, d->owns_server);
    d->client = NULL;
    char *err = NULL;
    acp_client *c =
        acp_client_open(d->api->bridge, e->server, NULL, sessionapi_drive_on_event, d, &err);
    free(err);
    if (c && acp_client_agent_exited(c)) {
        acp_client_close(c, false);
        c = NULL;
    }
    d->client = c;
    d->owns_server = false;
    return c != NULL;
}

/* ---- POST /v1/sessions/{id}/permissions/{requestId} ---------------------------------------- */

const char *sessionapi_permission_option(const json_t *params, const char *reply) {
    const char *kinds[2] = {NULL, NULL};
    if (strcmp(reply, "once") == 0)
        kinds[0] = "allow_once";
    else if (strcmp(reply, "always") == 0)
        kinds[0] = "allow_always";
    else if (strcmp(reply, "reject") == 0)
        kinds[0] = "reject_once", kinds[1] = "reject_always";
    const json_t *options = json_object_get(params, "options");
    for (size_t k = 0; k < 2 && kinds[k]; k++) {
        size_t i;
        const json_t *o;
        json_array_foreach(options, i, o) {
            const char *kind = json_string_value(json_object_get(o, "kind"));
            const char *id = json_string_value(json_object_get(o, "optionId"));
            if (kind && id && strcmp(kind, kinds[k]) == 0)
                return id;
        }
    }
    return NULL;
}

void sessionapi_permission_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return;
    const char *reply = json_string_value(json_object_get(body, "reply"));
    const char *rid = http_req_param(req, 1);
    if (!reply || (strcmp(reply, "once") && strcmp(reply, "always") && strcmp(reply, "reject"))) {
        http_problem_invalid_request(req, "`reply` must be \"once\", \"always\" or \"reject\"");
        goto out;
    }
    sessions_entry *e = sessionapi_find(api, req);
    if (!e)
        goto out;
    sessionapi_drive *d = base_map_get(api->drives, e->id);
    json_t *perm = d ? base_map_get(d->perms, rid) : NULL;
    if (!perm || !d->client) {
        sessionapi_problem(req, 404, "permission_not_found", "Permission Not Found",
                           json_pack("{s:s,s:s}", "sessionId", e->id, "requestId", rid),
                           "no permission request %s is waiting in session %s", rid, e->id);
        goto out;
    }
    const json_t *params = json_object_get(perm, "params");
    const char *option = sessionapi_permission_option(params, reply);
    if (!option) {
        sessionapi_problem(req, 409, "option_not_offered", "Option Not Offered",
                           json_pack("{s:O?}", "options", json_object_get(params, "options")),
                           "the agent offered no option for the reply \"%s\"", reply);
        goto out;
    }
    int r = acp_client_respond(
        d->client, json_object_get(perm, "id"),
        json_pack("{s:{s:s,s:s}}", "outcome", "outcome", "selected", "optionId", option));
    json_decref(base_map_del(d->perms, rid));
    if (r < 0)
        http_problem_with_message(req, 502, "agent_process_exited", "Agent Process Exited",
                                  "agent process exited",
                                  "the agent exited before the answer could be sent");
    else
        http_reply_empty(req, 204);
out:
    json_decref(body);
}

/* ---- POST /v1/sessions/{id}/cancel --------------------------------------------------------- */

void sessionapi_cancel_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    sessions_entry *e = sessionapi_find(api, req);
    if (!e)
        return;
    sessionapi_drive *d = base_map_get(api->drives, e->id);
    if (d && d->turn && sessionapi_turn_cancel(d->turn)) {
        http_reply_empty(req, 204); /* stopped before its prompt was sent */
        return;
    }
    if (!d) {
        d = sessionapi_drive_new(api);
        sessionapi_drive_name(d, e->id);
    }
    if (!d->client && !sessionapi_drive_attach(d, e)) {
        if (!d->turn)
            sessionapi_drive_drop(d, false);
        sessionapi_problem(req, 409, "session_not_running", "Session Not Running",
                           json_pack("{s:s}", "sessionId", e->id),
                           "session %s has no running agent to cancel", e->id);
        return;
    }
    sessionapi_drive_clear_perms(d, true);
    if (acp_client_notify(d->client, "session/cancel", json_pack("{s:s}", "sessionId", e->id)) <
        0) {
        http_problem_with_message(req, 502, "agent_process_exited", "Agent Process Exited",
                                  "agent process exited", "the agent has exited");
        return;
    }
    http_reply_empty(req, 204);
}
