/* test_fs.c - the fs module's pure helpers (path normalisation and resolution, joining,
 * RFC 3339 times, lossy UTF-8, errno mapping), tar extraction into a temporary directory
 * as the upload route does it (layout, links, escapes and limits mapped to HTTP statuses,
 * the 1024-path cap; the extractor itself is tested in test_archive.c), and the
 * routes' synchronous validation through http_server_feed_for_test. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "tar_write.h"
#include "unit.h"

/* ---- pure helpers ---------------------------------------------------------------------------- */

static int norm_is(const char *in, const char *want) {
    char *got = fs_rel_normalize(in);
    int ok = want ? (got && !strcmp(got, want)) : got == NULL;
    if (!ok)
        fprintf(stderr, "fs_rel_normalize(%s) = %s, want %s\n", in, got ? got : "NULL",
                want ? want : "NULL");
    free(got);
    return ok;
}

static void test_normalize(void) {
    CHECK(norm_is("", ""));
    CHECK(norm_is(".", ""));
    CHECK(norm_is("./", ""));
    CHECK(norm_is(".//.", ""));
    CHECK(norm_is("a", "a"));
    CHECK(norm_is("a/b", "a/b"));
    CHECK(norm_is("./a/./b/", "a/b"));
    CHECK(norm_is("a//b///c", "a/b/c"));
    CHECK(norm_is("~/x", "~/x"));
    CHECK(norm_is("...", "..."));
    CHECK(norm_is("..a/b..", "..a/b.."));
    CHECK(norm_is("..", NULL));
    CHECK(norm_is("a/..", NULL));
    CHECK(norm_is("a/../b", NULL));
    CHECK(norm_is("../a", NULL));
    CHECK(norm_is("/abs", NULL));
}

static int resolve_is(const char *home, const char *in, const char *want) {
    char *got = fs_resolve_with_home(home, in);
    int ok = want ? (got && !strcmp(got, want)) : got == NULL;
    if (!ok)
        fprintf(stderr, "resolve(%s, %s) = %s, want %s\n", home, in, got ? got : "NULL",
                want ? want : "NULL");
    free(got);
    return ok;
}

static void test_resolve(void) {
    CHECK(resolve_is("/home/u", "", "/home/u/"));
    CHECK(resolve_is("/home/u", ".", "/home/u/"));
    CHECK(resolve_is("/home/u", "d/./f/", "/home/u/d/f"));
    CHECK(resolve_is("/home/u/", "d", "/home/u/d"));
    CHECK(resolve_is("/", "d", "/d"));
    CHECK(resolve_is("/home/u", "/a/b/../b//", "/a/b/../b//")); /* absolute: verbatim */
    CHECK(resolve_is("/home/u", "a/../b", NULL));
    char *j = fs_join("/x/", "");
    CHECK_STR(j, "/x/");
    free(j);
    j = fs_join("/x", "y/z");
    CHECK_STR(j, "/x/y/z");
    free(j);
    char *p = fs_parent_path("/a/b/");
    CHECK_STR(p, "/a");
    free(p);
    p = fs_parent_path("/a");
    CHECK_STR(p, "/");
    free(p);
    p = fs_parent_path("//a//b");
    CHECK_STR(p, "//a");
    free(p);
    CHECK(fs_parent_path("/") == NULL);
    CHECK(fs_parent_path("///") == NULL);
    CHECK(fs_parent_path("rel") == NULL);
}

static void test_rfc3339(void) {
    char b[64];
    fs_rfc3339(1577934245, 0, b, sizeof b);
    CHECK(!strcmp(b, "2020-01-02T03:04:05+00:00"));
    fs_rfc3339(1577934245, 500000000, b, sizeof b);
    CHECK(!strcmp(b, "2020-01-02T03:04:05.500+00:00"));
    fs_rfc3339(1577934245, 1000000, b, sizeof b);
    CHECK(!strcmp(b, "2020-01-02T03:04:05.001+00:00"));
    fs_rfc3339(1577934245, 123456000, b, sizeof b);
    CHECK(!strcmp(b, "2020-01-02T03:04:05.123456+00:00"));
    fs_rfc3339(1577934245, 793704793, b, sizeof b);
    CHECK(!strcmp(b, "2020-01-02T03:04:05.793704793+00:00"));
    fs_rfc3339(0, 0, b, sizeof b);
    CHECK(!strcmp(b, "1970-01-01T00:00:00+00:00"));
}

static void test_lossy(void) {
    char *s = fs_utf8_lossy("caf\xc3\xa9");
    CHECK_STR(s, "caf\xc3\xa9");
    free(s);
    s = fs_utf8_lossy("caf\xe9");
    CHECK_STR(s, "caf\xef\xbf\xbd");
    free(s);
    const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xe2\x82", "\xff",         "a\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = fs_utf8_lossy(bad[i]);
        CHECK(base_utf8_valid(s, strlen(s)));
        CHECK(strstr(s, "\xef\xbf\xbd") != NULL);
        free(s);
    }
    s = fs_utf8_lossy("\xf0\x9f\x98\x80");
    CHECK_STR(s, "\xf0\x9f\x98\x80");
    free(s);
}

static void test_errors(void) {
    fs_err e = {0};
    fs_err_os(&e, ENOENT, "/x");
    CHECK(e.status == 400);
    CHECK_STR(e.detail, "invalid request: path not found: /x");
    CHECK(e.message == NULL);
    fs_err_os(&e, ENOTEMPTY, "/d");
    CHECK(e.status == 409);
    CHECK_STR(e.code, "conflict");
    CHECK_STR(e.message, "Directory not empty (os error 39): /d");
    CHECK_STR(e.detail, "conflict: Directory not empty (os error 39): /d");
    fs_err_os(&e, EEXIST, "/f");
    CHECK(e.status == 409);
    fs_err_os(&e, EISDIR, "/d");
    CHECK(e.status == 400);
    CHECK_STR(e.detail, "invalid request: Is a directory (os error 21): /d");
    fs_err_os(&e, ENOTDIR, "/f/x");
    CHECK(e.status == 400);
    fs_err_os(&e, ENAMETOOLONG, "/long");
    CHECK(e.status == 400);
    fs_err_os(&e, EACCES, "/root");
    CHECK(e.status == 403);
    CHECK_STR(e.code, "permission_denied");
    CHECK_STR(e.detail, "permission denied");
    fs_err_os(&e, EIO, "/disk");
    CHECK(e.status == 502);
    CHECK_STR(e.detail, "stream error: Input/output error (os error 5)");
    CHECK_STR(e.message, "Input/output error (os error 5)");
    fs_err_clear(&e);
    CHECK(e.status == 0 && e.detail == NULL);
}

/* ---- extraction ------------------------------------------------------------------------------ */

/* One entry with its data. */
static void tar_add(base_buf *b, const char *name, char type, const char *data, size_t len,
                    const char *link, unsigned mode) {
    tar_write_header(b, name, type, link, len, mode);
    if (len)
        tar_write_data(b, data, len);
}

static char tmproot[256];

static char *P(const char *rel) {
    return base_xasprintf("%s/%s", tmproot, rel);
}

static bool extract(const char *dest_rel, base_buf *tarb, json_t **paths, bool *truncated,
                    fs_err *e) {
    char *dest = P(dest_rel);
    bool ok = fs_tar_extract_memory(dest, tarb->data, tarb->len, paths, truncated, e);
    free(dest);
    return ok;
}

static bool exists_kind(const char *rel, mode_t kind) {
    char *p = P(rel);
    struct stat st;
    bool ok = lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == kind;
    free(p);
    return ok;
}

static void test_extract(void) {
    snprintf(tmproot, sizeof tmproot, "/tmp/test_fs_%d", (int)getpid());
    char *outside = P("outside");
    CHECK(fs_mkdirs(outside) == 0);
    free(outside);

    /* A normal archive. */
    base_buf b;
    base_buf_init(&b);
    tar_add(&b, "./", '5', NULL, 0, NULL, 0755);
    tar_add(&b, "a/", '5', NULL, 0, NULL, 0700);
    tar_add(&b, "a/one.txt", '0', "one", 3, NULL, 0751);
    tar_add(&b, "./a/b/two.txt", '0', "two", 3, NULL, 0644);
    tar_add(&b, "a/lnk", '2', NULL, 0, "one.txt", 0777);
    tar_add(&b, "a/hard", '1', NULL, 0, "a/one.txt", 0644);
    tar_write_end(&b);
    json_t *paths = NULL;
    bool trunc = true;
    fs_err e = {0};
    CHECK(extract("d1", &b, &paths, &trunc, &e));
    CHECK(!trunc);
    CHECK(json_array_size(paths) == 5);
    char *want = P("d1/a/b/two.txt");
    CHECK_STR(json_string_value(json_array_get(paths, 2)), want);
    free(want);
    json_decref(paths);
    CHECK(exists_kind("d1/a/one.txt", S_IFREG));
    CHECK(exists_kind("d1/a/lnk", S_IFLNK));
    char *p1 = P("d1/a/one.txt"), *p2 = P("d1/a/hard"), *pa = P("d1/a");
    struct stat s1, s2, sa;
    CHECK(stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_ino == s2.st_ino);
    CHECK((s1.st_mode & 0777) == 0751);
    CHECK(s1.st_mtime == 1577934245);
    CHECK(stat(pa, &sa) == 0 && (sa.st_mode & 0777) == 0700 && sa.st_mtime == 1577934245);
    free(p1);
    free(p2);
    free(pa);
    base_buf_free(&b);

    /* Escapes are refused; earlier entries stay. */
    const struct {
        const char *name;
        char type;
        const char *link;
    } bad[] = {
        {"../evil", '0', NULL},   {"/tmp/evil", '0', NULL}, {"x/../../evil", '0', NULL},
        {"l", '2', "../outside"}, {"l", '2', "/etc"},       {"h", '1', "../outside/x"},
        {"fifo", '6', NULL},      {"chr", '3', NULL},       {"pre/through", '0', NULL},
        {"mid/", '5', NULL},      {"hl2sym", '1', NULL},
    };
    char *pre = P("d2/pre");
    char *target = P("outside");
    char *d2 = P("d2");
    CHECK(fs_mkdirs(d2) == 0);
    CHECK(symlink(target, pre) == 0); /* a symlink already in the destination */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        base_buf_init(&b);
        tar_add(&b, "first", '0', "1", 1, NULL, 0644);
        if (!strcmp(bad[i].name, "mid/")) {
            /* An archive symlink (inside, allowed), then used as a directory. */
            tar_add(&b, "mid", '2', NULL, 0, ".", 0777);
            tar_add(&b, "mid/x", '0', "x", 1, NULL, 0644);
        } else if (!strcmp(bad[i].name, "hl2sym")) {
            /* A link inside from its own depth, hard-linked to a shallower name. */
            tar_add(&b, "a/b/l", '2', NULL, 0, "../../first", 0777);
            tar_add(&b, "h", '1', NULL, 0, "a/b/l", 0644);
        } else {
            tar_add(&b, bad[i].name, bad[i].type, "x", bad[i].type == '0' ? 1 : 0, bad[i].link,
                    0644);
        }
        tar_write_end(&b);
        paths = NULL;
        bool ok = extract("d2", &b, &paths, &trunc, &e);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "escape not refused: %s\n", bad[i].name);
        CHECK(e.status == 400);
        json_decref(paths);
        fs_err_clear(&e);
        base_buf_free(&b);
    }
    CHECK(exists_kind("d2/first", S_IFREG));
    CHECK(!exists_kind("evil", S_IFREG));
    char *through = P("outside/through");
    CHECK(access(through, F_OK) != 0);
    free(through);
    free(pre);
    free(target);
    free(d2);

    /* 1030 files: 1024 listed, truncated. */
    base_buf_init(&b);
    for (int i = 0; i < 1030; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%04d", i);
        tar_add(&b, name, '0', name, strlen(name), NULL, 0644);
    }
    tar_write_end(&b);
    paths = NULL;
    CHECK(extract("d3", &b, &paths, &trunc, &e));
    CHECK(json_array_size(paths) == FS_TAR_MAX_LISTED);
    CHECK(trunc);
    json_decref(paths);
    CHECK(exists_kind("d3/f1029", S_IFREG));

    /* Limits. */
    setenv("SANDBOX_AGENT_MAX_EXTRACT_ENTRIES", "100", 1);
    paths = NULL;
    CHECK(!extract("d4", &b, &paths, &trunc, &e));
    CHECK(e.status == 413);
    CHECK(strstr(e.detail, "more than 100 entries") != NULL);
    json_decref(paths);
    fs_err_clear(&e);
    unsetenv("SANDBOX_AGENT_MAX_EXTRACT_ENTRIES");
    base_buf_free(&b);
    setenv("SANDBOX_AGENT_MAX_EXTRACT_BYTES", "10", 1);
    base_buf_init(&b);
    tar_add(&b, "small", '0', "12345", 5, NULL, 0644);
    tar_add(&b, "big", '0', "1234567890", 10, NULL, 0644);
    tar_write_end(&b);
    paths = NULL;
    CHECK(!extract("d5", &b, &paths, &trunc, &e));
    CHECK(e.status == 413);
    CHECK(exists_kind("d5/small", S_IFREG));
    CHECK(!exists_kind("d5/big", S_IFREG));
    json_decref(paths);
    fs_err_clear(&e);
    unsetenv("SANDBOX_AGENT_MAX_EXTRACT_BYTES");

    /* Corrupt and truncated bodies are stream errors; an empty body is an empty archive. */
    paths = NULL;
    CHECK(!fs_tar_extract_memory(tmproot, b.data, 700, &paths, &trunc, &e));
    CHECK(e.status == 502);
    json_decref(paths);
    fs_err_clear(&e);
    paths = NULL;
    CHECK(fs_tar_extract_memory(tmproot, "", 0, &paths, &trunc, &e));
    CHECK(json_array_size(paths) == 0);
    json_decref(paths);
    paths = NULL;
    CHECK(!fs_tar_extract_memory(tmproot, "garbage that is not a tar archive", 33, &paths, &trunc,
                                 &e));
    CHECK(e.status == 502);
    json_decref(paths);
    fs_err_clear(&e);
    base_buf_free(&b);

    /* Recursive removal does not follow links: outside survives. */
    char *keep = P("outside/keep");
    int fd = open(keep, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    close(fd);
    char *d2again = P("d2");
    CHECK(fs_remove(d2again, true) == 0);
    CHECK(access(keep, F_OK) == 0);
    free(d2again);
    free(keep);
    CHECK(fs_remove(tmproot, false) == ENOTEMPTY);
    CHECK(fs_remove(tmproot, true) == 0);
    CHECK(access(tmproot, F_OK) != 0);
}

/* ---- routes: synchronous validation ------------------------------------------------------------
 */

static void expect_status(http_server *srv, const char *raw, const char *want) {
    size_t n = 0;
    char *out = http_server_feed_for_test(srv, raw, strlen(raw), &n);
    char got[64];
    unit_statuses(out, n, got, sizeof got);
    CHECK(!strcmp(got, want));
    if (strcmp(got, want) != 0)
        fprintf(stderr, "request %.60s... got %s, want %s\n", raw, got, want);
    free(out);
}

static void test_routes(void) {
    http_config cfg;
    http_config_defaults(&cfg);
    http_server *srv = http_server_new(uv_default_loop(), &cfg);
    fs_routes(srv, uv_default_loop());
    expect_status(srv, "GET /v1/fs/stat HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "GET /v1/fs/file HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "GET /v1/fs/stat?path=a%00b HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "GET /v1/fs/stat?path=%ff HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "GET /v1/fs/stat?path=a&path=b HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "GET /v1/fs/stat?path=../x HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "DELETE /v1/fs/entry?path=x&recursive=1 HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "POST /v1/fs/mkdir HTTP/1.1\r\n\r\n", "400");
    expect_status(srv, "PUT /v1/fs/file HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "400");
    expect_status(srv, "POST /v1/fs/move HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "415");
    expect_status(srv,
                  "POST /v1/fs/move HTTP/1.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: 12\r\n\r\n{\"from\":\"a\"}",
                  "422");
    expect_status(srv,
                  "POST /v1/fs/move HTTP/1.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: 27\r\n\r\n{\"from\":\"a\\u0000\",\"to\":\"b\"}",
                  "400");
    expect_status(srv, "POST /v1/fs/upload-batch HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "400");
    expect_status(srv,
                  "POST /v1/fs/upload-batch HTTP/1.1\r\nContent-Type: application/X-tar\r\n"
                  "Content-Length: 0\r\n\r\n",
                  "400");
    setenv("SANDBOX_AGENT_MAX_UPLOAD_BYTES", "10", 1);
    expect_status(srv, "PUT /v1/fs/file?path=x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", "413");
    expect_status(srv,
                  "POST /v1/fs/upload-batch HTTP/1.1\r\nContent-Type: application/x-tar\r\n"
                  "Content-Length: 11\r\n\r\n",
                  "413");
    unsetenv("SANDBOX_AGENT_MAX_UPLOAD_BYTES");
    http_server_free(srv);
}

UNIT_MAIN(test_normalize(); test_resolve(); test_rfc3339(); test_lossy(); test_errors();
          test_extract(); test_routes())
