/* xload.c - opens the X client libraries on first use and fills the entry-point table (see
 * xload.h for why they are not linked at startup). */
#define DESKTOP_XLOAD_IMPL
#include "desktop/xload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

desktop_x_api desktop_x_tbl;
static pthread_once_t desktop_x_once = PTHREAD_ONCE_INIT;
static const char *desktop_x_why; /* NULL once everything loaded */
static char desktop_x_whybuf[512];

/* One library: its soname, the Debian package that provides it. */
static void *desktop_x_open(const char *soname, const char *package) {
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h && !desktop_x_why) {
        snprintf(desktop_x_whybuf, sizeof desktop_x_whybuf, "cannot load %s (package %s): %s",
                 soname, package, dlerror());
        desktop_x_why = desktop_x_whybuf;
    }
    return h;
}

static void desktop_x_sym(void *h, const char *name, void **slot) {
    if (!h || desktop_x_why)
        return;
    *slot = dlsym(h, name);
    if (!*slot) {
        snprintf(desktop_x_whybuf, sizeof desktop_x_whybuf, "the X libraries lack %s", name);
        desktop_x_why = desktop_x_whybuf;
    }
}

static void desktop_x_load(void) {
    void *x11 = desktop_x_open("libX11.so.6", "libx11-6");
    void *xext = desktop_x_open("libXext.so.6", "libxext6");
    void *xtst = desktop_x_open("libXtst.so.6", "libxtst6");
    void *xfixes = desktop_x_open("libXfixes.so.3", "libxfixes3");
#define X11(f) desktop_x_sym(x11, #f, (void **)&desktop_x_tbl.f);
#define XEXT(f) desktop_x_sym(xext, #f, (void **)&desktop_x_tbl.f);
#define XTST(f) desktop_x_sym(xtst, #f, (void **)&desktop_x_tbl.f);
#define XFIXES(f) desktop_x_sym(xfixes, #f, (void **)&desktop_x_tbl.f);
    DESKTOP_X11_FUNCS(X11)
    DESKTOP_XEXT_FUNCS(XEXT)
    DESKTOP_XTST_FUNCS(XTST)
    DESKTOP_XFIXES_FUNCS(XFIXES)
#undef X11
#undef XEXT
#undef XTST
#undef XFIXES
}

const desktop_x_api *desktop_x(const char **why) {
    pthread_once(&desktop_x_once, desktop_x_load);
    if (desktop_x_why) {
        if (why)
            *why = desktop_x_why;
        return NULL;
    }
    return &desktop_x_tbl;
}
