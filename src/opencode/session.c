/* session.c - OpenCode sessions (§8): create, list, get, update, delete, status, fork, init,
 * children, diff, todo, summarize; their messages and part edits. The Session object is kept
 * as served (§6.1, with the extras agent, model and providerID that clients read). */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the session objects ------------------------------------------------------------------- */

opencode_session *opencode_session_get(opencode *oc, const char *id) {
    return base_map_get(oc->sessions, id);
}

void opencode_touch(opencode_session *s) {
    json_object_set_new(json_object_get(s->info, "time"), "updated", json_integer(base_now_ms()));
}

opencode_session *opencode_session_new(opencode *oc, const char *id, const char *directory) {
    opencode_session *s = base_xcalloc(1, sizeof *s);
    s->id = base_xstrdup(id);
    int64_t now = base_now_ms();
    char *slug = base_xasprintf("session-%s", id);
    char *title = base_xasprintf("Session %s", id);
    s->info = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:I,s:I},s:s,s:s,s:s}", "id", id, "slug", slug,
                        "projectID", opencode_project_id(), "directory", directory, "title", title,
                        "version", "0", "time", "created", (json_int_t)now, "updated",
                        (json_int_t)now, "agent", "mock", "providerID", "mock", "model", "mock");
    free(slug);
    free(title);
    s->messages = json_array();
    opencode_session *old = base_map_put(oc->sessions, id, s);
    BASE_ASSERT(!old);
    return s;
}

opencode_session *opencode_session_create(opencode *oc, const char *id, const char *directory,
                                          const char *title) {
    char *own = id ? NULL : opencode_new_id("ses_");
    opencode_session *s = opencode_session_new(oc, id ? id : own, directory);
    free(own);
    if (title)
        json_object_set_new(s->info, "title", json_string(title));
    opencode_store_session(oc, s, true);
    opencode_emit(oc, "session.created", json_pack("{s:O}", "info", s->info));
    return s;
}

void opencode_session_free(opencode_session *s) {
    json_decref(s->info);
    json_decref(s->messages);
    json_decref(s->todos);
    free(s->acp_id);
    free(s->acp_agent);
    free(s->id);
    free(s);
}

json_t *opencode_message_find(opencode_session *s, const char *id, size_t *index) {
    size_t i;
    json_t *m;
    json_array_foreach(s->messages, i, m) {
        const char *mid = json_string_value(json_object_get(json_object_get(m, "info"), "id"));
        if (mid && strcmp(mid, id) == 0) {
            if (index)
                *index = i;
            return m;
        }
    }
    return NULL;
}

void opencode_session_status(opencode *oc, opencode_session *s, bool busy) {
    s->busy = busy;
    opencode_touch(s);
    opencode_store_session(oc, s, false);
    opencode_emit(
        oc, "session.status",
        json_pack("{s:s,s:{s:s}}", "sessionID", s->id, "status", "type", busy ? "busy" : "idle"));
    if (!busy)
        opencode_emit(oc, "session.idle", json_pack("{s:s}", "sessionID", s->id));
}

/* The session of path parameter 0, or a 404 "Session not found" and NULL. */
static opencode_session *opencode_find(opencode *oc, http_req *req) {
    opencode_session *s = opencode_session_get(oc, http_req_param(req, 0));
    if (!s)
        opencode_reply_error(req, 404, "Session not found");
    return s;
}

/* ---- routes -------------------------------------------------------------------------------- */

static void opencode_create_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    /* Lenient (§8.1): a body that is not an object, or has a typed field of the wrong type,
     * counts as absent. */
    json_t *body = opencode_body(req, false);
    if (body && !json_is_object(body)) {
        json_decref(body);
        body = NULL;
    }
    const json_t *title = json_object_get(body, "title");
    const json_t *parent = json_object_get(body, "parentID");
    const json_t *mode = json_object_get(body, "permissionMode");
    if (!mode)
        mode = json_object_get(body, "permission_mode");
    if ((title && !json_is_string(title) && !json_is_null(title)) ||
        (parent && !json_is_string(parent) && !json_is_null(parent)) ||
        (mode && !json_is_string(mode) && !json_is_null(mode)))
        title = parent = mode = NULL;
    char *dir = opencode_directory(req);
    char *id = opencode_new_id("ses_");
    opencode_session *s = opencode_session_new(oc, id, dir);
    free(id);
    free(dir);
    if (json_is_string(title))
        json_object_set(s->info, "title", (json_t *)title);
    if (json_is_string(parent))
        json_object_set(s->info, "parentID", (json_t *)parent);
    if (json_is_string(mode))
        json_object_set(s->info, "permissionMode", (json_t *)mode);
    json_decref(body);
    opencode_store_session(oc, s, true);
    opencode_emit(oc, "session.created", json_pack("{s:O}", "info", s->info));
    opencode_reply_json(req, 200, json_incref(s->info));
}

static int opencode_id_cmp(const void *a, const void *b) {
    return strcmp((*(opencode_session *const *)a)->id, (*(opencode_session *const *)b)->id);
}

typedef struct opencode_collect {
    opencode_session **v;
    size_t n;
} opencode_collect;

static void opencode_collect_one(const char *key, void *value, void *ud) {
    opencode_collect *c = ud;
    c->v[c->n++] = value;
}

/* Every session, sorted by id (§8.2). Caller frees the array. */
static opencode_collect opencode_sorted(opencode *oc) {
    opencode_collect c = {base_xcalloc(base_map_count(oc->sessions) + 1, sizeof(void *)), 0};
    base_map_each(oc->sessions, opencode_collect_one, &c);
    qsort(c.v, c.n, sizeof *c.v, opencode_id_cmp);
    return c;
}

static void opencode_list_handler(http_req *req, void *ud) {
    opencode_collect c = opencode_sorted(ud);
    json_t *a = json_array();
    for (size_t i = 0; i < c.n; i++)
        json_array_append(a, c.v[i]->info);
    free(c.v);
    opencode_reply_json(req, 200, a);
}

static void opencode_status_handler(http_req *req, void *ud) {
    opencode_collect c = opencode_sorted(ud);
    json_t *o = json_object();
    for (size_t i = 0; i < c.n; i++)
        json_object_set_new(o, c.v[i]->id,
                            json_pack("{s:s}", "type", c.v[i]->busy ? "busy" : "idle"));
    free(c.v);
    opencode_reply_json(req, 200, o);
}

static void opencode_get_handler(http_req *req, void *ud) {
    opencode_session *s = opencode_find(ud, req);
    if (s)
        opencode_reply_json(req, 200, json_incref(s->info));
}

const char opencode_model_change_msg[] =
    "OpenCode compatibility currently does not support changing the model after creating a "
    "session. Export with /export and load in to a new session.";

static void opencode_update_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    static const char *const model_keys[] = {"model",   "providerID", "provider_id", "providerId",
                                             "modelID", "model_id",   "modelId",     NULL};
    for (size_t i = 0; model_keys[i]; i++) {
        if (json_object_get(body, model_keys[i])) {
            opencode_reply_error(req, 400, opencode_model_change_msg);
            json_decref(body);
            return;
        }
    }
    const json_t *title = json_object_get(body, "title");
    if (title && !json_is_string(title) && !json_is_null(title)) {
        opencode_reply_422(req, "title: invalid type: expected a string");
        json_decref(body);
        return;
    }
    opencode_session *s = opencode_find(oc, req);
    if (s) {
        if (json_is_string(title)) {
            json_object_set(s->info, "title", (json_t *)title);
            opencode_touch(s);
        }
        opencode_store_session(oc, s, false);
        opencode_emit(oc, "session.updated", json_pack("{s:O}", "info", s->info));
        opencode_reply_json(req, 200, json_incref(s->info));
    }
    json_decref(body);
}

static void opencode_delete_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    opencode_session *s = opencode_find(oc, req);
    if (!s)
        return;
    /* The agent is stopped in the background: the answer does not wait for it (Q9). */
    opencode_run_detach(s);
    opencode_pending_drop_session(oc, s->id);
    opencode_store_delete(oc, s);
    base_map_del(oc->sessions, s->id);
    opencode_emit(oc, "session.deleted", json_pack("{s:O}", "info", s->info));
    opencode_session_free(s);
    opencode_reply_json(req, 200, json_true());
}

static void opencode_fork_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    opencode_session *src = opencode_find(oc, req);
    if (!src)
        return;
    char *dir = opencode_directory(req);
    char *id = opencode_new_id("ses_");
    opencode_session *s = opencode_session_new(oc, id, dir);
    free(id);
    free(dir);
    const char *title = json_string_value(json_object_get(src->info, "title"));
    json_object_set_new(s->info, "title", json_sprintf("Fork of %s", title ? title : ""));
    json_object_set(s->info, "parentID", json_object_get(src->info, "id"));
    static const char *const copy[] = {"agent", "providerID", "model", "permissionMode", NULL};
    for (size_t i = 0; copy[i]; i++) {
        json_t *v = json_object_get(src->info, copy[i]);
        if (v)
            json_object_set(s->info, copy[i], v);
    }
    opencode_store_session(oc, s, true);
    opencode_emit(oc, "session.created", json_pack("{s:O}", "info", s->info));
    opencode_reply_json(req, 200, json_incref(s->info));
}

/* Children: the forks whose parentID is this session (the reference always answers [],
 * Q13). Any id is accepted. */
static void opencode_children_handler(http_req *req, void *ud) {
    opencode_collect c = opencode_sorted(ud);
    const char *id = http_req_param(req, 0);
    json_t *a = json_array();
    for (size_t i = 0; i < c.n; i++) {
        const char *p = json_string_value(json_object_get(c.v[i]->info, "parentID"));
        if (p && strcmp(p, id) == 0)
            json_array_append(a, c.v[i]->info);
    }
    free(c.v);
    opencode_reply_json(req, 200, a);
}

/* The agent's latest plan (run.c); [] before one came, and for any unknown id as on the
 * reference (spec route 41). */
static void opencode_todo_handler(http_req *req, void *ud) {
    opencode_session *s = opencode_session_get(ud, http_req_param(req, 0));
    opencode_reply_json(req, 200, s && s->todos ? json_incref(s->todos) : json_array());
}

static void opencode_summarize_handler(http_req *req, void *ud) {
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    if (!json_object_get(body, "providerID") || !json_object_get(body, "modelID"))
        opencode_reply_error(req, 400, "providerID and modelID are required");
    else
        opencode_reply_json(req, 200, json_true());
    json_decref(body);
}

static void opencode_messages_handler(http_req *req, void *ud) {
    opencode_session *s = opencode_find(ud, req);
    if (s)
        opencode_reply_json(req, 200, json_deep_copy(s->messages));
}

static void opencode_message_handler(http_req *req, void *ud) {
    opencode_session *s = opencode_find(ud, req);
    if (!s)
        return;
    json_t *m = opencode_message_find(s, http_req_param(req, 1), NULL);
    if (!m) {
        opencode_reply_error(req, 404, "Message not found");
        return;
    }
    json_t *o = json_deep_copy(m);
    json_object_set_new(o, "id", json_string(http_req_param(req, 1)));
    opencode_reply_json(req, 200, o);
}

/* PATCH and DELETE of a part (§8.11): any session and message are accepted; edits of a
 * stored message are stored too (the reference keeps them in memory only, Q11). */
static void opencode_part_patch_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    json_t *part = opencode_body(req, true);
    if (!part)
        return;
    const char *sid = http_req_param(req, 0), *mid = http_req_param(req, 1),
               *pid = http_req_param(req, 2);
    if (json_is_object(part)) {
        json_object_set_new(part, "id", json_string(pid));
        json_object_set_new(part, "sessionID", json_string(sid));
        json_object_set_new(part, "messageID", json_string(mid));
        opencode_session *s = opencode_session_get(oc, sid);
        size_t mi;
        json_t *m = s ? opencode_message_find(s, mid, &mi) : NULL;
        if (m) {
            json_t *parts = json_object_get(m, "parts");
            size_t i;
            json_t *p;
            bool replaced = false;
            json_array_foreach(parts, i, p) {
                const char *id = json_string_value(json_object_get(p, "id"));
                if (id && strcmp(id, pid) == 0) {
                    json_array_set(parts, i, part);
                    replaced = true;
                    break;
                }
            }
            if (!replaced)
                json_array_append(parts, part);
            opencode_store_message(oc, s, mi);
        }
    }
    opencode_emit(oc, "message.part.updated",
                  json_pack("{s:s,s:O,s:s}", "messageID", mid, "part", part, "sessionID", sid));
    opencode_reply_json(req, 200, part);
}

static void opencode_part_delete_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    const char *sid = http_req_param(req, 0), *mid = http_req_param(req, 1),
               *pid = http_req_param(req, 2);
    opencode_session *s = opencode_session_get(oc, sid);
    size_t mi;
    json_t *m = s ? opencode_message_find(s, mid, &mi) : NULL;
    json_t *parts = json_object_get(m, "parts");
    for (size_t i = 0; i < json_array_size(parts); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(parts, i), "id"));
        if (id && strcmp(id, pid) == 0) {
            json_array_remove(parts, i);
            opencode_store_message(oc, s, mi);
            break;
        }
    }
    opencode_emit(oc, "message.part.removed",
                  json_pack("{s:s,s:s,s:s}", "messageID", mid, "partID", pid, "sessionID", sid));
    opencode_reply_json(req, 200, json_true());
}

void opencode_session_routes(opencode *oc, http_server *srv) {
    const unsigned A = OPENCODE_ROUTE;
    http_route(srv, HTTP_M_POST, "/opencode/session", A, opencode_create_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session", A, opencode_list_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/status", A, opencode_status_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}", A, opencode_get_handler, oc);
    http_route(srv, HTTP_M_PATCH, "/opencode/session/{id}", A, opencode_update_handler, oc);
    http_route(srv, HTTP_M_DELETE, "/opencode/session/{id}", A, opencode_delete_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}/children", A, opencode_children_handler,
               oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/fork", A, opencode_fork_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}/diff", A, opencode_handle_empty_list, oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}/todo", A, opencode_todo_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/summarize", A, opencode_summarize_handler,
               oc);
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}/message/{messageID}", A,
               opencode_message_handler, oc);
    http_route(srv, HTTP_M_PATCH, "/opencode/session/{id}/message/{messageID}/part/{partID}", A,
               opencode_part_patch_handler, oc);
    http_route(srv, HTTP_M_DELETE, "/opencode/session/{id}/message/{messageID}/part/{partID}", A,
               opencode_part_delete_handler, oc);
    /* GET .../message is registered with the POST in prompt.c's table, after it. */
    http_route(srv, HTTP_M_GET, "/opencode/session/{id}/message", A, opencode_messages_handler, oc);
}
