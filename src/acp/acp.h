/* acp.h - the ACP bridge: HTTP POST/SSE/DELETE to agent processes over stdio JSON-RPC.
 *
 * Every envelope an agent emits goes through one journal interface (append, replay after
 * an id, subscribe) so that a durable store can replace the in-memory ring without
 * touching the bridge. */
#ifndef ACP_H
#define ACP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "http/http.h"

/* ---- journal ------------------------------------------------------------------------- */

struct journal_store;

/* The event journal of one ACP server id: every envelope is recorded (in the durable store
 * when there is one), agent-to-client ones are also framed for SSE, kept in a ring of the
 * newest, and fanned out to subscribers. Owner: the bridge (by server id); acp_journal_free. */
typedef struct acp_journal acp_journal;
typedef struct acp_journal_sub acp_journal_sub;
/* Receives one event: its id and its SSE frame ("event: message\nid: ..\n\n"). The frame is
 * borrowed; take a reference to keep it. */
typedef void (*acp_journal_sink)(void *ud, uint64_t id, base_rcbuf *frame);

/* store NULL: memory only (ids from 1, the ring is all the history there is). The ring keeps
 * at most capacity events and max_bytes of frames (0 = no byte bound); the newest is always
 * kept. */
acp_journal *acp_journal_new(struct journal_store *store, const char *server, size_t capacity,
                             size_t max_bytes);
acp_journal *acp_journal_memory_new(size_t capacity, size_t max_bytes);
/* Record one envelope (compact JSON) and, for agent-to-client ones, deliver it to every
 * subscriber. connection and session may be NULL; sidx is its index in the session (0:
 * none). Returns its id. */
uint64_t acp_journal_record(acp_journal *j, int dir, const char *json, size_t len,
                            const char *connection, const char *session, uint64_t sidx);
/* An agent-to-client envelope with no session (tests). */
uint64_t acp_journal_append(acp_journal *j, const char *json, size_t len);
/* Replay the ring's events after after_id (synchronously). */
void acp_journal_replay(acp_journal *j, uint64_t after_id, acp_journal_sink sink, void *ud);
/* The ring holds every agent-to-client event after after_id: a replay from there needs no
 * read from the store. Always true without a store. */
bool acp_journal_ring_covers(const acp_journal *j, uint64_t after_id);
uint64_t acp_journal_last_id(const acp_journal *j);
struct journal_store *acp_journal_store(const acp_journal *j);
const char *acp_journal_server(const acp_journal *j);
acp_journal_sub *acp_journal_subscribe(acp_journal *j, acp_journal_sink sink, void *ud);
void acp_journal_unsubscribe(acp_journal *j, acp_journal_sub *s);
bool acp_journal_has_subscribers(const acp_journal *j);
void acp_journal_free(acp_journal *j);
/* Render the SSE frame for one event (exposed for tests). */
base_rcbuf *acp_sse_frame(uint64_t id, const char *json, size_t len);

/* ---- JSON-RPC classification (pure; unit tested) ------------------------------------------ */
typedef enum { ACP_MSG_REQUEST, ACP_MSG_NOTIFICATION, ACP_MSG_RESPONSE } acp_msg_kind;
acp_msg_kind acp_classify(const json_t *msg);
/* Type-sensitive JSON equality of ids (7 != "7", 1 != 1.0). */
bool acp_id_equal(const json_t *a, const json_t *b);
/* Copy of an error response with error.data.agentStderr added per the reference rules, or
 * NULL when nothing applies. */
json_t *acp_inject_stderr(const json_t *msg, const char *stderr_text);

/* ---- errors the bridge answers for the agent (errors.c; docs/acp-errors.md) ---------------- */
/* JSON-RPC server-error codes (the -32000..-32099 range is for implementations). */
#define ACP_RPC_AGENT_EXITED (-32010)      /* the agent process exited or was killed */
#define ACP_RPC_AGENT_TIMEOUT (-32011)     /* no answer within the request timeout */
#define ACP_RPC_AGENT_UNREACHABLE (-32012) /* the agent's stdin could not be written */
#define ACP_URN "urn:sandbox-agent:error:"

/* How an agent process ended, for error answers. Borrowed strings. */
typedef struct acp_exit_info {
    const char *agent;
    const char *server_id;
    int exit_code;   /* meaningful when term_signal == 0 */
    int term_signal; /* 0 when it exited by itself */
    const char *stderr_tail;
} acp_exit_info;

/* "SIGKILL" for SIGKILL, NULL for signals without a well-known name. */
const char *acp_signal_name(int sig);
/* A JSON-RPC error response {jsonrpc, id, error:{code, message, data}}; data is stolen and
 * may be NULL; id is copied (NULL means null). Caller owns the result. */
json_t *acp_rpc_error(const json_t *id, int code, const char *message, json_t *data);
json_t *acp_rpc_error_exited(const json_t *id, const acp_exit_info *x);
json_t *acp_rpc_error_timeout(const json_t *id, const char *agent, const char *server_id,
                              uint64_t timeout_ms);
json_t *acp_rpc_error_stdin(const json_t *id, const char *agent, const char *server_id, int uverr);
/* 502 agent_process_exited problem, for notifications and responses to a dead agent. */
void acp_problem_exited(http_req *req, const acp_exit_info *x);

/* ---- the bridge ---------------------------------------------------------------------------- */
typedef struct acp_bridge acp_bridge;
struct sessions_index;

/* store: the durable journal (NULL keeps history in memory only, `--journal memory`);
 * index: the session index the bridge feeds (NULL: none). Both stay the caller's and must
 * outlive the bridge. */
acp_bridge *acp_bridge_new(uv_loop_t *loop, struct journal_store *store,
                           struct sessions_index *index);
void acp_bridge_routes(acp_bridge *b, http_server *srv);
/* Number of live instances of an agent, and the oldest one's creation time. */
size_t acp_bridge_agent_instances(acp_bridge *b, const char *agent, int64_t *oldest_ms);
/* End every stream and terminate every agent (pending POSTs fail when the agents exit). */
void acp_bridge_shutdown(acp_bridge *b);
void acp_bridge_free(acp_bridge *b);

/* ---- in-process clients (the REST session API) ----------------------------------------------
 * A client inside the server, driving an ACP server instance the way an HTTP client does:
 * its requests and notifications are journaled (client to agent) and tracked exactly like
 * POSTed ones, and it sees every envelope the agent sends. */
typedef struct acp_client acp_client;
/* Every agent-to-client envelope of the instance (borrowed), after it was journaled; id is
 * its event id, session the sessionId the tracker gave it (NULL when none). */
typedef void (*acp_client_event_fn)(void *ud, uint64_t id, const char *session, const json_t *msg);
/* The answer to a request: the agent's JSON-RPC response, or one the bridge made for it
 * (agent exited, timeout: see errors.c). Borrowed. */
typedef void (*acp_client_response_fn)(void *ud, const json_t *response);

/* Attach to the instance server_id, creating it with agent when it does not exist (agent
 * may then not be NULL). NULL with *error (caller frees) when the agent has no launch
 * recipe, or server_id exists with another agent. The client is the caller's:
 * acp_client_close. */
acp_client *acp_client_open(acp_bridge *b, const char *server_id, const char *agent,
                            acp_client_event_fn on_event, void *ud, char **error);
const char *acp_client_server_id(const acp_client *c);
/* Send a request (params stolen; may be NULL). done runs exactly once, from the loop, never
 * inside this call; also after acp_client_close, with an error response. */
void acp_client_request(acp_client *c, const char *method, json_t *params,
                        acp_client_response_fn done, void *ud);
/* Send a notification (params stolen). 0, or -1 when the agent has exited. */
int acp_client_notify(acp_client *c, const char *method, json_t *params);
/* Answer a request the agent sent (result stolen). 0, or -1 when the agent has exited. */
int acp_client_respond(acp_client *c, const json_t *id, json_t *result);
/* The agent process has exited (its instance stays until closed). */
bool acp_client_agent_exited(const acp_client *c);
/* Detach; stop_server also closes the instance as DELETE /v1/acp/{id} does. */
void acp_client_close(acp_client *c, bool stop_server);
/* Whether an instance is live (listed). */
bool acp_bridge_has_server(acp_bridge *b, const char *server_id);
/* Close an instance as DELETE does, without a request. false when unknown. */
bool acp_bridge_close_server(acp_bridge *b, const char *server_id);

#endif
