/* run.c - turns over the ACP bridge (§11): each session drives its agent through an
 * in-process ACP client (src/acp/client.c, the one the REST session API uses) on an instance
 * of its own, acp_ses_<n>: initialize, then session/load of the session's ACP id when the
 * agent can (after a restart, or after its agent died), else session/new in the session's
 * directory (Q17) with the earlier conversation as replay text; the model is set as the
 * agent's "model" config option when it offers that value (Q4). Prompts go as ACP content
 * blocks (Q16); session/update notifications become OpenCode parts (§11.4, with the Q2
 * fixes: reasoning parts, one tool part updated in place). A turn ends with the agent's
 * answer to session/prompt (Q19), however long it takes (Q21), or with the agent's death
 * (session.error, Q20; the next prompt starts it again). Prompts sent while a turn runs wait
 * their turn. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

/* The replay text of a session continued on a fresh ACP session stops near this size. */
#define OPENCODE_REPLAY_MAX 12000

/* A session's ACP connection. Owner: the session (s->run) and every request in flight
 * (refs); the last opencode_run_unref frees it. */
struct opencode_run {
    opencode *oc;
    opencode_session *s; /* NULL once detached (session deleted, API stopping) */
    int refs;
    acp_client *client;
    char *agent;
    char *acp_id;         /* the ACP sessionId once ready */
    bool ready;           /* session/new or session/load answered */
    bool starting;        /* bootstrap in flight */
    bool can_load;        /* initialize said agentCapabilities.loadSession */
    bool replay;          /* a fresh ACP session for a session with history */
    opencode_turn *turn;  /* the running turn (or draining after an abort) */
    opencode_turn *queue; /* prompts waiting, oldest first */
    agents_install_job *install;
};

/* One prompt turn. Owner: its run (turn or queue); freed once the agent answered. */
struct opencode_turn {
    opencode_run *run;
    opencode_turn *next;
    http_req *req;   /* the synchronous prompt to answer, or NULL */
    char *user_id;   /* the user message */
    char *asst_id;   /* <user>_assistant */
    int k;           /* parts made so far */
    char *open_part; /* the text or reasoning part chunks append to, or NULL */
    bool sent;       /* session/prompt is with the agent */
    bool ended;      /* finished for the client (aborted, failed): the rest drains */
    json_t *late_id; /* the prompt's JSON-RPC id once the bridge timed it out */
};

static opencode_run *opencode_run_ref(opencode_run *r) {
    r->refs++;
    return r;
}

static void opencode_turn_free(opencode_turn *t) {
    free(t->user_id);
    free(t->asst_id);
    free(t->open_part);
    json_decref(t->late_id);
    free(t);
}

static void opencode_run_unref(opencode_run *r) {
    if (--r->refs > 0)
        return;
    BASE_ASSERT(!r->s && !r->turn);
    while (r->queue) {
        opencode_turn *t = r->queue;
        r->queue = t->next;
        opencode_turn_free(t);
    }
    free(r->agent);
    free(r->acp_id);
    free(r);
}

static void opencode_turn_abort_cb(http_req *req, void *ud) {
    opencode_turn *t = ud;
    t->req = NULL; /* the client left; the turn goes on */
}

/* ---- the assistant message ------------------------------------------------------------------ */

/* The turn's assistant message and its index, or NULL (the session was deleted). */
static json_t *opencode_turn_asst(opencode_turn *t, size_t *idx) {
    opencode_session *s = t->run->s;
    return s ? opencode_message_find(s, t->asst_id, idx) : NULL;
}

static json_t *opencode_turn_part(opencode_turn *t, const char *id, size_t *midx) {
    json_t *m = opencode_turn_asst(t, midx);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(m, "parts"), i, p) {
        const char *pid = json_string_value(json_object_get(p, "id"));
        if (pid && strcmp(pid, id) == 0)
            return p;
    }
    return NULL;
}

static void opencode_part_emit(opencode *oc, opencode_turn *t, json_t *part, const char *delta) {
    json_t *props = json_pack("{s:s,s:O,s:s}", "messageID", t->asst_id, "part", part, "sessionID",
                              t->run->s->id);
    if (delta)
        json_object_set_new(props, "delta", json_string(delta));
    opencode_emit(oc, "message.part.updated", props);
}

/* New part of the assistant message (stolen), with id part_<asst>_<k>. Borrowed back. */
static json_t *opencode_part_add(opencode_turn *t, json_t *part) {
    size_t midx;
    json_t *m = opencode_turn_asst(t, &midx);
    char *id = base_xasprintf("part_%s_%d", t->asst_id, t->k++);
    json_object_set_new(part, "id", json_string(id));
    json_object_set_new(part, "messageID", json_string(t->asst_id));
    json_object_set_new(part, "sessionID", json_string(t->run->s->id));
    free(id);
    json_array_append_new(json_object_get(m, "parts"), part);
    opencode_store_message(t->run->oc, t->run->s, midx);
    return part;
}

/* Close the open text or reasoning part (a reasoning part gets its end time). */
static void opencode_part_close(opencode_turn *t) {
    if (!t->open_part)
        return;
    size_t midx;
    json_t *p = opencode_turn_part(t, t->open_part, &midx);
    json_t *time = json_object_get(p, "time");
    if (time && !json_object_get(time, "end")) {
        json_object_set_new(time, "end", json_integer(base_now_ms()));
        opencode_part_emit(t->run->oc, t, p, NULL);
        opencode_store_message(t->run->oc, t->run->s, midx);
    }
    free(t->open_part);
    t->open_part = NULL;
}

/* The assistant message is complete (error: the agent's, or NULL). Emits message.updated. */
static void opencode_asst_complete(opencode_turn *t, const char *error) {
    opencode_part_close(t);
    size_t midx;
    json_t *m = opencode_turn_asst(t, &midx);
    if (!m)
        return;
    json_t *info = json_object_get(m, "info");
    json_object_set_new(json_object_get(info, "time"), "completed", json_integer(base_now_ms()));
    if (error)
        json_object_set_new(
            info, "error",
            json_pack("{s:s,s:{s:s}}", "name", "UnknownError", "data", "message", error));
    opencode_store_message(t->run->oc, t->run->s, midx);
    opencode_emit(t->run->oc, "message.updated",
                  json_pack("{s:O,s:s}", "info", info, "sessionID", t->run->s->id));
}

/* ---- ending a turn -------------------------------------------------------------------------- */

static void opencode_turn_begin(opencode_turn *t);

/* Answer the synchronous prompt: the completed assistant message, or the error. */
static void opencode_turn_reply(opencode_turn *t, const char *error) {
    http_req *req = t->req;
    t->req = NULL;
    if (!req)
        return;
    http_req_on_abort(req, NULL, NULL);
    json_t *m = opencode_turn_asst(t, NULL);
    if (error || !m)
        opencode_reply_error(req, 500, error ? error : "Session not found");
    else
        opencode_reply_json(req, 200, json_deep_copy(m));
}

/* The turn is over for the client: complete its message, tell why it failed, answer. The
 * next queued turn starts, else the session goes idle (one idle per turn, Q24). */
static void opencode_turn_end(opencode_turn *t, const char *error) {
    if (t->ended)
        return;
    t->ended = true;
    opencode_run *r = t->run;
    opencode *oc = r->oc;
    if (r->s) {
        if (error)
            opencode_emit(oc, "session.error",
                          json_pack("{s:s,s:{s:s,s:{s:s}}}", "sessionID", r->s->id, "error", "name",
                                    "AgentError", "data", "message", error));
        opencode_asst_complete(t, error);
    }
    opencode_turn_reply(t, error);
    if (r->s && !r->queue && r->s->busy)
        opencode_session_status(oc, r->s, false);
}

/* The agent answered the prompt (or never will): the turn is gone; the next one starts. */
static void opencode_turn_done(opencode_turn *t, const char *error) {
    opencode_run *r = t->run;
    opencode_turn_end(t, error);
    if (r->turn == t)
        r->turn = NULL;
    opencode_turn_free(t);
    if (!r->turn && r->queue && r->s) {
        opencode_turn *n = r->queue;
        r->queue = n->next;
        n->next = NULL;
        r->turn = n;
        opencode_turn_begin(n);
    }
}

static char *opencode_rpc_error_text(const char *what, const json_t *error) {
    char *e = json_dumps(error, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *s = base_xasprintf("%s: %s", what, e ? e : "null");
    free(e);
    return s;
}

static void opencode_prompt_done(void *ud, const json_t *response) {
    opencode_turn *t = ud;
    opencode_run *r = t->run;
    const json_t *error = json_object_get(response, "error");
    if (error && json_integer_value(json_object_get(error, "code")) == ACP_RPC_AGENT_TIMEOUT &&
        r->client && !acp_client_agent_exited(r->client)) {
        /* The bridge's request timeout, not the agent: a turn may run longer (Q21). Its real
         * answer still crosses the bridge and ends the turn (opencode_run_on_event). */
        t->late_id = json_incref(json_object_get(response, "id"));
        return;
    }
    char *msg = error ? opencode_rpc_error_text("ACP session/prompt error", error) : NULL;
    opencode_turn_done(t, msg);
    free(msg);
    opencode_run_unref(r);
}

/* ---- translating session/update (§11.4) ----------------------------------------------------- */

static void opencode_chunk(opencode_turn *t, const json_t *update, const char *type) {
    const json_t *content = json_object_get(update, "content");
    const char *text = json_string_value(json_object_get(content, "text"));
    if (!text || !*text)
        return;
    opencode *oc = t->run->oc;
    size_t midx;
    json_t *p = t->open_part ? opencode_turn_part(t, t->open_part, &midx) : NULL;
    if (p && strcmp(json_string_value(json_object_get(p, "type")), type) != 0) {
        opencode_part_close(t);
        p = NULL;
    }
    if (!p) {
        json_t *np = json_pack("{s:s,s:s}", "type", type, "text", "");
        if (!strcmp(type, "reasoning"))
            json_object_set_new(np, "time", json_pack("{s:I}", "start", (json_int_t)base_now_ms()));
        p = opencode_part_add(t, np);
        t->open_part = base_xstrdup(json_string_value(json_object_get(p, "id")));
        opencode_turn_asst(t, &midx);
    }
    char *all = base_xasprintf("%s%s", json_string_value(json_object_get(p, "text")), text);
    json_object_set_new(p, "text", json_string(all));
    free(all);
    opencode_store_message(oc, t->run->s, midx);
    opencode_part_emit(oc, t, p, text);
}

/* The text of a tool call's content: text blocks, and diffs by path. */
static char *opencode_tool_output(const json_t *content) {
    base_buf b;
    base_buf_init(&b);
    size_t i;
    const json_t *c;
    json_array_foreach(content, i, c) {
        const json_t *inner = json_object_get(c, "content");
        const char *text = json_string_value(json_object_get(inner ? inner : c, "text"));
        const char *path = json_string_value(json_object_get(c, "path"));
        if (text)
            base_buf_appendf(&b, "%s%s", b.len ? "\n" : "", text);
        else if (path)
            base_buf_appendf(&b, "%sdiff %s", b.len ? "\n" : "", path);
    }
    char *s = base_xstrndup(b.data ? b.data : "", b.len);
    base_buf_free(&b);
    return s;
}

/* tool_call and tool_call_update: one part per toolCallId, updated in place, with OpenCode's
 * states: running, completed, error (Q2). */
static void opencode_tool(opencode_turn *t, const json_t *update) {
    opencode *oc = t->run->oc;
    const char *call = json_string_value(json_object_get(update, "toolCallId"));
    if (!call)
        call = "unknown";
    opencode_part_close(t);
    size_t midx;
    json_t *m = opencode_turn_asst(t, &midx);
    json_t *p = NULL;
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(m, "parts"), i, q) {
        const char *c = json_string_value(json_object_get(q, "callID"));
        if (c && !strcmp(c, call) && !strcmp(json_string_value(json_object_get(q, "type")), "tool"))
            p = q;
    }
    int64_t now = base_now_ms();
    if (!p) {
        const char *title = json_string_value(json_object_get(update, "title"));
        p = opencode_part_add(t, json_pack("{s:s,s:s,s:s,s:{s:s,s:{},s:{},s:s,s:{s:I}}}", "type",
                                           "tool", "callID", call, "tool",
                                           title ? title : "unknown", "state", "status", "running",
                                           "input", "metadata", "title", title ? title : "unknown",
                                           "time", "start", (json_int_t)now));
    }
    json_t *state = json_object_get(p, "state");
    const char *title = json_string_value(json_object_get(update, "title"));
    if (title)
        json_object_set_new(state, "title", json_string(title));
    const json_t *raw = json_object_get(update, "rawInput");
    if (json_is_object(raw))
        json_object_set(state, "input", (json_t *)raw);
    const json_t *content = json_object_get(update, "content");
    if (json_is_array(content) && json_array_size(content)) {
        char *out = opencode_tool_output(content);
        json_object_set_new(state, "output", json_string(out));
        free(out);
    }
    const char *st = json_string_value(json_object_get(update, "status"));
    if (st && (!strcmp(st, "completed") || !strcmp(st, "failed"))) {
        bool ok = !strcmp(st, "completed");
        json_object_set_new(json_object_get(state, "time"), "end", json_integer(now));
        json_object_set_new(state, "status", json_string(ok ? "completed" : "error"));
        if (!json_object_get(state, "output"))
            json_object_set_new(state, "output", json_string(""));
        if (!ok) {
            const char *out = json_string_value(json_object_get(state, "output"));
            json_object_set_new(state, "error", json_string(out && *out ? out : "failed"));
        }
    }
    opencode_store_message(oc, t->run->s, midx);
    opencode_part_emit(oc, t, p, NULL);
}

/* An ACP plan replaces the session's todo list (OpenCode's Todo: id, content, status,
 * priority; ACP's statuses and priorities are the same words). */
static void opencode_plan(opencode_turn *t, const json_t *update) {
    const json_t *entries = json_object_get(update, "entries");
    if (!json_is_array(entries))
        return;
    opencode *oc = t->run->oc;
    opencode_session *s = t->run->s;
    json_t *todos = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(entries, i, e) {
        const char *content = json_string_value(json_object_get(e, "content"));
        if (!content)
            continue;
        const char *status = json_string_value(json_object_get(e, "status"));
        const char *prio = json_string_value(json_object_get(e, "priority"));
        char id[24];
        snprintf(id, sizeof id, "%zu", i); /* ACP entries have no id: their place is theirs */
        json_array_append_new(todos, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "content", content,
                                               "status", status ? status : "pending", "priority",
                                               prio ? prio : "medium"));
    }
    json_decref(s->todos);
    s->todos = todos;
    opencode_store_session(oc, s, false);
    opencode_emit(oc, "todo.updated", json_pack("{s:s,s:O}", "sessionID", s->id, "todos", todos));
}

static void opencode_translate(opencode_turn *t, const json_t *update) {
    const char *kind = json_string_value(json_object_get(update, "sessionUpdate"));
    if (!kind)
        return;
    if (!strcmp(kind, "agent_message_chunk"))
        opencode_chunk(t, update, "text");
    else if (!strcmp(kind, "agent_thought_chunk"))
        opencode_chunk(t, update, "reasoning");
    else if (!strcmp(kind, "tool_call") || !strcmp(kind, "tool_call_update"))
        opencode_tool(t, update);
    else if (!strcmp(kind, "plan"))
        opencode_plan(t, update);
    /* available_commands_update, mode and config updates: nothing OpenCode shows */
}

/* Every envelope the agent sends on the session's instance. */
static void opencode_run_on_event(void *ud, uint64_t id, const char *session, const json_t *msg) {
    opencode_run *r = ud;
    opencode_session *s = r->s;
    if (!s)
        return;
    const char *method = json_string_value(json_object_get(msg, "method"));
    opencode_turn *t = r->turn;
    if (!method) {
        /* A response: the late answer of a prompt the bridge had timed out (Q21). */
        if (t && t->late_id && acp_id_equal(t->late_id, json_object_get(msg, "id"))) {
            const json_t *error = json_object_get(msg, "error");
            char *e = error ? opencode_rpc_error_text("ACP session/prompt error", error) : NULL;
            opencode_turn_done(t, e);
            free(e);
            opencode_run_unref(r);
        }
        return;
    }
    const json_t *params = json_object_get(msg, "params");
    if (!strcmp(method, "session/update")) {
        const char *sid = json_string_value(json_object_get(params, "sessionId"));
        if (t && t->sent && !t->ended && r->acp_id && sid && !strcmp(sid, r->acp_id))
            opencode_translate(t, json_object_get(params, "update"));
    } else if (!strcmp(method, "session/request_permission")) {
        opencode_permission_asked(r->oc, s, msg);
    } else if (!strcmp(method, "_sandboxagent/session/request_question")) {
        opencode_question_asked(r->oc, s, msg);
    } else if (!strcmp(method, "_adapter/agent_exited")) {
        /* Its requests fail with the exit (the prompt's too, unless it timed out already);
         * the next prompt starts the agent again. */
        r->ready = false;
        opencode_pending_drop_session(r->oc, s->id);
        if (t && t->late_id) {
            opencode_turn_done(t, "agent process exited");
            opencode_run_unref(r);
        }
    }
}

/* ---- starting the agent --------------------------------------------------------------------- */

/* The bootstrap failed: every waiting turn ends with the error. */
static void opencode_run_fail(opencode_run *r, const char *error) {
    r->starting = false;
    if (r->client)
        acp_client_close(r->client, true);
    r->client = NULL;
    r->ready = false;
    LOG_WARN("opencode: agent start failed", "agent=%s error=\"%s\"", r->agent, error);
    while (r->turn) {
        opencode_turn *t = r->turn;
        if (r->queue) {
            r->turn = r->queue;
            r->queue = r->queue->next;
            r->turn->next = NULL;
        } else {
            r->turn = NULL;
        }
        opencode_turn_end(t, error);
        opencode_turn_free(t);
    }
}

/* The user text of the session's earlier messages, for an agent that starts afresh. */
static char *opencode_replay_text(opencode_session *s, size_t upto) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appendf(&b, "Previous conversation in this session, for context before the latest "
                         "user prompt:\n");
    for (size_t i = 0; i < upto && i < json_array_size(s->messages); i++) {
        json_t *m = json_array_get(s->messages, i);
        const char *role = json_string_value(json_object_get(json_object_get(m, "info"), "role"));
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(m, "parts"), j, p) {
            const char *type = json_string_value(json_object_get(p, "type"));
            const char *text = json_string_value(json_object_get(p, "text"));
            if (!type || strcmp(type, "text") || !text)
                continue;
            if (b.len + strlen(text) + 16 > OPENCODE_REPLAY_MAX) {
                base_buf_appendf(&b, "[history truncated]\n");
                goto done;
            }
            base_buf_appendf(&b, "%s: %s\n", role ? role : "user", text);
        }
    }
done:;
    char *out = base_xstrndup(b.data ? b.data : "", b.len);
    base_buf_free(&b);
    return out;
}

/* The user message's parts as ACP content blocks (Q16). */
static json_t *opencode_prompt_blocks(opencode_turn *t, size_t uidx) {
    opencode_session *s = t->run->s;
    json_t *blocks = json_array();
    if (t->run->replay && uidx > 0) {
        char *text = opencode_replay_text(s, uidx);
        json_array_append_new(blocks, json_pack("{s:s,s:s}", "type", "text", "text", text));
        free(text);
    }
    t->run->replay = false;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_array_get(s->messages, uidx), "parts"), i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        const char *text = json_string_value(json_object_get(p, "text"));
        const char *url = json_string_value(json_object_get(p, "url"));
        if (text && (!type || !strcmp(type, "text"))) {
            json_array_append_new(blocks, json_pack("{s:s,s:s}", "type", "text", "text", text));
        } else if (url && type && !strcmp(type, "file")) {
            const char *name = json_string_value(json_object_get(p, "filename"));
            const char *mime = json_string_value(json_object_get(p, "mime"));
            json_t *b = json_pack("{s:s,s:s,s:s}", "type", "resource_link", "uri", url, "name",
                                  name ? name : url);
            if (mime)
                json_object_set_new(b, "mimeType", json_string(mime));
            json_array_append_new(blocks, b);
        }
    }
    return blocks;
}

static void opencode_turn_send(opencode_turn *t) {
    opencode_run *r = t->run;
    size_t uidx;
    if (!opencode_message_find(r->s, t->user_id, &uidx)) {
        opencode_turn_done(t, "the user message is gone");
        return;
    }
    t->sent = true;
    json_t *params =
        json_pack("{s:s,s:o}", "sessionId", r->acp_id, "prompt", opencode_prompt_blocks(t, uidx));
    opencode_run_ref(r); /* the prompt's, dropped when it is answered */
    acp_client_request(r->client, "session/prompt", params, opencode_prompt_done, t);
}

/* Ready: the running turn's prompt goes out (unless it was aborted meanwhile). */
static void opencode_run_ready(opencode_run *r) {
    r->starting = false;
    r->ready = true;
    opencode_turn *t = r->turn;
    if (!t || !r->s)
        return;
    if (t->ended)
        opencode_turn_done(t, NULL); /* aborted before its prompt went out */
    else
        opencode_turn_send(t);
}

static void opencode_set_model_done(void *ud, const json_t *response) {
    opencode_run *r = ud;
    const json_t *error = json_object_get(response, "error");
    if (error)
        LOG_WARN("opencode: the agent refused the model", "agent=%s error=\"%s\"", r->agent,
                 json_string_value(json_object_get(error, "message")));
    if (r->s)
        opencode_run_ready(r);
    else
        r->starting = false;
    opencode_run_unref(r);
}

/* Set the session's model as the agent's model config option when it offers that value
 * (the reference only passed it in _meta, Q4). True when a request went out. */
static bool opencode_set_model(opencode_run *r, const json_t *result) {
    const char *want = json_string_value(json_object_get(r->s->info, "model"));
    size_t i, j;
    json_t *o, *v;
    json_array_foreach(json_object_get(result, "configOptions"), i, o) {
        const char *cat = json_string_value(json_object_get(o, "category"));
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!id || !((cat && !strcmp(cat, "model")) || !strcmp(id, "model")))
            continue;
        const char *cur = json_string_value(json_object_get(o, "currentValue"));
        if (!want || (cur && !strcmp(cur, want)))
            return false;
        json_array_foreach(json_object_get(o, "options"), j, v) {
            const char *val = json_string_value(json_object_get(v, "value"));
            if (val && !strcmp(val, want)) {
                acp_client_request(r->client, "session/set_config_option",
                                   json_pack("{s:s,s:s,s:s}", "sessionId", r->acp_id, "configId",
                                             id, "value", want),
                                   opencode_set_model_done, opencode_run_ref(r));
                return true;
            }
        }
        return false;
    }
    return false;
}

static void opencode_session_started(void *ud, const json_t *response) {
    opencode_run *r = ud;
    const json_t *error = json_object_get(response, "error");
    const json_t *result = json_object_get(response, "result");
    if (!r->s) {
        r->starting = false;
    } else if ((error || !json_is_object(result)) && r->acp_id) {
        /* The agent could not load it (its own history is gone): a new ACP session, with the
         * conversation as replay text. */
        LOG_WARN("opencode: session/load failed; starting a new ACP session", "agent=%s", r->agent);
        free(r->acp_id);
        r->acp_id = NULL;
        r->replay = true;
        const char *cwd = json_string_value(json_object_get(r->s->info, "directory"));
        acp_client_request(
            r->client, "session/new",
            json_pack("{s:s,s:[]}", "cwd", cwd && cwd[0] == '/' ? cwd : "/", "mcpServers"),
            opencode_session_started, opencode_run_ref(r));
    } else if (error || !json_is_object(result)) {
        char *e = opencode_rpc_error_text("ACP session/new error", error ? error : json_null());
        opencode_run_fail(r, e);
        free(e);
    } else {
        if (!r->acp_id) {
            const char *sid = json_string_value(json_object_get(result, "sessionId"));
            r->acp_id = base_xstrdup(sid ? sid : "");
        }
        opencode_session *s = r->s;
        free(s->acp_id);
        free(s->acp_agent);
        s->acp_id = base_xstrdup(r->acp_id);
        s->acp_agent = base_xstrdup(r->agent);
        opencode_store_session(r->oc, s, false);
        if (!opencode_set_model(r, result))
            opencode_run_ready(r);
    }
    opencode_run_unref(r);
}

static void opencode_initialized(void *ud, const json_t *response) {
    opencode_run *r = ud;
    const json_t *error = json_object_get(response, "error");
    if (!r->s) {
        r->starting = false;
    } else if (error) {
        char *e = opencode_rpc_error_text("ACP initialize error", error);
        opencode_run_fail(r, e);
        free(e);
    } else {
        opencode_session *s = r->s;
        const json_t *caps =
            json_object_get(json_object_get(response, "result"), "agentCapabilities");
        r->can_load = json_is_true(json_object_get(caps, "loadSession"));
        const char *cwd = json_string_value(json_object_get(s->info, "directory"));
        if (!cwd || cwd[0] != '/')
            cwd = "/";
        free(r->acp_id);
        r->acp_id = NULL;
        if (s->acp_id && s->acp_agent && !strcmp(s->acp_agent, r->agent) && r->can_load) {
            r->acp_id = base_xstrdup(s->acp_id);
            acp_client_request(
                r->client, "session/load",
                json_pack("{s:s,s:s,s:[]}", "sessionId", s->acp_id, "cwd", cwd, "mcpServers"),
                opencode_session_started, opencode_run_ref(r));
        } else {
            r->replay = true; /* the agent has none of the earlier conversation */
            acp_client_request(r->client, "session/new",
                               json_pack("{s:s,s:[]}", "cwd", cwd, "mcpServers"),
                               opencode_session_started, opencode_run_ref(r));
        }
    }
    opencode_run_unref(r);
}

static void opencode_run_open(opencode_run *r) {
    char *server = opencode_new_id("acp_ses_");
    char *err = NULL;
    r->client = acp_client_open(r->oc->bridge, server, r->agent, opencode_run_on_event, r, &err);
    free(server);
    if (!r->client) {
        char *e = base_xasprintf("ACP initialize failed: %s", err ? err : "cannot start the agent");
        free(err);
        opencode_run_fail(r, e);
        free(e);
        return;
    }
    json_t *params =
        json_pack("{s:i,s:{s:{s:b,s:b},s:b},s:{s:s,s:s}}", "protocolVersion", 1,
                  "clientCapabilities", "fs", "readTextFile", 0, "writeTextFile", 0, "terminal", 0,
                  "clientInfo", "name", "sandbox-agent-opencode", "version", BASE_VERSION);
    acp_client_request(r->client, "initialize", params, opencode_initialized, opencode_run_ref(r));
}

static void opencode_run_installed(const agents_install_result *res, void *ud) {
    opencode_run *r = ud;
    r->install = NULL;
    if (!r->s) {
        r->starting = false;
    } else if (!res->ok) {
        char *e = base_xasprintf("ACP initialize failed: install failed: %s: %s", r->agent,
                                 res->reason ? res->reason : "unknown error");
        opencode_run_fail(r, e);
        free(e);
    } else {
        opencode_run_open(r);
    }
    opencode_run_unref(r);
}

/* Start the agent: install it first when needed (as the first POST to /v1/acp does). */
static void opencode_run_start(opencode_run *r) {
    r->starting = true;
    if (r->client) { /* its agent exited: a fresh instance, and session/load */
        acp_client_close(r->client, true);
        r->client = NULL;
    }
    if (agents_installed(r->agent)) {
        opencode_run_open(r);
        return;
    }
    if (agents_install_preinstall_required()) {
        char *e = base_xasprintf("ACP initialize failed: agent not installed: %s", r->agent);
        opencode_run_fail(r, e);
        free(e);
        return;
    }
    agents_install_opts opts = {0};
    r->install = agents_install_async(r->oc->loop, r->agent, &opts, opencode_run_installed, NULL,
                                      opencode_run_ref(r));
}

/* ---- turns ---------------------------------------------------------------------------------- */

static void opencode_turn_begin(opencode_turn *t) {
    opencode_run *r = t->run;
    opencode_session *s = r->s;
    opencode *oc = r->oc;
    const char *agent = json_string_value(json_object_get(s->info, "agent"));
    /* The assistant message exists from the start, so a turn with no update at all still
     * has one to complete (Q19). */
    int64_t now = base_now_ms();
    const char *dir = json_string_value(json_object_get(s->info, "directory"));
    json_t *info = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:{s:s,s:s},s:{s:I},"
        "s:{s:{s:i,s:i},s:i,s:i,s:i}}",
        "id", t->asst_id, "sessionID", s->id, "role", "assistant", "parentID", t->user_id, "agent",
        agent, "providerID", json_string_value(json_object_get(s->info, "providerID")), "modelID",
        json_string_value(json_object_get(s->info, "model")), "mode", "default", "cost", 0,
        "finish", "stop", "path", "cwd", dir, "root", dir, "time", "created", (json_int_t)now,
        "tokens", "cache", "read", 0, "write", 0, "input", 0, "output", 0, "reasoning", 0);
    size_t idx = json_array_size(s->messages);
    json_array_append_new(s->messages, json_pack("{s:o,s:[]}", "info", info, "parts"));
    opencode_store_message(oc, s, idx);
    opencode_emit(oc, "message.updated", json_pack("{s:O,s:s}", "info", info, "sessionID", s->id));
    if (strcmp(agent, r->agent) != 0) {
        /* The session's agent changed before its first message (init): a new instance. */
        if (r->client)
            acp_client_close(r->client, true);
        r->client = NULL;
        r->ready = false;
        free(r->agent);
        r->agent = base_xstrdup(agent);
    }
    if (r->ready && r->client && !acp_client_agent_exited(r->client))
        opencode_turn_send(t);
    else if (!r->starting)
        opencode_run_start(r);
}

void opencode_run_turn(opencode *oc, opencode_session *s, size_t umsg, http_req *req) {
    if (!s->run) {
        opencode_run *r = base_xcalloc(1, sizeof *r);
        r->oc = oc;
        r->s = s;
        r->refs = 1; /* the session's */
        r->agent = base_xstrdup(json_string_value(json_object_get(s->info, "agent")));
        s->run = r;
    }
    opencode_run *r = s->run;
    opencode_turn *t = base_xcalloc(1, sizeof *t);
    t->run = r;
    t->req = req;
    json_t *uinfo = json_object_get(json_array_get(s->messages, umsg), "info");
    t->user_id = base_xstrdup(json_string_value(json_object_get(uinfo, "id")));
    t->asst_id = base_xasprintf("%s_assistant", t->user_id);
    if (req)
        http_req_on_abort(req, opencode_turn_abort_cb, t);
    if (r->turn) {
        opencode_turn **pp = &r->queue;
        while (*pp)
            pp = &(*pp)->next;
        *pp = t;
        return;
    }
    r->turn = t;
    opencode_turn_begin(t);
}

void opencode_run_abort(opencode *oc, opencode_session *s) {
    opencode_run *r = s->run;
    /* Waiting permission requests are answered cancelled, as ACP asks of a client that
     * cancels a turn; they are forgotten for good (Q10). */
    opencode_pending_drop_session(oc, s->id);
    if (r) {
        while (r->queue) { /* prompts that did not start: their messages stay unanswered */
            opencode_turn *q = r->queue;
            r->queue = q->next;
            opencode_turn_reply(q, "aborted");
            opencode_turn_free(q);
        }
        opencode_turn *t = r->turn;
        if (t && !t->ended) {
            if (t->sent && r->client && r->acp_id)
                acp_client_notify(r->client, "session/cancel",
                                  json_pack("{s:s}", "sessionId", r->acp_id));
            opencode_turn_end(t, NULL);
            if (t->sent && t->late_id) { /* nothing more will come for it */
                r->turn = NULL;
                opencode_turn_free(t);
                opencode_run_unref(r);
            }
        }
    }
    if (s->busy)
        opencode_session_status(oc, s, false);
}

bool opencode_run_respond(opencode_session *s, const json_t *rpc_id, json_t *result) {
    opencode_run *r = s->run;
    if (!r || !r->client) {
        json_decref(result);
        return false;
    }
    return acp_client_respond(r->client, rpc_id, result) == 0;
}

void opencode_run_detach(opencode_session *s) {
    opencode_run *r = s->run;
    if (!r)
        return;
    s->run = NULL;
    r->s = NULL;
    while (r->queue) {
        opencode_turn *q = r->queue;
        r->queue = q->next;
        opencode_turn_reply(q, "Session not found");
        opencode_turn_free(q);
    }
    opencode_turn *t = r->turn;
    if (t) {
        opencode_turn_reply(t, "Session not found");
        t->ended = true;
        if (!t->sent || t->late_id) { /* no answer will end it */
            bool late = t->late_id != NULL;
            r->turn = NULL;
            opencode_turn_free(t);
            if (late)
                opencode_run_unref(r);
        }
    }
    if (r->install) { /* its callback will not run: drop its reference here */
        agents_install_detach(r->install);
        r->install = NULL;
        opencode_run_unref(r);
    }
    if (r->client) /* the agent is stopped in the background (Q9) */
        acp_client_close(r->client, true);
    r->client = NULL;
    opencode_run_unref(r);
}
