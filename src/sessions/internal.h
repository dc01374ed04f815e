/* internal.h - what the index (index.c), the tracker (track.c) and persistence (persist.c)
 * share. Not for use outside src/sessions/. */
#ifndef SESSIONS_INTERNAL_H
#define SESSIONS_INTERNAL_H

#include "sessions/sessions.h"

#include "base/base.h"

/* A live-event listener. Owner: the index's list (sessions_index_unlisten frees it). */
struct sessions_listener {
    char *session; /* NULL: every session */
    sessions_event_fn fn;
    void *ud;
    bool gone; /* unlistened during a publish: freed once the publish is over */
    struct sessions_listener *next;
};

/* The index. Owner: whoever made it (the server); sessions_index_free. */
struct sessions_index {
    base_map *by_id;    /* sessionId -> sessions_entry (owned) */
    base_map *by_alias; /* alias -> sessionId (owned copy) */
    sessions_changed_fn changed;
    void *ud;
    base_map *servers; /* ACP server id -> sessions_server (owned) */
    /* A server record changed (persist.c writes it). */
    void (*server_changed)(const sessions_server *sv, void *ud);
    sessions_listener *listeners;
    int publishing; /* >0 while listeners run: removals are deferred */
};

char *sessions_dup(const char *s);
/* A new, empty entry under id (which must not exist yet). */
sessions_entry *sessions_index_add(sessions_index *ix, const char *id);
/* Load a server record from its storage JSON ({agent, initParams}); -1 when unreadable. */
int sessions_index_load_server(sessions_index *ix, const char *id, const char *json);
char *sessions_server_store_json(const sessions_server *sv);
/* An entry changed: bump its version and tell the index's owner. */
void sessions_touch(sessions_index *ix, sessions_entry *e);

#endif
