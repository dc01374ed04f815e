/* install.c - installing agents (npm packages and release archives) as asynchronous jobs,
 * and probing installed agents' versions. See install.h for the guarantees.
 *
 * One job walks these steps, each bounded in time, failing into a cleanup step:
 *   queue (one job per agent at a time in this process)
 *   -> lock ($AP/.<id>.lock, flock; polled so that other processes serialise too)
 *   -> check (already installed?) -> remove leftovers of crashed installs
 *   -> recipe (built-in table, or the ACP registry document when one is configured)
 *   -> fetch into $AP/.tmp-<id>-<rand> (npm install --prefix, or download + unpack)
 *   -> verify (`<adapter> [args] --help` must exit 0)
 *   -> commit (rename into $AP/<id>, write the launcher $AP/<id>-acp and $BIN/<native>)
 *   -> probe the version -> remove the replaced install.
 * Nothing under $AP/<id> or $AP/<id>-acp changes before commit, so a failure or a kill at
 * any earlier point leaves the previous state intact (leftover temp dirs are removed by the
 * next install of that agent). */
#include "base/larchive.h"
#include "agents/install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agents/agents.h"
#include "base/base.h"
#include "proc/proc.h"

#define INSTALL_KEEP_BYTES 65536 /* output kept per step; older bytes are dropped */
#define INSTALL_TAIL_BYTES 4096  /* output reported with a failure */
#define INSTALL_TAIL_LINES 40
#define INSTALL_LOCK_POLL_MS 200
#define INSTALL_CLEANUP_MS 120000
#define INSTALL_TERM_GRACE_MS 2000
#define INSTALL_MANIFEST ".sandbox-agent-install.json"

/* ---- built-in recipes ------------------------------------------------------------------------
 * Versions were chosen because they work on this kind of machine (agents.md §4, §8): the
 * reference's pins for codex (0.1.0) and cursor (0.1.0) do not exist on npm, and claude's
 * 0.20.0 starts Claude Code with an empty environment. */
typedef struct agents_install_builtin {
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
} agents_install_builtin;

static const agents_install_builtin agents_install_builtins[] = {
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

static const agents_install_builtin *agents_install_builtin_of(const char *id) {
    for (size_t i = 0; i < sizeof agents_install_builtins / sizeof agents_install_builtins[0]; i++)
        if (!strcmp(agents_install_builtins[i].id, id))
            return &agents_install_builtins[i];
    return NULL;
}

/* ---- small helpers ----------------------------------------------------------------------------
 */

static uint64_t agents_install_step_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_TIMEOUT_MS", 600000, 100, INT32_MAX);
}

static uint64_t agents_install_verify_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_VERIFY_TIMEOUT_MS", 60000, 100, INT32_MAX);
}

static uint64_t agents_install_lock_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_LOCK_TIMEOUT_MS", 1800000, 100, INT32_MAX);
}

static uint64_t agents_install_probe_ms(void) {
    /* Node CLIs load a lot of code for --version (pi takes ~1 s idle); be generous. */
    return (uint64_t)base_env_int("SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS", 20000, 100, INT32_MAX);
}

bool agents_install_preinstall_required(void) {
    const char *v = getenv("SANDBOX_AGENT_REQUIRE_PREINSTALL");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

static void agents_install_strv_free(char **v) {
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static void agents_install_strv_push(char ***v, const char *s) {
    size_t n = 0;
    while (*v && (*v)[n])
        n++;
    *v = base_xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = base_xstrdup(s);
    (*v)[n + 1] = NULL;
}

/* Replace every {key} in tmpl; unknown keys stay as they are. Caller frees. */
static char *agents_install_expand(const char *tmpl, const char *version, const char *platform,
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

/* The running machine's CPU, as release archives name it. False when unsupported. */
static bool agents_install_platform(const char **platform, const char **arch) {
    struct utsname u;
    if (uname(&u) != 0)
        return false;
    if (!strcmp(u.machine, "x86_64") || !strcmp(u.machine, "amd64")) {
        *platform = "linux-x86_64";
        *arch = "x64";
        return true;
    }
    if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64")) {
        *platform = "linux-aarch64";
        *arch = "arm64";
        return true;
    }
    return false;
}

/* Single-quote for sh: ' becomes '\''. */
static void agents_install_sh_quote(base_buf *b, const char *s) {
    base_buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            base_buf_appends(b, "'\\''");
        else
            base_buf_append(b, s, 1);
    }
    base_buf_append(b, "'", 1);
}

static bool agents_install_env_name_ok(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}


/* Last lines of a step's output as valid UTF-8 (invalid bytes become '?'). Caller frees. */
static char *agents_install_tail(const base_buf *out) {
    size_t len = out->len;
    const char *s = out->data ? out->data : "";
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    size_t start = len > INSTALL_TAIL_BYTES ? len - INSTALL_TAIL_BYTES : 0;
    int lines = 0;
    for (size_t i = len; i > start; i--) {
        if (s[i - 1] == '\n' && ++lines >= INSTALL_TAIL_LINES) {
            start = i;
            break;
        }
    }
    base_buf b;
    base_buf_init(&b);
    for (size_t i = start; i < len;) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xC0)
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + n <= len && base_utf8_valid(s + i, n)) {
            base_buf_append(&b, s + i, n);
            i += n;
        } else {
            base_buf_append(&b, c == '\t' ? "\t" : "?", 1);
            i++;
        }
    }
    base_buf_append(&b, "", 0);
    char *r = base_buf_steal(&b, NULL);
    return r ? r : base_xstrdup("");
}

/* Version recorded in $AP/<id>/.sandbox-agent-install.json, or NULL. Caller frees. */
static char *agents_install_manifest_version(const char *id) {
    char *ap = agents_ap_dir();
    char *p = base_xasprintf("%s/%s/%s", ap, id, INSTALL_MANIFEST);
    free(ap);
    json_error_t e;
    json_t *m = json_load_file(p, 0, &e);
    free(p);
    const char *v = json_string_value(json_object_get(m, "version"));
    char *r = v ? base_xstrdup(v) : NULL;
    json_decref(m);
    return r;
}

/* ---- recipes --------------------------------------------------------------------------------- */

/* The resolved plan for one install. Owner: its job (agents_install_recipe_free). */
typedef struct agents_install_recipe {
    const char *source; /* "fallback" (built-in table) or "registry" */
    char *version;      /* adapter version reported in the artifact; may be NULL */
    char **packages;    /* npm specs, NULL-terminated; NULL for archives */
    char *bin;          /* npm: node_modules/.bin/<bin> */
    char *url;          /* archive */
    char *sha256;       /* archive checksum (hex) or NULL */
    char *cmd;          /* archive: executable inside it */
    char **args;        /* launcher arguments */
    char **env;         /* KEY=VALUE exported by the launcher */
    char **env_default; /* KEY=VALUE exported only when the variable is unset */
} agents_install_recipe;

static void agents_install_recipe_free(agents_install_recipe *r) {
    free(r->version);
    agents_install_strv_free(r->packages);
    free(r->bin);
    free(r->url);
    free(r->sha256);
    free(r->cmd);
    agents_install_strv_free(r->args);
    agents_install_strv_free(r->env);
    agents_install_strv_free(r->env_default);
    memset(r, 0, sizeof *r);
}

/* Index of the '@' that starts a version in an npm spec ("@scope/name@1.2"), or 0. */
static size_t agents_install_spec_at(const char *spec) {
    const char *at = strrchr(spec, '@');
    return at && at != spec ? (size_t)(at - spec) : 0;
}

/* Companion packages and launcher defaults that belong to an agent whatever the adapter's
 * source (pi-acp needs `pi`, which it finds through PI_ACP_PI_COMMAND). */
static void agents_install_recipe_extras(const agents_install_builtin *bi, agents_install_recipe *r,
                                         const char *agent_version) {
    if (bi->companion && r->packages) {
        char *spec = base_xasprintf("%s@%s", bi->companion,
                                    agent_version ? agent_version : bi->companion_pinned);
        agents_install_strv_push(&r->packages, spec);
        free(spec);
    }
    if (!strcmp(bi->id, "pi")) {
        char *bin = agents_bin_dir();
        char *kv = base_xasprintf("PI_ACP_PI_COMMAND=%s/pi", bin);
        agents_install_strv_push(&r->env_default, kv);
        free(kv);
        free(bin);
    }
}

/* Fill r from the built-in table. Returns NULL or a failure reason (caller frees). */
static char *agents_install_recipe_builtin(const agents_install_builtin *bi,
                                           agents_install_recipe *r, const char *agent_version,
                                           const char *process_version, const char *platform,
                                           const char *arch) {
    r->source = "fallback";
    const char *want = bi->native_versioned && agent_version ? agent_version : process_version;
    if (bi->package) {
        const char *v = want ? want : bi->pinned;
        char *spec = base_xasprintf("%s@%s", bi->package, v);
        agents_install_strv_push(&r->packages, spec);
        free(spec);
        r->version = base_xstrdup(v);
        r->bin = base_xstrdup(bi->bin);
    } else {
        const char *v = want ? want : bi->default_version;
        const char *over = getenv(bi->url_env);
        bool custom = over && *over;
        r->url = agents_install_expand(custom ? over : bi->default_url, v, platform, arch);
        const char *sha = getenv(bi->sha_env);
        const char *known = !strcmp(arch, "x64") ? bi->sha_x86_64 : bi->sha_aarch64;
        if (sha && *sha)
            r->sha256 = base_xstrdup(sha);
        else if (!custom && !want && known) /* the default archive has a published checksum */
            r->sha256 = base_xstrdup(known);
        r->cmd = base_xstrdup(bi->cmd);
        r->version = base_xstrdup(v);
    }
    if (bi->arg)
        agents_install_strv_push(&r->args, bi->arg);
    agents_install_recipe_extras(bi, r, agent_version);
    return NULL;
}

static void agents_install_json_strv(json_t *arr, char ***out) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v))
            agents_install_strv_push(out, json_string_value(v));
    }
}

static void agents_install_json_env(json_t *obj, char ***out) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v) || !agents_install_env_name_ok(k, strlen(k)))
            continue;
        char *kv = base_xasprintf("%s=%s", k, json_string_value(v));
        agents_install_strv_push(out, kv);
        free(kv);
    }
}

/* Fill r from an ACP registry document (agents.md §2.3): the agent's entry with an npx or
 * a binary distribution for this platform; without one, the built-in recipe. Returns NULL
 * or a failure reason (caller frees). */
static char *agents_install_recipe_registry(const agents_install_builtin *bi, json_t *doc,
                                            agents_install_recipe *r, const char *agent_version,
                                            const char *process_version, const char *platform,
                                            const char *arch) {
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
    json_t *dist = json_object_get(entry, "distribution");
    json_t *npx = json_object_get(dist, "npx");
    json_t *bin = json_object_get(json_object_get(dist, "binary"), platform);
    const char *entry_version = json_string_value(json_object_get(entry, "version"));
    if (json_is_string(json_object_get(npx, "package"))) {
        const char *pkg = json_string_value(json_object_get(npx, "package"));
        size_t at = agents_install_spec_at(pkg);
        char *spec = process_version ? base_xasprintf("%.*s@%s", (int)(at ? at : strlen(pkg)), pkg,
                                                      process_version)
                                     : base_xstrdup(pkg);
        agents_install_strv_push(&r->packages, spec);
        free(spec);
        r->source = "registry";
        r->bin = base_xstrdup(bi->package ? bi->bin : bi->registry_id);
        const char *v = process_version ? process_version
                        : entry_version ? entry_version
                        : at            ? pkg + at + 1
                                        : NULL;
        r->version = v ? base_xstrdup(v) : NULL;
        agents_install_json_strv(json_object_get(npx, "args"), &r->args);
        agents_install_json_env(json_object_get(npx, "env"), &r->env);
    } else if (json_is_string(json_object_get(bin, "archive")) &&
               json_is_string(json_object_get(bin, "cmd"))) {
        r->source = "registry";
        r->url = base_xstrdup(json_string_value(json_object_get(bin, "archive")));
        r->cmd = base_xstrdup(json_string_value(json_object_get(bin, "cmd")));
        const char *sha = json_string_value(json_object_get(bin, "sha256"));
        r->sha256 = sha ? base_xstrdup(sha) : NULL;
        const char *v = process_version ? process_version : entry_version;
        r->version = v ? base_xstrdup(v) : NULL;
        agents_install_json_strv(json_object_get(bin, "args"), &r->args);
        agents_install_json_env(json_object_get(bin, "env"), &r->env);
    } else {
        return agents_install_recipe_builtin(bi, r, agent_version, process_version, platform, arch);
    }
    agents_install_recipe_extras(bi, r, agent_version);
    return NULL;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

typedef enum {
    AGENTS_INSTALL_QUEUED,  /* waiting for its turn or for the loop */
    AGENTS_INSTALL_LOCK,    /* polling the lock file */
    AGENTS_INSTALL_CHILD,   /* a child process runs */
    AGENTS_INSTALL_UNPACK,  /* the thread pool unpacks */
    AGENTS_INSTALL_PROBE,   /* waiting for the version probe */
    AGENTS_INSTALL_CLOSING, /* finished; the timer handle is closing */
} agents_install_state;

typedef struct agents_install_unpack agents_install_unpack;

/* One install. Owner: itself (it sits in its agent's queue until it finished); freed when
 * its timer handle has closed after done ran. */
struct agents_install_job {
    uv_loop_t *loop;
    char *id;
    int idx;
    const agents_install_builtin *bi;
    bool reinstall;
    char *agent_version, *process_version;
    agents_install_done_fn done;
    agents_install_progress_fn progress;
    void *ud;
    bool detached;
    bool started;
    bool cancelled;
    agents_install_state state;
    uv_timer_t timer; /* start kick, lock polling, and the time bound of the running step */
    /* the running child and what to do when it ends */
    proc_child *child;
    bool timed_out;
    uint64_t step_ms;
    void (*after_child)(agents_install_job *job, int code, int sig);
    base_buf out;
    int lock_fd;
    uint64_t lock_deadline;
    bool lock_announced;
    char *ap, *bin; /* $AP and $BIN */
    char *tmp;      /* $AP/.tmp-<id>-<rand>: the install being built */
    char *dl;       /* <tmp>.download: the archive */
    char *regfile;  /* <tmp>.registry.json */
    char *old;      /* $AP/.old-<id>-<rand>: the install being replaced */
    char *what;     /* description of the running step, for failure reasons */
    agents_install_recipe r;
    char *exe_rel;      /* adapter executable relative to the install dir */
    json_t *artifacts;  /* success result */
    json_t *native_art; /* borrowed from artifacts: gets the probed version */
    agents_install_probe *probe;
    bool ok, already;
    char *reason, *tail;
    agents_install_unpack *unpack;
    char *deb_dir;     /* <tmp>/.bubblewrap-deb: apt's download dir while fetching bwrap */
    int bwrap_attempt; /* 0: apt-get download; 1: private apt-get update; 2: download again */
    const char *bwrap; /* "system", "bundled" or "none" (codex, once decided) */
    struct agents_install_job *next; /* next job of the same agent */
};

/* Jobs per agent, the running one first. */
static agents_install_job *agents_install_queue[AGENTS_COUNT];

static void agents_install_fail(agents_install_job *job, char *reason);
static void agents_install_finish(agents_install_job *job);
static void agents_install_step_lock(agents_install_job *job);
static void agents_install_step_recipe(agents_install_job *job);
static void agents_install_step_fetch(agents_install_job *job);
static void agents_install_step_verify(agents_install_job *job);
static void agents_install_step_bwrap(agents_install_job *job);
static void agents_install_step_commit(agents_install_job *job);
static void agents_install_cache_clear(int idx);

static void agents_install_progress(agents_install_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fails a cancelled job at a step boundary; true when it did. */
static bool agents_install_interrupted(agents_install_job *job) {
    if (!job->cancelled)
        return false;
    agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
    return true;
}

static void agents_install_progress(agents_install_job *job, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    if (!msg)
        return;
    LOG_INFO("agent install step", "agent=%s step=\"%s\"", job->id, msg);
    if (!job->detached && job->progress)
        job->progress(job->id, msg, job->ud);
    free(msg);
}

/* ---- running children ---- */

static void agents_install_child_out(proc_child *c, const char *data, size_t len, void *ud) {
    agents_install_job *job = ud;
    base_buf_append(&job->out, data, len);
    if (job->out.len > 2 * INSTALL_KEEP_BYTES)
        base_buf_consume(&job->out, job->out.len - INSTALL_KEEP_BYTES);
}

static void agents_install_child_exit(proc_child *c, int code, int sig, void *ud) {
    agents_install_job *job = ud;
    uv_timer_stop(&job->timer);
    proc_release(job->child);
    job->child = NULL;
    if (job->cancelled && !job->reason) {
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        return;
    }
    job->after_child(job, code, sig);
}

static const proc_callbacks agents_install_child_cb = {
    .on_stdout = agents_install_child_out,
    .on_stderr = agents_install_child_out,
    .on_exit = agents_install_child_exit,
};

static void agents_install_timer_cb(uv_timer_t *t);

/* Run argv (argv[0] is searched on PATH) with stdin closed and a time bound; then(job,
 * code, sig) follows. job->what names the step for failure messages. */
static void agents_install_run(agents_install_job *job, char **argv, const char *cwd,
                               uint64_t timeout_ms, void (*then)(agents_install_job *, int, int)) {
    if (uv_is_closing((uv_handle_t *)&job->timer)) {
        /* The loop's owner closed every handle (the server is exiting): a child started
         * now would have no time bound. */
        agents_install_fail(job, base_xstrdup("the server is shutting down"));
        return;
    }
    job->out.len = 0;
    job->timed_out = false;
    job->step_ms = timeout_ms;
    job->after_child = then;
    job->state = AGENTS_INSTALL_CHILD;
    proc_spawn_opts o = {
        .file = argv[0], .args = argv, .env = NULL, .cwd = cwd, .die_with_server = true};
    int err = 0;
    job->child = proc_spawn(job->loop, &o, &agents_install_child_cb, job, &err);
    if (!job->child) {
        agents_install_fail(
            job, base_xasprintf("%s: cannot start %s: %s", job->what, argv[0], uv_strerror(err)));
        return;
    }
    /* Nothing is ever typed into an installer: a prompt must fail, not wait. */
    proc_close_stdin(job->child);
    uv_timer_start(&job->timer, agents_install_timer_cb, timeout_ms, 0);
}

/* "did not finish within 1.5 s" / "exited with status 3" / "was killed by signal 9". */
static char *agents_install_exit_text(agents_install_job *job, int code, int sig) {
    if (job->timed_out)
        return base_xasprintf("did not finish within %.1f s and was stopped",
                              (double)job->step_ms / 1000.0);
    if (sig)
        return base_xasprintf("was killed by signal %d", sig);
    return base_xasprintf("exited with status %d", code);
}

/* ---- unpacking on the thread pool ---- */

/* One unpack. Owner: the job until after_work, which frees it. */
struct agents_install_unpack {
    uv_work_t work;
    agents_install_job *job;
    char *archive, *dest, *sha256;
    atomic_bool cancel; /* set by the job's timer: the worker stops between blocks */
    char *error;        /* set by the worker on failure */
};

static char *agents_install_sha256_file(const char *path, atomic_bool *cancel) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    char *buf = base_xmalloc(1 << 16);
    ssize_t n;
    while ((n = read(fd, buf, 1 << 16)) > 0 && !atomic_load(cancel))
        sha256_update(&ctx, (size_t)n, (const uint8_t *)buf);
    free(buf);
    close(fd);
    if (n < 0)
        return NULL;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof d, d);
    char *hex = base_xmalloc(2 * sizeof d + 1);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return hex;
}

/* A relative path without ".." components. */
static bool agents_install_path_safe(const char *p) {
    if (!p || !*p || p[0] == '/')
        return false;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n;
        while (*s == '/')
            s++;
    }
    return true;
}

/* A symlink at entry whose target, resolved lexically from the entry's directory, stays
 * inside the extraction root. Together with the path checks this keeps every later entry
 * written through such a link inside the root. */
static bool agents_install_link_inside(const char *entry, const char *target) {
    if (!target || target[0] == '/')
        return false;
    long depth = 0;
    for (const char *s = entry; (s = strchr(s, '/')); s++)
        depth++;
    const char *s = target;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (n && !(n == 1 && s[0] == '.')) {
            depth++;
        }
        s += n;
        while (*s == '/')
            s++;
    }
    return true;
}

static void agents_install_unpack_work(uv_work_t *w) {
    agents_install_unpack *u = w->data;
    if (u->sha256) {
        char *got = agents_install_sha256_file(u->archive, &u->cancel);
        if (!got) {
            u->error = base_xasprintf("cannot read the downloaded archive: %s", strerror(errno));
            return;
        }
        if (strcasecmp(got, u->sha256) != 0) {
            u->error =
                base_xasprintf("checksum mismatch: expected sha256 %s, got %s", u->sha256, got);
            free(got);
            return;
        }
        free(got);
    }
    /* Entries are written below dest's real path with SECURE_SYMLINKS: nothing is ever
     * written through a symlink on disk, whatever the archive made earlier ("a -> .",
     * "b -> a/..", then "b/x" would land outside even though each link text looks inside).
     * The real path keeps symlinks among dest's own parents from tripping that check. */
    char *root = realpath(u->dest, NULL);
    if (!root) {
        u->error = base_xasprintf("cannot resolve %s: %s", u->dest, strerror(errno));
        return;
    }
    struct archive *in = archive_read_new();
    archive_read_support_filter_all(in);
    archive_read_support_format_all(in);
    struct archive *out = archive_write_disk_new();
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    if (archive_read_open_filename(in, u->archive, 1 << 16) != ARCHIVE_OK) {
        u->error = base_xasprintf("cannot open the archive: %s", archive_error_string(in));
        goto done;
    }
    struct archive_entry *e;
    int r = ARCHIVE_OK;
    char shown[512];
    while (!atomic_load(&u->cancel) && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        while (name && name[0] == '.' && name[1] == '/')
            name += 2;
        if (!name || !*name || !strcmp(name, "."))
            continue;
        if (!agents_install_path_safe(name)) {
            u->error = base_xasprintf("unsafe path in the archive: %s", name);
            goto done;
        }
        if (archive_entry_filetype(e) == AE_IFLNK &&
            !agents_install_link_inside(name, archive_entry_symlink(e))) {
            u->error = base_xasprintf("unsafe symbolic link in the archive: %s -> %s", name,
                                      archive_entry_symlink(e));
            goto done;
        }
        char *full = base_xasprintf("%s/%s", root, name);
        /* name points into the entry: keep it for messages before the entry changes. */
        snprintf(shown, sizeof shown, "%s", name);
        name = shown;
        archive_entry_set_pathname(e, full);
        free(full);
        const char *link = archive_entry_hardlink(e);
        if (link) {
            while (link[0] == '.' && link[1] == '/')
                link += 2;
            if (!agents_install_path_safe(link)) {
                u->error = base_xasprintf("unsafe hard link in the archive: %s", link);
                goto done;
            }
            char *lf = base_xasprintf("%s/%s", root, link);
            archive_entry_set_hardlink(e, lf);
            free(lf);
        }
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            u->error = base_xasprintf("cannot extract %s: %s", name, archive_error_string(out));
            goto done;
        }
        const void *buf;
        size_t size;
        la_int64_t off;
        while (!atomic_load(&u->cancel) &&
               (r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(out, buf, size, off) != ARCHIVE_OK) {
                u->error = base_xasprintf("cannot write %s: %s", name, archive_error_string(out));
                goto done;
            }
        }
        if (r != ARCHIVE_EOF && !atomic_load(&u->cancel)) {
            u->error = base_xasprintf("corrupt archive: %s", archive_error_string(in));
            goto done;
        }
        archive_write_finish_entry(out);
    }
    if (!atomic_load(&u->cancel) && r != ARCHIVE_EOF)
        u->error = base_xasprintf("corrupt archive: %s", archive_error_string(in));
done:
    archive_write_close(out);
    archive_write_free(out);
    archive_read_free(in);
    free(root);
}

/* Search dir (depth-limited) for an executable named base; returns a path relative to
 * root (caller frees) or NULL. */
static char *agents_install_find_exe(const char *root, const char *rel, const char *base,
                                     int depth) {
    if (depth > 6)
        return NULL;
    char *dir = *rel ? base_xasprintf("%s/%s", root, rel) : base_xstrdup(root);
    DIR *d = opendir(dir);
    char *found = NULL;
    if (d) {
        struct dirent *de;
        while (!found && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *r = *rel ? base_xasprintf("%s/%s", rel, de->d_name) : base_xstrdup(de->d_name);
            char *full = base_xasprintf("%s/%s", root, r);
            struct stat st;
            if (lstat(full, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                    found = agents_install_find_exe(root, r, base, depth + 1);
                else if (!strcmp(de->d_name, base) && agents_is_exec_file(full))
                    found = base_xstrdup(r);
            }
            free(full);
            free(r);
        }
        closedir(d);
    }
    free(dir);
    return found;
}

static void agents_install_unpack_after(uv_work_t *w, int status) {
    agents_install_unpack *u = w->data;
    agents_install_job *job = u->job;
    uv_timer_stop(&job->timer);
    job->unpack = NULL;
    char *error = u->error;
    bool cancelled = atomic_load(&u->cancel);
    free(u->archive);
    free(u->dest);
    free(u->sha256);
    free(u);
    unlink(job->dl);
    if (cancelled && job->cancelled) {
        free(error);
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        return;
    }
    if (cancelled) {
        free(error);
        agents_install_fail(job, base_xasprintf("unpacking %s did not finish within %.1f s",
                                                job->r.url, (double)job->step_ms / 1000.0));
        return;
    }
    if (error) {
        char *reason = base_xasprintf("%s: %s", job->r.url, error);
        free(error);
        agents_install_fail(job, reason);
        return;
    }
    /* cmd as a relative path first, then by its file name anywhere in the archive. */
    const char *cmd = job->r.cmd;
    while (cmd[0] == '.' && cmd[1] == '/')
        cmd += 2;
    char *full = base_xasprintf("%s/%s", job->tmp, cmd);
    if (agents_install_path_safe(cmd) && agents_is_exec_file(full)) {
        job->exe_rel = base_xstrdup(cmd);
    } else {
        const char *slash = strrchr(cmd, '/');
        job->exe_rel = agents_install_find_exe(job->tmp, "", slash ? slash + 1 : cmd, 0);
    }
    free(full);
    if (!job->exe_rel) {
        agents_install_fail(
            job, base_xasprintf("the archive %s has no executable %s", job->r.url, job->r.cmd));
        return;
    }
    agents_install_step_verify(job);
}

/* ---- steps ---- */

static void agents_install_timer_cb(uv_timer_t *t) {
    agents_install_job *job = t->data;
    switch (job->state) {
    case AGENTS_INSTALL_QUEUED:
        job->started = true;
        agents_install_step_lock(job);
        break;
    case AGENTS_INSTALL_LOCK:
        agents_install_step_lock(job);
        break;
    case AGENTS_INSTALL_CHILD:
        /* The time bound: stop the whole process group (npm spawns its own children). */
        job->timed_out = true;
        if (job->child)
            proc_terminate(job->child, 0, INSTALL_TERM_GRACE_MS);
        break;
    case AGENTS_INSTALL_UNPACK:
        if (job->unpack)
            atomic_store(&job->unpack->cancel, true);
        break;
    default:
        break;
    }
}

/* Remove paths (NULL-terminated list of absolute paths) with `rm -rf`, then call then. */
static void agents_install_remove(agents_install_job *job, char **paths,
                                  void (*then)(agents_install_job *, int, int)) {
    char **argv = NULL;
    agents_install_strv_push(&argv, "rm");
    agents_install_strv_push(&argv, "-rf");
    agents_install_strv_push(&argv, "--");
    for (char **p = paths; *p; p++)
        agents_install_strv_push(&argv, *p);
    free(job->what);
    job->what = base_xstrdup("removing temporary files");
    agents_install_run(job, argv, NULL, INSTALL_CLEANUP_MS, then);
    agents_install_strv_free(argv);
}

static void agents_install_release_lock(agents_install_job *job) {
    if (job->lock_fd >= 0) {
        flock(job->lock_fd, LOCK_UN);
        close(job->lock_fd);
        job->lock_fd = -1;
    }
}

static void agents_install_after_fail_cleanup(agents_install_job *job, int code, int sig) {
    agents_install_finish(job);
}

/* Record the failure (reason is taken) and remove what this job created. */
static void agents_install_fail(agents_install_job *job, char *reason) {
    if (job->reason) { /* a cleanup after a failure failed too: keep the first reason */
        free(reason);
        agents_install_finish(job);
        return;
    }
    job->reason = reason;
    job->tail = agents_install_tail(&job->out);
    LOG_WARN("agent install failed", "agent=%s reason=\"%s\"", job->id, reason);
    char *paths[4];
    size_t n = 0;
    struct stat st;
    if (job->tmp && lstat(job->tmp, &st) == 0)
        paths[n++] = job->tmp;
    if (job->dl && lstat(job->dl, &st) == 0)
        paths[n++] = job->dl;
    if (job->regfile && lstat(job->regfile, &st) == 0)
        paths[n++] = job->regfile;
    paths[n] = NULL;
    if (n == 0) {
        agents_install_finish(job);
        return;
    }
    agents_install_remove(job, paths, agents_install_after_fail_cleanup);
}

static void agents_install_timer_closed(uv_handle_t *h) {
    agents_install_job *job = h->data;
    base_buf_free(&job->out);
    agents_install_recipe_free(&job->r);
    json_decref(job->artifacts);
    free(job->id);
    free(job->agent_version);
    free(job->process_version);
    free(job->ap);
    free(job->bin);
    free(job->tmp);
    free(job->dl);
    free(job->regfile);
    free(job->old);
    free(job->what);
    free(job->exe_rel);
    free(job->deb_dir);
    free(job->reason);
    free(job->tail);
    free(job);
}

/* Take the job out of its queue and let the next one start. */
static void agents_install_dequeue(agents_install_job *job) {
    if (job->idx < 0)
        return;
    agents_install_job **pp = &agents_install_queue[job->idx];
    bool was_head = *pp == job;
    while (*pp && *pp != job)
        pp = &(*pp)->next;
    if (*pp)
        *pp = job->next;
    job->next = NULL;
    agents_install_job *head = agents_install_queue[job->idx];
    if (was_head && head && !head->started)
        uv_timer_start(&head->timer, agents_install_timer_cb, 0, 0);
}

static void agents_install_finish(agents_install_job *job) {
    agents_install_release_lock(job);
    /* Closed by the loop's owner at exit: our close callback will never run, so the job
     * stays in its queue (still reachable) for the last moments of the process. */
    bool torn_down = uv_is_closing((uv_handle_t *)&job->timer);
    if (!torn_down)
        agents_install_dequeue(job);
    job->state = AGENTS_INSTALL_CLOSING;
    if (!job->detached && job->done) {
        agents_install_result res = {
            .ok = job->reason == NULL,
            .already_installed = job->already,
            .artifacts = job->artifacts ? job->artifacts : json_array(),
            .reason = job->reason,
            .output = job->tail ? job->tail : "",
        };
        if (!job->artifacts)
            job->artifacts = res.artifacts;
        job->done(&res, job->ud);
    }
    if (!torn_down)
        uv_close((uv_handle_t *)&job->timer, agents_install_timer_closed);
}

static void agents_install_succeed(agents_install_job *job) {
    LOG_INFO("agent install finished", "agent=%s already_installed=%s", job->id,
             job->already ? "true" : "false");
    agents_install_finish(job);
}

static void agents_install_after_discard(agents_install_job *job, int code, int sig) {
    if (code != 0)
        LOG_WARN("could not remove a replaced agent install", "agent=%s path=%s", job->id,
                 job->old);
    agents_install_succeed(job);
}

static void agents_install_after_probe(void *ud) {
    agents_install_job *job = ud;
    job->probe = NULL;
    if (job->native_art) {
        json_t *tmp = json_object();
        agents_install_version_put(job->id, tmp);
        json_t *v = json_object_get(tmp, "version");
        if (v)
            json_object_set(job->native_art, "version", v);
        json_decref(tmp);
    }
    struct stat st;
    if (job->old && lstat(job->old, &st) == 0) {
        char *paths[] = {job->old, NULL};
        agents_install_remove(job, paths, agents_install_after_discard);
        return;
    }
    agents_install_succeed(job);
}

/* Lock, then check, then clean leftovers. */
static void agents_install_after_clean(agents_install_job *job, int code, int sig);

static void agents_install_step_lock(agents_install_job *job) {
    job->state = AGENTS_INSTALL_LOCK;
    if (job->lock_fd < 0) {
        int r = base_mkdirs(job->ap);
        if (r < 0) {
            agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->ap, strerror(-r)));
            return;
        }
        char *lp = base_xasprintf("%s/.%s.lock", job->ap, job->id);
        job->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (job->lock_fd < 0) {
            agents_install_fail(
                job, base_xasprintf("cannot open the lock file %s: %s", lp, strerror(errno)));
            free(lp);
            return;
        }
        free(lp);
        job->lock_deadline = base_mono_ms() + agents_install_lock_ms();
    }
    if (flock(job->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            agents_install_fail(job, base_xasprintf("cannot lock: %s", strerror(errno)));
            return;
        }
        if (base_mono_ms() > job->lock_deadline) {
            agents_install_fail(
                job, base_xasprintf("another install of %s (another process) did not finish "
                                    "within %.0f s",
                                    job->id, (double)agents_install_lock_ms() / 1000.0));
            return;
        }
        if (!job->lock_announced) {
            job->lock_announced = true;
            agents_install_progress(job, "waiting for another process installing %s", job->id);
        }
        uv_timer_start(&job->timer, agents_install_timer_cb, INSTALL_LOCK_POLL_MS, 0);
        return;
    }
    if (agents_install_interrupted(job))
        return;
    /* Locked. Whatever another install did meanwhile is visible now. */
    if (!job->bi) { /* the mock */
        char *l = agents_launcher_path(job->id);
        bool present = agents_is_exec_file(l);
        free(l);
        if (present && !job->reinstall) {
            job->already = true;
            agents_install_succeed(job);
            return;
        }
        char *path = NULL;
        int r = agents_write_mock_launcher(&path);
        if (r < 0) {
            agents_install_fail(job,
                                base_xasprintf("cannot write the mock launcher: %s", strerror(-r)));
            return;
        }
        job->artifacts = json_pack("[{s:s,s:s,s:s,s:s}]", "kind", "agent_process", "path", path,
                                   "source", "builtin", "version", "builtin");
        free(path);
        agents_install_cache_clear(job->idx);
        agents_install_succeed(job);
        return;
    }
    if (!job->reinstall && agents_installed(job->id)) {
        job->already = true;
        agents_install_succeed(job);
        return;
    }
    /* Leftovers of installs that were killed half-way: only this agent's, under our lock. */
    char **stale = NULL;
    char *p1 = base_xasprintf(".tmp-%s-", job->id), *p2 = base_xasprintf(".old-%s-", job->id);
    DIR *d = opendir(job->ap);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strncmp(de->d_name, p1, strlen(p1)) || !strncmp(de->d_name, p2, strlen(p2))) {
            char *full = base_xasprintf("%s/%s", job->ap, de->d_name);
            agents_install_strv_push(&stale, full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(p1);
    free(p2);
    if (stale) {
        agents_install_progress(job, "removing leftovers of an interrupted install");
        agents_install_remove(job, stale, agents_install_after_clean);
        agents_install_strv_free(stale);
        return;
    }
    agents_install_step_recipe(job);
}

static void agents_install_after_clean(agents_install_job *job, int code, int sig) {
    if (code != 0) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job,
                            base_xasprintf("cannot remove leftovers in %s: rm %s", job->ap, t));
        free(t);
        return;
    }
    agents_install_step_recipe(job);
}

/* Download url to file with curl (or wget), bounded by the step time. */
static void agents_install_download(agents_install_job *job, const char *url, const char *file,
                                    void (*then)(agents_install_job *, int, int)) {
    char **argv = NULL;
    char *curl = agents_which("curl");
    char *wget = curl ? NULL : agents_which("wget");
    char secs[32];
    snprintf(secs, sizeof secs, "%.1f", (double)agents_install_step_ms() / 1000.0);
    if (curl) {
        const char *a[] = {"curl", "-fsSL", "--connect-timeout", "20", "--max-time", secs, "-o",
                           file,   url};
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
            agents_install_strv_push(&argv, a[i]);
    } else if (wget) {
        const char *a[] = {"wget", "-q", "--tries=1", "--timeout=20", "-O", file, url};
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
            agents_install_strv_push(&argv, a[i]);
    }
    free(curl);
    free(wget);
    if (!argv) {
        agents_install_fail(job, base_xasprintf("downloading %s needs curl or wget on PATH", url));
        return;
    }
    free(job->what);
    job->what = base_xasprintf("download of %s", url);
    agents_install_progress(job, "downloading %s", url);
    agents_install_run(job, argv, NULL, agents_install_step_ms(), then);
    agents_install_strv_free(argv);
}

static bool agents_install_recipe_ready(agents_install_job *job, json_t *doc) {
    const char *platform = NULL, *arch = NULL;
    if (!agents_install_platform(&platform, &arch)) {
        struct utsname u;
        uname(&u);
        agents_install_fail(job, base_xasprintf("unsupported CPU architecture %s: %s has no "
                                                "build for it",
                                                u.machine, job->id));
        return false;
    }
    if (job->agent_version && !job->bi->native_versioned && !job->bi->companion)
        LOG_WARN("agentVersion does not apply to this agent (its CLI comes with the adapter)",
                 "agent=%s", job->id);
    char *err = doc ? agents_install_recipe_registry(job->bi, doc, &job->r, job->agent_version,
                                                     job->process_version, platform, arch)
                    : agents_install_recipe_builtin(job->bi, &job->r, job->agent_version,
                                                    job->process_version, platform, arch);
    if (err) {
        agents_install_fail(job, err);
        return false;
    }
    return true;
}

static void agents_install_after_registry(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("cannot fetch the ACP registry %s: the download "
                                                "%s",
                                                getenv("SANDBOX_AGENT_ACP_REGISTRY_URL"), t));
        free(t);
        return;
    }
    json_error_t e;
    json_t *doc = json_load_file(job->regfile, 0, &e);
    unlink(job->regfile);
    if (!doc) {
        agents_install_fail(job, base_xasprintf("the ACP registry is not valid JSON: %s (line %d)",
                                                e.text, e.line));
        return;
    }
    bool ok = agents_install_recipe_ready(job, doc);
    json_decref(doc);
    if (ok)
        agents_install_step_fetch(job);
}

static void agents_install_step_recipe(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    const char *reg = getenv("SANDBOX_AGENT_ACP_REGISTRY_URL");
    size_t n = reg ? strlen(reg) : 0;
    const char *t = reg ? base_trim(reg, &n) : NULL;
    if (t && n) {
        /* An explicitly configured registry is authoritative: failing to read it fails the
         * install, as in the reference (agents.md §2.3). */
        char *url = base_xstrndup(t, n);
        agents_install_download(job, url, job->regfile, agents_install_after_registry);
        free(url);
        return;
    }
    if (agents_install_recipe_ready(job, NULL))
        agents_install_step_fetch(job);
}

static void agents_install_after_npm(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("npm install failed for %s: npm %s", job->id, t));
        free(t);
        return;
    }
    char *rel = base_xasprintf("node_modules/.bin/%s", job->r.bin);
    char *full = base_xasprintf("%s/%s", job->tmp, rel);
    bool ok = agents_is_exec_file(full);
    free(full);
    if (!ok) {
        agents_install_fail(job, base_xasprintf("installed package missing executable: %s", rel));
        free(rel);
        return;
    }
    job->exe_rel = rel;
    agents_install_step_verify(job);
}

static void agents_install_after_download(agents_install_job *job, int code, int sig) {
    if (uv_is_closing((uv_handle_t *)&job->timer)) {
        agents_install_fail(job, base_xstrdup("the server is shutting down"));
        return;
    }
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("%s failed: the downloader %s", job->what, t));
        free(t);
        return;
    }
    agents_install_progress(job, "unpacking %s", job->r.url);
    int r = base_mkdirs(job->tmp);
    if (r < 0) {
        agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->tmp, strerror(-r)));
        return;
    }
    agents_install_unpack *u = base_xcalloc(1, sizeof *u);
    u->job = job;
    u->archive = base_xstrdup(job->dl);
    u->dest = base_xstrdup(job->tmp);
    u->sha256 = job->r.sha256 ? base_xstrdup(job->r.sha256) : NULL;
    atomic_init(&u->cancel, false);
    u->work.data = u;
    job->unpack = u;
    job->state = AGENTS_INSTALL_UNPACK;
    job->step_ms = agents_install_step_ms();
    uv_queue_work(job->loop, &u->work, agents_install_unpack_work, agents_install_unpack_after);
    uv_timer_start(&job->timer, agents_install_timer_cb, job->step_ms, 0);
}

static void agents_install_step_fetch(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    if (job->r.url) {
        agents_install_download(job, job->r.url, job->dl, agents_install_after_download);
        return;
    }
    char *npm = agents_which("npm");
    if (!npm) {
        agents_install_fail(job, base_xasprintf("npm is required to install %s: install Node.js "
                                                "and npm, then run `sandbox-agent install-agent "
                                                "%s`",
                                                job->id, job->id));
        return;
    }
    int r = base_mkdirs(job->tmp);
    if (r < 0) {
        free(npm);
        agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->tmp, strerror(-r)));
        return;
    }
    char **argv = NULL;
    const char *a[] = {"npm",      "install", "--no-audit", "--no-fund", "--no-update-notifier",
                       "--prefix", job->tmp};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        agents_install_strv_push(&argv, a[i]);
    base_buf list;
    base_buf_init(&list);
    for (char **p = job->r.packages; p && *p; p++) {
        agents_install_strv_push(&argv, *p);
        base_buf_appendf(&list, "%s%s", list.len ? " " : "", *p);
    }
    free(argv[0]);
    argv[0] = npm;
    free(job->what);
    job->what = base_xasprintf("npm install %s", list.data ? list.data : "");
    agents_install_progress(job, "npm install %s", list.data ? list.data : "");
    base_buf_free(&list);
    /* cwd = the new prefix: no project .npmrc or package.json of the server's cwd applies. */
    agents_install_run(job, argv, job->tmp, agents_install_step_ms(), agents_install_after_npm);
    agents_install_strv_free(argv);
}

static void agents_install_after_verify(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job,
                            base_xasprintf("verification failed: `%s --help` %s", job->exe_rel, t));
        free(t);
        return;
    }
    if (job->bi->bwrap)
        agents_install_step_bwrap(job);
    else
        agents_install_step_commit(job);
}

static void agents_install_step_verify(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    char **argv = NULL;
    char *exe = base_xasprintf("%s/%s", job->tmp, job->exe_rel);
    agents_install_strv_push(&argv, exe);
    for (char **p = job->r.args; p && *p; p++)
        agents_install_strv_push(&argv, *p);
    agents_install_strv_push(&argv, "--help");
    free(job->what);
    job->what = base_xasprintf("verification of %s", job->exe_rel);
    agents_install_progress(job, "verifying %s --help", job->exe_rel);
    agents_install_run(job, argv, job->tmp, agents_install_verify_ms(),
                       agents_install_after_verify);
    free(exe);
    agents_install_strv_free(argv);
}

/* ---- codex: bubblewrap for its sandbox helper ----
 * codex runs every shell command through its helper, which execs `bwrap`: the first one on
 * PATH, else a `codex-resources/bwrap` next to the executable whose sha256 must equal the
 * digest compiled into codex-acp (so only OpenAI's own build fits there). Without either
 * it panics ("bubblewrap is unavailable"). When no bwrap is on PATH, the install fetches the
 * distribution's package without root (`apt-get download`; with a private package list when
 * the system has none) and unpacks it with `dpkg-deb -x` into $AP/codex/bubblewrap; the
 * launcher appends its bin dir to PATH. Nothing here fails the install: without a bwrap
 * the launcher selects a sandbox mode that needs none (agents.md, codex and bubblewrap). */

static uint64_t agents_install_bwrap_ms(void) {
    uint64_t step = agents_install_step_ms();
    return step < 180000 ? step : 180000;
}

static void agents_install_bwrap_done(agents_install_job *job, const char *how) {
    job->bwrap = how;
    agents_install_step_commit(job);
}

static void agents_install_after_bwrap_clean(agents_install_job *job, int code, int sig) {
    if (code != 0)
        LOG_WARN("could not remove the bubblewrap download dir", "agent=%s path=%s", job->id,
                 job->deb_dir);
    agents_install_bwrap_done(job, job->bwrap);
}

/* Give up on a bundled bwrap: remove what was fetched, then commit without it. */
static void agents_install_bwrap_give_up(agents_install_job *job, const char *why) {
    char *t = agents_install_tail(&job->out);
    LOG_WARN("cannot provide bubblewrap for codex: its shell tool will run without a sandbox",
             "agent=%s reason=\"%s\" output=\"%s\"", job->id, why, t);
    free(t);
    job->bwrap = "none";
    char *unpacked = base_xasprintf("%s/bubblewrap", job->tmp);
    char *paths[] = {job->deb_dir, unpacked, NULL};
    agents_install_remove(job, paths, agents_install_after_bwrap_clean);
    free(unpacked);
}

static void agents_install_after_bwrap_check(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        /* e.g. a shared library the binary needs is missing */
        agents_install_bwrap_give_up(job, "the unpacked bwrap --version failed");
        return;
    }
    LOG_INFO("bubblewrap for codex unpacked from the distribution's package", "agent=%s",
             job->id);
    job->bwrap = "bundled";
    char *paths[] = {job->deb_dir, NULL};
    agents_install_remove(job, paths, agents_install_after_bwrap_clean);
}

static void agents_install_after_bwrap_extract(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        agents_install_bwrap_give_up(job, "dpkg-deb -x failed");
        return;
    }
    char *exe = base_xasprintf("%s/" AGENTS_INSTALL_BWRAP_DIR "/bwrap", job->tmp);
    char *argv[] = {exe, "--version", NULL};
    free(job->what);
    job->what = base_xstrdup("check of the unpacked bwrap");
    agents_install_run(job, argv, job->tmp, agents_install_verify_ms(),
                       agents_install_after_bwrap_check);
    free(exe);
}

static void agents_install_bwrap_apt(agents_install_job *job);

static void agents_install_after_bwrap_apt(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        /* A download failing with the system's lists (none, as in slim container images, or
         * stale) is retried once with a fresh private list. */
        if (job->bwrap_attempt == 0 && !job->timed_out) {
            job->bwrap_attempt = 1;
            agents_install_bwrap_apt(job);
            return;
        }
        agents_install_bwrap_give_up(job, "apt-get could not fetch the bubblewrap package");
        return;
    }
    if (job->bwrap_attempt == 1) { /* the private list is ready: download with it */
        job->bwrap_attempt++;
        agents_install_bwrap_apt(job);
        return;
    }
    char *deb = NULL;
    DIR *d = opendir(job->deb_dir);
    struct dirent *de;
    while (d && !deb && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (!strncmp(de->d_name, "bubblewrap_", 11) && n > 4 && !strcmp(de->d_name + n - 4, ".deb"))
            deb = base_xasprintf("%s/%s", job->deb_dir, de->d_name);
    }
    if (d)
        closedir(d);
    char *dpkg = deb ? agents_which("dpkg-deb") : NULL;
    if (!dpkg) {
        free(deb);
        agents_install_bwrap_give_up(job, deb ? "dpkg-deb is not on PATH" : "apt-get left no .deb");
        return;
    }
    char *dest = base_xasprintf("%s/bubblewrap", job->tmp);
    char *argv[] = {dpkg, "-x", deb, dest, NULL};
    free(job->what);
    job->what = base_xstrdup("dpkg-deb -x bubblewrap");
    agents_install_run(job, argv, job->tmp, agents_install_bwrap_ms(),
                       agents_install_after_bwrap_extract);
    free(dest);
    free(dpkg);
    free(deb);
}

/* One apt-get run: attempts 0 and 2 download the package into deb_dir (2 with the private
 * list), attempt 1 fetches that private list. Private lists and cache live in deb_dir: the
 * system's apt state is never written, and no root is needed. */
static void agents_install_bwrap_apt(agents_install_job *job) {
    char *apt = agents_which("apt-get");
    if (!apt) {
        agents_install_bwrap_give_up(job, "apt-get is not on PATH");
        return;
    }
    char **argv = NULL;
    agents_install_strv_push(&argv, apt);
    agents_install_strv_push(&argv, "-q");
    /* An unreachable mirror fails within seconds rather than apt's default 120 s per try: the
     * install goes on without bwrap then. */
    const char *quick[] = {"-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=20",
                           "-o", "Acquire::https::Timeout=20"};
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
        agents_install_strv_push(&argv, quick[i]);
    if (job->bwrap_attempt > 0) {
        static const char *const sub[] = {"lists/partial", "cache/archives/partial"};
        for (size_t i = 0; i < 2; i++) {
            char *p = base_xasprintf("%s/%s", job->deb_dir, sub[i]);
            base_mkdirs(p);
            free(p);
        }
        char *o1 = base_xasprintf("Dir::State::Lists=%s/lists", job->deb_dir);
        char *o2 = base_xasprintf("Dir::Cache=%s/cache", job->deb_dir);
        const char *o[] = {"-o", o1, "-o", o2, "-o", "Debug::NoLocking=1"};
        for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
            agents_install_strv_push(&argv, o[i]);
        free(o1);
        free(o2);
    }
    if (job->bwrap_attempt == 1) {
        agents_install_strv_push(&argv, "update");
    } else {
        agents_install_strv_push(&argv, "download");
        agents_install_strv_push(&argv, "bubblewrap");
    }
    free(job->what);
    job->what = base_xasprintf("apt-get %s bubblewrap", job->bwrap_attempt == 1 ? "update for"
                                                                               : "download");
    agents_install_progress(job, "%s", job->what);
    agents_install_run(job, argv, job->deb_dir, agents_install_bwrap_ms(),
                       agents_install_after_bwrap_apt);
    agents_install_strv_free(argv);
    free(apt);
}

static void agents_install_step_bwrap(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    char *sys = agents_which("bwrap");
    bool on_path = sys != NULL;
    free(sys);
    if (on_path) { /* codex finds it on PATH by itself */
        agents_install_bwrap_done(job, "system");
        return;
    }
    free(job->deb_dir);
    job->deb_dir = base_xasprintf("%s/.bubblewrap-deb", job->tmp);
    int r = base_mkdirs(job->deb_dir);
    if (r < 0) {
        agents_install_bwrap_give_up(job, strerror(-r));
        return;
    }
    job->bwrap_attempt = 0;
    agents_install_bwrap_apt(job);
}

/* codex's launcher part, decided at each start: the bwrap unpacked at install goes at the
 * end of PATH (a system one, possibly setuid where user namespaces are restricted, wins);
 * with no bwrap at all, codex gets the sandbox mode that needs none (the sandbox-agent
 * normally runs inside a sandbox itself), with approval "never" so that the session starts
 * in codex-acp's "full-access" mode and says so. */
static void agents_install_launcher_bwrap(base_buf *b, const char *install_dir) {
    char *dir = base_xasprintf("%s/" AGENTS_INSTALL_BWRAP_DIR, install_dir);
    base_buf_appends(b, "bwrap_dir=");
    agents_install_sh_quote(b, dir);
    free(dir);
    base_buf_appends(
        b, "\nif [ -x \"$bwrap_dir/bwrap\" ]; then PATH=\"${PATH:+$PATH:}$bwrap_dir\"; export PATH; fi\n"
           "if ! command -v bwrap >/dev/null 2>&1; then\n  echo ");
    agents_install_sh_quote(b, AGENTS_INSTALL_BWRAP_WARNING);
    base_buf_appends(
        b, " >&2\n  set -- -c 'sandbox_mode=\"danger-full-access\"' -c 'approval_policy=\"never\"' "
           "\"$@\"\nfi\n");
}

/* The launcher script (agents.md §2.2). bwrap_dir: the install dir of an agent that needs
 * bubblewrap (codex), else NULL. */
static char *agents_install_launcher_text(const char *exe, char **args, char **env,
                                          char **env_default, const char *bwrap_dir) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "#!/usr/bin/env sh\nset -e\n");
    if (bwrap_dir)
        agents_install_launcher_bwrap(&b, bwrap_dir);
    for (char **p = env; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        base_buf_appendf(&b, "export %.*s=", (int)(eq - *p), *p);
        agents_install_sh_quote(&b, eq + 1);
        base_buf_append(&b, "\n", 1);
    }
    for (char **p = env_default; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        int n = (int)(eq - *p);
        base_buf_appendf(&b, "[ -n \"${%.*s:-}\" ] || export %.*s=", n, *p, n, *p);
        agents_install_sh_quote(&b, eq + 1);
        base_buf_append(&b, "\n", 1);
    }
    base_buf_appends(&b, "exec ");
    agents_install_sh_quote(&b, exe);
    for (char **p = args; p && *p; p++) {
        base_buf_append(&b, " ", 1);
        agents_install_sh_quote(&b, *p);
    }
    base_buf_appends(&b, " \"$@\"\n");
    return base_buf_steal(&b, NULL);
}

/* $BIN/<native>: a symlink to the target, or a node wrapper. Returns the path or NULL. */
static char *agents_install_link_native(agents_install_job *job, const char *final_dir) {
    const agents_install_builtin *bi = job->bi;
    if (!bi->native)
        return NULL;
    char *target = !strcmp(bi->native_target, "@adapter")
                       ? base_xasprintf("%s/%s", final_dir, job->exe_rel)
                       : base_xasprintf("%s/%s", final_dir, bi->native_target);
    char *path = base_xasprintf("%s/%s", job->bin, bi->native);
    struct stat st;
    char *result = NULL;
    if (stat(target, &st) != 0) {
        /* e.g. a registry package that does not bundle the CLI */
    } else if (!job->reinstall && lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) &&
               agents_is_exec_file(path) && !bi->native_node) {
        /* A user-provided binary: keep it. */
    } else if (base_mkdirs(job->bin) == 0) {
        int r;
        if (bi->native_node) {
            base_buf b;
            base_buf_init(&b);
            base_buf_appends(&b, "#!/usr/bin/env sh\nexec node ");
            agents_install_sh_quote(&b, target);
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
            LOG_WARN("cannot link the native CLI", "agent=%s path=%s error=\"%s\"", job->id, path,
                     strerror(-r));
    }
    free(target);
    free(path);
    return result;
}

static void agents_install_step_commit(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    char *final_dir = base_xasprintf("%s/%s", job->ap, job->id);
    /* The manifest records what was installed, for version reporting. */
    json_t *m = json_pack("{s:s,s:s,s:o,s:s,s:I}", "agent", job->id, "source", job->r.source,
                          "version", job->r.version ? json_string(job->r.version) : json_null(),
                          "adapter", job->exe_rel, "installedAtMs", (json_int_t)base_now_ms());
    if (job->r.url)
        json_object_set_new(m, "url", json_string(job->r.url));
    if (job->bwrap) /* where codex's sandbox helper finds bubblewrap: system, bundled, none */
        json_object_set_new(m, "bwrap", json_string(job->bwrap));
    if (job->r.packages) {
        json_t *pk = json_array();
        for (char **p = job->r.packages; *p; p++)
            json_array_append_new(pk, json_string(*p));
        json_object_set_new(m, "packages", pk);
    }
    char *mtext = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    char *mpath = base_xasprintf("%s/%s", job->tmp, INSTALL_MANIFEST);
    int r = base_write_file_atomic(mpath, mtext, strlen(mtext), 0644);
    free(mpath);
    free(mtext);
    if (r < 0) {
        free(final_dir);
        agents_install_fail(job,
                            base_xasprintf("cannot write the install manifest: %s", strerror(-r)));
        return;
    }
    /* Swap directories: the old install moves aside first (rename cannot replace a
     * non-empty directory), then the new one takes its name. */
    struct stat st;
    if (lstat(final_dir, &st) == 0) {
        char hex[17];
        base_random_hex(hex, 8);
        job->old = base_xasprintf("%s/.old-%s-%s", job->ap, job->id, hex);
        if (rename(final_dir, job->old) != 0) {
            int e = errno;
            free(job->old);
            job->old = NULL;
            agents_install_fail(job, base_xasprintf("cannot move the previous install %s aside: %s",
                                                    final_dir, strerror(e)));
            free(final_dir);
            return;
        }
    }
    if (rename(job->tmp, final_dir) != 0) {
        int e = errno;
        if (job->old && rename(job->old, final_dir) == 0) {
            free(job->old);
            job->old = NULL;
        }
        agents_install_fail(
            job, base_xasprintf("cannot move the new install into %s: %s", final_dir, strerror(e)));
        free(final_dir);
        return;
    }
    char *exe = base_xasprintf("%s/%s", final_dir, job->exe_rel);
    char *text = agents_install_launcher_text(exe, job->r.args, job->r.env, job->r.env_default,
                                              job->bi->bwrap ? final_dir : NULL);
    char *launcher = agents_launcher_path(job->id);
    r = base_write_file_atomic(launcher, text, strlen(text), 0755);
    free(text);
    free(exe);
    if (r < 0) {
        /* The new directory stays (harmless without a launcher; the next install replaces
         * it); what matters is that the agent is not reported installed. */
        agents_install_fail(
            job, base_xasprintf("cannot write the launcher %s: %s", launcher, strerror(-r)));
        free(launcher);
        free(final_dir);
        return;
    }
    job->artifacts = json_array();
    char *native = agents_install_link_native(job, final_dir);
    if (native) {
        json_t *a = json_pack("{s:s,s:s,s:s}", "kind", "native_agent", "path", native, "source",
                              job->r.source);
        json_array_append_new(job->artifacts, a);
        job->native_art = a;
        free(native);
    }
    json_t *a = json_pack("{s:s,s:s,s:s}", "kind", "agent_process", "path", launcher, "source",
                          job->r.source);
    if (job->r.version)
        json_object_set_new(a, "version", json_string(job->r.version));
    json_array_append_new(job->artifacts, a);
    free(launcher);
    free(final_dir);
    agents_install_cache_clear(job->idx);
    if (job->bwrap && !strcmp(job->bwrap, "none"))
        LOG_WARN(AGENTS_INSTALL_BWRAP_WARNING, "agent=%s", job->id);
    /* Refresh the cached version right away; it also names the native CLI's version. */
    agents_install_progress(job, "checking the installed version");
    job->state = AGENTS_INSTALL_PROBE;
    job->probe = agents_install_version_probe(job->loop, job->id, agents_install_after_probe, job);
}

agents_install_job *agents_install_async(uv_loop_t *loop, const char *id,
                                         const agents_install_opts *opts,
                                         agents_install_done_fn done,
                                         agents_install_progress_fn progress, void *ud) {
    if (agents_index(id) < 0)
        return NULL;
    agents_install_job *job = base_xcalloc(1, sizeof *job);
    job->loop = loop;
    job->id = base_xstrdup(id);
    job->idx = agents_index(id);
    job->bi = agents_install_builtin_of(id);
    job->reinstall = opts && opts->reinstall;
    job->agent_version = opts && opts->agent_version && *opts->agent_version
                             ? base_xstrdup(opts->agent_version)
                             : NULL;
    job->process_version = opts && opts->agent_process_version && *opts->agent_process_version
                               ? base_xstrdup(opts->agent_process_version)
                               : NULL;
    job->done = done;
    job->progress = progress;
    job->ud = ud;
    job->lock_fd = -1;
    job->ap = agents_ap_dir();
    job->bin = agents_bin_dir();
    char hex[17];
    base_random_hex(hex, 8);
    job->tmp = base_xasprintf("%s/.tmp-%s-%s", job->ap, id, hex);
    job->dl = base_xasprintf("%s.download", job->tmp);
    job->regfile = base_xasprintf("%s.registry.json", job->tmp);
    base_buf_init(&job->out);
    uv_timer_init(loop, &job->timer);
    job->timer.data = job;
    job->state = AGENTS_INSTALL_QUEUED;
    if (job->idx < 0) {
        /* Reported from the loop like every other outcome. */
        job->reason = base_xasprintf("unsupported agent: %s", id);
        job->tail = base_xstrdup("");
        job->started = true;
        job->state = AGENTS_INSTALL_CLOSING;
        uv_timer_start(&job->timer, (uv_timer_cb)(void (*)(void))agents_install_finish, 0, 0);
        return job;
    }
    agents_install_job **pp = &agents_install_queue[job->idx];
    while (*pp)
        pp = &(*pp)->next;
    *pp = job;
    if (agents_install_queue[job->idx] == job)
        uv_timer_start(&job->timer, agents_install_timer_cb, 0, 0);
    else
        LOG_INFO("agent install queued behind another", "agent=%s", id);
    return job;
}

void agents_install_cancel(agents_install_job *job) {
    /* Once committed (artifacts exist) the install stands: what is left is bounded. */
    if (!job || job->cancelled || job->artifacts || job->state == AGENTS_INSTALL_CLOSING)
        return;
    job->cancelled = true;
    if (job->reason)
        return; /* already cleaning up after a failure: let that finish */
    switch (job->state) {
    case AGENTS_INSTALL_QUEUED:
    case AGENTS_INSTALL_LOCK:
        uv_timer_stop(&job->timer);
        job->started = true;
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        break;
    case AGENTS_INSTALL_CHILD:
        if (job->child)
            proc_terminate(job->child, 0, INSTALL_TERM_GRACE_MS);
        break;
    case AGENTS_INSTALL_UNPACK:
        if (job->unpack)
            atomic_store(&job->unpack->cancel, true);
        break;
    default:
        break; /* the probe is bounded and short; the job ends right after it */
    }
}

void agents_install_detach(agents_install_job *job) {
    if (!job)
        return;
    job->detached = true;
    if (!job->started) {
        uv_timer_stop(&job->timer);
        agents_install_dequeue(job);
        job->state = AGENTS_INSTALL_CLOSING;
        uv_close((uv_handle_t *)&job->timer, agents_install_timer_closed);
    }
}

/* ---- results ------------------------------------------------------------------------------- */

char *agents_install_sandbox_warning(const char *id) {
    const agents_install_builtin *bi = id ? agents_install_builtin_of(id) : NULL;
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

void agents_install_problem(http_req *req, const char *id, const agents_install_result *res) {
    char *detail = base_xasprintf("install failed: %s", id);
    const char *reason = res->reason ? res->reason : "install failed";
    char *stderr_text = res->output && *res->output ? base_xasprintf("%s\n%s", reason, res->output)
                                                    : base_xstrdup(reason);
    http_reply_problem(req, 500, "install_failed", "Install Failed", detail,
                       json_pack("{s:s,s:{s:s,s:s,s:s}}", "agent", id, "details", "stderr",
                                 stderr_text, "reason", reason, "output",
                                 res->output ? res->output : ""));
    free(stderr_text);
    free(detail);
}

static const char *agents_install_pascal(const char *s) {
    static const char *const map[][2] = {
        {"agent_process", "AgentProcess"},
        {"native_agent", "NativeAgent"},
        {"fallback", "Fallback"},
        {"registry", "Registry"},
        {"builtin", "Builtin"},
        {"local_path", "LocalPath"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], s))
            return map[i][1];
    return s;
}

json_t *agents_install_result_json(const agents_install_result *res, bool cli_style) {
    if (!cli_style)
        return json_pack("{s:b,s:O}", "already_installed", res->already_installed, "artifacts",
                         res->artifacts);
    json_t *arts = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(res->artifacts, i, a) {
        json_t *c = json_object();
        json_object_set_new(
            c, "kind",
            json_string(agents_install_pascal(json_string_value(json_object_get(a, "kind")))));
        json_object_set(c, "path", json_object_get(a, "path"));
        json_object_set_new(
            c, "source",
            json_string(agents_install_pascal(json_string_value(json_object_get(a, "source")))));
        json_object_set(c, "version",
                        json_object_get(a, "version") ? json_object_get(a, "version")
                                                      : json_null());
        json_array_append_new(arts, c);
    }
    return json_pack("{s:b,s:o}", "alreadyInstalled", res->already_installed, "artifacts", arts);
}

/* ---- version probes ------------------------------------------------------------------------- */

/* One agent's cached answer. Owner: this file (static). */
typedef struct agents_install_vcache {
    bool valid;
    char *version, *path;
    unsigned gen; /* bumped when an install finishes: older probes do not store */
    struct agents_install_prun *run;
} agents_install_vcache;

/* One probe in flight. Owner: its cache slot; freed when its timer has closed. */
typedef struct agents_install_prun {
    uv_loop_t *loop;
    int idx;
    unsigned gen;
    char *bin;
    int attempt;
    proc_child *child;
    uv_timer_t timer;
    bool timed_out;
    bool spawned;
    base_buf out;
    agents_install_probe *waiters;
} agents_install_prun;

/* One waiter. Owner: its run's list; freed after fn ran or on cancel. */
struct agents_install_probe {
    agents_install_version_fn fn;
    void *ud;
    agents_install_prun *run;
    agents_install_probe *next;
};

static agents_install_vcache agents_install_vcaches[AGENTS_COUNT];

static void agents_install_cache_clear(int idx) {
    if (idx < 0)
        return;
    agents_install_vcache *c = &agents_install_vcaches[idx];
    c->valid = false;
    free(c->version);
    free(c->path);
    c->version = c->path = NULL;
    c->gen++;
}

bool agents_install_version_ready(const char *id) {
    int idx = agents_index(id);
    return idx >= 0 && (!agents_hint(id) || agents_install_vcaches[idx].valid);
}

void agents_install_version_put(const char *id, json_t *obj) {
    int idx = agents_index(id);
    if (idx < 0)
        return;
    if (!agents_hint(id)) {
        json_object_set_new(obj, "version", json_string("builtin"));
        char *l = agents_launcher_path(id);
        json_object_set_new(obj, "path", json_string(l));
        free(l);
        return;
    }
    agents_install_vcache *c = &agents_install_vcaches[idx];
    if (!c->valid)
        return;
    if (c->version) {
        json_t *v = json_string(c->version);
        if (v)
            json_object_set_new(obj, "version", v);
    }
    if (c->path)
        json_object_set_new(obj, "path", json_string(c->path));
}

static void agents_install_prun_closed(uv_handle_t *h) {
    agents_install_prun *run = h->data;
    base_buf_free(&run->out);
    free(run->bin);
    free(run);
}

/* First non-empty trimmed line, cut at " (" (agents.md §2.7). Caller frees; NULL if none. */
static char *agents_install_parse_version(const base_buf *out) {
    const char *s = out->data ? out->data : "";
    size_t len = out->len;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '\n')
            j++;
        size_t n = j - i;
        const char *t = base_trim(s + i, &n);
        if (n) {
            const char *cut = memmem(t, n, " (", 2);
            if (cut)
                n = (size_t)(cut - t);
            if (n && n < 200 && base_utf8_valid(t, n))
                return base_xstrndup(t, n);
            return NULL;
        }
        i = j + 1;
    }
    return NULL;
}

static void agents_install_prun_finish(agents_install_prun *run, char *version) {
    agents_install_vcache *c = &agents_install_vcaches[run->idx];
    const char *id = agents_id((size_t)run->idx);
    char *path = NULL;
    if (version) {
        path = base_xstrdup(run->bin);
    } else {
        /* No answer from a native CLI: the adapter version recorded at install time, with
         * the launcher as the path it belongs to. */
        version = agents_install_manifest_version(id);
        char *l = agents_launcher_path(id);
        if (version && agents_is_exec_file(l))
            path = l;
        else
            free(l);
        if (!path && run->bin)
            path = base_xstrdup(run->bin);
    }
    if (run->gen == c->gen) {
        free(c->version);
        free(c->path);
        c->version = version;
        c->path = path;
        c->valid = true;
    } else {
        free(version);
        free(path);
    }
    bool torn_down = uv_is_closing((uv_handle_t *)&run->timer);
    if (c->run == run && !torn_down)
        c->run = NULL; /* at teardown the run stays referenced: it cannot be freed */
    agents_install_probe *w = run->waiters;
    run->waiters = NULL;
    while (w) {
        agents_install_probe *next = w->next;
        w->fn(w->ud);
        free(w);
        w = next;
    }
    if (!torn_down)
        uv_close((uv_handle_t *)&run->timer, agents_install_prun_closed);
}

static void agents_install_prun_spawn(agents_install_prun *run);

static void agents_install_prun_out(proc_child *c, const char *data, size_t len, void *ud) {
    agents_install_prun *run = ud;
    if (run->out.len < 65536)
        base_buf_append(&run->out, data, len);
}

static void agents_install_prun_exit(proc_child *c, int code, int sig, void *ud) {
    agents_install_prun *run = ud;
    uv_timer_stop(&run->timer);
    proc_release(run->child);
    run->child = NULL;
    char *v = code == 0 && !run->timed_out ? agents_install_parse_version(&run->out) : NULL;
    if (!v)
        LOG_INFO("version probe gave no answer",
                 "agent=%s bin=%s attempt=%d code=%d signal=%d "
                 "timed_out=%s",
                 agents_id((size_t)run->idx), run->bin, run->attempt, code, sig,
                 run->timed_out ? "true" : "false");
    /* A CLI that hangs on --version would hang on the other spellings too. */
    if (v || run->timed_out || ++run->attempt >= 3) {
        agents_install_prun_finish(run, v);
        return;
    }
    agents_install_prun_spawn(run);
}

static const proc_callbacks agents_install_prun_cb = {
    .on_stdout = agents_install_prun_out,
    .on_stderr = agents_install_prun_out,
    .on_exit = agents_install_prun_exit,
};

static void agents_install_prun_timer(uv_timer_t *t) {
    agents_install_prun *run = t->data;
    if (!run->spawned) {
        run->spawned = true;
        run->bin = agents_native_path(agents_id((size_t)run->idx));
        if (!run->bin) {
            agents_install_prun_finish(run, NULL);
            return;
        }
        agents_install_prun_spawn(run);
        return;
    }
    run->timed_out = true;
    if (run->child)
        proc_terminate(run->child, 0, INSTALL_TERM_GRACE_MS);
}

static void agents_install_prun_spawn(agents_install_prun *run) {
    static const char *const flags[] = {"--version", "version", "-V"};
    if (uv_is_closing((uv_handle_t *)&run->timer)) { /* the process is exiting */
        agents_install_prun_finish(run, NULL);
        return;
    }
    char *argv[] = {run->bin, (char *)flags[run->attempt], NULL};
    run->out.len = 0;
    proc_spawn_opts o = {.file = run->bin, .args = argv, .die_with_server = true};
    int err = 0;
    run->child = proc_spawn(run->loop, &o, &agents_install_prun_cb, run, &err);
    if (!run->child) {
        agents_install_prun_finish(run, NULL);
        return;
    }
    proc_close_stdin(run->child);
    uv_timer_start(&run->timer, agents_install_prun_timer, agents_install_probe_ms(), 0);
}

agents_install_probe *agents_install_version_probe(uv_loop_t *loop, const char *id,
                                                   agents_install_version_fn fn, void *ud) {
    int idx = agents_index(id);
    if (idx < 0)
        return NULL; /* never another agent's cache slot */
    agents_install_vcache *c = &agents_install_vcaches[idx];
    agents_install_prun *run = c->run;
    if (!run || run->gen != c->gen) {
        /* Started from the loop, never inside the caller's stack (and never at all when
         * the loop does not run, as in the HTTP fuzzer). */
        run = base_xcalloc(1, sizeof *run);
        run->loop = loop;
        run->idx = idx;
        run->gen = c->gen;
        base_buf_init(&run->out);
        uv_timer_init(loop, &run->timer);
        run->timer.data = run;
        uv_timer_start(&run->timer, agents_install_prun_timer, 0, 0);
        c->run = run;
    }
    agents_install_probe *w = base_xcalloc(1, sizeof *w);
    w->fn = fn;
    w->ud = ud;
    w->run = run;
    w->next = run->waiters;
    run->waiters = w;
    return w;
}

void agents_install_version_cancel(agents_install_probe *waiter) {
    if (!waiter)
        return;
    agents_install_probe **pp = &waiter->run->waiters;
    while (*pp && *pp != waiter)
        pp = &(*pp)->next;
    if (*pp)
        *pp = waiter->next;
    free(waiter);
}
