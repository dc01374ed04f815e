/* stream.c - the GStreamer side of desktop streaming: one thread that owns the pipeline.
 *
 *   ximagesrc ! (frame-rate gate) ! videoconvert ! queue(leaky) ! encoder ! tee
 *   tee. ! queue ! payloader ! webrtcbin        one branch per viewer
 *
 * One capture and one encoder serve every viewer; each viewer has its own payloader (its own
 * sequence numbers and SSRC) and its own webrtcbin (its own ICE, DTLS and data channel). The
 * pipeline exists only while someone watches: the first viewer builds it, the last one to
 * leave tears it down, so nothing is captured or encoded for nobody.
 *
 * Threads. The stream thread runs every GStreamer control call: building, adding and
 * removing branches, offers, answers, candidates, teardown (a state change can block, and a
 * webrtcbin must never be stopped from one of its own callbacks). GStreamer calls our
 * signal handlers on its own threads; they only queue: a command for the stream thread (an
 * offer is ready), or an event for the loop (a local candidate, a state change, an input
 * message). Handlers carry the viewer's number, never a pointer, so a late callback for a
 * branch that is gone only finds no viewer.
 *
 * Frame rate. The capture runs at the target rate; when the encoder falls behind (the leaky
 * queue in front of it drops frames), a gate drops frames before conversion, lowering the
 * rate in steps down to 5 fps, and raises it again after a few calm seconds. */
#include "desktop/internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "desktop/gstload.h"

#define DESKTOP_STREAM_MIN_FPS 5
#define DESKTOP_STREAM_IN_FLIGHT 3 /* the leaky queue's 2 frames and the one being encoded */

/* A command for the stream thread. Owner: the command queue, then the stream thread. */
typedef enum {
    DESKTOP_SCMD_ADD,
    DESKTOP_SCMD_REMOVE,
    DESKTOP_SCMD_ANSWER,
    DESKTOP_SCMD_CANDIDATE,
    DESKTOP_SCMD_OFFER, /* from the create-offer promise: promise */
    DESKTOP_SCMD_KEYFRAME,
} desktop_scmd_type;

typedef struct desktop_scmd {
    desktop_scmd_type type;
    unsigned viewer;
    int mline;
    char *text;
    GstPromise *promise;
    struct desktop_scmd *next;
} desktop_scmd;

/* One viewer's branch. Owner: the stream thread's list; freed by desktop_peer_remove. */
typedef struct desktop_peer {
    unsigned viewer;
    GstElement *bin;    /* in the pipeline */
    GstElement *webrtc; /* a ref */
    GObject *dc;        /* the data channel "data" (a ref) */
    GstPad *teepad;     /* the tee's request pad (a ref) */
    struct desktop_peer *next;
} desktop_peer;

/* The stream. Owner: static. The mutex guards the two queues and the flags next to them;
 * the rest belongs to the stream thread, except the atomics. */
static struct {
    uv_mutex_t mu;
    uv_cond_t cond;
    bool init;
    desktop_scmd *cmds, **cmds_tail;
    bool stop;
    desktop_sev *evs, **evs_tail;
    uv_async_t async;
    uv_loop_t *loop;
    void (*on_event)(desktop_sev *e, void *ud);
    void *ud;
    bool running; /* loop thread: started and STOPPED not yet seen */
    uv_thread_t thread;
    desktop_stream_cfg cfg;
    /* stream thread */
    GstElement *pipe, *tee, *enc;
    desktop_peer *peers;
    unsigned fps_now;
    unsigned calm_secs;
    uint64_t gate_next; /* the pts the next frame must reach to pass the gate */
    uint64_t last_in, last_out;
    uint64_t lost_total;    /* frames the encoder's queue dropped, as far as counted */
    unsigned ticks;         /* seconds since the pipeline started */
    unsigned keyframes_due; /* key frames still to force, one a second (a viewer connected) */
    struct timespec tick_wall, tick_cpu;
    /* any thread */
    atomic_uint fps_gate; /* the rate the gate lets through (0 = everything) */
    atomic_ulong frames_in, frames_out;
    atomic_uint fps_report, cpu_report_permille, branches;
} ds;

/* ---- queues -------------------------------------------------------------------------------- */

void desktop_sev_free(desktop_sev *e) {
    if (!e)
        return;
    free(e->text);
    free(e);
}

static void desktop_sev_post(desktop_sev_type type, unsigned viewer, int mline, const char *text,
                             const desktop_neko_event *input) {
    desktop_sev *e = base_xcalloc(1, sizeof *e);
    e->type = type;
    e->viewer = viewer;
    e->mline = mline;
    e->text = text ? base_xstrdup(text) : NULL;
    if (input)
        e->input = *input;
    uv_mutex_lock(&ds.mu);
    *ds.evs_tail = e;
    ds.evs_tail = &e->next;
    uv_mutex_unlock(&ds.mu);
    uv_async_send(&ds.async);
}

static void desktop_scmd_post(desktop_scmd_type type, unsigned viewer, int mline, const char *text,
                              GstPromise *promise) {
    desktop_scmd *c = base_xcalloc(1, sizeof *c);
    c->type = type;
    c->viewer = viewer;
    c->mline = mline;
    c->text = text ? base_xstrdup(text) : NULL;
    c->promise = promise;
    uv_mutex_lock(&ds.mu);
    *ds.cmds_tail = c;
    ds.cmds_tail = &c->next;
    uv_cond_signal(&ds.cond);
    uv_mutex_unlock(&ds.mu);
}

static void desktop_scmd_free(desktop_scmd *c) {
    if (c->promise)
        gst_mini_object_unref((GstMiniObject *)c->promise);
    free(c->text);
    free(c);
}

/* ---- GStreamer callbacks (GStreamer's threads: queue only) ----------------------------------- */

#define DESKTOP_VIEWER(ud) ((unsigned)(uintptr_t)(ud))
#define DESKTOP_UD(viewer) ((gpointer)(uintptr_t)(viewer))

static void desktop_on_offer(GstPromise *promise, gpointer ud) {
    /* The promise is ours (created with this callback); the stream thread unrefs it. */
    desktop_scmd_post(DESKTOP_SCMD_OFFER, DESKTOP_VIEWER(ud), 0, NULL, promise);
}

static void desktop_on_candidate(GstElement *webrtc, guint mline, gchar *candidate, gpointer ud) {
    if (candidate && *candidate)
        desktop_sev_post(DESKTOP_SEV_CANDIDATE, DESKTOP_VIEWER(ud), (int)mline, candidate, NULL);
}

static void desktop_on_state(GstElement *webrtc, GParamSpec *ps, gpointer ud) {
    int st = 0;
    g_object_get(webrtc, "connection-state", &st, NULL);
    desktop_sev_post(DESKTOP_SEV_STATE, DESKTOP_VIEWER(ud), st, NULL, NULL);
}

static void desktop_on_dc_data(GObject *dc, GBytes *bytes, gpointer ud) {
    gsize n = 0;
    const uint8_t *p = bytes ? g_bytes_get_data(bytes, &n) : NULL;
    desktop_neko_event ev;
    if (p && desktop_neko_decode(p, n, &ev) == 1)
        desktop_sev_post(DESKTOP_SEV_INPUT, DESKTOP_VIEWER(ud), 0, NULL, &ev);
}

/* libnice's agents try UPnP port mappings by default: a gupnp-igd thread per agent that
 * holds the agent, and with it webrtcbin's ICE object and its thread, long after the viewer
 * left. A sandbox has no router to ask: turn it off as each agent appears. */
static void desktop_on_element(GstBin *bin, GstBin *sub, GstElement *el, gpointer ud) {
    const char *name = GST_OBJECT_NAME(el);
    if (!name || (strncmp(name, "nicesrc", 7) && strncmp(name, "nicesink", 8)))
        return;
    GObject *agent = NULL;
    g_object_get(el, "agent", &agent, NULL);
    if (agent) {
        g_object_set(agent, "upnp", FALSE, NULL);
        g_object_unref(agent);
    }
}

/* The frame-rate gate, on the capture's source pad. */
static GstPadProbeReturn desktop_gate_probe(GstPad *pad, GstPadProbeInfo *info, gpointer ud) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    unsigned fps = atomic_load(&ds.fps_gate);
    if (fps && buf && GST_BUFFER_PTS_IS_VALID(buf)) {
        uint64_t pts = GST_BUFFER_PTS(buf);
        if (pts < ds.gate_next)
            return GST_PAD_PROBE_DROP;
        uint64_t step = GST_SECOND / fps;
        /* Catch up after a pause instead of letting a burst through. */
        ds.gate_next =
            pts + step > ds.gate_next + step ? pts + step - step / 8 : ds.gate_next + step;
    }
    atomic_fetch_add(&ds.frames_in, 1);
    return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn desktop_count_probe(GstPad *pad, GstPadProbeInfo *info, gpointer ud) {
    atomic_fetch_add(&ds.frames_out, 1);
    return GST_PAD_PROBE_OK;
}

/* ---- the pipeline -------------------------------------------------------------------------- */

/* Per codec: the encoder (name=enc, through any caps that follow it), the payloader, and the
 * RTP caps webrtcbin needs to write the offer. */
typedef struct desktop_codec {
    const char *name, *encoder, *payloader, *rtp_caps;
    /* the elements it adds to those every stream needs, and their Debian packages */
    const char *enc_element, *enc_package, *pay_element, *pay_package;
} desktop_codec;

static const desktop_codec desktop_codecs[] = {
    {"vp8",
     "vp8enc name=enc deadline=1 cpu-used=16 threads=2 end-usage=cbr target-bitrate=3000000 "
     "keyframe-max-dist=60 lag-in-frames=0 error-resilient=partitions",
     "rtpvp8pay pt=96 picture-id-mode=15-bit mtu=1200",
     "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000", "vp8enc",
     "gstreamer1.0-plugins-good", "rtpvp8pay", "gstreamer1.0-plugins-good"},
    {"vp9",
     "vp9enc name=enc deadline=1 cpu-used=8 threads=2 end-usage=cbr target-bitrate=3000000 "
     "keyframe-max-dist=60 lag-in-frames=0",
     "rtpvp9pay pt=98 picture-id-mode=15-bit mtu=1200",
     "application/x-rtp,media=video,encoding-name=VP9,payload=98,clock-rate=90000", "vp9enc",
     "gstreamer1.0-plugins-good", "rtpvp9pay", "gstreamer1.0-plugins-good"},
    {"h264",
     "x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate=3000 key-int-max=60 "
     "! video/x-h264,profile=constrained-baseline",
     "rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency mtu=1200",
     "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000", "x264enc",
     "gstreamer1.0-plugins-ugly", "rtph264pay", "gstreamer1.0-plugins-good"},
};

static const desktop_codec *desktop_codec_find(const char *name) {
    for (size_t i = 0; i < sizeof desktop_codecs / sizeof desktop_codecs[0]; i++)
        if (!strcmp(desktop_codecs[i].name, name))
            return &desktop_codecs[i];
    return &desktop_codecs[0];
}

/* The elements every stream needs, and the package each comes from on Debian. */
static const struct {
    const char *element, *package;
} desktop_stream_elements[] = {
    {"ximagesrc", "gstreamer1.0-plugins-good"},
    {"videoconvert", "gstreamer1.0-plugins-base"},
    {"queue", "libgstreamer1.0-0"},
    {"tee", "libgstreamer1.0-0"},
    {"webrtcbin", "gstreamer1.0-plugins-bad"},
    {"dtlssrtpenc", "gstreamer1.0-plugins-bad"},
    {"sctpenc", "gstreamer1.0-plugins-bad"},
    {"srtpenc", "gstreamer1.0-plugins-bad"},
    {"nicesrc", "gstreamer1.0-nice"},
    {"rtpbin", "gstreamer1.0-plugins-good"},
};

static bool desktop_element_exists(const char *name) {
    GstElementFactory *f = gst_element_factory_find(name);
    if (f)
        gst_object_unref(f);
    return f != NULL;
}

/* Which elements are missing ("" when none), as "element (package), ...". */
/* Append "element (package)" to out when the element is missing. */
static void desktop_missing_add(char *out, size_t cap, size_t *used, const char *el,
                                const char *pkg) {
    if (desktop_element_exists(el))
        return;
    int w = snprintf(out + *used, cap - *used, "%s%s (%s)", *used ? ", " : "", el, pkg);
    if (w > 0 && (size_t)w < cap - *used)
        *used += (size_t)w;
}

static void desktop_stream_missing(char *out, size_t cap) {
    out[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof desktop_stream_elements / sizeof desktop_stream_elements[0]; i++)
        desktop_missing_add(out, cap, &used, desktop_stream_elements[i].element,
                            desktop_stream_elements[i].package);
    const desktop_codec *c = desktop_codec_find(ds.cfg.codec);
    desktop_missing_add(out, cap, &used, c->enc_element, c->enc_package);
    desktop_missing_add(out, cap, &used, c->pay_element, c->pay_package);
}

static void desktop_pad_probe(GstElement *el, const char *pad, GstPadProbeCallback cb) {
    GstPad *p = gst_element_get_static_pad(el, pad);
    if (!p)
        return;
    gst_pad_add_probe(p, GST_PAD_PROBE_TYPE_BUFFER, cb, NULL, NULL);
    gst_object_unref(p);
}

/* Build the shared part (capture, gate, conversion, encoder, tee), not yet playing. */
static bool desktop_pipe_build(char *err, size_t cap) {
    const desktop_codec *c = desktop_codec_find(ds.cfg.codec);
    char *desc = base_xasprintf(
        "ximagesrc name=src display-name=%s use-damage=false show-pointer=true "
        "! video/x-raw,framerate=%u/1 ! videoconvert qos=false ! video/x-raw,format=I420 "
        "! queue leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 "
        "! %s ! tee name=t allow-not-linked=true",
        ds.cfg.display, ds.cfg.fps, c->encoder);
    GError *gerr = NULL;
    GstElement *pipe = gst_parse_launch(desc, &gerr);
    free(desc);
    if (!pipe || gerr) {
        snprintf(err, cap, "cannot build the stream pipeline: %s",
                 gerr ? gerr->message : "unknown error");
        if (gerr)
            g_error_free(gerr);
        if (pipe)
            gst_object_unref(pipe);
        return false;
    }
    ds.pipe = pipe;
    g_signal_connect_data(pipe, "deep-element-added", (GCallback)desktop_on_element, NULL, NULL, 0);
    ds.tee = gst_bin_get_by_name((GstBin *)pipe, "t");
    ds.enc = gst_bin_get_by_name((GstBin *)pipe, "enc");
    GstElement *src = gst_bin_get_by_name((GstBin *)pipe, "src");
    if (src) {
        desktop_pad_probe(src, "src", desktop_gate_probe);
        gst_object_unref(src);
    }
    if (ds.enc)
        desktop_pad_probe(ds.enc, "src", desktop_count_probe);
    ds.fps_now = ds.cfg.fps;
    ds.calm_secs = 0;
    ds.gate_next = 0;
    ds.last_in = ds.last_out = ds.lost_total = 0;
    ds.ticks = 0;
    ds.keyframes_due = 0;
    atomic_store(&ds.fps_gate, 0);
    atomic_store(&ds.frames_in, 0);
    atomic_store(&ds.frames_out, 0);
    atomic_store(&ds.fps_report, ds.cfg.fps);
    clock_gettime(CLOCK_MONOTONIC, &ds.tick_wall);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ds.tick_cpu);
    return true;
}

static void desktop_pipe_free(void) {
    if (!ds.pipe)
        return;
    gst_element_set_state(ds.pipe, GST_STATE_NULL);
    /* Queued messages hold references to their sources, the pipeline among them: drop them,
     * or nothing of it (webrtcbin's threads included) would ever be finalized. */
    GstBus *bus = gst_element_get_bus(ds.pipe);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
    if (ds.tee)
        gst_object_unref(ds.tee);
    if (ds.enc)
        gst_object_unref(ds.enc);
    gst_object_unref(ds.pipe);
    ds.pipe = ds.tee = ds.enc = NULL;
    atomic_store(&ds.cpu_report_permille, 0);
}

static desktop_peer *desktop_peer_find(unsigned viewer) {
    for (desktop_peer *p = ds.peers; p; p = p->next)
        if (p->viewer == viewer)
            return p;
    return NULL;
}

static void desktop_peer_unref_all(desktop_peer *p) {
    if (p->dc)
        g_object_unref(p->dc);
    if (p->webrtc)
        gst_object_unref(p->webrtc);
    if (p->teepad)
        gst_object_unref(p->teepad);
    free(p);
}

/* Remove one branch from a running pipeline: unlink it from the tee (the tee tolerates an
 * unlinked pad meanwhile), stop it, take it out, give the tee's pad back. */
static void desktop_branch_drop(desktop_peer *p) {
    if (p->teepad && p->bin) {
        GstPad *sink = gst_element_get_static_pad(p->bin, "sink");
        if (sink) {
            gst_pad_unlink(p->teepad, sink);
            gst_object_unref(sink);
        }
    }
    if (p->bin) {
        gst_element_set_state(p->bin, GST_STATE_NULL);
        gst_bin_remove((GstBin *)ds.pipe, p->bin);
    }
    if (p->teepad)
        gst_element_release_request_pad(ds.tee, p->teepad);
}

static void desktop_peer_remove(unsigned viewer) {
    desktop_peer **pp = &ds.peers;
    while (*pp && (*pp)->viewer != viewer)
        pp = &(*pp)->next;
    desktop_peer *p = *pp;
    if (!p)
        return;
    *pp = p->next;
    if (!ds.peers) {
        /* The last viewer left: stop capturing and encoding altogether. */
        desktop_pipe_free();
    } else {
        desktop_branch_drop(p);
    }
    desktop_peer_unref_all(p);
    atomic_store(&ds.branches, atomic_load(&ds.branches) - 1);
}

static void desktop_peer_fail(unsigned viewer, const char *why) {
    desktop_peer_remove(viewer);
    desktop_sev_post(DESKTOP_SEV_PEER_ERROR, viewer, 0, why, NULL);
}

/* The branch's webrtcbin: ports, a send-only video transceiver, the data channel (before the
 * offer, so the offer carries it and the browser gets it through ondatachannel). */
static bool desktop_peer_setup(desktop_peer *p, char *err, size_t cap) {
    /* The handlers before the state change: webrtcbin calls them from its own threads. */
    gpointer ud = DESKTOP_UD(p->viewer);
    g_signal_connect_data(p->webrtc, "on-ice-candidate", (GCallback)desktop_on_candidate, ud, NULL,
                          0);
    g_signal_connect_data(p->webrtc, "notify::connection-state", (GCallback)desktop_on_state, ud,
                          NULL, 0);
    GObject *ice = NULL;
    g_object_get(p->webrtc, "ice-agent", &ice, NULL);
    if (ice) {
        g_object_set(ice, "min-rtp-port", (guint)ds.cfg.port_min, "max-rtp-port",
                     (guint)ds.cfg.port_max, "ice-tcp", FALSE, NULL);
        g_object_unref(ice);
    }
    gst_element_set_state(p->bin, GST_STATE_READY);
    GObject *tr = NULL;
    g_signal_emit_by_name(p->webrtc, "get-transceiver", 0, &tr);
    if (tr) {
        gst_util_set_object_arg(tr, "direction", "sendonly");
        g_object_unref(tr);
    }
    g_signal_emit_by_name(p->webrtc, "create-data-channel", "data", NULL, &p->dc);
    if (!p->dc) {
        snprintf(err, cap, "webrtcbin did not create the data channel");
        return false;
    }
    g_signal_connect_data(p->dc, "on-message-data", (GCallback)desktop_on_dc_data, ud, NULL, 0);
    return true;
}

/* The viewer's branch, in the pipeline and set up (READY), with the tee's pad it will take;
 * not linked yet (desktop_peer_link). */
static bool desktop_peer_build(desktop_peer *p, char *err, size_t cap) {
    const desktop_codec *c = desktop_codec_find(ds.cfg.codec);
    char *desc = base_xasprintf("queue leaky=downstream max-size-buffers=60 max-size-bytes=0 "
                                "max-size-time=0 ! %s ! %s ! webrtcbin name=w "
                                "bundle-policy=max-bundle",
                                c->payloader, c->rtp_caps);
    GError *gerr = NULL;
    p->bin = gst_parse_bin_from_description(desc, TRUE, &gerr);
    free(desc);
    if (!p->bin || gerr) {
        snprintf(err, cap, "cannot build the viewer's branch: %s",
                 gerr ? gerr->message : "unknown error");
        if (gerr)
            g_error_free(gerr);
        if (p->bin)
            gst_object_unref(p->bin);
        p->bin = NULL;
        return false;
    }
    gst_bin_add((GstBin *)ds.pipe, p->bin);
    p->webrtc = gst_bin_get_by_name((GstBin *)p->bin, "w");
    p->teepad = gst_element_request_pad_simple(ds.tee, "src_%u");
    if (!p->webrtc || !p->teepad) {
        snprintf(err, cap, "cannot build the viewer's branch: no webrtcbin or tee pad");
        return false;
    }
    return desktop_peer_setup(p, err, cap);
}

/* Link the tee to the branch. On a running pipeline the branch must be playing first: a
 * frame pushed into a pad that is still READY (flushing) makes the tee return FLUSHING, and
 * the encoder's queue and the capture then pause for good, for every viewer (a CI hang when
 * a second viewer joined under load). */
static bool desktop_peer_link(desktop_peer *p, char *err, size_t cap) {
    GstPad *sink = gst_element_get_static_pad(p->bin, "sink");
    bool linked = sink && gst_pad_link(p->teepad, sink) == GST_PAD_LINK_OK;
    if (sink)
        gst_object_unref(sink);
    if (!linked)
        snprintf(err, cap, "cannot link the viewer's branch to the encoder");
    return linked;
}

static void desktop_peer_negotiate(unsigned viewer);

static void desktop_peer_add(unsigned viewer) {
    char err[512] = "";
    if (desktop_peer_find(viewer))
        desktop_peer_remove(viewer);
    bool fresh = !ds.pipe;
    if (fresh && !desktop_pipe_build(err, sizeof err)) {
        desktop_sev_post(DESKTOP_SEV_PEER_ERROR, viewer, 0, err, NULL);
        return;
    }
    desktop_peer *p = base_xcalloc(1, sizeof *p);
    p->viewer = viewer;
    p->next = ds.peers;
    ds.peers = p;
    atomic_store(&ds.branches, atomic_load(&ds.branches) + 1);
    if (!desktop_peer_build(p, err, sizeof err)) {
        desktop_peer_fail(viewer, err);
        return;
    }
    bool started;
    if (fresh) { /* nothing flows yet: link, then start everything */
        if (!desktop_peer_link(p, err, sizeof err)) {
            desktop_peer_fail(viewer, err);
            return;
        }
        started = gst_element_set_state(ds.pipe, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;
    } else { /* frames flow: start the branch, then link it */
        started = gst_element_sync_state_with_parent(p->bin);
        if (started && !desktop_peer_link(p, err, sizeof err)) {
            desktop_peer_fail(viewer, err);
            return;
        }
    }
    if (!started) {
        desktop_peer_fail(viewer, "the stream pipeline did not start (see the server log)");
        return;
    }
    /* Asked for here, not on webrtcbin's on-negotiation-needed: webrtcbin 1.22 does not emit
     * it for a branch that stayed in READY a while before playing. */
    desktop_peer_negotiate(viewer);
}

/* ---- offer, answer, candidates ------------------------------------------------------------- */

static void desktop_peer_negotiate(unsigned viewer) {
    desktop_peer *p = desktop_peer_find(viewer);
    if (!p)
        return;
    GstPromise *promise =
        gst_promise_new_with_change_func(desktop_on_offer, DESKTOP_UD(viewer), NULL);
    g_signal_emit_by_name(p->webrtc, "create-offer", NULL, promise);
}

static void desktop_peer_offer(unsigned viewer, GstPromise *promise) {
    desktop_peer *p = desktop_peer_find(viewer);
    if (!p)
        return;
    const GstStructure *reply = gst_promise_get_reply(promise);
    const GValue *v = reply ? gst_structure_get_value(reply, "offer") : NULL;
    desktop_webrtc_desc *desc = v ? g_value_get_boxed(v) : NULL;
    if (!desc || !desc->sdp) {
        desktop_peer_fail(viewer, "webrtcbin could not create an offer");
        return;
    }
    /* The offer goes out before gathering starts, so candidates follow it on the socket. */
    gchar *sdp = gst_sdp_message_as_text(desc->sdp);
    desktop_sev_post(DESKTOP_SEV_OFFER, viewer, 0, sdp, NULL);
    g_free(sdp);
    g_signal_emit_by_name(p->webrtc, "set-local-description", desc, NULL);
}

static void desktop_peer_answer(unsigned viewer, const char *text) {
    desktop_peer *p = desktop_peer_find(viewer);
    if (!p)
        return;
    GstSDPMessage *msg = NULL;
    if (gst_sdp_message_new_from_text(text, &msg) != GST_SDP_OK || !msg) {
        if (msg)
            gst_sdp_message_free(msg);
        desktop_peer_fail(viewer, "the answer is not a valid SDP");
        return;
    }
    desktop_webrtc_desc *desc = gst_webrtc_session_description_new(DESKTOP_SDP_ANSWER, msg);
    g_signal_emit_by_name(p->webrtc, "set-remote-description", desc, NULL);
    gst_webrtc_session_description_free(desc);
}

static void desktop_peer_candidate(unsigned viewer, int mline, const char *candidate) {
    desktop_peer *p = desktop_peer_find(viewer);
    if (p && candidate && *candidate)
        g_signal_emit_by_name(p->webrtc, "add-ice-candidate", (guint)mline, candidate);
}

static void desktop_keyframe(void) {
    if (!ds.enc)
        return;
    GstStructure *s =
        gst_structure_new("GstForceKeyUnit", "all-headers", G_TYPE_BOOLEAN, TRUE, NULL);
    GstEvent *ev = gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, s);
    GstPad *pad = gst_element_get_static_pad(ds.enc, "src");
    if (pad) {
        gst_pad_send_event(pad, ev);
        gst_object_unref(pad);
    } else {
        gst_mini_object_unref((GstMiniObject *)ev);
    }
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void desktop_scmd_run(desktop_scmd *c) {
    switch (c->type) {
    case DESKTOP_SCMD_ADD:
        desktop_peer_add(c->viewer);
        break;
    case DESKTOP_SCMD_REMOVE:
        desktop_peer_remove(c->viewer);
        break;
    case DESKTOP_SCMD_ANSWER:
        desktop_peer_answer(c->viewer, c->text);
        break;
    case DESKTOP_SCMD_CANDIDATE:
        desktop_peer_candidate(c->viewer, c->mline, c->text);
        break;
    case DESKTOP_SCMD_OFFER:
        desktop_peer_offer(c->viewer, c->promise);
        break;
    case DESKTOP_SCMD_KEYFRAME:
        /* A viewer just connected: a key frame now, and two more over the next seconds in
         * case the first left before its SRTP keys were in place (the browser shows nothing
         * until one arrives). */
        desktop_keyframe();
        ds.keyframes_due = 2;
        break;
    }
}

/* Is obj inside el (or el itself)? */
static bool desktop_object_within(GstObject *obj, GstElement *el) {
    for (GstObject *o = obj; o; o = GST_OBJECT_PARENT(o))
        if (o == (GstObject *)el)
            return true;
    return false;
}

/* Errors from the bus: a branch's error drops that viewer; any other ends every viewer's
 * stream (the capture or the encoder failed: the X server went away, say). Every other
 * message is dropped here: a queued message keeps its source alive. */
static void desktop_bus_poll(void) {
    if (!ds.pipe)
        return;
    GstBus *bus = gst_element_get_bus(ds.pipe);
    GstMessage *m;
    while (ds.pipe && (m = gst_bus_timed_pop_filtered(bus, 0, GST_MESSAGE_ANY))) {
        if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR) {
            gst_mini_object_unref((GstMiniObject *)m);
            continue;
        }
        GError *gerr = NULL;
        gchar *dbg = NULL;
        gst_message_parse_error(m, &gerr, &dbg);
        char why[512];
        snprintf(why, sizeof why, "%s", gerr ? gerr->message : "stream error");
        LOG_WARN("desktop stream error", "reason=\"%s\" debug=\"%s\"", why, dbg ? dbg : "");
        desktop_peer *owner = NULL;
        for (desktop_peer *p = ds.peers; p && !owner; p = p->next)
            if (desktop_object_within(GST_MESSAGE_SRC(m), p->bin))
                owner = p;
        if (owner) {
            desktop_peer_fail(owner->viewer, why);
        } else {
            while (ds.peers)
                desktop_peer_fail(ds.peers->viewer, why);
        }
        if (gerr)
            g_error_free(gerr);
        g_free(dbg);
        gst_mini_object_unref((GstMiniObject *)m);
    }
    gst_object_unref(bus);
}

static double desktop_ts_diff(const struct timespec *a, const struct timespec *b) {
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/* Once a second while the pipeline runs: the CPU figure, and the frame-rate adaptation. */
static void desktop_tick(void) {
    if (!ds.pipe)
        return;
    struct timespec wall, cpu;
    clock_gettime(CLOCK_MONOTONIC, &wall);
    double dt = desktop_ts_diff(&wall, &ds.tick_wall);
    if (dt < 1.0)
        return;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    double used = desktop_ts_diff(&cpu, &ds.tick_cpu);
    atomic_store(&ds.cpu_report_permille, (unsigned)(used / dt * 1000.0));
    ds.tick_wall = wall;
    ds.tick_cpu = cpu;
    if (ds.keyframes_due) {
        ds.keyframes_due--;
        desktop_keyframe();
    }
    uint64_t in = atomic_load(&ds.frames_in), out = atomic_load(&ds.frames_out);
    uint64_t din = in - ds.last_in, dout = out - ds.last_out;
    ds.last_in = in;
    ds.last_out = out;
    /* Frames past the gate and not out of the encoder are in flight (the queue's two and the
     * one being encoded) or were dropped by the leaky queue: the encoder fell behind. */
    uint64_t lag = in - out, lost = 0;
    if (lag > ds.lost_total + DESKTOP_STREAM_IN_FLIGHT)
        lost = lag - ds.lost_total - DESKTOP_STREAM_IN_FLIGHT;
    ds.lost_total += lost;
    if (ds.ticks++ < 2) {
        /* The first seconds include the pipeline's start: not a measure of the load. */
    } else if (lost >= 2 && lost * 10 > din) {
        /* More than a tenth of the frames died in the encoder's queue: it cannot keep up. */
        unsigned next = ds.fps_now * 3 / 4;
        ds.fps_now = next < DESKTOP_STREAM_MIN_FPS ? DESKTOP_STREAM_MIN_FPS : next;
        ds.calm_secs = 0;
    } else if (ds.fps_now < ds.cfg.fps && ++ds.calm_secs >= 2) {
        /* Back up by a quarter (at least 2 fps) every 2 calm seconds: 15 to 30 in about 6 s. */
        unsigned step = ds.fps_now / 4 < 2 ? 2 : ds.fps_now / 4;
        ds.fps_now = ds.fps_now + step > ds.cfg.fps ? ds.cfg.fps : ds.fps_now + step;
        ds.calm_secs = 0;
    }
    LOG_DEBUG("desktop stream tick",
              "captured=%lu encoded=%lu lost=%lu fps=%u cpu_percent=%.1f branches=%u",
              (unsigned long)din, (unsigned long)dout, (unsigned long)lost, ds.fps_now,
              used / dt * 100.0, atomic_load(&ds.branches));
    atomic_store(&ds.fps_gate, ds.fps_now < ds.cfg.fps ? ds.fps_now : 0);
    atomic_store(&ds.fps_report, (unsigned)(dout / dt + 0.5));
}

static bool desktop_stream_load(char *err, size_t cap) {
    static bool inited;
    const char *why = NULL;
    if (!desktop_gst(&why)) {
        snprintf(err, cap, "GStreamer is not installed: %s", why);
        return false;
    }
    if (!inited) {
        /* The plugin scan would fork gst-plugin-scanner, whose exit our SIGCHLD reaper
         * would take: scan in-process instead (once; the registry is cached on disk). */
        gst_registry_fork_set_enabled(FALSE);
        GError *gerr = NULL;
        if (!gst_init_check(NULL, NULL, &gerr)) {
            snprintf(err, cap, "GStreamer did not initialise: %s",
                     gerr ? gerr->message : "unknown error");
            if (gerr)
                g_error_free(gerr);
            return false;
        }
        /* GStreamer's streaming threads come from GLib's shared pool, where an idle one
         * waits 15 s for work by default: let them go after 2 s once a stream stopped. */
        g_thread_pool_set_max_idle_time(2000);
        inited = true;
    }
    char missing[1024];
    desktop_stream_missing(missing, sizeof missing);
    if (missing[0]) {
        snprintf(err, cap, "GStreamer elements are missing: %s", missing);
        return false;
    }
    return true;
}

static void desktop_stream_main(void *arg) {
    char err[1200];
    if (!desktop_stream_load(err, sizeof err)) {
        desktop_sev_post(DESKTOP_SEV_FAILED, 0, 0, err, NULL);
        desktop_sev_post(DESKTOP_SEV_STOPPED, 0, 0, NULL, NULL);
        return;
    }
    desktop_sev_post(DESKTOP_SEV_READY, 0, 0, NULL, NULL);
    for (;;) {
        uv_mutex_lock(&ds.mu);
        if (!ds.cmds && !ds.stop)
            uv_cond_timedwait(&ds.cond, &ds.mu, 200 * 1000 * 1000ull);
        desktop_scmd *cmds = ds.cmds;
        ds.cmds = NULL;
        ds.cmds_tail = &ds.cmds;
        bool stop = ds.stop;
        uv_mutex_unlock(&ds.mu);
        while (cmds) {
            desktop_scmd *c = cmds;
            cmds = c->next;
            if (!stop)
                desktop_scmd_run(c);
            desktop_scmd_free(c);
        }
        if (stop)
            break;
        desktop_bus_poll();
        desktop_tick();
    }
    while (ds.peers)
        desktop_peer_remove(ds.peers->viewer);
    desktop_pipe_free();
    desktop_sev_post(DESKTOP_SEV_STOPPED, 0, 0, NULL, NULL);
}

/* ---- the loop side ------------------------------------------------------------------------- */

static void desktop_stream_async_cb(uv_async_t *a) {
    uv_mutex_lock(&ds.mu);
    desktop_sev *evs = ds.evs;
    ds.evs = NULL;
    ds.evs_tail = &ds.evs;
    uv_mutex_unlock(&ds.mu);
    while (evs) {
        desktop_sev *e = evs;
        evs = e->next;
        e->next = NULL;
        if (e->type == DESKTOP_SEV_STOPPED && ds.running) {
            uv_thread_join(&ds.thread);
            ds.running = false;
        }
        if (ds.on_event)
            ds.on_event(e, ds.ud);
        else
            desktop_sev_free(e);
    }
}

static void desktop_stream_init_once(uv_loop_t *loop) {
    if (ds.init)
        return;
    ds.init = true;
    uv_mutex_init(&ds.mu);
    uv_cond_init(&ds.cond);
    ds.cmds_tail = &ds.cmds;
    ds.evs_tail = &ds.evs;
    ds.loop = loop;
    uv_async_init(loop, &ds.async, desktop_stream_async_cb);
    uv_unref((uv_handle_t *)&ds.async);
}

void desktop_stream_start(uv_loop_t *loop, const desktop_stream_cfg *cfg,
                          void (*on_event)(desktop_sev *e, void *ud), void *ud) {
    desktop_stream_init_once(loop);
    BASE_ASSERT(!ds.running);
    ds.cfg = *cfg;
    ds.on_event = on_event;
    ds.ud = ud;
    uv_mutex_lock(&ds.mu);
    ds.stop = false;
    uv_mutex_unlock(&ds.mu);
    atomic_store(&ds.branches, 0);
    atomic_store(&ds.cpu_report_permille, 0);
    atomic_store(&ds.fps_report, 0);
    ds.running = true;
    if (uv_thread_create(&ds.thread, desktop_stream_main, NULL) != 0) {
        ds.running = false;
        desktop_sev_post(DESKTOP_SEV_FAILED, 0, 0, "cannot create the stream thread", NULL);
    }
}

bool desktop_stream_running(void) {
    return ds.running;
}

void desktop_stream_add_viewer(unsigned viewer) {
    desktop_scmd_post(DESKTOP_SCMD_ADD, viewer, 0, NULL, NULL);
}

void desktop_stream_remove_viewer(unsigned viewer) {
    desktop_scmd_post(DESKTOP_SCMD_REMOVE, viewer, 0, NULL, NULL);
}

void desktop_stream_answer(unsigned viewer, const char *sdp) {
    desktop_scmd_post(DESKTOP_SCMD_ANSWER, viewer, 0, sdp, NULL);
}

void desktop_stream_candidate(unsigned viewer, int mline, const char *candidate) {
    desktop_scmd_post(DESKTOP_SCMD_CANDIDATE, viewer, mline, candidate, NULL);
}

void desktop_stream_keyframe(void) {
    desktop_scmd_post(DESKTOP_SCMD_KEYFRAME, 0, 0, NULL, NULL);
}

void desktop_stream_stop(void) {
    if (!ds.init)
        return;
    uv_mutex_lock(&ds.mu);
    ds.stop = true;
    uv_cond_signal(&ds.cond);
    uv_mutex_unlock(&ds.mu);
}

void desktop_stream_numbers(unsigned *fps, double *cpu, unsigned *branches) {
    *fps = atomic_load(&ds.fps_report);
    *cpu = atomic_load(&ds.cpu_report_permille) / 10.0;
    *branches = atomic_load(&ds.branches);
}

void desktop_stream_shutdown(void) {
    if (!ds.init)
        return;
    if (ds.running) {
        desktop_stream_stop();
        uv_thread_join(&ds.thread);
        ds.running = false;
    }
    ds.on_event = NULL;
    desktop_stream_async_cb(&ds.async); /* free what is queued */
    if (!uv_is_closing((uv_handle_t *)&ds.async))
        uv_close((uv_handle_t *)&ds.async, NULL);
}
