/* gstload.h - GLib, GStreamer, its SDP library and libgstwebrtc, bound lazily for the desktop
 * stream (stream.c).
 *
 * Only a started stream needs GStreamer, so the server neither links it nor needs it
 * installed: the libraries are opened with dlopen on first use (as xload.h does for X) and a
 * machine without them answers stream/start with an error that names the packages. Call
 * sites use the usual names; the macros at the end route them through the table.
 *
 * Headers: gstreamer-1.0 and gstreamer-sdp-1.0 only. libgstwebrtc's two entry points are
 * declared by hand below, because its headers live in libgstreamer-plugins-bad1.0-dev, which
 * pulls in hundreds of megabytes (OpenCV, GDAL, VTK). Everything else of webrtcbin is reached
 * through GObject signals and properties by name, so no webrtc GType is needed.
 *
 * The headers' inline helpers call into the libraries directly, so they are turned into plain
 * declarations (GST_DISABLE_MINIOBJECT_INLINE_FUNCTIONS), casts are unchecked
 * (G_DISABLE_CAST_CHECKS), and callers unref mini objects with gst_mini_object_unref. `nm -u
 * build/sandbox-agent | grep -E ' (g|gst)_'` must stay empty. Include only from stream.c. */
#ifndef DESKTOP_GSTLOAD_H
#define DESKTOP_GSTLOAD_H

#define G_DISABLE_CAST_CHECKS 1
#define GST_DISABLE_MINIOBJECT_INLINE_FUNCTIONS 1
#include <gst/gst.h>
#include <gst/sdp/sdp.h>

/* GstWebRTCSessionDescription and its two functions, as in GStreamer 1.22's
 * gst/webrtc/rtcsessiondescription.h (the type enum is GstWebRTCSDPType). */
typedef struct desktop_webrtc_desc {
    int type; /* DESKTOP_SDP_* */
    GstSDPMessage *sdp;
} desktop_webrtc_desc;
enum { DESKTOP_SDP_OFFER = 1, DESKTOP_SDP_PRANSWER = 2, DESKTOP_SDP_ANSWER = 3 };
/* Takes ownership of sdp. */
desktop_webrtc_desc *gst_webrtc_session_description_new(int type, GstSDPMessage *sdp);
void gst_webrtc_session_description_free(desktop_webrtc_desc *desc);

#define DESKTOP_GLIB_FUNCS(X)                                                                      \
    X(g_free)                                                                                      \
    X(g_error_free)                                                                                \
    X(g_bytes_get_data)

#define DESKTOP_GOBJ_FUNCS(X)                                                                      \
    X(g_object_set)                                                                                \
    X(g_object_get)                                                                                \
    X(g_object_unref)                                                                              \
    X(g_signal_emit_by_name)                                                                       \
    X(g_signal_connect_data)                                                                       \
    X(g_value_get_boxed)

#define DESKTOP_GST_FUNCS(X)                                                                       \
    X(gst_init_check)                                                                              \
    X(gst_registry_fork_set_enabled)                                                               \
    X(gst_parse_launch)                                                                            \
    X(gst_parse_bin_from_description)                                                              \
    X(gst_bin_add)                                                                                 \
    X(gst_bin_remove)                                                                              \
    X(gst_bin_get_by_name)                                                                         \
    X(gst_element_request_pad_simple)                                                              \
    X(gst_element_release_request_pad)                                                             \
    X(gst_element_get_static_pad)                                                                  \
    X(gst_element_set_state)                                                                       \
    X(gst_element_sync_state_with_parent)                                                          \
    X(gst_element_get_bus)                                                                         \
    X(gst_element_factory_find)                                                                    \
    X(gst_pad_link)                                                                                \
    X(gst_pad_unlink)                                                                              \
    X(gst_pad_add_probe)                                                                           \
    X(gst_pad_send_event)                                                                          \
    X(gst_bus_timed_pop_filtered)                                                                  \
    X(gst_bus_set_flushing)                                                                        \
    X(gst_message_parse_error)                                                                     \
    X(gst_object_unref)                                                                            \
    X(gst_mini_object_unref)                                                                       \
    X(gst_promise_new_with_change_func)                                                            \
    X(gst_promise_get_reply)                                                                       \
    X(gst_structure_get_value)                                                                     \
    X(gst_structure_has_field)                                                                     \
    X(gst_structure_new)                                                                           \
    X(gst_event_new_custom)                                                                        \
    X(gst_util_set_object_arg)

#define DESKTOP_SDP_FUNCS(X)                                                                       \
    X(gst_sdp_message_new_from_text)                                                               \
    X(gst_sdp_message_as_text)                                                                     \
    X(gst_sdp_message_free)

#define DESKTOP_WEBRTC_FUNCS(X)                                                                    \
    X(gst_webrtc_session_description_new)                                                          \
    X(gst_webrtc_session_description_free)

/* The table of entry points. Owner: gstload.c, for the process lifetime (the libraries are
 * never closed: GTypes cannot be unregistered). */
typedef struct desktop_gst_api {
#define X(f) __typeof__(f) *f;
    DESKTOP_GLIB_FUNCS(X)
    DESKTOP_GOBJ_FUNCS(X)
    DESKTOP_GST_FUNCS(X)
    DESKTOP_SDP_FUNCS(X)
    DESKTOP_WEBRTC_FUNCS(X)
#undef X
} desktop_gst_api;

/* Loads the libraries on the first call (any thread; once). NULL when one cannot be loaded;
 * then *why (static storage) names the library and the Debian package that provides it. */
const desktop_gst_api *desktop_gst(const char **why);
extern desktop_gst_api desktop_gst_tbl;

#ifndef DESKTOP_GSTLOAD_IMPL
#define DESKTOP_GF(f) (*desktop_gst_tbl.f)
#undef g_free
#define g_free DESKTOP_GF(g_free)
#undef g_error_free
#define g_error_free DESKTOP_GF(g_error_free)
#undef g_bytes_get_data
#define g_bytes_get_data DESKTOP_GF(g_bytes_get_data)
#undef g_object_set
#define g_object_set DESKTOP_GF(g_object_set)
#undef g_object_get
#define g_object_get DESKTOP_GF(g_object_get)
#undef g_object_unref
#define g_object_unref DESKTOP_GF(g_object_unref)
#undef g_signal_emit_by_name
#define g_signal_emit_by_name DESKTOP_GF(g_signal_emit_by_name)
#undef g_signal_connect_data
#define g_signal_connect_data DESKTOP_GF(g_signal_connect_data)
#undef g_value_get_boxed
#define g_value_get_boxed DESKTOP_GF(g_value_get_boxed)
#undef gst_init_check
#define gst_init_check DESKTOP_GF(gst_init_check)
#undef gst_registry_fork_set_enabled
#define gst_registry_fork_set_enabled DESKTOP_GF(gst_registry_fork_set_enabled)
#undef gst_parse_launch
#define gst_parse_launch DESKTOP_GF(gst_parse_launch)
#undef gst_parse_bin_from_description
#define gst_parse_bin_from_description DESKTOP_GF(gst_parse_bin_from_description)
#undef gst_bin_add
#define gst_bin_add DESKTOP_GF(gst_bin_add)
#undef gst_bin_remove
#define gst_bin_remove DESKTOP_GF(gst_bin_remove)
#undef gst_bin_get_by_name
#define gst_bin_get_by_name DESKTOP_GF(gst_bin_get_by_name)
#undef gst_element_request_pad_simple
#define gst_element_request_pad_simple DESKTOP_GF(gst_element_request_pad_simple)
#undef gst_element_release_request_pad
#define gst_element_release_request_pad DESKTOP_GF(gst_element_release_request_pad)
#undef gst_element_get_static_pad
#define gst_element_get_static_pad DESKTOP_GF(gst_element_get_static_pad)
#undef gst_element_set_state
#define gst_element_set_state DESKTOP_GF(gst_element_set_state)
#undef gst_element_sync_state_with_parent
#define gst_element_sync_state_with_parent DESKTOP_GF(gst_element_sync_state_with_parent)
#undef gst_element_get_bus
#define gst_element_get_bus DESKTOP_GF(gst_element_get_bus)
#undef gst_element_factory_find
#define gst_element_factory_find DESKTOP_GF(gst_element_factory_find)
#undef gst_pad_link
#define gst_pad_link DESKTOP_GF(gst_pad_link)
#undef gst_pad_unlink
#define gst_pad_unlink DESKTOP_GF(gst_pad_unlink)
#undef gst_pad_add_probe
#define gst_pad_add_probe DESKTOP_GF(gst_pad_add_probe)
#undef gst_pad_send_event
#define gst_pad_send_event DESKTOP_GF(gst_pad_send_event)
#undef gst_bus_timed_pop_filtered
#define gst_bus_timed_pop_filtered DESKTOP_GF(gst_bus_timed_pop_filtered)
#undef gst_bus_set_flushing
#define gst_bus_set_flushing DESKTOP_GF(gst_bus_set_flushing)
#undef gst_message_parse_error
#define gst_message_parse_error DESKTOP_GF(gst_message_parse_error)
#undef gst_object_unref
#define gst_object_unref DESKTOP_GF(gst_object_unref)
#undef gst_mini_object_unref
#define gst_mini_object_unref DESKTOP_GF(gst_mini_object_unref)
#undef gst_promise_new_with_change_func
#define gst_promise_new_with_change_func DESKTOP_GF(gst_promise_new_with_change_func)
#undef gst_promise_get_reply
#define gst_promise_get_reply DESKTOP_GF(gst_promise_get_reply)
#undef gst_structure_get_value
#define gst_structure_get_value DESKTOP_GF(gst_structure_get_value)
#undef gst_structure_has_field
#define gst_structure_has_field DESKTOP_GF(gst_structure_has_field)
#undef gst_structure_new
#define gst_structure_new DESKTOP_GF(gst_structure_new)
#undef gst_event_new_custom
#define gst_event_new_custom DESKTOP_GF(gst_event_new_custom)
#undef gst_util_set_object_arg
#define gst_util_set_object_arg DESKTOP_GF(gst_util_set_object_arg)
#undef gst_sdp_message_new_from_text
#define gst_sdp_message_new_from_text DESKTOP_GF(gst_sdp_message_new_from_text)
#undef gst_sdp_message_as_text
#define gst_sdp_message_as_text DESKTOP_GF(gst_sdp_message_as_text)
#undef gst_sdp_message_free
#define gst_sdp_message_free DESKTOP_GF(gst_sdp_message_free)
#undef gst_webrtc_session_description_new
#define gst_webrtc_session_description_new DESKTOP_GF(gst_webrtc_session_description_new)
#undef gst_webrtc_session_description_free
#define gst_webrtc_session_description_free DESKTOP_GF(gst_webrtc_session_description_free)
#endif

#endif
