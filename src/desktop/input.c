/* input.c - the mouse and the keyboard, through XTest on the X thread.
 *
 * Key names are X keysym names, as xdotool takes them ("Return", "ctrl", "F5", "a"), with
 * xdotool's aliases and a few lowercase spellings; a single character names itself ("ü").
 *
 * Typing any character: a keysym the keymap has is pressed on its keycode, with Shift for
 * the second level. One it lacks (é, €, 日 on a US keymap) is given a spare keycode (one
 * with no keysyms) with XChangeKeyboardMapping. xdotool remaps one scratch keycode per
 * character and restores it at once, which races with clients that read the mapping after
 * the event arrives; here a mapping stays until its keycode is needed for another keysym
 * (least recently used first), so a key event is never read under a different mapping. */
#include "desktop/internal.h"
#include "desktop/xload.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The keyboard as this connection knows it. Owner: the X thread; cleared by
 * desktop_input_reset when the connection closes. */
static struct {
    bool loaded;
    int min_kc, max_kc;
    KeySym *map; /* (max_kc - min_kc + 1) * per rows, from XGetKeyboardMapping */
    int per;
    struct {
        KeyCode kc;
        KeySym sym; /* NoSymbol while unassigned */
        uint64_t used;
    } spare[128];
    size_t nspare;
    uint64_t clock;
} desktop_kb;

void desktop_input_reset(void) {
    if (desktop_kb.map)
        XFree(desktop_kb.map);
    memset(&desktop_kb, 0, sizeof desktop_kb);
}

static void desktop_kb_load(desktop_xconn *xc) {
    if (desktop_kb.loaded)
        return;
    Display *dpy = desktop_xc_display(xc);
    XDisplayKeycodes(dpy, &desktop_kb.min_kc, &desktop_kb.max_kc);
    int n = desktop_kb.max_kc - desktop_kb.min_kc + 1;
    desktop_kb.map = XGetKeyboardMapping(dpy, (KeyCode)desktop_kb.min_kc, n, &desktop_kb.per);
    desktop_kb.loaded = desktop_kb.map != NULL;
    if (!desktop_kb.loaded)
        return;
    /* Spare keycodes: no keysym on any level. Taken from the top, away from real keys. */
    for (int kc = desktop_kb.max_kc; kc >= desktop_kb.min_kc && desktop_kb.nspare < 128; kc--) {
        const KeySym *row = desktop_kb.map + (size_t)(kc - desktop_kb.min_kc) * desktop_kb.per;
        bool empty = true;
        for (int l = 0; l < desktop_kb.per; l++)
            empty = empty && row[l] == NoSymbol;
        if (empty)
            desktop_kb.spare[desktop_kb.nspare++].kc = (KeyCode)kc;
    }
}

/* Keycode and whether Shift is needed for sym, from the keymap; 0 when it is not there. */
static KeyCode desktop_kb_find(KeySym sym, bool *shift) {
    for (int kc = desktop_kb.min_kc; kc <= desktop_kb.max_kc; kc++) {
        const KeySym *row = desktop_kb.map + (size_t)(kc - desktop_kb.min_kc) * desktop_kb.per;
        for (int l = 0; l < desktop_kb.per && l < 2; l++) {
            if (row[l] == sym) {
                *shift = l == 1;
                return (KeyCode)kc;
            }
        }
    }
    return 0;
}

static void desktop_kb_settle(void) {
    /* Clients fetch the new mapping when they see MappingNotify; give them a moment before
     * the first event on a remapped keycode (only when a mapping changed). */
    struct timespec ts = {0, 15 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* A keycode for sym: the keymap's, an assigned spare, or a newly assigned spare. */
static KeyCode desktop_kb_keycode(desktop_xconn *xc, KeySym sym, bool *shift) {
    desktop_kb_load(xc);
    *shift = false;
    if (!desktop_kb.loaded)
        return 0;
    KeyCode kc = desktop_kb_find(sym, shift);
    if (kc)
        return kc;
    size_t pick = 0;
    for (size_t i = 0; i < desktop_kb.nspare; i++) {
        if (desktop_kb.spare[i].sym == sym) {
            desktop_kb.spare[i].used = ++desktop_kb.clock;
            return desktop_kb.spare[i].kc;
        }
        if (desktop_kb.spare[i].used < desktop_kb.spare[pick].used)
            pick = i;
    }
    if (!desktop_kb.nspare)
        return 0;
    /* Both levels carry the keysym, so a held Shift does not change what is typed. */
    KeySym syms[2] = {sym, sym};
    Display *dpy = desktop_xc_display(xc);
    XChangeKeyboardMapping(dpy, desktop_kb.spare[pick].kc, 2, syms, 1);
    XSync(dpy, False);
    desktop_kb.spare[pick].sym = sym;
    desktop_kb.spare[pick].used = ++desktop_kb.clock;
    desktop_kb_settle();
    return desktop_kb.spare[pick].kc;
}

/* ---- names -------------------------------------------------------------------------------- */

static const struct {
    const char *alias, *name;
} desktop_key_aliases[] = {
    {"ctrl", "Control_L"},  {"control", "Control_L"},
    {"shift", "Shift_L"},   {"alt", "Alt_L"},
    {"super", "Super_L"},   {"cmd", "Super_L"},
    {"command", "Super_L"}, {"win", "Super_L"},
    {"meta", "Meta_L"},     {"enter", "Return"},
    {"return", "Return"},   {"esc", "Escape"},
    {"escape", "Escape"},   {"backspace", "BackSpace"},
    {"tab", "Tab"},         {"space", "space"},
    {"delete", "Delete"},   {"del", "Delete"},
    {"insert", "Insert"},   {"home", "Home"},
    {"end", "End"},         {"pageup", "Prior"},
    {"page_up", "Prior"},   {"pagedown", "Next"},
    {"page_down", "Next"},  {"up", "Up"},
    {"down", "Down"},       {"left", "Left"},
    {"right", "Right"},     {"capslock", "Caps_Lock"},
    {"print", "Print"},     {"printscreen", "Print"},
    {"menu", "Menu"},
};

/* The keysym a UTF-8 character types, from its code point. */
static KeySym desktop_keysym_for_codepoint(uint32_t cp) {
    if (cp == '\n' || cp == '\r')
        return XK_Return;
    if (cp == '\t')
        return XK_Tab;
    if (cp == '\b')
        return XK_BackSpace;
    if (cp == 0x1b)
        return XK_Escape;
    if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff))
        return (KeySym)cp; /* Latin-1 keysyms are the code points */
    return (KeySym)(0x01000000u | cp);
}

/* Decode one UTF-8 character at *s (valid UTF-8 is checked by the caller); advance. */
static uint32_t desktop_utf8_next(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    uint32_t cp;
    int n;
    if (p[0] < 0x80) {
        cp = p[0];
        n = 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        cp = p[0] & 0x1f;
        n = 2;
    } else if ((p[0] & 0xf0) == 0xe0) {
        cp = p[0] & 0x0f;
        n = 3;
    } else {
        cp = p[0] & 0x07;
        n = 4;
    }
    for (int i = 1; i < n && p[i]; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    *s += n;
    return cp;
}

static KeySym desktop_keysym_by_name(const char *name) {
    for (size_t i = 0; i < sizeof desktop_key_aliases / sizeof desktop_key_aliases[0]; i++)
        if (!strcasecmp(name, desktop_key_aliases[i].alias))
            return XStringToKeysym(desktop_key_aliases[i].name);
    KeySym sym = XStringToKeysym(name);
    if (sym != NoSymbol)
        return sym;
    /* f1..f35 in any case */
    if ((name[0] == 'f' || name[0] == 'F') && isdigit((unsigned char)name[1])) {
        char up[8];
        snprintf(up, sizeof up, "F%s", name + 1);
        return XStringToKeysym(up);
    }
    /* One character names itself. */
    const char *s = name;
    uint32_t cp = desktop_utf8_next(&s);
    if (!*s && cp)
        return desktop_keysym_for_codepoint(cp);
    return NoSymbol;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void desktop_key_event(desktop_xconn *xc, KeyCode kc, bool down) {
    XTestFakeKeyEvent(desktop_xc_display(xc), kc, down ? True : False, CurrentTime);
}

static KeyCode desktop_shift_keycode(desktop_xconn *xc) {
    bool ignored;
    return desktop_kb_keycode(xc, XK_Shift_L, &ignored);
}

/* Press or release sym's keycode, with Shift around a second-level keysym's press unless
 * the caller holds Shift already. */
static bool desktop_key_sym(desktop_xconn *xc, KeySym sym, bool down, bool shift_held) {
    bool shift;
    KeyCode kc = desktop_kb_keycode(xc, sym, &shift);
    if (!kc)
        return false;
    /* A second-level keysym ("A", "!") needs Shift around its press, as xdotool does. */
    KeyCode sk = shift && !shift_held ? desktop_shift_keycode(xc) : 0;
    if (sk && down)
        desktop_key_event(xc, sk, true);
    desktop_key_event(xc, kc, down);
    if (sk && !down)
        desktop_key_event(xc, sk, false);
    XSync(desktop_xc_display(xc), False);
    return true;
}

bool desktop_input_key(desktop_xconn *xc, const char *name, bool down, char *err, size_t cap) {
    KeySym sym = desktop_keysym_by_name(name);
    if (sym == NoSymbol) {
        snprintf(err, cap, "unknown key name '%s'", name);
        return false;
    }
    if (!desktop_key_sym(xc, sym, down, false)) {
        snprintf(err, cap, "no keycode is free to type key '%s'", name);
        return false;
    }
    return true;
}

bool desktop_input_keysym(desktop_xconn *xc, unsigned long sym, bool down, bool shift_held) {
    return sym != NoSymbol && desktop_key_sym(xc, (KeySym)sym, down, shift_held);
}

bool desktop_input_type(desktop_xconn *xc, const char *text, unsigned delay_ms, char *err,
                        size_t cap) {
    Display *dpy = desktop_xc_display(xc);
    KeyCode sk = desktop_shift_keycode(xc);
    for (const char *s = text; *s;) {
        if (desktop_xthread_cancelled()) {
            snprintf(err, cap, "typing was interrupted: the desktop is stopping");
            return false;
        }
        uint32_t cp = desktop_utf8_next(&s);
        bool shift;
        KeyCode kc = desktop_kb_keycode(xc, desktop_keysym_for_codepoint(cp), &shift);
        if (!kc) {
            snprintf(err, cap, "no keycode is free to type U+%04X", cp);
            return false;
        }
        if (shift && sk)
            desktop_key_event(xc, sk, true);
        desktop_key_event(xc, kc, true);
        desktop_key_event(xc, kc, false);
        if (shift && sk)
            desktop_key_event(xc, sk, false);
        XSync(dpy, False);
        if (delay_ms) {
            struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return true;
}

/* ---- the pointer -------------------------------------------------------------------------- */

/* The client window (the one with WM_STATE) at or below w, or 0. */
static Window desktop_client_below(desktop_xconn *xc, Window w, int depth) {
    Display *dpy = desktop_xc_display(xc);
    Atom wm_state = desktop_xc_atom(xc, "WM_STATE");
    Atom type;
    int fmt;
    unsigned long n, after;
    unsigned char *data = NULL;
    if (XGetWindowProperty(dpy, w, wm_state, 0, 0, False, AnyPropertyType, &type, &fmt, &n, &after,
                           &data) == Success) {
        if (data)
            XFree(data);
        if (type != None)
            return w;
    }
    if (depth > 4)
        return 0;
    Window root, parent, *kids = NULL;
    unsigned nkids = 0;
    if (!XQueryTree(dpy, w, &root, &parent, &kids, &nkids))
        return 0;
    Window found = 0;
    for (unsigned i = nkids; i-- > 0 && !found;)
        found = desktop_client_below(xc, kids[i], depth + 1);
    if (kids)
        XFree(kids);
    return found;
}

void desktop_input_pointer(desktop_xconn *xc, int *x, int *y, unsigned long *window) {
    Display *dpy = desktop_xc_display(xc);
    Window root, child = 0;
    int wx, wy;
    unsigned mask;
    *x = *y = 0;
    *window = 0;
    desktop_xc_trap_begin(xc);
    XQueryPointer(dpy, desktop_xc_root(xc), &root, &child, x, y, &wx, &wy, &mask);
    if (child)
        *window = desktop_client_below(xc, child, 0);
    desktop_xc_trap_end(xc);
}

void desktop_input_move(desktop_xconn *xc, int x, int y) {
    Display *dpy = desktop_xc_display(xc);
    XTestFakeMotionEvent(dpy, -1, x, y, CurrentTime);
    XSync(dpy, False);
}

void desktop_input_button(desktop_xconn *xc, int button, bool down) {
    Display *dpy = desktop_xc_display(xc);
    XTestFakeButtonEvent(dpy, (unsigned)button, down ? True : False, CurrentTime);
    XSync(dpy, False);
}
