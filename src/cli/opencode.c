/* opencode.c - `sandbox-agent opencode` (opencode-compat.md §18): make sure a server answers
 * at host:port (the daemon, as `daemon start --upgrade`), then run the OpenCode TUI against
 * its OpenCode-compatible API: `opencode attach http://H:P/opencode`, with `--password
 * <token>` when a token is set (the server accepts it as HTTP Basic: quirk Q1 fixed).
 *
 * Which opencode: $GIGACODE_OPENCODE_BIN, else `opencode` on PATH, else the one
 * `sandbox-agent install-agent opencode` puts in <data>/bin (src/agents/layout.h). When none
 * is found we say what to install. The reference then falls back to `npx --yes opencode-ai`,
 * which downloads a few hundred MB at run time; here that happens only with --npx. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"

static const char cli_opencode_help[] =
    "EXPERIMENTAL: Start the OpenCode TUI against this server's OpenCode-compatible API\n"
    "\n"
    "Ensures the daemon for HOST:PORT is running (as `daemon start --upgrade`), then runs\n"
    "`opencode attach http://HOST:PORT/opencode` (with --password TOKEN when a token is set).\n"
    "opencode is $GIGACODE_OPENCODE_BIN, else `opencode` on PATH, else the one installed by\n"
    "`sandbox-agent install-agent opencode`.\n"
    "\n"
    "Usage: sandbox-agent opencode [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -t, --token <TOKEN>            Token the daemon requires, passed to attach as password\n"
    "  -n, --no-token                 No token\n"
    "  -H, --host <HOST>              [default: 127.0.0.1]\n"
    "  -p, --port <PORT>              [default: 2468]\n"
    "      --session-title <TITLE>    Accepted for compatibility; not used\n"
    "      --yolo                     Accepted for compatibility; not used\n"
    "      --npx                      Without an installed opencode, run `npx --yes opencode-ai`\n"
    "                                 (downloads it)\n"
    "  -h, --help                     Print help\n";

/* A usable program path: absolute or relative with a slash (taken as given), or looked up on
 * PATH. Malloc'd, NULL when not an executable file. */
static char *cli_opencode_find(const char *name) {
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? base_xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        return NULL;
    char *copy = base_xstrdup(path), *save = NULL;
    char *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *p = base_xasprintf("%s/%s", *dir ? dir : ".", name);
        if (access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

/* The opencode to run; NULL after printing what is missing. *npx says to prefix argv with
 * `npx --yes opencode-ai`. */
static char *cli_opencode_resolve(bool allow_npx, bool *npx) {
    *npx = false;
    const char *env = getenv("GIGACODE_OPENCODE_BIN");
    if (env && *env) {
        char *p = cli_opencode_find(env);
        if (!p)
            fprintf(stderr, "error: GIGACODE_OPENCODE_BIN=%s is not an executable program\n", env);
        return p;
    }
    char *p = cli_opencode_find("opencode");
    if (p)
        return p;
    char *installed = base_xasprintf("%s/bin/opencode", base_data_dir());
    if (access(installed, X_OK) == 0)
        return installed;
    if (allow_npx && (p = cli_opencode_find("npx"))) {
        *npx = true;
        free(installed);
        return p;
    }
    fprintf(stderr,
            "error: opencode is not installed: install it with `sandbox-agent install-agent "
            "opencode` (it goes to %s), put `opencode` on PATH, or set GIGACODE_OPENCODE_BIN%s\n",
            installed, allow_npx ? "" : " (--npx runs it through npx instead)");
    free(installed);
    return NULL;
}

/* Runs argv with the terminal and stdio inherited and waits. While the TUI runs, Ctrl-C and
 * Ctrl-\ are its own: we ignore them as system() does. Returns its wait status, or -1 with
 * errno when it could not be started. */
static int cli_opencode_run(char *const *argv) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        execv(argv[0], argv);
        int e = errno;
        (void)!write(pfd[1], &e, sizeof e);
        _exit(127);
    }
    int saved = errno;
    close(pfd[1]);
    int status = -1;
    if (pid > 0) {
        int e = 0;
        ssize_t n;
        while ((n = read(pfd[0], &e, sizeof e)) < 0 && errno == EINTR) {
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (n == (ssize_t)sizeof e) {
            status = -1;
            saved = e;
        }
    }
    close(pfd[0]);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    errno = saved;
    return status;
}

int cli_opencode_main(int argc, char **argv) {
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {'H', "host", "HOST", true, NULL, NULL, false},
        {'p', "port", "PORT", true, NULL, NULL, false},
        {0, "session-title", "SESSION_TITLE", false, NULL, NULL, false},
        {0, "yolo", NULL, false, NULL, NULL, false},
        {0, "npx", NULL, false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {
        .name = "sandbox-agent opencode", .opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, cli_opencode_help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    const char *host = cli_args_value(&cmd, "host");
    const char *port = cli_args_value(&cmd, "port");
    host = host ? host : "127.0.0.1";
    port = port ? port : "2468";
    uint64_t v;
    if (!base_parse_u64(port, strlen(port), &v) || v == 0 || v > 65535)
        return cli_args_usage_error(&cmd, "invalid value '%s' for '--port <PORT>'", port);
    const char *token = cli_args_token(&cmd);
    /* A wildcard bind is reached over loopback. */
    const char *dest = !strcmp(host, "0.0.0.0") ? "127.0.0.1" : !strcmp(host, "::") ? "::1" : host;
    bool v6 = strchr(dest, ':') != NULL;
    char *url =
        base_xasprintf("http://%s%s%s:%s/opencode", v6 ? "[" : "", dest, v6 ? "]" : "", port);

    /* The program first: a missing opencode should not leave a daemon behind. */
    bool npx;
    char *bin = cli_opencode_resolve(cli_args_seen(&cmd, "npx"), &npx);
    if (!bin) {
        free(url);
        return 1;
    }
    fprintf(stderr, "checking daemon health at http://%s%s%s:%s (token: %s)...\n", v6 ? "[" : "",
            dest, v6 ? "]" : "", port, token ? "set" : "unset");
    if (cli_daemon_ensure(host, port, token) != 0) {
        free(bin);
        free(url);
        return 1;
    }
    char *av[8];
    int n = 0;
    av[n++] = bin;
    if (npx) {
        av[n++] = "--yes";
        av[n++] = "opencode-ai";
    }
    av[n++] = "attach";
    av[n++] = url;
    if (token) {
        av[n++] = "--password";
        av[n++] = (char *)token;
    }
    av[n] = NULL;
    int status = cli_opencode_run(av);
    if (status == -1)
        rc = cli_args_fail("failed to launch %s attach: %s", bin, strerror(errno));
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        rc = 0;
    else if (WIFEXITED(status))
        rc = cli_args_fail("opencode attach exited with status exit status: %d",
                           WEXITSTATUS(status));
    else
        rc = cli_args_fail("opencode attach was killed by signal %d", WTERMSIG(status));
    free(bin);
    free(url);
    return rc;
}
