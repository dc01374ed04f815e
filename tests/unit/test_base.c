/* test_base.c - strings, integers, buffers, refcounted blobs and JSON helpers of src/base. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "unit.h"

/* Decode a NUL-terminated string; returns the malloc'd result (may be NULL). */
static char *pd(const char *s, bool plus) {
    return base_percent_decode(s, strlen(s), plus);
}

static void test_percent_decode(void) {
    char *s;

    s = pd("hello", false);
    CHECK_STR(s, "hello");
    free(s);

    s = pd("", false);
    CHECK_STR(s, "");
    free(s);

    s = pd("a%20b", false);
    CHECK_STR(s, "a b");
    free(s);

    s = pd("a%2Fb", false);
    CHECK_STR(s, "a/b");
    free(s);

    s = pd("a%2fb", false); /* lower-case hex */
    CHECK_STR(s, "a/b");
    free(s);

    s = pd("%41%42%43", false); /* escape at the very end is complete */
    CHECK_STR(s, "ABC");
    free(s);

    s = pd("%E2%9C%93", false); /* multi-byte UTF-8 passes through as bytes */
    CHECK_STR(s, "\xE2\x9C\x93");
    free(s);

    /* Malformed escapes. */
    CHECK(pd("%G1", false) == NULL);
    CHECK(pd("%1G", false) == NULL);
    CHECK(pd("ab%4", false) == NULL); /* truncated: one hex digit */
    CHECK(pd("ab%", false) == NULL);  /* truncated: no hex digit */
    CHECK(pd("%", false) == NULL);
    CHECK(pd("% 1", false) == NULL);

    /* An embedded NUL (escaped) is rejected. */
    CHECK(pd("a%00b", false) == NULL);
    CHECK(pd("%00", false) == NULL);

    /* The length bounds the input: the escape after len is not looked at. */
    s = base_percent_decode("ab%ZZ", 2, false);
    CHECK_STR(s, "ab");
    free(s);
    /* ... and an escape cut by len is truncated, even if the bytes follow. */
    CHECK(base_percent_decode("a%41", 3, false) == NULL);

    /* '+' handling. */
    s = pd("a+b", true);
    CHECK_STR(s, "a b");
    free(s);
    s = pd("a+b", false);
    CHECK_STR(s, "a+b");
    free(s);
    s = pd("a%2Bb", true); /* an escaped plus stays a plus */
    CHECK_STR(s, "a+b");
    free(s);
}

static void test_ct_equal(void) {
    CHECK(base_ct_equal("secret", 6, "secret", 6));
    CHECK(!base_ct_equal("secret", 6, "secreT", 6));
    CHECK(!base_ct_equal("secret", 6, "xecret", 6));
    CHECK(!base_ct_equal("secret", 6, "secret2", 7));
    CHECK(!base_ct_equal("secret2", 7, "secret", 6));
    CHECK(!base_ct_equal("abc", 3, "", 0));
    CHECK(!base_ct_equal("", 0, "abc", 3));
    CHECK(base_ct_equal("", 0, "", 0));
    /* A prefix padded with NULs must not equal the longer string. */
    CHECK(!base_ct_equal("ab\0", 3, "ab", 2));
    /* Lengths, not NULs, delimit: bytes after a NUL still count. */
    CHECK(!base_ct_equal("a\0b", 3, "a\0c", 3));
    CHECK(base_ct_equal("a\0b", 3, "a\0b", 3));
}

static void test_ascii_ieq(void) {
    CHECK(base_ascii_ieq("Content-Type", "content-type", 12));
    CHECK(base_ascii_ieq("ABC", "abd", 2));
    CHECK(!base_ascii_ieq("ABC", "abd", 3));
    CHECK(base_ascii_ieq("", "", 0));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) are different. */
    CHECK(!base_ascii_ieq("@", "`", 1));
    CHECK(!base_ascii_ieq("[", "{", 1));
}

static void test_trim(void) {
    const char *in = "  \t hello world \r\n";
    size_t n = strlen(in);
    const char *t = base_trim(in, &n);
    CHECK(n == 11);
    CHECK(t == in + 4);
    CHECK(!memcmp(t, "hello world", 11));

    n = 5;
    t = base_trim("     ", &n);
    CHECK(n == 0);

    n = 0;
    t = base_trim("", &n);
    CHECK(n == 0);

    const char *x = "x";
    n = 1;
    t = base_trim(x, &n);
    CHECK(n == 1 && t == x);

    /* Only the given span is trimmed; bytes past *len are not looked at. */
    const char *y = " ab   cd";
    n = 5; /* " ab  " */
    t = base_trim(y, &n);
    CHECK(n == 2 && t == y + 1);

    /* Vertical tab and form feed are whitespace too. */
    n = 5;
    t = base_trim("\v\fz\f\v", &n);
    CHECK(n == 1 && *t == 'z');
}

static bool pu(const char *s, uint64_t *v) {
    return base_parse_u64(s, strlen(s), v);
}

static void test_parse_u64(void) {
    uint64_t v = 12345;
    CHECK(pu("0", &v) && v == 0);
    CHECK(pu("7", &v) && v == 7);
    CHECK(pu("5000", &v) && v == 5000);
    CHECK(pu("18446744073709551615", &v) && v == UINT64_MAX);
    CHECK(pu("18446744073709551614", &v) && v == UINT64_MAX - 1);

    v = 99;
    CHECK(!pu("18446744073709551616", &v)); /* max + 1 */
    CHECK(v == 99);                         /* untouched on failure */
    CHECK(!pu("18446744073709551620", &v));
    CHECK(!pu("99999999999999999999", &v));
    CHECK(!pu("184467440737095516150", &v)); /* 21 digits */
    CHECK(!pu("5000x", &v));
    CHECK(!pu("x5000", &v));
    CHECK(!pu("-1", &v));
    CHECK(!pu("+1", &v));
    CHECK(!pu("", &v));
    CHECK(!pu(" 1", &v));
    CHECK(!pu("1 ", &v));
    CHECK(!pu("1.0", &v));
    CHECK(!pu("0x10", &v));
    CHECK(v == 99);

    /* Only len bytes are parsed. */
    CHECK(base_parse_u64("123abc", 3, &v) && v == 123);
    CHECK(!base_parse_u64("123", 0, &v));

    /* Leading zeros are still "an unsigned decimal integer that fills the whole span"
     * (and u64 parsing in the reference accepts them), whatever the length. */
    CHECK(pu("007", &v) && v == 7);
    CHECK(pu("00000000000000000001", &v) && v == 1);  /* 20 chars */
    CHECK(pu("000000000000000000001", &v) && v == 1); /* 21 chars */
    CHECK(pu("0000000000000000000000000042", &v) && v == 42);
}

static void test_buf(void) {
    base_buf b;
    base_buf_init(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);

    base_buf_append(&b, "hello", 5);
    CHECK(b.len == 5);
    CHECK(b.cap > 5);
    CHECK(b.data[5] == 0); /* always NUL-terminated */
    CHECK_STR(b.data, "hello");

    base_buf_appends(&b, " world");
    CHECK(b.len == 11);
    CHECK_STR(b.data, "hello world");

    base_buf_appendf(&b, " %d-%s", 42, "x");
    CHECK_STR(b.data, "hello world 42-x");
    CHECK(b.len == strlen("hello world 42-x"));

    base_buf_append(&b, "", 0);
    CHECK(b.len == 16);

    base_buf_consume(&b, 6);
    CHECK_STR(b.data, "world 42-x");
    CHECK(b.len == 10);

    base_buf_consume(&b, 0);
    CHECK_STR(b.data, "world 42-x");

    base_buf_consume(&b, 100); /* more than held: empties */
    CHECK(b.len == 0);
    CHECK(b.data && b.data[0] == 0);

    /* Growth across many appends keeps the content intact. */
    for (int i = 0; i < 5000; i++)
        base_buf_append(&b, "0123456789", 10);
    CHECK(b.len == 50000);
    CHECK(b.cap > 50000);
    bool intact = true;
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] != (char)('0' + i % 10))
            intact = false;
    CHECK(intact);
    CHECK(b.data[b.len] == 0);

    /* Binary data with NULs. */
    base_buf_consume(&b, b.len);
    base_buf_append(&b, "a\0b", 3);
    CHECK(b.len == 3 && b.data[1] == 0 && b.data[2] == 'b');

    size_t len = 0;
    char *stolen = base_buf_steal(&b, &len);
    CHECK(len == 3);
    CHECK(stolen && stolen[0] == 'a' && stolen[2] == 'b' && stolen[3] == 0);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0); /* reset */
    free(stolen);

    /* Stealing an empty (never allocated) buffer gives an empty string. */
    stolen = base_buf_steal(&b, &len);
    CHECK(stolen && stolen[0] == 0 && len == 0);
    free(stolen);
    stolen = base_buf_steal(&b, NULL);
    CHECK(stolen && stolen[0] == 0);
    free(stolen);

    /* appendf on a fresh buffer, long output. */
    base_buf_appendf(&b, "%0300d", 1);
    CHECK(b.len == 300);
    CHECK(b.data[299] == '1' && b.data[0] == '0' && b.data[300] == 0);
    base_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    base_buf_free(&b); /* double free of an empty buffer is harmless */

    /* reserve never shrinks and leaves room for len + extra + NUL. */
    base_buf_reserve(&b, 1000);
    CHECK(b.cap >= 1001);
    size_t cap = b.cap;
    base_buf_reserve(&b, 10);
    CHECK(b.cap == cap);
    base_buf_free(&b);
}

static void test_rcbuf(void) {
    base_rcbuf *r = base_rcbuf_new("payload", 7);
    CHECK(r->refs == 1);
    CHECK(r->len == 7);
    CHECK(!memcmp(r->data, "payload", 7));
    CHECK(r->data[7] == 0);

    base_rcbuf *r2 = base_rcbuf_ref(r);
    CHECK(r2 == r);
    CHECK(r->refs == 2);
    base_rcbuf_ref(r);
    CHECK(r->refs == 3);
    base_rcbuf_unref(r);
    CHECK(r->refs == 2); /* still alive: readable */
    base_rcbuf_unref(r);
    CHECK(r->refs == 1);
    CHECK(!memcmp(r->data, "payload", 7));
    base_rcbuf_unref(r); /* last reference frees (valgrind/ASan check it) */

    base_rcbuf_unref(NULL); /* tolerated */

    /* NULL data: the caller fills the bytes; the NUL is still placed. */
    base_rcbuf *f = base_rcbuf_new(NULL, 4);
    CHECK(f->len == 4 && f->data[4] == 0);
    memcpy(f->data, "abcd", 4);
    CHECK(!strcmp(f->data, "abcd"));
    base_rcbuf_unref(f);

    base_rcbuf *e = base_rcbuf_new("", 0);
    CHECK(e->len == 0 && e->data[0] == 0 && e->refs == 1);
    base_rcbuf_unref(e);

    /* Binary content. */
    base_rcbuf *z = base_rcbuf_new("a\0b", 3);
    CHECK(z->len == 3 && z->data[1] == 0 && z->data[2] == 'b' && z->data[3] == 0);
    base_rcbuf_unref(z);
}

static void test_json_parse(void) {
    char err[256];
    json_t *v;

    err[0] = 0;
    v = base_json_parse("{\"a\":1}", 7, err, sizeof err);
    CHECK(json_is_object(v));
    CHECK(json_integer_value(json_object_get(v, "a")) == 1);
    json_decref(v);

    /* Any value kind. */
    v = base_json_parse("5", 1, err, sizeof err);
    CHECK(json_is_integer(v) && json_integer_value(v) == 5);
    json_decref(v);
    v = base_json_parse("\"s\"", 3, err, sizeof err);
    CHECK(json_is_string(v));
    json_decref(v);
    v = base_json_parse("null", 4, err, sizeof err);
    CHECK(json_is_null(v));
    json_decref(v);
    v = base_json_parse("[1,2]", 5, err, sizeof err);
    CHECK(json_is_array(v) && json_array_size(v) == 2);
    json_decref(v);

    /* Exactly len bytes: trailing bytes beyond len are not parsed. */
    v = base_json_parse("{}garbage", 2, err, sizeof err);
    CHECK(json_is_object(v));
    json_decref(v);

    /* NUL escapes are allowed. */
    const char *nul = "\"a\\u0000b\"";
    v = base_json_parse(nul, strlen(nul), err, sizeof err);
    CHECK(json_is_string(v) && json_string_length(v) == 3);
    json_decref(v);

    /* Errors: NULL plus a message. */
    err[0] = 0;
    CHECK(base_json_parse("", 0, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    err[0] = 0;
    CHECK(base_json_parse("{", 1, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    CHECK(strstr(err, "line") != NULL && strstr(err, "column") != NULL);
    err[0] = 0;
    CHECK(base_json_parse("{} x", 4, err, sizeof err) == NULL); /* trailing garbage */
    CHECK(err[0] != 0);
    err[0] = 0;
    CHECK(base_json_parse("{'a':1}", 7, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    err[0] = 0;
    CHECK(base_json_parse("[1,]", 4, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    err[0] = 0;
    CHECK(base_json_parse("\"\xff\"", 3, err, sizeof err) == NULL); /* invalid UTF-8 */
    CHECK(err[0] != 0);

    /* err may be NULL or tiny. */
    CHECK(base_json_parse("nope", 4, NULL, 0) == NULL);
    char tiny[4] = "zzz";
    CHECK(base_json_parse("nope", 4, tiny, sizeof tiny) == NULL);
    CHECK(strlen(tiny) < sizeof tiny);

    /* Compact serialisation keeps insertion order and no spaces. */
    json_t *o = json_pack("{s:i,s:s,s:[i,i]}", "z", 1, "a", "x", "m", 1, 2);
    char *s = base_json_compact(o);
    CHECK_STR(s, "{\"z\":1,\"a\":\"x\",\"m\":[1,2]}");
    free(s);
    json_decref(o);
    json_t *str = json_string("x");
    s = base_json_compact(str); /* any value kind */
    CHECK_STR(s, "\"x\"");
    free(s);
    json_decref(str);
}

static void test_log_quote(void) {
    char out[64];
    CHECK_STR(base_log_quote(out, sizeof out, "plain"), "plain");
    CHECK_STR(base_log_quote(out, sizeof out, ""), "\"\"");
    CHECK_STR(base_log_quote(out, sizeof out, "a b"), "\"a b\"");
    CHECK_STR(base_log_quote(out, sizeof out, "a\"b"), "\"a\\\"b\"");
    CHECK_STR(base_log_quote(out, sizeof out, "a=b\n"), "\"a=b\\n\"");
    char small[8];
    base_log_quote(small, sizeof small, "a very long value with spaces");
    CHECK(strlen(small) < sizeof small);
    CHECK(small[0] == '"' && small[strlen(small) - 1] == '"');
}

static void test_random_hex(void) {
    char a[33], b[33];
    base_random_hex(a, 16);
    base_random_hex(b, 16);
    CHECK(strlen(a) == 32 && strlen(b) == 32);
    CHECK(strspn(a, "0123456789abcdef") == 32);
    CHECK(strcmp(a, b) != 0);
}

static void test_utf8_valid(void) {
    CHECK(base_utf8_valid("", 0));
    CHECK(base_utf8_valid("abc", 3));
    CHECK(base_utf8_valid("\xe2\x9c\x93", 3));      /* check mark */
    CHECK(base_utf8_valid("\xf0\x9f\x98\x80", 4));  /* emoji */
    CHECK(!base_utf8_valid("\xff", 1));             /* never valid */
    CHECK(!base_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!base_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!base_utf8_valid("\xe2\x9c", 2));         /* truncated */
    CHECK(!base_utf8_valid("a\0b", 3));             /* NUL */
    CHECK(!base_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
}

/* Lengths of 4 GiB and more survive into a libuv buffer (uv_buf_init would cut them). */
static void test_uv_buf(void) {
    static char byte;
    uv_buf_t b = base_uv_buf(&byte, (size_t)5 << 30);
    CHECK(b.base == &byte);
    CHECK(b.len == (size_t)5 << 30);
    CHECK(base_uv_buf(&byte, 0).len == 0);
}

/* Runs fn in a forked child whose stderr is captured into out (NUL-terminated); returns
 * the child's wait status. */
static int run_child_stderr(void (*fn)(void), char *out, size_t cap) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

static void assert_child(void) {
    int answer = 41;
    BASE_ASSERT(answer == 42);
}

/* A broken invariant aborts after one error line naming the condition and where it is. */
static void test_assert(void) {
    BASE_ASSERT(1 + 1 == 2); /* holds: nothing happens */
    char out[1024];
    int status = run_child_stderr(assert_child, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "level=error msg=\"assertion failed\"") != NULL);
    CHECK(strstr(out, "cond=\"answer == 42\"") != NULL);
    CHECK(strstr(out, "file=tests/unit/test_base.c line=") != NULL);
}

/* The loop watchdog, in a child whose stderr is read back: a timer that spins 80 ms is
 * reported as running, one that sleeps 80 ms in a syscall as that syscall; a 400 ms wait
 * that only a SIGCHLD ends (a child process exiting) is not reported. */
static uv_timer_t lw_timer, lw_sleep_timer;
static uv_process_t lw_proc;

static void lw_spin_cb(uv_timer_t *t) {
    (void)t;
    uint64_t until = uv_hrtime() + 80 * 1000000u;
    while (uv_hrtime() < until) {
    }
}

static void lw_sleep_cb(uv_timer_t *t) {
    uv_close((uv_handle_t *)t, NULL);
    struct timespec ts = {0, 80 * 1000000L};
    nanosleep(&ts, NULL);
}

static void lw_close_cb(uv_timer_t *t) {
    uv_close((uv_handle_t *)t, NULL);
}

static void lw_exit_cb(uv_process_t *p, int64_t status, int sig) {
    (void)status, (void)sig;
    uv_close((uv_handle_t *)p, NULL);
    /* One more iteration, so the one that the SIGCHLD woke is measured too. */
    uv_timer_start(&lw_timer, lw_close_cb, 10, 0);
}

static void lw_child(void) {
    setenv("SANDBOX_AGENT_LOOP_WATCHDOG_MS", "30", 1);
    uv_loop_t *loop = uv_default_loop();
    if (!base_loopwatch_start(loop))
        _exit(3);
    uv_timer_init(loop, &lw_timer);
    uv_timer_start(&lw_timer, lw_spin_cb, 50, 0); /* not in the first iteration: startup */
    uv_timer_init(loop, &lw_sleep_timer);
    uv_timer_start(&lw_sleep_timer, lw_sleep_cb, 200, 0);
    char *args[] = {"sleep", "0.4", NULL};
    uv_process_options_t o = {.file = "sleep", .args = args, .exit_cb = lw_exit_cb};
    if (uv_spawn(loop, &lw_proc, &o) != 0)
        _exit(4);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
}

static void test_loopwatch(void) {
    char out[4096];
    int status = run_child_stderr(lw_child, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int reports = 0;
    double longest = 0;
    for (const char *p = out; (p = strstr(p, "busy_ms=")); p += 8) {
        double ms = strtod(p + 8, NULL);
        reports++;
        if (ms > longest)
            longest = ms;
    }
    bool ok = reports == 2 && longest >= 79 && longest < 300 && strstr(out, "in=running:") &&
              strstr(out, "in=clock_nanosleep:");
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "loopwatch output:\n%s", out);
}

UNIT_MAIN(test_loopwatch(); test_assert(); test_uv_buf(); test_utf8_valid(); test_percent_decode();
          test_ct_equal(); test_ascii_ieq(); test_trim(); test_parse_u64(); test_buf();
          test_rcbuf(); test_json_parse(); test_log_quote(); test_random_hex())
