/* agents.c - the agent catalogue (embedded capabilities and config options), install
 * state and launch recipes, credential presence, and GET /v1/agents[/{id}] plus
 * POST /v1/agents/{id}/install.
 *
 * Installing and version probing live in install.c; both run asynchronously, so the
 * handlers here answer later when work is needed. The routes run on the server's loop,
 * which is libuv's default loop (cli/server.c). */
#include "agents/agents.h"
#include "agents/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/install.h"

extern char **environ;

/* catalog.json (capabilities and configOptions per agent, captured from 0.4.2) is linked
 * into .rodata so the binary stays self-contained. */
__asm__(".section .rodata\n"
        ".global agents_catalog_json\n"
        "agents_catalog_json:\n"
        ".incbin \"src/agents/catalog.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char agents_catalog_json[];

/* Unlike the reference, "installed" never requires the native CLI (agents.md §2.7): the
 * claude and codex adapters embed their agent, and every launcher we write is complete. */
typedef struct agents_def {
    const char *id;
    const char *native; /* native CLI name (probed for the version), NULL when none */
    const char *hint;   /* adapter executable name on PATH */
} agents_def;

static const agents_def agents_defs[AGENTS_COUNT] = {
    {"claude", "claude", "claude-agent-acp"},
    {"codex", "codex", "codex-acp"},
    {"opencode", "opencode", "opencode"},
    {"amp", "amp", "amp-acp"},
    {"pi", "pi", "pi-acp"},
    {"cursor", "cursor-agent", "cursor-agent-acp"},
    {"mock", NULL, NULL},
};

static json_t *agents_catalog; /* parsed once; owned by this file for the process life */

static const agents_def *agents_find(const char *id) {
    for (size_t i = 0; i < AGENTS_COUNT; i++)
        if (!strcmp(agents_defs[i].id, id))
            return &agents_defs[i];
    return NULL;
}

const char *agents_id(size_t i) {
    return i < AGENTS_COUNT ? agents_defs[i].id : NULL;
}

bool agents_known(const char *id) {
    return id && agents_find(id) != NULL;
}

int agents_index(const char *id) {
    const agents_def *d = id ? agents_find(id) : NULL;
    return d ? (int)(d - agents_defs) : -1;
}

const char *agents_hint(const char *id) {
    const agents_def *d = agents_find(id);
    return d ? d->hint : NULL;
}

static json_t *agents_catalog_entry(const char *id) {
    if (!agents_catalog) {
        json_error_t e;
        agents_catalog = json_loads(agents_catalog_json, 0, &e);
        if (!agents_catalog) {
            LOG_ERROR("embedded agent catalogue is corrupt", "error=%s", e.text);
            agents_catalog = json_object();
        }
    }
    return json_object_get(agents_catalog, id);
}

/* ---- paths and install state ----------------------------------------------------------- */

char *agents_bin_dir(void) {
    return base_xasprintf("%s/bin", base_data_dir());
}

char *agents_ap_dir(void) {
    return base_xasprintf("%s/bin/agent_processes", base_data_dir());
}

bool agents_is_exec_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Search PATH for an executable; returns a malloc'd path or NULL. */
char *agents_which(const char *name) {
    const char *path = getenv("PATH");
    if (!path || !name)
        return NULL;
    char *copy = base_xstrdup(path), *save = NULL;
    char *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = base_xasprintf("%s/%s", *dir ? dir : ".", name);
        if (agents_is_exec_file(cand)) {
            found = cand;
            break;
        }
        free(cand);
    }
    free(copy);
    return found;
}

char *agents_native_path(const char *id) {
    const agents_def *d = agents_find(id);
    if (!d || !d->native)
        return NULL;
    char *bin = agents_bin_dir();
    char *p = base_xasprintf("%s/%s", bin, d->native);
    free(bin);
    if (agents_is_exec_file(p))
        return p;
    free(p);
    return agents_which(d->native);
}

char *agents_launcher_path(const char *id) {
    char *ap = agents_ap_dir();
    char *p = base_xasprintf("%s/%s-acp", ap, id);
    free(ap);
    return p;
}

static bool agents_adapter_present(const agents_def *d) {
    char *l = agents_launcher_path(d->id);
    bool ok = agents_is_exec_file(l);
    free(l);
    if (ok)
        return true;
    char *w = agents_which(d->hint);
    ok = w != NULL;
    free(w);
    return ok;
}

bool agents_installed(const char *id) {
    const agents_def *d = agents_find(id);
    if (!d)
        return false;
    if (!d->hint)
        return true; /* the mock is built in and materialised on demand */
    return agents_adapter_present(d);
}

/* Write the mock launcher script atomically (temp file + rename). */
int agents_write_mock_launcher(char **path_out) {
    char *ap = agents_ap_dir();
    int r = base_mkdirs(ap);
    free(ap);
    if (r < 0)
        return r;
    char *path = agents_launcher_path("mock");
    static const char script[] = "#!/usr/bin/env sh\n"
                                 "if [ -n \"${SANDBOX_AGENT_BIN:-}\" ]; then\n"
                                 "  exec \"$SANDBOX_AGENT_BIN\" mock-agent-process \"$@\"\n"
                                 "fi\n"
                                 "exec sandbox-agent mock-agent-process \"$@\"\n";
    r = base_write_file_atomic(path, script, sizeof script - 1, 0755);
    if (r == 0 && path_out)
        *path_out = path;
    else
        free(path);
    return r;
}

/* ---- launch ------------------------------------------------------------------------------- */

/* Opt-outs of phoning home, per agent; applied only when the user has not set the variable,
 * so an explicit choice in the server's environment always wins. */
static const struct {
    const char *agent;
    const char *kv;
} agents_env_defaults[] = {
    {"claude", "DISABLE_TELEMETRY=1"},
    {"claude", "DISABLE_AUTOUPDATER=1"},
    {"claude", "DISABLE_ERROR_REPORTING=1"},
    {"opencode", "OPENCODE_DISABLE_AUTOUPDATE=1"},
    {"opencode", "OPENCODE_DISABLE_SHARE=1"},
};

/* The server's environment, plus SANDBOX_AGENT_BIN, the agent's install dirs ahead of PATH
 * (so adapters find the CLIs installed beside them), and the opt-outs above. */
static char **agents_child_env(const char *id) {
    size_t n = 0;
    while (environ[n])
        n++;
    size_t extra = sizeof agents_env_defaults / sizeof agents_env_defaults[0] + 3;
    char **env = base_xcalloc(n + extra, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SANDBOX_AGENT_BIN=", 18) != 0 && strncmp(environ[i], "PATH=", 5) != 0)
            env[k++] = base_xstrdup(environ[i]);
    env[k++] = base_xasprintf("SANDBOX_AGENT_BIN=%s", base_self_exe());
    char *bin = agents_bin_dir(), *ap = agents_ap_dir();
    const char *path = getenv("PATH");
    env[k++] = base_xasprintf("PATH=%s/%s/node_modules/.bin:%s%s%s", ap, id, bin,
                              path && *path ? ":" : "", path ? path : "");
    free(bin);
    free(ap);
    for (size_t i = 0; i < sizeof agents_env_defaults / sizeof agents_env_defaults[0]; i++) {
        if (strcmp(agents_env_defaults[i].agent, id) != 0)
            continue;
        const char *kv = agents_env_defaults[i].kv;
        char name[64];
        size_t nl = (size_t)(strchr(kv, '=') - kv);
        snprintf(name, sizeof name, "%.*s", (int)nl, kv);
        if (!getenv(name))
            env[k++] = base_xstrdup(kv);
    }
    env[k] = NULL;
    return env;
}

static char **agents_argv(const char *a0, const char *a1) {
    char **v = base_xcalloc(3, sizeof(char *));
    v[0] = base_xstrdup(a0);
    if (a1)
        v[1] = base_xstrdup(a1);
    return v;
}

int agents_launch_recipe(const char *id, agents_launch *out) {
    memset(out, 0, sizeof *out);
    const agents_def *d = agents_find(id);
    if (!d)
        return -1;
    if (!d->hint) {
        /* Same path as real agents: the launcher script execs this very binary. A file
         * already there is run as it is, never rewritten: users plug in their own ACP agent
         * (a test double, say) by placing it at the launcher path (docs/agents.md). If the
         * data dir is not writable we still run the mock, directly. */
        char *path = agents_launcher_path(id);
        struct stat st;
        if (lstat(path, &st) == 0) {
            out->file = path;
            out->argv = agents_argv(path, NULL);
            out->env = agents_child_env(id);
            return 0;
        }
        free(path);
        path = NULL;
        if (agents_write_mock_launcher(&path) == 0) {
            out->file = path;
            out->argv = agents_argv(path, NULL);
        } else {
            out->file = base_xstrdup(base_self_exe());
            out->argv = agents_argv(out->file, "mock-agent-process");
        }
        out->env = agents_child_env(id);
        return 0;
    }
    if (!agents_installed(id))
        return -1;
    char *launcher = agents_launcher_path(id);
    if (agents_is_exec_file(launcher)) {
        out->file = launcher;
        out->argv = agents_argv(launcher, NULL);
    } else {
        free(launcher);
        out->file = agents_which(d->hint);
        if (!out->file)
            return -1;
        out->argv = agents_argv(out->file, !strcmp(id, "opencode") ? "acp" : NULL);
    }
    out->env = agents_child_env(id);
    return 0;
}

void agents_launch_free(agents_launch *l) {
    free(l->file);
    for (char **p = l->argv; p && *p; p++)
        free(*p);
    free(l->argv);
    for (char **p = l->env; p && *p; p++)
        free(*p);
    free(l->env);
    memset(l, 0, sizeof *l);
}


/* ---- routes --------------------------------------------------------------------------------- */

typedef struct agents_routes_ctx {
    agents_instances_fn instances;
    void *ud;
} agents_routes_ctx;

static agents_routes_ctx agents_ctx;

void agents_problem_unsupported(http_req *req, const char *id) {
    char *detail = base_xasprintf("unsupported agent: %s", id);
    http_reply_problem(req, 400, "unsupported_agent", "Unsupported Agent", detail,
                       json_pack("{s:s}", "agent", id));
    free(detail);
}

void agents_problem_not_installed(http_req *req, const char *id) {
    char *detail = base_xasprintf("agent not installed: %s", id);
    http_reply_problem(req, 404, "agent_not_installed", "Agent Not Installed", detail,
                       json_pack("{s:s}", "agent", id));
    free(detail);
}

/* creds: one discovery shared by every agent of the reply (files are re-read per request,
 * as the reference does, so a credential added while the server runs is seen at once). */
static json_t *agents_info(const char *id, bool config, const agents_credentials *creds) {
    json_t *cat = agents_catalog_entry(id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "installed", json_boolean(agents_installed(id)));
    json_object_set_new(o, "credentialsAvailable",
                        json_boolean(agents_credentials_available_in(creds, id)));
    if (config)
        agents_install_version_put(id, o);
    json_object_set(o, "capabilities", json_object_get(cat, "capabilities"));
    int64_t oldest = 0;
    if (agents_ctx.instances && agents_ctx.instances(agents_ctx.ud, id, &oldest) > 0) {
        int64_t up = base_now_ms() - oldest;
        json_object_set_new(
            o, "serverStatus",
            json_pack("{s:s,s:I}", "status", "running", "uptimeMs", (json_int_t)(up < 0 ? 0 : up)));
    }
    if (config)
        json_object_set(o, "configOptions", json_object_get(cat, "configOptions"));
    /* Not in the reference: things that make the installed agent work less well than it
     * should (codex without bubblewrap). Present only when there is one. */
    char *warning = agents_install_sandbox_warning(id);
    if (warning)
        json_object_set_new(o, "warnings", json_pack("[s]", warning));
    free(warning);
    return o;
}

/* Parses config/no_cache; answers the error itself and returns false on bad input. */
static bool agents_query(http_req *req, bool *config, bool *no_cache) {
    *no_cache = false;
    *config = false;
    if (http_query_bool(req, "config", config) < 0 ||
        http_query_bool(req, "no_cache", no_cache) < 0) {
        http_problem_invalid_request(req, "query parameters `config` and `no_cache` must be "
                                          "`true` or `false`, given at most once");
        return false;
    }
    return true;
}

/* A GET waiting for version probes. Owner: itself; freed once every probe it waits for
 * has reported (or was cancelled because the client left). */
typedef struct agents_get_wait agents_get_wait;
typedef struct agents_get_slot {
    agents_get_wait *wait;
    agents_install_probe *probe; /* NULL once it reported */
} agents_get_slot;
struct agents_get_wait {
    http_req *req; /* the wait is freed by the abort callback if the client leaves */
    int one;       /* index of the single agent asked for, or -1 for the list */
    int pending;
    agents_get_slot slots[AGENTS_COUNT];
};

/* A GET waiting for the credential discovery, which reads files on the thread pool. Owner:
 * itself; freed when the discovery reports or the client leaves. */
typedef struct agents_get_creds {
    http_req *req;
    int one;
    bool config;
    agents_credentials_job *job;
} agents_get_creds;

static void agents_get_creds_done(const agents_credentials *creds, void *ud) {
    agents_get_creds *w = ud;
    http_req *req = w->req;
    http_req_on_abort(req, NULL, NULL);
    if (w->one >= 0) {
        http_reply_json(req, 200, agents_info(agents_defs[w->one].id, w->config, creds));
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < AGENTS_COUNT; i++)
            json_array_append_new(arr, agents_info(agents_defs[i].id, w->config, creds));
        http_reply_json(req, 200, json_pack("{s:o}", "agents", arr));
    }
    free(w);
}

static void agents_get_creds_abort(http_req *req, void *ud) {
    agents_get_creds *w = ud;
    agents_credentials_cancel(w->job);
    free(w);
}

static void agents_get_reply(http_req *req, int one, bool config) {
    agents_get_creds *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->one = one;
    w->config = config;
    w->job = agents_credentials_discover_async(uv_default_loop(), true, agents_get_creds_done, w);
    http_req_on_abort(req, agents_get_creds_abort, w);
}

static void agents_get_probed(void *ud) {
    agents_get_slot *slot = ud;
    agents_get_wait *w = slot->wait;
    slot->probe = NULL;
    if (--w->pending > 0)
        return;
    http_req_on_abort(w->req, NULL, NULL);
    agents_get_reply(w->req, w->one, true);
    free(w);
}

static void agents_get_abort(http_req *req, void *ud) {
    agents_get_wait *w = ud;
    for (size_t i = 0; i < AGENTS_COUNT; i++)
        if (w->slots[i].probe)
            agents_install_version_cancel(w->slots[i].probe);
    free(w);
}

/* GET /v1/agents and /v1/agents/{id}: with config=true, versions come from the cache or
 * from probes, and the answer waits for them (the loop never does). */
static void agents_get_common(http_req *req, int one) {
    bool config, no_cache;
    if (!agents_query(req, &config, &no_cache))
        return;
    if (one == -2) {
        agents_problem_unsupported(req, http_req_param(req, 0));
        return;
    }
    if (!config) {
        agents_get_reply(req, one, false);
        return;
    }
    agents_get_wait *w = base_xcalloc(1, sizeof *w);
    w->one = one;
    w->req = req;
    for (size_t i = 0; i < AGENTS_COUNT; i++) {
        if (one >= 0 && (int)i != one)
            continue;
        const char *id = agents_defs[i].id;
        if (!agents_defs[i].hint || (!no_cache && agents_install_version_ready(id)))
            continue;
        w->slots[i].wait = w;
        w->pending++;
        w->slots[i].probe =
            agents_install_version_probe(uv_default_loop(), id, agents_get_probed, &w->slots[i]);
    }
    if (w->pending == 0) {
        free(w);
        agents_get_reply(req, one, true);
        return;
    }
    http_req_on_abort(req, agents_get_abort, w);
}

static void agents_list_handler(http_req *req, void *ud) {
    agents_get_common(req, -1);
}

static void agents_get_handler(http_req *req, void *ud) {
    agents_get_common(
        req, agents_index(http_req_param(req, 0)) < 0 ? -2 : agents_index(http_req_param(req, 0)));
}

/* An install request waiting for its job. Owner: itself; freed when the job reports or
 * the client leaves (the job then continues detached). */
typedef struct agents_install_wait {
    http_req *req;
    agents_install_job *job;
    char *id;
} agents_install_wait;

static void agents_install_done(const agents_install_result *res, void *ud) {
    agents_install_wait *w = ud;
    http_req_on_abort(w->req, NULL, NULL);
    if (res->ok)
        http_reply_json(w->req, 200, agents_install_result_json(res, false));
    else
        agents_install_problem(w->req, w->id, res);
    free(w->id);
    free(w);
}

static void agents_install_abort(http_req *req, void *ud) {
    agents_install_wait *w = ud;
    agents_install_detach(w->job);
    free(w->id);
    free(w);
}

static void agents_install_handler(http_req *req, void *ud) {
    const char *id = http_req_param(req, 0);
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return;
    json_t *re = json_object_get(body, "reinstall");
    json_t *av = json_object_get(body, "agentVersion");
    json_t *apv = json_object_get(body, "agentProcessVersion");
    if ((re && !json_is_boolean(re) && !json_is_null(re)) ||
        (av && !json_is_string(av) && !json_is_null(av)) ||
        (apv && !json_is_string(apv) && !json_is_null(apv))) {
        json_decref(body);
        http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity",
                           "invalid request: reinstall must be a boolean; agentVersion and "
                           "agentProcessVersion must be strings",
                           NULL);
        return;
    }
    if (!agents_known(id)) {
        json_decref(body);
        agents_problem_unsupported(req, id);
        return;
    }
    agents_install_opts opts = {
        .reinstall = json_is_true(re),
        .agent_version = json_string_value(av),
        .agent_process_version = json_string_value(apv),
    };
    const agents_def *d = agents_find(id);
    if (!d->hint) {
        /* The built-in mock only needs its launcher written: done synchronously. */
        char *l = agents_launcher_path("mock");
        bool present = agents_is_exec_file(l);
        free(l);
        json_decref(body);
        if (present && !opts.reinstall) {
            http_reply_json(req, 200, json_pack("{s:b,s:[]}", "already_installed", 1, "artifacts"));
            return;
        }
        char *path = NULL;
        int r = agents_write_mock_launcher(&path);
        if (r < 0) {
            agents_install_result res = {.reason = strerror(-r), .output = ""};
            agents_install_problem(req, id, &res);
            return;
        }
        json_t *art = json_pack("{s:s,s:s,s:s,s:s}", "kind", "agent_process", "path", path,
                                "source", "builtin", "version", "builtin");
        free(path);
        http_reply_json(req, 200,
                        json_pack("{s:b,s:[o]}", "already_installed", 0, "artifacts", art));
        return;
    }
    if (agents_installed(id) && !opts.reinstall) {
        json_decref(body);
        http_reply_json(req, 200, json_pack("{s:b,s:[]}", "already_installed", 1, "artifacts"));
        return;
    }
    agents_install_wait *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->id = base_xstrdup(id);
    w->job = agents_install_async(uv_default_loop(), id, &opts, agents_install_done, NULL, w);
    json_decref(body); /* the job copied the version strings */
    http_req_on_abort(req, agents_install_abort, w);
}

void agents_routes(http_server *srv, agents_instances_fn fn, void *ud) {
    agents_ctx.instances = fn;
    agents_ctx.ud = ud;
    http_route(srv, HTTP_M_GET, "/v1/agents", HTTP_ROUTE_AUTH, agents_list_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/agents/{agent}", HTTP_ROUTE_AUTH, agents_get_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/agents/{agent}/install", HTTP_ROUTE_AUTH,
               agents_install_handler, NULL);
}
