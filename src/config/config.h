/* config.h - MCP server and skills configuration per project directory
 * (GET/PUT/DELETE /v1/config/mcp and /v1/config/skills, http-api.md §8).
 *
 * Entries live in <directory>/.sandbox-agent/config/{mcp,skills}.json, one JSON object per
 * file mapping entry name to config, where agents started in that directory look for
 * them. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http/http.h"

/* Register the six config routes (bearer auth applies). */
void config_routes(http_server *srv);

/* Read and validate a directory's whole MCP (skills=false) or skills (skills=true) config
 * file for other modules (the /opencode metadata routes). Blocking: call it from the thread
 * pool only. Returns the map of entry name to normalised entry, sorted by name (an empty
 * object when the file does not exist), or NULL with the reason in err. *path_out, when not
 * NULL, gets the file's absolute path (caller frees). */
json_t *config_load(const char *dir, bool skills, char **path_out, char *err, size_t cap);

#endif
