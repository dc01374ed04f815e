/* turn.c - driving a session over REST: POST /v1/sessions starts one (a fresh instance,
 * initialize, session/new, then the mode and model asked for), POST .../messages runs one
 * prompt turn and answers with its events when it ends, or streams them (SSE).
 *
 * A turn lives until the agent answers its session/prompt, whatever its HTTP client does:
 * the turn is journaled and can be read back, so a client that leaves loses nothing but
 * the answer. The wait is bounded only by the agent (the bridge times requests out). */
#include "sessionapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

/* The server's working directory: the default cwd of a new session. */
static char *sessionapi_server_cwd(void) {
    char buf[4096];
    size_t n = sizeof buf;
    return uv_cwd(buf, &n) == 0 ? base_xstrdup(buf) : base_xstrdup("/");
}

/* ---- a prompt turn ------------------------------------------------------------------------- */

/* One turn. Owner: itself; freed once the agent answered and its stream (if any) closed. */
struct sessionapi_turn {
    sessionapi_drive *d; /* a reference */
    http_req *req;       /* the request to answer; NULL once the client left or a stream took it */
    http_sse *sse;       /* the SSE variant's stream while open */
    bool want_sse;
    bool prompted, cancelled, finished;
    char *session; /* the ACP sessionId */
    char *as_id;   /* the id the client asked with */
    char *text;
    sessions_listener *listener;
    json_t *events; /* the turn's SessionEvents, for the JSON answer */
};

static void sessionapi_turn_free(sessionapi_turn *t) {
    json_decref(t->events);
    free(t->session);
    free(t->as_id);
    free(t->text);
    free(t);
}

static void sessionapi_turn_abort(http_req *req, void *ud) {
    sessionapi_turn *t = ud;
    t->req = NULL; /* the turn goes on */
}

static void sessionapi_turn_sse_closed(http_sse *sse, void *ud) {
    sessionapi_turn *t = ud;
    t->sse = NULL;
    if (t->finished)
        sessionapi_turn_free(t);
}

/* The SSE variant: the request becomes a stream. */
static void sessionapi_turn_stream(sessionapi_turn *t) {
    if (!t->want_sse || !t->req || t->sse)
        return;
    http_sse_opts o = {.heartbeat_ms = t->d->api ? t->d->api->heartbeat_ms : 15000,
                       .heartbeat_comment = "heartbeat",
                       .on_close = sessionapi_turn_sse_closed,
                       .ud = t};
    t->sse = http_sse_start(t->req, &o); /* NULL for HEAD: not a route of ours */
    t->req = NULL;
}

static void sessionapi_turn_event(void *ud, const sessions_event *ev) {
    sessionapi_turn *t = ud;
    json_t *j = sessionapi_live_event_json(t->as_id, ev);
    if (!j)
        return;
    if (t->sse) {
        base_rcbuf *frame = sessionapi_event_frame(j);
        http_sse_send(t->sse, frame);
        base_rcbuf_unref(frame);
    } else if (t->req) {
        json_array_append(t->events, j);
    }
    json_decref(j);
}

void sessionapi_turn_detach(sessionapi_turn *t) {
    if (t->listener && t->d->api)
        sessions_index_unlisten(t->d->api->ix, t->listener);
    t->listener = NULL;
}

bool sessionapi_turn_cancel(sessionapi_turn *t) {
    if (t->prompted)
        return false;
    t->cancelled = true;
    return true;
}

/* The turn ended: with a stop reason, the agent's JSON-RPC error, or a failure before the
 * prompt was sent (fail). */
static void sessionapi_turn_finish(sessionapi_turn *t, const char *stop_reason, const json_t *error,
                                   sessionapi_fail *fail) {
    sessionapi_drive *d = t->d;
    sessionapi_turn_detach(t);
    if (d->turn == t)
        d->turn = NULL;
    if (d->api)
        sessionapi_drive_clear_perms(d, false); /* the agent waits for none of them now */
    if (!fail)
        sessionapi_turn_stream(t);
    if (t->req)
        http_req_on_abort(t->req, NULL, NULL); /* answered below: ours no longer */
    if (fail) {
        sessionapi_fail_reply(t->req, fail);
    } else if (t->sse) {
        json_t *end = error ? json_pack("{s:O}", "error", error)
                            : json_pack("{s:s}", "stopReason", stop_reason);
        char *data = base_json_compact(end);
        http_sse_send_event(t->sse, "turn_end", NULL, data, strlen(data));
        free(data);
        json_decref(end);
        http_sse_end(t->sse);
    } else if (t->req && error) {
        const char *msg = json_string_value(json_object_get(error, "message"));
        sessionapi_problem(t->req, 502, "prompt_failed", "Prompt Failed",
                           json_pack("{s:O,s:O}", "error", error, "events", t->events),
                           "the prompt failed: %s", msg ? msg : "agent error");
    } else if (t->req) {
        http_reply_json(t->req, 200,
                        json_pack("{s:s,s:O}", "stopReason", stop_reason, "events", t->events));
    }
    t->req = NULL;
    t->d = NULL;
    t->finished = true;
    sessionapi_drive_unref(d);
    if (!t->sse)
        sessionapi_turn_free(t);
}

static void sessionapi_turn_done(void *ud, const json_t *response) {
    sessionapi_turn *t = ud;
    const json_t *error = json_object_get(response, "error");
    const char *stop =
        json_string_value(json_object_get(json_object_get(response, "result"), "stopReason"));
    if (!error && !stop) {
        json_t *e = json_pack("{s:i,s:s}", "code", -32603, "message",
                              "the agent answered session/prompt without a stopReason");
        sessionapi_turn_finish(t, NULL, e, NULL);
        json_decref(e);
        return;
    }
    sessionapi_turn_finish(t, stop, error, NULL);
}

static void sessionapi_turn_prompt(sessionapi_turn *t) {
    sessionapi_drive *d = t->d;
    if (t->cancelled) {
        sessionapi_turn_finish(t, "cancelled", NULL, NULL);
        return;
    }
    t->prompted = true;
    t->listener = sessions_index_listen(d->api->ix, t->session, sessionapi_turn_event, t);
    sessionapi_turn_stream(t);
    json_t *params = json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", t->session, "prompt", "type",
                               "text", "text", t->text);
    acp_client_request(d->client, "session/prompt", params, sessionapi_turn_done, t);
}

static void sessionapi_turn_started(void *ud, sessionapi_fail *fail, const json_t *result) {
    sessionapi_turn *t = ud;
    if (fail)
        sessionapi_turn_finish(t, NULL, NULL, fail);
    else
        sessionapi_turn_prompt(t);
}

void sessionapi_messages_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return;
    const char *text = json_string_value(json_object_get(body, "text"));
    if (!text || !*text) {
        http_problem_invalid_request(req, "`text` must be a non-empty string");
        goto out;
    }
    sessions_entry *e = sessionapi_find(api, req);
    if (!e)
        goto out;
    sessionapi_drive *d = base_map_get(api->drives, e->id);
    if (d && d->turn) {
        sessionapi_problem(req, 409, "turn_in_progress", "Turn In Progress",
                           json_pack("{s:s}", "sessionId", e->id),
                           "session %s is already running a turn", e->id);
        goto out;
    }
    if (!d) {
        d = sessionapi_drive_new(api);
        sessionapi_drive_name(d, e->id);
    }
    sessionapi_turn *t = base_xcalloc(1, sizeof *t);
    t->d = sessionapi_drive_ref(d);
    t->req = req;
    t->want_sse = sessionapi_wants_sse(req);
    t->session = base_xstrdup(e->id);
    t->as_id = base_xstrdup(http_req_param(req, 0));
    t->text = base_xstrdup(text);
    t->events = json_array();
    d->turn = t;
    http_req_on_abort(req, sessionapi_turn_abort, t);
    if (sessionapi_drive_attach(d, e)) {
        sessionapi_turn_prompt(t);
    } else if (!e->agent) {
        sessionapi_fail fail = {0};
        sessionapi_fail_set(&fail, 409, "session_not_loadable", "Session Not Loadable",
                            json_pack("{s:s}", "sessionId", e->id),
                            "the session's ACP server is gone and its agent is unknown");
        sessionapi_turn_finish(t, NULL, NULL, &fail);
    } else {
        /* Its ACP server is gone (a restart, or its agent exited): continue it on a fresh
         * instance with session/load. */
        char *cwd = e->cwd ? base_xstrdup(e->cwd) : sessionapi_server_cwd();
        char *agent = base_xstrdup(e->agent);
        sessionapi_drive_start(d, agent, cwd, t->session, sessionapi_turn_started, t);
        free(agent);
        free(cwd);
    }
out:
    json_decref(body);
}

/* ---- POST /v1/sessions --------------------------------------------------------------------- */

/* One session being created. Owner: itself until it answered (or its client left and it
 * finished). */
typedef struct sessionapi_create {
    sessionapi_drive *d; /* a reference */
    http_req *req;       /* NULL once the client left: the session is created anyway */
    agents_install_job *install;
    char *agent, *cwd, *mode, *model;
} sessionapi_create;

static void sessionapi_create_free(sessionapi_create *c) {
    if (c->req)
        http_req_on_abort(c->req, NULL, NULL);
    sessionapi_drive_unref(c->d);
    free(c->agent);
    free(c->cwd);
    free(c->mode);
    free(c->model);
    free(c);
}

static void sessionapi_create_abort(http_req *req, void *ud) {
    sessionapi_create *c = ud;
    c->req = NULL;
    if (c->install) {
        /* Nothing was started yet: give up (the install itself goes on to its end). */
        agents_install_detach(c->install);
        sessionapi_drive_drop(c->d, true);
        c->req = NULL;
        sessionapi_create_free(c);
    }
}

static void sessionapi_create_fail(sessionapi_create *c, sessionapi_fail *fail) {
    sessionapi_drive_drop(c->d, true);
    sessionapi_fail_reply(c->req, fail);
    c->req = NULL;
    sessionapi_create_free(c);
}

static void sessionapi_create_next(sessionapi_create *c);

static void sessionapi_create_step_done(void *ud, const json_t *response) {
    sessionapi_create *c = ud;
    const json_t *error = json_object_get(response, "error");
    const char *method = c->mode ? "session/set_mode" : "session/set_model";
    if (!c->d->api || error || !json_object_get(response, "result")) {
        const char *msg = json_string_value(json_object_get(error, "message"));
        sessionapi_fail fail = {0};
        sessionapi_fail_set(&fail, 502, "agent_error", "Agent Error",
                            json_pack("{s:s,s:O?}", "method", method, "error", error),
                            "the agent answered %s with an error: %s", method,
                            msg ? msg : "no result");
        sessionapi_create_fail(c, &fail);
        return;
    }
    if (c->mode) {
        free(c->mode);
        c->mode = NULL;
    } else {
        free(c->model);
        c->model = NULL;
    }
    sessionapi_create_next(c);
}

/* set_mode, then set_model, then the answer. */
static void sessionapi_create_next(sessionapi_create *c) {
    sessionapi_drive *d = c->d;
    if (c->mode) {
        acp_client_request(d->client, "session/set_mode",
                           json_pack("{s:s,s:s}", "sessionId", d->id, "modeId", c->mode),
                           sessionapi_create_step_done, c);
        return;
    }
    if (c->model) {
        acp_client_request(d->client, "session/set_model",
                           json_pack("{s:s,s:s}", "sessionId", d->id, "modelId", c->model),
                           sessionapi_create_step_done, c);
        return;
    }
    const sessions_entry *e = sessions_index_get(d->api->ix, d->id);
    if (c->req && e) {
        http_reply_json(c->req, 201, sessions_entry_json(e));
        c->req = NULL;
    } else if (c->req) {
        http_problem_with_message(c->req, 500, "session_not_indexed", "Session Not Indexed",
                                  "internal error", "the bridge did not record the new session");
        c->req = NULL;
    }
    sessionapi_create_free(c);
}

static void sessionapi_create_started(void *ud, sessionapi_fail *fail, const json_t *result) {
    sessionapi_create *c = ud;
    if (fail) {
        sessionapi_create_fail(c, fail);
        return;
    }
    const char *sid = json_string_value(json_object_get(result, "sessionId"));
    sessionapi_drive_name(c->d, sid);
    LOG_INFO("rest session created", "session=%s agent=%s", sid, c->agent);
    sessionapi_create_next(c);
}

static void sessionapi_create_go(sessionapi_create *c) {
    sessionapi_drive_start(c->d, c->agent, c->cwd, NULL, sessionapi_create_started, c);
}

static void sessionapi_create_installed(const agents_install_result *res, void *ud) {
    sessionapi_create *c = ud;
    c->install = NULL;
    if (!c->d->api) { /* the API is gone (the server stopped) */
        sessionapi_create_free(c);
        return;
    }
    if (!res->ok) {
        if (c->req)
            agents_install_problem(c->req, c->agent, res);
        c->req = NULL;
        sessionapi_drive_drop(c->d, true);
        sessionapi_create_free(c);
        return;
    }
    sessionapi_create_go(c);
}

static bool sessionapi_opt_string(http_req *req, const json_t *body, const char *key, char **out) {
    const json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || !*json_string_value(v)) {
        http_problem_invalid_request(req, "`%s` must be a non-empty string", key);
        return false;
    }
    *out = base_xstrdup(json_string_value(v));
    return true;
}

void sessionapi_create_handler(http_req *req, void *ud) {
    sessionapi *api = ud;
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return;
    char *agent = NULL, *cwd = NULL, *mode = NULL, *model = NULL;
    if (!sessionapi_opt_string(req, body, "agent", &agent) ||
        !sessionapi_opt_string(req, body, "cwd", &cwd) ||
        !sessionapi_opt_string(req, body, "mode", &mode) ||
        !sessionapi_opt_string(req, body, "model", &model))
        goto fail;
    if (!agent) {
        http_problem_invalid_request(req, "`agent` is required");
        goto fail;
    }
    if (cwd && cwd[0] != '/') {
        http_problem_invalid_request(req, "`cwd` must be an absolute path");
        goto fail;
    }
    if (!agents_known(agent)) {
        sessionapi_problem(req, 404, "agent_not_found", "Agent Not Found",
                           json_pack("{s:s}", "agent", agent), "unknown agent: %s", agent);
        goto fail;
    }
    bool installed = agents_installed(agent);
    if (!installed && agents_install_preinstall_required()) {
        agents_problem_not_installed(req, agent);
        goto fail;
    }
    json_decref(body);
    sessionapi_create *c = base_xcalloc(1, sizeof *c);
    c->d = sessionapi_drive_ref(sessionapi_drive_new(api));
    c->req = req;
    c->agent = agent;
    c->cwd = cwd ? cwd : sessionapi_server_cwd();
    c->mode = mode;
    c->model = model;
    http_req_on_abort(req, sessionapi_create_abort, c);
    if (installed) {
        sessionapi_create_go(c);
        return;
    }
    agents_install_opts opts = {0};
    c->install =
        agents_install_async(api->loop, agent, &opts, sessionapi_create_installed, NULL, c);
    return;
fail:
    free(agent);
    free(cwd);
    free(mode);
    free(model);
    json_decref(body);
}
