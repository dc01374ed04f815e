/* cli.h - subcommands of the sandbox-agent binary. */
#ifndef CLI_H
#define CLI_H

/* `sandbox-agent server ...`; argv[0] is "server". Returns the exit status. */
int cli_server_main(int argc, char **argv);
void cli_server_usage(void);

/* `sandbox-agent credentials extract|extract-env ...`; argv[0] is "credentials". Returns the
 * exit status: 0, 1 when the requested credential is missing, 2 on a usage error. */
int cli_credentials_main(int argc, char **argv);

/* `sandbox-agent install-agent <AGENT|all> ...`; argv[0] is "install-agent". Returns the
 * exit status: 0, 1 when an install failed, 2 on a usage error, 130 when interrupted. */
int cli_install_agent_main(int argc, char **argv);

/* `sandbox-agent install desktop ...`; argv[0] is "install". Returns 0, the package manager's
 * exit status when it failed, 1 on another failure, 2 on a usage error. */
int cli_install_main(int argc, char **argv);

/* `sandbox-agent daemon start|stop|status ...`; argv[0] is "daemon". Returns 0, 1 when the
 * daemon could not be started or stopped, 2 on a usage error. */
int cli_daemon_main(int argc, char **argv);
/* What `daemon start --upgrade` does for host:port (messages on stderr), except that a
 * healthy server we did not start is accepted as it is. Returns 0 when a server answers,
 * else 1. */
int cli_daemon_ensure(const char *host, const char *port, const char *token);

/* `sandbox-agent opencode ...`: ensure the daemon, then run `opencode attach` against its
 * /opencode API. Returns 0, 1 when the daemon, the launch or the TUI failed, 2 on a usage
 * error. */
int cli_opencode_main(int argc, char **argv);

/* `sandbox-agent api agents|acp ...`; argv[0] is "api". Returns 0, 1 on a server or
 * connection error, 2 on a usage error. */
int cli_api_main(int argc, char **argv);

#endif
