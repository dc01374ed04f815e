/* internal.h - what the bridge's files share: the instance, its pending POSTs, SSE streams
 * and DELETE waiters. Not for use outside src/acp/. */
#ifndef ACP_INTERNAL_H
#define ACP_INTERNAL_H

#include "acp/acp.h"
#include "journal/journal.h"
#include "proc/proc.h"
#include "sessions/sessions.h"

#define ACP_STDERR_TAIL_LINES 40
#define ACP_STDERR_TAIL_BYTES 8192
#define ACP_MAX_LINE_BYTES (64u << 20)

typedef struct acp_instance acp_instance;
typedef struct acp_stream acp_stream;

/* The event channel of one server id: its journal and the SSE streams following it. It
 * outlives instances (a stream may follow a server id whose agent is gone, e.g. after a
 * restart of ours, and a new instance under the same id continues it). Owner: the bridge's
 * channel map; freed when no instance refers to it and no stream follows it. */
typedef struct acp_channel {
    acp_bridge *bridge;
    char *server_id;
    acp_journal *journal;
    acp_stream *streams;
    int instances; /* instances (listed or winding down) recording into it */
} acp_channel;

/* A POST waiting for something: the agent's response (requests) or the stdin write
 * (notifications and responses). Owner: its instance's pending list; freed once it is
 * answered (or its HTTP request aborted) AND its stdin write has completed. */
typedef struct acp_pending {
    acp_instance *inst;
    http_req *req;             /* NULL once answered or aborted */
    acp_client *client;        /* an in-process client's request: answered through cb instead */
    acp_client_response_fn cb; /* NULL once answered */
    void *cb_ud;
    json_t *id; /* request id (requests only) */
    bool is_request;
    bool durable; /* a POSTed initialize, session/new or session/load: the agent's answer waits
                     for the journal's commit (acp_hold_answer) */
    bool write_inflight;
    bool listed;
    char *held; /* the line, while the restarted agent is being initialised (owned) */
    size_t held_len;
    uv_timer_t *timer; /* request timeout; closed asynchronously */
    struct acp_pending *next, *prev;
} acp_pending;

/* One SSE subscriber. Owner: its channel's stream list; freed by its http_sse's on_close,
 * which comes (from the loop) once the stream ended or the client left. Until then it keeps
 * the channel alive. */
struct acp_stream {
    acp_channel *chan;
    http_sse *sse;
    acp_journal_sub *sub; /* live events; held back while the store replay runs */
    uint64_t cursor;      /* the newest id sent */
    /* Replay from the store (sse.c): up to `until`, page by page, then the held live ones. */
    bool replaying;
    uint64_t until;
    journal_read *rd;
    journal_gap gaps[16];
    size_t ngaps, gi;
    base_rcbuf **held; /* referenced live frames (and their ids) that came meanwhile */
    uint64_t *held_ids;
    size_t nheld, capheld, held_bytes;
    struct acp_stream *next, *prev;
};

/* An in-process client. Owner: whoever opened it until acp_client_close; then itself,
 * freed when no request of it waits any more. */
struct acp_client {
    acp_instance *inst;
    acp_client_event_fn on_event;
    void *ud;
    unsigned waiting; /* its requests not yet answered */
    bool closed;
    int in_call; /* >0 inside one of its own calls: answers are deferred (client.c) */
    struct acp_deferred *deferred, **deferred_tail; /* answers waiting for the loop */
    uv_timer_t *timer;       /* delivers deferred answers; closed asynchronously */
    struct acp_client *next; /* the instance's client list */
};

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
    acp_channel *chan;
    sessions_tracker *tracker; /* NULL without a session index */
    acp_client *clients;       /* in-process clients attached to it */
    json_t *init_params;       /* the client's last `initialize` params, replayed on restart */
    /* The bridge's own requests (revive.c): the client's replayed `initialize`, then
     * session/load for sessions continued on a fresh agent. Client messages wait behind
     * them. */
    json_t *reinit_id;         /* id of the one in flight */
    uv_timer_t *reinit_timer;  /* bounds it; closed asynchronously */
    json_t *internal;          /* [{method, params, session}] still to send */
    char *loading;             /* the session our session/load in flight is for */
    base_map *loaded;          /* sessions this agent process has (values unused) */
    bool revived;              /* brought back by a POST after a restart of ours */
    bool backlogged;           /* its stdout is not read while the journal catches up */
    struct acp_hold *hold;     /* an answer waiting for the journal's commit (revive.c) */
    base_buf stash;            /* output read after the held answer: handled after it */
    uv_timer_t *backlog_timer; /* checks whether it has; closed asynchronously */
    unsigned restarts;
    acp_pending *pending;
    acp_waiter *waiters;
};

/* The bridge. Owner: main; freed by acp_bridge_free after shutdown. */
struct acp_bridge {
    uv_loop_t *loop;
    journal_store *store;  /* borrowed; NULL: history in memory only */
    sessions_index *index; /* borrowed; NULL: no session tracking */
    base_map *channels;    /* server id -> acp_channel */
    base_map *closed;      /* server ids closed by DELETE in this life (values unused) */
    acp_instance **items;  /* listed instances */
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
/* The channel of a server id, created when create is true (else NULL when there is none). */
acp_channel *acp_channel_get(acp_bridge *b, const char *server_id, bool create);
/* Free a channel nothing refers to any more. */
void acp_channel_maybe_free(acp_channel *ch);
/* Record one envelope crossing the instance (from_client: its direction): the session
 * tracker names its session, the journal stores it (and fans agent ones out to SSE), the
 * session's listeners and the in-process clients hear of it. line/len: its compact JSON.
 * connection: who sent it, or NULL. Returns its event id. */
uint64_t acp_record(acp_instance *in, bool from_client, const json_t *msg, const char *line,
                    size_t len, const char *connection);
/* The same for an envelope the session tracker has seen already (it named session and
 * sidx). */
uint64_t acp_record_tracked(acp_instance *in, bool from_client, const json_t *msg, const char *line,
                            size_t len, const char *connection, const char *session, uint64_t sidx);
/* The agent's response msg (line: its text) answers the request waiting for it. */
void acp_deliver_response(acp_instance *in, json_t *msg, const char *line, size_t len);
/* Agent output: every complete line is handled, the rest kept for the next. While an
 * answer is held, what follows it is stashed (and stdout paused) until it is released. */
void acp_stdout_feed(acp_instance *in, const char *data, size_t len);
/* Read the agent's stdout unless the journal is behind or an answer is held. */
void acp_stdout_resume(acp_instance *in);
/* Listed at once, while its agent starts: POSTs meanwhile queue up behind the first. NULL
 * when the agent has no launch recipe. */
acp_instance *acp_instance_create(acp_bridge *b, const char *server_id, const char *agent,
                                  const char *origin);
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
/* A client's message (POSTed or in-process) through p (filled in but not listed): listed on
 * the instance, timed when a request, journaled, then written to the agent. line: its
 * compact JSON (taken), or NULL to make it from msg. */
void acp_pending_submit(acp_instance *in, acp_pending *p, const json_t *msg, char *line);
/* A client's `initialize` request: kept for replay to a restarted agent, and noted. */
void acp_note_initialize(acp_instance *in, const json_t *msg);
/* How the agent ended (tail: its stderr tail, caller frees), and the answers built on it. */
void acp_exit_of(acp_instance *in, acp_exit_info *x, char **tail);
void acp_reply_rpc(acp_instance *in, http_req *req, json_t *resp);
void acp_problem_exited_of(http_req *req, acp_instance *in);

void acp_timer_free(uv_handle_t *h);

/* revive.c: the bridge's own requests, and bringing back a server id after a restart. */
/* Queue a request of ours (params stolen) to send before any client message; session: the
 * session a session/load is for (its replayed history is not delivered), or NULL. */
void acp_internal_push(acp_instance *in, const char *method, json_t *params, const char *session);
/* Whether msg answers our request in flight (it is then consumed: neither journaled nor
 * delivered), or is history an agent replays for our session/load (dropped likewise). */
bool acp_internal_answer(acp_instance *in, const json_t *msg);
/* Forget our requests (the agent exited); held client messages are failed by the caller. */
void acp_internal_reset(acp_instance *in);
/* Client messages wait (acp_pending_send holds them) while ours are outstanding. */
bool acp_internal_busy(const acp_instance *in);
/* A POST without ?agent= for a server id that is not live: an instance for it when an
 * earlier life of ours knew it (and nobody closed it), replaying the client's initialize
 * unless msg is one. NULL otherwise. */
acp_instance *acp_revive(acp_bridge *b, const char *server_id, const json_t *msg);
/* Before a client message of a revived instance reaches its agent: load the session it
 * names, once, if this server had it before the restart. */
void acp_revive_session(acp_instance *in, const json_t *msg);
/* Keep what a POST after a restart needs to bring the server back (agent, initialize). */
void acp_note_server(acp_instance *in);
/* The agent's answer msg (line: its text) to a POSTed durable request: the session tracker
 * sees it now, and the rest (journal, SSE, the POST's reply) once the journal has committed
 * what that queued, with the agent's later output held behind it. False (nothing done) for
 * any other envelope. */
bool acp_hold_answer(acp_instance *in, json_t *msg, const char *line, size_t len);
/* The instance goes away with an answer held: it is dropped. */
void acp_hold_detach(acp_instance *in);

/* post.c: POST /v1/acp/{serverId}. */
void acp_post_handler(http_req *req, void *ud);

/* sse.c: GET /v1/acp/{serverId} and the instance's subscribers. */
void acp_get_handler(http_req *req, void *ud);
/* End every stream of an instance's channel (DELETE, shutdown). */
void acp_end_streams(acp_instance *in);

/* client.c: in-process clients. */
/* An agent envelope reaches the instance's clients. */
void acp_clients_event(acp_instance *in, uint64_t id, const char *session, const json_t *msg);
/* A client's request was answered (resp borrowed); p is released by the caller. */
void acp_client_answer(acp_pending *p, const json_t *resp);

#endif
