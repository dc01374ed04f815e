/* internal.h - what the mock agent's files share: limits, error codes, the scenario
 * flags, the session and turn types and the process state (mock_g). mock_agent.c reads
 * input, dispatches requests and writes output; mock_turn.c plays a prompt's turn. */
#ifndef MOCK_INTERNAL_H
#define MOCK_INTERNAL_H

#include "mock/mock.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

/* First words of the context block SDK 0.4.2 prepends on resumeSession. */
#define MOCK_REPLAY_PREFIX "Previous session history is replayed below as JSON-RPC envelopes."
#define MOCK_READ_CHUNK 65536
/* A line longer than this is dropped (with a parse error) instead of exhausting memory. */
#define MOCK_MAX_LINE ((size_t)256 << 20)
/* How much of an unparseable line is echoed back in the error's data.raw. */
#define MOCK_RAW_MAX 256
#define MOCK_TITLE_MAX 80
#define MOCK_SLOW_CHUNKS 20
#define MOCK_SLOW_INTERVAL_MS 100

#define MOCK_ERR_PARSE -32700
#define MOCK_ERR_INVALID_REQUEST -32600
#define MOCK_ERR_METHOD_NOT_FOUND -32601
#define MOCK_ERR_INVALID_PARAMS -32602
#define MOCK_ERR_INTERNAL -32603
#define MOCK_ERR_NOT_FOUND -32002

/* One value of a select config option. The description is only used for modes. */
typedef struct mock_choice {
    const char *value;
    const char *name;
    const char *description;
} mock_choice;

/* One select config option; sessions store the index of the current choice per option. */
typedef struct mock_config_def {
    const char *id; /* also its category: all three are ACP's well-known categories */
    const char *name;
    const mock_choice *choices;
    int count;
} mock_config_def;

enum { MOCK_CFG_MODEL, MOCK_CFG_MODE, MOCK_CFG_THOUGHT, MOCK_CFG_COUNT };

/* Scenario flags, set from words in the prompt text. */
enum {
    MOCK_SC_THINK = 1u << 0,
    MOCK_SC_PLAN = 1u << 1,
    MOCK_SC_TOOL = 1u << 2,
    MOCK_SC_PERMISSION = 1u << 3,
    MOCK_SC_SLOW = 1u << 4,
    MOCK_SC_ERROR = 1u << 5,
    MOCK_SC_CRASH = 1u << 6,
};

/* ---- state ------------------------------------------------------------------------------ */

/* Where a turn is. Phases run in this order; the *_WAIT ones park the turn until a
 * permission response, a timer tick or a cancel moves it on. */
enum {
    MOCK_PH_START,
    MOCK_PH_THINK,
    MOCK_PH_PLAN,
    MOCK_PH_TOOL,
    MOCK_PH_PERM,
    MOCK_PH_PERM_WAIT,
    MOCK_PH_TEXT,
    MOCK_PH_SLOW,
    MOCK_PH_SLOW_WAIT,
};

struct mock_session;

/* One session/prompt request.
 * Owner: its session, first in the session's queue, then as the session's active turn.
 * Freed by mock_turn_release: immediately if its timer was never initialised, otherwise from
 * the timer's close callback (libuv still references the handle until then). */
typedef struct mock_turn {
    struct mock_session *sess; /* back pointer, not owned */
    json_t *req_id;            /* owned reference; echoed in the response */
    char *text;                /* owned: the concatenated text blocks (may hold NULs) */
    size_t text_len;
    char *notes; /* owned: remarks on non-text blocks, appended to the main text */
    size_t notes_len;
    unsigned flags;
    int phase;
    json_int_t perm_id; /* id of our session/request_permission while in PERM_WAIT */
    char perm_call[32]; /* toolCallId of the permission-guarded tool call */
    int slow_sent;
    bool timer_live; /* timer initialised: only the close callback may free the turn */
    uv_timer_t timer;
    struct mock_turn *next; /* queue link */
} mock_turn;

/* One ACP session. Owner: mock_g.sessions; sessions live until the process exits
 * (session/load must find them again) and are freed by mock_sessions_free. */
typedef struct mock_session {
    char *id;    /* owned */
    char *cwd;   /* owned */
    char *title; /* owned; from the first prompt, NULL until then */
    int64_t updated_ms;
    int cfg[MOCK_CFG_COUNT]; /* index into mock_configs[i].choices; MODE is the mode */
    json_t *history;         /* owned array of user/agent message chunk updates, for load */
    mock_turn *active;       /* the running turn, or NULL */
    mock_turn *queue_head;   /* prompts waiting for the active turn to end */
    mock_turn *queue_tail;
    bool pumping; /* mock_session_pump is on the stack: do not recurse */
    struct mock_session *next;
} mock_session;

/* The whole process state: a single static instance, reset by mock_agent_main. Buffers and
 * sessions are owned here and released before mock_agent_main returns. */
typedef struct mock_agent {
    uv_loop_t loop;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tty_t tty;
    } in;
    bool in_stream; /* stdin read through in.stream; otherwise through fs_req */
    bool in_open;   /* in.handle needs closing */
    bool eof;
    uv_fs_t fs_req;
    char rbuf[MOCK_READ_CHUNK];
    base_buf line;   /* unconsumed input: at most one partial line after each read */
    size_t scanned;  /* bytes of line already known to hold no newline */
    bool discarding; /* inside an over-long line: drop bytes up to the next newline */
    bool out_dead;   /* stdout is gone: drop output, keep reading until EOF */
    json_int_t next_req_id;
    unsigned long next_call;
    char *default_cwd; /* owned */
    mock_session *sessions;
} mock_agent;

extern mock_agent mock_g;

/* ---- mock_agent.c: output and helpers used by turns ------------------------------------- */

void mock_send(json_t *msg);
void mock_send_result(json_t *id, json_t *result);
void mock_send_error(json_t *id, int code, const char *message, json_t *data);
json_t *mock_jstr(const char *s, size_t n);
size_t mock_utf8_cut(const char *s, size_t n, size_t max);
void mock_emit(mock_session *s, json_t *update, bool record);
void mock_emit_text(mock_session *s, const char *kind, const char *text, size_t len);
void mock_emit_texts(mock_session *s, const char *kind, const char *text);

/* ---- mock_turn.c ------------------------------------------------------------------------ */

/* Start the next queued prompt when none runs. */
void mock_session_pump(mock_session *s);
/* session/cancel: end the active turn (cancelled) and drop the queued ones. */
void mock_session_cancel(mock_session *s);
/* The client answered our permission request (or cancelled it). */
void mock_turn_permission_done(mock_turn *t, const char *option, bool by_cancel);
void mock_turn_release(mock_turn *t);
/* The option id (static storage) when option_id is one of ours that grants, else NULL. */
const char *mock_perm_granting(const char *option_id);
/* At exit: every turn is dropped, then the sessions freed. */
void mock_abandon_turns(void);
void mock_sessions_free(void);

#endif
