/* internal.h - shared between the files of the desktop module only (not a public header).
 *
 * Files, in layers (each uses only those above it):
 *   xload.c     the X client libraries, dlopened (xload.h)
 *   image.c     pixels: crop, box-filter scale, cursor overlay; PNG/JPEG/WebP encoders
 *               (libpng, libjpeg-turbo, libwebp, each dlopened on first use); pure, any thread
 *   deps.c      what the desktop needs and what is missing on this machine
 *   xthread.c   the X thread: the one X connection, the job queue, X error trapping, the
 *               event dispatch (selection requests), I/O-error survival
 *   screen.c    capture (XShm) and screenshot jobs (encoding on the thread pool)
 *   input.c     mouse and keyboard through XTest, key names, typing any character
 *   windows.c   windows from EWMH properties: list, focused, focus, move, resize
 *   clipboard.c the CLIPBOARD and PRIMARY selections, owned in-process
 *   runtime.c   the state machine, the Xvfb/openbox/dbus children, start, stop, status
 *   apps.c      launch and open: desktop-owned managed processes, waiting for a window
 *   record.c    ffmpeg recordings, their catalog on disk and their routes
 *   gstload.c   GLib/GStreamer/libgstsdp/libgstwebrtc, dlopened (gstload.h)
 *   neko.c      neko's binary input messages (the SDK's data channel): decode; pure
 *   stream.c    the stream thread: the GStreamer pipeline (capture, one encoder, a tee) and
 *               one webrtcbin branch per viewer
 *   signaling.c the stream routes, the signaling WebSocket (neko's protocol), viewers, and
 *               their input applied on the X thread
 *   args.c      request decoding: JSON bodies and screenshot queries
 *   calls.c     a request's X work: the job, the operations run on the X thread, its answer
 *   routes.c    the HTTP handlers and the desktop problem types
 *
 * Threads: the loop thread owns every desktop_g member and answers requests. All X work
 * runs on the X thread, one job at a time on the one connection; encoding runs on libuv's
 * thread pool. A job carries its inputs in, its result out, and is completed on the loop. */
#ifndef DESKTOP_INTERNAL_H
#define DESKTOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "base/base.h"
#include "http/http.h"

/* ---- image.c ------------------------------------------------------------------------------ */

/* A picture in the X server's native layout: 32 bits per pixel, bytes B, G, R, X in memory
 * (depth 24 on a little-endian machine). Every encoder takes it as is. Owner: whoever made
 * it (desktop_pixels_new or a capture); freed with desktop_pixels_free. */
typedef struct desktop_pixels {
    uint8_t *data;
    int width, height;
    size_t stride; /* bytes per row, >= 4 * width */
} desktop_pixels;

typedef enum { DESKTOP_FMT_PNG, DESKTOP_FMT_JPEG, DESKTOP_FMT_WEBP } desktop_format;

/* A cursor image as XFixes gives it: premultiplied ARGB, one uint32 per pixel, row-major,
 * with its top-left corner at (x, y) on the screen (hotspot already subtracted). Owner: the
 * capture that fetched it (embedded in the screenshot job). */
typedef struct desktop_cursor {
    uint32_t *argb;
    int x, y, width, height;
} desktop_cursor;

desktop_pixels *desktop_pixels_new(int width, int height);
void desktop_pixels_free(desktop_pixels *p);
/* A copy of the rectangle (clipped by the caller to lie inside p). */
desktop_pixels *desktop_pixels_crop(const desktop_pixels *p, int x, int y, int w, int h);
/* Box-filter (area-average) downscale to max(1, round(w * scale)) x max(1, round(h * scale));
 * scale in (0, 1]. A scale of 1 returns a copy. */
desktop_pixels *desktop_pixels_scale(const desktop_pixels *p, double scale);
/* Blend the cursor over the picture (the part that falls inside it). */
void desktop_pixels_draw_cursor(desktop_pixels *p, const desktop_cursor *c);
/* Encode. quality 1-100 (JPEG, WebP; ignored for PNG). On success 0 and the bytes appended
 * to out; on failure -1 and a message in err (a library that cannot be loaded names its
 * package). Any thread; the libraries load once, on first use. */
int desktop_image_encode(const desktop_pixels *p, desktop_format fmt, int quality, base_buf *out,
                         char *err, size_t errcap);
const char *desktop_format_mime(desktop_format fmt);

/* ---- deps.c ------------------------------------------------------------------------------- */

/* What the desktop needs, as found on this machine. Owner: deps.c (static, loop thread). */
typedef struct desktop_deps {
    /* Required and absent, in a fixed order: executables by name ("Xvfb", "openbox"), then
     * libraries by soname stem ("libX11", "libXtst", ...). */
    const char *missing[16];
    size_t nmissing;
    bool have_ffmpeg; /* recording */
    bool have_dbus;   /* dbus-daemon: optional, the session bus for apps */
} desktop_deps;

/* Executables are looked up on PATH, libraries in the dynamic linker's directories (never
 * loaded: the check must not grow the server). Cached for a second: a status poll does not
 * walk PATH each time. Loop thread. */
const desktop_deps *desktop_deps_check(void);
/* "Desktop dependencies are not installed: A, B. Run `sandbox-agent install desktop --yes`
 * to install them, or install the required tools manually." Caller frees. */
char *desktop_deps_message(const desktop_deps *d);
#define DESKTOP_INSTALL_COMMAND "sandbox-agent install desktop --yes"
/* The full path of an executable found on PATH (caller frees), or NULL. */
char *desktop_which(const char *name);
/* Forget the cached result: the next check looks again (tests, and after an install). */
void desktop_deps_invalidate(void);

/* ---- xthread.c ---------------------------------------------------------------------------- */

/* The X connection, as the X thread sees it. Owner: xthread.c; only X-thread code touches it
 * (the job run functions receive it). */
typedef struct desktop_xconn desktop_xconn;

/* Error classes a job reports; routes.c maps them to problem types. */
typedef enum {
    DESKTOP_XOK = 0,
    DESKTOP_XERR_GONE,      /* the X connection is closed or broke (Xvfb died) */
    DESKTOP_XERR_NOWINDOW,  /* the window does not exist (BadWindow) */
    DESKTOP_XERR_NOFOCUS,   /* no window has the focus */
    DESKTOP_XERR_INPUT,     /* an input request failed */
    DESKTOP_XERR_CAPTURE,   /* a screenshot failed */
    DESKTOP_XERR_CLIPBOARD, /* a selection could not be read or owned */
    DESKTOP_XERR_INVALID,   /* the request cannot be done (e.g. an unknown key name) */
} desktop_xerr;

/* One unit of X work. Owner: the submitter, until done ran (done may free it). */
typedef struct desktop_xjob desktop_xjob;
struct desktop_xjob {
    /* On the X thread, with the connection. Reports through status, err and result. Not
     * called when the connection is gone: status is then DESKTOP_XERR_GONE. */
    void (*run)(desktop_xconn *xc, desktop_xjob *job);
    /* On the loop thread, exactly once, after run (or instead of it). */
    void (*done)(desktop_xjob *job);
    void *ud;
    desktop_xerr status;
    char err[256];
    json_t *result;     /* set by run, taken by done */
    desktop_xjob *next; /* queue link (xthread.c) */
};

/* Open the X connection to display (":99") on a new X thread; on_ready(err, ud) runs on the
 * loop once it is connected and the extensions checked (err NULL), or failed (err says why,
 * static or valid for the call). on_lost(why, ud) runs on the loop if the connection later
 * breaks (Xvfb died): queued jobs then complete with DESKTOP_XERR_GONE. */
void desktop_xthread_start(uv_loop_t *loop, const char *display,
                           void (*on_ready)(const char *err, void *ud),
                           void (*on_lost)(const char *why, void *ud), void *ud);
/* Queue a job (loop thread). Without a connection it completes with DESKTOP_XERR_GONE. */
void desktop_xjob_submit(desktop_xjob *job);
/* Ask the thread to close the connection and finish (loop thread; never waits): queued jobs
 * complete with DESKTOP_XERR_GONE, and on_stopped(ud) runs on the loop once the thread is
 * joined (at once when there is none). on_stopped may be NULL. */
void desktop_xthread_stop(void (*on_stopped)(void *ud), void *ud);
/* Server shutdown: stop, deliver what finished, close the loop handles. */
void desktop_xthread_shutdown(void);
/* For long jobs (typing with a delay): true once a stop was asked or the server is gone. */
bool desktop_xthread_cancelled(void);

/* For run functions (X thread). */
struct _XDisplay *desktop_xc_display(desktop_xconn *xc);
unsigned long desktop_xc_root(desktop_xconn *xc);
void desktop_xc_size(desktop_xconn *xc, int *w, int *h);
/* An atom by name, interned once per connection. */
unsigned long desktop_xc_atom(desktop_xconn *xc, const char *name);
/* Catch X protocol errors over a stretch of calls: begin, make the calls, end. end syncs and
 * returns the first error code seen (0 for none; BadWindow is 3). */
void desktop_xc_trap_begin(desktop_xconn *xc);
int desktop_xc_trap_end(desktop_xconn *xc);
/* A clean round trip (the health probe): false when the server is gone. */
bool desktop_xc_ping(desktop_xconn *xc);
/* Clipboard.c hooks events for its own window here: the X thread passes every event for
 * that window to the handler. */
void desktop_xc_set_event_handler(desktop_xconn *xc, void (*fn)(desktop_xconn *, void *ev));
/* A job that must wait for X events (a selection transfer) pumps them here for at most
 * timeout_ms: returns the next event for window w of one of the types (0-terminated), or
 * false on timeout. Events for others are dispatched as usual meanwhile. ev is an XEvent. */
bool desktop_xc_wait_event(desktop_xconn *xc, unsigned long w, const int *types, int timeout_ms,
                           void *ev);

/* ---- screen.c ----------------------------------------------------------------------------- */

/* A screenshot request. Owner: routes.c, until done. */
typedef struct desktop_shot {
    bool region;
    int x, y, w, h; /* region */
    desktop_format fmt;
    int quality;
    double scale;
    bool show_cursor;
    /* result */
    base_buf bytes;
} desktop_shot;
/* Capture on the X thread, then crop/scale/cursor/encode on the thread pool; done(shot,
 * status, err, ud) on the loop. */
void desktop_screenshot(uv_loop_t *loop, desktop_shot *shot,
                        void (*done)(desktop_shot *s, desktop_xerr status, const char *err,
                                     void *ud),
                        void *ud);

/* The connection is closing: free the shared-memory image (X thread). */
void desktop_screen_reset(desktop_xconn *xc);

/* ---- input.c (X thread helpers used by jobs in routes.c) ---------------------------------- */

/* Press or release a keysym (neko input). A keysym on the keymap's second level ("A") gets
 * Shift around its press unless shift_held says the viewer holds Shift already; one missing
 * from the keymap gets a spare keycode. False when no keycode can carry it. */
bool desktop_input_keysym(desktop_xconn *xc, unsigned long sym, bool down, bool shift_held);

/* The connection is closing: forget the keymap and the spare keycodes in use. */
void desktop_input_reset(void);

/* Pointer position now: x, y, and the top-level client window under it (0 for none). */
void desktop_input_pointer(desktop_xconn *xc, int *x, int *y, unsigned long *window);
void desktop_input_move(desktop_xconn *xc, int x, int y);
void desktop_input_button(desktop_xconn *xc, int button, bool down);
/* A key by xdotool-style name ("Return", "a", "ctrl", "F5", "ü"): press or release. False
 * (with err) for an unknown name. */
bool desktop_input_key(desktop_xconn *xc, const char *name, bool down, char *err, size_t cap);
/* Type UTF-8 text, any character (unmapped ones get a spare keycode); delay_ms between
 * characters. */
bool desktop_input_type(desktop_xconn *xc, const char *text, unsigned delay_ms, char *err,
                        size_t cap);

/* ---- windows.c (X thread) ---------------------------------------------------------------- */

/* DesktopWindowInfo for a window, NULL when it does not exist. */
json_t *desktop_windows_info(desktop_xconn *xc, unsigned long w);
/* {"windows":[...]} filtered as the spec says (titled, not the window manager's, at least
 * 120x80; the active window always). */
json_t *desktop_windows_list(desktop_xconn *xc);
unsigned long desktop_windows_active(desktop_xconn *xc);
/* Top-level client windows whose _NET_WM_PID is pid. */
unsigned long desktop_windows_by_pid(desktop_xconn *xc, pid_t pid);
/* True once a window manager set _NET_SUPPORTING_WM_CHECK and answers a request from its
 * main loop; else waits up to wait_ms (for a property change on the root, or the answer) and
 * returns false: the caller looks again. */
bool desktop_windows_wm_ready(desktop_xconn *xc, int wait_ms);
/* false when the window does not exist. */
bool desktop_windows_focus(desktop_xconn *xc, unsigned long w);
bool desktop_windows_move(desktop_xconn *xc, unsigned long w, int x, int y);
bool desktop_windows_resize(desktop_xconn *xc, unsigned long w, int width, int height);

/* ---- clipboard.c (X thread) --------------------------------------------------------------- */

typedef enum { DESKTOP_SEL_CLIPBOARD, DESKTOP_SEL_PRIMARY, DESKTOP_SEL_BOTH } desktop_selection;
/* The selection's text (caller frees), or NULL with err. Empty when nobody owns it. */
char *desktop_clipboard_read(desktop_xconn *xc, desktop_selection sel, char *err, size_t cap);
bool desktop_clipboard_write(desktop_xconn *xc, desktop_selection sel, const char *text, size_t len,
                             char *err, size_t cap);
/* The connection is closing: drop the owned texts. */
void desktop_clipboard_reset(void);

/* ---- runtime.c ---------------------------------------------------------------------------- */

typedef enum {
    DESKTOP_INACTIVE,
    DESKTOP_INSTALL_REQUIRED,
    DESKTOP_STARTING,
    DESKTOP_ACTIVE,
    DESKTOP_STOPPING,
    DESKTOP_FAILED,
} desktop_state;

const char *desktop_state_name(desktop_state s);
desktop_state desktop_runtime_state(void);
/* While active: ":99", and the screen size. */
const char *desktop_runtime_display(void);
void desktop_runtime_size(int *w, int *h);
/* The recording frame rate given to start (default 30). */
unsigned desktop_runtime_recording_fps(void);
/* The desktop's state directory ($HOME/.local/state/sandbox-agent/desktop, or stateDir):
 * logs, recordings. Exists once the runtime started. */
const char *desktop_runtime_state_dir(void);
/* The environment for desktop children: the server's plus DISPLAY (and the session bus).
 * NULL-terminated; caller frees with base_strv_free-like desktop_strv_free. */
char **desktop_runtime_env(void);
void desktop_strv_free(char **v);
/* DesktopProcessInfo[] of the runtime's children (new reference). */
json_t *desktop_runtime_processes(void);
bool desktop_runtime_has_processes(void);
/* The runtime is about to answer a desktop call: 0 when active; else the problem has been
 * answered (deps missing 503, inactive/starting 409, failed 503) and -1 returned. */
int desktop_runtime_gate(http_req *req);

/* What POST /v1/desktop/start asks for (0 = the default). Owner: the caller. */
typedef struct desktop_start_opts {
    unsigned width, height, dpi, recording_fps;
    bool display_num_set;
    unsigned display_num;
    const char *state_dir;
    const char *stream_codec; /* "vp8" (default), "vp9", "h264" */
    const char *stream_audio; /* "opus" (default), "g722" */
    unsigned stream_fps;      /* 1-60, default 30 */
    unsigned port_min, port_max; /* webrtcPortRange, default 59050-59070 */
} desktop_start_opts;

/* The stream options given to the last start (defaults filled in). Owner: runtime.c. */
const desktop_start_opts *desktop_runtime_stream_opts(void);

void desktop_runtime_init(uv_loop_t *loop);
/* Start (answers req when active, or with the failure). */
void desktop_runtime_start(http_req *req, const desktop_start_opts *o);
/* Stop (answers req once everything is gone). */
void desktop_runtime_stop(http_req *req);
/* The status object without windows. */
json_t *desktop_runtime_status(void);
void desktop_runtime_shutdown(void);

/* ---- record.c ----------------------------------------------------------------------------- */

void desktop_record_routes(http_server *srv, uv_loop_t *loop);
/* The runtime is stopping: finish any recording (q, then signals); done(ud) runs on the loop
 * once no recorder process is left (at once when none). */
void desktop_record_stop_all(void (*done)(void *ud), void *ud);
/* DesktopProcessInfo for a running recorder, or NULL (for the status). */
json_t *desktop_record_process(void);

/* ---- apps.c ------------------------------------------------------------------------------- */

void desktop_apps_launch(http_req *req, json_t *body);
void desktop_apps_open(http_req *req, json_t *body);
/* Stop every desktop-owned managed process (stop and shutdown); done(ud) once they exited. */
void desktop_apps_stop_all(void (*done)(void *ud), void *ud);

/* ---- neko.c ------------------------------------------------------------------------------- */

/* neko's input opcodes (big-endian messages: u8 op, u16 payload length, payload). */
enum {
    DESKTOP_NEKO_MOVE = 1,     /* u16 x, u16 y */
    DESKTOP_NEKO_SCROLL = 2,   /* i16 dx, i16 dy, u8 control */
    DESKTOP_NEKO_KEYDOWN = 3,  /* u32 keysym */
    DESKTOP_NEKO_KEYUP = 4,    /* u32 keysym */
    DESKTOP_NEKO_BTNDOWN = 5,  /* u32 button */
    DESKTOP_NEKO_BTNUP = 6,    /* u32 button */
};

/* One decoded input event. a, b: x, y (move); dx, dy (scroll); keysym (keys); button
 * (buttons). shift_held is filled in by the viewer that sent it (signaling.c). */
typedef struct desktop_neko_event {
    uint8_t op;
    bool shift_held;
    int32_t a, b;
} desktop_neko_event;

/* Decode one data-channel message. 1 with *ev; 0 for a well-formed message of an opcode we
 * do not handle (skipped); -1 for a malformed one (short, or a length that does not match
 * its opcode). */
int desktop_neko_decode(const uint8_t *p, size_t n, desktop_neko_event *ev);
/* Wheel clicks for a scroll delta: the SDK passes raw deltas, which are pixels (about 100
 * per notch) from a wheel and small integers from code. At most 10 per message. */
int desktop_neko_scroll_clicks(int32_t delta);

/* ---- stream.c (the stream thread) ---------------------------------------------------------- */

/* What the stream was started with. Owner: the caller; copied by desktop_stream_start. */
typedef struct desktop_stream_cfg {
    char display[16];
    int width, height;
    unsigned fps;         /* the target frame rate */
    char codec[8];        /* "vp8", "vp9", "h264" */
    unsigned port_min, port_max;
} desktop_stream_cfg;

/* Events from the stream thread (and GStreamer's threads) to the loop. */
typedef enum {
    DESKTOP_SEV_READY,     /* GStreamer loaded and the elements are there */
    DESKTOP_SEV_FAILED,    /* text: why; the thread has ended (or never started its work) */
    DESKTOP_SEV_OFFER,     /* viewer: text = SDP offer */
    DESKTOP_SEV_CANDIDATE, /* viewer: mline, text = candidate */
    DESKTOP_SEV_STATE,     /* viewer: mline = peer connection state (2 connected, 4 failed...) */
    DESKTOP_SEV_INPUT,     /* viewer: input */
    DESKTOP_SEV_PEER_ERROR,/* viewer: text = why its branch failed (it has been removed) */
    DESKTOP_SEV_STOPPED,   /* the thread has torn everything down and is about to exit */
} desktop_sev_type;

/* One event. Owner: the queue, then the loop's handler (desktop_sev_free). */
typedef struct desktop_sev {
    desktop_sev_type type;
    unsigned viewer;
    int mline;
    char *text;
    desktop_neko_event input;
    struct desktop_sev *next;
} desktop_sev;

void desktop_sev_free(desktop_sev *e);
/* Start the stream thread (loop thread): it loads GStreamer, checks the elements, then posts
 * READY or FAILED to on_event, which runs on the loop for every event. The pipeline is only
 * built when the first viewer is added, and torn down when the last one leaves. */
void desktop_stream_start(uv_loop_t *loop, const desktop_stream_cfg *cfg,
                          void (*on_event)(desktop_sev *e, void *ud), void *ud);
/* Commands to the stream thread (loop thread; they return at once). */
void desktop_stream_add_viewer(unsigned viewer);
void desktop_stream_remove_viewer(unsigned viewer);
void desktop_stream_answer(unsigned viewer, const char *sdp);
void desktop_stream_candidate(unsigned viewer, int mline, const char *candidate);
/* Ask the encoder for a key frame (a viewer just connected). */
void desktop_stream_keyframe(void);
/* Tear everything down; STOPPED follows, then the thread is joined by the loop. */
void desktop_stream_stop(void);
/* True between desktop_stream_start and the STOPPED event. */
bool desktop_stream_running(void);
/* Live numbers for the status (any thread): the frame rate now, the server's CPU use over
 * the last second while the pipeline runs (percent of one core), viewers with a pipeline
 * branch. */
void desktop_stream_numbers(unsigned *fps, double *cpu, unsigned *branches);
/* Server shutdown: stop and join (blocks, bounded by GStreamer's own teardown). */
void desktop_stream_shutdown(void);

/* ---- signaling.c --------------------------------------------------------------------------- */

void desktop_signaling_routes(http_server *srv, uv_loop_t *loop);
/* The runtime is stopping or failed: close every viewer (with reason) and stop the stream;
 * done(ud) on the loop once the stream thread is gone (at once when none). */
void desktop_signaling_stop_all(const char *reason, void (*done)(void *ud), void *ud);
/* Set GST_REGISTRY before any thread exists (server start). */
void desktop_signaling_preinit(void);

/* ---- calls.c ------------------------------------------------------------------------------ */

typedef struct desktop_call desktop_call;
typedef void (*desktop_call_fn)(desktop_xconn *xc, desktop_call *c);

/* One request's X work: its inputs, the operation, and the request to answer. Owner: the
 * handler that made it, then the X job; freed in desktop_call_done. */
struct desktop_call {
    desktop_xjob xjob;
    http_req *req; /* NULL once the client left */
    desktop_call_fn fn;
    int x, y, x2, y2;
    bool has_xy;
    int button, count, dx, dy;
    unsigned long window;
    char *text;
    size_t len;
    unsigned delay;
    char *keys[8];
    size_t nkeys;
    bool down;
    desktop_selection sel;
    json_t *status; /* desktop_reply_status: the status the windows are added to */
};

desktop_call *desktop_call_new(http_req *req, desktop_call_fn fn);
/* Queue the call's job; its completion answers the request (if the client is still there). */
void desktop_call_submit(desktop_call *c);
void desktop_call_free(desktop_call *c);
/* The problem for a job that failed with st. */
void desktop_reply_xerr(http_req *req, desktop_xerr st, const char *err);
/* The operations (X thread): each reads its inputs from the call and sets its result. */
void desktop_op_position(desktop_xconn *xc, desktop_call *c);
void desktop_op_move(desktop_xconn *xc, desktop_call *c);
void desktop_op_click(desktop_xconn *xc, desktop_call *c);
void desktop_op_button(desktop_xconn *xc, desktop_call *c);
void desktop_op_drag(desktop_xconn *xc, desktop_call *c);
void desktop_op_scroll(desktop_xconn *xc, desktop_call *c);
void desktop_op_type(desktop_xconn *xc, desktop_call *c);
void desktop_op_keys(desktop_xconn *xc, desktop_call *c);
void desktop_op_windows(desktop_xconn *xc, desktop_call *c);
void desktop_op_focused(desktop_xconn *xc, desktop_call *c);
void desktop_op_focus(desktop_xconn *xc, desktop_call *c);
void desktop_op_wmove(desktop_xconn *xc, desktop_call *c);
void desktop_op_wresize(desktop_xconn *xc, desktop_call *c);
void desktop_op_clip_read(desktop_xconn *xc, desktop_call *c);
void desktop_op_clip_write(desktop_xconn *xc, desktop_call *c);
void desktop_op_status_windows(desktop_xconn *xc, desktop_call *c);

/* ---- routes.c ----------------------------------------------------------------------------- */

/* A desktop problem: type urn:sandbox-agent:error:<code>, status and title from the table
 * (http-api.md §10.2), a `code` member, and `processes` while runtime processes exist. extra
 * (stolen, may be NULL) adds members after those. */
void desktop_problem(http_req *req, const char *code, const char *detail, json_t *extra);
/* The generic 409 conflict problem, as the rest of the server words it. */
void desktop_problem_conflict(http_req *req, const char *message);

/* Body members checked as the reference's deserialiser would (a 422 naming the member).
 * Every optional member also accepts null. */
typedef enum {
    DESKTOP_F_I32,
    DESKTOP_F_U32,
    DESKTOP_F_BOOL,
    DESKTOP_F_STR,
    DESKTOP_F_STRV,      /* array of strings */
    DESKTOP_F_BUTTON,    /* "left" | "middle" | "right" */
    DESKTOP_F_SELECTION, /* "clipboard" | "primary" (| "both" with allow_both) */
    DESKTOP_F_MODIFIERS, /* {ctrl,shift,alt,cmd: bool} */
} desktop_field_kind;

/* One member of a request body. Owner: static tables in the handlers. */
typedef struct desktop_field {
    const char *name;
    desktop_field_kind kind;
    bool required;
} desktop_field;

/* Parse and check a JSON body (415, 400, 422 answered here; NULL then). args.c */
json_t *desktop_body(http_req *req, const desktop_field *f, size_t n);
/* The screenshot query (shot->region says whether x, y, width, height are required) into
 * shot, with the reference's checks in its order. False when it answered a problem. args.c */
bool desktop_shot_query(http_req *req, desktop_shot *shot);
/* Reply with the status (and the windows while active, fetched from the X thread). */
void desktop_reply_status(http_req *req);

#endif
