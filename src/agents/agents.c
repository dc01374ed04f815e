/* agents.c - the HTTP face of the agents module: GET /v1/agents[/{id}],
 * POST /v1/agents/{id}/install, and the problem replies the ACP bridge shares. The top of
 * src/agents/ (layers in catalog.h).
 *
 * Installing and version probing run asynchronously on the loop given to agents_routes,
 * so the handlers here answer later when work is needed. */
#include "agents/agents.h"

#include <stdlib.h>
#include <string.h>

#include "agents/catalog.h"
#include "agents/credentials.h"
#include "agents/launcher.h"
#include "agents/layout.h"
#include "agents/version.h"
#include "base/base.h"

/* ---- routes --------------------------------------------------------------------------------- */

/* What agents_routes was given. Owner: this file, for the process life. */
typedef struct agents_routes_ctx {
    uv_loop_t *loop;
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

void agents_install_problem(http_req *req, const char *id, const agents_install_result *res) {
    char *detail = base_xasprintf("install failed: %s", id);
    const char *reason = res->reason ? res->reason : "install failed";
    char *stderr_text = res->output && *res->output ? base_xasprintf("%s\n%s", reason, res->output)
                                                    : base_xstrdup(reason);
    http_reply_problem(req, 500, "install_failed", "Install Failed", detail,
                       json_pack("{s:s,s:{s:s,s:s,s:s}}", "agent", id, "details", "stderr",
                                 stderr_text, "reason", reason, "output",
                                 res->output ? res->output : ""));
    free(stderr_text);
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
        agents_version_put(id, o);
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
    char *warning = agents_sandbox_warning(id);
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
    agents_version_probe *probe; /* NULL once it reported */
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
        http_reply_json(req, 200, agents_info(agents_id((size_t)w->one), w->config, creds));
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < AGENTS_COUNT; i++)
            json_array_append_new(arr, agents_info(agents_id(i), w->config, creds));
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
    w->job = agents_credentials_discover_async(agents_ctx.loop, true, agents_get_creds_done, w);
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
            agents_version_cancel(w->slots[i].probe);
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
        const char *id = agents_id(i);
        if (!agents_hint(id) || (!no_cache && agents_version_ready(id)))
            continue;
        w->slots[i].wait = w;
        w->pending++;
        w->slots[i].probe =
            agents_version_probe_start(agents_ctx.loop, id, agents_get_probed, &w->slots[i]);
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
    int idx = agents_index(http_req_param(req, 0));
    agents_get_common(req, idx < 0 ? -2 : idx);
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
    if (!agents_hint(id)) {
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
    w->job = agents_install_async(agents_ctx.loop, id, &opts, agents_install_done, NULL, w);
    json_decref(body); /* the job copied the version strings */
    http_req_on_abort(req, agents_install_abort, w);
}

void agents_routes(http_server *srv, uv_loop_t *loop, agents_instances_fn fn, void *ud) {
    agents_ctx.loop = loop;
    agents_ctx.instances = fn;
    agents_ctx.ud = ud;
    http_route(srv, HTTP_M_GET, "/v1/agents", HTTP_ROUTE_AUTH, agents_list_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/agents/{agent}", HTTP_ROUTE_AUTH, agents_get_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/agents/{agent}/install", HTTP_ROUTE_AUTH,
               agents_install_handler, NULL);
}
