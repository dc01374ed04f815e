/* args.h - the command-line parser every subcommand shares: a small clap-alike that gives
 * the reference CLI's error texts and exit codes (2 on a usage error).
 *
 * A command is a table of options on the caller's stack. Parsing fills in `seen` and
 * `value` (pointers into argv, never copied). Global options (-t/--token, -n/--no-token)
 * are accepted before and after every subcommand: a level that dispatches to a subcommand
 * re-inserts the global options it saw after the subcommand's name (cli_args_sub_argv), so
 * the next level parses them with its own table, as clap does with `global = true`. */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_ARGS_MORE "\nFor more information, try '--help'.\n"

/* One option of one (sub)command. Owner: the table on the caller's stack; value points
 * into argv. */
typedef struct cli_args_opt {
    char short_name;        /* 0 when there is none */
    const char *long_name;  /* without the dashes */
    const char *value_name; /* NULL for a flag */
    bool nonempty;          /* clap refuses "" (enum and PathBuf parsers) */
    const char *possible;   /* listed in errors, and the value must be one of them */
    const char *value;
    bool seen;
} cli_args_opt;

/* The global options, first in every table (their order is fixed: see CLI_ARGS_TOKEN). */
#define CLI_ARGS_GLOBAL_OPTS                                                                       \
    {'t', "token", "TOKEN", false, NULL, NULL, false}, {                                           \
        'n', "no-token", NULL, false, NULL, NULL, false                                            \
    }
enum { CLI_ARGS_TOKEN, CLI_ARGS_NO_TOKEN, CLI_ARGS_N_GLOBAL };

/* The command being parsed. Owner: the caller's stack. */
typedef struct cli_args_cmd {
    const char *name; /* "sandbox-agent credentials extract" */
    bool has_subcommands;
    /* What follows "[OPTIONS]" in usage lines: " <COMMAND>" when NULL and has_subcommands. */
    const char *usage_tail;
    cli_args_opt *opts;
    size_t n_opts;
    /* Positional arguments: at most max_positional are accepted (when the command has no
     * subcommands), stored in order; they point into argv. */
    size_t max_positional, n_positional;
    const char *positional[3];
} cli_args_cmd;

/* The option lines of a help text whose command takes only the global options (as the
 * reference prints them, -t/-n without a description). */
#define CLI_ARGS_GLOBAL_HELP                                                                       \
    "  -t, --token <TOKEN>  \n"                                                                    \
    "  -n, --no-token       \n"                                                                    \
    "  -h, --help           Print help\n"

/* Parse argv[*i..] for cmd. Stops at the first positional when cmd has subcommands (*i
 * then indexes it). Sets *help on -h/--help (clap acts on it at once). Returns 0, or 2
 * after printing a usage error. */
int cli_args_parse(cli_args_cmd *c, int argc, char **argv, int *i, bool *help);

/* cli_args_parse from argv[1] (*i receives where it stopped), with -h/--help answered by
 * printing help to stdout. Returns CLI_ARGS_GO to carry on, else the exit code (0 after
 * help, 2 after a usage error). */
#define CLI_ARGS_GO (-1)
int cli_args_parse_or_help(cli_args_cmd *c, int argc, char **argv, const char *help, int *i);

/* The option of c whose long name is long_name; the name must be in the table. */
cli_args_opt *cli_args_get(cli_args_cmd *c, const char *long_name);

/* Value of an option, or NULL when not given. */
const char *cli_args_value(cli_args_cmd *c, const char *long_name);
bool cli_args_seen(cli_args_cmd *c, const char *long_name);

/* Prints "error: <message>", the usage line and the --help hint; returns 2. */
int cli_args_usage_error(const cli_args_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A runtime failure (not a usage error), printed as the reference prints it: one logfmt
 * line on stderr, `... message="sandbox-agent failed" error="server error: <message>"`.
 * Returns 1, the exit status. */
int cli_args_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An unknown subcommand name: the clap error; returns 2. */
int cli_args_unknown_subcommand(const cli_args_cmd *c, const char *sub);

/* The argv of a subcommand. Owner: the caller; freed with cli_args_subv_free. */
typedef struct cli_args_subv {
    int argc;
    char **argv;     /* NULL-terminated; entries point into the parent argv */
    char *token_arg; /* the one allocated entry ("--token=T"), or NULL */
} cli_args_subv;

/* The argv of the subcommand at argv[sub]: its name, then the global options c saw, then
 * argv[sub+1..]. */
void cli_args_sub_argv(const cli_args_cmd *c, int argc, char **argv, int sub, cli_args_subv *out);
void cli_args_subv_free(cli_args_subv *s);

/* The bearer token the global options select: NULL with --no-token or without --token. */
const char *cli_args_token(cli_args_cmd *c);

/* One subcommand of a command group. Owner: a static table in the group's file. */
typedef struct cli_args_sub {
    const char *name;
    const char *help;                  /* its --help text, also printed by `<group> help <name>` */
    int (*run)(int argc, char **argv); /* argv[0] is the name; globals re-inserted after it */
} cli_args_sub;

/* A command group ("sandbox-agent daemon <COMMAND>"): parses the global options at this
 * level, answers -h/--help and `help [COMMAND]` with the help texts, and runs the chosen
 * subcommand with the globals forwarded to it. argv[0] is the group's own name. A missing
 * subcommand prints the help on stderr and returns 2, as clap does. */
int cli_args_dispatch(const char *name, const char *help, const cli_args_sub *subs, size_t n,
                      int argc, char **argv);

#endif
