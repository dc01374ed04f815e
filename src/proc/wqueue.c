/* wqueue.c - the writes queued to one child (its stdin pipe or PTY master), so that their
 * completion callbacks keep the contract of proc.h: each runs at most once, never after the
 * owner released the child, and a write still pending when the child is done is failed
 * before on_exit instead of in some later loop phase.
 *
 * libuv owns a request until its callback, which can come from the stream's close, in the
 * loop's closing phase, after on_exit already ran and the owner may have released the child
 * and freed whatever ud points to. So a request outlives its caller's interest: it is
 * unlinked from its queue when it is reported early or dropped, and libuv's late callback
 * then only frees it. */
#include "proc/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* One write. Owner: libuv until its callback, which frees it; the queue only links it while
 * its done has not been reported or dropped. */
struct proc_wreq {
    uv_write_t w;
    proc_wqueue *q; /* NULL once unlinked: done was reported or dropped */
    bool held;      /* not handed to libuv yet (proc_wqueue_hold): the queue owns it */
    size_t len;
    proc_wreq *next, *prev;
    void (*done)(int status, void *ud);
    void *ud;
    char data[];
};

static void proc_wqueue_unlink(proc_wreq *r) {
    if (!r->q)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        r->q->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        r->q->tail = r->prev;
    r->next = r->prev = NULL;
    r->q = NULL;
}

static void proc_wqueue_cb(uv_write_t *w, int status) {
    proc_wreq *r = (proc_wreq *)w;
    bool report = r->q != NULL;
    proc_wqueue_unlink(r);
    if (report && r->done)
        r->done(status, r->ud);
    free(r);
}

static proc_wreq *proc_wqueue_new(const char *data, size_t len, void (*done)(int, void *),
                                  void *ud) {
    proc_wreq *r = base_xcalloc(1, sizeof *r + len);
    if (len)
        memcpy(r->data, data, len);
    r->len = len;
    r->done = done;
    r->ud = ud;
    return r;
}

static void proc_wqueue_link(proc_wqueue *q, proc_wreq *r) {
    r->q = q;
    r->prev = q->tail;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
}

int proc_wqueue_write(proc_wqueue *q, uv_stream_t *s, const char *data, size_t len,
                      void (*done)(int, void *), void *ud) {
    proc_wreq *r = proc_wqueue_new(data, len, done, ud);
    uv_buf_t b = base_uv_buf(r->data, len);
    int rc = uv_write(&r->w, s, &b, 1, proc_wqueue_cb);
    if (rc != 0) {
        free(r);
        return rc;
    }
    proc_wqueue_link(q, r);
    return 0;
}

void proc_wqueue_hold(proc_wqueue *q, const char *data, size_t len, void (*done)(int, void *),
                      void *ud) {
    proc_wreq *r = proc_wqueue_new(data, len, done, ud);
    r->held = true;
    proc_wqueue_link(q, r);
}

void proc_wqueue_flush(proc_wqueue *q, uv_stream_t *s) {
    /* Only held writes can be queued before the start, so the whole queue is held. A
     * refused one is reported now; its done may release the child, which drops the rest. */
    proc_wreq *r = q->head;
    while (r && r->held) {
        proc_wreq *next = r->next;
        r->held = false;
        uv_buf_t b = base_uv_buf(r->data, r->len);
        int rc = uv_write(&r->w, s, &b, 1, proc_wqueue_cb);
        if (rc != 0) {
            proc_wqueue_unlink(r);
            if (r->done)
                r->done(rc, r->ud);
            free(r);
            if (!q->head)
                return;
        }
        r = next;
    }
}

void proc_wqueue_fail_all(proc_wqueue *q, int status) {
    /* Oldest first, the order the writes were made in. done may release the child, which
     * drops (unlinks) the rest. */
    proc_wreq *r;
    while ((r = q->head)) {
        proc_wqueue_unlink(r);
        if (r->done)
            r->done(status, r->ud);
        if (r->held) /* libuv never had it */
            free(r);
    }
}

void proc_wqueue_drop_all(proc_wqueue *q) {
    proc_wreq *r;
    while ((r = q->head)) {
        proc_wqueue_unlink(r);
        if (r->held)
            free(r);
    }
}
