/* run.c - POST /v1/processes/run: run a command to completion and answer with its exit code
 * and captured output, on the module-wide job runner (proc_job, proc.h).
 *
 * Output beyond the cap is drained and discarded (the child never blocks on a full pipe).
 * The timeout kills the child's whole session (quirk Q16 fixed), so the reply does not
 * wait for a background grandchild the way the reference does. A client that leaves does
 * not stop the run: the job is detached, ends by itself or at its timeout, and its result
 * is dropped. */
#include <stdlib.h>

#include "processes/internal.h"

static json_t *processes_run_text(const char *s, size_t len) {
    size_t n;
    char *t = processes_utf8_lossy(s, len, &n);
    json_t *v = json_stringn(t, n);
    free(t);
    return v;
}

static void processes_run_done(const proc_job_result *r, void *ud) {
    http_req *req = ud;
    http_req_on_abort(req, NULL, NULL);
    /* A missing command, a bad cwd etc. come back from the spawn itself. */
    if (r->spawn_error) {
        processes_problem_spawn(req, "process", r->spawn_error);
        return;
    }
    json_t *o = json_object();
    bool has_code = !r->timed_out && r->term_signal == 0 && r->exit_code >= 0;
    json_object_set_new(o, "exitCode", has_code ? json_integer(r->exit_code) : json_null());
    json_object_set_new(o, "timedOut", json_boolean(r->timed_out));
    json_object_set_new(o, "stdout", processes_run_text(r->out, r->out_len));
    json_object_set_new(o, "stderr", processes_run_text(r->err, r->err_len));
    json_object_set_new(o, "stdoutTruncated", json_boolean(r->out_truncated));
    json_object_set_new(o, "stderrTruncated", json_boolean(r->err_truncated));
    json_object_set_new(o, "durationMs", json_integer((json_int_t)r->duration_ms));
    http_reply_json(req, 200, o);
}

/* The client left: the run goes on to its end or timeout, unseen. */
static void processes_run_abort(http_req *req, void *ud) {
    proc_job_detach(ud);
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

    /* stdin is empty: the child reads EOF at once. */
    proc_job_opts o = {
        .file = command,
        .args = argv,
        .env = env,
        .cwd = cwd,
        .timeout_ms = timeout,
        .kill_grace_ms = 0,
        .out_cap = (size_t)cap,
        .err_cap = (size_t)cap,
    };
    proc_job *job = proc_job_run(processes_g.loop, &o, processes_run_done, req);
    free(argv);
    processes_strv_free(env);
    json_decref(body);
    http_req_on_abort(req, processes_run_abort, job);
}
