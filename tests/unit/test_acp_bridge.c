/* test_acp_bridge.c - the ACP bridge's HTTP checks, driven through the HTTP layer without
 * sockets (http_server_feed_for_test), with a stand-in agent: a shell script installed as
 * the `amp` adapter under a private XDG_DATA_HOME that copies stdin to stdout (`cat`).
 *
 * Statuses are read from the response bytes the feed returns. Requests that go asynchronous (a
 * POSTed message waiting for its stdin write or its response, an SSE stream, a DELETE
 * waiting for the agent to exit) are aborted when a feed returns, which exercises the
 * bridge's abort paths.
 *
 * One scenario (server shutdown while a POSTed request is pending) needs the request to
 * stay open, so it listens on a free 127.0.0.1 port and talks over a real socket.
 *
 * Each scenario runs in a forked child so that a crash is reported as a failed check
 * instead of killing the whole test binary. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acp/acp.h"
#include "base/base.h"
#include "http/http.h"
#include "proc/proc.h"
#include "unit.h"

static char datadir[] = "/tmp/sa-unit-bridge-XXXXXX";
static char statuses[1024];

static bool st_is(const char *want, int line) {
    if (!strcmp(statuses, want))
        return true;
    fprintf(stderr, "%s:%d: statuses [%s], want [%s]\n", __FILE__, line, statuses, want);
    return false;
}
#define CHECK_ST(want) CHECK(st_is((want), __LINE__))

static void feed(http_server *srv, const char *s) {
    size_t olen;
    char *out = http_server_feed_for_test(srv, s, strlen(s), &olen);
    unit_statuses(out, olen, statuses, sizeof statuses);
    free(out);
}

static void stop_cb(uv_timer_t *t) {
    uv_stop(t->loop);
}

/* Run the loop for about ms milliseconds. */
static void spin(int ms) {
    uv_timer_t t;
    uv_timer_init(uv_default_loop(), &t);
    uv_timer_start(&t, stop_cb, (uint64_t)ms, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

typedef struct world {
    http_server *srv;
    acp_bridge *b;
    int http_closed;
} world;

static void world_http_closed(void *ud) {
    ((world *)ud)->http_closed = 1;
}

static void world_children_gone(void *ud) {
    world *w = ud;
    http_server_close(w->srv, world_http_closed, w);
}

/* port > 0: also listen on 127.0.0.1:port. */
static void world_init_port(world *w, const char *token, int port) {
    memset(w, 0, sizeof *w);
    uv_loop_t *loop = uv_default_loop();
    proc_init(loop);
    http_config cfg;
    http_config_defaults(&cfg);
    cfg.token = token;
    cfg.port = port;
    w->srv = http_server_new(loop, &cfg);
    w->b = acp_bridge_new(loop, NULL, NULL);
    acp_bridge_routes(w->b, w->srv);
    if (port > 0)
        CHECK(http_server_listen(w->srv) == 0);
}

static void world_init(world *w, const char *token) {
    world_init_port(w, token, 0);
}

/* Shut down like cli_signal_cb: bridge, then children, then the HTTP server. */
static void world_shutdown(world *w) {
    if (w->http_closed)
        return;
    acp_bridge_shutdown(w->b);
    proc_shutdown_all(uv_default_loop(), 2000, world_children_gone, w);
    for (int i = 0; i < 100 && !w->http_closed; i++)
        spin(50);
}

static void world_fini(world *w) {
    world_shutdown(w);
    CHECK(w->http_closed == 1);
    CHECK(proc_live_count() == 0);
    acp_bridge_free(w->b);
    http_server_free(w->srv);
    proc_fini();
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(uv_loop_close(uv_default_loop()) == 0);
}

static size_t instances(world *w, const char *agent) {
    int64_t oldest = 0;
    return acp_bridge_agent_instances(w->b, agent, &oldest);
}

#define POST_HDRS "Content-Type: application/json\r\n"
#define NOTE "{\"jsonrpc\":\"2.0\",\"method\":\"note\"}"
static char *post(const char *path, const char *extra_headers, const char *body) {
    return base_xasprintf("POST %s HTTP/1.1\r\n%sContent-Length: %zu\r\n\r\n%s", path,
                          extra_headers, strlen(body), body);
}

static void feed_post(world *w, const char *path, const char *hdrs, const char *body) {
    char *r = post(path, hdrs, body);
    feed(w->srv, r);
    free(r);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

/* The checks before instance creation, in the spec's order (§5.3.1, §5.4.1, §5.5). */
static void scenario_checks(void) {
    world w;
    world_init(&w, NULL);

    feed(w.srv, "GET /v1/acp HTTP/1.1\r\n\r\n");
    CHECK_ST("200");
    /* Unknown instance without ?agent: 400; unknown agent ids: 400. */
    feed_post(&w, "/v1/acp/s1", POST_HDRS, NOTE);
    CHECK_ST("400");
    feed_post(&w, "/v1/acp/s1?agent=MOCK", POST_HDRS, NOTE);
    CHECK_ST("400");
    feed_post(&w, "/v1/acp/s1?agent=", POST_HDRS, NOTE);
    CHECK_ST("400");
    feed_post(&w, "/v1/acp/s1?agent=amp&agent=amp", POST_HDRS, NOTE);
    CHECK_ST("400");
    /* Content type: exactly application/json (case-insensitive, parameters ignored). */
    feed_post(&w, "/v1/acp/s1?agent=nope", "", NOTE);
    CHECK_ST("415");
    feed_post(&w, "/v1/acp/s1?agent=nope", "Content-Type: text/plain\r\n", NOTE);
    CHECK_ST("415");
    feed_post(&w, "/v1/acp/s1?agent=nope", "Content-Type: application/vnd.api+json\r\n", NOTE);
    CHECK_ST("415");
    feed_post(&w, "/v1/acp/s1?agent=nope", "Content-Type: application/json-rpc\r\n", NOTE);
    CHECK_ST("415");
    feed_post(&w, "/v1/acp/s1?agent=nope", "Content-Type: APPLICATION/JSON; charset=utf-8\r\n",
              NOTE);
    CHECK_ST("400"); /* got past 415: unsupported agent */
    /* Accept. */
    feed_post(&w, "/v1/acp/s1?agent=nope", POST_HDRS "Accept: text/html\r\n", NOTE);
    CHECK_ST("406");
    feed_post(&w, "/v1/acp/s1?agent=nope", "Content-Type: text/plain\r\nAccept: text/html\r\n",
              NOTE);
    CHECK_ST("415"); /* content type is checked first */
    feed_post(&w, "/v1/acp/s1?agent=nope", POST_HDRS "Accept: application/json;q=0\r\n", NOTE);
    CHECK_ST("400");
    /* Body: JSON, and an object. */
    feed_post(&w, "/v1/acp/s1?agent=amp", POST_HDRS, "{nope");
    CHECK_ST("400");
    feed_post(&w, "/v1/acp/s1?agent=amp", POST_HDRS, "[" NOTE "]");
    CHECK_ST("400");
    feed_post(&w, "/v1/acp/s1?agent=amp", POST_HDRS, "");
    CHECK_ST("400");
    CHECK(instances(&w, "amp") == 0); /* none of these created anything */

    /* GET checks: Accept, Last-Event-ID, unknown instance (404). */
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nAccept: application/json\r\n\r\n");
    CHECK_ST("406");
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nLast-Event-ID: abc\r\n\r\n");
    CHECK_ST("400");
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nLast-Event-ID: -1\r\n\r\n");
    CHECK_ST("400");
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nLast-Event-ID: 5000x\r\n\r\n");
    CHECK_ST("400");
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nLast-Event-ID:  7 \r\n\r\n");
    CHECK_ST("404");
    feed(w.srv, "GET /v1/acp/s1 HTTP/1.1\r\nAccept: text/*\r\n\r\n");
    CHECK_ST("404");
    feed(w.srv, "HEAD /v1/acp/s1 HTTP/1.1\r\n\r\n");
    CHECK_ST("404");
    /* DELETE of an unknown id: 204. */
    feed(w.srv, "DELETE /v1/acp/s1 HTTP/1.1\r\n\r\n");
    CHECK_ST("204");
    world_fini(&w);
}

/* Create an instance, stream from it, delete it. */
static void scenario_lifecycle(void) {
    world w;
    world_init(&w, "tok");

    feed_post(&w, "/v1/acp/a%2Fb?agent=amp", POST_HDRS, NOTE);
    CHECK_ST("401");
    CHECK(instances(&w, "amp") == 0);

    /* The first POST creates it; the notification's 202 would follow the stdin write, but
     * the feed ends first (aborted). */
    feed_post(&w, "/v1/acp/a%2Fb?agent=amp", POST_HDRS "Authorization: Bearer tok\r\n", NOTE);
    CHECK_ST("");
    CHECK(instances(&w, "amp") == 1);
    spin(200); /* the agent echoes the line: one journal event */

    /* Bound agent differs: 409; same agent or none: accepted (async, aborted). */
    feed_post(&w, "/v1/acp/a%2Fb?agent=mock", POST_HDRS "Authorization: Bearer tok\r\n", NOTE);
    CHECK_ST("409");
    feed_post(&w, "/v1/acp/a%2Fb", POST_HDRS "Authorization: Bearer tok\r\n",
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
    CHECK_ST("");
    CHECK(instances(&w, "amp") == 1);
    spin(100);

    /* SSE: a 200 stream starts (replaying what is held), then the feed aborts it. */
    feed(w.srv, "GET /v1/acp/a%2Fb HTTP/1.1\r\nAuthorization: Bearer tok\r\n"
                "Accept: text/event-stream\r\n\r\n");
    CHECK_ST("200");
    feed(w.srv, "GET /v1/acp/a%2Fb HTTP/1.1\r\nAuthorization: Bearer tok\r\n"
                "Last-Event-ID: 1\r\n\r\n");
    CHECK_ST("200");
    spin(50);

    /* DELETE: unlisted at once; waits for the agent (aborted by the feed). */
    feed(w.srv, "DELETE /v1/acp/a%2Fb HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n");
    CHECK(instances(&w, "amp") == 0);
    spin(300);
    feed(w.srv, "DELETE /v1/acp/a%2Fb HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n");
    CHECK_ST("204");
    world_fini(&w);
}

/* HEAD on the SSE route of an existing instance (spec §2.2: HEAD is accepted on every GET
 * route). http_stream_start completes (and frees) a HEAD request, so the handler must not
 * touch req afterwards, and no stream may be registered for it. */
static void scenario_head_sse(void) {
    world w;
    world_init(&w, NULL);
    feed_post(&w, "/v1/acp/s1?agent=amp", POST_HDRS, NOTE);
    CHECK(instances(&w, "amp") == 1);
    spin(200);

    feed(w.srv, "HEAD /v1/acp/s1 HTTP/1.1\r\n\r\n");
    CHECK_ST("200");
    /* More events and the end of the instance: any stream left behind would be used now. */
    feed_post(&w, "/v1/acp/s1", POST_HDRS, NOTE);
    spin(200);
    feed(w.srv, "DELETE /v1/acp/s1 HTTP/1.1\r\n\r\n");
    spin(100);
    world_fini(&w);
}

/* A free TCP port on 127.0.0.1 (bound and released; a tiny race is acceptable here). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Whatever the server sent so far (non-blocking). Caller frees. */
static char *read_some(int fd) {
    base_buf b;
    base_buf_init(&b);
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        base_buf_append(&b, tmp, (size_t)n);
    return base_buf_steal(&b, NULL);
}

/* A POSTed request is still waiting for its response when the server shuts down (SIGTERM
 * during a long session/prompt): acp_bridge_shutdown unlists the instance, the agent is
 * terminated, and its exit must answer the POST with a JSON-RPC error response carrying
 * the request's id and the agent-exited code (HTTP 200, so SDK clients reject only that
 * call). Answering
 * it releases the last pending entry of an unlisted instance, which frees the instance
 * while acp_on_exit is still using it. Needs a real connection: in feed mode the POST
 * would be aborted before the agent exits. */
static void scenario_shutdown_pending(void) {
    world w;
    int port = free_port();
    CHECK(port > 0);
    world_init_port(&w, NULL, port);

    int fd = connect_to(port);
    CHECK(fd >= 0);
    if (fd < 0) {
        world_fini(&w);
        return;
    }
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/prompt\"}";
    char *req = base_xasprintf("POST /v1/acp/s1?agent=amp HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               strlen(body), body);
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    free(req);
    spin(300); /* accepted, instance created, line written and echoed back (not a response) */
    CHECK(instances(&w, "amp") == 1);
    char *early = read_some(fd);
    CHECK_STR(early, ""); /* still pending */
    free(early);

    /* What cli_signal_cb does on SIGTERM. */
    world_shutdown(&w);
    CHECK(w.http_closed == 1);
    CHECK(instances(&w, "amp") == 0);
    char *resp = read_some(fd);
    CHECK(!strncmp(resp, "HTTP/1.1 200 ", 13));
    CHECK(strstr(resp, "\"id\":7") != NULL);
    CHECK(strstr(resp, "\"code\":-32010") != NULL);
    CHECK(strstr(resp, "urn:sandbox-agent:error:agent_process_exited") != NULL);
    free(resp);
    close(fd);
    world_fini(&w);
}

/* Run one scenario in a child; its check counts and its exit status come back here. */
static void in_child(const char *name, void (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        unit_pass = unit_fail = 0;
        fn();
        int counts[2] = {unit_pass, unit_fail};
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts)
            _exit(3);
        fflush(stdout);
        fflush(stderr);
        _exit(unit_fail ? 1 : 0);
    }
    close(fds[1]);
    int counts[2] = {0, 0};
    ssize_t got = read(fds[0], counts, sizeof counts);
    close(fds[0]);
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (got == (ssize_t)sizeof counts) {
        unit_pass += counts[0];
        unit_fail += counts[1];
    }
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok)
        fprintf(stderr, "%s: scenario %s failed (%s %d)\n", __FILE__, name,
                WIFSIGNALED(status) ? "signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    CHECK(ok);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void setup(void) {
    CHECK(mkdtemp(datadir) != NULL);
    setenv("XDG_DATA_HOME", datadir, 1);
    setenv("SANDBOX_AGENT_LOG", "warn", 1);
    base_log_init();
    char *dir = base_xasprintf("%s/sandbox-agent/bin/agent_processes", datadir);
    CHECK(base_mkdirs(dir) == 0);
    char *script = base_xasprintf("%s/amp-acp", dir);
    write_file(script, "#!/bin/sh\nexec cat\n", 0755);
    free(script);
    free(dir);
}

static void teardown(void) {
    char *cmd = base_xasprintf("rm -rf '%s'", datadir);
    CHECK(system(cmd) == 0);
    free(cmd);
}

int main(void) {
    setup();
    in_child("checks", scenario_checks);
    in_child("lifecycle", scenario_lifecycle);
    in_child("head_sse", scenario_head_sse);
    in_child("shutdown_pending", scenario_shutdown_pending);
    teardown();
    printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}
