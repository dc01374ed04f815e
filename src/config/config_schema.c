/* config_schema.c - the schemas of the MCP server and skills config entries (http-api.md
 * §8.2, §8.3): strict validation with the reference's error wording, normalisation (aliases
 * resolved, unknown members dropped, maps sorted, member order fixed), and the exact bytes
 * the reference writes. Pure: no I/O, so it runs on any thread and is unit-tested directly. */
#include "config/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
json_t *config_sorted(json_t *v) {
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

const config_kind config_mcp = {"mcp.json", "mcpName", "mcp", config_mcp_normalize};
const config_kind config_skills = {"skills.json", "skillName", "skills", config_skills_normalize};

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

json_t *config_normalize_entry(const config_kind *k, json_t *in, char *err, size_t cap) {
    config_ctx c = {0};
    json_t *entry = k->normalize(&c, in);
    if (!entry)
        snprintf(err, cap, "%s", c.err);
    return entry;
}

/* Parse and validate a file's bytes. A file holding only whitespace counts as empty, as
 * in the reference. Duplicate member names are refused (see config_body). */
json_t *config_parse_file(const config_kind *k, const char *data, size_t len, char *err,
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
char *config_dump(const json_t *v, size_t flags) {
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
