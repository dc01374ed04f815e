/* install.h - agent installation, internal to the agents module and shared with the ACP
 * bridge (lazy install on the first POST) and `sandbox-agent install-agent`.
 *
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
#ifndef AGENTS_INSTALL_H
#define AGENTS_INSTALL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "http/http.h"

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

/* Start installing an agent; NULL when the id is unknown. Work begins on the next loop iteration;
 * done (and progress, which may be NULL) always run later from the loop, never from inside this
 * call. The job owns itself and is freed after done returned. */
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
/* 500 install_failed problem: {"agent", "details": {"stderr", "reason", "output"}}. */
void agents_install_problem(http_req *req, const char *id, const agents_install_result *res);
/* The success body. cli_style: camelCase keys and Rust Debug enum names as printed by the
 * reference CLI (alreadyInstalled, AgentProcess, Fallback); otherwise the HTTP shape. */
json_t *agents_install_result_json(const agents_install_result *res, bool cli_style);

/* ---- version probing (GET /v1/agents?config=true) ------------------------------------------
 * `<native> --version` (then `version`, then `-V`) runs as a child with a time bound; the
 * answer is cached per agent until an install of that agent finishes. Agents without a
 * native CLI report the adapter version recorded at install time. */
typedef struct agents_install_probe agents_install_probe;
typedef void (*agents_install_version_fn)(void *ud);

/* True when the cache holds an answer for id (always true for the mock). */
bool agents_install_version_ready(const char *id);
/* Start a probe, or join the one in flight; fn(ud) runs later from the loop once the cache
 * holds the fresh answer. The returned waiter is owned by this module until fn ran or it
 * was cancelled. NULL (and fn never runs) for an id outside the catalogue. */
agents_install_probe *agents_install_version_probe(uv_loop_t *loop, const char *id,
                                                   agents_install_version_fn fn, void *ud);
/* Stop waiting (the request went away); the probe itself runs to its bounded end. */
void agents_install_version_cancel(agents_install_probe *waiter);
/* Add "version" and "path" to obj from the cache (each only when known). */
void agents_install_version_put(const char *id, json_t *obj);

/* ---- codex and bubblewrap (agents.md) --------------------------------------------------------
 * codex's shell tool needs `bwrap`. Installing codex without one on PATH unpacks the
 * distribution's bubblewrap package into $AP/codex/AGENTS_INSTALL_BWRAP_DIR; its launcher adds
 * that dir to PATH, or, when there is no bwrap at all, starts codex in sandbox mode
 * danger-full-access and prints AGENTS_INSTALL_BWRAP_WARNING on stderr. */
#define AGENTS_INSTALL_BWRAP_DIR "bubblewrap/usr/bin"
#define AGENTS_INSTALL_BWRAP_WARNING                                                              \
    "sandbox-agent: no bubblewrap (bwrap) for codex: its shell commands run without codex's "     \
    "sandbox (sandbox_mode=danger-full-access); install the bubblewrap package, or reinstall "    \
    "codex where apt-get can fetch it"
/* The warning above for an installed agent that will start without bwrap; NULL otherwise.
 * Malloc'd. Looks at the filesystem and PATH only (cheap stat calls). */
char *agents_install_sandbox_warning(const char *id);

/* ---- helpers shared with agents.c ----------------------------------------------------------- */
/* Both malloc'd: <data>/bin and <data>/bin/agent_processes. */
char *agents_bin_dir(void);
char *agents_ap_dir(void);
/* Malloc'd $AP/<id>-acp. */
char *agents_launcher_path(const char *id);
/* Regular file with the execute bit (after following symlinks). */
bool agents_is_exec_file(const char *p);
/* PATH lookup; malloc'd path or NULL. */
char *agents_which(const char *name);
/* $BIN/<native> when executable, else PATH; malloc'd or NULL (also for agents without one). */
char *agents_native_path(const char *id);
/* The adapter executable name looked up on PATH (NULL for the mock). */
const char *agents_hint(const char *id);
/* Write the built-in mock launcher atomically; *path_out (malloc'd) gets its path. 0 or -errno. */
int agents_write_mock_launcher(char **path_out);
/* Index of a known agent in list order, or -1. */
int agents_index(const char *id);

#endif
