/* xthread.c - the X thread: the desktop's one X connection and the queue of work done on it.
 *
 * Xlib calls can block (a round trip waits for the server), so none runs on the event loop.
 * One thread owns the connection; jobs from the loop run on it one at a time, in order, so
 * a mouse move queued after a click lands after it. Between jobs the thread waits in poll()
 * on the X socket and an eventfd: X events (selection requests for the clipboard we own) are
 * answered as they come, and a queued job wakes it.
 *
 * A dead X server must never take the process down. Xlib's default handlers exit(): protocol
 * errors are caught here instead (and counted by a trap around calls that may fail), and an
 * I/O error marks the connection gone through XSetIOErrorExitHandler, whose return leaves
 * the Display inert instead of exiting. Jobs then complete with DESKTOP_XERR_GONE and the
 * runtime hears on_lost. */
#include "desktop/internal.h"
#include "desktop/xload.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "base/base.h"

#define DESKTOP_MAX_ATOMS 64

/* The connection. Owner: the X thread (desktop_xt.xc), created and closed by it. */
struct desktop_xconn {
    Display *dpy;
    Window root;
    int width, height;
    struct {
        char *name;
        Atom atom;
    } atoms[DESKTOP_MAX_ATOMS];
    size_t natoms;
    void (*event_fn)(desktop_xconn *, void *ev);
};

/* The thread and its queues. Owner: static; fields marked (mutex) are shared with the loop
 * under mu, the rest belong to one side as noted. */
static struct {
    uv_loop_t *loop;
    uv_async_t async; /* loop side: completions and the ready/lost notices */
    bool async_init;
    pthread_t thread;
    bool running;  /* loop side: a thread exists and was not joined */
    bool stopping; /* loop side: told to stop, not joined yet */
    bool ended;    /* loop side: the thread ended on its own (no connection), not joined */
    void (*on_stopped)(void *ud); /* loop side: runs once the thread is joined */
    void *stopped_ud;
    int wake_fd; /* eventfd: the loop wakes the thread */
    pthread_mutex_t mu;
    desktop_xjob *queue, *queue_tail; /* (mutex) waiting to run */
    desktop_xjob *done, *done_tail;   /* (mutex) finished, done not yet called */
    bool stop;                        /* (mutex) the loop asked the thread to finish */
    bool ready_pending, lost_pending; /* (mutex) notices for the loop */
    bool exited_pending;              /* (mutex) the thread has closed and is ending */
    char ready_err[256];              /* (mutex) */
    char lost_why[256];               /* (mutex) */
    bool up;                          /* loop side: connected and not lost */
    char *display;
    void (*on_ready)(const char *err, void *ud);
    void (*on_lost)(const char *why, void *ud);
    void *ud;
    desktop_xconn xc; /* X thread side */
} desktop_xt;

/* X error state. Xlib's handlers are per process, and only the X thread uses Xlib. */
static _Atomic bool desktop_xt_io_error;
static int desktop_xt_trap_code;
static int desktop_xt_trap_depth;

static int desktop_xt_error_handler(Display *dpy, XErrorEvent *e) {
    if (desktop_xt_trap_depth > 0) {
        if (!desktop_xt_trap_code)
            desktop_xt_trap_code = e->error_code;
        return 0;
    }
    char text[128];
    XGetErrorText(dpy, e->error_code, text, sizeof text);
    LOG_WARN("X error", "code=%d request=%d.%d text=\"%s\"", e->error_code, e->request_code,
             e->minor_code, text);
    return 0;
}

static int desktop_xt_io_handler(Display *dpy) {
    atomic_store(&desktop_xt_io_error, true);
    return 0;
}

static void desktop_xt_io_exit(Display *dpy, void *ud) {
    /* Returning (instead of exiting) leaves the Display marked dead; calls on it return at
     * once from now on. */
    atomic_store(&desktop_xt_io_error, true);
}

/* ---- for run functions (X thread) --------------------------------------------------------- */

struct _XDisplay *desktop_xc_display(desktop_xconn *xc) {
    return xc->dpy;
}

unsigned long desktop_xc_root(desktop_xconn *xc) {
    return xc->root;
}

void desktop_xc_size(desktop_xconn *xc, int *w, int *h) {
    *w = xc->width;
    *h = xc->height;
}

unsigned long desktop_xc_atom(desktop_xconn *xc, const char *name) {
    for (size_t i = 0; i < xc->natoms; i++)
        if (!strcmp(xc->atoms[i].name, name))
            return xc->atoms[i].atom;
    Atom a = XInternAtom(xc->dpy, name, False);
    if (xc->natoms < DESKTOP_MAX_ATOMS) {
        xc->atoms[xc->natoms].name = base_xstrdup(name);
        xc->atoms[xc->natoms++].atom = a;
    }
    return a;
}

void desktop_xc_trap_begin(desktop_xconn *xc) {
    if (desktop_xt_trap_depth++ == 0) {
        XSync(xc->dpy, False); /* errors of earlier calls are not ours */
        desktop_xt_trap_code = 0;
    }
}

int desktop_xc_trap_end(desktop_xconn *xc) {
    XSync(xc->dpy, False);
    int code = desktop_xt_trap_code;
    if (--desktop_xt_trap_depth == 0)
        desktop_xt_trap_code = 0;
    if (atomic_load(&desktop_xt_io_error))
        return BadImplementation;
    return code;
}

bool desktop_xc_ping(desktop_xconn *xc) {
    if (atomic_load(&desktop_xt_io_error))
        return false;
    XSync(xc->dpy, False);
    return !atomic_load(&desktop_xt_io_error);
}

void desktop_xc_set_event_handler(desktop_xconn *xc, void (*fn)(desktop_xconn *, void *ev)) {
    xc->event_fn = fn;
}

static void desktop_xt_dispatch(desktop_xconn *xc, XEvent *ev) {
    if (xc->event_fn)
        xc->event_fn(xc, ev);
}

bool desktop_xc_wait_event(desktop_xconn *xc, unsigned long w, const int *types, int timeout_ms,
                           void *out) {
    uint64_t deadline = base_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        while (!atomic_load(&desktop_xt_io_error) && XPending(xc->dpy)) {
            XEvent ev;
            XNextEvent(xc->dpy, &ev);
            bool match = ev.xany.window == w;
            for (const int *t = types; match && *t; t++)
                if (ev.type == *t) {
                    memcpy(out, &ev, sizeof ev);
                    return true;
                }
            desktop_xt_dispatch(xc, &ev);
        }
        if (atomic_load(&desktop_xt_io_error) || desktop_xthread_cancelled())
            return false;
        uint64_t now = base_mono_ms();
        if (now >= deadline)
            return false;
        /* In slices, so a stop does not wait for an owner that never answers. */
        uint64_t left = deadline - now;
        struct pollfd p = {.fd = XConnectionNumber(xc->dpy), .events = POLLIN};
        poll(&p, 1, left > 50 ? 50 : (int)left);
    }
}

/* ---- the thread --------------------------------------------------------------------------- */

static void desktop_xt_notify(void) {
    uv_async_send(&desktop_xt.async);
}

/* Append to a list (caller holds mu). */
static void desktop_xt_append(desktop_xjob **head, desktop_xjob **tail, desktop_xjob *job) {
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

/* The job is done (any thread): its done runs on the loop. */
static void desktop_xt_finish(desktop_xjob *job) {
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt_append(&desktop_xt.done, &desktop_xt.done_tail, job);
    pthread_mutex_unlock(&desktop_xt.mu);
    desktop_xt_notify();
}

static desktop_xjob *desktop_xt_pop(bool *stop) {
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xjob *job = desktop_xt.queue;
    if (job) {
        desktop_xt.queue = job->next;
        if (!desktop_xt.queue)
            desktop_xt.queue_tail = NULL;
    }
    *stop = desktop_xt.stop;
    pthread_mutex_unlock(&desktop_xt.mu);
    return job;
}

static bool desktop_xt_connect(desktop_xconn *xc, char *err, size_t cap) {
    const char *why = NULL;
    if (!desktop_x(&why)) {
        snprintf(err, cap, "%s", why);
        return false;
    }
    XSetErrorHandler(desktop_xt_error_handler);
    XSetIOErrorHandler(desktop_xt_io_handler);
    xc->dpy = XOpenDisplay(desktop_xt.display);
    if (!xc->dpy) {
        snprintf(err, cap, "cannot open X display %s", desktop_xt.display);
        return false;
    }
    XSetIOErrorExitHandler(xc->dpy, desktop_xt_io_exit, NULL);
    int ev, er, maj, min;
    if (!XTestQueryExtension(xc->dpy, &ev, &er, &maj, &min)) {
        snprintf(err, cap, "the X server %s lacks the XTEST extension", desktop_xt.display);
        return false;
    }
    xc->root = DefaultRootWindow(xc->dpy);
    xc->width = DisplayWidth(xc->dpy, DefaultScreen(xc->dpy));
    xc->height = DisplayHeight(xc->dpy, DefaultScreen(xc->dpy));
    return true;
}

static void desktop_xt_close(desktop_xconn *xc) {
    desktop_clipboard_reset();
    desktop_screen_reset(xc);
    desktop_input_reset();
    if (xc->dpy && !atomic_load(&desktop_xt_io_error))
        XCloseDisplay(xc->dpy);
    /* After an I/O error the Display is left allocated: Xlib may still refer to it, and the
     * thread ends right after (one small leak per lost server). */
    xc->dpy = NULL;
    for (size_t i = 0; i < xc->natoms; i++)
        free(xc->atoms[i].name);
    xc->natoms = 0;
    xc->event_fn = NULL;
}

static void desktop_xt_drain_events(desktop_xconn *xc) {
    while (!atomic_load(&desktop_xt_io_error) && XPending(xc->dpy)) {
        XEvent ev;
        XNextEvent(xc->dpy, &ev);
        desktop_xt_dispatch(xc, &ev);
    }
}

static void *desktop_xt_main(void *arg) {
    desktop_xconn *xc = &desktop_xt.xc;
    char err[256] = "";
    bool ok = desktop_xt_connect(xc, err, sizeof err);
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt.ready_pending = true;
    snprintf(desktop_xt.ready_err, sizeof desktop_xt.ready_err, "%s", ok ? "" : err);
    pthread_mutex_unlock(&desktop_xt.mu);
    desktop_xt_notify();
    bool lost = !ok;
    while (ok) {
        bool stop;
        desktop_xjob *job = desktop_xt_pop(&stop);
        if (stop)
            break;
        if (job) {
            if (atomic_load(&desktop_xt_io_error)) {
                job->status = DESKTOP_XERR_GONE;
            } else {
                job->run(xc, job);
                if (atomic_load(&desktop_xt_io_error) && job->status == DESKTOP_XOK)
                    job->status = DESKTOP_XERR_GONE;
            }
            desktop_xt_finish(job);
        } else {
            desktop_xt_drain_events(xc);
            /* After an I/O error only the loop can wake us (to fail a job, or to stop). */
            bool dead = atomic_load(&desktop_xt_io_error);
            struct pollfd p[2] = {{.fd = desktop_xt.wake_fd, .events = POLLIN},
                                  {.fd = ConnectionNumber(xc->dpy), .events = POLLIN}};
            poll(p, dead ? 1 : 2, -1);
            if (p[0].revents & POLLIN) {
                uint64_t v;
                (void)!read(desktop_xt.wake_fd, &v, sizeof v);
            }
            if (!dead && (p[1].revents & (POLLHUP | POLLERR)))
                XSync(xc->dpy, False); /* turns a closed socket into the I/O error */
        }
        if (atomic_load(&desktop_xt_io_error) && !lost) {
            lost = true;
            pthread_mutex_lock(&desktop_xt.mu);
            desktop_xt.lost_pending = true;
            snprintf(desktop_xt.lost_why, sizeof desktop_xt.lost_why,
                     "lost the connection to the X server %s", desktop_xt.display);
            pthread_mutex_unlock(&desktop_xt.mu);
            desktop_xt_notify();
            /* Keep serving the queue (every job fails fast) until told to stop. */
        }
    }
    desktop_xt_close(xc);
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt.exited_pending = true;
    pthread_mutex_unlock(&desktop_xt.mu);
    desktop_xt_notify();
    return NULL;
}

/* ---- the loop side ------------------------------------------------------------------------ */

static void desktop_xt_joined(bool notify);
static void desktop_xt_stop_now(void);

static void desktop_xt_async_cb(uv_async_t *a) {
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xjob *done = desktop_xt.done;
    desktop_xt.done = desktop_xt.done_tail = NULL;
    bool ready = desktop_xt.ready_pending, lost = desktop_xt.lost_pending;
    bool exited = desktop_xt.exited_pending;
    desktop_xt.ready_pending = desktop_xt.lost_pending = desktop_xt.exited_pending = false;
    char ready_err[256], lost_why[256];
    memcpy(ready_err, desktop_xt.ready_err, sizeof ready_err);
    memcpy(lost_why, desktop_xt.lost_why, sizeof lost_why);
    pthread_mutex_unlock(&desktop_xt.mu);
    if (ready) {
        desktop_xt.up = !ready_err[0];
        if (desktop_xt.on_ready)
            desktop_xt.on_ready(ready_err[0] ? ready_err : NULL, desktop_xt.ud);
    }
    while (done) {
        desktop_xjob *next = done->next;
        done->done(done);
        done = next;
    }
    if (lost && desktop_xt.up) {
        desktop_xt.up = false;
        if (desktop_xt.on_lost)
            desktop_xt.on_lost(lost_why, desktop_xt.ud);
    }
    if (exited && desktop_xt.stopping)
        desktop_xt_joined(true);
    else if (exited)
        desktop_xt.ended = true; /* the stop that follows joins at once */
}

static void desktop_xt_init_once(uv_loop_t *loop) {
    if (desktop_xt.async_init)
        return;
    desktop_xt.loop = loop;
    pthread_mutex_init(&desktop_xt.mu, NULL);
    uv_async_init(loop, &desktop_xt.async, desktop_xt_async_cb);
    uv_unref((uv_handle_t *)&desktop_xt.async);
    desktop_xt.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    BASE_ASSERT(desktop_xt.wake_fd >= 0);
    desktop_xt.async_init = true;
}

void desktop_xthread_start(uv_loop_t *loop, const char *display,
                           void (*on_ready)(const char *err, void *ud),
                           void (*on_lost)(const char *why, void *ud), void *ud) {
    desktop_xt_init_once(loop);
    desktop_xt_stop_now(); /* a previous thread still ending (a quick restart): rare, short */
    free(desktop_xt.display);
    desktop_xt.display = base_xstrdup(display);
    desktop_xt.on_ready = on_ready;
    desktop_xt.on_lost = on_lost;
    desktop_xt.ud = ud;
    desktop_xt.stop = false;
    desktop_xt.up = false;
    atomic_store(&desktop_xt_io_error, false);
    if (pthread_create(&desktop_xt.thread, NULL, desktop_xt_main, NULL) != 0) {
        on_ready("cannot create the X thread", ud);
        return;
    }
    desktop_xt.running = true;
}

void desktop_xjob_submit(desktop_xjob *job) {
    job->next = NULL;
    job->status = DESKTOP_XOK;
    job->err[0] = 0;
    if (!desktop_xt.running || !desktop_xt.up) {
        /* Completed from the async callback, never inside the submit. */
        job->status = DESKTOP_XERR_GONE;
        snprintf(job->err, sizeof job->err, "the desktop's X connection is closed");
        if (!desktop_xt.async_init) {
            job->done(job); /* cannot happen after a start; kept total */
            return;
        }
        desktop_xt_finish(job);
        return;
    }
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt_append(&desktop_xt.queue, &desktop_xt.queue_tail, job);
    pthread_mutex_unlock(&desktop_xt.mu);
    uint64_t one = 1;
    (void)!write(desktop_xt.wake_fd, &one, sizeof one);
}

bool desktop_xthread_cancelled(void) {
    pthread_mutex_lock(&desktop_xt.mu);
    bool stop = desktop_xt.stop;
    pthread_mutex_unlock(&desktop_xt.mu);
    return stop || atomic_load(&desktop_xt_io_error);
}

/* Tell the thread to finish; fail what waits in its queue. */
static void desktop_xt_ask_stop(void) {
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt.stop = true;
    desktop_xjob *q = desktop_xt.queue;
    desktop_xt.queue = desktop_xt.queue_tail = NULL;
    pthread_mutex_unlock(&desktop_xt.mu);
    uint64_t one = 1;
    (void)!write(desktop_xt.wake_fd, &one, sizeof one);
    desktop_xt.stopping = true;
    desktop_xt.up = false;
    while (q) {
        desktop_xjob *next = q->next;
        q->status = DESKTOP_XERR_GONE;
        snprintf(q->err, sizeof q->err, "the desktop is stopping");
        desktop_xt_finish(q);
        q = next;
    }
    /* Jobs finished by the thread before it stopped are delivered by the async callback. */
}

/* The thread has ended (or is about to: it posted its exit last): join it, which no longer
 * waits, then tell whoever asked for the stop. */
static void desktop_xt_joined(bool notify) {
    pthread_join(desktop_xt.thread, NULL);
    desktop_xt.running = false;
    desktop_xt.stopping = false;
    desktop_xt.ended = false;
    pthread_mutex_lock(&desktop_xt.mu);
    desktop_xt.exited_pending = false;
    pthread_mutex_unlock(&desktop_xt.mu);
    void (*cb)(void *) = desktop_xt.on_stopped;
    void *ud = desktop_xt.stopped_ud;
    desktop_xt.on_stopped = NULL;
    desktop_xt.stopped_ud = NULL;
    if (notify && cb)
        cb(ud);
}

/* Not on the loop's path: pthread_join waits for the job in flight and XCloseDisplay (a
 * round trip to a possibly busy Xvfb), which stalled the loop for up to 160 ms on a desktop
 * stop under load. The thread says when it has ended, through the async. */
void desktop_xthread_stop(void (*on_stopped)(void *ud), void *ud) {
    if (!desktop_xt.running) {
        if (on_stopped)
            on_stopped(ud);
        return;
    }
    desktop_xt.on_stopped = on_stopped;
    desktop_xt.stopped_ud = ud;
    if (!desktop_xt.stopping)
        desktop_xt_ask_stop();
    if (desktop_xt.ended)
        desktop_xt_joined(true);
}

/* Blocking stop, for the server's shutdown and for a start that finds the previous thread
 * still ending: whoever waited for the stop is not called. */
static void desktop_xt_stop_now(void) {
    if (!desktop_xt.running)
        return;
    if (!desktop_xt.stopping)
        desktop_xt_ask_stop();
    desktop_xt_joined(false);
}

void desktop_xthread_shutdown(void) {
    desktop_xt_stop_now();
    if (desktop_xt.async_init) {
        desktop_xt_async_cb(&desktop_xt.async); /* deliver what finished */
        uv_close((uv_handle_t *)&desktop_xt.async, NULL);
        close(desktop_xt.wake_fd);
        desktop_xt.async_init = false;
    }
    free(desktop_xt.display);
    desktop_xt.display = NULL;
}
