/* test_sessions.c - recognising ACP sessions in bridge traffic: request/response pairing,
 * titles, modes and config options, status on agent exit and close, reload elsewhere. */
#include "unit.h"

#include "base/base.h"
#include "sessions/internal.h"

static int changes;
static void on_changed(const sessions_entry *e, void *ud) {
    changes++;
}

static uint64_t last_sidx; /* what the last obs() was given */

static const char *obs(sessions_tracker *t, bool from_client, const char *json) {
    uint64_t sidx = 0;
    json_error_t err;
    json_t *m = json_loads(json, 0, &err);
    if (!m) {
        fprintf(stderr, "bad test json: %s\n", json);
        return NULL;
    }
    const char *sid = sessions_tracker_observe(t, from_client, m, &sidx);
    last_sidx = sidx;
    json_decref(m);
    return sid;
}

/* obs() has effects: evaluate it once. */
static bool obs_is(sessions_tracker *t, bool from_client, const char *json, const char *want) {
    const char *got = obs(t, from_client, json);
    return got && strcmp(got, want) == 0;
}

#define C true
#define A false

static void test_lifecycle(void) {
    sessions_index *ix = sessions_index_new(on_changed, NULL);
    sessions_tracker *t = sessions_tracker_new(ix, "srv-1", "mock", "acp");
    CHECK(obs(t, C, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{}}") ==
          NULL);
    CHECK(obs(t, A, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":1}}") == NULL);
    CHECK(obs(t, C,
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/new\",\"params\":{\"cwd\":\"/"
              "w\",\"mcpServers\":[]}}") == NULL);
    CHECK(sessions_index_get(ix, "S1") == NULL);
    changes = 0;
    const char *sid = obs(t, A,
                          "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"sessionId\":\"S1\","
                          "\"modes\":{\"currentModeId\":\"ask\",\"availableModes\":[]},"
                          "\"configOptions\":[{\"id\":\"model\"}]}}");
    CHECK_STR(sid, "S1");
    CHECK(changes >= 1);
    sessions_entry *e = sessions_index_get(ix, "S1");
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK_STR(e->server, "srv-1");
    CHECK_STR(e->agent, "mock");
    CHECK_STR(e->cwd, "/w");
    CHECK(e->status == SESSIONS_ACTIVE && e->created_ms > 0 && e->title == NULL);
    CHECK_STR(json_string_value(json_object_get(e->modes, "currentModeId")), "ask");

    /* Prompts: the first one names the session; later ones do not rename it. */
    CHECK(obs_is(t, C,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"session/"
                 "prompt\",\"params\":{\"sessionId\":\"S1\",\"prompt\":[{\"type\":\"image\","
                 "\"data\":\"x\"},{\"type\":\"text\",\"text\":\"  Fix the build\\nand more\"}]}}",
                 "S1"));
    CHECK_STR(e->title, "Fix the build");
    CHECK(obs_is(t, A,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"session/"
                 "update\",\"params\":{\"sessionId\":\"S1\",\"update\":{\"sessionUpdate\":\"agent_"
                 "message_chunk\"}}}",
                 "S1"));
    /* A permission request from the agent, and the client's answer (no sessionId in it). */
    CHECK(obs_is(t, A,
                 "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"method\":\"session/"
                 "request_permission\",\"params\":{\"sessionId\":\"S1\"}}",
                 "S1"));
    CHECK(obs_is(t, C,
                 "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"result\":{\"outcome\":{\"outcome\":"
                 "\"selected\",\"optionId\":\"allow\"}}}",
                 "S1"));
    /* The prompt's answer pairs by id; an answer with the same id in the other direction
     * ("p1" was the agent's) does not. */
    CHECK(obs_is(t, A, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"stopReason\":\"end_turn\"}}",
                 "S1"));
    CHECK(obs(t, A, "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"result\":{}}") == NULL);
    /* Ids keep their type: "2" is not 2. */
    CHECK(obs(t, C,
              "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"session/"
              "prompt\",\"params\":{\"sessionId\":\"S1\",\"prompt\":[{\"type\":\"text\",\"text\":"
              "\"second\"}]}}") != NULL);
    CHECK(obs(t, A, "{\"jsonrpc\":\"2.0\",\"id\":\"3\",\"result\":{}}") == NULL);
    CHECK(obs_is(t, A,
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32010,\"message\":\"x\"}}",
                 "S1"));
    CHECK_STR(e->title, "Fix the build");

    /* Modes: set_mode succeeds, then the agent reports a change itself. */
    obs(t, C,
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"session/"
        "set_mode\",\"params\":{\"sessionId\":\"S1\",\"modeId\":\"code\"}}");
    obs(t, A, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}");
    CHECK_STR(json_string_value(json_object_get(e->modes, "currentModeId")), "code");
    obs(t, A,
        "{\"jsonrpc\":\"2.0\",\"method\":\"session/"
        "update\",\"params\":{\"sessionId\":\"S1\",\"update\":{\"sessionUpdate\":\"current_mode_"
        "update\",\"currentModeId\":\"plan\"}}}");
    CHECK_STR(json_string_value(json_object_get(e->modes, "currentModeId")), "plan");
    /* A failed set_mode changes nothing. */
    obs(t, C,
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"session/"
        "set_mode\",\"params\":{\"sessionId\":\"S1\",\"modeId\":\"bogus\"}}");
    obs(t, A, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32602,\"message\":\"no\"}}");
    CHECK_STR(json_string_value(json_object_get(e->modes, "currentModeId")), "plan");
    obs(t, A,
        "{\"jsonrpc\":\"2.0\",\"method\":\"session/"
        "update\",\"params\":{\"sessionId\":\"S1\",\"update\":{\"sessionUpdate\":\"config_option_"
        "update\",\"configOptions\":[{\"id\":\"model\",\"currentValue\":\"b\"}]}}}");
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(e->config_options, 0), "currentValue")),
        "b");

    /* The API shape. */
    json_t *j = sessions_entry_json(e);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "active");
    CHECK_STR(json_string_value(json_object_get(j, "serverId")), "srv-1");
    CHECK_STR(json_string_value(json_object_get(j, "title")), "Fix the build");
    CHECK(json_object_get(j, "exitCode") == NULL);
    json_decref(j);

    /* The agent dies: active sessions of this server say so. */
    sessions_tracker_agent_exited(t, 3, 0);
    CHECK(e->status == SESSIONS_AGENT_EXITED && e->exit_code == 3);
    j = sessions_entry_json(e);
    CHECK(json_integer_value(json_object_get(j, "exitCode")) == 3);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "agent_exited");
    json_decref(j);

    /* Loaded again on another server: active there; closing the first server leaves it. */
    sessions_tracker *t2 = sessions_tracker_new(ix, "srv-2", "mock", "acp");
    obs(t2, C,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/"
        "load\",\"params\":{\"sessionId\":\"S1\",\"cwd\":\"/w2\",\"mcpServers\":[]}}");
    CHECK(e->status == SESSIONS_AGENT_EXITED);
    CHECK(obs_is(t2, A, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "S1"));
    CHECK(e->status == SESSIONS_ACTIVE);
    CHECK_STR(e->server, "srv-2");
    CHECK_STR(e->cwd, "/w2");
    sessions_tracker_closed(t);
    CHECK(e->status == SESSIONS_ACTIVE);
    sessions_tracker_closed(t2);
    CHECK(e->status == SESSIONS_ENDED);

    /* Junk does not confuse it. */
    CHECK(obs(t2, A, "{\"id\":99,\"result\":{}}") == NULL);
    CHECK(obs(t2, A, "[1,2]") == NULL);
    CHECK(obs(t2, A, "{\"method\":\"session/update\",\"params\":{\"sessionId\":7}}") == NULL);
    CHECK(obs_is(t2, A, "{\"method\":\"session/update\",\"params\":{\"sessionId\":\"unknown\"}}",
                 "unknown"));
    CHECK(sessions_index_get(ix, "unknown") == NULL);

    CHECK(sessions_index_remove(ix, "S1"));
    CHECK(!sessions_index_remove(ix, "S1"));
    sessions_tracker_free(t);
    sessions_tracker_free(t2);
    sessions_index_free(ix);
}

static void test_long_title_and_pending_bound(void) {
    sessions_index *ix = sessions_index_new(NULL, NULL);
    sessions_tracker *t = sessions_tracker_new(ix, "s", "mock", "acp");
    obs(t, C, "{\"id\":1,\"method\":\"session/new\",\"params\":{\"cwd\":\"/\"}}");
    obs(t, A, "{\"id\":1,\"result\":{\"sessionId\":\"X\"}}");
    /* 200 two-byte characters: cut at 120 bytes without splitting one. */
    base_buf b = {0};
    base_buf_appends(
        &b, "{\"id\":2,\"method\":\"session/"
            "prompt\",\"params\":{\"sessionId\":\"X\",\"prompt\":[{\"type\":\"text\",\"text\":\"");
    for (int i = 0; i < 200; i++)
        base_buf_appends(&b, "\xc3\xa9");
    base_buf_appends(&b, "\"}]}}");
    base_buf_append(&b, "", 1);
    obs(t, C, b.data);
    base_buf_free(&b);
    sessions_entry *e = sessions_index_get(ix, "X");
    CHECK(e && e->title && strlen(e->title) == 120 && base_utf8_valid(e->title, 120));
    /* Requests never answered: bounded. */
    char buf[128];
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, sizeof buf, "{\"id\":%d,\"method\":\"x\",\"params\":{}}", 1000 + i);
        obs(t, C, buf);
    }
    CHECK(obs(t, A, "{\"id\":10999,\"result\":{}}") == NULL); /* answered: no session */
    sessions_tracker_free(t);
    sessions_index_free(ix);
}

static void on_event(void *ud, const sessions_event *ev) {
    (*(int *)ud)++;
}

/* Event indexes, the storage round trip (an active session comes back ended), aliases that
 * move with a resumed session, and live listeners filtered by session. */
static void test_store_alias_listen(void) {
    sessions_index *ix = sessions_index_new(NULL, NULL);
    sessions_tracker *t = sessions_tracker_new(ix, "srv", "mock", "rest");
    obs(t, C, "{\"id\":1,\"method\":\"session/new\",\"params\":{\"cwd\":\"/w\"}}");
    CHECK(last_sidx == 0);
    CHECK(obs_is(t, A, "{\"id\":1,\"result\":{\"sessionId\":\"S1\"}}", "S1") && last_sidx == 1);
    CHECK(obs_is(t, C,
                 "{\"id\":2,\"method\":\"session/prompt\",\"params\":{\"sessionId\":\"S1\","
                 "\"prompt\":[{\"type\":\"text\",\"text\":\"hi\"}]}}",
                 "S1") &&
          last_sidx == 2);
    sessions_entry *e = sessions_index_get(ix, "S1");
    CHECK(e && strcmp(e->origin, "rest") == 0 && e->events == 2);
    sessions_index_set_record(ix, e,
                              json_pack("{s:s,s:s}", "id", "local-1", "agentSessionId", "S1"));
    CHECK(sessions_index_resolve(ix, "local-1") == e);
    char *stored = sessions_entry_store_json(e);

    sessions_index *ix2 = sessions_index_new(NULL, NULL);
    CHECK(sessions_index_load_json(ix2, "S1", stored, 5) == 0);
    CHECK(sessions_index_load_json(ix2, "bad", "{\"status\":\"nope\"}", 0) < 0);
    sessions_entry *l = sessions_index_resolve(ix2, "local-1");
    CHECK(l && strcmp(l->id, "S1") == 0 && l->status == SESSIONS_ENDED && l->events == 5 &&
          strcmp(l->origin, "rest") == 0 && l->title && strcmp(l->title, "hi") == 0 &&
          strcmp(l->cwd, "/w") == 0);
    /* Resumed on a new ACP session: the alias moves, the old entry loses the record. */
    sessions_entry *n = sessions_index_add(ix2, "S2");
    sessions_index_set_record(ix2, n,
                              json_pack("{s:s,s:s}", "id", "local-1", "agentSessionId", "S2"));
    CHECK(sessions_index_resolve(ix2, "local-1") == n && l->record == NULL && l->alias == NULL);
    /* A session the SDK did not create, resumed: the record's id is S1 itself, and S1 now
     * names the new session. */
    sessions_entry *m = sessions_index_add(ix2, "S3");
    sessions_index_set_record(ix2, m, json_pack("{s:s,s:s}", "id", "S1", "agentSessionId", "S3"));
    CHECK(sessions_index_resolve(ix2, "S1") == m && sessions_index_get(ix2, "S1") == l);
    CHECK(sessions_index_remove(ix2, "S2") && sessions_index_resolve(ix2, "local-1") == NULL);
    free(stored);

    int all = 0, only = 0;
    sessions_listener *la = sessions_index_listen(ix, NULL, on_event, &all);
    sessions_listener *lo = sessions_index_listen(ix, "S9", on_event, &only);
    sessions_event ev = {
        .session = "S1", .sidx = 3, .server = "srv", .id = 4, .payload = "{}", .len = 2};
    sessions_index_publish(ix, &ev);
    ev.session = "S9";
    sessions_index_publish(ix, &ev);
    CHECK(all == 2 && only == 1);
    sessions_index_unlisten(ix, lo);
    sessions_index_publish(ix, &ev);
    CHECK(all == 3 && only == 1);
    sessions_index_unlisten(ix, la);
    json_t *j = sessions_event_json("local-1", "srv", 4, 3, 77, true, "{\"a\":1}", 7);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "id")), "local-1:3") == 0 &&
          json_integer_value(json_object_get(j, "eventIndex")) == 3 &&
          strcmp(json_string_value(json_object_get(j, "sender")), "client") == 0 &&
          strcmp(json_string_value(json_object_get(j, "sessionId")), "local-1") == 0);
    json_decref(j);
    CHECK(sessions_event_json("x", "srv", 1, 1, 1, false, "{", 1) == NULL);
    sessions_tracker_free(t);
    sessions_index_free(ix);
    sessions_index_free(ix2);
}

UNIT_MAIN({
    test_store_alias_listen();
    test_lifecycle();
    test_long_title_and_pending_bound();
})
