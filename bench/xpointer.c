/* xpointer.c - when the X pointer moves: polls XQueryPointer on a display in a tight loop
 * and prints the wall-clock time of every change, for bench/stream.mjs's input latency
 * (a move sent on the stream's data channel, stamped in the page with the same clock,
 * against the moment the pointer is seen where it was sent).
 *
 * Usage: xpointer DISPLAY [POLL_US [MAX_SECONDS]]
 *   POLL_US     sleep between two queries (0 = none: a tight loop, about one X round trip
 *               per sample); default 0
 *   MAX_SECONDS stop after this long even if nobody asks (a safety net); default 600
 * Output (stdout, line-buffered): "ready X Y" once connected (the pointer's position then),
 * then "move T_US X Y" per change, T_US = CLOCK_REALTIME in microseconds taken just after
 * the reply that first showed the new position (so at most one poll late); at the end
 * (SIGTERM, SIGINT or MAX_SECONDS) "polls N" and "poll_us_mean F" (the sampling period).
 * It stops too when its parent dies (PR_SET_PDEATHSIG). Exit status 0, or 1 when the display
 * cannot be opened.
 */
#include <X11/Xlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static long long now_us(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int query(Display *d, Window root, int *x, int *y) {
    Window r, c;
    int wx, wy;
    unsigned mask;
    return XQueryPointer(d, root, &r, &c, x, y, &wx, &wy, &mask);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: xpointer DISPLAY [POLL_US [MAX_SECONDS]]\n");
        return 2;
    }
    long poll_us = argc > 2 ? atol(argv[2]) : 0;
    long max_s = argc > 3 ? atol(argv[3]) : 600;
    Display *d = XOpenDisplay(argv[1]);
    if (!d) {
        fprintf(stderr, "xpointer: cannot open display %s\n", argv[1]);
        return 1;
    }
    /* Never outlive the client that started it (a tight loop would hold a core). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    Window root = DefaultRootWindow(d);
    int px = -1, py = -1;
    query(d, root, &px, &py);
    printf("ready %d %d\n", px, py);
    long long t0 = now_us(CLOCK_MONOTONIC), end = t0 + (long long)max_s * 1000000;
    long long polls = 0;
    while (!g_stop) {
        int x, y;
        if (!query(d, root, &x, &y))
            break;
        long long t = now_us(CLOCK_REALTIME);
        polls++;
        if (x != px || y != py) {
            printf("move %lld %d %d\n", t, x, y);
            px = x;
            py = y;
        }
        if ((polls & 255) == 0 && now_us(CLOCK_MONOTONIC) > end)
            break;
        if (poll_us > 0)
            usleep((useconds_t)poll_us);
    }
    double span = (double)(now_us(CLOCK_MONOTONIC) - t0);
    printf("polls %lld\npoll_us_mean %.1f\n", polls, polls ? span / (double)polls : 0.0);
    XCloseDisplay(d);
    return 0;
}
