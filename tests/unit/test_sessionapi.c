/* test_sessionapi.c - the pure parts of the REST session API: the session list's filters,
 * order and cursor, the permission option a reply picks, JSON-RPC ids as path text, and
 * what asks for an event stream. */
#include "unit.h"

#include "base/base.h"
#include "sessionapi/internal.h"

static void load(sessions_index *ix, const char *id, const char *agent, const char *status,
                 long long created) {
    char *json = base_xasprintf("{\"agent\":\"%s\",\"status\":\"%s\",\"createdAt\":%lld,"
                                "\"serverId\":\"srv\",\"cwd\":\"/w\"}",
                                agent, status, created);
    CHECK(sessions_index_load_json(ix, id, json, 0) == 0);
    free(json);
}

/* The ids of a page, comma-separated, and its cursor ("-" when none). */
static char *page_ids(json_t *page) {
    base_buf b;
    base_buf_init(&b);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(page, "items"), i, it) {
        base_buf_appendf(&b, "%s%s", i ? "," : "", json_string_value(json_object_get(it, "id")));
    }
    const char *cursor = json_string_value(json_object_get(page, "nextCursor"));
    base_buf_appendf(&b, "|%s", cursor ? cursor : "-");
    json_decref(page);
    return base_buf_steal(&b, NULL);
}

static void check_page(json_t *page, const char *want) {
    char *got = page_ids(page);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "page: got %s, want %s\n", got, want);
    CHECK_STR(got, want);
    free(got);
}

static void test_list(void) {
    sessions_index *ix = sessions_index_new(NULL, NULL);
    /* Oldest first, then by id for equal times; insertion order must not matter. */
    load(ix, "c", "mock", "ended", 300);
    load(ix, "a", "claude", "agent_exited", 100);
    load(ix, "b2", "mock", "ended", 200);
    load(ix, "b1", "mock", "agent_exited", 200);
    check_page(sessionapi_list_json(ix, NULL, NULL, 0, 100), "a,b1,b2,c|-");
    check_page(sessionapi_list_json(ix, NULL, NULL, 0, 2), "a,b1|2");
    check_page(sessionapi_list_json(ix, NULL, NULL, 2, 2), "b2,c|-");
    check_page(sessionapi_list_json(ix, NULL, NULL, 3, 2), "c|-");
    check_page(sessionapi_list_json(ix, NULL, NULL, 9, 2), "|-");
    check_page(sessionapi_list_json(ix, "mock", NULL, 0, 100), "b1,b2,c|-");
    check_page(sessionapi_list_json(ix, "mock", "ended", 0, 1), "b2|1");
    check_page(sessionapi_list_json(ix, NULL, "agent_exited", 0, 100), "a,b1|-");
    check_page(sessionapi_list_json(ix, "pi", NULL, 0, 100), "|-");
    /* Items have the REST shape. */
    json_t *page = sessionapi_list_json(ix, "claude", NULL, 0, 1);
    json_t *a = json_array_get(json_object_get(page, "items"), 0);
    CHECK_STR(json_string_value(json_object_get(a, "status")), "agent_exited");
    CHECK_STR(json_string_value(json_object_get(a, "origin")), "acp");
    CHECK(json_is_integer(json_object_get(a, "eventCount")));
    json_decref(page);
    sessions_index_free(ix);
}

static void test_permission_option(void) {
    json_t *all = json_loads("{\"options\":["
                             "{\"optionId\":\"o1\",\"kind\":\"allow_once\"},"
                             "{\"optionId\":\"o2\",\"kind\":\"allow_always\"},"
                             "{\"optionId\":\"r2\",\"kind\":\"reject_always\"},"
                             "{\"optionId\":\"r1\",\"kind\":\"reject_once\"}]}",
                             0, NULL);
    CHECK_STR(sessionapi_permission_option(all, "once"), "o1");
    CHECK_STR(sessionapi_permission_option(all, "always"), "o2");
    /* reject_once wins over reject_always wherever it is listed. */
    CHECK_STR(sessionapi_permission_option(all, "reject"), "r1");
    CHECK(sessionapi_permission_option(all, "maybe") == NULL);
    json_t *few = json_loads("{\"options\":[{\"optionId\":\"x\",\"kind\":\"reject_always\"},"
                             "{\"kind\":\"allow_once\"}]}",
                             0, NULL);
    CHECK_STR(sessionapi_permission_option(few, "reject"), "x");
    CHECK(sessionapi_permission_option(few, "once") == NULL); /* no optionId */
    CHECK(sessionapi_permission_option(few, "always") == NULL);
    json_t *none = json_object();
    CHECK(sessionapi_permission_option(none, "once") == NULL);
    json_decref(all);
    json_decref(few);
    json_decref(none);
}

static void test_rpc_id_text(void) {
    json_t *ids[] = {json_integer(7), json_string("7"), json_string("a b"), json_null(),
                     json_real(1.5)};
    const char *want[] = {"7", "7", "a b", "null", "1.5"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char *t = sessionapi_rpc_id_text(ids[i]);
        CHECK_STR(t, want[i]);
        free(t);
        json_decref(ids[i]);
    }
    char *t = sessionapi_rpc_id_text(NULL);
    CHECK_STR(t, "null");
    free(t);
}

static bool wants(const char *accept) {
    http_header h = {"accept", (char *)accept};
    http_req r = {.headers = &h, .nheaders = accept ? 1 : 0};
    return sessionapi_wants_sse(&r);
}

static void test_wants_sse(void) {
    CHECK(wants("text/event-stream"));
    CHECK(wants("application/json, Text/Event-Stream;q=0.5"));
    CHECK(!wants(NULL)); /* no Accept: the JSON answer */
    CHECK(!wants("*/*"));
    CHECK(!wants("application/json"));
    CHECK(!wants("text/event"));
}

UNIT_MAIN({
    test_list();
    test_permission_option();
    test_rpc_id_text();
    test_wants_sse();
})
