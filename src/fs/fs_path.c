/* fs_path.c - pure path and text helpers of the fs module: relative-path normalisation,
 * $HOME resolution, joining, RFC 3339 times, lossy UTF-8, and the lexical safety check for
 * tar entries. No I/O happens here, so everything is unit-tested and fuzzed directly. */
#include "fs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Components of a path, split on '/'. Empty and "." components are dropped; ".." is kept
 * so that callers can decide. Owner: the caller; fs_comps_free releases. */
typedef struct fs_comps {
    char **v;
    size_t n, cap;
} fs_comps;

static void fs_comps_push(fs_comps *c, const char *s, size_t len) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = base_xrealloc(c->v, c->cap * sizeof(char *));
    }
    c->v[c->n++] = base_xstrndup(s, len);
}

static void fs_comps_pop(fs_comps *c) {
    free(c->v[--c->n]);
}

static void fs_comps_free(fs_comps *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

static void fs_comps_split(fs_comps *c, const char *p) {
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len > 0 && !(len == 1 && p[0] == '.'))
            fs_comps_push(c, p, len);
        if (!slash)
            break;
        p = slash + 1;
    }
}

static bool fs_comps_has_dotdot(const fs_comps *c) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i], ".."))
            return true;
    return false;
}

static char *fs_comps_join(const fs_comps *c) {
    base_buf b;
    base_buf_init(&b);
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            base_buf_append(&b, "/", 1);
        base_buf_appends(&b, c->v[i]);
    }
    base_buf_append(&b, "", 0);
    if (!b.data)
        return base_xstrdup("");
    return base_buf_steal(&b, NULL);
}

char *fs_rel_normalize(const char *rel) {
    if (!rel || rel[0] == '/')
        return NULL;
    fs_comps c = {0};
    fs_comps_split(&c, rel);
    char *out = fs_comps_has_dotdot(&c) ? NULL : fs_comps_join(&c);
    fs_comps_free(&c);
    return out;
}

char *fs_join(const char *base, const char *rel) {
    size_t bl = strlen(base);
    /* Like Rust's Path::join: a separator only when base does not already end in one, and
     * joining "" leaves a trailing '/' ("$HOME/"). */
    if (bl > 0 && base[bl - 1] == '/')
        return base_xasprintf("%s%s", base, rel);
    return base_xasprintf("%s/%s", base, rel);
}

char *fs_resolve_with_home(const char *home, const char *path) {
    if (path[0] == '/')
        return base_xstrdup(path);
    char *rel = fs_rel_normalize(path);
    if (!rel)
        return NULL;
    char *out = fs_join(home, rel);
    free(rel);
    return out;
}

void fs_rfc3339(int64_t sec, long nsec, char *out, size_t cap) {
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, cap, "1970-01-01T00:00:00+00:00");
        return;
    }
    char base[40];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nsec <= 0 || nsec > 999999999)
        snprintf(out, cap, "%s+00:00", base);
    else if (nsec % 1000000 == 0)
        snprintf(out, cap, "%s.%03ld+00:00", base, nsec / 1000000);
    else if (nsec % 1000 == 0)
        snprintf(out, cap, "%s.%06ld+00:00", base, nsec / 1000);
    else
        snprintf(out, cap, "%s.%09ld+00:00", base, nsec);
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t fs_utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

char *fs_utf8_lossy(const char *s) {
    size_t n = strlen(s);
    base_buf b;
    base_buf_init(&b);
    base_buf_reserve(&b, n + 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = fs_utf8_seq(p + i, n - i);
        if (k) {
            base_buf_append(&b, p + i, k);
            i += k;
        } else {
            base_buf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    base_buf_append(&b, "", 0);
    return base_buf_steal(&b, NULL);
}

/* ---- tar entry validation -------------------------------------------------------------- */

static bool fs_refuse(char **why, const char *fmt, const char *a, const char *b) {
    if (why)
        *why = b ? base_xasprintf(fmt, a, b) : base_xasprintf(fmt, a);
    return false;
}

/* Resolve a symlink target lexically from the entry's directory (comps of the entry minus
 * its last component). False when it climbs above the root. */
static bool fs_symlink_inside(const fs_comps *entry, const char *target) {
    fs_comps cur = {0};
    for (size_t i = 0; i + 1 < entry->n; i++)
        fs_comps_push(&cur, entry->v[i], strlen(entry->v[i]));
    fs_comps t = {0};
    fs_comps_split(&t, target);
    bool ok = true;
    for (size_t i = 0; i < t.n && ok; i++) {
        if (!strcmp(t.v[i], "..")) {
            if (cur.n == 0)
                ok = false;
            else
                fs_comps_pop(&cur);
        } else {
            fs_comps_push(&cur, t.v[i], strlen(t.v[i]));
        }
    }
    fs_comps_free(&t);
    fs_comps_free(&cur);
    return ok;
}

/* An absolute target is inside only if it lies lexically under an absolute, ".."-free
 * dest_root (compared component-wise, so "/dst2" is not under "/dst"). */
static bool fs_abs_inside(const char *dest_root, const char *target) {
    if (!dest_root || dest_root[0] != '/')
        return false;
    fs_comps r = {0}, t = {0};
    fs_comps_split(&r, dest_root);
    fs_comps_split(&t, target);
    bool ok = !fs_comps_has_dotdot(&r) && !fs_comps_has_dotdot(&t) && t.n >= r.n;
    for (size_t i = 0; ok && i < r.n; i++)
        ok = !strcmp(r.v[i], t.v[i]);
    fs_comps_free(&r);
    fs_comps_free(&t);
    return ok;
}

bool fs_tar_entry_safe(const char *dest_root, const char *entry_path, int entry_type,
                       const char *link_target, char **why) {
    if (why)
        *why = NULL;
    if (!entry_path)
        return fs_refuse(why, "invalid relative path: %s", "", NULL);
    if (entry_path[0] == '/')
        return fs_refuse(why, "invalid relative path: %s", entry_path, NULL);
    fs_comps c = {0};
    fs_comps_split(&c, entry_path);
    bool ok = true;
    if (fs_comps_has_dotdot(&c)) {
        ok = fs_refuse(why, "invalid relative path: %s", entry_path, NULL);
    } else if (entry_type != FS_TAR_FILE && entry_type != FS_TAR_DIR &&
               entry_type != FS_TAR_SYMLINK && entry_type != FS_TAR_HARDLINK) {
        ok = fs_refuse(why,
                       "unsupported entry type (only files, directories and links are "
                       "extracted): %s",
                       entry_path, NULL);
    } else if (c.n == 0 && entry_type != FS_TAR_DIR) {
        ok = fs_refuse(why, "entry would replace the destination directory: %s", entry_path, NULL);
    } else if (entry_type == FS_TAR_SYMLINK) {
        if (!link_target || !link_target[0])
            ok = fs_refuse(why, "symlink without a target: %s", entry_path, NULL);
        else if (link_target[0] == '/' ? !fs_abs_inside(dest_root, link_target)
                                       : !fs_symlink_inside(&c, link_target))
            ok = fs_refuse(why, "symlink points outside the destination: %s -> %s", entry_path,
                           link_target);
    } else if (entry_type == FS_TAR_HARDLINK) {
        char *t = link_target ? fs_rel_normalize(link_target) : NULL;
        if (!t || !t[0])
            ok = fs_refuse(why, "hard link points outside the destination: %s -> %s", entry_path,
                           link_target ? link_target : "");
        free(t);
    }
    fs_comps_free(&c);
    return ok;
}
