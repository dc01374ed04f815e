/* run.c - POST /v1/processes/run: run a command to completion and answer with its exit code
 * and captured output.
 *
 * Output beyond the cap is drained and discarded (the child never blocks on a full pipe).
 * The timeout kills the child's whole session (quirk Q16 fixed), so the reply does not
 * wait for a background grandchild the way the reference does. A client that leaves does
 * not stop the run: it ends by itself or at its timeout, and the result is dropped. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "processes/internal.h"

/* One run in flight. Owner: itself; freed when the child has reported its exit and the
 * timer has closed. */
typedef struct processes_run {
    http_req *req; /* NULL once the client left */
    proc_child *child;
    pid_t pid;
    base_buf out, err;
    uint64_t cap; /* bytes kept per stream */
    bool out_trunc, err_trunc;
    bool timed_out;
    uint64_t start_ms; /* monotonic */
    uv_timer_t timer;
} processes_run;

static void processes_run_closed(uv_handle_t *h) {
    processes_run *r = h->data;
    base_buf_free(&r->out);
    base_buf_free(&r->err);
    free(r);
}

static void processes_run_keep(processes_run *r, base_buf *b, bool *trunc, const char *data,
                               size_t len) {
    size_t room = b->len < r->cap ? (size_t)(r->cap - b->len) : 0;
    size_t take = len < room ? len : room;
    if (take)
        base_buf_append(b, data, take);
    if (take < len)
        *trunc = true;
}

static void processes_run_out(proc_child *c, const char *data, size_t len, void *ud) {
    processes_run *r = ud;
    processes_run_keep(r, &r->out, &r->out_trunc, data, len);
}

static void processes_run_err(proc_child *c, const char *data, size_t len, void *ud) {
    processes_run *r = ud;
    processes_run_keep(r, &r->err, &r->err_trunc, data, len);
}

static json_t *processes_run_text(const base_buf *b) {
    size_t n;
    char *s = processes_utf8_lossy(b->data ? b->data : "", b->len, &n);
    json_t *v = json_stringn(s, n);
    free(s);
    return v;
}

static void processes_run_exit(proc_child *c, int code, int sig, void *ud) {
    processes_run *r = ud;
    uv_timer_stop(&r->timer);
    /* What the child left behind in its session goes with it. */
    proc_signal_session(r->pid, SIGKILL);
    if (r->req) {
        http_req *req = r->req;
        r->req = NULL;
        http_req_on_abort(req, NULL, NULL);
        json_t *o = json_object();
        bool has_code = !r->timed_out && sig == 0 && code >= 0;
        json_object_set_new(o, "exitCode", has_code ? json_integer(code) : json_null());
        json_object_set_new(o, "timedOut", json_boolean(r->timed_out));
        json_object_set_new(o, "stdout", processes_run_text(&r->out));
        json_object_set_new(o, "stderr", processes_run_text(&r->err));
        json_object_set_new(o, "stdoutTruncated", json_boolean(r->out_trunc));
        json_object_set_new(o, "stderrTruncated", json_boolean(r->err_trunc));
        json_object_set_new(o, "durationMs",
                            json_integer((json_int_t)(base_mono_ms() - r->start_ms)));
        http_reply_json(req, 200, o);
    }
    proc_release(r->child);
    r->child = NULL;
    uv_close((uv_handle_t *)&r->timer, processes_run_closed);
}

static const proc_callbacks processes_run_cb = {
    .on_stdout = processes_run_out,
    .on_stderr = processes_run_err,
    .on_exit = processes_run_exit,
};

static void processes_run_timeout(uv_timer_t *t) {
    processes_run *r = t->data;
    r->timed_out = true;
    LOG_INFO("process run timed out", "pid=%d", (int)r->pid);
    proc_signal_session(r->pid, SIGKILL);
}

static void processes_run_abort(http_req *req, void *ud) {
    processes_run *r = ud;
    r->req = NULL;
}

void processes_run_handler(http_req *req, void *ud) {
    static const processes_field fields[] = {
        {"command", PROCESSES_F_STR, true, false, NULL, 0},
        {"args", PROCESSES_F_STRV, false, false, NULL, 0},
        {"cwd", PROCESSES_F_STR, false, true, NULL, 0},
        {"env", PROCESSES_F_ENV, false, false, NULL, 0},
        {"timeoutMs", PROCESSES_F_UINT, false, true, "u64", 0},
        {"maxOutputBytes", PROCESSES_F_UINT, false, true, "usize", 0},
    };
    json_t *body = processes_command_body(req, fields, sizeof fields / sizeof fields[0]);
    if (!body)
        return;
    const char *command = json_string_value(json_object_get(body, "command"));
    const processes_config *cfg = &processes_g.cfg;
    json_t *tv = json_object_get(body, "timeoutMs");
    uint64_t timeout = json_is_integer(tv) ? (uint64_t)json_integer_value(tv) : 0;
    if (timeout == 0)
        timeout = cfg->default_run_timeout_ms;
    if (timeout > cfg->max_run_timeout_ms)
        timeout = cfg->max_run_timeout_ms;
    json_t *mv = json_object_get(body, "maxOutputBytes");
    uint64_t cap = json_is_integer(mv) ? (uint64_t)json_integer_value(mv) : cfg->max_output_bytes;
    if (cap > cfg->max_output_bytes)
        cap = cfg->max_output_bytes;

    json_t *args = json_object_get(body, "args");
    size_t nargs = json_is_array(args) ? json_array_size(args) : 0;
    char **argv = base_xcalloc(nargs + 2, sizeof(char *));
    argv[0] = (char *)command;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)json_string_value(json_array_get(args, i));
    json_t *cwdv = json_object_get(body, "cwd");
    const char *cwd = json_is_string(cwdv) ? json_string_value(cwdv) : NULL;
    char **env = processes_child_env(json_object_get(body, "env"));

    processes_run *r = base_xcalloc(1, sizeof *r);
    base_buf_init(&r->out);
    base_buf_init(&r->err);
    r->cap = cap;
    r->req = req;
    r->start_ms = base_mono_ms();
    /* A missing command, a bad cwd etc. come back from the spawn itself. */
    int rc = 0;
    proc_spawn_opts o = {
        .file = command, .args = argv, .env = env, .cwd = cwd, .die_with_server = true};
    r->child = proc_spawn(processes_g.loop, &o, &processes_run_cb, r, &rc);
    free(argv);
    processes_strv_free(env);
    json_decref(body);
    if (!r->child) {
        processes_problem_spawn(req, "process", rc);
        base_buf_free(&r->out);
        base_buf_free(&r->err);
        free(r);
        return;
    }
    r->pid = proc_pid(r->child);
    /* stdin is empty: the child reads EOF at once. */
    proc_close_stdin(r->child);
    uv_timer_init(processes_g.loop, &r->timer);
    r->timer.data = r;
    http_req_on_abort(req, processes_run_abort, r);
    uv_timer_start(&r->timer, processes_run_timeout, timeout, 0);
}
