/* sentinel.c - whole process trees die with the server, even when it is SIGKILLed.
 *
 * PR_SET_PDEATHSIG reaches only our direct children: a grandchild (`sh -c "sleep 9 & wait"`)
 * would outlive a SIGKILLed server. So the server starts one small watcher at startup, the
 * sentinel: `sandbox-agent sentinel`, started before the first child through two vfork-style hops so that it is
 * re-parented to init (nobody's descendant in process listings, in no group of ours) and
 * no copy of the server is made; it holds the read end of a pipe whose only write end is
 * the server's. The server tells it every session it starts and every session that ended
 * (4-byte records: +sid, -sid). When the server dies, for whatever reason, the kernel closes
 * the write end; the sentinel reads EOF, SIGKILLs every process of the sessions still
 * listed (each child leads its own session; descendants inherit it), and exits. A graceful
 * shutdown has stopped them all already, so then it has nothing to do.
 *
 * Cost on the spawn path: one 4-byte write to a pipe. Without a sentinel (the CLI, or a
 * failed start) tracking is a no-op. */
#include "proc/internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

static int proc_sentinel_fd = -1; /* the server's write end; CLOEXEC, non-blocking */

/* ---- the sentinel's side (a separate process; plain blocking code) --------------------- */

/* The session id of pid from /proc/<pid>/stat, or -1. */
static pid_t proc_sentinel_sid_of(const char *pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    int ppid, pgrp, sid;
    char state;
    if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
        return -1;
    return (pid_t)sid;
}

static bool proc_sentinel_listed(const pid_t *sids, size_t n, pid_t sid) {
    for (size_t i = 0; i < n; i++)
        if (sids[i] == sid)
            return true;
    return false;
}

/* SIGKILL every process whose session is listed (and each session's group). */
static void proc_sentinel_kill_all(const pid_t *sids, size_t n) {
    for (size_t i = 0; i < n; i++)
        kill(-sids[i], SIGKILL);
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t sid = proc_sentinel_sid_of(e->d_name);
        if (sid > 0 && proc_sentinel_listed(sids, n, sid))
            kill((pid_t)atoi(e->d_name), SIGKILL);
    }
    closedir(d);
}

static void proc_sentinel_apply(pid_t **sids, size_t *n, size_t *cap, int32_t rec) {
    if (rec > 0) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            pid_t *grown = realloc(*sids, *cap * sizeof(pid_t));
            if (!grown)
                return; /* keep what we have */
            *sids = grown;
        }
        (*sids)[(*n)++] = (pid_t)rec;
        return;
    }
    for (size_t i = 0; i < *n; i++) {
        if ((*sids)[i] == (pid_t)-rec) {
            (*sids)[i] = (*sids)[--*n];
            return;
        }
    }
}

static _Noreturn void proc_sentinel_main(int rfd) {
    prctl(PR_SET_NAME, "sa-sentinel");
    sigset_t none; /* the launch ran with every signal blocked, and exec kept the mask */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Signals meant for the server's terminal or group are not ours: only EOF ends us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    pid_t *sids = NULL;
    size_t n = 0, cap = 0;
    int32_t recs[1024];
    size_t have = 0; /* bytes of a record split across reads */
    for (;;) {
        ssize_t r = read(rfd, (char *)recs + have, sizeof recs - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EOF: the server is gone */
        have += (size_t)r;
        size_t whole = have / sizeof(int32_t);
        for (size_t i = 0; i < whole; i++)
            proc_sentinel_apply(&sids, &n, &cap, recs[i]);
        size_t rest = have % sizeof(int32_t);
        memmove(recs, (char *)recs + whole * sizeof(int32_t), rest);
        have = rest;
    }
    if (n) {
        proc_sentinel_kill_all(sids, n);
        proc_sentinel_kill_all(sids, n); /* anything forked while the first pass ran */
    }
    _exit(0);
}

int proc_sentinel_command(void) {
    struct stat st;
    if (fstat(3, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "sandbox-agent sentinel: started by the server only (fd 3 must be its pipe)\n");
        return 2;
    }
    proc_sentinel_main(3);
}

/* ---- the server's side ------------------------------------------------------------------- */

/* What the launch hops need, prepared before any of them runs (they share our memory and
 * may only make system calls). */
typedef struct proc_sentinel_launch {
    int rfd, null;
    char *const *argv;
    char *const *envp;
} proc_sentinel_launch;

/* The grandchild: its own session, /dev/null for stdio, the pipe as fd 3, nothing else. */
static _Noreturn void proc_sentinel_exec(const proc_sentinel_launch *l) {
    setsid();
    dup2(l->null, 0);
    dup2(l->null, 1);
    dup2(l->null, 2);
    dup2(l->rfd, 3);
    close_range(4, ~0U, 0);
    execve("/proc/self/exe", l->argv, l->envp);
    _exit(127);
}

/* The middle hop (CLONE_VM|CLONE_VFORK: we wait only until it exits). It vforks the
 * grandchild and leaves at once, so the sentinel is re-parented to init, not to us. */
static int proc_sentinel_middle(void *arg) {
    pid_t g = vfork();
    if (g == 0)
        proc_sentinel_exec(arg);
    _exit(g < 0 ? 1 : 0);
}

/* Two vfork-style hops, so that starting the watcher costs no copy of the server (a plain
 * fork and its copy-on-write faults cost milliseconds here). */
static bool proc_sentinel_start_now(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* The pipe's read end and /dev/null must stay clear of 0..3, which the grandchild's
     * dup2 calls overwrite (the server may run with few descriptors open). */
    int rfd = fcntl(fds[0], F_DUPFD_CLOEXEC, 10);
    int nfd = null >= 0 ? fcntl(null, F_DUPFD_CLOEXEC, 10) : -1;
    close(fds[0]);
    if (null >= 0)
        close(null);
    char *argv[] = {"sandbox-agent", "sentinel", NULL};
    proc_sentinel_launch l = {.rfd = rfd, .null = nfd, .argv = argv, .envp = environ};
    pid_t mid = -1;
    if (rfd >= 0 && nfd >= 0) {
        static char stack[64 << 10] __attribute__((aligned(16)));
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        mid = clone(proc_sentinel_middle, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    &l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rfd >= 0)
        close(rfd);
    if (nfd >= 0)
        close(nfd);
    int st = 0;
    while (mid > 0 && waitpid(mid, &st, 0) < 0 && errno == EINTR)
        ;
    if (mid <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        close(fds[1]);
        return false;
    }
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    proc_sentinel_fd = fds[1];
    return true;
}

static bool proc_sentinel_wanted, proc_sentinel_tried;

void proc_sentinel_enable(void) {
    proc_sentinel_wanted = true;
}

/* Started on first use, before the first child: a server answers its first requests without
 * waiting for the launch (an exec of this binary), and a server that never spawns never
 * pays for it. Our subreaper flag is off during the launch, or the sentinel would be
 * re-parented to us when its middle hop leaves; no child of ours exists yet to orphan. */
void proc_sentinel_ensure(void) {
    if (!proc_sentinel_wanted || proc_sentinel_tried)
        return;
    proc_sentinel_tried = true;
    int reaper = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &reaper);
    if (reaper)
        prctl(PR_SET_CHILD_SUBREAPER, 0);
    bool ok = proc_sentinel_start_now();
    if (reaper)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (!ok)
        LOG_WARN("cannot start the sentinel; grandchildren could outlive a killed server", NULL);
}

void proc_sentinel_track(pid_t sid, bool add) {
    if (proc_sentinel_fd < 0 || sid <= 0)
        return;
    int32_t rec = add ? (int32_t)sid : -(int32_t)sid;
    ssize_t w;
    do
        w = write(proc_sentinel_fd, &rec, sizeof rec);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof rec)
        LOG_WARN("cannot tell the sentinel about a session", "sid=%d error=\"%s\"", (int)sid,
                 w < 0 ? strerror(errno) : "short write");
}
