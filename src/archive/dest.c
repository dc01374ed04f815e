/* dest.c - the destination writer: the only code that puts archive entries on disk.
 *
 * Everything is relative to one descriptor of the destination. The directory holding an
 * entry is reached component by component with O_NOFOLLOW (after one openat2 attempt with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, which does the same walk in the kernel), so a
 * symlink on the way is never followed, whether the archive made it or it was there before.
 * Regular files, symlinks and hard links replace an existing non-directory by unlinking it
 * first: an existing file or link is never opened for writing.
 *
 * Symlink targets are judged three times: lexically (check.c), against the tree at creation
 * (sa_archive_link_inside follows the symlinks already there, as the kernel would), and at
 * the end against the final tree, because a later entry can change what an earlier link's
 * text means. See archive.h for the rules as a whole. */
#include "archive/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Symlinks expanded while resolving one link target before giving up (the kernel's bound). */
#define SA_ARCHIVE_MAX_HOPS 40

/* A directory whose mode and mtime are applied after all entries. Owner: the dest's array. */
struct sa_archive_dirfix {
    char *rel;
    mode_t mode;
    bool has_time;
    struct timespec mtime;
};

static bool sa_archive_cancelled(const sa_archive_dest *d) {
    return d->o->cancel && atomic_load(d->o->cancel);
}

static void sa_archive_set_cancelled(sa_archive_dest *d) {
    sa_archive_err_set(d->err, SA_ARCHIVE_CANCELLED, 0, NULL, "extraction cancelled");
}

/* dest joined with the first n components, for messages and the reported paths. */
static char *sa_archive_path(const sa_archive_dest *d, const sa_archive_comps *c, size_t n) {
    char *rel = sa_archive_comps_join(c, n);
    char *p = sa_archive_join(d->dest, rel);
    free(rel);
    return p;
}

/* ---- walking down without following symlinks ----------------------------------------------- */

/* openat2 is tried until the kernel (or a seccomp filter) says it does not have it. */
static atomic_bool sa_archive_no_openat2;

/* The directory rel below rootfd in one call, refusing symlinks and anything leaving the
 * root; -1 with errno otherwise. */
static int sa_archive_openat2_dir(int rootfd, const char *rel) {
    if (atomic_load(&sa_archive_no_openat2)) {
        errno = ENOSYS;
        return -1;
    }
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG))
        atomic_store(&sa_archive_no_openat2, true);
    return fd;
}

/* Open the directory made of c[0..n) below the root, creating missing ones when asked,
 * never following a symlink. Returns an fd, or -1 with d->err set (if report). */
static int sa_archive_walk(sa_archive_dest *d, const sa_archive_comps *c, size_t n, bool create,
                           bool report) {
    if (n > 0) {
        /* Most entries land in a directory that exists already: one system call. Any
         * failure (missing, a symlink on the way, no openat2) takes the slow path, which
         * creates what is missing and says precisely what went wrong. */
        char *rel = sa_archive_comps_join(c, n);
        int fd = sa_archive_openat2_dir(d->rootfd, rel);
        free(rel);
        if (fd >= 0)
            return fd;
    }
    int fd = openat(d->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (report)
            sa_archive_err_os(d->err, errno, d->dest);
        return -1;
    }
    const int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    for (size_t i = 0; i < n; i++) {
        int sub = openat(fd, c->v[i], fl);
        if (sub < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, c->v[i], 0777) == 0 || errno == EEXIST)
                sub = openat(fd, c->v[i], fl);
        }
        if (sub < 0) {
            int err = errno;
            if (report) {
                char *p = sa_archive_path(d, c, i + 1);
                struct stat st;
                if ((err == ELOOP || err == ENOTDIR) &&
                    fstatat(fd, c->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                    sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                                       "refusing to extract through a symlink: %s", p);
                else
                    sa_archive_err_os(d->err, err, p);
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

/* ---- where a symlink leads ------------------------------------------------------------------- */

/* Push the components of target onto pending so that the first one is on top. */
static void sa_archive_pending_push(sa_archive_comps *pending, const sa_archive_comps *t) {
    for (size_t i = t->n; i-- > 0;)
        sa_archive_comps_push(pending, t->v[i], strlen(t->v[i]));
}

/* Resolution state: the real directories reached (fds[0] is the root, not owned) plus a
 * count of components below them that do not exist as directories, judged by their text. */
typedef struct sa_archive_resolve {
    int *fds;
    size_t depth, cap, virt;
} sa_archive_resolve;

static void sa_archive_resolve_reset(sa_archive_resolve *r) {
    while (r->depth > 0)
        close(r->fds[r->depth--]);
    r->virt = 0;
}

/* Expand target (read from a symlink or an entry) into pending. False when an absolute
 * target is not under the destination. */
static bool sa_archive_resolve_target(const sa_archive_dest *d, sa_archive_resolve *r,
                                      sa_archive_comps *pending, const char *target) {
    sa_archive_comps t = {0};
    if (target[0] == '/') {
        if (!sa_archive_abs_inside(d->dest, target, &t))
            return false;
        sa_archive_resolve_reset(r);
    } else {
        sa_archive_comps_split(&t, target);
    }
    sa_archive_pending_push(pending, &t);
    sa_archive_comps_free(&t);
    return true;
}

/* One named component below the current directory. False when it cannot be judged: any
 * failure other than "not there" (EMFILE, EACCES, ...) refuses rather than guesses. */
static bool sa_archive_resolve_step(const sa_archive_dest *d, sa_archive_resolve *r,
                                    sa_archive_comps *pending, const char *name, int *hops) {
    if (r->virt > 0) {
        r->virt++; /* below a missing or non-directory component: judged by its text */
        return true;
    }
    int cur = r->fds[r->depth];
    struct stat st;
    if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return false;
        r->virt++; /* missing: the kernel stops here; the rest still must not climb out */
        return true;
    }
    if (S_ISLNK(st.st_mode)) {
        if (++*hops > SA_ARCHIVE_MAX_HOPS)
            return false;
        char buf[PATH_MAX];
        ssize_t n = readlinkat(cur, name, buf, sizeof buf);
        if (n <= 0 || (size_t)n >= sizeof buf)
            return false;
        buf[n] = 0;
        return sa_archive_resolve_target(d, r, pending, buf);
    }
    if (!S_ISDIR(st.st_mode)) {
        r->virt++; /* a file: anything after it fails with ENOTDIR */
        return true;
    }
    int sub = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return false;
    if (r->depth + 1 == r->cap) {
        r->cap *= 2;
        r->fds = base_xrealloc(r->fds, r->cap * sizeof *r->fds);
    }
    r->fds[++r->depth] = sub;
    return true;
}

/* True when a symlink in the directory c[0..n) with this target resolves inside the
 * destination, following the symlinks now on disk the way the kernel would; a missing
 * component ends the lookup there, and the rest of the path is then judged by its text. */
static bool sa_archive_link_inside(const sa_archive_dest *d, const sa_archive_comps *c, size_t n,
                                   const char *target) {
    sa_archive_resolve r = {.cap = 16};
    r.fds = base_xmalloc(r.cap * sizeof *r.fds);
    r.fds[0] = d->rootfd;
    /* The link's own directory first, then its target, through the same steps. */
    sa_archive_comps pending = {0};
    for (size_t i = n; i-- > 0;)
        sa_archive_comps_push(&pending, c->v[i], strlen(c->v[i]));
    int hops = 0;
    bool ok = true;
    while (ok) {
        if (pending.n == 0) {
            if (!target)
                break;
            ok = sa_archive_resolve_target(d, &r, &pending, target);
            target = NULL;
            continue;
        }
        char *name = pending.v[--pending.n];
        if (!strcmp(name, "..")) {
            if (r.virt > 0)
                r.virt--;
            else if (r.depth > 0)
                close(r.fds[r.depth--]);
            else
                ok = false; /* above the root */
        } else {
            ok = sa_archive_resolve_step(d, &r, &pending, name, &hops);
        }
        free(name);
    }
    sa_archive_comps_free(&pending);
    sa_archive_resolve_reset(&r);
    free(r.fds);
    return ok;
}

/* ---- writing entries ---------------------------------------------------------------------- */

static bool sa_archive_write_all(int fd, const char *p, size_t n) {
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

static void sa_archive_too_many_bytes(sa_archive_dest *d) {
    sa_archive_err_set(d->err, SA_ARCHIVE_TOO_MANY_BYTES, 0, NULL,
                       "archive content exceeds the limit of %llu bytes",
                       (unsigned long long)d->o->limits.max_bytes);
}

/* Create name in pfd with make(); an existing non-directory there is replaced. */
static int sa_archive_replace(int pfd, const char *name, int (*make)(int, const char *, void *),
                              void *arg) {
    int r = make(pfd, name, arg);
    if (r >= 0 || errno != EEXIST)
        return r;
    if (unlinkat(pfd, name, 0) != 0)
        return -1; /* EISDIR: a directory is never replaced */
    return make(pfd, name, arg);
}

static int sa_archive_make_file(int pfd, const char *name, void *arg) {
    return openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int sa_archive_make_symlink(int pfd, const char *name, void *arg) {
    return symlinkat(arg, pfd, name);
}

typedef struct sa_archive_linkarg {
    int tpfd;
    const char *tname;
} sa_archive_linkarg;

static int sa_archive_make_link(int pfd, const char *name, void *arg) {
    sa_archive_linkarg *l = arg;
    return linkat(l->tpfd, l->tname, pfd, name, 0);
}

static bool sa_archive_file(sa_archive_dest *d, const sa_archive_item *it, sa_archive_data_fn data,
                            void *ud, int pfd, const char *name, const char *path) {
    /* A declared size over the budget fails before anything is created. */
    if (it->size_set && it->size > 0 && (uint64_t)it->size > d->o->limits.max_bytes - d->bytes) {
        sa_archive_too_many_bytes(d);
        return false;
    }
    int fd = sa_archive_replace(pfd, name, sa_archive_make_file, NULL);
    if (fd < 0) {
        sa_archive_err_os(d->err, errno, path);
        return false;
    }
    bool ok = true;
    for (;;) {
        if (sa_archive_cancelled(d)) {
            sa_archive_set_cancelled(d);
            ok = false;
            break;
        }
        const void *blk;
        ssize_t n = data(ud, &blk);
        if (n < 0) {
            ok = false; /* the reader said why */
            break;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > d->o->limits.max_bytes - d->bytes) {
            sa_archive_too_many_bytes(d);
            ok = false;
            break;
        }
        d->bytes += (uint64_t)n;
        if (!sa_archive_write_all(fd, blk, (size_t)n)) {
            sa_archive_err_os(d->err, errno, path);
            ok = false;
            break;
        }
    }
    if (ok) {
        (void)fchmod(fd, it->perm & 0777);
        if (it->has_mtime) {
            struct timespec ts[2] = {it->mtime, it->mtime};
            (void)futimens(fd, ts);
        }
    }
    if (close(fd) != 0 && ok) {
        sa_archive_err_os(d->err, errno, path);
        ok = false;
    }
    if (!ok)
        (void)unlinkat(pfd, name, 0); /* never leave a truncated file behind */
    return ok;
}

static bool sa_archive_dir(sa_archive_dest *d, const sa_archive_item *it, int pfd, const char *name,
                           const char *rel, const char *path) {
    if (mkdirat(pfd, name, 0700) != 0) {
        struct stat st;
        int err = errno;
        if (err != EEXIST || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode)) {
            sa_archive_err_os(d->err, err, path);
            return false;
        }
    }
    if (d->ndirs == d->capdirs) {
        d->capdirs = d->capdirs ? d->capdirs * 2 : 16;
        d->dirs = base_xrealloc(d->dirs, d->capdirs * sizeof *d->dirs);
    }
    struct sa_archive_dirfix *f = &d->dirs[d->ndirs++];
    f->rel = base_xstrdup(rel);
    f->mode = it->perm & 0777;
    f->has_time = it->has_mtime;
    f->mtime = it->mtime;
    return true;
}

static bool sa_archive_symlink(sa_archive_dest *d, const sa_archive_item *it,
                               const sa_archive_comps *c, int pfd, const char *rel,
                               const char *path) {
    const char *name = c->v[c->n - 1];
    if (!sa_archive_link_inside(d, c, c->n - 1, it->link)) {
        sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                           "symlink points outside the destination: %s -> %s", it->name, it->link);
        return false;
    }
    if (sa_archive_replace(pfd, name, sa_archive_make_symlink, (void *)it->link) != 0) {
        sa_archive_err_os(d->err, errno, path);
        return false;
    }
    if (it->has_mtime) {
        struct timespec ts[2] = {it->mtime, it->mtime};
        (void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
    }
    json_object_set_new_nocheck(d->links, rel, json_true());
    return true;
}

static bool sa_archive_hardlink(sa_archive_dest *d, const sa_archive_item *it, int pfd,
                                const char *name, const char *path) {
    char *rel = sa_archive_rel_normalize(it->link); /* validated: relative, no "..", not empty */
    sa_archive_comps c = {0};
    sa_archive_comps_split(&c, rel);
    bool ok = false;
    int tpfd = sa_archive_walk(d, &c, c.n - 1, false, true);
    if (tpfd >= 0) {
        char *tpath = sa_archive_path(d, &c, c.n);
        struct stat st;
        if (fstatat(tpfd, c.v[c.n - 1], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            sa_archive_err_os(d->err, errno, tpath);
        } else if (S_ISDIR(st.st_mode)) {
            sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                               "hard link target is a directory: %s", tpath);
        } else if (S_ISLNK(st.st_mode)) {
            /* Another name for a symlink, at another depth, would give its relative text
             * another meaning: "a/b/l -> ../../x" is inside, the same link as "h" is not. */
            sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                               "hard link target is a symlink: %s", tpath);
        } else if (!json_object_get(d->files, rel)) {
            /* A file that was on disk before (a secret in the destination, say) gets no
             * second name from an archive. */
            sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                               "hard link target is not a file extracted earlier from the "
                               "archive: %s",
                               tpath);
        } else {
            sa_archive_linkarg l = {tpfd, c.v[c.n - 1]};
            if (sa_archive_replace(pfd, name, sa_archive_make_link, &l) != 0)
                sa_archive_err_os(d->err, errno, path);
            else
                ok = true;
        }
        free(tpath);
        close(tpfd);
    }
    sa_archive_comps_free(&c);
    free(rel);
    return ok;
}

/* The name and link limits, beyond the lexical check. */
static bool sa_archive_within_limits(sa_archive_dest *d, const sa_archive_item *it, const char *rel,
                                     size_t depth) {
    const sa_archive_limits *l = &d->o->limits;
    if (strlen(rel) > l->max_path) {
        sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                           "entry name longer than %zu bytes: %.100s...", l->max_path, rel);
        return false;
    }
    if (depth > l->max_depth) {
        sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                           "entry name deeper than %zu directories: %.100s...", l->max_depth, rel);
        return false;
    }
    if (it->link && strlen(it->link) > l->max_path) {
        sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                           "link target longer than %zu bytes: %s", l->max_path, rel);
        return false;
    }
    return true;
}

bool sa_archive_dest_entry(sa_archive_dest *d, const sa_archive_item *it, sa_archive_data_fn data,
                           void *ud) {
    if (sa_archive_cancelled(d)) {
        sa_archive_set_cancelled(d);
        return false;
    }
    if (++d->entries > d->o->limits.max_entries) {
        sa_archive_err_set(d->err, SA_ARCHIVE_TOO_MANY_ENTRIES, 0, NULL,
                           "archive has more than %llu entries",
                           (unsigned long long)d->o->limits.max_entries);
        return false;
    }
    const char *name = it->name ? it->name : ""; /* a name libarchive could not convert */
    char *why = NULL;
    if (!sa_archive_entry_safe(d->dest, name, it->type, it->link, &why)) {
        sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL, "%s", why);
        free(why);
        return false;
    }
    char *rel = sa_archive_rel_normalize(name);
    if (!rel[0]) {
        free(rel); /* the root entry ("./"): nothing to create */
        return true;
    }
    sa_archive_comps c = {0};
    sa_archive_comps_split(&c, rel);
    char *path = sa_archive_path(d, &c, c.n);
    bool ok = false;
    int pfd = sa_archive_within_limits(d, it, rel, c.n)
                  ? sa_archive_walk(d, &c, c.n - 1, true, true)
                  : -1;
    if (pfd >= 0) {
        const char *last = c.v[c.n - 1];
        switch (it->type) {
        case SA_ARCHIVE_FILE:
            ok = sa_archive_file(d, it, data, ud, pfd, last, path);
            break;
        case SA_ARCHIVE_DIR:
            ok = sa_archive_dir(d, it, pfd, last, rel, path);
            break;
        case SA_ARCHIVE_SYMLINK:
            ok = sa_archive_symlink(d, it, &c, pfd, rel, path);
            break;
        default:
            ok = sa_archive_hardlink(d, it, pfd, last, path);
            break;
        }
        close(pfd);
    }
    if (ok) {
        /* Keep the sets true to the tree: a name is in at most one of them. */
        if (it->type == SA_ARCHIVE_FILE || it->type == SA_ARCHIVE_HARDLINK)
            json_object_set_new_nocheck(d->files, rel, json_true());
        else
            json_object_del(d->files, rel);
        if (it->type != SA_ARCHIVE_SYMLINK)
            json_object_del(d->links, rel);
        if (d->o->on_entry)
            d->o->on_entry(path, d->o->ud);
    }
    free(path);
    sa_archive_comps_free(&c);
    free(rel);
    return ok;
}

/* ---- the end ------------------------------------------------------------------------------- */

/* Re-check one of the archive's symlinks against the final tree; remove it if it leads out.
 * True when it is fine (or gone). */
static bool sa_archive_recheck_link(sa_archive_dest *d, const char *rel) {
    sa_archive_comps c = {0};
    sa_archive_comps_split(&c, rel);
    bool ok = true;
    int pfd = sa_archive_walk(d, &c, c.n - 1, false, false);
    if (pfd >= 0) {
        const char *name = c.v[c.n - 1];
        char target[PATH_MAX];
        ssize_t n = readlinkat(pfd, name, target, sizeof target);
        if (n > 0 && (size_t)n < sizeof target) {
            target[n] = 0;
            if (!sa_archive_link_inside(d, &c, c.n - 1, target)) {
                (void)unlinkat(pfd, name, 0);
                ok = false;
                if (d->err->status == SA_ARCHIVE_OK)
                    sa_archive_err_set(d->err, SA_ARCHIVE_REFUSED, 0, NULL,
                                       "symlink points outside the destination: %s -> %s "
                                       "(after later entries)",
                                       rel, target);
            }
        }
        close(pfd);
    }
    sa_archive_comps_free(&c);
    return ok;
}

/* Directory modes and mtimes, last-created first; best effort. */
static void sa_archive_apply_dirs(sa_archive_dest *d) {
    for (size_t i = d->ndirs; i-- > 0;) {
        struct sa_archive_dirfix *f = &d->dirs[i];
        sa_archive_comps c = {0};
        sa_archive_comps_split(&c, f->rel);
        int fd = sa_archive_walk(d, &c, c.n, false, false);
        if (fd >= 0) {
            (void)fchmod(fd, f->mode);
            if (f->has_time) {
                struct timespec ts[2] = {f->mtime, f->mtime};
                (void)futimens(fd, ts);
            }
            close(fd);
        }
        sa_archive_comps_free(&c);
    }
}

bool sa_archive_dest_finish(sa_archive_dest *d, bool ok) {
    /* Links before modes: a directory about to become read-only may hold one to remove. */
    const char *rel;
    json_t *v;
    json_object_foreach(d->links, rel, v) {
        if (!sa_archive_recheck_link(d, rel))
            ok = false;
    }
    sa_archive_apply_dirs(d);
    return ok;
}

bool sa_archive_dest_open(sa_archive_dest *d, const char *dest, const sa_archive_opts *o,
                          sa_archive_err *err) {
    memset(d, 0, sizeof *d);
    d->dest = dest;
    d->o = o;
    d->err = err;
    d->links = json_object();
    d->files = json_object();
    d->rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->rootfd < 0) {
        sa_archive_err_os(err, errno, dest);
        return false;
    }
    return true;
}

void sa_archive_dest_close(sa_archive_dest *d) {
    for (size_t i = 0; i < d->ndirs; i++)
        free(d->dirs[i].rel);
    free(d->dirs);
    json_decref(d->links);
    json_decref(d->files);
    if (d->rootfd >= 0)
        close(d->rootfd);
    d->rootfd = -1;
}
