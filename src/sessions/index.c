/* index.c - the session index: every session's summary by ACP sessionId and by the SDK's
 * local id (alias), its JSON shapes (API and storage), and the live-event fan-out that
 * followers of a session listen to. */
#include "sessions/internal.h"

#include <stdlib.h>
#include <string.h>

char *sessions_dup(const char *s) {
    return s ? base_xstrdup(s) : NULL;
}

static void sessions_entry_free(void *p) {
    sessions_entry *e = p;
    if (!e)
        return;
    free(e->id);
    free(e->server);
    free(e->agent);
    free(e->cwd);
    free(e->title);
    free(e->alias);
    json_decref(e->modes);
    json_decref(e->config_options);
    json_decref(e->record);
    free(e);
}

sessions_index *sessions_index_new(sessions_changed_fn changed, void *ud) {
    sessions_index *ix = base_xcalloc(1, sizeof *ix);
    ix->by_id = base_map_new();
    ix->by_alias = base_map_new();
    ix->servers = base_map_new();
    ix->changed = changed;
    ix->ud = ud;
    return ix;
}

static void sessions_server_free(void *p) {
    sessions_server *sv = p;
    if (!sv)
        return;
    free(sv->id);
    free(sv->agent);
    json_decref(sv->init_params);
    free(sv);
}

static void sessions_listener_free(sessions_listener *l) {
    free(l->session);
    free(l);
}

void sessions_index_free(sessions_index *ix) {
    if (!ix)
        return;
    base_map_free(ix->by_id, sessions_entry_free);
    base_map_free(ix->by_alias, free);
    base_map_free(ix->servers, sessions_server_free);
    while (ix->listeners) {
        sessions_listener *l = ix->listeners;
        ix->listeners = l->next;
        sessions_listener_free(l);
    }
    free(ix);
}

sessions_entry *sessions_index_get(sessions_index *ix, const char *id) {
    return base_map_get(ix->by_id, id);
}

/* The alias first: an SDK that resumes a session it did not create (its record's id is that
 * session's ACP id) moves the record, and so this id, to the new ACP session; the old one
 * must stop answering for it, or the SDK would resume it again at every call. */
sessions_entry *sessions_index_resolve(sessions_index *ix, const char *id_or_alias) {
    const char *id = base_map_get(ix->by_alias, id_or_alias);
    sessions_entry *e = id ? base_map_get(ix->by_id, id) : NULL;
    return e ? e : base_map_get(ix->by_id, id_or_alias);
}

sessions_entry *sessions_index_add(sessions_index *ix, const char *id) {
    sessions_entry *e = base_xcalloc(1, sizeof *e);
    e->id = base_xstrdup(id);
    e->origin = "acp";
    sessions_entry_free(base_map_put(ix->by_id, id, e));
    return e;
}

void sessions_touch(sessions_index *ix, sessions_entry *e) {
    e->version++;
    if (ix->changed)
        ix->changed(e, ix->ud);
}

/* Point alias at e, taking it from the entry that had it (which is changed too). */
static void sessions_alias_take(sessions_index *ix, sessions_entry *e, const char *alias) {
    const char *owner = base_map_get(ix->by_alias, alias);
    if (owner && strcmp(owner, e->id) != 0) {
        sessions_entry *prev = base_map_get(ix->by_id, owner);
        if (prev) {
            free(prev->alias);
            prev->alias = NULL;
            json_decref(prev->record);
            prev->record = NULL;
            sessions_touch(ix, prev);
        }
    }
    free(base_map_put(ix->by_alias, alias, base_xstrdup(e->id)));
    if (!e->alias || strcmp(e->alias, alias) != 0) {
        free(e->alias);
        e->alias = base_xstrdup(alias);
    }
}

void sessions_index_set_record(sessions_index *ix, sessions_entry *e, json_t *record) {
    const char *local = json_string_value(json_object_get(record, "id"));
    if (e->alias && (!local || strcmp(local, e->alias) != 0)) {
        free(base_map_del(ix->by_alias, e->alias));
        free(e->alias);
        e->alias = NULL;
    }
    if (local && strcmp(local, e->id) != 0)
        sessions_alias_take(ix, e, local);
    json_decref(e->record);
    e->record = record;
    sessions_touch(ix, e);
}

typedef struct sessions_each_ctx {
    void (*fn)(sessions_entry *e, void *ud);
    void *ud;
} sessions_each_ctx;

static void sessions_each_cb(const char *key, void *value, void *ud) {
    sessions_each_ctx *c = ud;
    c->fn(value, c->ud);
}

void sessions_index_each(sessions_index *ix, void (*fn)(sessions_entry *e, void *ud), void *ud) {
    sessions_each_ctx c = {fn, ud};
    base_map_each(ix->by_id, sessions_each_cb, &c);
}

bool sessions_index_remove(sessions_index *ix, const char *id) {
    sessions_entry *e = base_map_del(ix->by_id, id);
    if (e && e->alias) {
        const char *owner = base_map_get(ix->by_alias, e->alias);
        if (owner && strcmp(owner, id) == 0)
            free(base_map_del(ix->by_alias, e->alias));
    }
    sessions_entry_free(e);
    return e != NULL;
}

/* ---- ACP servers ----------------------------------------------------------------------------- */

static sessions_server *sessions_server_put(sessions_index *ix, const char *id, const char *agent) {
    sessions_server *sv = base_map_get(ix->servers, id);
    if (!sv) {
        sv = base_xcalloc(1, sizeof *sv);
        sv->id = base_xstrdup(id);
        base_map_put(ix->servers, id, sv);
    }
    if (!sv->agent || strcmp(sv->agent, agent) != 0) {
        free(sv->agent);
        sv->agent = base_xstrdup(agent);
    }
    return sv;
}

void sessions_index_note_server(sessions_index *ix, const char *id, const char *agent,
                                const json_t *init_params) {
    sessions_server *sv = base_map_get(ix->servers, id);
    bool same =
        sv && sv->agent && strcmp(sv->agent, agent) == 0 &&
        (!init_params || (sv->init_params && json_equal(sv->init_params, (json_t *)init_params)));
    if (same)
        return; /* nothing new to write */
    sv = sessions_server_put(ix, id, agent);
    if (init_params) {
        json_decref(sv->init_params);
        sv->init_params = json_deep_copy(init_params);
    }
    if (ix->server_changed)
        ix->server_changed(sv, ix->ud);
}

const sessions_server *sessions_index_server(sessions_index *ix, const char *id) {
    return base_map_get(ix->servers, id);
}

char *sessions_server_store_json(const sessions_server *sv) {
    json_t *o = json_pack("{s:s,s:O?}", "agent", sv->agent, "initParams", sv->init_params);
    char *s = base_json_compact(o);
    json_decref(o);
    return s;
}

int sessions_index_load_server(sessions_index *ix, const char *id, const char *json) {
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    const char *agent = json_string_value(json_object_get(o, "agent"));
    if (!agent) {
        json_decref(o);
        return -1;
    }
    sessions_server *sv = sessions_server_put(ix, id, agent);
    json_t *init = json_object_get(o, "initParams");
    json_decref(sv->init_params);
    sv->init_params = init && !json_is_null(init) ? json_incref(init) : NULL;
    json_decref(o);
    return 0;
}

/* ---- JSON shapes ---------------------------------------------------------------------------- */

const char *sessions_status_name(sessions_status st) {
    switch (st) {
    case SESSIONS_ACTIVE:
        return "active";
    case SESSIONS_ENDED:
        return "ended";
    case SESSIONS_AGENT_EXITED:
        return "agent_exited";
    }
    return "active";
}

static bool sessions_status_parse(const char *s, sessions_status *out) {
    static const sessions_status all[] = {SESSIONS_ACTIVE, SESSIONS_ENDED, SESSIONS_AGENT_EXITED};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, sessions_status_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

json_t *sessions_entry_json(const sessions_entry *e) {
    json_t *o = json_pack("{s:s,s:s?,s:s?,s:s?,s:I,s:I,s:s,s:s?}", "id", e->id, "agent", e->agent,
                          "serverId", e->server, "cwd", e->cwd, "createdAt",
                          (json_int_t)e->created_ms, "lastActivityAt", (json_int_t)e->last_ms,
                          "status", sessions_status_name(e->status), "title", e->title);
    if (e->status == SESSIONS_AGENT_EXITED) {
        json_object_set_new(o, "exitCode",
                            e->exit_code >= 0 ? json_integer(e->exit_code) : json_null());
        json_object_set_new(o, "signal", e->signal ? json_integer(e->signal) : json_null());
    }
    json_object_set_new(o, "modes", e->modes ? json_deep_copy(e->modes) : json_null());
    json_object_set_new(o, "configOptions",
                        e->config_options ? json_deep_copy(e->config_options) : json_array());
    json_object_set_new(o, "origin", json_string(e->origin ? e->origin : "acp"));
    json_object_set_new(o, "eventCount", json_integer((json_int_t)e->events));
    if (e->record)
        json_object_set_new(o, "record", json_deep_copy(e->record));
    return o;
}

char *sessions_entry_store_json(const sessions_entry *e) {
    json_t *o = sessions_entry_json(e);
    /* The API shape omits the exit details of other statuses; storage keeps them all. */
    json_object_set_new(o, "exitCode", json_integer(e->exit_code));
    json_object_set_new(o, "signal", json_integer(e->signal));
    if (e->alias)
        json_object_set_new(o, "alias", json_string(e->alias));
    char *s = base_json_compact(o);
    json_decref(o);
    return s;
}

static char *sessions_json_str(const json_t *o, const char *key) {
    return sessions_dup(json_string_value(json_object_get(o, key)));
}

int sessions_index_load_json(sessions_index *ix, const char *id, const char *json,
                             uint64_t last_sidx) {
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    sessions_status st;
    if (!json_is_object(o) ||
        !sessions_status_parse(json_string_value(json_object_get(o, "status")), &st)) {
        json_decref(o);
        return -1;
    }
    sessions_entry *e = sessions_index_add(ix, id);
    e->server = sessions_json_str(o, "serverId");
    e->agent = sessions_json_str(o, "agent");
    e->cwd = sessions_json_str(o, "cwd");
    e->title = sessions_json_str(o, "title");
    e->created_ms = json_integer_value(json_object_get(o, "createdAt"));
    e->last_ms = json_integer_value(json_object_get(o, "lastActivityAt"));
    /* Its agent died with the server that was running it. */
    e->status = st == SESSIONS_ACTIVE ? SESSIONS_ENDED : st;
    e->exit_code = (int)json_integer_value(json_object_get(o, "exitCode"));
    e->signal = (int)json_integer_value(json_object_get(o, "signal"));
    json_t *v = json_object_get(o, "modes");
    e->modes = json_is_object(v) ? json_incref(v) : NULL;
    v = json_object_get(o, "configOptions");
    e->config_options = json_is_array(v) ? json_incref(v) : NULL;
    const char *origin = json_string_value(json_object_get(o, "origin"));
    e->origin = origin && strcmp(origin, "rest") == 0 ? "rest" : "acp";
    v = json_object_get(o, "record");
    e->record = json_is_object(v) ? json_incref(v) : NULL;
    const char *alias = json_string_value(json_object_get(o, "alias"));
    if (alias)
        sessions_alias_take(ix, e, alias);
    uint64_t stored = (uint64_t)json_integer_value(json_object_get(o, "eventCount"));
    e->events = last_sidx > stored ? last_sidx : stored;
    json_decref(o);
    return 0;
}

json_t *sessions_event_json(const char *as_id, const char *server, uint64_t id, uint64_t sidx,
                            int64_t ts_ms, bool from_client, const char *payload, size_t len) {
    json_error_t err;
    json_t *p = json_loadb(payload, len, 0, &err);
    if (!p)
        return NULL;
    /* Unique within the session, and stable: client-to-agent envelopes have no event id. */
    char *eid = base_xasprintf("%s:%llu", as_id, (unsigned long long)sidx);
    json_t *o =
        json_pack("{s:s,s:I,s:s,s:I,s:s,s:s,s:o}", "id", eid, "eventIndex", (json_int_t)sidx,
                  "sessionId", as_id, "createdAt", (json_int_t)ts_ms, "connectionId", server,
                  "sender", from_client ? "client" : "agent", "payload", p);
    free(eid);
    return o;
}

/* ---- live events ---------------------------------------------------------------------------- */

sessions_listener *sessions_index_listen(sessions_index *ix, const char *session,
                                         sessions_event_fn fn, void *ud) {
    sessions_listener *l = base_xcalloc(1, sizeof *l);
    l->session = sessions_dup(session);
    l->fn = fn;
    l->ud = ud;
    l->next = ix->listeners;
    ix->listeners = l;
    return l;
}

static void sessions_unlink(sessions_index *ix, sessions_listener *l) {
    for (sessions_listener **p = &ix->listeners; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            sessions_listener_free(l);
            return;
        }
    }
}

void sessions_index_unlisten(sessions_index *ix, sessions_listener *l) {
    if (!l)
        return;
    if (ix->publishing)
        l->gone = true;
    else
        sessions_unlink(ix, l);
}

void sessions_index_publish(sessions_index *ix, const sessions_event *ev) {
    ix->publishing++;
    for (sessions_listener *l = ix->listeners; l; l = l->next)
        if (!l->gone && (!l->session || strcmp(l->session, ev->session) == 0))
            l->fn(l->ud, ev);
    if (--ix->publishing == 0) {
        sessions_listener **p = &ix->listeners;
        while (*p) {
            sessions_listener *l = *p;
            if (l->gone) {
                *p = l->next;
                sessions_listener_free(l);
            } else {
                p = &l->next;
            }
        }
    }
}
