/* recipes.h - internal to src/agents/: what to install for an agent, as pure data. Layer 3
 * (catalog.h lists the order).
 *
 * No libuv, no file I/O: the built-in table, recipes from that table or from an ACP
 * registry document (agents.md §2.3), and the string helpers that build argument lists
 * and launcher scripts. The only outside input read here is the environment variables
 * that override an archive's URL and checksum (agents_builtin.url_env, .sha_env). Unit
 * tested in tests/unit/test_agents.c. */
#ifndef AGENTS_RECIPES_H
#define AGENTS_RECIPES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/base.h"

/* One built-in install recipe. Static data (agents_builtin_of); never freed.
 * Versions were chosen because they work on this kind of machine (agents.md §4, §8): the
 * reference's pins for codex (0.1.0) and cursor (0.1.0) do not exist on npm, and claude's
 * 0.20.0 starts Claude Code with an empty environment. */
typedef struct agents_builtin {
    const char *id;
    const char *registry_id; /* entry looked up in an ACP registry document */
    /* npm (package != NULL) */
    const char *package;
    const char *pinned;
    const char *companion; /* second package providing the native CLI, or NULL */
    const char *companion_pinned;
    const char *bin; /* node_modules/.bin/<bin> is the adapter */
    /* release archive (package == NULL) */
    const char *url_env, *sha_env;
    const char *default_url; /* {version}, {platform} (linux-x86_64) and {arch} (x64) expand */
    const char *default_version;
    const char *sha_x86_64, *sha_aarch64; /* of the default archive at the default version */
    const char *cmd;                      /* adapter inside the archive */
    const char *arg;                      /* one launcher argument, or NULL */
    /* native CLI offered as $BIN/<native>: a symlink to native_target (relative to
     * $AP/<id>; "@adapter" = the adapter itself), or for native_node a script running it
     * with node */
    const char *native;
    const char *native_target;
    bool native_node;
    /* the version option that selects the native CLI rather than the adapter */
    bool native_versioned;
    /* codex: its shell tool runs under bubblewrap, so the install provides a `bwrap` too */
    bool bwrap;
} agents_builtin;

/* The built-in recipe of an installable agent; NULL for the mock and unknown ids. */
const agents_builtin *agents_builtin_of(const char *id);

/* The resolved plan for one install. Owner: whoever filled it (an install job);
 * agents_recipe_free releases the strings, not the struct. */
typedef struct agents_recipe {
    const char *source; /* "fallback" (built-in table) or "registry"; static */
    char *version;      /* adapter version reported in the artifact; may be NULL */
    char **packages;    /* npm specs, NULL-terminated; NULL for archives */
    char *bin;          /* npm: node_modules/.bin/<bin> */
    char *url;          /* archive */
    char *sha256;       /* archive checksum (hex) or NULL */
    char *cmd;          /* archive: executable inside it */
    char **args;        /* launcher arguments */
    char **env;         /* KEY=VALUE exported by the launcher */
    char **env_default; /* KEY=VALUE exported only when the variable is unset */
} agents_recipe;

/* What the caller asks for. Borrowed for the call. */
typedef struct agents_recipe_ask {
    const char *agent_version;   /* native CLI version; NULL = pinned */
    const char *process_version; /* adapter version; NULL = pinned */
    const char *platform, *arch; /* from agents_recipe_platform */
    const char *bin_dir;         /* $BIN: launcher defaults name the native CLI in it */
} agents_recipe_ask;

void agents_recipe_free(agents_recipe *r);
/* Fill r (zeroed by the caller) from the built-in table. Returns NULL or a failure reason
 * (malloc'd; the built-in table itself never fails today). */
char *agents_recipe_builtin(const agents_builtin *bi, const agents_recipe_ask *ask,
                            agents_recipe *r);
/* Fill r from an ACP registry document: the agent's entry with an npx distribution, or a
 * binary one for ask->platform; without either, the built-in recipe. A document with no
 * "agents" array fails (malloc'd reason). */
char *agents_recipe_registry(const agents_builtin *bi, json_t *doc, const agents_recipe_ask *ask,
                             agents_recipe *r);

/* Replace {version}, {platform} and {arch} in tmpl; other braces stay. Malloc'd. */
char *agents_recipe_expand(const char *tmpl, const char *version, const char *platform,
                           const char *arch);
/* A uname machine name as release archives name it ("x86_64" -> "linux-x86_64", "x64").
 * False when unsupported. The strings are static. */
bool agents_recipe_platform(const char *machine, const char **platform, const char **arch);

/* Append s single-quoted for sh: ' becomes '\''. */
void agents_sh_quote(base_buf *b, const char *s);
/* The n bytes are a portable environment variable name ([A-Za-z_][A-Za-z0-9_]*). */
bool agents_env_name_ok(const char *s, size_t n);

/* NULL-terminated malloc'd string vectors; NULL is the empty vector. */
void agents_strv_push(char ***v, const char *s);
void agents_strv_free(char **v);

#endif
