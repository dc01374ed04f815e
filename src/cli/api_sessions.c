/* api_sessions.c - `sandbox-agent api sessions create|list|show|send|events|reply|cancel|
 * delete`: the server's sessions and their REST API (docs/sessions.md) from a terminal, so a
 * person can work with an agent without writing code.
 *
 * Results go to stdout (a readable form, or the server's JSON with --json), messages to
 * stderr. `send` streams the turn as it runs (turn_render.c shows the events); its exit
 * status says how the turn ended. Exit codes: 0, 1 on a server or connection error or a
 * turn that failed or was refused, 2 on a usage error, 130 when Ctrl-C stopped `send`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/api.h"
#include "cli/cli.h"

/* Title column of `list`, in bytes. */
#define CLI_SESSIONS_TITLE_MAX 60

/* ---- help texts ------------------------------------------------------------------------ */

const char cli_api_sessions_help[] =
    "Work with the server's sessions: create, send prompts, read events\n"
    "\n"
    "Every ACP session the server has seen is listed, whoever started it (the SDK, the\n"
    "Inspector, this CLI), and kept across restarts.\n"
    "\n"
    "Usage: sandbox-agent api sessions [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  create  Start a session with an agent (POST /v1/sessions)\n"
    "  list    List sessions\n"
    "  show    Show one session\n"
    "  send    Send a prompt and stream the turn as it runs\n"
    "  events  List a session's events, or follow them\n"
    "  reply   Answer a permission request of the agent\n"
    "  cancel  Cancel the running turn\n"
    "  delete  Delete a session and its events\n"
    "  help    Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_sessions_help_create[] =
    "Start a session with an agent (POST /v1/sessions)\n"
    "\n"
    "Starts the agent on the server, opens an ACP session and prints its id on stdout.\n"
    "\n"
    "Usage: sandbox-agent api sessions create [OPTIONS] --agent <AGENT>\n"
    "\n"
    "Options:\n"
    "      --agent <AGENT>  claude, codex, opencode, amp, pi, cursor or mock\n"
    "      --cwd <CWD>      Working directory of the session, on the server [default: the\n"
    "                       server's]\n"
    "      --mode <MODE>    Mode to set after creation (session/set_mode)\n"
    "      --model <MODEL>  Model to set after creation (session/set_model)\n"
    "      --json           Print the session as JSON\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_list[] =
    "List sessions\n"
    "\n"
    "Oldest first: id, agent, status, creation time and title (from the first prompt).\n"
    "\n"
    "Usage: sandbox-agent api sessions list [OPTIONS]\n"
    "\n"
    "Options:\n"
    "      --agent <AGENT>    Only this agent's sessions\n"
    "      --status <STATUS>  Only sessions in this status [possible values: active, ended,\n"
    "                         agent_exited]\n"
    "      --limit <LIMIT>    At most this many per page (1-1000) [default: 100]\n"
    "      --cursor <CURSOR>  The page after a previous one (its nextCursor)\n"
    "      --all              Follow nextCursor to the last page\n"
    "      --json             Print the response body ({items, nextCursor?}; with --all, every\n"
    "                         page's items in one {items})\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_show[] =
    "Show one session\n"
    "\n"
    "Usage: sandbox-agent api sessions show [OPTIONS] <ID>\n"
    "\n"
    "Arguments:\n"
    "  <ID>  The session id (or the SDK's local id of the session)\n"
    "\n"
    "Options:\n"
    "      --json  Print the session as JSON\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_send[] =
    "Send a prompt and stream the turn as it runs\n"
    "\n"
    "Prints the agent's answer as it comes: text, thoughts (dimmed), one line per tool call\n"
    "and update, plans, and permission requests with the command that answers them (from\n"
    "another terminal). Ends with the stop reason. Exit status: 0 when the turn ended\n"
    "(end_turn, max_tokens, max_turn_requests, cancelled), 1 when it failed or the agent\n"
    "refused, 130 on Ctrl-C (the turn goes on on the server: `sessions cancel` stops it).\n"
    "\n"
    "Usage: sandbox-agent api sessions send [OPTIONS] <ID> <TEXT>\n"
    "\n"
    "Arguments:\n"
    "  <ID>    The session id\n"
    "  <TEXT>  The prompt ('-': read it from stdin)\n"
    "\n"
    "Options:\n"
    "      --json  One JSON line per event (each SSE event's data): the session events, then\n"
    "              the turn's end ({stopReason} or {error})\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_events[] =
    "List a session's events, or follow them\n"
    "\n"
    "One line per event: \"#<eventIndex> <sender> <method or response> <detail>\".\n"
    "\n"
    "Usage: sandbox-agent api sessions events [OPTIONS] <ID>\n"
    "\n"
    "Arguments:\n"
    "  <ID>  The session id\n"
    "\n"
    "Options:\n"
    "      --offset <OFFSET>  Only events after this eventIndex [default: 0]\n"
    "      --limit <LIMIT>    At most this many (1-1000) [default: 100]; not with --follow\n"
    "      --follow           Stream the events (SSE), then new ones as they happen, until\n"
    "                         Ctrl-C\n"
    "      --json             Print the response body; with --follow, one event per "
    "line\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_reply[] =
    "Answer a permission request of the agent\n"
    "\n"
    "Usage: sandbox-agent api sessions reply [OPTIONS] <ID> <REQUEST_ID> <REPLY>\n"
    "\n"
    "Arguments:\n"
    "  <ID>          The session id\n"
    "  <REQUEST_ID>  The request's id (printed by `sessions send`)\n"
    "  <REPLY>       [possible values: once, always, reject]\n"
    "\n"
    "Options:\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_cancel[] =
    "Cancel the running turn\n"
    "\n"
    "Sends session/cancel: the turn ends with the stop reason \"cancelled\".\n"
    "\n"
    "Usage: sandbox-agent api sessions cancel [OPTIONS] <ID>\n"
    "\n"
    "Arguments:\n"
    "  <ID>  The session id\n"
    "\n"
    "Options:\n" CLI_API_COMMON_HELP;

static const char cli_sessions_help_delete[] =
    "Delete a session and its events\n"
    "\n"
    "A session started over REST is ended first. One that an ACP client is driving is\n"
    "refused (409) unless --force, which closes its ACP server.\n"
    "\n"
    "Usage: sandbox-agent api sessions delete [OPTIONS] <ID>\n"
    "\n"
    "Arguments:\n"
    "  <ID>  The session id\n"
    "\n"
    "Options:\n"
    "      --force  Delete a session an ACP client is driving (closes its ACP "
    "server)\n" CLI_API_COMMON_HELP;

/* ---- shared ------------------------------------------------------------------------------ */

/* Parses a leaf command whose positional arguments are all required (names, for the error).
 * Returns -1 to go on, else the exit status. */
static int cli_sessions_parse(cli_args_cmd *cmd, int argc, char **argv, const char *help,
                              cli_api_ctx *x, const char *const *names, size_t n) {
    int rc = cli_api_parse(cmd, argc, argv, help, x);
    if (rc >= 0)
        return rc;
    if (cmd->n_positional < n) {
        char missing[160] = "";
        size_t used = 0;
        for (size_t i = cmd->n_positional; i < n; i++)
            used += (size_t)snprintf(missing + used, sizeof missing - used, "\n  %s", names[i]);
        cli_api_ctx_free(x);
        return cli_args_usage_error(cmd, "the following required arguments were not provided:%s",
                                    missing);
    }
    return -1;
}

/* The command table of a leaf that takes positional arguments (all required: names). */
#define CLI_SESSIONS_CMD(leaf, tail, n)                                                            \
    {                                                                                              \
        .name = "sandbox-agent api sessions " leaf, .usage_tail = tail, .opts = opts,              \
        .n_opts = sizeof opts / sizeof opts[0], .max_positional = n                                \
    }

/* "/v1/sessions/<id, percent-encoded><tail>". Caller frees with base_buf_free. */
static void cli_sessions_path(base_buf *b, const char *id, const char *tail) {
    base_buf_init(b);
    base_buf_appends(b, "/v1/sessions/");
    cli_http_append_segment(b, id);
    base_buf_appends(b, tail);
}

/* Appends "<sep><name>=<value, encoded>" to a query when value is non-NULL. */
static void cli_sessions_query(base_buf *b, const char *name, const char *value) {
    if (!value)
        return;
    base_buf_appendf(b, "%c%s=", memchr(b->data, '?', b->len) ? '&' : '?', name);
    cli_http_append_segment(b, value);
}

/* A usage error unless value (when given) is an unsigned integer. Returns -1 when fine. */
static int cli_sessions_check_u64(cli_args_cmd *cmd, const char *opt, const char *meta) {
    const char *v = cli_args_value(cmd, opt);
    uint64_t n;
    if (!v || base_parse_u64(v, strlen(v), &n))
        return -1;
    return cli_args_usage_error(cmd, "invalid value '%s' for '--%s <%s>': not an unsigned integer",
                                v, opt, meta);
}

/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS". */
static void cli_sessions_time(const json_t *ms, char *out, size_t cap) {
    if (!json_is_integer(ms)) {
        snprintf(out, cap, "-");
        return;
    }
    time_t t = (time_t)(json_integer_value(ms) / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(out, cap, "-");
}

/* "active", "ended", "agent_exited (exit code 1)", "agent_exited (signal 9)". */
static void cli_sessions_status(const json_t *s, char *out, size_t cap) {
    const char *st = json_string_value(json_object_get(s, "status")) ?: "?";
    const json_t *code = json_object_get(s, "exitCode"), *sig = json_object_get(s, "signal");
    if (json_is_integer(sig) && json_integer_value(sig) > 0)
        snprintf(out, cap, "%s (signal %lld)", st, (long long)json_integer_value(sig));
    else if (json_is_integer(code))
        snprintf(out, cap, "%s (exit code %lld)", st, (long long)json_integer_value(code));
    else
        snprintf(out, cap, "%s", st);
}

/* The current value of the session's config option of a category ("model"), or NULL. */
static const char *cli_sessions_option(const json_t *s, const char *category) {
    size_t k;
    json_t *o;
    json_array_foreach(json_object_get(s, "configOptions"), k, o) {
        const char *cat = json_string_value(json_object_get(o, "category"));
        if (cat && !strcmp(cat, category))
            return json_string_value(json_object_get(o, "currentValue"));
    }
    return NULL;
}

static const char *cli_sessions_mode(const json_t *s) {
    return json_string_value(json_object_get(json_object_get(s, "modes"), "currentModeId"));
}

/* A 2xx answer to a streaming request that is no event stream (a server without the SSE
 * variant): says so and returns true. */
static bool cli_sessions_not_sse(const cli_http_response *res) {
    const char *ct = res->content_type ? res->content_type : "";
    if (!strncmp(ct, "text/event-stream", 17))
        return false;
    fprintf(stderr, "error: the server answered HTTP %d with %s, not an event stream\n",
            res->status, *ct ? ct : "no content type");
    return true;
}

/* Whether to colour stdout: a terminal, and NO_COLOR (no-color.org) unset or empty. */
static bool cli_sessions_color(void) {
    const char *no = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(no && *no);
}

/* ---- create ------------------------------------------------------------------------------ */

static int cli_sessions_create(int argc, char **argv) {
    CLI_API_OPTS({0, "agent", "AGENT", true, NULL, NULL, false},
                 {0, "cwd", "CWD", true, NULL, NULL, false},
                 {0, "mode", "MODE", true, NULL, NULL, false},
                 {0, "model", "MODEL", true, NULL, NULL, false},
                 {0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("create", " --agent <AGENT>", 0);
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_sessions_help_create, &x);
    if (rc >= 0)
        return rc;
    if (!cli_args_value(&cmd, "agent")) {
        cli_api_ctx_free(&x);
        return cli_args_usage_error(&cmd, "the following required arguments were not "
                                          "provided:\n  --agent <AGENT>");
    }
    json_t *req = json_pack("{s:s}", "agent", cli_args_value(&cmd, "agent"));
    static const char *const fields[] = {"cwd", "mode", "model"};
    for (size_t i = 0; i < 3; i++)
        if (cli_args_value(&cmd, fields[i]))
            json_object_set_new(req, fields[i], json_string(cli_args_value(&cmd, fields[i])));
    /* Starting an agent may install it first; the server bounds each step itself. */
    json_t *s = cli_api_request_json(&x, "POST", "/v1/sessions", req, -1, &rc);
    if (s && x.json) {
        cli_api_print_json(s, JSON_INDENT(2));
        rc = 0;
    } else if (s) {
        const char *id = json_string_value(json_object_get(s, "id"));
        const char *mode = cli_sessions_mode(s), *model = cli_sessions_option(s, "model");
        printf("%s\n", id ? id : "?");
        fflush(stdout);
        fprintf(stderr, "created session %s: agent %s, cwd %s%s%s%s%s, ACP server %s\n",
                id ? id : "?", json_string_value(json_object_get(s, "agent")) ?: "?",
                json_string_value(json_object_get(s, "cwd")) ?: "?", mode ? ", mode " : "",
                mode ? mode : "", model ? ", model " : "", model ? model : "",
                json_string_value(json_object_get(s, "serverId")) ?: "?");
        rc = 0;
    }
    json_decref(s);
    json_decref(req);
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- list -------------------------------------------------------------------------------- */

static void cli_sessions_table(json_t *items) {
    int idw = 2;
    size_t k;
    json_t *s;
    json_array_foreach(items, k, s) {
        int n = (int)strlen(json_string_value(json_object_get(s, "id")) ?: "?");
        idw = n > idw ? n : idw;
    }
    printf("%-*s  %-10s  %-26s  %-19s  %s\n", idw, "ID", "AGENT", "STATUS", "CREATED", "TITLE");
    json_array_foreach(items, k, s) {
        char created[32], status[64];
        cli_sessions_time(json_object_get(s, "createdAt"), created, sizeof created);
        cli_sessions_status(s, status, sizeof status);
        const char *title = json_string_value(json_object_get(s, "title"));
        char *one = base_xstrdup(title ? title : "-");
        for (char *p = one; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        bool cut = strlen(one) > CLI_SESSIONS_TITLE_MAX;
        printf("%-*s  %-10s  %-26s  %-19s  %.*s%s\n", idw,
               json_string_value(json_object_get(s, "id")) ?: "?",
               json_string_value(json_object_get(s, "agent")) ?: "?", status, created,
               CLI_SESSIONS_TITLE_MAX, one, cut ? "..." : "");
        free(one);
    }
    fflush(stdout);
}

static int cli_sessions_list(int argc, char **argv) {
    CLI_API_OPTS({0, "agent", "AGENT", true, NULL, NULL, false},
                 {0, "status", "STATUS", true, "active, ended, agent_exited", NULL, false},
                 {0, "limit", "LIMIT", true, NULL, NULL, false},
                 {0, "cursor", "CURSOR", true, NULL, NULL, false},
                 {0, "all", NULL, false, NULL, NULL, false},
                 {0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("list", NULL, 0);
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_sessions_help_list, &x);
    if (rc >= 0)
        return rc;
    if ((rc = cli_sessions_check_u64(&cmd, "limit", "LIMIT")) >= 0) {
        cli_api_ctx_free(&x);
        return rc;
    }
    bool all = cli_args_seen(&cmd, "all");
    json_t *items = json_array();
    char *cursor =
        cli_args_value(&cmd, "cursor") ? base_xstrdup(cli_args_value(&cmd, "cursor")) : NULL;
    json_t *page = NULL;
    for (;;) {
        base_buf path;
        base_buf_init(&path);
        base_buf_appends(&path, "/v1/sessions");
        cli_sessions_query(&path, "agent", cli_args_value(&cmd, "agent"));
        cli_sessions_query(&path, "status", cli_args_value(&cmd, "status"));
        cli_sessions_query(&path, "limit", cli_args_value(&cmd, "limit"));
        cli_sessions_query(&path, "cursor", cursor);
        json_decref(page);
        page = cli_api_request_json(&x, "GET", path.data, NULL, CLI_API_TIMEOUT_MS, &rc);
        base_buf_free(&path);
        if (!page)
            break;
        json_array_extend(items, json_object_get(page, "items"));
        const char *next = json_string_value(json_object_get(page, "nextCursor"));
        free(cursor);
        cursor = next ? base_xstrdup(next) : NULL;
        /* A server that hands back an empty page with a cursor would loop forever. */
        if (!all || !cursor || !json_array_size(json_object_get(page, "items")))
            break;
    }
    if (page) {
        rc = 0;
        if (x.json && !all) {
            cli_api_print_json(page, JSON_INDENT(2));
        } else if (x.json) {
            json_t *out = json_pack("{s:O}", "items", items);
            cli_api_print_json(out, JSON_INDENT(2));
            json_decref(out);
        } else {
            cli_sessions_table(items);
            if (!json_array_size(items))
                fprintf(stderr, "no sessions\n");
            else if (cursor && !all)
                fprintf(stderr, "more sessions: --cursor %s (or --all)\n", cursor);
        }
    }
    json_decref(page);
    json_decref(items);
    free(cursor);
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- show -------------------------------------------------------------------------------- */

static void cli_sessions_print(const json_t *s) {
    char created[32], last[32], status[64];
    cli_sessions_time(json_object_get(s, "createdAt"), created, sizeof created);
    cli_sessions_time(json_object_get(s, "lastActivityAt"), last, sizeof last);
    cli_sessions_status(s, status, sizeof status);
    printf("id:             %s\n", json_string_value(json_object_get(s, "id")) ?: "?");
    printf("agent:          %s\n", json_string_value(json_object_get(s, "agent")) ?: "?");
    printf("status:         %s\n", status);
    printf("title:          %s\n", json_string_value(json_object_get(s, "title")) ?: "-");
    printf("cwd:            %s\n", json_string_value(json_object_get(s, "cwd")) ?: "-");
    printf("created:        %s\n", created);
    printf("last activity:  %s\n", last);
    printf("ACP server:     %s\n", json_string_value(json_object_get(s, "serverId")) ?: "-");
    printf("origin:         %s\n", json_string_value(json_object_get(s, "origin")) ?: "-");
    printf("events:         %lld\n",
           (long long)json_integer_value(json_object_get(s, "eventCount")));
    const json_t *modes = json_object_get(s, "modes");
    if (json_is_object(modes)) {
        printf("mode:           %s (available:", cli_sessions_mode(s) ?: "-");
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(modes, "availableModes"), k, m)
            printf(" %s", json_string_value(json_object_get(m, "id")) ?: "?");
        printf(")\n");
    }
    size_t k;
    json_t *o;
    json_array_foreach(json_object_get(s, "configOptions"), k, o) {
        char label[64];
        snprintf(label, sizeof label, "%s:", json_string_value(json_object_get(o, "id")) ?: "?");
        printf("%-15s %s\n", label, json_string_value(json_object_get(o, "currentValue")) ?: "-");
    }
    const json_t *record = json_object_get(s, "record");
    if (json_is_object(record))
        printf("SDK session:    %s\n", json_string_value(json_object_get(record, "id")) ?: "?");
    fflush(stdout);
}

static int cli_sessions_show(int argc, char **argv) {
    CLI_API_OPTS({0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("show", " <ID>", 1);
    static const char *const names[] = {"<ID>"};
    cli_api_ctx x = {0};
    int rc = cli_sessions_parse(&cmd, argc, argv, cli_sessions_help_show, &x, names, 1);
    if (rc >= 0)
        return rc;
    base_buf path;
    cli_sessions_path(&path, cmd.positional[0], "");
    json_t *s = cli_api_request_json(&x, "GET", path.data, NULL, CLI_API_TIMEOUT_MS, &rc);
    if (s) {
        if (x.json)
            cli_api_print_json(s, JSON_INDENT(2));
        else
            cli_sessions_print(s);
        rc = 0;
    }
    json_decref(s);
    base_buf_free(&path);
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- send -------------------------------------------------------------------------------- */

/* A turn being streamed. Lives on cli_sessions_send's stack. */
typedef struct cli_sessions_turn {
    bool json;
    cli_turn_render render;
    json_t *end; /* the turn_end event's data, once it came */
} cli_sessions_turn;

static bool cli_sessions_turn_event(const char *event, const char *id, const char *data, size_t len,
                                    void *ud) {
    cli_sessions_turn *t = ud;
    json_t *v = base_json_parse(data, len, NULL, 0);
    if (t->json) {
        char *line = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        printf("%s\n", line ? line : data);
        fflush(stdout);
        free(line);
    } else if (v && !strcmp(event, "session_event")) {
        cli_turn_render_event(&t->render, v);
    }
    if (!strcmp(event, "turn_end")) {
        t->end = v ? v : json_object();
        return false; /* the turn is over: nothing follows */
    }
    json_decref(v);
    return true;
}

/* The error of a turn_end: a string, or a problem / JSON-RPC error object. */
static void cli_sessions_turn_error(const json_t *err, char *out, size_t cap) {
    const char *msg = json_string_value(err);
    if (!msg)
        msg = json_string_value(json_object_get(err, "detail"));
    if (!msg)
        msg = json_string_value(json_object_get(err, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(err, "title"));
    if (msg) {
        snprintf(out, cap, "%s", msg);
    } else {
        char *text = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, cap, "%s", text ? text : "unknown error");
        free(text);
    }
}

/* After the stream: prints how the turn ended and returns the exit status. */
static int cli_sessions_turn_result(cli_sessions_turn *t, const char *session) {
    if (!t->json)
        cli_turn_render_flush(&t->render);
    if (!t->end) {
        fprintf(stderr,
                "error: the stream ended before the turn did (see `sandbox-agent api "
                "sessions events %s`)\n",
                session);
        return 1;
    }
    const json_t *err = json_object_get(t->end, "error");
    const char *stop = json_string_value(json_object_get(t->end, "stopReason"));
    if (err || !stop) {
        char msg[1024];
        cli_sessions_turn_error(err ? err : t->end, msg, sizeof msg);
        fprintf(stderr, "error: the turn failed: %s\n", msg);
        return 1;
    }
    if (!t->json) {
        const char *sgr = t->render.color ? "\x1b[2m" : "",
                   *reset = t->render.color ? "\x1b[0m" : "";
        printf("%s[end of turn: %s]%s\n", sgr, stop, reset);
        fflush(stdout);
    }
    if (!strcmp(stop, "refusal")) {
        fprintf(stderr, "error: the agent refused the prompt\n");
        return 1;
    }
    return 0;
}

static int cli_sessions_send(int argc, char **argv) {
    CLI_API_OPTS({0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("send", " <ID> <TEXT>", 2);
    static const char *const names[] = {"<ID>", "<TEXT>"};
    cli_api_ctx x = {0};
    int rc = cli_sessions_parse(&cmd, argc, argv, cli_sessions_help_send, &x, names, 2);
    if (rc >= 0)
        return rc;
    const char *id = cmd.positional[0], *text = cmd.positional[1];
    base_buf input;
    base_buf_init(&input);
    if (!strcmp(text, "-")) {
        if (!cli_api_read_file("-", &input)) {
            base_buf_free(&input);
            cli_api_ctx_free(&x);
            return 1;
        }
    } else {
        base_buf_appends(&input, text);
    }
    json_t *req = json_pack("{s:s%}", "text", input.data ? input.data : "", input.len);
    base_buf_free(&input);
    if (!req) {
        cli_api_ctx_free(&x);
        fprintf(stderr, "error: the prompt is not valid UTF-8\n");
        return 1;
    }
    char *payload = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    /* The reply hint repeats what reaching this server takes; never the token itself. */
    bool custom = strcmp(x.endpoint, CLI_API_DEFAULT_ENDPOINT) != 0;
    char *hint = base_xasprintf("%s%s%s", custom ? " -e " : "", custom ? x.endpoint : "",
                                x.token ? " -t <TOKEN>" : "");
    cli_sessions_turn t = {.json = x.json};
    cli_turn_render_init(&t.render, stdout, cli_sessions_color(), id, hint);
    cli_http_sse sse;
    cli_http_sse_init(&sse, cli_sessions_turn_event, &t);
    base_buf path;
    cli_sessions_path(&path, id, "/messages");
    /* A turn may run for long (and wait for a permission answer): no bound; the stream's
     * heartbeats and the server's own limits keep it honest. */
    cli_http_request rq = {.method = "POST",
                           .path = path.data,
                           .accept = "text/event-stream",
                           .content_type = "application/json",
                           .body = payload,
                           .body_len = strlen(payload),
                           .timeout_ms = -1,
                           .on_body = cli_http_sse_body,
                           .ud = &sse};
    cli_http_catch_sigint();
    cli_http_response res;
    rc = cli_api_call(&x, &rq, &res);
    if (rc == 0) {
        cli_turn_render_flush(&t.render);
        fprintf(stderr,
                "interrupted: the turn goes on on the server; stop it with `sandbox-agent api "
                "sessions cancel %s%s`\n",
                id, hint);
        rc = 130;
    } else if (rc < 0 && (res.status < 200 || res.status > 299)) {
        rc = cli_api_print_problem(&res);
    } else if (rc < 0 && cli_sessions_not_sse(&res)) {
        rc = 1;
    } else if (rc < 0) {
        cli_http_sse_finish(&sse);
        rc = cli_sessions_turn_result(&t, id);
    }
    cli_http_response_free(&res);
    base_buf_free(&path);
    cli_http_sse_free(&sse);
    cli_turn_render_free(&t.render);
    json_decref(t.end);
    free(hint);
    free(payload);
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- events ------------------------------------------------------------------------------ */

static void cli_sessions_event_line(const json_t *ev, bool json) {
    if (json) {
        cli_api_print_json(ev, JSON_COMPACT);
        return;
    }
    base_buf line;
    base_buf_init(&line);
    cli_turn_summary(ev, &line);
    printf("%.*s\n", (int)line.len, line.data ? line.data : "");
    fflush(stdout);
    base_buf_free(&line);
}

/* What `events --follow` printed. Lives on cli_sessions_follow's stack. */
typedef struct cli_sessions_follower {
    bool json;
    unsigned long events;
} cli_sessions_follower;

static bool cli_sessions_follow_event(const char *event, const char *id, const char *data,
                                      size_t len, void *ud) {
    cli_sessions_follower *f = ud;
    if (strcmp(event, "session_event"))
        return true;
    json_t *v = base_json_parse(data, len, NULL, 0);
    if (v)
        cli_sessions_event_line(v, f->json);
    else
        printf("%s\n", data);
    f->events++;
    json_decref(v);
    return true;
}

static int cli_sessions_follow(cli_api_ctx *x, const char *path) {
    cli_sessions_follower f = {.json = x->json};
    cli_http_sse sse;
    cli_http_sse_init(&sse, cli_sessions_follow_event, &f);
    cli_http_request rq = {.method = "GET",
                           .path = path,
                           .accept = "text/event-stream",
                           .timeout_ms = -1,
                           .on_body = cli_http_sse_body,
                           .ud = &sse};
    cli_http_catch_sigint();
    cli_http_response res;
    int rc = cli_api_call(x, &rq, &res);
    if (rc < 0 && (res.status < 200 || res.status > 299)) {
        rc = cli_api_print_problem(&res);
    } else if (rc < 0 && cli_sessions_not_sse(&res)) {
        rc = 1;
    } else if (rc <= 0) {
        cli_http_sse_finish(&sse);
        fprintf(stderr, "stream %s after %lu events\n", rc == 0 ? "interrupted" : "ended",
                f.events);
        rc = 0;
    }
    cli_http_response_free(&res);
    cli_http_sse_free(&sse);
    return rc;
}

static int cli_sessions_events(int argc, char **argv) {
    CLI_API_OPTS({0, "offset", "OFFSET", true, NULL, NULL, false},
                 {0, "limit", "LIMIT", true, NULL, NULL, false},
                 {0, "follow", NULL, false, NULL, NULL, false},
                 {0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("events", " <ID>", 1);
    static const char *const names[] = {"<ID>"};
    cli_api_ctx x = {0};
    int rc = cli_sessions_parse(&cmd, argc, argv, cli_sessions_help_events, &x, names, 1);
    if (rc >= 0)
        return rc;
    bool follow = cli_args_seen(&cmd, "follow");
    if ((rc = cli_sessions_check_u64(&cmd, "offset", "OFFSET")) < 0 &&
        (rc = cli_sessions_check_u64(&cmd, "limit", "LIMIT")) < 0 && follow &&
        cli_args_value(&cmd, "limit"))
        rc = cli_args_usage_error(&cmd, "--limit cannot be used with --follow");
    if (rc >= 0) {
        cli_api_ctx_free(&x);
        return rc;
    }
    base_buf path;
    cli_sessions_path(&path, cmd.positional[0], "/events");
    cli_sessions_query(&path, "offset", cli_args_value(&cmd, "offset"));
    cli_sessions_query(&path, "limit", cli_args_value(&cmd, "limit"));
    if (follow) {
        rc = cli_sessions_follow(&x, path.data);
    } else {
        json_t *page = cli_api_request_json(&x, "GET", path.data, NULL, CLI_API_TIMEOUT_MS, &rc);
        if (page && x.json) {
            cli_api_print_json(page, JSON_INDENT(2));
        } else if (page) {
            size_t k;
            json_t *ev;
            json_array_foreach(json_object_get(page, "items"), k, ev)
                cli_sessions_event_line(ev, false);
            const json_t *next = json_object_get(page, "nextOffset");
            if (json_is_integer(next))
                fprintf(stderr, "more events: --offset %lld\n",
                        (long long)json_integer_value(next));
        }
        if (page)
            rc = 0;
        json_decref(page);
    }
    base_buf_free(&path);
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- reply, cancel, delete --------------------------------------------------------------- */

/* A request whose success has no body worth printing: prints done on stderr. */
static int cli_sessions_simple(cli_api_ctx *x, const char *method, const char *path,
                               const json_t *body, const char *done) {
    int rc;
    json_t *answer = cli_api_request_json(x, method, path, body, CLI_API_TIMEOUT_MS, &rc);
    if (answer) {
        fprintf(stderr, "%s\n", done);
        rc = 0;
    }
    json_decref(answer);
    return rc;
}

static int cli_sessions_reply(int argc, char **argv) {
    CLI_API_OPTS();
    cli_args_cmd cmd = CLI_SESSIONS_CMD("reply", " <ID> <REQUEST_ID> <REPLY>", 3);
    static const char *const names[] = {"<ID>", "<REQUEST_ID>", "<REPLY>"};
    cli_api_ctx x = {0};
    int rc = cli_sessions_parse(&cmd, argc, argv, cli_sessions_help_reply, &x, names, 3);
    if (rc >= 0)
        return rc;
    const char *reply = cmd.positional[2];
    if (strcmp(reply, "once") && strcmp(reply, "always") && strcmp(reply, "reject")) {
        cli_api_ctx_free(&x);
        return cli_args_usage_error(&cmd,
                                    "invalid value '%s' for '<REPLY>'\n  [possible values: "
                                    "once, always, reject]",
                                    reply);
    }
    base_buf path;
    cli_sessions_path(&path, cmd.positional[0], "/permissions/");
    cli_http_append_segment(&path, cmd.positional[1]);
    json_t *body = json_pack("{s:s}", "reply", reply);
    char *done = base_xasprintf("answered permission request %s: %s", cmd.positional[1], reply);
    rc = cli_sessions_simple(&x, "POST", path.data, body, done);
    free(done);
    json_decref(body);
    base_buf_free(&path);
    cli_api_ctx_free(&x);
    return rc;
}

/* cancel and delete: method on /v1/sessions/{id}<tail>, "<done> <id>" on stderr. A NULL tail
 * is delete's: "?force=true" with --force. */
static int cli_sessions_act(int argc, char **argv, cli_args_cmd *cmd, const char *help,
                            const char *method, const char *tail, const json_t *body,
                            const char *done) {
    static const char *const names[] = {"<ID>"};
    cli_api_ctx x = {0};
    int rc = cli_sessions_parse(cmd, argc, argv, help, &x, names, 1);
    if (rc >= 0)
        return rc;
    base_buf path;
    if (!tail)
        tail = cli_args_seen(cmd, "force") ? "?force=true" : "";
    cli_sessions_path(&path, cmd->positional[0], tail);
    char *msg = base_xasprintf("%s %s", done, cmd->positional[0]);
    rc = cli_sessions_simple(&x, method, path.data, body, msg);
    free(msg);
    base_buf_free(&path);
    cli_api_ctx_free(&x);
    return rc;
}

static int cli_sessions_cancel(int argc, char **argv) {
    CLI_API_OPTS();
    cli_args_cmd cmd = CLI_SESSIONS_CMD("cancel", " <ID>", 1);
    json_t *empty = json_object();
    int rc = cli_sessions_act(argc, argv, &cmd, cli_sessions_help_cancel, "POST", "/cancel", empty,
                              "cancel sent to session");
    json_decref(empty);
    return rc;
}

static int cli_sessions_delete(int argc, char **argv) {
    CLI_API_OPTS({0, "force", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = CLI_SESSIONS_CMD("delete", " <ID>", 1);
    return cli_sessions_act(argc, argv, &cmd, cli_sessions_help_delete, "DELETE", NULL, NULL,
                            "deleted session");
}

int cli_api_sessions_main(int argc, char **argv) {
    static const cli_args_sub subs[] = {
        {"create", cli_sessions_help_create, cli_sessions_create},
        {"list", cli_sessions_help_list, cli_sessions_list},
        {"show", cli_sessions_help_show, cli_sessions_show},
        {"send", cli_sessions_help_send, cli_sessions_send},
        {"events", cli_sessions_help_events, cli_sessions_events},
        {"reply", cli_sessions_help_reply, cli_sessions_reply},
        {"cancel", cli_sessions_help_cancel, cli_sessions_cancel},
        {"delete", cli_sessions_help_delete, cli_sessions_delete},
    };
    return cli_args_dispatch("sandbox-agent api sessions", cli_api_sessions_help, subs,
                             sizeof subs / sizeof subs[0], argc, argv);
}
