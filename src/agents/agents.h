/* agents.h - the agents module's public header: the agent catalogue (ids, install state,
 * launch recipes), installing agents (used by the /v1/agents routes, the ACP bridge's lazy
 * install on the first POST, and `sandbox-agent install-agent`), and the /v1/agents routes.
 * Credential discovery has its own header (credentials.h). Everything else in src/agents/
 * is internal: the layers are listed in catalog.h. */
#ifndef AGENTS_H
#define AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "http/http.h"

#define AGENTS_COUNT 7

/* ---- the catalogue ------------------------------------------------------------------------- */

/* Ids in list order: claude, codex, opencode, amp, pi, cursor, mock. NULL past the end. */
const char *agents_id(size_t i);
bool agents_known(const char *id);
/* The adapter's launcher is executable, or its executable is on PATH; always true for the
 * mock, false for unknown ids. Stats files. */
bool agents_installed(const char *id);
/* The agent's {capabilities, configOptions} as captured from 0.4.2 (catalog.json); borrowed,
 * NULL for unknown ids. Loop thread: the catalogue is parsed on first use. */
json_t *agents_catalog_config(const char *id);

/* How to start an agent's ACP adapter. Owner: the caller; agents_launch_free releases. */
typedef struct agents_launch {
    char *file;
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated: the server's environment plus SANDBOX_AGENT_BIN */
} agents_launch;

/* Fill a launch recipe. Returns 0, or -1 when the agent is unknown or not installed (the
 * mock is materialised on demand and always succeeds unless the disk refuses). */
int agents_launch_recipe(const char *id, agents_launch *out);
void agents_launch_free(agents_launch *l);

/* ---- installing ---------------------------------------------------------------------------
 * An install runs as a job on a libuv loop and never blocks it: npm, downloads, the
 * verification run and version probes are child processes (each in its own process group,
 * stdin closed, killed when its time bound expires); unpacking runs on the thread pool.
 * Installs of one agent are serialised, within the process by a queue and across processes
 * by a lock file. The adapter is installed into a temporary directory under
 * $AP (= <data>/bin/agent_processes) and renamed into place only once it was verified, so a
 * failure leaves nothing half-installed.
 *
 * Sources: npm packages through npm's own configuration (registry, proxy, CA settings);
 * amp-acp and cursor-agent from release archives whose URLs can be overridden
 * (SANDBOX_AGENT_AMP_ACP_URL, SANDBOX_AGENT_CURSOR_AGENT_URL); an ACP registry document
 * when SANDBOX_AGENT_ACP_REGISTRY_URL is set (agents.md §2.3).
 *
 * Time bounds (milliseconds; environment): SANDBOX_AGENT_INSTALL_TIMEOUT_MS per npm,
 * download or unpack step (600000), SANDBOX_AGENT_INSTALL_VERIFY_TIMEOUT_MS for the
 * `--help` check (60000), SANDBOX_AGENT_INSTALL_LOCK_TIMEOUT_MS for waiting on another
 * process's install (1800000), SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS (20000). Archive
 * checksums: SANDBOX_AGENT_AMP_ACP_SHA256, SANDBOX_AGENT_CURSOR_AGENT_SHA256. */

/* What to install. Owner: the caller; the job copies what it needs. */
typedef struct agents_install_opts {
    bool reinstall;
    const char *agent_version; /* native CLI version (opencode, pi, cursor); NULL = pinned */
    const char *agent_process_version; /* adapter version; NULL = pinned */
} agents_install_opts;

/* The outcome, valid only during the done callback. Owner: the job. */
typedef struct agents_install_result {
    bool ok;
    bool already_installed;
    json_t *artifacts;  /* array of {kind, path, source, version?}, snake_case values */
    const char *reason; /* failure: one line saying what went wrong */
    const char *output; /* failure: tail of the failing step's output ("" when none) */
} agents_install_result;

typedef struct agents_install_job agents_install_job;
typedef void (*agents_install_done_fn)(const agents_install_result *res, void *ud);
/* A human-readable step ("npm install pi-acp@0.0.23 ..."), for progress displays. */
typedef void (*agents_install_progress_fn)(const char *agent, const char *step, void *ud);

/* Start installing an agent; NULL when the id is unknown. Work begins on the next loop
 * iteration; done (and progress, which may be NULL) always run later from the loop, never
 * from inside this call. The job owns itself and is freed after done returned. */
agents_install_job *agents_install_async(uv_loop_t *loop, const char *id,
                                         const agents_install_opts *opts,
                                         agents_install_done_fn done,
                                         agents_install_progress_fn progress, void *ud);
/* The caller loses interest (its HTTP request went away): no more callbacks. A job that
 * has not started working yet is cancelled; one that has runs to its end, so that a
 * half-done npm install is finished or cleaned up rather than abandoned. */
void agents_install_detach(agents_install_job *job);
/* Stop as soon as possible (Ctrl-C in the CLI): the running step is killed and the job
 * fails with "interrupted" after removing what it created; done still runs. */
void agents_install_cancel(agents_install_job *job);

/* SANDBOX_AGENT_REQUIRE_PREINSTALL is 1, true or yes: never install on first use. */
bool agents_install_preinstall_required(void);
/* The success body. cli_style: camelCase keys and Rust Debug enum names as printed by the
 * reference CLI (alreadyInstalled, AgentProcess, Fallback); otherwise the HTTP shape. */
json_t *agents_install_result_json(const agents_install_result *res, bool cli_style);

/* ---- HTTP (agents.c) -------------------------------------------------------------------- */

/* Tells the agents routes how many ACP instances an agent has (for serverStatus). */
typedef size_t (*agents_instances_fn)(void *ud, const char *agent, int64_t *oldest_ms);
/* GET /v1/agents[/{id}] and POST /v1/agents/{id}/install. Installs and version probes run
 * on loop (the server's). */
void agents_routes(http_server *srv, uv_loop_t *loop, agents_instances_fn fn, void *ud);

/* Problem replies shared with the ACP bridge. */
void agents_problem_unsupported(http_req *req, const char *id);
void agents_problem_not_installed(http_req *req, const char *id);
/* 500 install_failed problem: {"agent", "details": {"stderr", "reason", "output"}}. */
void agents_install_problem(http_req *req, const char *id, const agents_install_result *res);

#endif
