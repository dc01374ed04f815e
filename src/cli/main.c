/* main.c - entry point: dispatches to the server, the CLI subcommands or the mock agent.
 *
 * The global options -t/--token and -n/--no-token are accepted before the subcommand and
 * forwarded after its name (args.h), so `sandbox-agent -t T api ...` and
 * `sandbox-agent api ... -t T` mean the same. The hidden commands mock-agent-process and
 * sentinel (proc/sentinel.c) get their argv untouched. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "mock/mock.h"
#include "proc/proc.h"

static void cli_usage(FILE *f) {
    fprintf(f,
            "sandbox-agent %s\n"
            "https://sandboxagent.dev\n\n"
            "Usage: sandbox-agent [OPTIONS] <COMMAND>\n\n"
            "Commands:\n"
            "  server         Run the sandbox agent HTTP server\n"
            "  api            Call the HTTP API without writing client code\n"
            "  install        Install first-party runtime dependencies\n"
            "  opencode       EXPERIMENTAL: OpenCode TUI attached to the OpenCode-compatible API\n"
            "  daemon         Manage the sandbox-agent background daemon\n"
            "  install-agent  Install or reinstall one agent, or `all` supported agents, without "
            "running the server\n"
            "  credentials    Inspect locally discovered credentials\n"
            "  help           Print this message or the help of the given subcommand(s)\n\n"
            "Options:\n"
            "  -t, --token <TOKEN>  Bearer token for the server (api, daemon) or to require "
            "(server)\n"
            "  -n, --no-token       No token\n"
            "  -h, --help           Print help\n"
            "  -V, --version        Print version\n\n"
            "Environment:\n"
            "  SANDBOX_AGENT_LOG=error|warn|info|debug  log level (logfmt on stderr)\n",
            BASE_VERSION);
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} cli_commands[] = {
    {"server", cli_server_main},           {"api", cli_api_main},
    {"install", cli_install_main},         {"opencode", cli_opencode_main},
    {"daemon", cli_daemon_main},           {"install-agent", cli_install_agent_main},
    {"credentials", cli_credentials_main},
};
#define CLI_N_COMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static int cli_run(const cli_args_cmd *top, int argc, char **argv, int i) {
    for (size_t k = 0; k < CLI_N_COMMANDS; k++) {
        if (strcmp(argv[i], cli_commands[k].name))
            continue;
        cli_args_subv sv;
        cli_args_sub_argv(top, argc, argv, i, &sv);
        int rc = cli_commands[k].run(sv.argc, sv.argv);
        cli_args_subv_free(&sv);
        return rc;
    }
    fprintf(stderr, "error: unrecognized subcommand '%s'\n\n", argv[i]);
    cli_usage(stderr);
    return 2;
}

/* `help [COMMAND]...`: the command's own --help. */
static int cli_help(int argc, char **argv, int i) {
    if (i >= argc) {
        cli_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[i], "server")) {
        cli_server_usage();
        return 0;
    }
    for (size_t k = 0; k < CLI_N_COMMANDS; k++) {
        if (strcmp(argv[i], cli_commands[k].name))
            continue;
        /* `help api agents` is `api agents --help`. */
        char *sub[16];
        int n = 0;
        for (int j = i; j < argc && n < 14; j++)
            sub[n++] = argv[j];
        sub[n++] = "--help";
        sub[n] = NULL;
        return cli_commands[k].run(n, sub);
    }
    fprintf(stderr, "error: unrecognized subcommand '%s'\n", argv[i]);
    return 2;
}

/* Started with stdin, stdout or stderr closed (`server <&-`, some supervisors), the first
 * files we open would take fds 0-2: logs would land in a socket, and libuv asserts when it
 * closes a handle whose fd is <= 2. /dev/null fills the gaps first. */
static void cli_fill_stdio(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n >= 0 && n != fd) {
            dup2(n, fd);
            close(n);
        }
    }
}

int main(int argc, char **argv) {
    cli_fill_stdio();
    base_log_init();
    if (argc == 2 && !strcmp(argv[1], "sentinel"))
        return proc_sentinel_command();
    if (argc >= 2 && !strcmp(argv[1], "mock-agent-process")) {
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                printf("Internal: stdio ACP mock agent used by the built-in `mock` agent\n\n"
                       "Usage: sandbox-agent mock-agent-process\n");
                return 0;
            }
        return mock_agent_main(argc - 1, argv + 1);
    }
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {'V', "version", NULL, false, NULL, NULL, false},
    };
    cli_args_cmd top = {
        .name = "sandbox-agent", .has_subcommands = true, .opts = opts, .n_opts = 3};
    int i = 1;
    bool help = false;
    int rc = cli_args_parse(&top, argc, argv, &i, &help);
    if (rc)
        return rc;
    if (help) {
        cli_usage(stdout);
        return 0;
    }
    if (cli_args_seen(&top, "version")) {
        printf("sandbox-agent %s\n", BASE_VERSION);
        return 0;
    }
    if (i >= argc) {
        cli_usage(stderr);
        fprintf(stderr, "\nerror: a subcommand is required\n");
        return 2;
    }
    if (!strcmp(argv[i], "help"))
        return cli_help(argc, argv, i + 1);
    return cli_run(&top, argc, argv, i);
}
