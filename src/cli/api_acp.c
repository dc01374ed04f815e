/* api_acp.c - `sandbox-agent api acp post|stream|close` (features.md §1.6; the routes of
 * http-api.md §5.3-5.5): one JSON-RPC envelope in, the SSE stream of envelopes out, and
 * the DELETE that ends an ACP server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/api.h"
#include "cli/cli.h"

const char cli_api_acp_help[] =
    "Send and stream raw ACP JSON-RPC envelopes\n"
    "\n"
    "Usage: sandbox-agent api acp [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  post    Send one ACP JSON-RPC envelope to /v1/acp/{server_id}\n"
    "  stream  Stream ACP JSON-RPC envelopes from /v1/acp/{server_id} SSE\n"
    "  close   Close an ACP server stream\n"
    "  help    Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_api_acp_help_post[] =
    "Send one ACP JSON-RPC envelope to /v1/acp/{server_id}\n"
    "\n"
    "Prints the JSON-RPC response to a request. A notification or a response is accepted\n"
    "with 202 and prints nothing on stdout.\n"
    "\n"
    "Usage: sandbox-agent api acp post [OPTIONS] --server-id <SERVER_ID>\n"
    "\n"
    "Options:\n"
    "      --server-id <SERVER_ID>  ACP server id (created by a first POST with --agent)\n"
    "      --agent <AGENT>          Agent to launch for a new server id\n"
    "      --json <JSON>            The envelope\n"
    "      --json-file <JSON_FILE>  File holding the envelope ('-': stdin)\n" CLI_API_COMMON_HELP;

static const char cli_api_acp_help_stream[] =
    "Stream ACP JSON-RPC envelopes from /v1/acp/{server_id} SSE\n"
    "\n"
    "Prints each envelope as it arrives, \"#<event id> <method or response> <JSON>\" (with\n"
    "--json: the envelope as one JSON line), until the server ends the stream or Ctrl-C.\n"
    "\n"
    "Usage: sandbox-agent api acp stream [OPTIONS] --server-id <SERVER_ID>\n"
    "\n"
    "Options:\n"
    "      --server-id <SERVER_ID>          \n"
    "      --last-event-id <LAST_EVENT_ID>  Replay only the events after this id\n"
    "      --json                           One envelope per line, as JSON\n" CLI_API_COMMON_HELP;

static const char cli_api_acp_help_close[] =
    "Close an ACP server stream\n"
    "\n"
    "Ends the ACP server: its agent process stops and its streams end.\n"
    "\n"
    "Usage: sandbox-agent api acp close [OPTIONS] --server-id <SERVER_ID>\n"
    "\n"
    "Options:\n"
    "      --server-id <SERVER_ID>  \n" CLI_API_COMMON_HELP;

/* "/v1/acp/<server id, percent-encoded>". Caller frees with base_buf_free. */
static void cli_api_acp_path(base_buf *b, const char *server_id) {
    base_buf_init(b);
    base_buf_appends(b, "/v1/acp/");
    cli_http_append_segment(b, server_id);
}

static int cli_api_acp_need_server_id(cli_args_cmd *cmd) {
    if (cli_args_value(cmd, "server-id"))
        return -1;
    return cli_args_usage_error(cmd, "the following required arguments were not provided:\n"
                                     "  --server-id <SERVER_ID>");
}

/* ---- post ---------------------------------------------------------------------------------- */

/* The envelope from --json or --json-file (a path, or '-' for stdin). Returns false after
 * printing why. */
static bool cli_api_acp_read_payload(const char *json, const char *file, base_buf *out) {
    base_buf_init(out);
    if (json) {
        base_buf_appends(out, json);
        return true;
    }
    return cli_api_read_file(file, out);
}

static int cli_api_acp_send(cli_api_ctx *x, const char *server_id, const char *agent,
                            const base_buf *payload) {
    base_buf path;
    cli_api_acp_path(&path, server_id);
    if (agent) {
        base_buf_appends(&path, "?agent=");
        cli_http_append_segment(&path, agent);
    }
    /* The server bounds an unanswered request (a JSON-RPC -32011 error after
     * SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS) and a prompt may legitimately run for long: no
     * client-side bound on the answer. */
    cli_http_request rq = {.method = "POST",
                           .path = path.data,
                           .accept = "application/json",
                           .content_type = "application/json",
                           .body = payload->data ? payload->data : "",
                           .body_len = payload->len,
                           .timeout_ms = -1};
    cli_http_response res;
    int rc = cli_api_call(x, &rq, &res);
    if (rc < 0) {
        if (res.status == 202) {
            fprintf(stderr, "accepted (202): delivered to the agent\n");
            rc = 0;
        } else if (res.status == 200) {
            json_t *body =
                base_json_parse(res.body.data ? res.body.data : "", res.body.len, NULL, 0);
            if (body)
                cli_api_print_json(body, JSON_INDENT(2));
            else
                printf("%.*s\n", (int)res.body.len, res.body.data ? res.body.data : "");
            json_decref(body);
            rc = 0;
        } else {
            rc = cli_api_print_problem(&res);
        }
    }
    cli_http_response_free(&res);
    base_buf_free(&path);
    return rc;
}

static int cli_api_acp_post(int argc, char **argv) {
    CLI_API_OPTS({0, "server-id", "SERVER_ID", false, NULL, NULL, false},
                 {0, "agent", "AGENT", false, NULL, NULL, false},
                 {0, "json", "JSON", false, NULL, NULL, false},
                 {0, "json-file", "JSON_FILE", true, NULL, NULL, false});
    cli_args_cmd cmd = {.name = "sandbox-agent api acp post",
                        .usage_tail = " --server-id <SERVER_ID>",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_acp_help_post, &x);
    if (rc >= 0)
        return rc;
    const char *json = cli_args_value(&cmd, "json"), *file = cli_args_value(&cmd, "json-file");
    if ((rc = cli_api_acp_need_server_id(&cmd)) < 0) {
        if (json && file)
            rc = cli_args_usage_error(&cmd, "provide either --json or --json-file, not both");
        else if (!json && !file)
            rc = cli_args_usage_error(&cmd, "missing payload: provide --json or --json-file");
    }
    if (rc < 0) {
        base_buf payload;
        rc = 1;
        if (cli_api_acp_read_payload(json, file, &payload))
            rc = cli_api_acp_send(&x, cli_args_value(&cmd, "server-id"),
                                  cli_args_value(&cmd, "agent"), &payload);
        base_buf_free(&payload);
    }
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- stream -------------------------------------------------------------------------------- */

/* What the stream printed. Lives on cli_api_acp_stream's stack. */
typedef struct cli_api_acp_out {
    bool json;
    unsigned long events;
} cli_api_acp_out;

/* "session/update", "response 3", "error 3": what an envelope is, for the human form. */
static void cli_api_acp_kind(json_t *env, char *out, size_t cap) {
    const char *method = json_string_value(json_object_get(env, "method"));
    if (method) {
        snprintf(out, cap, "%s", method);
        return;
    }
    json_t *id = json_object_get(env, "id");
    char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(out, cap, "%s %s", json_object_get(env, "error") ? "error" : "response",
             ids ? ids : "?");
    free(ids);
}

static bool cli_api_acp_event(const char *event, const char *id, const char *data, size_t len,
                              void *ud) {
    cli_api_acp_out *o = ud;
    json_t *env = base_json_parse(data, len, NULL, 0);
    char *compact = env ? json_dumps(env, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *text = compact ? compact : data;
    if (o->json) {
        printf("%s\n", text);
    } else {
        char kind[128] = "?";
        if (env)
            cli_api_acp_kind(env, kind, sizeof kind);
        printf("#%s %s %s\n", id[0] ? id : "-", kind, text);
    }
    fflush(stdout);
    o->events++;
    free(compact);
    json_decref(env);
    return true;
}

static int cli_api_acp_stream(int argc, char **argv) {
    CLI_API_OPTS({0, "server-id", "SERVER_ID", false, NULL, NULL, false},
                 {0, "last-event-id", "LAST_EVENT_ID", true, NULL, NULL, false},
                 {0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = {.name = "sandbox-agent api acp stream",
                        .usage_tail = " --server-id <SERVER_ID>",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_acp_help_stream, &x);
    if (rc >= 0)
        return rc;
    const char *last = cli_args_value(&cmd, "last-event-id");
    uint64_t v;
    if ((rc = cli_api_acp_need_server_id(&cmd)) < 0 && last &&
        !base_parse_u64(last, strlen(last), &v))
        rc = cli_args_usage_error(&cmd,
                                  "invalid value '%s' for '--last-event-id "
                                  "<LAST_EVENT_ID>': not an unsigned integer",
                                  last);
    if (rc < 0) {
        cli_api_acp_out o = {.json = x.json};
        cli_http_sse s;
        cli_http_sse_init(&s, cli_api_acp_event, &o);
        base_buf path;
        cli_api_acp_path(&path, cli_args_value(&cmd, "server-id"));
        /* Heartbeats keep an idle stream alive; it has no overall bound. */
        cli_http_request rq = {.method = "GET",
                               .path = path.data,
                               .accept = "text/event-stream",
                               .last_event_id = last,
                               .timeout_ms = -1,
                               .on_body = cli_http_sse_body,
                               .ud = &s};
        cli_http_catch_sigint();
        cli_http_response res;
        rc = cli_api_call(&x, &rq, &res);
        if (rc < 0 && (res.status < 200 || res.status > 299)) {
            rc = cli_api_print_problem(&res);
        } else if (rc <= 0) {
            cli_http_sse_finish(&s); /* an event cut short by the end still counts */
            fprintf(stderr, "stream %s after %lu events\n", rc == 0 ? "interrupted" : "ended",
                    o.events);
            rc = 0;
        }
        cli_http_response_free(&res);
        base_buf_free(&path);
        cli_http_sse_free(&s);
    }
    cli_api_ctx_free(&x);
    return rc;
}

/* ---- close --------------------------------------------------------------------------------- */

static int cli_api_acp_close(int argc, char **argv) {
    CLI_API_OPTS({0, "server-id", "SERVER_ID", false, NULL, NULL, false});
    cli_args_cmd cmd = {.name = "sandbox-agent api acp close",
                        .usage_tail = " --server-id <SERVER_ID>",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_acp_help_close, &x);
    if (rc >= 0)
        return rc;
    if ((rc = cli_api_acp_need_server_id(&cmd)) < 0) {
        base_buf path;
        cli_api_acp_path(&path, cli_args_value(&cmd, "server-id"));
        cli_http_request rq = {.method = "DELETE",
                               .path = path.data,
                               .accept = "application/json",
                               .timeout_ms = CLI_API_TIMEOUT_MS};
        cli_http_response res;
        rc = cli_api_call(&x, &rq, &res);
        if (rc < 0 && res.status >= 200 && res.status < 300) {
            fprintf(stderr, "closed ACP server %s\n", cli_args_value(&cmd, "server-id"));
            rc = 0;
        } else if (rc < 0) {
            rc = cli_api_print_problem(&res);
        }
        cli_http_response_free(&res);
        base_buf_free(&path);
    }
    cli_api_ctx_free(&x);
    return rc;
}

int cli_api_acp_main(int argc, char **argv) {
    static const cli_args_sub subs[] = {
        {"post", cli_api_acp_help_post, cli_api_acp_post},
        {"stream", cli_api_acp_help_stream, cli_api_acp_stream},
        {"close", cli_api_acp_help_close, cli_api_acp_close},
    };
    return cli_args_dispatch("sandbox-agent api acp", cli_api_acp_help, subs,
                             sizeof subs / sizeof subs[0], argc, argv);
}
