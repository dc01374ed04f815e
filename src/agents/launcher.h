/* launcher.h - internal to src/agents/: the launcher scripts ($AP/<id>-acp, agents.md §2.2)
 * and the native CLI links in $BIN. Layer 4 (catalog.h lists the order).
 *
 * codex and bubblewrap (agents.md): codex's shell tool needs `bwrap`. Installing codex
 * without one on PATH unpacks the distribution's bubblewrap package into
 * $AP/codex/AGENTS_INSTALL_BWRAP_DIR; its launcher adds that dir to PATH, or, when there is
 * no bwrap at all, starts codex in sandbox mode danger-full-access and prints
 * AGENTS_INSTALL_BWRAP_WARNING on stderr. */
#ifndef AGENTS_LAUNCHER_H
#define AGENTS_LAUNCHER_H

#include <stdbool.h>

#include "agents/recipes.h"

#define AGENTS_INSTALL_BWRAP_DIR "bubblewrap/usr/bin"
#define AGENTS_INSTALL_BWRAP_WARNING                                                               \
    "sandbox-agent: no bubblewrap (bwrap) for codex: its shell commands run without codex's "      \
    "sandbox (sandbox_mode=danger-full-access); install the bubblewrap package, or reinstall "     \
    "codex where apt-get can fetch it"

/* The launcher script: exports env (KEY=VALUE) and env_default (only when unset), then
 * execs exe with args and the caller's arguments. bwrap_dir: the install dir of an agent
 * that needs bubblewrap (codex), else NULL. Malloc'd. */
char *agents_launcher_text(const char *exe, char **args, char **env, char **env_default,
                           const char *bwrap_dir);
/* Offer bi's native CLI as $BIN/<native>: a symlink to its target inside final_dir (the
 * adapter exe_rel for "@adapter"), or a node wrapper script. A user's own executable there
 * is kept unless reinstall. Returns the path (malloc'd), or NULL when there is nothing to
 * link or linking failed (logged). */
char *agents_link_native(const agents_builtin *bi, const char *id, const char *final_dir,
                         const char *exe_rel, const char *bin_dir, bool reinstall);
/* Write the built-in mock launcher atomically; *path_out (malloc'd) gets its path. 0 or -errno. */
int agents_write_mock_launcher(char **path_out);
/* path holds exactly the built-in mock launcher, which only execs this binary's
 * mock-agent-process: the caller may exec that directly (two execs fewer per agent). */
bool agents_is_mock_launcher(const char *path);
/* AGENTS_INSTALL_BWRAP_WARNING for an installed agent that will start without bwrap; NULL
 * otherwise. Malloc'd. Looks at the filesystem and PATH only (cheap stat calls). */
char *agents_sandbox_warning(const char *id);

#endif
