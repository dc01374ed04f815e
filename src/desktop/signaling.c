/* signaling.c - desktop streaming as the SDK's DesktopStreamSession sees it: the stream
 * routes (start, stop, status), the signaling WebSocket speaking neko's protocol, one viewer
 * per socket, and the viewers' input applied on the X thread.
 *
 * Per socket: system/init (screen size) on connect; the client answers control/request
 * (ignored: every viewer may control) and signal/request, which adds the viewer's branch to
 * the stream (stream.c); its offer goes out as signal/provide {sdp, iceservers}, the client's
 * signal/answer and signal/candidate go in, our candidates go out as signal/candidate. Input
 * arrives on the WebRTC data channel in neko's binary format (neko.c), or as binary frames on
 * the socket itself. A viewer whose peer fails or whose stream ends gets system/disconnect
 * {message} and the socket closes.
 *
 * The http layer may call on_close from inside any http_ws_* call (a dropped peer), which
 * frees the viewer: nothing here touches a viewer after such a call. */
#include "desktop/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define DESKTOP_VIEWER_GRACE_MS 15000 /* a disconnected peer may come back this long */
#define DESKTOP_INPUT_MAX 4096        /* queued input events; more are dropped */
#define DESKTOP_HELD_MAX 32

/* One signaling socket. Owner: the viewer list; freed by desktop_viewer_free (from the http
 * layer's on_close, after the timer handle closed). */
typedef struct desktop_viewer {
    unsigned id;
    http_ws *ws;    /* NULL once closed */
    bool requested; /* a branch was asked for (signal/request) */
    bool connected;
    bool closing;     /* system/disconnect sent */
    char mids[4][32]; /* a=mid of each m= line of our offer, in order */
    /* what it holds down, released when it leaves */
    uint32_t keys[DESKTOP_HELD_MAX];
    size_t nkeys;
    unsigned buttons; /* bit n = button n down */
    bool shift;
    uv_timer_t grace; /* a disconnected peer's deadline */
    struct desktop_viewer *next;
} desktop_viewer;

/* A request waiting for the stream to start or stop, or the runtime waiting for a stop. */
typedef struct desktop_swaiter {
    http_req *req; /* NULL for a callback waiter or once the client left */
    void (*done)(void *ud);
    void *ud;
    struct desktop_swaiter *next;
} desktop_swaiter;

typedef enum {
    DESKTOP_STREAM_OFF,
    DESKTOP_STREAM_STARTING,
    DESKTOP_STREAM_ON,
    DESKTOP_STREAM_STOPPING
} desktop_stream_state;

/* Streaming on the loop. Owner: static, loop thread only. */
static struct {
    uv_loop_t *loop;
    desktop_stream_state state;
    bool stop_wanted; /* a stop came while starting */
    desktop_stream_cfg cfg;
    char audio_note[160];
    desktop_viewer *viewers;
    unsigned next_id;
    desktop_swaiter *start_waiters, *stop_waiters;
    /* input, in order, for the X thread */
    desktop_neko_event *inq;
    size_t ninq, capinq;
    bool input_busy;
    desktop_xjob input_job;
    desktop_neko_event *batch;
    size_t nbatch;
    unsigned long dropped;
} dsg;

static void desktop_stream_event(desktop_sev *e, void *ud);

/* ---- registry ------------------------------------------------------------------------------ */

void desktop_signaling_preinit(void) {
    /* GStreamer reads its registry location from the environment only; setenv is not
     * thread-safe, so this runs before the server starts any thread. The scan (about half a
     * second) then happens once per machine, not per start. */
    if (getenv("GST_REGISTRY_1_0") || getenv("GST_REGISTRY"))
        return;
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char *path = state && *state
                     ? base_xasprintf("%s/sandbox-agent/gstreamer-registry.bin", state)
                     : base_xasprintf("%s/.local/state/sandbox-agent/gstreamer-registry.bin",
                                      home && *home ? home : "/tmp");
    setenv("GST_REGISTRY_1_0", path, 0);
    free(path);
}

/* ---- waiters ------------------------------------------------------------------------------- */

static void desktop_swaiter_abort(http_req *req, void *ud) {
    desktop_swaiter *w = ud;
    w->req = NULL;
}

static void desktop_swaiter_add(desktop_swaiter **list, http_req *req, void (*done)(void *),
                                void *ud) {
    desktop_swaiter *w = base_xcalloc(1, sizeof *w);
    w->req = req;
    w->done = done;
    w->ud = ud;
    w->next = *list;
    *list = w;
    if (req)
        http_req_on_abort(req, desktop_swaiter_abort, w);
}

static json_t *desktop_stream_status_json(void);

/* Answer every waiter: the status, or the problem (code NULL = a 409 conflict). */
static void desktop_swaiters_finish(desktop_swaiter **list, const char *code, const char *msg) {
    desktop_swaiter *w = *list;
    *list = NULL;
    while (w) {
        desktop_swaiter *next = w->next;
        if (w->req) {
            http_req_on_abort(w->req, NULL, NULL);
            if (!msg)
                http_reply_json(w->req, 200, desktop_stream_status_json());
            else if (code)
                desktop_problem(w->req, code, msg, NULL);
            else
                desktop_problem_conflict(w->req, msg);
        }
        if (w->done)
            w->done(w->ud);
        free(w);
        w = next;
    }
}

/* ---- status -------------------------------------------------------------------------------- */

static json_t *desktop_stream_status_json(void) {
    json_t *o = json_object();
    json_object_set_new(o, "active", json_boolean(dsg.state == DESKTOP_STREAM_ON));
    if (dsg.state != DESKTOP_STREAM_ON)
        return o;
    unsigned fps, branches;
    double cpu;
    desktop_stream_numbers(&fps, &cpu, &branches);
    size_t viewers = 0;
    for (desktop_viewer *v = dsg.viewers; v; v = v->next)
        viewers += v->ws != NULL;
    json_object_set_new(o, "viewers", json_integer((json_int_t)viewers));
    json_object_set_new(o, "videoCodec", json_string(dsg.cfg.codec));
    json_object_set_new(o, "targetFrameRate", json_integer(dsg.cfg.fps));
    /* Frames encoded in the last second; 0 while nobody watches (nothing is encoded). */
    json_object_set_new(o, "frameRate", json_integer(branches ? fps : 0));
    json_object_set_new(o, "cpuPercent", json_real(branches ? cpu : 0.0));
    json_object_set_new(o, "cpuPercentPerViewer",
                        json_real(branches ? cpu / (double)branches : 0.0));
    json_object_set_new(o, "audio", json_pack("{s:b,s:s}", "active", 0, "reason", dsg.audio_note));
    char range[32];
    snprintf(range, sizeof range, "%u-%u", dsg.cfg.port_min, dsg.cfg.port_max);
    json_object_set_new(o, "webrtcPortRange", json_string(range));
    return o;
}

/* ---- input --------------------------------------------------------------------------------- */

static void desktop_input_apply(desktop_xconn *xc, const desktop_neko_event *e) {
    int w, h;
    switch (e->op) {
    case DESKTOP_NEKO_MOVE:
        desktop_xc_size(xc, &w, &h);
        desktop_input_move(xc, e->a >= w ? w - 1 : e->a, e->b >= h ? h - 1 : e->b);
        break;
    case DESKTOP_NEKO_SCROLL: {
        int vy = desktop_neko_scroll_clicks(e->b), vx = desktop_neko_scroll_clicks(e->a);
        for (int i = 0; i < vy; i++) {
            desktop_input_button(xc, e->b < 0 ? 4 : 5, true);
            desktop_input_button(xc, e->b < 0 ? 4 : 5, false);
        }
        for (int i = 0; i < vx; i++) {
            desktop_input_button(xc, e->a < 0 ? 6 : 7, true);
            desktop_input_button(xc, e->a < 0 ? 6 : 7, false);
        }
        break;
    }
    case DESKTOP_NEKO_KEYDOWN:
    case DESKTOP_NEKO_KEYUP:
        desktop_input_keysym(xc, (uint32_t)e->a, e->op == DESKTOP_NEKO_KEYDOWN, e->shift_held);
        break;
    case DESKTOP_NEKO_BTNDOWN:
    case DESKTOP_NEKO_BTNUP: {
        int b = e->a >= 1 && e->a <= 3 ? e->a : 1;
        desktop_input_button(xc, b, e->op == DESKTOP_NEKO_BTNDOWN);
        break;
    }
    default:
        break;
    }
}

static void desktop_input_run(desktop_xconn *xc, desktop_xjob *job) {
    for (size_t i = 0; i < dsg.nbatch && !desktop_xthread_cancelled(); i++)
        desktop_input_apply(xc, &dsg.batch[i]);
}

static void desktop_input_kick(void);

static void desktop_input_done(desktop_xjob *job) {
    free(dsg.batch);
    dsg.batch = NULL;
    dsg.nbatch = 0;
    dsg.input_busy = false;
    desktop_input_kick();
}

/* One X job at a time carries everything queued so far. */
static void desktop_input_kick(void) {
    if (dsg.input_busy || !dsg.ninq)
        return;
    if (desktop_runtime_state() != DESKTOP_ACTIVE) {
        dsg.ninq = 0;
        return;
    }
    dsg.batch = dsg.inq;
    dsg.nbatch = dsg.ninq;
    dsg.inq = NULL;
    dsg.ninq = dsg.capinq = 0;
    dsg.input_busy = true;
    memset(&dsg.input_job, 0, sizeof dsg.input_job);
    dsg.input_job.run = desktop_input_run;
    dsg.input_job.done = desktop_input_done;
    desktop_xjob_submit(&dsg.input_job);
}

static void desktop_input_push(const desktop_neko_event *e) {
    /* A move replaces a queued move just before it: when X is behind, only where the
     * pointer ends up matters. */
    if (e->op == DESKTOP_NEKO_MOVE && dsg.ninq && dsg.inq[dsg.ninq - 1].op == DESKTOP_NEKO_MOVE) {
        dsg.inq[dsg.ninq - 1] = *e;
        return;
    }
    if (dsg.ninq >= DESKTOP_INPUT_MAX) {
        if (dsg.dropped++ % 1000 == 0)
            LOG_WARN("desktop stream input dropped", "queued=%zu", dsg.ninq);
        return;
    }
    if (dsg.ninq == dsg.capinq) {
        dsg.capinq = dsg.capinq ? dsg.capinq * 2 : 64;
        dsg.inq = base_xrealloc(dsg.inq, dsg.capinq * sizeof *dsg.inq);
    }
    dsg.inq[dsg.ninq++] = *e;
}

static bool desktop_is_shift(uint32_t sym) {
    return sym == 0xffe1 || sym == 0xffe2;
}

/* A viewer's event: note what it holds (released when it leaves), then queue it. */
static void desktop_viewer_input(desktop_viewer *v, desktop_neko_event e) {
    uint32_t sym = (uint32_t)e.a;
    size_t i;
    switch (e.op) {
    case DESKTOP_NEKO_KEYDOWN:
        for (i = 0; i < v->nkeys && v->keys[i] != sym; i++)
            ;
        if (i == v->nkeys && v->nkeys < DESKTOP_HELD_MAX)
            v->keys[v->nkeys++] = sym;
        if (desktop_is_shift(sym))
            v->shift = true;
        break;
    case DESKTOP_NEKO_KEYUP:
        for (i = 0; i < v->nkeys; i++)
            if (v->keys[i] == sym)
                v->keys[i] = v->keys[--v->nkeys];
        if (desktop_is_shift(sym))
            v->shift = false;
        break;
    case DESKTOP_NEKO_BTNDOWN:
    case DESKTOP_NEKO_BTNUP: {
        unsigned bit = 1u << (e.a >= 1 && e.a <= 3 ? e.a : 1);
        v->buttons = e.op == DESKTOP_NEKO_BTNDOWN ? v->buttons | bit : v->buttons & ~bit;
        break;
    }
    default:
        break;
    }
    e.shift_held = v->shift;
    desktop_input_push(&e);
    desktop_input_kick();
}

static void desktop_viewer_release_all(desktop_viewer *v) {
    while (v->nkeys) {
        desktop_neko_event e = {.op = DESKTOP_NEKO_KEYUP, .a = (int32_t)v->keys[v->nkeys - 1]};
        desktop_viewer_input(v, e);
    }
    for (int b = 1; b <= 3; b++) {
        if (v->buttons & (1u << b)) {
            desktop_neko_event e = {.op = DESKTOP_NEKO_BTNUP, .a = b};
            desktop_viewer_input(v, e);
        }
    }
}

/* ---- viewers ------------------------------------------------------------------------------- */

static desktop_viewer *desktop_viewer_find(unsigned id) {
    for (desktop_viewer *v = dsg.viewers; v; v = v->next)
        if (v->id == id)
            return v;
    return NULL;
}

static void desktop_viewer_timer_closed(uv_handle_t *h) {
    free(h->data);
}

static void desktop_viewer_unlink(desktop_viewer *v) {
    for (desktop_viewer **pp = &dsg.viewers; *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
}

/* Send one {event, payload} frame; false when the socket is gone (v may be freed then). */
static bool desktop_viewer_send(desktop_viewer *v, const char *event, json_t *payload) {
    json_t *frame = json_pack("{s:s,s:o}", "event", event, "payload", payload);
    char *s = base_json_compact(frame);
    json_decref(frame);
    bool ok = v->ws && http_ws_send_text(v->ws, s, strlen(s));
    free(s);
    return ok;
}

/* Tell the client why and close the socket (its on_close frees v). */
static void desktop_viewer_disconnect(desktop_viewer *v, const char *message) {
    if (v->closing || !v->ws)
        return;
    v->closing = true;
    if (desktop_viewer_send(v, "system/disconnect", json_pack("{s:s}", "message", message)))
        http_ws_close(v->ws, 1000, NULL);
}

static void desktop_viewer_grace_cb(uv_timer_t *t) {
    desktop_viewer *v = t->data;
    if (v && v->ws && !v->connected)
        desktop_viewer_disconnect(v, "The WebRTC connection was lost.");
}

/* Record the a=mid of each m= section of our offer (candidates name them). */
static void desktop_viewer_mids(desktop_viewer *v, const char *sdp) {
    memset(v->mids, 0, sizeof v->mids);
    int m = -1;
    for (const char *line = sdp; line && *line;) {
        const char *end = strpbrk(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 2 && !strncmp(line, "m=", 2))
            m++;
        else if (m >= 0 && m < 4 && len > 6 && !strncmp(line, "a=mid:", 6))
            snprintf(v->mids[m], sizeof v->mids[m], "%.*s", (int)(len - 6), line + 6);
        line = end ? end + strspn(end, "\r\n") : NULL;
    }
}

static void desktop_viewer_on_offer(desktop_viewer *v, const char *sdp) {
    desktop_viewer_mids(v, sdp);
    /* No STUN/TURN servers of our own: the client falls back to its default. Our candidates
     * are the sandbox's own addresses (docs/desktop.md, Streaming: reachability). */
    desktop_viewer_send(v, "signal/provide", json_pack("{s:s,s:[]}", "sdp", sdp, "iceservers"));
}

static void desktop_viewer_on_candidate(desktop_viewer *v, int mline, const char *cand) {
    json_t *p = json_pack("{s:s,s:i}", "candidate", cand, "sdpMLineIndex", mline);
    if (mline >= 0 && mline < 4 && v->mids[mline][0])
        json_object_set_new(p, "sdpMid", json_string(v->mids[mline]));
    desktop_viewer_send(v, "signal/candidate", p);
}

static void desktop_viewer_on_state(desktop_viewer *v, int state) {
    switch (state) {
    case 2: /* connected */
        if (!v->connected)
            desktop_stream_keyframe();
        v->connected = true;
        uv_timer_stop(&v->grace);
        break;
    case 3: /* disconnected: ICE may recover */
        v->connected = false;
        uv_timer_start(&v->grace, desktop_viewer_grace_cb, DESKTOP_VIEWER_GRACE_MS, 0);
        break;
    case 4: /* failed */
        v->connected = false;
        desktop_viewer_disconnect(v, "WebRTC connection failed.");
        break;
    default:
        break;
    }
}

/* ---- stream events ------------------------------------------------------------------------- */

static void desktop_viewers_disconnect_all(const char *message) {
    desktop_viewer *v = dsg.viewers;
    while (v) {
        desktop_viewer *next = v->next;
        desktop_viewer_disconnect(v, message);
        v = next;
    }
}

static void desktop_stream_event(desktop_sev *e, void *ud) {
    desktop_viewer *v = e->viewer ? desktop_viewer_find(e->viewer) : NULL;
    switch (e->type) {
    case DESKTOP_SEV_READY:
        if (dsg.state == DESKTOP_STREAM_STARTING && !dsg.stop_wanted) {
            dsg.state = DESKTOP_STREAM_ON;
            LOG_INFO("desktop stream started", "codec=%s fps=%u", dsg.cfg.codec, dsg.cfg.fps);
            desktop_swaiters_finish(&dsg.start_waiters, NULL, NULL);
        }
        break;
    case DESKTOP_SEV_FAILED:
        LOG_WARN("desktop stream failed", "reason=\"%s\"", e->text);
        if (dsg.state == DESKTOP_STREAM_STARTING) {
            char *msg = base_xasprintf("%s. Run `%s` to install the streaming packages.", e->text,
                                       DESKTOP_INSTALL_COMMAND);
            desktop_swaiters_finish(&dsg.start_waiters, "desktop_dependencies_missing", msg);
            free(msg);
        }
        desktop_viewers_disconnect_all(e->text);
        break;
    case DESKTOP_SEV_STOPPED:
        dsg.state = DESKTOP_STREAM_OFF;
        dsg.stop_wanted = false;
        desktop_viewers_disconnect_all("The desktop stream stopped.");
        desktop_swaiters_finish(&dsg.start_waiters, NULL, "the desktop stream was stopped");
        desktop_swaiters_finish(&dsg.stop_waiters, NULL, NULL);
        break;
    case DESKTOP_SEV_OFFER:
        if (v)
            desktop_viewer_on_offer(v, e->text);
        break;
    case DESKTOP_SEV_CANDIDATE:
        if (v)
            desktop_viewer_on_candidate(v, e->mline, e->text);
        break;
    case DESKTOP_SEV_STATE:
        if (v)
            desktop_viewer_on_state(v, e->mline);
        break;
    case DESKTOP_SEV_INPUT:
        if (v && !v->closing)
            desktop_viewer_input(v, e->input);
        break;
    case DESKTOP_SEV_PEER_ERROR:
        LOG_WARN("desktop stream viewer failed", "viewer=%u reason=\"%s\"", e->viewer, e->text);
        if (v) {
            v->requested = false;
            desktop_viewer_disconnect(v, e->text);
        }
        break;
    }
    desktop_sev_free(e);
}

/* ---- the socket ---------------------------------------------------------------------------- */

static int desktop_json_int(json_t *v, int dflt) {
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_string(v))
        return atoi(json_string_value(v));
    return dflt;
}

/* Browsers hide their host addresses behind mDNS names ("<uuid>.local"). libnice cannot
 * resolve them, and a pending lookup keeps webrtcbin's ICE agent (and its thread) alive after
 * the viewer left. They are not needed: ICE connects through the peer-reflexive candidates
 * the browser's checks reveal. The address is the candidate's fifth field. */
static bool desktop_candidate_is_mdns(const char *cand) {
    const char *p = cand;
    for (int field = 0; field < 4 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return false;
    size_t n = strcspn(p, " ");
    return n > 6 && !strncasecmp(p + n - 6, ".local", 6);
}

static void desktop_viewer_candidate_in(desktop_viewer *v, json_t *p) {
    const char *cand = json_string_value(json_object_get(p, "candidate"));
    if (!cand || !*cand)
        return; /* end of candidates */
    if (desktop_candidate_is_mdns(cand))
        return;
    int mline = desktop_json_int(json_object_get(p, "sdpMLineIndex"), -1);
    const char *mid = json_string_value(json_object_get(p, "sdpMid"));
    for (int i = 0; mline < 0 && mid && i < 4; i++)
        if (!strcmp(v->mids[i], mid))
            mline = i;
    /* max-bundle: every m= section shares the first one's transport. */
    desktop_stream_candidate(v->id, mline < 0 ? 0 : mline, cand);
}

static void desktop_viewer_on_text(http_ws *ws, const char *data, size_t len, void *ud) {
    desktop_viewer *v = ud;
    if (!v || v->closing || dsg.state != DESKTOP_STREAM_ON)
        return;
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *event = json_string_value(json_object_get(msg, "event"));
    json_t *p = json_object_get(msg, "payload");
    if (!p)
        p = json_object_get(msg, "data");
    if (!event) {
        /* neko ignores what it does not understand, and so does the SDK. */
    } else if (!strcmp(event, "signal/request")) {
        v->requested = true;
        v->connected = false;
        desktop_stream_add_viewer(v->id);
    } else if (!strcmp(event, "signal/answer")) {
        const char *sdp = json_string_value(json_object_get(p, "sdp"));
        if (sdp && v->requested)
            desktop_stream_answer(v->id, sdp);
    } else if (!strcmp(event, "signal/candidate")) {
        if (v->requested)
            desktop_viewer_candidate_in(v, p);
    } else if (!strcmp(event, "signal/close")) {
        if (v->requested)
            desktop_stream_remove_viewer(v->id);
        v->requested = v->connected = false;
        desktop_viewer_release_all(v);
    }
    json_decref(msg);
}

/* Binary frames on the socket carry neko input too (a fallback for clients without the
 * data channel). */
static void desktop_viewer_on_binary(http_ws *ws, const char *data, size_t len, void *ud) {
    desktop_viewer *v = ud;
    desktop_neko_event e;
    if (v && !v->closing && desktop_neko_decode((const uint8_t *)data, len, &e) == 1)
        desktop_viewer_input(v, e);
}

static void desktop_viewer_on_close(http_ws *ws, void *ud) {
    desktop_viewer *v = ud;
    if (!v)
        return;
    v->ws = NULL;
    if (v->requested)
        desktop_stream_remove_viewer(v->id);
    desktop_viewer_release_all(v);
    desktop_viewer_unlink(v);
    LOG_INFO("desktop stream viewer left", "viewer=%u", v->id);
    v->grace.data = v;
    uv_close((uv_handle_t *)&v->grace, desktop_viewer_timer_closed);
}

static const http_ws_callbacks desktop_viewer_callbacks = {
    .on_text = desktop_viewer_on_text,
    .on_binary = desktop_viewer_on_binary,
    .on_close = desktop_viewer_on_close,
};

/* ---- routes -------------------------------------------------------------------------------- */

static void desktop_stream_status_handler(http_req *req, void *ud) {
    http_reply_json(req, 200, desktop_stream_status_json());
}

static void desktop_audio_note(const desktop_start_opts *o) {
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char sock[512];
    snprintf(sock, sizeof sock, "%s/pulse/native", rt && *rt ? rt : "/run/user/0");
    struct stat st;
    bool pulse = getenv("PULSE_SERVER") || stat(sock, &st) == 0;
    snprintf(dsg.audio_note, sizeof dsg.audio_note, "%s",
             pulse ? "audio capture is not supported yet: the stream carries video only"
                   : "no PulseAudio server is running: the stream carries video only");
    (void)o;
}

static void desktop_stream_start_handler(http_req *req, void *ud) {
    if (desktop_runtime_state() != DESKTOP_ACTIVE) {
        desktop_problem_conflict(req, "desktop runtime is not active");
        return;
    }
    switch (dsg.state) {
    case DESKTOP_STREAM_ON:
        http_reply_json(req, 200, desktop_stream_status_json());
        return;
    case DESKTOP_STREAM_STARTING:
        desktop_swaiter_add(&dsg.start_waiters, req, NULL, NULL);
        return;
    case DESKTOP_STREAM_STOPPING:
        desktop_problem_conflict(req, "the desktop stream is stopping");
        return;
    case DESKTOP_STREAM_OFF:
        break;
    }
    const desktop_start_opts *o = desktop_runtime_stream_opts();
    memset(&dsg.cfg, 0, sizeof dsg.cfg);
    snprintf(dsg.cfg.display, sizeof dsg.cfg.display, "%s", desktop_runtime_display());
    desktop_runtime_size(&dsg.cfg.width, &dsg.cfg.height);
    dsg.cfg.fps = o->stream_fps;
    snprintf(dsg.cfg.codec, sizeof dsg.cfg.codec, "%s", o->stream_codec);
    dsg.cfg.port_min = o->port_min;
    dsg.cfg.port_max = o->port_max;
    desktop_audio_note(o);
    dsg.state = DESKTOP_STREAM_STARTING;
    dsg.stop_wanted = false;
    desktop_swaiter_add(&dsg.start_waiters, req, NULL, NULL);
    desktop_stream_start(dsg.loop, &dsg.cfg, desktop_stream_event, NULL);
}

void desktop_signaling_stop_all(const char *reason, void (*done)(void *ud), void *ud) {
    if (dsg.state == DESKTOP_STREAM_OFF) {
        if (done)
            done(ud);
        return;
    }
    if (done)
        desktop_swaiter_add(&dsg.stop_waiters, NULL, done, ud);
    if (dsg.state == DESKTOP_STREAM_STARTING)
        dsg.stop_wanted = true;
    dsg.state = DESKTOP_STREAM_STOPPING;
    desktop_viewers_disconnect_all(reason);
    desktop_stream_stop();
}

static void desktop_stream_stop_handler(http_req *req, void *ud) {
    if (dsg.state == DESKTOP_STREAM_OFF) {
        http_reply_json(req, 200, desktop_stream_status_json());
        return;
    }
    desktop_swaiter_add(&dsg.stop_waiters, req, NULL, NULL);
    if (dsg.state != DESKTOP_STREAM_STOPPING)
        desktop_signaling_stop_all("The desktop stream was stopped.", NULL, NULL);
}

static void desktop_stream_signaling_handler(http_req *req, void *ud) {
    /* The reference answers 409 before it looks at the upgrade headers. */
    if (dsg.state != DESKTOP_STREAM_ON) {
        desktop_problem_conflict(req, "desktop streaming is not active");
        return;
    }
    /* Each viewer's peer connection takes one UDP port of the range (bundled media). */
    size_t n = 0;
    for (desktop_viewer *o = dsg.viewers; o; o = o->next)
        n++;
    if (n > dsg.cfg.port_max - dsg.cfg.port_min) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the desktop stream has %zu viewers, as many as webrtcPortRange %u-%u has ports",
                 n, dsg.cfg.port_min, dsg.cfg.port_max);
        desktop_problem_conflict(req, msg);
        return;
    }
    desktop_viewer *v = base_xcalloc(1, sizeof *v);
    v->id = ++dsg.next_id;
    http_ws *ws = http_ws_accept(req, &desktop_viewer_callbacks, v);
    if (!ws) {
        free(v);
        return;
    }
    v->ws = ws;
    uv_timer_init(dsg.loop, &v->grace);
    v->grace.data = v;
    v->next = dsg.viewers;
    dsg.viewers = v;
    LOG_INFO("desktop stream viewer joined", "viewer=%u", v->id);
    char session[32];
    snprintf(session, sizeof session, "viewer-%u", v->id);
    desktop_viewer_send(v, "system/init",
                        json_pack("{s:s,s:{s:i,s:i,s:i}}", "session_id", session, "screen_size",
                                  "width", dsg.cfg.width, "height", dsg.cfg.height, "rate",
                                  (int)dsg.cfg.fps));
}

void desktop_signaling_routes(http_server *srv, uv_loop_t *loop) {
    dsg.loop = loop;
    const unsigned A = HTTP_ROUTE_AUTH;
    http_route(srv, HTTP_M_GET, "/v1/desktop/stream/status", A, desktop_stream_status_handler,
               NULL);
    http_route(srv, HTTP_M_POST, "/v1/desktop/stream/start", A, desktop_stream_start_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/desktop/stream/stop", A, desktop_stream_stop_handler, NULL);
    /* The SDK puts the token in the URL of a WebSocket (a browser cannot send headers). */
    http_route(srv, HTTP_M_GET, "/v1/desktop/stream/signaling", A | HTTP_ROUTE_QUERY_TOKEN,
               desktop_stream_signaling_handler, NULL);
}
