/* gstload.c - opens GLib, GStreamer, libgstsdp and libgstwebrtc on first use and fills the
 * entry-point table (see gstload.h for why they are not linked at startup). */
#define DESKTOP_GSTLOAD_IMPL
#include "desktop/gstload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

desktop_gst_api desktop_gst_tbl;
static pthread_once_t desktop_gst_once = PTHREAD_ONCE_INIT;
static const char *desktop_gst_why; /* NULL once everything loaded */
static char desktop_gst_whybuf[512];

static void *desktop_gst_open(const char *soname, const char *package) {
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h && !desktop_gst_why) {
        snprintf(desktop_gst_whybuf, sizeof desktop_gst_whybuf, "cannot load %s (package %s): %s",
                 soname, package, dlerror());
        desktop_gst_why = desktop_gst_whybuf;
    }
    return h;
}

static void desktop_gst_sym(void *h, const char *name, void **slot) {
    if (!h || desktop_gst_why)
        return;
    *slot = dlsym(h, name);
    if (!*slot) {
        snprintf(desktop_gst_whybuf, sizeof desktop_gst_whybuf,
                 "the GStreamer libraries lack %s (GStreamer 1.20 or later is needed)", name);
        desktop_gst_why = desktop_gst_whybuf;
    }
}

static void desktop_gst_load(void) {
    void *glib = desktop_gst_open("libglib-2.0.so.0", "libglib2.0-0");
    void *gobj = desktop_gst_open("libgobject-2.0.so.0", "libglib2.0-0");
    void *gst = desktop_gst_open("libgstreamer-1.0.so.0", "libgstreamer1.0-0");
    void *sdp = desktop_gst_open("libgstsdp-1.0.so.0", "libgstreamer-plugins-base1.0-0");
    void *webrtc = desktop_gst_open("libgstwebrtc-1.0.so.0", "libgstreamer-plugins-bad1.0-0");
#define GLIB(f) desktop_gst_sym(glib, #f, (void **)&desktop_gst_tbl.f);
#define GOBJ(f) desktop_gst_sym(gobj, #f, (void **)&desktop_gst_tbl.f);
#define GST(f) desktop_gst_sym(gst, #f, (void **)&desktop_gst_tbl.f);
#define SDP(f) desktop_gst_sym(sdp, #f, (void **)&desktop_gst_tbl.f);
#define WEBRTC(f) desktop_gst_sym(webrtc, #f, (void **)&desktop_gst_tbl.f);
    DESKTOP_GLIB_FUNCS(GLIB)
    DESKTOP_GOBJ_FUNCS(GOBJ)
    DESKTOP_GST_FUNCS(GST)
    DESKTOP_SDP_FUNCS(SDP)
    DESKTOP_WEBRTC_FUNCS(WEBRTC)
#undef GLIB
#undef GOBJ
#undef GST
#undef SDP
#undef WEBRTC
}

const desktop_gst_api *desktop_gst(const char **why) {
    pthread_once(&desktop_gst_once, desktop_gst_load);
    if (desktop_gst_why) {
        if (why)
            *why = desktop_gst_why;
        return NULL;
    }
    return &desktop_gst_tbl;
}
