/* check.c - the archive module's pure parts: path components, name normalisation, the
 * lexical entry check, error values and limits. No file-system I/O happens here, so all of
 * it is unit-tested and fuzzed directly. */
#include "archive/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- components -------------------------------------------------------------------------- */

void sa_archive_comps_push(sa_archive_comps *c, const char *s, size_t len) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = base_xrealloc(c->v, c->cap * sizeof(char *));
    }
    c->v[c->n++] = base_xstrndup(s, len);
}

void sa_archive_comps_pop(sa_archive_comps *c) {
    free(c->v[--c->n]);
}

void sa_archive_comps_free(sa_archive_comps *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

void sa_archive_comps_split(sa_archive_comps *c, const char *p) {
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len > 0 && !(len == 1 && p[0] == '.'))
            sa_archive_comps_push(c, p, len);
        if (!slash)
            break;
        p = slash + 1;
    }
}

bool sa_archive_comps_has_dotdot(const sa_archive_comps *c) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i], ".."))
            return true;
    return false;
}

char *sa_archive_comps_join(const sa_archive_comps *c, size_t n) {
    base_buf b;
    base_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i)
            base_buf_append(&b, "/", 1);
        base_buf_appends(&b, c->v[i]);
    }
    base_buf_append(&b, "", 0);
    if (!b.data)
        return base_xstrdup("");
    return base_buf_steal(&b, NULL);
}

char *sa_archive_rel_normalize(const char *rel) {
    if (!rel || rel[0] == '/')
        return NULL;
    sa_archive_comps c = {0};
    sa_archive_comps_split(&c, rel);
    char *out = sa_archive_comps_has_dotdot(&c) ? NULL : sa_archive_comps_join(&c, c.n);
    sa_archive_comps_free(&c);
    return out;
}

char *sa_archive_join(const char *base, const char *rel) {
    size_t bl = strlen(base);
    if (bl > 0 && base[bl - 1] == '/')
        return base_xasprintf("%s%s", base, rel);
    return base_xasprintf("%s/%s", base, rel);
}

/* ---- the lexical entry check ---------------------------------------------------------------- */

static bool sa_archive_refuse(char **why, const char *fmt, const char *a, const char *b) {
    if (why)
        *why = b ? base_xasprintf(fmt, a, b) : base_xasprintf(fmt, a);
    return false;
}

/* Resolve a symlink target lexically from the entry's directory (comps of the entry minus
 * its last component). False when it climbs above the root. */
static bool sa_archive_symlink_inside(const sa_archive_comps *entry, const char *target) {
    sa_archive_comps cur = {0};
    for (size_t i = 0; i + 1 < entry->n; i++)
        sa_archive_comps_push(&cur, entry->v[i], strlen(entry->v[i]));
    sa_archive_comps t = {0};
    sa_archive_comps_split(&t, target);
    bool ok = true;
    for (size_t i = 0; i < t.n && ok; i++) {
        if (!strcmp(t.v[i], "..")) {
            if (cur.n == 0)
                ok = false;
            else
                sa_archive_comps_pop(&cur);
        } else {
            sa_archive_comps_push(&cur, t.v[i], strlen(t.v[i]));
        }
    }
    sa_archive_comps_free(&t);
    sa_archive_comps_free(&cur);
    return ok;
}

bool sa_archive_abs_inside(const char *root, const char *target, sa_archive_comps *rest) {
    if (!root || root[0] != '/' || !target || target[0] != '/')
        return false;
    sa_archive_comps r = {0}, t = {0};
    sa_archive_comps_split(&r, root);
    sa_archive_comps_split(&t, target);
    /* Component-wise, so that "/dst2" is not under "/dst". */
    bool ok = !sa_archive_comps_has_dotdot(&r) && !sa_archive_comps_has_dotdot(&t) && t.n >= r.n;
    for (size_t i = 0; ok && i < r.n; i++)
        ok = !strcmp(r.v[i], t.v[i]);
    if (ok && rest)
        for (size_t i = r.n; i < t.n; i++)
            sa_archive_comps_push(rest, t.v[i], strlen(t.v[i]));
    sa_archive_comps_free(&r);
    sa_archive_comps_free(&t);
    return ok;
}

bool sa_archive_entry_safe(const char *dest_root, const char *entry_path, int entry_type,
                           const char *link_target, char **why) {
    if (why)
        *why = NULL;
    if (!entry_path)
        return sa_archive_refuse(why, "invalid relative path: %s", "", NULL);
    if (entry_path[0] == '/')
        return sa_archive_refuse(why, "invalid relative path: %s", entry_path, NULL);
    sa_archive_comps c = {0};
    sa_archive_comps_split(&c, entry_path);
    bool ok = true;
    if (sa_archive_comps_has_dotdot(&c)) {
        ok = sa_archive_refuse(why, "invalid relative path: %s", entry_path, NULL);
    } else if (entry_type != SA_ARCHIVE_FILE && entry_type != SA_ARCHIVE_DIR &&
               entry_type != SA_ARCHIVE_SYMLINK && entry_type != SA_ARCHIVE_HARDLINK) {
        ok = sa_archive_refuse(why,
                               "unsupported entry type (only files, directories and links are "
                               "extracted): %s",
                               entry_path, NULL);
    } else if (c.n == 0 && entry_type != SA_ARCHIVE_DIR) {
        ok = sa_archive_refuse(why, "entry would replace the destination directory: %s", entry_path,
                               NULL);
    } else if (entry_type == SA_ARCHIVE_SYMLINK) {
        if (!link_target || !link_target[0])
            ok = sa_archive_refuse(why, "symlink without a target: %s", entry_path, NULL);
        else if (link_target[0] == '/' ? !sa_archive_abs_inside(dest_root, link_target, NULL)
                                       : !sa_archive_symlink_inside(&c, link_target))
            ok = sa_archive_refuse(why, "symlink points outside the destination: %s -> %s",
                                   entry_path, link_target);
    } else if (entry_type == SA_ARCHIVE_HARDLINK) {
        char *t = sa_archive_rel_normalize(link_target);
        if (!t || !t[0])
            ok = sa_archive_refuse(why, "hard link points outside the destination: %s -> %s",
                                   entry_path, link_target ? link_target : "");
        free(t);
    }
    sa_archive_comps_free(&c);
    return ok;
}

/* ---- errors and limits ----------------------------------------------------------------------- */

void sa_archive_err_clear(sa_archive_err *e) {
    free(e->path);
    free(e->msg);
    memset(e, 0, sizeof *e);
}

void sa_archive_err_set(sa_archive_err *e, sa_archive_status st, int errnum, const char *path,
                        const char *fmt, ...) {
    sa_archive_err_clear(e);
    e->status = st;
    e->errnum = errnum;
    e->path = path ? base_xstrdup(path) : NULL;
    va_list ap;
    va_start(ap, fmt);
    e->msg = base_xvasprintf(fmt, ap);
    va_end(ap);
}

void sa_archive_err_os(sa_archive_err *e, int errnum, const char *path) {
    char buf[128];
    /* GNU strerror_r: thread-safe, returns a pointer to the text. */
    const char *s = strerror_r(errnum, buf, sizeof buf);
    sa_archive_err_set(e, SA_ARCHIVE_OS, errnum, path, "%s: %s", path, s);
}

void sa_archive_limits_from_env(sa_archive_limits *lim) {
    lim->max_bytes = (uint64_t)base_env_int("SANDBOX_AGENT_MAX_EXTRACT_BYTES",
                                            (int64_t)SA_ARCHIVE_DEFAULT_MAX_BYTES, 0, INT64_MAX);
    lim->max_entries = (uint64_t)base_env_int("SANDBOX_AGENT_MAX_EXTRACT_ENTRIES",
                                              SA_ARCHIVE_DEFAULT_MAX_ENTRIES, 0, INT64_MAX);
    lim->max_path = SA_ARCHIVE_DEFAULT_MAX_PATH;
    lim->max_depth = SA_ARCHIVE_DEFAULT_MAX_DEPTH;
}
