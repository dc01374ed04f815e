/* clipboard.c - the CLIPBOARD and PRIMARY selections, owned in-process (X thread).
 *
 * An X selection has no storage: its owner answers each paste. The reference runs a
 * clipboard tool for that, and a tool like `xclip -i` stays alive to serve the selection,
 * holding any pipe open (the reference's write hangs). Here the X thread owns the selection
 * with a small unmapped window and answers SelectionRequest events between jobs, for as long
 * as nobody else takes the selection (SelectionClear).
 *
 * Reading: our own text when we own it (no round trip), else a conversion to UTF8_STRING
 * (then STRING) into a property of our window, including the INCR protocol for large
 * transfers, bounded in time. */
#include "desktop/internal.h"
#include "desktop/xload.h"

#include <stdlib.h>
#include <string.h>

#define DESKTOP_CLIP_TIMEOUT_MS 2000
#define DESKTOP_CLIP_MAX (16u << 20)

/* What we own. Owner: the X thread; reset with the connection. */
static struct {
    Window win;
    char *text[2]; /* CLIPBOARD, PRIMARY: the text while we own it, else NULL */
    size_t len[2];
} desktop_clip;

void desktop_clipboard_reset(void) {
    for (int i = 0; i < 2; i++) {
        free(desktop_clip.text[i]);
        desktop_clip.text[i] = NULL;
    }
    desktop_clip.win = 0; /* destroyed with the connection */
}

static Atom desktop_sel_atom(desktop_xconn *xc, int which) {
    return which == 0 ? desktop_xc_atom(xc, "CLIPBOARD") : XA_PRIMARY;
}

static int desktop_sel_index(desktop_xconn *xc, Atom sel) {
    if (sel == desktop_xc_atom(xc, "CLIPBOARD"))
        return 0;
    if (sel == XA_PRIMARY)
        return 1;
    return -1;
}

/* Answer one paste request for a selection we own. */
static void desktop_clip_answer(desktop_xconn *xc, XSelectionRequestEvent *r) {
    Display *dpy = desktop_xc_display(xc);
    XSelectionEvent reply;
    memset(&reply, 0, sizeof reply);
    reply.type = SelectionNotify;
    reply.requestor = r->requestor;
    reply.selection = r->selection;
    reply.target = r->target;
    reply.time = r->time;
    reply.property = None;
    int idx = desktop_sel_index(xc, r->selection);
    /* Obsolete clients name no property: the target is the property then (ICCCM). */
    Atom prop = r->property != None ? r->property : r->target;
    Atom utf8 = desktop_xc_atom(xc, "UTF8_STRING");
    Atom targets = desktop_xc_atom(xc, "TARGETS");
    Atom text_plain = desktop_xc_atom(xc, "text/plain;charset=utf-8");
    desktop_xc_trap_begin(xc);
    if (idx >= 0 && desktop_clip.text[idx]) {
        if (r->target == targets) {
            Atom list[] = {targets, utf8, XA_STRING, desktop_xc_atom(xc, "TEXT"), text_plain};
            XChangeProperty(dpy, r->requestor, prop, XA_ATOM, 32, PropModeReplace,
                            (unsigned char *)list, 5);
            reply.property = prop;
        } else if (r->target == utf8 || r->target == XA_STRING || r->target == text_plain ||
                   r->target == desktop_xc_atom(xc, "TEXT")) {
            Atom type = r->target == XA_STRING ? XA_STRING : utf8;
            XChangeProperty(dpy, r->requestor, prop, type, 8, PropModeReplace,
                            (unsigned char *)desktop_clip.text[idx], (int)desktop_clip.len[idx]);
            reply.property = prop;
        }
    }
    XSendEvent(dpy, r->requestor, False, 0, (XEvent *)&reply);
    desktop_xc_trap_end(xc); /* a requestor that vanished is not our problem */
}

static void desktop_clip_event(desktop_xconn *xc, void *evp) {
    XEvent *ev = evp;
    if (ev->type == SelectionRequest) {
        desktop_clip_answer(xc, &ev->xselectionrequest);
    } else if (ev->type == SelectionClear) {
        int idx = desktop_sel_index(xc, ev->xselectionclear.selection);
        if (idx >= 0) {
            free(desktop_clip.text[idx]);
            desktop_clip.text[idx] = NULL;
        }
    }
}

static Window desktop_clip_window(desktop_xconn *xc) {
    if (desktop_clip.win)
        return desktop_clip.win;
    Display *dpy = desktop_xc_display(xc);
    desktop_clip.win = XCreateSimpleWindow(dpy, desktop_xc_root(xc), -10, -10, 1, 1, 0, 0, 0);
    XSelectInput(dpy, desktop_clip.win, PropertyChangeMask);
    desktop_xc_set_event_handler(xc, desktop_clip_event);
    return desktop_clip.win;
}

bool desktop_clipboard_write(desktop_xconn *xc, desktop_selection sel, const char *text, size_t len,
                             char *err, size_t cap) {
    Display *dpy = desktop_xc_display(xc);
    Window win = desktop_clip_window(xc);
    for (int i = 0; i < 2; i++) {
        if (sel != DESKTOP_SEL_BOTH && (int)sel != i)
            continue;
        Atom a = desktop_sel_atom(xc, i);
        XSetSelectionOwner(dpy, a, win, CurrentTime);
        if (XGetSelectionOwner(dpy, a) != win) {
            snprintf(err, cap, "failed to write clipboard: could not take the %s selection",
                     i == 0 ? "CLIPBOARD" : "PRIMARY");
            return false;
        }
        free(desktop_clip.text[i]);
        desktop_clip.text[i] = base_xstrndup(text, len);
        desktop_clip.len[i] = len;
    }
    return true;
}

/* Read a property of our window whole (deleting it), or receive it by INCR. */
static bool desktop_clip_fetch(desktop_xconn *xc, Atom prop, base_buf *out, char *err, size_t cap) {
    Display *dpy = desktop_xc_display(xc);
    Window win = desktop_clip.win;
    Atom type;
    int fmt;
    unsigned long n, after;
    unsigned char *data = NULL;
    if (XGetWindowProperty(dpy, win, prop, 0, DESKTOP_CLIP_MAX / 4, True, AnyPropertyType, &type,
                           &fmt, &n, &after, &data) != Success) {
        snprintf(err, cap, "failed to read clipboard: the selection's property is unreadable");
        return false;
    }
    if (type != desktop_xc_atom(xc, "INCR")) {
        if (data && fmt == 8)
            base_buf_append(out, data, n);
        if (data)
            XFree(data);
        return true;
    }
    if (data)
        XFree(data);
    /* INCR: the owner sends chunks, each announced by a new value of the property; a
     * zero-length chunk ends it. Deleting the property asks for the next one. */
    for (;;) {
        XEvent ev;
        static const int types[] = {PropertyNotify, 0};
        bool got;
        do {
            got = desktop_xc_wait_event(xc, win, types, DESKTOP_CLIP_TIMEOUT_MS, &ev);
        } while (got && !(ev.xproperty.atom == prop && ev.xproperty.state == PropertyNewValue));
        if (!got) {
            snprintf(err, cap, "failed to read clipboard: the owner stopped sending");
            return false;
        }
        data = NULL;
        if (XGetWindowProperty(dpy, win, prop, 0, DESKTOP_CLIP_MAX / 4, True, AnyPropertyType,
                               &type, &fmt, &n, &after, &data) != Success) {
            snprintf(err, cap, "failed to read clipboard: a chunk is unreadable");
            return false;
        }
        if (data && fmt == 8 && n)
            base_buf_append(out, data, n);
        if (data)
            XFree(data);
        if (n == 0)
            return true;
        if (out->len > DESKTOP_CLIP_MAX) {
            snprintf(err, cap, "failed to read clipboard: more than %u bytes", DESKTOP_CLIP_MAX);
            return false;
        }
    }
}

/* Ask the owner to convert to target into our property; false when it refused. */
static bool desktop_clip_convert(desktop_xconn *xc, Atom sel, Atom target, base_buf *out,
                                 bool *refused, char *err, size_t cap) {
    Display *dpy = desktop_xc_display(xc);
    Window win = desktop_clip.win;
    Atom prop = desktop_xc_atom(xc, "SANDBOX_AGENT_SELECTION");
    XDeleteProperty(dpy, win, prop);
    XConvertSelection(dpy, sel, target, prop, win, CurrentTime);
    XFlush(dpy);
    static const int types[] = {SelectionNotify, 0};
    XEvent ev;
    if (!desktop_xc_wait_event(xc, win, types, DESKTOP_CLIP_TIMEOUT_MS, &ev)) {
        snprintf(err, cap, "failed to read clipboard: the selection owner did not answer");
        return false;
    }
    if (ev.xselection.property == None) {
        *refused = true;
        return false;
    }
    return desktop_clip_fetch(xc, prop, out, err, cap);
}

char *desktop_clipboard_read(desktop_xconn *xc, desktop_selection sel, char *err, size_t cap) {
    int idx = sel == DESKTOP_SEL_PRIMARY ? 1 : 0;
    if (desktop_clip.text[idx])
        return base_xstrndup(desktop_clip.text[idx], desktop_clip.len[idx]);
    Display *dpy = desktop_xc_display(xc);
    desktop_clip_window(xc);
    Atom a = desktop_sel_atom(xc, idx);
    if (XGetSelectionOwner(dpy, a) == None)
        return base_xstrdup("");
    base_buf out;
    base_buf_init(&out);
    bool refused = false;
    if (!desktop_clip_convert(xc, a, desktop_xc_atom(xc, "UTF8_STRING"), &out, &refused, err,
                              cap)) {
        if (!refused) {
            base_buf_free(&out);
            return NULL;
        }
        refused = false;
        base_buf_init(&out);
        if (!desktop_clip_convert(xc, a, XA_STRING, &out, &refused, err, cap)) {
            base_buf_free(&out);
            if (refused)
                return base_xstrdup(""); /* the owner has no text */
            return NULL;
        }
    }
    base_buf_append(&out, "", 1);
    return base_buf_steal(&out, NULL);
}
