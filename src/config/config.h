/* config.h - MCP server and skills configuration per project directory
 * (GET/PUT/DELETE /v1/config/mcp and /v1/config/skills, http-api.md §8).
 *
 * Entries live in <directory>/.sandbox-agent/config/{mcp,skills}.json, one JSON object per
 * file mapping entry name to config, where agents started in that directory look for
 * them. */
#ifndef CONFIG_H
#define CONFIG_H

#include "http/http.h"

/* Register the six config routes (bearer auth applies). */
void config_routes(http_server *srv);

#endif
