/* test_desktop_neko.c - neko's binary input messages as the SDK's DesktopStreamSession builds
 * them (src/desktop/neko.c): every opcode with big-endian fields, signed scroll deltas, the
 * length checks (short, long, a length that does not match its opcode), unknown opcodes
 * skipped, and the wheel-click count for pixel and line deltas. */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "desktop/internal.h"
#include "unit.h"

static int decode(const uint8_t *p, size_t n, desktop_neko_event *ev) {
    memset(ev, 0x5a, sizeof *ev);
    return desktop_neko_decode(p, n, ev);
}

static void test_opcodes(void) {
    desktop_neko_event ev;
    /* What the SDK's moveMouse(300, 200) sends (observed in the feasibility probe). */
    const uint8_t move[] = {0x01, 0x00, 0x04, 0x01, 0x2c, 0x00, 0xc8};
    CHECK(decode(move, sizeof move, &ev) == 1);
    CHECK(ev.op == DESKTOP_NEKO_MOVE && ev.a == 300 && ev.b == 200 && !ev.shift_held);
    const uint8_t big[] = {0x01, 0x00, 0x04, 0xff, 0xff, 0x80, 0x00};
    CHECK(decode(big, sizeof big, &ev) == 1 && ev.a == 65535 && ev.b == 32768);
    /* scroll(x, y, -120, 3): i16 deltas and the control byte. */
    const uint8_t scroll[] = {0x02, 0x00, 0x05, 0xff, 0x88, 0x00, 0x03, 0x00};
    CHECK(decode(scroll, sizeof scroll, &ev) == 1);
    CHECK(ev.op == DESKTOP_NEKO_SCROLL && ev.a == -120 && ev.b == 3);
    const uint8_t scroll4[] = {0x02, 0x00, 0x04, 0x00, 0x00, 0xff, 0xff};
    CHECK(decode(scroll4, sizeof scroll4, &ev) == 1 && ev.a == 0 && ev.b == -1);
    /* keyDown("Enter") = 0xff0d; keyUp of a Unicode keysym 0x10000e9 (é). */
    const uint8_t kd[] = {0x03, 0x00, 0x04, 0x00, 0x00, 0xff, 0x0d};
    CHECK(decode(kd, sizeof kd, &ev) == 1 && ev.op == DESKTOP_NEKO_KEYDOWN && ev.a == 0xff0d);
    const uint8_t ku[] = {0x04, 0x00, 0x04, 0x01, 0x00, 0x00, 0xe9};
    CHECK(decode(ku, sizeof ku, &ev) == 1 && ev.op == DESKTOP_NEKO_KEYUP && ev.a == 0x10000e9);
    const uint8_t bd[] = {0x05, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03};
    CHECK(decode(bd, sizeof bd, &ev) == 1 && ev.op == DESKTOP_NEKO_BTNDOWN && ev.a == 3);
    const uint8_t bu[] = {0x06, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01};
    CHECK(decode(bu, sizeof bu, &ev) == 1 && ev.op == DESKTOP_NEKO_BTNUP && ev.a == 1);
}

static void test_malformed(void) {
    desktop_neko_event ev;
    CHECK(decode(NULL, 0, &ev) == -1);
    const uint8_t hdr_only[] = {0x01, 0x00};
    CHECK(decode(hdr_only, sizeof hdr_only, &ev) == -1);
    /* The length says 4, three bytes follow; five bytes follow. */
    const uint8_t short_move[] = {0x01, 0x00, 0x04, 0x01, 0x2c, 0x00};
    CHECK(decode(short_move, sizeof short_move, &ev) == -1);
    const uint8_t long_move[] = {0x01, 0x00, 0x04, 0x01, 0x2c, 0x00, 0xc8, 0x00};
    CHECK(decode(long_move, sizeof long_move, &ev) == -1);
    /* A length that matches the bytes but not the opcode. */
    const uint8_t move3[] = {0x01, 0x00, 0x03, 0x01, 0x2c, 0x00};
    CHECK(decode(move3, sizeof move3, &ev) == -1);
    const uint8_t key2[] = {0x03, 0x00, 0x02, 0xff, 0x0d};
    CHECK(decode(key2, sizeof key2, &ev) == -1);
    const uint8_t scroll6[] = {0x02, 0x00, 0x06, 0, 0, 0, 1, 0, 0};
    CHECK(decode(scroll6, sizeof scroll6, &ev) == -1);
    /* Unknown opcodes with a consistent length are skipped, not errors. */
    const uint8_t unknown[] = {0x09, 0x00, 0x02, 0xaa, 0xbb};
    CHECK(decode(unknown, sizeof unknown, &ev) == 0);
    const uint8_t zero[] = {0x00, 0x00, 0x00};
    CHECK(decode(zero, sizeof zero, &ev) == 0);
}

static void test_scroll_clicks(void) {
    CHECK(desktop_neko_scroll_clicks(0) == 0);
    CHECK(desktop_neko_scroll_clicks(1) == 1);
    CHECK(desktop_neko_scroll_clicks(-3) == 3);
    CHECK(desktop_neko_scroll_clicks(39) == 10); /* small integers are lines, capped */
    CHECK(desktop_neko_scroll_clicks(53) == 1);  /* a notch in some browsers */
    CHECK(desktop_neko_scroll_clicks(100) == 1); /* a notch */
    CHECK(desktop_neko_scroll_clicks(-120) == 1);
    CHECK(desktop_neko_scroll_clicks(250) == 3);
    CHECK(desktop_neko_scroll_clicks(32767) == 10); /* capped per message */
    CHECK(desktop_neko_scroll_clicks(INT32_MIN) == 10);
}

int main(void) {
    test_opcodes();
    test_malformed();
    test_scroll_clicks();
    printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}
