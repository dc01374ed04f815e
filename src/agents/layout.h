/* layout.h - internal to src/agents/: where agents live on disk and how executables are
 * found. Layer 2 (catalog.h lists the order).
 *
 *   $BIN = <data>/bin                      native CLIs ($BIN/claude, $BIN/pi, ...)
 *   $AP  = <data>/bin/agent_processes      adapters: $AP/<id>/ (install dir),
 *                                          $AP/<id>-acp (launcher), $AP/.<id>.lock
 *   $AP/<id>/AGENTS_MANIFEST               what the install put there (JSON)
 *
 * The lookups stat and read small files synchronously (a few calls, no scans). */
#ifndef AGENTS_LAYOUT_H
#define AGENTS_LAYOUT_H

#include <stdbool.h>

#define AGENTS_MANIFEST ".sandbox-agent-install.json"

/* Both malloc'd: $BIN and $AP. */
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
/* The "version" string recorded in $AP/<id>/AGENTS_MANIFEST; malloc'd, or NULL when there
 * is no manifest, it is not JSON, or the version is not a string. */
char *agents_manifest_version(const char *id);

#endif
