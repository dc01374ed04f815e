/* internal.h - shared between the files of the processes module only (not a public header).
 *
 * Files: processes.c (state, config, create/list/get/stop/kill/delete, input, resize),
 * run.c (one-shot runs), logs.c (log rings, JSON logs, SSE follow), terminal.c (the
 * terminal WebSocket), codec.c (base64 with the reference's error texts, request field
 * checks with serde-like messages). */
#ifndef PROCESSES_INTERNAL_H
#define PROCESSES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "http/http.h"
#include "proc/proc.h"

/* Where a log chunk came from. */
typedef enum { PROCESSES_STDOUT = 0, PROCESSES_STDERR = 1, PROCESSES_PTY = 2 } processes_stream;

/* Which entries a log request wants. */
typedef enum {
    PROCESSES_VIEW_STDOUT,
    PROCESSES_VIEW_STDERR,
    PROCESSES_VIEW_COMBINED,
    PROCESSES_VIEW_PTY,
} processes_view;

/* One chunk of output. Owner: its process's log ring; freed when rotated out or with it. */
typedef struct processes_log_entry {
    uint64_t seq;
    int64_t ts_ms;
    processes_stream stream;
    size_t len;
    char data[];
} processes_log_entry;

/* A process's log: one ordered ring of entries whose summed data length is kept within the
 * configured limit by dropping the oldest. Sequences are consecutive, so an entry is found
 * by arithmetic. Owner: its process (embedded). */
typedef struct processes_log {
    processes_log_entry **items; /* circular, cap slots */
    size_t head, count, cap;
    size_t bytes;
    uint64_t next_seq; /* sequence of the next append (starts at 1) */
} processes_log;

typedef struct processes_follower processes_follower;
typedef void (*processes_started_fn)(int err, const char *id, pid_t pid, void *ud);
typedef struct processes_term processes_term;
typedef struct processes_waiter processes_waiter;

/* One managed process. Owner: the module's table from creation until DELETE, which frees
 * it after detaching its followers and terminals (a running process cannot be deleted, so
 * no waiter or child callback can refer to a freed record). */
typedef struct processes_proc {
    char *id; /* "proc_<n>" */
    char *command;
    char **args; /* NULL-terminated, args[0] is NOT the command */
    size_t nargs;
    char *cwd; /* NULL when not given */
    bool tty;
    bool interactive;
    const char *owner; /* static string: "user", "desktop" or "system" */
    bool running;
    pid_t pid;
    bool has_exit_code;
    int exit_code;
    int64_t created_ms;
    int64_t exited_ms;
    proc_child *child;    /* pipe mode; released at exit */
    proc_pty *pty;        /* tty mode; released at exit */
    http_req *create_req; /* the create call, while the spawn is in flight (unlisted then) */
    /* Instead of create_req, for a process another module started (processes_start_owned). */
    processes_started_fn started_cb;
    void *started_ud;
    processes_log log;
    processes_follower *followers;
    processes_term *terms;
    processes_waiter *waiters;
} processes_proc;

/* Runtime limits (GET/POST /v1/processes/config). Owner: embedded in processes_state;
 * replaced as a whole by POST. */
typedef struct processes_config {
    uint64_t max_concurrent;
    uint64_t default_run_timeout_ms;
    uint64_t max_run_timeout_ms;
    uint64_t max_output_bytes;
    uint64_t max_log_bytes;
    uint64_t max_input_bytes;
} processes_config;

/* The module. Owner: static storage, set up by processes_routes; lives as long as the
 * server process. */
typedef struct processes_state {
    uv_loop_t *loop;
    processes_config cfg;
    uint64_t next_num;      /* next "proc_<n>" */
    processes_proc **procs; /* creation order */
    size_t nprocs, capprocs;
    uint64_t heartbeat_ms; /* SSE keep-alive after this much idle */
} processes_state;

extern processes_state processes_g;

/* ---- processes.c ---- */
processes_proc *processes_find(const char *id);
/* Reply 404 not_found for a process id. */
void processes_problem_not_found(http_req *req, const char *id);
void processes_problem_conflict(http_req *req, const char *message);
/* Reply 422 with a serde-like message ("<path>: <what>"). */
void processes_problem_body(http_req *req, const char *message);
/* Reply 400 for a query string that does not deserialise. */
void processes_problem_query(http_req *req, const char *message);
/* 502 stream_error "failed to spawn <what>: <strerror> (os error N)"; err is a negative errno. */
void processes_problem_spawn(http_req *req, const char *what, int err);
/* The child environment: the server's plus overrides (NULL-terminated, caller frees with
 * processes_strv_free). env_obj may be NULL. */
char **processes_child_env(json_t *env_obj);
void processes_strv_free(char **v);
/* ProcessInfo members, in the reference's order, set on obj. */
void processes_info_json_into(const processes_proc *p, json_t *obj);
json_t *processes_info_json(const processes_proc *p);

/* ---- codec.c ---- */
/* Decode standard base64 exactly like the reference's base64 crate (padding required,
 * canonical trailing bits). On failure returns false and writes the crate's message
 * ("Invalid symbol 10, offset 5.") into err. */
bool processes_b64_decode(const char *in, size_t len, base_buf *out, char *err, size_t errcap);
/* Standard base64 with padding, appended to b. */
void processes_b64_encode(base_buf *b, const void *data, size_t len);
/* serde-like description of a JSON value's type, e.g. "integer `5`", "null", "sequence". */
void processes_json_kind(const json_t *v, char *out, size_t cap);
/* Decode input data per encoding ("base64" default when enc_default_b64, else "utf8").
 * On failure returns false with a message without the "invalid request: " prefix in err
 * and *bad_encoding set when the encoding name was the problem. */
bool processes_decode_input(const char *data, size_t len, const char *encoding,
                            bool enc_default_b64, base_buf *out, char *err, size_t errcap);
/* Parse an unsigned decimal the way Rust's u64::from_str does ("+5" allowed). */
bool processes_parse_u64(const char *s, uint64_t *out, const char **why);

/* Bytes as UTF-8 with each maximal invalid subsequence replaced by U+FFFD (Rust's
 * from_utf8_lossy). Caller frees. */
char *processes_utf8_lossy(const char *in, size_t n, size_t *out_len);

/* Body members checked like serde would: document order first, then missing fields. */
typedef enum {
    PROCESSES_F_STR,
    PROCESSES_F_BOOL,
    PROCESSES_F_UINT,
    PROCESSES_F_STRV, /* array of strings */
    PROCESSES_F_ENV,  /* object of strings */
} processes_field_kind;

/* One member of a request body. Owner: static tables in the handlers. */
typedef struct processes_field {
    const char *name;
    processes_field_kind kind;
    bool required;
    bool nullable;
    const char *uint_type; /* "u64", "usize", "u16" (PROCESSES_F_UINT) */
    uint64_t uint_max;     /* 0 = no bound beyond int64 */
} processes_field;

/* False with the message ("args[0]: invalid type: integer `1`, expected a string") in err. */
/* JSON body checked against fields; answers the problem itself and returns NULL on failure. */
json_t *processes_checked_body(http_req *req, const processes_field *f, size_t n);
/* Body of a request that starts a command (create, run): JSON body, field checks, and a
 * non-empty `command`. Answers the problem itself and returns NULL on any failure. */
json_t *processes_command_body(http_req *req, const processes_field *f, size_t n);
bool processes_check_fields(json_t *body, const processes_field *f, size_t n, char *err,
                            size_t cap);

/* ---- logs.c ---- */
void processes_log_init(processes_log *l);
void processes_log_free(processes_log *l);
/* Append one chunk (and deliver it to the process's live followers). */
void processes_log_append(processes_proc *p, processes_stream stream, const char *data, size_t len);
/* End every follow stream of a process being deleted. */
void processes_followers_end(processes_proc *p);
void processes_logs_handler(http_req *req, void *ud);

/* ---- terminal.c ---- */
void processes_terms_output(processes_proc *p, const char *data, size_t len);
/* The process exited: send the exit frame and close every socket. */
void processes_terms_exit(processes_proc *p);
/* The record is going away: sockets still closing forget it. */
void processes_terms_detach(processes_proc *p);
void processes_terminal_ws_handler(http_req *req, void *ud);

/* ---- run.c ---- */
void processes_run_handler(http_req *req, void *ud);

#endif
