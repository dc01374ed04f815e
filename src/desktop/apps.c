/* apps.c - launch and open: programs on the desktop, as managed processes owned by it.
 *
 * They are ordinary entries of /v1/processes (owner "desktop"): listed, logged, stoppable,
 * and stopped with the desktop. `wait:true` finds the program's window by the _NET_WM_PID
 * the program sets on it, polling the window manager's client list every 50 ms for up to
 * 5 s (each look is one short X job, so other requests are not held up meanwhile). */
#include "desktop/internal.h"

#include <stdlib.h>
#include <string.h>

#include "processes/processes.h"

#define DESKTOP_WAIT_MS 5000
#define DESKTOP_WAIT_STEP_MS 50

/* One launch or open in flight. Owner: itself; freed once answered (or the client left and
 * nothing is pending). */
typedef struct desktop_app {
    http_req *req;
    bool open; /* open (xdg-open) rather than launch */
    bool wait; /* launch with wait:true */
    char *id;  /* the managed process, once started */
    pid_t pid;
    uint64_t deadline;
    uv_timer_t timer;
    bool timer_live;
    desktop_xjob xjob;
    unsigned long window;
} desktop_app;

static void desktop_app_abort(http_req *req, void *ud) {
    desktop_app *a = ud;
    a->req = NULL;
}

static void desktop_app_closed(uv_handle_t *h) {
    desktop_app *a = h->data;
    free(a->id);
    free(a);
}

static void desktop_app_free(desktop_app *a) {
    if (a->timer_live) {
        uv_close((uv_handle_t *)&a->timer, desktop_app_closed);
        return;
    }
    free(a->id);
    free(a);
}

static void desktop_app_reply(desktop_app *a, bool waited) {
    if (a->req) {
        http_req_on_abort(a->req, NULL, NULL);
        json_t *o = json_pack("{s:s,s:i}", "processId", a->id, "pid", (int)a->pid);
        if (waited) {
            char wid[32];
            snprintf(wid, sizeof wid, "%lu", a->window);
            json_object_set_new(o, "windowId", a->window ? json_string(wid) : json_null());
        }
        http_reply_json(a->req, 200, o);
    }
    desktop_app_free(a);
}

static void desktop_app_look(desktop_app *a);

static void desktop_app_look_run(desktop_xconn *xc, desktop_xjob *j) {
    desktop_app *a = j->ud;
    a->window = desktop_windows_by_pid(xc, a->pid);
}

static void desktop_app_timer_cb(uv_timer_t *t) {
    desktop_app_look(t->data);
}

static void desktop_app_look_done(desktop_xjob *j) {
    desktop_app *a = j->ud;
    if (a->window || j->status != DESKTOP_XOK || !a->req || base_mono_ms() >= a->deadline) {
        desktop_app_reply(a, true);
        return;
    }
    uv_timer_start(&a->timer, desktop_app_timer_cb, DESKTOP_WAIT_STEP_MS, 0);
}

static void desktop_app_look(desktop_app *a) {
    a->xjob.run = desktop_app_look_run;
    a->xjob.done = desktop_app_look_done;
    a->xjob.ud = a;
    desktop_xjob_submit(&a->xjob);
}

static void desktop_app_started(int err, const char *id, pid_t pid, void *ud) {
    desktop_app *a = ud;
    if (err) {
        if (a->req) {
            http_req_on_abort(a->req, NULL, NULL);
            char msg[512];
            snprintf(msg, sizeof msg,
                     "failed to %s: stream error: failed to spawn process: %s (os error %d)",
                     a->open ? "open target" : "launch app", strerror(-err), -err);
            desktop_problem(a->req, "desktop_runtime_failed", msg, NULL);
        }
        desktop_app_free(a);
        return;
    }
    a->id = base_xstrdup(id);
    a->pid = pid;
    if (!a->wait) {
        desktop_app_reply(a, false);
        return;
    }
    a->deadline = base_mono_ms() + DESKTOP_WAIT_MS;
    uv_timer_init(http_req_loop(a->req), &a->timer);
    a->timer.data = a;
    a->timer_live = true;
    desktop_app_look(a);
}

static void desktop_app_start(http_req *req, desktop_app *a, const char *command,
                              char *const *args) {
    a->req = req;
    http_req_on_abort(req, desktop_app_abort, a);
    char **env = desktop_runtime_env();
    processes_start_owned("desktop", command, args, env, desktop_app_started, a);
    desktop_strv_free(env);
}

void desktop_apps_launch(http_req *req, json_t *body) {
    const char *app = json_string_value(json_object_get(body, "app"));
    char *path = desktop_which(app);
    if (!path) {
        char msg[512];
        snprintf(msg, sizeof msg, "Application '%.400s' not found in PATH", app);
        desktop_problem(req, "app_not_found", msg, NULL);
        return;
    }
    free(path);
    json_t *args = json_object_get(body, "args");
    size_t n = json_array_size(args);
    char **argv = base_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)json_string_value(json_array_get(args, i));
    desktop_app *a = base_xcalloc(1, sizeof *a);
    a->wait = json_is_true(json_object_get(body, "wait"));
    desktop_app_start(req, a, app, argv);
    free(argv);
}

void desktop_apps_open(http_req *req, json_t *body) {
    char *argv[] = {(char *)json_string_value(json_object_get(body, "target")), NULL};
    desktop_app *a = base_xcalloc(1, sizeof *a);
    a->open = true;
    desktop_app_start(req, a, "xdg-open", argv);
}

void desktop_apps_stop_all(void (*done)(void *ud), void *ud) {
    processes_stop_owned("desktop", 2000, done, ud);
}
