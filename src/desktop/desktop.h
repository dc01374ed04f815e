/* desktop.h - the private X11 desktop that agents and apps drive over HTTP (/v1/desktop/…):
 * an Xvfb display with openbox, screenshots, mouse and keyboard, windows, clipboard, app
 * launching and recordings. X and the image libraries are loaded on first use, so a server
 * on a machine without them starts as usual and reports the desktop as install_required.
 * docs/desktop.md says what is built and how it differs from the reference. */
#ifndef DESKTOP_H
#define DESKTOP_H

#include <uv.h>

#include "http/http.h"

/* Process setup that must happen before any thread starts (the stream's GStreamer plugin
 * registry location, an environment variable). */
void desktop_preinit(void);
/* Register the routes and set up the module (one per server process). */
void desktop_routes(http_server *srv, uv_loop_t *loop);
/* Server shutdown: join the X thread and close the module's handles (the children are
 * stopped by proc_shutdown_all like every other). Loop thread. */
void desktop_shutdown(void);

#endif
