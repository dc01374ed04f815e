/* install_agent.c - `sandbox-agent install-agent <AGENT|all>|--all [-r/--reinstall]
 * [--agent-version V] [--agent-process-version V]` (versions for one agent only): installs locally
 * (no server needed), with the same jobs the server uses (agents_install_async in agents.h).
 *
 * stdout gets the result as pretty JSON in the reference CLI's shape (agents.md §2.4);
 * progress goes to stderr: a live status line on a terminal, plain lines otherwise (logs,
 * CI). `all` installs every agent in list order, continues past failures, reports each,
 * and exits 1 if any failed. Ctrl-C cancels the running install, which then removes what
 * it created; a second Ctrl-C kills the children at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agents.h"
#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "proc/proc.h"

#define CLI_INSTALL_AGENT_SPIN_MS 100

/* The whole run. Lives on cli_install_agent_main's stack. */
typedef struct cli_install_agent {
    uv_loop_t *loop;
    bool tty;
    bool all;
    agents_install_opts opts;
    const char *ids[AGENTS_COUNT];
    size_t nids, next;
    agents_install_job *job; /* running */
    const char *current;
    char *step; /* latest progress text (owned) */
    uint64_t started_ms;
    uv_timer_t spin;
    unsigned frame;
    uv_signal_t sigint, sigterm;
    int signals;
    bool interrupted;
    json_t *results; /* `all`: one entry per agent */
    json_t *single;  /* one agent: the success body */
    int failures;
} cli_install_agent;

static const char cli_install_agent_help[] =
    "Install or reinstall one agent, or `all` supported agents, without running the server\n"
    "\n"
    "Usage: sandbox-agent install-agent [OPTIONS] [AGENT]\n"
    "\n"
    "Arguments:\n"
    "  [AGENT]  claude, codex, opencode, amp, pi, cursor, mock, or all\n"
    "\n"
    "Options:\n"
    "      --all                          Install every supported agent (same as `all`)\n"
    "  -r, --reinstall                    Install again even when already installed\n"
    "      --agent-version <V>            Version of the agent's CLI (opencode, pi, cursor);\n"
    "                                     not with --all\n"
    "      --agent-process-version <V>    Version of the ACP adapter package; not with --all\n"
    "  -t, --token <TOKEN>                Accepted like everywhere; unused (no server)\n"
    "  -n, --no-token                     \n"
    "  -h, --help                         Print help\n"
    "\n"
    "Environment:\n"
    "  SANDBOX_AGENT_INSTALL_TIMEOUT_MS  time bound of each download/npm step [600000]\n"
    "  SANDBOX_AGENT_AMP_ACP_URL         amp-acp archive URL ({version}, {platform})\n"
    "  SANDBOX_AGENT_CURSOR_AGENT_URL    cursor-agent archive URL ({version}, {arch})\n"
    "  SANDBOX_AGENT_ACP_REGISTRY_URL    ACP registry document to install from\n";

static void cli_install_agent_clear_line(cli_install_agent *c) {
    if (c->tty)
        fputs("\r\033[K", stderr);
}

static void cli_install_agent_draw(cli_install_agent *c) {
    static const char *const frames[] = {"|", "/", "-", "\\"};
    if (!c->tty || !c->current)
        return;
    double secs = (double)(base_mono_ms() - c->started_ms) / 1000.0;
    /* Keep the status on one terminal line: long npm package lists are cut. */
    fprintf(stderr, "\r\033[K%s %s: %.60s (%.0f s)", frames[c->frame++ % 4], c->current,
            c->step ? c->step : "starting", secs);
    fflush(stderr);
}

static void cli_install_agent_spin(uv_timer_t *t) {
    cli_install_agent_draw(t->data);
}

static void cli_install_agent_progress(const char *agent, const char *step, void *ud) {
    cli_install_agent *c = ud;
    free(c->step);
    c->step = base_xstrdup(step);
    if (c->tty)
        cli_install_agent_draw(c);
    else
        fprintf(stderr, "install-agent: %s: %s\n", agent, step);
}

static void cli_install_agent_start_next(cli_install_agent *c);

/* Indent every line of the failing step's output under the error. */
static void cli_install_agent_print_output(const char *out) {
    if (!out || !*out)
        return;
    fprintf(stderr, "  --- installer output (last lines) ---\n");
    const char *s = out;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        fprintf(stderr, "  %.*s\n", (int)n, s);
        s += n + (e ? 1 : 0);
    }
}

static void cli_install_agent_done(const agents_install_result *res, void *ud) {
    cli_install_agent *c = ud;
    double secs = (double)(base_mono_ms() - c->started_ms) / 1000.0;
    const char *id = c->current;
    cli_install_agent_clear_line(c);
    if (res->ok) {
        if (res->already_installed)
            fprintf(stderr, "%s %s: already installed\n", c->tty ? "=" : "install-agent:", id);
        else
            fprintf(stderr, "%s %s: installed in %.1f s\n", c->tty ? "+" : "install-agent:", id,
                    secs);
        json_t *body = agents_install_result_json(res, true);
        if (c->all) {
            json_t *entry = json_pack("{s:s}", "agent", id);
            json_object_update(entry, body);
            json_decref(body);
            json_array_append_new(c->results, entry);
        } else {
            c->single = body;
        }
    } else {
        c->failures++;
        fprintf(stderr, "%s %s: install failed: %s\n", c->tty ? "x" : "install-agent:", id,
                res->reason);
        cli_install_agent_print_output(res->output);
        if (c->all)
            json_array_append_new(c->results, json_pack("{s:s,s:s,s:s}", "agent", id, "error",
                                                        res->reason, "output", res->output));
    }
    c->job = NULL;
    c->current = NULL;
    free(c->step);
    c->step = NULL;
    if (c->interrupted) {
        /* Report the agents never started too, so the summary is complete. */
        while (c->all && c->next < c->nids) {
            json_array_append_new(c->results,
                                  json_pack("{s:s,s:s,s:s}", "agent", c->ids[c->next], "error",
                                            "not attempted: interrupted", "output", ""));
            c->failures++;
            c->next++;
        }
        c->next = c->nids;
    }
    cli_install_agent_start_next(c);
}

static void cli_install_agent_close_all(cli_install_agent *c) {
    uv_timer_stop(&c->spin);
    uv_close((uv_handle_t *)&c->spin, NULL);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void cli_install_agent_start_next(cli_install_agent *c) {
    if (c->next >= c->nids) {
        cli_install_agent_close_all(c);
        return;
    }
    c->current = c->ids[c->next++];
    c->started_ms = base_mono_ms();
    c->job = agents_install_async(c->loop, c->current, &c->opts, cli_install_agent_done,
                                  cli_install_agent_progress, c);
    cli_install_agent_draw(c);
}

static void cli_install_agent_nothing(void *ud) {}

static void cli_install_agent_signal(uv_signal_t *h, int signum) {
    cli_install_agent *c = h->data;
    c->interrupted = true;
    if (++c->signals > 1) {
        /* Impatient: kill every child group now; the job still cleans up after them. */
        proc_shutdown_all(c->loop, 0, cli_install_agent_nothing, NULL);
        return;
    }
    cli_install_agent_clear_line(c);
    fprintf(stderr, "install-agent: interrupted, stopping (again to force)\n");
    agents_install_cancel(c->job);
}

/* Parses the command line into c. Returns -1 to go on, else the exit status (help
 * printed, or a usage error). */
static int cli_install_agent_parse(int argc, char **argv, cli_install_agent *c,
                                   const char **agent) {
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {0, "all", NULL, false, NULL, NULL, false},
        {'r', "reinstall", NULL, false, NULL, NULL, false},
        {0, "agent-version", "AGENT_VERSION", false, NULL, NULL, false},
        {0, "agent-process-version", "AGENT_PROCESS_VERSION", false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {.name = "sandbox-agent install-agent",
                        .usage_tail = " [AGENT]",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0],
                        .max_positional = 1};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, cli_install_agent_help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    *agent = cmd.n_positional ? cmd.positional[0] : NULL;
    c->all = cli_args_seen(&cmd, "all");
    c->opts.reinstall = cli_args_seen(&cmd, "reinstall");
    c->opts.agent_version = cli_args_value(&cmd, "agent-version");
    c->opts.agent_process_version = cli_args_value(&cmd, "agent-process-version");
    if (*agent && c->all)
        return cli_args_usage_error(&cmd, "the argument '[AGENT]' cannot be used with '--all'");
    if (*agent && !strcmp(*agent, "all"))
        c->all = true;
    if (!*agent && !c->all)
        return cli_args_usage_error(&cmd, "the agent to install is required (or --all)");
    if (c->all && (c->opts.agent_version || c->opts.agent_process_version))
        return cli_args_usage_error(&cmd, "--agent-version and --agent-process-version apply "
                                          "to one agent, not to all");
    return -1;
}

int cli_install_agent_main(int argc, char **argv) {
    cli_install_agent c = {0};
    const char *agent = NULL;
    int rc = cli_install_agent_parse(argc, argv, &c, &agent);
    if (rc >= 0)
        return rc;
    if (!c.all && !agents_known(agent)) {
        fprintf(stderr, "error: unsupported agent: %s\n", agent);
        return 1;
    }
    if (c.all) {
        for (size_t i = 0; i < AGENTS_COUNT; i++)
            c.ids[c.nids++] = agents_id(i);
        c.results = json_array();
    } else {
        c.ids[c.nids++] = agent;
    }

    /* The progress lines say what the info log would; keep stderr readable unless asked. */
    if (!getenv("SANDBOX_AGENT_LOG")) {
        setenv("SANDBOX_AGENT_LOG", "error", 1);
        base_log_init();
        unsetenv("SANDBOX_AGENT_LOG");
    }
    signal(SIGPIPE, SIG_IGN);
    const char *term = getenv("TERM");
    c.tty = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
    c.loop = uv_default_loop();
    proc_init(c.loop);
    uv_timer_init(c.loop, &c.spin);
    c.spin.data = &c;
    if (c.tty)
        uv_timer_start(&c.spin, cli_install_agent_spin, CLI_INSTALL_AGENT_SPIN_MS,
                       CLI_INSTALL_AGENT_SPIN_MS);
    uv_signal_init(c.loop, &c.sigint);
    uv_signal_init(c.loop, &c.sigterm);
    c.sigint.data = c.sigterm.data = &c;
    uv_signal_start(&c.sigint, cli_install_agent_signal, SIGINT);
    uv_signal_start(&c.sigterm, cli_install_agent_signal, SIGTERM);

    cli_install_agent_start_next(&c);
    uv_run(c.loop, UV_RUN_DEFAULT);
    proc_fini();
    uv_run(c.loop, UV_RUN_DEFAULT);
    uv_loop_close(c.loop);

    json_t *out = c.all ? json_pack("{s:o}", "agents", c.results) : c.single;
    if (out) {
        char *text = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(out);
    }
    if (c.all) {
        fprintf(stderr, "install-agent: %zu of %zu agents installed%s\n",
                c.nids - (size_t)c.failures, c.nids, c.failures ? "; see the errors above" : "");
    }
    if (c.interrupted)
        return 130;
    return c.failures ? 1 : 0;
}
