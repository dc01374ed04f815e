/* proc.c - spawning children in their own process group, draining their output, ordered
 * exit notification, group kill, and the registry used at shutdown. */
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

/* After the child is reaped we give its pipes this long to reach EOF; past it, something
 * else (a grandchild) holds them, and the group is killed. */
#define PROC_DRAIN_GRACE_MS 1000

/* One child. Owner: the caller until proc_release, then itself; freed when every handle
 * (process, three pipes, timer) has closed and the owner released it. */
struct proc_child {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    int open_handles;
    pid_t pid;
    proc_callbacks cb;
    void *ud;
    bool released;
    bool reaped;
    bool out_eof, err_eof;
    bool in_closed;
    bool exit_reported;
    int exit_code;
    int term_signal;
    int term_stage; /* 0 none, 1 waiting after stdin close, 2 waiting after TERM */
    uint64_t term_grace_ms;
    struct proc_child *next, *prev; /* registry of children not yet reported exited */
};

typedef struct proc_write_req {
    uv_write_t w;
    void (*done)(int, void *);
    void *ud;
    char data[];
} proc_write_req;

static proc_child *proc_live;
static uv_signal_t proc_sigchld;
static bool proc_sigchld_on;
static size_t proc_nlive;
static void (*proc_all_done)(void *);
static void *proc_all_ud;

/* Pids adopted from pty.c (see proc_adopt_pid); counted in proc_nlive. */
static pid_t *proc_adopted;
static size_t proc_nadopted, proc_capadopted;
static uv_timer_t *proc_adopted_timer; /* KILL stage of a graceful shutdown; closed in proc_fini */

static void proc_each_orphan(void (*fn)(pid_t pid, void *ud), void *ud);
static void proc_signal_one(pid_t pid, void *ud);

static void proc_count_down(void) {
    proc_nlive--;
    if (proc_nlive == 0 && proc_all_done) {
        void (*done)(void *) = proc_all_done;
        proc_all_done = NULL;
        done(proc_all_ud);
    }
}

static void proc_registry_remove(proc_child *c) {
    if (c->prev)
        c->prev->next = c->next;
    else if (proc_live == c)
        proc_live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    proc_count_down();
}

static void proc_handle_closed(uv_handle_t *h) {
    proc_child *c = h->data;
    if (--c->open_handles == 0 && c->released)
        free(c);
}

static void proc_close_handle(proc_child *c, uv_handle_t *h) {
    if (!uv_is_closing(h))
        uv_close(h, proc_handle_closed);
}

static void proc_maybe_finish(proc_child *c) {
    if (c->exit_reported || !c->reaped || !(c->out_eof && c->err_eof))
        return;
    c->exit_reported = true;
    uv_timer_stop(&c->timer);
    /* The leader is gone: anything left in its group is an orphan we own. */
    kill(-c->pid, SIGKILL);
    proc_close_handle(c, (uv_handle_t *)&c->in);
    proc_close_handle(c, (uv_handle_t *)&c->out);
    proc_close_handle(c, (uv_handle_t *)&c->err);
    proc_close_handle(c, (uv_handle_t *)&c->timer);
    proc_close_handle(c, (uv_handle_t *)&c->proc);
    if (!c->released && c->cb.on_exit)
        c->cb.on_exit(c, c->exit_code, c->term_signal, c->ud);
    proc_registry_remove(c);
}

static void proc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    b->base = base_xmalloc(65536);
    b->len = 65536;
}

static void proc_on_read(proc_child *c, uv_stream_t *s, ssize_t n, const uv_buf_t *b, bool is_out) {
    if (n > 0 && !c->released) {
        if (is_out && c->cb.on_stdout)
            c->cb.on_stdout(c, b->base, (size_t)n, c->ud);
        else if (!is_out && c->cb.on_stderr)
            c->cb.on_stderr(c, b->base, (size_t)n, c->ud);
    }
    free(b->base);
    if (n < 0) {
        uv_read_stop(s);
        if (is_out)
            c->out_eof = true;
        else
            c->err_eof = true;
        proc_maybe_finish(c);
    }
}

static void proc_out_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    proc_on_read(s->data, s, n, b, true);
}

static void proc_err_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    proc_on_read(s->data, s, n, b, false);
}

static void proc_timer_cb(uv_timer_t *t) {
    proc_child *c = t->data;
    if (c->reaped) {
        /* Pipes still open after the drain grace: kill holders and stop waiting. */
        kill(-c->pid, SIGKILL);
        if (!c->out_eof)
            uv_read_stop((uv_stream_t *)&c->out);
        if (!c->err_eof)
            uv_read_stop((uv_stream_t *)&c->err);
        c->out_eof = c->err_eof = true;
        proc_maybe_finish(c);
        return;
    }
    if (c->term_stage == 1) {
        c->term_stage = 2;
        kill(-c->pid, SIGTERM);
        uv_timer_start(&c->timer, proc_timer_cb, c->term_grace_ms, 0);
    } else if (c->term_stage == 2) {
        c->term_stage = 3;
        kill(-c->pid, SIGKILL);
    }
}

static void proc_exit_cb(uv_process_t *p, int64_t status, int sig) {
    proc_child *c = p->data;
    c->reaped = true;
    c->exit_code = sig ? -1 : (int)status;
    c->term_signal = sig;
    uv_timer_stop(&c->timer);
    if (!(c->out_eof && c->err_eof))
        uv_timer_start(&c->timer, proc_timer_cb, PROC_DRAIN_GRACE_MS, 0);
    proc_maybe_finish(c);
}

proc_child *proc_spawn(uv_loop_t *loop, const proc_spawn_opts *o, const proc_callbacks *cb,
                       void *ud, int *err) {
    proc_child *c = base_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->cb = *cb;
    c->ud = ud;
    uv_pipe_init(loop, &c->in, 0);
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->timer);
    c->in.data = c->out.data = c->err.data = c->timer.data = c->proc.data = c;
    c->open_handles = 4;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&c->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
    };
    /* Prepend the guard: <self> exec-guard <file> <args...>. */
    char **args = o->args;
    const char *file = o->file;
    char **guarded = NULL;
    if (o->die_with_server) {
        size_t n = 0;
        while (o->args[n])
            n++;
        guarded = base_xcalloc(n + 4, sizeof(char *));
        guarded[0] = (char *)base_self_exe();
        guarded[1] = "exec-guard";
        guarded[2] = (char *)o->file;
        for (size_t i = 1; i <= n; i++)
            guarded[2 + i] = o->args[i];
        args = guarded;
        /* The forked child's /proc/self/exe is the running binary's inode, even if the file
         * on disk was replaced (rebuilt, upgraded) since the server started. */
        file = "/proc/self/exe";
    }
    uv_process_options_t po = {
        .exit_cb = proc_exit_cb,
        .file = file,
        .args = args,
        .env = o->env,
        .cwd = o->cwd,
        /* DETACHED = setsid(): a new session and process group led by the child. */
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int r = uv_spawn(loop, &c->proc, &po);
    free(guarded);
    if (r != 0) {
        *err = r;
        c->released = true;
        c->open_handles++;
        /* uv_spawn leaves the process handle initialised on failure: close it as well. */
        proc_close_handle(c, (uv_handle_t *)&c->proc);
        proc_close_handle(c, (uv_handle_t *)&c->in);
        proc_close_handle(c, (uv_handle_t *)&c->out);
        proc_close_handle(c, (uv_handle_t *)&c->err);
        proc_close_handle(c, (uv_handle_t *)&c->timer);
        return NULL;
    }
    c->open_handles++;
    c->pid = c->proc.pid;
    uv_read_start((uv_stream_t *)&c->out, proc_alloc, proc_out_cb);
    uv_read_start((uv_stream_t *)&c->err, proc_alloc, proc_err_cb);
    c->next = proc_live;
    if (proc_live)
        proc_live->prev = c;
    proc_live = c;
    proc_nlive++;
    return c;
}

pid_t proc_pid(const proc_child *c) {
    return c->pid;
}

bool proc_exited(const proc_child *c) {
    return c->reaped;
}

static void proc_write_cb(uv_write_t *w, int status) {
    proc_write_req *r = (proc_write_req *)w;
    if (r->done)
        r->done(status, r->ud);
    free(r);
}

int proc_write(proc_child *c, const char *data, size_t len, void (*done)(int, void *), void *ud) {
    if (c->in_closed || c->exit_reported)
        return UV_EPIPE;
    if (c->reaped)
        return UV_EPIPE;
    proc_write_req *r = base_xmalloc(sizeof *r + len);
    memcpy(r->data, data, len);
    r->done = done;
    r->ud = ud;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    int rc = uv_write(&r->w, (uv_stream_t *)&c->in, &b, 1, proc_write_cb);
    if (rc != 0) {
        free(r);
        return rc;
    }
    return 0;
}

void proc_close_stdin(proc_child *c) {
    if (c->in_closed)
        return;
    c->in_closed = true;
    proc_close_handle(c, (uv_handle_t *)&c->in);
}

void proc_signal_group(proc_child *c, int sig) {
    if (!c->exit_reported && c->pid > 0)
        kill(-c->pid, sig);
}

void proc_terminate(proc_child *c, uint64_t stdin_grace_ms, uint64_t term_grace_ms) {
    if (c->reaped || c->term_stage)
        return;
    proc_close_stdin(c);
    c->term_grace_ms = term_grace_ms;
    if (stdin_grace_ms == 0) {
        c->term_stage = 2;
        kill(-c->pid, SIGTERM);
        uv_timer_start(&c->timer, proc_timer_cb, term_grace_ms, 0);
        return;
    }
    c->term_stage = 1;
    uv_timer_start(&c->timer, proc_timer_cb, stdin_grace_ms, 0);
}

void proc_release(proc_child *c) {
    if (!c)
        return;
    c->released = true;
    if (!c->exit_reported)
        proc_terminate(c, 0, 2000);
    else if (c->open_handles == 0)
        free(c);
}

/* ---- adopted children ------------------------------------------------------------------- */

void proc_adopt_pid(pid_t pid) {
    if (proc_nadopted == proc_capadopted) {
        proc_capadopted = proc_capadopted ? 2 * proc_capadopted : 8;
        proc_adopted = base_xrealloc(proc_adopted, proc_capadopted * sizeof(pid_t));
    }
    proc_adopted[proc_nadopted++] = pid;
    proc_nlive++;
}

void proc_forget_pid(pid_t pid) {
    for (size_t i = 0; i < proc_nadopted; i++) {
        if (proc_adopted[i] == pid) {
            proc_adopted[i] = proc_adopted[--proc_nadopted];
            proc_count_down();
            return;
        }
    }
}

static void proc_adopted_kill_cb(uv_timer_t *t) {
    for (size_t i = 0; i < proc_nadopted; i++)
        kill(-proc_adopted[i], SIGKILL);
}

/* Their owner reaps them and calls proc_forget_pid, which completes the shutdown count. */
static void proc_adopted_shutdown(uv_loop_t *loop, uint64_t grace_ms) {
    for (size_t i = 0; i < proc_nadopted; i++)
        kill(-proc_adopted[i], grace_ms ? SIGTERM : SIGKILL);
    if (!grace_ms || !proc_nadopted)
        return;
    if (!proc_adopted_timer) {
        proc_adopted_timer = base_xmalloc(sizeof *proc_adopted_timer);
        uv_timer_init(loop, proc_adopted_timer);
    }
    uv_timer_start(proc_adopted_timer, proc_adopted_kill_cb, grace_ms, 0);
}

static void proc_free_handle_cb(uv_handle_t *h) {
    free(h);
}

void proc_shutdown_all(uv_loop_t *loop, uint64_t grace_ms, void (*done)(void *), void *ud) {
    int sig = grace_ms ? SIGTERM : SIGKILL;
    proc_each_orphan(proc_signal_one, &sig);
    if (proc_nlive == 0) {
        if (done)
            done(ud);
        return;
    }
    if (done) {
        proc_all_done = done;
        proc_all_ud = ud;
    }
    for (proc_child *c = proc_live; c; c = c->next) {
        if (c->reaped)
            continue;
        proc_close_stdin(c);
        if (grace_ms == 0) {
            c->term_stage = 3;
            kill(-c->pid, SIGKILL);
            continue;
        }
        c->term_stage = 2;
        c->term_grace_ms = grace_ms;
        kill(-c->pid, SIGTERM);
        uv_timer_start(&c->timer, proc_timer_cb, grace_ms, 0);
    }
    proc_adopted_shutdown(loop, grace_ms);
}

size_t proc_live_count(void) {
    return proc_nlive;
}

/* ---- orphans ------------------------------------------------------------------------------ */

static bool proc_is_ours(pid_t pid) {
    for (proc_child *c = proc_live; c; c = c->next)
        if (c->pid == pid)
            return true;
    for (size_t i = 0; i < proc_nadopted; i++)
        if (proc_adopted[i] == pid)
            return true;
    return false;
}

/* Calls fn for every direct child that libuv does not manage (re-parented orphans). */
static void proc_each_orphan(void (*fn)(pid_t pid, void *ud), void *ud) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
            if (!proc_is_ours((pid_t)pid))
                fn((pid_t)pid, ud);
        fclose(f);
    }
    closedir(d);
}

static void proc_reap_one(pid_t pid, void *ud) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        LOG_DEBUG("reaped orphaned descendant", "pid=%d", (int)pid);
}

static void proc_sigchld_cb(uv_signal_t *h, int sig) {
    proc_each_orphan(proc_reap_one, NULL);
}

static void proc_signal_one(pid_t pid, void *ud) {
    kill(pid, *(int *)ud);
}

void proc_init(uv_loop_t *loop) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    uv_signal_init(loop, &proc_sigchld);
    uv_signal_start(&proc_sigchld, proc_sigchld_cb, SIGCHLD);
    uv_unref((uv_handle_t *)&proc_sigchld);
    proc_sigchld_on = true;
}

void proc_fini(void) {
    if (!proc_sigchld_on)
        return;
    /* Whatever still runs outside our groups dies with the server. */
    int sig = SIGKILL;
    proc_each_orphan(proc_signal_one, &sig);
    proc_each_orphan(proc_reap_one, NULL);
    proc_sigchld_on = false;
    uv_close((uv_handle_t *)&proc_sigchld, NULL);
    for (size_t i = 0; i < proc_nadopted; i++)
        kill(-proc_adopted[i], SIGKILL);
    if (proc_adopted_timer && !uv_is_closing((uv_handle_t *)proc_adopted_timer))
        uv_close((uv_handle_t *)proc_adopted_timer, proc_free_handle_cb);
    proc_adopted_timer = NULL;
}

int proc_exec_guard_main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: sandbox-agent exec-guard FILE [ARGS...]\n");
        return 2;
    }
    /* The parent may already be gone between fork and here: then do not start at all. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent || parent == 1)
        return 127;
    execvp(argv[1], argv + 1);
    fprintf(stderr, "sandbox-agent: cannot execute %s: %s\n", argv[1], strerror(errno));
    return 127;
}
