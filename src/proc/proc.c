/* proc.c - children on three pipes in their own session and process group: draining their
 * output, ordered exit notification, group kill; the central SIGCHLD reaper; the registry
 * used at shutdown; walks of our process subtree (orphans, session members).
 *
 * Starting: proc_spawn creates the pipes and the libuv handles on the loop at once, and the
 * spawner thread (spawner.c) forks and execs; until its outcome arrives the child is
 * "starting" (pid 0): writes are held, a terminate or release is remembered, and shutdown
 * counts it and stops it on arrival.
 *
 * Reaping: every child of the server comes from proc_spawn (exec.c) or proc_pty_spawn
 * (forkpty), none from libuv, so one SIGCHLD watcher may reap with waitpid(-1): each
 * status goes to the proc_child or PTY child with that pid, and an unknown pid is an orphan
 * that re-parented to us (we are a child subreaper) and is simply reaped, or a child whose
 * start the loop has not heard of yet (spawner.c keeps its status). Nothing else in the
 * server may fork and wait for its own child: its status would be taken here. */
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "proc/internal.h"

/* After the child is reaped we give its pipes this long to reach EOF; past it, something
 * else (a grandchild) holds them, and the group is killed. */
#define PROC_DRAIN_GRACE_MS 1000

/* One child. Owner: the caller until proc_release, then itself; freed when every handle
 * (three pipes, timer) has closed and the owner released it. */
struct proc_child {
    uv_loop_t *loop;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    int open_handles;
    pid_t pid;
    proc_callbacks cb;
    void *ud;
    proc_wqueue writes;
    bool starting; /* submitted to the spawner, outcome not reported yet (pid 0) */
    bool listed;   /* in the registry (counted in proc_nlive) */
    bool released;
    bool merged; /* stderr shares the stdout pipe: err was never opened */
    bool reaped;
    bool out_eof, err_eof;
    bool out_paused; /* proc_pause_stdout: its stdout is not read meanwhile */
    bool in_closed;
    bool exit_reported;
    int exit_code;
    int term_signal;
    int term_stage; /* 0 none, 1 waiting after stdin close, 2 waiting after TERM */
    uint64_t term_grace_ms;
    /* proc_terminate (or proc_release) while starting: applied once started. */
    bool term_deferred;
    uint64_t def_stdin_ms, def_term_ms;
    struct proc_child *next, *prev; /* registry of children not yet reported exited */
};

static proc_child *proc_live;
static uv_signal_t proc_sigchld;
static bool proc_sigchld_on;
static bool proc_shutdown_begun;        /* proc_shutdown_all ran: spawns are refused */
static uint64_t proc_shutdown_grace_ms; /* its grace, for children whose start was in flight */
/* Children (pipe or PTY) not reaped yet. While there are any, the SIGCHLD watcher keeps the
 * loop alive, as libuv's process handle did: their pipes may reach EOF before the exit is seen. */
static size_t proc_unreaped;
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
    if (!c->listed)
        return;
    c->listed = false;
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
    if (!c->merged)
        proc_close_handle(c, (uv_handle_t *)&c->err);
    proc_close_handle(c, (uv_handle_t *)&c->timer);
    /* Writes the child never took fail now, so that their owners hear before on_exit. */
    proc_wqueue_fail_all(&c->writes, UV_ECANCELED);
    if (!c->released && c->cb.on_exit)
        c->cb.on_exit(c, c->exit_code, c->term_signal, c->ud);
    /* After on_exit, whose owner may have killed the rest of the session. */
    proc_sentinel_track(c->pid, false);
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
    if (c->reaped && c->out_paused) {
        /* Output we chose not to read yet is not a pipe held open: wait for the resume. */
        uv_timer_start(&c->timer, proc_timer_cb, PROC_DRAIN_GRACE_MS, 0);
        return;
    }
    if (c->reaped) {
        /* Pipes still open after the drain grace: kill holders and stop waiting. */
        kill(-c->pid, SIGKILL);
        if (!c->out_eof)
            uv_read_stop((uv_stream_t *)&c->out);
        if (!c->err_eof && !c->merged)
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

static void proc_unreaped_add(int delta) {
    proc_unreaped = (size_t)((ptrdiff_t)proc_unreaped + delta);
    if (!proc_sigchld_on)
        return;
    if (proc_unreaped)
        uv_ref((uv_handle_t *)&proc_sigchld);
    else
        uv_unref((uv_handle_t *)&proc_sigchld);
}

/* The reaper took its status. */
static void proc_child_reaped(proc_child *c, int status) {
    c->reaped = true;
    if (WIFSIGNALED(status)) {
        c->exit_code = -1;
        c->term_signal = WTERMSIG(status);
    } else {
        c->exit_code = WEXITSTATUS(status);
        c->term_signal = 0;
    }
    uv_timer_stop(&c->timer);
    if (!(c->out_eof && c->err_eof))
        uv_timer_start(&c->timer, proc_timer_cb, PROC_DRAIN_GRACE_MS, 0);
    proc_maybe_finish(c);
}

/* Returns false when the fd cannot be watched (closed then; not expected for a pipe). */
static bool proc_pipe_wrap(uv_pipe_t *p, int fd) {
    int r = uv_pipe_open(p, fd);
    if (r == 0)
        return true;
    LOG_WARN("cannot watch child pipe", "error=%s", uv_err_name(r));
    close(fd);
    return false;
}

/* Stop a started child for proc_shutdown_all: TERM now and KILL after grace_ms, or KILL. */
static void proc_child_stop(proc_child *c, uint64_t grace_ms) {
    proc_close_stdin(c);
    if (grace_ms == 0) {
        c->term_stage = 3;
        kill(-c->pid, SIGKILL);
        return;
    }
    c->term_stage = 2;
    c->term_grace_ms = grace_ms;
    kill(-c->pid, SIGTERM);
    uv_timer_start(&c->timer, proc_timer_cb, grace_ms, 0);
}

static void proc_start_failed(proc_child *c, int err) {
    c->reaped = c->exit_reported = true;
    c->out_eof = c->err_eof = c->in_closed = true;
    c->exit_code = -1;
    if (!c->released && c->cb.on_start)
        c->cb.on_start(c, err, c->ud);
    /* After on_start: an owner that released the child there hears of nothing more. */
    proc_wqueue_fail_all(&c->writes, UV_ECANCELED);
    proc_close_handle(c, (uv_handle_t *)&c->in);
    proc_close_handle(c, (uv_handle_t *)&c->out);
    if (!c->merged)
        proc_close_handle(c, (uv_handle_t *)&c->err);
    proc_close_handle(c, (uv_handle_t *)&c->timer);
    proc_registry_remove(c); /* last: this may complete a shutdown */
}

/* The spawner's outcome, on the loop. */
static void proc_started(proc_spawn_req *r) {
    proc_child *c = r->owner;
    c->starting = false;
    if (r->err) {
        proc_start_failed(c, r->err);
        return;
    }
    c->pid = r->pid;
    /* Our ends, made by the spawner: watched from now on (the child's output waits in the
     * pipes meanwhile, and its ends are already closed here, so EOF means it is done). */
    if (!proc_pipe_wrap(&c->in, r->ours[0]))
        c->in_closed = true; /* else a close asked for while starting follows the writes */
    c->out_eof = !proc_pipe_wrap(&c->out, r->ours[1]);
    if (!c->merged)
        c->err_eof = !proc_pipe_wrap(&c->err, r->ours[2]);
    proc_unreaped_add(1);
    if (!c->out_eof && !c->out_paused &&
        uv_read_start((uv_stream_t *)&c->out, proc_alloc, proc_out_cb) != 0)
        c->out_eof = true; /* an output that cannot be read counts as drained */
    if (!c->err_eof && uv_read_start((uv_stream_t *)&c->err, proc_alloc, proc_err_cb) != 0)
        c->err_eof = true;
    if (!c->released && c->cb.on_start)
        c->cb.on_start(c, 0, c->ud);
    /* Writes made while starting go out now, in order, and only then a requested close. */
    if (!c->released && !c->exit_reported)
        proc_wqueue_flush(&c->writes, (uv_stream_t *)&c->in);
    if (c->in_closed)
        proc_close_handle(c, (uv_handle_t *)&c->in);
    if (c->reaped || c->term_stage)
        return;              /* the owner stopped it in on_start already */
    if (proc_shutdown_begun) /* requested before shutdown, started after: it goes too */
        proc_child_stop(c, proc_shutdown_grace_ms);
    else if (c->term_deferred)
        proc_terminate(c, c->def_stdin_ms, c->def_term_ms);
}

proc_child *proc_spawn(uv_loop_t *loop, const proc_spawn_opts *o, const proc_callbacks *cb,
                       void *ud) {
    proc_child *c = base_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->cb = *cb;
    c->ud = ud;
    c->starting = true;
    c->merged = o->merge_stderr;
    uv_pipe_init(loop, &c->in, 0);
    uv_pipe_init(loop, &c->out, 0);
    if (!c->merged)
        uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->timer);
    c->in.data = c->out.data = c->err.data = c->timer.data = c;
    c->open_handles = c->merged ? 3 : 4;
    c->err_eof = c->merged;
    proc_spawn_req *r = proc_spawner_req_new(o->file, o->args, o->env, o->cwd);
    r->die_with_server = o->die_with_server;
    r->done = proc_started;
    r->owner = c;
    r->npipes = c->merged ? 2 : 3;
    /* Shutdown signals the children it knows once; a later one would never be asked. */
    if (proc_shutdown_begun) {
        r->err = UV_ECANCELED;
        proc_spawner_submit(loop, r);
        return c;
    }
    proc_reaper_ensure(loop);
    c->next = proc_live;
    if (proc_live)
        proc_live->prev = c;
    proc_live = c;
    c->listed = true;
    proc_nlive++;
    proc_spawner_submit(loop, r);
    return c;
}

pid_t proc_pid(const proc_child *c) {
    return c->pid;
}

bool proc_exited(const proc_child *c) {
    return c->reaped;
}

int proc_write(proc_child *c, const char *data, size_t len, void (*done)(int, void *), void *ud) {
    if (c->in_closed || c->exit_reported || c->reaped || c->released)
        return UV_EPIPE;
    if (c->starting) {
        proc_wqueue_hold(&c->writes, data, len, done, ud);
        return 0;
    }
    return proc_wqueue_write(&c->writes, (uv_stream_t *)&c->in, data, len, done, ud);
}

void proc_pause_stdout(proc_child *c, bool pause) {
    if (c->out_paused == pause)
        return;
    c->out_paused = pause;
    if (!c->pid || c->out_eof) /* not started yet (the start honours the flag), or drained */
        return;
    if (pause)
        uv_read_stop((uv_stream_t *)&c->out);
    else if (uv_read_start((uv_stream_t *)&c->out, proc_alloc, proc_out_cb) != 0) {
        c->out_eof = true;
        proc_maybe_finish(c);
    }
}

void proc_close_stdin(proc_child *c) {
    if (c->in_closed)
        return;
    c->in_closed = true;
    if (!c->starting) /* else after the held writes, once started */
        proc_close_handle(c, (uv_handle_t *)&c->in);
}

void proc_signal_group(proc_child *c, int sig) {
    if (!c->exit_reported && c->pid > 0)
        kill(-c->pid, sig);
}

void proc_terminate(proc_child *c, uint64_t stdin_grace_ms, uint64_t term_grace_ms) {
    if (c->reaped || c->term_stage)
        return;
    if (c->starting) {
        if (!c->term_deferred) {
            c->term_deferred = true;
            c->def_stdin_ms = stdin_grace_ms;
            c->def_term_ms = term_grace_ms;
        }
        proc_close_stdin(c);
        return;
    }
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
    proc_wqueue_drop_all(&c->writes);
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
    proc_nlive++;         /* (the spawner told the sentinel) */
    proc_unreaped_add(1); /* until the reaper hands its status to pty.c */
}

void proc_forget_pid(pid_t pid) {
    for (size_t i = 0; i < proc_nadopted; i++) {
        if (proc_adopted[i] == pid) {
            proc_sentinel_track(pid, false);
            proc_adopted[i] = proc_adopted[--proc_nadopted];
            proc_count_down();
            return;
        }
    }
}

void proc_live_hold(void) {
    proc_nlive++;
}

void proc_live_release(void) {
    proc_count_down();
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
    proc_shutdown_begun = true;
    proc_shutdown_grace_ms = grace_ms;
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
    for (proc_child *c = proc_live; c; c = c->next)
        if (!c->reaped && !c->starting) /* a starting one is stopped once started */
            proc_child_stop(c, grace_ms);
    proc_adopted_shutdown(loop, grace_ms);
}

bool proc_stopping(void) {
    return proc_shutdown_begun;
}

size_t proc_live_count(void) {
    return proc_nlive;
}

/* ---- our process subtree ------------------------------------------------------------------ */

static bool proc_is_ours(pid_t pid) {
    for (proc_child *c = proc_live; c; c = c->next)
        if (c->pid == pid)
            return true;
    for (size_t i = 0; i < proc_nadopted; i++)
        if (proc_adopted[i] == pid)
            return true;
    return false;
}

/* Calls fn for every child of pid (of each of its threads: a child belongs to the thread
 * that forked it, and orphans re-parent to some thread of their reaper). */
/* fn for every pid listed in a /proc/.../children file (none when it cannot be read). */
static void proc_each_listed(const char *path, void (*fn)(pid_t pid, void *ud), void *ud) {
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long child;
    while (fscanf(f, "%ld", &child) == 1)
        fn((pid_t)child, ud);
    fclose(f);
}

static void proc_each_child_of(pid_t pid, void (*fn)(pid_t pid, void *ud), void *ud) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        proc_each_listed(cpath, fn, ud);
    }
    closedir(d);
}

/* Our own children, without listing /proc/self/task: children belong to the thread that
 * forked them, the spawner thread (nothing else forks children; the sentinel's launcher
 * is waited for where it is forked), and orphans re-parent to the first live thread of
 * their reaper, our main thread. Two small reads instead of one per thread of the pool. */
static void proc_each_own_child(void (*fn)(pid_t pid, void *ud), void *ud) {
    pid_t self = getpid();
    pid_t tids[2] = {self, proc_spawner_tid()};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && (tids[1] <= 0 || tids[1] == self))
            break;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)self, (int)tids[i]);
        proc_each_listed(path, fn, ud);
    }
}

typedef struct proc_orphan_walk {
    void (*fn)(pid_t pid, void *ud);
    void *ud;
} proc_orphan_walk;

static void proc_orphan_visit(pid_t pid, void *ud) {
    proc_orphan_walk *w = ud;
    if (!proc_is_ours(pid))
        w->fn(pid, w->ud);
}

/* Calls fn for every direct child that no proc_child or PTY child owns: descendants of our
 * children that outlived their parent and re-parented to us. */
static void proc_each_orphan(void (*fn)(pid_t pid, void *ud), void *ud) {
    proc_orphan_walk w = {fn, ud};
    proc_each_own_child(proc_orphan_visit, &w);
}

static void proc_signal_one(pid_t pid, void *ud) {
    kill(pid, *(int *)ud);
}

/* ---- session-wide signals -------------------------------------------------------------- */

/* The session id of pid from /proc/pid/stat, or -1. */
static pid_t proc_session_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses. */
    char *rp = strrchr(buf, ')');
    int ppid, pgrp, session;
    char state;
    if (!rp || sscanf(rp + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4)
        return -1;
    return (pid_t)session;
}

typedef struct proc_session_walk {
    pid_t sid;
    int sig;
    int depth;
} proc_session_walk;

/* Post-order: children are listed before their parent dies and re-parents them. */
static void proc_session_visit(pid_t pid, void *ud) {
    proc_session_walk *w = ud;
    if (w->depth < 64) {
        w->depth++;
        proc_each_child_of(pid, proc_session_visit, w);
        w->depth--;
    }
    if (proc_session_of(pid) == w->sid)
        kill(pid, w->sig);
}

static void proc_session_root(pid_t pid, void *ud) {
    proc_session_walk *w = ud;
    if (pid == w->sid || !proc_is_ours(pid))
        proc_session_visit(pid, ud);
}

/* Every member of the session descends from its leader, our child: while the leader lives
 * they are in its subtree; once it died they re-parented (directly or through their own
 * parents) to us, the subreaper, as children nobody owns. So only those two subtrees are
 * walked, not all of /proc: other owned children lead sessions of their own. */
void proc_signal_session(pid_t sid, int sig) {
    if (sid <= 0)
        return;
    kill(-sid, sig);
    proc_session_walk w = {sid, sig, 0};
    proc_each_own_child(proc_session_root, &w);
}

/* ---- the reaper ------------------------------------------------------------------------------ */

void proc_reaper_dispatch(pid_t pid, int status) {
    for (proc_child *c = proc_live; c; c = c->next) {
        if (c->pid == pid && !c->reaped) {
            proc_unreaped_add(-1);
            proc_child_reaped(c, status);
            return;
        }
    }
    if (proc_pty_reaped_pid(pid, status)) {
        proc_unreaped_add(-1);
        return;
    }
    if (proc_spawner_early_exit(pid, status))
        return;
    LOG_DEBUG("reaped orphaned descendant", "pid=%d", (int)pid);
}

/* SIGCHLD coalesces: reap until nothing is left. */
static void proc_reap_all(void) {
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        proc_reaper_dispatch(pid, st);
    }
}

static void proc_sigchld_cb(uv_signal_t *h, int sig) {
    proc_reap_all();
}

void proc_reaper_ensure(uv_loop_t *loop) {
    if (proc_sigchld_on)
        return;
    uv_signal_init(loop, &proc_sigchld);
    uv_signal_start(&proc_sigchld, proc_sigchld_cb, SIGCHLD);
    proc_sigchld_on = true;
    proc_unreaped_add(0); /* unref'd while no child waits to be reaped */
    /* A child that died before the watcher existed sent its SIGCHLD to nobody. */
    proc_reap_all();
}

void proc_init(uv_loop_t *loop) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    proc_shutdown_begun = false;
    proc_reaper_ensure(loop);
}

void proc_fini(void) {
    proc_spawner_fini();
    if (!proc_sigchld_on)
        return;
    /* Whatever still runs outside our groups dies with the server. */
    int sig = SIGKILL;
    proc_each_orphan(proc_signal_one, &sig);
    proc_reap_all();
    proc_sigchld_on = false;
    uv_close((uv_handle_t *)&proc_sigchld, NULL);
    for (size_t i = 0; i < proc_nadopted; i++)
        kill(-proc_adopted[i], SIGKILL);
    if (proc_adopted_timer && !uv_is_closing((uv_handle_t *)proc_adopted_timer))
        uv_close((uv_handle_t *)proc_adopted_timer, proc_free_handle_cb);
    proc_adopted_timer = NULL;
}
