/* fs_file.c - GET and PUT /v1/fs/file (http-api.md §7.3, §7.4), both streamed so that
 * memory stays bounded whatever the file size.
 *
 * GET: the file is opened on the thread pool (stat first, so that opening a fifo or a
 * device never blocks or has side effects). Small files are read whole there and sent with
 * one reply. Larger ones go out as a sized stream: FS_CHUNK-sized uv_fs_read calls, each
 * chunk queued on the connection, pausing while more than FS_DL_HIGH bytes are unsent and
 * resuming from the layer's drain callback. A file that shrinks meanwhile ends the
 * response early, which the layer turns into a closed connection (the client sees a
 * truncated body, never wrong bytes). A file reporting size 0 (procfs) is read to its end.
 * Other modules' downloads (desktop recordings) use the same path through fs_send_file.
 *
 * PUT: the route streams its body (HTTP_ROUTE_STREAM_BODY). The thread pool first creates
 * the missing parent directories and a temporary file next to the target; the body is then
 * appended to it with uv_fs_write, pausing the body while a write is in flight, and the temp
 * file is closed and renamed over the target at the end, on the thread pool too (a rename
 * over an existing file can make ext4 flush its data first). A body whose declared length is
 * at most FS_CHUNK is collected in memory instead and one job does all of it (directories,
 * temp file, write, close, rename): one thread-pool round trip instead of three, which is
 * what a small PUT costs while the loop is busy with other clients. A failed or aborted
 * upload removes the temp file, so the target is never left truncated. Deliberate
 * differences from the reference:
 * uploads may be up to SANDBOX_AGENT_MAX_UPLOAD_BYTES (default 8 GiB), and the target is
 * replaced (new inode): a symlink at the path is followed and its target replaced, an
 * existing file's permission bits are kept, but other hard links to it keep the old
 * content. A target that exists and is not a regular file is refused (400). */
#include "fs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Unsent bytes above which the download pauses, and the level at which it resumes. */
#define FS_DL_HIGH (1u << 20)
#define FS_DL_LOW (256u << 10)
/* Files reporting size 0 (procfs, sysfs) are read to EOF in one go up to this much. */
#define FS_DL_UNSIZED_CAP (16u << 20)

static const char fs_octet[] = "application/octet-stream";

/* ---- GET ------------------------------------------------------------------------------------ */

/* One download. Owner: itself; freed when the stream ended, or once the client left, no
 * read is in flight and none of its callbacks is on the stack. */
typedef struct fs_dl {
    http_req *req; /* NULL once the client left or the stream ended */
    uv_loop_t *loop;
    uv_file fd;    /* -1 once closed */
    uint64_t size; /* announced length; 0 = unknown (chunked) */
    uint64_t sent;
    uv_fs_t fsreq;
    base_rcbuf *chunk; /* buffer of the read in flight */
    bool reading;      /* a uv_fs_read is in flight */
    bool in_cb;        /* our code is on the stack: the abort callback must not free */
    base_buf small;    /* bytes read while opening */
    bool whole;        /* small holds the complete file */
    const char *ctype; /* content-type of the answer (static) */
} fs_dl;

static void fs_dl_free(fs_dl *d) {
    if (d->fd >= 0)
        close(d->fd);
    base_rcbuf_unref(d->chunk);
    base_buf_free(&d->small);
    free(d);
}

static void fs_read_open_work(fs_job *j) {
    struct stat st;
    if (stat(j->path, &st) != 0) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        fs_err_invalid(&j->err, "path is not a file: %s", j->path);
        return;
    }
    int fd = open(j->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        fs_err_invalid(&j->err, "path is not a file: %s", j->path);
        return;
    }
    fs_dl *d = j->ud;
    d->fd = fd;
    d->size = (uint64_t)st.st_size;
    if (st.st_size > (off_t)FS_CHUNK)
        return;
    /* Small or unsized: read to EOF here (a size-0 procfs file may hold more). */
    size_t cap = st.st_size == 0 ? FS_DL_UNSIZED_CAP : FS_CHUNK;
    for (;;) {
        base_buf_reserve(&d->small, 65536);
        size_t room = d->small.cap - d->small.len - 1;
        ssize_t n = read(fd, d->small.data + d->small.len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fs_err_os(&j->err, errno, j->path);
            return;
        }
        if (n == 0) {
            d->whole = true;
            break;
        }
        d->small.len += (size_t)n;
        if (d->small.len > cap)
            break; /* grew meanwhile, or a huge unsized file: stream the rest */
    }
    if (d->whole) {
        close(d->fd);
        d->fd = -1;
    }
}

static void fs_dl_pump(fs_dl *d);

static void fs_dl_maybe_free(fs_dl *d) {
    if (!d->req && !d->reading && !d->in_cb)
        fs_dl_free(d);
}

static void fs_dl_abort(http_req *req, void *ud) {
    fs_dl *d = ud;
    d->req = NULL;
    fs_dl_maybe_free(d);
}

/* End the response. A sized stream ended short makes the layer close the connection. */
static void fs_dl_finish(fs_dl *d) {
    http_req *req = d->req;
    d->req = NULL;
    http_req_on_abort(req, NULL, NULL);
    http_stream_end(req);
}

/* Queue one chunk. False when the client was dropped (d->req is then NULL). */
static bool fs_dl_send(fs_dl *d, base_rcbuf *chunk) {
    d->sent += chunk->len;
    return http_stream_write(d->req, chunk) && d->req;
}

static void fs_dl_read_cb(uv_fs_t *r) {
    fs_dl *d = r->data;
    ssize_t n = r->result;
    uv_fs_req_cleanup(r);
    base_rcbuf *chunk = d->chunk;
    d->chunk = NULL;
    d->reading = false;
    d->in_cb = true;
    if (d->req && n < 0)
        LOG_WARN("file read failed mid-download", "error=\"%s\"", uv_strerror((int)n));
    if (d->req && n <= 0) {
        fs_dl_finish(d); /* EOF or error */
    } else if (d->req) {
        chunk->len = (size_t)n;
        if (fs_dl_send(d, chunk)) {
            if (d->size && d->sent >= d->size)
                fs_dl_finish(d);
            else
                fs_dl_pump(d);
        }
    }
    base_rcbuf_unref(chunk);
    d->in_cb = false;
    fs_dl_maybe_free(d);
}

static void fs_dl_drained(http_req *req, void *ud) {
    fs_dl *d = ud;
    d->in_cb = true;
    fs_dl_pump(d);
    d->in_cb = false;
    fs_dl_maybe_free(d);
}

/* Queue the next read, or wait for the connection to drain first. Called with in_cb set. */
static void fs_dl_pump(fs_dl *d) {
    if (http_stream_queued(d->req) > FS_DL_HIGH) {
        http_stream_on_drain(d->req, FS_DL_LOW, fs_dl_drained, d);
        return;
    }
    size_t want = FS_CHUNK;
    if (d->size && d->size - d->sent < want)
        want = (size_t)(d->size - d->sent);
    d->chunk = base_rcbuf_new(NULL, want);
    uv_buf_t b = base_uv_buf(d->chunk->data, want);
    d->fsreq.data = d;
    int r = uv_fs_read(d->loop, &d->fsreq, d->fd, &b, 1, (int64_t)d->sent, fs_dl_read_cb);
    if (r < 0) {
        base_rcbuf_unref(d->chunk);
        d->chunk = NULL;
        LOG_WARN("file read failed mid-download", "error=\"%s\"", uv_strerror(r));
        fs_dl_finish(d);
        return;
    }
    d->reading = true;
}

static void fs_read_opened(fs_job *j) {
    fs_dl *d = j->ud;
    j->ud = NULL;
    http_req *req = j->req;
    if (!req || j->err.status) {
        if (req)
            fs_reply_err(req, &j->err);
        if (d)
            fs_dl_free(d);
        fs_job_free(j);
        return;
    }
    fs_job_free(j);
    if (d->whole) {
        http_reply(req, 200, d->ctype, NULL, d->small.data, d->small.len);
        fs_dl_free(d);
        return;
    }
    bool sized = d->small.len == 0;
    if (sized ? !http_stream_start_sized(req, 200, d->ctype, NULL, d->size)
              : !http_stream_start(req, 200, d->ctype, NULL)) {
        fs_dl_free(d); /* HEAD: headers only, request complete */
        return;
    }
    d->req = req;
    d->loop = http_req_loop(req);
    http_req_on_abort(req, fs_dl_abort, d);
    d->in_cb = true;
    bool ok = true;
    if (!sized) {
        /* Unsized file past the cap, or one that grew past its stat size: the length is
         * unknown, so it goes chunked, starting with what was read already. */
        d->size = 0;
        base_rcbuf *first = base_rcbuf_new(d->small.data, d->small.len);
        base_buf_free(&d->small);
        ok = fs_dl_send(d, first);
        base_rcbuf_unref(first);
    }
    if (ok)
        fs_dl_pump(d);
    d->in_cb = false;
    fs_dl_maybe_free(d);
}

void fs_send_file(http_req *req, const char *path, const char *content_type) {
    fs_job *j = fs_job_new(req, fs_read_open_work, fs_read_opened);
    j->path = base_xstrdup(path);
    fs_dl *d = base_xcalloc(1, sizeof *d);
    d->fd = -1;
    d->ctype = content_type;
    j->ud = d;
    fs_job_start(j);
}

static void fs_read_handler(http_req *req, void *ud) {
    char *path = fs_query_path(req, true);
    if (!path)
        return;
    fs_send_file(req, path, fs_octet);
    free(path);
}

/* ---- PUT ------------------------------------------------------------------------------------ */

/* One upload. Owner: the prepare job until it is done, then itself; freed once answered
 * (or aborted) and no write is in flight. */
typedef struct fs_up {
    http_req *req; /* NULL once the client left or the layer answered 413 */
    uv_loop_t *loop;
    char *path;    /* resolved request path (reported back) */
    char *final;   /* the file actually replaced (symlinks at the path followed) */
    char *tmp;     /* temp file next to final; NULL once renamed away */
    uv_file fd;    /* -1 when closed */
    base_buf buf;  /* received, not yet written */
    base_buf wbuf; /* being written */
    size_t woff;   /* bytes of wbuf already written (short writes) */
    uv_fs_t fsreq;
    uint64_t received, written, max;
    bool writing, ended;
    fs_err err;
} fs_up;

static uint64_t fs_max_upload(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_MAX_UPLOAD_BYTES", (int64_t)8 << 30, 0, INT64_MAX);
}

static void fs_up_free(fs_up *u) {
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp)
        unlink(u->tmp); /* never leave a partial upload behind */
    free(u->path);
    free(u->final);
    free(u->tmp);
    base_buf_free(&u->buf);
    base_buf_free(&u->wbuf);
    fs_err_clear(&u->err);
    free(u);
}

/* Follow symlinks at path (not in its directories) to the file a write through it would
 * reach, like open(2) does. Returns the malloc'd final path, with *st filled and *exists
 * set, or NULL with an errno. */
static char *fs_follow(const char *path, struct stat *st, bool *exists, int *err) {
    char *p = base_xstrdup(path);
    for (int hops = 0;; hops++) {
        if (lstat(p, st) != 0) {
            if (errno == ENOENT) {
                *exists = false;
                return p;
            }
            *err = errno;
            free(p);
            return NULL;
        }
        if (!S_ISLNK(st->st_mode)) {
            *exists = true;
            return p;
        }
        if (hops >= 40) {
            *err = ELOOP;
            free(p);
            return NULL;
        }
        size_t cap = (size_t)st->st_size + 1 > 256 ? (size_t)st->st_size + 1 : 256;
        char *t = base_xmalloc(cap);
        ssize_t n = readlink(p, t, cap - 1);
        if (n < 0) {
            *err = errno;
            free(t);
            free(p);
            return NULL;
        }
        t[n] = 0;
        char *next;
        if (t[0] == '/') {
            next = t;
        } else {
            char *dir = fs_parent_path(p);
            next = fs_join(dir ? dir : ".", t);
            free(dir);
            free(t);
        }
        free(p);
        p = next;
    }
}

static void fs_put_prepare_work(fs_job *j) {
    fs_up *u = j->ud;
    char *parent = fs_parent_path(j->path);
    int r = parent ? fs_mkdirs(parent) : 0;
    free(parent);
    if (r) {
        fs_err_os(&u->err, r, j->path);
        return;
    }
    struct stat st;
    bool exists = false;
    int err = 0;
    u->final = fs_follow(j->path, &st, &exists, &err);
    if (!u->final) {
        fs_err_os(&u->err, err, j->path);
        return;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        fs_err_os(&u->err, EISDIR, j->path);
        return;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        fs_err_invalid(&u->err, "path is not a file: %s", j->path);
        return;
    }
    /* The temp file lives in the target's directory so that the final rename is atomic;
     * its name is hidden and bounded (NAME_MAX) whatever the target's name. */
    char *dir = fs_parent_path(u->final);
    const char *base = strrchr(u->final, '/');
    base = base ? base + 1 : u->final;
    char rnd[17];
    base_random_hex(rnd, 8);
    char *name = base_xasprintf(".%.200s.sa-upload-%s", base, rnd);
    u->tmp = fs_join(dir ? dir : ".", name);
    free(name);
    free(dir);
    u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (u->fd < 0) {
        int e = errno;
        free(u->tmp);
        u->tmp = NULL;
        fs_err_os(&u->err, e, j->path);
        return;
    }
    if (exists)
        (void)fchmod(u->fd, st.st_mode & 07777); /* keep e.g. the executable bit */
}

/* Close the temp file and rename it over the target; on failure remove it. Blocking (thread
 * pool). Leaves u->tmp NULL either way, u->err set on failure. */
static void fs_up_commit(fs_up *u) {
    int fd = u->fd;
    u->fd = -1;
    int err = close(fd) != 0 ? errno : 0;
    if (!err && rename(u->tmp, u->final) != 0)
        err = errno;
    if (err) {
        unlink(u->tmp);
        fs_err_os(&u->err, err, u->path);
    }
    free(u->tmp);
    u->tmp = NULL;
}

static void fs_up_reply_ok(http_req *req, fs_up *u) {
    http_reply_json(
        req, 200, json_pack("{s:s,s:I}", "path", u->path, "bytesWritten", (json_int_t)u->received));
}

static void fs_up_flush(fs_up *u);

/* Answer the upload's error (if the client is still there) and clean up. */
static void fs_up_fail(fs_up *u) {
    if (u->req) {
        http_req *req = u->req;
        u->req = NULL;
        http_req_on_abort(req, NULL, NULL);
        fs_reply_err(req, &u->err);
    }
    if (!u->writing)
        fs_up_free(u);
}

static void fs_up_commit_work(fs_job *j) {
    fs_up_commit(j->ud);
}

/* After the commit (or the whole small upload) ran on the thread pool: answer, clean up. */
static void fs_up_committed(fs_job *j) {
    fs_up *u = j->ud;
    http_req *req = j->req;
    fs_job_free(j);
    if (req && u->err.status) {
        u->req = req;
        u->loop = http_req_loop(req);
        fs_up_fail(u);
        return;
    }
    if (req)
        fs_up_reply_ok(req, u);
    fs_up_free(u);
}

/* The whole body is on disk: close and rename on the thread pool, then answer. */
static void fs_up_finish(fs_up *u) {
    http_req *req = u->req;
    u->req = NULL;
    http_req_on_abort(req, NULL, NULL);
    fs_job *j = fs_job_new(req, fs_up_commit_work, fs_up_committed);
    j->ud = u;
    fs_job_start(j);
}

static void fs_up_write_cb(uv_fs_t *r) {
    fs_up *u = r->data;
    ssize_t n = r->result;
    uv_fs_req_cleanup(r);
    u->writing = false;
    if (!u->req) {
        fs_up_free(u);
        return;
    }
    if (n < 0) {
        fs_err_os(&u->err, (int)-n, u->path);
        fs_up_fail(u);
        return;
    }
    u->written += (uint64_t)n;
    u->woff += (size_t)n;
    if (u->woff < u->wbuf.len) {
        fs_up_flush(u); /* short write: the rest of the same buffer */
        return;
    }
    u->wbuf.len = 0;
    u->woff = 0;
    if (u->buf.len >= FS_CHUNK || (u->ended && u->buf.len))
        fs_up_flush(u);
    else if (u->ended)
        fs_up_finish(u);
    else
        http_req_resume_body(u->req);
}

/* Start writing: the rest of wbuf if a short write left some, else all of buf. */
static void fs_up_flush(fs_up *u) {
    if (u->woff == 0) {
        base_buf t = u->wbuf;
        u->wbuf = u->buf;
        u->buf = t;
        u->buf.len = 0;
    }
    uv_buf_t b = base_uv_buf(u->wbuf.data + u->woff, u->wbuf.len - u->woff);
    u->fsreq.data = u;
    u->writing = true;
    int r = uv_fs_write(u->loop, &u->fsreq, u->fd, &b, 1, (int64_t)u->written,
                        fs_up_write_cb);
    if (r < 0) {
        u->writing = false;
        fs_err_os(&u->err, -r, u->path);
        fs_up_fail(u);
        return;
    }
    if (u->req)
        http_req_pause_body(u->req);
}

static void fs_up_on_data(http_req *req, const char *data, size_t len, void *ud) {
    fs_up *u = ud;
    u->received += len;
    base_buf_append(&u->buf, data, len);
    if (u->writing)
        http_req_pause_body(req); /* more arrived than we asked for: hold the rest */
    else if (u->buf.len >= FS_CHUNK)
        fs_up_flush(u);
}

static void fs_up_on_end(http_req *req, void *ud) {
    fs_up *u = ud;
    u->ended = true;
    if (u->writing)
        return; /* the write callback finishes */
    if (u->buf.len)
        fs_up_flush(u);
    else
        fs_up_finish(u);
}

static void fs_up_abort(http_req *req, void *ud) {
    fs_up *u = ud;
    u->req = NULL;
    if (!u->writing)
        fs_up_free(u);
}

static const http_body_sink fs_up_sink = {fs_up_on_data, fs_up_on_end};

/* ---- small PUT: body in memory, then one job ------------------------------------------------ */

static void fs_put_small_work(fs_job *j) {
    fs_up *u = j->ud;
    fs_put_prepare_work(j);
    if (u->err.status)
        return;
    for (size_t off = 0; off < u->buf.len;) {
        ssize_t n = write(u->fd, u->buf.data + off, u->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(u->fd);
            u->fd = -1;
            unlink(u->tmp);
            free(u->tmp);
            u->tmp = NULL;
            fs_err_os(&u->err, e, u->path);
            return;
        }
        off += (size_t)n;
    }
    fs_up_commit(u);
}

static void fs_up_small_on_data(http_req *req, const char *data, size_t len, void *ud) {
    fs_up *u = ud;
    u->received += len;
    base_buf_append(&u->buf, data, len);
}

static void fs_up_small_on_end(http_req *req, void *ud) {
    fs_up *u = ud;
    u->req = NULL;
    http_req_on_abort(req, NULL, NULL);
    fs_job *j = fs_job_new(req, fs_put_small_work, fs_up_committed);
    j->path = base_xstrdup(u->path);
    j->ud = u;
    fs_job_start(j);
}

static const http_body_sink fs_up_small_sink = {fs_up_small_on_data, fs_up_small_on_end};

static void fs_put_prepared(fs_job *j) {
    fs_up *u = j->ud;
    http_req *req = j->req;
    fs_job_free(j);
    if (!req) {
        fs_up_free(u);
        return;
    }
    if (u->err.status) {
        u->req = req;
        u->loop = http_req_loop(req);
        fs_up_fail(u);
        return;
    }
    u->req = req;
    u->loop = http_req_loop(req);
    http_req_on_abort(req, fs_up_abort, u);
    http_req_read_body(req, &fs_up_sink, u, u->max);
}

static void fs_write_handler(http_req *req, void *ud) {
    char *path = fs_query_path(req, true);
    if (!path)
        return;
    uint64_t max = fs_max_upload();
    /* Refuse a declared oversize body before touching the disk (the layer would too). */
    if (req->content_length >= 0 && (uint64_t)req->content_length > max) {
        fs_err e = {0};
        fs_err_too_large(&e, "request body", max);
        fs_reply_err(req, &e);
        fs_err_clear(&e);
        free(path);
        return;
    }
    fs_up *u = base_xcalloc(1, sizeof *u);
    u->fd = -1;
    u->max = max;
    u->path = path;
    if (req->content_length >= 0 && (uint64_t)req->content_length <= FS_CHUNK) {
        u->req = req;
        u->loop = http_req_loop(req);
        http_req_on_abort(req, fs_up_abort, u);
        http_req_read_body(req, &fs_up_small_sink, u, u->max);
        return;
    }
    fs_job *j = fs_job_new(req, fs_put_prepare_work, fs_put_prepared);
    j->path = base_xstrdup(path);
    j->ud = u;
    fs_job_start(j);
}

void fs_file_routes(http_server *srv) {
    http_route(srv, HTTP_M_GET, "/v1/fs/file", HTTP_ROUTE_AUTH, fs_read_handler, NULL);
    http_route(srv, HTTP_M_PUT, "/v1/fs/file", HTTP_ROUTE_AUTH | HTTP_ROUTE_STREAM_BODY,
               fs_write_handler, NULL);
}
