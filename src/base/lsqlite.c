/* lsqlite.c - opens libsqlite3 on first use and fills the entry-point table (see lsqlite.h
 * for why it is not linked at startup). */
#define BASE_LSQLITE_IMPL
#include "base/lsqlite.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static base_sqlite_api base_sqlite_tbl;
static pthread_once_t base_sqlite_once = PTHREAD_ONCE_INIT;
static const char *base_sqlite_why; /* NULL when loaded */
static char base_sqlite_msg[512];

static void base_sqlite_load(void) {
    void *h = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(base_sqlite_msg, sizeof base_sqlite_msg,
                 "cannot load libsqlite3 (install the libsqlite3-0 package): %s", dlerror());
        base_sqlite_why = base_sqlite_msg;
        return;
    }
#define X(f)                                                                                       \
    if (!(*(void **)&base_sqlite_tbl.f = dlsym(h, #f))) {                                          \
        snprintf(base_sqlite_msg, sizeof base_sqlite_msg, "libsqlite3 lacks %s", #f);              \
        base_sqlite_why = base_sqlite_msg;                                                         \
        return;                                                                                    \
    }
    BASE_SQLITE_FUNCS(X)
#undef X
}

const base_sqlite_api *base_sqlite(const char **why) {
    /* Journal reads run on worker threads: load exactly once. */
    pthread_once(&base_sqlite_once, base_sqlite_load);
    if (why)
        *why = base_sqlite_why;
    return base_sqlite_why ? NULL : &base_sqlite_tbl;
}
