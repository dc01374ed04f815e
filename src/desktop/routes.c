/* routes.c - the /v1/desktop routes (http-api.md §10 but streaming), and the desktop
 * problem types.
 *
 * Each handler checks its input first (query, body, then values: a bad request gets its 400
 * or 422 even with the desktop stopped or not installed), then the runtime gate, then queues
 * one job on the X thread and answers when it completes. A client that leaves meanwhile is
 * forgotten; the job still completes (an X call cannot be taken back). */
#include "desktop/desktop.h"
#include "desktop/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- problems ----------------------------------------------------------------------------- */

static const struct {
    const char *code;
    int status;
    const char *title;
} desktop_problems[] = {
    {"desktop_dependencies_missing", 503, "Desktop Dependencies Missing"},
    {"desktop_runtime_inactive", 409, "Desktop Runtime Inactive"},
    {"desktop_runtime_starting", 409, "Desktop Runtime Starting"},
    {"desktop_runtime_failed", 503, "Desktop Runtime Failed"},
    {"desktop_invalid_action", 400, "Desktop Invalid Action"},
    {"desktop_screenshot_failed", 502, "Desktop Screenshot Failed"},
    {"desktop_input_failed", 502, "Desktop Input Failed"},
    {"no_focused_window", 404, "No Focused Window"},
    {"window_not_found", 404, "Window Not Found"},
    {"app_not_found", 404, "App Not Found"},
    {"clipboard_failed", 500, "Clipboard Failed"},
};

void desktop_problem(http_req *req, const char *code, const char *detail, json_t *extra) {
    int status = 500;
    const char *title = "Desktop Error";
    for (size_t i = 0; i < sizeof desktop_problems / sizeof desktop_problems[0]; i++) {
        if (!strcmp(desktop_problems[i].code, code)) {
            status = desktop_problems[i].status;
            title = desktop_problems[i].title;
        }
    }
    json_t *members = json_pack("{s:s}", "code", code);
    if (extra) {
        json_object_update(members, extra);
        json_decref(extra);
    }
    if (desktop_runtime_has_processes())
        json_object_set_new(members, "processes", desktop_runtime_processes());
    http_reply_problem(req, status, code, title, detail, members);
}

void desktop_problem_conflict(http_req *req, const char *message) {
    http_problem_with_message(req, 409, "conflict", "Conflict", "conflict", message);
}

static void desktop_invalid(http_req *req, const char *detail) {
    desktop_problem(req, "desktop_invalid_action", detail, NULL);
}

/* ---- status, start, stop ------------------------------------------------------------------ */

static void desktop_status_done(desktop_xjob *j) {
    desktop_call *c = j->ud;
    if (c->req) {
        http_req_on_abort(c->req, NULL, NULL);
        /* A status is always 200: without the X thread it simply lists no windows. */
        http_reply_json(c->req, 200, json_incref(c->status));
    }
    desktop_call_free(c);
}

void desktop_reply_status(http_req *req) {
    json_t *st = desktop_runtime_status();
    if (strcmp(json_string_value(json_object_get(st, "state")), "active")) {
        http_reply_json(req, 200, st);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_status_windows);
    c->status = st;
    c->xjob.done = desktop_status_done;
    desktop_call_submit(c);
}

static void desktop_status_handler(http_req *req, void *ud) {
    desktop_reply_status(req);
}

static unsigned desktop_u32(json_t *body, const char *name) {
    return (unsigned)json_integer_value(json_object_get(body, name));
}

/* streamVideoCodec, streamAudioCodec, streamFrameRate (checked with the other rates) and
 * webrtcPortRange "min-max". */
static bool desktop_stream_values(http_req *req, json_t *body, desktop_start_opts *o) {
    static const char *const video[] = {"vp8", "vp9", "h264"}, *const audio[] = {"opus", "g722"};
    const char *v = json_string_value(json_object_get(body, "streamVideoCodec"));
    const char *a = json_string_value(json_object_get(body, "streamAudioCodec"));
    o->stream_codec = "vp8";
    o->stream_audio = "opus";
    for (int i = 0; v && i < 3; i++)
        if (!strcmp(v, video[i]))
            o->stream_codec = video[i];
    for (int i = 0; a && i < 2; i++)
        if (!strcmp(a, audio[i]))
            o->stream_audio = audio[i];
    if (v && strcmp(v, o->stream_codec)) {
        desktop_invalid(req, "streamVideoCodec must be one of vp8, vp9, h264");
        return false;
    }
    if (a && strcmp(a, o->stream_audio)) {
        desktop_invalid(req, "streamAudioCodec must be one of opus, g722");
        return false;
    }
    o->stream_fps = desktop_u32(body, "streamFrameRate");
    if (!o->stream_fps)
        o->stream_fps = 30;
    o->port_min = 59050;
    o->port_max = 59070;
    const char *range = json_string_value(json_object_get(body, "webrtcPortRange"));
    if (range) {
        unsigned lo = 0, hi = 0;
        int used = 0;
        if (sscanf(range, "%5u-%5u%n", &lo, &hi, &used) != 2 || range[used] || lo < 1024 ||
            hi > 65535 || lo > hi) {
            desktop_invalid(req, "webrtcPortRange must be \"min-max\" with ports from 1024 to "
                                 "65535, min <= max");
            return false;
        }
        o->port_min = lo;
        o->port_max = hi;
    }
    return true;
}


/* The start body's values (the deserialiser checked the types). */
static bool desktop_start_values(http_req *req, json_t *body, desktop_start_opts *o) {
    static const char *const dims[] = {"width", "height"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, dims[i]);
        if (json_is_integer(v) && (json_integer_value(v) < 64 || json_integer_value(v) > 16384)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s must be between 64 and 16384", dims[i]);
            desktop_invalid(req, msg);
            return false;
        }
    }
    json_t *dpi = json_object_get(body, "dpi");
    if (json_is_integer(dpi) && (json_integer_value(dpi) < 10 || json_integer_value(dpi) > 1000)) {
        desktop_invalid(req, "dpi must be between 10 and 1000");
        return false;
    }
    json_t *num = json_object_get(body, "displayNum");
    if (json_is_integer(num) && json_integer_value(num) > 65000) {
        desktop_invalid(req, "displayNum must be at most 65000");
        return false;
    }
    static const char *const fps[] = {"recordingFps", "streamFrameRate"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, fps[i]);
        if (json_is_integer(v) && (json_integer_value(v) < 1 || json_integer_value(v) > 60)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s must be between 1 and 60", fps[i]);
            desktop_invalid(req, msg);
            return false;
        }
    }
    if (!desktop_stream_values(req, body, o))
        return false;
    const char *dir = json_string_value(json_object_get(body, "stateDir"));
    if (dir && dir[0] != '/') {
        desktop_invalid(req, "stateDir must be an absolute path");
        return false;
    }
    o->width = desktop_u32(body, "width");
    o->height = desktop_u32(body, "height");
    o->dpi = desktop_u32(body, "dpi");
    o->recording_fps = desktop_u32(body, "recordingFps");
    o->display_num_set = json_is_integer(num);
    o->display_num = desktop_u32(body, "displayNum");
    o->state_dir = dir;
    return true;
}

static void desktop_start_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {
        {"width", DESKTOP_F_U32, false},
        {"height", DESKTOP_F_U32, false},
        {"dpi", DESKTOP_F_U32, false},
        {"displayNum", DESKTOP_F_U32, false},
        {"stateDir", DESKTOP_F_STR, false},
        {"streamVideoCodec", DESKTOP_F_STR, false},
        {"streamAudioCodec", DESKTOP_F_STR, false},
        {"streamFrameRate", DESKTOP_F_U32, false},
        {"webrtcPortRange", DESKTOP_F_STR, false},
        {"recordingFps", DESKTOP_F_U32, false},
    };
    json_t *body = desktop_body(req, f, sizeof f / sizeof f[0]);
    if (!body)
        return;
    desktop_start_opts o = {0};
    if (desktop_start_values(req, body, &o))
        desktop_runtime_start(req, &o);
    json_decref(body);
}

static void desktop_stop_handler(http_req *req, void *ud) {
    desktop_runtime_stop(req);
}

static void desktop_display_handler(http_req *req, void *ud) {
    if (desktop_runtime_gate(req))
        return;
    int w, h;
    desktop_runtime_size(&w, &h);
    json_t *st = desktop_runtime_status();
    json_t *o = json_pack("{s:s,s:O}", "display", desktop_runtime_display(), "resolution",
                          json_object_get(st, "resolution"));
    json_decref(st);
    http_reply_json(req, 200, o);
}

/* ---- screenshots -------------------------------------------------------------------------- */

/* One screenshot request. Owner: the handler, then desktop_shot_done. */
typedef struct desktop_shot_req {
    desktop_shot shot;
    http_req *req;
} desktop_shot_req;

static void desktop_shot_abort(http_req *req, void *ud) {
    desktop_shot_req *s = ud;
    s->req = NULL;
}

static void desktop_shot_done(desktop_shot *shot, desktop_xerr st, const char *err, void *ud) {
    desktop_shot_req *s = ud;
    if (s->req) {
        http_req_on_abort(s->req, NULL, NULL);
        if (st != DESKTOP_XOK)
            desktop_reply_xerr(s->req, st, err ? err : "");
        else
            http_reply(s->req, 200, desktop_format_mime(shot->fmt), "cache-control: no-store\r\n",
                       shot->bytes.data, shot->bytes.len);
    }
    base_buf_free(&shot->bytes);
    free(s);
}

static void desktop_screenshot_common(http_req *req, bool region) {
    desktop_shot_req *s = base_xcalloc(1, sizeof *s);
    s->shot.region = region;
    if (!desktop_shot_query(req, &s->shot) || desktop_runtime_gate(req)) {
        free(s);
        return;
    }
    base_buf_init(&s->shot.bytes);
    s->req = req;
    http_req_on_abort(req, desktop_shot_abort, s);
    desktop_screenshot(http_req_loop(req), &s->shot, desktop_shot_done, s);
}

static void desktop_screenshot_handler(http_req *req, void *ud) {
    desktop_screenshot_common(req, false);
}

static void desktop_region_handler(http_req *req, void *ud) {
    desktop_screenshot_common(req, true);
}

/* ---- mouse -------------------------------------------------------------------------------- */

static int desktop_button_of(json_t *body, const char *name) {
    const char *b = json_string_value(json_object_get(body, name));
    return !b || !strcmp(b, "left") ? 1 : !strcmp(b, "middle") ? 2 : 3;
}

static int desktop_int(json_t *body, const char *name) {
    return (int)json_integer_value(json_object_get(body, name));
}

static bool desktop_has(json_t *body, const char *name) {
    json_t *v = json_object_get(body, name);
    return v && !json_is_null(v);
}

/* Negative coordinates are refused, as in the reference. */
static bool desktop_coords_ok(http_req *req, json_t *body, const char *const *names) {
    for (; *names; names++) {
        if (desktop_has(body, *names) && desktop_int(body, *names) < 0) {
            desktop_invalid(req, "Desktop coordinates must be non-negative");
            return false;
        }
    }
    return true;
}

static void desktop_position_handler(http_req *req, void *ud) {
    if (desktop_runtime_gate(req))
        return;
    desktop_call_submit(desktop_call_new(req, desktop_op_position));
}

static const desktop_field desktop_xy_fields[] = {
    {"x", DESKTOP_F_I32, true},
    {"y", DESKTOP_F_I32, true},
};
static const char *const desktop_xy_names[] = {"x", "y", NULL};

static void desktop_move_handler(http_req *req, void *ud) {
    json_t *body = desktop_body(req, desktop_xy_fields, 2);
    if (!body)
        return;
    if (!desktop_coords_ok(req, body, desktop_xy_names) || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_move);
    c->x = desktop_int(body, "x");
    c->y = desktop_int(body, "y");
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_click_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"x", DESKTOP_F_I32, true},
                                      {"y", DESKTOP_F_I32, true},
                                      {"button", DESKTOP_F_BUTTON, false},
                                      {"clickCount", DESKTOP_F_I32, false}};
    json_t *body = desktop_body(req, f, 4);
    if (!body)
        return;
    int count = desktop_has(body, "clickCount") ? desktop_int(body, "clickCount") : 1;
    bool ok = desktop_coords_ok(req, body, desktop_xy_names);
    if (ok && count <= 0) {
        desktop_invalid(req, "clickCount must be greater than 0");
        ok = false;
    } else if (ok && count > 100) {
        desktop_invalid(req, "clickCount must be at most 100");
        ok = false;
    }
    if (!ok || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_click);
    c->x = desktop_int(body, "x");
    c->y = desktop_int(body, "y");
    c->button = desktop_button_of(body, "button");
    c->count = count;
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_button_common(http_req *req, bool down) {
    static const desktop_field f[] = {{"x", DESKTOP_F_I32, false},
                                      {"y", DESKTOP_F_I32, false},
                                      {"button", DESKTOP_F_BUTTON, false}};
    json_t *body = desktop_body(req, f, 3);
    if (!body)
        return;
    bool ok = desktop_coords_ok(req, body, desktop_xy_names);
    if (ok && desktop_has(body, "x") != desktop_has(body, "y")) {
        desktop_invalid(req, "x and y must be given together");
        ok = false;
    }
    if (!ok || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_button);
    c->has_xy = desktop_has(body, "x");
    c->x = desktop_int(body, "x");
    c->y = desktop_int(body, "y");
    c->button = desktop_button_of(body, "button");
    c->down = down;
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_down_handler(http_req *req, void *ud) {
    desktop_button_common(req, true);
}

static void desktop_up_handler(http_req *req, void *ud) {
    desktop_button_common(req, false);
}

static void desktop_drag_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"startX", DESKTOP_F_I32, true},
                                      {"startY", DESKTOP_F_I32, true},
                                      {"endX", DESKTOP_F_I32, true},
                                      {"endY", DESKTOP_F_I32, true},
                                      {"button", DESKTOP_F_BUTTON, false}};
    static const char *const names[] = {"startX", "startY", "endX", "endY", NULL};
    json_t *body = desktop_body(req, f, 5);
    if (!body)
        return;
    if (!desktop_coords_ok(req, body, names) || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_drag);
    c->x = desktop_int(body, "startX");
    c->y = desktop_int(body, "startY");
    c->x2 = desktop_int(body, "endX");
    c->y2 = desktop_int(body, "endY");
    c->button = desktop_button_of(body, "button");
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_scroll_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"x", DESKTOP_F_I32, true},
                                      {"y", DESKTOP_F_I32, true},
                                      {"deltaX", DESKTOP_F_I32, false},
                                      {"deltaY", DESKTOP_F_I32, false}};
    json_t *body = desktop_body(req, f, 4);
    if (!body)
        return;
    int dx = desktop_int(body, "deltaX"), dy = desktop_int(body, "deltaY");
    bool ok = desktop_coords_ok(req, body, desktop_xy_names);
    if (ok && dx == 0 && dy == 0) {
        desktop_invalid(req, "deltaX or deltaY must be non-zero");
        ok = false;
    } else if (ok && (abs(dx) > 1000 || abs(dy) > 1000)) {
        desktop_invalid(req, "deltaX and deltaY must be between -1000 and 1000");
        ok = false;
    }
    if (!ok || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_scroll);
    c->x = desktop_int(body, "x");
    c->y = desktop_int(body, "y");
    c->dx = dx;
    c->dy = dy;
    json_decref(body);
    desktop_call_submit(c);
}

/* ---- keyboard ----------------------------------------------------------------------------- */

static void desktop_type_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"text", DESKTOP_F_STR, true},
                                      {"delayMs", DESKTOP_F_U32, false}};
    json_t *body = desktop_body(req, f, 2);
    if (!body)
        return;
    const char *text = json_string_value(json_object_get(body, "text"));
    unsigned delay = desktop_u32(body, "delayMs");
    bool ok = true;
    if (!*text) {
        desktop_invalid(req, "text must not be empty");
        ok = false;
    } else if (delay > 1000) {
        desktop_invalid(req, "delayMs must be at most 1000");
        ok = false;
    }
    if (!ok || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_type);
    c->text = base_xstrdup(text);
    c->delay = delay;
    json_decref(body);
    desktop_call_submit(c);
}

/* "ctrl+shift+t" into keys (a lone "+" is the plus key). False when there are too many. */
static bool desktop_split_keys(desktop_call *c, const char *key) {
    if (!strcmp(key, "+")) {
        c->keys[c->nkeys++] = base_xstrdup("plus");
        return true;
    }
    const char *s = key;
    while (*s) {
        const char *e = strchr(s, '+');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n) {
            if (c->nkeys == 8)
                return false;
            c->keys[c->nkeys++] = base_xstrndup(s, n);
        }
        s += n + (e ? 1 : 0);
    }
    return c->nkeys > 0;
}

static void desktop_press_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"key", DESKTOP_F_STR, true},
                                      {"modifiers", DESKTOP_F_MODIFIERS, false}};
    json_t *body = desktop_body(req, f, 2);
    if (!body)
        return;
    const char *key = json_string_value(json_object_get(body, "key"));
    if (!*key) {
        desktop_invalid(req, "key must not be empty");
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_keys);
    c->count = 1;
    json_t *mods = json_object_get(body, "modifiers");
    static const char *const order[][2] = {
        {"ctrl", "ctrl"}, {"shift", "shift"}, {"alt", "alt"}, {"cmd", "super"}};
    for (int i = 0; i < 4; i++)
        if (json_is_true(json_object_get(mods, order[i][0])))
            c->keys[c->nkeys++] = base_xstrdup(order[i][1]);
    bool ok = desktop_split_keys(c, key);
    json_decref(body);
    if (!ok) {
        desktop_invalid(req, "key names too many keys at once (at most 8)");
        desktop_call_free(c);
        return;
    }
    if (desktop_runtime_gate(req)) {
        desktop_call_free(c);
        return;
    }
    desktop_call_submit(c);
}

static void desktop_key_common(http_req *req, bool down) {
    static const desktop_field f[] = {{"key", DESKTOP_F_STR, true}};
    json_t *body = desktop_body(req, f, 1);
    if (!body)
        return;
    const char *key = json_string_value(json_object_get(body, "key"));
    if (!*key) {
        desktop_invalid(req, "key must not be empty");
        json_decref(body);
        return;
    }
    if (desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, desktop_op_keys);
    c->keys[c->nkeys++] = base_xstrdup(key);
    c->down = down;
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_keydown_handler(http_req *req, void *ud) {
    desktop_key_common(req, true);
}

static void desktop_keyup_handler(http_req *req, void *ud) {
    desktop_key_common(req, false);
}

/* ---- windows ------------------------------------------------------------------------------ */

static void desktop_windows_handler(http_req *req, void *ud) {
    if (desktop_runtime_gate(req))
        return;
    desktop_call_submit(desktop_call_new(req, desktop_op_windows));
}

static void desktop_focused_handler(http_req *req, void *ud) {
    if (desktop_runtime_gate(req))
        return;
    desktop_call_submit(desktop_call_new(req, desktop_op_focused));
}

/* The {id} of a window route: a decimal X window id (0x-prefixed hex accepted too). */
static bool desktop_window_id(http_req *req, unsigned long *out) {
    const char *id = http_req_param(req, 0);
    char *end;
    errno = 0;
    unsigned long v = strtoul(id, &end, 0);
    if (!*id || *end || errno || v == 0 || v > 0x1fffffffUL || id[0] == '-') {
        char msg[160];
        snprintf(msg, sizeof msg, "Window '%.100s' not found", id);
        desktop_problem(req, "window_not_found", msg, NULL);
        return false;
    }
    *out = v;
    return true;
}

static void desktop_window_op(http_req *req, desktop_call_fn fn, const char *a, const char *b) {
    unsigned long w;
    json_t *body = NULL;
    if (a) {
        desktop_field f[] = {{a, DESKTOP_F_I32, true}, {b, DESKTOP_F_I32, true}};
        body = desktop_body(req, f, 2);
        if (!body)
            return;
    }
    bool ok = desktop_window_id(req, &w);
    if (ok && fn == desktop_op_wresize &&
        (desktop_int(body, a) <= 0 || desktop_int(body, b) <= 0)) {
        desktop_invalid(req, "width and height must be greater than 0");
        ok = false;
    }
    if (!ok || desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    desktop_call *c = desktop_call_new(req, fn);
    c->window = w;
    if (body) {
        c->x = desktop_int(body, a);
        c->y = desktop_int(body, b);
    }
    json_decref(body);
    desktop_call_submit(c);
}

static void desktop_focus_handler(http_req *req, void *ud) {
    desktop_window_op(req, desktop_op_focus, NULL, NULL);
}

static void desktop_wmove_handler(http_req *req, void *ud) {
    desktop_window_op(req, desktop_op_wmove, "x", "y");
}

static void desktop_wresize_handler(http_req *req, void *ud) {
    desktop_window_op(req, desktop_op_wresize, "width", "height");
}

/* ---- clipboard ---------------------------------------------------------------------------- */

static void desktop_clip_get_handler(http_req *req, void *ud) {
    char *sel = NULL;
    int r = http_query_get(req, "selection", &sel);
    desktop_selection s = DESKTOP_SEL_CLIPBOARD;
    if (r < 0) {
        http_problem_invalid_request(req, "failed to deserialize query string: duplicate field "
                                          "`selection`");
        return;
    }
    if (r == 1) {
        bool known = !strcmp(sel, "clipboard") || !strcmp(sel, "primary");
        s = !strcmp(sel, "primary") ? DESKTOP_SEL_PRIMARY : DESKTOP_SEL_CLIPBOARD;
        if (!known) {
            http_problem_invalid_request(req,
                                         "failed to deserialize query string: unknown variant "
                                         "`%.80s`, expected `clipboard` or `primary`",
                                         sel);
            free(sel);
            return;
        }
        free(sel);
    }
    if (desktop_runtime_gate(req))
        return;
    desktop_call *c = desktop_call_new(req, desktop_op_clip_read);
    c->sel = s;
    desktop_call_submit(c);
}

static void desktop_clip_post_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"text", DESKTOP_F_STR, true},
                                      {"selection", DESKTOP_F_SELECTION, false}};
    json_t *body = desktop_body(req, f, 2);
    if (!body)
        return;
    if (desktop_runtime_gate(req)) {
        json_decref(body);
        return;
    }
    const char *sel = json_string_value(json_object_get(body, "selection"));
    desktop_call *c = desktop_call_new(req, desktop_op_clip_write);
    c->sel = !sel || !strcmp(sel, "clipboard") ? DESKTOP_SEL_CLIPBOARD
             : !strcmp(sel, "primary")         ? DESKTOP_SEL_PRIMARY
                                               : DESKTOP_SEL_BOTH;
    c->len = json_string_length(json_object_get(body, "text"));
    c->text = base_xstrndup(json_string_value(json_object_get(body, "text")), c->len);
    json_decref(body);
    desktop_call_submit(c);
}

/* ---- apps --------------------------------------------------------------------------------- */

/* The body of launch or open: its members checked, the named one non-empty, and the
 * runtime active. NULL when a problem was answered. */
static json_t *desktop_app_body(http_req *req, const desktop_field *f, size_t n) {
    json_t *body = desktop_body(req, f, n);
    if (!body)
        return NULL;
    if (!*json_string_value(json_object_get(body, f[0].name))) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s must not be empty", f[0].name);
        desktop_invalid(req, msg);
        json_decref(body);
        return NULL;
    }
    if (desktop_runtime_gate(req)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static void desktop_launch_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"app", DESKTOP_F_STR, true},
                                      {"args", DESKTOP_F_STRV, false},
                                      {"wait", DESKTOP_F_BOOL, false}};
    json_t *body = desktop_app_body(req, f, 3);
    if (body)
        desktop_apps_launch(req, body);
    json_decref(body);
}

static void desktop_open_handler(http_req *req, void *ud) {
    static const desktop_field f[] = {{"target", DESKTOP_F_STR, true}};
    json_t *body = desktop_app_body(req, f, 1);
    if (body)
        desktop_apps_open(req, body);
    json_decref(body);
}

/* ---- registration ------------------------------------------------------------------------- */

void desktop_routes(http_server *srv, uv_loop_t *loop) {
    desktop_runtime_init(loop);
    const unsigned A = HTTP_ROUTE_AUTH;
    static const struct {
        unsigned m;
        const char *path;
        http_handler_fn fn;
    } routes[] = {
        {HTTP_M_GET, "/v1/desktop/status", desktop_status_handler},
        {HTTP_M_POST, "/v1/desktop/start", desktop_start_handler},
        {HTTP_M_POST, "/v1/desktop/stop", desktop_stop_handler},
        {HTTP_M_GET, "/v1/desktop/display/info", desktop_display_handler},
        {HTTP_M_GET, "/v1/desktop/screenshot", desktop_screenshot_handler},
        {HTTP_M_GET, "/v1/desktop/screenshot/region", desktop_region_handler},
        {HTTP_M_GET, "/v1/desktop/mouse/position", desktop_position_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/move", desktop_move_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/click", desktop_click_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/down", desktop_down_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/up", desktop_up_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/drag", desktop_drag_handler},
        {HTTP_M_POST, "/v1/desktop/mouse/scroll", desktop_scroll_handler},
        {HTTP_M_POST, "/v1/desktop/keyboard/type", desktop_type_handler},
        {HTTP_M_POST, "/v1/desktop/keyboard/press", desktop_press_handler},
        {HTTP_M_POST, "/v1/desktop/keyboard/down", desktop_keydown_handler},
        {HTTP_M_POST, "/v1/desktop/keyboard/up", desktop_keyup_handler},
        {HTTP_M_GET, "/v1/desktop/windows", desktop_windows_handler},
        {HTTP_M_GET, "/v1/desktop/windows/focused", desktop_focused_handler},
        {HTTP_M_POST, "/v1/desktop/windows/{id}/focus", desktop_focus_handler},
        {HTTP_M_POST, "/v1/desktop/windows/{id}/move", desktop_wmove_handler},
        {HTTP_M_POST, "/v1/desktop/windows/{id}/resize", desktop_wresize_handler},
        {HTTP_M_GET, "/v1/desktop/clipboard", desktop_clip_get_handler},
        {HTTP_M_POST, "/v1/desktop/clipboard", desktop_clip_post_handler},
        {HTTP_M_POST, "/v1/desktop/launch", desktop_launch_handler},
        {HTTP_M_POST, "/v1/desktop/open", desktop_open_handler},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        http_route(srv, routes[i].m, routes[i].path, A, routes[i].fn, NULL);
    desktop_signaling_routes(srv, loop);
    desktop_record_routes(srv, loop);
}

void desktop_preinit(void) {
    desktop_signaling_preinit();
}

void desktop_shutdown(void) {
    desktop_runtime_shutdown();
}
