/* lpq.c - opens libpq on first use and fills the entry-point table (see lpq.h for why it
 * is not linked at startup). */
#define BASE_LPQ_IMPL
#include "base/lpq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static base_pq_api base_pq_tbl;
static pthread_once_t base_pq_once = PTHREAD_ONCE_INIT;
static const char *base_pq_why; /* NULL when loaded */
static char base_pq_msg[512];

static void base_pq_load(void) {
    /* Tests point this at a path that does not exist to check the missing-library error. */
    const char *name = getenv("SANDBOX_AGENT_LIBPQ");
    void *h = dlopen(name && *name ? name : "libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(base_pq_msg, sizeof base_pq_msg,
                 "cannot load libpq, which a postgres:// journal needs (install the libpq5 "
                 "package): %s",
                 dlerror());
        base_pq_why = base_pq_msg;
        return;
    }
#define X(f)                                                                                       \
    if (!(*(void **)&base_pq_tbl.f = dlsym(h, #f))) {                                              \
        snprintf(base_pq_msg, sizeof base_pq_msg, "libpq lacks %s", #f);                           \
        base_pq_why = base_pq_msg;                                                                 \
        return;                                                                                    \
    }
    BASE_PQ_FUNCS(X)
#undef X
}

const base_pq_api *base_pq(const char **why) {
    /* Journal reads run on worker threads: load exactly once. */
    pthread_once(&base_pq_once, base_pq_load);
    if (why)
        *why = base_pq_why;
    return base_pq_why ? NULL : &base_pq_tbl;
}
