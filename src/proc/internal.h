/* internal.h - what proc.c, exec.c and pty.c share and nobody else uses. */
#ifndef PROC_INTERNAL_H
#define PROC_INTERNAL_H

#include <stdbool.h>
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
 * is reaped here). stdio must be set; err_fd is managed here. */
pid_t proc_exec_spawn(proc_exec_plan *p);
/* pipe2(O_CLOEXEC) whose two ends are both above 2, so that installing the child's stdio
 * can never overwrite one of them (the server may run with stdio closed). */
int proc_exec_pipe(int fds[2]);

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
/* Children started outside proc_spawn (forkpty) are registered here: proc_shutdown_all
 * signals their groups (TERM, grace, KILL) and waits until they are forgotten, and the
 * session walk treats them as owned. Call proc_forget_pid once the child was reported. */
void proc_adopt_pid(pid_t pid);
void proc_forget_pid(pid_t pid);

/* ---- sentinel.c: trees that die with a SIGKILLed server ---------------------------------- */

/* Tell the sentinel (if one runs) that the session led by sid started (add) or ended. */
void proc_sentinel_track(pid_t sid, bool add);
/* Start the sentinel if the server enabled it and it was not tried yet; spawns call this
 * before creating a child. */
void proc_sentinel_ensure(void);

/* ---- pty.c ------------------------------------------------------------------------------- */

/* The reaper found pid dead: true when it was a PTY child (its status is handled). */
bool proc_pty_reaped_pid(pid_t pid, int status);

#endif
