/* fs_tar.c - POST /v1/fs/upload-batch (http-api.md §7.9): extract an uncompressed tar
 * body under a destination directory.
 *
 * The body is streamed: the route reads it with http_req_read_body and hands the bytes to
 * a dedicated thread that runs the extraction (src/archive/, libarchive's pull-based reader
 * underneath) and writes the entries. A bounded queue sits between them: above
 * FS_TAR_QUEUE_HIGH unread bytes the body is paused; the thread wakes the loop (uv_async)
 * when it took the queue, and the body resumes. A dedicated (detached) thread, not the libuv
 * pool, because a slow client may keep it busy for as long as its upload lasts; a client
 * that leaves cancels it at its next read, and whichever side finishes last frees the shared
 * state. The answer is sent once the body ended (the rest of a body is read and discarded
 * after a failure, up to FS_TAR_DISCARD_MAX bytes), so that the client, which is still
 * sending, reliably gets it.
 *
 * Safety (beyond the reference, which extracts whatever it gets) is the archive module's:
 * no absolute names, no "..", symlinks must resolve inside (also against the tree on disk),
 * hard links only to files extracted earlier, no fifos or devices, and nothing is ever
 * written through a symlink, from the archive or already in the destination (see
 * archive/archive.h). Refusals are 400. Limits: entry count
 * (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES, default 100000) and total extracted bytes
 * (SANDBOX_AGENT_MAX_EXTRACT_BYTES, default 8 GiB), both answered 413; names over 4096
 * bytes or 256 levels are 400; the body itself is capped at SANDBOX_AGENT_MAX_UPLOAD_BYTES
 * (default 8 GiB).
 *
 * Like the reference: names lose a leading "./" and "." components, the root entry is
 * skipped, regular files replace existing files, permission bits (mode & 0777) and mtimes
 * are applied, entries extracted before a failure stay. Unlike it: hard links resolve
 * against the destination (the reference used its cwd), directory modes and mtimes are
 * applied after all entries (so a read-only directory can still be filled and its mtime
 * sticks), and client-caused OS errors are 4xx (see fs_common.c). */
#include "archive/archive.h"
#include "fs/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Unread body bytes above which the body is paused. */
#define FS_TAR_QUEUE_HIGH (1u << 20)
/* After a failure, at most this much more body is read (and dropped) before answering. */
#define FS_TAR_DISCARD_MAX (64u << 20)

/* The paths listing of one extraction (§7.9: at most FS_TAR_MAX_LISTED). Owner: the
 * extracting thread until it hands paths over. */
typedef struct fs_tar_list {
    json_t *paths;
    bool truncated;
} fs_tar_list;

static void fs_tar_listed(const char *path, void *ud) {
    fs_tar_list *l = ud;
    if (json_array_size(l->paths) < FS_TAR_MAX_LISTED) {
        char *p = fs_utf8_lossy(path);
        json_array_append_new(l->paths, json_string(p));
        free(p);
    } else {
        l->truncated = true;
    }
}

/* The archive module's failure as the file API answers it. */
static void fs_tar_error(const sa_archive_err *ae, const sa_archive_limits *lim, fs_err *e) {
    switch (ae->status) {
    case SA_ARCHIVE_REFUSED:
        fs_err_invalid(e, "%s", ae->msg);
        break;
    case SA_ARCHIVE_TOO_MANY_BYTES:
        fs_err_too_large(e, "archive content (SANDBOX_AGENT_MAX_EXTRACT_BYTES)", lim->max_bytes);
        break;
    case SA_ARCHIVE_TOO_MANY_ENTRIES:
        fs_err_413(e, "archive has more than %llu entries (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES)",
                   (unsigned long long)lim->max_entries);
        break;
    case SA_ARCHIVE_OS:
        fs_err_os(e, ae->errnum, ae->path);
        break;
    default:
        fs_err_stream(e, ae->msg ? ae->msg : "cannot read the archive");
        break;
    }
}

/* Extract with extract(dest, arg, opts, err) into dest (created first), listing into *l.
 * Blocking. */
static bool fs_tar_extract(const char *dest, const sa_archive_limits *lim, fs_tar_list *l,
                           fs_err *e,
                           bool (*extract)(const char *dest, void *arg, const sa_archive_opts *o,
                                           sa_archive_err *err),
                           void *arg) {
    l->paths = json_array();
    l->truncated = false;
    int r = fs_mkdirs(dest);
    if (r) {
        fs_err_os(e, r, dest);
        return false;
    }
    sa_archive_opts o = {
        .formats = SA_ARCHIVE_TAR, .limits = *lim, .on_entry = fs_tar_listed, .ud = l};
    sa_archive_err ae = {0};
    bool ok = extract(dest, arg, &o, &ae);
    if (!ok)
        fs_tar_error(&ae, lim, e);
    sa_archive_err_clear(&ae);
    return ok;
}

typedef struct fs_tar_mem {
    const void *data;
    size_t len;
} fs_tar_mem;

static bool fs_tar_from_memory(const char *dest, void *arg, const sa_archive_opts *o,
                               sa_archive_err *err) {
    fs_tar_mem *m = arg;
    return sa_archive_extract_memory(dest, m->data, m->len, o, err);
}

bool fs_tar_extract_memory(const char *dest, const void *data, size_t len, json_t **paths,
                           bool *truncated, fs_err *e) {
    sa_archive_limits lim;
    sa_archive_limits_from_env(&lim);
    fs_tar_list l;
    fs_tar_mem m = {data, len};
    bool ok = fs_tar_extract(dest, &lim, &l, e, fs_tar_from_memory, &m);
    *paths = l.paths;
    *truncated = l.truncated;
    return ok;
}

/* ---- the streamed upload -------------------------------------------------------------------- */

/* One upload, shared by the loop and the extraction thread (detached). Owner: both, by
 * reference count: the thread drops its reference when it ends, the loop side when the
 * request is answered or aborted and the async handle has closed; the last one frees.
 * Fields marked (mu) are shared under mu; the others belong to one side as noted. */
typedef struct fs_tar_up {
    atomic_int refs;
    http_req *req;         /* loop; NULL once answered or aborted */
    char *dest;            /* immutable while the thread runs */
    sa_archive_limits lim; /* immutable */
    uv_mutex_t mu;
    uv_cond_t cv;
    uv_async_t async; /* thread -> loop: queue taken, or done */
    base_buf q;       /* (mu) body bytes not yet taken by the thread */
    bool eof;         /* (mu) the body is complete */
    bool cancel;      /* (mu) the client left: stop */
    bool done;        /* (mu) the thread finished; the results below are final */
    bool orphaned;    /* (mu) the loop closed the async handle: send nothing more */
    base_buf cur;     /* thread: the block libarchive is reading */
    json_t *paths;    /* thread until done */
    bool truncated;   /* thread until done */
    fs_err err;       /* thread until done */
    bool paused;      /* loop */
    bool body_ended;  /* loop */
    bool finished;    /* loop: saw done */
    uint64_t discarded;
} fs_tar_up;

static void fs_tar_up_release(fs_tar_up *u) {
    if (atomic_fetch_sub(&u->refs, 1) != 1)
        return;
    uv_mutex_destroy(&u->mu);
    uv_cond_destroy(&u->cv);
    base_buf_free(&u->q);
    base_buf_free(&u->cur);
    json_decref(u->paths);
    fs_err_clear(&u->err);
    free(u->dest);
    free(u);
}

/* Wake the loop, unless it no longer listens. Called with mu held, so that the loop cannot
 * close the handle in the middle of a send. */
static void fs_tar_wake_locked(fs_tar_up *u) {
    if (!u->orphaned)
        uv_async_send(&u->async);
}

/* The extraction's input: blocks of the body as the loop queued them. */
static ssize_t fs_tar_read_cb(void *ud, const void **out, const char **why) {
    fs_tar_up *u = ud;
    uv_mutex_lock(&u->mu);
    u->cur.len = 0; /* the reader is done with the previous block */
    while (u->q.len == 0 && !u->eof && !u->cancel)
        uv_cond_wait(&u->cv, &u->mu);
    if (u->cancel) {
        uv_mutex_unlock(&u->mu);
        *why = "upload aborted";
        return -1;
    }
    if (u->q.len == 0) {
        uv_mutex_unlock(&u->mu);
        return 0;
    }
    /* Swap buffers: the thread reads the queued bytes, the loop refills an empty buffer. */
    base_buf t = u->cur;
    u->cur = u->q;
    u->q = t;
    fs_tar_wake_locked(u); /* the body may resume */
    uv_mutex_unlock(&u->mu);
    *out = u->cur.data;
    return (ssize_t)u->cur.len;
}

static bool fs_tar_from_stream(const char *dest, void *arg, const sa_archive_opts *o,
                               sa_archive_err *err) {
    return sa_archive_extract_stream(dest, fs_tar_read_cb, arg, o, err);
}

static void fs_tar_thread(void *arg) {
    fs_tar_up *u = arg;
    fs_tar_list l;
    fs_tar_extract(u->dest, &u->lim, &l, &u->err, fs_tar_from_stream, u);
    uv_mutex_lock(&u->mu);
    u->paths = l.paths;
    u->truncated = l.truncated;
    u->done = true;
    fs_tar_wake_locked(u);
    uv_mutex_unlock(&u->mu);
    fs_tar_up_release(u);
}

static void fs_tar_async_closed(uv_handle_t *h) {
    fs_tar_up_release(h->data);
}

/* The loop is done with the upload: stop the thread if it still runs, close the handle. */
static void fs_tar_up_detach(fs_tar_up *u) {
    uv_mutex_lock(&u->mu);
    u->cancel = true;
    u->orphaned = true;
    uv_cond_signal(&u->cv);
    uv_mutex_unlock(&u->mu);
    uv_close((uv_handle_t *)&u->async, fs_tar_async_closed);
}

/* The thread is done and the body ended (or we stop waiting for it): answer. */
static void fs_tar_up_answer(fs_tar_up *u) {
    http_req *req = u->req;
    u->req = NULL;
    http_req_on_abort(req, NULL, NULL);
    if (u->err.status) {
        fs_reply_err(req, &u->err);
    } else {
        json_t *body = json_object();
        json_object_set(body, "paths", u->paths);
        json_object_set_new(body, "truncated", json_boolean(u->truncated));
        http_reply_json(req, 200, body);
    }
    fs_tar_up_detach(u);
}

static void fs_tar_async_cb(uv_async_t *h) {
    fs_tar_up *u = h->data;
    if (u->finished || !u->req)
        return;
    uv_mutex_lock(&u->mu);
    bool done = u->done;
    size_t queued = u->q.len;
    uv_mutex_unlock(&u->mu);
    if (done) {
        u->finished = true;
        if (u->body_ended) {
            fs_tar_up_answer(u);
        } else if (u->paused) {
            /* Finished before the body did (trailing padding, or a failure): read and
             * drop the rest, then answer. */
            u->paused = false;
            http_req_resume_body(u->req);
        }
        return;
    }
    if (u->paused && queued < FS_TAR_QUEUE_HIGH) {
        u->paused = false;
        http_req_resume_body(u->req);
    }
}

static void fs_tar_on_data(http_req *req, const char *data, size_t len, void *ud) {
    fs_tar_up *u = ud;
    if (u->finished) {
        u->discarded += len;
        if (u->discarded > FS_TAR_DISCARD_MAX)
            fs_tar_up_answer(u); /* too much to wait for: answer, the layer closes */
        return;
    }
    uv_mutex_lock(&u->mu);
    base_buf_append(&u->q, data, len);
    size_t queued = u->q.len;
    uv_cond_signal(&u->cv);
    uv_mutex_unlock(&u->mu);
    if (queued >= FS_TAR_QUEUE_HIGH && !u->paused) {
        u->paused = true;
        http_req_pause_body(req);
    }
}

static void fs_tar_on_end(http_req *req, void *ud) {
    fs_tar_up *u = ud;
    u->body_ended = true;
    if (u->finished) {
        fs_tar_up_answer(u);
        return;
    }
    uv_mutex_lock(&u->mu);
    u->eof = true;
    uv_cond_signal(&u->cv);
    uv_mutex_unlock(&u->mu);
}

static void fs_tar_abort(http_req *req, void *ud) {
    fs_tar_up *u = ud;
    u->req = NULL;
    fs_tar_up_detach(u); /* the thread sees cancel and stops at its next read */
}

static const http_body_sink fs_tar_sink = {fs_tar_on_data, fs_tar_on_end};

/* The content type must start with "application/x-tar", case-sensitively (quirk Q11).
 * Probing 0.4.2 showed a plain prefix test: "application/x-tar; charset=binary" and also
 * "application/x-tarball" or "application/x-tar+gzip" pass, "application/X-tar" does not. */
static bool fs_tar_content_type_ok(const http_req *req) {
    const char *ct = http_req_header(req, "content-type");
    return ct && !strncmp(ct, "application/x-tar", 17);
}

/* ud: the server's loop. */
static void fs_upload_handler(http_req *req, void *ud) {
    uv_loop_t *loop = ud;
    char *dest = fs_query_path(req, false);
    if (!dest)
        return;
    if (!fs_tar_content_type_ok(req)) {
        free(dest);
        http_problem_invalid_request(req, "content-type must be application/x-tar");
        return;
    }
    uint64_t max =
        (uint64_t)base_env_int("SANDBOX_AGENT_MAX_UPLOAD_BYTES", (int64_t)8 << 30, 0, INT64_MAX);
    if (req->content_length >= 0 && (uint64_t)req->content_length > max) {
        free(dest);
        fs_err e = {0};
        fs_err_too_large(&e, "request body", max);
        fs_reply_err(req, &e);
        fs_err_clear(&e);
        return;
    }
    fs_tar_up *u = base_xcalloc(1, sizeof *u);
    atomic_init(&u->refs, 2); /* the loop side and the thread */
    u->req = req;
    u->dest = dest;
    sa_archive_limits_from_env(&u->lim);
    uv_mutex_init(&u->mu);
    uv_cond_init(&u->cv);
    uv_async_init(loop, &u->async, fs_tar_async_cb);
    u->async.data = u;
    uv_thread_t th;
    if (uv_thread_create(&th, fs_tar_thread, u) != 0) {
        u->req = NULL;
        fs_err e = {0};
        fs_err_stream(&e, "cannot start the extraction thread");
        fs_reply_err(req, &e);
        fs_err_clear(&e);
        atomic_fetch_sub(&u->refs, 1); /* no thread */
        fs_tar_up_detach(u);
        return;
    }
    /* Never joined: the thread frees its share itself, even after the loop is gone. */
    pthread_detach(th);
    http_req_on_abort(req, fs_tar_abort, u);
    http_req_read_body(req, &fs_tar_sink, u, max);
}

void fs_tar_routes(http_server *srv, uv_loop_t *loop) {
    http_route(srv, HTTP_M_POST, "/v1/fs/upload-batch", HTTP_ROUTE_AUTH | HTTP_ROUTE_STREAM_BODY,
               fs_upload_handler, loop);
}
