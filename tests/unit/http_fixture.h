/* http_fixture.h - what the unit tests that run an http_server share: a free loopback port
 * and closing a server down to its last handle. Include after unit.h and http/http.h. */
#ifndef UNIT_HTTP_FIXTURE_H
#define UNIT_HTTP_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port that was free a moment ago (bind to 0, read it back, close). */
static inline int unit_free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

static inline void unit_server_closed_cb(void *ud) {
    *(int *)ud = 1;
}

/* Close srv, run the default loop until every handle is gone, free it. */
static inline void unit_free_server(http_server *srv) {
    int done = 0;
    http_server_close(srv, unit_server_closed_cb, &done);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(done == 1);
    http_server_free(srv);
}

#endif
