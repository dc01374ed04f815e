/* prompt.c - prompting (§9): POST /session/{id}/message (answered when the turn ends) and
 * /prompt_async (204 at once, Q3), the model and agent selection (§9.2), the user message
 * and its parts (§6.2, §6.4), POST /session/{id}/init (§8.6) and /abort (§8.10). The turn
 * itself runs in run.c. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- selection (§9.2) ---------------------------------------------------------------------- */

static bool opencode_has_prefix(const char *s, const char *p) {
    return strncmp(s, p, strlen(p)) == 0;
}

static const char *opencode_guess_provider(const char *model) {
    if (!strcmp(model, "mock"))
        return "mock";
    if (!strcmp(model, "smart") || !strcmp(model, "rush") || !strcmp(model, "deep") ||
        !strcmp(model, "free") || opencode_has_prefix(model, "amp-"))
        return "amp";
    if (!strcmp(model, "default") || !strcmp(model, "sonnet") || !strcmp(model, "haiku") ||
        !strcmp(model, "opus") || opencode_has_prefix(model, "claude-"))
        return "claude";
    if (opencode_has_prefix(model, "gpt-"))
        return "codex";
    if (strchr(model, '/'))
        return "opencode";
    return NULL;
}

static const char *const opencode_provider_keys[] = {"providerID", "provider_id", "providerId",
                                                     NULL};
static const char *const opencode_model_keys[] = {"modelID", "model_id", "modelId", NULL};

static const char *opencode_info_str(const opencode_session *s, const char *key) {
    return json_string_value(json_object_get(s->info, key));
}

/* Apply the body's selection to the session. False when it answered 400. */
static bool opencode_select(opencode_session *s, const json_t *body, http_req *req) {
    const json_t *model = json_object_get(body, "model");
    const char *provider = opencode_str_alias(body, opencode_provider_keys);
    const char *mid = opencode_str_alias(body, opencode_model_keys);
    if (!provider)
        provider = opencode_str_alias(model, opencode_provider_keys);
    if (!mid)
        mid = opencode_str_alias(model, opencode_model_keys);
    const char *agent = json_string_value(json_object_get(body, "agent"));
    /* An agent named alone selects its own provider when it is one of ours. */
    if (!provider && agent && !strcmp(opencode_agent_for_provider(agent), agent)) {
        provider = agent;
        if (!mid)
            mid = opencode_default_model(agent);
    }
    if (!provider && mid)
        provider = opencode_guess_provider(mid);
    if (provider && !mid)
        mid = opencode_default_model(provider);
    bool explicit_sel = model || opencode_str_alias(body, opencode_provider_keys) ||
                        opencode_str_alias(body, opencode_model_keys);
    bool has_messages = json_array_size(s->messages) > 0;
    if (provider && mid) {
        if (has_messages && (strcmp(provider, opencode_info_str(s, "providerID")) ||
                             strcmp(mid, opencode_info_str(s, "model")))) {
            opencode_reply_error(req, 400, opencode_model_change_msg);
            return false;
        }
        json_object_set_new(s->info, "providerID", json_string(provider));
        json_object_set_new(s->info, "model", json_string(mid));
        json_object_set_new(s->info, "agent", json_string(opencode_agent_for_provider(provider)));
        opencode_touch(s);
        return true;
    }
    if (explicit_sel) {
        opencode_reply_error(req, 400,
                             "providerID and modelID are required when selecting a model");
        return false;
    }
    /* An agent name that is none of our agents (the TUI sends "Sandbox Agent", the name /agent
     * lists) selects nothing: the session keeps its agent (the reference stored it, Q7). */
    return true;
}

/* ---- the user message ---------------------------------------------------------------------- */

static json_t *opencode_user_message(opencode_session *s, const json_t *body, const char *msg_id) {
    int64_t now = base_now_ms();
    json_t *info =
        json_pack("{s:s,s:s,s:s,s:{s:I,s:I},s:s,s:{s:s,s:s}}", "id", msg_id, "sessionID", s->id,
                  "role", "user", "time", "created", (json_int_t)now, "completed", (json_int_t)now,
                  "agent", opencode_info_str(s, "agent"), "model", "providerID",
                  opencode_info_str(s, "providerID"), "modelID", opencode_info_str(s, "model"));
    const char *system = json_string_value(json_object_get(body, "system"));
    if (system)
        json_object_set_new(info, "system", json_string(system));
    json_t *parts = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(body, "parts"), i, p) {
        const char *given = json_string_value(json_object_get(p, "id"));
        char *pid = given ? base_xstrdup(given) : base_xasprintf("part_%s_%zu", msg_id, i);
        const char *text = json_string_value(json_object_get(p, "text"));
        json_t *out;
        if (text) {
            out = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", pid, "messageID", msg_id, "sessionID",
                            s->id, "text", text, "type", "text");
        } else {
            out = json_is_object(p) ? json_deep_copy(p) : json_object();
            json_object_set_new(out, "id", json_string(pid));
            json_object_set_new(out, "messageID", json_string(msg_id));
            json_object_set_new(out, "sessionID", json_string(s->id));
        }
        free(pid);
        json_array_append_new(parts, out);
    }
    return json_pack("{s:o,s:o}", "info", info, "parts", parts);
}

/* ---- POST /session/{id}/message and /prompt_async ------------------------------------------ */

/* The session of path parameter 0, created when unknown (Q29: clients use their own ids). */
static opencode_session *opencode_session_implicit(opencode *oc, http_req *req) {
    const char *id = http_req_param(req, 0);
    opencode_session *s = opencode_session_get(oc, id);
    if (s)
        return s;
    char *dir = opencode_directory(req);
    s = opencode_session_create(oc, id, dir, NULL);
    free(dir);
    return s;
}

static void opencode_prompt(http_req *req, opencode *oc, bool sync) {
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    const json_t *parts = json_object_get(body, "parts");
    if (parts && !json_is_array(parts) && !json_is_null(parts)) {
        opencode_reply_422(req, "parts: invalid type: expected a sequence");
        json_decref(body);
        return;
    }
    opencode_session *s = opencode_session_implicit(oc, req);
    if (!opencode_select(s, body, req))
        goto out;
    if (json_array_size(parts) == 0) {
        opencode_reply_error(req, 400, "parts are required");
        goto out;
    }
    const char *given = json_string_value(json_object_get(body, "messageID"));
    char *msg_id = given ? base_xstrdup(given) : opencode_new_id("msg_");
    json_t *m = opencode_user_message(s, body, msg_id);
    free(msg_id);
    size_t idx = json_array_size(s->messages);
    json_array_append_new(s->messages, m);
    opencode_store_message(oc, s, idx);
    opencode_store_session(oc, s, false);
    json_t *info = json_object_get(m, "info");
    opencode_emit(oc, "message.updated", json_pack("{s:O,s:s}", "info", info, "sessionID", s->id));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(m, "parts"), i, p)
        opencode_emit(oc, "message.part.updated",
                      json_pack("{s:O,s:O,s:s}", "messageID", json_object_get(info, "id"), "part",
                                p, "sessionID", s->id));
    if (!s->busy)
        opencode_session_status(oc, s, true);
    if (!sync)
        http_reply_empty(req, 204); /* the turn runs on (Q3) */
    opencode_run_turn(oc, s, idx, sync ? req : NULL);
out:
    json_decref(body);
}

static void opencode_message_post_handler(http_req *req, void *ud) {
    opencode_prompt(req, ud, true);
}

static void opencode_prompt_async_handler(http_req *req, void *ud) {
    opencode_prompt(req, ud, false);
}

/* ---- POST /session/{id}/init --------------------------------------------------------------- */

static void opencode_init_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    opencode_session *s = opencode_session_implicit(oc, req);
    json_t *body = opencode_body(req, false);
    const char *provider = opencode_str_alias(body, opencode_provider_keys);
    const char *mid = opencode_str_alias(body, opencode_model_keys);
    if (!provider && !mid) {
        opencode_reply_json(req, 200, json_true());
    } else if (!provider || !mid) {
        opencode_reply_error(req, 400,
                             "providerID and modelID are required when selecting a model");
    } else if (json_array_size(s->messages) > 0 &&
               (strcmp(provider, opencode_info_str(s, "providerID")) ||
                strcmp(mid, opencode_info_str(s, "model")))) {
        opencode_reply_error(req, 400, opencode_model_change_msg);
    } else {
        json_object_set_new(s->info, "providerID", json_string(provider));
        json_object_set_new(s->info, "model", json_string(mid));
        json_object_set_new(s->info, "agent", json_string(opencode_agent_for_provider(provider)));
        opencode_touch(s);
        opencode_store_session(oc, s, false);
        opencode_reply_json(req, 200, json_true());
    }
    json_decref(body);
}

/* ---- POST /session/{id}/abort -------------------------------------------------------------- */

static void opencode_abort_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    opencode_session *s = opencode_session_get(oc, http_req_param(req, 0));
    if (!s) {
        opencode_reply_error(req, 404, "Session not found");
        return;
    }
    /* session/cancel goes as a notification and nothing waits for the agent (Q8). */
    opencode_run_abort(oc, s);
    opencode_reply_json(req, 200, json_true());
}

void opencode_prompt_routes(opencode *oc, http_server *srv) {
    const unsigned A = OPENCODE_ROUTE;
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/message", A, opencode_message_post_handler,
               oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/prompt_async", A,
               opencode_prompt_async_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/init", A, opencode_init_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/abort", A, opencode_abort_handler, oc);
}
