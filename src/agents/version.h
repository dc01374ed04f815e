/* version.h - internal to src/agents/: installed agents' versions (GET /v1/agents?config=true).
 * Layer 5 (catalog.h lists the order).
 *
 * `<native> --version` (then `version`, then `-V`) runs as a child with a time bound
 * (SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS, 20000); the answer is cached per agent until an
 * install of that agent finishes (agents_version_invalidate). Agents without a native CLI
 * report the adapter version recorded at install time. */
#ifndef AGENTS_VERSION_H
#define AGENTS_VERSION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

typedef struct agents_version_probe agents_version_probe;
typedef void (*agents_version_fn)(void *ud);

/* True when the cache holds an answer for id (always true for the mock). */
bool agents_version_ready(const char *id);
/* Start a probe, or join the one in flight; fn(ud) runs later from the loop once the cache
 * holds the fresh answer. The returned waiter is owned by this module until fn ran or it
 * was cancelled. NULL (and fn never runs) for an id outside the catalogue. */
agents_version_probe *agents_version_probe_start(uv_loop_t *loop, const char *id,
                                                 agents_version_fn fn, void *ud);
/* Stop waiting (the request went away); the probe itself runs to its bounded end. */
void agents_version_cancel(agents_version_probe *waiter);
/* Add "version" and "path" to obj from the cache (each only when known). */
void agents_version_put(const char *id, json_t *obj);
/* Forget the cached answer of a known agent (its install changed); probes already running
 * for it do not store theirs. */
void agents_version_invalidate(const char *id);
/* A probe's answer from its output: the first non-empty trimmed line, cut at " (" (agents.md
 * §2.7), when it is valid UTF-8 shorter than 200 bytes. Malloc'd, or NULL. */
char *agents_version_parse(const char *out, size_t len);

#endif
