/* opencode.h - the OpenCode-compatible API under /opencode (docs/opencode.md): OpenCode's TUI
 * and SDK drive the sandbox's ACP agents through our bridge. Sessions, their messages and
 * parts live in the durable journal's session table and survive restarts; prompts run the
 * chosen agent through in-process ACP clients; events stream as OpenCode SSE. */
#ifndef OPENCODE_H
#define OPENCODE_H

#include <uv.h>

#include "http/http.h"

struct journal_store;
struct acp_bridge;

/* The API's state. Owner: the server; opencode_free. */
typedef struct opencode opencode;

/* Load the stored OpenCode sessions (blocking: call at startup, before serving) and register
 * the /opencode routes. store may be NULL (`--journal memory`: nothing survives a restart).
 * store and bridge stay the caller's and must outlive the API. */
opencode *opencode_routes(http_server *srv, uv_loop_t *loop, struct journal_store *store,
                          struct acp_bridge *bridge);
/* Write what is pending, detach from every ACP instance (closing those it started), free.
 * Call it after the server stopped serving, before the bridge and the store are freed, with
 * the loop still to be run once more. */
void opencode_free(opencode *oc);

#endif
