/* job.c - a command run to completion: captured output within caps, a time bound, cancel,
 * detach and one completion callback, on top of proc_spawn. The one runner behind
 * POST /v1/processes/run, and meant for installer steps, version probes and desktop helpers
 * (tmux's job_run plays this part there), so that none of them hand-writes its own child
 * state machine again.
 *
 * Every outcome, a failed spawn included, is reported from the loop through the same
 * callback: callers have one path (the spawn itself is asynchronous: proc_spawn's on_start
 * brings the pid or the spawn error). */
#include "proc/proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* One stream's capture. Owner: its job (embedded). */
typedef struct proc_job_capture {
    base_buf buf;
    size_t cap;
    bool truncated;
} proc_job_capture;

/* One job. Owner: the runner; freed when its timer has closed, after done returned (or
 * after the child ended, once detached). The caller's handle is valid until then. */
struct proc_job {
    uv_loop_t *loop;
    proc_child *child; /* NULL once released */
    pid_t pid;         /* 0 until started */
    uv_timer_t timer;  /* the time bound */
    proc_job_done_fn done;
    void *ud;
    proc_job_capture out, err;
    bool keep_tail;
    uint64_t kill_grace_ms;
    uint64_t start_ms;
    int spawn_error;
    int exit_code, term_signal;
    bool timed_out, cancelled;
    bool detached; /* no done any more */
    bool ending;   /* the end is being reported: cancel and detach are no-ops */
};

/* ---- captures ------------------------------------------------------------------------------ */

static void proc_job_keep(proc_job_capture *k, bool tail, const char *data, size_t len) {
    if (!tail) {
        size_t room = k->buf.len < k->cap ? k->cap - k->buf.len : 0;
        size_t take = len < room ? len : room;
        if (take)
            base_buf_append(&k->buf, data, take);
        if (take < len)
            k->truncated = true;
        return;
    }
    if (len >= k->cap) { /* this chunk alone fills the tail */
        if (len > k->cap || k->buf.len)
            k->truncated = true;
        k->buf.len = 0;
        data += len - k->cap;
        len = k->cap;
    }
    if (len)
        base_buf_append(&k->buf, data, len);
    /* Trim in bulk, so that the kept bytes move once per cap bytes, not once per chunk. */
    if (k->buf.len > k->cap && k->buf.len - k->cap > k->cap) {
        base_buf_consume(&k->buf, k->buf.len - k->cap);
        k->truncated = true;
    }
}

/* The capture as the result shows it: the last cap bytes in tail mode, NUL-terminated. */
static const char *proc_job_capture_view(proc_job_capture *k, bool tail, size_t *len) {
    if (tail && k->buf.len > k->cap) {
        base_buf_consume(&k->buf, k->buf.len - k->cap);
        k->truncated = true;
    }
    *len = k->buf.len;
    return k->buf.data ? k->buf.data : "";
}

static void proc_job_on_out(proc_child *c, const char *data, size_t len, void *ud) {
    proc_job *j = ud;
    proc_job_keep(&j->out, j->keep_tail, data, len);
}

static void proc_job_on_err(proc_child *c, const char *data, size_t len, void *ud) {
    proc_job *j = ud;
    proc_job_keep(&j->err, j->keep_tail, data, len);
}

/* ---- the end ------------------------------------------------------------------------------- */

static void proc_job_closed(uv_handle_t *h) {
    proc_job *j = h->data;
    base_buf_free(&j->out.buf);
    base_buf_free(&j->err.buf);
    free(j);
}

static void proc_job_free(proc_job *j) {
    proc_release(j->child);
    j->child = NULL;
    /* At teardown the loop's owner may have closed every handle already. */
    if (!uv_is_closing((uv_handle_t *)&j->timer))
        uv_close((uv_handle_t *)&j->timer, proc_job_closed);
}

static void proc_job_finish(proc_job *j) {
    j->ending = true;
    uv_timer_stop(&j->timer);
    if (!j->detached && j->done) {
        proc_job_result r = {
            .spawn_error = j->spawn_error,
            .pid = j->pid,
            .exit_code = j->exit_code,
            .term_signal = j->term_signal,
            .timed_out = j->timed_out,
            .cancelled = j->cancelled,
            .duration_ms = base_mono_ms() - j->start_ms,
        };
        r.out = proc_job_capture_view(&j->out, j->keep_tail, &r.out_len);
        r.err = proc_job_capture_view(&j->err, j->keep_tail, &r.err_len);
        r.out_truncated = j->out.truncated;
        r.err_truncated = j->err.truncated;
        j->done(&r, j->ud);
    }
    proc_job_free(j);
}

static void proc_job_on_exit(proc_child *c, int code, int sig, void *ud) {
    proc_job *j = ud;
    /* The group died with its leader (proc.c); other groups of the session go now. */
    proc_signal_session(j->pid, SIGKILL);
    j->exit_code = code;
    j->term_signal = sig;
    proc_job_finish(j);
}

static void proc_job_stop(proc_job *j);

static void proc_job_on_start(proc_child *c, int err, void *ud) {
    proc_job *j = ud;
    if (err) {
        j->spawn_error = err;
        proc_job_finish(j);
        return;
    }
    j->pid = proc_pid(c);
    if (j->cancelled || j->timed_out) /* asked while it was starting */
        proc_job_stop(j);
}

static const proc_callbacks proc_job_cb = {
    .on_stdout = proc_job_on_out,
    .on_stderr = proc_job_on_err,
    .on_exit = proc_job_on_exit,
    .on_start = proc_job_on_start,
};

/* Stop the child per kill_grace_ms (once started: on_start calls again). */
static void proc_job_stop(proc_job *j) {
    if (!j->child || !j->pid)
        return;
    if (j->kill_grace_ms == 0 || proc_exited(j->child))
        proc_signal_session(j->pid, SIGKILL); /* reaped: a grandchild holds the pipes */
    else
        proc_terminate(j->child, 0, j->kill_grace_ms);
}

static void proc_job_timeout_cb(uv_timer_t *t) {
    proc_job *j = t->data;
    j->timed_out = true;
    LOG_INFO("child job timed out", "pid=%d", (int)j->pid);
    proc_job_stop(j);
}

/* ---- stdin --------------------------------------------------------------------------------- */

static void proc_job_input_done(int status, void *ud) {
    proc_job *j = ud;
    /* Never after proc_release (proc.h), so the child is still ours. */
    proc_close_stdin(j->child);
}

/* ---- API ----------------------------------------------------------------------------------- */

proc_job *proc_job_run(uv_loop_t *loop, const proc_job_opts *o, proc_job_done_fn done, void *ud) {
    proc_job *j = base_xcalloc(1, sizeof *j);
    j->loop = loop;
    j->done = done;
    j->ud = ud;
    j->keep_tail = o->keep_tail;
    j->kill_grace_ms = o->kill_grace_ms;
    j->start_ms = base_mono_ms();
    j->exit_code = -1;
    base_buf_init(&j->out.buf);
    base_buf_init(&j->err.buf);
    j->out.cap = o->out_cap;
    j->err.cap = o->err_cap;
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    proc_spawn_opts so = {
        .file = o->file ? o->file : o->args[0],
        .args = o->args,
        .env = o->env,
        .cwd = o->cwd,
        .die_with_server = true,
        .merge_stderr = o->merge_output,
    };
    j->child = proc_spawn(loop, &so, &proc_job_cb, j);
    /* Held until the child runs, then written; stdin closes after it. */
    if (o->input && o->input_len) {
        if (proc_write(j->child, o->input, o->input_len, proc_job_input_done, j) != 0)
            proc_close_stdin(j->child);
    } else {
        proc_close_stdin(j->child);
    }
    if (o->timeout_ms)
        uv_timer_start(&j->timer, proc_job_timeout_cb, o->timeout_ms, 0);
    return j;
}

pid_t proc_job_pid(const proc_job *j) {
    return j->pid;
}

void proc_job_cancel(proc_job *j) {
    if (!j || j->ending || j->cancelled)
        return;
    j->cancelled = true;
    proc_job_stop(j);
}

void proc_job_detach(proc_job *j) {
    if (!j || j->ending)
        return;
    j->detached = true; /* a failed start or the child's end frees it, without done */
}
