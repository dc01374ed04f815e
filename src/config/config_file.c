/* config_file.c - the config files themselves: where they live, reading one whole, and
 * replacing one atomically (temp file, fsync, rename). Blocking: the routes call these from
 * libuv's thread pool only (config.c), never from the event loop. */
#include "config/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files -------------------------------------------------------------------------------- */

/* Rust's io::Error text, which the reference puts in its 502 problems. */
void config_os_error(char *buf, size_t cap, int err) {
    snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

/* <directory>/.sandbox-agent/config/<file>. `directory` is used verbatim, and a relative
 * one is resolved against the server's cwd (not $HOME as in the fs API: quirk Q8). The
 * result is absolute so messages name the same path the reference names. */
char *config_file_path(const char *dir, const char *file) {
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    if (dir[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) {
            const char *csep = cwd[strlen(cwd) - 1] == '/' ? "" : "/";
            return base_xasprintf("%s%s%s%s.sandbox-agent/config/%s", cwd, csep, dir, sep, file);
        }
    }
    return base_xasprintf("%s%s.sandbox-agent/config/%s", dir, sep, file);
}

/* Well-formed UTF-8 where NUL bytes are allowed (base_utf8_valid refuses them). */
static bool config_utf8_valid(const char *s, size_t n) {
    while (n > 0) {
        const char *nul = memchr(s, 0, n);
        size_t seg = nul ? (size_t)(nul - s) : n;
        if (!base_utf8_valid(s, seg))
            return false;
        if (!nul)
            break;
        s += seg + 1;
        n -= seg + 1;
    }
    return true;
}

/* Read a whole config file into out. O_NONBLOCK plus the regular-file check keep a FIFO or
 * device planted at the path from blocking the event loop. */
config_read_result config_read(const char *path, base_buf *out, char *err, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return CONFIG_READ_MISSING;
        config_os_error(err, cap, errno);
        return CONFIG_READ_FAILED;
    }
    struct stat st;
    config_read_result r = CONFIG_READ_OK;
    if (fstat(fd, &st) < 0) {
        config_os_error(err, cap, errno);
        r = CONFIG_READ_FAILED;
    } else if (S_ISDIR(st.st_mode)) {
        config_os_error(err, cap, EISDIR);
        r = CONFIG_READ_FAILED;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, cap, "config file is not a regular file");
        r = CONFIG_READ_FAILED;
    }
    while (r == CONFIG_READ_OK) {
        if (out->len > CONFIG_MAX_FILE_BYTES) {
            snprintf(err, cap, "config file is larger than %zu bytes", CONFIG_MAX_FILE_BYTES);
            r = CONFIG_READ_FAILED;
            break;
        }
        base_buf_reserve(out, 64 * 1024);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            config_os_error(err, cap, errno);
            r = CONFIG_READ_FAILED;
        } else if (n == 0) {
            break;
        } else {
            out->len += (size_t)n;
        }
    }
    close(fd);
    if (r == CONFIG_READ_OK && !config_utf8_valid(out->data ? out->data : "", out->len)) {
        snprintf(err, cap, "stream did not contain valid UTF-8");
        r = CONFIG_READ_FAILED;
    }
    return r;
}

/* Replace the file at path with data: write a temp file next to it, fsync, rename. A
 * symlinked config file is written through (the link stays), and an existing file keeps
 * its mode and owner, like the reference's in-place write. Returns 0 or -errno. */
int config_write(const char *path, const char *data, size_t len) {
    struct stat st;
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        target = realpath(path, NULL);
    if (!target)
        target = base_xstrdup(path);
    bool existed = stat(target, &st) == 0;
    const char *slash = strrchr(target, '/');
    char hex[17];
    base_random_hex(hex, 8);
    /* A fixed-length name: a symlink target's long basename must not push it past NAME_MAX. */
    char *tmp = slash ? base_xasprintf("%.*s/.config-%s.tmp", (int)(slash - target), target, hex)
                      : base_xasprintf(".config-%s.tmp", hex);
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (existed) {
        if (fchmod(fd, st.st_mode & 07777) < 0)
            LOG_WARN("cannot keep config file mode", "errno=%d", errno);
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchown(fd, st.st_uid, st.st_gid) < 0)
            LOG_DEBUG("cannot keep config file owner", "errno=%d", errno);
    }
    for (size_t off = 0; off < len && r == 0;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else
            off += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, target) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
out:
    if (r < 0) {
        char q[512];
        LOG_WARN("cannot write config file", "path=%s errno=%d",
                 base_log_quote(q, sizeof q, target), -r);
    }
    free(tmp);
    free(target);
    return r;
}

/* ---- loading for other modules ------------------------------------------------------------ */

json_t *config_load(const char *dir, bool skills, char **path_out, char *err, size_t cap) {
    const config_kind *k = skills ? &config_skills : &config_mcp;
    char *path = config_file_path(*dir ? dir : ".", k->file);
    base_buf b;
    base_buf_init(&b);
    json_t *map = NULL;
    char msg[1024] = "";
    config_read_result r = config_read(path, &b, msg, sizeof msg);
    if (r == CONFIG_READ_MISSING)
        map = json_object();
    else if (r == CONFIG_READ_OK)
        map = config_parse_file(k, b.data ? b.data : "", b.len, msg, sizeof msg);
    if (!map)
        snprintf(err, cap, "invalid config file %s: %s", path, msg);
    base_buf_free(&b);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return map;
}
