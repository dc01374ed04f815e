/* config.c - MCP server and skills configuration stored per project directory
 * (http-api.md §8): GET/PUT/DELETE /v1/config/mcp and /v1/config/skills.
 *
 * Each kind lives in one file, <directory>/.sandbox-agent/config/{mcp,skills}.json: a JSON
 * object mapping entry name to config, pretty-printed with 2-space indent, entry names
 * sorted, no trailing newline, exactly as the reference writes it so agents (and the
 * reference itself) read the same bytes. Every request re-reads the file, since other tools
 * (or the fs API) may edit it between requests; the files are tiny, so the I/O is
 * synchronous on the event loop. Writes go to a temp file in the same directory that is
 * renamed over the target, so a crash never leaves a truncated config behind.
 *
 * Input is validated strictly against the schemas the reference accepts (§8.2, §8.3) and
 * normalised (aliases resolved, unknown members dropped, maps sorted, member order fixed)
 * before it is stored, and the whole file goes through the same validation when read: one
 * bad entry breaks every name, as in the reference. */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config file larger than this is refused instead of being read into memory on the
 * event loop (the reference has no limit; real files are a few hundred bytes). */
#define CONFIG_MAX_FILE_BYTES ((size_t)64 << 20)

/* ---- validation context ------------------------------------------------------------------ */

/* Where a validation failure happened and why. Owner: the caller's stack, one per run. */
typedef struct config_ctx {
    char path[256]; /* member being checked, e.g. "sources[0].skills"; may be truncated */
    size_t plen;
    char err[768]; /* "<path>: <message>" once a check failed */
} config_ctx;

/* Append n bytes of s to buf, cutting at a UTF-8 character boundary when it does not fit,
 * so error messages built from client strings stay valid UTF-8 (json_string needs that). */
static void config_append(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
    if (*len + 1 >= cap)
        return;
    if (n > cap - 1 - *len) {
        n = cap - 1 - *len;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = 0;
}

static size_t config_push_key(config_ctx *c, const char *key) {
    size_t old = c->plen;
    if (c->plen)
        config_append(c->path, sizeof c->path, &c->plen, ".", 1);
    config_append(c->path, sizeof c->path, &c->plen, key, strlen(key));
    return old;
}

static size_t config_push_index(config_ctx *c, size_t i) {
    size_t old = c->plen;
    char seg[32];
    int n = snprintf(seg, sizeof seg, "[%zu]", i);
    config_append(c->path, sizeof c->path, &c->plen, seg, (size_t)n);
    return old;
}

static void config_pop(config_ctx *c, size_t old) {
    c->plen = old;
    c->path[old] = 0;
}

/* Record a failure at the current path. Always returns NULL so callers can `return` it. */
static json_t *config_fail(config_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *config_fail(config_ctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    c->err[0] = 0;
    if (c->plen) {
        config_append(c->err, sizeof c->err, &len, c->path, c->plen);
        config_append(c->err, sizeof c->err, &len, ": ", 2);
    }
    /* vsnprintf may have cut a multi-byte character in half: trim to a boundary. */
    size_t mlen = strlen(msg);
    while (mlen > 0 && !base_utf8_valid(msg, mlen))
        mlen--;
    config_append(c->err, sizeof c->err, &len, msg, mlen);
    return NULL;
}

/* serde-style description of a JSON value for "invalid type: X, expected Y" messages.
 * Informational only, but keeping the reference's wording makes the errors familiar. */
static const char *config_describe(const json_t *v, char *buf, size_t cap) {
    switch (json_typeof(v)) {
    case JSON_NULL:
        return "null";
    case JSON_TRUE:
        return "boolean `true`";
    case JSON_FALSE:
        return "boolean `false`";
    case JSON_INTEGER:
        snprintf(buf, cap, "integer `%" JSON_INTEGER_FORMAT "`", json_integer_value(v));
        return buf;
    case JSON_REAL: {
        /* Integral values as "5.0", others in the shortest form that reads back exactly. */
        char num[40];
        double d = json_real_value(v);
        if (d > -1e16 && d < 1e16 && d == (double)(long long)d) {
            snprintf(num, sizeof num, "%.1f", d);
        } else {
            for (int p = 1; p <= 17; p++) {
                snprintf(num, sizeof num, "%.*g", p, d);
                if (strtod(num, NULL) == d)
                    break;
            }
        }
        snprintf(buf, cap, "floating point `%s`", num);
        return buf;
    }
    case JSON_STRING: {
        size_t len = 0;
        char shown[80];
        shown[0] = 0;
        config_append(shown, sizeof shown, &len, json_string_value(v),
                      strlen(json_string_value(v)));
        snprintf(buf, cap, "string \"%s\"", shown);
        return buf;
    }
    case JSON_ARRAY:
        return "sequence";
    case JSON_OBJECT:
        return "map";
    }
    return "value";
}

static json_t *config_fail_type(config_ctx *c, const json_t *v, const char *expected) {
    char d[160];
    return config_fail(c, "invalid type: %s, expected %s", config_describe(v, d, sizeof d),
                       expected);
}

/* Exact string comparison that also works for strings with embedded NULs. */
static bool config_str_eq(const json_t *v, const char *s) {
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) == n && !memcmp(json_string_value(v), s, n);
}

/* The value of a string for a message, cut short and at a character boundary. */
static const char *config_shown(const json_t *v, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    config_append(buf, cap, &len, json_string_value(v), strlen(json_string_value(v)));
    return buf;
}

/* ---- schemas ------------------------------------------------------------------------------ */

/* Value kinds of struct members. */
typedef enum {
    CONFIG_T_STRING,
    CONFIG_T_BOOL,
    CONFIG_T_U64,
    CONFIG_T_STRINGS,   /* string[] */
    CONFIG_T_MAP,       /* {string: string}, stored with sorted keys */
    CONFIG_T_COMMAND,   /* string or string[] (the reference's McpCommand) */
    CONFIG_T_OAUTH,     /* false/true or {clientId?, clientSecret?, scope?} */
    CONFIG_T_TRANSPORT, /* "http" or "sse" */
    CONFIG_T_SOURCES,   /* SkillSource[] */
} config_type;

typedef enum {
    CONFIG_OPTIONAL,      /* absent or null: omitted */
    CONFIG_REQUIRED,      /* absent: "missing field"; null: invalid type */
    CONFIG_DEFAULT_EMPTY, /* absent: stored as []; null: invalid type (the `args` rule) */
} config_presence;

/* One struct member. The tables below are static and list members in output order. */
typedef struct config_field {
    const char *key;
    config_type type;
    config_presence presence;
} config_field;

static const config_field config_local_fields[] = {
    {"command", CONFIG_T_COMMAND, CONFIG_REQUIRED},
    {"args", CONFIG_T_STRINGS, CONFIG_DEFAULT_EMPTY},
    {"env", CONFIG_T_MAP, CONFIG_OPTIONAL},
    {"enabled", CONFIG_T_BOOL, CONFIG_OPTIONAL},
    {"timeoutMs", CONFIG_T_U64, CONFIG_OPTIONAL},
    {"cwd", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {NULL, 0, 0},
};

static const config_field config_remote_fields[] = {
    {"url", CONFIG_T_STRING, CONFIG_REQUIRED},
    {"headers", CONFIG_T_MAP, CONFIG_OPTIONAL},
    {"bearerTokenEnvVar", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {"envHeaders", CONFIG_T_MAP, CONFIG_OPTIONAL},
    {"oauth", CONFIG_T_OAUTH, CONFIG_OPTIONAL},
    {"enabled", CONFIG_T_BOOL, CONFIG_OPTIONAL},
    {"timeoutMs", CONFIG_T_U64, CONFIG_OPTIONAL},
    {"transport", CONFIG_T_TRANSPORT, CONFIG_OPTIONAL},
    {NULL, 0, 0},
};

static const config_field config_oauth_fields[] = {
    {"clientId", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {"clientSecret", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {"scope", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {NULL, 0, 0},
};

static const config_field config_skills_fields[] = {
    {"sources", CONFIG_T_SOURCES, CONFIG_REQUIRED},
    {NULL, 0, 0},
};

static const config_field config_source_fields[] = {
    {"type", CONFIG_T_STRING, CONFIG_REQUIRED},    {"source", CONFIG_T_STRING, CONFIG_REQUIRED},
    {"skills", CONFIG_T_STRINGS, CONFIG_OPTIONAL}, {"ref", CONFIG_T_STRING, CONFIG_OPTIONAL},
    {"subpath", CONFIG_T_STRING, CONFIG_OPTIONAL}, {NULL, 0, 0},
};

static json_t *config_struct(config_ctx *c, json_t *in, const config_field *fields, json_t *out);

static json_t *config_strings(config_ctx *c, json_t *v) {
    if (!json_is_array(v))
        return config_fail_type(c, v, "a sequence");
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            size_t old = config_push_index(c, i);
            config_fail_type(c, e, "a string");
            config_pop(c, old);
            json_decref(out);
            return NULL;
        }
        json_array_append(out, e);
    }
    return out;
}

static int config_strcmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of object v with its members in byte order of their names (the reference keeps
 * maps in a BTreeMap). Object names never contain NUL (the parser refuses them), so
 * strcmp orders them exactly like Rust's byte-wise String ordering. */
static json_t *config_sorted(json_t *v) {
    size_t n = json_object_size(v), k = 0;
    const char **keys = base_xcalloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) keys[k++] = key;
    qsort(keys, n, sizeof *keys, config_strcmp);
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set(out, keys[i], json_object_get(v, keys[i]));
    free(keys);
    return out;
}

static json_t *config_string_map(config_ctx *c, json_t *v) {
    if (!json_is_object(v))
        return config_fail_type(c, v, "a map");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_string(val)) {
            size_t old = config_push_key(c, key);
            config_fail_type(c, val, "a string");
            config_pop(c, old);
            return NULL;
        }
    }
    return config_sorted(v);
}

static json_t *config_value(config_ctx *c, config_type t, json_t *v) {
    switch (t) {
    case CONFIG_T_STRING:
        return json_is_string(v) ? json_incref(v) : config_fail_type(c, v, "a string");
    case CONFIG_T_BOOL:
        return json_is_boolean(v) ? json_incref(v) : config_fail_type(c, v, "a boolean");
    case CONFIG_T_U64:
        /* Integers beyond int64 never get here: the parser refuses them (documented). */
        if (json_is_integer(v) && json_integer_value(v) < 0)
            return config_fail(c, "invalid value: integer `%" JSON_INTEGER_FORMAT "`, expected u64",
                               json_integer_value(v));
        return json_is_integer(v) ? json_incref(v) : config_fail_type(c, v, "u64");
    case CONFIG_T_STRINGS:
        return config_strings(c, v);
    case CONFIG_T_MAP:
        return config_string_map(c, v);
    case CONFIG_T_COMMAND: {
        if (json_is_string(v))
            return json_incref(v);
        config_ctx scratch = {0};
        json_t *arr = json_is_array(v) ? config_strings(&scratch, v) : NULL;
        return arr ? arr
                   : config_fail(c, "data did not match any variant of untagged enum McpCommand");
    }
    case CONFIG_T_OAUTH: {
        if (json_is_boolean(v))
            return json_incref(v);
        config_ctx scratch = {0};
        json_t *o = NULL;
        if (json_is_object(v)) {
            o = json_object();
            if (!config_struct(&scratch, v, config_oauth_fields, o)) {
                json_decref(o);
                o = NULL;
            }
        }
        return o ? o
                 : config_fail(c, "data did not match any variant of untagged enum "
                                  "McpOAuthConfigOrDisabled");
    }
    case CONFIG_T_TRANSPORT: {
        if (config_str_eq(v, "http") || config_str_eq(v, "sse"))
            return json_incref(v);
        if (!json_is_string(v))
            return config_fail_type(c, v, "`http` or `sse`");
        char shown[80];
        return config_fail(c, "unknown variant `%s`, expected `http` or `sse`",
                           config_shown(v, shown, sizeof shown));
    }
    case CONFIG_T_SOURCES: {
        if (!json_is_array(v))
            return config_fail_type(c, v, "a sequence");
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t old = config_push_index(c, i);
            json_t *src = json_is_object(e) ? json_object() : NULL;
            if (!src)
                config_fail_type(c, e, "struct SkillSource");
            else if (!config_struct(c, e, config_source_fields, src)) {
                json_decref(src);
                src = NULL;
            }
            config_pop(c, old);
            if (!src) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, src);
        }
        return out;
    }
    }
    return config_fail(c, "unsupported member type");
}

/* Copy the members of `fields` from object `in` into `out` (in table order), validating
 * each. Unknown members of `in` are dropped, as the reference does. Returns out or NULL. */
static json_t *config_struct(config_ctx *c, json_t *in, const config_field *fields, json_t *out) {
    for (const config_field *f = fields; f->key; f++) {
        json_t *v = json_object_get(in, f->key);
        if (!v || (json_is_null(v) && f->presence == CONFIG_OPTIONAL)) {
            if (f->presence == CONFIG_REQUIRED && !v)
                return config_fail(c, "missing field `%s`", f->key);
            if (f->presence == CONFIG_DEFAULT_EMPTY && !v)
                json_object_set_new(out, f->key, json_array());
            continue;
        }
        size_t old = config_push_key(c, f->key);
        json_t *norm = config_value(c, f->type, v);
        config_pop(c, old);
        if (!norm)
            return NULL;
        json_object_set_new(out, f->key, norm);
    }
    return out;
}

/* McpServerConfig: tagged by `type`; "stdio" is an alias of "local", "http" of "remote". */
static json_t *config_mcp_normalize(config_ctx *c, json_t *in) {
    if (!json_is_object(in))
        return config_fail_type(c, in, "internally tagged enum McpServerConfig");
    json_t *t = json_object_get(in, "type");
    if (!t)
        return config_fail(c, "missing field `type`");
    bool local = config_str_eq(t, "local") || config_str_eq(t, "stdio");
    bool remote = config_str_eq(t, "remote") || config_str_eq(t, "http");
    if (!local && !remote) {
        size_t old = config_push_key(c, "type");
        char shown[80];
        if (!json_is_string(t))
            config_fail_type(c, t, "variant identifier");
        else
            config_fail(c,
                        "unknown variant `%s`, expected one of `local`, `stdio`, `http`, `remote`",
                        config_shown(t, shown, sizeof shown));
        config_pop(c, old);
        return NULL;
    }
    json_t *out = json_object();
    json_object_set_new(out, "type", json_string(local ? "local" : "remote"));
    if (!config_struct(c, in, local ? config_local_fields : config_remote_fields, out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* SkillsConfig: {"sources": [SkillSource...]}. */
static json_t *config_skills_normalize(config_ctx *c, json_t *in) {
    if (!json_is_object(in))
        return config_fail_type(c, in, "struct SkillsConfig");
    json_t *out = json_object();
    if (!config_struct(c, in, config_skills_fields, out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- kinds -------------------------------------------------------------------------------- */

/* One kind of config file. Static and immutable; passed to the handlers as route data. */
typedef struct config_kind {
    const char *file;      /* file name under <directory>/.sandbox-agent/config/ */
    const char *name_key;  /* query key naming the entry */
    const char *id_prefix; /* synthetic session id prefix of the 404 (quirk Q6) */
    json_t *(*normalize)(config_ctx *c, json_t *in);
} config_kind;

static const config_kind config_mcp = {"mcp.json", "mcpName", "mcp", config_mcp_normalize};
static const config_kind config_skills = {"skills.json", "skillName", "skills",
                                          config_skills_normalize};

/* The whole file: an object of name -> entry, returned normalised with sorted names. */
static json_t *config_map_normalize(const config_kind *k, config_ctx *c, json_t *root) {
    if (!json_is_object(root))
        return config_fail_type(c, root, "a map");
    json_t *sorted = config_sorted(root);
    json_t *out = json_object();
    const char *name;
    json_t *entry;
    json_object_foreach(sorted, name, entry) {
        size_t old = config_push_key(c, name);
        json_t *norm = k->normalize(c, entry);
        config_pop(c, old);
        if (!norm) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_object_set_new(out, name, norm);
    }
    json_decref(sorted);
    return out;
}

/* ---- files -------------------------------------------------------------------------------- */

/* Rust's io::Error text, which the reference puts in its 502 problems. */
static void config_os_error(char *buf, size_t cap, int err) {
    snprintf(buf, cap, "%s (os error %d)", strerror(err), err);
}

/* <directory>/.sandbox-agent/config/<file>. `directory` is used verbatim, and a relative
 * one is resolved against the server's cwd (not $HOME as in the fs API: quirk Q8). The
 * result is absolute so messages name the same path the reference names. */
static char *config_file_path(const char *dir, const char *file) {
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    if (dir[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) {
            const char *csep = cwd[strlen(cwd) - 1] == '/' ? "" : "/";
            return base_xasprintf("%s%s%s%s.sandbox-agent/config/%s", cwd, csep, dir, sep, file);
        }
    }
    return base_xasprintf("%s%s.sandbox-agent/config/%s", dir, sep, file);
}

/* Well-formed UTF-8 where NUL bytes are allowed (base_utf8_valid refuses them). */
static bool config_utf8_valid(const char *s, size_t n) {
    while (n > 0) {
        const char *nul = memchr(s, 0, n);
        size_t seg = nul ? (size_t)(nul - s) : n;
        if (!base_utf8_valid(s, seg))
            return false;
        if (!nul)
            break;
        s += seg + 1;
        n -= seg + 1;
    }
    return true;
}

typedef enum { CONFIG_READ_OK, CONFIG_READ_MISSING, CONFIG_READ_FAILED } config_read_result;

/* Read a whole config file into out. O_NONBLOCK plus the regular-file check keep a FIFO or
 * device planted at the path from blocking the event loop. */
static config_read_result config_read(const char *path, base_buf *out, char *err, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return CONFIG_READ_MISSING;
        config_os_error(err, cap, errno);
        return CONFIG_READ_FAILED;
    }
    struct stat st;
    config_read_result r = CONFIG_READ_OK;
    if (fstat(fd, &st) < 0) {
        config_os_error(err, cap, errno);
        r = CONFIG_READ_FAILED;
    } else if (S_ISDIR(st.st_mode)) {
        config_os_error(err, cap, EISDIR);
        r = CONFIG_READ_FAILED;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, cap, "config file is not a regular file");
        r = CONFIG_READ_FAILED;
    }
    while (r == CONFIG_READ_OK) {
        if (out->len > CONFIG_MAX_FILE_BYTES) {
            snprintf(err, cap, "config file is larger than %zu bytes", CONFIG_MAX_FILE_BYTES);
            r = CONFIG_READ_FAILED;
            break;
        }
        base_buf_reserve(out, 64 * 1024);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            config_os_error(err, cap, errno);
            r = CONFIG_READ_FAILED;
        } else if (n == 0) {
            break;
        } else {
            out->len += (size_t)n;
        }
    }
    close(fd);
    if (r == CONFIG_READ_OK && !config_utf8_valid(out->data ? out->data : "", out->len)) {
        snprintf(err, cap, "stream did not contain valid UTF-8");
        r = CONFIG_READ_FAILED;
    }
    return r;
}

/* Parse and validate a file's bytes. A file holding only whitespace counts as empty, as
 * in the reference. Duplicate member names are refused (see config_body). */
static json_t *config_parse_file(const config_kind *k, const char *data, size_t len, char *err,
                                 size_t cap) {
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r' ||
                       data[i] == '\f' || data[i] == '\v'))
        i++;
    if (i == len)
        return json_object();
    json_error_t e;
    json_t *root =
        json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        snprintf(err, cap, "%s at line %d column %d", e.text, e.line, e.column);
        return NULL;
    }
    config_ctx c = {0};
    json_t *map = config_map_normalize(k, &c, root);
    json_decref(root);
    if (!map)
        snprintf(err, cap, "%s", c.err);
    return map;
}

/* Serialise like serde_json: jansson matches its layout, except that it writes control
 * characters as \u001F where serde writes \u001f, so the hex digits are lower-cased. A
 * backslash in the output always starts an escape, so the scan is unambiguous. */
static char *config_dump(const json_t *v, size_t flags) {
    char *s = json_dumps(v, flags);
    if (!s) {
        LOG_ERROR("cannot serialise config", NULL);
        abort();
    }
    for (char *p = s; *p; p++) {
        if (*p != '\\')
            continue;
        if (p[1] == 'u')
            for (int i = 2; i < 6 && p[i]; i++)
                if (p[i] >= 'A' && p[i] <= 'F')
                    p[i] = (char)(p[i] - 'A' + 'a');
        p++;
    }
    return s;
}

/* Replace the file at path with data: write a temp file next to it, fsync, rename. A
 * symlinked config file is written through (the link stays), and an existing file keeps
 * its mode and owner, like the reference's in-place write. Returns 0 or -errno. */
static int config_write(const char *path, const char *data, size_t len) {
    struct stat st;
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        target = realpath(path, NULL);
    if (!target)
        target = base_xstrdup(path);
    bool existed = stat(target, &st) == 0;
    const char *slash = strrchr(target, '/');
    char hex[17];
    base_random_hex(hex, 8);
    /* A fixed-length name: a symlink target's long basename must not push it past NAME_MAX. */
    char *tmp = slash ? base_xasprintf("%.*s/.config-%s.tmp", (int)(slash - target), target, hex)
                      : base_xasprintf(".config-%s.tmp", hex);
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (existed) {
        if (fchmod(fd, st.st_mode & 07777) < 0)
            LOG_WARN("cannot keep config file mode", "errno=%d", errno);
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchown(fd, st.st_uid, st.st_gid) < 0)
            LOG_DEBUG("cannot keep config file owner", "errno=%d", errno);
    }
    for (size_t off = 0; off < len && r == 0;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else
            off += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, target) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
out:
    if (r < 0) {
        char q[512];
        LOG_WARN("cannot write config file", "path=%s errno=%d",
                 base_log_quote(q, sizeof q, target), -r);
    }
    free(tmp);
    free(target);
    return r;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* The parsed query of one request. Owner: the handler's stack; config_query_free. */
typedef struct config_query {
    char *dir;  /* `directory`, decoded */
    char *name; /* `mcpName` / `skillName`, decoded */
    char *path; /* absolute path of the config file */
} config_query;

static void config_query_free(config_query *q) {
    free(q->dir);
    free(q->name);
    free(q->path);
}

/* The extractor step: both keys present, each once, valid percent-encoded UTF-8. The
 * reference answers these in plain text; we answer problem JSON with the same 400 (§2.8).
 * Non-UTF-8 or NUL in a value is refused here too (project-wide rule), where the reference
 * decodes lossily. Unknown keys are ignored, as in the reference. */
static bool config_parse_query(http_req *req, const config_kind *k, config_query *q) {
    const char *keys[2] = {"directory", k->name_key};
    char **vals[2] = {&q->dir, &q->name};
    for (int i = 0; i < 2; i++) {
        int r = http_query_get(req, keys[i], vals[i]);
        if (r < 0) {
            http_problem_invalid_request(req,
                                         "failed to deserialize query string: `%s` must be given "
                                         "at most once, as percent-encoded UTF-8 without NUL",
                                         keys[i]);
            return false;
        }
        if (r == 0) {
            http_problem_invalid_request(
                req, "failed to deserialize query string: missing field `%s`", keys[i]);
            return false;
        }
    }
    return true;
}

/* The handler step, after the body was read: empty values are refused with the
 * reference's own problem, directory first. */
static bool config_check_query(http_req *req, const config_kind *k, config_query *q) {
    if (!q->dir[0] || !q->name[0]) {
        http_problem_invalid_request(req, "missing required '%s' query parameter",
                                     !q->dir[0] ? "directory" : k->name_key);
        return false;
    }
    q->path = config_file_path(q->dir, k->file);
    return true;
}

static void config_problem_not_found(http_req *req, const config_kind *k, const char *name) {
    char *id = base_xasprintf("%s:%s", k->id_prefix, name);
    char *detail = base_xasprintf("session not found: %s", id);
    http_reply_problem(req, 404, "session_not_found", "Session Not Found", detail,
                       json_pack("{s:s}", "sessionId", id));
    free(detail);
    free(id);
}

static void config_problem_io(http_req *req, const char *message) {
    http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error", message);
}

static void config_problem_file(http_req *req, const char *path, const char *message) {
    http_problem_invalid_request(req, "invalid config file %s: %s", path, message);
}

static void config_problem_body(http_req *req, const char *message) {
    char *detail = base_xasprintf(
        "invalid request: failed to deserialize the JSON body into the target type: %s", message);
    http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity", detail, NULL);
    free(detail);
}

/* Load and validate the file. Answers (502 / 400) and returns false on failure; otherwise
 * *map is the normalised map, or NULL when the file does not exist. */
static bool config_load(http_req *req, const config_kind *k, const char *path, json_t **map) {
    base_buf b;
    base_buf_init(&b);
    char err[1024];
    *map = NULL;
    config_read_result r = config_read(path, &b, err, sizeof err);
    if (r == CONFIG_READ_FAILED) {
        base_buf_free(&b);
        config_problem_io(req, err);
        return false;
    }
    if (r == CONFIG_READ_OK) {
        *map = config_parse_file(k, b.data ? b.data : "", b.len, err, sizeof err);
        if (!*map) {
            base_buf_free(&b);
            config_problem_file(req, path, err);
            return false;
        }
    }
    base_buf_free(&b);
    return true;
}

static bool config_save(http_req *req, const char *path, json_t *map) {
    char *s = config_dump(map, JSON_INDENT(2));
    int r = config_write(path, s, strlen(s));
    free(s);
    if (r < 0) {
        char err[256];
        config_os_error(err, sizeof err, -r);
        config_problem_io(req, err);
        return false;
    }
    return true;
}

/* GET (and HEAD): 404 session_not_found when the file cannot be stat'ed (missing file or
 * directory, or a path component that is not a directory: the reference checks
 * existence first) or the entry is absent. */
static void config_get_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    if (!config_parse_query(req, k, &q) || !config_check_query(req, k, &q)) {
        config_query_free(&q);
        return;
    }
    struct stat st;
    json_t *map = NULL;
    if (stat(q.path, &st) < 0) {
        config_problem_not_found(req, k, q.name);
    } else if (config_load(req, k, q.path, &map)) {
        json_t *entry = map ? json_object_get(map, q.name) : NULL;
        if (!entry) {
            config_problem_not_found(req, k, q.name);
        } else {
            char *s = config_dump(entry, JSON_COMPACT);
            http_reply(req, 200, "application/json", NULL, s, strlen(s));
            free(s);
        }
    }
    json_decref(map);
    config_query_free(&q);
}

/* The PUT body: content type (415), syntax (400) and object shape (422) via the http layer,
 * then duplicate member names (422; the reference refuses duplicated struct fields, and we
 * refuse all duplicates rather than guess which copy was meant), then the schema. */
static json_t *config_body(http_req *req, const config_kind *k) {
    json_t *loose = http_req_json_body(req, false);
    if (!loose)
        return NULL;
    json_decref(loose);
    json_error_t e;
    json_t *in = json_loadb(req->body.data, req->body.len,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (!in) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s at line %d column %d", e.text, e.line, e.column);
        config_problem_body(req, msg);
        return NULL;
    }
    config_ctx c = {0};
    json_t *entry = k->normalize(&c, in);
    json_decref(in);
    if (!entry)
        config_problem_body(req, c.err);
    return entry;
}

/* PUT: create the directories, replace the named entry, rewrite the file; 204. */
static void config_put_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    json_t *entry = NULL, *map = NULL;
    if (!config_parse_query(req, k, &q) || !(entry = config_body(req, k)) ||
        !config_check_query(req, k, &q))
        goto out;
    char *parent = base_xstrndup(q.path, (size_t)(strrchr(q.path, '/') - q.path));
    int r = base_mkdirs(parent);
    free(parent);
    if (r < 0) {
        char err[256];
        config_os_error(err, sizeof err, -r);
        config_problem_io(req, err);
        goto out;
    }
    if (!config_load(req, k, q.path, &map))
        goto out;
    if (!map)
        map = json_object();
    json_object_set(map, q.name, entry);
    /* A new name lands at the end: re-sort so the file keeps the reference's order. */
    json_t *sorted = config_sorted(map);
    if (config_save(req, q.path, sorted))
        http_reply_empty(req, 204);
    json_decref(sorted);
out:
    json_decref(entry);
    json_decref(map);
    config_query_free(&q);
}

/* DELETE: 204 whether or not the entry, file or directory exists. An unreadable or invalid
 * file is still an error (502 / 400), as in the reference. Unlike the reference, which
 * rewrites the file (creating `{}` and its directories when absent), nothing is written
 * when there is nothing to remove (spec §8.1: "Nothing is created when absent"). */
static void config_delete_handler(http_req *req, void *ud) {
    const config_kind *k = ud;
    config_query q = {0};
    json_t *map = NULL;
    if (!config_parse_query(req, k, &q) || !config_check_query(req, k, &q) ||
        !config_load(req, k, q.path, &map))
        goto out;
    if (map && json_object_get(map, q.name)) {
        json_object_del(map, q.name);
        if (!config_save(req, q.path, map))
            goto out;
    }
    http_reply_empty(req, 204);
out:
    json_decref(map);
    config_query_free(&q);
}

void config_routes(http_server *srv) {
    static const struct {
        const char *path;
        const config_kind *kind;
    } routes[] = {{"/v1/config/mcp", &config_mcp}, {"/v1/config/skills", &config_skills}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        void *ud = (void *)routes[i].kind;
        http_route(srv, HTTP_M_GET, routes[i].path, HTTP_ROUTE_AUTH, config_get_handler, ud);
        http_route(srv, HTTP_M_PUT, routes[i].path, HTTP_ROUTE_AUTH, config_put_handler, ud);
        http_route(srv, HTTP_M_DELETE, routes[i].path, HTTP_ROUTE_AUTH, config_delete_handler, ud);
    }
}
