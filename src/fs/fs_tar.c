/* fs_tar.c - POST /v1/fs/upload-batch (http-api.md §7.9): extract an uncompressed tar
 * body under a destination directory.
 *
 * The body is streamed: the route reads it with http_req_read_body and hands the bytes to
 * a dedicated thread that runs libarchive's reader (pull-based) and writes the entries.
 * A bounded queue sits between them: above FS_TAR_QUEUE_HIGH unread bytes the body is
 * paused; the thread wakes the loop (uv_async) when it took the queue, and the body
 * resumes. A dedicated (detached) thread, not the libuv pool, because a slow client may
 * keep it busy for as long as its upload lasts; a client that leaves cancels it at its next
 * read, and whichever side finishes last frees the shared state. The answer is sent once the body
 * ended (the rest of a body is read and discarded after a failure, up to FS_TAR_DISCARD_MAX bytes),
 * so that the client, which is still sending, reliably gets it.
 *
 * Safety (beyond the reference, which extracts whatever it gets): every entry is checked
 * by fs_tar_entry_safe (no absolute names, no "..", symlinks and hard links must stay
 * inside, no fifos or devices), and the disk is written only through directory file
 * descriptors opened with O_NOFOLLOW from the destination down, so neither a symlink from
 * the archive nor one already in the destination is ever followed. Limits: entry count
 * (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES, default 100000) and total extracted bytes
 * (SANDBOX_AGENT_MAX_EXTRACT_BYTES, default 8 GiB), both answered 413; the body itself
 * is capped at SANDBOX_AGENT_MAX_UPLOAD_BYTES (default 8 GiB).
 *
 * Like the reference: names lose a leading "./" and "." components, the root entry is
 * skipped, regular files replace existing files, permission bits (mode & 0777) and mtimes
 * are applied, entries extracted before a failure stay. Unlike it: hard links resolve
 * against the destination (the reference used its cwd), directory modes and mtimes are
 * applied after all entries (so a read-only directory can still be filled and its mtime
 * sticks), and client-caused OS errors are 4xx (see fs_common.c). */
#include "base/larchive.h"
#include "fs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Unread body bytes above which the body is paused. */
#define FS_TAR_QUEUE_HIGH (1u << 20)
/* After a failure, at most this much more body is read (and dropped) before answering. */
#define FS_TAR_DISCARD_MAX (64u << 20)

/* A directory whose mode and mtime are applied after all entries. */
typedef struct fs_tar_dir {
    char *rel;
    mode_t mode;
    bool has_time;
    struct timespec mtime;
} fs_tar_dir;

/* One extraction. Owner: the thread running it (on its stack); fs_tar_ctx_fini releases
 * what it holds except paths, which goes to the caller. */
typedef struct fs_tar_ctx {
    const char *dest; /* resolved destination, as reported */
    int rootfd;
    uint64_t max_bytes, max_entries;
    uint64_t bytes, entries;
    json_t *paths;
    bool truncated;
    fs_tar_dir *dirs;
    size_t ndirs, capdirs;
    char *buf; /* FS_CHUNK bytes of file data */
    fs_err *e;
} fs_tar_ctx;

/* ---- extraction core (blocking; runs on the extraction thread) ---------------------------- */

/* Split a normalised relative path into components (in place in a copy). Caller frees
 * *store and the returned vector. */
static char **fs_tar_split(const char *rel, size_t *n, char **store) {
    *store = base_xstrdup(rel);
    size_t cap = 8, k = 0;
    char **v = base_xmalloc(cap * sizeof(char *));
    char *save = NULL;
    for (char *c = strtok_r(*store, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (k == cap)
            v = base_xrealloc(v, (cap *= 2) * sizeof(char *));
        v[k++] = c;
    }
    *n = k;
    return v;
}

/* dest joined with the first n components, for messages and the paths listing. */
static char *fs_tar_path(const fs_tar_ctx *t, char **comps, size_t n) {
    base_buf b;
    base_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i)
            base_buf_append(&b, "/", 1);
        base_buf_appends(&b, comps[i]);
    }
    char *rel = base_buf_steal(&b, NULL);
    char *p = fs_join(t->dest, rel);
    free(rel);
    return p;
}

/* Open the directory made of comps[0..n) below the root, creating missing ones when asked,
 * never following a symlink. Returns an fd, or -1 with t->e set (if report). */
static int fs_tar_walk(fs_tar_ctx *t, char **comps, size_t n, bool create, bool report) {
    int fd = openat(t->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (report)
            fs_err_os(t->e, errno, t->dest);
        return -1;
    }
    const int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    for (size_t i = 0; i < n; i++) {
        int sub = openat(fd, comps[i], fl);
        if (sub < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comps[i], 0777) == 0 || errno == EEXIST)
                sub = openat(fd, comps[i], fl);
        }
        if (sub < 0) {
            int err = errno;
            if (report) {
                char *p = fs_tar_path(t, comps, i + 1);
                struct stat st;
                if ((err == ELOOP || err == ENOTDIR) &&
                    fstatat(fd, comps[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                    fs_err_invalid(t->e, "refusing to extract through a symlink: %s", p);
                else
                    fs_err_os(t->e, err, p);
                free(p);
            }
            close(fd);
            return -1;
        }
        close(fd);
        fd = sub;
    }
    return fd;
}

static bool fs_tar_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void fs_tar_too_many_bytes(fs_tar_ctx *t) {
    fs_err_too_large(t->e, "archive content (SANDBOX_AGENT_MAX_EXTRACT_BYTES)", t->max_bytes);
}

/* Create name in pfd with make(); an existing non-directory there is replaced. */
static int fs_tar_replace(int pfd, const char *name, int (*make)(int, const char *, void *),
                          void *arg) {
    int r = make(pfd, name, arg);
    if (r >= 0 || errno != EEXIST)
        return r;
    if (unlinkat(pfd, name, 0) != 0)
        return -1; /* EISDIR: a directory is never replaced */
    return make(pfd, name, arg);
}

static int fs_tar_make_file(int pfd, const char *name, void *arg) {
    return openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int fs_tar_make_symlink(int pfd, const char *name, void *arg) {
    return symlinkat(arg, pfd, name);
}

typedef struct fs_tar_linkarg {
    int tpfd;
    const char *tname;
} fs_tar_linkarg;

static int fs_tar_make_link(int pfd, const char *name, void *arg) {
    fs_tar_linkarg *l = arg;
    return linkat(l->tpfd, l->tname, pfd, name, 0);
}

static bool fs_tar_file(fs_tar_ctx *t, struct archive *a, struct archive_entry *ent, int pfd,
                        const char *name, const char *path) {
    int64_t size = archive_entry_size_is_set(ent) ? archive_entry_size(ent) : 0;
    if (size > 0 && (uint64_t)size > t->max_bytes - t->bytes) {
        fs_tar_too_many_bytes(t);
        return false;
    }
    int fd = fs_tar_replace(pfd, name, fs_tar_make_file, NULL);
    if (fd < 0) {
        fs_err_os(t->e, errno, path);
        return false;
    }
    bool ok = true;
    for (;;) {
        la_ssize_t n = archive_read_data(a, t->buf, FS_CHUNK);
        if (n < 0) {
            fs_err_stream(t->e, archive_error_string(a) ? archive_error_string(a)
                                                        : "cannot read the archive");
            ok = false;
            break;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > t->max_bytes - t->bytes) {
            fs_tar_too_many_bytes(t);
            ok = false;
            break;
        }
        t->bytes += (uint64_t)n;
        if (!fs_tar_write_all(fd, t->buf, (size_t)n)) {
            fs_err_os(t->e, errno, path);
            ok = false;
            break;
        }
    }
    if (ok) {
        (void)fchmod(fd, archive_entry_perm(ent) & 0777);
        if (archive_entry_mtime_is_set(ent)) {
            struct timespec ts[2] = {{archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)},
                                     {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)}};
            (void)futimens(fd, ts);
        }
    }
    if (close(fd) != 0 && ok) {
        fs_err_os(t->e, errno, path);
        ok = false;
    }
    if (!ok)
        (void)unlinkat(pfd, name, 0); /* never leave a truncated file behind */
    return ok;
}

static bool fs_tar_dir_entry(fs_tar_ctx *t, struct archive_entry *ent, int pfd, const char *name,
                             const char *rel, const char *path) {
    if (mkdirat(pfd, name, 0700) != 0) {
        struct stat st;
        int err = errno;
        if (err != EEXIST || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode)) {
            fs_err_os(t->e, err, path);
            return false;
        }
    }
    if (t->ndirs == t->capdirs) {
        t->capdirs = t->capdirs ? t->capdirs * 2 : 16;
        t->dirs = base_xrealloc(t->dirs, t->capdirs * sizeof *t->dirs);
    }
    fs_tar_dir *d = &t->dirs[t->ndirs++];
    d->rel = base_xstrdup(rel);
    d->mode = archive_entry_perm(ent) & 0777;
    d->has_time = archive_entry_mtime_is_set(ent) != 0;
    d->mtime.tv_sec = archive_entry_mtime(ent);
    d->mtime.tv_nsec = archive_entry_mtime_nsec(ent);
    return true;
}

static bool fs_tar_symlink(fs_tar_ctx *t, struct archive_entry *ent, int pfd, const char *name,
                           const char *target, const char *path) {
    if (fs_tar_replace(pfd, name, fs_tar_make_symlink, (void *)target) != 0) {
        fs_err_os(t->e, errno, path);
        return false;
    }
    if (archive_entry_mtime_is_set(ent)) {
        struct timespec ts[2] = {{archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)},
                                 {archive_entry_mtime(ent), archive_entry_mtime_nsec(ent)}};
        (void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
    }
    return true;
}

static bool fs_tar_hardlink(fs_tar_ctx *t, int pfd, const char *name, const char *target,
                            const char *path) {
    char *rel = fs_rel_normalize(target); /* validated: relative, no "..", not empty */
    char *store;
    size_t n;
    char **comps = fs_tar_split(rel, &n, &store);
    bool ok = false;
    int tpfd = fs_tar_walk(t, comps, n - 1, false, true);
    if (tpfd >= 0) {
        char *tpath = fs_tar_path(t, comps, n);
        struct stat st;
        if (fstatat(tpfd, comps[n - 1], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            fs_err_os(t->e, errno, tpath);
        } else if (S_ISDIR(st.st_mode)) {
            fs_err_invalid(t->e, "hard link target is a directory: %s", tpath);
        } else if (S_ISLNK(st.st_mode)) {
            /* Another name for a symlink, at another depth, would give its relative text
             * another meaning: "a/b/l -> ../../x" is inside, the same link as "h" is not. */
            fs_err_invalid(t->e, "hard link target is a symlink: %s", tpath);
        } else {
            fs_tar_linkarg l = {tpfd, comps[n - 1]};
            if (fs_tar_replace(pfd, name, fs_tar_make_link, &l) != 0)
                fs_err_os(t->e, errno, path);
            else
                ok = true;
        }
        free(tpath);
        close(tpfd);
    }
    free(comps);
    free(store);
    free(rel);
    return ok;
}

static const char *fs_tar_name(const char *utf8, const char *raw) {
    /* Names in pax headers are UTF-8; libarchive's locale form fails for them in the C
     * locale, while raw (ustar) bytes have no UTF-8 form there. Take whichever exists. */
    return utf8 ? utf8 : raw;
}

/* One entry. False with t->e set on failure. */
static bool fs_tar_entry(fs_tar_ctx *t, struct archive *a, struct archive_entry *ent) {
    const char *name = fs_tar_name(archive_entry_pathname_utf8(ent), archive_entry_pathname(ent));
    const char *hard = fs_tar_name(archive_entry_hardlink_utf8(ent), archive_entry_hardlink(ent));
    const char *sym = fs_tar_name(archive_entry_symlink_utf8(ent), archive_entry_symlink(ent));
    int type;
    if (hard) {
        type = FS_TAR_HARDLINK;
    } else {
        switch (archive_entry_filetype(ent)) {
        case AE_IFREG:
            type = FS_TAR_FILE;
            break;
        case AE_IFDIR:
            type = FS_TAR_DIR;
            break;
        case AE_IFLNK:
            type = FS_TAR_SYMLINK;
            break;
        default:
            type = FS_TAR_OTHER;
            break;
        }
    }
    const char *link = type == FS_TAR_HARDLINK ? hard : sym;
    char *why = NULL;
    if (!fs_tar_entry_safe(t->dest, name ? name : "", type, link, &why)) {
        fs_err_invalid(t->e, "%s", why);
        free(why);
        return false;
    }
    char *rel = fs_rel_normalize(name);
    if (!rel[0]) {
        free(rel); /* the root entry ("./"): nothing to create */
        return true;
    }
    char *store;
    size_t n;
    char **comps = fs_tar_split(rel, &n, &store);
    char *path = fs_tar_path(t, comps, n);
    bool ok = false;
    int pfd = fs_tar_walk(t, comps, n - 1, true, true);
    if (pfd >= 0) {
        const char *last = comps[n - 1];
        switch (type) {
        case FS_TAR_FILE:
            ok = fs_tar_file(t, a, ent, pfd, last, path);
            break;
        case FS_TAR_DIR:
            ok = fs_tar_dir_entry(t, ent, pfd, last, rel, path);
            break;
        case FS_TAR_SYMLINK:
            ok = fs_tar_symlink(t, ent, pfd, last, link, path);
            break;
        default:
            ok = fs_tar_hardlink(t, pfd, last, link, path);
            break;
        }
        close(pfd);
    }
    if (ok) {
        if (json_array_size(t->paths) < FS_TAR_MAX_LISTED) {
            char *p = fs_utf8_lossy(path);
            json_array_append_new(t->paths, json_string(p));
            free(p);
        } else {
            t->truncated = true;
        }
    }
    free(path);
    free(comps);
    free(store);
    free(rel);
    return ok;
}

/* Directory modes and mtimes, deepest last-created first; best effort. */
static void fs_tar_apply_dirs(fs_tar_ctx *t) {
    for (size_t i = t->ndirs; i-- > 0;) {
        fs_tar_dir *d = &t->dirs[i];
        char *store;
        size_t n;
        char **comps = fs_tar_split(d->rel, &n, &store);
        int fd = fs_tar_walk(t, comps, n, false, false);
        if (fd >= 0) {
            (void)fchmod(fd, d->mode);
            if (d->has_time) {
                struct timespec ts[2] = {d->mtime, d->mtime};
                (void)futimens(fd, ts);
            }
            close(fd);
        }
        free(comps);
        free(store);
    }
}

/* Create and open the destination (following symlinks: it is the caller's choice). */
static bool fs_tar_open_dest(fs_tar_ctx *t) {
    int r = fs_mkdirs(t->dest);
    if (r) {
        fs_err_os(t->e, r, t->dest);
        return false;
    }
    t->rootfd = open(t->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->rootfd < 0) {
        fs_err_os(t->e, errno, t->dest);
        return false;
    }
    return true;
}

/* Extraction limits from the environment; read on the caller's thread. */
static void fs_tar_limits(uint64_t *max_bytes, uint64_t *max_entries) {
    *max_bytes =
        (uint64_t)base_env_int("SANDBOX_AGENT_MAX_EXTRACT_BYTES", (int64_t)8 << 30, 0, INT64_MAX);
    *max_entries =
        (uint64_t)base_env_int("SANDBOX_AGENT_MAX_EXTRACT_ENTRIES", 100000, 0, INT64_MAX);
}

static void fs_tar_ctx_init(fs_tar_ctx *t, const char *dest, fs_err *e, uint64_t max_bytes,
                            uint64_t max_entries) {
    memset(t, 0, sizeof *t);
    t->dest = dest;
    t->rootfd = -1;
    t->e = e;
    t->paths = json_array();
    t->buf = base_xmalloc(FS_CHUNK);
    t->max_bytes = max_bytes;
    t->max_entries = max_entries;
}

static void fs_tar_ctx_fini(fs_tar_ctx *t) {
    for (size_t i = 0; i < t->ndirs; i++)
        free(t->dirs[i].rel);
    free(t->dirs);
    free(t->buf);
    if (t->rootfd >= 0)
        close(t->rootfd);
}

static struct archive *fs_tar_reader(void) {
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a); /* an empty body is an empty archive */
    return a;
}

/* Read every entry of an opened archive. */
static bool fs_tar_run(fs_tar_ctx *t, struct archive *a) {
    bool ok = true;
    for (;;) {
        struct archive_entry *ent;
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            const char *m = archive_error_string(a);
            fs_err_stream(t->e, m ? m : "cannot read the archive");
            ok = false;
            break;
        }
        if (++t->entries > t->max_entries) {
            fs_err_413(t->e,
                       "archive has more than %llu entries (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES)",
                       (unsigned long long)t->max_entries);
            ok = false;
            break;
        }
        if (!fs_tar_entry(t, a, ent)) {
            ok = false;
            break;
        }
    }
    fs_tar_apply_dirs(t);
    return ok;
}

bool fs_tar_extract_memory(const char *dest, const void *data, size_t len, json_t **paths,
                           bool *truncated, fs_err *e) {
    uint64_t max_bytes, max_entries;
    fs_tar_limits(&max_bytes, &max_entries);
    fs_tar_ctx t;
    fs_tar_ctx_init(&t, dest, e, max_bytes, max_entries);
    bool ok = fs_tar_open_dest(&t);
    if (ok) {
        struct archive *a = fs_tar_reader();
        if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
            const char *m = archive_error_string(a);
            fs_err_stream(e, m ? m : "cannot read the archive");
            ok = false;
        } else {
            ok = fs_tar_run(&t, a);
        }
        archive_read_free(a);
    }
    fs_tar_ctx_fini(&t);
    *paths = t.paths;
    *truncated = t.truncated;
    return ok;
}

/* ---- the streamed upload -------------------------------------------------------------------- */

/* One upload, shared by the loop and the extraction thread (detached). Owner: both, by
 * reference count: the thread drops its reference when it ends, the loop side when the
 * request is answered or aborted and the async handle has closed; the last one frees.
 * Fields marked (mu) are shared under mu; the others belong to one side as noted. */
typedef struct fs_tar_up {
    atomic_int refs;
    http_req *req;                   /* loop; NULL once answered or aborted */
    char *dest;                      /* immutable while the thread runs */
    uint64_t max_bytes, max_entries; /* immutable */
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

static la_ssize_t fs_tar_read_cb(struct archive *a, void *ud, const void **out) {
    fs_tar_up *u = ud;
    uv_mutex_lock(&u->mu);
    u->cur.len = 0; /* libarchive is done with the previous block */
    while (u->q.len == 0 && !u->eof && !u->cancel)
        uv_cond_wait(&u->cv, &u->mu);
    if (u->cancel) {
        uv_mutex_unlock(&u->mu);
        archive_set_error(a, ECANCELED, "upload aborted");
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
    return (la_ssize_t)u->cur.len;
}

static void fs_tar_thread(void *arg) {
    fs_tar_up *u = arg;
    fs_tar_ctx t;
    fs_tar_ctx_init(&t, u->dest, &u->err, u->max_bytes, u->max_entries);
    bool ok = fs_tar_open_dest(&t);
    if (ok) {
        struct archive *a = fs_tar_reader();
        if (archive_read_open(a, u, NULL, fs_tar_read_cb, NULL) != ARCHIVE_OK) {
            const char *m = archive_error_string(a);
            fs_err_stream(&u->err, m ? m : "cannot read the archive");
        } else {
            fs_tar_run(&t, a);
        }
        archive_read_free(a);
    }
    fs_tar_ctx_fini(&t);
    uv_mutex_lock(&u->mu);
    u->paths = t.paths;
    u->truncated = t.truncated;
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

static void fs_upload_handler(http_req *req, void *ud) {
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
    fs_tar_limits(&u->max_bytes, &u->max_entries);
    uv_mutex_init(&u->mu);
    uv_cond_init(&u->cv);
    uv_async_init(uv_default_loop(), &u->async, fs_tar_async_cb);
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

void fs_tar_routes(http_server *srv) {
    http_route(srv, HTTP_M_POST, "/v1/fs/upload-batch", HTTP_ROUTE_AUTH | HTTP_ROUTE_STREAM_BODY,
               fs_upload_handler, NULL);
}
