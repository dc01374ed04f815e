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
    sessions_listener *listeners;
    int publishing; /* >0 while listeners run: removals are deferred */
};

char *sessions_dup(const char *s);
/* A new, empty entry under id (which must not exist yet). */
sessions_entry *sessions_index_add(sessions_index *ix, const char *id);
/* An entry changed: bump its version and tell the index's owner. */
void sessions_touch(sessions_index *ix, sessions_entry *e);

#endif
