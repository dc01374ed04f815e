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

typedef struct acp_journal acp_journal;
typedef struct acp_journal_sub acp_journal_sub;
/* Receives one stored event: its id and its SSE frame ("event: message\nid: ..\n\n"). The
 * frame is borrowed; take a reference to keep it. */
typedef void (*acp_journal_sink)(void *ud, uint64_t id, base_rcbuf *frame);

typedef struct acp_journal_ops {
    /* Store one envelope; *frame receives the stored SSE frame (borrowed). */
    uint64_t (*append)(acp_journal *j, const char *json, size_t len, base_rcbuf **frame);
    void (*replay)(acp_journal *j, uint64_t after_id, acp_journal_sink sink, void *ud);
    uint64_t (*last_id)(acp_journal *j);
    void (*destroy)(acp_journal *j);
} acp_journal_ops;

/* Base of every journal implementation; subscribers are kept here, the storage in the
 * implementation. Owner: the ACP instance. */
struct acp_journal {
    const acp_journal_ops *ops;
    acp_journal_sub *subs;
};

/* In-memory ring keeping the newest events, at most `capacity` of them and at most
 * `max_bytes` of SSE frames (0 = no byte bound); the newest event is always kept. */
acp_journal *acp_journal_memory_new(size_t capacity, size_t max_bytes);
/* Append, then deliver to every subscriber. Returns the new id. */
uint64_t acp_journal_append(acp_journal *j, const char *json, size_t len);
void acp_journal_replay(acp_journal *j, uint64_t after_id, acp_journal_sink sink, void *ud);
acp_journal_sub *acp_journal_subscribe(acp_journal *j, acp_journal_sink sink, void *ud);
void acp_journal_unsubscribe(acp_journal *j, acp_journal_sub *s);
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
json_t *acp_rpc_error_stdin(const json_t *id, const char *agent, const char *server_id,
                            int uverr);
/* 502 agent_process_exited problem, for notifications and responses to a dead agent. */
void acp_problem_exited(http_req *req, const acp_exit_info *x);

/* ---- the bridge ---------------------------------------------------------------------------- */
typedef struct acp_bridge acp_bridge;

acp_bridge *acp_bridge_new(uv_loop_t *loop);
void acp_bridge_routes(acp_bridge *b, http_server *srv);
/* Number of live instances of an agent, and the oldest one's creation time. */
size_t acp_bridge_agent_instances(acp_bridge *b, const char *agent, int64_t *oldest_ms);
/* End every stream and terminate every agent (pending POSTs fail when the agents exit). */
void acp_bridge_shutdown(acp_bridge *b);
void acp_bridge_free(acp_bridge *b);

#endif
