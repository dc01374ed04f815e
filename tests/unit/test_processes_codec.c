/* test_processes_codec.c - the pure codecs of the processes API (src/processes/codec.c):
 * base64 with the reference's error texts (the vectors were checked against the reference
 * by tests/integration/processes.test.mjs), input decoding per encoding, Rust-style lossy
 * UTF-8, serde-like type descriptions and field checks, and strict unsigned parsing; with
 * empty, invalid and huge inputs. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "processes/internal.h"
#include "unit.h"

/* CHECK_STR for buffers, which are never NULL (CHECK_STR's NULL test warns on them). */
#define CHECK_SAME(a, b) CHECK(strcmp((a), (b)) == 0)

/* ---- base64 ---------------------------------------------------------------------------------- */

/* Decodes in; on success the bytes must be want (want_len), on failure the message err. */
static void check_b64(const char *in, const char *want, size_t want_len, const char *err) {
    base_buf out;
    base_buf_init(&out);
    char why[160] = "";
    bool ok = processes_b64_decode(in, strlen(in), &out, why, sizeof why);
    if (err) {
        if (ok || strcmp(why, err) != 0)
            fprintf(stderr, "%s: decode \"%s\": %s, want \"%s\"\n", __FILE__, in,
                    ok ? "accepted" : why, err);
        CHECK(!ok);
        CHECK_SAME(why, err);
    } else {
        if (!ok)
            fprintf(stderr, "%s: decode \"%s\" failed: %s\n", __FILE__, in, why);
        CHECK(ok);
        CHECK(out.len == want_len && (want_len == 0 || !memcmp(out.data, want, want_len)));
    }
    base_buf_free(&out);
}

static void check_b64_encode(const char *in, size_t len, const char *want) {
    base_buf out;
    base_buf_init(&out);
    processes_b64_encode(&out, in, len);
    CHECK(out.len == strlen(want));
    CHECK_SAME(out.data ? out.data : "", want);
    base_buf_free(&out);
}

static void test_b64(void) {
    /* RFC 4648 vectors, both ways. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        check_b64_encode(plain[i], strlen(plain[i]), coded[i]);
        check_b64(coded[i], plain[i], strlen(plain[i]), NULL);
    }
    check_b64("+/+/", "\xfb\xff\xbf", 3, NULL);
    /* The reference's messages. */
    check_b64("hi\n", NULL, 0, "Invalid symbol 10, offset 2.");
    check_b64("a", NULL, 0, "Invalid input length: 1");
    check_b64("aGk", NULL, 0, "Invalid padding");
    check_b64("aGk==", NULL, 0, "Invalid symbol 61, offset 3.");
    check_b64("aG=k", NULL, 0, "Invalid symbol 61, offset 2.");
    check_b64("aGl=", NULL, 0, "Invalid last symbol 108, offset 2.");
    check_b64("aGkK=", NULL, 0, "Invalid symbol 61, offset 4.");
    check_b64("Zm9v!", NULL, 0, "Invalid symbol 33, offset 4.");
    check_b64("====", NULL, 0, "Invalid symbol 61, offset 0.");
    check_b64("YQ", NULL, 0, "Invalid padding");
    check_b64("YQ=", NULL, 0, "Invalid padding");
    check_b64("YR==", NULL, 0, "Invalid last symbol 82, offset 1.");
    check_b64("aGkKa", NULL, 0, "Invalid input length: 5");
    /* The URL-safe alphabet and whitespace are not standard base64. */
    check_b64("-_-_", NULL, 0, "Invalid symbol 45, offset 0.");
    check_b64("Zm9v Zm9v", NULL, 0, "Invalid symbol 32, offset 4.");

    /* Every length round-trips, with every byte value. */
    unsigned char bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof bytes; len++) {
        base_buf enc, dec;
        base_buf_init(&enc);
        base_buf_init(&dec);
        processes_b64_encode(&enc, bytes, len);
        CHECK(enc.len == (len + 2) / 3 * 4);
        char why[160];
        CHECK(processes_b64_decode(enc.data ? enc.data : "", enc.len, &dec, why, sizeof why));
        CHECK(dec.len == len && (len == 0 || !memcmp(dec.data, bytes, len)));
        base_buf_free(&enc);
        base_buf_free(&dec);
    }

    /* Huge: 3 MiB round-trips; an error near the end reports its exact offset. */
    size_t big = 3u << 20;
    char *raw = malloc(big);
    for (size_t i = 0; i < big; i++)
        raw[i] = (char)(i * 7);
    base_buf enc, dec;
    base_buf_init(&enc);
    base_buf_init(&dec);
    processes_b64_encode(&enc, raw, big);
    CHECK(enc.len == big / 3 * 4);
    char why[160];
    CHECK(processes_b64_decode(enc.data, enc.len, &dec, why, sizeof why));
    CHECK(dec.len == big && !memcmp(dec.data, raw, big));
    dec.len = 0;
    enc.data[enc.len - 5] = '*';
    CHECK(!processes_b64_decode(enc.data, enc.len, &dec, why, sizeof why));
    char want[80];
    snprintf(want, sizeof want, "Invalid symbol 42, offset %zu.", enc.len - 5);
    CHECK_SAME(why, want);
    base_buf_free(&enc);
    base_buf_free(&dec);
    free(raw);
}

static void test_decode_input(void) {
    base_buf out;
    base_buf_init(&out);
    char err[200];
    /* No encoding: the caller's default. */
    CHECK(processes_decode_input("aGk=", 4, NULL, true, &out, err, sizeof err));
    CHECK(out.len == 2 && !memcmp(out.data, "hi", 2));
    out.len = 0;
    CHECK(processes_decode_input("aGk=", 4, NULL, false, &out, err, sizeof err));
    CHECK(out.len == 4 && !memcmp(out.data, "aGk=", 4));
    out.len = 0;
    /* utf8 and text pass bytes through, NULs and invalid UTF-8 included. */
    CHECK(processes_decode_input("a\0\xff", 3, "utf8", true, &out, err, sizeof err));
    CHECK(out.len == 3 && !memcmp(out.data, "a\0\xff", 3));
    out.len = 0;
    CHECK(processes_decode_input("x", 1, "text", true, &out, err, sizeof err));
    CHECK(out.len == 1);
    out.len = 0;
    CHECK(processes_decode_input("", 0, "base64", false, &out, err, sizeof err));
    CHECK(out.len == 0);
    CHECK(!processes_decode_input("x", 1, "utf-8", true, &out, err, sizeof err));
    CHECK_SAME(err, "encoding must be one of: base64, utf8, text");
    CHECK(!processes_decode_input("x", 1, "", true, &out, err, sizeof err));
    CHECK(!processes_decode_input("!!", 2, "base64", false, &out, err, sizeof err));
    CHECK_SAME(err, "invalid base64 input: Invalid symbol 33, offset 0.");
    base_buf_free(&out);
}

/* ---- lossy UTF-8 ----------------------------------------------------------------------------- */

#define FFFD "\xef\xbf\xbd"

static void check_lossy(const char *in, size_t n, const char *want) {
    size_t len = 12345;
    char *out = processes_utf8_lossy(in, n, &len);
    CHECK(out != NULL);
    CHECK(len == strlen(want));
    CHECK(out && out[len] == 0);
    if (out && (len != strlen(want) || memcmp(out, want, len) != 0))
        fprintf(stderr, "%s: lossy of %zu bytes gave \"%s\", want \"%s\"\n", __FILE__, n, out,
                want);
    CHECK(out && !memcmp(out, want, strlen(want)));
    free(out);
}

static void test_utf8_lossy(void) {
    check_lossy("", 0, "");
    check_lossy("plain ascii", 11, "plain ascii");
    check_lossy("thr\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9", 14,
                "thr\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9");
    /* NULs are text. */
    size_t len;
    char *nul = processes_utf8_lossy("a\0b", 3, &len);
    CHECK(len == 3 && !memcmp(nul, "a\0b", 3));
    free(nul);
    /* One U+FFFD per maximal invalid subpart (Rust's from_utf8_lossy, Unicode 3.9). */
    check_lossy("\xff", 1, FFFD);
    check_lossy("\xc3", 1, FFFD);     /* cut at the end */
    check_lossy("\xe2\x82", 2, FFFD); /* one, not two */
    check_lossy("\xe2\x82"
                "A",
                3, FFFD "A");
    check_lossy("\xf0\x9f\x98", 3, FFFD);
    check_lossy("\xc0\xaf", 2, FFFD FFFD);                   /* overlong */
    check_lossy("\xe0\x80\x80", 3, FFFD FFFD FFFD);          /* overlong */
    check_lossy("\xed\xa0\x80", 3, FFFD FFFD FFFD);          /* surrogate */
    check_lossy("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    check_lossy("\xf5\x80", 2, FFFD FFFD);
    check_lossy("\x80\xbf", 2, FFFD FFFD); /* lone continuations */
    /* The Unicode standard's own example (table 3-8). */
    check_lossy("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", 13,
                "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
    check_lossy("a\xff"
                "b\xe2\x82\xac"
                "c",
                7,
                "a" FFFD "b\xe2\x82\xac"
                "c");

    /* Huge: 4 MiB of invalid bytes become 12 MiB of U+FFFD; valid text is unchanged. */
    size_t big = 4u << 20;
    char *bad = malloc(big);
    memset(bad, 0xff, big);
    char *out = processes_utf8_lossy(bad, big, &len);
    CHECK(len == 3 * big);
    bool all = true;
    for (size_t i = 0; i < len; i += 3)
        all = all && !memcmp(out + i, FFFD, 3);
    CHECK(all);
    free(out);
    for (size_t i = 0; i < big; i += 2)
        memcpy(bad + i, "\xc3\xa9", 2);
    out = processes_utf8_lossy(bad, big, &len);
    CHECK(len == big && !memcmp(out, bad, big));
    /* A sequence cut by the end of a capture (as processes/run's cap does). */
    free(out);
    out = processes_utf8_lossy(bad, big - 1, &len);
    CHECK(len == big - 2 + 3 && !memcmp(out + len - 3, FFFD, 3));
    free(out);
    free(bad);
}

/* ---- serde-like types and fields ------------------------------------------------------------- */

static void check_kind(json_t *v, const char *want) {
    char out[512];
    processes_json_kind(v, out, sizeof out);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "%s: kind \"%s\", want \"%s\"\n", __FILE__, out, want);
    CHECK_SAME(out, want);
    json_decref(v);
}

static void test_json_kind(void) {
    check_kind(json_null(), "null");
    check_kind(json_true(), "boolean `true`");
    check_kind(json_false(), "boolean `false`");
    check_kind(json_integer(5), "integer `5`");
    check_kind(json_integer(-3), "integer `-3`");
    check_kind(json_array(), "sequence");
    check_kind(json_object(), "map");
    /* Floats as Rust prints them: shortest round-trip digits, no exponent, ".0" if whole. */
    check_kind(json_real(1.0), "floating point `1.0`");
    check_kind(json_real(1.5), "floating point `1.5`");
    check_kind(json_real(0.1), "floating point `0.1`");
    check_kind(json_real(-2.25), "floating point `-2.25`");
    check_kind(json_real(1e21), "floating point `1000000000000000000000.0`");
    check_kind(json_real(1.5e-7), "floating point `0.00000015`");
    check_kind(json_real(123456.789), "floating point `123456.789`");
    check_kind(json_real(-0.0), "floating point `-0.0`");
    char out[512];
    json_t *huge = json_real(1e300);
    processes_json_kind(huge, out, sizeof out);
    CHECK(strlen(out) == strlen("floating point `1.0`") + 300);
    CHECK(!strncmp(out, "floating point `1000", 20) && strstr(out, "000.0`"));
    json_decref(huge);
    /* Strings as Rust's Debug quotes them. */
    check_kind(json_string("abc"), "string \"abc\"");
    check_kind(json_string(""), "string \"\"");
    check_kind(json_string("a\"b\\c\nd\te\rf"), "string \"a\\\"b\\\\c\\nd\\te\\rf\"");
    check_kind(json_string("\x1b[0m\x7f"), "string \"\\u{1b}[0m\\u{7f}\"");
    check_kind(json_stringn("a\0b", 3), "string \"a\\0b\"");
    check_kind(json_string("caf\xc3\xa9 'q'"), "string \"caf\xc3\xa9 'q'\"");
    /* A long string is cut to the buffer, never overflowing it. */
    char *long_s = malloc(5000);
    memset(long_s, 'x', 4999);
    long_s[4999] = 0;
    json_t *l = json_string(long_s);
    char small[32];
    processes_json_kind(l, small, sizeof small);
    CHECK(strlen(small) == sizeof small - 1 && !strncmp(small, "string \"xxx", 11));
    json_decref(l);
    free(long_s);
}

static const processes_field fields[] = {
    {"command", PROCESSES_F_STR, true, false, NULL, 0},
    {"args", PROCESSES_F_STRV, false, false, NULL, 0},
    {"cwd", PROCESSES_F_STR, false, true, NULL, 0},
    {"env", PROCESSES_F_ENV, false, false, NULL, 0},
    {"tty", PROCESSES_F_BOOL, false, false, NULL, 0},
    {"timeoutMs", PROCESSES_F_UINT, false, true, "u64", 0},
    {"cols", PROCESSES_F_UINT, false, false, "u16", 65535},
};

/* Checks a JSON body; want NULL = accepted. */
static void check_fields(const char *body, const char *want) {
    json_t *b = json_loads(body, 0, NULL);
    CHECK(b != NULL);
    if (!b)
        return;
    char err[512] = "";
    bool ok = processes_check_fields(b, fields, sizeof fields / sizeof fields[0], err, sizeof err);
    if (want ? (ok || strcmp(err, want) != 0) : !ok)
        fprintf(stderr, "%s: body %s: %s, want %s\n", __FILE__, body, ok ? "accepted" : err,
                want ? want : "accepted");
    CHECK(want ? !ok : ok);
    if (want)
        CHECK_SAME(err, want);
    json_decref(b);
}

static void test_fields(void) {
    check_fields("{\"command\":\"ls\"}", NULL);
    check_fields("{\"command\":\"ls\",\"args\":[\"-l\"],\"cwd\":null,\"env\":{\"A\":\"b\"},"
                 "\"tty\":true,\"timeoutMs\":null,\"cols\":65535,\"unknown\":[1]}",
                 NULL);
    check_fields("{}", "missing field `command`");
    check_fields("{\"args\":[]}", "missing field `command`");
    /* Document order first: the first bad member wins over a missing one. */
    check_fields("{\"args\":[\"a\",1]}", "args[1]: invalid type: integer `1`, expected a string");
    check_fields("{\"command\":\"ls\",\"args\":null}",
                 "args: invalid type: null, expected a sequence");
    check_fields("{\"command\":\"ls\",\"env\":{\"A\":5}}",
                 "env.A: invalid type: integer `5`, expected a string");
    check_fields("{\"command\":\"ls\",\"env\":[]}", "env: invalid type: sequence, expected a map");
    check_fields("{\"command\":1}", "command: invalid type: integer `1`, expected a string");
    check_fields("{\"command\":\"ls\",\"tty\":\"yes\"}",
                 "tty: invalid type: string \"yes\", expected a boolean");
    check_fields("{\"command\":\"ls\",\"timeoutMs\":-1}",
                 "timeoutMs: invalid value: integer `-1`, expected u64");
    check_fields("{\"command\":\"ls\",\"timeoutMs\":0.1}",
                 "timeoutMs: invalid type: floating point `0.1`, expected u64");
    check_fields("{\"command\":\"ls\",\"timeoutMs\":5.0}",
                 "timeoutMs: invalid type: floating point `5.0`, expected u64");
    check_fields("{\"command\":\"ls\",\"cols\":65536}",
                 "cols: invalid value: integer `65536`, expected u16");
    check_fields("{\"command\":\"ls\",\"cols\":null}", "cols: invalid type: null, expected u16");
}

static void check_u64(const char *s, bool ok, uint64_t want, const char *why) {
    uint64_t v = 0;
    const char *w = NULL;
    bool got = processes_parse_u64(s, &v, &w);
    CHECK(got == ok);
    if (ok)
        CHECK(v == want);
    else
        CHECK_SAME(w, why);
}

static void test_parse_u64(void) {
    check_u64("0", true, 0, NULL);
    check_u64("+5", true, 5, NULL);
    check_u64("007", true, 7, NULL);
    check_u64("18446744073709551615", true, UINT64_MAX, NULL);
    check_u64("18446744073709551616", false, 0, "number too large to fit in target type");
    check_u64("99999999999999999999999", false, 0, "number too large to fit in target type");
    check_u64("", false, 0, "cannot parse integer from empty string");
    check_u64("+", false, 0, "cannot parse integer from empty string");
    check_u64("-1", false, 0, "invalid digit found in string");
    check_u64("1 ", false, 0, "invalid digit found in string");
    check_u64(" 1", false, 0, "invalid digit found in string");
    check_u64("0x10", false, 0, "invalid digit found in string");
}

int main(void) {
    test_b64();
    test_decode_input();
    test_utf8_lossy();
    test_json_kind();
    test_fields();
    test_parse_u64();
    printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}
