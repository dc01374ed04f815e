/* meta_disk.c - the blocking readers behind /vcs, /project, /mcp, /skill and the `mcp` of
 * /config: a repository's HEAD read from its files (no git process), and the directory's
 * MCP and skills config (src/config) turned into OpenCode's shapes. Thread pool only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "opencode/meta_internal.h"

/* SKILL.md files larger than this are skipped (real ones are a few KiB). */
#define OPENCODE_SKILL_MAX_BYTES ((size_t)1 << 20)
/* Subdirectories looked at per skills source without an explicit list. */
#define OPENCODE_SKILL_MAX_SCAN 1000

/* ---- small files --------------------------------------------------------------------------- */

/* A regular file of at most max bytes, NUL-terminated; *len gets its length. NULL when it
 * is missing, not a regular file (O_NONBLOCK: a FIFO does not block us), or larger. */
static char *opencode_read_file(const char *path, size_t max, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max) {
        buf = base_xmalloc((size_t)st.st_size + 1);
        size_t n = 0;
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = 0;
        if (len)
            *len = n;
    }
    close(fd);
    return buf;
}

/* The first line of a small file with trailing blanks cut; NULL when unreadable. */
static char *opencode_read_line(const char *path) {
    char *s = opencode_read_file(path, 4096, NULL);
    if (s) {
        s[strcspn(s, "\r\n")] = 0;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = 0;
    }
    return s;
}

/* base joined with rel, or rel itself when it is absolute. Caller frees. */
static char *opencode_join(const char *base, const char *rel) {
    if (rel[0] == '/')
        return base_xstrdup(rel);
    const char *sep = *base && base[strlen(base) - 1] == '/' ? "" : "/";
    return base_xasprintf("%s%s%s", base, sep, rel);
}

/* ---- git ----------------------------------------------------------------------------------- */

void opencode_git_free(opencode_git_info *g) {
    free(g->root);
    free(g->branch);
    free(g->default_branch);
    memset(g, 0, sizeof *g);
}

/* The git directory for the work tree at root: <root>/.git itself, or where a .git file
 * points ("gitdir: <path>"). NULL when root has no .git. */
static char *opencode_git_dir(const char *root) {
    char *dotgit = opencode_join(root, ".git");
    struct stat st;
    if (stat(dotgit, &st) != 0) {
        free(dotgit);
        return NULL;
    }
    if (S_ISDIR(st.st_mode))
        return dotgit;
    char *line = S_ISREG(st.st_mode) ? opencode_read_line(dotgit) : NULL;
    free(dotgit);
    char *gd = NULL;
    if (line && !strncmp(line, "gitdir: ", 8) && line[8])
        gd = opencode_join(root, line + 8);
    free(line);
    return gd;
}

bool opencode_git_read(const char *dir, opencode_git_info *out) {
    memset(out, 0, sizeof out[0]);
    char *cur;
    if (dir[0] == '/') {
        cur = base_xstrdup(dir);
    } else {
        char *cwd = getcwd(NULL, 0);
        cur = opencode_join(cwd ? cwd : "/", dir);
        free(cwd);
    }
    char *gitdir = NULL;
    for (;;) {
        size_t n = strlen(cur);
        while (n > 1 && cur[n - 1] == '/')
            cur[--n] = 0;
        if ((gitdir = opencode_git_dir(cur)))
            break;
        char *slash = strrchr(cur, '/');
        if (!slash || n <= 1)
            break;
        slash[slash == cur ? 1 : 0] = 0; /* parent; "/x" -> "/" */
    }
    if (!gitdir) {
        free(cur);
        return false;
    }
    out->root = cur;
    char *head_path = opencode_join(gitdir, "HEAD");
    char *head = opencode_read_line(head_path);
    free(head_path);
    if (head && !strncmp(head, "ref: refs/heads/", 16) && head[16])
        out->branch = base_xstrdup(head + 16);
    else if (head && *head)
        out->branch = base_xstrdup("HEAD"); /* detached, as `git rev-parse --abbrev-ref` */
    free(head);
    /* Linked work trees keep refs in the common directory. */
    char *cd_path = opencode_join(gitdir, "commondir");
    char *cd = opencode_read_line(cd_path);
    free(cd_path);
    char *common = cd && *cd ? opencode_join(gitdir, cd) : base_xstrdup(gitdir);
    free(cd);
    char *origin_path = opencode_join(common, "refs/remotes/origin/HEAD");
    char *origin = opencode_read_line(origin_path);
    free(origin_path);
    if (origin && !strncmp(origin, "ref: refs/remotes/origin/", 25) && origin[25])
        out->default_branch = base_xstrdup(origin + 25);
    free(origin);
    free(common);
    free(gitdir);
    return true;
}

/* ---- MCP ------------------------------------------------------------------------------------ */

/* Nothing in this server connects MCP servers: the config is for agents, so an enabled entry
 * cannot honestly be "connected". */
json_t *opencode_mcp_status(const char *dir, char *err, size_t cap) {
    char *path = NULL;
    json_t *map = config_load(dir, false, &path, err, cap);
    json_t *out = map ? json_object() : NULL;
    const char *name;
    json_t *e;
    json_object_foreach(map, name, e) {
        if (json_is_false(json_object_get(e, "enabled"))) {
            json_object_set_new(out, name, json_pack("{s:s}", "status", "disabled"));
            continue;
        }
        char *m = base_xasprintf("not connected: sandbox-agent does not run MCP servers itself "
                                 "(entry of %s)",
                                 path);
        json_object_set_new(out, name, json_pack("{s:s,s:s}", "status", "failed", "error", m));
        free(m);
    }
    json_decref(map);
    free(path);
    return out;
}

/* One McpServerConfig (http-api.md §8.2) as an OpenCode config entry: local servers take
 * the command line as one array and `environment`; both kinds take `timeout`. */
static json_t *opencode_mcp_entry(json_t *e) {
    const char *type = json_string_value(json_object_get(e, "type"));
    json_t *o = json_object();
    if (type && !strcmp(type, "local")) {
        json_t *cmd = json_array();
        json_array_append(cmd, json_object_get(e, "command"));
        json_array_extend(cmd, json_object_get(e, "args"));
        json_object_set_new(o, "type", json_string("local"));
        json_object_set_new(o, "command", cmd);
        if (json_object_get(e, "env"))
            json_object_set(o, "environment", json_object_get(e, "env"));
    } else {
        json_object_set_new(o, "type", json_string("remote"));
        json_object_set(o, "url", json_object_get(e, "url"));
        if (json_object_get(e, "headers"))
            json_object_set(o, "headers", json_object_get(e, "headers"));
        if (json_object_get(e, "oauth"))
            json_object_set(o, "oauth", json_object_get(e, "oauth"));
    }
    if (json_object_get(e, "enabled"))
        json_object_set(o, "enabled", json_object_get(e, "enabled"));
    if (json_object_get(e, "timeoutMs"))
        json_object_set(o, "timeout", json_object_get(e, "timeoutMs"));
    return o;
}

json_t *opencode_mcp_config(const char *dir, char *err, size_t cap) {
    json_t *map = config_load(dir, false, NULL, err, cap);
    json_t *out = map ? json_object() : NULL;
    const char *name;
    json_t *e;
    json_object_foreach(map, name, e) json_object_set_new(out, name, opencode_mcp_entry(e));
    json_decref(map);
    return out;
}

/* ---- skills --------------------------------------------------------------------------------- */

/* A front-matter value ("key: value", quotes removed) from the text between the leading
 * "---" lines of a SKILL.md. NULL when absent. Caller frees. */
static char *opencode_front_matter(const char *text, const char *key) {
    if (strncmp(text, "---", 3) != 0)
        return NULL;
    const char *p = strchr(text, '\n');
    size_t klen = strlen(key);
    while (p && p[1]) {
        p++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= 3 && !strncmp(p, "---", 3))
            break;
        if (len > klen && !strncmp(p, key, klen) && p[klen] == ':') {
            const char *v = p + klen + 1;
            size_t vlen = len - klen - 1;
            v = base_trim(v, &vlen);
            if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                v++;
                vlen -= 2;
            }
            return vlen ? base_xstrndup(v, vlen) : NULL;
        }
        p = eol;
    }
    return NULL;
}

/* Adds the skill at <base>/<name>/SKILL.md (name NULL: <base>/SKILL.md) when it is a
 * readable UTF-8 file. */
static void opencode_skill_add(json_t *out, const char *base, const char *name) {
    char *path =
        name ? base_xasprintf("%s/%s/SKILL.md", base, name) : base_xasprintf("%s/SKILL.md", base);
    size_t len = 0;
    char *text = opencode_read_file(path, OPENCODE_SKILL_MAX_BYTES, &len);
    if (text && base_utf8_valid(text, len)) {
        char *fm_name = opencode_front_matter(text, "name");
        char *desc = opencode_front_matter(text, "description");
        const char *slash = strrchr(base, '/');
        const char *fallback = name ? name : slash && slash[1] ? slash + 1 : base;
        json_t *s = json_pack("{s:s,s:s,s:s}", "name", fm_name ? fm_name : fallback, "location",
                              path, "content", text);
        if (desc && base_utf8_valid(desc, strlen(desc)))
            json_object_set_new(s, "description", json_string(desc));
        if (s && json_is_string(json_object_get(s, "name")))
            json_array_append_new(out, s);
        else
            json_decref(s);
        free(fm_name);
        free(desc);
    }
    free(text);
    free(path);
}

static int opencode_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every <base>/<sub>/SKILL.md, subdirectories in name order, then <base>/SKILL.md itself. */
static void opencode_skill_scan(json_t *out, const char *base) {
    DIR *d = opendir(base);
    if (d) {
        char *names[OPENCODE_SKILL_MAX_SCAN];
        size_t n = 0;
        struct dirent *de;
        while (n < OPENCODE_SKILL_MAX_SCAN && (de = readdir(d)))
            if (de->d_name[0] != '.')
                names[n++] = base_xstrdup(de->d_name);
        closedir(d);
        qsort(names, n, sizeof names[0], opencode_cmp_str);
        for (size_t i = 0; i < n; i++) {
            opencode_skill_add(out, base, names[i]);
            free(names[i]);
        }
    }
    opencode_skill_add(out, base, NULL);
}

/* Only `local` sources can be read here: github and git sources would have to be fetched,
 * which this server never does, so their skills are not listed. */
json_t *opencode_skills(const char *dir, char *err, size_t cap) {
    json_t *map = config_load(dir, true, NULL, err, cap);
    if (!map)
        return NULL;
    json_t *out = json_array();
    const char *entry;
    json_t *e;
    json_object_foreach(map, entry, e) {
        size_t i;
        json_t *src;
        json_array_foreach(json_object_get(e, "sources"), i, src) {
            const char *type = json_string_value(json_object_get(src, "type"));
            const char *source = json_string_value(json_object_get(src, "source"));
            const char *sub = json_string_value(json_object_get(src, "subpath"));
            if (!type || strcmp(type, "local") != 0 || !source || !*source)
                continue;
            char *root = opencode_join(*dir ? dir : ".", source);
            char *base = sub && *sub ? opencode_join(root, sub) : base_xstrdup(root);
            json_t *names = json_object_get(src, "skills");
            if (json_array_size(names)) {
                size_t k;
                json_t *nm;
                json_array_foreach(names, k, nm) {
                    const char *s = json_string_value(nm);
                    if (s && *s && !strchr(s, '/'))
                        opencode_skill_add(out, base, s);
                }
            } else {
                opencode_skill_scan(out, base);
            }
            free(base);
            free(root);
        }
    }
    json_decref(map);
    return out;
}
