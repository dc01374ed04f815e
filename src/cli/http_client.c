/* http_client.c - the CLI's blocking HTTP/1.1 client (see http_client.h). */
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/http_client.h"

#define CLI_HTTP_CONNECT_TIMEOUT_MS 10000

static volatile sig_atomic_t cli_http_sigint;

static void cli_http_on_sigint(int sig) {
    cli_http_sigint = 1;
}

void cli_http_catch_sigint(void) {
    /* No SA_RESTART: poll() must return EINTR so the wait loop sees the flag. */
    struct sigaction sa = {0};
    sa.sa_handler = cli_http_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* ---- endpoints ------------------------------------------------------------------------- */

bool cli_http_endpoint_parse(const char *url, cli_http_endpoint *ep, char *err, size_t cap) {
    memset(ep, 0, sizeof *ep);
    const char *p = url;
    if (!strncmp(p, "https://", 8)) {
        snprintf(err, cap, "invalid endpoint '%s': https is not supported (use http://)", url);
        return false;
    }
    if (!strncmp(p, "http://", 7))
        p += 7;
    else if (strstr(p, "://")) {
        snprintf(err, cap, "invalid endpoint '%s': only http:// is supported", url);
        return false;
    }
    const char *host = p, *host_end;
    if (*p == '[') { /* IPv6 literal */
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            snprintf(err, cap, "invalid endpoint '%s': unterminated '['", url);
            return false;
        }
        p = host_end + 1;
    } else {
        p += strcspn(p, ":/?#");
        host_end = p;
    }
    if (host_end == host) {
        snprintf(err, cap, "invalid endpoint '%s': no host", url);
        return false;
    }
    const char *port = "80";
    size_t port_len = 2;
    if (*p == ':') {
        port = ++p;
        port_len = strspn(p, "0123456789");
        uint64_t v;
        if (!base_parse_u64(port, port_len, &v) || v == 0 || v > 65535) {
            snprintf(err, cap, "invalid endpoint '%s': bad port", url);
            return false;
        }
        p += port_len;
    }
    if (*p && *p != '/') {
        snprintf(err, cap, "invalid endpoint '%s': unexpected '%c'", url, *p);
        return false;
    }
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    if (memchr(p, '?', plen) || memchr(p, '#', plen)) {
        snprintf(err, cap, "invalid endpoint '%s': no query or fragment allowed", url);
        return false;
    }
    ep->host = base_xstrndup(host, (size_t)(host_end - host));
    ep->port = base_xstrndup(port, port_len);
    ep->prefix = base_xstrndup(p, plen);
    bool v6 = strchr(ep->host, ':') != NULL;
    ep->url = base_xasprintf("http://%s%s%s:%s%s", v6 ? "[" : "", ep->host, v6 ? "]" : "", ep->port,
                             ep->prefix);
    return true;
}

void cli_http_endpoint_free(cli_http_endpoint *ep) {
    free(ep->host);
    free(ep->port);
    free(ep->prefix);
    free(ep->url);
    memset(ep, 0, sizeof *ep);
}

void cli_http_append_segment(base_buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            base_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            base_buf_append(b, e, 3);
        }
    }
}

/* ---- socket I/O ---------------------------------------------------------------------------- */

/* Waits for events on fd. Returns 1 when ready, 0 on timeout, CLI_HTTP_INTERRUPTED, or
 * CLI_HTTP_ERR. */
static int cli_http_wait(int fd, short events, int timeout_ms) {
    for (;;) {
        if (cli_http_sigint)
            return CLI_HTTP_INTERRUPTED;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, timeout_ms);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return CLI_HTTP_ERR;
    }
}

/* Connects to one address within the connect bound. Returns the socket or -errno
 * (-ETIMEDOUT on timeout); CLI_HTTP_INTERRUPTED is passed through as -EINTR. */
static int cli_http_connect_one(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    int w = cli_http_wait(fd, POLLOUT, CLI_HTTP_CONNECT_TIMEOUT_MS);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
        return fd;
    close(fd);
    if (w == CLI_HTTP_INTERRUPTED)
        return -EINTR;
    return w == 0 ? -ETIMEDOUT : -(soerr ? soerr : EIO);
}

static int cli_http_connect(const cli_http_endpoint *ep, char *err, size_t cap) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(ep->host, ep->port, &hints, &res);
    if (gai) {
        snprintf(err, cap, "cannot resolve %s: %s", ep->host, gai_strerror(gai));
        return CLI_HTTP_ERR;
    }
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = cli_http_connect_one(ai);
        if (fd >= 0 || fd == -EINTR)
            break;
    }
    freeaddrinfo(res);
    if (fd == -EINTR)
        return CLI_HTTP_INTERRUPTED;
    if (fd < 0) {
        if (fd == -ECONNREFUSED)
            snprintf(err, cap, "cannot connect to %s: connection refused (is the server running?)",
                     ep->url);
        else if (fd == -ETIMEDOUT)
            snprintf(err, cap, "cannot connect to %s: timed out after %d s", ep->url,
                     CLI_HTTP_CONNECT_TIMEOUT_MS / 1000);
        else
            snprintf(err, cap, "cannot connect to %s: %s", ep->url, strerror(-fd));
        return CLI_HTTP_ERR;
    }
    return fd;
}

static int cli_http_send_all(int fd, const char *data, size_t len, int timeout_ms, char *err,
                             size_t cap) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(err, cap, "sending the request failed: %s", strerror(errno));
            return CLI_HTTP_ERR;
        }
        int w = cli_http_wait(fd, POLLOUT, timeout_ms);
        if (w == CLI_HTTP_INTERRUPTED)
            return w;
        if (w != 1) {
            snprintf(err, cap, "sending the request timed out");
            return CLI_HTTP_ERR;
        }
    }
    return 0;
}

/* ---- response parsing ----------------------------------------------------------------------- */

/* Parser state of one response. Lives on cli_http_do's stack. */
typedef struct cli_http_reader {
    const cli_http_request *rq;
    cli_http_response *res;
    base_buf field, value; /* header being read (pieces may arrive split) */
    bool in_value;
    bool done;    /* message complete */
    bool stopped; /* on_body asked to stop */
} cli_http_reader;

static void cli_http_header_done(cli_http_reader *r) {
    if (r->field.len == 12 && base_ascii_ieq(r->field.data, "content-type", 12)) {
        free(r->res->content_type);
        r->res->content_type = base_xstrndup(r->value.data ? r->value.data : "", r->value.len);
    }
    r->field.len = r->value.len = 0;
    r->in_value = false;
}

static int cli_http_on_field(llhttp_t *p, const char *at, size_t len) {
    cli_http_reader *r = p->data;
    if (r->in_value)
        cli_http_header_done(r);
    base_buf_append(&r->field, at, len);
    return 0;
}

static int cli_http_on_value(llhttp_t *p, const char *at, size_t len) {
    cli_http_reader *r = p->data;
    r->in_value = true;
    base_buf_append(&r->value, at, len);
    return 0;
}

static int cli_http_on_headers(llhttp_t *p) {
    cli_http_reader *r = p->data;
    if (r->in_value)
        cli_http_header_done(r);
    r->res->status = (int)p->status_code;
    return 0;
}

static int cli_http_on_body(llhttp_t *p, const char *at, size_t len) {
    cli_http_reader *r = p->data;
    bool ok = r->res->status >= 200 && r->res->status < 300;
    if (r->rq->on_body && ok) {
        if (!r->rq->on_body(at, len, r->rq->ud)) {
            r->stopped = true;
            return HPE_USER; /* stops llhttp_execute */
        }
        return 0;
    }
    base_buf_append(&r->res->body, at, len);
    return 0;
}

static int cli_http_on_complete(llhttp_t *p) {
    cli_http_reader *r = p->data;
    r->done = true;
    return 0;
}

static const llhttp_settings_t cli_http_settings = {
    .on_header_field = cli_http_on_field,
    .on_header_value = cli_http_on_value,
    .on_headers_complete = cli_http_on_headers,
    .on_body = cli_http_on_body,
    .on_message_complete = cli_http_on_complete,
};

/* Reads and parses until the message is complete (or on_body stopped it). */
static int cli_http_read_response(int fd, cli_http_reader *r, char *err, size_t cap) {
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &cli_http_settings);
    parser.data = r;
    char buf[16384];
    while (!r->done && !r->stopped) {
        int w = cli_http_wait(fd, POLLIN, r->rq->timeout_ms);
        if (w == CLI_HTTP_INTERRUPTED)
            return w;
        if (w != 1) {
            snprintf(err, cap, "no answer from the server within %d s", r->rq->timeout_ms / 1000);
            return CLI_HTTP_ERR;
        }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            snprintf(err, cap, "reading the response failed: %s", strerror(errno));
            return CLI_HTTP_ERR;
        }
        /* At EOF, llhttp_finish completes an until-close body. */
        llhttp_errno_t e =
            n == 0 ? llhttp_finish(&parser) : llhttp_execute(&parser, buf, (size_t)n);
        if (r->stopped)
            break;
        if (e != HPE_OK) {
            const char *why = llhttp_get_error_reason(&parser);
            snprintf(err, cap, "bad HTTP response: %s", why && *why ? why : llhttp_errno_name(e));
            return CLI_HTTP_ERR;
        }
        if (n == 0 && !r->done) {
            snprintf(err, cap, "the server closed the connection before the response ended");
            return CLI_HTTP_ERR;
        }
    }
    return 0;
}

static void cli_http_format_request(base_buf *out, const cli_http_endpoint *ep,
                                    const cli_http_request *rq) {
    bool v6 = strchr(ep->host, ':') != NULL;
    base_buf_appendf(out, "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n", rq->method, ep->prefix,
                     rq->path, v6 ? "[" : "", ep->host, v6 ? "]" : "", ep->port);
    base_buf_appendf(out, "User-Agent: sandbox-agent-cli/%s\r\nConnection: close\r\n",
                     BASE_VERSION);
    if (rq->token)
        base_buf_appendf(out, "Authorization: Bearer %s\r\n", rq->token);
    if (rq->accept)
        base_buf_appendf(out, "Accept: %s\r\n", rq->accept);
    if (rq->last_event_id)
        base_buf_appendf(out, "Last-Event-ID: %s\r\n", rq->last_event_id);
    if (rq->content_type)
        base_buf_appendf(out, "Content-Type: %s\r\n", rq->content_type);
    if (rq->body || strcmp(rq->method, "GET") != 0)
        base_buf_appendf(out, "Content-Length: %zu\r\n", rq->body_len);
    base_buf_appends(out, "\r\n");
}

int cli_http_do(const cli_http_endpoint *ep, const cli_http_request *rq, cli_http_response *res,
                char *err, size_t cap) {
    memset(res, 0, sizeof *res);
    base_buf_init(&res->body);
    int fd = cli_http_connect(ep, err, cap);
    if (fd < 0)
        return fd;
    base_buf head;
    base_buf_init(&head);
    cli_http_format_request(&head, ep, rq);
    int rc = cli_http_send_all(fd, head.data, head.len, rq->timeout_ms, err, cap);
    base_buf_free(&head);
    if (rc == 0 && rq->body_len)
        rc = cli_http_send_all(fd, rq->body, rq->body_len, rq->timeout_ms, err, cap);
    if (rc == 0) {
        cli_http_reader r = {.rq = rq, .res = res};
        base_buf_init(&r.field);
        base_buf_init(&r.value);
        rc = cli_http_read_response(fd, &r, err, cap);
        base_buf_free(&r.field);
        base_buf_free(&r.value);
    }
    close(fd);
    return rc;
}

void cli_http_response_free(cli_http_response *res) {
    free(res->content_type);
    base_buf_free(&res->body);
    memset(res, 0, sizeof *res);
}

/* ---- Server-Sent Events --------------------------------------------------------------------- */

void cli_http_sse_init(cli_http_sse *s, cli_http_sse_fn on_event, void *ud) {
    memset(s, 0, sizeof *s);
    s->on_event = on_event;
    s->ud = ud;
    base_buf_init(&s->line);
    base_buf_init(&s->data);
}

void cli_http_sse_free(cli_http_sse *s) {
    base_buf_free(&s->line);
    base_buf_free(&s->data);
}

static void cli_http_sse_dispatch(cli_http_sse *s) {
    if (s->has_data && !s->stopped) {
        base_buf_append(&s->data, "", 1); /* NUL-terminated for the callback */
        s->data.len--;
        if (!s->on_event(s->event[0] ? s->event : "message", s->id, s->data.data, s->data.len,
                         s->ud))
            s->stopped = true;
    }
    s->data.len = 0;
    s->has_data = false;
    s->event[0] = 0;
}

static void cli_http_sse_field(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* One line without its line end: a field, a comment (heartbeats) or the blank end of an event. */
static void cli_http_sse_line(cli_http_sse *s, const char *l, size_t n) {
    if (n == 0) {
        cli_http_sse_dispatch(s);
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    size_t fn = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (colon && v < l + n && *v == ' ')
        v++;
    size_t vn = (size_t)(l + n - v);
    if (fn == 4 && !memcmp(l, "data", 4)) {
        if (s->has_data)
            base_buf_append(&s->data, "\n", 1);
        base_buf_append(&s->data, v, vn);
        s->has_data = true;
    } else if (fn == 2 && !memcmp(l, "id", 2)) {
        cli_http_sse_field(s->id, sizeof s->id, v, vn);
    } else if (fn == 5 && !memcmp(l, "event", 5)) {
        cli_http_sse_field(s->event, sizeof s->event, v, vn);
    }
}

bool cli_http_sse_body(const char *data, size_t len, void *ud) {
    cli_http_sse *s = ud;
    base_buf_append(&s->line, data, len);
    size_t start = 0;
    for (size_t i = 0; i < s->line.len && !s->stopped; i++) {
        if (s->line.data[i] != '\n')
            continue;
        size_t n = i - start;
        if (n && s->line.data[start + n - 1] == '\r')
            n--;
        cli_http_sse_line(s, s->line.data + start, n);
        start = i + 1;
    }
    base_buf_consume(&s->line, start);
    return !s->stopped;
}

void cli_http_sse_finish(cli_http_sse *s) {
    cli_http_sse_dispatch(s);
}
