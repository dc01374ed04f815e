/* neko.c - neko's binary input format, as the SDK's DesktopStreamSession sends it on the
 * WebRTC data channel: one event per message, big-endian, a 3-byte header (u8 opcode, u16
 * payload length) and a fixed payload per opcode. Pure: no X, no GStreamer, any thread (the
 * data channel's messages are decoded on the SCTP thread that receives them). */
#include "desktop/internal.h"

static uint16_t desktop_be16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t desktop_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int desktop_neko_decode(const uint8_t *p, size_t n, desktop_neko_event *ev) {
    if (n < 3)
        return -1;
    uint8_t op = p[0];
    size_t len = desktop_be16(p + 1);
    if (n != 3 + len)
        return -1;
    const uint8_t *d = p + 3;
    ev->op = op;
    ev->shift_held = false;
    ev->a = ev->b = 0;
    switch (op) {
    case DESKTOP_NEKO_MOVE:
        if (len != 4)
            return -1;
        ev->a = desktop_be16(d);
        ev->b = desktop_be16(d + 2);
        return 1;
    case DESKTOP_NEKO_SCROLL:
        /* neko's control byte (always 0 from the SDK) is optional for older senders. */
        if (len != 4 && len != 5)
            return -1;
        ev->a = (int16_t)desktop_be16(d);
        ev->b = (int16_t)desktop_be16(d + 2);
        return 1;
    case DESKTOP_NEKO_KEYDOWN:
    case DESKTOP_NEKO_KEYUP:
    case DESKTOP_NEKO_BTNDOWN:
    case DESKTOP_NEKO_BTNUP:
        if (len != 4)
            return -1;
        ev->a = (int32_t)desktop_be32(d);
        return 1;
    default:
        return 0;
    }
}

int desktop_neko_scroll_clicks(int32_t delta) {
    int64_t m = delta < 0 ? -(int64_t)delta : delta;
    if (m == 0)
        return 0;
    /* Wheel deltas are ~100 (or ~53 in some browsers) per notch; code sends 1, 2, 3. */
    int64_t clicks = m >= 40 ? (m + 50) / 100 : m;
    if (clicks < 1)
        clicks = 1;
    return clicks > 10 ? 10 : (int)clicks;
}
