/* fuzz_tar.c - libFuzzer target for tar upload safety: sa_archive_entry_safe (the lexical entry
 * check) and the whole extractor (fs_tar_extract_memory) writing into a sandbox directory.
 *
 * The first input byte picks a mode:
 *   0  fields for sa_archive_entry_safe: a type byte, then dest_root, entry name and link
 *      target separated by NUL bytes; an accepted entry is re-checked by an independent
 *      implementation of the rules (no absolute name, no "..", links stay inside);
 *   1  a structured archive: records of [type][name NUL][target NUL][len][len data bytes]
 *      turned into a valid ustar stream (checksums computed), so that mutations reach the
 *      extractor rather than dying on libarchive's checksum test;
 *   2  the remaining bytes as a raw tar stream.
 * Modes 1 and 2 extract into <sandbox>/dest (under $FUZZ_TAR_SANDBOX, else /dev/shm or /tmp), which
 * starts with two symlinks pointing to <sandbox>/outside (relative and absolute). Afterwards: the
 * sandbox holds only dest and outside, outside holds only its sentinel file (not hard-linked), and
 * dest holds no fifo or device and no symlink leading out of it (other than the two planted ones),
 * neither by its text nor where the kernel resolves it.
 *
 * Build and run: bash tests/fuzz/run.sh (which runs this and fuzz_http). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "fs/fs.h"
#include "fs/internal.h"
#include "../unit/tar_write.h"

static char sandbox[256], dest[300], outside[300], sentinel[320];

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_tar: invariant violated: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    __builtin_trap();
}

/* ---- independent re-check of an accepted entry ------------------------------------------- */

/* Number of path components after dropping "" and "."; -1 when ".." appears. */
static int depth_of(const char *p) {
    int d = 0;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (n && !(n == 1 && p[0] == '.'))
            d++;
        if (!s)
            break;
        p = s + 1;
    }
    return d;
}

/* True when the relative link text, read from a directory `dir_depth` levels below the
 * root, never climbs above it. */
static bool rel_link_inside(int dir_depth, const char *t) {
    int d = dir_depth;
    while (*t) {
        const char *s = strchr(t, '/');
        size_t n = s ? (size_t)(s - t) : strlen(t);
        if (n == 2 && t[0] == '.' && t[1] == '.') {
            if (--d < 0)
                return false;
        } else if (n && !(n == 1 && t[0] == '.')) {
            d++;
        }
        if (!s)
            break;
        t = s + 1;
    }
    return true;
}

/* Component-wise prefix test of an absolute target against a root, both without "..". */
static bool abs_link_inside(const char *root, const char *t) {
    if (!root || root[0] != '/' || t[0] != '/' || depth_of(root) < 0 || depth_of(t) < 0)
        return false;
    /* Compare the normalised forms without their leading slashes. */
    while (*root == '/')
        root++;
    while (*t == '/')
        t++;
    char *r = fs_rel_normalize(root), *n = fs_rel_normalize(t);
    bool ok =
        r && n && !strncmp(n, r, strlen(r)) && (!r[0] || !n[strlen(r)] || n[strlen(r)] == '/');
    free(r);
    free(n);
    return ok;
}

static void check_safe(const uint8_t *data, size_t size) {
    if (size < 1)
        return;
    int type = data[0] % 6;
    /* Split the rest into up to three NUL-terminated fields. */
    char *buf = malloc(size + 1);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    char *f[3] = {NULL, NULL, NULL};
    size_t nf = 0;
    char *p = buf, *end = buf + size - 1;
    while (nf < 3 && p <= end) {
        f[nf++] = p;
        p += strlen(p) + 1;
    }
    const char *root = f[0] ? f[0] : "", *name = f[1], *target = f[2];
    char *why = NULL;
    bool ok = sa_archive_entry_safe(root, name, type, target, &why);
    if (ok != (why == NULL))
        fail("a reason must be given exactly on refusal", NULL);
    free(why);
    if (ok) {
        if (!name || name[0] == '/' || depth_of(name) < 0)
            fail("accepted an absolute name or one with ..", name);
        if (type > SA_ARCHIVE_HARDLINK)
            fail("accepted an unsupported type", name);
        if (depth_of(name) == 0 && type != SA_ARCHIVE_DIR)
            fail("accepted a non-directory at the root", name);
        if (type == SA_ARCHIVE_SYMLINK) {
            if (!target || !target[0])
                fail("accepted a symlink without target", name);
            bool in = target[0] == '/' ? abs_link_inside(root, target)
                                       : rel_link_inside(depth_of(name) - 1, target);
            if (!in)
                fail("accepted a symlink leaving the root", target);
        }
        if (type == SA_ARCHIVE_HARDLINK && (!target || target[0] == '/' || depth_of(target) <= 0))
            fail("accepted a hard link leaving the root", target ? target : "(null)");
    }
    free(buf);
}

/* ---- extraction ---------------------------------------------------------------------------- */

/* Records -> ustar. Types: file, dir, symlink, hard link, fifo, char device, and "raw" (the
 * type byte itself, for the odd ones). */
static void build_tar(const uint8_t *d, size_t n, base_buf *out) {
    static const char types[] = {'0', '5', '2', '1', '6', '3', '0', '5', '2'};
    size_t i = 0;
    for (int rec = 0; rec < 32 && i < n; rec++) {
        uint8_t t = d[i++];
        char type = t < 9 * 16 ? types[t % 9] : (char)t;
        const char *name = (const char *)d + i;
        size_t nl = strnlen(name, n - i);
        i += nl + (i + nl < n);
        const char *link = (const char *)d + i;
        size_t ll = i < n ? strnlen(link, n - i) : 0;
        i += ll + (i + ll < n);
        size_t len = i < n ? d[i++] : 0;
        if (len > n - i)
            len = n - i;
        if (type != '0')
            len = 0;
        char nm[101], lk[101];
        snprintf(nm, sizeof nm, "%.*s", (int)(nl < 100 ? nl : 100), name);
        snprintf(lk, sizeof lk, "%.*s", (int)(ll < 100 ? ll : 100), ll ? link : "");
        tar_write_header(out, nm, type, lk, len, t & 1 ? 0755 : 0644);
        if (len) {
            tar_write_data(out, d + i, len);
            i += len;
        }
    }
    tar_write_end(out);
}

static const char *cur_dest_link_check; /* for the nftw callback */
static char real_dest[PATH_MAX];        /* dest without symlinks, likewise */

static int check_node(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    if (S_ISDIR(st->st_mode))
        chmod(path, 0700); /* an archive may have made it unreadable; the reset needs it */
    if (S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ||
        S_ISSOCK(st->st_mode))
        fail("a special file was created", path);
    if (S_ISLNK(st->st_mode)) {
        const char *rel = path + strlen(cur_dest_link_check);
        if (!strcmp(rel, "/pre") || !strcmp(rel, "/pre_abs"))
            return 0; /* planted by us */
        char t[4096];
        ssize_t n = readlink(path, t, sizeof t - 1);
        if (n < 0)
            return 0;
        t[n] = 0;
        int dir_depth = depth_of(rel) - 1;
        bool in =
            t[0] == '/' ? abs_link_inside(cur_dest_link_check, t) : rel_link_inside(dir_depth, t);
        if (!in)
            fail("a symlink leads out of the destination", path);
        /* Its text may look inside while other links on the way lead out ("a -> ." then
         * "b -> a/.."): where the kernel takes it, when it exists, must be inside too. */
        char *real = realpath(path, NULL);
        if (real) {
            size_t dl = strlen(real_dest);
            bool under = !strncmp(real, real_dest, dl) && (real[dl] == 0 || real[dl] == '/');
            free(real);
            if (!under)
                fail("a symlink resolves out of the destination", path);
        }
    }
    return 0;
}

static void check_dir_is(const char *dir, const char *a, const char *b) {
    DIR *d = opendir(dir);
    if (!d)
        fail("cannot list", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, a) || (b && !strcmp(n, b)))
            continue;
        fail("something was created outside the destination", n);
    }
    closedir(d);
}

static void reset_dest(void) {
    fs_remove(dest, true);
    if (mkdir(dest, 0755) != 0)
        fail("cannot create dest", dest);
    char p[400];
    snprintf(p, sizeof p, "%s/pre", dest);
    if (symlink("../outside", p) != 0)
        fail("cannot plant a symlink", p);
    snprintf(p, sizeof p, "%s/pre_abs", dest);
    if (symlink(outside, p) != 0)
        fail("cannot plant a symlink", p);
}

static void check_extract(const void *tarb, size_t len) {
    reset_dest();
    json_t *paths = NULL;
    bool truncated = false;
    fs_err e = {0};
    bool ok = fs_tar_extract_memory(dest, tarb, len, &paths, &truncated, &e);
    if (ok == (e.status != 0))
        fail("success and error disagree", e.detail);
    if (!json_is_array(paths) || json_array_size(paths) > 1024)
        fail("bad paths listing", NULL);
    json_decref(paths);
    fs_err_clear(&e);
    check_dir_is(sandbox, "dest", "outside");
    check_dir_is(outside, "sentinel", NULL);
    struct stat st;
    if (lstat(sentinel, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size != 4)
        fail("the sentinel outside was touched", sentinel);
    cur_dest_link_check = dest;
    if (!realpath(dest, real_dest))
        fail("cannot resolve dest", dest);
    nftw(dest, check_node, 16, FTW_PHYS);
}

static void cleanup(void) {
    if (sandbox[0])
        fs_remove(sandbox, true);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (!getenv("SANDBOX_AGENT_LOG"))
        setenv("SANDBOX_AGENT_LOG", "error", 1);
    base_log_init();
    setenv("SANDBOX_AGENT_MAX_EXTRACT_BYTES", "1048576", 1);
    setenv("SANDBOX_AGENT_MAX_EXTRACT_ENTRIES", "64", 1);
    /* run.sh passes a parent directory it removes afterwards (libFuzzer may end a run
     * without running atexit handlers). */
    const char *base = getenv("FUZZ_TAR_SANDBOX");
    if (base && *base)
        mkdir(base, 0700);
    else
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(sandbox, sizeof sandbox, "%s/fuzz_tar.XXXXXX", base);
    if (!mkdtemp(sandbox))
        fail("mkdtemp", sandbox);
    atexit(cleanup);
    snprintf(dest, sizeof dest, "%s/dest", sandbox);
    snprintf(outside, sizeof outside, "%s/outside", sandbox);
    snprintf(sentinel, sizeof sentinel, "%s/sentinel", outside);
    mkdir(outside, 0755);
    int fd = open(sentinel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "keep", 4) != 4)
        fail("cannot create the sentinel", sentinel);
    close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        check_safe(data + 1, size - 1);
        break;
    case 1: {
        base_buf b;
        base_buf_init(&b);
        build_tar(data + 1, size - 1, &b);
        check_extract(b.data, b.len);
        base_buf_free(&b);
        break;
    }
    default:
        check_extract(data + 1, size - 1);
        break;
    }
    return 0;
}
