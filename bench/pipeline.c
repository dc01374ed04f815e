/* pipeline.c - pipelined GET /v1/health throughput on ONE connection (issue 8: throughput
 * must not drop with the pipelining depth).
 *
 * Usage: pipeline PORT DEPTH SECONDS
 *
 * Opens one TCP connection to 127.0.0.1:PORT (TCP_NODELAY) and repeats, for SECONDS: write
 * DEPTH `GET /v1/health` requests with a single write(), then read until DEPTH complete
 * responses arrived. Depth 1 is plain sequential keep-alive. Every response must be
 * HTTP/1.1 200 with a Content-Length (the body is skipped); a closed connection, another
 * status or chunked framing is a failure. One untimed batch goes first.
 *
 * Output (stdout): pipe_rps X / pipe_requests N / pipe_seconds S
 * Exit status 0 on success, 1 on any failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pipeline: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes received and not yet consumed by a parsed response. */
static char g_buf[1 << 20];
static size_t g_len;

static void fill(int fd) {
    if (g_len == sizeof g_buf)
        die("response larger than %zu bytes", sizeof g_buf);
    for (;;) {
        ssize_t n = read(fd, g_buf + g_len, sizeof g_buf - g_len);
        if (n > 0) {
            g_len += (size_t)n;
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        die(n == 0 ? "server closed the connection" : "read: %s", strerror(errno));
    }
}

/* Consume one complete response from g_buf, reading more as needed. */
static void read_response(int fd) {
    char *end;
    while (!(end = memmem(g_buf, g_len, "\r\n\r\n", 4)))
        fill(fd);
    size_t head = (size_t)(end - g_buf) + 4;
    if (g_len < 12 || strncmp(g_buf, "HTTP/1.1 200", 12) != 0)
        die("expected HTTP/1.1 200, got: %.60s", g_buf);
    long clen = -1;
    /* Header lines start after each "\n" inside the head. */
    for (char *p = memchr(g_buf, '\n', head); p; p = memchr(p, '\n', (size_t)(g_buf + head - p))) {
        p++;
        size_t left = (size_t)(g_buf + head - p);
        if (left > 15 && strncasecmp(p, "content-length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        if (left > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0)
            die("chunked responses are not supported");
    }
    if (clen < 0)
        die("response without content-length");
    size_t total = (size_t)(end - g_buf) + 4 + (size_t)clen;
    while (g_len < total)
        fill(fd);
    memmove(g_buf, g_buf + total, g_len - total);
    g_len -= total;
}

int main(int argc, char **argv) {
    if (argc != 4)
        die("usage: pipeline PORT DEPTH SECONDS");
    int port = atoi(argv[1]), depth = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (port <= 0 || depth <= 0 || depth > 4096 || secs <= 0)
        die("bad arguments");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[128];
    int rl =
        snprintf(req, sizeof req, "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    size_t blen = (size_t)rl * (size_t)depth;
    char *batch = malloc(blen);
    if (!batch)
        die("out of memory");
    for (int i = 0; i < depth; i++)
        memcpy(batch + (size_t)i * (size_t)rl, req, (size_t)rl);
    long done = 0;
    double t0 = 0, t1 = 0;
    for (int round = 0;; round++) {
        if (round == 1)
            t0 = now_s();
        for (size_t off = 0; off < blen;) {
            ssize_t n = write(fd, batch + off, blen - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                die("write: %s", strerror(errno));
            off += (size_t)n;
        }
        for (int i = 0; i < depth; i++)
            read_response(fd);
        if (round == 0)
            continue;
        done += depth;
        t1 = now_s();
        if (t1 - t0 >= secs)
            break;
    }
    printf("pipe_rps %.1f\npipe_requests %ld\npipe_seconds %.3f\n", (double)done / (t1 - t0), done,
           t1 - t0);
    free(batch);
    close(fd);
    return 0;
}
