/* main.c - entry point: dispatches to the server, the CLI subcommands or the mock agent. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "mock/mock.h"
#include "proc/proc.h"

static void cli_usage(FILE *f) {
    fprintf(f,
            "sandbox-agent %s\n"
            "Run AI coding agents inside a sandbox, driven over HTTP.\n\n"
            "Usage: sandbox-agent [OPTIONS] <COMMAND>\n\n"
            "Commands:\n"
            "  server         Run the HTTP server (default 127.0.0.1:2468)\n"
            "  install-agent  Install an agent: <AGENT|all> [--reinstall]\n"
            "  credentials    Show credentials found in the environment and agent files\n"
            "  help           Print this message or the help of the given command\n\n"
            "Options:\n"
            "  -h, --help     Print help\n"
            "  -V, --version  Print version\n\n"
            "Environment:\n"
            "  SANDBOX_AGENT_LOG=error|warn|info|debug  log level (logfmt on stderr)\n",
            BASE_VERSION);
}

int main(int argc, char **argv) {
    base_log_init();
    if (argc < 2) {
        cli_usage(stderr);
        fprintf(stderr, "\nerror: a subcommand is required\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("sandbox-agent %s\n", BASE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        cli_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc > 2 && !strcmp(argv[2], "server"))
            cli_server_usage();
        else
            cli_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "server"))
        return cli_server_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "mock-agent-process")) {
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                printf("Internal: stdio ACP mock agent used by the built-in `mock` agent\n\n"
                       "Usage: sandbox-agent mock-agent-process\n");
                return 0;
            }
        return mock_agent_main(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "credentials"))
        return cli_credentials_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "install-agent"))
        return cli_install_agent_main(argc - 1, argv + 1);
    fprintf(stderr, "error: unrecognized subcommand '%s'\n\n", cmd);
    cli_usage(stderr);
    return 2;
}
