/* track.c - recognising ACP sessions in the envelopes of one ACP server, and the index that
 * keeps their summaries.
 *
 * Why pairing: the session of a response is known only from its request (session/new gets
 * its sessionId in the result; a permission reply carries none), so every request that
 * crosses is remembered by direction and id until its answer comes back. */
#include "sessions/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define SESSIONS_TITLE_MAX 120
#define SESSIONS_PENDING_MAX 4096

/* A request waiting for its answer. Owner: the tracker's pending map. */
typedef struct sessions_pending {
    char *method;
    char *session; /* params.sessionId, if any */
    char *cwd;     /* session/new, session/load */
    char *mode;    /* session/set_mode */
} sessions_pending;

struct sessions_tracker {
    sessions_index *ix;
    char *server, *agent;
    base_map *pending; /* "c:" or "a:" (who asked) + JSON of the id -> sessions_pending */
    char **sessions;   /* ids of sessions seen on this server */
    size_t nsessions;
    char *last; /* what observe returned last */
    const char *origin;
};

/* ---- the tracker ---------------------------------------------------------------------------- */

static void sessions_pending_free(void *p) {
    sessions_pending *q = p;
    if (!q)
        return;
    free(q->method);
    free(q->session);
    free(q->cwd);
    free(q->mode);
    free(q);
}

sessions_tracker *sessions_tracker_new(sessions_index *ix, const char *server, const char *agent,
                                       const char *origin) {
    sessions_tracker *t = base_xcalloc(1, sizeof *t);
    t->origin = origin;
    t->ix = ix;
    t->server = base_xstrdup(server);
    t->agent = base_xstrdup(agent);
    t->pending = base_map_new();
    return t;
}

void sessions_tracker_free(sessions_tracker *t) {
    if (!t)
        return;
    base_map_free(t->pending, sessions_pending_free);
    for (size_t i = 0; i < t->nsessions; i++)
        free(t->sessions[i]);
    free(t->sessions);
    free(t->server);
    free(t->agent);
    free(t->last);
    free(t);
}

/* "c:1" / "a:\"x\"": the id's JSON keeps 1 and "1" apart, as JSON-RPC does. */
static char *sessions_pending_key(bool asked_by_client, const json_t *id) {
    char *j = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    char *k = base_xasprintf("%c:%s", asked_by_client ? 'c' : 'a', j ? j : "null");
    free(j);
    return k;
}

static const char *sessions_str(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

static void sessions_note_server(sessions_tracker *t, const char *id) {
    for (size_t i = 0; i < t->nsessions; i++)
        if (strcmp(t->sessions[i], id) == 0)
            return;
    t->sessions = base_xrealloc(t->sessions, (t->nsessions + 1) * sizeof *t->sessions);
    t->sessions[t->nsessions++] = base_xstrdup(id);
}

/* The session's entry, created (or moved to this server, for a session/load on a new
 * instance) as needed. */
static sessions_entry *sessions_upsert(sessions_tracker *t, const char *id, const char *cwd) {
    sessions_entry *e = sessions_index_get(t->ix, id);
    int64_t now = base_now_ms();
    if (!e) {
        e = sessions_index_add(t->ix, id);
        e->created_ms = now;
        e->origin = t->origin;
    }
    if (!e->server || strcmp(e->server, t->server) != 0) {
        free(e->server);
        e->server = base_xstrdup(t->server);
    }
    if (!e->agent) {
        e->agent = base_xstrdup(t->agent);
    }
    if (cwd && (!e->cwd || strcmp(e->cwd, cwd) != 0)) {
        free(e->cwd);
        e->cwd = base_xstrdup(cwd);
    }
    e->status = SESSIONS_ACTIVE;
    e->exit_code = 0;
    e->signal = 0;
    e->last_ms = now;
    sessions_note_server(t, id);
    return e;
}

static void sessions_set_json(json_t **slot, json_t *v) {
    if (!v)
        return;
    json_decref(*slot);
    *slot = json_deep_copy(v);
}

/* The title: the first text block of the first prompt, on one line, shortened. */
static char *sessions_title_of(const json_t *prompt) {
    size_t i;
    json_t *block;
    json_array_foreach(prompt, i, block) {
        const char *text = sessions_str(block, "text");
        if (!text || !*text)
            continue;
        while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')
            text++;
        size_t n = strcspn(text, "\r\n");
        if (n > SESSIONS_TITLE_MAX) {
            n = SESSIONS_TITLE_MAX;
            while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
                n--; /* do not cut a UTF-8 sequence */
        }
        if (n)
            return base_xstrndup(text, n);
    }
    return NULL;
}

/* A request from either side: remember it, and apply what a request alone tells. */
static const char *sessions_on_request(sessions_tracker *t, bool from_client, const json_t *msg,
                                       const char *method) {
    const json_t *params = json_object_get(msg, "params");
    const char *sid = sessions_str(params, "sessionId");
    sessions_pending *q = base_xcalloc(1, sizeof *q);
    q->method = base_xstrdup(method);
    q->session = sessions_dup(sid);
    q->cwd = sessions_dup(sessions_str(params, "cwd"));
    q->mode = sessions_dup(sessions_str(params, "modeId"));
    char *key = sessions_pending_key(from_client, json_object_get(msg, "id"));
    if (base_map_count(t->pending) >= SESSIONS_PENDING_MAX) {
        /* A peer that never answers must not grow this without bound: forget them all; the
         * late answers then belong to no session, which costs only their attribution. */
        base_map_free(t->pending, sessions_pending_free);
        t->pending = base_map_new();
    }
    sessions_pending_free(base_map_put(t->pending, key, q));
    free(key);
    sessions_entry *e = sid ? sessions_index_get(t->ix, sid) : NULL;
    if (e && from_client && strcmp(method, "session/prompt") == 0) {
        e->last_ms = base_now_ms();
        if (!e->title)
            e->title = sessions_title_of(json_object_get(params, "prompt"));
        sessions_touch(t->ix, e);
    }
    return sid;
}

/* A response: its request says which session, and what succeeded. */
static const char *sessions_on_response(sessions_tracker *t, bool from_client, const json_t *msg) {
    /* A response travels opposite to its request. */
    char *key = sessions_pending_key(!from_client, json_object_get(msg, "id"));
    sessions_pending *q = base_map_del(t->pending, key);
    free(key);
    if (!q)
        return NULL;
    const json_t *result = json_object_get(msg, "result");
    const char *sid = q->session;
    if (!from_client && json_is_object(result)) {
        sessions_entry *e = NULL;
        if (strcmp(q->method, "session/new") == 0 && sessions_str(result, "sessionId")) {
            sid = sessions_str(result, "sessionId");
            e = sessions_upsert(t, sid, q->cwd);
        } else if (strcmp(q->method, "session/load") == 0 && sid) {
            e = sessions_upsert(t, sid, q->cwd);
        } else if (sid) {
            e = sessions_index_get(t->ix, sid);
            if (e)
                e->last_ms = base_now_ms();
        }
        if (e) {
            sessions_set_json(&e->modes, json_object_get(result, "modes"));
            sessions_set_json(&e->config_options, json_object_get(result, "configOptions"));
            if (strcmp(q->method, "session/set_mode") == 0 && q->mode && json_is_object(e->modes))
                json_object_set_new(e->modes, "currentModeId", json_string(q->mode));
            sessions_touch(t->ix, e);
        }
    }
    free(t->last);
    t->last = sessions_dup(sid);
    sessions_pending_free(q);
    return t->last;
}

/* session/update from the agent: keep modes and options current. */
static void sessions_on_update(sessions_tracker *t, const char *sid, const json_t *update) {
    sessions_entry *e = sessions_index_get(t->ix, sid);
    if (!e)
        return;
    const char *kind = sessions_str(update, "sessionUpdate");
    e->last_ms = base_now_ms();
    if (kind && strcmp(kind, "current_mode_update") == 0 && json_is_object(e->modes) &&
        sessions_str(update, "currentModeId"))
        json_object_set(e->modes, "currentModeId", json_object_get(update, "currentModeId"));
    else if (kind && strcmp(kind, "config_option_update") == 0)
        sessions_set_json(&e->config_options, json_object_get(update, "configOptions"));
    sessions_touch(t->ix, e);
}

static const char *sessions_classify(sessions_tracker *t, bool from_client, const json_t *msg) {
    if (!json_is_object(msg))
        return NULL;
    const char *method = sessions_str(msg, "method");
    bool has_id = json_object_get(msg, "id") != NULL;
    if (method && has_id)
        return sessions_on_request(t, from_client, msg, method);
    if (!method && has_id)
        return sessions_on_response(t, from_client, msg);
    if (!method)
        return NULL;
    /* A notification. */
    const json_t *params = json_object_get(msg, "params");
    const char *sid = sessions_str(params, "sessionId");
    if (sid && !from_client && strcmp(method, "session/update") == 0)
        sessions_on_update(t, sid, json_object_get(params, "update"));
    return sid;
}

const char *sessions_tracker_observe(sessions_tracker *t, bool from_client, const json_t *msg,
                                     uint64_t *sidx) {
    const char *sid = sessions_classify(t, from_client, msg);
    sessions_entry *e = sid ? sessions_index_get(t->ix, sid) : NULL;
    *sidx = e ? ++e->events : 0;
    /* The answer outlives msg (and the pending entry a response consumed). */
    if (sid != t->last) {
        char *copy = sessions_dup(sid);
        free(t->last);
        t->last = copy;
    }
    return t->last;
}

static void sessions_tracker_end_all(sessions_tracker *t, sessions_status st, int code, int sig) {
    for (size_t i = 0; i < t->nsessions; i++) {
        sessions_entry *e = sessions_index_get(t->ix, t->sessions[i]);
        /* A session loaded since on another server is no longer ours to end. */
        if (!e || e->status != SESSIONS_ACTIVE || !e->server || strcmp(e->server, t->server))
            continue;
        e->status = st;
        e->exit_code = code;
        e->signal = sig;
        e->last_ms = base_now_ms();
        sessions_touch(t->ix, e);
    }
}

void sessions_tracker_agent_exited(sessions_tracker *t, int exit_code, int signal) {
    sessions_tracker_end_all(t, SESSIONS_AGENT_EXITED, exit_code, signal);
}

void sessions_tracker_closed(sessions_tracker *t) {
    sessions_tracker_end_all(t, SESSIONS_ENDED, 0, 0);
}

void sessions_tracker_loaded(sessions_tracker *t, const char *id) {
    sessions_entry *e = sessions_upsert(t, id, NULL);
    sessions_touch(t->ix, e);
}
