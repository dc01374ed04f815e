/* meta.h - the metadata side of the OpenCode-compatible API under /opencode
 * (opencode-compat.md §3 rows 1, 3-5, 7-29; §7; §14): health, dispose, agents, providers
 * and models built from our agent catalogue, paths, VCS, project, MCP and skills from the
 * directory's config, config and TUI routes with optional forwarding to a native
 * `opencode serve` (OPENCODE_COMPAT_PROXY_URL). docs/opencode-meta.md describes them. */
#ifndef OPENCODE_META_H
#define OPENCODE_META_H

#include <uv.h>

#include "http/http.h"

/* Register the metadata routes (exact patterns, bearer or Basic auth as every /opencode
 * route). Disk reads (git HEAD, config files, agent install state, credential files) run
 * on loop's thread pool; proxied requests run on loop. State lives for the process. */
void opencode_meta_routes(http_server *srv, uv_loop_t *loop);

#endif
