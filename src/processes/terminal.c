/* terminal.c - GET /v1/processes/{id}/terminal/ws: a WebSocket onto a tty process.
 *
 * Server frames: text {"processId","type":"ready"} first, binary frames with live PTY
 * output (no replay), text {"exitCode","type":"exit"} when the process ends followed by a
 * close frame without status, and text {"message","type":"error"} for bad client frames
 * (the socket stays open). Client frames are text JSON: input (encoding defaults to utf8,
 * quirk Q15), resize, close. Several sockets may share one process.
 *
 * The http layer may call on_close from inside any http_ws_* call (a dropped peer), which
 * frees the socket's state: nothing here touches a processes_term after such a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processes/internal.h"

/* One terminal socket. Owner: the http layer's on_close, which unlinks and frees it; until
 * then it is on its process's list (or detached when the record was deleted). */
struct processes_term {
    processes_proc *p; /* NULL once detached */
    http_ws *ws;
    bool closing; /* exit or close sent: no more frames */
    struct processes_term *next, *prev;
};

static void processes_term_unlink(processes_term *t) {
    processes_proc *p = t->p;
    if (!p)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else if (p->terms == t)
        p->terms = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->p = NULL;
}

static bool processes_term_send_json(processes_term *t, json_t *frame) {
    char *s = base_json_compact(frame);
    json_decref(frame);
    bool ok = http_ws_send_text(t->ws, s, strlen(s));
    free(s);
    return ok;
}

static bool processes_term_error(processes_term *t, const char *message) {
    return processes_term_send_json(t, json_pack("{s:s,s:s}", "message", message, "type", "error"));
}

/* A bad field of a frame: serde reports no member path inside an internally tagged enum. */
static void processes_term_field_error(processes_term *t, const char *err) {
    const char *colon = strncmp(err, "missing field", 13) ? strstr(err, ": ") : NULL;
    char msg[600];
    snprintf(msg, sizeof msg, "invalid terminal frame: %s", colon ? colon + 2 : err);
    processes_term_error(t, msg);
}

/* Send the exit frame and close; t may be gone afterwards. */
static void processes_term_finish(processes_term *t, const processes_proc *p) {
    t->closing = true;
    json_t *code = p->has_exit_code ? json_integer(p->exit_code) : json_null();
    if (processes_term_send_json(t, json_pack("{s:o,s:s}", "exitCode", code, "type", "exit")))
        http_ws_close(t->ws, 0, NULL);
}

void processes_terms_output(processes_proc *p, const char *data, size_t len) {
    processes_term *t = p->terms;
    while (t) {
        processes_term *next = t->next;
        if (!t->closing)
            http_ws_send_binary(t->ws, data, len);
        t = next;
    }
}

void processes_terms_exit(processes_proc *p) {
    processes_term *t = p->terms;
    while (t) {
        processes_term *next = t->next;
        if (!t->closing)
            processes_term_finish(t, p);
        t = next;
    }
}

void processes_terms_detach(processes_proc *p) {
    while (p->terms)
        processes_term_unlink(p->terms);
}

/* ---- client frames ------------------------------------------------------------------------- */

static void processes_term_input(processes_term *t, json_t *frame) {
    static const processes_field fields[] = {
        {"data", PROCESSES_F_STR, true, false, NULL, 0},
        {"encoding", PROCESSES_F_STR, false, true, NULL, 0},
    };
    char err[512], msg[600];
    if (!processes_check_fields(frame, fields, 2, err, sizeof err)) {
        processes_term_field_error(t, err);
        return;
    }
    json_t *data = json_object_get(frame, "data");
    json_t *enc = json_object_get(frame, "encoding");
    base_buf bytes;
    base_buf_init(&bytes);
    if (!processes_decode_input(json_string_value(data), json_string_length(data),
                                json_is_string(enc) ? json_string_value(enc) : NULL, false, &bytes,
                                err, sizeof err)) {
        base_buf_free(&bytes);
        snprintf(msg, sizeof msg, "invalid request: %s", err);
        processes_term_error(t, msg);
        return;
    }
    if (bytes.len > processes_g.cfg.max_input_bytes) {
        base_buf_free(&bytes);
        snprintf(msg, sizeof msg, "input payload exceeds maxInputBytesPerRequest (%llu)",
                 (unsigned long long)processes_g.cfg.max_input_bytes);
        processes_term_error(t, msg);
        return;
    }
    processes_proc *p = t->p;
    int rc = -1;
    if (p && p->running && p->pty)
        rc = bytes.len ? proc_pty_write(p->pty, bytes.data, bytes.len, NULL, NULL) : 0;
    base_buf_free(&bytes);
    if (rc != 0)
        processes_term_error(t, "conflict: process is not running");
}

static void processes_term_resize(processes_term *t, json_t *frame) {
    static const processes_field fields[] = {
        {"cols", PROCESSES_F_UINT, true, false, "u16", 65535},
        {"rows", PROCESSES_F_UINT, true, false, "u16", 65535},
    };
    char err[512];
    if (!processes_check_fields(frame, fields, 2, err, sizeof err)) {
        processes_term_field_error(t, err);
        return;
    }
    uint16_t cols = (uint16_t)json_integer_value(json_object_get(frame, "cols"));
    uint16_t rows = (uint16_t)json_integer_value(json_object_get(frame, "rows"));
    processes_proc *p = t->p;
    if (!p || !p->running || !p->pty || proc_pty_resize(p->pty, cols, rows) != 0)
        processes_term_error(t, "conflict: PTY resize handle unavailable");
}

static void processes_term_on_text(http_ws *ws, const char *data, size_t len, void *ud) {
    processes_term *t = ud;
    if (!t || t->closing)
        return;
    char err[300], msg[400], kind[200];
    json_t *frame = base_json_parse(data, len, err, sizeof err);
    if (!frame) {
        snprintf(msg, sizeof msg, "invalid terminal frame: %s", err);
        processes_term_error(t, msg);
        return;
    }
    json_t *type = json_is_object(frame) ? json_object_get(frame, "type") : NULL;
    if (!json_is_object(frame)) {
        processes_json_kind(frame, kind, sizeof kind);
        snprintf(msg, sizeof msg,
                 "invalid terminal frame: invalid type: %s, expected internally tagged enum "
                 "ProcessTerminalClientFrame",
                 kind);
        processes_term_error(t, msg);
    } else if (!type) {
        processes_term_error(t, "invalid terminal frame: missing field `type`");
    } else if (!json_is_string(type)) {
        processes_json_kind(type, kind, sizeof kind);
        snprintf(msg, sizeof msg,
                 "invalid terminal frame: invalid type: %s, expected variant identifier", kind);
        processes_term_error(t, msg);
    } else if (!strcmp(json_string_value(type), "input")) {
        processes_term_input(t, frame);
    } else if (!strcmp(json_string_value(type), "resize")) {
        processes_term_resize(t, frame);
    } else if (!strcmp(json_string_value(type), "close")) {
        /* The socket closes; the process keeps running. */
        t->closing = true;
        http_ws_close(t->ws, 0, NULL);
    } else {
        snprintf(msg, sizeof msg,
                 "invalid terminal frame: unknown variant `%.200s`, expected one of `input`, "
                 "`resize`, `close`",
                 json_string_value(type));
        processes_term_error(t, msg);
    }
    json_decref(frame);
}

static void processes_term_on_binary(http_ws *ws, const char *data, size_t len, void *ud) {
    processes_term *t = ud;
    if (t && !t->closing)
        processes_term_error(t, "binary input is not supported; use text JSON frames");
}

static void processes_term_on_close(http_ws *ws, void *ud) {
    processes_term *t = ud;
    if (!t)
        return;
    processes_term_unlink(t);
    free(t);
}

static const http_ws_callbacks processes_term_callbacks = {
    .on_text = processes_term_on_text,
    .on_binary = processes_term_on_binary,
    .on_close = processes_term_on_close,
};

/* ---- upgrade ------------------------------------------------------------------------------- */

void processes_terminal_ws_handler(http_req *req, void *ud) {
    /* The reference checks the upgrade headers before looking at the process: 400 beats
     * 404. */
    if (!http_ws_check_upgrade(req))
        return;
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    if (!p->tty) {
        processes_problem_conflict(req, "process is not running in tty mode");
        return;
    }
    processes_term *t = base_xcalloc(1, sizeof *t);
    http_ws *ws = http_ws_accept(req, &processes_term_callbacks, t);
    if (!ws) {
        free(t);
        return;
    }
    t->ws = ws;
    t->p = p;
    t->next = p->terms;
    if (p->terms)
        p->terms->prev = t;
    p->terms = t;
    if (!processes_term_send_json(t, json_pack("{s:s,s:s}", "processId", p->id, "type", "ready")))
        return;
    /* An exited tty process still upgrades: ready, exit, close. */
    if (!p->running)
        processes_term_finish(t, p);
}
