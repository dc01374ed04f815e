/* agents.c - the agent catalogue (embedded capabilities and config options), install
 * state and launch recipes, credential presence, and GET /v1/agents[/{id}] plus
 * POST /v1/agents/{id}/install.
 *
 * Real installation of the npm-based agents is not done here yet; those agents are
 * reported honestly as installed only when their adapter is already on disk or PATH. */
#include "agents/agents.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct agents_def {
    const char *id;
    const char *native;   /* native CLI name, NULL when none */
    bool native_required; /* installed needs the native CLI too */
    const char *hint;     /* adapter executable name on PATH */
} agents_def;

static const agents_def agents_defs[AGENTS_COUNT] = {
    {"claude", "claude", true, "claude-agent-acp"},
    {"codex", "codex", true, "codex-acp"},
    {"opencode", "opencode", true, "opencode"},
    {"amp", "amp", false, "amp-acp"},
    {"pi", "pi", false, "pi-acp"},
    {"cursor", "cursor-agent", false, "cursor-agent-acp"},
    {"mock", NULL, false, NULL},
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

static char *agents_bin_dir(void) {
    return base_xasprintf("%s/bin", base_data_dir());
}

static char *agents_ap_dir(void) {
    return base_xasprintf("%s/bin/agent_processes", base_data_dir());
}

static bool agents_is_exec_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Search PATH for an executable; returns a malloc'd path or NULL. */
static char *agents_which(const char *name) {
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

static char *agents_native_path(const agents_def *d) {
    if (!d->native)
        return NULL;
    char *bin = agents_bin_dir();
    char *p = base_xasprintf("%s/%s", bin, d->native);
    free(bin);
    if (agents_is_exec_file(p))
        return p;
    free(p);
    return agents_which(d->native);
}

static char *agents_launcher_path(const char *id) {
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
    if (d->native_required) {
        char *n = agents_native_path(d);
        bool has = n != NULL;
        free(n);
        if (!has)
            return false;
    }
    return agents_adapter_present(d);
}

/* Write the mock launcher script atomically (temp file + rename). */
static int agents_write_mock_launcher(char **path_out) {
    char *ap = agents_ap_dir();
    int r = base_mkdirs(ap);
    free(ap);
    if (r < 0)
        return r;
    char *path = agents_launcher_path("mock");
    char *tmp = base_xasprintf("%s.tmp.%d", path, (int)getpid());
    static const char script[] = "#!/usr/bin/env sh\n"
                                 "if [ -n \"${SANDBOX_AGENT_BIN:-}\" ]; then\n"
                                 "  exec \"$SANDBOX_AGENT_BIN\" mock-agent-process \"$@\"\n"
                                 "fi\n"
                                 "exec sandbox-agent mock-agent-process \"$@\"\n";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0) {
        r = -errno;
    } else {
        ssize_t w = write(fd, script, sizeof script - 1);
        r = w == (ssize_t)(sizeof script - 1) ? 0 : -EIO;
        if (close(fd) < 0 && r == 0)
            r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
            r = -errno;
    }
    if (r < 0)
        unlink(tmp);
    free(tmp);
    if (r == 0 && path_out)
        *path_out = path;
    else
        free(path);
    return r;
}

/* ---- launch ------------------------------------------------------------------------------- */

static char **agents_child_env(void) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = base_xcalloc(n + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SANDBOX_AGENT_BIN=", 18) != 0)
            env[k++] = base_xstrdup(environ[i]);
    env[k++] = base_xasprintf("SANDBOX_AGENT_BIN=%s", base_self_exe());
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
        /* Same path as real agents: the launcher script execs this very binary. If the
         * data dir is not writable we still run the mock, directly. */
        char *path = NULL;
        if (agents_write_mock_launcher(&path) == 0) {
            out->file = path;
            out->argv = agents_argv(path, NULL);
        } else {
            out->file = base_xstrdup(base_self_exe());
            out->argv = agents_argv(out->file, "mock-agent-process");
        }
        out->env = agents_child_env();
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
    out->env = agents_child_env();
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

/* ---- credentials ---------------------------------------------------------------------- */

static bool agents_env_set(const char *name) {
    return getenv(name) != NULL;
}

static bool agents_anthropic_available(void) {
    return agents_env_set("ANTHROPIC_API_KEY") || agents_env_set("CLAUDE_API_KEY") ||
           agents_env_set("CLAUDE_CODE_OAUTH_TOKEN") || agents_env_set("ANTHROPIC_AUTH_TOKEN");
}

static bool agents_openai_available(void) {
    return agents_env_set("OPENAI_API_KEY") || agents_env_set("CODEX_API_KEY");
}

static bool agents_credentials(const char *id) {
    if (!strcmp(id, "claude") || !strcmp(id, "amp"))
        return agents_anthropic_available();
    if (!strcmp(id, "codex"))
        return agents_openai_available();
    if (!strcmp(id, "opencode"))
        return agents_anthropic_available() || agents_openai_available();
    return true;
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

static json_t *agents_info(const char *id, bool config) {
    const agents_def *d = agents_find(id);
    json_t *cat = agents_catalog_entry(id);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "installed", json_boolean(agents_installed(id)));
    json_object_set_new(o, "credentialsAvailable", json_boolean(agents_credentials(id)));
    if (config) {
        if (!d->hint) {
            json_object_set_new(o, "version", json_string("builtin"));
            char *l = agents_launcher_path("mock");
            json_object_set_new(o, "path", json_string(l));
            free(l);
        } else {
            char *n = agents_native_path(d);
            if (n)
                json_object_set_new(o, "path", json_string(n));
            free(n);
        }
    }
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
    return o;
}

/* Parses config/no_cache; answers the error itself and returns false on bad input. */
static bool agents_query(http_req *req, bool *config) {
    bool no_cache = false;
    *config = false;
    if (http_query_bool(req, "config", config) < 0 ||
        http_query_bool(req, "no_cache", &no_cache) < 0) {
        http_problem_invalid_request(req, "query parameters `config` and `no_cache` must be "
                                          "`true` or `false`, given at most once");
        return false;
    }
    return true;
}

static void agents_list_handler(http_req *req, void *ud) {
    bool config;
    if (!agents_query(req, &config))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < AGENTS_COUNT; i++)
        json_array_append_new(arr, agents_info(agents_defs[i].id, config));
    http_reply_json(req, 200, json_pack("{s:o}", "agents", arr));
}

static void agents_get_handler(http_req *req, void *ud) {
    const char *id = http_req_param(req, 0);
    bool config;
    if (!agents_query(req, &config))
        return;
    if (!agents_known(id)) {
        agents_problem_unsupported(req, id);
        return;
    }
    http_reply_json(req, 200, agents_info(id, config));
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
    bool reinstall = json_is_true(re);
    json_decref(body);
    if (!agents_known(id)) {
        agents_problem_unsupported(req, id);
        return;
    }
    const agents_def *d = agents_find(id);
    if (d->hint) {
        if (agents_installed(id) && !reinstall) {
            http_reply_json(req, 200, json_pack("{s:b,s:[]}", "already_installed", 1, "artifacts"));
            return;
        }
        char *detail = base_xasprintf("install failed: %s", id);
        http_reply_problem(
            req, 500, "install_failed", "Install Failed", detail,
            json_pack("{s:s,s:{s:s}}", "agent", id, "details", "stderr",
                      "installing this agent is not available in this build yet; install its "
                      "ACP adapter on PATH or under the data directory"));
        free(detail);
        return;
    }
    char *l = agents_launcher_path("mock");
    bool present = agents_is_exec_file(l);
    free(l);
    if (present && !reinstall) {
        http_reply_json(req, 200, json_pack("{s:b,s:[]}", "already_installed", 1, "artifacts"));
        return;
    }
    char *path = NULL;
    int r = agents_write_mock_launcher(&path);
    if (r < 0) {
        char *detail = base_xasprintf("install failed: %s", id);
        http_reply_problem(
            req, 500, "install_failed", "Install Failed", detail,
            json_pack("{s:s,s:{s:s}}", "agent", id, "details", "stderr", strerror(-r)));
        free(detail);
        return;
    }
    json_t *art = json_pack("{s:s,s:s,s:s,s:s}", "kind", "agent_process", "path", path, "source",
                            "builtin", "version", "builtin");
    free(path);
    http_reply_json(req, 200, json_pack("{s:b,s:[o]}", "already_installed", 0, "artifacts", art));
}

void agents_routes(http_server *srv, agents_instances_fn fn, void *ud) {
    agents_ctx.instances = fn;
    agents_ctx.ud = ud;
    http_route(srv, HTTP_M_GET, "/v1/agents", HTTP_ROUTE_AUTH, agents_list_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/agents/{agent}", HTTP_ROUTE_AUTH, agents_get_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/agents/{agent}/install", HTTP_ROUTE_AUTH,
               agents_install_handler, NULL);
}
