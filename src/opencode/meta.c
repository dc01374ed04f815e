/* meta.c - the metadata routes of /opencode that answer from the process or the request
 * directory (opencode-compat.md §7): health, dispose, agents, provider auth, paths, VCS,
 * project, MCP, skills and the lists we have nothing for; and the thread-pool job every
 * handler that reads the disk goes through. Providers are in provider.c, the config, command
 * and TUI routes with the native proxy in proxy.c. */
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "base/base.h"
#include "opencode/internal.h"
#include "opencode/meta_internal.h"

/* ---- thread-pool jobs -------------------------------------------------------------------- */

static void opencode_meta_job_free(opencode_meta_job *j) {
    if (j->data_free)
        j->data_free(j->data);
    json_decref(j->body);
    free(j->dir);
    free(j);
}

static void opencode_meta_job_abort(http_req *req, void *ud) {
    opencode_meta_job *j = ud;
    j->req = NULL; /* the work cannot be cancelled once queued; its result is dropped */
}

static void opencode_meta_job_work(uv_work_t *w) {
    opencode_meta_job *j = w->data;
    j->fn(j);
}

static void opencode_meta_job_done(uv_work_t *w, int status) {
    opencode_meta_job *j = w->data;
    if (j->req && j->after)
        j->after(j);
    if (j->req) {
        if (j->body) {
            opencode_reply_json(j->req, j->status ? j->status : 200, j->body);
            j->body = NULL;
        } else {
            opencode_reply_error(j->req, j->status ? j->status : 500, j->err);
        }
    }
    opencode_meta_job_free(j);
}

void opencode_meta_run(http_req *req, opencode_meta_work_fn fn, void *data,
                       void (*data_free)(void *data)) {
    opencode_meta_run_then(req, fn, NULL, data, data_free);
}

void opencode_meta_run_then(http_req *req, opencode_meta_work_fn fn, opencode_meta_work_fn after,
                            void *data, void (*data_free)(void *data)) {
    opencode_meta_job *j = base_xcalloc(1, sizeof *j);
    j->req = req;
    j->fn = fn;
    j->after = after;
    j->dir = opencode_directory(req);
    j->data = data;
    j->data_free = data_free;
    j->work.data = j;
    http_req_on_abort(req, opencode_meta_job_abort, j);
    int r =
        uv_queue_work(http_req_loop(req), &j->work, opencode_meta_job_work, opencode_meta_job_done);
    if (r != 0) {
        j->req = NULL;
        opencode_reply_error(req, 500, uv_strerror(r));
        opencode_meta_job_free(j);
    }
}

/* ---- answers from the process ------------------------------------------------------------ */

static void opencode_meta_health(http_req *req, void *ud) {
    opencode_reply_json(req, 200, json_pack("{s:b,s:s}", "healthy", 1, "version", BASE_VERSION));
}

/* One agent, as the reference: the TUI shows its name and sends it back in prompts, where
 * the model picks the backing agent (§9.2). Our agents are the providers. */
static void opencode_meta_agent(http_req *req, void *ud) {
    json_t *a = json_pack("{s:s,s:b,s:s,s:s,s:b,s:{},s:[]}", "description",
                          "Sandbox Agent compatibility layer", "hidden", 0, "mode", "all", "name",
                          "Sandbox Agent", "native", 0, "options", "permission");
    opencode_reply_json(req, 200, json_pack("[o]", a));
}

/* No provider offers a sign-in method here: agents use the credentials they find themselves
 * (environment, their own files), so every provider maps to an empty list. */
static void opencode_meta_provider_auth(http_req *req, void *ud) {
    json_t *o = json_object();
    for (size_t i = 0; agents_id(i); i++)
        json_object_set_new(o, agents_id(i), json_array());
    opencode_reply_json(req, 200, o);
}

/* The reference answers canned "stub" data here; nothing would be signed in, so we say so. */
static void opencode_meta_oauth(http_req *req, void *ud) {
    char *m = base_xasprintf(
        "provider OAuth is not available for '%s': sandbox-agent's agents use the credentials "
        "they find themselves (environment variables or their own login files)",
        http_req_param(req, 0));
    opencode_reply_error(req, 400, m);
    free(m);
}

static const char *opencode_meta_env_or(const char *name, const char *def) {
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* §7.4. config: where this directory's MCP and skills config lives; state: our data dir. */
static void opencode_meta_path(http_req *req, void *ud) {
    char *dir = opencode_directory(req);
    const char *sep = *dir && dir[strlen(dir) - 1] == '/' ? "" : "/";
    char *cfg = base_xasprintf("%s%s.sandbox-agent/config", dir, sep);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s}", "config", opencode_meta_env_or("OPENCODE_COMPAT_CONFIG", cfg),
        "directory", dir, "home", opencode_meta_env_or("HOME", "/"), "state",
        opencode_meta_env_or("OPENCODE_COMPAT_STATE", base_data_dir()), "worktree", dir);
    free(cfg);
    free(dir);
    opencode_reply_json(req, 200, o);
}

/* ---- answers from the directory (thread pool) ------------------------------------------- */

static void opencode_meta_vcs_work(opencode_meta_job *j) {
    opencode_git_info g;
    j->body = json_object();
    if (!opencode_git_read(j->dir, &g))
        return; /* not a repository: no branch to report */
    if (g.branch)
        json_object_set_new(j->body, "branch", json_string(g.branch));
    if (g.default_branch)
        json_object_set_new(j->body, "default_branch", json_string(g.default_branch));
    opencode_git_free(&g);
}

static void opencode_meta_vcs(http_req *req, void *ud) {
    opencode_meta_run(req, opencode_meta_vcs_work, NULL, NULL);
}

/* §7.5, with what the directory really is: `vcs` only inside a git repository, `name` the
 * directory's last component. */
static json_t *opencode_meta_project_json(const char *dir) {
    const char *slash = strrchr(dir, '/');
    const char *name = slash && slash[1] ? slash + 1 : "sandbox-agent";
    json_int_t t = (json_int_t)opencode_start_ms();
    json_t *p = json_pack("{s:s,s:s,s:{s:I,s:I},s:s,s:[]}", "id", opencode_project_id(), "name",
                          name, "time", "created", t, "updated", t, "worktree", dir, "sandboxes");
    opencode_git_info g;
    if (opencode_git_read(dir, &g)) {
        json_object_set_new(p, "vcs", json_string("git"));
        opencode_git_free(&g);
    }
    return p;
}

static void opencode_meta_project_work(opencode_meta_job *j) {
    j->body = opencode_meta_project_json(j->dir);
}

static void opencode_meta_projects_work(opencode_meta_job *j) {
    j->body = json_pack("[o]", opencode_meta_project_json(j->dir));
}

static void opencode_meta_project(http_req *req, void *ud) {
    opencode_meta_run(req, opencode_meta_project_work, NULL, NULL);
}

static void opencode_meta_projects(http_req *req, void *ud) {
    opencode_meta_run(req, opencode_meta_projects_work, NULL, NULL);
}

static void opencode_meta_mcp_work(opencode_meta_job *j) {
    j->body = opencode_mcp_status(j->dir, j->err, sizeof j->err);
}

static void opencode_meta_mcp(http_req *req, void *ud) {
    opencode_meta_run(req, opencode_meta_mcp_work, NULL, NULL);
}

static void opencode_meta_skill_work(opencode_meta_job *j) {
    j->body = opencode_skills(j->dir, j->err, sizeof j->err);
}

static void opencode_meta_skill(http_req *req, void *ud) {
    opencode_meta_run(req, opencode_meta_skill_work, NULL, NULL);
}

/* ---- registration ----------------------------------------------------------------------- */

void opencode_meta_routes(http_server *srv, uv_loop_t *loop) {
    const unsigned f = OPENCODE_ROUTE;
    http_route(srv, HTTP_M_GET, "/opencode/global/health", f, opencode_meta_health, NULL);
    http_route(srv, HTTP_M_POST, "/opencode/global/dispose", f, opencode_handle_true, NULL);
    http_route(srv, HTTP_M_POST, "/opencode/instance/dispose", f, opencode_handle_true, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/agent", f, opencode_meta_agent, NULL);
    opencode_provider_routes(srv);
    http_route(srv, HTTP_M_GET, "/opencode/provider/auth", f, opencode_meta_provider_auth, NULL);
    http_route(srv, HTTP_M_POST, "/opencode/provider/{providerID}/oauth/authorize", f,
               opencode_meta_oauth, NULL);
    http_route(srv, HTTP_M_POST, "/opencode/provider/{providerID}/oauth/callback", f,
               opencode_meta_oauth, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/path", f, opencode_meta_path, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/vcs", f, opencode_meta_vcs, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/project", f, opencode_meta_projects, NULL);
    http_route(srv, HTTP_M_POST, "/opencode/project", f, opencode_meta_project, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/project/current", f, opencode_meta_project, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/mcp", f, opencode_meta_mcp, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/lsp", f, opencode_handle_empty_list, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/formatter", f, opencode_handle_empty_list, NULL);
    http_route(srv, HTTP_M_GET, "/opencode/experimental/resource", f, opencode_handle_empty_list,
               NULL);
    http_route(srv, HTTP_M_GET, "/opencode/skill", f, opencode_meta_skill, NULL);
    opencode_proxy_routes(srv, loop);
}
