/* runtime.c - the private desktop's life: Xvfb, the session bus, openbox and the X
 * connection, from start to stop, and the status that describes them.
 *
 * Start, step by step (each step waits for an event, never a fixed sleep):
 *   1. thread pool: make the state directory, open the runtime log, find a free display
 *      number from displayNum (default 99) up, past sockets and lock files in /tmp;
 *   2. Xvfb :N -displayfd 1: Xvfb writes the display number to our pipe once it accepts
 *      connections (the socket file appears ~140 ms earlier, so waiting for it is not
 *      enough). If the number was taken meanwhile, Xvfb exits and the next one is tried;
 *   3. dbus-daemon --session, when installed, for apps that want a session bus: its
 *      address comes on its stdout (optional: its absence or failure is logged only);
 *   4. the X thread connects;
 *   5. openbox starts; ready when it has set _NET_SUPPORTING_WM_CHECK on the root and
 *      answers a request (windows.c: it announces itself before it handles events).
 * Everything is bounded by one 15 s timer. A failure stops what started and the state is
 * `failed` with the reason.
 *
 * The children run in process groups of their own with the parent-death signal set
 * (proc_spawn's die_with_server), and proc's sentinel kills them if the server is killed,
 * so neither a stop, a shutdown nor a SIGKILL of the server leaves an X server behind.
 * Health: a child that exits, or an X connection that breaks, moves an active runtime to
 * `failed` at once; no screenshot is taken as a health check. */
#include "desktop/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"

#define DESKTOP_START_TIMEOUT_MS 15000
#define DESKTOP_DISPLAY_TRIES 32

/* One child of the runtime. Owner: desktop_rt.kids. */
typedef struct desktop_kid {
    const char *name; /* "Xvfb", "dbus", "openbox" */
    proc_child *child;
    pid_t pid;
    bool running;
    bool optional; /* its exit does not fail the runtime */
    base_buf out;  /* stdout until its first line is read (display number, bus address) */
    bool spawn_failed;
} desktop_kid;

enum { DESKTOP_KID_XVFB, DESKTOP_KID_DBUS, DESKTOP_KID_WM, DESKTOP_NKIDS };

/* A request waiting for a transition to finish. Owner: the waiter list. */
typedef struct desktop_waiter {
    http_req *req;
    struct desktop_waiter *next;
} desktop_waiter;

/* The runtime. Owner: static, loop thread only. */
static struct {
    uv_loop_t *loop;
    desktop_state state;
    char *last_code, *last_message; /* lastError, or NULL */
    /* what start asked for */
    unsigned width, height, dpi, display_from, recording_fps;
    char *state_dir; /* stateDir, or $HOME/.local/state/sandbox-agent/desktop */
    char *log_path;
    uv_file log_fd; /* -1 when closed */
    /* what start found */
    int display_num;
    char display[16];
    char started_at[64];
    char *bus_address;
    desktop_kid kids[DESKTOP_NKIDS];
    uv_timer_t timer; /* the start deadline, then WM polling */
    int tries;
    desktop_waiter *start_waiters, *stop_waiters;
    bool x_up;
    int stop_pending;          /* record, apps, kids: steps of a stop not yet done */
    bool shutdown;             /* the server is shutting down */
    desktop_start_opts stream; /* the stream options of the last start (static strings) */
} desktop_rt = {.log_fd = -1,
                .stream = {.stream_codec = "vp8",
                           .stream_audio = "opus",
                           .stream_fps = 30,
                           .port_min = 59050,
                           .port_max = 59070}};

static void desktop_rt_fail(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- accessors ---------------------------------------------------------------------------- */

const char *desktop_state_name(desktop_state s) {
    static const char *names[] = {"inactive", "install_required", "starting",
                                  "active",   "stopping",         "failed"};
    return names[s];
}

desktop_state desktop_runtime_state(void) {
    return desktop_rt.state;
}

const char *desktop_runtime_display(void) {
    return desktop_rt.display;
}

void desktop_runtime_size(int *w, int *h) {
    *w = (int)desktop_rt.width;
    *h = (int)desktop_rt.height;
}

const desktop_start_opts *desktop_runtime_stream_opts(void) {
    return &desktop_rt.stream;
}

unsigned desktop_runtime_recording_fps(void) {
    return desktop_rt.recording_fps ? desktop_rt.recording_fps : 30;
}

static const char *desktop_default_state_dir(void) {
    static char *dir;
    if (!dir) {
        const char *home = getenv("HOME");
        dir =
            base_xasprintf("%s/.local/state/sandbox-agent/desktop", home && *home ? home : "/tmp");
    }
    return dir;
}

const char *desktop_runtime_state_dir(void) {
    return desktop_rt.state_dir ? desktop_rt.state_dir : desktop_default_state_dir();
}

static const char *desktop_log_path(void) {
    static char *path;
    if (desktop_rt.log_path)
        return desktop_rt.log_path;
    if (!path)
        path = base_xasprintf("%s/desktop-runtime.log", desktop_default_state_dir());
    return path;
}

void desktop_strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

extern char **environ;

char **desktop_runtime_env(void) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = base_xcalloc(n + 3, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "DISPLAY=", 8) ||
            !strncmp(environ[i], "DBUS_SESSION_BUS_ADDRESS=", 25) ||
            !strncmp(environ[i], "WAYLAND_DISPLAY=", 16))
            continue;
        env[k++] = base_xstrdup(environ[i]);
    }
    env[k++] = base_xasprintf("DISPLAY=%s", desktop_rt.display);
    if (desktop_rt.bus_address)
        env[k++] = base_xasprintf("DBUS_SESSION_BUS_ADDRESS=%s", desktop_rt.bus_address);
    env[k] = NULL;
    return env;
}

bool desktop_runtime_has_processes(void) {
    for (int i = 0; i < DESKTOP_NKIDS; i++)
        if (desktop_rt.kids[i].child)
            return true;
    return false;
}

json_t *desktop_runtime_processes(void) {
    json_t *arr = json_array();
    static const int order[] = {DESKTOP_KID_XVFB, DESKTOP_KID_WM, DESKTOP_KID_DBUS};
    for (int i = 0; i < DESKTOP_NKIDS; i++) {
        desktop_kid *k = &desktop_rt.kids[order[i]];
        if (!k->child)
            continue;
        json_t *o = json_pack("{s:s}", "name", k->name);
        if (k->pid)
            json_object_set_new(o, "pid", json_integer(k->pid));
        json_object_set_new(o, "running", json_boolean(k->running));
        json_object_set_new(o, "logPath", json_string(desktop_log_path()));
        json_array_append_new(arr, o);
    }
    json_t *rec = desktop_record_process();
    if (rec)
        json_array_append_new(arr, rec);
    return arr;
}

/* ---- the log ------------------------------------------------------------------------------ */

/* One write to the runtime log. Owner: itself, freed when the write completed. */
typedef struct desktop_log_write {
    uv_fs_t fs;
    char data[];
} desktop_log_write;

static void desktop_log_written(uv_fs_t *fs) {
    uv_fs_req_cleanup(fs);
    free(fs->data);
}

/* Append to the runtime log without waiting (the write runs on the thread pool; appends
 * land in order since the file is opened with O_APPEND and each write is one call). */
static void desktop_log_bytes(const char *data, size_t len) {
    if (desktop_rt.log_fd < 0 || !len)
        return;
    desktop_log_write *w = base_xmalloc(sizeof *w + len);
    memcpy(w->data, data, len);
    w->fs.data = w;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_fs_write(desktop_rt.loop, &w->fs, desktop_rt.log_fd, &b, 1, -1, desktop_log_written))
        free(w);
}

static void desktop_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void desktop_log(const char *fmt, ...) {
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    desktop_log_bytes(line, len);
}

static void desktop_log_close(void) {
    if (desktop_rt.log_fd >= 0) {
        uv_fs_t fs;
        uv_fs_close(NULL, &fs, desktop_rt.log_fd, NULL); /* pending writes hold no fd copy */
        uv_fs_req_cleanup(&fs);
        desktop_rt.log_fd = -1;
    }
}

/* ---- status ------------------------------------------------------------------------------- */

/* The status without windows (those need the X thread: routes.c adds them). */
json_t *desktop_runtime_status(void) {
    const desktop_deps *d = desktop_deps_check();
    desktop_state st = desktop_rt.state;
    const char *code = desktop_rt.last_code, *msg = desktop_rt.last_message;
    char *deps_msg = NULL;
    /* At rest, the state follows the machine: installing the packages makes it inactive
     * without a restart, and a stop does not hide that they are missing (a reference quirk). */
    if (st == DESKTOP_INACTIVE || st == DESKTOP_INSTALL_REQUIRED) {
        st = d->nmissing ? DESKTOP_INSTALL_REQUIRED : DESKTOP_INACTIVE;
        if (d->nmissing) {
            deps_msg = desktop_deps_message(d);
            code = "desktop_dependencies_missing";
            msg = deps_msg;
        } else if (st == DESKTOP_INACTIVE && code &&
                   !strcmp(code, "desktop_dependencies_missing")) {
            code = msg = NULL;
        }
    }
    json_t *o = json_pack("{s:s}", "state", desktop_state_name(st));
    if (st == DESKTOP_ACTIVE) {
        json_object_set_new(o, "display", json_string(desktop_rt.display));
        json_object_set_new(o, "resolution",
                            json_pack("{s:i,s:i,s:i}", "width", (int)desktop_rt.width, "height",
                                      (int)desktop_rt.height, "dpi", (int)desktop_rt.dpi));
        json_object_set_new(o, "startedAt", json_string(desktop_rt.started_at));
    }
    if (code)
        json_object_set_new(o, "lastError", json_pack("{s:s,s:s}", "code", code, "message", msg));
    json_t *missing = json_array();
    for (size_t i = 0; i < d->nmissing; i++)
        json_array_append_new(missing, json_string(d->missing[i]));
    json_object_set_new(o, "missingDependencies", missing);
    if (d->nmissing)
        json_object_set_new(o, "installCommand", json_string(DESKTOP_INSTALL_COMMAND));
    json_object_set_new(o, "processes", desktop_runtime_processes());
    json_object_set_new(o, "runtimeLogPath", json_string(desktop_log_path()));
    free(deps_msg);
    return o;
}

int desktop_runtime_gate(http_req *req) {
    switch (desktop_rt.state) {
    case DESKTOP_ACTIVE:
        return 0;
    case DESKTOP_STARTING:
        desktop_problem(req, "desktop_runtime_starting", "Desktop runtime is starting", NULL);
        return -1;
    case DESKTOP_STOPPING:
        desktop_problem(req, "desktop_runtime_inactive", "Desktop runtime is stopping", NULL);
        return -1;
    case DESKTOP_FAILED:
        desktop_problem(
            req, "desktop_runtime_failed",
            desktop_rt.last_message ? desktop_rt.last_message : "Desktop runtime failed", NULL);
        return -1;
    default:
        break;
    }
    const desktop_deps *d = desktop_deps_check();
    if (d->nmissing) {
        char *msg = desktop_deps_message(d);
        json_t *missing = json_array();
        for (size_t i = 0; i < d->nmissing; i++)
            json_array_append_new(missing, json_string(d->missing[i]));
        desktop_problem(req, "desktop_dependencies_missing", msg,
                        json_pack("{s:s,s:o}", "installCommand", DESKTOP_INSTALL_COMMAND,
                                  "missingDependencies", missing));
        free(msg);
        return -1;
    }
    desktop_problem(req, "desktop_runtime_inactive", "Desktop runtime has not been started", NULL);
    return -1;
}

/* ---- waiters ------------------------------------------------------------------------------ */

static void desktop_waiter_abort(http_req *req, void *ud) {
    desktop_waiter *w = ud;
    w->req = NULL;
}

static void desktop_waiter_add(desktop_waiter **list, http_req *req) {
    desktop_waiter *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->next = *list;
    *list = w;
    http_req_on_abort(req, desktop_waiter_abort, w);
}

/* Answer every waiter of a list: with the status (err NULL) or the problem. */
static void desktop_waiters_finish(desktop_waiter **list, const char *code, const char *msg) {
    desktop_waiter *w = *list;
    *list = NULL;
    while (w) {
        desktop_waiter *next = w->next;
        if (w->req) {
            http_req_on_abort(w->req, NULL, NULL);
            if (code)
                desktop_problem(w->req, code, msg, NULL);
            else
                desktop_reply_status(w->req);
        }
        free(w);
        w = next;
    }
}

/* ---- children ----------------------------------------------------------------------------- */

static void desktop_set_error(const char *code, const char *msg) {
    free(desktop_rt.last_code);
    free(desktop_rt.last_message);
    desktop_rt.last_code = code ? base_xstrdup(code) : NULL;
    desktop_rt.last_message = msg ? base_xstrdup(msg) : NULL;
}

static void desktop_kid_stdout(proc_child *c, const char *data, size_t len, void *ud);
static void desktop_kid_stderr(proc_child *c, const char *data, size_t len, void *ud);
static void desktop_kid_exit(proc_child *c, int code, int sig, void *ud);
static void desktop_kid_start(proc_child *c, int err, void *ud);

static const proc_callbacks desktop_kid_cb = {
    .on_stdout = desktop_kid_stdout,
    .on_stderr = desktop_kid_stderr,
    .on_exit = desktop_kid_exit,
    .on_start = desktop_kid_start,
};

static void desktop_kid_spawn(int which, const char *name, char **argv, bool optional) {
    desktop_kid *k = &desktop_rt.kids[which];
    BASE_ASSERT(!k->child);
    k->name = name;
    k->optional = optional;
    k->pid = 0;
    k->running = false;
    k->spawn_failed = false;
    base_buf_free(&k->out);
    base_buf_init(&k->out);
    char **env = desktop_runtime_env();
    proc_spawn_opts o = {.file = argv[0], .args = argv, .env = env, .die_with_server = true};
    desktop_log("starting %s", name);
    k->child = proc_spawn(desktop_rt.loop, &o, &desktop_kid_cb, (void *)(intptr_t)which);
    desktop_strv_free(env);
}

static void desktop_kid_exit(proc_child *c, int code, int sig, void *ud);

static void desktop_kid_start(proc_child *c, int err, void *ud) {
    desktop_kid *k = &desktop_rt.kids[(intptr_t)ud];
    if (err) {
        /* No on_exit follows a failed start: it is handled as an exit, which never retries. */
        desktop_log("%s did not start: %s", k->name, strerror(-err));
        k->spawn_failed = true;
        desktop_kid_exit(c, 127, 0, ud);
        return;
    }
    k->pid = proc_pid(c);
    k->running = true;
}

static void desktop_kid_stderr(proc_child *c, const char *data, size_t len, void *ud) {
    desktop_log_bytes(data, len);
}

static void desktop_stop_step_done(void);
static void desktop_xvfb_ready(int num);
static void desktop_bus_ready(const char *address);

static void desktop_kid_stdout(proc_child *c, const char *data, size_t len, void *ud) {
    int which = (int)(intptr_t)ud;
    desktop_kid *k = &desktop_rt.kids[which];
    if (k->out.len > 4096)
        return; /* only the first line matters */
    base_buf_append(&k->out, data, len);
    char *nl = memchr(k->out.data, '\n', k->out.len);
    if (!nl)
        return;
    *nl = 0;
    if (desktop_rt.state != DESKTOP_STARTING)
        return;
    if (which == DESKTOP_KID_XVFB)
        desktop_xvfb_ready(atoi(k->out.data));
    else if (which == DESKTOP_KID_DBUS)
        desktop_bus_ready(k->out.data);
    k->out.len = 4097; /* read once */
}

static void desktop_start_xvfb(void);
static void desktop_teardown(void);

static void desktop_kid_exit(proc_child *c, int code, int sig, void *ud) {
    int which = (int)(intptr_t)ud;
    desktop_kid *k = &desktop_rt.kids[which];
    k->running = false;
    proc_release(k->child);
    k->child = NULL;
    char how[64];
    if (sig)
        snprintf(how, sizeof how, "was killed by signal %d", sig);
    else
        snprintf(how, sizeof how, "exited with status %d", code);
    desktop_log("%s %s", k->name, how);
    LOG_INFO("desktop process exited", "name=%s code=%d signal=%d", k->name, code, sig);
    if (desktop_rt.shutdown)
        return; /* the server is stopping every child: not a failure of the desktop */
    switch (desktop_rt.state) {
    case DESKTOP_STOPPING:
        desktop_stop_step_done();
        return;
    case DESKTOP_STARTING:
        if (which == DESKTOP_KID_XVFB && !k->spawn_failed && desktop_rt.display_num >= 0 &&
            desktop_rt.tries < DESKTOP_DISPLAY_TRIES && !sig && code != 0 &&
            !desktop_rt.display[0]) {
            /* Most likely another server took the number between our probe and its start. */
            desktop_rt.display_num++;
            desktop_rt.tries++;
            desktop_start_xvfb();
            return;
        }
        if (k->optional) {
            if (which == DESKTOP_KID_DBUS && !desktop_rt.bus_address)
                desktop_bus_ready(NULL);
            return;
        }
        desktop_rt_fail("desktop_runtime_failed", "%s %s while the desktop was starting", k->name,
                        how);
        return;
    case DESKTOP_ACTIVE:
        if (k->optional)
            return;
        desktop_rt_fail("desktop_runtime_failed", "%s %s", k->name, how);
        return;
    default:
        return;
    }
}

/* ---- start -------------------------------------------------------------------------------- */

static void desktop_rt_fail(const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    LOG_WARN("desktop failed", "reason=\"%s\"", msg);
    desktop_log("failed: %s", msg);
    desktop_set_error(code, msg);
    desktop_rt.state = DESKTOP_FAILED;
    desktop_signaling_stop_all(msg, NULL, NULL);
    desktop_teardown();
    desktop_waiters_finish(&desktop_rt.start_waiters, code, msg);
}

static void desktop_timer_cb(uv_timer_t *t) {
    if (desktop_rt.state == DESKTOP_STARTING)
        desktop_rt_fail("desktop_runtime_failed", "timed out after %d ms waiting for %s",
                        DESKTOP_START_TIMEOUT_MS,
                        !desktop_rt.display[0] ? "the X server (Xvfb) to accept connections"
                        : !desktop_rt.x_up     ? "the X connection"
                                               : "the window manager (openbox)");
}

static void desktop_start_xvfb(void) {
    char num[16], screen[64], dpi[16];
    snprintf(num, sizeof num, ":%d", desktop_rt.display_num);
    snprintf(screen, sizeof screen, "%ux%ux24", desktop_rt.width, desktop_rt.height);
    snprintf(dpi, sizeof dpi, "%u", desktop_rt.dpi);
    char *argv[] = {"Xvfb", num, "-displayfd", "1",   "-screen",  "0", screen,
                    "-dpi", dpi, "-nolisten",  "tcp", "-noreset", NULL};
    desktop_kid_spawn(DESKTOP_KID_XVFB, "Xvfb", argv, false);
}

/* Step 5 done: the window manager is up. */
static void desktop_active(void) {
    uv_timer_stop(&desktop_rt.timer);
    desktop_rt.state = DESKTOP_ACTIVE;
    desktop_set_error(NULL, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n =
        strftime(desktop_rt.started_at, sizeof desktop_rt.started_at, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(desktop_rt.started_at + n, sizeof desktop_rt.started_at - n, ".%09ld+00:00",
             ts.tv_nsec);
    desktop_log("active on %s (%ux%u)", desktop_rt.display, desktop_rt.width, desktop_rt.height);
    LOG_INFO("desktop active", "display=%s", desktop_rt.display);
    desktop_waiters_finish(&desktop_rt.start_waiters, NULL, NULL);
}

/* The window manager announces itself with _NET_SUPPORTING_WM_CHECK on the root, then
 * answers requests once its main loop runs. */
typedef struct desktop_wm_job {
    desktop_xjob xjob;
    bool found;
} desktop_wm_job;

static void desktop_wm_probe_run(desktop_xconn *xc, desktop_xjob *xjob) {
    desktop_wm_job *j = xjob->ud;
    j->found = desktop_windows_wm_ready(xc, 200);
}

static void desktop_wm_probe_done(desktop_xjob *xjob);

static void desktop_wm_probe(void) {
    desktop_wm_job *j = base_xcalloc(1, sizeof *j);
    j->xjob.run = desktop_wm_probe_run;
    j->xjob.done = desktop_wm_probe_done;
    j->xjob.ud = j;
    desktop_xjob_submit(&j->xjob);
}

static void desktop_wm_probe_done(desktop_xjob *xjob) {
    desktop_wm_job *j = xjob->ud;
    bool found = j->found, gone = xjob->status != DESKTOP_XOK;
    free(j);
    if (desktop_rt.state != DESKTOP_STARTING)
        return;
    if (gone)
        desktop_rt_fail("desktop_runtime_failed", "lost the X server while openbox was starting");
    else if (found)
        desktop_active();
    else
        desktop_wm_probe(); /* the X thread waited for a property change; look again */
}

static void desktop_lost_timer_cb(uv_timer_t *t) {
    if (desktop_rt.state == DESKTOP_ACTIVE || desktop_rt.state == DESKTOP_STARTING)
        desktop_rt_fail("desktop_runtime_failed", "lost the connection to the X server %s (Xvfb)",
                        desktop_rt.display);
}

static void desktop_x_lost(const char *why, void *ud) {
    desktop_rt.x_up = false;
    if (desktop_rt.state != DESKTOP_ACTIVE && desktop_rt.state != DESKTOP_STARTING)
        return;
    /* The usual cause is Xvfb's death, whose exit (with its signal or status) is reaped a
     * moment later and says more: wait briefly for it before failing with the bare loss. */
    uv_timer_start(&desktop_rt.timer, desktop_lost_timer_cb, 500, 0);
}

static void desktop_x_ready(const char *err, void *ud) {
    if (desktop_rt.state != DESKTOP_STARTING)
        return;
    if (err) {
        desktop_rt_fail("desktop_runtime_failed", "%s", err);
        return;
    }
    desktop_rt.x_up = true;
    char *argv[] = {"openbox", NULL};
    desktop_kid_spawn(DESKTOP_KID_WM, "openbox", argv, false);
    desktop_wm_probe();
}

static void desktop_bus_ready(const char *address) {
    if (desktop_rt.state != DESKTOP_STARTING || desktop_rt.x_up)
        return;
    free(desktop_rt.bus_address);
    desktop_rt.bus_address = address && *address ? base_xstrdup(address) : NULL;
    if (!address)
        desktop_log("no session bus: continuing without one");
    desktop_xthread_start(desktop_rt.loop, desktop_rt.display, desktop_x_ready, desktop_x_lost,
                          NULL);
}

static void desktop_xvfb_ready(int num) {
    if (num != desktop_rt.display_num) {
        desktop_rt_fail("desktop_runtime_failed", "Xvfb reported display %d, not %d", num,
                        desktop_rt.display_num);
        return;
    }
    snprintf(desktop_rt.display, sizeof desktop_rt.display, ":%d", num);
    desktop_log("Xvfb accepts connections on %s", desktop_rt.display);
    if (desktop_deps_check()->have_dbus) {
        char *argv[] = {"dbus-daemon", "--session",         "--nofork",
                        "--nopidfile", "--print-address=1", NULL};
        desktop_kid_spawn(DESKTOP_KID_DBUS, "dbus", argv, true);
    } else {
        desktop_log("dbus-daemon is not installed: no session bus");
        desktop_bus_ready(NULL);
    }
}

/* Step 1, on the thread pool. Owner: the work item, freed in after. */
typedef struct desktop_prep {
    uv_work_t work;
    char *state_dir, *log_path;
    int from, found;
    uv_file fd;
    char err[256];
} desktop_prep;

/* A display number is free when no live server holds its lock. A lock left by a killed
 * server (its pid gone) does not count: Xvfb replaces a stale lock and socket itself. A
 * socket without a lock belongs to something we do not know: taken. (Thread pool.) */
static bool desktop_display_free(int n) {
    char sock[64], lock[64];
    struct stat st;
    snprintf(sock, sizeof sock, "/tmp/.X11-unix/X%d", n);
    snprintf(lock, sizeof lock, "/tmp/.X%d-lock", n);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT && stat(sock, &st) != 0;
    char buf[32] = "";
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    int pid = r > 0 ? atoi(buf) : 0;
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

static void desktop_prep_work(uv_work_t *w) {
    desktop_prep *p = w->data;
    if (base_mkdirs(p->state_dir) != 0) {
        snprintf(p->err, sizeof p->err, "cannot create the desktop state directory %s: %s",
                 p->state_dir, strerror(errno));
        return;
    }
    p->fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    p->found = -1;
    for (int n = p->from; n < p->from + 1000 && n < 65535; n++) {
        if (desktop_display_free(n)) {
            p->found = n;
            return;
        }
    }
    snprintf(p->err, sizeof p->err, "no free X display number from %d", p->from);
}

static void desktop_prep_after(uv_work_t *w, int status) {
    desktop_prep *p = w->data;
    desktop_rt.log_fd = p->fd;
    if (desktop_rt.state != DESKTOP_STARTING) {
        /* cannot happen: nothing moves a start but itself and its timer */
    } else if (p->err[0]) {
        desktop_rt_fail("desktop_runtime_failed", "%s", p->err);
    } else {
        desktop_log("starting the desktop at %ux%u, display :%d", desktop_rt.width,
                    desktop_rt.height, p->found);
        desktop_rt.display_num = p->found;
        desktop_start_xvfb();
    }
    free(p->state_dir);
    free(p->log_path);
    free(p);
}

void desktop_runtime_start(http_req *req, const desktop_start_opts *o) {
    switch (desktop_rt.state) {
    case DESKTOP_ACTIVE:
        desktop_reply_status(req); /* no restart, no new parameters */
        return;
    case DESKTOP_STARTING:
        desktop_problem(req, "desktop_runtime_starting", "Desktop runtime is starting", NULL);
        return;
    case DESKTOP_STOPPING:
        desktop_problem_conflict(req, "desktop runtime is stopping");
        return;
    default:
        break;
    }
    const desktop_deps *d = desktop_deps_check();
    if (d->nmissing) {
        desktop_rt.state = DESKTOP_INSTALL_REQUIRED;
        desktop_runtime_gate(req);
        return;
    }
    desktop_rt.state = DESKTOP_STARTING;
    desktop_set_error(NULL, NULL);
    desktop_rt.width = o->width ? o->width : 1440;
    desktop_rt.height = o->height ? o->height : 900;
    desktop_rt.dpi = o->dpi ? o->dpi : 96;
    desktop_rt.display_from = o->display_num_set ? o->display_num : 99;
    desktop_rt.recording_fps = o->recording_fps ? o->recording_fps : 30;
    if (o->stream_codec) {
        desktop_rt.stream.stream_codec = o->stream_codec;
        desktop_rt.stream.stream_audio = o->stream_audio;
        desktop_rt.stream.stream_fps = o->stream_fps;
        desktop_rt.stream.port_min = o->port_min;
        desktop_rt.stream.port_max = o->port_max;
    }
    free(desktop_rt.state_dir);
    desktop_rt.state_dir = o->state_dir ? base_xstrdup(o->state_dir) : NULL;
    free(desktop_rt.log_path);
    desktop_rt.log_path =
        o->state_dir ? base_xasprintf("%s/desktop-runtime.log", o->state_dir) : NULL;
    desktop_rt.display[0] = 0;
    desktop_rt.display_num = -1;
    desktop_rt.tries = 0;
    desktop_rt.x_up = false;
    free(desktop_rt.bus_address);
    desktop_rt.bus_address = NULL;
    desktop_waiter_add(&desktop_rt.start_waiters, req);
    uv_timer_start(&desktop_rt.timer, desktop_timer_cb, DESKTOP_START_TIMEOUT_MS, 0);
    desktop_prep *p = base_xcalloc(1, sizeof *p);
    p->state_dir = base_xstrdup(desktop_runtime_state_dir());
    p->log_path = base_xstrdup(desktop_log_path());
    p->from = (int)desktop_rt.display_from;
    p->fd = -1;
    p->work.data = p;
    uv_queue_work(desktop_rt.loop, &p->work, desktop_prep_work, desktop_prep_after);
}

/* ---- stop --------------------------------------------------------------------------------- */

/* Terminate the runtime's children: the window manager first, so apps are not reparented
 * in a hurry; Xvfb last. */
static void desktop_kids_terminate(void) {
    static const int order[] = {DESKTOP_KID_WM, DESKTOP_KID_DBUS, DESKTOP_KID_XVFB};
    for (int i = 0; i < DESKTOP_NKIDS; i++) {
        desktop_kid *k = &desktop_rt.kids[order[i]];
        if (k->child)
            proc_terminate(k->child, 0, 2000);
    }
}

/* Stop the X thread and every child; the state is the caller's to set. A failure does not
 * wait for the X thread (it may be stuck on the very server that failed). */
static void desktop_teardown(void) {
    uv_timer_stop(&desktop_rt.timer);
    desktop_xthread_stop(NULL, NULL);
    desktop_rt.x_up = false;
    desktop_kids_terminate();
}

static void desktop_stop_x_done(void *ud) {
    desktop_kids_terminate();
    desktop_rt.stop_pending--;
    desktop_stop_step_done();
}

static size_t desktop_kids_alive(void) {
    size_t n = 0;
    for (int i = 0; i < DESKTOP_NKIDS; i++)
        n += desktop_rt.kids[i].child != NULL;
    return n;
}

static void desktop_stop_finish(void) {
    desktop_rt.state = DESKTOP_INACTIVE;
    desktop_rt.display[0] = 0;
    desktop_log("stopped");
    desktop_log_close();
    LOG_INFO("desktop stopped", NULL);
    desktop_waiters_finish(&desktop_rt.stop_waiters, NULL, NULL);
}

static void desktop_stop_step_done(void) {
    if (desktop_rt.state != DESKTOP_STOPPING || desktop_rt.stop_pending > 0)
        return;
    if (desktop_kids_alive())
        return;
    desktop_stop_finish();
}

/* A stop closes the X connection before Xvfb goes, so the X thread does not see its server
 * die under it; the loop does not wait for that (desktop_xthread_stop). */
static void desktop_stop_kids(void) {
    uv_timer_stop(&desktop_rt.timer);
    desktop_rt.x_up = false;
    desktop_rt.stop_pending++;
    desktop_xthread_stop(desktop_stop_x_done, NULL);
}

static void desktop_stop_apps_done(void *ud) {
    desktop_rt.stop_pending--;
    desktop_stop_kids();
}

static void desktop_stop_record_done(void *ud) {
    /* Recordings end while the X server still runs (ffmpeg finishes its file), then the
     * apps, then the runtime's own children. */
    desktop_apps_stop_all(desktop_stop_apps_done, NULL);
}

static void desktop_stop_stream_done(void *ud) {
    /* The stream first: its capture must not see the X server go. */
    desktop_record_stop_all(desktop_stop_record_done, NULL);
}

void desktop_runtime_stop(http_req *req) {
    switch (desktop_rt.state) {
    case DESKTOP_STARTING:
        desktop_problem(req, "desktop_runtime_starting", "Desktop runtime is starting", NULL);
        return;
    case DESKTOP_STOPPING:
        desktop_waiter_add(&desktop_rt.stop_waiters, req);
        return;
    case DESKTOP_ACTIVE:
        break;
    default:
        /* Nothing runs; a failed runtime's error is cleared by the stop. */
        if (desktop_rt.state == DESKTOP_FAILED) {
            desktop_set_error(NULL, NULL);
            desktop_rt.state = DESKTOP_INACTIVE;
        }
        desktop_reply_status(req);
        return;
    }
    desktop_rt.state = DESKTOP_STOPPING;
    desktop_log("stopping");
    desktop_rt.stop_pending = 1;
    desktop_waiter_add(&desktop_rt.stop_waiters, req);
    desktop_signaling_stop_all("The desktop was stopped.", desktop_stop_stream_done, NULL);
}

void desktop_runtime_init(uv_loop_t *loop) {
    desktop_rt.loop = loop;
    uv_timer_init(loop, &desktop_rt.timer);
    uv_unref((uv_handle_t *)&desktop_rt.timer);
}

void desktop_runtime_shutdown(void) {
    desktop_rt.shutdown = true;
    /* The server is going away: the X thread is joined here; proc_shutdown_all stops the
     * children (and the sentinel covers a SIGKILL). */
    desktop_stream_shutdown();
    desktop_xthread_shutdown();
    if (!uv_is_closing((uv_handle_t *)&desktop_rt.timer))
        uv_close((uv_handle_t *)&desktop_rt.timer, NULL);
    desktop_log_close();
}
