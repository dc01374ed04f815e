/* args.c - request decoding for the desktop routes: JSON bodies checked member by member the
 * way the reference's deserialiser checks them (so the same mistakes get a 422 naming the
 * same member), and the screenshot queries.
 *
 * The reference answers these with plain-text framework errors; here they are problems
 * like every other bad input of this server (invalid_request, with the same wording). */
#include "desktop/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void desktop_problem_body(http_req *req, const char *message) {
    char *detail = base_xasprintf(
        "invalid request: failed to deserialize the JSON body into the target type: %s", message);
    http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity", detail, NULL);
    free(detail);
}

/* serde's words for what a JSON value is. */
static void desktop_json_kind(const json_t *v, char *out, size_t cap) {
    switch (json_typeof(v)) {
    case JSON_STRING:
        snprintf(out, cap, "string \"%.100s\"", json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(out, cap, "integer `%lld`", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, cap, "floating point `%g`", json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(out, cap, "boolean `%s`", json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        snprintf(out, cap, "null");
        break;
    case JSON_ARRAY:
        snprintf(out, cap, "sequence");
        break;
    default:
        snprintf(out, cap, "map");
        break;
    }
}

static bool desktop_check_enum(const char *name, json_t *v, const char *const *allowed,
                               const char *expected, char *err, size_t cap) {
    char kind[160];
    if (!json_is_string(v)) {
        desktop_json_kind(v, kind, sizeof kind);
        snprintf(err, cap, "%s: invalid type: %s, expected %s", name, kind, expected);
        return false;
    }
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(json_string_value(v), *a))
            return true;
    snprintf(err, cap, "%s: unknown variant `%.100s`, expected %s", name, json_string_value(v),
             expected);
    return false;
}

static bool desktop_check_field(const desktop_field *f, json_t *v, char *err, size_t cap) {
    char kind[160];
    desktop_json_kind(v, kind, sizeof kind);
    switch (f->kind) {
    case DESKTOP_F_I32:
    case DESKTOP_F_U32: {
        const char *t = f->kind == DESKTOP_F_I32 ? "i32" : "u32";
        if (!json_is_integer(v)) {
            snprintf(err, cap, "%s: invalid type: %s, expected %s", f->name, kind, t);
            return false;
        }
        json_int_t n = json_integer_value(v);
        json_int_t lo = f->kind == DESKTOP_F_I32 ? INT32_MIN : 0;
        json_int_t hi = f->kind == DESKTOP_F_I32 ? INT32_MAX : UINT32_MAX;
        if (n < lo || n > hi) {
            snprintf(err, cap, "%s: invalid value: integer `%lld`, expected %s", f->name,
                     (long long)n, t);
            return false;
        }
        return true;
    }
    case DESKTOP_F_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(err, cap, "%s: invalid type: %s, expected a boolean", f->name, kind);
            return false;
        }
        return true;
    case DESKTOP_F_STR:
        if (!json_is_string(v)) {
            snprintf(err, cap, "%s: invalid type: %s, expected a string", f->name, kind);
            return false;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, cap, "%s: must not contain a NUL character", f->name);
            return false;
        }
        return true;
    case DESKTOP_F_STRV:
        if (!json_is_array(v)) {
            snprintf(err, cap, "%s: invalid type: %s, expected a sequence", f->name, kind);
            return false;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
                desktop_json_kind(e, kind, sizeof kind);
                snprintf(err, cap, "%s[%zu]: invalid type: %s, expected a string", f->name, i,
                         kind);
                return false;
            }
        }
        return true;
    case DESKTOP_F_BUTTON: {
        static const char *const b[] = {"left", "middle", "right", NULL};
        return desktop_check_enum(f->name, v, b, "one of `left`, `middle`, `right`", err, cap);
    }
    case DESKTOP_F_SELECTION: {
        static const char *const s[] = {"clipboard", "primary", "both", NULL};
        return desktop_check_enum(f->name, v, s, "one of `clipboard`, `primary`, `both`", err, cap);
    }
    case DESKTOP_F_MODIFIERS: {
        if (!json_is_object(v)) {
            snprintf(err, cap, "%s: invalid type: %s, expected struct DesktopKeyModifiers", f->name,
                     kind);
            return false;
        }
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            if (json_is_null(m))
                continue;
            if (strcmp(k, "ctrl") && strcmp(k, "shift") && strcmp(k, "alt") && strcmp(k, "cmd"))
                continue; /* unknown members are ignored, as everywhere */
            if (!json_is_boolean(m)) {
                desktop_json_kind(m, kind, sizeof kind);
                snprintf(err, cap, "%s.%s: invalid type: %s, expected a boolean", f->name, k, kind);
                return false;
            }
        }
        return true;
    }
    }
    return true;
}

json_t *desktop_body(http_req *req, const desktop_field *f, size_t n) {
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return NULL;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(body, f[i].name);
        if (!v || json_is_null(v)) {
            if (f[i].required) {
                snprintf(err, sizeof err, "missing field `%s`", f[i].name);
                goto bad;
            }
            continue;
        }
        if (!desktop_check_field(&f[i], v, err, sizeof err))
            goto bad;
    }
    return body;
bad:
    json_decref(body);
    desktop_problem_body(req, err);
    return NULL;
}

/* ---- the screenshot query ----------------------------------------------------------------- */

static void desktop_problem_query(http_req *req, const char *fmt, const char *arg) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    http_problem_invalid_request(req, "failed to deserialize query string: %s", msg);
}

/* One query member: 1 present (*out set, caller frees), 0 absent, -1 answered. */
static int desktop_query_str(http_req *req, const char *key, char **out) {
    int r = http_query_get(req, key, out);
    if (r < 0)
        desktop_problem_query(req, "duplicate field `%s`", key);
    return r;
}

static int desktop_query_int(http_req *req, const char *key, long long lo, long long hi,
                             long long *out) {
    char *s = NULL;
    int r = desktop_query_str(req, key, &s);
    if (r <= 0)
        return r;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        free(s);
        desktop_problem_query(req, "%s: invalid digit found in string", key);
        return -1;
    }
    free(s);
    if (v < lo || v > hi) {
        desktop_problem_query(req, "%s: number too large or too small to fit in target type", key);
        return -1;
    }
    *out = v;
    return 1;
}

bool desktop_shot_query(http_req *req, desktop_shot *shot) {
    shot->fmt = DESKTOP_FMT_PNG;
    shot->quality = 85;
    shot->scale = 1.0;
    char *s = NULL;
    int r = desktop_query_str(req, "format", &s);
    if (r < 0)
        return false;
    if (r == 1) {
        if (!strcmp(s, "png"))
            shot->fmt = DESKTOP_FMT_PNG;
        else if (!strcmp(s, "jpeg"))
            shot->fmt = DESKTOP_FMT_JPEG;
        else if (!strcmp(s, "webp"))
            shot->fmt = DESKTOP_FMT_WEBP;
        else {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown variant `%.80s`, expected one of `png`, `jpeg`, "
                     "`webp`",
                     s);
            free(s);
            desktop_problem_query(req, "%s", msg);
            return false;
        }
        free(s);
    }
    if (shot->region) {
        static const char *const need[] = {"x", "y", "width", "height"};
        long long v[4];
        for (int i = 0; i < 4; i++) {
            r = desktop_query_int(req, need[i], INT32_MIN, INT32_MAX, &v[i]);
            if (r < 0)
                return false;
            if (r == 0) {
                desktop_problem_query(req, "missing field `%s`", need[i]);
                return false;
            }
        }
        shot->x = (int)v[0];
        shot->y = (int)v[1];
        shot->w = (int)v[2];
        shot->h = (int)v[3];
    }
    long long q;
    r = desktop_query_int(req, "quality", INT32_MIN, INT32_MAX, &q);
    if (r < 0)
        return false;
    bool has_quality = r == 1;
    s = NULL;
    r = desktop_query_str(req, "scale", &s);
    if (r < 0)
        return false;
    bool has_scale = r == 1;
    if (has_scale) {
        char *end;
        double d = strtod(s, &end);
        bool bad = !*s || *end || !isfinite(d);
        free(s);
        if (bad) {
            desktop_problem_query(req, "%s: invalid float literal", "scale");
            return false;
        }
        shot->scale = d;
    }
    bool cursor = false;
    r = http_query_bool(req, "showCursor", &cursor);
    if (r < 0) {
        desktop_problem_query(req, "%s: provided string was not `true` or `false`", "showCursor");
        return false;
    }
    shot->show_cursor = cursor;
    /* Then the values, as the reference's handler checks them. */
    if (has_quality && (q < 1 || q > 100)) {
        desktop_problem(req, "desktop_invalid_action", "quality must be between 1 and 100", NULL);
        return false;
    }
    if (has_quality)
        shot->quality = (int)q;
    if (has_scale && (shot->scale < 0.1 || shot->scale > 1.0)) {
        desktop_problem(req, "desktop_invalid_action", "scale must be between 0.1 and 1.0", NULL);
        return false;
    }
    if (shot->region) {
        if (shot->x < 0 || shot->y < 0) {
            desktop_problem(req, "desktop_invalid_action",
                            "Desktop coordinates must be non-negative", NULL);
            return false;
        }
        if (shot->w <= 0 || shot->h <= 0) {
            desktop_problem(req, "desktop_invalid_action",
                            "Screenshot region width and height must be greater than 0", NULL);
            return false;
        }
    }
    return true;
}
