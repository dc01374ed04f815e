/* screen.c - screenshots: capture on the X thread, everything else on the thread pool.
 *
 * The X thread only copies pixels: one XShmGetImage of the root window into a shared-memory
 * image kept for the connection's life (about 0.2 ms for 1440x900, against tens of ms for a
 * plain XGetImage through the socket), then the requested rectangle is copied out, and the
 * cursor image fetched with XFixes when asked. Scaling, drawing the cursor and encoding run
 * on libuv's thread pool, so the X thread is free for the next click while a PNG is being
 * compressed, and the loop never waits for either. */
#include "desktop/internal.h"
#include "desktop/xload.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

/* The shared-memory image. Owner: the X thread; made on first capture, freed by
 * desktop_screen_reset when the connection closes. */
static struct {
    XImage *img;
    XShmSegmentInfo shm;
    bool attached;
    bool unavailable; /* MIT-SHM missing or refused: capture with XGetImage */
} desktop_shm;

void desktop_screen_reset(desktop_xconn *xc) {
    Display *dpy = desktop_xc_display(xc);
    if (desktop_shm.attached && dpy)
        XShmDetach(dpy, &desktop_shm.shm);
    if (desktop_shm.img) {
        desktop_shm.img->data = NULL; /* the segment is not Xlib's to free */
        XDestroyImage(desktop_shm.img);
    }
    if (desktop_shm.shm.shmaddr && desktop_shm.shm.shmaddr != (char *)-1)
        shmdt(desktop_shm.shm.shmaddr);
    memset(&desktop_shm, 0, sizeof desktop_shm);
}

static bool desktop_shm_setup(desktop_xconn *xc) {
    if (desktop_shm.img)
        return true;
    if (desktop_shm.unavailable)
        return false;
    Display *dpy = desktop_xc_display(xc);
    int w, h;
    desktop_xc_size(xc, &w, &h);
    if (!XShmQueryExtension(dpy))
        goto unavailable;
    int scr = DefaultScreen(dpy);
    XImage *img = XShmCreateImage(dpy, DefaultVisual(dpy, scr), (unsigned)DefaultDepth(dpy, scr),
                                  ZPixmap, NULL, &desktop_shm.shm, (unsigned)w, (unsigned)h);
    if (!img)
        goto unavailable;
    if (img->bits_per_pixel != 32) {
        XDestroyImage(img);
        goto unavailable;
    }
    desktop_shm.shm.shmid =
        shmget(IPC_PRIVATE, (size_t)img->bytes_per_line * (size_t)img->height, IPC_CREAT | 0600);
    if (desktop_shm.shm.shmid < 0) {
        XDestroyImage(img);
        goto unavailable;
    }
    desktop_shm.shm.shmaddr = img->data = shmat(desktop_shm.shm.shmid, NULL, 0);
    desktop_shm.shm.readOnly = False;
    desktop_shm.img = img;
    desktop_xc_trap_begin(xc);
    XShmAttach(dpy, &desktop_shm.shm);
    int err = desktop_xc_trap_end(xc);
    /* Marked for removal at once: the segment goes away with the last detach, even if the
     * server is killed before it could clean up. */
    shmctl(desktop_shm.shm.shmid, IPC_RMID, NULL);
    if (err || desktop_shm.shm.shmaddr == (char *)-1) {
        desktop_screen_reset(xc);
        goto unavailable;
    }
    desktop_shm.attached = true;
    return true;
unavailable:
    LOG_INFO("desktop capture without MIT-SHM", NULL);
    desktop_shm.unavailable = true;
    return false;
}

/* The rectangle (already inside the screen) as BGRX pixels, or NULL. */
static desktop_pixels *desktop_capture(desktop_xconn *xc, int x, int y, int w, int h) {
    Display *dpy = desktop_xc_display(xc);
    XImage *src;
    int sx = x, sy = y;
    XImage *own = NULL;
    if (desktop_shm_setup(xc)) {
        desktop_xc_trap_begin(xc);
        Bool ok = XShmGetImage(dpy, desktop_xc_root(xc), desktop_shm.img, 0, 0, AllPlanes);
        if (desktop_xc_trap_end(xc) || !ok)
            return NULL;
        src = desktop_shm.img;
    } else {
        desktop_xc_trap_begin(xc);
        own =
            XGetImage(dpy, desktop_xc_root(xc), x, y, (unsigned)w, (unsigned)h, AllPlanes, ZPixmap);
        if (desktop_xc_trap_end(xc) || !own)
            return NULL;
        if (own->bits_per_pixel != 32) {
            XDestroyImage(own);
            return NULL;
        }
        src = own;
        sx = sy = 0;
    }
    desktop_pixels *p = desktop_pixels_new(w, h);
    for (int row = 0; row < h; row++)
        memcpy(p->data + (size_t)row * p->stride,
               src->data + (size_t)(sy + row) * (size_t)src->bytes_per_line + (size_t)sx * 4,
               (size_t)w * 4);
    if (own)
        XDestroyImage(own);
    return p;
}

/* The pointer's image, placed relative to the captured rectangle. */
static bool desktop_capture_cursor(desktop_xconn *xc, int ox, int oy, desktop_cursor *c) {
    Display *dpy = desktop_xc_display(xc);
    int ev, er;
    if (!XFixesQueryExtension(dpy, &ev, &er))
        return false;
    XFixesCursorImage *ci = XFixesGetCursorImage(dpy);
    if (!ci)
        return false;
    c->width = ci->width;
    c->height = ci->height;
    c->x = ci->x - ci->xhot - ox;
    c->y = ci->y - ci->yhot - oy;
    c->argb = base_xmalloc((size_t)c->width * (size_t)c->height * sizeof(uint32_t) + 1);
    /* XFixes hands out one unsigned long per pixel (64 bits here), ARGB in the low 32. */
    for (size_t i = 0; i < (size_t)c->width * (size_t)c->height; i++)
        c->argb[i] = (uint32_t)ci->pixels[i];
    XFree(ci);
    return true;
}

/* One screenshot in flight. Owner: desktop_screenshot, freed after the user's done. */
typedef struct desktop_shot_job desktop_shot_job;
struct desktop_shot_job {
    desktop_xjob xjob;
    uv_work_t work;
    uv_loop_t *loop;
    desktop_shot *shot;
    desktop_pixels *pixels;
    desktop_cursor cursor;
    bool have_cursor;
    int encode_rc;
    char err[256];
    void (*done)(desktop_shot *s, desktop_xerr status, const char *err, void *ud);
    void *ud;
    desktop_shot_job *next; /* waiting for a slot */
};

/* Each capture holds a full frame (5 MB at 1440x900) until it is encoded, so a burst of
 * requests must not capture faster than the thread pool encodes: at most this many are
 * between capture and answer, the rest wait their turn here, uncaptured. Loop thread. */
#define DESKTOP_SHOTS_IN_FLIGHT 4
static struct {
    int in_flight;
    desktop_shot_job *head, *tail;
} desktop_shots;

static void desktop_shot_begin(desktop_shot_job *j) {
    desktop_shots.in_flight++;
    desktop_xjob_submit(&j->xjob);
}

/* A screenshot is answered: its slot goes to the next one waiting. */
static void desktop_shot_release(void) {
    desktop_shots.in_flight--;
    desktop_shot_job *next = desktop_shots.head;
    if (!next)
        return;
    desktop_shots.head = next->next;
    if (!desktop_shots.head)
        desktop_shots.tail = NULL;
    desktop_shot_begin(next);
}

static void desktop_shot_run(desktop_xconn *xc, desktop_xjob *xjob) {
    desktop_shot_job *j = xjob->ud;
    desktop_shot *s = j->shot;
    int sw, sh;
    desktop_xc_size(xc, &sw, &sh);
    int x = 0, y = 0, w = sw, h = sh;
    if (s->region) {
        /* Clipped to the screen; routes.c refused a rectangle wholly outside it. */
        x = s->x < sw ? s->x : sw;
        y = s->y < sh ? s->y : sh;
        w = s->w < sw - x ? s->w : sw - x;
        h = s->h < sh - y ? s->h : sh - y;
        if (w <= 0 || h <= 0) {
            xjob->status = DESKTOP_XERR_INVALID;
            snprintf(xjob->err, sizeof xjob->err,
                     "Screenshot region lies outside the display (%dx%d)", sw, sh);
            return;
        }
    }
    j->pixels = desktop_capture(xc, x, y, w, h);
    if (!j->pixels) {
        xjob->status = DESKTOP_XERR_CAPTURE;
        snprintf(xjob->err, sizeof xjob->err,
                 "desktop screenshot failed: the X server refused "
                 "the capture");
        return;
    }
    if (s->show_cursor)
        j->have_cursor = desktop_capture_cursor(xc, x, y, &j->cursor);
}

static void desktop_shot_work(uv_work_t *w) {
    desktop_shot_job *j = w->data;
    desktop_shot *s = j->shot;
    if (j->have_cursor)
        desktop_pixels_draw_cursor(j->pixels, &j->cursor);
    desktop_pixels *enc = j->pixels;
    desktop_pixels *scaled = NULL;
    if (s->scale > 0 && s->scale < 1.0)
        enc = scaled = desktop_pixels_scale(j->pixels, s->scale);
    j->encode_rc = desktop_image_encode(enc, s->fmt, s->quality, &s->bytes, j->err, sizeof j->err);
    desktop_pixels_free(scaled);
}

static void desktop_shot_free(desktop_shot_job *j) {
    desktop_pixels_free(j->pixels);
    free(j->cursor.argb);
    free(j);
}

static void desktop_shot_after(uv_work_t *w, int status) {
    desktop_shot_job *j = w->data;
    if (j->encode_rc != 0)
        j->done(j->shot, DESKTOP_XERR_CAPTURE, j->err, j->ud);
    else
        j->done(j->shot, DESKTOP_XOK, NULL, j->ud);
    desktop_shot_free(j);
    desktop_shot_release();
}

static void desktop_shot_captured(desktop_xjob *xjob) {
    desktop_shot_job *j = xjob->ud;
    if (xjob->status != DESKTOP_XOK) {
        j->done(j->shot, xjob->status, xjob->err, j->ud);
        desktop_shot_free(j);
        desktop_shot_release();
        return;
    }
    j->work.data = j;
    uv_queue_work(j->loop, &j->work, desktop_shot_work, desktop_shot_after);
}

void desktop_screenshot(uv_loop_t *loop, desktop_shot *shot,
                        void (*done)(desktop_shot *s, desktop_xerr status, const char *err,
                                     void *ud),
                        void *ud) {
    desktop_shot_job *j = base_xcalloc(1, sizeof *j);
    j->loop = loop;
    j->shot = shot;
    j->done = done;
    j->ud = ud;
    j->xjob.run = desktop_shot_run;
    j->xjob.done = desktop_shot_captured;
    j->xjob.ud = j;
    if (desktop_shots.in_flight < DESKTOP_SHOTS_IN_FLIGHT) {
        desktop_shot_begin(j);
        return;
    }
    if (desktop_shots.tail)
        desktop_shots.tail->next = j;
    else
        desktop_shots.head = j;
    desktop_shots.tail = j;
}
