/* permission.c - permissions and questions, both ways (§15): an agent's
 * session/request_permission becomes an OpenCode permission (permission.asked), and the
 * client's reply goes back as the ACP outcome with the optionId of the matching kind (Q28);
 * _sandboxagent/session/request_question becomes an OpenCode question. A session granted
 * "always" answers later requests itself. A reply does not end the turn: the turn's end does
 * (Q24). Pending requests belong to a live agent and are not kept across restarts. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

void opencode_pending_free(void *p) {
    opencode_pending *q = p;
    free(q->session);
    json_decref(q->request);
    json_decref(q->rpc_id);
    json_decref(q->options);
    free(q);
}

typedef struct opencode_drop {
    const char *session;
    json_t *ids;
} opencode_drop;

static void opencode_drop_one(const char *key, void *value, void *ud) {
    opencode_drop *d = ud;
    opencode_pending *p = value;
    if (!strcmp(p->session, d->session))
        json_array_append_new(d->ids, json_string(key));
}

/* ACP asks a client that gives up on a turn to answer its permission requests cancelled. */
static void opencode_pending_cancel(opencode *oc, opencode_pending *p) {
    opencode_session *s = opencode_session_get(oc, p->session);
    if (!s || !p->rpc_id)
        return;
    if (p->question)
        opencode_run_respond(s, p->rpc_id, json_pack("{s:s}", "outcome", "cancelled"));
    else
        opencode_run_respond(s, p->rpc_id,
                             json_pack("{s:{s:s}}", "outcome", "outcome", "cancelled"));
}

void opencode_pending_drop_session(opencode *oc, const char *session) {
    opencode_drop d = {session, json_array()};
    base_map_each(oc->pending, opencode_drop_one, &d);
    size_t i;
    json_t *id;
    json_array_foreach(d.ids, i, id) {
        opencode_pending *p = base_map_del(oc->pending, json_string_value(id));
        opencode_pending_cancel(oc, p);
        opencode_pending_free(p);
    }
    json_decref(d.ids);
}

/* The optionId the agent offered for a reply (once, always, reject); NULL when none. */
static const char *opencode_option_for(const json_t *options, const char *reply) {
    const char *kinds[2] = {"allow_once", "allow_always"};
    if (!strcmp(reply, "always"))
        kinds[0] = "allow_always", kinds[1] = "allow_once";
    else if (!strcmp(reply, "reject") || !strcmp(reply, "deny"))
        kinds[0] = "reject_once", kinds[1] = "reject_always";
    for (size_t k = 0; k < 2; k++) {
        size_t i;
        const json_t *o;
        json_array_foreach(options, i, o) {
            const char *kind = json_string_value(json_object_get(o, "kind"));
            const char *id = json_string_value(json_object_get(o, "optionId"));
            if (kind && id && !strcmp(kind, kinds[k]))
                return id;
        }
    }
    return NULL;
}

/* Resolve a pending permission (§15.7): the ACP answer, permission.replied, the "always"
 * grant. Frees p (already taken out of the map). */
static void opencode_permission_resolve(opencode *oc, opencode_pending *p, const char *reply) {
    opencode_session *s = opencode_session_get(oc, p->session);
    if (s && p->rpc_id) {
        const char *option = opencode_option_for(p->options, reply);
        json_t *result = option ? json_pack("{s:{s:s,s:s}}", "outcome", "outcome", "selected",
                                            "optionId", option)
                                : json_pack("{s:{s:s}}", "outcome", "outcome", "cancelled");
        opencode_run_respond(s, p->rpc_id, result);
    }
    const char *rid = json_string_value(json_object_get(p->request, "id"));
    opencode_emit(
        oc, "permission.replied",
        json_pack("{s:s,s:s,s:s}", "reply", reply, "requestID", rid, "sessionID", p->session));
    if (s && !strcmp(reply, "always") && !s->always) {
        s->always = true;
        opencode_store_session(oc, s, false);
    }
    opencode_pending_free(p);
}

void opencode_permission_asked(opencode *oc, opencode_session *s, const json_t *msg) {
    const json_t *params = json_object_get(msg, "params");
    char *id = opencode_new_id("perm_");
    const json_t *perm = json_object_get(params, "permission");
    const json_t *patterns = json_object_get(params, "patterns");
    const json_t *meta = json_object_get(params, "metadata");
    /* ACP agents send none of these: the defaults are what clients see (§6.5). */
    json_t *req = json_pack("{s:s,s:s,s:[]}", "id", id, "sessionID", s->id, "always");
    json_object_set_new(req, "permission",
                        json_is_string(perm) ? json_incref((json_t *)perm)
                                             : json_string("execute"));
    json_object_set_new(req, "patterns",
                        json_is_array(patterns) ? json_incref((json_t *)patterns)
                                                : json_pack("[s]", "*"));
    json_object_set_new(req, "metadata",
                        json_is_object(meta) ? json_incref((json_t *)meta) : json_object());
    const json_t *tc = json_object_get(params, "toolCall");
    const char *call = json_string_value(json_object_get(tc, "toolCallId"));
    if (call) /* OpenCode links a permission to its tool part by callID */
        json_object_set_new(req, "tool", json_pack("{s:s}", "callID", call));
    opencode_pending *p = base_xcalloc(1, sizeof *p);
    p->session = base_xstrdup(s->id);
    p->request = req;
    p->rpc_id = json_incref(json_object_get(msg, "id"));
    p->options = json_incref(json_object_get(params, "options"));
    opencode_emit(oc, "permission.asked", json_incref(req));
    if (s->always)
        opencode_permission_resolve(oc, p, "always");
    else
        base_map_put(oc->pending, id, p);
    free(id);
}

void opencode_question_asked(opencode *oc, opencode_session *s, const json_t *msg) {
    const json_t *params = json_object_get(msg, "params");
    char *id = opencode_new_id("q_");
    const json_t *qs = json_object_get(params, "questions");
    opencode_pending *p = base_xcalloc(1, sizeof *p);
    p->question = true;
    p->session = base_xstrdup(s->id);
    p->request = json_pack("{s:s,s:s}", "id", id, "sessionID", s->id);
    json_object_set_new(p->request, "questions",
                        json_is_array(qs) ? json_deep_copy(qs) : json_array());
    p->rpc_id = json_incref(json_object_get(msg, "id"));
    base_map_put(oc->pending, id, p);
    opencode_emit(oc, "question.asked", json_incref(p->request));
    free(id);
}

/* ---- routes -------------------------------------------------------------------------------- */

static int opencode_req_cmp(const void *a, const void *b) {
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

typedef struct opencode_list {
    bool question;
    json_t *items;
} opencode_list;

static void opencode_list_one(const char *key, void *value, void *ud) {
    opencode_list *l = ud;
    opencode_pending *p = value;
    if (p->question == l->question)
        json_array_append(l->items, p->request);
}

static void opencode_pending_list(http_req *req, opencode *oc, bool question) {
    opencode_list l = {question, json_array()};
    base_map_each(oc->pending, opencode_list_one, &l);
    size_t n = json_array_size(l.items);
    json_t **v = base_xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(l.items, i);
    qsort(v, n, sizeof *v, opencode_req_cmp);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    json_decref(l.items);
    opencode_reply_json(req, 200, sorted);
}

static void opencode_permission_list_handler(http_req *req, void *ud) {
    opencode_pending_list(req, ud, false);
}

static void opencode_question_list_handler(http_req *req, void *ud) {
    opencode_pending_list(req, ud, true);
}

/* The pending request of path parameter i, of the kind asked, taken out of the map; or NULL
 * with the 404 answered. */
static opencode_pending *opencode_pending_take(opencode *oc, http_req *req, size_t i,
                                               bool question) {
    const char *id = http_req_param(req, i);
    opencode_pending *p = base_map_get(oc->pending, id);
    if (!p || p->question != question) {
        opencode_reply_error(
            req, 404, question ? "Question request not found" : "Permission request not found");
        return NULL;
    }
    base_map_del(oc->pending, id);
    return p;
}

static void opencode_permission_reply_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    const json_t *reply = json_object_get(body, "reply");
    if (reply && !json_is_string(reply) && !json_is_null(reply)) {
        opencode_reply_422(req, "reply: invalid type: expected a string");
    } else {
        opencode_pending *p = opencode_pending_take(oc, req, 0, false);
        if (p) {
            opencode_permission_resolve(oc, p,
                                        json_is_string(reply) ? json_string_value(reply) : "once");
            opencode_reply_json(req, 200, json_true());
        }
    }
    json_decref(body);
}

/* The legacy route (SDK permission.respond): allow / deny / always. */
static void opencode_permission_respond_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    const char *r = json_string_value(json_object_get(body, "response"));
    const char *reply = r && !strcmp(r, "deny")     ? "reject"
                        : r && !strcmp(r, "always") ? "always"
                                                    : "once";
    opencode_session *s = opencode_session_get(oc, http_req_param(req, 0));
    opencode_pending *p = s ? opencode_pending_take(oc, req, 1, false) : NULL;
    if (!s)
        opencode_reply_error(req, 404, "Session not found");
    else if (p && strcmp(p->session, s->id) != 0) {
        base_map_put(oc->pending, http_req_param(req, 1), p); /* another session's */
        opencode_reply_error(req, 404, "Permission request not found");
    } else if (p) {
        opencode_permission_resolve(oc, p, reply);
        opencode_reply_json(req, 200, json_true());
    }
    json_decref(body);
}

static void opencode_question_reply_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    json_t *body = opencode_body_object(req);
    if (!body)
        return;
    const json_t *answers = json_object_get(body, "answers");
    if (answers && !json_is_array(answers) && !json_is_null(answers)) {
        opencode_reply_422(req, "answers: invalid type: expected a sequence");
        json_decref(body);
        return;
    }
    opencode_pending *p = opencode_pending_take(oc, req, 0, true);
    if (p) {
        json_t *a = json_is_array(answers) ? json_incref((json_t *)answers) : json_array();
        opencode_session *s = opencode_session_get(oc, p->session);
        if (s && p->rpc_id)
            opencode_run_respond(s, p->rpc_id,
                                 json_pack("{s:{s:{s:O}},s:s}", "_meta", "sandboxagent.dev",
                                           "answers", a, "outcome", "selected"));
        opencode_emit(oc, "question.replied",
                      json_pack("{s:o,s:O,s:s}", "answers", a, "requestID",
                                json_object_get(p->request, "id"), "sessionID", p->session));
        opencode_pending_free(p);
        opencode_reply_json(req, 200, json_true());
    }
    json_decref(body);
}

static void opencode_question_reject_handler(http_req *req, void *ud) {
    opencode *oc = ud;
    opencode_pending *p = opencode_pending_take(oc, req, 0, true);
    if (!p)
        return;
    opencode_session *s = opencode_session_get(oc, p->session);
    if (s && p->rpc_id)
        opencode_run_respond(s, p->rpc_id, json_pack("{s:s}", "outcome", "rejected"));
    opencode_emit(oc, "question.rejected",
                  json_pack("{s:O,s:s}", "requestID", json_object_get(p->request, "id"),
                            "sessionID", p->session));
    opencode_pending_free(p);
    opencode_reply_json(req, 200, json_true());
}

void opencode_permission_routes(opencode *oc, http_server *srv) {
    const unsigned A = OPENCODE_ROUTE;
    http_route(srv, HTTP_M_GET, "/opencode/permission", A, opencode_permission_list_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/permission/{requestID}/reply", A,
               opencode_permission_reply_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/session/{id}/permissions/{permissionID}", A,
               opencode_permission_respond_handler, oc);
    http_route(srv, HTTP_M_GET, "/opencode/question", A, opencode_question_list_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/question/{requestID}/reply", A,
               opencode_question_reply_handler, oc);
    http_route(srv, HTTP_M_POST, "/opencode/question/{requestID}/reject", A,
               opencode_question_reject_handler, oc);
}
