/* credentials.c - LLM credential discovery (agents.md §7.1): environment variables, then the
 * amp, Claude Code, codex and opencode files under the home directory.
 *
 * Behaviour follows what the 0.4.2 binary was observed to do, including where it differs
 * from the prose of the spec (an empty oauth access token still counts; an expiry that does
 * not parse as RFC 3339 keeps the token). The reference reads these files with serde_json;
 * jansson disagrees with it in three places that matter here (integers beyond int64, \u0000
 * in object keys, nesting depth), and agents_credentials_parse evens those out so a file is
 * accepted or skipped exactly when the reference would accept or skip it.
 *
 * Every source is best effort: an unreadable, oversized or malformed file is skipped without
 * a word. Nothing here logs, so no secret or part of one can reach a log line (jansson's
 * error text quotes the offending token, which may be a key).
 *
 * The server discovers per request (a credential file may appear at any time) through
 * agents_credentials_discover_async: up to eight files, one of them a ~/.claude.json that
 * grows past a megabyte, are read and parsed on libuv's thread pool, never on the loop. The
 * environment is read before the job is queued, on the caller's thread, because getenv is
 * not safe against a setenv elsewhere in the process. */
#include "agents/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

/* Real ~/.claude.json files carry per-project history and grow past 1 MiB, so the cap is
 * generous; it only exists so that a pathological file cannot eat memory on every
 * GET /v1/agents. */
#define AGENTS_CREDENTIALS_MAX_FILE ((size_t)8 << 20)
/* serde_json refuses documents nested deeper than this; the reference skips such files. */
#define AGENTS_CREDENTIALS_MAX_DEPTH 127

/* ---- file loading ---------------------------------------------------------------------- */

/* Bytes of the regular file at path, or NULL. O_NONBLOCK keeps a FIFO planted at a
 * credential path from blocking the open; non-regular files are refused after fstat. */
static char *agents_credentials_read(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > AGENTS_CREDENTIALS_MAX_FILE) {
        close(fd);
        return NULL;
    }
    base_buf b;
    base_buf_init(&b);
    for (;;) {
        /* The size seen by fstat may change underneath; the cap is enforced on what is read. */
        base_buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || b.len + (size_t)n > AGENTS_CREDENTIALS_MAX_FILE) {
            close(fd);
            base_buf_free(&b);
            return NULL;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    return base_buf_steal(&b, len);
}

/* True when the decimal integer literal s[0..n) (optional '-') does not fit an int64. */
static bool agents_credentials_int_overflows(const char *s, size_t n) {
    bool neg = n && s[0] == '-';
    const char *d = s + neg;
    size_t nd = n - neg;
    if (nd != 19)
        return nd > 19;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* Walk the text outside strings: report the deepest nesting and, when rewrite is non-NULL,
 * copy the text into it with the two things jansson refuses and serde_json accepts made
 * acceptable: an integer literal too large for int64 becomes a real (serde reads it as a
 * float, so the type checks below see the same thing), and a \u0000 escape inside an
 * object key becomes \ufffd (no key looked up here contains either character). */
static size_t agents_credentials_scan(const char *s, size_t len, base_buf *rewrite) {
    size_t depth = 0, max_depth = 0, i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            j = j < len ? j + 1 : len;
            if (rewrite) {
                size_t k = j;
                while (k < len && strchr(" \t\r\n", s[k]) && s[k])
                    k++;
                bool key = k < len && s[k] == ':';
                for (size_t p = i; p < j; p++) {
                    if (s[p] == '\\' && key && j - p > 6 && !memcmp(s + p, "\\u0000", 6)) {
                        base_buf_appends(rewrite, "\\ufffd");
                        p += 5;
                    } else if (s[p] == '\\' && p + 1 < j) {
                        base_buf_append(rewrite, s + p, 2);
                        p++;
                    } else {
                        base_buf_append(rewrite, s + p, 1);
                    }
                }
            }
            i = j;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            bool integer = true;
            while (j < len && strchr("+-0123456789.eE", s[j]) && s[j]) {
                if (s[j] == '.' || s[j] == 'e' || s[j] == 'E')
                    integer = false;
                j++;
            }
            if (rewrite) {
                base_buf_append(rewrite, s + i, j - i);
                if (integer && agents_credentials_int_overflows(s + i, j - i))
                    base_buf_appends(rewrite, ".0");
            }
            i = j;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > max_depth)
                max_depth = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
        if (rewrite)
            base_buf_append(rewrite, &c, 1);
        i++;
    }
    return max_depth;
}

/* Parse a credential file the way serde_json::from_str::<Value> would accept it. */
static json_t *agents_credentials_parse(const char *s, size_t len) {
    if (agents_credentials_scan(s, len, NULL) > AGENTS_CREDENTIALS_MAX_DEPTH)
        return NULL;
    json_error_t e;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v || (json_error_code(&e) != json_error_numeric_overflow &&
              json_error_code(&e) != json_error_null_byte_in_key))
        return v;
    base_buf b;
    base_buf_init(&b);
    agents_credentials_scan(s, len, &b);
    v = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    base_buf_free(&b);
    return v;
}

/* home joined with rel the way Rust's Path::join does it ("" + rel is just rel). */
static json_t *agents_credentials_load(const char *home, const char *rel) {
    char *path = *home ? base_xasprintf("%s/%s", home, rel) : base_xstrdup(rel);
    size_t len = 0;
    char *text = agents_credentials_read(path, &len);
    free(path);
    if (!text)
        return NULL;
    json_t *v = agents_credentials_parse(text, len);
    free(text);
    return v;
}

/* ---- small helpers --------------------------------------------------------------------- */

/* The string at obj[key] (obj[key][sub] when sub is non-NULL), or false. */
static bool agents_credentials_str(json_t *obj, const char *key, const char *sub, const char **s,
                                   size_t *n) {
    json_t *v = json_object_get(obj, key);
    if (sub)
        v = json_object_get(v, sub);
    if (!json_is_string(v))
        return false;
    *s = json_string_value(v);
    *n = json_string_length(v);
    return true;
}

static void agents_credentials_fill(agents_credential *c, const char *provider, const char *source,
                                    agents_credentials_auth auth, const char *key, size_t len) {
    c->provider = base_xstrdup(provider);
    c->source = source;
    c->auth_type = auth;
    c->api_key = base_xmalloc(len + 1);
    memcpy(c->api_key, key, len);
    c->api_key[len] = 0;
    c->api_key_len = len;
}

static agents_credential *agents_credentials_new(const char *provider, const char *source,
                                                 agents_credentials_auth auth, const char *key,
                                                 size_t len) {
    agents_credential *c = base_xcalloc(1, sizeof *c);
    agents_credentials_fill(c, provider, source, auth, key, len);
    return c;
}

static void agents_credentials_clear(agents_credential *c) {
    if (!c)
        return;
    /* Keys are secrets: wipe our copy before the memory goes back to the allocator (best
     * effort; jansson's transient copies are freed unwiped). */
    if (c->api_key)
        explicit_bzero(c->api_key, c->api_key_len);
    free(c->api_key);
    free(c->provider);
}

static char *agents_credentials_home(const char *home) {
    if (home)
        return base_xstrdup(home);
    /* Like the dirs crate: a set, non-empty $HOME wins, else the password database. */
    const char *h = getenv("HOME");
    if (h && *h)
        return base_xstrdup(h);
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir)
        return base_xstrdup(res->pw_dir);
    return NULL;
}

/* ---- RFC 3339 (the reference checks claudeAiOauth.expiresAt with the `time` crate) ----- */

static bool agents_credentials_digits(const char *s, size_t len, size_t *i, int n, int *out) {
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return true;
}

static bool agents_credentials_leap_year(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int agents_credentials_month_days(int64_t y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && agents_credentials_leap_year(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the usual era-based formula). */
static int64_t agents_credentials_days(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: day of month of a day number (enough for the leap-second rule). */
static int agents_credentials_mday(int64_t z) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return (int)(doy - (153 * mp + 2) / 5 + 1);
}

bool agents_credentials_rfc3339(const char *s, size_t len, int64_t *sec, int32_t *nsec) {
    size_t i = 0;
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (!agents_credentials_digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' ||
        !agents_credentials_digits(s, len, &i, 2, &mo) || i >= len || s[i++] != '-' ||
        !agents_credentials_digits(s, len, &i, 2, &d))
        return false;
    if (i >= len)
        return false;
    i++; /* any single byte separates date and time, as in the `time` crate */
    if (!agents_credentials_digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' ||
        !agents_credentials_digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':' ||
        !agents_credentials_digits(s, len, &i, 2, &se))
        return false;
    int32_t ns = 0;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        int32_t mult = 100000000;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            ns += (s[i] - '0') * mult; /* digits past the ninth add nothing */
            mult /= 10;
        }
    }
    int sign = 1;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i++] == '-' ? -1 : 1;
        if (!agents_credentials_digits(s, len, &i, 2, &oh) || oh > 23 || i >= len ||
            s[i++] != ':' || !agents_credentials_digits(s, len, &i, 2, &om) || om > 59)
            return false;
    } else {
        return false;
    }
    if (i != len || mo < 1 || mo > 12 || d < 1 || d > agents_credentials_month_days(y, mo) ||
        h > 23 || mi > 59 || se > 60)
        return false;
    bool leap = se == 60;
    if (leap) { /* a leap second stands in as the last nanosecond of the minute */
        se = 59;
        ns = 999999999;
    }
    int64_t t = agents_credentials_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                sign * (oh * 3600 + om * 60);
    if (leap) {
        /* Only valid as 23:59:60 UTC on the last day of a month. */
        int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
        if (t - day * 86400 != 86399 || agents_credentials_mday(day + 1) != 1)
            return false;
    }
    *sec = t;
    *nsec = ns;
    return true;
}

/* True when expiresAt is an RFC 3339 string in the past. Anything else (a number, an
 * unparsable string) leaves the token in use, as in 0.4.2. */
static bool agents_credentials_expired_rfc3339(json_t *v) {
    int64_t sec;
    int32_t ns;
    if (!json_is_string(v) ||
        !agents_credentials_rfc3339(json_string_value(v), json_string_length(v), &sec, &ns))
        return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return sec < (int64_t)now.tv_sec || (sec == (int64_t)now.tv_sec && ns < now.tv_nsec);
}

/* ---- the sources, in discovery order --------------------------------------------------- */

/* Rust's env::var: unset and non-UTF-8 values both count as absent. */
static const char *agents_credentials_env(const char *name) {
    const char *v = getenv(name);
    return v && base_utf8_valid(v, strlen(v)) ? v : NULL;
}

static void agents_credentials_from_env(bool allow_oauth, agents_credentials *out) {
    static const struct {
        const char *name;
        bool oauth;
    } anth[] = {{"ANTHROPIC_API_KEY", false},
                {"CLAUDE_API_KEY", false},
                {"CLAUDE_CODE_OAUTH_TOKEN", true},
                {"ANTHROPIC_AUTH_TOKEN", true}};
    for (size_t i = 0; i < sizeof anth / sizeof anth[0] && !out->anthropic; i++) {
        const char *v = anth[i].oauth && !allow_oauth ? NULL : agents_credentials_env(anth[i].name);
        if (v) /* an empty value still counts */
            out->anthropic = agents_credentials_new("anthropic", "environment",
                                                    anth[i].oauth ? AGENTS_CREDENTIALS_OAUTH
                                                                  : AGENTS_CREDENTIALS_API_KEY,
                                                    v, strlen(v));
    }
    const char *o = agents_credentials_env("OPENAI_API_KEY");
    if (!o)
        o = agents_credentials_env("CODEX_API_KEY");
    if (o)
        out->openai = agents_credentials_new("openai", "environment", AGENTS_CREDENTIALS_API_KEY, o,
                                             strlen(o));
}

static void agents_credentials_from_amp(const char *home, agents_credentials *out) {
    static const char *const keys[][2] = {
        {"anthropicApiKey", NULL}, {"anthropic_api_key", NULL}, {"apiKey", NULL},
        {"api_key", NULL},         {"accessToken", NULL},       {"access_token", NULL},
        {"token", NULL},           {"auth", "anthropicApiKey"}, {"auth", "apiKey"},
        {"auth", "token"},         {"anthropic", "apiKey"},     {"anthropic", "token"},
    };
    json_t *root = agents_credentials_load(home, ".amp/config.json");
    for (size_t i = 0; root && i < sizeof keys / sizeof keys[0]; i++) {
        const char *s;
        size_t n;
        if (agents_credentials_str(root, keys[i][0], keys[i][1], &s, &n) && n) {
            out->anthropic =
                agents_credentials_new("anthropic", "amp", AGENTS_CREDENTIALS_API_KEY, s, n);
            break;
        }
    }
    json_decref(root);
}

static void agents_credentials_from_claude(const char *home, bool allow_oauth,
                                           agents_credentials *out) {
    static const char *const files[] = {".claude.json.api", ".claude.json", ".claude.json.nathan"};
    static const char *const keys[] = {"primaryApiKey", "apiKey", "anthropicApiKey",
                                       "customApiKey"};
    for (size_t f = 0; f < 3 && !out->anthropic; f++) {
        json_t *root = agents_credentials_load(home, files[f]);
        for (size_t k = 0; root && k < 4; k++) {
            const char *s;
            size_t n;
            if (agents_credentials_str(root, keys[k], NULL, &s, &n) && n >= 7 &&
                !memcmp(s, "sk-ant-", 7)) {
                out->anthropic = agents_credentials_new("anthropic", "claude-code",
                                                        AGENTS_CREDENTIALS_API_KEY, s, n);
                break;
            }
        }
        json_decref(root);
    }
    if (!allow_oauth)
        return;
    static const char *const oauth_files[] = {".claude/.credentials.json",
                                              ".claude-oauth-credentials.json"};
    for (size_t f = 0; f < 2 && !out->anthropic; f++) {
        json_t *root = agents_credentials_load(home, oauth_files[f]);
        json_t *oauth = json_object_get(root, "claudeAiOauth");
        const char *s;
        size_t n;
        /* 0.4.2 takes an empty access token too; only a past RFC 3339 expiry skips it. */
        if (agents_credentials_str(oauth, "accessToken", NULL, &s, &n) &&
            !agents_credentials_expired_rfc3339(json_object_get(oauth, "expiresAt")))
            out->anthropic =
                agents_credentials_new("anthropic", "claude-code", AGENTS_CREDENTIALS_OAUTH, s, n);
        json_decref(root);
    }
}

static void agents_credentials_from_codex(const char *home, bool allow_oauth,
                                          agents_credentials *out) {
    json_t *root = agents_credentials_load(home, ".codex/auth.json");
    const char *s;
    size_t n;
    if (agents_credentials_str(root, "OPENAI_API_KEY", NULL, &s, &n) && n)
        out->openai = agents_credentials_new("openai", "codex", AGENTS_CREDENTIALS_API_KEY, s, n);
    else if (allow_oauth && agents_credentials_str(root, "tokens", "access_token", &s, &n))
        out->openai = agents_credentials_new("openai", "codex", AGENTS_CREDENTIALS_OAUTH, s, n);
    json_decref(root);
}

static void agents_credentials_add_other(agents_credentials *out, const char *provider,
                                         agents_credentials_auth auth, const char *s, size_t n) {
    if (agents_credentials_find(out, provider))
        return; /* an existing entry is never overwritten */
    out->other = base_xrealloc(out->other, (out->n_other + 1) * sizeof *out->other);
    agents_credentials_fill(&out->other[out->n_other++], provider, "opencode", auth, s, n);
}

static void agents_credentials_from_opencode(const char *home, bool allow_oauth,
                                             agents_credentials *out) {
    /* $XDG_DATA_HOME is deliberately not consulted: the reference does not either. */
    json_t *root = agents_credentials_load(home, ".local/share/opencode/auth.json");
    const char *provider;
    json_t *entry;
    int64_t now_ms = base_now_ms();
    json_object_foreach(root, provider, entry) {
        const char *type = json_string_value(json_object_get(entry, "type"));
        const char *s;
        size_t n;
        agents_credentials_auth auth;
        if (type && !strcmp(type, "api") && agents_credentials_str(entry, "key", NULL, &s, &n)) {
            auth = AGENTS_CREDENTIALS_API_KEY;
        } else if (type && !strcmp(type, "oauth") && allow_oauth &&
                   agents_credentials_str(entry, "access", NULL, &s, &n)) {
            /* Only an integer expiry is checked (serde's as_i64); reals and strings keep it. */
            json_t *exp = json_object_get(entry, "expires");
            if (json_is_integer(exp) && json_integer_value(exp) < now_ms)
                continue;
            auth = AGENTS_CREDENTIALS_OAUTH;
        } else {
            continue;
        }
        if (!strcmp(provider, "anthropic")) {
            if (!out->anthropic)
                out->anthropic = agents_credentials_new(provider, "opencode", auth, s, n);
        } else if (!strcmp(provider, "openai")) {
            if (!out->openai)
                out->openai = agents_credentials_new(provider, "opencode", auth, s, n);
        } else {
            agents_credentials_add_other(out, provider, auth, s, n);
        }
    }
    json_decref(root);
}

/* ---- public ---------------------------------------------------------------------------- */

/* The file sources under the home directory dir, after the environment filled out. */
static void agents_credentials_from_files(const char *dir, bool allow_oauth,
                                          agents_credentials *out) {
    if (!out->anthropic)
        agents_credentials_from_amp(dir, out);
    if (!out->anthropic)
        agents_credentials_from_claude(dir, allow_oauth, out);
    if (!out->openai)
        agents_credentials_from_codex(dir, allow_oauth, out);
    agents_credentials_from_opencode(dir, allow_oauth, out);
}

void agents_credentials_discover(const char *home, bool allow_oauth, agents_credentials *out) {
    memset(out, 0, sizeof *out);
    agents_credentials_from_env(allow_oauth, out);
    char *dir = agents_credentials_home(home);
    if (!dir)
        return; /* no home directory at all: the environment is the only source */
    agents_credentials_from_files(dir, allow_oauth, out);
    free(dir);
}

/* One discovery on the thread pool. Owner: itself; freed by its after-callback, which runs
 * whether the work ran or was cancelled. */
struct agents_credentials_job {
    uv_work_t work;
    bool allow_oauth;
    bool cancelled; /* cb must not run; loop thread only */
    char *home;     /* $HOME read on the loop, or NULL: the password database, on the pool */
    agents_credentials out;
    agents_credentials_cb cb;
    void *ud;
};

static void agents_credentials_job_work(uv_work_t *w) {
    agents_credentials_job *j = w->data;
    char *dir = j->home ? base_xstrdup(j->home) : agents_credentials_home(NULL);
    if (dir)
        agents_credentials_from_files(dir, j->allow_oauth, &j->out);
    free(dir);
}

static void agents_credentials_job_after(uv_work_t *w, int status) {
    agents_credentials_job *j = w->data;
    if (!j->cancelled)
        j->cb(&j->out, j->ud);
    agents_credentials_free(&j->out);
    free(j->home);
    free(j);
}

agents_credentials_job *agents_credentials_discover_async(uv_loop_t *loop, bool allow_oauth,
                                                          agents_credentials_cb cb, void *ud) {
    agents_credentials_job *j = base_xcalloc(1, sizeof *j);
    j->work.data = j;
    j->allow_oauth = allow_oauth;
    j->cb = cb;
    j->ud = ud;
    agents_credentials_from_env(allow_oauth, &j->out);
    /* Like the dirs crate: a set, non-empty $HOME wins (read here, see the top of the file). */
    const char *h = getenv("HOME");
    if (h && *h)
        j->home = base_xstrdup(h);
    /* uv_queue_work fails only without a work callback. */
    if (uv_queue_work(loop, &j->work, agents_credentials_job_work, agents_credentials_job_after))
        abort();
    return j;
}

void agents_credentials_cancel(agents_credentials_job *j) {
    j->cancelled = true;
    uv_cancel((uv_req_t *)&j->work); /* fails once running; the after-callback then frees */
}

void agents_credentials_free(agents_credentials *c) {
    if (!c)
        return;
    agents_credentials_clear(c->anthropic);
    free(c->anthropic);
    agents_credentials_clear(c->openai);
    free(c->openai);
    for (size_t i = 0; i < c->n_other; i++)
        agents_credentials_clear(&c->other[i]);
    free(c->other);
    memset(c, 0, sizeof *c);
}

const agents_credential *agents_credentials_find(const agents_credentials *c,
                                                 const char *provider) {
    if (!strcmp(provider, "anthropic"))
        return c->anthropic;
    if (!strcmp(provider, "openai"))
        return c->openai;
    for (size_t i = 0; i < c->n_other; i++)
        if (!strcmp(c->other[i].provider, provider))
            return &c->other[i];
    return NULL;
}

bool agents_credentials_available_in(const agents_credentials *c, const char *agent_id) {
    if (!strcmp(agent_id, "claude") || !strcmp(agent_id, "amp"))
        return c->anthropic != NULL;
    if (!strcmp(agent_id, "codex"))
        return c->openai != NULL;
    if (!strcmp(agent_id, "opencode"))
        return c->anthropic || c->openai; /* `other` entries do not count */
    return true;
}

bool agents_credentials_available(const char *agent_id) {
    if (strcmp(agent_id, "claude") && strcmp(agent_id, "amp") && strcmp(agent_id, "codex") &&
        strcmp(agent_id, "opencode"))
        return true; /* pi, cursor, mock: no discovery needed */
    agents_credentials c;
    agents_credentials_discover(NULL, true, &c);
    bool ok = agents_credentials_available_in(&c, agent_id);
    agents_credentials_free(&c);
    return ok;
}

/* Length of the UTF-8 whitespace character (Rust's char::is_whitespace) at s, or 0. */
static size_t agents_credentials_space_at(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0D) || s[0] == 0x20))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n < 3)
        return 0;
    unsigned cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    if ((s[0] & 0xF0) != 0xE0 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
        return 0;
    bool ws = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
              cp == 0x202F || cp == 0x205F || cp == 0x3000;
    return ws ? 3 : 0;
}

char *agents_credentials_redact(const char *key, size_t len, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)key;
    size_t a = 0, b = len, w;
    while (a < b && (w = agents_credentials_space_at(s + a, b - a)))
        a += w;
    while (a < b) { /* step back to the start of the last character and test it */
        size_t st = b - 1;
        while (st > a && (s[st] & 0xC0) == 0x80 && b - st < 4)
            st--;
        if (agents_credentials_space_at(s + st, b - st) != b - st)
            break;
        b = st;
    }
    size_t n = b - a;
    if (n <= 8) {
        *out_len = 4;
        return base_xstrdup("****");
    }
    size_t p = 4, q = n - 4;
    while (p > 0 && (s[a + p] & 0xC0) == 0x80)
        p--;
    while (q < n && (s[a + q] & 0xC0) == 0x80)
        q++;
    base_buf out;
    base_buf_init(&out);
    base_buf_append(&out, s + a, p);
    base_buf_appends(&out, "...");
    base_buf_append(&out, s + a + q, n - q);
    return base_buf_steal(&out, out_len);
}
