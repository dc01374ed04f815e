/* client.c - in-process ACP clients: the REST session API drives an instance the way an
 * HTTP client does, through the same pending entries, journal and session tracker, so
 * sessions started either way look the same in the index and the journal. */
#include "acp/internal.h"

#include <stdlib.h>
#include <string.h>

/* An answer that came while the client was inside one of its own calls: delivered from
 * the loop instead, so a caller never sees its callback run before its call returned.
 * Owner: the client's deferred list. */
typedef struct acp_deferred acp_deferred;
struct acp_deferred {
    acp_client_response_fn cb;
    void *ud;
    json_t *resp;
    acp_deferred *next;
};

static uint64_t acp_client_serial;

static void acp_client_timer_free(uv_handle_t *h) {
    free(h);
}

static void acp_client_maybe_free(acp_client *c) {
    if (!c->closed || c->waiting || c->deferred)
        return;
    if (c->timer)
        uv_close((uv_handle_t *)c->timer, acp_client_timer_free);
    free(c);
}

static void acp_client_flush_deferred(uv_timer_t *t) {
    acp_client *c = t->data;
    while (c->deferred) {
        acp_deferred *d = c->deferred;
        c->deferred = d->next;
        if (!c->deferred)
            c->deferred_tail = &c->deferred;
        d->cb(d->ud, d->resp);
        json_decref(d->resp);
        free(d);
        c->waiting--;
    }
    acp_client_maybe_free(c);
}

void acp_client_answer(acp_pending *p, const json_t *resp) {
    acp_client_response_fn cb = p->cb;
    p->cb = NULL;
    acp_client *c = p->client;
    if (!cb)
        return;
    if (c->in_call) {
        acp_deferred *d = base_xcalloc(1, sizeof *d);
        d->cb = cb;
        d->ud = p->cb_ud;
        d->resp = json_deep_copy(resp);
        *c->deferred_tail = d;
        c->deferred_tail = &d->next;
        if (!c->timer) {
            c->timer = base_xmalloc(sizeof *c->timer);
            uv_timer_init(p->inst->bridge->loop, c->timer);
            c->timer->data = c;
        }
        uv_timer_start(c->timer, acp_client_flush_deferred, 0, 0);
        return;
    }
    cb(p->cb_ud, resp);
    c->waiting--;
    acp_client_maybe_free(c);
}

void acp_clients_event(acp_instance *in, uint64_t id, const char *session, const json_t *msg) {
    in->busy++;
    acp_client *c = in->clients;
    while (c) {
        acp_client *next = c->next; /* a callback may close its own client */
        if (!c->closed && c->on_event)
            c->on_event(c->ud, id, session, msg);
        c = next;
    }
    in->busy--;
}

acp_client *acp_client_open(acp_bridge *b, const char *server_id, const char *agent,
                            acp_client_event_fn on_event, void *ud, char **error) {
    acp_instance *in = acp_find(b, server_id);
    if (in && agent && strcmp(agent, in->agent) != 0) {
        *error = base_xasprintf("server '%s' already exists for agent '%s'; requested '%s'",
                                server_id, in->agent, agent);
        return NULL;
    }
    if (!in) {
        if (!agent) {
            *error = base_xasprintf("no ACP server '%s'", server_id);
            return NULL;
        }
        if (b->shutting_down) {
            *error = base_xstrdup("server is shutting down");
            return NULL;
        }
        in = acp_instance_create(b, server_id, agent, "rest");
        if (!in) {
            *error = base_xasprintf("agent '%s' is not installed", agent);
            return NULL;
        }
    }
    acp_client *c = base_xcalloc(1, sizeof *c);
    c->deferred_tail = &c->deferred;
    c->inst = in;
    c->on_event = on_event;
    c->ud = ud;
    c->next = in->clients;
    in->clients = c;
    return c;
}

const char *acp_client_server_id(const acp_client *c) {
    return c->inst->server_id;
}

bool acp_client_agent_exited(const acp_client *c) {
    return c->inst->exited;
}

void acp_client_request(acp_client *c, const char *method, json_t *params,
                        acp_client_response_fn done, void *ud) {
    acp_instance *in = c->inst;
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "sandbox-agent/rest/%llu",
             (unsigned long long)++acp_client_serial);
    json_t *msg = json_pack("{s:s,s:s,s:s}", "jsonrpc", "2.0", "id", idbuf, "method", method);
    json_object_set_new(msg, "params", params ? params : json_object());
    acp_pending *p = base_xcalloc(1, sizeof *p);
    p->client = c;
    p->cb = done;
    p->cb_ud = ud;
    p->is_request = true;
    p->id = json_string(idbuf);
    c->waiting++;
    c->in_call++;
    in->busy++;
    bool send = true;
    if (in->exited) {
        int r = -1;
        if (acp_starts_session(method) && !in->bridge->shutting_down)
            r = acp_instance_restart(in, strcmp(method, "initialize") != 0);
        send = r == 0;
    }
    acp_note_initialize(in, msg);
    if (send) {
        acp_pending_submit(in, p, msg, NULL);
    } else {
        /* The session it belongs to died with the agent: answered as a POST would be. */
        acp_exit_info x;
        char *tail;
        acp_exit_of(in, &x, &tail);
        json_t *e = acp_rpc_error_exited(p->id, &x);
        free(tail);
        p->inst = in;
        acp_client_answer(p, e);
        json_decref(e);
        json_decref(p->id);
        free(p);
    }
    json_decref(msg);
    c->in_call--;
    in->busy--;
    acp_maybe_free(in);
}

/* A notification or a response: no answer to wait for. */
static int acp_client_post(acp_client *c, json_t *msg) {
    acp_instance *in = c->inst;
    if (in->exited || c->closed) {
        json_decref(msg);
        return -1;
    }
    acp_pending *p = base_xcalloc(1, sizeof *p);
    acp_pending_submit(in, p, msg, NULL);
    json_decref(msg);
    return 0;
}

int acp_client_notify(acp_client *c, const char *method, json_t *params) {
    json_t *msg = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    json_object_set_new(msg, "params", params ? params : json_object());
    return acp_client_post(c, msg);
}

int acp_client_respond(acp_client *c, const json_t *id, json_t *result) {
    json_t *msg = json_pack("{s:s,s:O}", "jsonrpc", "2.0", "id", id);
    json_object_set_new(msg, "result", result ? result : json_object());
    return acp_client_post(c, msg);
}

void acp_client_close(acp_client *c, bool stop_server) {
    acp_instance *in = c->inst;
    for (acp_client **pp = &in->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    c->closed = true;
    in->busy++;
    if (stop_server && in->listed)
        acp_bridge_close_server(in->bridge, in->server_id);
    in->busy--;
    acp_client_maybe_free(c);
    acp_maybe_free(in);
}
