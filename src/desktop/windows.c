/* windows.c - the desktop's windows, from the window manager's EWMH properties (X thread).
 *
 * openbox publishes its managed windows in _NET_CLIENT_LIST and the active one in
 * _NET_ACTIVE_WINDOW, so the list is a handful of property reads instead of a process per
 * window. Geometry is reported the way it is set: x and y are the top-left corner of the
 * window's frame (what a move with the default gravity places), width and height the
 * client's size (what a resize sets). Moves, resizes and focus go through the window
 * manager with EWMH client messages, then wait (briefly) until the change shows, so the
 * answer describes the window as it now is. */
#include "desktop/internal.h"
#include "desktop/xload.h"

#include <string.h>
#include <time.h>

/* A property as an array of 32-bit items (returned as longs by Xlib). Caller XFrees. */
static unsigned long *desktop_prop_longs(desktop_xconn *xc, Window w, const char *name, Atom type,
                                         unsigned long *n) {
    Atom actual;
    int fmt;
    unsigned long after;
    unsigned char *data = NULL;
    *n = 0;
    if (XGetWindowProperty(desktop_xc_display(xc), w, desktop_xc_atom(xc, name), 0, 4096, False,
                           type, &actual, &fmt, n, &after, &data) != Success)
        return NULL;
    if (!data || fmt != 32) {
        if (data)
            XFree(data);
        *n = 0;
        return NULL;
    }
    return (unsigned long *)data;
}

/* The title: _NET_WM_NAME (UTF-8), else WM_NAME. Caller frees. */
static char *desktop_window_title(desktop_xconn *xc, Window w) {
    Display *dpy = desktop_xc_display(xc);
    Atom actual;
    int fmt;
    unsigned long n = 0, after;
    unsigned char *data = NULL;
    if (XGetWindowProperty(dpy, w, desktop_xc_atom(xc, "_NET_WM_NAME"), 0, 65536, False,
                           desktop_xc_atom(xc, "UTF8_STRING"), &actual, &fmt, &n, &after,
                           &data) == Success &&
        data && fmt == 8 && n) {
        char *t = base_xstrndup((const char *)data, n);
        XFree(data);
        return t;
    }
    if (data)
        XFree(data);
    char *name = NULL;
    if (XFetchName(dpy, w, &name) && name) {
        char *t = base_xstrdup(name);
        XFree(name);
        return t;
    }
    return base_xstrdup("");
}

unsigned long desktop_windows_active(desktop_xconn *xc) {
    unsigned long n;
    unsigned long *v =
        desktop_prop_longs(xc, desktop_xc_root(xc), "_NET_ACTIVE_WINDOW", XA_WINDOW, &n);
    unsigned long w = n ? v[0] : 0;
    if (v)
        XFree(v);
    return w;
}

/* Geometry as documented at the top; false when the window does not exist. */
static bool desktop_window_geometry(desktop_xconn *xc, Window w, int *x, int *y, int *width,
                                    int *height, bool *viewable) {
    Display *dpy = desktop_xc_display(xc);
    XWindowAttributes a;
    Window child;
    desktop_xc_trap_begin(xc);
    Status ok = XGetWindowAttributes(dpy, w, &a);
    if (ok)
        XTranslateCoordinates(dpy, w, desktop_xc_root(xc), 0, 0, x, y, &child);
    if (desktop_xc_trap_end(xc) || !ok)
        return false;
    *width = a.width;
    *height = a.height;
    *viewable = a.map_state == IsViewable;
    unsigned long n;
    unsigned long *ext = desktop_prop_longs(xc, w, "_NET_FRAME_EXTENTS", XA_CARDINAL, &n);
    if (ext && n >= 4) {
        *x -= (int)ext[0]; /* left */
        *y -= (int)ext[2]; /* top */
    }
    if (ext)
        XFree(ext);
    return true;
}

static json_t *desktop_window_json(desktop_xconn *xc, Window w, unsigned long active,
                                   bool *viewable) {
    int x, y, width, height;
    if (!desktop_window_geometry(xc, w, &x, &y, &width, &height, viewable))
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "%lu", (unsigned long)w);
    char *title = desktop_window_title(xc, w);
    json_t *o =
        json_pack("{s:s,s:s%,s:i,s:i,s:i,s:i,s:b}", "id", id, "title", title, strlen(title), "x", x,
                  "y", y, "width", width, "height", height, "isActive", w == active);
    free(title);
    return o;
}

json_t *desktop_windows_info(desktop_xconn *xc, unsigned long w) {
    bool viewable;
    return desktop_window_json(xc, w, desktop_windows_active(xc), &viewable);
}

/* The managed windows: _NET_CLIENT_LIST, or the mapped children of the root without a
 * window manager. Caller frees. */
static Window *desktop_clients(desktop_xconn *xc, unsigned long *n) {
    unsigned long *v =
        desktop_prop_longs(xc, desktop_xc_root(xc), "_NET_CLIENT_LIST", XA_WINDOW, n);
    if (v) {
        Window *out = base_xcalloc(*n + 1, sizeof(Window));
        for (unsigned long i = 0; i < *n; i++)
            out[i] = v[i];
        XFree(v);
        return out;
    }
    Window root, parent, *kids = NULL;
    unsigned nkids = 0;
    *n = 0;
    if (!XQueryTree(desktop_xc_display(xc), desktop_xc_root(xc), &root, &parent, &kids, &nkids))
        return NULL;
    Window *out = base_xcalloc(nkids + 1, sizeof(Window));
    for (unsigned i = 0; i < nkids; i++)
        out[i] = kids[i];
    *n = nkids;
    if (kids)
        XFree(kids);
    return out;
}

json_t *desktop_windows_list(desktop_xconn *xc) {
    unsigned long n = 0, active = desktop_windows_active(xc);
    Window *ws = desktop_clients(xc, &n);
    json_t *arr = json_array();
    for (unsigned long i = 0; i < n; i++) {
        bool viewable = false;
        json_t *o = desktop_window_json(xc, ws[i], active, &viewable);
        if (!o)
            continue; /* went away meanwhile */
        bool keep =
            ws[i] == active || (viewable && json_string_length(json_object_get(o, "title")) > 0 &&
                                json_integer_value(json_object_get(o, "width")) >= 120 &&
                                json_integer_value(json_object_get(o, "height")) >= 80);
        if (keep)
            json_array_append_new(arr, o);
        else
            json_decref(o);
    }
    free(ws);
    return json_pack("{s:o}", "windows", arr);
}

unsigned long desktop_windows_by_pid(desktop_xconn *xc, pid_t pid) {
    unsigned long n = 0, found = 0;
    Window *ws = desktop_clients(xc, &n);
    for (unsigned long i = 0; i < n && !found; i++) {
        unsigned long m;
        unsigned long *v = desktop_prop_longs(xc, ws[i], "_NET_WM_PID", XA_CARDINAL, &m);
        if (v && m && (pid_t)v[0] == pid)
            found = ws[i];
        if (v)
            XFree(v);
    }
    free(ws);
    return found;
}

static void desktop_client_message(desktop_xconn *xc, Window w, const char *type, long a0, long a1,
                                   long a2, long a3, long a4);

/* The window manager answers from its main loop: asked for the frame extents of a window it
 * does not manage (_NET_REQUEST_FRAME_EXTENTS), it sets _NET_FRAME_EXTENTS on it. True when
 * the answer came within wait_ms. Each ask is also an event that wakes it. */
static bool desktop_wm_answers(desktop_xconn *xc, int wait_ms) {
    Display *dpy = desktop_xc_display(xc);
    Window probe = XCreateSimpleWindow(dpy, desktop_xc_root(xc), -10, -10, 1, 1, 0, 0, 0);
    XSelectInput(dpy, probe, PropertyChangeMask);
    desktop_client_message(xc, probe, "_NET_REQUEST_FRAME_EXTENTS", 0, 0, 0, 0, 0);
    Atom extents = desktop_xc_atom(xc, "_NET_FRAME_EXTENTS");
    static const int types[] = {PropertyNotify, 0};
    uint64_t deadline = base_mono_ms() + (uint64_t)wait_ms;
    bool answered = false;
    for (uint64_t now = base_mono_ms(); !answered && now < deadline; now = base_mono_ms()) {
        XEvent ev;
        if (!desktop_xc_wait_event(xc, probe, types, (int)(deadline - now), &ev))
            break;
        answered = ev.xproperty.atom == extents;
    }
    XDestroyWindow(dpy, probe);
    XSync(dpy, False);
    return answered;
}

bool desktop_windows_wm_ready(desktop_xconn *xc, int wait_ms) {
    Display *dpy = desktop_xc_display(xc);
    Window root = desktop_xc_root(xc);
    /* Listening before looking: a property set between the look and the wait still wakes it. */
    XSelectInput(dpy, root, PropertyChangeMask);
    unsigned long n;
    unsigned long *v = desktop_prop_longs(xc, root, "_NET_SUPPORTING_WM_CHECK", XA_WINDOW, &n);
    bool announced = v && n;
    if (v)
        XFree(v);
    if (!announced) {
        XEvent ev;
        static const int types[] = {PropertyNotify, 0};
        desktop_xc_wait_event(xc, root, types, wait_ms, &ev);
    }
    XSelectInput(dpy, root, NoEventMask);
    /* openbox announces itself before its main loop runs; a request from a client that it
     * reads meanwhile (an app mapping its first window) stays queued, unanswered, until some
     * later event wakes it (seen: xterm's first window unmapped for Xt's 5 s wmTimeout). So
     * the manager is ready only once it answers. */
    return announced && desktop_wm_answers(xc, wait_ms);
}

/* ---- changes ------------------------------------------------------------------------------ */

static void desktop_client_message(desktop_xconn *xc, Window w, const char *type, long a0, long a1,
                                   long a2, long a3, long a4) {
    XEvent ev;
    memset(&ev, 0, sizeof ev);
    ev.xclient.type = ClientMessage;
    ev.xclient.window = w;
    ev.xclient.message_type = desktop_xc_atom(xc, type);
    ev.xclient.format = 32;
    ev.xclient.data.l[0] = a0;
    ev.xclient.data.l[1] = a1;
    ev.xclient.data.l[2] = a2;
    ev.xclient.data.l[3] = a3;
    ev.xclient.data.l[4] = a4;
    XSendEvent(desktop_xc_display(xc), desktop_xc_root(xc), False,
               SubstructureRedirectMask | SubstructureNotifyMask, &ev);
}

static bool desktop_window_exists(desktop_xconn *xc, Window w) {
    int x, y, width, height;
    bool viewable;
    return desktop_window_geometry(xc, w, &x, &y, &width, &height, &viewable);
}

static void desktop_sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait up to a second for the window manager to have applied a change: until done(...)
 * holds or the window stops changing. */
typedef bool (*desktop_window_pred)(int x, int y, int w, int h, bool active, const int *want);

static void desktop_window_settle(desktop_xconn *xc, Window w, desktop_window_pred pred,
                                  const int *want) {
    for (int i = 0; i < 200; i++) {
        int x, y, width, height;
        bool viewable;
        XSync(desktop_xc_display(xc), False);
        if (!desktop_window_geometry(xc, w, &x, &y, &width, &height, &viewable))
            return;
        if (pred(x, y, width, height, desktop_windows_active(xc) == w, want))
            return;
        desktop_sleep_ms(5);
    }
}

static bool desktop_pred_active(int x, int y, int w, int h, bool active, const int *want) {
    return active;
}

static bool desktop_pred_pos(int x, int y, int w, int h, bool active, const int *want) {
    return x == want[0] && y == want[1];
}

static bool desktop_pred_size(int x, int y, int w, int h, bool active, const int *want) {
    /* Size hints (xterm's character cells) may round the size: any change counts. want is
     * {width, height, width before, height before}. */
    return (w == want[0] && h == want[1]) || w != want[2] || h != want[3];
}

bool desktop_windows_focus(desktop_xconn *xc, unsigned long w) {
    if (!desktop_window_exists(xc, w))
        return false;
    /* Source 2: a pager, which window managers obey without focus-stealing checks. */
    desktop_client_message(xc, w, "_NET_ACTIVE_WINDOW", 2, CurrentTime, 0, 0, 0);
    desktop_xc_trap_begin(xc);
    XRaiseWindow(desktop_xc_display(xc), w);
    desktop_xc_trap_end(xc);
    desktop_window_settle(xc, w, desktop_pred_active, NULL);
    return true;
}

bool desktop_windows_move(desktop_xconn *xc, unsigned long w, int x, int y) {
    if (!desktop_window_exists(xc, w))
        return false;
    /* Flags: x and y given (bits 8, 9), gravity NorthWest (1), source 2 (a pager/tool). */
    long flags = 1 | (1 << 8) | (1 << 9) | (2 << 12);
    desktop_client_message(xc, w, "_NET_MOVERESIZE_WINDOW", flags, x, y, 0, 0);
    int want[2] = {x, y};
    desktop_window_settle(xc, w, desktop_pred_pos, want);
    return true;
}

bool desktop_windows_resize(desktop_xconn *xc, unsigned long w, int width, int height) {
    int x0, y0, w0, h0;
    bool viewable;
    if (!desktop_window_geometry(xc, w, &x0, &y0, &w0, &h0, &viewable))
        return false;
    long flags = 1 | (1 << 10) | (1 << 11) | (2 << 12);
    desktop_client_message(xc, w, "_NET_MOVERESIZE_WINDOW", flags, 0, 0, width, height);
    int want[4] = {width, height, w0, h0};
    desktop_window_settle(xc, w, desktop_pred_size, want);
    return true;
}
