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
 * (voluntary: the thread slept, once in epoll_wait plus once per blocking call). */
/* RUSAGE_THREAD: _GNU_SOURCE comes from the Makefile */
#include <sys/resource.h>

#include "base/base.h"

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
    /* The first iteration holds the startup (opening the journal, binding), done before
     * the listener accepts anyone: it stalls no client, and the server logs it as startup. */
    if (!loopwatch.running)
        loopwatch.running = true;
    else if (busy > loopwatch.threshold_ns)
        LOG_WARN("event loop blocked",
                 "busy_ms=%.1f cpu_ms=%.1f preempted=%ld waits=%ld threshold_ms=%.0f",
                 (double)busy / 1e6, loopwatch_cpu_ms(&u) - loopwatch_cpu_ms(&loopwatch.usage),
                 u.ru_nivcsw - loopwatch.usage.ru_nivcsw, u.ru_nvcsw - loopwatch.usage.ru_nvcsw,
                 (double)loopwatch.threshold_ns / 1e6);
    loopwatch.usage = u;
    loopwatch.poll_busy_ns = 0;
    loopwatch.prepare_ns = now;
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
    loopwatch.on = true;
    LOG_INFO("event loop watchdog on", "threshold_ms=%lld", (long long)ms);
    return true;
}
