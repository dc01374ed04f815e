/* acp_rtt.c - ACP round-trip latency through the HTTP bridge to the mock agent.
 *
 * Usage: acp_rtt PORT SERVER_ID N WARMUP [--create] [--delete]
 *
 * On ONE keep-alive TCP connection to 127.0.0.1:PORT:
 *   1. with --create: POST /v1/acp/SERVER_ID?agent=mock  initialize (id 0)
 *      -> must be 200 (creates the instance; without --create the instance
 *      must already exist, e.g. from an earlier round)
 *   2. WARMUP + N sequential POST /v1/acp/SERVER_ID  initialize (id 1..)
 *      each reply must be 200 JSON whose top-level "id" equals the request
 *      id and that has a top-level "result"; the last N are timed with
 *      CLOCK_MONOTONIC from just before write() to the last body byte.
 * Then, with --delete, on a fresh connection with a 2 s timeout,
 * DELETE /v1/acp/SERVER_ID (the outcome is reported on stderr and otherwise
 * ignored: the reference may not answer while its agent is alive).
 *
 * Output (stdout), microseconds:
 *   acp_median_us X / acp_p99_us X / acp_mean_us X / acp_min_us X /
 *   acp_max_us X / acp_reconnects N
 * Exit status 0 on success, 1 on any protocol or assertion failure.
 */
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

static int g_port;
static int g_fd = -1;
static int g_reconnects;

/* Receive buffer: bytes past the current response are kept for the next. */
static char g_buf[1 << 20];
static size_t g_len;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "acp_rtt: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void set_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)g_port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect 127.0.0.1:%d: %s", g_port, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
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

/* Make sure at least `need` bytes are buffered; 0 on EOF/timeout. */
static int fill(int fd, size_t need)
{
    while (g_len < need) {
        if (g_len >= sizeof g_buf)
            die("response too large");
        ssize_t r = recv(fd, g_buf + g_len, sizeof g_buf - g_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        g_len += (size_t)r;
    }
    return 1;
}

static void consume(size_t n)
{
    memmove(g_buf, g_buf + n, g_len - n);
    g_len -= n;
}

/* Find the end of the header block; returns its length incl. CRLFCRLF. */
static size_t header_len(int fd)
{
    for (;;) {
        char *e = memmem(g_buf, g_len, "\r\n\r\n", 4);
        if (e)
            return (size_t)(e - g_buf) + 4;
        if (!fill(fd, g_len + 1))
            return 0;
    }
}

static const char *find_header(const char *hdrs, size_t hlen, const char *name)
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

struct resp {
    int status;
    int close;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
};

/* Read one HTTP/1.1 response (Content-Length or chunked). 0 on EOF/timeout. */
static int read_response(int fd, struct resp *r)
{
    memset(r, 0, sizeof *r);
    size_t hl = header_len(fd);
    if (!hl)
        return 0;
    char *h = malloc(hl + 1);
    memcpy(h, g_buf, hl);
    h[hl] = 0;
    consume(hl);
    if (sscanf(h, "HTTP/1.%*d %d", &r->status) != 1)
        die("bad status line: %.80s", h);
    const char *conn = find_header(h, hl, "connection");
    r->close = conn && strncasecmp(conn, "close", 5) == 0;
    if (strncmp(h, "HTTP/1.0", 8) == 0 && !(conn && strncasecmp(conn, "keep-alive", 10) == 0))
        r->close = 1;
    const char *te = find_header(h, hl, "transfer-encoding");
    const char *cl = find_header(h, hl, "content-length");
    size_t cap = 4096, len = 0;
    char *body = malloc(cap);
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        for (;;) {
            char *eol;
            while (!(eol = memmem(g_buf, g_len, "\r\n", 2)))
                if (!fill(fd, g_len + 1))
                    die("EOF inside chunked body");
            size_t sz = strtoul(g_buf, NULL, 16);
            consume((size_t)(eol - g_buf) + 2);
            if (sz == 0) {
                /* trailers until empty line */
                for (;;) {
                    while (!(eol = memmem(g_buf, g_len, "\r\n", 2)))
                        if (!fill(fd, g_len + 1))
                            die("EOF inside chunked trailer");
                    size_t l = (size_t)(eol - g_buf);
                    consume(l + 2);
                    if (l == 0)
                        break;
                }
                break;
            }
            if (!fill(fd, sz + 2))
                die("EOF inside chunk");
            while (len + sz + 1 > cap)
                body = realloc(body, cap *= 2);
            memcpy(body + len, g_buf, sz);
            len += sz;
            consume(sz + 2);
        }
    } else if (cl) {
        size_t sz = strtoul(cl, NULL, 10);
        if (!fill(fd, sz))
            die("EOF inside body (%zu of %zu bytes)", g_len, sz);
        while (len + sz + 1 > cap)
            body = realloc(body, cap *= 2);
        memcpy(body, g_buf, sz);
        len = sz;
        consume(sz);
    } else if (r->status == 204 || r->status == 304 || r->status / 100 == 1) {
        /* no body */
    } else {
        /* read until close */
        r->close = 1;
        for (;;) {
            ssize_t n = recv(fd, g_buf + g_len, sizeof g_buf - g_len, 0);
            if (n <= 0)
                break;
            g_len += (size_t)n;
        }
        while (len + g_len + 1 > cap)
            body = realloc(body, cap *= 2);
        memcpy(body, g_buf, g_len);
        len = g_len;
        g_len = 0;
    }
    body[len] = 0;
    r->body = body;
    r->body_len = len;
    free(h);
    return 1;
}

/* Minimal JSON scan: look at the top-level object's keys.  Sets *id to the
 * numeric value of "id" (or -1 when absent/not a number) and *has_result /
 * *has_error.  Returns 0 if the body is not a JSON object. */
static int scan_top(const char *s, long *id, int *has_result, int *has_error)
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

static const char *g_params = "{\"protocolVersion\":1,\"clientCapabilities\":{},"
                              "\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}";

static void rpc(const char *path, long id, int first)
{
    char body[512];
    int bl = snprintf(body, sizeof body,
                      "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"initialize\",\"params\":%s}", id,
                      g_params);
    char req[1024];
    int rl = snprintf(req, sizeof req,
                      "POST %s HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Accept: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      path, g_port, bl, body);
    if (g_fd < 0) {
        g_fd = dial();
        g_len = 0;
        g_reconnects++;
    }
    set_timeout(g_fd, first ? 60000 : 10000);
    send_all(g_fd, req, (size_t)rl);
    struct resp r;
    if (!read_response(g_fd, &r))
        die("POST %s id %ld: connection closed or timed out before a response", path, id);
    if (r.status != 200)
        die("POST %s id %ld: HTTP %d: %.300s", path, id, r.status, r.body);
    long got;
    int has_result, has_error;
    if (!scan_top(r.body, &got, &has_result, &has_error))
        die("POST %s id %ld: reply is not a JSON object: %.300s", path, id, r.body);
    if (got != id)
        die("POST %s id %ld: reply id mismatch (got %ld): %.300s", path, id, got, r.body);
    if (!has_result || has_error)
        die("POST %s id %ld: reply has no result: %.300s", path, id, r.body);
    if (r.close) {
        close(g_fd);
        g_fd = -1;
    }
    free(r.body);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void delete_instance(const char *sid)
{
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "DELETE /v1/acp/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Connection: close\r\n\r\n",
                      sid, g_port);
    int fd = dial();
    set_timeout(fd, 2000);
    if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
        fprintf(stderr, "acp_rtt: DELETE send failed (ignored)\n");
        close(fd);
        return;
    }
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        buf[n] = 0;
        int st = 0;
        sscanf(buf, "HTTP/1.%*d %d", &st);
        fprintf(stderr, "acp_rtt: DELETE /v1/acp/%s -> HTTP %d\n", sid, st);
    } else {
        fprintf(stderr, "acp_rtt: DELETE /v1/acp/%s -> no reply within 2 s (ignored)\n", sid);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    int do_create = 0, do_delete = 0;
    while (argc > 5) {
        if (strcmp(argv[argc - 1], "--create") == 0)
            do_create = 1;
        else if (strcmp(argv[argc - 1], "--delete") == 0)
            do_delete = 1;
        else
            break;
        argc--;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT SERVER_ID N WARMUP [--create] [--delete]\n", argv[0]);
        return 2;
    }
    g_port = atoi(argv[1]);
    const char *sid = argv[2];
    int n = atoi(argv[3]), warm = atoi(argv[4]);
    if (n < 1 || warm < 0)
        die("bad N/WARMUP");

    char create_path[256], path[256];
    snprintf(create_path, sizeof create_path, "/v1/acp/%s?agent=mock", sid);
    snprintf(path, sizeof path, "/v1/acp/%s", sid);

    long id = 1;
    if (do_create)
        rpc(create_path, 0, 1);
    else
        rpc(path, id++, 1); /* first request of a round: generous timeout */
    g_reconnects = 0;       /* the first dial does not count */

    double *t = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < warm; i++)
        rpc(path, id++, 0);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        rpc(path, id++, 0);
        t[i] = now_us() - t0;
    }
    if (g_fd >= 0)
        close(g_fd);

    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += t[i];
    double median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    int p99i = (int)ceil(0.99 * n) - 1; /* nearest-rank */
    if (p99i < 0)
        p99i = 0;
    printf("acp_median_us %.1f\n", median);
    printf("acp_p99_us %.1f\n", t[p99i]);
    printf("acp_mean_us %.1f\n", sum / n);
    printf("acp_min_us %.1f\n", t[0]);
    printf("acp_max_us %.1f\n", t[n - 1]);
    printf("acp_reconnects %d\n", g_reconnects);
    fflush(stdout);
    free(t);

    if (do_delete)
        delete_instance(sid);
    return 0;
}
