/* acp_events.c - events per second through the ACP bridge, and the time an SSE replay takes
 * (issue 9, the durable journal: bench/run.sh runs it against our server with the journal
 * on and off, and against the reference).
 *
 * Usage:
 *   acp_events flood PORT SERVER_ID SESSIONS PROMPTS TEXT
 *       Setup, untimed, on one connection: POST /v1/acp/SERVER_ID?agent=mock `initialize`
 *       (creates the instance), then SESSIONS `session/new` (the sessionId of each result;
 *       the reference's mock only echoes, so there a made-up id is used). Then one SSE
 *       follower, GET /v1/acp/SERVER_ID without Last-Event-ID, reads everything stored so
 *       far, up to the reply of the last session/new. Timed: SESSIONS threads, each on its
 *       own keep-alive connection, send PROMPTS sequential `session/prompt` {TEXT} to their
 *       session (ids unique per thread); every reply must be 200 with a result for its id.
 *       The time runs from the first prompt until the follower has received the SSE event
 *       carrying the reply to every prompt. Every SSE event the follower gets in that time
 *       counts (agent notifications and replies: what the agent wrote).
 *       Output: flood_events, flood_seconds, flood_events_per_s, flood_prompts_per_s,
 *       flood_events_per_prompt, flood_prompt_p50_ms, flood_prompt_p99_ms,
 *       flood_total_events (events the follower got, setup included: the whole stream of
 *       a fresh server id), flood_last_id (the highest SSE id seen).
 *
 *   acp_events replay PORT SERVER_ID LAST_ID EXPECT
 *       GET /v1/acp/SERVER_ID with Last-Event-ID: 0, timed from just before the request is
 *       written until the event with id LAST_ID has arrived. Ids must increase strictly;
 *       with EXPECT > 0 exactly EXPECT events must have arrived by then.
 *       Output: replay_events, replay_ms, replay_first_ms (to the first event),
 *       replay_bytes (the stream's bytes, chunk framing excluded), replay_events_per_s.
 *
 * Exit status 0 on success, 1 on any protocol or assertion failure.
 */
#include "httpc.h"

#include <pthread.h>

#define TIMEOUT_MS 60000
/* Request ids of session k's prompts: (k + 1) * ID_STRIDE + i; below ID_STRIDE: setup. */
#define ID_STRIDE 10000000L

static int g_port;
static const char *g_server;

/* ---- the SSE follower ------------------------------------------------------------------ */

/* One SSE stream being read. Owner: the caller of sse_open; sse_close frees. */
typedef struct sse_reader {
    hconn c;
    long chunk_left; /* bytes of the current chunk not yet taken; 0: read the next size */
    int chunked;
    char *ev; /* the event being assembled (text after the last blank line) */
    size_t ev_len, ev_cap;
    size_t bytes; /* stream bytes taken, framing excluded */
} sse_reader;

static void sse_open(sse_reader *s, const char *last_event_id)
{
    memset(s, 0, sizeof *s);
    hconn_init(&s->c);
    s->c.fd = dial(g_port);
    set_timeout(s->c.fd, TIMEOUT_MS);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /v1/acp/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Accept: text/event-stream\r\n%s%s%s\r\n",
                     g_server, g_port, last_event_id ? "Last-Event-ID: " : "",
                     last_event_id ? last_event_id : "", last_event_id ? "\r\n" : "");
    send_all(s->c.fd, req, (size_t)n);
    resp_head h;
    if (!hconn_read_head(&s->c, &h))
        die("GET /v1/acp/%s: no reply", g_server);
    if (h.status != 200)
        die("GET /v1/acp/%s: HTTP %d", g_server, h.status);
    s->chunked = h.chunked;
}

static void sse_close(sse_reader *s)
{
    hconn_close(&s->c);
    free(s->ev);
}

/* Take the next piece of the stream into the event buffer; 0 at its end. */
static int sse_take(sse_reader *s)
{
    hconn *c = &s->c;
    size_t n;
    if (s->chunked) {
        if (s->chunk_left == 0) {
            long sz = hconn_chunk(c);
            if (sz <= 0)
                return 0;
            s->chunk_left = sz;
        }
        if (!c->len && !hconn_fill(c, 1))
            return 0;
        n = c->len < (size_t)s->chunk_left ? c->len : (size_t)s->chunk_left;
    } else {
        if (!c->len && !hconn_fill(c, 1))
            return 0;
        n = c->len;
    }
    while (s->ev_len + n + 1 > s->ev_cap) {
        s->ev_cap = s->ev_cap ? s->ev_cap * 2 : 1 << 16;
        s->ev = realloc(s->ev, s->ev_cap);
    }
    memcpy(s->ev + s->ev_len, c->buf, n);
    s->ev_len += n;
    s->ev[s->ev_len] = 0;
    s->bytes += n;
    hconn_consume(c, n);
    if (s->chunked) {
        s->chunk_left -= (long)n;
        if (s->chunk_left == 0) {
            if (!hconn_fill(c, 2))
                return 0;
            hconn_consume(c, 2); /* the chunk's CRLF */
        }
    }
    return 1;
}

/* One SSE event: its id (0 when it has none) and its data (NUL-terminated, in the reader's
 * buffer until the next call). */
typedef struct sse_event {
    unsigned long long id;
    const char *data;
} sse_event;

/* The next event of the stream (comments such as heartbeats are skipped); 0 at its end.
 * ev_off: where the previous event ended in s->ev. */
static int sse_next(sse_reader *s, size_t *ev_off, sse_event *e)
{
    for (;;) {
        char *start = s->ev + *ev_off;
        char *end = s->ev_len > *ev_off ? strstr(start, "\n\n") : NULL;
        if (end) {
            *end = 0;
            *ev_off = (size_t)(end - s->ev) + 2;
            e->id = 0;
            e->data = NULL;
            for (char *line = start; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                    *nl = 0;
                if (!strncmp(line, "id:", 3))
                    e->id = strtoull(line + 3, NULL, 10);
                else if (!strncmp(line, "data:", 5))
                    e->data = line[5] == ' ' ? line + 6 : line + 5;
                line = nl ? nl + 1 : NULL;
            }
            if (e->data)
                return 1;
            continue; /* a comment */
        }
        /* Keep only the unfinished event before reading more. */
        if (s->ev) {
            memmove(s->ev, start, s->ev_len - *ev_off + 1);
            s->ev_len -= *ev_off;
            *ev_off = 0;
        }
        if (!sse_take(s))
            return 0;
    }
}

/* The reply carried by an event: its id when it is a JSON-RPC result, else -1. */
static long event_reply_id(const char *data)
{
    long id;
    int has_result, has_error;
    if (!scan_top(data, &id, &has_result, &has_error) || !has_result)
        return -1;
    return id;
}

/* ---- flood ------------------------------------------------------------------------------ */

typedef struct poster {
    pthread_t th;
    int k;
    char session[256];
    int prompts;
    const char *text;
    double *lat_us; /* one per prompt */
} poster;


static void *poster_main(void *arg)
{
    poster *p = arg;
    hconn c;
    hconn_init(&c);
    char path[512];
    snprintf(path, sizeof path, "/v1/acp/%s", g_server);
    size_t cap = strlen(p->text) + strlen(p->session) + 256;
    char *body = malloc(cap);
    for (int i = 0; i < p->prompts; i++) {
        long id = (p->k + 1) * ID_STRIDE + i;
        snprintf(body, cap,
                 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"session/prompt\",\"params\":"
                 "{\"sessionId\":\"%s\",\"prompt\":[{\"type\":\"text\",\"text\":\"%s\"}]}}",
                 id, p->session, p->text);
        double t0 = now_us();
        resp r;
        hconn_post_json(&c, g_port, path, body, &r, TIMEOUT_MS);
        p->lat_us[i] = now_us() - t0;
        long got;
        int has_result, has_error;
        if (r.status != 200 || !scan_top(r.body, &got, &has_result, &has_error) || got != id ||
            !has_result)
            die("session/prompt id %ld: HTTP %d: %.300s", id, r.status, r.body);
        free(r.body);
    }
    free(body);
    hconn_close(&c);
    return NULL;
}

/* The sessionId of a session/new result, or a made-up one (the reference's mock echoes). */
static void session_of(const char *body, int k, char *out, size_t cap)
{
    const char *p = strstr(body, "\"sessionId\":\"");
    if (p) {
        p += 13;
        const char *e = strchr(p, '"');
        if (e && (size_t)(e - p) < cap) {
            memcpy(out, p, (size_t)(e - p));
            out[e - p] = 0;
            return;
        }
    }
    snprintf(out, cap, "bench-session-%d", k);
}

static void setup_rpc(hconn *c, const char *path, long id, const char *method, const char *params,
                      resp *r)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}",
             id, method, params);
    hconn_post_json(c, g_port, path, body, r, TIMEOUT_MS);
    long got;
    int has_result, has_error;
    if (r->status != 200 || !scan_top(r->body, &got, &has_result, &has_error) || got != id ||
        !has_result)
        die("%s id %ld: HTTP %d: %.300s", method, id, r->status, r->body);
}

static int cmd_flood(int sessions, int prompts, const char *text)
{
    hconn c;
    hconn_init(&c);
    char path[512];
    resp r;
    snprintf(path, sizeof path, "/v1/acp/%s?agent=mock", g_server);
    setup_rpc(&c, path, 1, "initialize", "{\"protocolVersion\":1,\"clientCapabilities\":{}}",
              &r);
    free(r.body);
    snprintf(path, sizeof path, "/v1/acp/%s", g_server);
    poster *ps = calloc((size_t)sessions, sizeof *ps);
    for (int k = 0; k < sessions; k++) {
        setup_rpc(&c, path, 2 + k, "session/new", "{\"cwd\":\"/tmp\",\"mcpServers\":[]}", &r);
        session_of(r.body, k, ps[k].session, sizeof ps[k].session);
        free(r.body);
    }
    hconn_close(&c);

    sse_reader s;
    sse_open(&s, NULL);
    size_t off = 0;
    sse_event e;
    unsigned long long last_id = 0;
    long setup_events = 0;
    long last_setup = 1 + sessions;
    for (;;) {
        if (!sse_next(&s, &off, &e))
            die("the SSE stream ended during setup");
        setup_events++;
        if (e.id > last_id)
            last_id = e.id;
        if (event_reply_id(e.data) == last_setup)
            break;
    }

    /* Replies still to see: a prompt's reply event may come before or after its POST reply,
     * so the follower decides the end. */
    long want = (long)sessions * prompts, seen = 0, events = 0;
    double t0 = now_us();
    for (int k = 0; k < sessions; k++) {
        ps[k].k = k;
        ps[k].prompts = prompts;
        ps[k].text = text;
        ps[k].lat_us = calloc((size_t)prompts, sizeof(double));
        if (pthread_create(&ps[k].th, NULL, poster_main, &ps[k]))
            die("pthread_create failed");
    }
    while (seen < want) {
        if (!sse_next(&s, &off, &e))
            die("the SSE stream ended after %ld events (%ld of %ld replies)", events, seen, want);
        events++;
        if (e.id) {
            if (e.id <= last_id)
                die("SSE id %llu after %llu", e.id, last_id);
            last_id = e.id;
        }
        long id = event_reply_id(e.data);
        if (id >= ID_STRIDE && id < (sessions + 1) * ID_STRIDE && id % ID_STRIDE < prompts)
            seen++;
    }
    double secs = (now_us() - t0) / 1e6;
    sse_close(&s);

    double *lat = malloc(sizeof(double) * (size_t)want);
    for (int k = 0; k < sessions; k++) {
        pthread_join(ps[k].th, NULL);
        memcpy(lat + (size_t)k * prompts, ps[k].lat_us, sizeof(double) * (size_t)prompts);
        free(ps[k].lat_us);
    }
    qsort(lat, (size_t)want, sizeof *lat, cmp_double);
    printf("flood_events %ld\n", events);
    printf("flood_seconds %.3f\n", secs);
    printf("flood_events_per_s %.0f\n", events / secs);
    printf("flood_prompts_per_s %.0f\n", want / secs);
    printf("flood_events_per_prompt %.2f\n", (double)events / want);
    printf("flood_prompt_p50_ms %.3f\n", quantile_sorted(lat, (int)want, 0.5) / 1000);
    printf("flood_prompt_p99_ms %.3f\n", quantile_sorted(lat, (int)want, 0.99) / 1000);
    printf("flood_total_events %ld\n", setup_events + events);
    printf("flood_last_id %llu\n", last_id);
    free(lat);
    free(ps);
    return 0;
}

/* ---- replay ----------------------------------------------------------------------------- */

static int cmd_replay(unsigned long long until, long expect)
{
    double t0 = now_us(), first = 0;
    sse_reader s;
    sse_open(&s, "0");
    size_t off = 0;
    sse_event e;
    unsigned long long last = 0;
    long events = 0;
    while (last < until) {
        if (!sse_next(&s, &off, &e))
            die("the replay ended after %ld events at id %llu (want id %llu)", events, last,
                until);
        if (!events)
            first = now_us();
        events++;
        if (e.id <= last)
            die("replay: SSE id %llu after %llu", e.id, last);
        last = e.id;
    }
    double ms = (now_us() - t0) / 1000;
    size_t bytes = s.bytes - (s.ev_len - off); /* what was read past the last event is not counted */
    sse_close(&s);
    if (expect > 0 && events != expect)
        die("replay: %ld events up to id %llu, expected %ld", events, until, expect);
    printf("replay_events %ld\n", events);
    printf("replay_ms %.1f\n", ms);
    printf("replay_first_ms %.1f\n", (first - t0) / 1000);
    printf("replay_bytes %zu\n", bytes);
    printf("replay_events_per_s %.0f\n", events / (ms / 1000));
    return 0;
}

int main(int argc, char **argv)
{
    g_prog = "acp_events";
    if (argc == 7 && !strcmp(argv[1], "flood")) {
        g_port = atoi(argv[2]);
        g_server = argv[3];
        int sessions = atoi(argv[4]), prompts = atoi(argv[5]);
        if (sessions < 1 || sessions > 100 || prompts < 1 || prompts >= ID_STRIDE)
            die("bad SESSIONS/PROMPTS");
        if (strpbrk(argv[6], "\"\\"))
            die("TEXT must not need JSON escaping");
        return cmd_flood(sessions, prompts, argv[6]);
    }
    if (argc == 6 && !strcmp(argv[1], "replay")) {
        g_port = atoi(argv[2]);
        g_server = argv[3];
        return cmd_replay(strtoull(argv[4], NULL, 10), atol(argv[5]));
    }
    fprintf(stderr,
            "usage: %s flood PORT SERVER_ID SESSIONS PROMPTS TEXT\n"
            "       %s replay PORT SERVER_ID LAST_ID EXPECT\n",
            argv[0], argv[0]);
    return 2;
}
