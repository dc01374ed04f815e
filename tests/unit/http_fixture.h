/* http_fixture.h - what the unit tests that run an http_server share: a free loopback port
 * and closing a server down to its last handle. Include after unit.h and http/http.h. */
#ifndef UNIT_HTTP_FIXTURE_H
#define UNIT_HTTP_FIXTURE_H

#include <arpa/inet.h>
#include <pthread.h>
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

/* Serving while a client runs on a thread of its own: the loop runs until the client calls
 * unit_client_done() (its last act), then the thread is joined. */
static inline uv_async_t *unit_client_async(void) {
    static uv_async_t a;
    return &a;
}

static inline void unit_client_stop_cb(uv_async_t *a) {
    uv_stop(a->loop);
}

static inline void unit_client_done(void) {
    uv_async_send(unit_client_async());
}

static inline void unit_run_client(uv_loop_t *loop, void *(*client)(void *)) {
    uv_async_init(loop, unit_client_async(), unit_client_stop_cb);
    pthread_t th;
    pthread_create(&th, NULL, client, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    uv_close((uv_handle_t *)unit_client_async(), NULL);
}

#endif
