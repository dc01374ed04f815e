/* store.c - OpenCode sessions kept in the durable journal's session table (docs/journal.md),
 * beside the session index's summaries: one row per session (`opencode/s/<id>`: the Session
 * object, the ACP session to load again, the "always" grant) and one per message
 * (`opencode/m/<id>/<index>`: {info, parts}), so a streamed reply rewrites one small row, not
 * the whole history. Rows are loaded at startup; changes are coalesced over
 * OPENCODE_FLUSH_MS, like the index's summaries; a new session is written at once. */
#include "opencode/internal.h"

#include <stdlib.h>
#include <string.h>

#define OPENCODE_FLUSH_MS 100
#define OPENCODE_KEY_S "opencode/s/"
#define OPENCODE_KEY_M "opencode/m/"

static char *opencode_key_session(const char *id) {
    return base_xasprintf(OPENCODE_KEY_S "%s", id);
}

static char *opencode_key_message(const char *id, size_t i) {
    return base_xasprintf(OPENCODE_KEY_M "%s/%08zu", id, i);
}

/* The stored form of a session row. */
static char *opencode_session_row(const opencode_session *s) {
    json_t *o = json_pack("{s:O,s:b,s:s?,s:s?,s:O?}", "info", s->info, "always", s->always, "acpId",
                          s->acp_id, "acpAgent", s->acp_agent, "todos", s->todos);
    char *j = base_json_compact(o);
    json_decref(o);
    return j;
}

static void opencode_write_key(opencode *oc, const char *key, bool now) {
    void (*put)(journal_store *, const char *, const char *) =
        now ? journal_store_put_session_now : journal_store_put_session;
    if (strncmp(key, OPENCODE_KEY_S, strlen(OPENCODE_KEY_S)) == 0) {
        opencode_session *s = opencode_session_get(oc, key + strlen(OPENCODE_KEY_S));
        if (!s)
            return; /* deleted since: its removal is queued */
        char *j = opencode_session_row(s);
        put(oc->store, key, j);
        free(j);
        return;
    }
    /* opencode/m/<id>/<index>: the id may hold slashes, the index does not */
    const char *rest = key + strlen(OPENCODE_KEY_M);
    const char *slash = strrchr(rest, '/');
    char *id = base_xstrndup(rest, (size_t)(slash - rest));
    opencode_session *s = opencode_session_get(oc, id);
    free(id);
    size_t i = (size_t)strtoull(slash + 1, NULL, 10);
    if (!s || i >= json_array_size(s->messages))
        return;
    json_t *o = json_pack("{s:O}", "message", json_array_get(s->messages, i));
    char *j = base_json_compact(o);
    json_decref(o);
    put(oc->store, key, j);
    free(j);
}

static void opencode_flush_one(const char *key, void *value, void *ud) {
    opencode_write_key(ud, key, false);
}

static void opencode_flush(opencode *oc) {
    base_map *d = oc->dirty;
    oc->dirty = base_map_new();
    base_map_each(d, opencode_flush_one, oc);
    base_map_free(d, NULL);
}

static void opencode_flush_cb(uv_timer_t *t) {
    opencode_flush(t->data);
}

static void opencode_mark(opencode *oc, char *key) {
    base_map_put(oc->dirty, key, oc);
    free(key);
    if (!uv_is_active((uv_handle_t *)oc->flush))
        uv_timer_start(oc->flush, opencode_flush_cb, OPENCODE_FLUSH_MS, 0);
}

void opencode_store_session(opencode *oc, opencode_session *s, bool now) {
    if (!oc->store)
        return;
    char *key = opencode_key_session(s->id);
    if (now) {
        base_map_del(oc->dirty, key);
        opencode_write_key(oc, key, true);
        free(key);
        return;
    }
    opencode_mark(oc, key);
}

void opencode_store_message(opencode *oc, opencode_session *s, size_t i) {
    if (i + 1 > s->stored)
        s->stored = i + 1;
    if (oc->store)
        opencode_mark(oc, opencode_key_message(s->id, i));
}

void opencode_store_delete(opencode *oc, opencode_session *s) {
    if (!oc->store)
        return;
    char *key = opencode_key_session(s->id);
    base_map_del(oc->dirty, key);
    journal_store_delete_session(oc->store, key);
    free(key);
    for (size_t i = 0; i < s->stored; i++) {
        key = opencode_key_message(s->id, i);
        base_map_del(oc->dirty, key);
        journal_store_delete_session(oc->store, key);
        free(key);
    }
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Rows as they come (in no particular order): sessions first, messages placed after. */
typedef struct opencode_load {
    opencode *oc;
    json_t *messages; /* [[id, index, message]] */
} opencode_load;

static void opencode_load_row(void *ud, const char *key, const char *json, uint64_t last_sidx) {
    opencode_load *ld = ud;
    bool is_s = strncmp(key, OPENCODE_KEY_S, strlen(OPENCODE_KEY_S)) == 0;
    bool is_m = strncmp(key, OPENCODE_KEY_M, strlen(OPENCODE_KEY_M)) == 0;
    if (!is_s && !is_m)
        return; /* the session index's rows */
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (is_s) {
        json_t *info = json_object_get(o, "info");
        const char *id = json_string_value(json_object_get(info, "id"));
        if (id && strcmp(id, key + strlen(OPENCODE_KEY_S)) == 0) {
            opencode_session *s = opencode_session_new(ld->oc, id, "/");
            json_decref(s->info);
            s->info = json_incref(info);
            s->always = json_is_true(json_object_get(o, "always"));
            const char *a = json_string_value(json_object_get(o, "acpId"));
            const char *ag = json_string_value(json_object_get(o, "acpAgent"));
            s->acp_id = a ? base_xstrdup(a) : NULL;
            s->acp_agent = ag ? base_xstrdup(ag) : NULL;
            json_t *todos = json_object_get(o, "todos");
            s->todos = json_is_array(todos) ? json_incref(todos) : NULL;
        } else {
            LOG_WARN("opencode: skipping an unreadable stored session", "key=%s", key);
        }
    } else {
        const char *rest = key + strlen(OPENCODE_KEY_M);
        const char *slash = strrchr(rest, '/');
        json_t *m = json_object_get(o, "message");
        if (slash && json_is_object(m))
            json_array_append_new(
                ld->messages, json_pack("{s:s%,s:I,s:O}", "id", rest, (size_t)(slash - rest), "i",
                                        (json_int_t)strtoull(slash + 1, NULL, 10), "m", m));
    }
    json_decref(o);
}

static int opencode_load_cmp(const void *a, const void *b) {
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "i"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "i"));
    return x < y ? -1 : x > y;
}

void opencode_store_load(opencode *oc) {
    oc->dirty = base_map_new();
    oc->flush = base_xmalloc(sizeof *oc->flush);
    uv_timer_init(oc->loop, oc->flush);
    oc->flush->data = oc;
    if (!oc->store)
        return;
    opencode_load ld = {.oc = oc, .messages = json_array()};
    char *err = NULL;
    if (journal_store_load_sessions(oc->store, opencode_load_row, &ld, &err) < 0) {
        LOG_ERROR("opencode: cannot load the stored sessions", "error=\"%s\"", err);
        free(err);
    }
    size_t n = json_array_size(ld.messages);
    json_t **v = base_xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(ld.messages, i);
    qsort(v, n, sizeof *v, opencode_load_cmp);
    for (size_t i = 0; i < n; i++) {
        opencode_session *s =
            opencode_session_get(oc, json_string_value(json_object_get(v[i], "id")));
        size_t idx = (size_t)json_integer_value(json_object_get(v[i], "i"));
        if (!s)
            continue; /* its session row is gone */
        json_array_append(s->messages, json_object_get(v[i], "m"));
        if (idx + 1 > s->stored)
            s->stored = idx + 1;
    }
    free(v);
    json_decref(ld.messages);
    LOG_INFO("opencode: sessions loaded", "count=%zu", base_map_count(oc->sessions));
}

static void opencode_timer_free(uv_handle_t *h) {
    free(h);
}

void opencode_store_free(opencode *oc) {
    if (oc->store)
        opencode_flush(oc);
    base_map_free(oc->dirty, NULL);
    if (uv_is_closing((uv_handle_t *)oc->flush))
        free(oc->flush);
    else
        uv_close((uv_handle_t *)oc->flush, opencode_timer_free);
}
