/* test_ui.c - the Inspector's file serving (src/ui/ui.c) through raw HTTP, without sockets:
 * content types, ETag and 304, gzip as stored or inflated, q-values, HEAD, the page for
 * client-side routes and 404 for missing file names. The table is the real embedded one
 * (build/gen/ui_assets.c), so index.html, js/main.js and css/app.css must exist in web/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http.h"
#include "ui/ui.h"
#include "unit.h"
#include "http_fixture.h"

/* One response of the server: its raw bytes, split into head and body. Owner: the test
 * (static storage, replaced by the next feed). */
static struct {
    char *raw;
    size_t len;
    const char *body;
    size_t body_len;
} resp;

static void feed(http_server *srv, const char *req) {
    free(resp.raw);
    resp.raw = http_server_feed_for_test(srv, req, strlen(req), &resp.len);
    const char *end = memmem(resp.raw, resp.len, "\r\n\r\n", 4);
    resp.body = end ? end + 4 : resp.raw + resp.len;
    resp.body_len = (size_t)(resp.raw + resp.len - resp.body);
}

static int status(void) {
    return resp.len > 12 ? atoi(resp.raw + 9) : 0;
}

/* The value of a response header (lower-case name), copied into a static buffer; "" when
 * absent. */
static const char *header(const char *name) {
    static char v[256];
    v[0] = 0;
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    size_t head = (size_t)(resp.body - resp.raw);
    const char *p = memmem(resp.raw, head, pat, strlen(pat));
    if (!p)
        return v;
    p += strlen(pat);
    const char *e = memmem(p, (size_t)(resp.raw + head - p), "\r\n", 2);
    snprintf(v, sizeof v, "%.*s", (int)(e - p), p);
    return v;
}

static void get(http_server *srv, const char *method, const char *path, const char *extra) {
    char req[1024];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nhost: x\r\n%s\r\n", method, path,
             extra ? extra : "");
    feed(srv, req);
}

static void test_helpers(void) {
    CHECK_STR(ui_content_type("index.html"), "text/html; charset=utf-8");
    CHECK_STR(ui_content_type("js/panels/x.js"), "text/javascript; charset=utf-8");
    CHECK_STR(ui_content_type("css/app.css"), "text/css; charset=utf-8");
    CHECK_STR(ui_content_type("favicon.svg"), "image/svg+xml");
    CHECK_STR(ui_content_type("a/b.png"), "image/png");
    CHECK_STR(ui_content_type("x.json"), "application/json");
    CHECK_STR(ui_content_type("vendor/xterm.js.map"), "application/json");
    CHECK_STR(ui_content_type("a.b/noext"), "application/octet-stream");

    CHECK(ui_accepts_gzip("gzip"));
    CHECK(ui_accepts_gzip("gzip, deflate, br"));
    CHECK(ui_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(ui_accepts_gzip("x-gzip"));
    CHECK(ui_accepts_gzip("*"));
    CHECK(!ui_accepts_gzip(NULL));
    CHECK(!ui_accepts_gzip(""));
    CHECK(!ui_accepts_gzip("identity"));
    CHECK(!ui_accepts_gzip("deflate, br"));
    CHECK(!ui_accepts_gzip("gzip;q=0"));
    CHECK(!ui_accepts_gzip("gzip ; q=0.000, deflate"));
    CHECK(!ui_accepts_gzip("*, gzip;q=0")); /* the explicit entry wins */
    CHECK(ui_accepts_gzip("*;q=0, gzip"));
    CHECK(!ui_accepts_gzip("gzipx"));

    CHECK(ui_etag_matches("\"abc\"", "\"abc\""));
    CHECK(ui_etag_matches("\"x\", W/\"abc\"", "\"abc\""));
    CHECK(ui_etag_matches("*", "\"abc\""));
    CHECK(!ui_etag_matches("\"abcd\"", "\"abc\""));
    CHECK(!ui_etag_matches(NULL, "\"abc\""));
    CHECK(!ui_etag_matches("abc", "\"abc\""));
}

static void test_serving(void) {
    http_config cfg;
    http_config_defaults(&cfg);
    cfg.token = "secret"; /* /ui needs none */
    http_server *srv = http_server_new(uv_default_loop(), &cfg);
    ui_routes(srv);
    const ui_asset *index = ui_find("index.html");
    CHECK(index != NULL);
    if (!index) {
        unit_free_server(srv);
        return;
    }

    /* Without Accept-Encoding: inflated, the same bytes as web/index.html. */
    const char *pages[] = {"/ui", "/ui/", "/ui/index.html", "/ui/sessions/x", "/ui/a/b/c?x=1"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        get(srv, "GET", pages[i], NULL);
        CHECK(status() == 200);
        CHECK_STR(header("content-type"), "text/html; charset=utf-8");
        CHECK_STR(header("content-encoding"), "");
        CHECK_STR(header("etag"), index->etag);
        CHECK_STR(header("cache-control"), "no-cache");
        /* The http layer sends its own vary (CORS) first. */
        CHECK(memmem(resp.raw, (size_t)(resp.body - resp.raw), "\r\nvary: accept-encoding\r\n",
                     25) != NULL);
        CHECK(resp.body_len == index->raw_size);
        CHECK(memmem(resp.body, resp.body_len, "<title>Sandbox Agent Inspector</title>", 38) !=
              NULL);
    }
    char *disk = NULL;
    size_t disk_len = 0;
    FILE *f = fopen("web/index.html", "rb");
    if (f) { /* the unit tests run from the repository root */
        disk = malloc(index->raw_size + 1);
        disk_len = fread(disk, 1, index->raw_size + 1, f);
        fclose(f);
        get(srv, "GET", "/ui/", NULL);
        CHECK(disk_len == resp.body_len && memcmp(disk, resp.body, disk_len) == 0);
    }
    free(disk);

    /* gzip as stored: the member's magic, the stored length. */
    get(srv, "GET", "/ui/", "accept-encoding: gzip, deflate, br\r\n");
    CHECK(status() == 200);
    CHECK_STR(header("content-encoding"), "gzip");
    CHECK(resp.body_len == index->gz_size);
    CHECK(resp.body_len > 2 && (unsigned char)resp.body[0] == 0x1f &&
          (unsigned char)resp.body[1] == 0x8b);
    get(srv, "GET", "/ui/", "accept-encoding: gzip;q=0, deflate\r\n");
    CHECK_STR(header("content-encoding"), "");
    CHECK(resp.body_len == index->raw_size);

    /* Scripts and styles. */
    get(srv, "GET", "/ui/js/main.js", "accept-encoding: gzip\r\n");
    CHECK(status() == 200);
    CHECK_STR(header("content-type"), "text/javascript; charset=utf-8");
    get(srv, "GET", "/ui/css/app.css", NULL);
    CHECK(status() == 200);
    CHECK_STR(header("content-type"), "text/css; charset=utf-8");
    CHECK(resp.body_len == ui_find("css/app.css")->raw_size);

    /* Revalidation. */
    char inm[128];
    snprintf(inm, sizeof inm, "if-none-match: W/\"other\", %s\r\n", index->etag);
    get(srv, "GET", "/ui/", inm);
    CHECK(status() == 304);
    CHECK(resp.body_len == 0);
    CHECK_STR(header("etag"), index->etag);
    CHECK_STR(header("content-length"), "");
    get(srv, "GET", "/ui/", "if-none-match: \"stale\"\r\n");
    CHECK(status() == 200);

    /* HEAD: the headers and length of the GET, no body, nothing inflated. */
    get(srv, "HEAD", "/ui/", NULL);
    CHECK(status() == 200);
    char want[32];
    snprintf(want, sizeof want, "%zu", index->raw_size);
    CHECK(strcmp(header("content-length"), want) == 0);
    CHECK(resp.body_len == 0);
    get(srv, "HEAD", "/ui/", "accept-encoding: gzip\r\n");
    snprintf(want, sizeof want, "%zu", index->gz_size);
    CHECK(strcmp(header("content-length"), want) == 0);
    CHECK_STR(header("content-encoding"), "gzip");
    CHECK(resp.body_len == 0);

    /* A missing name with a dot: 404, empty, no content type (spec §3.3). */
    get(srv, "GET", "/ui/nope.js", NULL);
    CHECK(status() == 404);
    CHECK_STR(header("content-type"), "");
    get(srv, "GET", "/ui/x/y.png", NULL);
    CHECK(status() == 404);
    /* Other methods: 405. */
    get(srv, "POST", "/ui/", "content-length: 0\r\n");
    CHECK(status() == 405);

    free(resp.raw);
    resp.raw = NULL;
    unit_free_server(srv);
}

UNIT_MAIN(test_helpers(); test_serving())
