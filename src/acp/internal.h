/* internal.h - what the bridge's files share: the instance, its pending POSTs, SSE streams
 * and DELETE waiters. Not for use outside src/acp/. */
#ifndef ACP_INTERNAL_H
#define ACP_INTERNAL_H

#include "acp/acp.h"
#include "proc/proc.h"

#define ACP_STDERR_TAIL_LINES 40
#define ACP_STDERR_TAIL_BYTES 8192
#define ACP_MAX_LINE_BYTES (64u << 20)

typedef struct acp_instance acp_instance;

/* A POST waiting for something: the agent's response (requests) or the stdin write
 * (notifications and responses). Owner: its instance's pending list; freed once it is
 * answered (or its HTTP request aborted) AND its stdin write has completed. */
typedef struct acp_pending {
    acp_instance *inst;
    http_req *req; /* NULL once answered or aborted */
    json_t *id;    /* request id (requests only) */
    bool is_request;
    bool write_inflight;
    bool listed;
    char *held; /* the line, while the restarted agent is being initialised (owned) */
    size_t held_len;
    uv_timer_t *timer; /* request timeout; closed asynchronously */
    struct acp_pending *next, *prev;
} acp_pending;

/* One SSE subscriber. Owner: its instance's stream list; freed by its http_sse's on_close,
 * which comes (from the loop) once the stream ended or the client left. Until then it keeps
 * the instance alive (acp_maybe_free waits for the list to be empty). */
typedef struct acp_stream {
    acp_instance *inst;
    http_sse *sse;
    acp_journal_sub *sub; /* NULL until the replay is done, or when it was dropped during it */
    struct acp_stream *next, *prev;
} acp_stream;

/* A DELETE waiting for the agent to be gone. Owner: the instance's waiter list. */
typedef struct acp_waiter {
    http_req *req;
    struct acp_waiter *next;
} acp_waiter;

/* One ACP server instance. Owner: the bridge's table while listed; afterwards itself,
 * freed when the process has exited and no pending POST or stream refers to it. */
struct acp_instance {
    acp_bridge *bridge;
    char *server_id;
    char *agent;
    int64_t created_ms;
    proc_child *child;
    bool started_once; /* an agent process of this instance ran (a later start is a restart) */
    bool exited;
    int exit_code;
    int term_signal;
    bool listed;
    int busy;         /* >0 while a callback walks this instance: freeing is deferred */
    base_buf line;    /* partial stdout line */
    base_buf errline; /* partial stderr line */
    char *err_tail[ACP_STDERR_TAIL_LINES];
    size_t err_count, err_head;
    acp_journal *journal;
    json_t *init_params;      /* the client's last `initialize` params, replayed on restart */
    json_t *reinit_id;        /* id of our replayed `initialize` while it is unanswered */
    uv_timer_t *reinit_timer; /* bounds the replayed `initialize`; closed asynchronously */
    unsigned restarts;
    acp_pending *pending;
    acp_stream *streams;
    acp_waiter *waiters;
};

/* The bridge. Owner: main; freed by acp_bridge_free after shutdown. */
struct acp_bridge {
    uv_loop_t *loop;
    acp_instance **items; /* listed instances */
    size_t n, cap;
    uint64_t request_timeout_ms;
    uint64_t heartbeat_ms;
    size_t replay_capacity;
    size_t replay_max_bytes;
    bool shutting_down;
    acp_instance **zombies; /* unlisted instances still winding down */
    size_t nz, capz;
};

/* bridge.c */
acp_instance *acp_find(acp_bridge *b, const char *id);
/* Free an unlisted instance once nothing refers to it any more. */
void acp_maybe_free(acp_instance *in);
/* Listed at once, while its agent starts: POSTs meanwhile queue up behind the first. NULL
 * when the agent has no launch recipe. */
acp_instance *acp_instance_create(acp_bridge *b, const char *server_id, const char *agent);
/* Start a fresh agent for an exited instance (replaying the client's initialize when
 * replay_init). 0 or a libuv error. */
int acp_instance_restart(acp_instance *in, bool replay_init);
/* initialize, session/new, session/load: the requests that may restart an exited agent. */
bool acp_starts_session(const char *method);
/* A POST waiting for the agent: its abort callback, its time bound, and sending its line
 * (taken) to the agent's stdin. */
void acp_pending_abort_cb(http_req *req, void *ud);
void acp_timeout_cb(uv_timer_t *t);
void acp_pending_send(acp_pending *p, char *line, size_t len);
/* How the agent ended (tail: its stderr tail, caller frees), and the answers built on it. */
void acp_exit_of(acp_instance *in, acp_exit_info *x, char **tail);
void acp_reply_rpc(acp_instance *in, http_req *req, json_t *resp);
void acp_problem_exited_of(http_req *req, acp_instance *in);

/* post.c: POST /v1/acp/{serverId}. */
void acp_post_handler(http_req *req, void *ud);

/* sse.c: GET /v1/acp/{serverId} and the instance's subscribers. */
void acp_get_handler(http_req *req, void *ud);
/* End every stream of an instance (DELETE, shutdown). */
void acp_end_streams(acp_instance *in);

#endif
