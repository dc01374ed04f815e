/* startup.c - measure time from exec to the first healthy HTTP response.
 *
 * Usage: startup RUNS TIMEOUT_MS BIN [ARGS...]
 *        startup --free-port      (print one free 127.0.0.1 TCP port)
 *
 * Every ARG equal to "{PORT}" is replaced with a free loopback port picked
 * freshly for each run.  For each run the prober:
 *   1. picks a free 127.0.0.1 port (bind to port 0, read it back, close);
 *   2. takes a CLOCK_MONOTONIC timestamp just before fork();
 *   3. the child starts a new session (own process group), arranges to be
 *      SIGKILLed if the prober dies, sends stdout/stderr to /dev/null and
 *      execs BIN;
 *   4. the parent loops connect() + "GET /v1/health" every 0.2 ms until it
 *      reads a complete "HTTP/1.1 200" response, then takes the end
 *      timestamp;
 *   5. SIGTERMs the child's process group, waits up to 2 s, then SIGKILLs.
 *
 * Output: one line per run, "startup_ms <float>".  Exit status 0 if every
 * run became healthy, 1 if any run failed (timeout or child died).
 *
 * Only talks to 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_child = 0;

static void on_signal(int sig)
{
    pid_t c = g_child;
    if (c > 0) {
        kill(-c, SIGKILL);
        kill(c, SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* One probe: connect, send GET /v1/health, read a full response.
 * Returns 1 if it was a 200, 0 otherwise (refused, reset, other status). */
static int probe(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return 0;
    }
    static const char req[] = "GET /v1/health HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return 0;
    }
    char buf[4096];
    size_t n = 0;
    int ok = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            break; /* EOF, reset or timeout */
        n += (size_t)r;
        buf[n] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) {
            if (n >= sizeof buf - 1)
                break;
            continue;
        }
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0 && strncmp(buf, "HTTP/1.0 200", 12) != 0)
            break;
        /* Headers complete and status is 200: wait for the body if it has a
         * Content-Length, so we time the full response. */
        size_t body = n - (size_t)(end + 4 - buf);
        long clen = -1;
        for (char *p = buf; p && p < end; p = strstr(p, "\r\n")) {
            if (*p == '\r')
                p += 2;
            if (strncasecmp(p, "content-length:", 15) == 0) {
                clen = strtol(p + 15, NULL, 10);
                break;
            }
        }
        if (clen < 0 || (long)body >= clen) {
            ok = 1;
            break;
        }
        if (n >= sizeof buf - 1)
            break;
    }
    close(fd);
    return ok;
}

static void reap(pid_t pid)
{
    kill(-pid, SIGTERM);
    kill(pid, SIGTERM);
    double deadline = now_ms() + 2000.0;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            break;
        if (now_ms() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    /* Anything left in the group (e.g. an agent subprocess) goes too. */
    kill(-pid, SIGKILL);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--free-port") == 0) {
        int p = free_port();
        if (p <= 0)
            return 1;
        printf("%d\n", p);
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s RUNS TIMEOUT_MS BIN [ARGS... {PORT} ...]\n", argv[0]);
        return 2;
    }
    int runs = atoi(argv[1]);
    double timeout_ms = atof(argv[2]);
    int cargc = argc - 3;
    char **tmpl = argv + 3;
    char **cargv = calloc((size_t)cargc + 1, sizeof *cargv);
    if (!cargv)
        return 2;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int failed = 0;
    for (int run = 0; run < runs; run++) {
        int port = free_port();
        if (port <= 0) {
            fprintf(stderr, "startup: cannot find a free port\n");
            return 1;
        }
        char portstr[16];
        snprintf(portstr, sizeof portstr, "%d", port);
        for (int i = 0; i < cargc; i++)
            cargv[i] = strcmp(tmpl[i], "{PORT}") == 0 ? portstr : tmpl[i];
        cargv[cargc] = NULL;

        double t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            setsid();
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            struct sigaction dfl = {0};
            dfl.sa_handler = SIG_DFL;
            sigaction(SIGINT, &dfl, NULL);
            sigaction(SIGTERM, &dfl, NULL);
            sigaction(SIGHUP, &dfl, NULL);
            execv(cargv[0], cargv);
            _exit(127);
        }
        g_child = pid;

        int healthy = 0, died = 0;
        double t1 = 0;
        for (;;) {
            if (probe(port)) {
                t1 = now_ms();
                healthy = 1;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                died = 1;
                break;
            }
            if (now_ms() - t0 > timeout_ms)
                break;
            struct timespec ts = {0, 200000}; /* 0.2 ms */
            nanosleep(&ts, NULL);
        }
        if (!died)
            reap(pid);
        else
            kill(-pid, SIGKILL);
        g_child = 0;

        if (healthy) {
            printf("startup_ms %.3f\n", t1 - t0);
            fflush(stdout);
        } else {
            fprintf(stderr, "startup: run %d: %s\n", run + 1,
                    died ? "server exited before becoming healthy" : "timed out waiting for health");
            failed = 1;
            break;
        }
    }
    free(cargv);
    return failed;
}
