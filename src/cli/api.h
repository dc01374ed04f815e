/* api.h - what the `api` subcommands share (api.c: plumbing and `agents`; api_acp.c: `acp`;
 * api_sessions.c: `sessions`, with turn_render.c showing session events to a person). */
#ifndef CLI_API_H
#define CLI_API_H

#include <stdio.h>

#include "base/base.h"
#include "cli/args.h"
#include "cli/http_client.h"

#define CLI_API_DEFAULT_ENDPOINT "http://127.0.0.1:2468"
#define CLI_API_TIMEOUT_MS 30000

/* The options every api leaf command has, then its own. */
#define CLI_API_OPTS(...)                                                                          \
    cli_args_opt opts[] = {                                                                        \
        CLI_ARGS_GLOBAL_OPTS, {'e', "endpoint", "ENDPOINT", true, NULL, NULL, false}, __VA_ARGS__}

#define CLI_API_COMMON_HELP                                                                        \
    "  -e, --endpoint <ENDPOINT>  Server URL, http://host:port[/prefix] "                          \
    "[default: " CLI_API_DEFAULT_ENDPOINT "]\n"                                                    \
    "  -t, --token <TOKEN>        Sent as 'Authorization: Bearer <TOKEN>'\n"                       \
    "  -n, --no-token             Send no token\n"                                                 \
    "  -h, --help                 Print help\n"

/* What every api leaf command needs. Owner: the leaf's stack; freed by cli_api_ctx_free. */
typedef struct cli_api_ctx {
    cli_http_endpoint ep;
    const char *endpoint; /* as given (argv or the default), for the report */
    const char *token;
    bool json; /* --json: machine-readable output, where the command has that flag */
} cli_api_ctx;

/* Parses a leaf command (its table built with CLI_API_OPTS) and sets up x. Returns -1 to
 * go on, else an exit status (help printed, or a usage error). */
int cli_api_parse(cli_args_cmd *cmd, int argc, char **argv, const char *help, cli_api_ctx *x);
void cli_api_ctx_free(cli_api_ctx *x);

/* Runs rq with x's endpoint and token. Returns -1 with res filled (any status; the caller
 * frees res), 1 after printing a connection error, 0 when interrupted by SIGINT. */
int cli_api_call(const cli_api_ctx *x, cli_http_request *rq, cli_http_response *res);

/* Prints a failed answer on stderr (the problem's title and detail); returns 1. */
int cli_api_print_problem(const cli_http_response *res);

/* Sends method path (with body as JSON when non-NULL) and parses a 2xx answer. Returns it
 * (json_null() for an empty body; the caller decrefs) with *rc = -1, or NULL with *rc the
 * exit status after printing the problem or the connection error (0: SIGINT). */
json_t *cli_api_request_json(const cli_api_ctx *x, const char *method, const char *path,
                             const json_t *body, int timeout_ms, int *rc);

/* Appends the content of file ("-": stdin) to out, at most CLI_API_MAX_INPUT bytes. Returns
 * false after printing why it could not. */
#define CLI_API_MAX_INPUT (64u << 20)
bool cli_api_read_file(const char *file, base_buf *out);

/* Prints v and a newline on stdout, flushed. */
void cli_api_print_json(const json_t *v, size_t flags);

/* `api acp ...` and its help text. */
extern const char cli_api_acp_help[];
int cli_api_acp_main(int argc, char **argv);

/* `api sessions ...` and its help text. */
extern const char cli_api_sessions_help[];
int cli_api_sessions_main(int argc, char **argv);

/* ---- turn_render.c: SessionEvents for a person ------------------------------------------- */

/* The streaming view of a turn. Owner: the caller's stack; cli_turn_render_free. */
typedef struct cli_turn_render {
    FILE *out;
    bool color;            /* ANSI dim/bold/colours (a terminal, NO_COLOR unset) */
    const char *session;   /* borrowed: the id the reply hint names */
    const char *hint_opts; /* borrowed: options the reply hint repeats (" -e URL"), or "" */
    int open;              /* what the unfinished line holds (agent text, thought, user text) */
    base_map *tools;       /* toolCallId -> title (malloc'd), for updates without a title */
} cli_turn_render;

void cli_turn_render_init(cli_turn_render *r, FILE *out, bool color, const char *session,
                          const char *hint_opts);
/* One SessionEvent: text streams on the current line, everything else gets a line. */
void cli_turn_render_event(cli_turn_render *r, const json_t *event);
/* Ends an unfinished line (before printing anything else). */
void cli_turn_render_flush(cli_turn_render *r);
void cli_turn_render_free(cli_turn_render *r);

/* One line for a SessionEvent: "#<eventIndex> <sender> <method or response> <detail>". */
void cli_turn_summary(const json_t *event, base_buf *out);

#endif
