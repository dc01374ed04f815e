/* test_desktop_image.c - src/desktop/image.c: new/crop, the box-filter downscale against an
 * independent area-average reference, the cursor blend with clipping, and the three encoders
 * round-tripped through the real decoders (libpng, libjpeg-turbo, libwebp, linked here only:
 * the server dlopens them), their error paths, and the libraries' first load from several
 * threads at once. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

#include "desktop/internal.h"
#include "unit.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static uint8_t *px(const desktop_pixels *p, int x, int y) {
    return p->data + (size_t)y * p->stride + (size_t)x * 4;
}

static void set_px(desktop_pixels *p, int x, int y, int r, int g, int b) {
    uint8_t *d = px(p, x, y);
    d[0] = (uint8_t)b;
    d[1] = (uint8_t)g;
    d[2] = (uint8_t)r;
    d[3] = 0x5a; /* garbage in X: encoders must ignore it */
}

/* A screen-like picture: R follows x, B follows y (a channel swap shows), a dark panel, a
 * white box with black "text" bars, a diagonal. stride > 4 * width when padded, with junk
 * in the padding. Caller frees. */
static desktop_pixels *synthetic(int w, int h, bool padded) {
    desktop_pixels *p = desktop_pixels_new(w, h);
    if (padded) {
        p->stride = (size_t)w * 4 + 36;
        free(p->data);
        p->data = malloc(p->stride * (size_t)h);
        memset(p->data, 0xa7, p->stride * (size_t)h);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int r = x * 255 / (w - 1), g = 128, b = y * 255 / (h - 1);
            if (y < h / 10) /* a panel */
                r = g = b = 40;
            if (x > w / 4 && x < w / 2 && y > h / 3 && y < 2 * h / 3) { /* a window */
                r = g = b = 250;
                if ((y - h / 3) % 8 < 3 && (x / 5) % 3) /* text-like bars */
                    r = g = b = 10;
            }
            if (abs(x - y) < 2) /* a diagonal */
                r = 200, g = 20, b = 30;
            set_px(p, x, y, r, g, b);
        }
    return p;
}

/* ---- pixels --------------------------------------------------------------------------------- */

static void test_new_crop(void) {
    desktop_pixels *p = desktop_pixels_new(10, 8);
    CHECK(p && p->width == 10 && p->height == 8 && p->stride == 40);
    CHECK(px(p, 9, 7)[0] == 0 && px(p, 9, 7)[2] == 0);
    CHECK(desktop_pixels_new(0, 5) == NULL);
    CHECK(desktop_pixels_new(5, -1) == NULL);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++)
            set_px(p, x, y, x, y, x + y * 10);

    desktop_pixels *c = desktop_pixels_crop(p, 2, 3, 4, 2);
    CHECK(c && c->width == 4 && c->height == 2 && c->stride == 16);
    bool same = true;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++)
            same = same && memcmp(px(c, x, y), px(p, x + 2, y + 3), 4) == 0;
    CHECK(same);
    desktop_pixels_free(c);

    /* A rectangle reaching outside is cut to the part inside, never read out of bounds. */
    c = desktop_pixels_crop(p, 8, 6, 5, 5);
    CHECK(c && c->width == 2 && c->height == 2 && px(c, 1, 1)[2] == 9 && px(c, 1, 1)[1] == 7);
    desktop_pixels_free(c);
    CHECK(desktop_pixels_crop(p, 10, 0, 3, 3) == NULL);
    CHECK(desktop_pixels_crop(p, -5, -5, 5, 5) == NULL);
    desktop_pixels_free(p);
    desktop_pixels_free(NULL);
}

/* ---- scale ---------------------------------------------------------------------------------- */

static void test_scale_checkerboard(void) {
    desktop_pixels *p = desktop_pixels_new(4, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            int v = (x + y) % 2 ? 255 : 0;
            set_px(p, x, y, v, v, v);
        }
    desktop_pixels *s = desktop_pixels_scale(p, 0.5);
    CHECK(s && s->width == 2 && s->height == 2);
    /* Every 2x2 box holds two blacks and two whites: a flat mid grey, not a checkerboard
     * picked by nearest neighbour (which would give all black or all white). */
    bool grey = true;
    int v0 = px(s, 0, 0)[0];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int ch = 0; ch < 3; ch++)
                grey = grey && px(s, x, y)[ch] == v0;
    CHECK(grey);
    CHECK(v0 == 127 || v0 == 128);
    desktop_pixels_free(s);

    /* Scale 1 is a copy. */
    s = desktop_pixels_scale(p, 1.0);
    CHECK(s && s != p && s->data != p->data && s->width == 4 && s->height == 4);
    CHECK(s && memcmp(s->data, p->data, 4 * 4 * 4) == 0);
    desktop_pixels_free(s);

    CHECK(desktop_pixels_scale(p, 0) == NULL);
    CHECK(desktop_pixels_scale(p, -0.5) == NULL);
    CHECK(desktop_pixels_scale(p, 1.5) == NULL);
    CHECK(desktop_pixels_scale(p, NAN) == NULL);
    desktop_pixels_free(p);
}

static void check_size(int w, int h, double scale, int ew, int eh) {
    desktop_pixels *p = desktop_pixels_new(w, h);
    desktop_pixels *s = desktop_pixels_scale(p, scale);
    CHECK(s && s->width == ew && s->height == eh);
    if (s && (s->width != ew || s->height != eh))
        fprintf(stderr, "  %dx%d at %g gave %dx%d, want %dx%d\n", w, h, scale, s->width, s->height,
                ew, eh);
    desktop_pixels_free(s);
    desktop_pixels_free(p);
}

static void test_scale_sizes(void) {
    check_size(10, 10, 0.3, 3, 3);
    check_size(5, 7, 0.3, 2, 2);  /* 1.5 rounds up, 2.1 down */
    check_size(3, 3, 0.1, 1, 1);  /* never below one pixel */
    check_size(1, 1, 0.01, 1, 1); /* never below one pixel */
    check_size(1440, 900, 0.5, 720, 450);
    check_size(1440, 900, 0.3, 432, 270);
    check_size(1920, 1080, 0.25, 480, 270);
}

/* The exact area average of the source over output pixel (ox, oy), computed directly in
 * two dimensions with doubles: an independent reference for the separable fixed point. */
static double area_average(const desktop_pixels *p, int ow, int oh, int ox, int oy, int ch) {
    double ax = (double)ox * p->width / ow, ex = (double)(ox + 1) * p->width / ow;
    double ay = (double)oy * p->height / oh, ey = (double)(oy + 1) * p->height / oh;
    double sum = 0;
    for (int y = (int)ay; y < p->height && y < ey; y++)
        for (int x = (int)ax; x < p->width && x < ex; x++) {
            double cx = fmin(ex, x + 1.0) - fmax(ax, x), cy = fmin(ey, y + 1.0) - fmax(ay, y);
            if (cx > 0 && cy > 0)
                sum += cx * cy * px(p, x, y)[ch];
        }
    return sum / ((ex - ax) * (ey - ay));
}

/* Max distance from the reference over the whole output. */
static double scale_error(const desktop_pixels *p, double scale, int *ow, int *oh) {
    desktop_pixels *s = desktop_pixels_scale(p, scale);
    if (!s)
        return 1e9;
    double worst = 0;
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++)
            for (int ch = 0; ch < 3; ch++) {
                double d = fabs(px(s, x, y)[ch] - area_average(p, s->width, s->height, x, y, ch));
                worst = fmax(worst, d);
            }
    *ow = s->width;
    *oh = s->height;
    desktop_pixels_free(s);
    return worst;
}

static void test_scale_fractional(void) {
    /* One bright column at x = 3 of 10, scale 0.3: boxes are 3.33 wide, the column lies a
     * third in box 0 and two thirds in box 1, so they read 25.5 and 51. Nearest neighbour
     * would give 0 or 255; whole-pixel boxes would give 255/3 or 255/4. */
    desktop_pixels *p = desktop_pixels_new(10, 10);
    for (int y = 0; y < 10; y++)
        set_px(p, 3, y, 255, 255, 255);
    desktop_pixels *s = desktop_pixels_scale(p, 0.3);
    CHECK(s && s->width == 3 && s->height == 3);
    if (s) {
        int a = px(s, 0, 1)[1], b = px(s, 1, 1)[1], c = px(s, 2, 1)[1];
        CHECK(a == 25 || a == 26);
        CHECK(b == 51);
        CHECK(c == 0);
        CHECK(px(s, 0, 0)[1] == a && px(s, 0, 2)[1] == a); /* the same down the column */
    }
    desktop_pixels_free(s);
    desktop_pixels_free(p);

    /* A non-separable pattern, several scales, against the 2D reference: within rounding. */
    p = desktop_pixels_new(37, 23);
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++)
            set_px(p, x, y, (x * y * 7) % 256, (x * 31 + y * 17) % 256, ((x ^ y) * 13) % 256);
    const double scales[] = {0.9, 0.5, 0.37, 0.3, 0.21, 0.1, 0.03};
    for (size_t i = 0; i < sizeof scales / sizeof *scales; i++) {
        int ow = 0, oh = 0;
        double e = scale_error(p, scales[i], &ow, &oh);
        CHECK(e <= 1.0);
        if (e > 1.0)
            fprintf(stderr, "  scale %g (%dx%d): off by %.2f\n", scales[i], ow, oh, e);
    }
    desktop_pixels_free(p);

    /* A flat colour stays exactly that colour at any scale: the weights sum exactly to one
     * (wide boxes have many taps, whose rounding could otherwise push white past 255). */
    p = desktop_pixels_new(301, 203);
    for (int y = 0; y < 203; y++)
        for (int x = 0; x < 301; x++)
            set_px(p, x, y, 255, 1, 254);
    const double flat_scales[] = {0.33, 0.07, 0.03, 0.011};
    for (size_t i = 0; i < sizeof flat_scales / sizeof *flat_scales; i++) {
        s = desktop_pixels_scale(p, flat_scales[i]);
        bool flat = s != NULL;
        for (int y = 0; s && y < s->height; y++)
            for (int x = 0; x < s->width; x++)
                flat =
                    flat && px(s, x, y)[2] == 255 && px(s, x, y)[1] == 1 && px(s, x, y)[0] == 254;
        CHECK(flat);
        desktop_pixels_free(s);
    }
    desktop_pixels_free(p);
}

/* ---- cursor --------------------------------------------------------------------------------- */

static void test_cursor(void) {
    desktop_pixels *p = desktop_pixels_new(10, 10);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            set_px(p, x, y, 100, 100, 100);
    desktop_pixels *orig = desktop_pixels_crop(p, 0, 0, 10, 10);

    /* 4x4 cursor hanging off the bottom-left corner: only its columns 2-3, rows 0-1 land. */
    uint32_t img[16] = {0};
    img[0 * 4 + 2] = 0xffff0000;            /* opaque red */
    img[0 * 4 + 3] = 0x80400000;            /* half-transparent dark red, premultiplied */
    img[1 * 4 + 2] = 0x00000000;            /* transparent */
    img[1 * 4 + 3] = 0xff00ff00;            /* opaque green */
    img[0] = img[5] = img[15] = 0xffffffff; /* outside the picture: must not be drawn */
    desktop_cursor c = {.argb = img, .x = -2, .y = 8, .width = 4, .height = 4};
    desktop_pixels_draw_cursor(p, &c);

    uint8_t *d = px(p, 0, 8);
    CHECK(d[2] == 255 && d[1] == 0 && d[0] == 0);
    d = px(p, 1, 8); /* 0x40 + 100 * 127 / 255 = 64 + 49.8 */
    CHECK(d[2] == 114 && d[1] == 50 && d[0] == 50);
    d = px(p, 0, 9);
    CHECK(d[2] == 100 && d[1] == 100 && d[0] == 100);
    d = px(p, 1, 9);
    CHECK(d[2] == 0 && d[1] == 255 && d[0] == 0);
    /* Nothing else changed. */
    int changed = 0;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            changed += memcmp(px(p, x, y), px(orig, x, y), 4) != 0;
    CHECK(changed == 3);

    /* Entirely outside, or bigger than the picture on every side: clipped, no stray write. */
    desktop_cursor off = {.argb = img, .x = 10, .y = 0, .width = 4, .height = 4};
    desktop_pixels_draw_cursor(orig, &off);
    off.x = -4;
    desktop_pixels_draw_cursor(orig, &off);
    off.x = 0;
    off.y = -4;
    desktop_pixels_draw_cursor(orig, &off);
    bool untouched = true;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            untouched = untouched && px(orig, x, y)[0] == 100;
    CHECK(untouched);

    uint32_t *big = malloc(sizeof(uint32_t) * 14 * 14);
    for (int i = 0; i < 14 * 14; i++)
        big[i] = 0xff000000u | (uint32_t)i; /* opaque, blue = low byte of the index */
    desktop_cursor over = {.argb = big, .x = -2, .y = -2, .width = 14, .height = 14};
    desktop_pixels_draw_cursor(orig, &over);
    /* picture (x, y) shows cursor (x + 2, y + 2) */
    CHECK(px(orig, 0, 0)[0] == (2 * 14 + 2) && px(orig, 0, 0)[2] == 0);
    CHECK(px(orig, 9, 9)[0] == (11 * 14 + 11) % 256);
    free(big);
    desktop_pixels_free(orig);
    desktop_pixels_free(p);
}

/* ---- decoders (the test's own, linked) ----------------------------------------------------- */

typedef struct mem_reader {
    const uint8_t *data;
    size_t len, pos;
} mem_reader;

static void png_mem_read(png_structp png, png_bytep out, size_t n) {
    mem_reader *r = png_get_io_ptr(png);
    if (r->pos + n > r->len)
        png_error(png, "read past the end");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

/* Decode a PNG to RGB; NULL if libpng rejects it. Caller frees. */
static uint8_t *png_decode(const uint8_t *data, size_t len, int *w, int *h, int *ctype) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile rgb = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        return NULL;
    }
    mem_reader r = {data, len, 0};
    png_set_read_fn(png, &r, png_mem_read);
    png_read_info(png, info);
    *w = (int)png_get_image_width(png, info);
    *h = (int)png_get_image_height(png, info);
    *ctype = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) != 8 || *ctype != PNG_COLOR_TYPE_RGB)
        png_error(png, "not 8-bit RGB");
    rgb = malloc((size_t)*w * 3 * (size_t)*h);
    for (int y = 0; y < *h; y++)
        png_read_row(png, rgb + (size_t)y * (size_t)*w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return rgb;
}

/* Decode a JPEG to RGB. Caller frees. */
static uint8_t *jpeg_decode(const uint8_t *data, size_t len, int *w, int *h) {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr em;
    ci.err = jpeg_std_error(&em);
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)len);
    if (jpeg_read_header(&ci, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    *w = (int)ci.output_width;
    *h = (int)ci.output_height;
    uint8_t *rgb = malloc((size_t)*w * 3 * (size_t)*h);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = rgb + (size_t)ci.output_scanline * (size_t)*w * 3;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return rgb;
}

/* Mean and max absolute difference between a decoded picture (RGB or RGBA, bpp bytes a
 * pixel) and the source. */
static void compare(const desktop_pixels *p, const uint8_t *dec, int bpp, double *mean, int *maxd) {
    double sum = 0;
    *maxd = 0;
    for (int y = 0; y < p->height; y++)
        for (int x = 0; x < p->width; x++) {
            const uint8_t *s = px(p, x, y), *d = dec + ((size_t)y * (size_t)p->width + x) * bpp;
            int diff[3] = {abs(d[0] - s[2]), abs(d[1] - s[1]), abs(d[2] - s[0])};
            for (int k = 0; k < 3; k++) {
                sum += diff[k];
                if (diff[k] > *maxd)
                    *maxd = diff[k];
            }
        }
    *mean = sum / ((double)p->width * p->height * 3);
}

/* ---- encoders ------------------------------------------------------------------------------- */

static void test_png(void) {
    desktop_pixels *p = synthetic(160, 120, true);
    base_buf out;
    base_buf_init(&out);
    base_buf_append(&out, "abc", 3); /* encode appends */
    char err[256] = "";
    CHECK(desktop_image_encode(p, DESKTOP_FMT_PNG, 50, &out, err, sizeof err) == 0);
    CHECK(out.len > 3 + 8 && memcmp(out.data, "abc\x89PNG\r\n\x1a\n", 11) == 0);
    int w = 0, h = 0, ct = -1;
    uint8_t *rgb = png_decode((uint8_t *)out.data + 3, out.len - 3, &w, &h, &ct);
    CHECK(rgb && w == 160 && h == 120 && ct == PNG_COLOR_TYPE_RGB);
    if (rgb && w == 160 && h == 120) {
        double mean;
        int maxd;
        compare(p, rgb, 3, &mean, &maxd);
        CHECK(maxd == 0); /* lossless, channels in order, X dropped, stride honoured */
    }
    free(rgb);
    base_buf_free(&out);
    desktop_pixels_free(p);
}

static void test_jpeg(void) {
    desktop_pixels *p = synthetic(160, 120, true);
    base_buf out;
    base_buf_init(&out);
    char err[256] = "";
    CHECK(desktop_image_encode(p, DESKTOP_FMT_JPEG, 90, &out, err, sizeof err) == 0);
    CHECK(out.len > 2 && (uint8_t)out.data[0] == 0xff && (uint8_t)out.data[1] == 0xd8);
    int w = 0, h = 0;
    uint8_t *rgb = jpeg_decode((uint8_t *)out.data, out.len, &w, &h);
    CHECK(rgb && w == 160 && h == 120);
    if (rgb && w == 160 && h == 120) {
        double mean;
        int maxd;
        compare(p, rgb, 3, &mean, &maxd);
        /* Lossy, with sharp edges: small on average; a swapped R and B would be ~80. */
        CHECK(mean < 4.0);
        if (mean >= 4.0)
            fprintf(stderr, "  jpeg mean error %.2f (max %d)\n", mean, maxd);
        /* Away from edges, in the smooth gradient, the colour is close. */
        const uint8_t *d = rgb + ((size_t)100 * 160 + 140) * 3, *s = px(p, 140, 100);
        CHECK(abs(d[0] - s[2]) < 8 && abs(d[1] - s[1]) < 8 && abs(d[2] - s[0]) < 8);
    }
    free(rgb);

    /* Quality changes the size. */
    base_buf lo;
    base_buf_init(&lo);
    CHECK(desktop_image_encode(p, DESKTOP_FMT_JPEG, 10, &lo, err, sizeof err) == 0);
    CHECK(lo.len > 0 && lo.len < out.len * 2 / 3);
    base_buf_free(&lo);
    base_buf_free(&out);
    desktop_pixels_free(p);
}

static void test_webp(void) {
    desktop_pixels *p = synthetic(160, 120, true);
    base_buf out;
    base_buf_init(&out);
    char err[256] = "";
    CHECK(desktop_image_encode(p, DESKTOP_FMT_WEBP, 90, &out, err, sizeof err) == 0);
    CHECK(out.len > 12 && !memcmp(out.data, "RIFF", 4) && !memcmp(out.data + 8, "WEBP", 4));
    int w = 0, h = 0;
    uint8_t *rgba = WebPDecodeRGBA((uint8_t *)out.data, out.len, &w, &h);
    CHECK(rgba && w == 160 && h == 120);
    if (rgba && w == 160 && h == 120) {
        double mean;
        int maxd;
        compare(p, rgba, 4, &mean, &maxd);
        CHECK(mean < 5.0);
        if (mean >= 5.0)
            fprintf(stderr, "  webp mean error %.2f (max %d)\n", mean, maxd);
        CHECK(rgba[3] == 255); /* opaque: X is not taken as alpha */
    }
    WebPFree(rgba);

    base_buf lo;
    base_buf_init(&lo);
    CHECK(desktop_image_encode(p, DESKTOP_FMT_WEBP, 5, &lo, err, sizeof err) == 0);
    CHECK(lo.len > 0 && lo.len < out.len);
    base_buf_free(&lo);
    base_buf_free(&out);
    desktop_pixels_free(p);
}

/* Each encoder's failure path: -1, a message, out as it was. PNG and JPEG fail inside the
 * library (libpng's IHDR check, libjpeg's dimension limit), through the longjmp. */
static void test_encode_errors(void) {
    base_buf out;
    base_buf_init(&out);
    base_buf_append(&out, "keep", 4);
    char err[256];

    desktop_pixels *p = desktop_pixels_new(1000001, 1); /* libpng's default width limit */
    err[0] = 0;
    CHECK(desktop_image_encode(p, DESKTOP_FMT_PNG, 80, &out, err, sizeof err) == -1);
    CHECK(strstr(err, "PNG") && strstr(err, "IHDR"));
    CHECK(out.len == 4);
    err[0] = 0;
    CHECK(desktop_image_encode(p, DESKTOP_FMT_JPEG, 80, &out, err, sizeof err) == -1);
    CHECK(strstr(err, "JPEG") && strstr(err, "65500"));
    CHECK(out.len == 4);
    err[0] = 0;
    CHECK(desktop_image_encode(p, DESKTOP_FMT_WEBP, 80, &out, err, sizeof err) == -1);
    CHECK(strstr(err, "WebP") && strstr(err, "16383"));
    CHECK(out.len == 4);
    desktop_pixels_free(p);

    desktop_pixels empty = {0};
    err[0] = 0;
    CHECK(desktop_image_encode(&empty, DESKTOP_FMT_PNG, 80, &out, err, sizeof err) == -1);
    CHECK(err[0] != 0 && out.len == 4);
    p = desktop_pixels_new(2, 2);
    err[0] = 0;
    CHECK(desktop_image_encode(p, (desktop_format)42, 80, &out, err, sizeof err) == -1);
    CHECK(err[0] != 0 && out.len == 4);
    /* Still usable after the failures (no state left behind by a longjmp). */
    CHECK(desktop_image_encode(p, DESKTOP_FMT_JPEG, 80, &out, err, sizeof err) == 0);
    CHECK(desktop_image_encode(p, DESKTOP_FMT_PNG, 80, &out, err, sizeof err) == 0);
    CHECK(out.len > 4 && !memcmp(out.data, "keep", 4));
    desktop_pixels_free(p);
    base_buf_free(&out);

    CHECK_STR(desktop_format_mime(DESKTOP_FMT_PNG), "image/png");
    CHECK_STR(desktop_format_mime(DESKTOP_FMT_JPEG), "image/jpeg");
    CHECK_STR(desktop_format_mime(DESKTOP_FMT_WEBP), "image/webp");
}

/* The first encodes of the process, from several threads at once: each library loads once,
 * and every thread's result is a good picture. */
typedef struct enc_thread {
    desktop_format fmt;
    int ok;
} enc_thread;

static void *enc_thread_main(void *arg) {
    enc_thread *t = arg;
    desktop_pixels *p = synthetic(64, 48, false);
    base_buf out;
    base_buf_init(&out);
    char err[256];
    for (int i = 0; i < 5; i++)
        if (desktop_image_encode(p, t->fmt, 70, &out, err, sizeof err) == 0)
            t->ok++;
        else
            fprintf(stderr, "  thread encode: %s\n", err);
    base_buf_free(&out);
    desktop_pixels_free(p);
    return NULL;
}

static void test_first_load_threads(void) {
    enc_thread t[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (enc_thread){.fmt = (desktop_format)(i % 3), .ok = 0};
        pthread_create(&th[i], NULL, enc_thread_main, &t[i]);
    }
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += t[i].ok;
    }
    CHECK(ok == 30);
}

UNIT_MAIN(test_first_load_threads(); test_new_crop(); test_scale_checkerboard(); test_scale_sizes();
          test_scale_fractional(); test_cursor(); test_png(); test_jpeg(); test_webp();
          test_encode_errors())
