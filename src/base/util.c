/* util.c - time, string, environment, JSON and path helpers shared by every module. */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t base_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t base_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int base_hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *base_percent_decode(const char *s, size_t len, bool plus_is_space) {
    char *out = base_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len) {
                free(out);
                return NULL;
            }
            int h = base_hexval(s[i + 1]), l = base_hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == 0) {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

bool base_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        if (c == 0)
            return false;
        if (c < 0x80)
            continue;
        int extra;
        unsigned min;
        if ((c & 0xE0) == 0xC0) {
            extra = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (end - p < extra)
            return false;
        for (int i = 0; i < extra; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3F);
        }
        p += extra;
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
    }
    return true;
}

bool base_ct_equal(const char *a, size_t alen, const char *b, size_t blen) {
    /* Compare over the longer length so timing reveals only lengths, never content. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

bool base_ascii_ieq(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

static bool base_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

const char *base_trim(const char *s, size_t *len) {
    size_t n = *len;
    while (n && base_is_space(*s)) {
        s++;
        n--;
    }
    while (n && base_is_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

bool base_parse_u64(const char *s, size_t len, uint64_t *out) {
    if (len == 0)
        return false;
    /* Leading zeros never overflow: skip them before the length check. */
    while (len > 1 && s[0] == '0') {
        s++;
        len--;
    }
    if (len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int64_t base_env_int(const char *name, int64_t def, int64_t min, int64_t max) {
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || !end || *end) {
        LOG_WARN("ignoring malformed integer environment variable", "name=%s", name);
        return def;
    }
    if (x < min)
        return min;
    if (x > max)
        return max;
    return x;
}

void base_random_hex(char *out, size_t nbytes) {
    unsigned char raw[64];
    if (nbytes > sizeof raw)
        nbytes = sizeof raw;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r <= 0) {
            /* getrandom only fails before the pool is seeded; fall back to time mixing. */
            uint64_t t = base_mono_ms() ^ (uint64_t)getpid() * 2654435761u;
            for (; got < nbytes; got++)
                raw[got] = (unsigned char)(t >> ((got % 8) * 8));
            break;
        }
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = 0;
}

char *base_json_compact(const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        s = base_xstrdup("null");
    return s;
}

json_t *base_json_parse(const char *s, size_t len, char *err, size_t errcap) {
    json_error_t e;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v && err && errcap)
        snprintf(err, errcap, "%s at line %d column %d", e.text, e.line, e.column);
    return v;
}

const char *base_data_dir(void) {
    static char path[PATH_MAX];
    if (path[0])
        return path;
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/sandbox-agent", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.local/share/sandbox-agent", home);
    else
        snprintf(path, sizeof path, "./.sandbox-agent");
    return path;
}

int base_mkdirs(const char *path) {
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int base_write_file_atomic(const char *path, const void *data, size_t len, int mode) {
    char *tmp = base_xasprintf("%s.tmp.%d", path, (int)getpid());
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        r = -errno;
    } else {
        const char *p = data;
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(fd, p + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r = w < 0 ? -errno : -EIO;
                break;
            }
            off += (size_t)w;
        }
        /* open() honours the umask; the caller asked for exactly this mode. */
        if (r == 0 && fchmod(fd, (mode_t)mode) < 0)
            r = -errno;
        if (close(fd) < 0 && r == 0)
            r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
            r = -errno;
    }
    if (r < 0)
        unlink(tmp);
    free(tmp);
    return r;
}

const char *base_self_exe(void) {
    static char path[PATH_MAX];
    if (path[0])
        return path;
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        snprintf(path, sizeof path, "sandbox-agent");
    else
        path[n] = 0;
    return path;
}
