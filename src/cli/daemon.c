/* daemon.c - `sandbox-agent daemon start|stop|status` (features.md §1.9): a background
 * `server` per host and port, tracked by files under <data>/daemon/:
 *
 *   daemon-<host, dots as dashes>-<port>.pid      "<pid>\n<start time>\n"
 *   daemon-<host, dots as dashes>-<port>.version  "<version>-<build id>"
 *   daemon-<host, dots as dashes>-<port>.log      the server's stdout and stderr (kept)
 *
 * The start time (field 22 of /proc/<pid>/stat) identifies the process we spawned: a pid
 * that was reused by another program has another start time, and is never signalled. A
 * pid file without it (written by the reference) is trusted only when the process's
 * command line is `sandbox-agent server ...`.
 *
 * start and stop hold an exclusive flock on the log file, so two of them for the same
 * daemon run one after the other (a second start then finds the first one's daemon).
 *
 * Messages go to stderr, worded like the reference's; status exits 0 either way. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/http_client.h"

#define CLI_DAEMON_START_TIMEOUT_MS 30000
/* The server stops its agents on SIGTERM (TERM, 2 s grace, KILL per group), so a clean
 * shutdown is well within this bound; KILL follows after it. */
#define CLI_DAEMON_STOP_TIMEOUT_MS 15000
#define CLI_DAEMON_KILL_TIMEOUT_MS 5000
#define CLI_DAEMON_HEALTH_TIMEOUT_MS 2000

/* One daemon (host and port) and its files. Owner: the subcommand's stack; the strings are
 * freed by cli_daemon_free. */
typedef struct cli_daemon {
    const char *host; /* from argv */
    const char *port; /* from argv, validated */
    const char *token;
    char *dir, *pid_path, *version_path, *log_path;
    char *url;               /* http://host:port, for messages */
    char *version;           /* ours: "<version>-<build id>" */
    cli_http_endpoint probe; /* where health checks connect */
} cli_daemon;

/* What a pid file says. */
typedef struct cli_daemon_pid {
    pid_t pid;
    unsigned long long start; /* 0 when the file has no start time */
} cli_daemon_pid;

/* What the recorded pid is now. */
typedef enum {
    CLI_DAEMON_GONE,  /* no such process (or a zombie) */
    CLI_DAEMON_OURS,  /* the daemon we started */
    CLI_DAEMON_OTHER, /* the pid now belongs to another program */
} cli_daemon_state;

/* ---- help texts ------------------------------------------------------------------------- */

static const char cli_daemon_help[] =
    "Manage the sandbox-agent background daemon\n"
    "\n"
    "Usage: sandbox-agent daemon [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  start   Start the daemon in the background\n"
    "  stop    Stop a running daemon\n"
    "  status  Show daemon status\n"
    "  help    Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP "\n"
    "Files: ${XDG_DATA_HOME:-~/.local/share}/sandbox-agent/daemon/daemon-<host>-<port>.pid,\n"
    ".version and .log (the host with dots as dashes).\n";

static const char cli_daemon_help_start[] =
    "Start the daemon in the background\n"
    "\n"
    "Runs `sandbox-agent server --host H --port P` in its own session (output to the log\n"
    "file) and waits until GET /v1/health answers. With --token the daemon requires it.\n"
    "\n"
    "Usage: sandbox-agent daemon start [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -H, --host <HOST>    [default: 127.0.0.1]\n"
    "  -p, --port <PORT>    [default: 2468]\n"
    "      --upgrade        Restart a running daemon whose build differs from this "
    "binary\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_daemon_help_stop[] =
    "Stop a running daemon\n"
    "\n"
    "Sends SIGTERM and waits for a clean shutdown (its agents stop with it), SIGKILL after\n"
    "15 s; then removes the PID and version files.\n"
    "\n"
    "Usage: sandbox-agent daemon stop [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -H, --host <HOST>    [default: 127.0.0.1]\n"
    "  -p, --port <PORT>    [default: 2468]\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_daemon_help_status[] =
    "Show daemon status\n"
    "\n"
    "Usage: sandbox-agent daemon status [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -H, --host <HOST>    [default: 127.0.0.1]\n"
    "  -p, --port <PORT>    [default: 2468]\n" CLI_ARGS_GLOBAL_HELP;

/* ---- files and identity ------------------------------------------------------------------ */

/* "<version>-<build id>": the build id is the binary's modification time, so a rebuilt or
 * replaced binary counts as another build for --upgrade. */
static char *cli_daemon_our_version(void) {
    struct stat st;
    if (stat(base_self_exe(), &st) != 0)
        return base_xasprintf("%s-unknown", BASE_VERSION);
    return base_xasprintf("%s-%lld%09ld", BASE_VERSION, (long long)st.st_mtim.tv_sec,
                          st.st_mtim.tv_nsec);
}

static void cli_daemon_init(cli_daemon *d, const char *host, const char *port, const char *token) {
    d->host = host;
    d->port = port;
    d->token = token;
    d->dir = base_xasprintf("%s/daemon", base_data_dir());
    char *name = base_xstrdup(host);
    for (char *p = name; *p; p++)
        if (*p == '.')
            *p = '-';
    d->pid_path = base_xasprintf("%s/daemon-%s-%s.pid", d->dir, name, port);
    d->version_path = base_xasprintf("%s/daemon-%s-%s.version", d->dir, name, port);
    d->log_path = base_xasprintf("%s/daemon-%s-%s.log", d->dir, name, port);
    free(name);
    bool v6 = strchr(host, ':') != NULL;
    d->url = base_xasprintf("http://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    d->version = cli_daemon_our_version();
    /* A wildcard bind is reached over loopback. */
    const char *probe_host = !strcmp(host, "0.0.0.0") ? "127.0.0.1"
                             : !strcmp(host, "::")    ? "::1"
                                                      : host;
    d->probe.host = base_xstrdup(probe_host);
    d->probe.port = base_xstrdup(port);
    d->probe.prefix = base_xstrdup("");
    d->probe.url = base_xstrdup(d->url);
}

static void cli_daemon_free(cli_daemon *d) {
    free(d->dir);
    free(d->pid_path);
    free(d->version_path);
    free(d->log_path);
    free(d->url);
    free(d->version);
    cli_http_endpoint_free(&d->probe);
}

/* Reads a small file into a NUL-terminated string with trailing blanks cut. Caller frees;
 * NULL when unreadable. */
static char *cli_daemon_read_small(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        n--;
    return base_xstrndup(buf, n);
}

/* Start time of pid in clock ticks since boot, and whether it is a zombie. Returns false
 * when there is no such process. */
static bool cli_daemon_proc_stat(pid_t pid, unsigned long long *start, bool *zombie) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = cli_daemon_read_small(path);
    if (!text)
        return false;
    /* "pid (comm) state ..."; comm may hold spaces and parentheses: fields follow the last ')'. */
    char *p = strrchr(text, ')');
    bool ok = false;
    if (p) {
        *zombie = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
        p += 2;
        for (int field = 3; field < 22 && p; field++) { /* advance to field 22 */
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        ok = p && sscanf(p, "%llu", start) == 1;
    }
    free(text);
    return ok;
}

/* True when pid's command line is `<...>/sandbox-agent... server ...`. */
static bool cli_daemon_cmdline_is_server(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *argv0 = buf, *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    size_t len0 = strlen(argv0);
    const char *argv1 = len0 + 1 < n ? argv0 + len0 + 1 : "";
    return !strncmp(base, "sandbox-agent", 13) && !strcmp(argv1, "server");
}

static bool cli_daemon_read_pid(const cli_daemon *d, cli_daemon_pid *out) {
    char *text = cli_daemon_read_small(d->pid_path);
    if (!text)
        return false;
    long long pid = 0;
    unsigned long long start = 0;
    int n = sscanf(text, "%lld %llu", &pid, &start);
    free(text);
    if (n < 1 || pid <= 0 || pid > 1 << 30)
        return false;
    out->pid = (pid_t)pid;
    out->start = n == 2 ? start : 0;
    return true;
}

static cli_daemon_state cli_daemon_check(const cli_daemon_pid *p) {
    /* Reap it if it is our own child (the restart of --upgrade), so it does not linger as
     * a zombie; ECHILD otherwise, which is fine. */
    waitpid(p->pid, NULL, WNOHANG);
    unsigned long long start;
    bool zombie = false;
    if (!cli_daemon_proc_stat(p->pid, &start, &zombie) || zombie)
        return CLI_DAEMON_GONE;
    if (p->start)
        return start == p->start ? CLI_DAEMON_OURS : CLI_DAEMON_OTHER;
    return cli_daemon_cmdline_is_server(p->pid) ? CLI_DAEMON_OURS : CLI_DAEMON_OTHER;
}

static void cli_daemon_remove_files(const cli_daemon *d) {
    unlink(d->pid_path);
    unlink(d->version_path);
}

static void cli_daemon_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Takes the per-daemon lock (a flock on the log file, which start creates anyway and
 * nobody removes). Returns the fd to close, or -1 when there is nothing to lock yet (stop
 * without a daemon directory), or when locking failed (then we go on unlocked). */
static int cli_daemon_lock(const cli_daemon *d, bool create) {
    if (create && base_mkdirs(d->dir) < 0)
        return -1;
    int fd = open(d->log_path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void cli_daemon_unlock(int fd) {
    if (fd >= 0)
        close(fd);
}

/* ---- health ---------------------------------------------------------------------------------- */

/* One GET /v1/health. Returns true on 200 {"status":"ok"}; otherwise why in err. */
static bool cli_daemon_healthy(const cli_daemon *d, char *err, size_t cap) {
    cli_http_request rq = {.method = "GET",
                           .path = "/v1/health",
                           .token = d->token,
                           .accept = "application/json",
                           .timeout_ms = CLI_DAEMON_HEALTH_TIMEOUT_MS};
    cli_http_response res;
    int rc = cli_http_do(&d->probe, &rq, &res, err, cap);
    bool ok = false;
    if (rc == 0) {
        json_t *body = res.body.len ? base_json_parse(res.body.data, res.body.len, NULL, 0) : NULL;
        const char *status = json_string_value(json_object_get(body, "status"));
        ok = res.status == 200 && status && !strcmp(status, "ok");
        if (!ok)
            snprintf(err, cap, "health check answered %d", res.status);
        json_decref(body);
    }
    cli_http_response_free(&res);
    return ok;
}

/* ---- stop --------------------------------------------------------------------------------------
 */

/* Polls until the process is gone; false when the bound passed first. */
static bool cli_daemon_wait_gone(const cli_daemon_pid *p, int timeout_ms) {
    uint64_t deadline = base_mono_ms() + (uint64_t)timeout_ms;
    int pause = 10;
    while (cli_daemon_check(p) == CLI_DAEMON_OURS) {
        if (base_mono_ms() > deadline)
            return false;
        cli_daemon_sleep_ms(pause);
        if (pause < 100)
            pause *= 2;
    }
    return true;
}

/* Stops a verified daemon: TERM, wait, KILL after the bound. Returns 0 or 1. */
static int cli_daemon_terminate(const cli_daemon *d, const cli_daemon_pid *p) {
    fprintf(stderr, "stopping daemon (PID %d)...\n", (int)p->pid);
    if (kill(p->pid, SIGTERM) != 0 && errno != ESRCH) {
        fprintf(stderr, "error: cannot signal PID %d: %s\n", (int)p->pid, strerror(errno));
        return 1;
    }
    if (!cli_daemon_wait_gone(p, CLI_DAEMON_STOP_TIMEOUT_MS)) {
        fprintf(stderr, "daemon did not stop within %d s; sending SIGKILL\n",
                CLI_DAEMON_STOP_TIMEOUT_MS / 1000);
        kill(p->pid, SIGKILL);
        if (!cli_daemon_wait_gone(p, CLI_DAEMON_KILL_TIMEOUT_MS)) {
            fprintf(stderr, "error: PID %d is still alive after SIGKILL\n", (int)p->pid);
            return 1;
        }
    }
    cli_daemon_remove_files(d);
    fprintf(stderr, "daemon stopped\n");
    return 0;
}

/* Explains and removes a pid file whose process is not our daemon. */
static void cli_daemon_drop_stale(const cli_daemon *d, const cli_daemon_pid *p,
                                  cli_daemon_state st) {
    if (st == CLI_DAEMON_OTHER)
        fprintf(stderr,
                "PID %d from %s now belongs to another program; not signalling it, removing "
                "the stale PID file\n",
                (int)p->pid, d->pid_path);
    else
        fprintf(stderr, "daemon PID %d is gone; removing the stale PID file\n", (int)p->pid);
    cli_daemon_remove_files(d);
}

/* ---- start -------------------------------------------------------------------------------------
 */

/* In the child: becomes its own session, wires stdin to /dev/null and stdout/stderr to
 * the log, and execs the server. Never returns. */
static void cli_daemon_exec_child(const cli_daemon *d, int log_fd, int null_fd) {
    setsid();
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    /* Ignored signals survive exec; the server wants the defaults it installs over. */
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const char *exe = base_self_exe();
    const char *argv[10];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "server";
    argv[n++] = "--host";
    argv[n++] = d->host;
    argv[n++] = "--port";
    argv[n++] = d->port;
    if (d->token) {
        argv[n++] = "--token";
        argv[n++] = d->token;
    }
    argv[n] = NULL;
    execv(exe, (char *const *)argv);
    fprintf(stderr, "daemon: cannot execute %s: %s\n", exe, strerror(errno));
    _exit(127);
}

/* Spawns the server detached. Returns its pid, or -1 after printing why. */
static pid_t cli_daemon_spawn(const cli_daemon *d) {
    int log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "error: cannot open %s: %s\n", d->log_path, strerror(errno));
        return -1;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fflush(NULL);
    pid_t pid = null_fd < 0 ? -1 : fork();
    if (pid == 0)
        cli_daemon_exec_child(d, log_fd, null_fd);
    if (pid < 0)
        fprintf(stderr, "error: cannot start the daemon: %s\n", strerror(errno));
    close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    return pid;
}

static void cli_daemon_print_log_tail(const cli_daemon *d) {
    char *text = cli_daemon_read_small(d->log_path);
    if (!text)
        return;
    /* The last few lines say why the server did not come up (bind error, bad flag). */
    const char *p = text + strlen(text);
    for (int lines = 0; p > text && lines < 8; p--)
        if (p[-1] == '\n')
            lines++;
    fprintf(stderr, "--- last lines of %s ---\n%s\n", d->log_path, p);
    free(text);
}

/* Waits for the spawned server to answer health checks. Returns 0 or 1. */
static int cli_daemon_wait_healthy(const cli_daemon *d, const cli_daemon_pid *p, uint64_t t0) {
    char err[512] = "";
    int pause = 20, attempts = 0;
    for (;;) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            fprintf(stderr, "error: the daemon exited during startup (%s %d)\n",
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            cli_daemon_print_log_tail(d);
            cli_daemon_remove_files(d);
            return 1;
        }
        attempts++;
        if (cli_daemon_healthy(d, err, sizeof err))
            break;
        if (base_mono_ms() - t0 > CLI_DAEMON_START_TIMEOUT_MS) {
            fprintf(stderr, "error: the daemon did not become healthy within %d s (%s)\n",
                    CLI_DAEMON_START_TIMEOUT_MS / 1000, err);
            cli_daemon_terminate(d, p);
            cli_daemon_print_log_tail(d);
            return 1;
        }
        cli_daemon_sleep_ms(pause);
        pause = pause * 2 > 200 ? 200 : pause * 2;
    }
    fprintf(stderr,
            "daemon started (PID %d, healthy after %.2f s and %d health checks, logs: %s)\n",
            (int)p->pid, (double)(base_mono_ms() - t0) / 1000.0, attempts, d->log_path);
    return 0;
}

static int cli_daemon_do_start(const cli_daemon *d) {
    char err[512];
    /* A server we did not start may hold the port: ours would fail to bind. */
    if (cli_daemon_healthy(d, err, sizeof err)) {
        fprintf(stderr,
                "error: a server already answers at %s but was not started by `daemon start` "
                "(no PID file); not starting another\n",
                d->url);
        return 1;
    }
    int mk = base_mkdirs(d->dir);
    if (mk < 0) {
        fprintf(stderr, "error: cannot create %s: %s\n", d->dir, strerror(-mk));
        return 1;
    }
    fprintf(stderr, "starting daemon at %s (logs: %s)\n", d->url, d->log_path);
    uint64_t t0 = base_mono_ms();
    cli_daemon_pid p = {.pid = cli_daemon_spawn(d)};
    if (p.pid < 0)
        return 1;
    /* The child's start time is its fork time; exec does not change it. */
    bool zombie;
    if (!cli_daemon_proc_stat(p.pid, &p.start, &zombie))
        p.start = 0;
    char *pid_text = base_xasprintf("%d\n%llu\n", (int)p.pid, p.start);
    int w1 = base_write_file_atomic(d->pid_path, pid_text, strlen(pid_text), 0644);
    int w2 = base_write_file_atomic(d->version_path, d->version, strlen(d->version), 0644);
    free(pid_text);
    if (w1 < 0 || w2 < 0) {
        fprintf(stderr, "error: cannot write the daemon files in %s: %s\n", d->dir,
                strerror(-(w1 < 0 ? w1 : w2)));
        kill(p.pid, SIGTERM);
        cli_daemon_wait_gone(&p, CLI_DAEMON_STOP_TIMEOUT_MS);
        cli_daemon_remove_files(d);
        return 1;
    }
    return cli_daemon_wait_healthy(d, &p, t0);
}

/* ---- subcommands ----------------------------------------------------------------------------- */

/* Parses the options of start/stop/status into d. Returns -1 to go on, else an exit
 * status (help printed, or a usage error). */
static int cli_daemon_parse(int argc, char **argv, const char *help, bool with_upgrade,
                            cli_daemon *d, bool *upgrade) {
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {'H', "host", "HOST", true, NULL, NULL, false},
        {'p', "port", "PORT", true, NULL, NULL, false},
        {0, "upgrade", NULL, false, NULL, NULL, false},
    };
    char name[64];
    snprintf(name, sizeof name, "sandbox-agent daemon %s", argv[0]);
    cli_args_cmd cmd = {.name = name,
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0] - (with_upgrade ? 0 : 1)};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    const char *host = cli_args_value(&cmd, "host");
    const char *port = cli_args_value(&cmd, "port");
    uint64_t v;
    if (port && (!base_parse_u64(port, strlen(port), &v) || v == 0 || v > 65535))
        return cli_args_usage_error(&cmd, "invalid value '%s' for '--port <PORT>'", port);
    cli_daemon_init(d, host ? host : "127.0.0.1", port ? port : "2468", cli_args_token(&cmd));
    if (upgrade)
        *upgrade = with_upgrade && cli_args_seen(&cmd, "upgrade");
    return -1;
}

/* start's work once the options are known, under the daemon lock. Returns 0 or 1. */
static int cli_daemon_start_locked(const cli_daemon *d, bool upgrade) {
    cli_daemon_pid p;
    if (!cli_daemon_read_pid(d, &p))
        return cli_daemon_do_start(d);
    int rc;
    cli_daemon_state st = cli_daemon_check(&p);
    char *running = st == CLI_DAEMON_OURS ? cli_daemon_read_small(d->version_path) : NULL;
    const char *build = running ? running : "unknown";
    if (st != CLI_DAEMON_OURS) {
        cli_daemon_drop_stale(d, &p, st);
        rc = cli_daemon_do_start(d);
    } else if (upgrade && strcmp(build, d->version) != 0) {
        fprintf(stderr, "daemon outdated (build %s -> %s), restarting...\n", build, d->version);
        rc = cli_daemon_terminate(d, &p);
        if (rc == 0)
            rc = cli_daemon_do_start(d);
    } else {
        fprintf(stderr, "daemon already running at %s (PID %d, build %s, logs: %s)\n", d->url,
                (int)p.pid, build, d->log_path);
        rc = 0;
    }
    free(running);
    return rc;
}

static int cli_daemon_start(int argc, char **argv) {
    cli_daemon d = {0};
    bool upgrade = false;
    int rc = cli_daemon_parse(argc, argv, cli_daemon_help_start, true, &d, &upgrade);
    if (rc >= 0)
        return rc;
    int lock = cli_daemon_lock(&d, true);
    rc = cli_daemon_start_locked(&d, upgrade);
    cli_daemon_unlock(lock);
    cli_daemon_free(&d);
    return rc;
}

int cli_daemon_ensure(const char *host, const char *port, const char *token) {
    cli_daemon d = {0};
    cli_daemon_init(&d, host, port, token);
    int lock = cli_daemon_lock(&d, true);
    cli_daemon_pid p;
    bool ours = cli_daemon_read_pid(&d, &p) && cli_daemon_check(&p) == CLI_DAEMON_OURS;
    char err[512];
    int rc;
    if (!ours && cli_daemon_healthy(&d, err, sizeof err)) {
        /* A server we did not start answers: attaching to it is what the caller wants. */
        fprintf(stderr, "server already running at %s (not started by `daemon start`)\n", d.url);
        rc = 0;
    } else {
        rc = cli_daemon_start_locked(&d, true);
    }
    cli_daemon_unlock(lock);
    cli_daemon_free(&d);
    return rc;
}

static int cli_daemon_stop(int argc, char **argv) {
    cli_daemon d = {0};
    int rc = cli_daemon_parse(argc, argv, cli_daemon_help_stop, false, &d, NULL);
    if (rc >= 0)
        return rc;
    int lock = cli_daemon_lock(&d, false);
    cli_daemon_pid p;
    rc = 0;
    if (!cli_daemon_read_pid(&d, &p)) {
        fprintf(stderr, "daemon is not running (no PID file)\n");
    } else {
        cli_daemon_state st = cli_daemon_check(&p);
        if (st == CLI_DAEMON_OURS)
            rc = cli_daemon_terminate(&d, &p);
        else
            cli_daemon_drop_stale(&d, &p, st);
    }
    cli_daemon_unlock(lock);
    cli_daemon_free(&d);
    return rc;
}

static int cli_daemon_status(int argc, char **argv) {
    cli_daemon d = {0};
    int rc = cli_daemon_parse(argc, argv, cli_daemon_help_status, false, &d, NULL);
    if (rc >= 0)
        return rc;
    cli_daemon_pid p;
    bool have = cli_daemon_read_pid(&d, &p);
    cli_daemon_state st = have ? cli_daemon_check(&p) : CLI_DAEMON_GONE;
    if (st != CLI_DAEMON_OURS) {
        if (have)
            fprintf(stderr, "Daemon not running (stale PID file: PID %d %s, logs: %s)\n",
                    (int)p.pid, st == CLI_DAEMON_OTHER ? "is another program" : "is gone",
                    d.log_path);
        else
            fprintf(stderr, "Daemon not running (logs: %s)\n", d.log_path);
    } else {
        char *build = cli_daemon_read_small(d.version_path);
        char err[512];
        bool healthy = cli_daemon_healthy(&d, err, sizeof err);
        fprintf(stderr, "Daemon running (PID %d, build %s, logs: %s)%s%s%s%s\n", (int)p.pid,
                build ? build : "unknown", d.log_path,
                build && !strcmp(build, d.version) ? "" : " [outdated, restart recommended]",
                healthy ? "" : " [not answering: ", healthy ? "" : err, healthy ? "" : "]");
        free(build);
    }
    cli_daemon_free(&d);
    return 0;
}

int cli_daemon_main(int argc, char **argv) {
    static const cli_args_sub subs[] = {
        {"start", cli_daemon_help_start, cli_daemon_start},
        {"stop", cli_daemon_help_stop, cli_daemon_stop},
        {"status", cli_daemon_help_status, cli_daemon_status},
    };
    return cli_args_dispatch("sandbox-agent daemon", cli_daemon_help, subs,
                             sizeof subs / sizeof subs[0], argc, argv);
}
