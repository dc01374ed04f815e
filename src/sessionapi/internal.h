/* internal.h - shared by the files of src/sessionapi/ only: the API's state, the sessions it
 * drives, and helpers used by more than one route. */
#ifndef SESSIONAPI_INTERNAL_H
#define SESSIONAPI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "acp/acp.h"
#include "base/base.h"
#include "http/http.h"
#include "journal/journal.h"
#include "sessionapi/sessionapi.h"
#include "sessions/sessions.h"

/* Paging of GET /v1/sessions and GET .../events. */
#define SESSIONAPI_LIMIT_DEFAULT 100
#define SESSIONAPI_LIMIT_MAX 1000

typedef struct sessionapi_drive sessionapi_drive;
typedef struct sessionapi_follow sessionapi_follow;
typedef struct sessionapi_turn sessionapi_turn;

struct sessionapi {
    uv_loop_t *loop;
    sessions_index *ix;
    journal_store *store; /* NULL: no journal (memory mode) */
    acp_bridge *bridge;
    base_map *drives;           /* ACP sessionId -> the sessionapi_drive driving it */
    sessionapi_drive *all;      /* every live drive, also those still creating their session */
    sessionapi_follow *follows; /* open SSE follows (ended when their session is deleted) */
    uint64_t heartbeat_ms;
};

/* A session the REST API drives: its in-process ACP client and what waits on the agent.
 * Owner: the API (listed in api->all, and in api->drives once its session id is known)
 * until sessionapi_drive_drop; requests in flight hold references; the last
 * sessionapi_drive_unref frees it. */
struct sessionapi_drive {
    sessionapi *api; /* NULL once dropped: callbacks still due must not touch the API */
    int refs;
    char *id;              /* the ACP sessionId (NULL while session/new is pending) */
    acp_client *client;    /* NULL when not attached */
    bool owns_server;      /* the client's instance was started by this API (rest-<uuid>) */
    base_map *perms;       /* permission requests waiting: requestId text -> the request (json) */
    sessionapi_turn *turn; /* the running turn, or NULL */
    sessionapi_drive *next, *prev;
};

/* A failure to answer as problem+json. Owner: whoever fills it; sessionapi_fail_reply or
 * sessionapi_fail_clear releases detail and extra. */
typedef struct sessionapi_fail {
    int status;
    const char *code;  /* static */
    const char *title; /* static */
    char *detail;
    json_t *extra;
} sessionapi_fail;
void sessionapi_fail_set(sessionapi_fail *f, int status, const char *code, const char *title,
                         json_t *extra, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Answer it (when req is not NULL) and release it. */
void sessionapi_fail_reply(http_req *req, sessionapi_fail *f);
void sessionapi_fail_clear(sessionapi_fail *f);
/* Answer a problem at once: extra stolen (may be NULL), detail formatted. */
void sessionapi_problem(http_req *req, int status, const char *code, const char *title,
                        json_t *extra, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- routes.c ---- */
/* The session {id} (path parameter 0) names, by id or alias; else answers 404 and NULL. */
sessions_entry *sessionapi_find(sessionapi *api, http_req *req);
/* The request asks for an event stream (Accept names text/event-stream). */
bool sessionapi_wants_sse(const http_req *req);
/* A page of GET /v1/sessions: {items, nextCursor?}, entries filtered by agent and status
 * (NULL: any), oldest first (createdAt, then id), from offset, at most limit. */
json_t *sessionapi_list_json(sessions_index *ix, const char *agent, const char *status,
                             size_t offset, size_t limit);
/* Parse a decimal query parameter in [min, max] (def when absent). False when it answered
 * 400. */
bool sessionapi_query_u64(http_req *req, const char *key, uint64_t def, uint64_t min, uint64_t max,
                          uint64_t *out);

/* ---- events.c ---- */
void sessionapi_events_handler(http_req *req, void *ud);
/* One SessionEvent as an SSE frame (`event: session_event`, `id: <eventIndex>`); NULL when
 * its payload is not JSON. Caller unrefs. */
base_rcbuf *sessionapi_event_frame(const json_t *event);
/* The SessionEvent of a live event, sessionId as_id. */
json_t *sessionapi_live_event_json(const char *as_id, const sessions_event *ev);
/* End the follows of a session (it was deleted). */
void sessionapi_follows_end(sessionapi *api, const char *session);
/* Detach every follow from the index (the API is being freed) and end it. */
void sessionapi_follows_free(sessionapi *api);

/* ---- drive.c ---- */
sessionapi_drive *sessionapi_drive_new(sessionapi *api);
sessionapi_drive *sessionapi_drive_ref(sessionapi_drive *d);
void sessionapi_drive_unref(sessionapi_drive *d);
/* Give the drive its session id and list it under it. */
void sessionapi_drive_name(sessionapi_drive *d, const char *id);
/* Stop driving: detach the client (closing the instance too when stop_server and the API
 * started it), forget pending permissions, unlist, drop the API's reference. */
void sessionapi_drive_drop(sessionapi_drive *d, bool stop_server);
/* The drive of a running turn is dropped: the turn stops listening (turn.c); it ends when
 * the bridge answers its request. */
void sessionapi_turn_detach(sessionapi_turn *t);
/* A turn whose prompt was not sent yet (its instance is starting) is marked to end as
 * cancelled instead: true. False once the prompt is with the agent. */
bool sessionapi_turn_cancel(sessionapi_turn *t);
/* Forget the pending permission requests; with cancelled, answer each one `cancelled` as
 * ACP asks of a client that cancels a turn. */
void sessionapi_drive_clear_perms(sessionapi_drive *d, bool cancelled);
/* What runs once an instance is ready: fail is NULL on success with result the answer of
 * session/new or session/load (borrowed). */
typedef void (*sessionapi_start_fn)(void *ud, sessionapi_fail *fail, const json_t *result);
/* Start a fresh instance rest-<uuid> of agent for the drive, initialize it, then session/new
 * in cwd (load_id NULL) or session/load of load_id (409 session_not_loadable when the agent
 * cannot). done runs once, possibly inside this call. */
void sessionapi_drive_start(sessionapi_drive *d, const char *agent, const char *cwd,
                            const char *load_id, sessionapi_start_fn done, void *ud);
/* Attach the drive to the live instance of an active session. False when there is none (or
 * its agent has exited): the session must be continued on a fresh instance. */
bool sessionapi_drive_attach(sessionapi_drive *d, const sessions_entry *e);
/* A JSON-RPC id as text: a string as it is, anything else as its JSON. Caller frees. */
char *sessionapi_rpc_id_text(const json_t *id);
/* The optionId answering a session/request_permission's params for reply (once, always,
 * reject); NULL when the agent offered no option of that kind. */
const char *sessionapi_permission_option(const json_t *params, const char *reply);
void sessionapi_permission_handler(http_req *req, void *ud);
void sessionapi_cancel_handler(http_req *req, void *ud);

/* ---- turn.c ---- */
void sessionapi_create_handler(http_req *req, void *ud);
void sessionapi_messages_handler(http_req *req, void *ud);

#endif
