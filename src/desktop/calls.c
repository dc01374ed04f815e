/* calls.c - a request's X work: the job that carries it to the X thread and back, the
 * operations that run there (pointer, buttons, keys, windows, clipboard), and the problem a
 * failed job answers. The handlers in routes.c decode the request, fill a call and submit
 * it; the answer is sent from here when the job completes. */
#include "desktop/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- X calls bound to a request ----------------------------------------------------------- */

static void desktop_call_abort(http_req *req, void *ud) {
    desktop_call *c = ud;
    c->req = NULL;
}

void desktop_call_free(desktop_call *c) {
    free(c->text);
    for (size_t i = 0; i < c->nkeys; i++)
        free(c->keys[i]);
    json_decref(c->status);
    json_decref(c->xjob.result);
    free(c);
}

/* The problem for a failed job. */
void desktop_reply_xerr(http_req *req, desktop_xerr st, const char *err) {
    switch (st) {
    case DESKTOP_XERR_GONE:
        desktop_problem(req, "desktop_runtime_failed", err[0] ? err : "the desktop is not running",
                        NULL);
        return;
    case DESKTOP_XERR_NOWINDOW:
        desktop_problem(req, "window_not_found", err, NULL);
        return;
    case DESKTOP_XERR_NOFOCUS:
        desktop_problem(req, "no_focused_window", "No window currently has focus", NULL);
        return;
    case DESKTOP_XERR_INPUT:
        desktop_problem(req, "desktop_input_failed", err, NULL);
        return;
    case DESKTOP_XERR_CAPTURE:
        desktop_problem(req, "desktop_screenshot_failed", err, NULL);
        return;
    case DESKTOP_XERR_CLIPBOARD:
        desktop_problem(req, "clipboard_failed", err, NULL);
        return;
    case DESKTOP_XERR_INVALID:
        desktop_problem(req, "desktop_invalid_action", err, NULL);
        return;
    default:
        desktop_problem(req, "desktop_runtime_failed", err, NULL);
    }
}

static void desktop_call_done(desktop_xjob *j) {
    desktop_call *c = j->ud;
    if (c->req) {
        http_req_on_abort(c->req, NULL, NULL);
        if (j->status != DESKTOP_XOK)
            desktop_reply_xerr(c->req, j->status, j->err);
        else {
            http_reply_json(c->req, 200, j->result);
            j->result = NULL;
        }
    }
    desktop_call_free(c);
}

static void desktop_call_run(desktop_xconn *xc, desktop_xjob *j) {
    desktop_call *c = j->ud;
    c->fn(xc, c);
}

desktop_call *desktop_call_new(http_req *req, desktop_call_fn fn) {
    desktop_call *c = base_xcalloc(1, sizeof *c);
    c->req = req;
    c->fn = fn;
    c->xjob.run = desktop_call_run;
    c->xjob.done = desktop_call_done;
    c->xjob.ud = c;
    return c;
}

void desktop_call_submit(desktop_call *c) {
    http_req_on_abort(c->req, desktop_call_abort, c);
    desktop_xjob_submit(&c->xjob);
}

/* ---- operations (X thread) ---------------------------------------------------------------- */

static json_t *desktop_position_json(desktop_xconn *xc) {
    int x, y;
    unsigned long w;
    desktop_input_pointer(xc, &x, &y, &w);
    json_t *o = json_pack("{s:i,s:i,s:i}", "x", x, "y", y, "screen", 0);
    if (w) {
        char id[32];
        snprintf(id, sizeof id, "%lu", w);
        json_object_set_new(o, "window", json_string(id));
    }
    return o;
}

void desktop_op_position(desktop_xconn *xc, desktop_call *c) {
    c->xjob.result = desktop_position_json(xc);
}

/* Wait (at most ~250 ms) until the pointer is at (x, y), clamped to the screen. A grab can
 * freeze the pointer: openbox's click-to-focus grab holds it from a button press until it
 * replays the press, and fake motion meanwhile is queued, not applied. Without this a drag
 * answered its start point (the moves were still queued when the position was read). */
static void desktop_pointer_settle(desktop_xconn *xc, int x, int y) {
    int w, h;
    desktop_xc_size(xc, &w, &h);
    x = x < w ? x : w - 1;
    y = y < h ? y : h - 1;
    for (int i = 0; i < 50; i++) {
        int px, py;
        unsigned long win;
        desktop_input_pointer(xc, &px, &py, &win);
        if (px == x && py == y)
            return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The answer of a mouse action that ends at (x, y). */
static void desktop_op_position_at(desktop_xconn *xc, desktop_call *c, int x, int y) {
    desktop_pointer_settle(xc, x, y);
    desktop_op_position(xc, c);
}

void desktop_op_move(desktop_xconn *xc, desktop_call *c) {
    desktop_input_move(xc, c->x, c->y);
    desktop_op_position_at(xc, c, c->x, c->y);
}

void desktop_op_click(desktop_xconn *xc, desktop_call *c) {
    desktop_input_move(xc, c->x, c->y);
    for (int i = 0; i < c->count; i++) {
        desktop_input_button(xc, c->button, true);
        desktop_input_button(xc, c->button, false);
    }
    desktop_op_position_at(xc, c, c->x, c->y);
}

void desktop_op_button(desktop_xconn *xc, desktop_call *c) {
    if (c->has_xy)
        desktop_input_move(xc, c->x, c->y);
    desktop_input_button(xc, c->button, c->down);
    if (c->has_xy)
        desktop_op_position_at(xc, c, c->x, c->y);
    else
        desktop_op_position(xc, c);
}

void desktop_op_drag(desktop_xconn *xc, desktop_call *c) {
    desktop_input_move(xc, c->x, c->y);
    desktop_input_button(xc, c->button, true);
    /* Intermediate motion: toolkits start a drag on movement, not on a jump. */
    for (int i = 1; i <= 8; i++)
        desktop_input_move(xc, c->x + (c->x2 - c->x) * i / 8, c->y + (c->y2 - c->y) * i / 8);
    desktop_input_button(xc, c->button, false);
    desktop_op_position_at(xc, c, c->x2, c->y2);
}

void desktop_op_scroll(desktop_xconn *xc, desktop_call *c) {
    desktop_input_move(xc, c->x, c->y);
    int vb = c->dy < 0 ? 4 : 5, hb = c->dx < 0 ? 6 : 7;
    for (int i = 0; i < abs(c->dy); i++) {
        desktop_input_button(xc, vb, true);
        desktop_input_button(xc, vb, false);
    }
    for (int i = 0; i < abs(c->dx); i++) {
        desktop_input_button(xc, hb, true);
        desktop_input_button(xc, hb, false);
    }
    desktop_op_position_at(xc, c, c->x, c->y);
}

static void desktop_op_ok(desktop_call *c) {
    c->xjob.result = json_pack("{s:b}", "ok", 1);
}

void desktop_op_type(desktop_xconn *xc, desktop_call *c) {
    if (!desktop_input_type(xc, c->text, c->delay, c->xjob.err, sizeof c->xjob.err)) {
        c->xjob.status = DESKTOP_XERR_INPUT;
        return;
    }
    desktop_op_ok(c);
}

/* keys[] pressed in order and released in reverse (press), or one key down or up. */
void desktop_op_keys(desktop_xconn *xc, desktop_call *c) {
    char *err = c->xjob.err;
    size_t cap = sizeof c->xjob.err;
    if (c->count == 0) { /* down or up */
        if (!desktop_input_key(xc, c->keys[0], c->down, err, cap))
            c->xjob.status = DESKTOP_XERR_INVALID;
        else
            desktop_op_ok(c);
        return;
    }
    size_t pressed = 0;
    for (; pressed < c->nkeys; pressed++)
        if (!desktop_input_key(xc, c->keys[pressed], true, err, cap))
            break;
    for (size_t i = pressed; i-- > 0;)
        desktop_input_key(xc, c->keys[i], false, NULL, 0);
    if (pressed < c->nkeys)
        c->xjob.status = DESKTOP_XERR_INVALID;
    else
        desktop_op_ok(c);
}

void desktop_op_windows(desktop_xconn *xc, desktop_call *c) {
    c->xjob.result = desktop_windows_list(xc);
}

void desktop_op_focused(desktop_xconn *xc, desktop_call *c) {
    unsigned long w = desktop_windows_active(xc);
    c->xjob.result = w ? desktop_windows_info(xc, w) : NULL;
    if (!c->xjob.result)
        c->xjob.status = DESKTOP_XERR_NOFOCUS;
}

static void desktop_window_missing(desktop_call *c) {
    c->xjob.status = DESKTOP_XERR_NOWINDOW;
    snprintf(c->xjob.err, sizeof c->xjob.err, "Window %lu not found", c->window);
}

static void desktop_op_window_info(desktop_xconn *xc, desktop_call *c, bool ok) {
    c->xjob.result = ok ? desktop_windows_info(xc, c->window) : NULL;
    if (!c->xjob.result)
        desktop_window_missing(c);
}

void desktop_op_focus(desktop_xconn *xc, desktop_call *c) {
    desktop_op_window_info(xc, c, desktop_windows_focus(xc, c->window));
}

void desktop_op_wmove(desktop_xconn *xc, desktop_call *c) {
    desktop_op_window_info(xc, c, desktop_windows_move(xc, c->window, c->x, c->y));
}

void desktop_op_wresize(desktop_xconn *xc, desktop_call *c) {
    desktop_op_window_info(xc, c, desktop_windows_resize(xc, c->window, c->x, c->y));
}

static const char *desktop_sel_name(desktop_selection s) {
    return s == DESKTOP_SEL_PRIMARY ? "primary" : s == DESKTOP_SEL_BOTH ? "both" : "clipboard";
}

/* Latin-1 (what STRING holds) as UTF-8, for an owner that sent no valid UTF-8. */
static char *desktop_latin1_to_utf8(const char *s) {
    size_t n = strlen(s);
    char *out = base_xmalloc(2 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80) {
            *o++ = (char)*p;
        } else {
            *o++ = (char)(0xc0 | (*p >> 6));
            *o++ = (char)(0x80 | (*p & 0x3f));
        }
    }
    *o = 0;
    return out;
}

void desktop_op_clip_read(desktop_xconn *xc, desktop_call *c) {
    char *text = desktop_clipboard_read(xc, c->sel, c->xjob.err, sizeof c->xjob.err);
    if (!text) {
        c->xjob.status = DESKTOP_XERR_CLIPBOARD;
        return;
    }
    if (!base_utf8_valid(text, strlen(text))) {
        char *u = desktop_latin1_to_utf8(text);
        free(text);
        text = u;
    }
    c->xjob.result = json_pack("{s:s,s:s}", "selection", desktop_sel_name(c->sel), "text", text);
    free(text);
}

void desktop_op_clip_write(desktop_xconn *xc, desktop_call *c) {
    if (!desktop_clipboard_write(xc, c->sel, c->text, c->len, c->xjob.err, sizeof c->xjob.err))
        c->xjob.status = DESKTOP_XERR_CLIPBOARD;
    else
        desktop_op_ok(c);
}

void desktop_op_status_windows(desktop_xconn *xc, desktop_call *c) {
    json_t *w = desktop_windows_list(xc);
    json_object_set(c->status, "windows", json_object_get(w, "windows"));
    json_decref(w);
}
