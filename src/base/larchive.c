/* larchive.c - opens libarchive on first use and fills the entry-point table (see
 * larchive.h for why it is not linked at startup). */
#define BASE_LARCHIVE_IMPL
#include "base/larchive.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

static base_archive_api base_archive_tbl;
static pthread_once_t base_archive_once = PTHREAD_ONCE_INIT;

static void base_archive_load(void) {
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "sandbox-agent: cannot load libarchive: %s\n", dlerror());
        abort();
    }
#define X(f)                                                                                       \
    if (!(*(void **)&base_archive_tbl.f = dlsym(h, #f))) {                                         \
        fprintf(stderr, "sandbox-agent: libarchive lacks %s\n", #f);                               \
        abort();                                                                                   \
    }
    BASE_ARCHIVE_FUNCS(X)
#undef X
}

const base_archive_api *base_archive(void) {
    /* Tar extraction runs on worker threads too: load exactly once. */
    pthread_once(&base_archive_once, base_archive_load);
    return &base_archive_tbl;
}
