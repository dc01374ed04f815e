/* catalog.h - internal to src/agents/: the agent table (ids, adapter and native CLI names)
 * and the embedded capabilities catalogue.
 *
 * Layers of src/agents/, each file calling only those listed before it:
 *   catalog -> layout -> recipes -> launcher -> version -> launch
 *   -> install_run -> install_unpack, install_bwrap -> install_job -> agents (routes).
 * credentials.c stands apart (used by the routes and the CLI). */
#ifndef AGENTS_CATALOG_H
#define AGENTS_CATALOG_H

#include <jansson.h>

#include "agents/agents.h"

/* Index of a known agent in list order, or -1 (also for NULL): never a default slot. */
int agents_index(const char *id);
/* The adapter executable name looked up on PATH; NULL for the mock and unknown ids. */
const char *agents_hint(const char *id);
/* The native CLI's name (probed for the version); NULL when the agent has none. */
const char *agents_native_name(const char *id);
/* {capabilities, configOptions} captured from 0.4.2; borrowed, NULL for unknown ids. */
json_t *agents_catalog_entry(const char *id);

#endif
