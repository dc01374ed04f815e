/* recipes.c - the built-in install recipes, ACP registry documents, and the string helpers
 * for argument lists and launcher scripts (recipes.h). Pure: no libuv, no file I/O. */
#include "agents/recipes.h"

#include <stdlib.h>
#include <string.h>

static const agents_builtin agents_builtins[] = {
    {.id = "claude",
     .registry_id = "claude-acp",
     .package = "@zed-industries/claude-agent-acp",
     .pinned = "0.23.1",
     .bin = "claude-agent-acp",
     /* The adapter bundles Claude Code; expose it as `claude` for --version and users. */
     .native = "claude",
     .native_target = "node_modules/@anthropic-ai/claude-agent-sdk/cli.js",
     .native_node = true},
    {.id = "codex",
     .registry_id = "codex-acp",
     .package = "@zed-industries/codex-acp",
     .pinned = "0.16.0",
     .bin = "codex-acp",
     .bwrap = true},
    {.id = "opencode",
     .registry_id = "opencode",
     .package = "opencode-ai",
     .pinned = "1.18.33",
     .bin = "opencode",
     .arg = "acp",
     .native = "opencode",
     .native_target = "node_modules/.bin/opencode",
     .native_versioned = true},
    {.id = "amp",
     .registry_id = "amp-acp",
     .url_env = "SANDBOX_AGENT_AMP_ACP_URL",
     .sha_env = "SANDBOX_AGENT_AMP_ACP_SHA256",
     .default_url = "https://github.com/tao12345666333/amp-acp/releases/download/v{version}/"
                    "amp-acp-{platform}.tar.gz",
     .default_version = "0.9.0",
     .sha_x86_64 = "afaa50a152eb86a8ff21e354ded63fe2d21b730859692e3a60b2c4c9ef23df31",
     .sha_aarch64 = "b9e365221838b1a6e177c2fcd8f25a30086c3630e0330f1f6f74b25d2d4126c2",
     .cmd = "amp-acp"},
    {.id = "pi",
     .registry_id = "pi-acp",
     .package = "pi-acp",
     .pinned = "0.0.23",
     .companion = "@mariozechner/pi-coding-agent",
     .companion_pinned = "0.73.1",
     .bin = "pi-acp",
     .native = "pi",
     .native_target = "node_modules/.bin/pi"},
    {.id = "cursor",
     .registry_id = "cursor-agent-acp",
     .url_env = "SANDBOX_AGENT_CURSOR_AGENT_URL",
     .sha_env = "SANDBOX_AGENT_CURSOR_AGENT_SHA256",
     .default_url =
         "https://downloads.cursor.com/lab/{version}/linux/{arch}/agent-cli-package.tar.gz",
     .default_version = "2026.10.01-e373342",
     .cmd = "dist-package/cursor-agent",
     .arg = "acp",
     .native = "cursor-agent",
     .native_target = "@adapter",
     .native_versioned = true},
};

const agents_builtin *agents_builtin_of(const char *id) {
    for (size_t i = 0; id && i < sizeof agents_builtins / sizeof agents_builtins[0]; i++)
        if (!strcmp(agents_builtins[i].id, id))
            return &agents_builtins[i];
    return NULL;
}

/* ---- string helpers ------------------------------------------------------------------------ */

void agents_strv_free(char **v) {
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void agents_strv_push(char ***v, const char *s) {
    size_t n = 0;
    while (*v && (*v)[n])
        n++;
    *v = base_xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = base_xstrdup(s);
    (*v)[n + 1] = NULL;
}

char *agents_recipe_expand(const char *tmpl, const char *version, const char *platform,
                           const char *arch) {
    base_buf b;
    base_buf_init(&b);
    const char *keys[] = {"{version}", "{platform}", "{arch}"};
    const char *vals[] = {version ? version : "", platform, arch};
    for (const char *p = tmpl; *p;) {
        size_t k = 0;
        for (; k < 3; k++)
            if (!strncmp(p, keys[k], strlen(keys[k])))
                break;
        if (k < 3) {
            base_buf_appends(&b, vals[k]);
            p += strlen(keys[k]);
        } else {
            base_buf_append(&b, p++, 1);
        }
    }
    return base_buf_steal(&b, NULL);
}

bool agents_recipe_platform(const char *machine, const char **platform, const char **arch) {
    if (!strcmp(machine, "x86_64") || !strcmp(machine, "amd64")) {
        *platform = "linux-x86_64";
        *arch = "x64";
        return true;
    }
    if (!strcmp(machine, "aarch64") || !strcmp(machine, "arm64")) {
        *platform = "linux-aarch64";
        *arch = "arm64";
        return true;
    }
    return false;
}

void agents_sh_quote(base_buf *b, const char *s) {
    base_buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            base_buf_appends(b, "'\\''");
        else
            base_buf_append(b, s, 1);
    }
    base_buf_append(b, "'", 1);
}

bool agents_env_name_ok(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* ---- recipes ------------------------------------------------------------------------------- */

void agents_recipe_free(agents_recipe *r) {
    free(r->version);
    agents_strv_free(r->packages);
    free(r->bin);
    free(r->url);
    free(r->sha256);
    free(r->cmd);
    agents_strv_free(r->args);
    agents_strv_free(r->env);
    agents_strv_free(r->env_default);
    memset(r, 0, sizeof *r);
}

/* Index of the '@' that starts a version in an npm spec ("@scope/name@1.2"), or 0. */
static size_t agents_recipe_spec_at(const char *spec) {
    const char *at = strrchr(spec, '@');
    return at && at != spec ? (size_t)(at - spec) : 0;
}

/* Companion packages and launcher defaults that belong to an agent whatever the adapter's
 * source (pi-acp needs `pi`, which it finds through PI_ACP_PI_COMMAND). */
static void agents_recipe_extras(const agents_builtin *bi, const agents_recipe_ask *ask,
                                 agents_recipe *r) {
    if (bi->companion && r->packages) {
        char *spec = base_xasprintf("%s@%s", bi->companion,
                                    ask->agent_version ? ask->agent_version : bi->companion_pinned);
        agents_strv_push(&r->packages, spec);
        free(spec);
    }
    if (!strcmp(bi->id, "pi")) {
        char *kv = base_xasprintf("PI_ACP_PI_COMMAND=%s/pi", ask->bin_dir);
        agents_strv_push(&r->env_default, kv);
        free(kv);
    }
}

char *agents_recipe_builtin(const agents_builtin *bi, const agents_recipe_ask *ask,
                            agents_recipe *r) {
    r->source = "fallback";
    const char *want =
        bi->native_versioned && ask->agent_version ? ask->agent_version : ask->process_version;
    if (bi->package) {
        const char *v = want ? want : bi->pinned;
        char *spec = base_xasprintf("%s@%s", bi->package, v);
        agents_strv_push(&r->packages, spec);
        free(spec);
        r->version = base_xstrdup(v);
        r->bin = base_xstrdup(bi->bin);
    } else {
        const char *v = want ? want : bi->default_version;
        const char *over = getenv(bi->url_env);
        bool custom = over && *over;
        r->url = agents_recipe_expand(custom ? over : bi->default_url, v, ask->platform, ask->arch);
        const char *sha = getenv(bi->sha_env);
        const char *known = !strcmp(ask->arch, "x64") ? bi->sha_x86_64 : bi->sha_aarch64;
        if (sha && *sha)
            r->sha256 = base_xstrdup(sha);
        else if (!custom && !want && known) /* the default archive has a published checksum */
            r->sha256 = base_xstrdup(known);
        r->cmd = base_xstrdup(bi->cmd);
        r->version = base_xstrdup(v);
    }
    if (bi->arg)
        agents_strv_push(&r->args, bi->arg);
    agents_recipe_extras(bi, ask, r);
    return NULL;
}

static void agents_recipe_json_strv(json_t *arr, char ***out) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v))
            agents_strv_push(out, json_string_value(v));
    }
}

static void agents_recipe_json_env(json_t *obj, char ***out) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v) || !agents_env_name_ok(k, strlen(k)))
            continue;
        char *kv = base_xasprintf("%s=%s", k, json_string_value(v));
        agents_strv_push(out, kv);
        free(kv);
    }
}

char *agents_recipe_registry(const agents_builtin *bi, json_t *doc, const agents_recipe_ask *ask,
                             agents_recipe *r) {
    json_t *agents = json_object_get(doc, "agents");
    if (!json_is_array(agents))
        return base_xstrdup("the ACP registry document has no \"agents\" array");
    json_t *entry = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a) {
        if (json_is_string(json_object_get(a, "id")) &&
            !strcmp(json_string_value(json_object_get(a, "id")), bi->registry_id)) {
            entry = a;
            break;
        }
    }
    const char *process_version = ask->process_version;
    json_t *dist = json_object_get(entry, "distribution");
    json_t *npx = json_object_get(dist, "npx");
    json_t *bin = json_object_get(json_object_get(dist, "binary"), ask->platform);
    const char *entry_version = json_string_value(json_object_get(entry, "version"));
    if (json_is_string(json_object_get(npx, "package"))) {
        const char *pkg = json_string_value(json_object_get(npx, "package"));
        size_t at = agents_recipe_spec_at(pkg);
        char *spec = process_version ? base_xasprintf("%.*s@%s", (int)(at ? at : strlen(pkg)), pkg,
                                                      process_version)
                                     : base_xstrdup(pkg);
        agents_strv_push(&r->packages, spec);
        free(spec);
        r->source = "registry";
        r->bin = base_xstrdup(bi->package ? bi->bin : bi->registry_id);
        const char *v = process_version ? process_version
                        : entry_version ? entry_version
                        : at            ? pkg + at + 1
                                        : NULL;
        r->version = v ? base_xstrdup(v) : NULL;
        agents_recipe_json_strv(json_object_get(npx, "args"), &r->args);
        agents_recipe_json_env(json_object_get(npx, "env"), &r->env);
    } else if (json_is_string(json_object_get(bin, "archive")) &&
               json_is_string(json_object_get(bin, "cmd"))) {
        r->source = "registry";
        r->url = base_xstrdup(json_string_value(json_object_get(bin, "archive")));
        r->cmd = base_xstrdup(json_string_value(json_object_get(bin, "cmd")));
        const char *sha = json_string_value(json_object_get(bin, "sha256"));
        r->sha256 = sha ? base_xstrdup(sha) : NULL;
        const char *v = process_version ? process_version : entry_version;
        r->version = v ? base_xstrdup(v) : NULL;
        agents_recipe_json_strv(json_object_get(bin, "args"), &r->args);
        agents_recipe_json_env(json_object_get(bin, "env"), &r->env);
    } else {
        return agents_recipe_builtin(bi, ask, r);
    }
    agents_recipe_extras(bi, ask, r);
    return NULL;
}
