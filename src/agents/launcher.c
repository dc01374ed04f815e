/* launcher.c - the text of launcher scripts, the mock's launcher, the native CLI links in
 * $BIN, and whether codex will start without bubblewrap (launcher.h). */
#include "agents/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents.h"
#include "agents/layout.h"
#include "base/base.h"

/* codex's launcher part, decided at each start: the bwrap unpacked at install goes at the
 * end of PATH (a system one, possibly setuid where user namespaces are restricted, wins);
 * with no bwrap at all, codex gets the sandbox mode that needs none (the sandbox-agent
 * normally runs inside a sandbox itself), with approval "never" so that the session starts
 * in codex-acp's "full-access" mode and says so. */
static void agents_launcher_bwrap(base_buf *b, const char *install_dir) {
    char *dir = base_xasprintf("%s/" AGENTS_INSTALL_BWRAP_DIR, install_dir);
    base_buf_appends(b, "bwrap_dir=");
    agents_sh_quote(b, dir);
    free(dir);
    base_buf_appends(b, "\nif [ -x \"$bwrap_dir/bwrap\" ]; then "
                        "PATH=\"${PATH:+$PATH:}$bwrap_dir\"; export PATH; fi\n"
                        "if ! command -v bwrap >/dev/null 2>&1; then\n  echo ");
    agents_sh_quote(b, AGENTS_INSTALL_BWRAP_WARNING);
    base_buf_appends(
        b, " >&2\n  set -- -c 'sandbox_mode=\"danger-full-access\"' -c 'approval_policy=\"never\"' "
           "\"$@\"\nfi\n");
}

char *agents_launcher_text(const char *exe, char **args, char **env, char **env_default,
                           const char *bwrap_dir) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "#!/usr/bin/env sh\nset -e\n");
    if (bwrap_dir)
        agents_launcher_bwrap(&b, bwrap_dir);
    for (char **p = env; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        base_buf_appendf(&b, "export %.*s=", (int)(eq - *p), *p);
        agents_sh_quote(&b, eq + 1);
        base_buf_append(&b, "\n", 1);
    }
    for (char **p = env_default; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        int n = (int)(eq - *p);
        base_buf_appendf(&b, "[ -n \"${%.*s:-}\" ] || export %.*s=", n, *p, n, *p);
        agents_sh_quote(&b, eq + 1);
        base_buf_append(&b, "\n", 1);
    }
    base_buf_appends(&b, "exec ");
    agents_sh_quote(&b, exe);
    for (char **p = args; p && *p; p++) {
        base_buf_append(&b, " ", 1);
        agents_sh_quote(&b, *p);
    }
    base_buf_appends(&b, " \"$@\"\n");
    return base_buf_steal(&b, NULL);
}

char *agents_link_native(const agents_builtin *bi, const char *id, const char *final_dir,
                         const char *exe_rel, const char *bin_dir, bool reinstall) {
    if (!bi->native)
        return NULL;
    char *target = !strcmp(bi->native_target, "@adapter")
                       ? base_xasprintf("%s/%s", final_dir, exe_rel)
                       : base_xasprintf("%s/%s", final_dir, bi->native_target);
    char *path = base_xasprintf("%s/%s", bin_dir, bi->native);
    struct stat st;
    char *result = NULL;
    if (stat(target, &st) != 0) {
        /* e.g. a registry package that does not bundle the CLI */
    } else if (!reinstall && lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) &&
               agents_is_exec_file(path) && !bi->native_node) {
        /* A user-provided binary: keep it. */
    } else if (base_mkdirs(bin_dir) == 0) {
        int r;
        if (bi->native_node) {
            base_buf b;
            base_buf_init(&b);
            base_buf_appends(&b, "#!/usr/bin/env sh\nexec node ");
            agents_sh_quote(&b, target);
            base_buf_appends(&b, " \"$@\"\n");
            r = base_write_file_atomic(path, b.data, b.len, 0755);
            base_buf_free(&b);
        } else {
            char *tmp = base_xasprintf("%s.tmp.%d", path, (int)getpid());
            unlink(tmp);
            r = symlink(target, tmp) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
            if (r < 0)
                unlink(tmp);
            free(tmp);
        }
        if (r == 0)
            result = base_xstrdup(path);
        else
            LOG_WARN("cannot link the native CLI", "agent=%s path=%s error=\"%s\"", id, path,
                     strerror(-r));
    }
    free(target);
    free(path);
    return result;
}

static const char agents_mock_script[] = "#!/usr/bin/env sh\n"
                                         "if [ -n \"${SANDBOX_AGENT_BIN:-}\" ]; then\n"
                                         "  exec \"$SANDBOX_AGENT_BIN\" mock-agent-process \"$@\"\n"
                                         "fi\n"
                                         "exec sandbox-agent mock-agent-process \"$@\"\n";

bool agents_is_mock_launcher(const char *path) {
    /* Only the exact script we write: a user's own agent placed there is always run. */
    char buf[sizeof agents_mock_script];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n == (ssize_t)sizeof agents_mock_script - 1 &&
           memcmp(buf, agents_mock_script, (size_t)n) == 0;
}

int agents_write_mock_launcher(char **path_out) {
    char *ap = agents_ap_dir();
    int r = base_mkdirs(ap);
    free(ap);
    if (r < 0)
        return r;
    char *path = agents_launcher_path("mock");
    r = base_write_file_atomic(path, agents_mock_script, sizeof agents_mock_script - 1, 0755);
    if (r == 0 && path_out)
        *path_out = path;
    else
        free(path);
    return r;
}

char *agents_sandbox_warning(const char *id) {
    const agents_builtin *bi = agents_builtin_of(id);
    if (!bi || !bi->bwrap || !agents_installed(id))
        return NULL;
    /* The launcher's own test: the unpacked bwrap, else one on the PATH it inherits. */
    char *ap = agents_ap_dir();
    char *mine = base_xasprintf("%s/%s/" AGENTS_INSTALL_BWRAP_DIR "/bwrap", ap, id);
    free(ap);
    bool ok = agents_is_exec_file(mine);
    free(mine);
    char *sys = ok ? NULL : agents_which("bwrap");
    ok = ok || sys;
    free(sys);
    return ok ? NULL : base_xstrdup(AGENTS_INSTALL_BWRAP_WARNING);
}
