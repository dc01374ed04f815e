/* xload.h - the X11 client libraries (libX11, libXext for MIT-SHM, libXtst, libXfixes),
 * bound lazily.
 *
 * Only a started desktop needs X, so the server neither links these libraries nor needs them
 * installed: they are opened with dlopen on first use (see src/base/larchive.c for the
 * pattern), and a machine without them reports the desktop as install_required instead of
 * failing to start. Call sites use the usual X names; the macros below route them through
 * the table. Include this header only in files of the desktop module that talk to X, and
 * only after base headers (it pulls in Xlib, whose macros are many). Not a public header of
 * the module (desktop.h is). */
#ifndef DESKTOP_XLOAD_H
#define DESKTOP_XLOAD_H

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/XTest.h>
#include <X11/extensions/Xfixes.h>

#define DESKTOP_X11_FUNCS(X)                                                                       \
    X(XOpenDisplay)                                                                                \
    X(XCloseDisplay)                                                                               \
    X(XSync)                                                                                       \
    X(XFlush)                                                                                      \
    X(XFree)                                                                                       \
    X(XSetErrorHandler)                                                                            \
    X(XSetIOErrorHandler)                                                                          \
    X(XSetIOErrorExitHandler)                                                                      \
    X(XGetErrorText)                                                                               \
    X(XInternAtom)                                                                                 \
    X(XGetAtomName)                                                                                \
    X(XGetWindowProperty)                                                                          \
    X(XChangeProperty)                                                                             \
    X(XDeleteProperty)                                                                             \
    X(XQueryPointer)                                                                               \
    X(XQueryTree)                                                                                  \
    X(XGetGeometry)                                                                                \
    X(XTranslateCoordinates)                                                                       \
    X(XGetWindowAttributes)                                                                        \
    X(XMoveWindow)                                                                                 \
    X(XResizeWindow)                                                                               \
    X(XMoveResizeWindow)                                                                           \
    X(XRaiseWindow)                                                                                \
    X(XMapRaised)                                                                                  \
    X(XSetInputFocus)                                                                              \
    X(XGetInputFocus)                                                                              \
    X(XSendEvent)                                                                                  \
    X(XSelectInput)                                                                                \
    X(XCreateSimpleWindow)                                                                         \
    X(XDestroyWindow)                                                                              \
    X(XSetSelectionOwner)                                                                          \
    X(XGetSelectionOwner)                                                                          \
    X(XConvertSelection)                                                                           \
    X(XPending)                                                                                    \
    X(XNextEvent)                                                                                  \
    X(XCheckTypedWindowEvent)                                                                      \
    X(XConnectionNumber)                                                                           \
    X(XKeysymToKeycode)                                                                            \
    X(XStringToKeysym)                                                                             \
    X(XKeysymToString)                                                                             \
    X(XDisplayKeycodes)                                                                            \
    X(XGetKeyboardMapping)                                                                         \
    X(XChangeKeyboardMapping)                                                                      \
    X(XGetModifierMapping)                                                                         \
    X(XFreeModifiermap)                                                                            \
    X(XGetImage)                                                                                   \
    X(XMaxRequestSize)                                                                             \
    X(XExtendedMaxRequestSize)                                                                     \
    X(XGetWMName)                                                                                  \
    X(XFetchName)

#define DESKTOP_XEXT_FUNCS(X)                                                                      \
    X(XShmQueryExtension)                                                                          \
    X(XShmCreateImage)                                                                             \
    X(XShmAttach)                                                                                  \
    X(XShmDetach)                                                                                  \
    X(XShmGetImage)

#define DESKTOP_XTST_FUNCS(X)                                                                      \
    X(XTestQueryExtension)                                                                         \
    X(XTestFakeMotionEvent)                                                                        \
    X(XTestFakeButtonEvent)                                                                        \
    X(XTestFakeKeyEvent)

#define DESKTOP_XFIXES_FUNCS(X)                                                                    \
    X(XFixesQueryExtension)                                                                        \
    X(XFixesGetCursorImage)

/* The table of X entry points. Owner: xload.c, for the process lifetime. */
typedef struct desktop_x_api {
#define X(f) __typeof__(f) *f;
    DESKTOP_X11_FUNCS(X)
    DESKTOP_XEXT_FUNCS(X)
    DESKTOP_XTST_FUNCS(X)
    DESKTOP_XFIXES_FUNCS(X)
#undef X
} desktop_x_api;

/* Loads the four libraries on the first call (any thread; once). NULL when one cannot be
 * loaded; then *why (static storage) names the library and its package. */
const desktop_x_api *desktop_x(const char **why);
/* The table once desktop_x succeeded (call sites, through the macros below). */
extern desktop_x_api desktop_x_tbl;

#ifndef DESKTOP_XLOAD_IMPL
#define DESKTOP_XF(f) (*desktop_x_tbl.f)
#define XOpenDisplay DESKTOP_XF(XOpenDisplay)
#define XCloseDisplay DESKTOP_XF(XCloseDisplay)
#define XSync DESKTOP_XF(XSync)
#define XFlush DESKTOP_XF(XFlush)
#define XFree DESKTOP_XF(XFree)
#define XSetErrorHandler DESKTOP_XF(XSetErrorHandler)
#define XSetIOErrorHandler DESKTOP_XF(XSetIOErrorHandler)
#define XSetIOErrorExitHandler DESKTOP_XF(XSetIOErrorExitHandler)
#define XGetErrorText DESKTOP_XF(XGetErrorText)
#define XInternAtom DESKTOP_XF(XInternAtom)
#define XGetAtomName DESKTOP_XF(XGetAtomName)
#define XGetWindowProperty DESKTOP_XF(XGetWindowProperty)
#define XChangeProperty DESKTOP_XF(XChangeProperty)
#define XDeleteProperty DESKTOP_XF(XDeleteProperty)
#define XQueryPointer DESKTOP_XF(XQueryPointer)
#define XQueryTree DESKTOP_XF(XQueryTree)
#define XGetGeometry DESKTOP_XF(XGetGeometry)
#define XTranslateCoordinates DESKTOP_XF(XTranslateCoordinates)
#define XGetWindowAttributes DESKTOP_XF(XGetWindowAttributes)
#define XMoveWindow DESKTOP_XF(XMoveWindow)
#define XResizeWindow DESKTOP_XF(XResizeWindow)
#define XMoveResizeWindow DESKTOP_XF(XMoveResizeWindow)
#define XRaiseWindow DESKTOP_XF(XRaiseWindow)
#define XMapRaised DESKTOP_XF(XMapRaised)
#define XSetInputFocus DESKTOP_XF(XSetInputFocus)
#define XGetInputFocus DESKTOP_XF(XGetInputFocus)
#define XSendEvent DESKTOP_XF(XSendEvent)
#define XSelectInput DESKTOP_XF(XSelectInput)
#define XCreateSimpleWindow DESKTOP_XF(XCreateSimpleWindow)
#define XDestroyWindow DESKTOP_XF(XDestroyWindow)
#define XSetSelectionOwner DESKTOP_XF(XSetSelectionOwner)
#define XGetSelectionOwner DESKTOP_XF(XGetSelectionOwner)
#define XConvertSelection DESKTOP_XF(XConvertSelection)
#define XPending DESKTOP_XF(XPending)
#define XNextEvent DESKTOP_XF(XNextEvent)
#define XCheckTypedWindowEvent DESKTOP_XF(XCheckTypedWindowEvent)
#define XConnectionNumber DESKTOP_XF(XConnectionNumber)
#define XKeysymToKeycode DESKTOP_XF(XKeysymToKeycode)
#define XStringToKeysym DESKTOP_XF(XStringToKeysym)
#define XKeysymToString DESKTOP_XF(XKeysymToString)
#define XDisplayKeycodes DESKTOP_XF(XDisplayKeycodes)
#define XGetKeyboardMapping DESKTOP_XF(XGetKeyboardMapping)
#define XChangeKeyboardMapping DESKTOP_XF(XChangeKeyboardMapping)
#define XGetModifierMapping DESKTOP_XF(XGetModifierMapping)
#define XFreeModifiermap DESKTOP_XF(XFreeModifiermap)
#define XGetImage DESKTOP_XF(XGetImage)
#define XMaxRequestSize DESKTOP_XF(XMaxRequestSize)
#define XExtendedMaxRequestSize DESKTOP_XF(XExtendedMaxRequestSize)
#define XGetWMName DESKTOP_XF(XGetWMName)
#define XFetchName DESKTOP_XF(XFetchName)
#define XShmQueryExtension DESKTOP_XF(XShmQueryExtension)
#define XShmCreateImage DESKTOP_XF(XShmCreateImage)
#define XShmAttach DESKTOP_XF(XShmAttach)
#define XShmDetach DESKTOP_XF(XShmDetach)
#define XShmGetImage DESKTOP_XF(XShmGetImage)
#define XTestQueryExtension DESKTOP_XF(XTestQueryExtension)
#define XTestFakeMotionEvent DESKTOP_XF(XTestFakeMotionEvent)
#define XTestFakeButtonEvent DESKTOP_XF(XTestFakeButtonEvent)
#define XTestFakeKeyEvent DESKTOP_XF(XTestFakeKeyEvent)
#define XFixesQueryExtension DESKTOP_XF(XFixesQueryExtension)
#define XFixesGetCursorImage DESKTOP_XF(XFixesGetCursorImage)
#endif

#endif
