/* install_job.h - internal to src/agents/: one install job, shared by the files that run it.
 * Layers (catalog.h lists the whole order), each calling only those before it:
 *   install_run.c     the job object: per-agent queue, timer, the one child-process call
 *                     site (agents_install_run), failure cleanup and the end of a job
 *   install_unpack.c  checksum and unpacking of a downloaded archive on the thread pool
 *   install_bwrap.c   fetching bubblewrap for codex
 *   install_job.c     the state machine (lock, recipe, fetch, verify, commit), the public
 *                     agents_install_* API of agents.h
 * Steps that run something asynchronous take a continuation (then), so that a lower file
 * never calls back into a higher one by name. */
#ifndef AGENTS_INSTALL_JOB_H
#define AGENTS_INSTALL_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agents/agents.h"
#include "agents/recipes.h"
#include "agents/version.h"
#include "base/base.h"
#include "proc/proc.h"

typedef enum {
    AGENTS_INSTALL_QUEUED,  /* waiting for its turn or for the loop */
    AGENTS_INSTALL_LOCK,    /* polling the lock file */
    AGENTS_INSTALL_CHILD,   /* a child process runs */
    AGENTS_INSTALL_UNPACK,  /* the thread pool unpacks */
    AGENTS_INSTALL_PROBE,   /* waiting for the version probe */
    AGENTS_INSTALL_CLOSING, /* finished; the timer handle is closing */
} agents_install_state;

/* What follows a step: a child's exit (code, sig), or a step without one. */
typedef void (*agents_install_after_fn)(agents_install_job *job, int code, int sig);
typedef void (*agents_install_then_fn)(agents_install_job *job);

/* One install. Owner: itself (it sits in its agent's queue until it finished); freed by
 * install_run.c when its timer handle has closed after done ran. */
struct agents_install_job {
    uv_loop_t *loop;
    char *id;
    int idx; /* the agent's index: always a catalogue agent (checked at creation) */
    const agents_builtin *bi; /* NULL for the mock */
    bool reinstall;
    char *agent_version, *process_version;
    agents_install_done_fn done;
    agents_install_progress_fn progress;
    void *ud;
    bool detached;
    bool started;
    bool cancelled;
    agents_install_state state;
    uv_timer_t timer; /* start kick, lock polling, and the time bound of the running step */
    agents_install_then_fn wake; /* QUEUED or LOCK and the timer fired: (re)try the lock */
    /* the running child and what to do when it ends */
    proc_child *child;
    char *child_cmd; /* its argv[0], for a start failure (owned) */
    bool timed_out;
    uint64_t step_ms;
    agents_install_after_fn after_child;
    base_buf out;
    int lock_fd;
    uint64_t lock_deadline;
    bool lock_announced;
    char *ap, *bin; /* $AP and $BIN */
    char *tmp;      /* $AP/.tmp-<id>-<rand>: the install being built */
    char *dl;       /* <tmp>.download: the archive */
    char *regfile;  /* <tmp>.registry.json */
    char *old;      /* $AP/.old-<id>-<rand>: the install being replaced */
    char *what;     /* description of the running step, for failure reasons */
    agents_recipe r;
    char *exe_rel;      /* adapter executable relative to the install dir */
    json_t *artifacts;  /* success result */
    json_t *native_art; /* borrowed from artifacts: gets the probed version */
    agents_version_probe *probe;
    bool already;
    char *reason, *tail;
    atomic_bool *unpack_cancel; /* UNPACK: the running unpack's stop flag (owned by it) */
    char *deb_dir;              /* <tmp>/.bubblewrap-deb: apt's download dir while fetching bwrap */
    int bwrap_attempt; /* 0: apt-get download; 1: private apt-get update; 2: download again */
    const char *bwrap; /* "system", "bundled" or "none" (codex, once decided) */
    agents_install_then_fn after_bwrap;
    struct agents_install_job *next; /* next job of the same agent */
};

/* ---- install_run.c ---------------------------------------------------------------------------
 * Time bounds (milliseconds) from SANDBOX_AGENT_INSTALL_TIMEOUT_MS and
 * SANDBOX_AGENT_INSTALL_VERIFY_TIMEOUT_MS. */
uint64_t agents_install_step_ms(void);
uint64_t agents_install_verify_ms(void);
/* Log a step and tell the caller's progress callback (unless detached). */
void agents_install_progress(agents_install_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fails a cancelled job at a step boundary; true when it did. */
bool agents_install_interrupted(agents_install_job *job);
/* (Re)start the job's timer: after ms, a QUEUED or LOCK job wakes, a CHILD is stopped, an
 * UNPACK is cancelled. */
void agents_install_arm(agents_install_job *job, uint64_t ms);
/* Stop the running step: TERM (then KILL) the child's process group, or cancel the unpack.
 * Its end is then reported through the step's own continuation. */
void agents_install_stop_step(agents_install_job *job);
/* Run argv (argv[0] is searched on PATH) with stdin closed and a time bound; then(job,
 * code, sig) follows. job->what names the step for failure messages. The only place an
 * install starts a child. */
void agents_install_run(agents_install_job *job, char **argv, const char *cwd, uint64_t timeout_ms,
                        agents_install_after_fn then);
/* "did not finish within 1.5 s and was stopped" / "exited with status 3" / "was killed by
 * signal 9". Malloc'd. */
char *agents_install_exit_text(agents_install_job *job, int code, int sig);
/* Remove paths (NULL-terminated list of absolute paths) with `rm -rf`, then call then. */
void agents_install_remove(agents_install_job *job, char **paths, agents_install_after_fn then);
/* Download url to file with curl (or wget), bounded by the step time. */
void agents_install_download(agents_install_job *job, const char *url, const char *file,
                             agents_install_after_fn then);
/* Record the failure (reason is taken) and remove what this job created, then finish. */
void agents_install_fail(agents_install_job *job, char *reason);
/* Success: log, report, release. */
void agents_install_succeed(agents_install_job *job);
/* Append to its agent's queue; a job at the head starts on the next loop iteration. */
void agents_install_enqueue(agents_install_job *job);
/* Drop a job that never started (detached before its turn): no callback runs. */
void agents_install_discard(agents_install_job *job);
/* The last lines of a step's output, at most 40 lines and 4096 bytes, trailing blanks
 * trimmed, as valid UTF-8 (invalid bytes become '?'). Malloc'd. */
char *agents_install_tail(const base_buf *out);

/* ---- install_unpack.c ------------------------------------------------------------------------ */
/* Check job->dl against job->r.sha256 and unpack it into job->tmp on the thread pool,
 * bounded by the step time; then find the adapter job->r.cmd in it (job->exe_rel) and go
 * on with then, or fail the job. */
void agents_install_unpack(agents_install_job *job, agents_install_then_fn then);
/* Unpack archive below dest (which exists). Runs on a worker thread; stops between blocks
 * once *cancel is set. 0 when done; -1 when it failed (*error: malloc'd reason) or was
 * cancelled (*error untouched). Every entry stays inside dest. */
int agents_unpack_archive(const char *archive, const char *dest, atomic_bool *cancel, char **error);
/* A relative path without ".." components. */
bool agents_path_safe(const char *p);
/* A symlink at entry (relative) whose target, resolved lexically from the entry's
 * directory, stays inside the extraction root. */
bool agents_link_inside(const char *entry, const char *target);

/* ---- install_bwrap.c ------------------------------------------------------------------------- */
/* codex: provide bubblewrap (system, bundled into job->tmp, or none: job->bwrap), then
 * continue with then. Never fails the job. */
void agents_install_bwrap(agents_install_job *job, agents_install_then_fn then);

#endif
