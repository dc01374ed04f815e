/* launch.c - how to start an agent's ACP adapter: the launcher (or the adapter found on
 * PATH) and the environment it gets (agents_launch_recipe in agents.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agents/agents.h"
#include "agents/catalog.h"
#include "agents/launcher.h"
#include "agents/layout.h"
#include "base/base.h"

extern char **environ;

/* Opt-outs of phoning home, per agent; applied only when the user has not set the variable,
 * so an explicit choice in the server's environment always wins. */
static const struct {
    const char *agent;
    const char *kv;
} agents_env_defaults[] = {
    {"claude", "DISABLE_TELEMETRY=1"},        {"claude", "DISABLE_AUTOUPDATER=1"},
    {"claude", "DISABLE_ERROR_REPORTING=1"},  {"opencode", "OPENCODE_DISABLE_AUTOUPDATE=1"},
    {"opencode", "OPENCODE_DISABLE_SHARE=1"},
};

/* The server's environment, plus SANDBOX_AGENT_BIN, the agent's install dirs ahead of PATH
 * (so adapters find the CLIs installed beside them), and the opt-outs above. */
static char **agents_child_env(const char *id) {
    size_t n = 0;
    while (environ[n])
        n++;
    size_t extra = sizeof agents_env_defaults / sizeof agents_env_defaults[0] + 3;
    char **env = base_xcalloc(n + extra, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SANDBOX_AGENT_BIN=", 18) != 0 &&
            strncmp(environ[i], "PATH=", 5) != 0)
            env[k++] = base_xstrdup(environ[i]);
    env[k++] = base_xasprintf("SANDBOX_AGENT_BIN=%s", base_self_exe());
    char *bin = agents_bin_dir(), *ap = agents_ap_dir();
    const char *path = getenv("PATH");
    env[k++] = base_xasprintf("PATH=%s/%s/node_modules/.bin:%s%s%s", ap, id, bin,
                              path && *path ? ":" : "", path ? path : "");
    free(bin);
    free(ap);
    for (size_t i = 0; i < sizeof agents_env_defaults / sizeof agents_env_defaults[0]; i++) {
        if (strcmp(agents_env_defaults[i].agent, id) != 0)
            continue;
        const char *kv = agents_env_defaults[i].kv;
        char name[64];
        size_t nl = (size_t)(strchr(kv, '=') - kv);
        snprintf(name, sizeof name, "%.*s", (int)nl, kv);
        if (!getenv(name))
            env[k++] = base_xstrdup(kv);
    }
    env[k] = NULL;
    return env;
}

static char **agents_argv(const char *a0, const char *a1) {
    char **v = base_xcalloc(3, sizeof(char *));
    v[0] = base_xstrdup(a0);
    if (a1)
        v[1] = base_xstrdup(a1);
    return v;
}

int agents_launch_recipe(const char *id, agents_launch *out) {
    memset(out, 0, sizeof *out);
    if (!agents_known(id))
        return -1;
    const char *hint = agents_hint(id);
    if (!hint) {
        /* Same path as real agents: the launcher script execs this very binary. A file
         * already there is run as it is, never rewritten: users plug in their own ACP agent
         * (a test double, say) by placing it at the launcher path (docs/agents.md). If the
         * data dir is not writable we still run the mock, directly. */
        char *path = agents_launcher_path(id);
        struct stat st;
        bool exists = lstat(path, &st) == 0;
        bool ours =
            exists && S_ISREG(st.st_mode) && (st.st_mode & 0111) && agents_is_mock_launcher(path);
        if (exists && !ours) {
            out->file = path;
            out->argv = agents_argv(path, NULL);
            out->env = agents_child_env(id);
            return 0;
        }
        /* Our own launcher only execs this binary (SANDBOX_AGENT_BIN): run that directly,
         * without going through env and sh, which cost more than the mock itself. A missing
         * one is written first, for users to see and replace (if the data dir is writable). */
        free(path);
        path = NULL;
        if (!exists && agents_write_mock_launcher(&path) == 0)
            free(path);
        out->file = base_xstrdup(base_self_exe());
        out->argv = agents_argv(out->file, "mock-agent-process");
        out->env = agents_child_env(id);
        return 0;
    }
    if (!agents_installed(id))
        return -1;
    char *launcher = agents_launcher_path(id);
    if (agents_is_exec_file(launcher)) {
        out->file = launcher;
        out->argv = agents_argv(launcher, NULL);
    } else {
        free(launcher);
        out->file = agents_which(hint);
        if (!out->file)
            return -1;
        out->argv = agents_argv(out->file, !strcmp(id, "opencode") ? "acp" : NULL);
    }
    out->env = agents_child_env(id);
    return 0;
}

void agents_launch_free(agents_launch *l) {
    free(l->file);
    for (char **p = l->argv; p && *p; p++)
        free(*p);
    free(l->argv);
    for (char **p = l->env; p && *p; p++)
        free(*p);
    free(l->env);
    memset(l, 0, sizeof *l);
}
