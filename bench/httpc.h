/* httpc.h - the small blocking HTTP/1.1 client shared by the C bench helpers (acp_rtt.c,
 * acp_events.c, desktop.c): loopback connections with TCP_NODELAY, one buffered reader per
 * connection, Content-Length and chunked replies, and a scan of a JSON-RPC reply's
 * top-level keys. Header-only (static inline functions, so a helper that uses only some of
 * them compiles without warnings): each helper is one compiled file.
 *
 * Nothing here allocates behind the caller's back except the connection buffer
 * (hconn_close frees it) and reply bodies (the caller frees resp.body). */
#ifndef BENCH_HTTPC_H
#define BENCH_HTTPC_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *g_prog = "bench";

static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", g_prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static inline double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline void set_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static inline int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

static inline void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("send: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One connection and the bytes received past what was consumed (kept for the next reply):
 * buf[0..len) within mem[0..cap). Consuming moves buf forward; the bytes are moved back to
 * the start only when the space after them runs out, so a long stream costs no quadratic
 * copying. */
typedef struct hconn {
    int fd; /* -1: not connected */
    char *mem, *buf;
    size_t len, cap;
} hconn;

#define HCONN_MAX_BUF ((size_t)64 << 20)

static inline void hconn_init(hconn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static inline void hconn_close(hconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->mem);
    hconn_init(c);
}

/* Make sure at least `need` bytes are buffered; 0 on EOF/timeout. */
static inline int hconn_fill(hconn *c, size_t need)
{
    while (c->len < need) {
        size_t room = c->cap - (size_t)(c->buf - c->mem) - c->len;
        if (!room && c->buf != c->mem) {
            memmove(c->mem, c->buf, c->len);
            c->buf = c->mem;
            room = c->cap - c->len;
        }
        if (!room) {
            if (c->cap >= HCONN_MAX_BUF)
                die("response too large");
            c->cap = c->cap ? c->cap * 2 : 1 << 16;
            c->mem = c->buf = realloc(c->mem, c->cap);
            room = c->cap - c->len;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        c->len += (size_t)r;
    }
    return 1;
}

static inline void hconn_consume(hconn *c, size_t n)
{
    c->buf += n;
    c->len -= n;
    if (!c->len)
        c->buf = c->mem;
}

/* The length of the next CRLF-terminated line (without the CRLF); -1 on EOF/timeout. */
static inline long hconn_line(hconn *c)
{
    size_t from = 0;
    for (;;) {
        char *e = c->len > from ? memmem(c->buf + from, c->len - from, "\r\n", 2) : NULL;
        if (e)
            return (long)(e - c->buf);
        from = c->len ? c->len - 1 : 0;
        if (!hconn_fill(c, c->len + 1))
            return -1;
    }
}

/* The length of the header block incl. CRLFCRLF; 0 on EOF/timeout. */
static inline size_t hconn_header_len(hconn *c)
{
    size_t from = 0;
    for (;;) {
        char *e = c->len > from ? memmem(c->buf + from, c->len - from, "\r\n\r\n", 4) : NULL;
        if (e)
            return (size_t)(e - c->buf) + 4;
        from = c->len > 3 ? c->len - 3 : 0;
        if (!hconn_fill(c, c->len + 1))
            return 0;
    }
}

static inline const char *find_header(const char *hdrs, size_t hlen, const char *name)
{
    size_t nl = strlen(name);
    const char *p = hdrs, *end = hdrs + hlen;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/* A reply's head: status, whether the server closes, whether the body is chunked. */
typedef struct resp_head {
    int status;
    int close;
    int chunked;
    long content_length; /* -1: none */
    char content_type[64]; /* the header's value up to ';' or the end of the line; "" if none */
} resp_head;

/* Read and consume the status line and headers of the next reply. 0 on EOF/timeout. */
static inline int hconn_read_head(hconn *c, resp_head *h)
{
    memset(h, 0, sizeof *h);
    size_t hl = hconn_header_len(c);
    if (!hl)
        return 0;
    char *s = malloc(hl + 1);
    memcpy(s, c->buf, hl);
    s[hl] = 0;
    hconn_consume(c, hl);
    if (sscanf(s, "HTTP/1.%*d %d", &h->status) != 1)
        die("bad status line: %.80s", s);
    const char *conn = find_header(s, hl, "connection");
    h->close = conn && strncasecmp(conn, "close", 5) == 0;
    if (strncmp(s, "HTTP/1.0", 8) == 0 && !(conn && strncasecmp(conn, "keep-alive", 10) == 0))
        h->close = 1;
    const char *te = find_header(s, hl, "transfer-encoding");
    const char *cl = find_header(s, hl, "content-length");
    h->chunked = te && strncasecmp(te, "chunked", 7) == 0;
    h->content_length = cl ? strtol(cl, NULL, 10) : -1;
    const char *ct = find_header(s, hl, "content-type");
    if (ct) {
        size_t n = strcspn(ct, ";\r\n ");
        if (n >= sizeof h->content_type)
            n = sizeof h->content_type - 1;
        memcpy(h->content_type, ct, n);
        h->content_type[n] = 0;
    }
    free(s);
    return 1;
}

/* The size of the next chunk of a chunked body (its size line consumed); 0 at the last
 * chunk (trailers consumed too); -1 on EOF/timeout. The caller reads the data, then
 * consumes it plus its CRLF. */
static inline long hconn_chunk(hconn *c)
{
    long l = hconn_line(c);
    if (l < 0)
        return -1;
    long sz = strtol(c->buf, NULL, 16);
    hconn_consume(c, (size_t)l + 2);
    if (sz > 0)
        return sz;
    while ((l = hconn_line(c)) > 0) /* trailers until the empty line */
        hconn_consume(c, (size_t)l + 2);
    if (l < 0)
        return -1;
    hconn_consume(c, 2);
    return 0;
}

typedef struct resp {
    int status;
    int close;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    char content_type[64]; /* as in resp_head */
} resp;

static inline void body_append(char **body, size_t *len, size_t *cap, const char *p,
                               size_t n)
{
    while (*len + n + 1 > *cap)
        *body = realloc(*body, *cap *= 2);
    memcpy(*body + *len, p, n);
    *len += n;
}

/* Read one whole reply (Content-Length, chunked or until close). 0 on EOF/timeout. */
static inline int hconn_read_response(hconn *c, resp *r)
{
    memset(r, 0, sizeof *r);
    resp_head h;
    if (!hconn_read_head(c, &h))
        return 0;
    r->status = h.status;
    r->close = h.close;
    memcpy(r->content_type, h.content_type, sizeof r->content_type);
    size_t cap = 4096, len = 0;
    char *body = malloc(cap);
    if (h.chunked) {
        long sz;
        while ((sz = hconn_chunk(c)) > 0) {
            if (!hconn_fill(c, (size_t)sz + 2))
                die("EOF inside chunk");
            body_append(&body, &len, &cap, c->buf, (size_t)sz);
            hconn_consume(c, (size_t)sz + 2);
        }
        if (sz < 0)
            die("EOF inside chunked body");
    } else if (h.content_length >= 0) {
        size_t sz = (size_t)h.content_length;
        if (!hconn_fill(c, sz))
            die("EOF inside body (%zu of %zu bytes)", c->len, sz);
        body_append(&body, &len, &cap, c->buf, sz);
        hconn_consume(c, sz);
    } else if (h.status == 204 || h.status == 304 || h.status / 100 == 1) {
        /* no body */
    } else {
        r->close = 1; /* read until close */
        while (hconn_fill(c, c->len + 1))
            ;
        body_append(&body, &len, &cap, c->buf, c->len);
        hconn_consume(c, c->len);
    }
    body[len] = 0;
    r->body = body;
    r->body_len = len;
    return 1;
}

/* Minimal JSON scan: look at the top-level object's keys.  Sets *id to the
 * numeric value of "id" (or -1 when absent/not a number) and *has_result /
 * *has_error.  Returns 0 if the body is not a JSON object. */
static inline int scan_top(const char *s, long *id, int *has_result, int *has_error)
{
    *id = -1;
    *has_result = *has_error = 0;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
        s++;
    if (*s != '{')
        return 0;
    int depth = 0, expect_key = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '"') {
            const char *start = p + 1;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (!*p)
                return 0;
            if (depth == 1 && expect_key) {
                size_t kl = (size_t)(p - start);
                const char *q = p + 1;
                while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                    q++;
                if (*q == ':') {
                    q++;
                    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                        q++;
                    if (kl == 2 && memcmp(start, "id", 2) == 0) {
                        char *e;
                        long v = strtol(q, &e, 10);
                        if (e != q)
                            *id = v;
                    } else if (kl == 6 && memcmp(start, "result", 6) == 0) {
                        *has_result = 1;
                    } else if (kl == 5 && memcmp(start, "error", 5) == 0) {
                        *has_error = 1;
                    }
                }
                expect_key = 0;
            }
            continue;
        }
        if (c == '{') {
            depth++;
            expect_key = depth == 1;
        } else if (c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = 1;
        }
    }
    return 1;
}

/* Send METHOD PATH on c (dialled on first use, redialled after a close), with a JSON body
 * when json is not NULL, and read the reply. Returns 1 when the server dialled anew (a
 * reconnect). Dies when no reply comes. */
static inline int hconn_request(hconn *c, int port, const char *method, const char *path,
                                const char *json, resp *r, int timeout_ms)
{
    int dialled = 0;
    if (c->fd < 0) {
        c->fd = dial(port);
        c->buf = c->mem;
        c->len = 0;
        dialled = 1;
    }
    set_timeout(c->fd, timeout_ms);
    size_t bl = json ? strlen(json) : 0;
    size_t cap = bl + strlen(path) + 512;
    char *req = malloc(cap);
    int rl;
    if (json)
        rl = snprintf(req, cap,
                      "%s %s HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Accept: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      method, path, port, bl, json);
    else
        rl = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n\r\n",
                      method, path, port);
    send_all(c->fd, req, (size_t)rl);
    free(req);
    if (!hconn_read_response(c, r))
        die("%s %s: connection closed or timed out before a response", method, path);
    if (r->close) {
        close(c->fd);
        c->fd = -1;
    }
    return dialled;
}

/* POST a JSON body on c: hconn_request with method POST. */
static inline int hconn_post_json(hconn *c, int port, const char *path, const char *json,
                                  resp *r, int timeout_ms)
{
    return hconn_request(c, port, "POST", path, json, r, timeout_ms);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of n sorted values. */
static inline double quantile_sorted(const double *v, int n, double q)
{
    int i = (int)ceil(q * n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

#endif
