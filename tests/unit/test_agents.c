/* test_agents.c - the agent catalogue, install recipes and installer helpers that need no
 * network: argument building per agent, version overrides, ACP registry documents,
 * templates, shell quoting, launcher text, manifests, output tails, archive path checks. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents.h"
#include "agents/catalog.h"
#include "agents/install_job.h"
#include "agents/launcher.h"
#include "agents/layout.h"
#include "agents/recipes.h"
#include "agents/version.h"
#include "unit.h"

static char data_home[] = "/tmp/sa-test-agents-XXXXXX";

static void never(void *ud) {
    (void)ud;
    CHECK(!"a probe of an unknown agent must never report");
}

static size_t strv_len(char **v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* An id outside the catalogue gets no slot of its own, and never borrows another agent's
 * (it used to fall back to slot 0, claude's). */
static void test_unknown_ids(void) {
    CHECK(agents_index("nope") < 0);
    CHECK(agents_index(NULL) < 0);
    CHECK(agents_index("claude") == 0);
    CHECK(agents_index("mock") == AGENTS_COUNT - 1);
    CHECK(agents_id(AGENTS_COUNT) == NULL);
    CHECK(!agents_known("nope"));
    CHECK(!agents_known(NULL));
    CHECK(agents_hint("nope") == NULL);
    CHECK(agents_native_name("nope") == NULL);
    CHECK(agents_native_path("nope") == NULL);
    CHECK(!agents_installed("nope"));
    CHECK(agents_builtin_of("nope") == NULL);
    CHECK(agents_builtin_of("mock") == NULL);
    CHECK(agents_sandbox_warning("nope") == NULL);
    agents_launch l;
    CHECK(agents_launch_recipe("nope", &l) == -1);
    CHECK(!agents_version_ready("nope"));
    CHECK(agents_version_probe_start(uv_default_loop(), "nope", never, NULL) == NULL);
    CHECK(agents_version_ready("mock")); /* built in: always known */
    CHECK(agents_install_async(uv_default_loop(), "nope", NULL, NULL, NULL, NULL) == NULL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static void test_catalogue(void) {
    static const char *const ids[] = {"claude", "codex", "opencode", "amp", "pi", "cursor", "mock"};
    for (size_t i = 0; i < AGENTS_COUNT; i++) {
        CHECK_STR(agents_id(i), ids[i]);
        CHECK(agents_index(ids[i]) == (int)i);
        CHECK(agents_catalog_entry(ids[i]) != NULL);
        CHECK(json_is_object(json_object_get(agents_catalog_entry(ids[i]), "capabilities")));
    }
    CHECK_STR(agents_hint("cursor"), "cursor-agent-acp");
    CHECK_STR(agents_native_name("cursor"), "cursor-agent");
    CHECK(agents_hint("mock") == NULL);
    CHECK(agents_native_name("codex") != NULL && agents_native_name("mock") == NULL);
}

/* ---- recipes ---- */

static agents_recipe_ask ask_x64(const char *agent_version, const char *process_version) {
    agents_recipe_ask a = {.agent_version = agent_version,
                           .process_version = process_version,
                           .platform = "linux-x86_64",
                           .arch = "x64",
                           .bin_dir = "/data/bin"};
    return a;
}

static agents_recipe builtin(const char *id, agents_recipe_ask ask) {
    agents_recipe r = {0};
    const agents_builtin *bi = agents_builtin_of(id);
    CHECK(bi != NULL);
    if (bi)
        CHECK(agents_recipe_builtin(bi, &ask, &r) == NULL);
    return r;
}

static void test_builtin_recipes(void) {
    unsetenv("SANDBOX_AGENT_AMP_ACP_URL");
    unsetenv("SANDBOX_AGENT_AMP_ACP_SHA256");
    unsetenv("SANDBOX_AGENT_CURSOR_AGENT_URL");
    unsetenv("SANDBOX_AGENT_CURSOR_AGENT_SHA256");

    agents_recipe r = builtin("claude", ask_x64(NULL, NULL));
    CHECK_STR(r.source, "fallback");
    CHECK(strv_len(r.packages) == 1);
    CHECK_STR(r.packages[0], "@zed-industries/claude-agent-acp@0.23.1");
    CHECK_STR(r.bin, "claude-agent-acp");
    CHECK_STR(r.version, "0.23.1");
    CHECK(!r.url && !r.cmd && !r.args && !r.env && !r.env_default);
    agents_recipe_free(&r);
    CHECK(r.packages == NULL && r.version == NULL); /* free leaves it zeroed */

    r = builtin("codex", ask_x64(NULL, NULL));
    CHECK_STR(r.packages[0], "@zed-industries/codex-acp@0.16.0");
    CHECK_STR(r.bin, "codex-acp");
    CHECK(agents_builtin_of("codex")->bwrap);
    agents_recipe_free(&r);

    r = builtin("opencode", ask_x64(NULL, NULL));
    CHECK_STR(r.packages[0], "opencode-ai@1.18.33");
    CHECK(strv_len(r.args) == 1);
    CHECK_STR(r.args[0], "acp");
    agents_recipe_free(&r);

    r = builtin("pi", ask_x64(NULL, NULL));
    CHECK(strv_len(r.packages) == 2);
    CHECK_STR(r.packages[0], "pi-acp@0.0.23");
    CHECK_STR(r.packages[1], "@mariozechner/pi-coding-agent@0.73.1");
    CHECK(strv_len(r.env_default) == 1);
    CHECK_STR(r.env_default[0], "PI_ACP_PI_COMMAND=/data/bin/pi");
    agents_recipe_free(&r);

    r = builtin("amp", ask_x64(NULL, NULL));
    CHECK(r.packages == NULL && r.bin == NULL);
    CHECK_STR(r.url, "https://github.com/tao12345666333/amp-acp/releases/download/v0.9.0/"
                     "amp-acp-linux-x86_64.tar.gz");
    CHECK_STR(r.sha256, "afaa50a152eb86a8ff21e354ded63fe2d21b730859692e3a60b2c4c9ef23df31");
    CHECK_STR(r.cmd, "amp-acp");
    CHECK_STR(r.version, "0.9.0");
    agents_recipe_free(&r);

    agents_recipe_ask arm = ask_x64(NULL, NULL);
    arm.platform = "linux-aarch64";
    arm.arch = "arm64";
    r = builtin("amp", arm);
    CHECK(r.url && strstr(r.url, "amp-acp-linux-aarch64.tar.gz"));
    CHECK_STR(r.sha256, "b9e365221838b1a6e177c2fcd8f25a30086c3630e0330f1f6f74b25d2d4126c2");
    agents_recipe_free(&r);

    r = builtin("cursor", ask_x64(NULL, NULL));
    CHECK_STR(
        r.url,
        "https://downloads.cursor.com/lab/2026.10.01-e373342/linux/x64/agent-cli-package.tar.gz");
    CHECK(r.sha256 == NULL); /* no published checksum */
    CHECK_STR(r.cmd, "dist-package/cursor-agent");
    CHECK_STR(r.args[0], "acp");
    CHECK_STR(r.version, "2026.10.01-e373342");
    agents_recipe_free(&r);
}

static void test_version_overrides(void) {
    /* opencode's CLI is its adapter: agentVersion selects the package version. */
    agents_recipe r = builtin("opencode", ask_x64("1.2.3", NULL));
    CHECK_STR(r.packages[0], "opencode-ai@1.2.3");
    CHECK_STR(r.version, "1.2.3");
    agents_recipe_free(&r);
    r = builtin("opencode", ask_x64(NULL, "9.9.9"));
    CHECK_STR(r.packages[0], "opencode-ai@9.9.9");
    agents_recipe_free(&r);

    /* claude: agentVersion does not apply; agentProcessVersion picks the adapter. */
    r = builtin("claude", ask_x64("7.0.0", "0.30.0"));
    CHECK_STR(r.packages[0], "@zed-industries/claude-agent-acp@0.30.0");
    CHECK_STR(r.version, "0.30.0");
    agents_recipe_free(&r);
    r = builtin("claude", ask_x64("7.0.0", NULL));
    CHECK_STR(r.packages[0], "@zed-industries/claude-agent-acp@0.23.1");
    agents_recipe_free(&r);

    /* pi: agentVersion picks the companion CLI, the adapter stays pinned. */
    r = builtin("pi", ask_x64("0.80.0", NULL));
    CHECK_STR(r.packages[0], "pi-acp@0.0.23");
    CHECK_STR(r.packages[1], "@mariozechner/pi-coding-agent@0.80.0");
    agents_recipe_free(&r);

    /* An archive at another version has no known checksum. */
    r = builtin("amp", ask_x64(NULL, "1.0.0"));
    CHECK(r.url && strstr(r.url, "/download/v1.0.0/amp-acp-linux-x86_64.tar.gz"));
    CHECK(r.sha256 == NULL);
    CHECK_STR(r.version, "1.0.0");
    agents_recipe_free(&r);

    r = builtin("cursor", ask_x64("2027.01.01-abc", NULL));
    CHECK(r.url && strstr(r.url, "/lab/2027.01.01-abc/linux/x64/"));
    agents_recipe_free(&r);

    /* URL and checksum from the environment. */
    setenv("SANDBOX_AGENT_AMP_ACP_URL", "https://mirror/{version}/{platform}/{arch}.tgz", 1);
    r = builtin("amp", ask_x64(NULL, NULL));
    CHECK_STR(r.url, "https://mirror/0.9.0/linux-x86_64/x64.tgz");
    CHECK(r.sha256 == NULL); /* the published checksum is for the default URL only */
    agents_recipe_free(&r);
    setenv("SANDBOX_AGENT_AMP_ACP_SHA256", "abc123", 1);
    r = builtin("amp", ask_x64(NULL, NULL));
    CHECK_STR(r.sha256, "abc123");
    agents_recipe_free(&r);
    setenv("SANDBOX_AGENT_AMP_ACP_URL", "", 1); /* empty: the default */
    r = builtin("amp", ask_x64(NULL, NULL));
    CHECK(r.url && !strncmp(r.url, "https://github.com/", 19));
    CHECK_STR(r.sha256, "abc123");
    agents_recipe_free(&r);
    unsetenv("SANDBOX_AGENT_AMP_ACP_URL");
    unsetenv("SANDBOX_AGENT_AMP_ACP_SHA256");
}

/* Parse doc, build id's recipe from it; returns the error (malloc'd) or NULL. */
static char *from_registry(const char *id, const char *doc_text, agents_recipe_ask ask,
                           agents_recipe *r) {
    json_error_t e;
    json_t *doc = json_loads(doc_text, JSON_DECODE_ANY, &e);
    CHECK(doc != NULL);
    memset(r, 0, sizeof *r);
    char *err = agents_recipe_registry(agents_builtin_of(id), doc, &ask, r);
    json_decref(doc);
    return err;
}

static void test_registry_documents(void) {
    agents_recipe r;
    /* Bad documents fail with a reason. */
    static const char *const bad[] = {"{}", "[]", "{\"agents\":{}}", "{\"agents\":\"x\"}", "3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err = from_registry("claude", bad[i], ask_x64(NULL, NULL), &r);
        CHECK(err && strstr(err, "\"agents\" array"));
        free(err);
        agents_recipe_free(&r);
    }

    /* An npx entry: package, args, env (bad names and non-strings dropped). */
    const char *npx =
        "{\"agents\":[{\"id\":\"other\"},{\"id\":\"claude-acp\",\"version\":\"1.4.0\","
        "\"distribution\":{\"npx\":{\"package\":\"@zed/claude-acp@1.4.0\","
        "\"args\":[\"--flag\",5],\"env\":{\"GOOD_1\":\"a b\",\"bad-name\":\"x\","
        "\"1BAD\":\"x\",\"NUM\":3}}}}]}";
    CHECK(from_registry("claude", npx, ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.source, "registry");
    CHECK(strv_len(r.packages) == 1);
    CHECK_STR(r.packages[0], "@zed/claude-acp@1.4.0");
    CHECK_STR(r.bin, "claude-agent-acp");
    CHECK_STR(r.version, "1.4.0");
    CHECK(strv_len(r.args) == 1);
    CHECK_STR(r.args[0], "--flag");
    CHECK(strv_len(r.env) == 1);
    CHECK_STR(r.env[0], "GOOD_1=a b");
    agents_recipe_free(&r);

    /* agentProcessVersion replaces the version in the spec, scoped names kept. */
    CHECK(from_registry("claude", npx, ask_x64(NULL, "2.0.0"), &r) == NULL);
    CHECK_STR(r.packages[0], "@zed/claude-acp@2.0.0");
    CHECK_STR(r.version, "2.0.0");
    agents_recipe_free(&r);

    /* No entry version: the spec's own; none at all: unknown. */
    CHECK(from_registry("codex",
                        "{\"agents\":[{\"id\":\"codex-acp\",\"distribution\":{\"npx\":"
                        "{\"package\":\"@scope/codex@3.1\"}}}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.version, "3.1");
    agents_recipe_free(&r);
    CHECK(from_registry("codex",
                        "{\"agents\":[{\"id\":\"codex-acp\",\"distribution\":{\"npx\":"
                        "{\"package\":\"@scope/codex\"}}}]}",
                        ask_x64(NULL, "4.0"), &r) == NULL);
    CHECK_STR(r.packages[0], "@scope/codex@4.0");
    agents_recipe_free(&r);
    CHECK(from_registry("codex",
                        "{\"agents\":[{\"id\":\"codex-acp\",\"distribution\":{\"npx\":"
                        "{\"package\":\"codex-unversioned\"}}}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK(r.version == NULL);
    agents_recipe_free(&r);

    /* pi from the registry still gets its companion CLI and launcher default. */
    CHECK(from_registry("pi",
                        "{\"agents\":[{\"id\":\"pi-acp\",\"version\":\"0.1.0\",\"distribution\":"
                        "{\"npx\":{\"package\":\"pi-acp@0.1.0\"}}}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK(strv_len(r.packages) == 2);
    CHECK_STR(r.packages[1], "@mariozechner/pi-coding-agent@0.73.1");
    CHECK_STR(r.env_default[0], "PI_ACP_PI_COMMAND=/data/bin/pi");
    agents_recipe_free(&r);

    /* A binary distribution for this platform. */
    const char *bin = "{\"agents\":[{\"id\":\"amp-acp\",\"version\":\"0.10.0\",\"distribution\":"
                      "{\"binary\":{\"linux-x86_64\":{\"archive\":\"https://a/amp.tgz\","
                      "\"cmd\":\"./amp-acp\",\"sha256\":\"ff00\",\"args\":[\"--x\"],"
                      "\"env\":{\"K\":\"v\"}}}}}]}";
    CHECK(from_registry("amp", bin, ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.source, "registry");
    CHECK_STR(r.url, "https://a/amp.tgz");
    CHECK_STR(r.cmd, "./amp-acp");
    CHECK_STR(r.sha256, "ff00");
    CHECK_STR(r.version, "0.10.0");
    CHECK_STR(r.args[0], "--x");
    CHECK_STR(r.env[0], "K=v");
    CHECK(r.packages == NULL);
    agents_recipe_free(&r);

    /* Only another platform's binary, a binary without cmd, or no entry: the built-in one. */
    agents_recipe_ask arm = ask_x64(NULL, NULL);
    arm.platform = "linux-aarch64";
    arm.arch = "arm64";
    CHECK(from_registry("amp", bin, arm, &r) == NULL);
    CHECK_STR(r.source, "fallback");
    CHECK(r.url && strstr(r.url, "amp-acp-linux-aarch64"));
    agents_recipe_free(&r);
    CHECK(from_registry("amp",
                        "{\"agents\":[{\"id\":\"amp-acp\",\"distribution\":{\"binary\":"
                        "{\"linux-x86_64\":{\"archive\":\"https://a/amp.tgz\"}}}}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.source, "fallback");
    agents_recipe_free(&r);
    CHECK(from_registry("claude", "{\"agents\":[1,{\"id\":2},{\"id\":\"codex-acp\"}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.source, "fallback");
    CHECK_STR(r.packages[0], "@zed-industries/claude-agent-acp@0.23.1");
    agents_recipe_free(&r);

    /* An archive agent offered through npx runs the registry id's executable. */
    CHECK(from_registry("amp",
                        "{\"agents\":[{\"id\":\"amp-acp\",\"distribution\":{\"npx\":"
                        "{\"package\":\"amp-acp@1.0\"}}}]}",
                        ask_x64(NULL, NULL), &r) == NULL);
    CHECK_STR(r.bin, "amp-acp");
    CHECK(r.url == NULL);
    agents_recipe_free(&r);
}

static void test_expand_and_platform(void) {
    char *s = agents_recipe_expand("a{version}b{platform}c{arch}d{other}{version}", "1.0",
                                   "linux-x86_64", "x64");
    CHECK_STR(s, "a1.0blinux-x86_64cx64d{other}1.0");
    free(s);
    s = agents_recipe_expand("v{version}/{", NULL, "p", "a");
    CHECK_STR(s, "v/{");
    free(s);
    s = agents_recipe_expand("", "1", "p", "a");
    CHECK_STR(s, "");
    free(s);

    const char *p = NULL, *a = NULL;
    CHECK(agents_recipe_platform("x86_64", &p, &a) && !strcmp(p, "linux-x86_64") &&
          !strcmp(a, "x64"));
    CHECK(agents_recipe_platform("amd64", &p, &a) && !strcmp(a, "x64"));
    CHECK(agents_recipe_platform("aarch64", &p, &a) && !strcmp(p, "linux-aarch64") &&
          !strcmp(a, "arm64"));
    CHECK(agents_recipe_platform("arm64", &p, &a) && !strcmp(a, "arm64"));
    CHECK(!agents_recipe_platform("riscv64", &p, &a));
    CHECK(!agents_recipe_platform("", &p, &a));
}

static char *quoted(const char *s) {
    base_buf b;
    base_buf_init(&b);
    agents_sh_quote(&b, s);
    return base_buf_steal(&b, NULL);
}

static void test_shell_and_env(void) {
    char *q = quoted("abc");
    CHECK_STR(q, "'abc'");
    free(q);
    q = quoted("");
    CHECK_STR(q, "''");
    free(q);
    q = quoted("it's");
    CHECK_STR(q, "'it'\\''s'");
    free(q);
    q = quoted("$HOME `id` \"x\" \\");
    CHECK_STR(q, "'$HOME `id` \"x\" \\'");
    free(q);

    CHECK(agents_env_name_ok("A", 1));
    CHECK(agents_env_name_ok("_x1", 3));
    CHECK(agents_env_name_ok("PI_ACP_PI_COMMAND", 17));
    CHECK(!agents_env_name_ok("", 0));
    CHECK(!agents_env_name_ok("1A", 2));
    CHECK(!agents_env_name_ok("A-B", 3));
    CHECK(!agents_env_name_ok("A=B", 3));
    CHECK(!agents_env_name_ok("A B", 3));
    CHECK(agents_env_name_ok("AB=", 2)); /* only the n bytes count */

    char **v = NULL;
    agents_strv_push(&v, "a");
    agents_strv_push(&v, "b");
    CHECK(strv_len(v) == 2 && !strcmp(v[1], "b") && v[2] == NULL);
    agents_strv_free(v);
}

static void test_launcher_text(void) {
    char *args[] = {"acp", "a b", NULL};
    char *env[] = {"GOOD=x 'y'", NULL};
    char *envd[] = {"P=/b/pi", NULL};
    char *t = agents_launcher_text("/x/it's/exe", args, env, envd, NULL);
    CHECK_STR(t, "#!/usr/bin/env sh\nset -e\n"
                 "export GOOD='x '\\''y'\\'''\n"
                 "[ -n \"${P:-}\" ] || export P='/b/pi'\n"
                 "exec '/x/it'\\''s/exe' 'acp' 'a b' \"$@\"\n");
    free(t);
    t = agents_launcher_text("/i/codex-acp", NULL, NULL, NULL, "/i");
    CHECK(t && strstr(t, "bwrap_dir='/i/" AGENTS_INSTALL_BWRAP_DIR "'\n"));
    CHECK(t && strstr(t, "sandbox_mode=\"danger-full-access\""));
    CHECK(t && strstr(t, "exec '/i/codex-acp' \"$@\"\n"));
    free(t);
}

/* ---- installer helpers ---- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_manifest_version(void) {
    char *ap = agents_ap_dir();
    CHECK(!strncmp(ap, data_home, strlen(data_home))); /* XDG_DATA_HOME is honoured */
    char *dir = base_xasprintf("%s/claude", ap);
    char *path = base_xasprintf("%s/" AGENTS_MANIFEST, dir);
    CHECK(agents_manifest_version("claude") == NULL); /* nothing installed */
    CHECK(base_mkdirs(dir) == 0);
    write_file(path, "{\"agent\":\"claude\",\"version\":\"0.23.1\"}");
    char *v = agents_manifest_version("claude");
    CHECK_STR(v, "0.23.1");
    free(v);
    CHECK(agents_manifest_version("codex") == NULL); /* another agent's dir */
    write_file(path, "{\"version\":5}");
    CHECK(agents_manifest_version("claude") == NULL);
    write_file(path, "{\"version\":null}");
    CHECK(agents_manifest_version("claude") == NULL);
    write_file(path, "not json");
    CHECK(agents_manifest_version("claude") == NULL);
    unlink(path);
    free(path);
    free(dir);
    free(ap);
}

static char *tail_of(const char *s, size_t n) {
    base_buf b;
    base_buf_init(&b);
    base_buf_append(&b, s, n);
    char *t = agents_install_tail(&b);
    base_buf_free(&b);
    return t;
}

static void test_tail(void) {
    base_buf b;
    base_buf_init(&b);
    char *t = agents_install_tail(&b); /* empty */
    CHECK_STR(t, "");
    free(t);

    for (int i = 1; i <= 100; i++)
        base_buf_appendf(&b, "line%d\n", i);
    base_buf_appends(&b, "\n \r\n");
    t = agents_install_tail(&b);
    CHECK(t && !strncmp(t, "line61\n", 7)); /* the last 40 lines */
    CHECK(t && strlen(t) >= 7 && !strcmp(t + strlen(t) - 7, "line100"));
    free(t);
    base_buf_free(&b);

    char *big = malloc(5000);
    memset(big, 'x', 5000);
    t = tail_of(big, 5000);
    CHECK(t && strlen(t) == 4096); /* bytes bounded too */
    free(t);
    free(big);

    t = tail_of("ok\xff\xfe\tcaf\xc3\xa9 \xe2\x82", 13);
    CHECK_STR(t, "ok??\tcaf\xc3\xa9 ??"); /* invalid bytes and a cut sequence become '?' */
    free(t);
}

static void test_path_safety(void) {
    CHECK(agents_path_safe("a"));
    CHECK(agents_path_safe("a/b/c"));
    CHECK(agents_path_safe("a//b"));
    CHECK(agents_path_safe("a/..b/...c"));
    CHECK(!agents_path_safe(NULL));
    CHECK(!agents_path_safe(""));
    CHECK(!agents_path_safe("/etc/passwd"));
    CHECK(!agents_path_safe(".."));
    CHECK(!agents_path_safe("../a"));
    CHECK(!agents_path_safe("a/../b"));
    CHECK(!agents_path_safe("a/.."));
    CHECK(!agents_path_safe("a//../b"));
}

/* Archives made with tar(1): a plain one unpacks; links and paths that point out are refused;
 * a set cancel flag stops before anything is written. */
static void test_unpack(void) {
    char *src = base_xasprintf("%s/src", data_home);
    char *dest = base_xasprintf("%s/dest", data_home);
    char *cmd = base_xasprintf("mkdir -p %s/dir %s && echo hi > %s/dir/f && chmod 755 %s/dir/f "
                               "&& ln -s ../../outside %s/bad && cd %s && tar czf ../good.tgz dir "
                               "&& tar czf ../badlink.tgz bad && tar cPzf ../dotdot.tgz ../src/dir",
                               src, dest, src, src, src, src);
    CHECK(system(cmd) == 0);
    free(cmd);
    char *good = base_xasprintf("%s/good.tgz", data_home);
    char *badlink = base_xasprintf("%s/badlink.tgz", data_home);
    char *dotdot = base_xasprintf("%s/dotdot.tgz", data_home);
    atomic_bool cancel;
    atomic_init(&cancel, false);
    char *err = NULL;
    CHECK(agents_unpack_archive(good, dest, NULL, &cancel, &err) == 0 && err == NULL);
    char *f = base_xasprintf("%s/dir/f", dest);
    CHECK(agents_is_exec_file(f));
    free(f);
    CHECK(agents_unpack_archive(badlink, dest, NULL, &cancel, &err) == -1);
    CHECK(err && strstr(err, "unsafe archive entry: symlink points outside the destination"));
    free(err);
    err = NULL;
    CHECK(agents_unpack_archive(dotdot, dest, NULL, &cancel, &err) == -1);
    CHECK(err && strstr(err, "unsafe archive entry: invalid relative path"));
    free(err);
    err = NULL;
    char *missing = base_xasprintf("%s/missing.tgz", data_home);
    CHECK(agents_unpack_archive(missing, dest, NULL, &cancel, &err) == -1);
    CHECK(err && strstr(err, "cannot open the archive"));
    free(err);
    err = NULL;
    free(missing);
    char *dest2 = base_xasprintf("%s/dest2", data_home);
    CHECK(base_mkdirs(dest2) == 0);
    atomic_store(&cancel, true);
    CHECK(agents_unpack_archive(good, dest2, NULL, &cancel, &err) == -1 && err == NULL);
    f = base_xasprintf("%s/dir/f", dest2);
    CHECK(access(f, F_OK) != 0);
    free(f);
    free(dest2);
    free(good);
    free(badlink);
    free(dotdot);
    free(src);
    free(dest);
}

static void test_version_parse(void) {
    char *v = agents_version_parse("codex-cli 0.5.0\n", 16);
    CHECK_STR(v, "codex-cli 0.5.0");
    free(v);
    const char *cc = "\n  \n  1.0.98 (Claude Code)\nmore\n";
    v = agents_version_parse(cc, strlen(cc));
    CHECK_STR(v, "1.0.98");
    free(v);
    CHECK(agents_version_parse("", 0) == NULL);
    CHECK(agents_version_parse(NULL, 0) == NULL);
    CHECK(agents_version_parse("\n\n", 2) == NULL);
    const char *bad = "bad \xff\n1.0\n";
    CHECK(agents_version_parse(bad, strlen(bad)) == NULL); /* the first line decides */
    char line[250];
    memset(line, '1', sizeof line);
    CHECK(agents_version_parse(line, sizeof line) == NULL);
}

static void cleanup(void) {
    char *cmd = base_xasprintf("rm -rf %s", data_home);
    CHECK(system(cmd) == 0);
    free(cmd);
}

/* The mock: its launcher is written for users to see and replace; while it is exactly ours,
 * this binary's mock-agent-process is run directly; any other file there is run as it is. */
static void test_mock_launch(void) {
    agents_launch l;
    CHECK(agents_launch_recipe("mock", &l) == 0);
    CHECK_STR(l.file, base_self_exe());
    CHECK(l.argv && l.argv[1] && !strcmp(l.argv[1], "mock-agent-process"));
    agents_launch_free(&l);
    char *path = agents_launcher_path("mock");
    CHECK(agents_is_mock_launcher(path));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0111));

    /* A user's own agent in its place (one byte more) is what runs. */
    FILE *f = fopen(path, "a");
    fputs("#\n", f);
    fclose(f);
    CHECK(!agents_is_mock_launcher(path));
    CHECK(agents_launch_recipe("mock", &l) == 0);
    CHECK_STR(l.file, path);
    CHECK(l.argv && l.argv[1] == NULL);
    agents_launch_free(&l);

    /* Ours again but not executable: run as the file (and fail as it would), not bypassed. */
    CHECK(unlink(path) == 0);
    char *w = NULL;
    CHECK(agents_write_mock_launcher(&w) == 0);
    free(w);
    CHECK(chmod(path, 0644) == 0);
    CHECK(agents_launch_recipe("mock", &l) == 0);
    CHECK_STR(l.file, path);
    agents_launch_free(&l);
    CHECK(chmod(path, 0755) == 0);
    free(path);
}

static void setup(void) {
    CHECK(mkdtemp(data_home) != NULL);
    setenv("XDG_DATA_HOME", data_home, 1); /* before anything computes the data dir */
    setenv("SANDBOX_AGENT_LOG", "error", 1);
    base_log_init();
}

UNIT_MAIN(setup(); test_unknown_ids(); test_catalogue(); test_builtin_recipes();
          test_version_overrides(); test_registry_documents(); test_expand_and_platform();
          test_shell_and_env(); test_launcher_text(); test_manifest_version(); test_tail();
          test_path_safety(); test_unpack(); test_version_parse(); test_mock_launch(); cleanup())
