/* revive.c - the bridge's own requests to an agent, and bringing an ACP server back after a
 * restart of ours.
 *
 * Why: an SDK client outlives a restart of the server. It keeps posting to its server id,
 * without ?agent= (only its first POST carried one), about sessions the new agent process has
 * never seen. So a POST for a server id an earlier life knew starts its agent again, replays
 * the client's `initialize`, and loads each session the client then names (`session/load`)
 * before the client's message reaches the agent. The history the agent streams back for our
 * load is the history already journaled: it is not delivered again. Client messages wait
 * behind our requests, in arrival order (acp_pending_send holds them).
 *
 * For that, what an earlier life knew must have been committed: the ACP server's record
 * (written at its first POST and at `initialize`) and its sessions' summaries (written when
 * the agent's answer to session/new is seen). Both are committed asynchronously, so a kill
 * -9 just after the client got its answer could lose them, and its next POST then failed
 * with 400 "missing required 'agent'". So the agent's answers to a POSTed initialize,
 * session/new and session/load are held until the journal has committed what they queued
 * (acp_hold_answer). The client reads an answer from the POST's reply or from the SSE stream,
 * whichever comes first (the SDK does), so the whole answer waits: the tracker sees it at
 * once (which queues the summary), its journaling, fan-out and reply come after the commit,
 * and the agent's later output waits behind it (its stdout is paused), in order. */
#include "acp/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned acp_internal_serial;

static void acp_internal_timer_stop(acp_instance *in) {
    if (in->reinit_timer) {
        uv_close((uv_handle_t *)in->reinit_timer, acp_timer_free);
        in->reinit_timer = NULL;
    }
}

/* Our requests are done (answered, timed out, or the agent died): send what was held,
 * oldest first. */
static void acp_flush_held(acp_instance *in) {
    size_t n = 0;
    for (acp_pending *p = in->pending; p; p = p->next)
        n += p->held != NULL;
    if (!n)
        return;
    acp_pending **order = base_xcalloc(n, sizeof *order);
    size_t i = n;
    for (acp_pending *p = in->pending; p; p = p->next) /* the list is newest first */
        if (p->held)
            order[--i] = p;
    in->busy++;
    for (i = 0; i < n; i++) {
        char *line = order[i]->held;
        order[i]->held = NULL;
        acp_pending_send(order[i], line, order[i]->held_len);
    }
    free(order);
    in->busy--;
}

static void acp_internal_next(acp_instance *in);

static void acp_internal_timeout_cb(uv_timer_t *t) {
    acp_instance *in = t->data;
    LOG_WARN("agent did not answer the bridge's own request; going on", "server_id=%s agent=%s",
             in->server_id, in->agent);
    acp_internal_next(in);
}

/* Send the next request of ours, or, with none left, the held client messages. */
static void acp_internal_next(acp_instance *in) {
    json_decref(in->reinit_id);
    in->reinit_id = NULL;
    free(in->loading);
    in->loading = NULL;
    acp_internal_timer_stop(in);
    while (in->internal && json_array_size(in->internal)) {
        json_t *item = json_incref(json_array_get(in->internal, 0));
        json_array_remove(in->internal, 0);
        /* The replayed initialize keeps the id it always had: agents and tests know it. */
        char idbuf[64];
        const char *m = json_string_value(json_object_get(item, "method"));
        if (m && !strcmp(m, "initialize"))
            snprintf(idbuf, sizeof idbuf, "sandbox-agent/reinit/%u", in->restarts);
        else
            snprintf(idbuf, sizeof idbuf, "sandbox-agent/internal/%u", ++acp_internal_serial);
        json_t *req =
            json_pack("{s:s,s:s,s:O,s:O}", "jsonrpc", "2.0", "id", idbuf, "method",
                      json_object_get(item, "method"), "params", json_object_get(item, "params"));
        const char *session = json_string_value(json_object_get(item, "session"));
        char *line = base_json_compact(req);
        json_decref(req);
        size_t len = strlen(line);
        line = base_xrealloc(line, len + 2);
        memcpy(line + len, "\n", 2);
        int r = proc_write(in->child, line, len + 1, NULL, NULL);
        free(line);
        if (r == 0) {
            in->reinit_id = json_string(idbuf);
            in->loading = session ? base_xstrdup(session) : NULL;
            in->reinit_timer = base_xmalloc(sizeof(uv_timer_t));
            uv_timer_init(in->bridge->loop, in->reinit_timer);
            in->reinit_timer->data = in;
            uv_timer_start(in->reinit_timer, acp_internal_timeout_cb,
                           in->bridge->request_timeout_ms, 0);
            json_decref(item);
            return;
        }
        json_decref(item);
    }
    acp_flush_held(in);
}

void acp_internal_push(acp_instance *in, const char *method, json_t *params, const char *session) {
    if (!in->internal)
        in->internal = json_array();
    json_array_append_new(in->internal,
                          json_pack("{s:s,s:o,s:s?}", "method", method, "params",
                                    params ? params : json_object(), "session", session));
    if (!in->reinit_id)
        acp_internal_next(in);
}

bool acp_internal_busy(const acp_instance *in) {
    return in->reinit_id || (in->internal && json_array_size(in->internal));
}

void acp_internal_reset(acp_instance *in) {
    json_decref(in->reinit_id);
    in->reinit_id = NULL;
    json_decref(in->internal);
    in->internal = NULL;
    free(in->loading);
    in->loading = NULL;
    acp_internal_timer_stop(in);
}

bool acp_internal_answer(acp_instance *in, const json_t *msg) {
    if (!in->reinit_id || !json_is_object(msg))
        return false;
    if (acp_classify(msg) == ACP_MSG_NOTIFICATION) {
        /* History replayed for our session/load: the journal has it already. */
        const json_t *params = json_object_get(msg, "params");
        const char *sid = json_string_value(json_object_get(params, "sessionId"));
        const char *method = json_string_value(json_object_get(msg, "method"));
        return in->loading && sid && method && !strcmp(sid, in->loading) &&
               !strcmp(method, "session/update");
    }
    if (acp_classify(msg) != ACP_MSG_RESPONSE ||
        !acp_id_equal(in->reinit_id, json_object_get(msg, "id")))
        return false;
    if (json_object_get(msg, "error"))
        LOG_WARN("agent refused the bridge's own request", "server_id=%s agent=%s session=%s",
                 in->server_id, in->agent, in->loading ? in->loading : "-");
    else if (in->loading && in->tracker)
        sessions_tracker_loaded(in->tracker, in->loading);
    acp_internal_next(in);
    return true;
}

/* ---- after a restart ------------------------------------------------------------------------ */

void acp_note_server(acp_instance *in) {
    if (in->bridge->index)
        sessions_index_note_server(in->bridge->index, in->server_id, in->agent, in->init_params);
}

acp_instance *acp_revive(acp_bridge *b, const char *server_id, const json_t *msg) {
    if (!b->index || b->shutting_down || base_map_get(b->closed, server_id))
        return NULL;
    const sessions_server *sv = sessions_index_server(b->index, server_id);
    if (!sv)
        return NULL;
    acp_instance *in = acp_instance_create(b, server_id, sv->agent, "acp");
    if (!in)
        return NULL;
    LOG_INFO("bringing back an ACP server from before the restart", "server_id=%s agent=%s",
             server_id, sv->agent);
    in->revived = true;
    in->loaded = base_map_new();
    const char *method = json_string_value(json_object_get(msg, "method"));
    bool is_init = method && !strcmp(method, "initialize");
    if (sv->init_params) {
        in->init_params = json_deep_copy(sv->init_params);
        if (!is_init)
            acp_internal_push(in, "initialize", json_deep_copy(in->init_params), NULL);
    }
    return in;
}

void acp_revive_session(acp_instance *in, const json_t *msg) {
    if (!in->revived || !in->bridge->index)
        return;
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *sid =
        json_string_value(json_object_get(json_object_get(msg, "params"), "sessionId"));
    /* A session/load of the client's own loads it anyway. */
    if (!sid || !method || !strcmp(method, "session/load") || base_map_get(in->loaded, sid))
        return;
    sessions_entry *e = sessions_index_get(in->bridge->index, sid);
    base_map_put(in->loaded, sid, in);
    /* One of this server's from before the restart, or one the index never heard of: a kill
     * -9 can lose the newest summaries (docs/journal.md), and trying costs one error from
     * an agent that does not know it. A session of another server, or one this agent
     * process made, is left alone. */
    if (e && ((e->server && strcmp(e->server, in->server_id) != 0) || e->status == SESSIONS_ACTIVE))
        return;
    char cwd_buf[4096];
    const char *cwd = e && e->cwd ? e->cwd : getcwd(cwd_buf, sizeof cwd_buf);
    json_t *params =
        json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", cwd ? cwd : "/", "mcpServers");
    LOG_INFO("loading a session from before the restart", "server_id=%s session=%s", in->server_id,
             sid);
    acp_internal_push(in, "session/load", params, sid);
}

/* ---- answers held for the journal ---------------------------------------------------------- */

/* One held answer. Owner: itself; the store calls back exactly once, which frees it. The
 * instance points at it while it waits and detaches it (in = NULL) when freed first. */
typedef struct acp_hold {
    acp_instance *in;
    json_t *msg;
    char *line;
    size_t len;
    char *session; /* what the tracker named (NULL: none) */
    uint64_t sidx;
} acp_hold;

/* Whether msg answers a POSTed request that waits for the journal. */
static bool acp_answer_wants_commit(acp_instance *in, const json_t *msg) {
    if (!in->bridge->store || in->exited || !json_is_object(msg) ||
        acp_classify(msg) != ACP_MSG_RESPONSE)
        return false;
    const json_t *id = json_object_get(msg, "id");
    for (acp_pending *p = in->pending; p; p = p->next)
        if (p->durable && p->req && acp_id_equal(p->id, id))
            return true;
    return false;
}

static void acp_hold_free(acp_hold *h) {
    json_decref(h->msg);
    free(h->line);
    free(h->session);
    free(h);
}

static void acp_hold_committed_cb(void *ud, int status) {
    acp_hold *h = ud;
    acp_instance *in = h->in;
    if (!in) {
        acp_hold_free(h);
        return;
    }
    /* The disk fails (commits are retried; /v1/health says so): answering beats holding the
     * client for as long as that lasts. */
    if (status != 0)
        LOG_WARN("answering before the journal committed the server's records",
                 "server_id=%s error=\"%s\"", in->server_id, uv_strerror(status));
    in->hold = NULL;
    in->busy++;
    acp_record_tracked(in, false, h->msg, h->line, h->len, NULL, h->session, h->sidx);
    acp_deliver_response(in, h->msg, h->line, h->len);
    acp_hold_free(h);
    /* What the agent wrote after it, in order; another held answer among it stops there. */
    base_buf stash = in->stash;
    base_buf_init(&in->stash);
    acp_stdout_feed(in, stash.data ? stash.data : "", stash.len);
    base_buf_free(&stash);
    if (!in->hold)
        acp_stdout_resume(in);
    in->busy--;
    acp_maybe_free(in);
}

bool acp_hold_answer(acp_instance *in, json_t *msg, const char *line, size_t len) {
    if (!acp_answer_wants_commit(in, msg))
        return false;
    acp_hold *h = base_xcalloc(1, sizeof *h);
    h->in = in;
    h->msg = json_incref(msg);
    h->line = base_xstrndup(line, len);
    h->len = len;
    const char *session =
        in->tracker ? sessions_tracker_observe(in->tracker, false, msg, &h->sidx) : NULL;
    h->session = session ? base_xstrdup(session) : NULL;
    in->hold = h;
    LOG_DEBUG("holding the agent's answer until the journal commits", "server_id=%s",
              in->server_id);
    acp_stdout_resume(in); /* pauses it */
    journal_store_when_committed(in->bridge->store, acp_hold_committed_cb, h);
    return true;
}

void acp_hold_detach(acp_instance *in) {
    if (in->hold)
        in->hold->in = NULL;
    in->hold = NULL;
}
