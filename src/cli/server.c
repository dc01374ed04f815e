/* server.c - `sandbox-agent server`: flag parsing, wiring of the modules onto one libuv
 * loop, the server-level routes (/, /v1/health; /ui is src/ui), and graceful shutdown.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting, end every stream, terminate every child
 * process group (TERM, grace, KILL), close connections, free, exit 0. A second signal
 * kills the remaining groups at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acp/acp.h"
#include "agents/agents.h"
#include "base/base.h"
#include "cli/cli.h"
#include "config/config.h"
#include "fs/fs.h"
#include "http/http.h"
#include "journal/journal.h"
#include "proc/proc.h"
#include "desktop/desktop.h"
#include "processes/processes.h"
#include "opencode/opencode.h"
#include "sessionapi/sessionapi.h"
#include "sessions/sessions.h"
#include "ui/ui.h"

/* Everything the running server owns. Lives on main's stack for the process lifetime. */
typedef struct cli_server {
    uv_loop_t *loop;
    http_server *http;
    acp_bridge *acp;
    journal_store *store;      /* NULL with --journal memory */
    sessions_persist *persist; /* the index kept in the store */
    sessions_index *index;
    sessionapi *sessions; /* the REST session API */
    opencode *opencode;   /* the OpenCode-compatible API under /opencode */
    uv_signal_t sigint, sigterm;
    int signals;
    bool stopping;
} cli_server;

void cli_server_usage(void) {
    printf(
        "Run the sandbox-agent HTTP server\n\n"
        "Usage: sandbox-agent server [OPTIONS]\n\n"
        "Options:\n"
        "  -H, --host <HOST>                 Address to bind [default: 127.0.0.1]\n"
        "  -p, --port <PORT>                 Port to bind [default: 2468]\n"
        "  -t, --token <TOKEN>               Require 'Authorization: Bearer <TOKEN>' on /v1\n"
        "  -n, --no-token                    Serve without authentication (the default)\n"
        "  -O, --cors-allow-origin <ORIGIN>  Allowed CORS origin (repeatable)\n"
        "  -M, --cors-allow-method <METHOD>  Allowed CORS method (repeatable) [default: any]\n"
        "  -A, --cors-allow-header <HEADER>  Allowed CORS header (repeatable) [default: any]\n"
        "  -C, --cors-allow-credentials      Send access-control-allow-credentials: true\n"
        "      --journal <PATH|URL|memory>   Where sessions and events are kept: an SQLite file,\n"
        "                                    a postgres:// URL, or memory (nothing survives a\n"
        "                                    restart) [default: <data dir>/journal.sqlite3]\n"
        "      --no-telemetry                Accepted for compatibility; nothing is ever sent\n"
        "  -h, --help                        Print help\n\n"
        "Environment (see README.md):\n"
        "  SANDBOX_AGENT_LOG                        error|warn|info|debug [default: info]\n"
        "  SANDBOX_AGENT_JOURNAL                    the --journal value when the flag is absent\n"
        "  SANDBOX_AGENT_JOURNAL_MAX_AGE_DAYS       journal retention by age [default: 30]\n"
        "  SANDBOX_AGENT_JOURNAL_MAX_BYTES          journal retention by size [default: 1 GiB]\n"
        "  SANDBOX_AGENT_JOURNAL_SYNC               normal|full (fsync every batch) [default: "
        "normal]\n"
        "  SANDBOX_AGENT_JOURNAL_COMMIT_DELAY_MS    how long a commit waits for more records "
        "[default: 10]\n"
        "  SANDBOX_AGENT_JOURNAL_INSTANCE           PostgreSQL: this server's namespace in a "
        "shared database\n"
        "  SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS     ACP request timeout (JSON-RPC error -32011) "
        "[default: 120000]\n"
        "  SANDBOX_AGENT_MAX_BODY_BYTES             request body cap (413) [default: 33554432]\n"
        "  SANDBOX_AGENT_SSE_HEARTBEAT_MS           idle time before an SSE heartbeat [default: "
        "15000]\n"
        "  SANDBOX_AGENT_ACP_REPLAY_EVENTS          events kept per ACP server for replay "
        "[default: 4096]\n"
        "  SANDBOX_AGENT_ACP_REPLAY_MAX_BYTES       bytes of events kept per ACP server for "
        "replay [default: 16 MiB]\n"
        "  SANDBOX_AGENT_REQUIRE_PREINSTALL         never install agents on first use\n"
        "  SANDBOX_AGENT_MAX_UPLOAD_BYTES           cap of PUT /v1/fs/file (413) [default: 8 GiB]\n"
        "  SANDBOX_AGENT_MAX_PROCESS_LOG_BYTES      ceiling of process logs and run output "
        "[default: 256 MiB]\n"
        "  SANDBOX_AGENT_LOOP_WATCHDOG_MS           log event-loop iterations busy longer than "
        "this [default: off]\n"
        "  SANDBOX_AGENT_MAX_EXTRACT_BYTES          bytes of a tar upload (413) or agent archive "
        "[default: 8 GiB]\n"
        "  SANDBOX_AGENT_MAX_EXTRACT_ENTRIES        entries of a tar upload (413) or agent archive "
        "[default: 100000]\n"
        "  SANDBOX_AGENT_INSTALL_TIMEOUT_MS         each install step [default: 600000]\n"
        "  SANDBOX_AGENT_INSTALL_VERIFY_TIMEOUT_MS  post-install --help check [default: 60000]\n"
        "  SANDBOX_AGENT_INSTALL_LOCK_TIMEOUT_MS    wait for another install [default: 1800000]\n"
        "  SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS   agent --version probe [default: 20000]\n"
        "  SANDBOX_AGENT_ACP_REGISTRY_URL           ACP registry document to install from\n"
        "  SANDBOX_AGENT_AMP_ACP_URL                amp-acp archive URL\n"
        "  SANDBOX_AGENT_CURSOR_AGENT_URL           cursor-agent archive URL\n");
}

/* ---- server-level routes ----------------------------------------------------------------- */

static void cli_root_handler(http_req *req, void *ud) {
    static const char body[] = "{\"docs\":\"https://sandboxagent.dev\",\"name\":\"Sandbox Agent\"}";
    http_reply_static(req, 200, "application/json", body, sizeof body - 1);
}

/* {"status":"ok"} as the reference answers. The server also answers while the journal is
 * degraded (commits are retried, nothing is dropped), so status stays "ok", which clients
 * wait for; `journal` then says what is wrong. */
static void cli_health_handler(http_req *req, void *ud) {
    cli_server *s = ud;
    const char *why = s->store ? journal_store_degraded(s->store) : "";
    if (!*why) {
        static const char body[] = "{\"status\":\"ok\"}";
        http_reply_static(req, 200, "application/json", body, sizeof body - 1);
        return;
    }
    json_t *j = json_pack("{s:s,s:s,s:s}", "backend", journal_store_backend(s->store), "state",
                          "degraded", "error", why);
    http_reply_json(req, 200, json_pack("{s:s,s:o}", "status", "ok", "journal", j));
}

static size_t cli_instances(void *ud, const char *agent, int64_t *oldest_ms) {
    return acp_bridge_agent_instances(ud, agent, oldest_ms);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void cli_close_walk(uv_handle_t *h, void *arg) {
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void cli_http_closed(void *ud) {
    cli_server *s = ud;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_stop(s->loop);
}

static void cli_children_gone(void *ud) {
    cli_server *s = ud;
    LOG_INFO("all agent processes stopped", NULL);
    http_server_close(s->http, cli_http_closed, s);
}

static void cli_signal_cb(uv_signal_t *h, int signum) {
    cli_server *s = h->data;
    s->signals++;
    if (s->signals > 1) {
        LOG_WARN("second signal: killing remaining child process groups", NULL);
        proc_shutdown_all(s->loop, 0, NULL, NULL);
        return;
    }
    LOG_INFO("shutting down", "signal=%d", signum);
    base_loopwatch_stop();
    s->stopping = true;
    desktop_shutdown();
    acp_bridge_shutdown(s->acp);
    proc_shutdown_all(s->loop, 2000, cli_children_gone, s);
}

/* ---- flags ------------------------------------------------------------------------------ */

typedef struct cli_list {
    const char **v;
    size_t n;
} cli_list;

static void cli_list_push(cli_list *l, const char *s) {
    l->v = base_xrealloc(l->v, (l->n + 2) * sizeof(char *));
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

/* Matches "-x VALUE", "--long VALUE", "--long=VALUE" and "-xVALUE". */
static bool cli_opt(int argc, char **argv, int *i, const char *s, const char *l, const char **val) {
    const char *a = argv[*i];
    size_t ll = strlen(l);
    if (!strncmp(a, l, ll) && a[ll] == '=') {
        *val = a + ll + 1;
        return true;
    }
    if (strcmp(a, s) != 0 && strcmp(a, l) != 0) {
        if (s[0] && !strncmp(a, s, 2) && a[2] && a[1] != '-') {
            *val = a + 2;
            return true;
        }
        return false;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: a value is required for '%s'\n", l);
        exit(2);
    }
    *val = argv[++*i];
    return true;
}

/* ---- the journal --------------------------------------------------------------------------- */

/* Open the journal (default: the SQLite file in the data dir) and the session index kept in
 * it. A journal that cannot be opened stops the start with the reason: silently keeping
 * sessions in memory instead would lose them at the next restart. */
static int cli_server_open_journal(cli_server *s, const char *journal) {
    if (journal && !strcmp(journal, "memory")) {
        LOG_WARN("journal disabled (--journal memory): sessions and events do not survive a "
                 "restart",
                 NULL);
        s->index = sessions_index_new(NULL, NULL);
        return 0;
    }
    journal_opts jo = {.path = journal && *journal ? journal : NULL};
    char *err = NULL;
    s->store = journal_store_open(s->loop, &jo, &err);
    if (s->store)
        s->persist = sessions_persist_open(s->loop, s->store, &s->index, &err);
    if (!s->store || !s->persist) {
        LOG_ERROR("cannot open the journal", "error=\"%s\"", err);
        fprintf(stderr, "error: cannot open the journal: %s\n", err);
        free(err);
        if (s->store)
            journal_store_close(s->store);
        return -1;
    }
    return 0;
}

/* After the bridge is gone: the pending summaries are queued, then everything commits. */
static void cli_server_close_journal(cli_server *s) {
    if (s->persist) {
        sessions_persist_close(s->persist);
        uv_run(s->loop, UV_RUN_NOWAIT); /* the persistence timer's close callback */
    } else {
        sessions_index_free(s->index);
    }
    if (s->store)
        journal_store_close(s->store);
}

int cli_server_main(int argc, char **argv) {
    http_config cfg;
    http_config_defaults(&cfg);
    cli_list origins = {0}, methods = {0}, headers = {0};
    const char *v;
    const char *journal = getenv("SANDBOX_AGENT_JOURNAL");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_server_usage();
            return 0;
        } else if (cli_opt(argc, argv, &i, "-H", "--host", &v)) {
            cfg.host = v;
        } else if (cli_opt(argc, argv, &i, "-p", "--port", &v)) {
            uint64_t port;
            if (!base_parse_u64(v, strlen(v), &port) || port > 65535) {
                fprintf(stderr, "error: invalid port '%s'\n", v);
                return 2;
            }
            cfg.port = (int)port;
        } else if (cli_opt(argc, argv, &i, "-t", "--token", &v)) {
            cfg.token = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--no-token")) {
            cfg.token = NULL;
        } else if (cli_opt(argc, argv, &i, "-O", "--cors-allow-origin", &v)) {
            cli_list_push(&origins, v);
        } else if (cli_opt(argc, argv, &i, "-M", "--cors-allow-method", &v)) {
            cli_list_push(&methods, v);
        } else if (cli_opt(argc, argv, &i, "-A", "--cors-allow-header", &v)) {
            cli_list_push(&headers, v);
        } else if (!strcmp(a, "-C") || !strcmp(a, "--cors-allow-credentials")) {
            cfg.cors_credentials = true;
        } else if (cli_opt(argc, argv, &i, "", "--journal", &v)) {
            journal = v;
        } else if (!strcmp(a, "--no-telemetry")) {
            /* We never send telemetry; the flag exists for command-line compatibility. */
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n\n", a);
            cli_server_usage();
            return 2;
        }
    }
    cfg.cors_origins = origins.v;
    cfg.cors_methods = methods.v;
    cfg.cors_headers = headers.v;
    cfg.max_body_bytes =
        (size_t)base_env_int("SANDBOX_AGENT_MAX_BODY_BYTES", 32 << 20, 2 << 20, (int64_t)1 << 40);

    uint64_t started_ns = uv_hrtime(); /* startup_ms: what the loop watchdog leaves out */
    signal(SIGPIPE, SIG_IGN);
    desktop_preinit(); /* before any thread exists */

    cli_server s = {0};
    proc_sentinel_enable();
    s.loop = uv_default_loop();
    base_loopwatch_start(s.loop);
    proc_init(s.loop);
    s.http = http_server_new(s.loop, &cfg);
    free(origins.v);
    free(methods.v);
    free(headers.v);
    if (cli_server_open_journal(&s, journal) < 0) {
        http_server_free(s.http);
        uv_loop_close(s.loop);
        return 1;
    }
    s.acp = acp_bridge_new(s.loop, s.store, s.index);

    http_route(s.http, HTTP_M_GET, "/", 0, cli_root_handler, NULL);
    ui_routes(s.http);
    http_route(s.http, HTTP_M_GET, "/v1/health", HTTP_ROUTE_AUTH, cli_health_handler, &s);
    agents_routes(s.http, s.loop, cli_instances, s.acp);
    acp_bridge_routes(s.acp, s.http);
    /* Host APIs (each module registers its own routes). */
    fs_routes(s.http, s.loop);
    config_routes(s.http);
    processes_routes(s.http, s.loop);
    desktop_routes(s.http, s.loop);
    s.sessions = sessionapi_routes(s.http, s.loop, s.index, s.store, s.acp);
    s.opencode = opencode_routes(s.http, s.loop, s.store, s.acp);

    int r = http_server_listen(s.http);
    if (r != 0) {
        LOG_ERROR("cannot listen", "host=%s port=%d error=\"%s\"", cfg.host, cfg.port,
                  uv_strerror(r));
        fprintf(stderr, "error: cannot listen on %s:%d: %s\n", cfg.host, cfg.port, uv_strerror(r));
        sessionapi_free(s.sessions);
        opencode_free(s.opencode);
        http_server_free(s.http);
        acp_bridge_free(s.acp);
        cli_server_close_journal(&s);
        uv_loop_close(s.loop);
        return 1;
    }
    uv_signal_init(s.loop, &s.sigint);
    uv_signal_init(s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, cli_signal_cb, SIGINT);
    uv_signal_start(&s.sigterm, cli_signal_cb, SIGTERM);
    LOG_INFO("server listening", "addr=%s:%d auth=%s startup_ms=%.1f", cfg.host, cfg.port,
             cfg.token ? "token" : "none", (double)(uv_hrtime() - started_ns) / 1e6);
    LOG_INFO("inspector ui available", "url=http://%s:%d/ui/", cfg.host, cfg.port);

    uv_run(s.loop, UV_RUN_DEFAULT);

    proc_fini();
    sessionapi_free(s.sessions); /* its clients' last answers come in the run below */
    opencode_free(s.opencode);
    /* Close whatever is left (timers of finished requests) and drain their callbacks. */
    uv_walk(s.loop, cli_close_walk, NULL);
    uv_run(s.loop, UV_RUN_DEFAULT);
    acp_bridge_free(s.acp);
    http_server_free(s.http);
    cli_server_close_journal(&s);
    uv_loop_close(s.loop);
    LOG_INFO("server stopped", NULL);
    return 0;
}
