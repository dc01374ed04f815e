/* exec.c - starting a child without copying the server: clone(CLONE_VM|CLONE_VFORK), then
 * in the child only async-signal-safe system calls up to execve.
 *
 * Why not libuv's spawn: the guarantee that no child outlives a SIGKILLed server needs
 * PR_SET_PDEATHSIG in the child, which libuv cannot set; the old workaround (exec our own
 * binary as a guard, which then exec'd the target) cost a second exec of a dynamically
 * linked binary per child, plus a PATH walk on the event loop to predict exec errors that
 * the guard could not report. Here the child reports chdir/exec errors itself through a
 * CLOEXEC pipe, so the spawn fails with the real errno (reported to the loop by spawner.c).
 *
 * Why CLONE_VM|CLONE_VFORK (the way glibc's posix_spawn works): the child borrows the
 * server's memory until it execs, so no page tables are copied, and the parent sleeps until
 * the exec, so the child's stack (a buffer in the parent's frame) stays valid. Everything
 * the child reads was prepared before the clone (proc_exec_plan); it writes nothing of the
 * parent's memory except the errno it may clobber (same thread-local storage).
 *
 * Signals: the parent blocks every signal around the clone, so that no handler of ours
 * can run in the child while it shares our memory; the child resets every disposition to
 * the default (SIG_IGN, e.g. SIGPIPE, would otherwise survive the exec) and then clears
 * the mask, as libuv's own child setup did.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
 * children are spawned from the spawner thread (spawner.c), which lives as long as the
 * server. */
#include "proc/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

/* The child's stack while it shares our memory: a few system-call frames deep. */
#define PROC_EXEC_STACK 32768

/* The child runs on a foreign stack in borrowed memory: sanitizer instrumentation (stack
 * redzones, fake stacks kept in the parent's thread state) must stay out of it. */
#define PROC_CHILD_CODE __attribute__((noinline, no_sanitize_address, no_sanitize_undefined))

extern char **environ;

/* ---- plan (parent side) -------------------------------------------------------------------- */

static const char *proc_exec_search_path(char **env) {
    if (env) {
        for (size_t i = 0; env[i]; i++)
            if (!strncmp(env[i], "PATH=", 5))
                return env[i] + 5;
        return "/bin:/usr/bin"; /* glibc's execvp default */
    }
    const char *p = getenv("PATH");
    return p ? p : "/bin:/usr/bin";
}

/* One allocation: the pointer array followed by the strings. A file with a slash is tried
 * as is; otherwise dir/file for every PATH entry (an empty entry is the directory the
 * child runs in, resolved by the kernel after the chdir, as execvp does). */
static char **proc_exec_candidates(const char *file, const char *path) {
    size_t flen = strlen(file);
    size_t n = 1, bytes = 0;
    if (strchr(file, '/')) {
        bytes = flen + 1;
    } else {
        for (const char *s = path; *s; s++)
            n += *s == ':';
        bytes = strlen(path) + n * (flen + 3); /* per entry: '/', file, NUL, maybe "." */
    }
    char **v = base_xmalloc((n + 1) * sizeof(char *) + bytes);
    char *out = (char *)(v + n + 1);
    if (strchr(file, '/')) {
        memcpy(out, file, flen + 1);
        v[0] = out;
        v[1] = NULL;
        return v;
    }
    size_t k = 0;
    for (const char *s = path;;) {
        const char *colon = strchr(s, ':');
        size_t dlen = colon ? (size_t)(colon - s) : strlen(s);
        v[k++] = out;
        if (dlen == 0)
            *out++ = '.';
        memcpy(out, s, dlen);
        out += dlen;
        *out++ = '/';
        memcpy(out, file, flen + 1);
        out += flen + 1;
        if (!colon)
            break;
        s = colon + 1;
    }
    v[k] = NULL;
    return v;
}

void proc_exec_plan_init(proc_exec_plan *p, const char *file, char *const *argv, char **env,
                         const char *cwd) {
    memset(p, 0, sizeof *p);
    p->paths = proc_exec_candidates(file, proc_exec_search_path(env));
    p->argv = argv;
    p->envp = env ? env : environ;
    p->cwd = cwd;
    p->stdio[0] = p->stdio[1] = p->stdio[2] = -1;
    p->err_fd = -1;
    p->new_session = true;
}

void proc_exec_plan_free(proc_exec_plan *p) {
    free(p->paths);
    p->paths = NULL;
}

int proc_exec_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2)
            continue;
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fds[i]);
        fds[i] = moved;
        if (moved < 0) {
            close(fds[1 - i]);
            return -e;
        }
    }
    return 0;
}

/* ---- child side (async-signal-safe only) ------------------------------------------------- */

/* Like execvp's search: EACCES is remembered and the search goes on; "not there" errors go
 * on; any other error is about an existing file and ends the search. */
PROC_CHILD_CODE static int proc_exec_paths(const proc_exec_plan *p) {
    bool eacces = false;
    for (size_t i = 0; p->paths[i]; i++) {
        execve(p->paths[i], p->argv, p->envp);
        int e = errno;
        if (!p->paths[1])
            return e;
        if (e == EACCES)
            eacces = true;
        else if (e != ENOENT && e != ENOTDIR && e != ESTALE && e != ENODEV && e != ETIMEDOUT)
            return e;
    }
    return eacces ? EACCES : ENOENT;
}

/* Raw rt_sigprocmask: glibc's wrappers quietly keep its two internal signals unblocked. */
PROC_CHILD_CODE static void proc_exec_sigmask(const sigset_t *set, sigset_t *old) {
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, _NSIG / 8);
}

/* The kernel's struct sigaction (the generic layout: x86-64, arm64, riscv). The raw call is
 * used because glibc's sigaction refuses its two internal signals (32, 33), which may
 * arrive ignored from whoever started the server and would stay ignored across exec. */
typedef struct proc_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
} proc_kernel_sigaction;

/* Prepared in static memory: the child builds nothing. */
static const proc_kernel_sigaction proc_exec_dfl = {.handler = SIG_DFL};
static const sigset_t proc_exec_none;

PROC_CHILD_CODE static int proc_exec_prepare(const proc_exec_plan *p) {
    for (int s = 1; s < _NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            syscall(SYS_rt_sigaction, s, &proc_exec_dfl, NULL, sizeof proc_exec_dfl.mask);
    if (p->new_session && setsid() < 0)
        return errno;
    if (p->die_with_server) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The server may have died between the fork and the prctl: then nobody would
         * kill us, so do not start at all. */
        if (getppid() != p->parent)
            return ESRCH;
    }
    for (int i = 0; i < 3; i++)
        if (p->stdio[i] >= 0 && dup2(p->stdio[i], i) < 0) /* dup2 clears CLOEXEC */
            return errno;
    if (p->cwd && chdir(p->cwd) != 0)
        return errno;
    proc_exec_sigmask(&proc_exec_none, NULL);
    return 0;
}

PROC_CHILD_CODE void proc_exec_child(const proc_exec_plan *p) {
    int e = proc_exec_prepare(p);
    if (e == 0)
        e = proc_exec_paths(p);
    ssize_t r = write(p->err_fd, &e, sizeof e);
    (void)r;
}

PROC_CHILD_CODE static int proc_exec_clone_main(void *arg) {
    proc_exec_child(arg);
    _exit(127);
}

/* ---- spawn (parent side) ------------------------------------------------------------------- */

/* Blocks (the spawner thread) only until the child has exec'd (EOF: the CLOEXEC write end
 * closed) or failed (it wrote errno). With CLONE_VFORK that has already happened when clone
 * returns; where a tool turns the clone into a plain fork (valgrind), the read waits for it. */
static int proc_exec_child_errno(int fd) {
    int child_errno = 0;
    ssize_t r;
    do
        r = read(fd, &child_errno, sizeof child_errno);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof child_errno ? child_errno : 0;
}

pid_t proc_exec_spawn(proc_exec_plan *p) {
    int errpipe[2];
    int rc = proc_exec_pipe(errpipe);
    if (rc < 0)
        return rc;
    p->err_fd = errpipe[1];
    p->parent = getpid();
    /* 16-byte aligned top of stack; the parent sleeps while the child uses it. */
    char stack[PROC_EXEC_STACK] __attribute__((aligned(16)));
    sigset_t all, old;
    memset(&all, 0xff, sizeof all);
    proc_exec_sigmask(&all, &old);
    pid_t pid =
        clone(proc_exec_clone_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, p);
    int clone_errno = errno;
    proc_exec_sigmask(&old, NULL);
    close(errpipe[1]);
    p->err_fd = -1;
    if (pid < 0) {
        close(errpipe[0]);
        return -clone_errno;
    }
    int child_errno = proc_exec_child_errno(errpipe[0]);
    close(errpipe[0]);
    if (child_errno) {
        /* It has _exit'ed or is about to: reap it here. The loop's reaper may get there first
         * (ECHILD here); it then keeps the status of an unknown pid while starts are in
         * flight, which is dropped once this outcome was delivered. */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        return -child_errno;
    }
    return pid;
}
