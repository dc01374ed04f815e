/* install_run.c - the install job object (install_job.h): its agent's queue, its timer,
 * running one child step at a time with a time bound, failure cleanup, and the end of a
 * job. This is the installer's one child-process call site (agents_install_run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/install_job.h"
#include "agents/layout.h"

#define INSTALL_KEEP_BYTES 65536 /* output kept per step; older bytes are dropped */
#define INSTALL_TAIL_BYTES 4096  /* output reported with a failure */
#define INSTALL_TAIL_LINES 40
#define INSTALL_CLEANUP_MS 120000
#define INSTALL_TERM_GRACE_MS 2000 /* TERM, then KILL after this */

/* Jobs per agent, the running one first. */
static agents_install_job *agents_install_queue[AGENTS_COUNT];

uint64_t agents_install_step_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_TIMEOUT_MS", 600000, 100, INT32_MAX);
}

uint64_t agents_install_verify_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_VERIFY_TIMEOUT_MS", 60000, 100, INT32_MAX);
}

bool agents_install_interrupted(agents_install_job *job) {
    if (!job->cancelled)
        return false;
    agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
    return true;
}

void agents_install_progress(agents_install_job *job, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    LOG_INFO("agent install step", "agent=%s step=\"%s\"", job->id, msg);
    if (!job->detached && job->progress)
        job->progress(job->id, msg, job->ud);
    free(msg);
}

char *agents_install_tail(const base_buf *out) {
    size_t len = out->len;
    const char *s = out->data ? out->data : "";
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    size_t start = len > INSTALL_TAIL_BYTES ? len - INSTALL_TAIL_BYTES : 0;
    int lines = 0;
    for (size_t i = len; i > start; i--) {
        if (s[i - 1] == '\n' && ++lines >= INSTALL_TAIL_LINES) {
            start = i;
            break;
        }
    }
    base_buf b;
    base_buf_init(&b);
    for (size_t i = start; i < len;) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xC0)
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + n <= len && base_utf8_valid(s + i, n)) {
            base_buf_append(&b, s + i, n);
            i += n;
        } else {
            base_buf_append(&b, c == '\t' ? "\t" : "?", 1);
            i++;
        }
    }
    base_buf_append(&b, "", 0);
    char *r = base_buf_steal(&b, NULL);
    return r ? r : base_xstrdup("");
}

/* ---- running children ---- */

static void agents_install_child_out(proc_child *c, const char *data, size_t len, void *ud) {
    agents_install_job *job = ud;
    base_buf_append(&job->out, data, len);
    if (job->out.len > 2 * INSTALL_KEEP_BYTES)
        base_buf_consume(&job->out, job->out.len - INSTALL_KEEP_BYTES);
}

static void agents_install_child_exit(proc_child *c, int code, int sig, void *ud) {
    agents_install_job *job = ud;
    uv_timer_stop(&job->timer);
    proc_release(job->child);
    job->child = NULL;
    if (job->cancelled && !job->reason) {
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        return;
    }
    job->after_child(job, code, sig);
}

static void agents_install_child_start(proc_child *c, int err, void *ud) {
    agents_install_job *job = ud;
    char *cmd = job->child_cmd;
    job->child_cmd = NULL;
    if (err) {
        uv_timer_stop(&job->timer);
        proc_release(job->child);
        job->child = NULL;
        agents_install_fail(
            job, base_xasprintf("%s: cannot start %s: %s", job->what, cmd, uv_strerror(err)));
    }
    free(cmd);
}

static const proc_callbacks agents_install_child_cb = {
    .on_stdout = agents_install_child_out,
    .on_stderr = agents_install_child_out,
    .on_exit = agents_install_child_exit,
    .on_start = agents_install_child_start,
};

void agents_install_stop_step(agents_install_job *job) {
    /* The whole process group: npm spawns its own children. */
    if (job->state == AGENTS_INSTALL_CHILD && job->child)
        proc_terminate(job->child, 0, INSTALL_TERM_GRACE_MS);
    else if (job->state == AGENTS_INSTALL_UNPACK && job->unpack_cancel)
        atomic_store(job->unpack_cancel, true);
}

static void agents_install_timer_cb(uv_timer_t *t) {
    agents_install_job *job = t->data;
    switch (job->state) {
    case AGENTS_INSTALL_QUEUED:
        job->started = true;
        job->wake(job);
        break;
    case AGENTS_INSTALL_LOCK:
        job->wake(job);
        break;
    case AGENTS_INSTALL_CHILD:
        job->timed_out = true;
        agents_install_stop_step(job);
        break;
    case AGENTS_INSTALL_UNPACK:
        agents_install_stop_step(job);
        break;
    default:
        break;
    }
}

void agents_install_arm(agents_install_job *job, uint64_t ms) {
    uv_timer_start(&job->timer, agents_install_timer_cb, ms, 0);
}

void agents_install_run(agents_install_job *job, char **argv, const char *cwd, uint64_t timeout_ms,
                        void (*then)(agents_install_job *, int, int)) {
    if (uv_is_closing((uv_handle_t *)&job->timer)) {
        /* The loop's owner closed every handle (the server is exiting): a child started
         * now would have no time bound. */
        agents_install_fail(job, base_xstrdup("the server is shutting down"));
        return;
    }
    job->out.len = 0;
    job->timed_out = false;
    job->step_ms = timeout_ms;
    job->after_child = then;
    job->state = AGENTS_INSTALL_CHILD;
    proc_spawn_opts o = {
        .file = argv[0], .args = argv, .env = NULL, .cwd = cwd, .die_with_server = true};
    free(job->child_cmd);
    job->child_cmd = base_xstrdup(argv[0]);
    job->child = proc_spawn(job->loop, &o, &agents_install_child_cb, job);
    /* Nothing is ever typed into an installer: a prompt must fail, not wait. */
    proc_close_stdin(job->child);
    uv_timer_start(&job->timer, agents_install_timer_cb, timeout_ms, 0);
}

char *agents_install_exit_text(agents_install_job *job, int code, int sig) {
    if (job->timed_out)
        return base_xasprintf("did not finish within %.1f s and was stopped",
                              (double)job->step_ms / 1000.0);
    if (sig)
        return base_xasprintf("was killed by signal %d", sig);
    return base_xasprintf("exited with status %d", code);
}

void agents_install_remove(agents_install_job *job, char **paths,
                           void (*then)(agents_install_job *, int, int)) {
    char **argv = NULL;
    agents_strv_push(&argv, "rm");
    agents_strv_push(&argv, "-rf");
    agents_strv_push(&argv, "--");
    for (char **p = paths; *p; p++)
        agents_strv_push(&argv, *p);
    free(job->what);
    job->what = base_xstrdup("removing temporary files");
    agents_install_run(job, argv, NULL, INSTALL_CLEANUP_MS, then);
    agents_strv_free(argv);
}

void agents_install_download(agents_install_job *job, const char *url, const char *file,
                             void (*then)(agents_install_job *, int, int)) {
    char **argv = NULL;
    char *curl = agents_which("curl");
    char *wget = curl ? NULL : agents_which("wget");
    char secs[32];
    snprintf(secs, sizeof secs, "%.1f", (double)agents_install_step_ms() / 1000.0);
    if (curl) {
        const char *a[] = {"curl", "-fsSL", "--connect-timeout", "20", "--max-time", secs, "-o",
                           file,   url};
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
            agents_strv_push(&argv, a[i]);
    } else if (wget) {
        const char *a[] = {"wget", "-q", "--tries=1", "--timeout=20", "-O", file, url};
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
            agents_strv_push(&argv, a[i]);
    }
    free(curl);
    free(wget);
    if (!argv) {
        agents_install_fail(job, base_xasprintf("downloading %s needs curl or wget on PATH", url));
        return;
    }
    free(job->what);
    job->what = base_xasprintf("download of %s", url);
    agents_install_progress(job, "downloading %s", url);
    agents_install_run(job, argv, NULL, agents_install_step_ms(), then);
    agents_strv_free(argv);
}

/* ---- the end of a job ---- */

static void agents_install_release_lock(agents_install_job *job) {
    if (job->lock_fd >= 0) {
        flock(job->lock_fd, LOCK_UN);
        close(job->lock_fd);
        job->lock_fd = -1;
    }
}

static void agents_install_timer_closed(uv_handle_t *h) {
    agents_install_job *job = h->data;
    base_buf_free(&job->out);
    agents_recipe_free(&job->r);
    json_decref(job->artifacts);
    free(job->id);
    free(job->agent_version);
    free(job->process_version);
    free(job->ap);
    free(job->bin);
    free(job->tmp);
    free(job->child_cmd);
    free(job->dl);
    free(job->regfile);
    free(job->old);
    free(job->what);
    free(job->exe_rel);
    free(job->deb_dir);
    free(job->reason);
    free(job->tail);
    free(job);
}

/* Take the job out of its queue and let the next one start. */
static void agents_install_dequeue(agents_install_job *job) {
    BASE_ASSERT(job->idx >= 0 && job->idx < AGENTS_COUNT);
    agents_install_job **pp = &agents_install_queue[job->idx];
    bool was_head = *pp == job;
    while (*pp && *pp != job)
        pp = &(*pp)->next;
    if (*pp)
        *pp = job->next;
    job->next = NULL;
    agents_install_job *head = agents_install_queue[job->idx];
    if (was_head && head && !head->started)
        agents_install_arm(head, 0);
}

static void agents_install_finish(agents_install_job *job) {
    agents_install_release_lock(job);
    /* Closed by the loop's owner at exit: our close callback will never run, so the job
     * stays in its queue (still reachable) for the last moments of the process. */
    bool torn_down = uv_is_closing((uv_handle_t *)&job->timer);
    if (!torn_down)
        agents_install_dequeue(job);
    job->state = AGENTS_INSTALL_CLOSING;
    if (!job->detached && job->done) {
        agents_install_result res = {
            .ok = job->reason == NULL,
            .already_installed = job->already,
            .artifacts = job->artifacts ? job->artifacts : json_array(),
            .reason = job->reason,
            .output = job->tail ? job->tail : "",
        };
        if (!job->artifacts)
            job->artifacts = res.artifacts;
        job->done(&res, job->ud);
    }
    if (!torn_down)
        uv_close((uv_handle_t *)&job->timer, agents_install_timer_closed);
}

static void agents_install_after_fail_cleanup(agents_install_job *job, int code, int sig) {
    agents_install_finish(job);
}

void agents_install_fail(agents_install_job *job, char *reason) {
    if (job->reason) { /* a cleanup after a failure failed too: keep the first reason */
        free(reason);
        agents_install_finish(job);
        return;
    }
    job->reason = reason;
    job->tail = agents_install_tail(&job->out);
    LOG_WARN("agent install failed", "agent=%s reason=\"%s\"", job->id, reason);
    char *paths[4];
    size_t n = 0;
    struct stat st;
    if (job->tmp && lstat(job->tmp, &st) == 0)
        paths[n++] = job->tmp;
    if (job->dl && lstat(job->dl, &st) == 0)
        paths[n++] = job->dl;
    if (job->regfile && lstat(job->regfile, &st) == 0)
        paths[n++] = job->regfile;
    paths[n] = NULL;
    if (n == 0) {
        agents_install_finish(job);
        return;
    }
    agents_install_remove(job, paths, agents_install_after_fail_cleanup);
}

void agents_install_succeed(agents_install_job *job) {
    LOG_INFO("agent install finished", "agent=%s already_installed=%s", job->id,
             job->already ? "true" : "false");
    agents_install_finish(job);
}

void agents_install_enqueue(agents_install_job *job) {
    BASE_ASSERT(job->idx >= 0 && job->idx < AGENTS_COUNT);
    agents_install_job **pp = &agents_install_queue[job->idx];
    while (*pp)
        pp = &(*pp)->next;
    *pp = job;
    if (agents_install_queue[job->idx] == job)
        agents_install_arm(job, 0);
    else
        LOG_INFO("agent install queued behind another", "agent=%s", job->id);
}

void agents_install_discard(agents_install_job *job) {
    uv_timer_stop(&job->timer);
    agents_install_dequeue(job);
    job->state = AGENTS_INSTALL_CLOSING;
    uv_close((uv_handle_t *)&job->timer, agents_install_timer_closed);
}
