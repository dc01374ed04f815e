/* internal.h - what proc.c, exec.c and pty.c share and nobody else uses. */
#ifndef PROC_INTERNAL_H
#define PROC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

/* ---- exec.c: starting a child ------------------------------------------------------------
 * Everything the child needs between fork and exec, prepared by the parent, so that the
 * child only makes async-signal-safe system calls: no allocation, no locks, no string
 * building. Owner: the caller of proc_exec_plan_init (usually a stack variable), which
 * calls proc_exec_plan_free; argv, envp and cwd stay borrowed. */
typedef struct proc_exec_plan {
    char **paths;      /* files to try in order (PATH search already expanded); owned */
    char *const *argv; /* NULL-terminated, argv[0] included */
    char *const *envp; /* the child's environment (environ when inherited) */
    const char *cwd;   /* NULL = inherit */
    int stdio[3];      /* fds to install as 0, 1, 2; -1 = leave as is (forkpty did it) */
    int err_fd;        /* CLOEXEC pipe to the parent: the child writes errno on failure */
    bool new_session;  /* setsid() (forkpty already made the child a session leader) */
    bool die_with_server;
    pid_t parent; /* the server's pid before the fork: detects a parent that died already */
} proc_exec_plan;

void proc_exec_plan_init(proc_exec_plan *p, const char *file, char *const *argv, char **env,
                         const char *cwd);
void proc_exec_plan_free(proc_exec_plan *p);
/* The child's side: signal dispositions and mask reset, setsid, PDEATHSIG, stdio, chdir,
 * exec. Only returns on failure, after writing errno to err_fd; the caller then _exits. */
void proc_exec_child(const proc_exec_plan *p);
/* clone(CLONE_VM|CLONE_VFORK) + proc_exec_child. Returns the pid once the child has exec'd,
 * or a negative errno when the clone, setsid, dup2, chdir or exec failed (the failed child
 * is reaped here, unless the loop's reaper took it first). stdio must be set; err_fd is
 * managed here. Runs on the spawner thread (blocks until the exec). */
pid_t proc_exec_spawn(proc_exec_plan *p);
/* pipe2(O_CLOEXEC) whose two ends are both above 2, so that installing the child's stdio
 * can never overwrite one of them (the server may run with stdio closed). */
int proc_exec_pipe(int fds[2]);

/* ---- spawner.c: the thread that starts children ----------------------------------------
 * The loop thread never waits for a fork or an exec: it hands a request to the spawner
 * thread and hears the outcome from the loop (uv_async), in submission order. */
typedef struct proc_spawn_req proc_spawn_req;

/* One child to start. Owner: the loop side creates it (proc_spawner_req_new) and submits
 * it; the spawner thread owns it until it posts the outcome; then done runs on the loop and
 * the spawner frees it after done returned (done must not keep it). */
struct proc_spawn_req {
    /* What to start: copies, owned by the request. */
    char *file;
    char **argv;
    char **env; /* NULL = inherit */
    char *cwd;  /* NULL = inherit */
    bool die_with_server;
    bool pty;            /* forkpty (pty.c) instead of exec.c's clone on pipes */
    uint16_t cols, rows; /* pty only */
    /* Pipes only: how many to make (3; 2 when stderr goes to stdout's pipe). The spawner
     * thread creates them right before the fork and closes the child's ends right after,
     * so a queued request holds no descriptor and a started child three. */
    int npipes;
    int ours[3]; /* the server's ends, set by the spawner on success: stdin's write end,
                  * stdout's and stderr's read ends (-1 for stderr when merged) */
    /* The outcome, set by the spawner thread (or preset: see proc_spawner_submit). */
    int err;    /* 0, or a negative errno: the child never ran */
    pid_t pid;  /* > 0 when started */
    int master; /* pty only: the master fd (CLOEXEC), handed to done; -1 on failure */
    /* The loop side. */
    void (*done)(proc_spawn_req *r); /* on the loop thread, exactly once */
    void *owner;
    uint64_t seq; /* submission order, for the early-exit table */
    bool queued;  /* went through the spawner thread (not preset with err) */
    proc_spawn_req *next;
};

proc_spawn_req *proc_spawner_req_new(const char *file, char *const *argv, char *const *env,
                                     const char *cwd);
/* Queue r (started in order by the spawner thread); r->done runs later from the loop, never
 * inside this call. With r->err already set nothing is started and done reports that error.
 * The request keeps the loop alive until done ran. */
void proc_spawner_submit(uv_loop_t *loop, proc_spawn_req *r);
/* The reaper found an unknown pid: while spawns are in flight it may be a child whose start
 * the loop has not heard of yet, so its status is kept (true) and handed to the reaper again
 * once that start is reported. False: nothing in flight, an orphan. */
bool proc_spawner_early_exit(pid_t pid, int status);
/* The spawner thread's tid (its children are listed under it), 0 before it started. */
pid_t proc_spawner_tid(void);
/* Wait for every request in flight and report it (loop thread, loop not running), then
 * stop listening. The thread itself stays, idle: see spawner.c. */
void proc_spawner_fini(void);
/* Runs on the spawner thread: forkpty and exec r (pty.c); sets r->pid and r->master, or
 * r->err. */
void proc_pty_start(proc_spawn_req *r);

/* ---- wqueue.c: writes to a child ----------------------------------------------------------
 * The writes a child's owner queued and has not been told about yet. Owner: embedded in the
 * proc_child or proc_pty (zeroed = empty). */
typedef struct proc_wreq proc_wreq;
typedef struct proc_wqueue {
    proc_wreq *head, *tail; /* oldest first */
} proc_wqueue;

/* uv_write of a copy of data on s; done(status, ud) runs once when libuv completes it,
 * unless proc_wqueue_fail_all reported it first or proc_wqueue_drop_all dropped it. Returns
 * uv_write's error (done is then never called). */
int proc_wqueue_write(proc_wqueue *q, uv_stream_t *s, const char *data, size_t len,
                      void (*done)(int, void *), void *ud);
/* Keep a copy of data until proc_wqueue_flush: the stream is not connected to a child yet,
 * and no done may run before the owner heard of the start. */
void proc_wqueue_hold(proc_wqueue *q, const char *data, size_t len, void (*done)(int, void *),
                      void *ud);
/* Hand the held writes to s, oldest first. One that libuv refuses is reported at once with
 * its error (the child started: the owner may hear now). */
void proc_wqueue_flush(proc_wqueue *q, uv_stream_t *s);
/* Report every pending write now with status, oldest first (the child is done: libuv would
 * report them only from the stream's close, after on_exit). */
void proc_wqueue_fail_all(proc_wqueue *q, int status);
/* The owner released the child: pending writes complete silently. */
void proc_wqueue_drop_all(proc_wqueue *q);

/* ---- proc.c: the central reaper and the registry --------------------------------------- */

/* Start the SIGCHLD watcher if it is not running yet (proc_init normally does). */
void proc_reaper_ensure(uv_loop_t *loop);
/* True once proc_shutdown_all ran: new children are refused (UV_ECANCELED). */
bool proc_stopping(void);
/* Children started outside proc_spawn (forkpty) are registered here once started:
 * proc_shutdown_all signals their groups (TERM, grace, KILL) and waits until they are
 * forgotten, and the session walk treats them as owned. Call proc_forget_pid once the child
 * was reported. */
void proc_adopt_pid(pid_t pid);
void proc_forget_pid(pid_t pid);
/* A PTY child whose start is in flight counts as live for proc_shutdown_all: hold while
 * starting, release once its start was reported (after proc_adopt_pid on success). */
void proc_live_hold(void);
void proc_live_release(void);
/* A status the reaper took: hand it to its child (proc_spawner_early_exit replays early
 * statuses here). */
void proc_reaper_dispatch(pid_t pid, int status);

/* ---- sentinel.c: trees that die with a SIGKILLed server ---------------------------------- */

/* Tell the sentinel (if one runs) that the session led by sid started (add) or ended.
 * Thread-safe (one 4-byte write): the spawner thread adds, the loop removes. */
void proc_sentinel_track(pid_t sid, bool add);
/* Start the sentinel if the server enabled it and it was not tried yet; spawns call this
 * before creating a child. */
void proc_sentinel_ensure(void);

/* ---- pty.c ------------------------------------------------------------------------------- */

/* The reaper found pid dead: true when it was a PTY child (its status is handled). */
bool proc_pty_reaped_pid(pid_t pid, int status);

#endif
