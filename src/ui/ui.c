/* ui.c - serves the embedded Inspector files at /ui/ (table: build/gen/ui_assets.c).
 *
 * Files are stored gzipped only. A client that accepts gzip gets the stored bytes as they
 * are; any other gets them inflated, by zlib opened with dlopen (the server does not link
 * it; nearly every browser takes gzip, so this path is rare). Small files are inflated on
 * the loop (tens of microseconds), large ones on the thread pool. Names carry no content
 * hash, so responses say `no-cache` (revalidate every time) and the ETag makes that a 304.
 *
 * Paths: /ui, /ui/ and /ui/index.html are the page; a known file is itself; any other path
 * whose last segment has no dot is the page too (client-side routes); a missing name with
 * a dot is 404 with no body, as the reference answers (spec §3.3). */
#include "ui/ui.h"

#include <dlfcn.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "base/base.h"

/* Inflated on the loop below this many bytes; on the thread pool above. */
#define UI_INLINE_INFLATE_MAX (64 * 1024)

/* ---- lookups ------------------------------------------------------------------------------ */

const ui_asset *ui_find(const char *path) {
    for (size_t i = 0; i < ui_assets_count; i++)
        if (strcmp(ui_assets[i].path, path) == 0)
            return &ui_assets[i];
    return NULL;
}

const char *ui_content_type(const char *path) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"ico", "image/x-icon"},
        {"txt", "text/plain; charset=utf-8"},
        {"wasm", "application/wasm"},
        {"woff2", "font/woff2"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* The q-value of one Accept-Encoding element's parameters (";q=0.5"); 1 when absent. */
static double ui_qvalue(const char *params, size_t len) {
    for (const char *p = params; p < params + len;) {
        while (p < params + len && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (params + len - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            return strtod(p + 2, NULL);
        const char *semi = memchr(p, ';', (size_t)(params + len - p));
        p = semi ? semi : params + len;
    }
    return 1.0;
}

bool ui_accepts_gzip(const char *ae) {
    if (!ae)
        return false;
    double gzip_q = -1, star_q = -1;
    for (const char *p = ae; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        size_t nlen = strcspn(p, ";, \t");
        if (nlen > len)
            nlen = len;
        double q = ui_qvalue(p + nlen, len - nlen);
        if ((nlen == 4 && !strncasecmp(p, "gzip", 4)) ||
            (nlen == 6 && !strncasecmp(p, "x-gzip", 6)))
            gzip_q = q;
        else if (nlen == 1 && *p == '*')
            star_q = q;
        p += len;
    }
    /* An explicit gzip entry wins over "*" (RFC 9110 §12.5.3). */
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

bool ui_etag_matches(const char *inm, const char *etag) {
    if (!inm)
        return false;
    size_t elen = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        size_t tlen = len;
        while (tlen && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        if (tlen == 1 && *p == '*')
            return true;
        const char *tag = p;
        if (tlen >= 2 && tag[0] == 'W' && tag[1] == '/') /* weak comparison for GET */
            tag += 2, tlen -= 2;
        if (tlen == elen && memcmp(tag, etag, elen) == 0)
            return true;
        p += len;
    }
    return false;
}

/* ---- zlib, bound on first use ---------------------------------------------------------------- */

typedef struct ui_zlib {
    int (*inflateInit2_)(z_streamp, int, const char *, int);
    int (*inflate)(z_streamp, int);
    int (*inflateEnd)(z_streamp);
} ui_zlib;

static ui_zlib ui_z;
static bool ui_z_ok;
static pthread_once_t ui_z_once = PTHREAD_ONCE_INIT;

static void ui_zlib_load(void) {
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        LOG_ERROR("cannot load zlib", "error=\"%s\"", dlerror());
        return;
    }
    *(void **)&ui_z.inflateInit2_ = dlsym(h, "inflateInit2_");
    *(void **)&ui_z.inflate = dlsym(h, "inflate");
    *(void **)&ui_z.inflateEnd = dlsym(h, "inflateEnd");
    ui_z_ok = ui_z.inflateInit2_ && ui_z.inflate && ui_z.inflateEnd;
}

/* The raw bytes of a (caller frees), or NULL when zlib is missing or the data is damaged. */
static unsigned char *ui_inflate(const ui_asset *a) {
    /* Worker threads and the loop may both get here: bind exactly once. */
    pthread_once(&ui_z_once, ui_zlib_load);
    if (!ui_z_ok)
        return NULL;
    unsigned char *out = base_xmalloc(a->raw_size ? a->raw_size : 1);
    z_stream zs = {0};
    if (ui_z.inflateInit2_(&zs, 16 + MAX_WBITS, ZLIB_VERSION, (int)sizeof zs) != Z_OK) {
        free(out);
        return NULL;
    }
    zs.next_in = (unsigned char *)a->gz;
    zs.avail_in = (uInt)a->gz_size;
    zs.next_out = out;
    zs.avail_out = (uInt)a->raw_size;
    int r = ui_z.inflate(&zs, Z_FINISH);
    bool ok = r == Z_STREAM_END && zs.total_out == a->raw_size;
    ui_z.inflateEnd(&zs);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- serving -------------------------------------------------------------------------------- */

/* The headers every 200 and 304 carries. buf must hold 256 bytes. */
static const char *ui_headers(char *buf, size_t cap, const ui_asset *a, bool gz) {
    snprintf(buf, cap, "etag: %s\r\ncache-control: no-cache\r\nvary: accept-encoding\r\n%s",
             a->etag, gz ? "content-encoding: gzip\r\n" : "");
    return buf;
}

static void ui_reply_inflated(http_req *req, const ui_asset *a, unsigned char *raw) {
    char hd[256];
    if (!raw) {
        http_reply_problem(req, 500, "internal_error", "Internal Server Error",
                           "cannot inflate the embedded file (is libz.so.1 installed?)", NULL);
        return;
    }
    http_reply(req, 200, ui_content_type(a->path), ui_headers(hd, sizeof hd, a, false), raw,
               a->raw_size);
    free(raw);
}

/* An identity reply of a large file, inflated on the thread pool. Owner: itself; freed in
 * ui_job_after. req is cleared when the client leaves first. */
typedef struct ui_job {
    uv_work_t work;
    http_req *req;
    const ui_asset *asset;
    unsigned char *raw;
} ui_job;

static void ui_job_work(uv_work_t *w) {
    ui_job *j = w->data;
    j->raw = ui_inflate(j->asset);
}

static void ui_job_after(uv_work_t *w, int status) {
    ui_job *j = w->data;
    if (j->req) {
        http_req_on_abort(j->req, NULL, NULL);
        ui_reply_inflated(j->req, j->asset, j->raw);
    } else {
        free(j->raw);
    }
    free(j);
}

static void ui_job_abort(http_req *req, void *ud) {
    ((ui_job *)ud)->req = NULL;
}

static void ui_serve(http_req *req, const ui_asset *a) {
    char hd[256];
    if (ui_etag_matches(http_req_header(req, "if-none-match"), a->etag)) {
        http_reply(req, 304, NULL, ui_headers(hd, sizeof hd, a, false), NULL, 0);
        return;
    }
    const char *ctype = ui_content_type(a->path);
    if (ui_accepts_gzip(http_req_header(req, "accept-encoding"))) {
        http_reply(req, 200, ctype, ui_headers(hd, sizeof hd, a, true), a->gz, a->gz_size);
    } else if (req->method == HTTP_M_HEAD) {
        /* The length of what a GET would send; nothing to inflate. */
        http_reply(req, 200, ctype, ui_headers(hd, sizeof hd, a, false), NULL, a->raw_size);
    } else if (a->raw_size <= UI_INLINE_INFLATE_MAX) {
        ui_reply_inflated(req, a, ui_inflate(a));
    } else {
        ui_job *j = base_xcalloc(1, sizeof *j);
        j->work.data = j;
        j->req = req;
        j->asset = a;
        http_req_on_abort(req, ui_job_abort, j);
        uv_queue_work(http_req_loop(req), &j->work, ui_job_work, ui_job_after);
    }
}

static void ui_handler(http_req *req, void *ud) {
    const char *rest = req->path + 3; /* after "/ui" */
    if (*rest == '/')
        rest++;
    const ui_asset *a = *rest ? ui_find(rest) : NULL;
    if (!a) {
        /* A client-side route (no dot in its last segment) gets the page. */
        const char *last = strrchr(rest, '/');
        last = last ? last + 1 : rest;
        if (strchr(last, '.')) {
            http_reply_empty(req, 404);
            return;
        }
        a = ui_find("index.html");
        if (!a) {
            http_reply_empty(req, 404);
            return;
        }
    }
    ui_serve(req, a);
}

void ui_routes(http_server *srv) {
    http_route(srv, HTTP_M_GET, "/ui", 0, ui_handler, NULL);
    http_route(srv, HTTP_M_GET, "/ui/*", 0, ui_handler, NULL);
}
