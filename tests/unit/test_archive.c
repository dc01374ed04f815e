/* test_archive.c - the archive module (src/archive/): the lexical entry check, and real
 * extractions into a temporary directory of archives built here byte by byte (ustar with GNU
 * and pax long names, gzip with stored deflate blocks, zip with stored entries), so that no
 * tool and no libarchive writer is needed. Every hostile case checks what is on disk
 * afterwards: nothing outside the destination, nothing written through a symlink.
 *
 * Layout under a fresh /tmp directory: outside/sentinel (must never change), and one
 * destination directory per case. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "base/base.h"
#include "tar_write.h"
#include "unit.h"

/* ---- the lexical entry check --------------------------------------------------------------- */

static bool safe(const char *root, const char *name, int type, const char *target) {
    char *why = NULL;
    bool ok = sa_archive_entry_safe(root, name, type, target, &why);
    /* A reason exactly when refused. */
    CHECK(ok == (why == NULL));
    free(why);
    return ok;
}

static void test_entry_safe(void) {
    const char *R = "/dst";
    CHECK(safe(R, "a", SA_ARCHIVE_FILE, NULL));
    CHECK(safe(R, "./a/b/", SA_ARCHIVE_DIR, NULL));
    CHECK(safe(R, "./", SA_ARCHIVE_DIR, NULL)); /* root entry: skipped by the caller */
    CHECK(safe(R, ".", SA_ARCHIVE_DIR, NULL));
    CHECK(!safe(R, "./", SA_ARCHIVE_FILE, NULL));
    CHECK(!safe(R, "", SA_ARCHIVE_SYMLINK, "x"));
    CHECK(!safe(R, "/etc/passwd", SA_ARCHIVE_FILE, NULL));
    CHECK(!safe(R, "../x", SA_ARCHIVE_FILE, NULL));
    CHECK(!safe(R, "a/../b", SA_ARCHIVE_FILE, NULL));
    CHECK(!safe(R, "a/..", SA_ARCHIVE_DIR, NULL));
    CHECK(!safe(R, NULL, SA_ARCHIVE_FILE, NULL));
    CHECK(!safe(R, "fifo", SA_ARCHIVE_OTHER, NULL));
    CHECK(!safe(R, "dev", 99, NULL));

    /* Symlinks: relative targets resolved from the entry's directory. */
    CHECK(safe(R, "l", SA_ARCHIVE_SYMLINK, "target"));
    CHECK(safe(R, "l", SA_ARCHIVE_SYMLINK, "."));
    CHECK(safe(R, "a/l", SA_ARCHIVE_SYMLINK, ".."));
    CHECK(safe(R, "a/b/l", SA_ARCHIVE_SYMLINK, "../../x"));
    CHECK(safe(R, "a/b/l", SA_ARCHIVE_SYMLINK, "./../c/./d"));
    CHECK(safe(R, "a/l", SA_ARCHIVE_SYMLINK, "x/../../y"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, ".."));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, "../dst/x")); /* leaves, even if it comes back */
    CHECK(!safe(R, "a/b/l", SA_ARCHIVE_SYMLINK, "../../../x"));
    CHECK(!safe(R, "a/l", SA_ARCHIVE_SYMLINK, "x/../../../y"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, ""));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, NULL));
    /* Absolute targets only under an absolute, ".."-free root. */
    CHECK(safe(R, "l", SA_ARCHIVE_SYMLINK, "/dst/x"));
    CHECK(safe(R, "l", SA_ARCHIVE_SYMLINK, "/dst"));
    CHECK(safe(R, "l", SA_ARCHIVE_SYMLINK, "//dst//x/"));
    CHECK(safe("/dst/", "l", SA_ARCHIVE_SYMLINK, "/dst/x"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, "/dst2/x"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, "/dst/../etc"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, "/etc/passwd"));
    CHECK(!safe(R, "l", SA_ARCHIVE_SYMLINK, "/"));
    CHECK(!safe("/a/../dst", "l", SA_ARCHIVE_SYMLINK, "/a/../dst/x"));
    CHECK(!safe("rel", "l", SA_ARCHIVE_SYMLINK, "/rel/x"));
    CHECK(!safe(NULL, "l", SA_ARCHIVE_SYMLINK, "/dst/x"));

    /* Hard links: a relative, ".."-free, non-empty path in the archive. */
    CHECK(safe(R, "h", SA_ARCHIVE_HARDLINK, "a/b"));
    CHECK(safe(R, "h", SA_ARCHIVE_HARDLINK, "./a"));
    CHECK(!safe(R, "h", SA_ARCHIVE_HARDLINK, "../a"));
    CHECK(!safe(R, "h", SA_ARCHIVE_HARDLINK, "/etc/passwd"));
    CHECK(!safe(R, "h", SA_ARCHIVE_HARDLINK, "./"));
    CHECK(!safe(R, "h", SA_ARCHIVE_HARDLINK, NULL));

    char *why = NULL;
    CHECK(!sa_archive_entry_safe(R, "a/../b", SA_ARCHIVE_FILE, NULL, &why));
    CHECK_STR(why, "invalid relative path: a/../b");
    free(why);
    CHECK(!sa_archive_entry_safe(R, "x", SA_ARCHIVE_SYMLINK, "/etc", &why));
    CHECK_STR(why, "symlink points outside the destination: x -> /etc");
    free(why);
    CHECK(!sa_archive_entry_safe(R, "x", SA_ARCHIVE_SYMLINK, "/etc", NULL)); /* why is optional */
}

/* ---- archive builders ------------------------------------------------------------------------ */

/* One entry: type '0' file (data), '5' dir, '2' symlink, '1' hard link, '3'/'4'/'6' special. */
static void tar_add(base_buf *b, const char *name, char type, const char *data, const char *link,
                    unsigned mode) {
    size_t len = type == '0' && data ? strlen(data) : 0;
    tar_write_header(b, name, type, link, len, mode);
    if (len)
        tar_write_data(b, data, len);
}

/* A file whose name is longer than ustar's 100 bytes: GNU ('L') or pax ('x') style. */
static void tar_add_long(base_buf *b, const char *name, const char *data, bool pax) {
    if (pax) {
        size_t body = strlen(" path=\n") + strlen(name);
        size_t digits = 1, total;
        for (;;) { /* the record's length counts its own digits */
            total = body + digits;
            size_t d = (size_t)snprintf(NULL, 0, "%zu", total);
            if (d == digits)
                break;
            digits = d;
        }
        char *rec = base_xasprintf("%zu path=%s\n", total, name);
        tar_write_header(b, "PaxHeader/long", 'x', NULL, strlen(rec), 0644);
        tar_write_data(b, rec, strlen(rec));
        free(rec);
    } else {
        tar_write_header(b, "././@LongLink", 'L', NULL, strlen(name) + 1, 0644);
        tar_write_data(b, name, strlen(name) + 1);
    }
    tar_add(b, "truncated-name-placeholder", '0', data, NULL, 0644);
}

static uint32_t crc32_of(const void *p, size_t n) {
    const unsigned char *s = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= s[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_le(base_buf *b, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        base_buf_append(b, &c, 1);
    }
}

/* gzip of in, with stored (uncompressed) deflate blocks. */
static void gzip_stored(const base_buf *in, base_buf *out) {
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    base_buf_append(out, hdr, sizeof hdr);
    size_t off = 0;
    do {
        size_t n = in->len - off > 65535 ? 65535 : in->len - off;
        unsigned char final = off + n == in->len;
        base_buf_append(out, &final, 1);
        put_le(out, (uint32_t)n, 2);
        put_le(out, (uint32_t)(~n & 0xFFFF), 2);
        base_buf_append(out, in->data + off, n);
        off += n;
    } while (off < in->len);
    put_le(out, crc32_of(in->data, in->len), 4);
    put_le(out, (uint32_t)in->len, 4);
}

/* A zip of stored entries made on Unix (so that modes and symlinks count). Owner: the test. */
typedef struct zip_w {
    base_buf out, cd;
    uint16_t n;
} zip_w;

static void zip_add(zip_w *z, const char *name, mode_t mode, const char *data) {
    size_t len = data ? strlen(data) : 0;
    uint32_t crc = crc32_of(data ? data : "", len);
    uint32_t off = (uint32_t)z->out.len;
    put_le(&z->out, 0x04034b50, 4);
    put_le(&z->out, 10, 2); /* version needed */
    put_le(&z->out, 0, 2);  /* flags */
    put_le(&z->out, 0, 2);  /* stored */
    put_le(&z->out, 0, 2);  /* time */
    put_le(&z->out, 0x21, 2);
    put_le(&z->out, crc, 4);
    put_le(&z->out, (uint32_t)len, 4);
    put_le(&z->out, (uint32_t)len, 4);
    put_le(&z->out, (uint32_t)strlen(name), 2);
    put_le(&z->out, 0, 2);
    base_buf_appends(&z->out, name);
    base_buf_append(&z->out, data ? data : "", len);
    put_le(&z->cd, 0x02014b50, 4);
    put_le(&z->cd, (3 << 8) | 30, 2); /* made by: Unix */
    put_le(&z->cd, 10, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0x21, 2);
    put_le(&z->cd, crc, 4);
    put_le(&z->cd, (uint32_t)len, 4);
    put_le(&z->cd, (uint32_t)len, 4);
    put_le(&z->cd, (uint32_t)strlen(name), 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 2);
    put_le(&z->cd, (uint32_t)mode << 16, 4);
    put_le(&z->cd, off, 4);
    base_buf_appends(&z->cd, name);
    z->n++;
}

static void zip_end(zip_w *z) {
    uint32_t cdoff = (uint32_t)z->out.len;
    base_buf_append(&z->out, z->cd.data, z->cd.len);
    put_le(&z->out, 0x06054b50, 4);
    put_le(&z->out, 0, 2);
    put_le(&z->out, 0, 2);
    put_le(&z->out, z->n, 2);
    put_le(&z->out, z->n, 2);
    put_le(&z->out, (uint32_t)z->cd.len, 4);
    put_le(&z->out, cdoff, 4);
    put_le(&z->out, 0, 2);
    base_buf_free(&z->cd);
}

/* ---- the sandbox -------------------------------------------------------------------------- */

static char root[256];
static int ncase;

static char *P(const char *rel) {
    return base_xasprintf("%s/%s", root, rel);
}

/* A fresh, empty destination directory for one case. Caller frees. */
static char *new_dest(void) {
    char *d = base_xasprintf("%s/d%d", root, ++ncase);
    CHECK(mkdir(d, 0755) == 0);
    return d;
}

static bool kind_at(const char *dir, const char *rel, mode_t kind) {
    char *p = base_xasprintf("%s/%s", dir, rel);
    struct stat st;
    bool ok = lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == kind;
    free(p);
    return ok;
}

static bool absent(const char *dir, const char *rel) {
    char *p = base_xasprintf("%s/%s", dir, rel);
    struct stat st;
    bool ok = lstat(p, &st) != 0 && errno == ENOENT;
    free(p);
    return ok;
}

static char *slurp(const char *dir, const char *rel) {
    char *p = base_xasprintf("%s/%s", dir, rel);
    char buf[256];
    FILE *f = fopen(p, "r");
    free(p);
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return base_xstrdup(buf);
}

/* Outside the destinations nothing may appear: the root holds only outside/ and the d<N>
 * destinations, outside/ only its untouched sentinel. */
static void check_outside_untouched(void) {
    DIR *d = opendir(root);
    CHECK(d != NULL);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *n = de->d_name;
        bool ok = !strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "outside") ||
                  !strcmp(n, "in.tar.gz") || !strcmp(n, "in.zip") ||
                  (n[0] == 'd' && strspn(n + 1, "0123456789") == strlen(n + 1));
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "unexpected entry outside the destinations: %s\n", n);
    }
    if (d)
        closedir(d);
    char *o = P("outside");
    DIR *od = opendir(o);
    free(o);
    int count = 0;
    while (od && (de = readdir(od)))
        count += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (od)
        closedir(od);
    CHECK(count == 1);
    char *s = P("outside/sentinel");
    struct stat st;
    CHECK(lstat(s, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4 && st.st_nlink == 1);
    free(s);
}

/* ---- extraction helpers --------------------------------------------------------------------- */

typedef struct seen {
    int n;
    atomic_bool *cancel_after_first;
} seen;

static void on_entry(const char *path, void *ud) {
    seen *s = ud;
    s->n++;
    if (s->cancel_after_first)
        atomic_store(s->cancel_after_first, true);
}

static sa_archive_opts opts(seen *s) {
    sa_archive_opts o = {.formats = SA_ARCHIVE_TAR, .on_entry = on_entry, .ud = s};
    o.limits.max_bytes = 1 << 20;
    o.limits.max_entries = 1000;
    o.limits.max_path = SA_ARCHIVE_DEFAULT_MAX_PATH;
    o.limits.max_depth = SA_ARCHIVE_DEFAULT_MAX_DEPTH;
    return o;
}

/* Extract b (ended here) into dest with o; the status, and the message in *msg if asked. */
static sa_archive_status run_tar(const char *dest, base_buf *b, const sa_archive_opts *o,
                                 char **msg) {
    tar_write_end(b);
    sa_archive_err e = {0};
    bool ok = sa_archive_extract_memory(dest, b->data, b->len, o, &e);
    CHECK(ok == (e.status == SA_ARCHIVE_OK));
    CHECK(ok || (e.msg && e.msg[0]));
    sa_archive_status st = e.status;
    if (msg)
        *msg = e.msg ? base_xstrdup(e.msg) : NULL;
    sa_archive_err_clear(&e);
    base_buf_free(b);
    return st;
}

static sa_archive_status run_tar_default(const char *dest, base_buf *b, char **msg) {
    seen s = {0};
    sa_archive_opts o = opts(&s);
    return run_tar(dest, b, &o, msg);
}

/* Extract b (ended here) into dest with the default options: it must be refused, with a
 * message that holds want. */
static void expect_refused(const char *dest, base_buf *b, const char *want) {
    char *msg = NULL;
    CHECK(run_tar_default(dest, b, &msg) == SA_ARCHIVE_REFUSED);
    bool has = msg && strstr(msg, want) != NULL;
    CHECK(has);
    if (!has)
        fprintf(stderr, "want a refusal with \"%s\", got \"%s\"\n", want, msg ? msg : "(none)");
    free(msg);
}

/* ---- a normal archive ----------------------------------------------------------------------- */

static void test_normal(void) {
    char *dest = new_dest();
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "./", '5', NULL, NULL, 0755);
    tar_add(&b, "bin/", '5', NULL, NULL, 0750);
    tar_add(&b, "bin/tool", '0', "#!/bin/sh\necho hi\n", NULL, 0755);
    tar_add(&b, "bin/suid", '0', "x", NULL, 04755);
    tar_add(&b, "./share//doc.txt", '0', "doc", NULL, 0640); /* parent made on the way */
    tar_add(&b, "bin/link", '2', NULL, "tool", 0777);
    tar_add(&b, "share/up", '2', NULL, "../bin/tool", 0777);
    char *abs = base_xasprintf("%s/bin/tool", dest);
    tar_add(&b, "abs", '2', NULL, abs, 0777);
    tar_add(&b, "hard", '1', NULL, "./bin/tool", 0644);
    seen s = {0};
    sa_archive_opts o = opts(&s);
    char *msg = NULL;
    CHECK(run_tar(dest, &b, &o, &msg) == SA_ARCHIVE_OK);
    if (msg)
        fprintf(stderr, "normal archive: %s\n", msg);
    free(msg);
    CHECK(s.n == 8); /* every entry but the root */
    char *t = slurp(dest, "bin/tool");
    CHECK_STR(t, "#!/bin/sh\necho hi\n");
    free(t);
    struct stat st, st2;
    char *p = base_xasprintf("%s/bin/tool", dest);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_mtime == 1577934245);
    CHECK(access(p, X_OK) == 0);
    free(p);
    p = base_xasprintf("%s/bin/suid", dest);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755); /* set-id dropped */
    free(p);
    p = base_xasprintf("%s/bin", dest);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0750 && st.st_mtime == 1577934245);
    free(p);
    CHECK(kind_at(dest, "bin/link", S_IFLNK) && kind_at(dest, "share/up", S_IFLNK) &&
          kind_at(dest, "abs", S_IFLNK));
    for (const char *via = "bin/link"; via; via = !strcmp(via, "bin/link") ? "share/up" : NULL) {
        t = slurp(dest, via);
        CHECK_STR(t, "#!/bin/sh\necho hi\n");
        free(t);
    }
    t = slurp(dest, "abs");
    CHECK_STR(t, "#!/bin/sh\necho hi\n");
    free(t);
    char *h = base_xasprintf("%s/hard", dest), *tool = base_xasprintf("%s/bin/tool", dest);
    CHECK(lstat(h, &st) == 0 && lstat(tool, &st2) == 0 && st.st_ino == st2.st_ino);
    free(h);
    free(tool);
    free(abs);
    free(dest);
}

/* ---- escapes --------------------------------------------------------------------------------- */

/* "a -> ." then "b -> a/..": each text looks inside, together they lead to the parent. */
static void test_link_chain(void) {
    /* In that order: b is refused when made (its target is resolved through a), and the
     * extraction stops there. */
    char *dest = new_dest();
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "a", '2', NULL, ".", 0777);
    tar_add(&b, "b", '2', NULL, "a/..", 0777);
    tar_add(&b, "c", '0', "c", NULL, 0644);
    tar_add(&b, "b/evil", '0', "evil", NULL, 0644);
    expect_refused(dest, &b, "symlink points outside the destination: b -> a/..");
    CHECK(kind_at(dest, "a", S_IFLNK));
    CHECK(absent(dest, "b"));
    CHECK(absent(dest, "c"));
    CHECK(absent(root, "evil"));
    free(dest);

    /* The other order: when b is made, a does not exist and b looks fine; a later entry
     * changes its meaning. The check after the last entry removes b and fails. */
    dest = new_dest();
    base_buf_init(&b);
    tar_add(&b, "b", '2', NULL, "a/..", 0777);
    tar_add(&b, "a", '2', NULL, ".", 0777);
    tar_add(&b, "c", '0', "c", NULL, 0644);
    expect_refused(dest, &b, "after later entries");
    CHECK(kind_at(dest, "c", S_IFREG)); /* the extraction went on; the end check caught b */
    CHECK(absent(dest, "b"));
    free(dest);

    /* Both orders, then a write through b: never through a symlink. */
    dest = new_dest();
    base_buf_init(&b);
    tar_add(&b, "b", '2', NULL, "a/..", 0777);
    tar_add(&b, "a", '2', NULL, ".", 0777);
    tar_add(&b, "b/evil", '0', "evil", NULL, 0644);
    expect_refused(dest, &b, "refusing to extract through a symlink");
    CHECK(absent(root, "evil"));
    CHECK(absent(dest, "b"));
    free(dest);

    /* Through a directory: "y -> x/.." is the root itself (fine); "z -> y/../outside"
     * climbs from there to the root's parent. */
    dest = new_dest();
    base_buf_init(&b);
    tar_add(&b, "x/", '5', NULL, NULL, 0755);
    tar_add(&b, "y", '2', NULL, "x/..", 0777);
    tar_add(&b, "z", '2', NULL, "y/../outside", 0777);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_REFUSED);
    CHECK(kind_at(dest, "y", S_IFLNK));
    CHECK(absent(dest, "z"));
    free(dest);
    check_outside_untouched();
}

static void test_names(void) {
    const char *bad[] = {"../evil", "x/../../evil", "a/../b", "..", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *dest = new_dest();
        char *name = bad[i] ? base_xstrdup(bad[i]) : P("evil"); /* NULL: an absolute name */
        base_buf b;
        base_buf_init(&b);
        tar_add(&b, "first", '0', "1", NULL, 0644);
        tar_add(&b, name, '0', "evil", NULL, 0644);
        expect_refused(dest, &b, "invalid relative path");
        CHECK(kind_at(dest, "first", S_IFREG)); /* entries before a failure stay */
        CHECK(absent(dest, "b"));
        free(name);
        free(dest);
    }
    CHECK(absent(root, "evil"));
    check_outside_untouched();
}

static void test_through_symlinks(void) {
    /* A symlink from the archive (inside: allowed), then used as a directory. */
    char *dest = new_dest();
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "sub/", '5', NULL, NULL, 0755);
    tar_add(&b, "l", '2', NULL, "sub", 0777);
    tar_add(&b, "l/x", '0', "x", NULL, 0644);
    expect_refused(dest, &b, "refusing to extract through a symlink");
    CHECK(absent(dest, "sub/x"));
    /* The same with a directory entry below the link. */
    base_buf_init(&b);
    tar_add(&b, "l/d/", '5', NULL, NULL, 0755);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_REFUSED);
    CHECK(absent(dest, "sub/d"));
    free(dest);

    /* A symlink already in the destination, leading out. */
    dest = new_dest();
    char *pre = base_xasprintf("%s/pre", dest), *out = P("outside");
    CHECK(symlink(out, pre) == 0);
    base_buf_init(&b);
    tar_add(&b, "pre/x", '0', "x", NULL, 0644);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_REFUSED);
    /* A link of the archive whose text stays inside but goes through it. */
    base_buf_init(&b);
    tar_add(&b, "m", '2', NULL, "pre/sentinel", 0777);
    expect_refused(dest, &b, "symlink points outside");
    CHECK(absent(dest, "m"));
    /* A file entry over it replaces the link, not what it points to. */
    base_buf_init(&b);
    tar_add(&b, "pre", '0', "new", NULL, 0644);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_OK);
    CHECK(kind_at(dest, "pre", S_IFREG));
    free(pre);
    free(out);
    free(dest);
    check_outside_untouched();
}

static void test_hardlinks(void) {
    char *dest = new_dest();
    char *abs = P("outside/sentinel");
    const char *targets[] = {"../outside/sentinel", NULL /* abs */, "later"};
    for (size_t i = 0; i < 3; i++) {
        base_buf b;
        base_buf_init(&b);
        tar_add(&b, "h", '1', NULL, targets[i] ? targets[i] : abs, 0644);
        tar_add(&b, "later", '0', "later", NULL, 0644);
        CHECK(run_tar_default(dest, &b, NULL) != SA_ARCHIVE_OK);
        CHECK(absent(dest, "h"));
        CHECK(absent(dest, "later"));
    }
    free(abs);

    /* A file that was on disk before gets no second name. */
    char *secret = base_xasprintf("%s/secret", dest);
    FILE *f = fopen(secret, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "h", '1', NULL, "secret", 0644);
    expect_refused(dest, &b, "not a file extracted earlier");
    CHECK(absent(dest, "h"));
    struct stat st;
    CHECK(stat(secret, &st) == 0 && st.st_nlink == 1);
    free(secret);

    /* Not to a directory, not to a symlink, not through a symlink. */
    base_buf_init(&b);
    tar_add(&b, "dir/", '5', NULL, NULL, 0755);
    tar_add(&b, "dir/f", '0', "f", NULL, 0644);
    tar_add(&b, "h", '1', NULL, "dir", 0644);
    expect_refused(dest, &b, "is a directory");
    base_buf_init(&b);
    tar_add(&b, "a/b/l", '2', NULL, "../../dir/f", 0777);
    tar_add(&b, "h", '1', NULL, "a/b/l", 0644);
    expect_refused(dest, &b, "is a symlink");
    base_buf_init(&b);
    tar_add(&b, "dir/f", '0', "f", NULL, 0644);
    tar_add(&b, "dl", '2', NULL, "dir", 0777);
    tar_add(&b, "h", '1', NULL, "dl/f", 0644);
    expect_refused(dest, &b, "through a symlink");
    CHECK(absent(dest, "h"));

    /* An earlier entry of the same archive: fine. */
    base_buf_init(&b);
    tar_add(&b, "f", '0', "f", NULL, 0644);
    tar_add(&b, "h", '1', NULL, "f", 0644);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_OK);
    char *p1 = base_xasprintf("%s/f", dest), *p2 = base_xasprintf("%s/h", dest);
    struct stat s1, s2;
    CHECK(lstat(p1, &s1) == 0 && lstat(p2, &s2) == 0 && s1.st_ino == s2.st_ino);
    free(p1);
    free(p2);
    free(dest);
    check_outside_untouched();
}

static void test_special(void) {
    char *dest = new_dest();
    const char types[] = {'3', '4', '6'};
    for (size_t i = 0; i < sizeof types; i++) {
        base_buf b;
        base_buf_init(&b);
        tar_add(&b, "special", types[i], NULL, NULL, 0644);
        expect_refused(dest, &b, "unsupported entry type");
        CHECK(absent(dest, "special"));
    }
    free(dest);
}

/* ---- bombs and limits ---------------------------------------------------------------------- */

static void test_limits(void) {
    seen s = {0};
    sa_archive_opts o = opts(&s);

    /* Entry count. */
    char *dest = new_dest();
    o.limits.max_entries = 5;
    base_buf b;
    base_buf_init(&b);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        tar_add(&b, name, '0', "x", NULL, 0644);
    }
    CHECK(run_tar(dest, &b, &o, NULL) == SA_ARCHIVE_TOO_MANY_ENTRIES);
    CHECK(kind_at(dest, "f4", S_IFREG));
    CHECK(absent(dest, "f5"));
    free(dest);
    o.limits.max_entries = 1000;

    /* Total bytes, as read. */
    dest = new_dest();
    o.limits.max_bytes = 10;
    base_buf_init(&b);
    tar_add(&b, "small", '0', "12345", NULL, 0644);
    tar_add(&b, "big", '0', "1234567890", NULL, 0644);
    CHECK(run_tar(dest, &b, &o, NULL) == SA_ARCHIVE_TOO_MANY_BYTES);
    CHECK(kind_at(dest, "small", S_IFREG));
    CHECK(absent(dest, "big"));
    free(dest);

    /* A huge declared size fails before a byte is written (the data is not even there). */
    dest = new_dest();
    o.limits.max_bytes = 1 << 20;
    base_buf_init(&b);
    tar_write_header(&b, "huge", '0', NULL, (uint64_t)1 << 33 >> 1, 0644);
    CHECK(run_tar(dest, &b, &o, NULL) == SA_ARCHIVE_TOO_MANY_BYTES);
    CHECK(absent(dest, "huge"));

    /* Name length and depth. */
    char longname[SA_ARCHIVE_DEFAULT_MAX_PATH + 16];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    base_buf_init(&b);
    tar_add_long(&b, longname, "x", true);
    char *msg = NULL;
    CHECK(run_tar(dest, &b, &o, &msg) == SA_ARCHIVE_REFUSED);
    CHECK(msg && strstr(msg, "longer than 4096 bytes") != NULL);
    free(msg);
    char deep[2 * (SA_ARCHIVE_DEFAULT_MAX_DEPTH + 1) + 8] = "";
    for (int i = 0; i <= SA_ARCHIVE_DEFAULT_MAX_DEPTH; i++)
        strcat(deep, "d/");
    strcat(deep, "f");
    base_buf_init(&b);
    tar_add_long(&b, deep, "x", false);
    CHECK(run_tar(dest, &b, &o, &msg) == SA_ARCHIVE_REFUSED);
    CHECK(msg && strstr(msg, "deeper than 256") != NULL);
    free(msg);
    CHECK(absent(dest, "d"));
    free(dest);
}

static void test_long_names(void) {
    char name[200];
    snprintf(name, sizeof name, "long/%0150d/file", 0);
    for (int pax = 0; pax < 2; pax++) {
        char *dest = new_dest();
        base_buf b;
        base_buf_init(&b);
        tar_add_long(&b, name, pax ? "pax" : "gnu", pax);
        CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_OK);
        char *t = slurp(dest, name);
        CHECK_STR(t, pax ? "pax" : "gnu");
        free(t);
        CHECK(absent(dest, "truncated-name-placeholder"));
        free(dest);
    }
}

/* ---- formats: tar.gz and zip from files ----------------------------------------------------- */

static char *write_file(const char *rel, const base_buf *b) {
    char *p = P(rel);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(b->data, 1, b->len, f) == b->len);
    if (f)
        fclose(f);
    return p;
}

static void test_release_formats(void) {
    sa_archive_limits lim = {1 << 20, 1000, SA_ARCHIVE_DEFAULT_MAX_PATH,
                             SA_ARCHIVE_DEFAULT_MAX_DEPTH};
    /* tar.gz, as amp-acp and cursor-agent ship. */
    base_buf t, gz;
    base_buf_init(&t);
    base_buf_init(&gz);
    tar_add(&t, "dist-package/", '5', NULL, NULL, 0755);
    tar_add(&t, "dist-package/cursor-agent", '0', "#!/bin/sh\n", NULL, 0755);
    tar_add(&t, "dist-package/agent", '2', NULL, "cursor-agent", 0777);
    tar_write_end(&t);
    gzip_stored(&t, &gz);
    char *path = write_file("in.tar.gz", &gz);
    char *dest = new_dest();
    char *error = NULL;
    CHECK(sa_archive_extract_file(path, dest, &lim, NULL, &error) == 0);
    CHECK(error == NULL);
    free(error);
    char *exe = base_xasprintf("%s/dist-package/cursor-agent", dest);
    struct stat st;
    CHECK(stat(exe, &st) == 0 && (st.st_mode & 0777) == 0755);
    free(exe);
    CHECK(kind_at(dest, "dist-package/agent", S_IFLNK));
    free(dest);

    /* The file API takes plain tar only: the same bytes are not a tar there. */
    dest = new_dest();
    seen s = {0};
    sa_archive_opts o = opts(&s);
    sa_archive_err e = {0};
    CHECK(!sa_archive_extract_memory(dest, gz.data, gz.len, &o, &e));
    CHECK(e.status == SA_ARCHIVE_CORRUPT);
    sa_archive_err_clear(&e);
    CHECK(absent(dest, "dist-package"));
    free(dest);
    base_buf_free(&t);
    base_buf_free(&gz);
    free(path);

    /* zip (registry archives may be zips), with modes and a symlink. */
    zip_w z = {0};
    base_buf_init(&z.out);
    base_buf_init(&z.cd);
    zip_add(&z, "bin/", S_IFDIR | 0755, NULL);
    zip_add(&z, "bin/tool", S_IFREG | 0755, "#!/bin/sh\n");
    zip_add(&z, "bin/data", S_IFREG | 0644, "data");
    zip_add(&z, "bin/link", S_IFLNK | 0777, "tool");
    zip_end(&z);
    path = write_file("in.zip", &z.out);
    base_buf_free(&z.out);
    dest = new_dest();
    CHECK(sa_archive_extract_file(path, dest, &lim, NULL, &error) == 0);
    if (error)
        fprintf(stderr, "zip: %s\n", error);
    free(error);
    exe = base_xasprintf("%s/bin/tool", dest);
    CHECK(stat(exe, &st) == 0 && (st.st_mode & 0777) == 0755);
    free(exe);
    exe = base_xasprintf("%s/bin/data", dest);
    CHECK(stat(exe, &st) == 0 && (st.st_mode & 0777) == 0644);
    free(exe);
    CHECK(kind_at(dest, "bin/link", S_IFLNK));
    char *c = slurp(dest, "bin/link");
    CHECK_STR(c, "#!/bin/sh\n");
    free(c);
    free(dest);
    free(path);

    /* The link chain in a zip. */
    z = (zip_w){0};
    base_buf_init(&z.out);
    base_buf_init(&z.cd);
    zip_add(&z, "a", S_IFLNK | 0777, ".");
    zip_add(&z, "b", S_IFLNK | 0777, "a/..");
    zip_add(&z, "b/evil", S_IFREG | 0644, "evil");
    zip_end(&z);
    path = write_file("in.zip", &z.out);
    base_buf_free(&z.out);
    dest = new_dest();
    CHECK(sa_archive_extract_file(path, dest, &lim, NULL, &error) == -1);
    CHECK(error && strstr(error, "symlink points outside") != NULL);
    free(error);
    CHECK(absent(dest, "b"));
    CHECK(absent(root, "evil"));
    free(path);

    /* A missing archive, a missing destination. */
    path = P("no-such.tar.gz");
    CHECK(sa_archive_extract_file(path, dest, &lim, NULL, &error) == -1);
    CHECK(error && strstr(error, "cannot open the archive") && strstr(error, "No such file"));
    free(error);
    free(path);
    path = P("in.tar.gz");
    /* Cancelled: -1 and no message (the caller knows why); nothing written. */
    atomic_bool cancel;
    atomic_init(&cancel, true);
    char *dest_c = new_dest();
    error = NULL;
    CHECK(sa_archive_extract_file(path, dest_c, &lim, &cancel, &error) == -1 && error == NULL);
    CHECK(absent(dest_c, "dist-package"));
    free(dest_c);
    free(path);
    path = P("in.zip");
    char *nodest = P("no-such-dir");
    CHECK(sa_archive_extract_file(path, nodest, &lim, NULL, &error) == -1);
    CHECK(error && strstr(error, "No such file") != NULL);
    free(error);
    free(nodest);
    free(path);
    free(dest);
    check_outside_untouched();
}

/* ---- streams and cancellation ------------------------------------------------------------- */

/* Hands the archive over in 7-byte blocks, then fails if asked. */
typedef struct drip {
    const base_buf *b;
    size_t off;
    bool fail_at_end;
} drip;

static ssize_t drip_read(void *ud, const void **block, const char **why) {
    drip *d = ud;
    if (d->off == d->b->len) {
        if (d->fail_at_end) {
            *why = "client went away";
            return -1;
        }
        return 0;
    }
    size_t n = d->b->len - d->off < 7 ? d->b->len - d->off : 7;
    *block = d->b->data + d->off;
    d->off += n;
    return (ssize_t)n;
}

static void test_stream_and_cancel(void) {
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "one", '0', "first file", NULL, 0644);
    tar_add(&b, "two", '0', "second file", NULL, 0644);
    tar_write_end(&b);
    seen s = {0};
    sa_archive_opts o = opts(&s);
    char *dest = new_dest();
    sa_archive_err e = {0};
    drip d = {&b, 0, false};
    CHECK(sa_archive_extract_stream(dest, drip_read, &d, &o, &e));
    char *t = slurp(dest, "two");
    CHECK_STR(t, "second file");
    free(t);
    free(dest);

    /* A stream cut off: the reader's reason comes back. */
    dest = new_dest();
    d = (drip){&b, 0, true};
    base_buf half = {.data = b.data, .len = 700};
    d.b = &half;
    CHECK(!sa_archive_extract_stream(dest, drip_read, &d, &o, &e));
    CHECK(e.status == SA_ARCHIVE_CORRUPT && e.msg && strstr(e.msg, "client went away"));
    CHECK(absent(dest, "two"));
    sa_archive_err_clear(&e);
    free(dest);

    /* Cancelled before the start, and after the first entry. */
    atomic_bool cancel;
    atomic_init(&cancel, true);
    o.cancel = &cancel;
    dest = new_dest();
    CHECK(!sa_archive_extract_memory(dest, b.data, b.len, &o, &e));
    CHECK(e.status == SA_ARCHIVE_CANCELLED);
    sa_archive_err_clear(&e);
    CHECK(absent(dest, "one"));
    atomic_store(&cancel, false);
    s.cancel_after_first = &cancel;
    CHECK(!sa_archive_extract_memory(dest, b.data, b.len, &o, &e));
    CHECK(e.status == SA_ARCHIVE_CANCELLED);
    sa_archive_err_clear(&e);
    CHECK(kind_at(dest, "one", S_IFREG));
    CHECK(absent(dest, "two"));
    free(dest);
    base_buf_free(&b);
}

/* A read-only directory is still filled: its mode comes after the last entry. */
static void test_dir_modes_last(void) {
    char *dest = new_dest();
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "ro/", '5', NULL, NULL, 0555);
    tar_add(&b, "ro/f", '0', "f", NULL, 0444);
    CHECK(run_tar_default(dest, &b, NULL) == SA_ARCHIVE_OK);
    CHECK(kind_at(dest, "ro/f", S_IFREG));
    char *p = base_xasprintf("%s/ro", dest);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0555);
    chmod(p, 0755); /* for the clean-up */
    free(p);
    free(dest);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *c = base_xasprintf("%s/%s", path, de->d_name);
            rm_rf(c);
            free(c);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/test_archive.XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    char *o = P("outside"), *s = P("outside/sentinel");
    CHECK(mkdir(o, 0755) == 0);
    FILE *f = fopen(s, "w");
    CHECK(f && fwrite("keep", 1, 4, f) == 4);
    if (f)
        fclose(f);
    free(o);
    free(s);
}

UNIT_MAIN(test_entry_safe(); setup(); test_normal(); test_link_chain(); test_names();
          test_through_symlinks(); test_hardlinks(); test_special(); test_limits();
          test_long_names(); test_release_formats(); test_stream_and_cancel();
          test_dir_modes_last(); check_outside_untouched(); rm_rf(root))
