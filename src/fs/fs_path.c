/* fs_path.c - pure path and text helpers of the fs module: relative-path normalisation,
 * $HOME resolution, joining, RFC 3339 times, lossy UTF-8. No I/O happens here, so
 * everything is unit-tested and fuzzed directly. */
#include "archive/archive.h"
#include "fs/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *fs_rel_normalize(const char *rel) {
    /* The same rule as archive entry names, so one implementation serves both. */
    return sa_archive_rel_normalize(rel);
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
