/* layout.c - paths of installed agents, executable lookup, and install state (layout.h). */
#include "agents/layout.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents.h"
#include "agents/catalog.h"
#include "base/base.h"

char *agents_bin_dir(void) {
    return base_xasprintf("%s/bin", base_data_dir());
}

char *agents_ap_dir(void) {
    return base_xasprintf("%s/bin/agent_processes", base_data_dir());
}

bool agents_is_exec_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

char *agents_which(const char *name) {
    const char *path = getenv("PATH");
    if (!path || !name)
        return NULL;
    char *copy = base_xstrdup(path), *save = NULL;
    char *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = base_xasprintf("%s/%s", *dir ? dir : ".", name);
        if (agents_is_exec_file(cand)) {
            found = cand;
            break;
        }
        free(cand);
    }
    free(copy);
    return found;
}

char *agents_native_path(const char *id) {
    const char *native = agents_native_name(id);
    if (!native)
        return NULL;
    char *bin = agents_bin_dir();
    char *p = base_xasprintf("%s/%s", bin, native);
    free(bin);
    if (agents_is_exec_file(p))
        return p;
    free(p);
    return agents_which(native);
}

char *agents_launcher_path(const char *id) {
    char *ap = agents_ap_dir();
    char *p = base_xasprintf("%s/%s-acp", ap, id);
    free(ap);
    return p;
}

bool agents_installed(const char *id) {
    if (!agents_known(id))
        return false;
    const char *hint = agents_hint(id);
    if (!hint)
        return true; /* the mock is built in and materialised on demand */
    char *l = agents_launcher_path(id);
    bool ok = agents_is_exec_file(l);
    free(l);
    if (ok)
        return true;
    char *w = agents_which(hint);
    ok = w != NULL;
    free(w);
    return ok;
}

char *agents_manifest_version(const char *id) {
    char *ap = agents_ap_dir();
    char *p = base_xasprintf("%s/%s/%s", ap, id, AGENTS_MANIFEST);
    free(ap);
    json_error_t e;
    json_t *m = json_load_file(p, 0, &e);
    free(p);
    const char *v = json_string_value(json_object_get(m, "version"));
    char *r = v ? base_xstrdup(v) : NULL;
    json_decref(m);
    return r;
}
