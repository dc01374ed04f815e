/* agents.h - the agent catalogue: ids, capabilities, config options, install state,
 * credentials, launch recipes, and the /v1/agents routes. */
#ifndef AGENTS_H
#define AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define AGENTS_COUNT 7

/* Ids in list order: claude, codex, opencode, amp, pi, cursor, mock. */
const char *agents_id(size_t i);
bool agents_known(const char *id);

/* How to start an agent's ACP adapter. Owner: the caller; agents_launch_free releases. */
typedef struct agents_launch {
    char *file;
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated: the server's environment plus SANDBOX_AGENT_BIN */
} agents_launch;

/* Fill a launch recipe. Returns 0, or -1 when the agent is not installed (the mock is
 * materialised on demand and always succeeds unless the disk refuses). */
int agents_launch_recipe(const char *id, agents_launch *out);
void agents_launch_free(agents_launch *l);
bool agents_installed(const char *id);

/* Tells the agents routes how many ACP instances an agent has (for serverStatus). */
typedef size_t (*agents_instances_fn)(void *ud, const char *agent, int64_t *oldest_ms);
void agents_routes(http_server *srv, agents_instances_fn fn, void *ud);

/* Problem replies shared with the ACP bridge. */
void agents_problem_unsupported(http_req *req, const char *id);
void agents_problem_not_installed(http_req *req, const char *id);

#endif
