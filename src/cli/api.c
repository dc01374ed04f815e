/* api.c - `sandbox-agent api agents|acp ...` (features.md §1.6): the HTTP API from the
 * command line, against a running server (-e/--endpoint, default http://127.0.0.1:2468).
 *
 *   api agents list                 GET /v1/agents?config=true, a table (--json: the body)
 *   api agents report               the same, reshaped into the reference's report JSON
 *   api agents install <AGENT>      POST /v1/agents/{agent}/install
 *   api acp post|stream|close       POST, GET (SSE) and DELETE /v1/acp/{server_id}
 *   api sessions ...                /v1/sessions (api_sessions.c, docs/sessions.md)
 *
 * The reference's `agents list` sends an ACP extension method and is broken; ours lists
 * the agents from GET /v1/agents. Results go to stdout, messages to stderr. Exit codes: 0,
 * 1 on a server error (the problem's title and detail on stderr) or a connection failure,
 * 2 on a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/api.h"
#include "cli/cli.h"

/* An install runs npm and downloads; the server bounds each step itself. */
#define CLI_API_INSTALL_TIMEOUT_MS 3600000

/* ---- help texts ------------------------------------------------------------------------ */

static const char cli_api_help[] =
    "Call the HTTP API without writing client code\n"
    "\n"
    "Usage: sandbox-agent api [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  agents    Manage available v1 agents and install status\n"
    "  acp       Send and stream raw ACP JSON-RPC envelopes\n"
    "  sessions  Work with the server's sessions: create, send prompts, read events\n"
    "  help      Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP "\n"
    "Exit status: 0 on success, 1 on a server or connection error, 2 on a usage error.\n";

static const char cli_api_help_agents[] =
    "Manage available v1 agents and install status\n"
    "\n"
    "Usage: sandbox-agent api agents [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  list     List all agents and install status\n"
    "  report   Emit JSON report of model/mode/thought options for all agents\n"
    "  install  Install or reinstall an agent\n"
    "  help     Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_api_help_list[] =
    "List all agents and install status\n"
    "\n"
    "Usage: sandbox-agent api agents list [OPTIONS]\n"
    "\n"
    "Options:\n"
    "      --json                 Print the GET /v1/agents?config=true body\n" CLI_API_COMMON_HELP;

static const char cli_api_help_report[] =
    "Emit JSON report of model/mode/thought options for all agents\n"
    "\n"
    "Usage: sandbox-agent api agents report [OPTIONS]\n"
    "\n"
    "Options:\n" CLI_API_COMMON_HELP;

static const char cli_api_help_install[] =
    "Install or reinstall an agent\n"
    "\n"
    "Usage: sandbox-agent api agents install [OPTIONS] <AGENT>\n"
    "\n"
    "Arguments:\n"
    "  <AGENT>  claude, codex, opencode, amp, pi, cursor or mock\n"
    "\n"
    "Options:\n"
    "  -r, --reinstall                    Install again even when already installed\n"
    "      --agent-version <V>            Version of the agent's CLI\n"
    "      --agent-process-version <V>    Version of the ACP adapter package\n"
    "      --json                         Print the response body\n" CLI_API_COMMON_HELP;

/* ---- shared plumbing ---------------------------------------------------------------------- */

int cli_api_parse(cli_args_cmd *cmd, int argc, char **argv, const char *help, cli_api_ctx *x) {
    int i;
    int rc = cli_args_parse_or_help(cmd, argc, argv, help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    const char *endpoint = cli_args_value(cmd, "endpoint");
    x->endpoint = endpoint ? endpoint : CLI_API_DEFAULT_ENDPOINT;
    x->token = cli_args_token(cmd);
    for (size_t k = 0; k < cmd->n_opts; k++)
        if (!strcmp(cmd->opts[k].long_name, "json") && !cmd->opts[k].value_name)
            x->json = cmd->opts[k].seen;
    char err[256];
    if (!cli_http_endpoint_parse(x->endpoint, &x->ep, err, sizeof err))
        return cli_args_usage_error(cmd, "%s", err);
    return -1;
}

void cli_api_ctx_free(cli_api_ctx *x) {
    cli_http_endpoint_free(&x->ep);
}

int cli_api_print_problem(const cli_http_response *res) {
    json_t *p = res->body.len ? base_json_parse(res->body.data, res->body.len, NULL, 0) : NULL;
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    if (title)
        fprintf(stderr, "error: %s (HTTP %d)%s%s\n", title, res->status, detail ? ": " : "",
                detail ? detail : "");
    else if (res->body.len)
        fprintf(stderr, "error: HTTP %d: %.*s\n", res->status,
                (int)(res->body.len > 4000 ? 4000 : res->body.len), res->body.data);
    else
        fprintf(stderr, "error: HTTP %d\n", res->status);
    json_decref(p);
    return 1;
}

int cli_api_call(const cli_api_ctx *x, cli_http_request *rq, cli_http_response *res) {
    char err[512];
    rq->token = x->token;
    int rc = cli_http_do(&x->ep, rq, res, err, sizeof err);
    if (rc == CLI_HTTP_INTERRUPTED)
        return 0;
    if (rc) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    return -1;
}

json_t *cli_api_request_json(const cli_api_ctx *x, const char *method, const char *path,
                             const json_t *body, int timeout_ms, int *rc) {
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    cli_http_request rq = {.method = method,
                           .path = path,
                           .accept = "application/json",
                           .content_type = payload ? "application/json" : NULL,
                           .body = payload,
                           .body_len = payload ? strlen(payload) : 0,
                           .timeout_ms = timeout_ms};
    cli_http_response res;
    *rc = cli_api_call(x, &rq, &res);
    json_t *answer = NULL;
    if (*rc < 0) {
        if (res.status < 200 || res.status > 299) {
            *rc = cli_api_print_problem(&res);
        } else if (!res.body.len) {
            answer = json_null();
        } else {
            char err[256];
            answer = base_json_parse(res.body.data, res.body.len, err, sizeof err);
            if (!answer) {
                fprintf(stderr, "error: the server answered invalid JSON: %s\n", err);
                *rc = 1;
            }
        }
    }
    cli_http_response_free(&res);
    free(payload);
    return answer;
}

bool cli_api_read_file(const char *file, base_buf *out) {
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "error: cannot read %s: %s\n", file, strerror(errno));
        return false;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out->len <= CLI_API_MAX_INPUT)
        base_buf_append(out, buf, n);
    bool ok = !ferror(f) && out->len <= CLI_API_MAX_INPUT;
    if (!ok)
        fprintf(stderr, "error: cannot read %s: %s\n", strcmp(file, "-") ? file : "stdin",
                out->len > CLI_API_MAX_INPUT ? "larger than 64 MiB" : strerror(errno));
    if (f != stdin)
        fclose(f);
    return ok;
}

void cli_api_print_json(const json_t *v, size_t flags) {
    char *text = json_dumps(v, flags | JSON_ENCODE_ANY);
    if (text)
        printf("%s\n", text);
    free(text);
    fflush(stdout);
}

/* ---- api agents --------------------------------------------------------------------------- */

static void cli_api_list_row(json_t *a) {
    const char *id = json_string_value(json_object_get(a, "id"));
    const char *version = json_string_value(json_object_get(a, "version"));
    json_t *status = json_object_get(a, "serverStatus");
    char running[64] = "-";
    if (status) {
        json_int_t up = json_integer_value(json_object_get(status, "uptimeMs"));
        snprintf(running, sizeof running, "%s (up %.0f s)",
                 json_string_value(json_object_get(status, "status")) ?: "running",
                 (double)up / 1000.0);
    }
    printf("%-10s %-10s %-12s %-16s %s\n", id ? id : "?",
           json_is_true(json_object_get(a, "installed")) ? "yes" : "no",
           json_is_true(json_object_get(a, "credentialsAvailable")) ? "yes" : "no",
           version ? version : "-", running);
}

static int cli_api_agents_list(int argc, char **argv) {
    CLI_API_OPTS({0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = {.name = "sandbox-agent api agents list",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_help_list, &x);
    if (rc >= 0)
        return rc;
    json_t *body =
        cli_api_request_json(&x, "GET", "/v1/agents?config=true", NULL, CLI_API_TIMEOUT_MS, &rc);
    if (body) {
        if (x.json) {
            cli_api_print_json(body, JSON_INDENT(2));
        } else {
            printf("%-10s %-10s %-12s %-16s %s\n", "AGENT", "INSTALLED", "CREDENTIALS", "VERSION",
                   "SERVER");
            size_t k;
            json_t *a;
            json_array_foreach(json_object_get(body, "agents"), k, a) cli_api_list_row(a);
        }
        rc = 0;
    }
    json_decref(body);
    cli_api_ctx_free(&x);
    return rc;
}

static int cli_api_value_cmp(const void *a, const void *b) {
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "value"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "value"));
    return strcmp(x ? x : "", y ? y : "");
}

/* {currentValue?, values:[{value,name}] sorted by value} from the agent's config option
 * of the given category ({"values":[]} when it has none). */
static json_t *cli_api_report_category(json_t *options, const char *category) {
    json_t *out = json_object();
    json_t *values = json_array();
    size_t k;
    json_t *o;
    json_array_foreach(options, k, o) {
        const char *cat = json_string_value(json_object_get(o, "category"));
        if (!cat || strcmp(cat, category))
            continue;
        json_t *cur = json_object_get(o, "currentValue");
        if (json_is_string(cur))
            json_object_set(out, "currentValue", cur);
        size_t j;
        json_t *v;
        json_array_foreach(json_object_get(o, "options"), j, v) {
            json_array_append_new(values,
                                  json_pack("{s:O?,s:O?}", "value", json_object_get(v, "value"),
                                            "name", json_object_get(v, "name")));
        }
        break;
    }
    size_t n = json_array_size(values);
    json_t **items = base_xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(values, i));
    qsort(items, n, sizeof *items, cli_api_value_cmp);
    json_array_clear(values);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(values, items[i]);
    free(items);
    json_object_set_new(out, "values", values);
    return out;
}

static int cli_api_agents_report(int argc, char **argv) {
    CLI_API_OPTS();
    cli_args_cmd cmd = {.name = "sandbox-agent api agents report",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_help_report, &x);
    if (rc >= 0)
        return rc;
    json_t *body =
        cli_api_request_json(&x, "GET", "/v1/agents?config=true", NULL, CLI_API_TIMEOUT_MS, &rc);
    if (body) {
        json_t *agents = json_array();
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(body, "agents"), k, a) {
            json_t *options = json_object_get(a, "configOptions");
            json_array_append_new(
                agents, json_pack("{s:O?,s:b,s:o,s:o,s:o}", "id", json_object_get(a, "id"),
                                  "installed", json_is_true(json_object_get(a, "installed")),
                                  "models", cli_api_report_category(options, "model"), "modes",
                                  cli_api_report_category(options, "mode"), "thoughtLevels",
                                  cli_api_report_category(options, "thought_level")));
        }
        json_t *report = json_pack("{s:I,s:s,s:o}", "generatedAtMs", (json_int_t)base_now_ms(),
                                   "endpoint", x.endpoint, "agents", agents);
        cli_api_print_json(report, JSON_INDENT(2));
        json_decref(report);
        rc = 0;
    }
    json_decref(body);
    cli_api_ctx_free(&x);
    return rc;
}

static void cli_api_print_install(const char *agent, json_t *body) {
    if (json_is_true(json_object_get(body, "already_installed"))) {
        fprintf(stderr, "%s: already installed (--reinstall to install again)\n", agent);
        return;
    }
    fprintf(stderr, "%s: installed\n", agent);
    size_t k;
    json_t *art;
    json_array_foreach(json_object_get(body, "artifacts"), k, art) {
        const char *version = json_string_value(json_object_get(art, "version"));
        printf("%s %s%s%s (%s) at %s\n", agent,
               json_string_value(json_object_get(art, "kind")) ?: "?", version ? " " : "",
               version ? version : "", json_string_value(json_object_get(art, "source")) ?: "?",
               json_string_value(json_object_get(art, "path")) ?: "?");
    }
}

static int cli_api_agents_install(int argc, char **argv) {
    CLI_API_OPTS({'r', "reinstall", NULL, false, NULL, NULL, false},
                 {0, "agent-version", "AGENT_VERSION", false, NULL, NULL, false},
                 {0, "agent-process-version", "AGENT_PROCESS_VERSION", false, NULL, NULL, false},
                 {0, "json", NULL, false, NULL, NULL, false});
    cli_args_cmd cmd = {.name = "sandbox-agent api agents install",
                        .usage_tail = " <AGENT>",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0],
                        .max_positional = 1};
    cli_api_ctx x = {0};
    int rc = cli_api_parse(&cmd, argc, argv, cli_api_help_install, &x);
    if (rc >= 0)
        return rc;
    if (!cmd.n_positional) {
        cli_api_ctx_free(&x);
        return cli_args_usage_error(&cmd, "the following required arguments were not "
                                          "provided:\n  <AGENT>");
    }
    const char *agent = cmd.positional[0];
    json_t *req = json_object();
    if (cli_args_seen(&cmd, "reinstall"))
        json_object_set_new(req, "reinstall", json_true());
    if (cli_args_value(&cmd, "agent-version"))
        json_object_set_new(req, "agentVersion",
                            json_string(cli_args_value(&cmd, "agent-version")));
    if (cli_args_value(&cmd, "agent-process-version"))
        json_object_set_new(req, "agentProcessVersion",
                            json_string(cli_args_value(&cmd, "agent-process-version")));
    char *payload = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    base_buf path;
    base_buf_init(&path);
    base_buf_appends(&path, "/v1/agents/");
    cli_http_append_segment(&path, agent);
    base_buf_appends(&path, "/install");
    cli_http_request rq = {.method = "POST",
                           .path = path.data,
                           .accept = "application/json",
                           .content_type = "application/json",
                           .body = payload,
                           .body_len = strlen(payload),
                           .timeout_ms = CLI_API_INSTALL_TIMEOUT_MS};
    cli_http_response res;
    rc = cli_api_call(&x, &rq, &res);
    if (rc < 0) {
        json_t *body = res.status == 200 && res.body.len
                           ? base_json_parse(res.body.data, res.body.len, NULL, 0)
                           : NULL;
        if (!body) {
            rc = cli_api_print_problem(&res);
        } else {
            if (x.json)
                cli_api_print_json(body, JSON_INDENT(2));
            else
                cli_api_print_install(agent, body);
            rc = 0;
        }
        json_decref(body);
    }
    cli_http_response_free(&res);
    base_buf_free(&path);
    free(payload);
    cli_api_ctx_free(&x);
    return rc;
}

static int cli_api_agents(int argc, char **argv) {
    static const cli_args_sub subs[] = {
        {"list", cli_api_help_list, cli_api_agents_list},
        {"report", cli_api_help_report, cli_api_agents_report},
        {"install", cli_api_help_install, cli_api_agents_install},
    };
    return cli_args_dispatch("sandbox-agent api agents", cli_api_help_agents, subs,
                             sizeof subs / sizeof subs[0], argc, argv);
}

int cli_api_main(int argc, char **argv) {
    static const cli_args_sub subs[] = {
        {"agents", cli_api_help_agents, cli_api_agents},
        {"acp", cli_api_acp_help, cli_api_acp_main},
        {"sessions", cli_api_sessions_help, cli_api_sessions_main},
    };
    return cli_args_dispatch("sandbox-agent api", cli_api_help, subs, sizeof subs / sizeof subs[0],
                             argc, argv);
}
