/* opencode.c - the module's life: the id counter (§4.1), the project id (Q12), loading the stored
 * sessions, registering every route, and shutting down. */
#include "opencode/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One process-wide counter for every kind of id, seeded from the clock and the pid as in
 * the reference, so ids of one process sort by creation and differ between processes. */
static uint64_t opencode_counter;

char *opencode_new_id(const char *prefix) {
    if (!opencode_counter) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        opencode_counter = ns ^ ((uint64_t)getpid() << 32);
    }
    return base_xasprintf("%s%llu", prefix, (unsigned long long)++opencode_counter);
}

static int64_t opencode_started_ms;
static char opencode_project[32];

int64_t opencode_start_ms(void) {
    return opencode_started_ms;
}

const char *opencode_project_id(void) {
    return opencode_project;
}

opencode *opencode_routes(http_server *srv, uv_loop_t *loop, journal_store *store,
                          acp_bridge *bridge) {
    opencode *oc = base_xcalloc(1, sizeof *oc);
    oc->loop = loop;
    oc->store = store;
    oc->bridge = bridge;
    oc->sessions = base_map_new();
    oc->pending = base_map_new();
    opencode_started_ms = base_now_ms();
    snprintf(opencode_project, sizeof opencode_project, "proj_%lld",
             (long long)opencode_started_ms);
    opencode_store_load(oc);
    opencode_events_routes(oc, srv);
    opencode_session_routes(oc, srv);
    opencode_prompt_routes(oc, srv);
    opencode_permission_routes(oc, srv);
    opencode_meta_routes(srv, loop);
    return oc;
}

static void opencode_free_session(void *p) {
    opencode_session *s = p;
    opencode_run_detach(s);
    opencode_session_free(s);
}

void opencode_free(opencode *oc) {
    if (!oc)
        return;
    base_map_free(oc->pending, opencode_pending_free);
    oc->pending = base_map_new(); /* detaching may still drop a session's requests */
    opencode_store_free(oc);
    opencode_events_free(oc);
    base_map_free(oc->sessions, opencode_free_session);
    base_map_free(oc->pending, opencode_pending_free);
    free(oc);
}
