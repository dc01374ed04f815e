/* loopwatch.c - a watchdog for the event loop: logs every loop iteration that kept the
 * loop busy longer than a threshold (SANDBOX_AGENT_LOOP_WATCHDOG_MS).
 *
 * One blocking call on the loop (a stat, a sync write, a scan) stalls every client; this
 * makes such stalls visible while the test suite runs.
 *
 * An iteration's busy time is measured in two parts, so that a loop that merely waited is
 * never reported:
 *   - outside the poll phase (timers, pending and close callbacks): from the check
 *     callback, which runs right after the poll phase, to the next prepare callback, which
 *     runs right before it;
 *   - inside the poll phase (the I/O callbacks): from the moment the kernel's wait returned
 *     to the check callback. libuv updates the loop's clock (uv_now) right after
 *     epoll_wait returns, so that moment is uv_now, to the millisecond.
 * uv_metrics_idle_time is not used: libuv 1.44 does not count the wait as idle when only
 * a signal woke the loop (every SIGCHLD of an exiting agent), which reported an idle
 * second as a blocked one.
 *
 * Wall time alone cannot tell a loop that worked from one the kernel preempted (two cores,
 * a browser and a dozen processes in the test suite), nor from one that slept in a blocking
 * syscall. So each report also gives the loop thread's CPU time over the iteration and its
 * context switches: `preempted` (involuntary: the CPU was taken away) and `waits`
 * (voluntary: the thread slept, once in epoll_wait plus once per blocking call).
 *
 * And it says where the time went: a sampler thread reads the loop thread's
 * /proc/self/task/<tid>/syscall every quarter threshold. Outside epoll_wait the loop is
 * either running (user code, or runnable and waiting for a CPU: compare cpu_ms) or blocked
 * in a syscall, which is named: `in=futex:6,running:2`
 * points at a lock, `in=fsync:9` at a synchronous disk write. */
/* RUSAGE_THREAD, gettid: _GNU_SOURCE comes from the Makefile */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

/* Samples per syscall number of the current iteration; the last slot counts "running".
 * Written by the sampler thread, read and reset by the loop thread's prepare callback. */
#define LOOPWATCH_NSYS 512
#define LOOPWATCH_RUNNING LOOPWATCH_NSYS
static atomic_uint loopwatch_samples[LOOPWATCH_NSYS + 1];
static atomic_uint loopwatch_sampled; /* any sample since the last reset */

/* The watchdog's handles and clocks (uv_hrtime nanoseconds). Owner: this file, for the
 * loop's lifetime; the handles are closed by the loop's final uv_walk like every other. */
static struct {
    uv_prepare_t prepare;
    uv_check_t check;
    uint64_t threshold_ns;
    uint64_t prepare_ns;   /* the last prepare callback: the poll phase began */
    uint64_t check_ns;     /* the last check callback: the poll phase ended */
    uint64_t poll_busy_ns; /* the I/O callbacks' share of the current iteration */
    struct rusage usage;   /* the loop thread's, at the last prepare callback */
    bool on;
    bool running; /* the loop has reached its first poll */
} loopwatch;

/* The syscalls a blocked loop is likely to be found in; others are shown by number. */
static const struct {
    int nr;
    const char *name;
} loopwatch_sys_names[] = {
    {SYS_read, "read"},
    {SYS_write, "write"},
    {SYS_pread64, "pread64"},
    {SYS_pwrite64, "pwrite64"},
    {SYS_readv, "readv"},
    {SYS_writev, "writev"},
    {SYS_open, "open"},
    {SYS_openat, "openat"},
    {SYS_close, "close"},
    {SYS_fsync, "fsync"},
    {SYS_fdatasync, "fdatasync"},
    {SYS_futex, "futex"},
    {SYS_wait4, "wait4"},
    {SYS_waitid, "waitid"},
    {SYS_poll, "poll"},
    {SYS_ppoll, "ppoll"},
    {SYS_select, "select"},
    {SYS_pselect6, "pselect6"},
    {SYS_connect, "connect"},
    {SYS_sendto, "sendto"},
    {SYS_recvfrom, "recvfrom"},
    {SYS_sendmsg, "sendmsg"},
    {SYS_recvmsg, "recvmsg"},
    {SYS_nanosleep, "nanosleep"},
    {SYS_clock_nanosleep, "clock_nanosleep"},
    {SYS_clone, "clone"},
    {SYS_clone3, "clone3"},
    {SYS_execve, "execve"},
    {SYS_mkdir, "mkdir"},
    {SYS_mkdirat, "mkdirat"},
    {SYS_rename, "rename"},
    {SYS_renameat2, "renameat2"},
    {SYS_unlink, "unlink"},
    {SYS_unlinkat, "unlinkat"},
    {SYS_stat, "stat"},
    {SYS_lstat, "lstat"},
    {SYS_newfstatat, "newfstatat"},
    {SYS_statx, "statx"},
    {SYS_getdents64, "getdents64"},
    {SYS_flock, "flock"},
    {SYS_fcntl, "fcntl"},
    {SYS_mmap, "mmap"},
    {SYS_munmap, "munmap"},
    {SYS_madvise, "madvise"},
    {SYS_kill, "kill"},
};

static const char *loopwatch_sys_name(int nr) {
    for (size_t i = 0; i < sizeof loopwatch_sys_names / sizeof loopwatch_sys_names[0]; i++)
        if (loopwatch_sys_names[i].nr == nr)
            return loopwatch_sys_names[i].name;
    return NULL;
}

/* One look at what the loop thread is doing. "running" in the file means user space; a
 * number is the syscall it is in; epoll_wait is idle and not counted. */
static void loopwatch_sample(const char *path) {
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    int slot;
    if (!strncmp(buf, "running", 7)) {
        slot = LOOPWATCH_RUNNING;
    } else {
        int nr = atoi(buf);
        if (nr < 0 || nr >= LOOPWATCH_NSYS || nr == SYS_epoll_wait || nr == SYS_epoll_pwait ||
            nr == SYS_epoll_pwait2)
            return;
        slot = nr;
    }
    atomic_fetch_add_explicit(&loopwatch_samples[slot], 1, memory_order_relaxed);
    atomic_store_explicit(&loopwatch_sampled, 1, memory_order_relaxed);
}

/* The sampler thread: detached, lives as long as the process. */
static void *loopwatch_sampler(void *arg) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", (long)(intptr_t)arg);
    uint64_t period = loopwatch.threshold_ns / 4;
    struct timespec ts = {.tv_sec = (time_t)(period / 1000000000u),
                          .tv_nsec = (long)(period % 1000000000u)};
    for (;;) {
        nanosleep(&ts, NULL);
        loopwatch_sample(path);
    }
    return NULL;
}

/* "futex:6,running:2" from the samples of the iteration, most first; resets them. */
static void loopwatch_take_samples(char *out, size_t cap) {
    out[0] = 0;
    if (!atomic_exchange_explicit(&loopwatch_sampled, 0, memory_order_relaxed))
        return;
    unsigned counts[LOOPWATCH_NSYS + 1];
    for (int i = 0; i <= LOOPWATCH_NSYS; i++)
        counts[i] = atomic_exchange_explicit(&loopwatch_samples[i], 0, memory_order_relaxed);
    size_t len = 0;
    for (;;) {
        int best = -1;
        for (int i = 0; i <= LOOPWATCH_NSYS; i++)
            if (counts[i] && (best < 0 || counts[i] > counts[best]))
                best = i;
        if (best < 0 || len + 32 >= cap)
            return;
        const char *name = best == LOOPWATCH_RUNNING ? "running" : loopwatch_sys_name(best);
        int n = name ? snprintf(out + len, cap - len, "%s%s:%u", len ? "," : "", name, counts[best])
                     : snprintf(out + len, cap - len, "%ssys_%d:%u", len ? "," : "", best,
                                counts[best]);
        len += (size_t)n;
        counts[best] = 0;
    }
}

static void loopwatch_check_cb(uv_check_t *h) {
    uint64_t now = uv_hrtime();
    uint64_t woke = uv_now(h->loop) * 1000000u; /* when the kernel's wait returned */
    if (woke < loopwatch.prepare_ns)
        woke = loopwatch.prepare_ns; /* the clock's millisecond truncation */
    loopwatch.poll_busy_ns = now > woke ? now - woke : 0;
    loopwatch.check_ns = now;
}

static double loopwatch_cpu_ms(const struct rusage *u) {
    return (double)(u->ru_utime.tv_sec + u->ru_stime.tv_sec) * 1e3 +
           (double)(u->ru_utime.tv_usec + u->ru_stime.tv_usec) / 1e3;
}

static void loopwatch_prepare_cb(uv_prepare_t *h) {
    (void)h;
    uint64_t now = uv_hrtime();
    uint64_t busy = loopwatch.poll_busy_ns + (now - loopwatch.check_ns);
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    char in[256];
    loopwatch_take_samples(in, sizeof in);
    /* The first iteration holds the startup (opening the journal, binding), done before
     * the listener accepts anyone: it stalls no client, and the server logs it as startup. */
    if (!loopwatch.running)
        loopwatch.running = true;
    else if (busy > loopwatch.threshold_ns)
        LOG_WARN("event loop blocked",
                 "busy_ms=%.1f cpu_ms=%.1f preempted=%ld waits=%ld in=%s threshold_ms=%.0f",
                 (double)busy / 1e6, loopwatch_cpu_ms(&u) - loopwatch_cpu_ms(&loopwatch.usage),
                 u.ru_nivcsw - loopwatch.usage.ru_nivcsw, u.ru_nvcsw - loopwatch.usage.ru_nvcsw,
                 in[0] ? in : "-", (double)loopwatch.threshold_ns / 1e6);
    loopwatch.usage = u;
    loopwatch.poll_busy_ns = 0;
    loopwatch.prepare_ns = now;
}

void base_loopwatch_stop(void) {
    if (!loopwatch.on)
        return;
    uv_prepare_stop(&loopwatch.prepare);
    uv_check_stop(&loopwatch.check);
    loopwatch.on = false;
}

bool base_loopwatch_start(uv_loop_t *loop) {
    int64_t ms = base_env_int("SANDBOX_AGENT_LOOP_WATCHDOG_MS", 0, 0, 600000);
    if (ms <= 0 || loopwatch.on)
        return false;
    loopwatch.threshold_ns = (uint64_t)ms * 1000000u;
    loopwatch.prepare_ns = loopwatch.check_ns = uv_hrtime();
    getrusage(RUSAGE_THREAD, &loopwatch.usage);
    uv_prepare_init(loop, &loopwatch.prepare);
    uv_prepare_start(&loopwatch.prepare, loopwatch_prepare_cb);
    uv_check_init(loop, &loopwatch.check);
    uv_check_start(&loopwatch.check, loopwatch_check_cb);
    /* Neither keeps the loop alive by itself. */
    uv_unref((uv_handle_t *)&loopwatch.prepare);
    uv_unref((uv_handle_t *)&loopwatch.check);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, loopwatch_sampler, (void *)(intptr_t)gettid()) != 0)
        LOG_WARN("loop watchdog: no sampler thread", NULL);
    pthread_attr_destroy(&attr);
    loopwatch.on = true;
    LOG_INFO("event loop watchdog on", "threshold_ms=%lld", (long long)ms);
    return true;
}
