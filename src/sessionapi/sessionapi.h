/* sessionapi.h - the REST session API (docs/sessions.md): sessions listed, read, followed and
 * deleted over /v1/sessions, and driven over HTTP by clients without an ACP library (create,
 * prompt turns with their permissions, cancel) through in-process ACP clients of the
 * bridge. */
#ifndef SESSIONAPI_H
#define SESSIONAPI_H

#include <uv.h>

#include "http/http.h"

struct sessions_index;
struct journal_store;
struct acp_bridge;

/* The API's state: sessions it drives, event streams it serves. Owner: the server;
 * sessionapi_free. */
typedef struct sessionapi sessionapi;

/* Register the /v1/sessions routes. store may be NULL (`--journal memory`): events are then
 * only followed live and listing them answers 409 journal_disabled. index, store and bridge
 * stay the caller's and must outlive the API. */
sessionapi *sessionapi_routes(http_server *srv, uv_loop_t *loop, struct sessions_index *index,
                              struct journal_store *store, struct acp_bridge *bridge);
/* Detach from every ACP instance (instances the API started are closed) and free. Call it
 * after the server stopped serving and before the bridge and the index are freed, with the
 * loop still to be run once more (the bridge answers the in-process clients' last requests
 * from the loop). */
void sessionapi_free(sessionapi *api);

#endif
