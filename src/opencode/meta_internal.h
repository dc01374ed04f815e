/* meta_internal.h - shared by the metadata files of src/opencode/ only (meta.c, meta_disk.c,
 * provider.c, proxy.c): one thread-pool job shape for handlers that read the disk, the
 * blocking readers those jobs call, and the proxied routes. */
#ifndef OPENCODE_META_INTERNAL_H
#define OPENCODE_META_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "http/http.h"

/* ---- thread-pool jobs (meta.c) ---------------------------------------------------------- */

/* A handler's disk work. work runs on the thread pool and fills status and body (an error
 * reply when body is NULL: status and err). Owner: the job machinery, which frees dir,
 * data (with data_free) and body after the reply; if the client left first, the reply is
 * skipped. */
typedef struct opencode_meta_job opencode_meta_job;
typedef void (*opencode_meta_work_fn)(opencode_meta_job *j);
struct opencode_meta_job {
    uv_work_t work;
    http_req *req; /* NULL once the client left */
    opencode_meta_work_fn fn;
    opencode_meta_work_fn after; /* on the loop after fn, before the reply; may be NULL */
    char *dir;                   /* the request directory (§5) */
    void *data;
    void (*data_free)(void *data);
    int status;
    json_t *body;
    char err[1024];
};
/* Run fn for req on the thread pool and answer its result. Takes ownership of data. */
void opencode_meta_run(http_req *req, opencode_meta_work_fn fn, void *data,
                       void (*data_free)(void *data));
/* The same with after, run on the loop once fn is done (only while the client is there). */
void opencode_meta_run_then(http_req *req, opencode_meta_work_fn fn, opencode_meta_work_fn after,
                            void *data, void (*data_free)(void *data));

/* ---- blocking readers (meta_disk.c; thread pool only) ----------------------------------- */

/* The git state of dir or its nearest ancestor that has a .git (directory, or a file
 * "gitdir: <path>" as in linked worktrees and submodules). Strings malloc'd, NULL when
 * unknown. branch: the branch HEAD names, or "HEAD" when it is detached; default_branch:
 * what refs/remotes/origin/HEAD names. Returns false when dir is not in a repository. */
typedef struct opencode_git_info {
    char *root; /* the directory holding .git */
    char *branch;
    char *default_branch;
} opencode_git_info;
bool opencode_git_read(const char *dir, opencode_git_info *out);
void opencode_git_free(opencode_git_info *g);

/* GET /mcp's {name: McpStatus} from the directory's MCP config; NULL with err on a bad file. */
json_t *opencode_mcp_status(const char *dir, char *err, size_t cap);
/* GET /config's `mcp` member: the directory's MCP entries in OpenCode's config shape. */
json_t *opencode_mcp_config(const char *dir, char *err, size_t cap);
/* GET /skill's [{name, description, location, content}] read from the `local` sources of the
 * directory's skills config; NULL with err on a bad file. */
json_t *opencode_skills(const char *dir, char *err, size_t cap);

/* ---- providers (provider.c) -------------------------------------------------------------- */

/* GET /provider and GET /config/providers. */
void opencode_provider_routes(http_server *srv);

/* ---- config, command and TUI routes with the native proxy (proxy.c) --------------------- */

void opencode_proxy_routes(http_server *srv, uv_loop_t *loop);

#endif
