/* pty.c - children on a pseudo-terminal: forkpty, exec with errno reporting, output from
 * the master through a libuv pipe, resize, session-wide signals.
 *
 * Why forkpty and not exec.c's clone: the child needs the PTY as controlling terminal,
 * which forkpty sets up; TTY processes are rare enough for a real fork. The fork runs on
 * the spawner thread (spawner.c), which waits for the exec as it does for pipe children:
 * the loop only hears the outcome. The child side after the fork is exec.c's (signals,
 * PDEATHSIG, chdir, PATH search). The central reaper in proc.c reaps our children and
 * hands their status to proc_pty_reaped_pid; they are registered with proc_adopt_pid so
 * that shutdown reaches them. */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/base.h"
#include "proc/internal.h"

/* After the child is reaped the master gets this long to report EIO (all slave fds closed);
 * past it, a grandchild holds the slave, and the session is killed. Same as proc.c. */
#define PROC_PTY_DRAIN_GRACE_MS 1000
#define PROC_PTY_READ_CHUNK 65536

/* One PTY child. Owner: the caller until proc_pty_release, then itself; freed once the
 * owner released it, on_exit was reported and both handles (master pipe, timer) closed. */
struct proc_pty {
    uv_loop_t *loop;
    uv_pipe_t master; /* owns the master fd once opened */
    uv_timer_t timer; /* drain grace */
    int open_handles;
    int master_fd;
    pid_t pid;
    proc_pty_callbacks cb;
    void *ud;
    proc_wqueue writes;
    bool starting; /* submitted to the spawner, outcome not reported yet (pid 0) */
    bool held;     /* counted live by proc_live_hold while starting */
    bool released;
    bool reaped;
    bool eof;
    bool exit_reported;
    int exit_code;
    int term_signal;
    struct proc_pty *next, *prev; /* live list: children not yet reported exited */
};

static proc_pty *proc_pty_live;

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void proc_pty_unlink(proc_pty *p) {
    if (p->prev)
        p->prev->next = p->next;
    else if (proc_pty_live == p)
        proc_pty_live = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

static void proc_pty_handle_closed(uv_handle_t *h) {
    proc_pty *p = h->data;
    if (--p->open_handles == 0 && p->released)
        free(p);
}

static void proc_pty_close_handle(proc_pty *p, uv_handle_t *h) {
    if (!uv_is_closing(h))
        uv_close(h, proc_pty_handle_closed);
}

static void proc_pty_maybe_finish(proc_pty *p) {
    if (p->exit_reported || !p->reaped || !p->eof)
        return;
    p->exit_reported = true;
    uv_timer_stop(&p->timer);
    /* The leader is gone: whatever is left in its session is an orphan we own. */
    proc_signal_session(p->pid, SIGKILL);
    proc_pty_close_handle(p, (uv_handle_t *)&p->master);
    proc_pty_close_handle(p, (uv_handle_t *)&p->timer);
    proc_pty_unlink(p);
    pid_t pid = p->pid;
    /* Writes the child never took fail now, so that their owners hear before on_exit. */
    proc_wqueue_fail_all(&p->writes, UV_ECANCELED);
    if (!p->released && p->cb.on_exit)
        p->cb.on_exit(p, p->exit_code, p->term_signal, p->ud);
    /* Last: this may complete a shutdown that is waiting for every child. */
    proc_forget_pid(pid);
}

static void proc_pty_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    b->base = base_xmalloc(PROC_PTY_READ_CHUNK);
    b->len = PROC_PTY_READ_CHUNK;
}

static void proc_pty_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    proc_pty *p = s->data;
    if (n > 0 && !p->released && p->cb.on_output)
        p->cb.on_output(p, b->base, (size_t)n, p->ud);
    free(b->base);
    if (n < 0) {
        /* Linux reports EIO once every slave fd is closed: that is the end of output. */
        if (n != UV_EIO && n != UV_EOF)
            LOG_DEBUG("pty read failed", "pid=%d error=%s", (int)p->pid, uv_err_name((int)n));
        uv_read_stop(s);
        p->eof = true;
        proc_pty_maybe_finish(p);
    }
}

static void proc_pty_timer_cb(uv_timer_t *t) {
    proc_pty *p = t->data;
    /* The slave is still open after the drain grace: kill the holders and stop waiting. */
    proc_signal_session(p->pid, SIGKILL);
    if (!p->eof) {
        uv_read_stop((uv_stream_t *)&p->master);
        p->eof = true;
    }
    proc_pty_maybe_finish(p);
}

static void proc_pty_reaped(proc_pty *p, int status) {
    p->reaped = true;
    if (WIFSIGNALED(status)) {
        p->exit_code = -1;
        p->term_signal = WTERMSIG(status);
    } else {
        p->exit_code = WEXITSTATUS(status);
        p->term_signal = 0;
    }
    if (!p->eof)
        uv_timer_start(&p->timer, proc_pty_timer_cb, PROC_PTY_DRAIN_GRACE_MS, 0);
    proc_pty_maybe_finish(p);
}

bool proc_pty_reaped_pid(pid_t pid, int status) {
    for (proc_pty *p = proc_pty_live; p; p = p->next) {
        if (p->pid == pid && !p->reaped) {
            proc_pty_reaped(p, status);
            return true;
        }
    }
    return false;
}

/* ---- spawn -------------------------------------------------------------------------------- */

/* forkpty with every signal blocked across the fork: a handler of ours must never run in
 * the child. Returns the pid (0 in the child) or -1 with errno. */
static pid_t proc_pty_fork(int *master, struct winsize *ws) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = forkpty(master, NULL, NULL, ws);
    if (pid != 0) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
    }
    return pid;
}

/* On the spawner thread: fork on a new PTY and exec. */
void proc_pty_start(proc_spawn_req *r) {
    int errpipe[2];
    int rc = proc_exec_pipe(errpipe);
    if (rc < 0) {
        r->err = rc;
        return;
    }
    proc_exec_plan plan;
    proc_exec_plan_init(&plan, r->file, r->argv, r->env, r->cwd);
    plan.new_session = false; /* forkpty's login_tty already made it a session leader */
    plan.die_with_server = r->die_with_server;
    plan.err_fd = errpipe[1];
    plan.parent = getpid();
    struct winsize ws = {.ws_row = r->rows, .ws_col = r->cols};
    int master = -1;
    pid_t pid = proc_pty_fork(&master, &ws);
    if (pid == 0) {
        proc_exec_child(&plan);
        _exit(127);
    }
    int fork_errno = errno;
    proc_exec_plan_free(&plan);
    close(errpipe[1]);
    if (pid < 0) {
        close(errpipe[0]);
        r->err = -fork_errno;
        return;
    }
    /* Future children must not inherit the master. */
    fcntl(master, F_SETFD, FD_CLOEXEC);
    /* Blocks (this thread only) until the child has exec'd (EOF) or failed (errno). */
    int child_errno = 0;
    ssize_t n;
    do
        n = read(errpipe[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof child_errno) {
        /* Reaped here, unless the loop's reaper took it first (then as an unknown pid). */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        close(master);
        r->err = -child_errno;
        return;
    }
    r->pid = pid;
    r->master = master;
}

/* The spawner's outcome, on the loop. */
static void proc_pty_started(proc_spawn_req *r) {
    proc_pty *p = r->owner;
    p->starting = false;
    if (r->err) {
        p->reaped = p->eof = p->exit_reported = true;
        p->exit_code = -1;
        if (!p->released && p->cb.on_start)
            p->cb.on_start(p, r->err, p->ud);
        proc_wqueue_fail_all(&p->writes, UV_ECANCELED);
        proc_pty_close_handle(p, (uv_handle_t *)&p->master);
        proc_pty_close_handle(p, (uv_handle_t *)&p->timer);
        if (p->held)
            proc_live_release(); /* last: this may complete a shutdown */
        return;
    }
    pid_t pid = r->pid;
    p->pid = pid;
    p->master_fd = r->master;
    proc_adopt_pid(pid);
    p->next = proc_pty_live;
    if (proc_pty_live)
        proc_pty_live->prev = p;
    proc_pty_live = p;
    proc_live_release(); /* adopted: counted there now */
    int rc = uv_pipe_open(&p->master, p->master_fd);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&p->master, proc_pty_alloc, proc_pty_read_cb);
    if (rc != 0) {
        /* Cannot read the terminal: the child is useless. It is reaped as usual. */
        LOG_WARN("cannot read pty master", "pid=%d error=%s", (int)pid, uv_err_name(rc));
        p->eof = true;
        kill(-pid, SIGKILL);
    }
    if (!p->released && p->cb.on_start)
        p->cb.on_start(p, 0, p->ud);
    if (!p->released && !p->exit_reported)
        proc_wqueue_flush(&p->writes, (uv_stream_t *)&p->master);
    /* Released while starting, or requested before a shutdown that began meanwhile. */
    if (!p->exit_reported && (p->released || proc_stopping()))
        proc_signal_session(pid, SIGKILL);
}

proc_pty *proc_pty_spawn(uv_loop_t *loop, const proc_pty_opts *o, const proc_pty_callbacks *cb,
                         void *ud) {
    proc_pty *p = base_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->cb = *cb;
    p->ud = ud;
    p->master_fd = -1;
    p->starting = true;
    uv_pipe_init(loop, &p->master, 0);
    uv_timer_init(loop, &p->timer);
    p->master.data = p->timer.data = p;
    p->open_handles = 2;
    proc_spawn_req *r = proc_spawner_req_new(o->file, o->args, o->env, o->cwd);
    r->pty = true;
    r->cols = o->cols;
    r->rows = o->rows;
    r->die_with_server = o->die_with_server;
    r->done = proc_pty_started;
    r->owner = p;
    if (proc_stopping()) {
        r->err = UV_ECANCELED;
    } else {
        proc_reaper_ensure(loop);
        proc_live_hold();
        p->held = true;
    }
    proc_spawner_submit(loop, r);
    return p;
}

pid_t proc_pty_pid(const proc_pty *p) {
    return p->pid;
}

bool proc_pty_exited(const proc_pty *p) {
    return p->exit_reported;
}

int proc_pty_write(proc_pty *p, const char *data, size_t len, void (*done)(int, void *), void *ud) {
    if (p->exit_reported || p->reaped || p->released)
        return UV_EPIPE;
    if (p->starting) {
        proc_wqueue_hold(&p->writes, data, len, done, ud);
        return 0;
    }
    return proc_wqueue_write(&p->writes, (uv_stream_t *)&p->master, data, len, done, ud);
}

int proc_pty_resize(proc_pty *p, uint16_t cols, uint16_t rows) {
    if (p->exit_reported || p->master_fd < 0)
        return UV_EBADF;
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    return ioctl(p->master_fd, TIOCSWINSZ, &ws) == 0 ? 0 : -errno;
}

void proc_pty_signal(proc_pty *p, int sig) {
    if (!p->exit_reported)
        proc_signal_session(p->pid, sig);
}

void proc_pty_release(proc_pty *p) {
    if (!p)
        return;
    p->released = true;
    proc_wqueue_drop_all(&p->writes);
    if (!p->exit_reported)
        proc_signal_session(p->pid, SIGKILL);
    else if (p->open_handles == 0)
        free(p);
}
