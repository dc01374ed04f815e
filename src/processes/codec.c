/* codec.c - byte and field codecs of the processes API: base64 that fails with the same
 * messages as the reference's base64 crate, input decoding per encoding, serde-like type
 * descriptions and strict unsigned parsing. Pure functions, no state. */
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processes/internal.h"

/* 0..63 for alphabet symbols, 0xff otherwise ('=' included: padding is handled apart). */
static uint8_t processes_b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return 0xff;
}

/* The crate (0.22, STANDARD engine) decodes every complete quad but the last in a fast loop
 * where '=' is an invalid symbol, then the last up-to-4 symbols in a suffix routine that
 * knows about padding. Reproducing that split is what makes the error offsets match. */
bool processes_b64_decode(const char *in, size_t len, base_buf *out, char *err, size_t errcap) {
    const unsigned char *s = (const unsigned char *)in;
    size_t rem = len % 4;
    if (rem == 1 && s[len - 1] != '=' && processes_b64_value(s[len - 1]) == 0xff) {
        snprintf(err, errcap, "Invalid symbol %u, offset %zu.", s[len - 1], len - 1);
        return false;
    }
    size_t body = len - rem;
    if (rem == 0)
        body = len >= 4 ? len - 4 : 0;
    base_buf_reserve(out, len / 4 * 3 + 3);
    for (size_t i = 0; i < body; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            uint8_t m = processes_b64_value(s[i + k]);
            if (m == 0xff) {
                snprintf(err, errcap, "Invalid symbol %u, offset %zu.", s[i + k], i + k);
                return false;
            }
            v = v << 6 | m;
        }
        char b[3] = {(char)(v >> 16), (char)(v >> 8), (char)v};
        base_buf_append(out, b, 3);
    }
    /* The suffix. */
    size_t morsels = 0, pads = 0, first_pad = 0;
    uint8_t m[4] = {0};
    unsigned char last = 0;
    for (size_t i = body; i < len; i++) {
        size_t li = i - body;
        if (s[i] == '=') {
            if (li < 2) {
                snprintf(err, errcap, "Invalid symbol %u, offset %zu.", s[i], i);
                return false;
            }
            if (pads == 0)
                first_pad = li;
            pads++;
            continue;
        }
        if (pads > 0) {
            snprintf(err, errcap, "Invalid symbol %u, offset %zu.", '=', body + first_pad);
            return false;
        }
        uint8_t v = processes_b64_value(s[i]);
        if (v == 0xff) {
            snprintf(err, errcap, "Invalid symbol %u, offset %zu.", s[i], i);
            return false;
        }
        last = s[i];
        m[morsels++] = v;
    }
    if (len > 0 && morsels < 2) {
        snprintf(err, errcap, "Invalid input length: %zu", body + morsels);
        return false;
    }
    if ((pads + morsels) % 4 != 0) {
        snprintf(err, errcap, "Invalid padding");
        return false;
    }
    if (morsels == 0)
        return true;
    size_t nbytes = morsels * 6 / 8;
    uint32_t num =
        (uint32_t)m[0] << 26 | (uint32_t)m[1] << 20 | (uint32_t)m[2] << 14 | (uint32_t)m[3] << 8;
    uint32_t mask = nbytes * 8 >= 32 ? 0 : 0xffffffffu >> (nbytes * 8);
    if (num & mask) {
        snprintf(err, errcap, "Invalid last symbol %u, offset %zu.", last, body + morsels - 1);
        return false;
    }
    for (size_t k = 0; k < nbytes; k++) {
        char c = (char)(num >> (24 - 8 * k));
        base_buf_append(out, &c, 1);
    }
    return true;
}

void processes_b64_encode(base_buf *b, const void *data, size_t len) {
    size_t n = BASE64_ENCODE_RAW_LENGTH(len);
    base_buf_reserve(b, n + 1);
    base64_encode_raw(b->data + b->len, len, data);
    b->len += n;
    b->data[b->len] = 0;
}

/* Longest positional float: 309 integer digits of DBL_MAX, or "0." + 323 zeros + 17 digits
 * of the smallest subnormal, plus sign, ".0" and NUL. */
#define PROCESSES_FLOAT_MAX 352

/* A finite double the way Rust's Display writes it (serde quotes that): the shortest digits
 * that read back to the same value, positional (never an exponent), and serde's ".0" on a
 * whole number. "%.17g" would print 0.1 as 0.10000000000000001 and 1e21 with an exponent. */
static void processes_rust_float(double v, char *out, size_t cap) {
    char e[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e is "[-]D[.DDD]e[+-]XX": collect the digits and the decimal exponent. */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && n < sizeof digits - 1)
            digits[n++] = *p;
    int point = (*p == 'e' ? atoi(p + 1) : 0) + 1; /* digits before the decimal point */
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    base_buf b;
    base_buf_init(&b);
    if (neg)
        base_buf_append(&b, "-", 1);
    if (point <= 0) {
        base_buf_append(&b, "0.", 2);
        for (int i = 0; i < -point; i++)
            base_buf_append(&b, "0", 1);
        base_buf_append(&b, digits, n);
    } else if ((size_t)point >= n) {
        base_buf_append(&b, digits, n);
        for (size_t i = n; i < (size_t)point; i++)
            base_buf_append(&b, "0", 1);
        base_buf_append(&b, ".0", 2);
    } else {
        base_buf_append(&b, digits, (size_t)point);
        base_buf_append(&b, ".", 1);
        base_buf_append(&b, digits + point, n - (size_t)point);
    }
    snprintf(out, cap, "%s", b.data);
    base_buf_free(&b);
}

/* A string quoted the way Rust's Debug does it (serde quotes a str that way): backslash
 * escapes for \t \r \n \\ \" and \0, \u{..} for other ASCII control characters. (Rust
 * also escapes non-ASCII characters it considers unprintable; those are kept as they are.)
 * Caller frees. */
static char *processes_rust_debug_str(const char *s, size_t n) {
    base_buf b;
    base_buf_init(&b);
    base_buf_append(&b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '\t':
            esc = "\\t";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '"':
            esc = "\\\"";
            break;
        case 0:
            esc = "\\0";
            break;
        }
        if (esc)
            base_buf_appends(&b, esc);
        else if (c < 0x20 || c == 0x7f)
            base_buf_appendf(&b, "\\u{%x}", c);
        else
            base_buf_append(&b, &s[i], 1);
    }
    base_buf_append(&b, "\"", 1);
    return base_buf_steal(&b, NULL);
}

void processes_json_kind(const json_t *v, char *out, size_t cap) {
    switch (json_typeof(v)) {
    case JSON_NULL:
        snprintf(out, cap, "null");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(out, cap, "boolean `%s`", json_is_true(v) ? "true" : "false");
        break;
    case JSON_INTEGER:
        snprintf(out, cap, "integer `%lld`", (long long)json_integer_value(v));
        break;
    case JSON_REAL: {
        char num[PROCESSES_FLOAT_MAX];
        processes_rust_float(json_real_value(v), num, sizeof num);
        snprintf(out, cap, "floating point `%s`", num);
        break;
    }
    case JSON_STRING: {
        char *q = processes_rust_debug_str(json_string_value(v), json_string_length(v));
        snprintf(out, cap, "string %s", q);
        free(q);
        break;
    }
    case JSON_ARRAY:
        snprintf(out, cap, "sequence");
        break;
    case JSON_OBJECT:
        snprintf(out, cap, "map");
        break;
    }
}

bool processes_decode_input(const char *data, size_t len, const char *encoding,
                            bool enc_default_b64, base_buf *out, char *err, size_t errcap) {
    bool b64;
    if (!encoding)
        b64 = enc_default_b64;
    else if (!strcmp(encoding, "base64"))
        b64 = true;
    else if (!strcmp(encoding, "utf8") || !strcmp(encoding, "text"))
        b64 = false;
    else {
        snprintf(err, errcap, "encoding must be one of: base64, utf8, text");
        return false;
    }
    if (!b64) {
        base_buf_append(out, data, len);
        return true;
    }
    char why[160];
    if (!processes_b64_decode(data, len, out, why, sizeof why)) {
        snprintf(err, errcap, "invalid base64 input: %s", why);
        return false;
    }
    return true;
}

bool processes_parse_u64(const char *s, uint64_t *out, const char **why) {
    const char *p = s;
    if (*p == '+')
        p++;
    if (!*p) {
        *why = "cannot parse integer from empty string";
        return false;
    }
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            *why = "invalid digit found in string";
            return false;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *why = "number too large to fit in target type";
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- request bodies ------------------------------------------------------------------------ */

static const char *processes_expected(const processes_field *f) {
    switch (f->kind) {
    case PROCESSES_F_STR:
        return "a string";
    case PROCESSES_F_BOOL:
        return "a boolean";
    case PROCESSES_F_UINT:
        return f->uint_type;
    case PROCESSES_F_STRV:
        return "a sequence";
    case PROCESSES_F_ENV:
        return "a map";
    }
    return "a value";
}

static bool processes_wrong_type(const char *path, const json_t *v, const char *expected, char *err,
                                 size_t cap) {
    char kind[PROCESSES_FLOAT_MAX + 32];
    processes_json_kind(v, kind, sizeof kind);
    snprintf(err, cap, "%s: invalid type: %s, expected %s", path, kind, expected);
    return false;
}

static bool processes_check_one(const processes_field *f, const json_t *v, char *err, size_t cap) {
    if (json_is_null(v)) {
        if (f->nullable)
            return true;
        return processes_wrong_type(f->name, v, processes_expected(f), err, cap);
    }
    switch (f->kind) {
    case PROCESSES_F_STR:
        if (!json_is_string(v))
            return processes_wrong_type(f->name, v, "a string", err, cap);
        return true;
    case PROCESSES_F_BOOL:
        if (!json_is_boolean(v))
            return processes_wrong_type(f->name, v, "a boolean", err, cap);
        return true;
    case PROCESSES_F_UINT: {
        if (!json_is_integer(v))
            return processes_wrong_type(f->name, v, f->uint_type, err, cap);
        json_int_t n = json_integer_value(v);
        if (n < 0 || (f->uint_max && (uint64_t)n > f->uint_max)) {
            snprintf(err, cap, "%s: invalid value: integer `%lld`, expected %s", f->name,
                     (long long)n, f->uint_type);
            return false;
        }
        return true;
    }
    case PROCESSES_F_STRV: {
        if (!json_is_array(v))
            return processes_wrong_type(f->name, v, "a sequence", err, cap);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                char path[128];
                snprintf(path, sizeof path, "%s[%zu]", f->name, i);
                return processes_wrong_type(path, e, "a string", err, cap);
            }
        }
        return true;
    }
    case PROCESSES_F_ENV: {
        if (!json_is_object(v))
            return processes_wrong_type(f->name, v, "a map", err, cap);
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            if (!json_is_string(e)) {
                char path[300];
                snprintf(path, sizeof path, "%s.%s", f->name, k);
                return processes_wrong_type(path, e, "a string", err, cap);
            }
        }
        return true;
    }
    }
    return true;
}

bool processes_check_fields(json_t *body, const processes_field *f, size_t n, char *err,
                            size_t cap) {
    /* serde reports the first bad member in document order, then missing ones. */
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(f[i].name, k) && !processes_check_one(&f[i], v, err, cap))
                return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].required && !json_object_get(body, f[i].name)) {
            snprintf(err, cap, "missing field `%s`", f[i].name);
            return false;
        }
    }
    return true;
}

/* ---- lossy UTF-8 --------------------------------------------------------------------------- */

char *processes_utf8_lossy(const char *in, size_t n, size_t *out_len) {
    static const char fffd[] = "\xef\xbf\xbd";
    const unsigned char *s = (const unsigned char *)in;
    base_buf b;
    base_buf_init(&b);
    base_buf_reserve(&b, n + 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            size_t j = i;
            while (j < n && s[j] < 0x80)
                j++;
            base_buf_append(&b, s + i, j - i);
            i = j;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            need = 2;
        else if (c == 0xe0)
            need = 3, lo = 0xa0;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            need = 3;
        else if (c == 0xed)
            need = 3, hi = 0x9f;
        else if (c == 0xf0)
            need = 4, lo = 0x90;
        else if (c >= 0xf1 && c <= 0xf3)
            need = 4;
        else if (c == 0xf4)
            need = 4, hi = 0x8f;
        else {
            base_buf_append(&b, fffd, 3);
            i++;
            continue;
        }
        /* Replace the maximal valid prefix of a broken sequence with one U+FFFD. */
        size_t k = 1;
        while (k < need && i + k < n) {
            unsigned char d = s[i + k];
            bool ok = k == 1 ? (d >= lo && d <= hi) : (d >= 0x80 && d <= 0xbf);
            if (!ok)
                break;
            k++;
        }
        if (k == need)
            base_buf_append(&b, s + i, need);
        else
            base_buf_append(&b, fffd, 3);
        i += k;
    }
    return base_buf_steal(&b, out_len);
}
