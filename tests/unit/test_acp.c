/* test_acp.c - the pure parts of the ACP bridge: JSON-RPC classification, id equality,
 * stderr injection, SSE framing and the in-memory journal (ring + subscribers). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acp/acp.h"
#include "unit.h"

static json_t *J(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s: %s\n", text, e.text);
    return v;
}

static acp_msg_kind classify(const char *text) {
    json_t *m = J(text);
    acp_msg_kind k = acp_classify(m);
    json_decref(m);
    return k;
}

static void test_classify(void) {
    CHECK(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"id\":\"abc\",\"method\":\"x\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"id\":1.5,\"method\":\"x\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"id\":{\"a\":[1]},\"method\":\"x\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"id\":[],\"method\":\"x\"}") == ACP_MSG_REQUEST);
    CHECK(classify("{\"method\":\"x\",\"id\":false}") == ACP_MSG_REQUEST);

    CHECK(classify("{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{}}") ==
          ACP_MSG_NOTIFICATION);
    CHECK(classify("{\"method\":\"x\"}") == ACP_MSG_NOTIFICATION);
    /* A member named "ids" or "method" nested elsewhere does not count. */
    CHECK(classify("{\"method\":\"x\",\"params\":{\"id\":1}}") == ACP_MSG_NOTIFICATION);

    CHECK(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}") == ACP_MSG_RESPONSE);
    CHECK(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1}}") == ACP_MSG_RESPONSE);
    CHECK(classify("{\"jsonrpc\":\"2.0\"}") == ACP_MSG_RESPONSE);
    CHECK(classify("{}") == ACP_MSG_RESPONSE);
    CHECK(classify("{\"result\":{\"method\":\"x\"},\"id\":3}") == ACP_MSG_RESPONSE);
}

static bool ideq(const char *a, const char *b) {
    json_t *x = J(a), *y = J(b);
    bool r = acp_id_equal(x, y);
    json_decref(x);
    json_decref(y);
    return r;
}

static void test_id_equal(void) {
    CHECK(ideq("7", "7"));
    CHECK(!ideq("7", "\"7\""));
    CHECK(!ideq("\"7\"", "7"));
    CHECK(ideq("\"7\"", "\"7\""));
    CHECK(!ideq("7", "8"));
    CHECK(!ideq("1", "1.0"));
    CHECK(!ideq("1.0", "1"));
    CHECK(ideq("1.5", "1.5"));
    CHECK(ideq("null", "null"));
    CHECK(!ideq("null", "0"));
    CHECK(!ideq("false", "0"));
    CHECK(ideq("{\"a\":1,\"b\":[1,2]}", "{\"b\":[1,2],\"a\":1}"));
    CHECK(!ideq("{\"a\":1}", "{\"a\":\"1\"}"));
    CHECK(!ideq("{\"a\":1}", "{\"a\":1,\"b\":2}"));
    CHECK(ideq("[1,\"x\"]", "[1,\"x\"]"));
    CHECK(!ideq("[1,2]", "[2,1]"));
    CHECK(!ideq("\"\"", "null"));

    json_t *x = json_integer(1);
    CHECK(!acp_id_equal(x, NULL));
    CHECK(!acp_id_equal(NULL, x));
    CHECK(!acp_id_equal(NULL, NULL));
    json_decref(x);
}

/* Inject and return the compact result (NULL when nothing applies). */
static char *inject(const char *msg, const char *err) {
    json_t *m = J(msg);
    char *before = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *r = acp_inject_stderr(m, err);
    char *after = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(before, after); /* the input is never modified */
    free(before);
    free(after);
    char *s = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(r);
    json_decref(m);
    return s;
}

static void test_inject_stderr(void) {
    char *s;

    /* data absent: becomes {"agentStderr": ...}. */
    s = inject("{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":\"nope\"}}",
               "fake agent started");
    CHECK_STR(s, "{\"error\":{\"code\":-32601,\"data\":{\"agentStderr\":\"fake agent "
                 "started\"},\"message\":\"nope\"},\"id\":5,\"jsonrpc\":\"2.0\"}");
    free(s);

    /* data object: merged. */
    s = inject("{\"id\":5,\"error\":{\"code\":1,\"message\":\"m\",\"data\":{\"k\":1}}}",
               "line1\nline2");
    CHECK_STR(s, "{\"error\":{\"code\":1,\"data\":{\"agentStderr\":\"line1\\nline2\",\"k\":1},"
                 "\"message\":\"m\"},\"id\":5}");
    free(s);

    /* data object that already has agentStderr: replaced by the current text. */
    s = inject("{\"id\":5,\"error\":{\"data\":{\"agentStderr\":\"old\"}}}", "new");
    CHECK_STR(s, "{\"error\":{\"data\":{\"agentStderr\":\"new\"}},\"id\":5}");
    free(s);

    /* data string / array / null / number: untouched -> NULL. */
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1,\"data\":\"text\"}}", "err") == NULL);
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1,\"data\":[1]}}", "err") == NULL);
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1,\"data\":null}}", "err") == NULL);
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1,\"data\":3}}", "err") == NULL);

    /* Not an error response: NULL. */
    CHECK(inject("{\"id\":5,\"result\":{}}", "err") == NULL);
    CHECK(inject("{\"method\":\"x\",\"params\":{}}", "err") == NULL);
    CHECK(inject("{\"id\":5,\"error\":\"string error\"}", "err") == NULL);
    CHECK(inject("{\"id\":5,\"error\":null}", "err") == NULL);

    /* Empty or no stderr: NULL. */
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1}}", "") == NULL);
    CHECK(inject("{\"id\":5,\"error\":{\"code\":1}}", NULL) == NULL);
}

static void test_sse_frame(void) {
    const char *json = "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}";
    base_rcbuf *f = acp_sse_frame(3, json, strlen(json));
    const char *want = "event: message\nid: 3\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n";
    CHECK(f->len == strlen(want));
    CHECK(!memcmp(f->data, want, strlen(want)));
    CHECK(f->data[f->len] == 0);
    CHECK(f->refs == 1);
    base_rcbuf_unref(f);

    f = acp_sse_frame(UINT64_MAX, "{}", 2);
    const char *want2 = "event: message\nid: 18446744073709551615\ndata: {}\n\n";
    CHECK(f->len == strlen(want2) && !memcmp(f->data, want2, f->len));
    base_rcbuf_unref(f);

    /* Only len bytes of the JSON are used. */
    f = acp_sse_frame(1, "{}XYZ", 2);
    CHECK_STR(f->data, "event: message\nid: 1\ndata: {}\n\n");
    base_rcbuf_unref(f);
}

/* ---- journal ---------------------------------------------------------------------------- */

#define REC_MAX 64
typedef struct rec {
    size_t n;
    uint64_t ids[REC_MAX];
    char *frames[REC_MAX];
    /* behaviours */
    acp_journal *j;
    acp_journal_sub *self;
    bool unsubscribe_self;
    bool keep_ref;
    base_rcbuf *kept[REC_MAX];
} rec;

static void rec_sink(void *ud, uint64_t id, base_rcbuf *frame) {
    rec *r = ud;
    if (r->n < REC_MAX) {
        r->ids[r->n] = id;
        r->frames[r->n] = base_xstrndup(frame->data, frame->len);
        if (r->keep_ref)
            r->kept[r->n] = base_rcbuf_ref(frame);
        r->n++;
    }
    if (r->unsubscribe_self && r->self) {
        acp_journal_unsubscribe(r->j, r->self);
        r->self = NULL;
    }
}

static void rec_free(rec *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->frames[i]);
        if (r->kept[i])
            base_rcbuf_unref(r->kept[i]);
    }
    memset(r, 0, sizeof *r);
}

static uint64_t app(acp_journal *j, const char *s) {
    return acp_journal_append(j, s, strlen(s));
}

static void test_journal_ids_and_replay(void) {
    acp_journal *j = acp_journal_memory_new(8, 0);
    CHECK(acp_journal_last_id(j) == 0);

    rec r = {0};
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 0); /* empty journal */

    CHECK(app(j, "{\"n\":1}") == 1);
    CHECK(app(j, "{\"n\":2}") == 2);
    CHECK(app(j, "{\"n\":3}") == 3);
    CHECK(app(j, "{\"n\":4}") == 4);
    CHECK(acp_journal_last_id(j) == 4);

    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 4);
    CHECK(r.ids[0] == 1 && r.ids[1] == 2 && r.ids[2] == 3 && r.ids[3] == 4);
    CHECK_STR(r.frames[0], "event: message\nid: 1\ndata: {\"n\":1}\n\n");
    CHECK_STR(r.frames[3], "event: message\nid: 4\ndata: {\"n\":4}\n\n");
    rec_free(&r);

    acp_journal_replay(j, 2, rec_sink, &r);
    CHECK(r.n == 2);
    CHECK(r.ids[0] == 3 && r.ids[1] == 4);
    CHECK_STR(r.frames[0], "event: message\nid: 3\ndata: {\"n\":3}\n\n");
    rec_free(&r);

    acp_journal_replay(j, 4, rec_sink, &r); /* N == latest: nothing */
    CHECK(r.n == 0);
    acp_journal_replay(j, 1000, rec_sink, &r); /* N > latest: nothing */
    CHECK(r.n == 0);
    acp_journal_replay(j, UINT64_MAX, rec_sink, &r);
    CHECK(r.n == 0);
    rec_free(&r);

    acp_journal_free(j);
}

static void test_journal_ring(void) {
    acp_journal *j = acp_journal_memory_new(3, 0);
    char buf[32];
    for (int i = 1; i <= 10; i++) {
        snprintf(buf, sizeof buf, "{\"n\":%d}", i);
        CHECK(app(j, buf) == (uint64_t)i);
    }
    CHECK(acp_journal_last_id(j) == 10);

    rec r = {0};
    acp_journal_replay(j, 0, rec_sink, &r); /* keeps the newest 3, oldest first */
    CHECK(r.n == 3);
    CHECK(r.ids[0] == 8 && r.ids[1] == 9 && r.ids[2] == 10);
    CHECK_STR(r.frames[0], "event: message\nid: 8\ndata: {\"n\":8}\n\n");
    CHECK_STR(r.frames[2], "event: message\nid: 10\ndata: {\"n\":10}\n\n");
    rec_free(&r);

    acp_journal_replay(j, 2, rec_sink, &r); /* older than the buffer: from the oldest held */
    CHECK(r.n == 3 && r.ids[0] == 8);
    rec_free(&r);

    acp_journal_replay(j, 8, rec_sink, &r);
    CHECK(r.n == 2 && r.ids[0] == 9 && r.ids[1] == 10);
    rec_free(&r);

    acp_journal_replay(j, 9, rec_sink, &r);
    CHECK(r.n == 1 && r.ids[0] == 10);
    rec_free(&r);

    acp_journal_free(j);

    /* Capacity 1 and capacity 0 (treated as 1). */
    for (size_t cap = 0; cap <= 1; cap++) {
        j = acp_journal_memory_new(cap, 0);
        app(j, "{\"a\":1}");
        app(j, "{\"a\":2}");
        acp_journal_replay(j, 0, rec_sink, &r);
        CHECK(r.n == 1 && r.ids[0] == 2);
        rec_free(&r);
        acp_journal_free(j);
    }

    /* Exactly at capacity: nothing evicted yet. */
    j = acp_journal_memory_new(4, 0);
    for (int i = 0; i < 4; i++)
        app(j, "{}");
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 4 && r.ids[0] == 1 && r.ids[3] == 4);
    rec_free(&r);
    app(j, "{}");
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 4 && r.ids[0] == 2 && r.ids[3] == 5);
    rec_free(&r);
    acp_journal_free(j);
}

static void test_journal_ring_bytes(void) {
    /* Frames of "event: message\nid: N\ndata: " + 100 bytes + "\n\n": about 130 bytes each;
     * a 400-byte bound keeps 3 although 100 slots are free. */
    acp_journal *j = acp_journal_memory_new(100, 400);
    char big[101];
    memset(big, 'x', 100);
    big[0] = '"';
    big[99] = '"';
    big[100] = 0;
    for (int i = 0; i < 10; i++)
        app(j, big);
    rec r = {0};
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 3);
    CHECK(r.ids[0] == 8 && r.ids[2] == 10);
    size_t total = 0;
    for (size_t i = 0; i < r.n; i++)
        total += strlen(r.frames[i]);
    CHECK(total <= 400);
    rec_free(&r);

    /* One frame above the bound alone is still kept (live delivery and the last event). */
    char *huge = malloc(1002);
    memset(huge, 'y', 1001);
    huge[0] = '"';
    huge[1000] = '"';
    huge[1001] = 0;
    app(j, huge);
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 1 && r.ids[0] == 11);
    rec_free(&r);
    app(j, "{}"); /* and is evicted by the next one */
    acp_journal_replay(j, 0, rec_sink, &r);
    CHECK(r.n == 1 && r.ids[0] == 12);
    rec_free(&r);
    free(huge);
    acp_journal_free(j);
}

static void test_journal_frames_outlive_eviction(void) {
    /* A sink that keeps a reference must see its bytes survive eviction and free. */
    acp_journal *j = acp_journal_memory_new(1, 0);
    rec r = {0};
    r.keep_ref = true;
    acp_journal_sub *s = acp_journal_subscribe(j, rec_sink, &r);
    app(j, "{\"first\":true}");
    app(j, "{\"second\":true}"); /* evicts the first frame from the ring */
    acp_journal_unsubscribe(j, s);
    acp_journal_free(j);
    CHECK(r.n == 2);
    CHECK(r.kept[0] && r.kept[0]->refs == 1);
    CHECK(r.kept[0] &&
          !strcmp(r.kept[0]->data, "event: message\nid: 1\ndata: {\"first\":true}\n\n"));
    CHECK(r.kept[1] &&
          !strcmp(r.kept[1]->data, "event: message\nid: 2\ndata: {\"second\":true}\n\n"));
    rec_free(&r);
}

static void test_journal_subscribers(void) {
    acp_journal *j = acp_journal_memory_new(16, 0);
    app(j, "{\"before\":1}"); /* not delivered to later subscribers */

    rec a = {0}, b = {0};
    acp_journal_sub *sa = acp_journal_subscribe(j, rec_sink, &a);
    acp_journal_sub *sb = acp_journal_subscribe(j, rec_sink, &b);
    CHECK(sa != NULL && sb != NULL && sa != sb);

    CHECK(app(j, "{\"live\":1}") == 2);
    CHECK(app(j, "{\"live\":2}") == 3);
    CHECK(a.n == 2 && a.ids[0] == 2 && a.ids[1] == 3);
    CHECK(b.n == 2 && b.ids[0] == 2 && b.ids[1] == 3);
    CHECK(a.n == 2 && !strcmp(a.frames[0], "event: message\nid: 2\ndata: {\"live\":1}\n\n"));

    acp_journal_unsubscribe(j, sa);
    CHECK(app(j, "{\"live\":3}") == 4);
    CHECK(a.n == 2); /* stopped */
    CHECK(b.n == 3 && b.ids[2] == 4);

    acp_journal_unsubscribe(j, sb);
    app(j, "{\"live\":4}");
    CHECK(b.n == 3);

    /* Subscribe/unsubscribe in other orders (list head, middle, tail). */
    rec c1 = {0}, c2 = {0}, c3 = {0};
    acp_journal_sub *s1 = acp_journal_subscribe(j, rec_sink, &c1);
    acp_journal_sub *s2 = acp_journal_subscribe(j, rec_sink, &c2);
    acp_journal_sub *s3 = acp_journal_subscribe(j, rec_sink, &c3);
    acp_journal_unsubscribe(j, s2); /* middle */
    app(j, "{}");
    CHECK(c1.n == 1 && c2.n == 0 && c3.n == 1);
    acp_journal_unsubscribe(j, s3); /* head */
    app(j, "{}");
    CHECK(c1.n == 2 && c3.n == 1);
    acp_journal_unsubscribe(j, s1); /* last */
    CHECK(!acp_journal_has_subscribers(j));
    app(j, "{}");
    CHECK(c1.n == 2);

    rec_free(&a);
    rec_free(&b);
    rec_free(&c1);
    rec_free(&c2);
    rec_free(&c3);
    acp_journal_free(j);
}

static void test_journal_self_unsubscribe(void) {
    acp_journal *j = acp_journal_memory_new(4, 0);
    rec a = {0}, b = {0}, c = {0};
    a.j = b.j = c.j = j;
    a.self = acp_journal_subscribe(j, rec_sink, &a);
    b.self = acp_journal_subscribe(j, rec_sink, &b);
    c.self = acp_journal_subscribe(j, rec_sink, &c);
    b.unsubscribe_self = true; /* the middle one drops itself during delivery */

    app(j, "{\"x\":1}");
    CHECK(a.n == 1 && b.n == 1 && c.n == 1); /* everyone got the first event */
    CHECK(b.self == NULL);

    app(j, "{\"x\":2}");
    CHECK(a.n == 2 && b.n == 1 && c.n == 2); /* b is gone, the others go on */

    /* Every subscriber drops itself in one delivery. */
    a.unsubscribe_self = c.unsubscribe_self = true;
    app(j, "{\"x\":3}");
    CHECK(a.n == 3 && c.n == 3);
    CHECK(!acp_journal_has_subscribers(j));
    app(j, "{\"x\":4}");
    CHECK(a.n == 3 && c.n == 3);

    rec_free(&a);
    rec_free(&b);
    rec_free(&c);
    acp_journal_free(j);
}

static void test_journal_free_with_subscribers(void) {
    /* Freeing with live subscribers releases them (valgrind checks the leak). */
    acp_journal *j = acp_journal_memory_new(2, 0);
    rec a = {0};
    acp_journal_subscribe(j, rec_sink, &a);
    acp_journal_subscribe(j, rec_sink, &a);
    app(j, "{}");
    CHECK(a.n == 2);
    acp_journal_free(j);
    rec_free(&a);
}

UNIT_MAIN(test_classify(); test_id_equal(); test_inject_stderr(); test_sse_frame();
          test_journal_ids_and_replay(); test_journal_ring(); test_journal_ring_bytes();
          test_journal_frames_outlive_eviction(); test_journal_subscribers();
          test_journal_self_unsubscribe(); test_journal_free_with_subscribers())
