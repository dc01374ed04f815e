/* internal.h - shared by the files of src/opencode/ only: the OpenCode-compatible API under
 * /opencode (docs/opencode.md, spec opencode-compat.md). common.c holds the HTTP rules every
 * route follows (§2): replies with sorted keys, the OpenCode errors body, the body rules
 * (415/400, lenient bodies) and the request directory (§5). */
#ifndef OPENCODE_INTERNAL_H
#define OPENCODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/base.h"
#include "http/http.h"

#include "acp/acp.h"
#include "journal/journal.h"
#include "opencode/opencode.h"

typedef struct opencode_session opencode_session;
typedef struct opencode_run opencode_run;
typedef struct opencode_turn opencode_turn;
typedef struct opencode_sub opencode_sub;
typedef struct opencode_pending opencode_pending;

/* Every /opencode route's flags: the bearer token as everywhere, plus the OpenCode clients'
 * Basic password and errors-body 401 (spec §2.2, quirk Q1 fixed). */
#define OPENCODE_ROUTE (HTTP_ROUTE_AUTH | HTTP_ROUTE_OPENCODE_AUTH)

/* Events kept for Last-Event-ID replays (§12.1). */
#define OPENCODE_RING 4096

/* The API's state. Owner: the server (opencode_routes / opencode_free). */
struct opencode {
    uv_loop_t *loop;
    journal_store *store; /* NULL: memory only */
    acp_bridge *bridge;
    base_map *sessions; /* id -> opencode_session */
    base_map *pending;  /* permission and question ids -> opencode_pending */
    /* events.c: the bus */
    uint64_t last_event; /* SSE ids from 1 per process */
    struct {
        uint64_t id;
        base_rcbuf *frame;
    } ring[OPENCODE_RING]; /* event id % OPENCODE_RING */
    opencode_sub *subs;
    uv_timer_t *heartbeat;
    /* store.c: keys written at the next flush (values unused) */
    base_map *dirty;
    uv_timer_t *flush;
};

/* One OpenCode session. Owner: oc->sessions; opencode_session_remove frees it. */
struct opencode_session {
    char *id;
    json_t *info;     /* the Session object as served (§6.1) */
    json_t *messages; /* [{info, parts}] in insertion order */
    size_t stored;    /* message rows written to the store (their keys are 0..stored-1) */
    bool busy;
    bool always;       /* an "always" permission reply was given: later requests are granted */
    char *acp_id;      /* the agent's ACP sessionId, to session/load it again (or NULL) */
    char *acp_agent;   /* the agent acp_id belongs to */
    json_t *todos;     /* the agent's latest ACP plan as OpenCode todos, or NULL */
    opencode_run *run; /* the live ACP connection, or NULL */
};

/* A permission or question waiting for the client. Owner: oc->pending. */
struct opencode_pending {
    bool question;
    char *session;
    json_t *request; /* PermissionRequest / QuestionRequest as served */
    json_t *rpc_id;  /* the agent's JSON-RPC id */
    json_t *options; /* permission: the ACP options offered (array) or NULL */
};

/* ---- common.c ---- */
/* Reply JSON compactly with keys sorted at every depth (spec §2.1); steals body. */
void opencode_reply_json(http_req *req, int status, json_t *body);
/* Reply the OpenCode errors body {"errors":[{"message":msg}]} with content-type
 * application/json (spec §2.3). */
void opencode_reply_error(http_req *req, int status, const char *msg);
/* Route handlers for the fixed answers: `true` (no-op actions such as dispose), and `[]` for
 * lists nothing in this server fills (language servers, formatters, MCP resources, session
 * diffs: no agent reports its file changes over ACP). */
void opencode_handle_true(http_req *req, void *ud);
void opencode_handle_empty_list(http_req *req, void *ud);
/* The same, message formatted. */
void opencode_reply_errorf(http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse the request body by the rules of §2.3: required=true answers 415 (no JSON
 * content type, or no body) or 400 (malformed JSON) itself and returns NULL; required=false
 * (lenient) returns NULL for any rejection or no body. Any JSON value is returned (PATCH
 * /config echoes arrays too): the 422 typed-field checks are per route (opencode_reply_422,
 * opencode_body_object). New reference. */
json_t *opencode_body(http_req *req, bool required);
/* 422 text/plain `Failed to deserialize the JSON body into the target type: <what>`. */
void opencode_reply_422(http_req *req, const char *what);
/* opencode_body(req, true) that must be an object: a 422 otherwise. NULL when answered. */
json_t *opencode_body_object(http_req *req);
/* The request directory (§5): ?directory=, OPENCODE_COMPAT_DIRECTORY, the
 * x-opencode-directory header, else the server cwd. Caller frees. */
char *opencode_directory(http_req *req);
/* A string member of obj under the first of the NULL-terminated keys that holds a string
 * (aliases such as providerID / provider_id / providerId). Borrowed; NULL when none. */
const char *opencode_str_alias(const json_t *obj, const char *const *keys);

/* An id: prefix + the process-wide counter (§4.1). Caller frees. */
char *opencode_new_id(const char *prefix);

/* ---- opencode.c ---- */
/* When the API started (opencode_routes), in ms: the project's times (§7.5). */
int64_t opencode_start_ms(void);
/* The one project id, proj_<start ms>, fresh per process start as in the reference (Q12):
 * the sessions' projectID and GET /project agree. Set before serving and read-only after,
 * so thread-pool jobs may read it. */
const char *opencode_project_id(void);

/* ---- events.c ---- */
/* Broadcast one event {type, properties} (props stolen) to every /event subscriber. */
void opencode_emit(opencode *oc, const char *type, json_t *props);
void opencode_events_routes(opencode *oc, http_server *srv);
void opencode_events_free(opencode *oc);

/* ---- store.c ---- */
/* Load every stored session (blocking, at startup). */
void opencode_store_load(opencode *oc);
/* The session's row (metadata, status, flags) is written at the next flush; now: at once,
 * without the group wait (a new session). */
void opencode_store_session(opencode *oc, opencode_session *s, bool now);
/* Message i's row is written at the next flush. */
void opencode_store_message(opencode *oc, opencode_session *s, size_t i);
/* Every row of the session is removed. */
void opencode_store_delete(opencode *oc, opencode_session *s);
void opencode_store_free(opencode *oc);

/* ---- session.c ---- */
void opencode_session_routes(opencode *oc, http_server *srv);
opencode_session *opencode_session_get(opencode *oc, const char *id);
/* A new session with default fields (agent, provider and model mock), listed. */
opencode_session *opencode_session_new(opencode *oc, const char *id, const char *directory);
/* Create, store and announce (session.created). */
opencode_session *opencode_session_create(opencode *oc, const char *id, const char *directory,
                                          const char *title);
/* The session's message whose info.id is id (borrowed), and its index. */
json_t *opencode_message_find(opencode_session *s, const char *id, size_t *index);
/* Set busy or idle: store it, emit session.status (and session.idle when idle). */
void opencode_session_status(opencode *oc, opencode_session *s, bool busy);
void opencode_touch(opencode_session *s);
/* Drop the session's pending permissions and questions (no events). */
void opencode_pending_drop_session(opencode *oc, const char *session);
void opencode_session_free(opencode_session *s);

/* ---- meta.c: the metadata side (docs/opencode-meta.md) ---- */
/* Register the metadata routes (§3 rows 1, 3-5, 7-29; §7; §14): health, dispose, agents,
 * providers, paths, VCS, project, MCP, skills, config and TUI routes with the optional
 * forwarding to a native `opencode serve` (OPENCODE_COMPAT_PROXY_URL). Disk reads run on
 * loop's thread pool, proxied requests on loop. Their state lives for the process. */
void opencode_meta_routes(http_server *srv, uv_loop_t *loop);

/* ---- provider.c: the providers /provider lists are the agents prompts run ---- */
/* The agent a provider id runs: every provider we list is the agent of the same id (the
 * reference sent pi and cursor to its internal mock, Q5); any other id runs the mock.
 * Static. */
const char *opencode_agent_for_provider(const char *provider);
/* The model a prompt that names only a provider or an agent gets (§9.2, Q6); NULL: none. */
const char *opencode_default_model(const char *provider);

/* ---- prompt.c ---- */
void opencode_prompt_routes(opencode *oc, http_server *srv);
/* The model-change 400 message (§8.3). */
extern const char opencode_model_change_msg[];

/* ---- run.c: turns over the ACP bridge ---- */
/* Start a turn for the user message at index umsg (already stored and announced, the
 * session already busy): the agent is started or reused, the prompt sent, its updates
 * translated. req (may be NULL) is answered when the turn ends. */
void opencode_run_turn(opencode *oc, opencode_session *s, size_t umsg, http_req *req);
/* POST abort: session/cancel as a notification; the turn ends idle at once on our side. */
void opencode_run_abort(opencode *oc, opencode_session *s);
/* The session is deleted or the API stopping: close its ACP instance in the background. */
void opencode_run_detach(opencode_session *s);
/* Send the agent the answer to its request (result stolen). False when it cannot be sent. */
bool opencode_run_respond(opencode_session *s, const json_t *rpc_id, json_t *result);

/* ---- permission.c ---- */
void opencode_permission_routes(opencode *oc, http_server *srv);
/* The agent asked (session/request_permission or _sandboxagent/session/request_question). */
void opencode_permission_asked(opencode *oc, opencode_session *s, const json_t *msg);
void opencode_question_asked(opencode *oc, opencode_session *s, const json_t *msg);
void opencode_pending_free(void *p);

#endif
