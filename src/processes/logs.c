/* logs.c - per-process log rings, GET /v1/processes/{id}/logs as JSON, and its SSE follow
 * mode.
 *
 * A follower first replays what it asked for (paced by the connection's drain, so a large
 * ring never sits in the write queue at once), then gets new entries as they are appended.
 * The stream itself (framing, heartbeats, dropping a follower that cannot keep up) is the
 * http layer's http_sse. Streams stay open after the process exits (quirk Q17) and end
 * when the record is deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processes/internal.h"

/* Replay pacing: pause above HIGH bytes queued, resume below LOW. */
#define PROCESSES_REPLAY_HIGH (1u << 20)
#define PROCESSES_REPLAY_LOW (256u << 10)

/* One SSE follower. Owner: its stream's on_close, which unlinks it from its process (if
 * still attached) and frees it once the stream is finished (client gone, dropped, or
 * ended because the record was deleted). */
struct processes_follower {
    processes_proc *p; /* NULL once detached */
    http_sse *sse;
    processes_view view;
    uint64_t cursor; /* entries up to this sequence were sent or skipped */
    bool live;       /* replay finished: appends are written at once */
    struct processes_follower *next, *prev;
};

static const char *const processes_stream_names[] = {"stdout", "stderr", "pty"};
static const char *const processes_view_names[] = {"stdout", "stderr", "combined", "pty"};

/* ---- the ring ------------------------------------------------------------------------------ */

void processes_log_init(processes_log *l) {
    memset(l, 0, sizeof *l);
    l->next_seq = 1;
}

void processes_log_free(processes_log *l) {
    for (size_t i = 0; i < l->count; i++)
        free(l->items[(l->head + i) % l->cap]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static processes_log_entry *processes_log_at(const processes_log *l, size_t i) {
    return l->items[(l->head + i) % l->cap];
}

static void processes_log_drop_oldest(processes_log *l) {
    processes_log_entry *e = l->items[l->head];
    l->bytes -= e->len;
    free(e);
    l->head = (l->head + 1) % l->cap;
    l->count--;
}

static void processes_log_push(processes_log *l, processes_log_entry *e) {
    if (l->count == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        processes_log_entry **n = base_xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < l->count; i++)
            n[i] = processes_log_at(l, i);
        free(l->items);
        l->items = n;
        l->cap = ncap;
        l->head = 0;
    }
    l->items[(l->head + l->count) % l->cap] = e;
    l->count++;
    l->bytes += e->len;
}

/* Index of the first entry with a sequence above seq (count when none). Sequences in the
 * ring are consecutive. */
static size_t processes_log_after(const processes_log *l, uint64_t seq) {
    if (l->count == 0)
        return 0;
    uint64_t first = processes_log_at(l, 0)->seq;
    if (seq < first)
        return 0;
    uint64_t off = seq - first + 1;
    return off > l->count ? l->count : (size_t)off;
}

static bool processes_view_has(processes_view v, processes_stream s) {
    switch (v) {
    case PROCESSES_VIEW_STDOUT:
        return s == PROCESSES_STDOUT;
    case PROCESSES_VIEW_STDERR:
        return s == PROCESSES_STDERR;
    case PROCESSES_VIEW_COMBINED:
        return s == PROCESSES_STDOUT || s == PROCESSES_STDERR;
    case PROCESSES_VIEW_PTY:
        return s == PROCESSES_PTY;
    }
    return false;
}

static void processes_entry_json(base_buf *b, const processes_log_entry *e) {
    base_buf_appendf(b, "{\"sequence\":%llu,\"stream\":\"%s\",\"timestampMs\":%lld,\"data\":\"",
                     (unsigned long long)e->seq, processes_stream_names[e->stream],
                     (long long)e->ts_ms);
    processes_b64_encode(b, e->data, e->len);
    base_buf_appends(b, "\",\"encoding\":\"base64\"}");
}

static base_rcbuf *processes_entry_frame(const processes_log_entry *e) {
    base_buf json;
    base_buf_init(&json);
    processes_entry_json(&json, e);
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)e->seq);
    base_rcbuf *r = http_sse_frame("log", id, json.data, json.len);
    base_buf_free(&json);
    return r;
}

/* ---- followers ----------------------------------------------------------------------------- */

/* Stop delivering to f: it leaves its process's list (its stream may still be open). */
static void processes_follower_unlink(processes_follower *f) {
    processes_proc *p = f->p;
    if (!p)
        return;
    if (f->prev)
        f->prev->next = f->next;
    else if (p->followers == f)
        p->followers = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
    f->p = NULL;
}

static void processes_follower_closed(http_sse *sse, void *ud) {
    processes_follower *f = ud;
    processes_follower_unlink(f);
    free(f);
}

/* Write one entry; false when the stream is finished (its on_close follows). */
static bool processes_follower_send(processes_follower *f, const processes_log_entry *e,
                                    base_rcbuf *frame) {
    base_rcbuf *own = frame ? NULL : processes_entry_frame(e);
    bool ok = http_sse_send(f->sse, frame ? frame : own);
    if (own)
        base_rcbuf_unref(own);
    if (ok)
        f->cursor = e->seq;
    return ok;
}

static void processes_follower_pump(http_sse *sse, void *ud);

/* Replay from the cursor until caught up or the queue is full (then resume on drain). */
static void processes_follower_replay(processes_follower *f) {
    while (f->p && http_sse_is_open(f->sse)) {
        processes_log *l = &f->p->log;
        size_t i = processes_log_after(l, f->cursor);
        if (i >= l->count) {
            f->live = true;
            return;
        }
        processes_log_entry *e = processes_log_at(l, i);
        if (!processes_view_has(f->view, e->stream)) {
            f->cursor = e->seq;
            continue;
        }
        if (!processes_follower_send(f, e, NULL))
            return;
        if (http_sse_queued(f->sse) > PROCESSES_REPLAY_HIGH) {
            http_sse_on_drain(f->sse, PROCESSES_REPLAY_LOW, processes_follower_pump, f);
            return;
        }
    }
}

static void processes_follower_pump(http_sse *sse, void *ud) {
    processes_follower_replay(ud);
}

void processes_followers_end(processes_proc *p) {
    while (p->followers) {
        processes_follower *f = p->followers;
        processes_follower_unlink(f);
        http_sse_end(f->sse); /* f is freed by its on_close, from the loop */
    }
}

/* ---- append -------------------------------------------------------------------------------- */

void processes_log_append(processes_proc *p, processes_stream stream, const char *data,
                          size_t len) {
    processes_log *l = &p->log;
    processes_log_entry *e = base_xmalloc(sizeof *e + len);
    e->seq = l->next_seq++;
    e->ts_ms = base_now_ms();
    e->stream = stream;
    e->len = len;
    memcpy(e->data, data, len);
    /* One frame for every live follower of a matching view. */
    base_rcbuf *frame = NULL;
    processes_follower *f = p->followers;
    while (f) {
        processes_follower *next = f->next;
        if (f->live && http_sse_is_open(f->sse)) {
            if (processes_view_has(f->view, stream)) {
                if (!frame)
                    frame = processes_entry_frame(e);
                processes_follower_send(f, e, frame);
            } else {
                f->cursor = e->seq;
            }
        }
        f = next;
    }
    if (frame)
        base_rcbuf_unref(frame);
    /* Rotate: the limit in effect now applies; an oversized chunk is dropped too. */
    processes_log_push(l, e);
    while (l->count && l->bytes > processes_g.cfg.max_log_bytes)
        processes_log_drop_oldest(l);
}

/* ---- the handler --------------------------------------------------------------------------- */

static bool processes_query_u64(http_req *req, const char *key, bool *present, uint64_t *out) {
    char *v = NULL;
    int r = http_query_get(req, key, &v);
    if (r < 0) {
        char *msg = base_xasprintf("duplicate field `%s`", key);
        processes_problem_query(req, msg);
        free(msg);
        return false;
    }
    *present = r == 1;
    if (r == 0)
        return true;
    const char *why;
    bool ok = processes_parse_u64(v, out, &why);
    free(v);
    if (!ok)
        processes_problem_query(req, why);
    return ok;
}

void processes_logs_handler(http_req *req, void *ud) {
    /* Query first (400 even for an unknown id), then the lookup, then Last-Event-ID. */
    char *sv = NULL;
    int r = http_query_get(req, "stream", &sv);
    int view = -1;
    if (r < 0) {
        processes_problem_query(req, "duplicate field `stream`");
        return;
    }
    if (r == 1) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(sv, processes_view_names[i]))
                view = i;
        if (view < 0) {
            char *msg = base_xasprintf(
                "unknown variant `%s`, expected one of `stdout`, `stderr`, `combined`, `pty`", sv);
            processes_problem_query(req, msg);
            free(msg);
            free(sv);
            return;
        }
        free(sv);
    }
    bool has_tail, has_since;
    uint64_t tail = 0, since = 0;
    if (!processes_query_u64(req, "tail", &has_tail, &tail) ||
        !processes_query_u64(req, "since", &has_since, &since))
        return;
    bool follow = false;
    if (http_query_bool(req, "follow", &follow) < 0) {
        processes_problem_query(req, "provided string was not `true` or `false`");
        return;
    }
    const char *id = http_req_param(req, 0);
    processes_proc *p = processes_find(id);
    if (!p) {
        processes_problem_not_found(req, id);
        return;
    }
    uint64_t after = 0;
    if (http_sse_last_event_id(req, &after) < 0)
        return; /* answered 400 */
    /* Both bounds apply: the later one wins. */
    if (after > since)
        since = after;
    if (view < 0)
        view = p->tty ? PROCESSES_VIEW_PTY : PROCESSES_VIEW_COMBINED;

    /* Start point: stream filter, then since, then the last `tail` of what remains. */
    processes_log *l = &p->log;
    uint64_t cursor = since;
    if (has_tail) {
        size_t start = processes_log_after(l, since), matching = 0;
        for (size_t i = start; i < l->count; i++)
            matching += processes_view_has(view, processes_log_at(l, i)->stream);
        size_t skip = matching > tail ? matching - (size_t)tail : 0;
        for (size_t i = start; i < l->count && skip; i++) {
            processes_log_entry *e = processes_log_at(l, i);
            if (processes_view_has(view, e->stream)) {
                cursor = e->seq;
                skip--;
            }
        }
    }

    if (!follow) {
        base_buf b;
        base_buf_init(&b);
        base_buf_appendf(&b, "{\"processId\":");
        json_t *sid = json_string(id);
        char *enc = json_dumps(sid, JSON_ENCODE_ANY);
        json_decref(sid);
        base_buf_appends(&b, enc);
        free(enc);
        base_buf_appendf(&b, ",\"stream\":\"%s\",\"entries\":[", processes_view_names[view]);
        bool first = true;
        for (size_t i = processes_log_after(l, cursor); i < l->count; i++) {
            processes_log_entry *e = processes_log_at(l, i);
            if (!processes_view_has(view, e->stream))
                continue;
            if (!first)
                base_buf_appends(&b, ",");
            first = false;
            processes_entry_json(&b, e);
        }
        base_buf_appends(&b, "]}");
        http_reply(req, 200, "application/json", NULL, b.data, b.len);
        base_buf_free(&b);
        return;
    }

    /* Follow: SSE whatever the Accept header says. */
    processes_follower *f = base_xcalloc(1, sizeof *f);
    http_sse_opts o = {.heartbeat_ms = processes_g.heartbeat_ms,
                       .heartbeat_comment = NULL, /* ":\n\n" */
                       .on_close = processes_follower_closed,
                       .ud = f};
    f->sse = http_sse_start(req, &o);
    if (!f->sse) {
        free(f); /* HEAD: headers only, and req is gone */
        return;
    }
    f->p = p;
    f->view = (processes_view)view;
    f->cursor = cursor;
    f->next = p->followers;
    if (p->followers)
        p->followers->prev = f;
    p->followers = f;
    processes_follower_replay(f);
}
