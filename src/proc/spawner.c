/* spawner.c - the one thread that starts children, so that the event loop never waits for
 * one.
 *
 * Why a thread: a spawn costs the forking thread little CPU (0.1-0.3 ms), but with
 * CLONE_VFORK that thread sleeps until the child has exec'd, and the child needs a core to
 * get there. On a loaded machine that is milliseconds per spawn (tens of ms for a node
 * agent), and a burst of 100 ACP creates stalled the loop for seconds. Here the loop
 * copies the request, hands it over and goes on; the spawner thread forks and waits; the
 * outcome comes back through a uv_async, in submission order.
 *
 * Lifetime: the thread is started on the first spawn and never exits. PR_SET_PDEATHSIG
 * fires when the thread that forked a child exits, not the process: the spawner thread
 * lives as long as the server, so the death signal means "the server died", as before.
 * At exit the process ends with the thread parked on its condition variable (no join: a
 * join would need the thread to exit, which would kill every child it started).
 *
 * The reaper (proc.c, waitpid(-1) on the loop) may reap a child before the loop heard that
 * it started: a child that execs and exits at once, while the outcome waits in the queue.
 * Such statuses are kept here (proc_spawner_early_exit) and replayed once the start was
 * reported. An entry is matched only by a request submitted before it was recorded, and
 * dropped once no request in flight could own it. */
#include "proc/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/base.h"

/* Shared with the thread, under proc_spawner_mu. */
static pthread_mutex_t proc_spawner_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t proc_spawner_work = PTHREAD_COND_INITIALIZER;    /* queue not empty */
static pthread_cond_t proc_spawner_done_cv = PTHREAD_COND_INITIALIZER; /* an outcome posted */
static proc_spawn_req *proc_spawner_queue, *proc_spawner_queue_tail;
static proc_spawn_req *proc_spawner_outcomes, *proc_spawner_outcomes_tail;
/* The loop's wake-up; the thread sends only while it is set (cleared by proc_spawner_fini
 * before the handle is closed). */
static uv_async_t *proc_spawner_async;
static bool proc_spawner_running;
static _Atomic pid_t proc_spawner_thread_tid;

/* Loop thread only. */
static size_t proc_spawner_inflight; /* submitted, done not run yet */
static uint64_t proc_spawner_seq;    /* of the last submission */

/* Statuses the reaper took for pids nobody knew yet. Loop thread only. */
typedef struct proc_spawner_early {
    pid_t pid;
    int status;
    uint64_t seq; /* proc_spawner_seq when it was reaped */
} proc_spawner_early;
static proc_spawner_early *proc_spawner_earlies;
static size_t proc_spawner_nearly, proc_spawner_capearly;

/* ---- requests ------------------------------------------------------------------------------- */

/* One allocation: the pointer array followed by the strings (freed with free). */
static char **proc_spawner_pack(char *const *v) {
    if (!v)
        return NULL;
    size_t n = 0, bytes = 0;
    for (; v[n]; n++)
        bytes += strlen(v[n]) + 1;
    char **out = base_xmalloc((n + 1) * sizeof(char *) + bytes);
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(p, v[i], len);
        out[i] = p;
        p += len;
    }
    out[n] = NULL;
    return out;
}

proc_spawn_req *proc_spawner_req_new(const char *file, char *const *argv, char *const *env,
                                     const char *cwd) {
    proc_spawn_req *r = base_xcalloc(1, sizeof *r);
    r->file = base_xstrdup(file);
    r->argv = proc_spawner_pack(argv);
    r->env = proc_spawner_pack(env);
    r->cwd = cwd ? base_xstrdup(cwd) : NULL;
    r->ours[0] = r->ours[1] = r->ours[2] = -1;
    r->master = -1;
    return r;
}

static void proc_spawner_req_free(proc_spawn_req *r) {
    free(r->file);
    free(r->argv);
    free(r->env);
    free(r->cwd);
    free(r);
}

static void proc_spawner_push(proc_spawn_req **head, proc_spawn_req **tail, proc_spawn_req *r) {
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* Three pipes: stdin (the child reads fds[0][0]), stdout and stderr (it writes fds[1][1],
 * fds[2][1]); n = 2 leaves out stderr's. All CLOEXEC and above fd 2. */
static int proc_spawner_pipes(int fds[3][2], int n) {
    for (int i = 0; i < n; i++) {
        int r = proc_exec_pipe(fds[i]);
        if (r < 0) {
            while (i-- > 0) {
                close(fds[i][0]);
                close(fds[i][1]);
            }
            return r;
        }
    }
    return 0;
}

/* Reads the server's environment (PATH, environ for an inherited env): nothing in the server
 * changes it once it serves (only CLI set-up code does, before any spawn). */
static void proc_spawner_start_one(proc_spawn_req *r) {
    if (r->pty) {
        proc_pty_start(r);
    } else {
        int fds[3][2];
        int rc = proc_spawner_pipes(fds, r->npipes);
        if (rc < 0) {
            r->err = rc;
            return;
        }
        proc_exec_plan plan;
        proc_exec_plan_init(&plan, r->file, r->argv, r->env, r->cwd);
        plan.stdio[0] = fds[0][0];
        plan.stdio[1] = fds[1][1];
        plan.stdio[2] = r->npipes == 3 ? fds[2][1] : fds[1][1];
        plan.die_with_server = r->die_with_server;
        pid_t pid = proc_exec_spawn(&plan);
        proc_exec_plan_free(&plan);
        /* The child has its copies (CLONE_VFORK: it exec'd or failed already). */
        close(fds[0][0]);
        close(fds[1][1]);
        if (r->npipes == 3)
            close(fds[2][1]);
        if (pid < 0) {
            r->err = pid;
            close(fds[0][1]);
            close(fds[1][0]);
            if (r->npipes == 3)
                close(fds[2][0]);
        } else {
            r->pid = pid;
            r->ours[0] = fds[0][1];
            r->ours[1] = fds[1][0];
            r->ours[2] = r->npipes == 3 ? fds[2][0] : -1;
        }
    }
    /* At once, from here: a server killed before the loop heard of the start still takes
     * the child's session down. */
    if (r->pid > 0)
        proc_sentinel_track(r->pid, true);
}

static void *proc_spawner_main(void *arg) {
    atomic_store(&proc_spawner_thread_tid, gettid());
    prctl(PR_SET_NAME, "sa-spawner");
    /* Here, not on the loop: launching it waits for an exec of our binary. Every child
     * comes from this thread, so it is still before the first one. */
    proc_sentinel_ensure();
    pthread_mutex_lock(&proc_spawner_mu);
    for (;;) {
        while (!proc_spawner_queue)
            pthread_cond_wait(&proc_spawner_work, &proc_spawner_mu);
        proc_spawn_req *r = proc_spawner_queue;
        proc_spawner_queue = r->next;
        if (!proc_spawner_queue)
            proc_spawner_queue_tail = NULL;
        pthread_mutex_unlock(&proc_spawner_mu);
        proc_spawner_start_one(r);
        pthread_mutex_lock(&proc_spawner_mu);
        proc_spawner_push(&proc_spawner_outcomes, &proc_spawner_outcomes_tail, r);
        if (proc_spawner_async)
            uv_async_send(proc_spawner_async);
        pthread_cond_broadcast(&proc_spawner_done_cv);
    }
    return NULL;
}

/* Every signal blocked: no handler of ours runs on this thread (the children unblock and
 * reset what they need before exec). */
static int proc_spawner_thread_start(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &at, proc_spawner_main, NULL);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        LOG_ERROR("cannot start the spawner thread", "error=\"%s\"", strerror(rc));
        return -rc;
    }
    proc_spawner_running = true;
    return 0;
}

/* ---- the loop side ------------------------------------------------------------------------ */

static void proc_spawner_early_prune(uint64_t upto) {
    size_t k = 0;
    for (size_t i = 0; i < proc_spawner_nearly; i++)
        if (proc_spawner_earlies[i].seq > upto)
            proc_spawner_earlies[k++] = proc_spawner_earlies[i];
    proc_spawner_nearly = k;
}

bool proc_spawner_early_exit(pid_t pid, int status) {
    if (!proc_spawner_inflight)
        return false;
    if (proc_spawner_nearly == proc_spawner_capearly) {
        proc_spawner_capearly = proc_spawner_capearly ? 2 * proc_spawner_capearly : 16;
        proc_spawner_earlies = base_xrealloc(proc_spawner_earlies,
                                             proc_spawner_capearly * sizeof *proc_spawner_earlies);
    }
    proc_spawner_earlies[proc_spawner_nearly++] =
        (proc_spawner_early){.pid = pid, .status = status, .seq = proc_spawner_seq};
    return true;
}

/* Outcomes in submission order (one thread, FIFO queues). */
static void proc_spawner_deliver(proc_spawn_req *list) {
    while (list) {
        proc_spawn_req *r = list;
        list = r->next;
        proc_spawner_inflight--;
        r->done(r);
        /* Reaped before we knew it: hand the status over now that its owner knows the pid
         * (after done, so that on_start comes first). */
        for (size_t i = 0; r->pid > 0 && i < proc_spawner_nearly; i++) {
            proc_spawner_early e = proc_spawner_earlies[i];
            if (e.pid != r->pid || e.seq < r->seq)
                continue;
            proc_spawner_earlies[i] = proc_spawner_earlies[--proc_spawner_nearly];
            LOG_DEBUG("child reaped before its start was reported", "pid=%d", (int)e.pid);
            proc_reaper_dispatch(e.pid, e.status);
            break;
        }
        /* Recorded before the next queued request was submitted: no request in flight owns
         * it (queued requests come back in order; preset ones jump the queue). */
        if (r->queued)
            proc_spawner_early_prune(r->seq);
        proc_spawner_req_free(r);
    }
    if (!proc_spawner_inflight) {
        proc_spawner_nearly = 0;
        if (proc_spawner_async)
            uv_unref((uv_handle_t *)proc_spawner_async);
    }
}

static proc_spawn_req *proc_spawner_take_outcomes(void) {
    proc_spawn_req *list = proc_spawner_outcomes;
    proc_spawner_outcomes = proc_spawner_outcomes_tail = NULL;
    return list;
}

static void proc_spawner_async_cb(uv_async_t *h) {
    pthread_mutex_lock(&proc_spawner_mu);
    proc_spawn_req *list = proc_spawner_take_outcomes();
    pthread_mutex_unlock(&proc_spawner_mu);
    proc_spawner_deliver(list);
}

void proc_spawner_submit(uv_loop_t *loop, proc_spawn_req *r) {
    if (!proc_spawner_async) {
        uv_async_t *a = base_xmalloc(sizeof *a);
        uv_async_init(loop, a, proc_spawner_async_cb);
        uv_unref((uv_handle_t *)a); /* alive only while a request is in flight */
        pthread_mutex_lock(&proc_spawner_mu);
        proc_spawner_async = a;
        pthread_mutex_unlock(&proc_spawner_mu);
    }
    if (!proc_spawner_running && !r->err)
        r->err = proc_spawner_thread_start(); /* this spawn fails; the next one retries */
    r->seq = ++proc_spawner_seq;
    if (proc_spawner_inflight++ == 0)
        uv_ref((uv_handle_t *)proc_spawner_async);
    pthread_mutex_lock(&proc_spawner_mu);
    if (r->err) { /* nothing to start: report from the loop, never inside the caller */
        proc_spawner_push(&proc_spawner_outcomes, &proc_spawner_outcomes_tail, r);
        uv_async_send(proc_spawner_async);
    } else {
        r->queued = true;
        proc_spawner_push(&proc_spawner_queue, &proc_spawner_queue_tail, r);
        pthread_cond_signal(&proc_spawner_work);
    }
    pthread_mutex_unlock(&proc_spawner_mu);
}

pid_t proc_spawner_tid(void) {
    return atomic_load(&proc_spawner_thread_tid);
}

static void proc_spawner_closed(uv_handle_t *h) {
    free(h);
}

void proc_spawner_fini(void) {
    if (!proc_spawner_async)
        return;
    /* Normally nothing is in flight (shutdown waited for every child, starting ones
     * included). Otherwise the starts are short: wait for them and report them, so that
     * no owner waits forever and no request leaks. */
    while (proc_spawner_inflight) {
        pthread_mutex_lock(&proc_spawner_mu);
        while (!proc_spawner_outcomes)
            pthread_cond_wait(&proc_spawner_done_cv, &proc_spawner_mu);
        proc_spawn_req *list = proc_spawner_take_outcomes();
        pthread_mutex_unlock(&proc_spawner_mu);
        proc_spawner_deliver(list);
    }
    pthread_mutex_lock(&proc_spawner_mu);
    uv_async_t *a = proc_spawner_async;
    proc_spawner_async = NULL;
    pthread_mutex_unlock(&proc_spawner_mu);
    uv_close((uv_handle_t *)a, proc_spawner_closed);
    free(proc_spawner_earlies);
    proc_spawner_earlies = NULL;
    proc_spawner_nearly = proc_spawner_capearly = 0;
}
