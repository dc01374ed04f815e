/* persist.c - the session index kept in the durable journal: loaded at startup, and every
 * changed summary written back. Changes are coalesced over SESSIONS_PERSIST_DELAY_MS: a
 * session changes on every streamed chunk (its last activity), and rebuilding its JSON per
 * chunk cost a tenth of the server's time in a busy stream. What a kill -9 can lose grows
 * by that much for summaries only; events are the journal's (docs/journal.md). */
#include "sessions/internal.h"

#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"

#define SESSIONS_PERSIST_DELAY_MS 100

struct sessions_persist {
    journal_store *store;
    sessions_index *ix;
    base_map *dirty; /* session ids changed since the last flush (values unused) */
    uv_timer_t *timer;
};

/* ACP server records share the sessions table under this prefix (no agent's session id
 * looks like it). */
#define SESSIONS_SERVER_KEY "acp-server/"
#define SESSIONS_SERVER_KEY_LEN (sizeof SESSIONS_SERVER_KEY - 1)

/* Write one summary or server record now (urgent: committed without the group wait). */
static void sessions_persist_write(sessions_persist *p, const char *id, bool urgent);

static void sessions_persist_flush_one(const char *id, void *value, void *ud) {
    sessions_persist_write(ud, id, false);
}

static void sessions_persist_write(sessions_persist *p, const char *id, bool urgent) {
    void (*put)(journal_store *, const char *, const char *) =
        urgent ? journal_store_put_session_now : journal_store_put_session;
    if (strncmp(id, SESSIONS_SERVER_KEY, SESSIONS_SERVER_KEY_LEN) == 0) {
        const sessions_server *sv = sessions_index_server(p->ix, id + SESSIONS_SERVER_KEY_LEN);
        if (sv) {
            char *json = sessions_server_store_json(sv);
            put(p->store, id, json);
            free(json);
        }
        return;
    }
    sessions_entry *e = sessions_index_get(p->ix, id);
    if (!e)
        return; /* removed since: its deletion is queued already */
    char *json = sessions_entry_store_json(e);
    put(p->store, id, json);
    free(json);
}

static void sessions_persist_flush(sessions_persist *p) {
    base_map_each(p->dirty, sessions_persist_flush_one, p);
    base_map_free(p->dirty, NULL);
    p->dirty = base_map_new();
}

static void sessions_persist_timer_cb(uv_timer_t *t) {
    sessions_persist_flush(t->data);
}

static void sessions_persist_mark(sessions_persist *p, const char *key);

static void sessions_persist_changed(const sessions_entry *e, void *ud) {
    sessions_persist *p = ud;
    if (e->version > 1) {
        sessions_persist_mark(p, e->id);
        return;
    }
    /* A new session is written at once: the list should not lose it to a crash. */
    base_map_del(p->dirty, e->id);
    sessions_persist_write(p, e->id, true);
}

static void sessions_persist_mark(sessions_persist *p, const char *key) {
    base_map_put(p->dirty, key, p);
    if (!uv_is_active((uv_handle_t *)p->timer))
        uv_timer_start(p->timer, sessions_persist_timer_cb, SESSIONS_PERSIST_DELAY_MS, 0);
}

/* Server records change twice in a server's life (created, initialized) and a POST after a
 * crash needs them: written at once. */
static void sessions_persist_server_changed(const sessions_server *sv, void *ud) {
    char *key = base_xasprintf("%s%s", SESSIONS_SERVER_KEY, sv->id);
    sessions_persist_write(ud, key, true);
    free(key);
}

static void sessions_persist_load_one(void *ud, const char *id, const char *json,
                                      uint64_t last_sidx) {
    sessions_persist *p = ud;
    if (strncmp(id, "opencode/", 9) == 0)
        return; /* the OpenCode API's rows (src/opencode/store.c) share the table */
    if (strncmp(id, SESSIONS_SERVER_KEY, SESSIONS_SERVER_KEY_LEN) == 0) {
        if (sessions_index_load_server(p->ix, id + SESSIONS_SERVER_KEY_LEN, json) < 0)
            LOG_WARN("skipping an unreadable stored ACP server", "key=%s", id);
        return;
    }
    if (sessions_index_load_json(p->ix, id, json, last_sidx) < 0)
        LOG_WARN("skipping an unreadable stored session", "session=%s", id);
}

sessions_persist *sessions_persist_open(uv_loop_t *loop, journal_store *store, sessions_index **ix,
                                        char **error) {
    sessions_persist *p = base_xcalloc(1, sizeof *p);
    p->store = store;
    p->dirty = base_map_new();
    p->ix = sessions_index_new(NULL, NULL);
    if (journal_store_load_sessions(store, sessions_persist_load_one, p, error) < 0) {
        sessions_index_free(p->ix);
        base_map_free(p->dirty, NULL);
        free(p);
        return NULL;
    }
    /* Loading marked nothing dirty (no callback yet); from now on changes are written. */
    p->ix->changed = sessions_persist_changed;
    p->ix->server_changed = sessions_persist_server_changed;
    p->ix->ud = p;
    p->timer = base_xmalloc(sizeof *p->timer);
    uv_timer_init(loop, p->timer);
    p->timer->data = p;
    *ix = p->ix;
    return p;
}

static void sessions_persist_timer_free(uv_handle_t *h) {
    free(h);
}

void sessions_persist_close(sessions_persist *p) {
    if (!p)
        return;
    sessions_persist_flush(p);
    base_map_free(p->dirty, NULL);
    /* The server's final walk may have closed the timer already (and the loop has run its
     * close since): then it is only memory. */
    if (uv_is_closing((uv_handle_t *)p->timer))
        free(p->timer);
    else
        uv_close((uv_handle_t *)p->timer, sessions_persist_timer_free);
    sessions_index_free(p->ix);
    free(p);
}
