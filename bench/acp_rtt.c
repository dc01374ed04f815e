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
#include "httpc.h"

static int g_port;
static hconn g_conn;
static int g_reconnects;

static const char *g_params = "{\"protocolVersion\":1,\"clientCapabilities\":{},"
                              "\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}";

static void rpc(const char *path, long id, int first)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"initialize\",\"params\":%s}", id,
             g_params);
    resp r;
    g_reconnects += hconn_post_json(&g_conn, g_port, path, body, &r, first ? 60000 : 10000);
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
    free(r.body);
}

static void delete_instance(const char *sid)
{
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "DELETE /v1/acp/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Connection: close\r\n\r\n",
                      sid, g_port);
    int fd = dial(g_port);
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
    g_prog = "acp_rtt";
    hconn_init(&g_conn);
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
    hconn_close(&g_conn);

    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += t[i];
    double median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    printf("acp_median_us %.1f\n", median);
    printf("acp_p99_us %.1f\n", quantile_sorted(t, n, 0.99));
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
