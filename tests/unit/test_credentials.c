/* test_credentials.c - credential discovery (agents.md §7.1), redaction, the RFC 3339
 * expiry parser, credentialsAvailable (§3) and the `credentials` CLI output forms (§7.2-7.4).
 *
 * Every case runs against a private temporary HOME with the credential variables cleared,
 * so nothing from the machine running the tests leaks in. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agents/credentials.h"
#include "base/base.h"
#include "cli/cli.h"
#include "unit.h"

static char test_home[256];

static const char *const test_vars[] = {"ANTHROPIC_API_KEY",       "CLAUDE_API_KEY",
                                        "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN",
                                        "OPENAI_API_KEY",          "CODEX_API_KEY"};

/* A fresh empty HOME (the previous one is removed) and no credential variables. */
static void test_reset(void) {
    if (test_home[0]) {
        char *cmd = base_xasprintf("rm -rf '%s'", test_home);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", test_home);
        free(cmd);
    }
    snprintf(test_home, sizeof test_home, "/tmp/test_credentials.XXXXXX");
    if (!mkdtemp(test_home))
        abort();
    setenv("HOME", test_home, 1);
    for (size_t i = 0; i < sizeof test_vars / sizeof test_vars[0]; i++)
        unsetenv(test_vars[i]);
}

/* Write HOME/rel (creating its directories) with the given bytes. */
static void test_write_n(const char *rel, const char *data, size_t n) {
    char *path = base_xasprintf("%s/%s", test_home, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    base_mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, n, f);
    fclose(f);
    free(path);
}

static void test_write(const char *rel, const char *text) {
    test_write_n(rel, text, strlen(text));
}

static char *test_path(const char *rel) {
    return base_xasprintf("%s/%s", test_home, rel);
}

/* ---- RFC 3339 ----------------------------------------------------------------------------- */

static bool test_ts(const char *s, int64_t *sec) {
    int32_t ns;
    return agents_credentials_rfc3339(s, strlen(s), sec, &ns);
}

static void test_rfc3339(void) {
    int64_t sec = 0;
    int32_t ns = 0;
    CHECK(test_ts("1970-01-01T00:00:00Z", &sec) && sec == 0);
    CHECK(test_ts("2000-01-01T00:00:00Z", &sec) && sec == 946684800);
    CHECK(test_ts("2000-01-01T05:30:00+05:30", &sec) && sec == 946684800);
    CHECK(test_ts("1999-12-31T23:00:00-01:00", &sec) && sec == 946684800);
    CHECK(test_ts("2000-01-01t00:00:00z", &sec) && sec == 946684800);
    CHECK(test_ts("2000-01-01 00:00:00Z", &sec) && sec == 946684800);
    CHECK(test_ts("2000-01-01_00:00:00Z", &sec) && sec == 946684800); /* any one byte */
    CHECK(test_ts("2000-01-01T00:00:00-00:00", &sec) && sec == 946684800);
    CHECK(test_ts("1969-12-31T23:59:59Z", &sec) && sec == -1);
    CHECK(test_ts("0000-01-01T00:00:00Z", &sec) && sec == -62167219200LL);
    CHECK(test_ts("9999-12-31T23:59:59Z", &sec) && sec == 253402300799LL);
    CHECK(test_ts("2000-02-29T00:00:00Z", &sec));
    CHECK(agents_credentials_rfc3339("2000-01-01T00:00:00.123456789123Z", 33, &sec, &ns) &&
          ns == 123456789);
    CHECK(agents_credentials_rfc3339("2000-01-01T00:00:00.5Z", 22, &sec, &ns) && ns == 500000000);
    /* Leap seconds: only 23:59:60 UTC on the last day of a month. */
    CHECK(test_ts("1999-12-31T23:59:60Z", &sec) && sec == 946684799);
    CHECK(test_ts("2000-06-30T23:59:60Z", &sec));
    CHECK(test_ts("2000-02-29T23:59:60Z", &sec));
    CHECK(test_ts("2000-01-01T00:00:60+00:01", &sec));
    CHECK(!test_ts("2000-02-28T23:59:60Z", &sec));
    CHECK(!test_ts("2000-01-01T00:00:60Z", &sec));
    CHECK(!test_ts("2000-01-01T23:59:60+01:00", &sec));
    CHECK(!test_ts("2000-01-01T23:59:60.9Z", &sec));
    /* Not RFC 3339 for the `time` crate. */
    const char *bad[] = {"",
                         "2000-01-01",
                         "2000-01-01T00:00Z",
                         "2000-01-01T00:00:00",
                         "2000-01-01T00:00:00+0500",
                         "2000-01-01T00:00:00+05",
                         "2000-01-01T00:00:00+24:00",
                         "2000-01-01T00:00:00+05:60",
                         "2000-01-01T00:00:00+05:00:00",
                         "2000-13-01T00:00:00Z",
                         "2000-00-01T00:00:00Z",
                         "2000-02-30T00:00:00Z",
                         "1900-02-29T00:00:00Z",
                         "2000-01-00T00:00:00Z",
                         "2000-01-01T24:00:00Z",
                         "2000-01-01T00:60:00Z",
                         "2000-01-01T00:00:61Z",
                         "2000-01-01T00:00:00.Z",
                         "2000-01-01T00:00:00,5Z",
                         "2000-01-01T00:00:00ZZ",
                         "2000-01-01T00:00:00Z ",
                         " 2000-01-01T00:00:00Z",
                         "+2000-01-01T00:00:00Z",
                         "02000-01-01T00:00:00Z",
                         "2000-1-01T00:00:00Z",
                         "2000-01-01\xc3\xa9"
                         "00:00:00Z",
                         "garbage"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = test_ts(bad[i], &sec);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    }
}

/* ---- redaction ----------------------------------------------------------------------------- */

static void test_redact_one(const char *in, size_t n, const char *want) {
    size_t len = 0;
    char *r = agents_credentials_redact(in, n, &len);
    CHECK_STR(r, want);
    CHECK(len == strlen(want));
    free(r);
}

static void test_redact(void) {
    test_redact_one("sk-test-abcdef", 14, "sk-t...cdef");
    test_redact_one("123456789", 9, "1234...6789");
    test_redact_one("12345678", 8, "****");
    test_redact_one("", 0, "****");
    test_redact_one("  123456789  ", 13, "1234...6789");
    test_redact_one("\t\n 12345678\xe3\x80\x80", 14, "****"); /* U+3000 is whitespace */
    test_redact_one("\xe2\x80\xa9"
                    "123456789\xc2\xa0",
                    14, "1234...6789");
    test_redact_one("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10,
                    "\xc3\xa9\xc3\xa9...\xc3\xa9\xc3\xa9");
    /* The reference panics here; the cut backs off to a character boundary instead. */
    test_redact_one("a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 9, "a\xc3\xa9...\xc3\xa9\xc3\xa9");
    test_redact_one("abcd\xc3\xa9", 6, "****");
    size_t len; /* NUL is no whitespace and counts as a byte */
    char *r = agents_credentials_redact("ab\0cdefghij", 11, &len);
    CHECK(len == 11 && !memcmp(r, "ab\0c...ghij", 11));
    free(r);
}

/* ---- discovery ----------------------------------------------------------------------------- */

static void test_discover(agents_credentials *c, bool oauth) {
    agents_credentials_discover(NULL, oauth, c);
}

static bool test_is(const agents_credential *cr, const char *provider, const char *source,
                    agents_credentials_auth auth, const char *key) {
    return cr && !strcmp(cr->provider, provider) && !strcmp(cr->source, source) &&
           cr->auth_type == auth && cr->api_key_len == strlen(key) && !strcmp(cr->api_key, key);
}

#define API AGENTS_CREDENTIALS_API_KEY
#define OAUTH AGENTS_CREDENTIALS_OAUTH

static void test_env(void) {
    agents_credentials c;
    test_reset();
    test_discover(&c, true);
    CHECK(!c.anthropic && !c.openai && c.n_other == 0);
    agents_credentials_free(&c);

    setenv("ANTHROPIC_AUTH_TOKEN", "t4", 1);
    setenv("CLAUDE_CODE_OAUTH_TOKEN", "t3", 1);
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "environment", OAUTH, "t3"));
    agents_credentials_free(&c);
    test_discover(&c, false);
    CHECK(!c.anthropic);
    agents_credentials_free(&c);
    unsetenv("CLAUDE_CODE_OAUTH_TOKEN");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "environment", OAUTH, "t4"));
    agents_credentials_free(&c);

    setenv("CLAUDE_API_KEY", "k2", 1);
    setenv("ANTHROPIC_API_KEY", "", 1); /* empty still counts and wins */
    setenv("CODEX_API_KEY", "c", 1);
    test_discover(&c, false);
    CHECK(test_is(c.anthropic, "anthropic", "environment", API, ""));
    CHECK(test_is(c.openai, "openai", "environment", API, "c"));
    agents_credentials_free(&c);
    setenv("OPENAI_API_KEY", "o", 1);
    setenv("ANTHROPIC_API_KEY", "\xff\xfe not utf-8", 1); /* absent for Rust's env::var */
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "environment", API, "k2"));
    CHECK(test_is(c.openai, "openai", "environment", API, "o"));
    agents_credentials_free(&c);

    /* The environment shadows every file. */
    test_write(".amp/config.json", "{\"apiKey\":\"amp\"}");
    test_write(".codex/auth.json", "{\"OPENAI_API_KEY\":\"codex\"}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "environment", API, "k2"));
    CHECK(test_is(c.openai, "openai", "environment", API, "o"));
    agents_credentials_free(&c);
}

static void test_amp(void) {
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"anthropicApiKey\":\"a1\",\"apiKey\":\"a2\"}", "a1"},
        {"{\"anthropicApiKey\":\"\",\"apiKey\":\"a2\"}", "a2"},
        {"{\"anthropicApiKey\":5,\"token\":\"a3\"}", "a3"},
        {"{\"accessToken\":\"t1\",\"anthropic_api_key\":\"t0\"}", "t0"},
        {"{\"auth\":{\"token\":\"n1\",\"apiKey\":\"n2\"}}", "n2"},
        {"{\"anthropic\":{\"apiKey\":\"x\",\"token\":\"y\"},\"auth\":{\"token\":\"z\"}}", "z"},
        {"{\"auth\":\"str\",\"anthropic\":{\"token\":\"tt\"}}", "tt"},
        {"{\"token\":\"   \"}", "   "},
        {"{\"auth.token\":\"dotted\"}", NULL},
        {"[1,2]", NULL},
        {"\"str\"", NULL},
        {"not json", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_reset();
        test_write(".amp/config.json", cases[i].json);
        agents_credentials c;
        test_discover(&c, true);
        if (cases[i].want)
            CHECK(test_is(c.anthropic, "anthropic", "amp", API, cases[i].want));
        else
            CHECK(!c.anthropic);
        agents_credentials_free(&c);
    }
    /* amp comes before Claude Code. */
    test_reset();
    test_write(".amp/config.json", "{\"apiKey\":\"amp\"}");
    test_write(".claude.json", "{\"primaryApiKey\":\"sk-ant-claude\"}");
    agents_credentials c;
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "amp", API, "amp"));
    agents_credentials_free(&c);
}

static void test_claude(void) {
    agents_credentials c;
    test_reset();
    test_write(".claude.json", "{\"primaryApiKey\":\"sk-ant-main\"}");
    test_write(".claude.json.api", "{\"apiKey\":\"sk-ant-api\"}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-api"));
    agents_credentials_free(&c);

    test_reset();
    test_write(".claude.json", "{\"primaryApiKey\":\"sk-other\",\"apiKey\":5,"
                               "\"customApiKey\":\"sk-ant-c\"}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-c"));
    agents_credentials_free(&c);

    test_reset();
    test_write(".claude.json", "{\"primaryApiKey\":\" sk-ant-x\"}");
    test_write(".claude.json.nathan", "{\"apiKey\":\"sk-ant-nathan\"}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-nathan"));
    agents_credentials_free(&c);

    /* A \u0000 in the key survives with its length. */
    test_reset();
    test_write(".claude.json", "{\"primaryApiKey\":\"sk-ant-\\u0000x\"}");
    test_discover(&c, true);
    CHECK(c.anthropic && c.anthropic->api_key_len == 9 &&
          !memcmp(c.anthropic->api_key, "sk-ant-\0x", 9));
    agents_credentials_free(&c);

    /* oauth files, in order, with the expiry rules of 0.4.2. */
    test_reset();
    test_write(
        ".claude/.credentials.json",
        "{\"claudeAiOauth\":{\"accessToken\":\"oa1\",\"expiresAt\":\"2000-01-01T00:00:00Z\"}}");
    test_write(".claude-oauth-credentials.json", "{\"claudeAiOauth\":{\"accessToken\":\"oa2\"}}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", OAUTH, "oa2"));
    agents_credentials_free(&c);
    test_discover(&c, false);
    CHECK(!c.anthropic);
    agents_credentials_free(&c);

    static const struct {
        const char *oauth;
        const char *want;
    } cases[] = {
        {"{\"accessToken\":\"oa1\",\"expiresAt\":\"2999-01-01T00:00:00Z\"}", "oa1"},
        {"{\"accessToken\":\"oa1\",\"expiresAt\":1}", "oa1"}, /* numbers are not checked */
        {"{\"accessToken\":\"oa1\",\"expiresAt\":\"garbage\"}", "oa1"},
        {"{\"accessToken\":\"oa1\",\"expiresAt\":\"2000-01-01\"}", "oa1"},
        {"{\"accessToken\":\"oa1\",\"expiresAt\":\"2000-01-01 00:00:00+05:00\"}", NULL},
        {"{\"accessToken\":\"oa1\",\"expiresAt\":null}", "oa1"},
        {"{\"accessToken\":\"\"}", ""}, /* 0.4.2 keeps an empty token */
        {"{\"accessToken\":5}", NULL},
        {"\"x\"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_reset();
        char *json = base_xasprintf("{\"claudeAiOauth\":%s}", cases[i].oauth);
        test_write(".claude/.credentials.json", json);
        free(json);
        test_discover(&c, true);
        if (cases[i].want)
            CHECK(test_is(c.anthropic, "anthropic", "claude-code", OAUTH, cases[i].want));
        else
            CHECK(!c.anthropic);
        agents_credentials_free(&c);
    }

    /* An api key in any ~/.claude.json* beats the oauth files. */
    test_reset();
    test_write(".claude.json.nathan", "{\"primaryApiKey\":\"sk-ant-k\"}");
    test_write(".claude/.credentials.json", "{\"claudeAiOauth\":{\"accessToken\":\"oa1\"}}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-k"));
    agents_credentials_free(&c);
}

static void test_codex(void) {
    static const struct {
        const char *json;
        bool oauth;
        agents_credentials_auth auth;
        const char *want;
    } cases[] = {
        {"{\"OPENAI_API_KEY\":\"ck\",\"tokens\":{\"access_token\":\"at\"}}", true, API, "ck"},
        {"{\"OPENAI_API_KEY\":\"\",\"tokens\":{\"access_token\":\"at\"}}", true, OAUTH, "at"},
        {"{\"OPENAI_API_KEY\":null,\"tokens\":{\"access_token\":\"\"}}", true, OAUTH, ""},
        {"{\"tokens\":{\"access_token\":\"at\",\"expires_at\":1}}", true, OAUTH, "at"},
        {"{\"tokens\":{\"access_token\":\"at\"}}", false, API, NULL},
        {"{\"OPENAI_API_KEY\":\"ck\"}", false, API, "ck"},
        {"{\"tokens\":\"x\"}", true, API, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_reset();
        test_write(".codex/auth.json", cases[i].json);
        agents_credentials c;
        test_discover(&c, cases[i].oauth);
        if (cases[i].want)
            CHECK(test_is(c.openai, "openai", "codex", cases[i].auth, cases[i].want));
        else
            CHECK(!c.openai);
        agents_credentials_free(&c);
    }
}

static void test_opencode(void) {
    agents_credentials c;
    test_reset();
    char *future = base_xasprintf("%lld", (long long)base_now_ms() + 3600000);
    char *json = base_xasprintf(
        "{\"anthropic\":{\"type\":\"api\",\"key\":\"k1\"},"
        "\"openai\":{\"type\":\"oauth\",\"access\":\"a1\",\"refresh\":\"r\",\"expires\":1},"
        "\"openrouter\":{\"type\":\"api\",\"key\":\"k2\"},"
        "\"github-copilot\":{\"type\":\"oauth\",\"access\":\"gh\",\"expires\":%s},"
        "\"x\":{\"type\":\"wellknown\",\"key\":\"z\"},\"y\":\"str\",\"z\":{\"type\":\"api\","
        "\"key\":5},\"w\":{\"type\":\"API\",\"key\":\"k\"},\"v\":{\"key\":\"k\"}}",
        future);
    test_write(".local/share/opencode/auth.json", json);
    free(json);
    free(future);
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "opencode", API, "k1"));
    CHECK(!c.openai); /* expired */
    CHECK(c.n_other == 2);
    if (c.n_other == 2) {
        CHECK(test_is(&c.other[0], "openrouter", "opencode", API, "k2"));
        CHECK(test_is(&c.other[1], "github-copilot", "opencode", OAUTH, "gh"));
    }
    CHECK(agents_credentials_find(&c, "openrouter") == &c.other[0]);
    CHECK(agents_credentials_find(&c, "anthropic") == c.anthropic);
    CHECK(agents_credentials_find(&c, "OPENROUTER") == NULL);
    agents_credentials_free(&c);
    test_discover(&c, false);
    CHECK(c.anthropic && c.n_other == 1);
    agents_credentials_free(&c);

    /* Only an int64 expiry is checked; anything else keeps the token. */
    static const struct {
        const char *expires;
        bool kept;
    } exp[] = {{"1.5", true},
               {"1000.0", true},
               {"1e3", true},
               {"-5", false},
               {"\"1\"", true},
               {"null", true},
               {"9223372036854775807", true},
               {"9223372036854775808", true}, /* u64 for serde: no as_i64 */
               {"-9223372036854775808", false},
               {"18446744073709551615", true},
               {"123456789012345678901234567890", true}};
    for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
        test_reset();
        json = base_xasprintf("{\"openai\":{\"type\":\"oauth\",\"access\":\"a1\",\"expires\":%s}}",
                              exp[i].expires);
        test_write(".local/share/opencode/auth.json", json);
        free(json);
        test_discover(&c, true);
        CHECK(exp[i].kept == (c.openai != NULL));
        if (exp[i].kept != (c.openai != NULL))
            fprintf(stderr, "  expires=%s\n", exp[i].expires);
        agents_credentials_free(&c);
    }

    /* Slots already filled stay; opencode's anthropic/openai never land in other. */
    test_reset();
    setenv("ANTHROPIC_API_KEY", "envk", 1);
    test_write(".codex/auth.json", "{\"OPENAI_API_KEY\":\"ck\"}");
    test_write(".local/share/opencode/auth.json",
               "{\"openai\":{\"type\":\"api\",\"key\":\"oc\"},"
               "\"anthropic\":{\"type\":\"api\",\"key\":\"an\"}}");
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "environment", API, "envk"));
    CHECK(test_is(c.openai, "openai", "codex", API, "ck"));
    CHECK(c.n_other == 0);
    agents_credentials_free(&c);

    /* XDG_DATA_HOME is not honoured for opencode's file. */
    test_reset();
    char *xdg = test_path("xdg");
    setenv("XDG_DATA_HOME", xdg, 1);
    test_write("xdg/opencode/auth.json", "{\"openai\":{\"type\":\"api\",\"key\":\"oc\"}}");
    test_discover(&c, true);
    CHECK(!c.openai);
    agents_credentials_free(&c);
    unsetenv("XDG_DATA_HOME");
    free(xdg);
}

/* Files that are not plain JSON objects of sane size are skipped without harm. */
static void test_malformed(void) {
    agents_credentials c;
    const char *good = "{\"claudeAiOauth\":{\"accessToken\":\"oa2\"}}";

    /* A FIFO would block a plain open(); a symlink loop and a directory fail to read. */
    test_reset();
    char *p = test_path(".claude.json");
    CHECK(mkfifo(p, 0600) == 0);
    free(p);
    p = test_path(".claude.json.api");
    char *loop = test_path("loop");
    CHECK(symlink(loop, p) == 0 && symlink(p, loop) == 0);
    free(p);
    free(loop);
    p = test_path(".claude.json.nathan");
    CHECK(mkdir(p, 0700) == 0);
    free(p);
    test_write(".claude-oauth-credentials.json", good);
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", OAUTH, "oa2"));
    agents_credentials_free(&c);

    /* A symlink to a regular file is followed; one to /dev/zero is not read. */
    test_reset();
    p = test_path(".claude.json");
    CHECK(symlink("/dev/zero", p) == 0);
    free(p);
    test_write("real.json", "{\"apiKey\":\"sk-ant-link\"}");
    p = test_path(".claude.json.nathan");
    CHECK(symlink("real.json", p) == 0);
    free(p);
    test_discover(&c, true);
    CHECK(test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-link"));
    agents_credentials_free(&c);

    /* Over the size cap: skipped, even though it is valid JSON. */
    test_reset();
    size_t big = (9u << 20);
    char *buf = base_xmalloc(big);
    memset(buf, ' ', big);
    const char *obj = "{\"apiKey\":\"sk-ant-big\"}";
    memcpy(buf, obj, strlen(obj));
    test_write_n(".claude.json", buf, big);
    free(buf);
    test_discover(&c, true);
    CHECK(!c.anthropic);
    agents_credentials_free(&c);

    /* serde_json's limits and leniencies, mirrored. */
    static const struct {
        const char *json;
        bool ok;
    } cases[] = {
        {"{\"apiKey\":\"sk-ant-k\"}   \n", true},
        {"{\"apiKey\":\"sk-ant-k\"} {}", false},
        {"\xef\xbb\xbf{\"apiKey\":\"sk-ant-k\"}", false},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":1e999}", false},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":1e-400}", true},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":\"\\ud800\"}", false},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":[123456789012345678901234567890,-99999999999999999999]}",
         true},
        {"{\"apiKey\":\"sk-ant-k\",\"x\\u0000y\":1}", true},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":\"\\u0000\",\"y\" : {\"\\u0000\":[]}}", true},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":\"\xff\"}", false},
        {"{\"apiKey\":\"sk-ant-dup1\",\"apiKey\":\"sk-ant-k\"}", true},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":\"[[[[\\\"{{{{\"}", true},
        {"{\"apiKey\":\"sk-ant-k\"", false},
        {"{\"apiKey\":\"sk-ant-k\\", false},
        {"-", false},
        {"{\"apiKey\":\"sk-ant-k\",\"x\":-}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_reset();
        test_write(".claude.json", cases[i].json);
        test_discover(&c, true);
        bool got = test_is(c.anthropic, "anthropic", "claude-code", API, "sk-ant-k");
        CHECK(got == cases[i].ok);
        if (got != cases[i].ok)
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].json);
        agents_credentials_free(&c);
    }

    /* Nesting: serde_json accepts 127 levels, not 128. */
    for (int depth = 126; depth <= 129; depth++) {
        test_reset();
        base_buf b;
        base_buf_init(&b);
        base_buf_appends(&b, "{\"apiKey\":\"sk-ant-k\",\"x\":");
        for (int d = 1; d < depth; d++)
            base_buf_appends(&b, "[");
        for (int d = 1; d < depth; d++)
            base_buf_appends(&b, "]");
        base_buf_appends(&b, "}");
        test_write_n(".claude.json", b.data, b.len);
        base_buf_free(&b);
        test_discover(&c, true);
        CHECK((c.anthropic != NULL) == (depth <= 127));
        agents_credentials_free(&c);
    }

    /* Random corruptions of a valid file must never crash (checked under ASan/valgrind). */
    const char *seed = "{\"anthropic\":{\"type\":\"oauth\",\"access\":\"a\\u0041\",\"expires\":"
                       "123456789012345678901234},\"o\":{\"type\":\"api\",\"key\":\"k\"},"
                       "\"n\":[1,-2.5e3,true,null,{\"\\u0000\":\"\"}]}";
    size_t n = strlen(seed);
    char *mut = base_xmalloc(n);
    static const char alphabet[] = "{}[]\",:\\0123456789-eEu \x80\xff";
    unsigned rnd = 12345;
    for (int iter = 0; iter < 300; iter++) {
        memcpy(mut, seed, n);
        for (int k = 0; k < 1 + iter % 4; k++) {
            rnd = rnd * 1103515245u + 12345u;
            size_t at = (rnd >> 8) % n;
            rnd = rnd * 1103515245u + 12345u;
            mut[at] = alphabet[(rnd >> 8) % (sizeof alphabet - 1)];
        }
        test_write_n(".local/share/opencode/auth.json", mut, (size_t)(iter % 7 == 0 ? n / 2 : n));
        test_write_n(".claude.json", mut, n);
        test_discover(&c, true);
        agents_credentials_free(&c);
    }
    free(mut);
    CHECK(1);
}

static void test_available(void) {
    agents_credentials c = {0};
    agents_credential anth = {.provider = "anthropic", .source = "environment"};
    agents_credential oai = {.provider = "openai", .source = "environment"};
    agents_credential other = {.provider = "openrouter", .source = "opencode"};
    const char *ids[] = {"claude", "codex", "opencode", "amp", "pi", "cursor", "mock"};
    const bool none[] = {false, false, false, false, true, true, true};
    const bool a_only[] = {true, false, true, true, true, true, true};
    const bool o_only[] = {false, true, true, false, true, true, true};
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available_in(&c, ids[i]) == none[i]);
    c.other = &other;
    c.n_other = 1; /* other entries do not count */
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available_in(&c, ids[i]) == none[i]);
    c.anthropic = &anth;
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available_in(&c, ids[i]) == a_only[i]);
    c.anthropic = NULL;
    c.openai = &oai;
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available_in(&c, ids[i]) == o_only[i]);

    /* The plain form reads the server's environment and $HOME, oauth allowed. */
    test_reset();
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available(ids[i]) == none[i]);
    test_write(".claude/.credentials.json", "{\"claudeAiOauth\":{\"accessToken\":\"x\"}}");
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available(ids[i]) == a_only[i]);
    test_reset();
    setenv("CODEX_API_KEY", "c", 1);
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available(ids[i]) == o_only[i]);
    test_reset();
    test_write(".local/share/opencode/auth.json", "{\"groq\":{\"type\":\"api\",\"key\":\"g\"}}");
    for (int i = 0; i < 7; i++)
        CHECK(agents_credentials_available(ids[i]) == none[i]);
}

/* ---- the server's discovery on the thread pool ------------------------------------------- */

/* What the async callback saw. Owner: the test's stack. */
typedef struct async_seen {
    int calls;
    char *anthropic_source;
    char *openai_key;
    size_t n_other;
} async_seen;

static void async_cb(const agents_credentials *c, void *ud) {
    async_seen *s = ud;
    s->calls++;
    s->anthropic_source = c->anthropic ? base_xstrdup(c->anthropic->source) : NULL;
    s->openai_key = c->openai ? base_xstrdup(c->openai->api_key) : NULL;
    s->n_other = c->n_other;
}

static void test_async(void) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* Files come from the thread pool, the environment from the caller: both are merged in
     * the usual order (the environment first). */
    test_reset();
    setenv("OPENAI_API_KEY", "env-key", 1);
    test_write(".claude/.credentials.json", "{\"claudeAiOauth\":{\"accessToken\":\"t\"}}");
    test_write(".codex/auth.json", "{\"OPENAI_API_KEY\":\"file-key\"}");
    test_write(".local/share/opencode/auth.json", "{\"groq\":{\"type\":\"api\",\"key\":\"g\"}}");
    async_seen seen = {0};
    agents_credentials_discover_async(&loop, true, async_cb, &seen);
    CHECK(seen.calls == 0); /* never synchronous */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(seen.calls == 1);
    CHECK_STR(seen.anthropic_source, "claude-code");
    CHECK_STR(seen.openai_key, "env-key");
    CHECK(seen.n_other == 1);
    free(seen.anthropic_source);
    free(seen.openai_key);

    /* Without oauth the claude token is skipped. */
    async_seen plain = {0};
    agents_credentials_discover_async(&loop, false, async_cb, &plain);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(plain.calls == 1 && plain.anthropic_source == NULL);
    free(plain.openai_key);

    /* A cancelled discovery never calls back, whether or not its work already started. */
    async_seen cancelled = {0};
    agents_credentials_job *j =
        agents_credentials_discover_async(&loop, true, async_cb, &cancelled);
    agents_credentials_cancel(j);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(cancelled.calls == 0);
    CHECK(uv_loop_close(&loop) == 0);
    test_reset();
}

/* ---- CLI --------------------------------------------------------------------------------------
 */

/* Run cli_credentials_main with stdout and stderr captured. Returns the exit status. */
static int test_cli(char **out, char **err, ...) {
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    argv[argc++] = "credentials";
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    FILE *fo = tmpfile(), *fe = tmpfile();
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = cli_credentials_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    FILE *fs[2] = {fo, fe};
    char **dst[2] = {out, err};
    for (int k = 0; k < 2; k++) {
        long n = ftell(fs[k]);
        rewind(fs[k]);
        *dst[k] = base_xcalloc(1, (size_t)(n > 0 ? n : 0) + 1);
        if (n > 0 && fread(*dst[k], 1, (size_t)n, fs[k]) != (size_t)n)
            abort();
        fclose(fs[k]);
    }
    return rc;
}

#define CLI(...) test_cli(&out, &err, __VA_ARGS__, (char *)NULL)
#define CLI_DONE()                                                                                 \
    do {                                                                                           \
        free(out);                                                                                 \
        free(err);                                                                                 \
    } while (0)

static void test_cli_json(void) {
    char *out, *err;
    test_reset();
    CHECK(CLI("extract") == 0);
    CHECK_STR(out, "{\n  \"anthropic\": null,\n  \"openai\": null,\n  \"other\": {}\n}\n");
    CHECK_STR(err, "");
    CLI_DONE();
    CHECK(CLI("extract-env") == 0);
    CHECK_STR(out, "");
    CLI_DONE();

    setenv("ANTHROPIC_API_KEY", "sk-test-abcdef", 1);
    test_write(".local/share/opencode/auth.json",
               "{\"openrouter\":{\"type\":\"api\",\"key\":\"or-0123456789\"},"
               "\"github-copilot\":{\"type\":\"oauth\",\"access\":\"q\\\"\\\\\\n\\u001f\\u007f/"
               "\xc3\xa9\"}}");
    CHECK(CLI("extract") == 0);
    CHECK_STR(out, "{\n"
                   "  \"anthropic\": {\n"
                   "    \"provider\": \"anthropic\",\n"
                   "    \"source\": \"environment\",\n"
                   "    \"auth_type\": \"api_key\",\n"
                   "    \"api_key\": \"sk-t...cdef\",\n"
                   "    \"redacted\": true\n"
                   "  },\n"
                   "  \"openai\": null,\n"
                   "  \"other\": {\n"
                   "    \"openrouter\": {\n"
                   "      \"provider\": \"openrouter\",\n"
                   "      \"source\": \"opencode\",\n"
                   "      \"auth_type\": \"api_key\",\n"
                   "      \"api_key\": \"or-0...6789\",\n"
                   "      \"redacted\": true\n"
                   "    },\n"
                   "    \"github-copilot\": {\n"
                   "      \"provider\": \"github-copilot\",\n"
                   "      \"source\": \"opencode\",\n"
                   "      \"auth_type\": \"oauth\",\n"
                   "      \"api_key\": \"q\\\"\\\\\\n...\x7f/\xc3\xa9\",\n"
                   "      \"redacted\": true\n"
                   "    }\n"
                   "  }\n"
                   "}\n");
    CLI_DONE();
    CHECK(CLI("extract", "--reveal", "-p", "github-copilot") == 0);
    CHECK_STR(out, "q\"\\\n\x1f\x7f/\xc3\xa9\n");
    CLI_DONE();
    CHECK(CLI("-t", "tok", "extract", "-rn") == 0);
    CHECK(strstr(out, "\"api_key\": \"q\\\"\\\\\\n\\u001f\x7f/\xc3\xa9\",\n"
                      "      \"redacted\": false\n") != NULL);
    CHECK(strstr(out, "\"api_key\": \"sk-test-abcdef\",\n    \"redacted\": false\n") != NULL);
    CLI_DONE();
    CHECK(CLI("extract-env", "-e") == 0);
    CHECK_STR(out, "export ANTHROPIC_API_KEY=sk-test-abcdef\n"
                   "export CLAUDE_API_KEY=sk-test-abcdef\n"
                   "export OPENROUTER_API_KEY=or-0123456789\n"
                   "export GITHUB_COPILOT_API_KEY=q\"\\\n\x1f\x7f/\xc3\xa9\n");
    CLI_DONE();

    /* --no-oauth and --home-dir. */
    test_reset();
    test_write("alt/.codex/auth.json", "{\"tokens\":{\"access_token\":\"at\"}}");
    test_write("alt/.local/share/opencode/auth.json",
               "{\"amazon.bedrock\":{\"type\":\"api\",\"key\":\"ab\"},"
               "\"\xc3\xa9\xc3\x9f-x\":{\"type\":\"api\",\"key\":\"u\"}}");
    char *alt = test_path("alt");
    CHECK(CLI("extract-env", "-d", alt) == 0);
    CHECK_STR(out, "OPENAI_API_KEY=at\nCODEX_API_KEY=at\nAMAZON.BEDROCK_API_KEY=ab\n"
                   "\xc3\x89SS_X_API_KEY=u\n");
    CLI_DONE();
    CHECK(CLI("extract-env", "--no-oauth", "--home-dir", alt) == 0);
    CHECK_STR(out, "AMAZON.BEDROCK_API_KEY=ab\n\xc3\x89SS_X_API_KEY=u\n");
    CLI_DONE();
    CHECK(CLI("extract", "-a", "codex", "-d", alt) == 0);
    CHECK_STR(out, "at\n");
    CLI_DONE();
    CHECK(CLI("extract", "-a", "codex", "--no-oauth", "-d", alt) == 1);
    CHECK_STR(out, "");
    CHECK(strstr(err, " level=error target=sandbox_agent message=\"sandbox-agent failed\" "
                      "error=\"server error: no credentials found for provider openai\"\n"));
    const char *z = strchr(err, 'Z'); /* the fraction, if any, ends in a non-zero digit */
    CHECK(!strncmp(err, "ts=", 3) && err[13] == 'T' && z &&
          (z == err + 22 || (err[22] == '.' && z[-1] != '0' && z - err <= 32)));
    CLI_DONE();
    free(alt);
}

static void test_cli_select(void) {
    char *out, *err;
    test_reset();
    test_write(".local/share/opencode/auth.json",
               "{\"zeta\":{\"type\":\"api\",\"key\":\"ze\"},\"groq\":{\"type\":\"api\",\"key\":"
               "\"gq\"},\"openrouter\":{\"type\":\"api\",\"key\":\"or\"}}");
    static const struct {
        const char *a[4];
        int rc;
        const char *out, *err;
    } cases[] = {
        {{"-a", "opencode"},
         1,
         "",
         "multiple providers available for opencode: groq, openrouter, zeta (use --provider)"},
        {{"-a", "opencode", "-p", "groq"}, 0, "gq\n", NULL},
        {{"-p", "zeta"}, 0, "ze\n", NULL},
        {{"-p", "ZETA"}, 1, "", "no credentials found for provider ZETA"},
        {{"-p", ""}, 1, "", "no credentials found for provider "},
        {{"-a", "claude", "-p", "groq"}, 1, "", "agent Claude only supports provider anthropic"},
        {{"-a", "amp", "-p", "openai"}, 1, "", "agent Amp only supports provider anthropic"},
        {{"-a", "codex", "-p", "anthropic"}, 1, "", "agent Codex only supports provider openai"},
        {{"-a", "claude"}, 1, "", "no credentials found for provider anthropic"},
        {{"-a", "amp", "-p", "anthropic"}, 1, "", "no credentials found for provider anthropic"},
        {{"-p", "a\"b\\c\n"}, 1, "", "no credentials found for provider a\\\"b\\\\c\\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].a;
        int rc = CLI("extract", (char *)a[0], (char *)a[1], (char *)a[2], (char *)a[3]);
        CHECK(rc == cases[i].rc);
        CHECK_STR(out, cases[i].out);
        if (cases[i].err) {
            char *want = base_xasprintf("error=\"server error: %s\"\n", cases[i].err);
            CHECK(strstr(err, want) != NULL);
            if (!strstr(err, want))
                fprintf(stderr, "  case %zu stderr: %s", i, err);
            free(want);
        } else {
            CHECK_STR(err, "");
        }
        CLI_DONE();
    }

    /* opencode: openai, else anthropic, else a lone other entry, else an error. */
    setenv("ANTHROPIC_API_KEY", "ak", 1);
    CHECK(CLI("extract", "-a", "opencode") == 0);
    CHECK_STR(out, "ak\n");
    CLI_DONE();
    setenv("OPENAI_API_KEY", "ok", 1);
    CHECK(CLI("extract", "--agent=opencode") == 0);
    CHECK_STR(out, "ok\n");
    CLI_DONE();
    CHECK(CLI("extract", "-aopencode", "--provider", "anthropic") == 0);
    CHECK_STR(out, "ak\n");
    CLI_DONE();
    test_reset();
    test_write(".local/share/opencode/auth.json", "{\"groq\":{\"type\":\"api\",\"key\":\"gq\"}}");
    CHECK(CLI("extract", "-a=opencode") == 0);
    CHECK_STR(out, "gq\n");
    CLI_DONE();
    test_reset();
    CHECK(CLI("extract", "-a", "opencode") == 1);
    CHECK(strstr(err, "error=\"server error: no credentials found for opencode\"\n") != NULL);
    CLI_DONE();
    /* Raw means raw: surrounding blanks and NUL bytes are printed as they are. */
    test_write(".amp/config.json", "{\"apiKey\":\" a\\u0000b \"}");
    CHECK(CLI("extract", "-ra", "claude") == 0);
    CHECK(!memcmp(out, " a\0b \n", 7));
    CLI_DONE();
}

static void test_cli_usage(void) {
    char *out, *err;
    test_reset();
    CHECK(CLI("--help") == 0);
    CHECK(!strncmp(out,
                   "Inspect locally discovered credentials\n\nUsage: sandbox-agent credentials "
                   "[OPTIONS] <COMMAND>\n",
                   83));
    CHECK(strstr(out, "  -t, --token <TOKEN>  \n  -n, --no-token       \n") != NULL);
    CLI_DONE();
    CHECK(test_cli(&out, &err, (char *)NULL) == 2);
    CHECK_STR(out, "");
    CHECK(!strncmp(err, "Inspect locally discovered credentials\n", 39));
    CLI_DONE();
    CHECK(CLI("extract", "-r", "--help") == 0);
    CHECK(strstr(out, "  -a, --agent <AGENT>        [possible values: claude, codex, opencode, "
                      "amp]\n") != NULL);
    CLI_DONE();
    CHECK(CLI("help", "extract-env") == 0);
    CHECK(!strncmp(out, "Output credentials as environment variable assignments\n", 55));
    CHECK(strstr(out, "  -e, --export               \n") != NULL);
    CLI_DONE();

    static const struct {
        const char *a[3];
        const char *err;
    } cases[] = {
        {{"bogus"},
         "error: unrecognized subcommand 'bogus'\n\nUsage: sandbox-agent credentials [OPTIONS] "
         "<COMMAND>\n\nFor more information, try '--help'.\n"},
        {{"extract", "--foo=bar"},
         "error: unexpected argument '--foo' found\n\nUsage: sandbox-agent credentials extract "
         "[OPTIONS]\n\nFor more information, try '--help'.\n"},
        {{"extract", "-rx"},
         "error: unexpected argument '-x' found\n\nUsage: sandbox-agent credentials extract "
         "[OPTIONS]\n\nFor more information, try '--help'.\n"},
        {{"extract", "-a", "foo"},
         "error: invalid value 'foo' for '--agent <AGENT>'\n  [possible values: claude, codex, "
         "opencode, amp]\n\nFor more information, try '--help'.\n"},
        {{"extract", "-a"},
         "error: a value is required for '--agent <AGENT>' but none was supplied\n  [possible "
         "values: claude, codex, opencode, amp]\n\nFor more information, try '--help'.\n"},
        {{"extract", "-d", ""},
         "error: a value is required for '--home-dir <HOME_DIR>' but none was supplied\n\nFor "
         "more information, try '--help'.\n"},
        {{"extract", "-p", "-r"},
         "error: a value is required for '--provider <PROVIDER>' but none was supplied\n\nFor "
         "more information, try '--help'.\n"},
        {{"extract", "-r", "-r"},
         "error: the argument '--reveal' cannot be used multiple times\n\nUsage: sandbox-agent "
         "credentials extract [OPTIONS]\n\nFor more information, try '--help'.\n"},
        {{"extract", "--no-oauth=1"},
         "error: unexpected value '1' for '--no-oauth' found; no more were expected\n\nUsage: "
         "sandbox-agent credentials extract --no-oauth\n\nFor more information, try '--help'.\n"},
        {{"extract-env", "-r"},
         "error: unexpected argument '-r' found\n\nUsage: sandbox-agent credentials extract-env "
         "[OPTIONS]\n\nFor more information, try '--help'.\n"},
        {{"-t", "x", "-t"},
         "error: a value is required for '--token <TOKEN>' but none was supplied\n\nFor more "
         "information, try '--help'.\n"},
        {{"extract", "extra"},
         "error: unexpected argument 'extra' found\n\nUsage: sandbox-agent credentials extract "
         "[OPTIONS]\n\nFor more information, try '--help'.\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].a;
        CHECK(CLI((char *)a[0], (char *)a[1], (char *)a[2]) == 2);
        CHECK_STR(out, "");
        CHECK_STR(err, cases[i].err);
        if (strcmp(err, cases[i].err))
            fprintf(stderr, "  case %zu stderr: %s", i, err);
        CLI_DONE();
    }
}

UNIT_MAIN(test_async(); test_rfc3339(); test_redact(); test_env(); test_amp(); test_claude();
          test_codex(); test_opencode(); test_malformed(); test_available(); test_cli_json();
          test_cli_select(); test_cli_usage(); test_reset(); rmdir(test_home))
