/* sessions.h - the server-side session index: ACP sessions recognised in the envelopes that
 * cross the bridge, whoever created them (SDK, REST, CLI, Inspector).
 *
 * A tracker watches one ACP server's traffic in both directions. It pairs requests with
 * their responses (session/new gives a sessionId only in its result; a permission reply
 * carries no sessionId at all) and so names the session of every envelope, and keeps each
 * session's summary: agent, server, cwd, times, status, title (from the first prompt),
 * current modes and config options. */
#ifndef SESSIONS_H
#define SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

typedef enum sessions_status {
    SESSIONS_ACTIVE = 0,
    SESSIONS_ENDED,       /* its ACP server was closed */
    SESSIONS_AGENT_EXITED /* its agent process died; exit_code / signal say how */
} sessions_status;

/* One session's summary. Owner: the index; valid until the index changes it or is freed. */
typedef struct sessions_entry {
    char *id; /* the agent's ACP sessionId */
    char *server;
    char *agent;
    char *cwd;
    int64_t created_ms, last_ms;
    sessions_status status;
    int exit_code; /* with SESSIONS_AGENT_EXITED: -1 when killed by signal */
    int signal;
    char *title;            /* NULL until the first prompt */
    json_t *modes;          /* SessionModeState or NULL */
    json_t *config_options; /* array or NULL */
    const char *origin;     /* static: "acp" (through /v1/acp) or "rest" (POST /v1/sessions) */
    json_t *record;         /* the SDK SessionRecord its persist driver stored, or NULL */
    char *alias;            /* record.id when it differs from id (the SDK's local id), or NULL */
    uint64_t events;        /* the highest event index (sidx) handed out */
    uint64_t version;       /* bumped on every change: persistence writes changed ones */
} sessions_entry;

/* The index of every session. Owner: the server; sessions_index_free. */
typedef struct sessions_index sessions_index;
/* What a tracker reports when a session's summary changed (to persist it). */
typedef void (*sessions_changed_fn)(const sessions_entry *e, void *ud);

sessions_index *sessions_index_new(sessions_changed_fn changed, void *ud);
void sessions_index_free(sessions_index *ix);
sessions_entry *sessions_index_get(sessions_index *ix, const char *id);
/* By alias (the SDK's local session id, which may be the ACP id of the session it resumed),
 * or else by id. */
sessions_entry *sessions_index_resolve(sessions_index *ix, const char *id_or_alias);
/* Store the SDK's SessionRecord (stolen) on an entry; its id becomes the entry's alias,
 * taken from any other entry that had it (a resumed session moves to a new ACP session). */
void sessions_index_set_record(sessions_index *ix, sessions_entry *e, json_t *record);
/* The storage form (every field, for journal_store_put_session; caller frees), and loading
 * it back at startup: an entry that was active is ended (its agent died with the server). */
char *sessions_entry_store_json(const sessions_entry *e);
int sessions_index_load_json(sessions_index *ix, const char *id, const char *json,
                             uint64_t last_sidx);
void sessions_index_each(sessions_index *ix, void (*fn)(sessions_entry *e, void *ud), void *ud);
bool sessions_index_remove(sessions_index *ix, const char *id);
/* The API shape: {id, agent, serverId, cwd, createdAt, lastActivityAt, status, exitCode?,
 * signal?, title, modes, configOptions}. */
json_t *sessions_entry_json(const sessions_entry *e);
/* ... plus origin, eventCount, and record (the SDK's) when set: the REST API's shape. */
const char *sessions_status_name(sessions_status st);

/* ---- ACP servers ----------------------------------------------------------------------------
 * What a POST after a restart of ours needs to bring an ACP server back: its agent and its
 * client's initialize params. Persisted with the sessions. */
typedef struct sessions_server {
    char *id;
    char *agent;
    json_t *init_params; /* or NULL */
} sessions_server;
/* init_params: copied; NULL keeps what was noted before. */
void sessions_index_note_server(sessions_index *ix, const char *id, const char *agent,
                                const json_t *init_params);
/* Borrowed; valid until the index changes it. */
const sessions_server *sessions_index_server(sessions_index *ix, const char *id);

/* ---- live events ---------------------------------------------------------------------------
 * The bridge publishes every journaled envelope that belongs to a session, after it was
 * appended to the journal; listeners (SSE follow, the REST API) see them in order. */
typedef struct sessions_event {
    const char *session; /* the ACP sessionId */
    uint64_t sidx;       /* its index in the session (the SDK's eventIndex) */
    const char *server;  /* ACP server id, and the event id within it */
    uint64_t id;
    int64_t ts_ms;
    bool from_client;
    const char *payload; /* compact JSON envelope */
    size_t len;
    const json_t *msg; /* the same, parsed (borrowed) */
} sessions_event;
typedef void (*sessions_event_fn)(void *ud, const sessions_event *ev);
/* A listener. Owner: the index's list; sessions_index_unlisten frees it (also from inside
 * its own callback). */
typedef struct sessions_listener sessions_listener;
/* session: only that session's events (NULL: every session's). */
sessions_listener *sessions_index_listen(sessions_index *ix, const char *session,
                                         sessions_event_fn fn, void *ud);
void sessions_index_unlisten(sessions_index *ix, sessions_listener *l);
void sessions_index_publish(sessions_index *ix, const sessions_event *ev);
/* The SessionEvent JSON of an event: {id: "<as_id>:<sidx>", eventIndex, sessionId: as_id,
 * createdAt, connectionId: server, sender, payload}. NULL when payload is not JSON. */
json_t *sessions_event_json(const char *as_id, const char *server, uint64_t id, uint64_t sidx,
                            int64_t ts_ms, bool from_client, const char *payload, size_t len);

/* ---- persistence (persist.c) ------------------------------------------------------------------
 * The index kept in the durable journal. Owner: the server; sessions_persist_close writes
 * what is still pending and frees the index (call it before closing the store, with the
 * loop still able to run close callbacks). */
typedef struct sessions_persist sessions_persist;
struct journal_store;
/* Load every stored session into a new index (*ix, owned by the returned object) and write
 * changes back from now on. NULL with *error (caller frees) when the store cannot be read. */
sessions_persist *sessions_persist_open(uv_loop_t *loop, struct journal_store *store,
                                        sessions_index **ix, char **error);
void sessions_persist_close(sessions_persist *p);

/* One ACP server's traffic. Owner: the bridge instance; sessions_tracker_free. */
typedef struct sessions_tracker sessions_tracker;

/* origin: static, as in sessions_entry. */
sessions_tracker *sessions_tracker_new(sessions_index *ix, const char *server, const char *agent,
                                       const char *origin);
void sessions_tracker_free(sessions_tracker *t);
/* One envelope. from_client: direction. Returns the sessionId it belongs to (owned by the
 * tracker, valid until the next call) or NULL when it belongs to none (initialize,
 * session/new before its answer ...); *sidx receives its index in that session (0 with
 * none). */
const char *sessions_tracker_observe(sessions_tracker *t, bool from_client, const json_t *msg,
                                     uint64_t *sidx);
/* The server's agent exited / the server was closed: its active sessions say so. */
void sessions_tracker_agent_exited(sessions_tracker *t, int exit_code, int signal);
void sessions_tracker_closed(sessions_tracker *t);
/* The bridge loaded a session into this server's agent itself (after a restart of ours). */
void sessions_tracker_loaded(sessions_tracker *t, const char *id);

#endif
