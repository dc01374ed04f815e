/* ceiling.c - the harness's own throughput ceiling.
 *
 * Usage: ceiling PORT
 *
 * A deliberately trivial single-threaded epoll HTTP/1.1 server on
 * 127.0.0.1:PORT that answers every request with the same 200
 * {"status":"ok"} reply as GET /v1/health (keep-alive, no parsing beyond
 * finding the end of each request head).  run.sh drives it with the same
 * wrk settings as the real servers: whatever it reaches is roughly the most
 * req/s this machine + wrk can show for any server, which puts the
 * "3x reference" throughput target in context on a 2-core box.
 *
 * Not a real server: requests with bodies are not supported.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536

static unsigned char g_tail[MAXFD]; /* bytes of a partial "\r\n\r\n" match */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1024) < 0) {
        perror("ceiling: bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);

    static const char resp[] = "HTTP/1.1 200 OK\r\n"
                               "content-type: application/json\r\n"
                               "content-length: 15\r\n\r\n"
                               "{\"status\":\"ok\"}";
    static char out[64 * (sizeof resp - 1)];
    static const char term[] = "\r\n\r\n";
    struct epoll_event evs[256];
    char buf[16384];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int s;
                while ((s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (s >= MAXFD) {
                        close(s);
                        continue;
                    }
                    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    g_tail[s] = 0;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = s};
                    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e2);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close(fd);
                continue;
            }
            /* Count request heads ("\r\n\r\n"), carrying partial matches. */
            unsigned m = g_tail[fd];
            size_t reqs = 0;
            for (ssize_t j = 0; j < r; j++) {
                if (buf[j] == term[m]) {
                    if (++m == 4) {
                        reqs++;
                        m = 0;
                    }
                } else {
                    m = buf[j] == '\r' ? 1 : 0;
                }
            }
            g_tail[fd] = (unsigned char)m;
            while (reqs) {
                size_t k = reqs > 64 ? 64 : reqs, len = 0;
                for (size_t j = 0; j < k; j++, len += sizeof resp - 1)
                    memcpy(out + len, resp, sizeof resp - 1);
                if (write(fd, out, len) != (ssize_t)len) {
                    close(fd);
                    break;
                }
                reqs -= k;
            }
        }
    }
}
