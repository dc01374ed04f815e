/* fs_common.c - what the fs routes share: error mapping, the path query, $HOME, blocking
 * helpers (mkdir -p, remove, stat bodies) and thread-pool jobs.
 *
 * Error mapping (http-api.md §7.1, with the client-fault OS errors moved out of 502):
 *   ENOENT                                   400 invalid_request "path not found: <path>"
 *   ENOTDIR EISDIR ENAMETOOLONG ELOOP EINVAL 400 invalid_request "<os text>: <path>"
 *   EEXIST ENOTEMPTY                         409 conflict, details.message "<os text>: <path>"
 *   EACCES EPERM                             403 permission_denied, details.message likewise
 *   anything else                            502 stream_error "<os text>" (reference text)
 * where <os text> is "<strerror> (os error <n>)", the reference's wording. The reference
 * answers 502 for all but ENOENT; a request that cannot succeed as sent is a 4xx. */
#include "fs/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors --------------------------------------------------------------------------- */

void fs_err_clear(fs_err *e) {
    free(e->detail);
    free(e->message);
    memset(e, 0, sizeof *e);
}

static void fs_err_set(fs_err *e, int status, const char *code, const char *title, char *detail,
                       char *message) {
    fs_err_clear(e);
    e->status = status;
    e->code = code;
    e->title = title;
    e->detail = detail;
    e->message = message;
}

void fs_err_invalid(fs_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    fs_err_set(e, 400, "invalid_request", "Invalid Request",
               base_xasprintf("invalid request: %s", msg ? msg : ""), NULL);
    free(msg);
}

void fs_err_stream(fs_err *e, const char *msg) {
    fs_err_set(e, 502, "stream_error", "Stream Error", base_xasprintf("stream error: %s", msg),
               base_xstrdup(msg));
}

void fs_err_413(fs_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    /* Same shape as the layer's own 413 for oversized bodies. */
    fs_err_set(e, 413, "invalid_request", "Payload Too Large",
               base_xasprintf("invalid request: %s", msg ? msg : ""), NULL);
    free(msg);
}

void fs_err_too_large(fs_err *e, const char *what, uint64_t limit) {
    fs_err_413(e, "%s exceeds the limit of %llu bytes", what, (unsigned long long)limit);
}

void fs_err_os(fs_err *e, int errnum, const char *path) {
    char buf[128];
    /* GNU strerror_r: thread-safe, returns a pointer to the text. */
    const char *s = strerror_r(errnum, buf, sizeof buf);
    char *os = base_xasprintf("%s (os error %d)", s, errnum);
    switch (errnum) {
    case ENOENT:
        fs_err_invalid(e, "path not found: %s", path);
        break;
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
    case EINVAL:
        fs_err_invalid(e, "%s: %s", os, path);
        break;
    case EEXIST:
    case ENOTEMPTY: {
        char *m = base_xasprintf("%s: %s", os, path);
        fs_err_set(e, 409, "conflict", "Conflict", base_xasprintf("conflict: %s", m), m);
        break;
    }
    case EACCES:
    case EPERM:
        fs_err_set(e, 403, "permission_denied", "Permission Denied",
                   base_xstrdup("permission denied"), base_xasprintf("%s: %s", os, path));
        break;
    default:
        fs_err_stream(e, os);
        break;
    }
    free(os);
}

void fs_reply_err(http_req *req, const fs_err *e) {
    /* File names are bytes; JSON strings must be UTF-8. */
    char *detail = fs_utf8_lossy(e->detail ? e->detail : "");
    json_t *extra = NULL;
    if (e->message) {
        char *m = fs_utf8_lossy(e->message);
        extra = json_pack("{s:{s:s}}", "details", "message", m);
        free(m);
    }
    http_reply_problem(req, e->status ? e->status : 500, e->code ? e->code : "stream_error",
                       e->title ? e->title : "Stream Error", detail, extra);
    free(detail);
}

/* ---- paths ------------------------------------------------------------------------------ */

static char *fs_home(void) {
    const char *h = getenv("HOME");
    if (h && *h)
        return base_xstrdup(h);
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir && *res->pw_dir)
        return base_xstrdup(res->pw_dir);
    return base_xstrdup("/");
}

char *fs_resolve(const char *path, fs_err *e) {
    char *home = fs_home();
    char *out = fs_resolve_with_home(home, path);
    free(home);
    if (!out)
        fs_err_invalid(e, "invalid relative path: %s", path);
    return out;
}

char *fs_query_path(http_req *req, bool required) {
    char *raw = NULL;
    int r = http_query_get(req, "path", &raw);
    if (r < 0) {
        http_problem_invalid_request(req, "query parameter `path` must be given at most once, "
                                          "as UTF-8 text without NUL bytes");
        return NULL;
    }
    if (r == 0) {
        if (required) {
            http_problem_invalid_request(req, "missing query parameter `path`");
            return NULL;
        }
        raw = base_xstrdup("");
    }
    fs_err e = {0};
    char *out = fs_resolve(raw, &e);
    free(raw);
    if (!out) {
        fs_reply_err(req, &e);
        fs_err_clear(&e);
    }
    return out;
}

/* ---- blocking helpers (thread pool) ------------------------------------------------------ */

/* Rust's Path::parent for the paths we build: trailing slashes and the last component go.
 * NULL when there is no parent ("/", "", a single relative component). */
static char *fs_parent(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 1 && path[0] == '/')
        return NULL;
    while (n > 0 && path[n - 1] != '/')
        n--;
    if (n == 0)
        return NULL;
    while (n > 1 && path[n - 1] == '/')
        n--;
    return base_xstrndup(path, n);
}

char *fs_parent_path(const char *path) {
    return fs_parent(path);
}

int fs_mkdirs(const char *path) {
    if (!*path)
        return 0;
    if (mkdir(path, 0777) == 0)
        return 0;
    int err = errno;
    if (err == ENOENT) {
        char *parent = fs_parent(path);
        if (parent) {
            int r = fs_mkdirs(parent);
            free(parent);
            if (r != 0)
                return r;
            if (mkdir(path, 0777) == 0)
                return 0;
            err = errno;
        }
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return err;
}

/* Remove everything inside the directory open at dirfd (which this function closes).
 * Never follows symlinks: subdirectories are opened with O_NOFOLLOW relative to their
 * parent, so a directory swapped for a link meanwhile is not traversed. */
static int fs_remove_contents(int dirfd) {
    DIR *d = fdopendir(dirfd);
    if (!d) {
        int err = errno;
        close(dirfd);
        return err;
    }
    int first_err = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        bool dir = de->d_type == DT_DIR;
        if (!dir && unlinkat(dirfd, n, 0) == 0)
            continue;
        if (!dir && errno != EISDIR) {
            if (errno != ENOENT && !first_err)
                first_err = errno;
            continue;
        }
        int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            /* d_type said directory but it is not one (any more): try it as a file. */
            if ((errno == ENOTDIR || errno == ELOOP) && unlinkat(dirfd, n, 0) == 0)
                continue;
            if (errno != ENOENT && !first_err)
                first_err = errno;
            continue;
        }
        int r = fs_remove_contents(sub);
        if (r == 0 && unlinkat(dirfd, n, AT_REMOVEDIR) != 0 && errno != ENOENT)
            r = errno;
        if (r && !first_err)
            first_err = r;
        errno = 0;
    }
    if (errno && !first_err)
        first_err = errno;
    closedir(d);
    return first_err;
}

int fs_remove(const char *path, bool recursive) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : errno;
    if (recursive) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno;
        int r = fs_remove_contents(fd);
        if (r)
            return r;
    }
    return rmdir(path) == 0 ? 0 : errno;
}

json_t *fs_stat_json(const char *name, const char *path, const struct stat *st) {
    char when[64];
    fs_rfc3339((int64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, when, sizeof when);
    json_t *o = json_object();
    if (name) {
        char *n = fs_utf8_lossy(name);
        json_object_set_new(o, "name", json_string(n));
        free(n);
    }
    char *p = fs_utf8_lossy(path);
    json_object_set_new(o, "path", json_string(p));
    free(p);
    json_object_set_new(o, "entryType", json_string(S_ISDIR(st->st_mode) ? "directory" : "file"));
    json_object_set_new(o, "size", json_integer((json_int_t)st->st_size));
    json_object_set_new(o, "modified", json_string(when));
    return o;
}

/* ---- jobs --------------------------------------------------------------------------------- */

static void fs_job_work(uv_work_t *w) {
    fs_job *j = w->data;
    j->fn(j);
}

static void fs_job_after(uv_work_t *w, int status) {
    fs_job *j = w->data;
    if (status == UV_ECANCELED && !j->err.status)
        fs_err_stream(&j->err, "operation cancelled");
    if (j->req)
        http_req_on_abort(j->req, NULL, NULL);
    j->done(j);
}

static void fs_job_abort(http_req *req, void *ud) {
    fs_job *j = ud;
    j->req = NULL; /* the work still finishes; done then only cleans up */
}

fs_job *fs_job_new(http_req *req, void (*fn)(fs_job *), void (*done)(fs_job *)) {
    fs_job *j = base_xcalloc(1, sizeof *j);
    j->req = req;
    j->fn = fn;
    j->done = done ? done : fs_job_done_reply;
    j->work.data = j;
    return j;
}

void fs_job_start(fs_job *j) {
    http_req_on_abort(j->req, fs_job_abort, j);
    int r = uv_queue_work(http_req_loop(j->req), &j->work, fs_job_work, fs_job_after);
    if (r != 0) {
        fs_err_stream(&j->err, uv_strerror(r));
        http_req_on_abort(j->req, NULL, NULL);
        j->done(j);
    }
}

void fs_job_free(fs_job *j) {
    free(j->path);
    free(j->path2);
    fs_err_clear(&j->err);
    json_decref(j->result);
    free(j);
}

void fs_job_done_reply(fs_job *j) {
    if (j->req) {
        if (j->err.status) {
            fs_reply_err(j->req, &j->err);
        } else {
            http_reply_json(j->req, 200, j->result);
            j->result = NULL;
        }
    }
    fs_job_free(j);
}
