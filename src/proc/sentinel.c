/* sentinel.c - whole process trees die with the server, even when it is SIGKILLed.
 *
 * PR_SET_PDEATHSIG reaches only our direct children: a grandchild (`sh -c "sleep 9 & wait"`)
 * would outlive a SIGKILLed server. So the server starts one small watcher process, the
 * sentinel: `sandbox-agent sentinel`, started before the first child (posix_spawn, then it
 * forks the watcher and leaves), so that it is re-parented to init: nobody's descendant in
 * process listings, in no group of ours. It holds the read end of a pipe whose only write
 * end is the server's. The server tells it every session it starts and every session that ended
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
#include <spawn.h>
#include <fcntl.h>
#include <poll.h>
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

/* Started by the server: fork the watcher and leave, so that it is re-parented to init
 * (the server waits for this exit with its subreaper flag off). */
int proc_sentinel_command(void) {
    struct stat st;
    if (fstat(3, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        fprintf(stderr,
                "sandbox-agent sentinel: started by the server only (fd 3 must be its pipe)\n");
        return 2;
    }
    close_range(4, ~0U, 0); /* whatever the server inherited without CLOEXEC is not ours */
    pid_t w = fork();
    if (w < 0)
        return 1;
    if (w > 0)
        _exit(0);
    proc_sentinel_main(3);
}

/* ---- the server's side ------------------------------------------------------------------- */

/* Start `sandbox-agent sentinel` with the pipe's read end as fd 3 (posix_spawn: a
 * vfork-style clone, no copy of the server) and wait until it has forked the real watcher
 * and left, so that the watcher is re-parented to init. Blocks for one exec of this binary,
 * once, on the spawner thread before its first child.
 *
 * The loop's SIGCHLD reaper (waitpid(-1)) may reap the middle hop before we do: waitpid
 * then fails with ECHILD and its status is lost. The pipe tells the outcome either way: a
 * write end whose read end nobody holds any more (the watcher never started) polls POLLERR. */
static bool proc_sentinel_start_now(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 3);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"sandbox-agent", "sentinel", NULL};
    pid_t pid;
    int r = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[0]);
    int st = 0;
    pid_t w = -1;
    while (r == 0 && (w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    bool exited_ok = w == pid ? WIFEXITED(st) && WEXITSTATUS(st) == 0 : errno == ECHILD;
    struct pollfd pfd = {.fd = fds[1], .events = POLLOUT};
    bool reader = poll(&pfd, 1, 0) == 1 && !(pfd.revents & (POLLERR | POLLHUP));
    if (r != 0 || !exited_ok || !reader) {
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

/* Started on first use, by the spawner thread before the first child: a server answers its
 * requests without waiting for the launch (an exec of this binary), and a server that never
 * spawns never pays for it. Our subreaper flag is off during the launch, or the sentinel would be
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
