/* proc.h - child processes, each in its own session and process group; proc_job runs one
 * to completion with captured output and a time bound.
 *
 * Guarantees callers can build on:
 *  - a spawn never blocks the loop: the fork and exec happen on the spawner thread, and
 *    on_start reports the outcome exactly once, from the loop, before any other callback;
 *  - every byte a child wrote to stdout/stderr is delivered before on_exit;
 *  - on_exit fires exactly once, after the child was reaped and its pipes drained (or after
 *    a short grace if a grandchild holds them open, in which case the group is killed);
 *  - signals go to the whole process group, so grandchildren die with their parent;
 *  - proc_shutdown_all reaches every live child (TERM, grace, KILL); once it ran, new
 *    spawns are refused with UV_ECANCELED, so no child can slip past it;
 *  - with die_with_server, a child is SIGKILLed by the kernel if the server dies without a
 *    chance to clean up (SIGKILL, OOM).
 *
 * Call everything here from the loop thread (the one that runs proc_init's loop): the
 * registry, the reaper and the callbacks live there. The children themselves are forked by
 * one long-lived spawner thread (spawner.c), which lives as long as the server, because the
 * death signal follows the thread that forked. */
#ifndef PROC_H
#define PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

typedef struct proc_child proc_child;

typedef struct proc_callbacks {
    /* Raw output chunks (only after on_start(0)). */
    void (*on_stdout)(proc_child *c, const char *data, size_t len, void *ud);
    void (*on_stderr)(proc_child *c, const char *data, size_t len, void *ud);
    /* exit_code is -1 when killed by a signal (term_signal then says which). */
    void (*on_exit)(proc_child *c, int exit_code, int term_signal, void *ud);
    /* The start's outcome, exactly once, first: 0 (running; proc_pid is known now) or a
     * negative errno (see proc_spawn). After an error nothing else follows, no on_exit. */
    void (*on_start)(proc_child *c, int err, void *ud);
} proc_callbacks;

typedef struct proc_spawn_opts {
    const char *file; /* executable (PATH is searched when it has no slash) */
    char **args;      /* argv, NULL-terminated, args[0] included */
    char **env;       /* NULL = inherit */
    const char *cwd;  /* NULL = inherit */
    /* PR_SET_PDEATHSIG(SIGKILL) in the child: the kernel kills it if the server dies. */
    bool die_with_server;
    /* stderr goes into the stdout pipe (2>&1): one stream in the order the child wrote it,
     * delivered through on_stdout; on_stderr is never called. */
    bool merge_stderr;
} proc_spawn_opts;

/* Spawn with three pipes, in a new session. Never NULL, never blocks: opts is copied; the
 * pipes, the fork and the exec happen on the spawner thread (a queued start holds no file
 * descriptor, a started child three), and on_start reports
 * the outcome later, from the loop (never inside proc_spawn). An error there (a negative
 * errno, which is also the libuv code) means the command never ran: a failed chdir or exec,
 * e.g. ENOENT, EACCES, ENOTDIR; ENOEXEC for a script without a #! line (no /bin/sh
 * fallback, like the reference); UV_ECANCELED once proc_shutdown_all ran; or a failure to
 * create the pipes (EMFILE). The child is then finished (proc_exited is true) and still the
 * caller's to proc_release, which may be called inside on_start.
 *
 * While starting, the child has no pid (proc_pid is 0) but is fully usable: proc_write
 * holds the bytes and hands them to the pipe after on_start(0), in order; proc_close_stdin
 * takes effect after them; proc_terminate and proc_release are applied once the child runs
 * (nothing to stop if it never does); proc_signal_group is a no-op. A child whose start was
 * requested before proc_shutdown_all and completes after it is stopped (as shutdown stops
 * the others) right after its on_start.
 *
 * Once proc_release returned, no callback runs: not on_start/on_stdout/on_stderr/on_exit,
 * and not the done of a proc_write (see there). */
proc_child *proc_spawn(uv_loop_t *loop, const proc_spawn_opts *opts, const proc_callbacks *cb,
                       void *ud);
/* 0 until on_start(0). */
pid_t proc_pid(const proc_child *c);
/* True once the child was reaped, or its start failed. */
bool proc_exited(const proc_child *c);
/* Queue bytes for stdin (copied). done(status, ud) (may be NULL) runs exactly once, never
 * before on_start: 0 when the bytes were written; an error when the write failed, when the
 * owner closed stdin first (UV_ECANCELED), or when the child is done before taking them
 * (UV_ECANCELED, reported just before on_exit, never after it; after on_start when the
 * start failed). Never after proc_release: a write still pending then is dropped silently.
 * Returns a libuv error at once (done is then not called) when stdin is already closed, the
 * child has exited or was released. */
int proc_write(proc_child *c, const char *data, size_t len, void (*done)(int status, void *ud),
               void *ud);
void proc_close_stdin(proc_child *c);
/* Stop reading the child's stdout (it blocks once the pipe is full) until unpaused: a
 * consumer that cannot keep up (the journal's disk) makes the producer wait. */
void proc_pause_stdout(proc_child *c, bool pause);
/* Signal the whole process group. */
void proc_signal_group(proc_child *c, int sig);
/* Close stdin, wait stdin_grace_ms for a voluntary exit, then TERM the group, wait
 * term_grace_ms, then KILL. on_exit reports the end as usual. While starting: stdin is
 * closed (after held writes) and the rest is done once the child runs. */
void proc_terminate(proc_child *c, uint64_t stdin_grace_ms, uint64_t term_grace_ms);
/* The owner lets go: no more callbacks of any kind, pending writes included; freed once all
 * handles are closed. A live child is terminated first (group TERM then KILL). Allowed from
 * inside the child's own callbacks (typically on_exit). */
void proc_release(proc_child *c);

/* ---- jobs: a command run to completion (job.c) ----------------------------------------------
 * The one runner for short-lived commands: POST /v1/processes/run, installer steps, version
 * probes, desktop helpers. A job is a proc_spawn child (own session, die_with_server) with
 * stdin closed (or fed `input`, then closed), its output captured within caps, a time bound,
 * and one completion callback.
 *
 * Ending: on timeout or proc_job_cancel the child is stopped (kill_grace_ms: 0 = SIGKILL to
 * its whole session at once; else TERM to its group, then KILL after the grace). When the
 * child is done, whatever it left in its session is killed too: nothing of a job outlives
 * it, except what escaped into a session of its own. The result comes after the child was
 * reaped and its output drained (proc_spawn's guarantees, including the short drain grace
 * for a grandchild that holds the pipes). */
typedef struct proc_job proc_job;

/* What a job is to run. Owner: the caller; everything is borrowed for the duration of
 * proc_job_run only (input is copied). */
typedef struct proc_job_opts {
    const char *file; /* executable, PATH searched without a slash; NULL = args[0] */
    char **args;      /* argv, NULL-terminated, args[0] included */
    char **env;       /* NULL = inherit */
    const char *cwd;  /* NULL = inherit */
    /* Written to stdin, which is then closed; NULL = stdin closed at once (reads EOF). */
    const char *input;
    size_t input_len;
    uint64_t timeout_ms;    /* 0 = no time bound */
    uint64_t kill_grace_ms; /* how a timeout or cancel stops the child (see above) */
    /* Bytes kept of stdout and of stderr. Output beyond a cap is still read (the child never
     * blocks on a full pipe) and dropped, and the stream's truncated flag is set. */
    size_t out_cap, err_cap;
    bool merge_output; /* 2>&1: one capture in the child's order, within out_cap */
    bool keep_tail;    /* keep the last cap bytes instead of the first */
} proc_job_opts;

/* How a job ended. Owner: the runner; valid only during the done callback (copy what you
 * keep). */
typedef struct proc_job_result {
    /* 0, or the negative errno (libuv code) of a spawn that failed: ENOENT (no such
     * command, or no such cwd), EACCES, ENOTDIR, ENOEXEC, UV_ECANCELED (the server is
     * shutting down). The command never ran then: exit_code is -1, output empty. */
    int spawn_error;
    pid_t pid;       /* 0 when the spawn failed */
    int exit_code;   /* -1 when killed by a signal (term_signal says which) */
    int term_signal; /* 0 unless killed by a signal */
    bool timed_out;  /* the time bound ran out and the child was stopped */
    bool cancelled;  /* proc_job_cancel was called before the end */
    /* Captures, NUL-terminated (the bytes may hold NULs of their own). With merge_output,
     * err is empty. */
    const char *out, *err;
    size_t out_len, err_len;
    bool out_truncated, err_truncated; /* bytes were dropped (beyond the cap) */
    uint64_t duration_ms;              /* from proc_job_run to the end (monotonic) */
} proc_job_result;

typedef void (*proc_job_done_fn)(const proc_job_result *r, void *ud);

/* Start a job; never NULL. done runs exactly once, later, from the loop (never from inside
 * proc_job_run), a failed spawn included, unless the job is detached first. The job belongs
 * to the runner, which frees it after done returns: the handle is valid until then (or
 * until proc_job_detach), and not after. */
proc_job *proc_job_run(uv_loop_t *loop, const proc_job_opts *opts, proc_job_done_fn done, void *ud);
/* The child's pid; 0 until it started (the spawn is asynchronous), and when it failed. */
pid_t proc_job_pid(const proc_job *j);
/* Stop the child now (as a timeout would, per kill_grace_ms; as soon as it runs when it is
 * still starting); done still runs, with cancelled set. A no-op once the job ended or
 * inside done. */
void proc_job_cancel(proc_job *j);
/* The owner loses interest: done will never run, and the handle is gone when this returns.
 * The child is left to finish, still bounded by timeout_ms (call proc_job_cancel first to
 * stop it now); the runner cleans up after it. A no-op inside done. */
void proc_job_detach(proc_job *j);

/* Have a sentinel: a watcher process, started before the first child, that SIGKILLs every
 * session the server started when the server dies, however it dies (sentinel.c). If it
 * cannot start, children still die through PR_SET_PDEATHSIG, their own children would not. */
void proc_sentinel_enable(void);
/* The hidden `sentinel` command the watcher runs as (its pipe is fd 3). */
int proc_sentinel_command(void);

/* Become a child subreaper and start the SIGCHLD reaper (waitpid(-1): nothing else in the
 * process may wait for children of its own): descendants of our children that outlived
 * their parent re-parent to us instead of init, are reaped, and none escapes shutdown. */
void proc_init(uv_loop_t *loop);
/* Waits for the starts still in flight (normally none: proc_shutdown_all waited for them)
 * and reports them, then closes our handles. The spawner thread stays parked until the
 * process exits (its exit would kill the children it forked). */
void proc_fini(void);

/* Terminate every live child: TERM now, KILL after grace_ms; a child whose start is in
 * flight is stopped the same way as soon as it runs (or counts as gone if its start fails).
 * done runs once all have exited (immediately when there are none). From now on
 * proc_spawn and proc_pty_spawn refuse (on_start(UV_ECANCELED)) until the next proc_init. */
void proc_shutdown_all(uv_loop_t *loop, uint64_t grace_ms, void (*done)(void *), void *ud);
size_t proc_live_count(void);

/* ---- children on a pseudo-terminal (pty.c) -------------------------------------------------
 * forkpty children for interactive terminals. The child leads its own session and process
 * group with the PTY as controlling terminal. Output (stdout and stderr merged by the PTY)
 * arrives through on_output; EIO on the master is end of output, not an error. on_exit fires
 * exactly once, after the child was reaped and the master drained (or after a short grace
 * if a grandchild holds the slave open, in which case the session is killed). */
typedef struct proc_pty proc_pty;

typedef struct proc_pty_callbacks {
    void (*on_output)(proc_pty *p, const char *data, size_t len, void *ud);
    /* exit_code is -1 when killed by a signal (term_signal then says which). */
    void (*on_exit)(proc_pty *p, int exit_code, int term_signal, void *ud);
    /* As proc_callbacks.on_start: exactly once, first; after an error nothing follows. */
    void (*on_start)(proc_pty *p, int err, void *ud);
} proc_pty_callbacks;

typedef struct proc_pty_opts {
    const char
        *file;       /* executable (PATH of env, else of the server, is searched without a slash) */
    char **args;     /* argv, NULL-terminated, args[0] included */
    char **env;      /* NULL = inherit */
    const char *cwd; /* NULL = inherit */
    uint16_t cols, rows;
    bool die_with_server; /* PR_SET_PDEATHSIG(SIGKILL) in the child */
} proc_pty_opts;

/* Never NULL, never blocks: forkpty and exec run on the spawner thread, and on_start reports
 * 0 or a negative errno (the PTY, the fork, chdir or exec failed; UV_ECANCELED once
 * proc_shutdown_all ran), from the loop. While starting: writes are held until after
 * on_start(0), proc_pty_resize fails (UV_EBADF), signals are no-ops, and a release kills
 * the child as soon as it runs; so does a shutdown that began meanwhile. */
proc_pty *proc_pty_spawn(uv_loop_t *loop, const proc_pty_opts *opts, const proc_pty_callbacks *cb,
                         void *ud);
/* 0 until on_start(0). */
pid_t proc_pty_pid(const proc_pty *p);
/* True once on_exit was reported, or the start failed. */
bool proc_pty_exited(const proc_pty *p);
/* Queue bytes for the master (copied). done(status, ud) (may be NULL) runs exactly once, with
 * the same rules as proc_write: a write the child never took fails (UV_ECANCELED) just before
 * on_exit; never after proc_pty_release. Returns a libuv error at once when the child has
 * exited or was released. */
int proc_pty_write(proc_pty *p, const char *data, size_t len, void (*done)(int status, void *ud),
                   void *ud);
/* TIOCSWINSZ; the foreground process group gets SIGWINCH. 0 or a negative errno. */
int proc_pty_resize(proc_pty *p, uint16_t cols, uint16_t rows);
/* Signal the child's process group and every other process of its session. */
void proc_pty_signal(proc_pty *p, int sig);
/* The owner lets go: no more callbacks, pending writes' done included; a live child is killed
 * (session, SIGKILL); freed once its handles have closed. */
void proc_pty_release(proc_pty *p);

/* Send sig to every process whose session id is sid (sid is the pid of a session leader we
 * spawned), and to the process group sid. Used to reach jobs that an interactive shell put
 * in their own groups. Walks our own process subtree under /proc (not all of /proc). */
void proc_signal_session(pid_t sid, int sig);

#endif
