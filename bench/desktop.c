/* desktop.c - latency of the desktop routes (screenshots, input, the window list) and of
 * GET /v1/health while screenshots run; bench/desktop.sh runs it against our server and
 * the reference, each with its own started desktop and an xterm on it.
 *
 * Usage:
 *   desktop round PORT WINDOW_ID N_SHOT N_INPUT N_WINDOWS WARMUP
 *       On one keep-alive connection, in this order, WARMUP untimed then N timed requests
 *       of each kind:
 *         png, jpeg, webp   GET /v1/desktop/screenshot?format=png | jpeg&quality=80 | webp
 *                           (N_SHOT each): 200, the format's signature and 1440x900 in its
 *                           header (the first frame header of a JPEG, the VP8/VP8L/VP8X
 *                           header of a WebP);
 *         move              POST /v1/desktop/mouse/move, alternating between two points
 *                           (N_INPUT): 200 with the x and y that were asked for;
 *         key               POST /v1/desktop/keyboard/press {"key":"shift"} (N_INPUT):
 *                           200 {"ok":true}; shift alone types nothing into the xterm;
 *         windows           GET /v1/desktop/windows (N_WINDOWS): 200 listing WINDOW_ID.
 *       Each request is timed with CLOCK_MONOTONIC from just before its write() to the last
 *       byte of its body.
 *       Output: "sample KIND MS" per timed request, and "bytes_KIND B" (median body size)
 *       per screenshot format.
 *
 *   desktop health PORT ALONE_S LOADED_S SHOOTERS
 *       Sequential GET /v1/health on one connection for ALONE_S seconds (after 20 untimed);
 *       then SHOOTERS threads, each on its own connection, take PNG screenshots in a loop
 *       (checked as above); once each has finished one, sequential GET /v1/health again
 *       for LOADED_S seconds; then the shooters stop after their current screenshot.
 *       Output: health_alone_p50_ms, health_alone_p90_ms, health_alone_n,
 *       health_loaded_p50_ms, health_loaded_p90_ms, health_loaded_n, loaded_shots (finished
 *       within the loaded window), loaded_shots_per_s.
 *
 * Exit status 0 on success, 1 on any protocol or assertion failure.
 */
#include "httpc.h"

#include <pthread.h>
#include <stdatomic.h>

#define TIMEOUT_MS 60000
#define WIDTH 1440
#define HEIGHT 900

static int g_port;

/* ---- image headers ---------------------------------------------------------------------- */

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static unsigned le16(const unsigned char *p) { return (unsigned)p[1] << 8 | p[0]; }
static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

static int png_dims(const unsigned char *b, size_t n, unsigned long *w, unsigned long *h)
{
    if (n < 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return 0;
    *w = be32(b + 16);
    *h = be32(b + 20);
    return 1;
}

/* The first start-of-frame segment's size: markers are walked by their lengths. */
static int jpeg_dims(const unsigned char *b, size_t n, unsigned long *w, unsigned long *h)
{
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8)
        return 0;
    size_t i = 2;
    while (i + 9 < n) {
        if (b[i] != 0xFF)
            return 0;
        unsigned m = b[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { /* no length */
            i += 2;
            continue;
        }
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            *h = be16(b + i + 5);
            *w = be16(b + i + 7);
            return 1;
        }
        i += 2 + be16(b + i + 2);
    }
    return 0;
}

static int webp_dims(const unsigned char *b, size_t n, unsigned long *w, unsigned long *h)
{
    if (n < 30 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WEBP", 4) != 0)
        return 0;
    const unsigned char *d = b + 20; /* the first chunk's data */
    if (memcmp(b + 12, "VP8 ", 4) == 0) {
        if (memcmp(d + 3, "\x9d\x01\x2a", 3) != 0)
            return 0;
        *w = le16(d + 6) & 0x3fff;
        *h = le16(d + 8) & 0x3fff;
        return 1;
    }
    if (memcmp(b + 12, "VP8L", 4) == 0) {
        if (d[0] != 0x2f)
            return 0;
        unsigned long bits = (unsigned long)d[1] | (unsigned long)d[2] << 8 |
                             (unsigned long)d[3] << 16 | (unsigned long)d[4] << 24;
        *w = (bits & 0x3fff) + 1;
        *h = ((bits >> 14) & 0x3fff) + 1;
        return 1;
    }
    if (memcmp(b + 12, "VP8X", 4) == 0) {
        *w = ((unsigned long)d[4] | (unsigned long)d[5] << 8 | (unsigned long)d[6] << 16) + 1;
        *h = ((unsigned long)d[7] | (unsigned long)d[8] << 8 | (unsigned long)d[9] << 16) + 1;
        return 1;
    }
    return 0;
}

/* Die unless the reply is a full-screen picture in the format asked for. */
static void check_image(const char *fmt, const resp *r)
{
    const unsigned char *b = (const unsigned char *)r->body;
    unsigned long w = 0, h = 0;
    int ok = strcmp(fmt, "png") == 0    ? png_dims(b, r->body_len, &w, &h)
             : strcmp(fmt, "jpeg") == 0 ? jpeg_dims(b, r->body_len, &w, &h)
                                        : webp_dims(b, r->body_len, &w, &h);
    if (!ok)
        die("screenshot %s: %zu bytes (content-type %s) are not a %s picture", fmt, r->body_len,
            r->content_type, fmt);
    if (w != WIDTH || h != HEIGHT)
        die("screenshot %s: %lux%lu, expected %dx%d", fmt, w, h, WIDTH, HEIGHT);
}

/* ---- one request of each kind ------------------------------------------------------------ */

static void expect_200(const char *what, const resp *r)
{
    if (r->status != 200)
        die("%s: HTTP %d: %.300s", what, r->status, r->body);
}

static size_t shot(hconn *c, const char *fmt)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/desktop/screenshot?format=%s%s", fmt,
             strcmp(fmt, "jpeg") == 0 ? "&quality=80" : "");
    resp r;
    hconn_request(c, g_port, "GET", path, NULL, &r, TIMEOUT_MS);
    expect_200(path, &r);
    check_image(fmt, &r);
    size_t n = r.body_len;
    free(r.body);
    return n;
}

/* The number after the first "key": in a JSON text, into *v; 0 when there is none. */
static int json_int(const char *body, const char *key, long *v)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(body, pat);
    if (!p)
        return 0;
    char *e;
    *v = strtol(p + strlen(pat), &e, 10);
    return e != p + strlen(pat);
}

static void move(hconn *c, long i)
{
    /* Two points far apart, both on the screen; the xterm is in the middle. */
    long x = i % 2 ? 1240 : 200, y = i % 2 ? 750 : 150;
    char body[64];
    snprintf(body, sizeof body, "{\"x\":%ld,\"y\":%ld}", x, y);
    resp r;
    hconn_request(c, g_port, "POST", "/v1/desktop/mouse/move", body, &r, TIMEOUT_MS);
    expect_200("POST /v1/desktop/mouse/move", &r);
    long gx, gy;
    if (!json_int(r.body, "x", &gx) || !json_int(r.body, "y", &gy) || gx != x || gy != y)
        die("mouse/move to %ld,%ld answered %.300s", x, y, r.body);
    free(r.body);
}

static void key(hconn *c)
{
    resp r;
    hconn_request(c, g_port, "POST", "/v1/desktop/keyboard/press", "{\"key\":\"shift\"}", &r,
                  TIMEOUT_MS);
    expect_200("POST /v1/desktop/keyboard/press", &r);
    if (!strstr(r.body, "\"ok\":true"))
        die("keyboard/press answered %.300s", r.body);
    free(r.body);
}

static void windows(hconn *c, const char *window_id)
{
    resp r;
    hconn_request(c, g_port, "GET", "/v1/desktop/windows", NULL, &r, TIMEOUT_MS);
    expect_200("GET /v1/desktop/windows", &r);
    char pat[64];
    snprintf(pat, sizeof pat, "\"id\":\"%s\"", window_id);
    if (!strstr(r.body, pat))
        die("GET /v1/desktop/windows does not list window %s: %.300s", window_id, r.body);
    free(r.body);
}

static void health(hconn *c)
{
    resp r;
    hconn_request(c, g_port, "GET", "/v1/health", NULL, &r, TIMEOUT_MS);
    expect_200("GET /v1/health", &r);
    free(r.body);
}

/* ---- round --------------------------------------------------------------------------------- */

enum { K_PNG, K_JPEG, K_WEBP, K_MOVE, K_KEY, K_WINDOWS, K_COUNT };
static const char *const g_kind[K_COUNT] = {"png", "jpeg", "webp", "move", "key", "windows"};

/* One request of kind k; the body size for screenshots, else 0. */
static size_t one(hconn *c, int k, long i, const char *window_id)
{
    switch (k) {
    case K_PNG:
    case K_JPEG:
    case K_WEBP:
        return shot(c, g_kind[k]);
    case K_MOVE:
        move(c, i);
        return 0;
    case K_KEY:
        key(c);
        return 0;
    default:
        windows(c, window_id);
        return 0;
    }
}

static int run_round(const char *window_id, int n_shot, int n_input, int n_windows, int warm)
{
    hconn c;
    hconn_init(&c);
    for (int k = 0; k < K_COUNT; k++) {
        int n = k <= K_WEBP ? n_shot : k == K_WINDOWS ? n_windows : n_input;
        double *sizes = malloc(sizeof(double) * (size_t)(n ? n : 1));
        long i = 0;
        for (int w = 0; w < warm; w++)
            one(&c, k, i++, window_id);
        for (int s = 0; s < n; s++) {
            double t0 = now_us();
            sizes[s] = (double)one(&c, k, i++, window_id);
            printf("sample %s %.3f\n", g_kind[k], (now_us() - t0) / 1000);
        }
        if (k <= K_WEBP && n) {
            qsort(sizes, (size_t)n, sizeof *sizes, cmp_double);
            printf("bytes_%s %.0f\n", g_kind[k], sizes[n / 2]);
        }
        fflush(stdout);
        free(sizes);
    }
    hconn_close(&c);
    return 0;
}

/* ---- health while screenshots run -------------------------------------------------------- */

static atomic_int g_stop;
static atomic_int g_started; /* shooters that finished their first screenshot */

/* One shooter: PNG screenshots in a loop on its own connection. Owner: main (joins it). */
typedef struct shooter {
    pthread_t th;
    double *done_at; /* completion times (us); malloc'd, grown by the thread, freed by main */
    size_t n, cap;
} shooter;

static void *shooter_main(void *arg)
{
    shooter *s = arg;
    hconn c;
    hconn_init(&c);
    int first = 1;
    while (!atomic_load(&g_stop)) {
        shot(&c, "png");
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 256;
            s->done_at = realloc(s->done_at, sizeof(double) * s->cap);
        }
        s->done_at[s->n++] = now_us();
        if (first) {
            atomic_fetch_add(&g_started, 1);
            first = 0;
        }
    }
    hconn_close(&c);
    return NULL;
}

/* Sequential health requests on c for `seconds`; the times (ms) sorted into *out. */
static int health_for(hconn *c, double seconds, double **out)
{
    size_t cap = 1024, n = 0;
    double *t = malloc(sizeof(double) * cap);
    double end = now_us() + seconds * 1e6;
    while (now_us() < end) {
        double t0 = now_us();
        health(c);
        if (n == cap)
            t = realloc(t, sizeof(double) * (cap *= 2));
        t[n++] = (now_us() - t0) / 1000;
    }
    if (!n)
        die("no health request completed");
    qsort(t, n, sizeof *t, cmp_double);
    *out = t;
    return (int)n;
}

static int run_health(double alone_s, double loaded_s, int shooters)
{
    hconn c;
    hconn_init(&c);
    for (int i = 0; i < 20; i++)
        health(&c);
    double *a;
    int na = health_for(&c, alone_s, &a);

    shooter *sh = calloc((size_t)shooters, sizeof *sh);
    for (int i = 0; i < shooters; i++)
        if (pthread_create(&sh[i].th, NULL, shooter_main, &sh[i]))
            die("pthread_create failed");
    while (atomic_load(&g_started) < shooters)
        usleep(1000);
    double t0 = now_us();
    double *l;
    int nl = health_for(&c, loaded_s, &l);
    double t1 = now_us();
    atomic_store(&g_stop, 1);
    long shots = 0;
    for (int i = 0; i < shooters; i++) {
        pthread_join(sh[i].th, NULL);
        for (size_t j = 0; j < sh[i].n; j++)
            shots += sh[i].done_at[j] >= t0 && sh[i].done_at[j] <= t1;
        free(sh[i].done_at);
    }
    free(sh);
    hconn_close(&c);

    printf("health_alone_p50_ms %.3f\n", quantile_sorted(a, na, 0.50));
    printf("health_alone_p90_ms %.3f\n", quantile_sorted(a, na, 0.90));
    printf("health_alone_n %d\n", na);
    printf("health_loaded_p50_ms %.3f\n", quantile_sorted(l, nl, 0.50));
    printf("health_loaded_p90_ms %.3f\n", quantile_sorted(l, nl, 0.90));
    printf("health_loaded_n %d\n", nl);
    printf("loaded_shots %ld\n", shots);
    printf("loaded_shots_per_s %.1f\n", shots / ((t1 - t0) / 1e6));
    free(a);
    free(l);
    return 0;
}

int main(int argc, char **argv)
{
    g_prog = "desktop";
    if (argc == 8 && strcmp(argv[1], "round") == 0) {
        g_port = atoi(argv[2]);
        int ns = atoi(argv[4]), ni = atoi(argv[5]), nw = atoi(argv[6]), warm = atoi(argv[7]);
        if (ns < 0 || ni < 0 || nw < 0 || warm < 0 || !argv[3][0])
            die("bad counts or window id");
        return run_round(argv[3], ns, ni, nw, warm);
    }
    if (argc == 6 && strcmp(argv[1], "health") == 0) {
        g_port = atoi(argv[2]);
        double alone = atof(argv[3]), loaded = atof(argv[4]);
        int shooters = atoi(argv[5]);
        if (alone <= 0 || loaded <= 0 || shooters < 1)
            die("bad durations or shooter count");
        return run_health(alone, loaded, shooters);
    }
    fprintf(stderr,
            "usage: %s round PORT WINDOW_ID N_SHOT N_INPUT N_WINDOWS WARMUP\n"
            "       %s health PORT ALONE_S LOADED_S SHOOTERS\n",
            argv[0], argv[0]);
    return 2;
}
