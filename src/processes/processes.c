/* processes.c - the processes API's state and its request handlers, except runs (run.c),
 * logs (logs.c) and the terminal WebSocket (terminal.c).
 *
 * Check order follows the reference: query string, then body (content type, syntax,
 * shape), then handler validation, then the process lookup (404) and its state (409). */
#include "processes/processes.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "processes/internal.h"

#define PROCESSES_DEFAULT_WAIT_MS 2000

processes_state processes_g;

/* A stop/kill call waiting for its process to exit. Owner: the process's waiter list until
 * answered or aborted; freed when its timer has closed. */
struct processes_waiter {
    http_req *req; /* NULL once answered or aborted */
    processes_proc *p;
    uv_timer_t timer;
    struct processes_waiter *next, *prev;
};

/* An input write in flight. Owner: itself; freed by the write's completion. The record may
 * be deleted before that (the process exited), so it is not referenced here. */
typedef struct processes_input {
    http_req *req; /* NULL once the client left */
    size_t len;
} processes_input;

/* ---- problems ------------------------------------------------------------------------------ */

void processes_problem_not_found(http_req *req, const char *id) {
    char *detail = base_xasprintf("not found: process %s", id);
    http_reply_problem(req, 404, "not_found", "Not Found", detail,
                       json_pack("{s:{s:s,s:s}}", "details", "id", id, "resource", "process"));
    free(detail);
}

void processes_problem_conflict(http_req *req, const char *message) {
    http_problem_with_message(req, 409, "conflict", "Conflict", "conflict", message);
}

void processes_problem_body(http_req *req, const char *message) {
    char *detail = base_xasprintf(
        "invalid request: failed to deserialize the JSON body into the target type: %s", message);
    http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity", detail, NULL);
    free(detail);
}

json_t *processes_checked_body(http_req *req, const processes_field *f, size_t n) {
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return NULL;
    char err[512];
    if (!processes_check_fields(body, f, n, err, sizeof err)) {
        json_decref(body);
        processes_problem_body(req, err);
        return NULL;
    }
    return body;
}

static bool processes_nul_in(const json_t *v) {
    return json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v);
}

/* The field of a command body ("args[1]", "env key", ...) that holds a NUL character, or
 * NULL. They all become C strings for exec, where "sh\u0000x" would silently run "sh". */
static const char *processes_nul_field(json_t *body, char *buf, size_t cap) {
    if (processes_nul_in(json_object_get(body, "command")))
        return "command";
    if (processes_nul_in(json_object_get(body, "cwd")))
        return "cwd";
    json_t *args = json_object_get(body, "args");
    for (size_t i = 0; i < json_array_size(args); i++) {
        if (processes_nul_in(json_array_get(args, i))) {
            snprintf(buf, cap, "args[%zu]", i);
            return buf;
        }
    }
    const char *key; /* (jansson refuses a NUL in an object key while parsing) */
    json_t *val;
    json_object_foreach(json_object_get(body, "env"), key, val) {
        if (processes_nul_in(val)) {
            snprintf(buf, cap, "env.%.200s", key);
            return buf;
        }
    }
    return NULL;
}

json_t *processes_command_body(http_req *req, const processes_field *f, size_t n) {
    json_t *body = processes_checked_body(req, f, n);
    if (!body)
        return NULL;
    const char *command = json_string_value(json_object_get(body, "command"));
    if (!command || !*command) {
        json_decref(body);
        http_problem_invalid_request(req, "command must not be empty");
        return NULL;
    }
    char buf[256];
    const char *bad = processes_nul_field(body, buf, sizeof buf);
    if (bad) {
        http_problem_invalid_request(req, "%s must not contain a NUL character", bad);
        json_decref(body);
        return NULL;
    }
    return body;
}

void processes_problem_query(http_req *req, const char *message) {
    http_problem_invalid_request(req, "failed to deserialize query string: %s", message);
}

void processes_problem_spawn(http_req *req, const char *what, int err) {
    char *msg = base_xasprintf("failed to spawn %s: %s (os error %d)", what, strerror(-err), -err);
    http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", msg);
    free(msg);
}

/* ---- records ------------------------------------------------------------------------------- */

processes_proc *processes_find(const char *id) {
    for (size_t i = 0; i < processes_g.nprocs; i++)
        if (!strcmp(processes_g.procs[i]->id, id))
            return processes_g.procs[i];
    return NULL;
}

void processes_info_json_into(const processes_proc *p, json_t *o) {
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "command", json_string(p->command));
    json_t *args = json_array();
    for (size_t i = 0; i < p->nargs; i++)
        json_array_append_new(args, json_string(p->args[i]));
    json_object_set_new(o, "args", args);
    if (p->cwd)
        json_object_set_new(o, "cwd", json_string(p->cwd));
    json_object_set_new(o, "tty", json_boolean(p->tty));
    json_object_set_new(o, "interactive", json_boolean(p->interactive));
    json_object_set_new(o, "owner", json_string(p->owner));
    json_object_set_new(o, "status", json_string(p->running ? "running" : "exited"));
    if (p->running)
        json_object_set_new(o, "pid", json_integer(p->pid));
    if (!p->running && p->has_exit_code)
        json_object_set_new(o, "exitCode", json_integer(p->exit_code));
    json_object_set_new(o, "createdAtMs", json_integer(p->created_ms));
    if (!p->running)
        json_object_set_new(o, "exitedAtMs", json_integer(p->exited_ms));
}

json_t *processes_info_json(const processes_proc *p) {
    json_t *o = json_object();
    processes_info_json_into(p, o);
    return o;
}

/* Creates whose spawn is in flight: they count against the limit like running ones. */
static size_t processes_starting;

static size_t processes_running_count(void) {
    size_t n = processes_starting;
    for (size_t i = 0; i < processes_g.nprocs; i++)
        n += processes_g.procs[i]->running;
    return n;
}

static void processes_proc_free(processes_proc *p) {
    free(p->id);
    free(p->command);
    processes_strv_free(p->args);
    free(p->cwd);
    processes_log_free(&p->log);
    free(p);
}

/* ---- environment ---------------------------------------------------------------------------- */

void processes_strv_free(char **v) {
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

char **processes_child_env(json_t *env_obj) {
    if (!env_obj || !json_is_object(env_obj) || json_object_size(env_obj) == 0)
        return NULL; /* inherit */
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **v = base_xcalloc(n + json_object_size(env_obj) + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (!eq)
            continue;
        char *name = base_xstrndup(environ[i], (size_t)(eq - environ[i]));
        bool overridden = json_object_get(env_obj, name) != NULL;
        free(name);
        if (!overridden)
            v[k++] = base_xstrdup(environ[i]);
    }
    const char *key;
    json_t *val;
    json_object_foreach(env_obj, key, val) v[k++] =
        base_xasprintf("%s=%s", key, json_string_value(val));
    return v;
}

/* ---- exit ---------------------------------------------------------------------------------- */

static void processes_waiter_closed(uv_handle_t *h) {
    free(h->data);
}

static void processes_waiter_finish(processes_waiter *w) {
    processes_proc *p = w->p;
    if (w->prev)
        w->prev->next = w->next;
    else if (p->waiters == w)
        p->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    if (w->req) {
        http_req *req = w->req;
        w->req = NULL;
        http_req_on_abort(req, NULL, NULL);
        http_reply_json(req, 200, processes_info_json(p));
    }
    uv_close((uv_handle_t *)&w->timer, processes_waiter_closed);
}

static void processes_owned_check(void);

static void processes_exited(processes_proc *p, int exit_code, int term_signal) {
    pid_t pid = p->pid;
    p->running = false;
    p->exited_ms = base_now_ms();
    p->has_exit_code = term_signal == 0 && exit_code >= 0;
    p->exit_code = exit_code;
    LOG_INFO("process exited", "id=%s pid=%d code=%d signal=%d", p->id, (int)pid, exit_code,
             term_signal);
    if (p->child) {
        /* The group is dead already (proc.c); other groups of the session are not. */
        proc_signal_session(pid, SIGKILL);
        proc_release(p->child);
        p->child = NULL;
    }
    if (p->pty) {
        proc_pty_release(p->pty);
        p->pty = NULL;
    }
    while (p->waiters)
        processes_waiter_finish(p->waiters);
    processes_terms_exit(p);
    processes_owned_check();
}

static void processes_pipe_out(proc_child *c, const char *data, size_t len, void *ud) {
    processes_log_append(ud, PROCESSES_STDOUT, data, len);
}

static void processes_pipe_err(proc_child *c, const char *data, size_t len, void *ud) {
    processes_log_append(ud, PROCESSES_STDERR, data, len);
}

static void processes_pipe_exit(proc_child *c, int code, int sig, void *ud) {
    processes_exited(ud, code, sig);
}

static void processes_started(processes_proc *p, int err);

static void processes_pipe_start(proc_child *c, int err, void *ud) {
    processes_started(ud, err);
}

static const proc_callbacks processes_pipe_cb = {
    .on_stdout = processes_pipe_out,
    .on_stderr = processes_pipe_err,
    .on_exit = processes_pipe_exit,
    .on_start = processes_pipe_start,
};

static void processes_pty_out(proc_pty *t, const char *data, size_t len, void *ud) {
    processes_proc *p = ud;
    processes_log_append(p, PROCESSES_PTY, data, len);
    processes_terms_output(p, data, len);
}

static void processes_pty_exit(proc_pty *t, int code, int sig, void *ud) {
    processes_exited(ud, code, sig);
}

static void processes_pty_start(proc_pty *t, int err, void *ud) {
    processes_started(ud, err);
}

static const proc_pty_callbacks processes_pty_cb = {
    .on_output = processes_pty_out,
    .on_exit = processes_pty_exit,
    .on_start = processes_pty_start,
};

/* ---- config -------------------------------------------------------------------------------- */

static json_t *processes_config_json(void) {
    const processes_config *c = &processes_g.cfg;
    json_t *o = json_object();
    json_object_set_new(o, "maxConcurrentProcesses", json_integer((json_int_t)c->max_concurrent));
    json_object_set_new(o, "defaultRunTimeoutMs",
                        json_integer((json_int_t)c->default_run_timeout_ms));
    json_object_set_new(o, "maxRunTimeoutMs", json_integer((json_int_t)c->max_run_timeout_ms));
    json_object_set_new(o, "maxOutputBytes", json_integer((json_int_t)c->max_output_bytes));
    json_object_set_new(o, "maxLogBytesPerProcess", json_integer((json_int_t)c->max_log_bytes));
    json_object_set_new(o, "maxInputBytesPerRequest", json_integer((json_int_t)c->max_input_bytes));
    return o;
}

static void processes_config_get(http_req *req, void *ud) {
    http_reply_json(req, 200, processes_config_json());
}

static uint64_t processes_u64(json_t *body, const char *name) {
    return (uint64_t)json_integer_value(json_object_get(body, name));
}

/* SANDBOX_AGENT_MAX_PROCESS_LOG_BYTES: the most a process log or a run's captured output
 * may hold, whatever the runtime config asks for. */
static uint64_t processes_memory_ceiling(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_MAX_PROCESS_LOG_BYTES", (int64_t)256 << 20, 4096,
                                  INT64_MAX);
}

static void processes_config_post(http_req *req, void *ud) {
    static const processes_field fields[] = {
        {"maxConcurrentProcesses", PROCESSES_F_UINT, true, false, "usize", 0},
        {"defaultRunTimeoutMs", PROCESSES_F_UINT, true, false, "u64", 0},
        {"maxRunTimeoutMs", PROCESSES_F_UINT, true, false, "u64", 0},
        {"maxOutputBytes", PROCESSES_F_UINT, true, false, "usize", 0},
        {"maxLogBytesPerProcess", PROCESSES_F_UINT, true, false, "usize", 0},
        {"maxInputBytesPerRequest", PROCESSES_F_UINT, true, false, "usize", 0},
    };
    json_t *body = processes_checked_body(req, fields, sizeof fields / sizeof fields[0]);
    if (!body)
        return;
    processes_config c = {
        .max_concurrent = processes_u64(body, "maxConcurrentProcesses"),
        .default_run_timeout_ms = processes_u64(body, "defaultRunTimeoutMs"),
        .max_run_timeout_ms = processes_u64(body, "maxRunTimeoutMs"),
        .max_output_bytes = processes_u64(body, "maxOutputBytes"),
        .max_log_bytes = processes_u64(body, "maxLogBytesPerProcess"),
        .max_input_bytes = processes_u64(body, "maxInputBytesPerRequest"),
    };
    json_decref(body);
    if (c.max_concurrent == 0) {
        http_problem_invalid_request(req, "maxConcurrentProcesses must be greater than 0");
        return;
    }
    if (c.default_run_timeout_ms == 0 || c.max_run_timeout_ms == 0) {
        http_problem_invalid_request(req, "timeouts must be greater than 0");
        return;
    }
    if (c.max_output_bytes == 0 || c.max_log_bytes == 0 || c.max_input_bytes == 0) {
        http_problem_invalid_request(req, "byte limits must be greater than 0");
        return;
    }
    if (c.default_run_timeout_ms > c.max_run_timeout_ms)
        c.default_run_timeout_ms = c.max_run_timeout_ms;
    /* Logs and run output live in memory: a client may lower the server's ceiling, never
     * raise it (the answer shows the effective values). */
    uint64_t ceiling = processes_memory_ceiling();
    if (c.max_log_bytes > ceiling)
        c.max_log_bytes = ceiling;
    if (c.max_output_bytes > ceiling)
        c.max_output_bytes = ceiling;
    processes_g.cfg = c;
    http_reply_json(req, 200, processes_config_json());
}

/* ---- create, list, get ---------------------------------------------------------------------- */

/* Literal routes (/config, /run) shadow {id} in the reference: a wrong method on them is a
 * 405 there, not a lookup of a process named "config". */
static bool processes_shadowed(http_req *req, const char *id) {
    if (!strcmp(id, "config")) {
        http_reply(req, 405, NULL, "allow: GET,HEAD,POST\r\n", NULL, 0);
        return true;
    }
    if (!strcmp(id, "run")) {
        http_reply(req, 405, NULL, "allow: POST\r\n", NULL, 0);
        return true;
    }
    return false;
}

static void processes_create_abort(http_req *req, void *ud) {
    processes_proc *p = ud;
    p->create_req = NULL; /* the process still starts, and is listed if it does */
}

/* The spawn's outcome: list the process and answer the create, or answer the spawn error
 * (a missing command, a bad cwd...) as a synchronous spawn did. */
static void processes_started(processes_proc *p, int err) {
    processes_starting--;
    http_req *req = p->create_req;
    p->create_req = NULL;
    if (req)
        http_req_on_abort(req, NULL, NULL);
    if (err) {
        LOG_INFO("process spawn failed", "id=%s error=\"%s\"", p->id, strerror(-err));
        if (p->started_cb)
            p->started_cb(err, NULL, 0, p->started_ud);
        if (req)
            processes_problem_spawn(req, p->tty ? "tty process" : "process", err);
        proc_release(p->child);
        proc_pty_release(p->pty);
        processes_proc_free(p);
        return;
    }
    p->pid = p->pty ? proc_pty_pid(p->pty) : proc_pid(p->child);
    p->running = true;
    if (processes_g.nprocs == processes_g.capprocs) {
        processes_g.capprocs = processes_g.capprocs ? 2 * processes_g.capprocs : 16;
        processes_g.procs =
            base_xrealloc(processes_g.procs, processes_g.capprocs * sizeof(processes_proc *));
    }
    processes_g.procs[processes_g.nprocs++] = p;
    LOG_INFO("process started", "id=%s pid=%d tty=%d", p->id, (int)p->pid, p->tty);
    if (req)
        http_reply_json(req, 200, processes_info_json(p));
    if (p->started_cb)
        p->started_cb(0, p->id, p->pid, p->started_ud);
    p->started_cb = NULL;
}

/* Take a number and spawn p (pipe or PTY) with argv/env; the outcome comes back through
 * processes_started. */
static void processes_spawn(processes_proc *p, char **env) {
    char **argv = base_xcalloc(p->nargs + 2, sizeof(char *));
    argv[0] = p->command;
    for (size_t i = 0; i < p->nargs; i++)
        argv[i + 1] = p->args[i];
    processes_starting++;
    if (p->tty) {
        proc_pty_opts o = {.file = p->command,
                           .args = argv,
                           .env = env,
                           .cwd = p->cwd,
                           .cols = 80,
                           .rows = 24,
                           .die_with_server = true};
        p->pty = proc_pty_spawn(processes_g.loop, &o, &processes_pty_cb, p);
    } else {
        /* A missing command, a bad cwd etc. come back from the spawn (processes_started). */
        proc_spawn_opts o = {
            .file = p->command, .args = argv, .env = env, .cwd = p->cwd, .die_with_server = true};
        p->child = proc_spawn(processes_g.loop, &o, &processes_pipe_cb, p);
    }
    free(argv);
}

static processes_proc *processes_new(const char *owner, const char *command) {
    processes_proc *p = base_xcalloc(1, sizeof *p);
    /* The number is taken before spawning: a failed spawn uses one up, as in the reference. */
    p->id = base_xasprintf("proc_%llu", (unsigned long long)processes_g.next_num++);
    p->command = base_xstrdup(command);
    p->owner = owner;
    p->created_ms = base_now_ms();
    processes_log_init(&p->log);
    return p;
}

void processes_start_owned(const char *owner, const char *command, char *const *args,
                           char *const *env,
                           void (*done)(int err, const char *id, pid_t pid, void *ud), void *ud) {
    processes_proc *p = processes_new(owner, command);
    while (args && args[p->nargs])
        p->nargs++;
    p->args = base_xcalloc(p->nargs + 1, sizeof(char *));
    for (size_t i = 0; i < p->nargs; i++)
        p->args[i] = base_xstrdup(args[i]);
    p->started_cb = done;
    p->started_ud = ud;
    processes_spawn(p, (char **)env);
}

/* ---- stopping an owner's processes ----------------------------------------------------------- */

/* The one stop in flight. Owner: static; its timer lives as long as the module. */
static struct {
    const char *owner;
    uv_timer_t timer;
    bool timer_init;
    bool killed;
    struct processes_owned_waiter {
        void (*done)(void *ud);
        void *ud;
    } waiters[8];
    size_t nwaiters;
} processes_owned;

static size_t processes_owned_running(const char *owner) {
    size_t n = 0;
    for (size_t i = 0; i < processes_g.nprocs; i++)
        if (processes_g.procs[i]->running && !strcmp(processes_g.procs[i]->owner, owner))
            n++;
    return n;
}

static void processes_owned_signal(const char *owner, int sig) {
    for (size_t i = 0; i < processes_g.nprocs; i++) {
        processes_proc *p = processes_g.procs[i];
        if (!p->running || strcmp(p->owner, owner))
            continue;
        if (p->pty)
            proc_pty_signal(p->pty, sig);
        else
            proc_signal_session(p->pid, sig);
    }
}

/* Called after every exit: finishes the stop once the owner has nothing left running. */
static void processes_owned_check(void) {
    if (!processes_owned.owner || processes_owned_running(processes_owned.owner))
        return;
    uv_timer_stop(&processes_owned.timer);
    size_t n = processes_owned.nwaiters;
    struct processes_owned_waiter w[8];
    memcpy(w, processes_owned.waiters, sizeof w);
    processes_owned.owner = NULL;
    processes_owned.nwaiters = 0;
    for (size_t i = 0; i < n; i++)
        w[i].done(w[i].ud);
}

static void processes_owned_timer_cb(uv_timer_t *t) {
    if (!processes_owned.owner)
        return;
    /* The grace is over: KILL, and give the kernel a moment before looking again. */
    processes_owned_signal(processes_owned.owner, SIGKILL);
    processes_owned.killed = true;
    uv_timer_start(&processes_owned.timer, processes_owned_timer_cb, 1000, 0);
}

void processes_stop_owned(const char *owner, uint64_t grace_ms, void (*done)(void *ud), void *ud) {
    if (!processes_owned_running(owner)) {
        done(ud);
        return;
    }
    BASE_ASSERT(!processes_owned.owner || !strcmp(processes_owned.owner, owner));
    BASE_ASSERT(processes_owned.nwaiters < 8);
    processes_owned.waiters[processes_owned.nwaiters++] = (struct processes_owned_waiter){done, ud};
    if (processes_owned.owner)
        return;
    if (!processes_owned.timer_init) {
        uv_timer_init(processes_g.loop, &processes_owned.timer);
        uv_unref((uv_handle_t *)&processes_owned.timer);
        processes_owned.timer_init = true;
    }
    processes_owned.owner = owner;
    processes_owned.killed = false;
    processes_owned_signal(owner, SIGTERM);
    uv_timer_start(&processes_owned.timer, processes_owned_timer_cb, grace_ms, 0);
}

static void processes_create(http_req *req, void *ud) {
    static const processes_field fields[] = {
        {"command", PROCESSES_F_STR, true, false, NULL, 0},
        {"args", PROCESSES_F_STRV, false, false, NULL, 0},
        {"cwd", PROCESSES_F_STR, false, true, NULL, 0},
        {"env", PROCESSES_F_ENV, false, false, NULL, 0},
        {"interactive", PROCESSES_F_BOOL, false, false, NULL, 0},
        {"tty", PROCESSES_F_BOOL, false, false, NULL, 0},
    };
    json_t *body = processes_command_body(req, fields, sizeof fields / sizeof fields[0]);
    if (!body)
        return;
    const char *command = json_string_value(json_object_get(body, "command"));
    if (processes_running_count() >= processes_g.cfg.max_concurrent) {
        json_decref(body);
        char *msg = base_xasprintf("max concurrent process limit reached (%llu)",
                                   (unsigned long long)processes_g.cfg.max_concurrent);
        processes_problem_conflict(req, msg);
        free(msg);
        return;
    }
    processes_proc *p = processes_new("user", command);
    json_t *args = json_object_get(body, "args");
    p->nargs = json_is_array(args) ? json_array_size(args) : 0;
    p->args = base_xcalloc(p->nargs + 1, sizeof(char *));
    for (size_t i = 0; i < p->nargs; i++)
        p->args[i] = base_xstrdup(json_string_value(json_array_get(args, i)));
    json_t *cwd = json_object_get(body, "cwd");
    p->cwd = json_is_string(cwd) ? base_xstrdup(json_string_value(cwd)) : NULL;
    p->tty = json_is_true(json_object_get(body, "tty"));
    p->interactive = json_is_true(json_object_get(body, "interactive"));
    char **env = processes_child_env(json_object_get(body, "env"));
    json_decref(body);

    p->create_req = req;
    http_req_on_abort(req, processes_create_abort, p);
    processes_spawn(p, env);
    processes_strv_free(env);
}

static int processes_cmp_id(const void *a, const void *b) {
    const processes_proc *x = *(processes_proc *const *)a, *y = *(processes_proc *const *)b;
    return strcmp(x->id, y->id);
}

static void processes_list(http_req *req, void *ud) {
    char *owner = NULL;
    int r = http_query_get(req, "owner", &owner);
    if (r < 0) {
        processes_problem_query(req, "duplicate field `owner`");
        return;
    }
    if (r == 1 && strcmp(owner, "user") != 0 && strcmp(owner, "desktop") != 0 &&
        strcmp(owner, "system") != 0) {
        char *msg = base_xasprintf(
            "unknown variant `%s`, expected one of `user`, `desktop`, `system`", owner);
        processes_problem_query(req, msg);
        free(msg);
        free(owner);
        return;
    }
    /* Quirk Q13 kept: lexicographic by id, so proc_10 sorts before proc_2. */
    processes_proc **sorted = base_xcalloc(processes_g.nprocs + 1, sizeof(processes_proc *));
    if (processes_g.nprocs)
        memcpy(sorted, processes_g.procs, processes_g.nprocs * sizeof(processes_proc *));
    qsort(sorted, processes_g.nprocs, sizeof(processes_proc *), processes_cmp_id);
    json_t *arr = json_array();
    for (size_t i = 0; i < processes_g.nprocs; i++)
        if (!owner || !strcmp(owner, sorted[i]->owner))
            json_array_append_new(arr, processes_info_json(sorted[i]));
    free(sorted);
    free(owner);
    http_reply_json(req, 200, json_pack("{s:o}", "processes", arr));
}

static void processes_get(http_req *req, void *ud) {
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    http_reply_json(req, 200, processes_info_json(p));
}

/* ---- stop, kill ---------------------------------------------------------------------------- */

static void processes_waiter_timer_cb(uv_timer_t *t) {
    processes_waiter_finish(t->data);
}

static void processes_waiter_abort(http_req *req, void *ud) {
    processes_waiter *w = ud;
    w->req = NULL;
    processes_waiter_finish(w);
}

static void processes_signal(http_req *req, int sig) {
    uint64_t wait_ms = PROCESSES_DEFAULT_WAIT_MS;
    char *v = NULL;
    int r = http_query_get(req, "waitMs", &v);
    if (r < 0) {
        processes_problem_query(req, "duplicate field `waitMs`");
        return;
    }
    if (r == 1) {
        const char *why;
        bool ok = processes_parse_u64(v, &wait_ms, &why);
        free(v);
        if (!ok) {
            processes_problem_query(req, why);
            return;
        }
    }
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    if (!p->running) {
        http_reply_json(req, 200, processes_info_json(p));
        return;
    }
    /* Quirk Q16 fixed: the whole session hears it, not just the direct child. */
    LOG_INFO("signalling process", "id=%s pid=%d signal=%d", p->id, (int)p->pid, sig);
    if (p->pty)
        proc_pty_signal(p->pty, sig);
    else
        proc_signal_session(p->pid, sig);
    if (wait_ms == 0) {
        http_reply_json(req, 200, processes_info_json(p));
        return;
    }
    processes_waiter *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->p = p;
    uv_timer_init(processes_g.loop, &w->timer);
    w->timer.data = w;
    w->next = p->waiters;
    if (p->waiters)
        p->waiters->prev = w;
    p->waiters = w;
    http_req_on_abort(req, processes_waiter_abort, w);
    uv_timer_start(&w->timer, processes_waiter_timer_cb, wait_ms, 0);
}

static void processes_stop(http_req *req, void *ud) {
    processes_signal(req, SIGTERM);
}

static void processes_kill(http_req *req, void *ud) {
    processes_signal(req, SIGKILL);
}

/* ---- delete -------------------------------------------------------------------------------- */

static void processes_delete(http_req *req, void *ud) {
    const char *id = http_req_param(req, 0);
    if (processes_shadowed(req, id))
        return;
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    if (p->running) {
        processes_problem_conflict(req, "process is still running; stop or kill it before delete");
        return;
    }
    for (size_t i = 0; i < processes_g.nprocs; i++) {
        if (processes_g.procs[i] == p) {
            memmove(&processes_g.procs[i], &processes_g.procs[i + 1],
                    (processes_g.nprocs - i - 1) * sizeof(processes_proc *));
            processes_g.nprocs--;
            break;
        }
    }
    processes_followers_end(p);
    processes_terms_detach(p);
    processes_proc_free(p);
    http_reply_empty(req, 204);
}

static void processes_get_or_shadow(http_req *req, void *ud) {
    if (processes_shadowed(req, http_req_param(req, 0)))
        return;
    processes_get(req, ud);
}

/* ---- input --------------------------------------------------------------------------------- */

static void processes_input_abort(http_req *req, void *ud) {
    processes_input *in = ud;
    in->req = NULL;
}

static void processes_input_done(int status, void *ud) {
    processes_input *in = ud;
    if (in->req) {
        http_req *req = in->req;
        http_req_on_abort(req, NULL, NULL);
        if (status == 0)
            http_reply_json(req, 200, json_pack("{s:I}", "bytesWritten", (json_int_t)in->len));
        else
            processes_problem_conflict(req, "process is not running");
    }
    free(in);
}

static void processes_input_handler(http_req *req, void *ud) {
    static const processes_field fields[] = {
        {"data", PROCESSES_F_STR, true, false, NULL, 0},
        {"encoding", PROCESSES_F_STR, false, true, NULL, 0},
    };
    json_t *body = processes_checked_body(req, fields, sizeof fields / sizeof fields[0]);
    if (!body)
        return;
    json_t *data = json_object_get(body, "data");
    json_t *enc = json_object_get(body, "encoding");
    base_buf bytes;
    base_buf_init(&bytes);
    char err[512];
    /* Quirk Q15 kept: HTTP input defaults to base64. */
    bool ok = processes_decode_input(json_string_value(data), json_string_length(data),
                                     json_is_string(enc) ? json_string_value(enc) : NULL, true,
                                     &bytes, err, sizeof err);
    json_decref(body);
    if (!ok) {
        base_buf_free(&bytes);
        http_problem_invalid_request(req, "%s", err);
        return;
    }
    if (bytes.len > processes_g.cfg.max_input_bytes) {
        base_buf_free(&bytes);
        char *detail =
            base_xasprintf("invalid request: input payload exceeds maxInputBytesPerRequest (%llu)",
                           (unsigned long long)processes_g.cfg.max_input_bytes);
        http_reply_problem(req, 413, "invalid_request", "Payload Too Large", detail, NULL);
        free(detail);
        return;
    }
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p || !p->running) {
        base_buf_free(&bytes);
        if (!p)
            processes_problem_not_found(req, id);
        else
            processes_problem_conflict(req, "process is not running");
        return;
    }
    if (bytes.len == 0) {
        base_buf_free(&bytes);
        http_reply_json(req, 200, json_pack("{s:i}", "bytesWritten", 0));
        return;
    }
    /* Answered once the bytes are written: a child that does not read applies backpressure. */
    processes_input *in = base_xcalloc(1, sizeof *in);
    in->req = req;
    in->len = bytes.len;
    http_req_on_abort(req, processes_input_abort, in);
    int rc = p->pty ? proc_pty_write(p->pty, bytes.data, bytes.len, processes_input_done, in)
                    : proc_write(p->child, bytes.data, bytes.len, processes_input_done, in);
    base_buf_free(&bytes);
    if (rc != 0)
        processes_input_done(rc, in);
}

/* ---- resize -------------------------------------------------------------------------------- */

static void processes_resize_handler(http_req *req, void *ud) {
    static const processes_field fields[] = {
        {"cols", PROCESSES_F_UINT, true, false, "u16", 65535},
        {"rows", PROCESSES_F_UINT, true, false, "u16", 65535},
    };
    json_t *body = processes_checked_body(req, fields, sizeof fields / sizeof fields[0]);
    if (!body)
        return;
    uint16_t cols = (uint16_t)processes_u64(body, "cols");
    uint16_t rows = (uint16_t)processes_u64(body, "rows");
    json_decref(body);
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    if (!p->tty) {
        processes_problem_conflict(req, "process is not running in tty mode");
        return;
    }
    if (!p->running || !p->pty || proc_pty_resize(p->pty, cols, rows) != 0) {
        processes_problem_conflict(req, "PTY resize handle unavailable");
        return;
    }
    http_reply_json(req, 200, json_pack("{s:i,s:i}", "cols", cols, "rows", rows));
}

/* ---- routes -------------------------------------------------------------------------------- */

void processes_routes(http_server *srv, uv_loop_t *loop) {
    processes_g.loop = loop;
    processes_g.cfg = (processes_config){
        .max_concurrent = 64,
        .default_run_timeout_ms = 30000,
        .max_run_timeout_ms = 300000,
        .max_output_bytes = 1048576,
        .max_log_bytes = 10485760,
        .max_input_bytes = 65536,
    };
    processes_g.next_num = 1;
    processes_g.heartbeat_ms = http_sse_heartbeat_ms();

    const unsigned A = HTTP_ROUTE_AUTH;
    /* Literal routes first: the router takes the first match. */
    http_route(srv, HTTP_M_GET, "/v1/processes/config", A, processes_config_get, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/config", A, processes_config_post, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/run", A, processes_run_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes", A, processes_create, NULL);
    http_route(srv, HTTP_M_GET, "/v1/processes", A, processes_list, NULL);
    http_route(srv, HTTP_M_GET, "/v1/processes/{id}", A, processes_get_or_shadow, NULL);
    http_route(srv, HTTP_M_DELETE, "/v1/processes/{id}", A, processes_delete, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/{id}/stop", A, processes_stop, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/{id}/kill", A, processes_kill, NULL);
    http_route(srv, HTTP_M_GET, "/v1/processes/{id}/logs", A, processes_logs_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/{id}/input", A, processes_input_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/processes/{id}/terminal/resize", A, processes_resize_handler,
               NULL);
    http_route(srv, HTTP_M_GET, "/v1/processes/{id}/terminal/ws", A | HTTP_ROUTE_QUERY_TOKEN,
               processes_terminal_ws_handler, NULL);
}
