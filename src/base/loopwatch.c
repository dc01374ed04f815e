/* loopwatch.c - a watchdog for the event loop: logs every loop iteration that kept the
 * loop busy longer than a threshold (SANDBOX_AGENT_LOOP_WATCHDOG_MS).
 *
 * One blocking call on the loop (a stat, a sync write, a scan) stalls every client; this
 * makes such stalls visible while the test suite runs. An iteration's busy time is the wall
 * time between two prepare callbacks minus the time libuv spent idle in epoll in between
 * (uv_metrics_idle_time), so a loop that merely waited is never reported. */
#include "base/base.h"

/* The watchdog's handles. Owner: this file, for the loop's lifetime; closed by the loop's
 * final uv_walk like every other handle. */
static struct {
    uv_prepare_t prepare;
    uint64_t threshold_ns;
    uint64_t last_ns;
    uint64_t last_idle_ns;
    bool on;
} loopwatch;

static void loopwatch_prepare_cb(uv_prepare_t *h) {
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(h->loop);
    uint64_t wall = now - loopwatch.last_ns;
    uint64_t waited = idle - loopwatch.last_idle_ns;
    uint64_t busy = wall > waited ? wall - waited : 0;
    if (busy > loopwatch.threshold_ns)
        LOG_WARN("event loop blocked", "busy_ms=%.1f threshold_ms=%.0f", (double)busy / 1e6,
                 (double)loopwatch.threshold_ns / 1e6);
    loopwatch.last_ns = now;
    loopwatch.last_idle_ns = idle;
}

bool base_loopwatch_start(uv_loop_t *loop) {
    int64_t ms = base_env_int("SANDBOX_AGENT_LOOP_WATCHDOG_MS", 0, 0, 600000);
    if (ms <= 0 || loopwatch.on)
        return false;
    if (uv_loop_configure(loop, UV_METRICS_IDLE_TIME) != 0)
        return false;
    loopwatch.threshold_ns = (uint64_t)ms * 1000000u;
    loopwatch.last_ns = uv_hrtime();
    loopwatch.last_idle_ns = uv_metrics_idle_time(loop);
    uv_prepare_init(loop, &loopwatch.prepare);
    uv_prepare_start(&loopwatch.prepare, loopwatch_prepare_cb);
    uv_unref((uv_handle_t *)&loopwatch.prepare); /* never keeps the loop alive by itself */
    loopwatch.on = true;
    LOG_INFO("event loop watchdog on", "threshold_ms=%lld", (long long)ms);
    return true;
}
