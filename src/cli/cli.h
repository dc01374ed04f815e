/* cli.h - subcommands of the sandbox-agent binary. */
#ifndef CLI_H
#define CLI_H

/* `sandbox-agent server ...`; argv[0] is "server". Returns the exit status. */
int cli_server_main(int argc, char **argv);
void cli_server_usage(void);

#endif
