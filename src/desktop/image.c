/* image.c - the desktop's pictures: crop, box-filter downscale, cursor overlay, and the
 * PNG, JPEG and WebP encoders of screenshots.
 *
 * Pictures stay in the X server's BGRX layout from capture to encoder: every encoder here is
 * told that layout (libpng's bgr + filler transforms, libjpeg-turbo's JCS_EXT_BGRX, libwebp's
 * BGRX import), so no conversion pass touches the pixels. The three libraries are dlopened
 * on first use (one pthread_once each) for the reason xload.h gives for X: only a screenshot
 * needs them, and a machine without one still serves everything else; the encoder that
 * needs a missing library fails with a message naming its Debian package.
 *
 * Everything here is pure and runs on any thread (screenshots encode on libuv's pool). */
#include "desktop/internal.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After <stdio.h>: jpeglib.h uses FILE without including it. */
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>
#include <webp/encode.h>

/* ---- pixels ------------------------------------------------------------------------------- */

desktop_pixels *desktop_pixels_new(int width, int height) {
    if (width <= 0 || height <= 0)
        return NULL;
    desktop_pixels *p = base_xmalloc(sizeof *p);
    p->width = width;
    p->height = height;
    p->stride = (size_t)width * 4;
    p->data = base_xcalloc((size_t)height, p->stride);
    return p;
}

void desktop_pixels_free(desktop_pixels *p) {
    if (!p)
        return;
    free(p->data);
    free(p);
}

/* The caller clips; a rectangle that still falls outside is cut to the part inside (NULL
 * when nothing is left) rather than read out of bounds. */
desktop_pixels *desktop_pixels_crop(const desktop_pixels *p, int x, int y, int w, int h) {
    long long x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
    long long x1 = (long long)x + w, y1 = (long long)y + h;
    if (x1 > p->width)
        x1 = p->width;
    if (y1 > p->height)
        y1 = p->height;
    if (x1 <= x0 || y1 <= y0)
        return NULL;
    desktop_pixels *c = desktop_pixels_new((int)(x1 - x0), (int)(y1 - y0));
    for (int r = 0; r < c->height; r++)
        memcpy(c->data + (size_t)r * c->stride,
               p->data + (size_t)(y0 + r) * p->stride + (size_t)x0 * 4, c->stride);
    return c;
}

/* ---- box-filter downscale ------------------------------------------------------------------
 * Each output pixel is the average of the source area it covers, pixels cut by the box edge
 * counting for the covered fraction only: at scale 0.3 a box is 3.33 pixels wide, and
 * nearest-neighbour or whole-pixel boxes would drop or double-count thin lines (text). The
 * filter is separable: rows first, into a 16-bit intermediate with 8 fraction bits, then
 * columns. Weights are fixed point summing to exactly IMG_ONE, so a flat area stays flat. */

#define IMG_ONE 16384 /* 1.0 in weight units (14 bits: keeps the column sums in 32 bits) */

/* The boxes of one axis: output i reads count[i] source pixels from first[i], with weights
 * w[i * maxtaps ...]. Owner: desktop_pixels_scale (freed with img_boxes_free). */
typedef struct img_boxes {
    int maxtaps;
    int *first, *count;
    uint16_t *w;
} img_boxes;

static void img_boxes_make(img_boxes *b, int src, int dst) {
    double ratio = (double)src / dst;
    /* A box ratio pixels wide touches at most ceil(ratio) + 1 pixels; one more absorbs any
     * rounding in the box ends. */
    b->maxtaps = (int)ceil(ratio) + 2;
    b->first = base_xmalloc(sizeof(int) * (size_t)dst);
    b->count = base_xmalloc(sizeof(int) * (size_t)dst);
    b->w = base_xcalloc((size_t)dst * (size_t)b->maxtaps, sizeof(uint16_t));
    for (int i = 0; i < dst; i++) {
        double a = (double)i * src / dst, e = (double)(i + 1) * src / dst;
        int x0 = (int)floor(a), x1 = (int)ceil(e) - 1;
        if (x1 > src - 1)
            x1 = src - 1;
        if (x1 - x0 + 1 > b->maxtaps)
            x1 = x0 + b->maxtaps - 1;
        uint16_t *w = b->w + (size_t)i * (size_t)b->maxtaps;
        int sum = 0, big = 0;
        for (int x = x0; x <= x1; x++) {
            double cov = fmin(e, x + 1.0) - fmax(a, (double)x);
            int wt = cov > 0 ? (int)lround(cov / (e - a) * IMG_ONE) : 0;
            w[x - x0] = (uint16_t)wt;
            sum += wt;
            if (wt > w[big])
                big = x - x0;
        }
        w[big] = (uint16_t)(w[big] + IMG_ONE - sum); /* rounding leftovers: total is exact */
        b->first[i] = x0;
        b->count[i] = x1 - x0 + 1;
    }
}

static void img_boxes_free(img_boxes *b) {
    free(b->first);
    free(b->count);
    free(b->w);
}

/* Rows pass: one source row into ow BGR triples of 8.8 fixed point. */
static void img_scale_row(const uint8_t *src, const img_boxes *bx, int ow, uint16_t *out) {
    for (int i = 0; i < ow; i++) {
        const uint8_t *px = src + (size_t)bx->first[i] * 4;
        const uint16_t *w = bx->w + (size_t)i * (size_t)bx->maxtaps;
        uint32_t b = 0, g = 0, r = 0;
        for (int k = 0; k < bx->count[i]; k++, px += 4) {
            b += (uint32_t)w[k] * px[0];
            g += (uint32_t)w[k] * px[1];
            r += (uint32_t)w[k] * px[2];
        }
        out[3 * i] = (uint16_t)((b + 32) >> 6);
        out[3 * i + 1] = (uint16_t)((g + 32) >> 6);
        out[3 * i + 2] = (uint16_t)((r + 32) >> 6);
    }
}

desktop_pixels *desktop_pixels_scale(const desktop_pixels *p, double scale) {
    if (!(scale > 0) || scale > 1)
        return NULL;
    if (scale == 1)
        return desktop_pixels_crop(p, 0, 0, p->width, p->height);
    double fw = round(p->width * scale), fh = round(p->height * scale);
    int ow = fw < 1 ? 1 : (int)fw, oh = fh < 1 ? 1 : (int)fh;
    img_boxes bx, by;
    img_boxes_make(&bx, p->width, ow);
    img_boxes_make(&by, p->height, oh);

    size_t n = (size_t)ow * 3;
    uint16_t *rows = base_xmalloc(sizeof(uint16_t) * n * (size_t)p->height);
    for (int y = 0; y < p->height; y++)
        img_scale_row(p->data + (size_t)y * p->stride, &bx, ow, rows + n * (size_t)y);

    desktop_pixels *o = desktop_pixels_new(ow, oh);
    uint32_t *acc = base_xmalloc(sizeof(uint32_t) * n);
    for (int j = 0; j < oh; j++) {
        memset(acc, 0, sizeof(uint32_t) * n);
        const uint16_t *w = by.w + (size_t)j * (size_t)by.maxtaps;
        for (int k = 0; k < by.count[j]; k++) {
            const uint16_t *row = rows + n * (size_t)(by.first[j] + k);
            uint32_t wk = w[k];
            for (size_t m = 0; m < n; m++)
                acc[m] += wk * row[m];
        }
        uint8_t *d = o->data + (size_t)j * o->stride;
        for (int i = 0; i < ow; i++) {
            /* 8 fraction bits from the rows pass, 14 from these weights */
            d[4 * i] = (uint8_t)((acc[3 * i] + (1u << 21)) >> 22);
            d[4 * i + 1] = (uint8_t)((acc[3 * i + 1] + (1u << 21)) >> 22);
            d[4 * i + 2] = (uint8_t)((acc[3 * i + 2] + (1u << 21)) >> 22);
            d[4 * i + 3] = 0xff;
        }
    }
    free(acc);
    free(rows);
    img_boxes_free(&bx);
    img_boxes_free(&by);
    return o;
}

/* ---- cursor ------------------------------------------------------------------------------ */

/* x / 255 rounded, exact for x <= 255 * 255. */
static inline uint32_t img_div255(uint32_t x) {
    x += 128;
    return (x + (x >> 8)) >> 8;
}

/* The "over" operator for premultiplied source: dst = src + dst * (255 - a) / 255. A
 * cursor whose colour exceeds its alpha (not truly premultiplied) saturates instead of
 * wrapping. */
static inline uint8_t img_over(uint32_t s, uint32_t d, uint32_t inv) {
    uint32_t v = s + img_div255(d * inv);
    return (uint8_t)(v > 255 ? 255 : v);
}

void desktop_pixels_draw_cursor(desktop_pixels *p, const desktop_cursor *c) {
    if (!c || !c->argb || c->width <= 0 || c->height <= 0)
        return;
    long long x0 = c->x > 0 ? c->x : 0, y0 = c->y > 0 ? c->y : 0;
    long long x1 = (long long)c->x + c->width, y1 = (long long)c->y + c->height;
    if (x1 > p->width)
        x1 = p->width;
    if (y1 > p->height)
        y1 = p->height;
    for (long long y = y0; y < y1; y++) {
        const uint32_t *s = c->argb + (size_t)(y - c->y) * (size_t)c->width + (size_t)(x0 - c->x);
        uint8_t *d = p->data + (size_t)y * p->stride + (size_t)x0 * 4;
        for (long long x = x0; x < x1; x++, s++, d += 4) {
            uint32_t v = *s;
            if (!v)
                continue; /* transparent: most of a cursor image */
            uint32_t inv = 255 - (v >> 24);
            d[0] = img_over(v & 0xff, d[0], inv);
            d[1] = img_over((v >> 8) & 0xff, d[1], inv);
            d[2] = img_over((v >> 16) & 0xff, d[2], inv);
        }
    }
}

/* ---- the libraries, dlopened ---------------------------------------------------------------- */

#define IMG_PNG_FUNCS(X)                                                                           \
    X(png_create_write_struct)                                                                     \
    X(png_create_info_struct)                                                                      \
    X(png_destroy_write_struct)                                                                    \
    X(png_get_error_ptr)                                                                           \
    X(png_get_io_ptr)                                                                              \
    X(png_set_write_fn)                                                                            \
    X(png_set_IHDR)                                                                                \
    X(png_set_compression_level)                                                                   \
    X(png_set_compression_strategy)                                                                \
    X(png_set_filter)                                                                              \
    X(png_set_bgr)                                                                                 \
    X(png_set_filler)                                                                              \
    X(png_write_info)                                                                              \
    X(png_write_row)                                                                               \
    X(png_write_end)

#define IMG_JPEG_FUNCS(X)                                                                          \
    X(jpeg_std_error)                                                                              \
    X(jpeg_CreateCompress)                                                                         \
    X(jpeg_set_defaults)                                                                           \
    X(jpeg_set_quality)                                                                            \
    X(jpeg_mem_dest)                                                                               \
    X(jpeg_start_compress)                                                                         \
    X(jpeg_write_scanlines)                                                                        \
    X(jpeg_finish_compress)                                                                        \
    X(jpeg_destroy_compress)

#define IMG_WEBP_FUNCS(X)                                                                          \
    X(WebPConfigInitInternal)                                                                      \
    X(WebPValidateConfig)                                                                          \
    X(WebPPictureInitInternal)                                                                     \
    X(WebPPictureImportBGRX)                                                                       \
    X(WebPPictureFree)                                                                             \
    X(WebPMemoryWriterInit)                                                                        \
    X(WebPMemoryWrite)                                                                             \
    X(WebPMemoryWriterClear)                                                                       \
    X(WebPEncode)

#define IMG_SLOT(f) __typeof__(f) *f;
/* Entry-point tables. Owner: this file, filled once, for the process lifetime. */
static struct { IMG_PNG_FUNCS(IMG_SLOT) } img_png;
static struct { IMG_JPEG_FUNCS(IMG_SLOT) } img_jpeg;
static struct { IMG_WEBP_FUNCS(IMG_SLOT) } img_webp;
#undef IMG_SLOT

/* One library's loading outcome. Owner: this file (static); written once under its
 * pthread_once, read-only after. */
typedef struct img_lib {
    const char *soname, *package, *what;
    pthread_once_t once;
    void *handle;
    bool failed;
    char why[384];
} img_lib;

#define IMG_LIB(so, pkg, name)                                                                     \
    { .soname = so, .package = pkg, .what = name, .once = PTHREAD_ONCE_INIT }
static img_lib img_png_lib = IMG_LIB("libpng16.so.16", "libpng16-16", "PNG");
static img_lib img_jpeg_lib = IMG_LIB("libjpeg.so.62", "libjpeg62-turbo", "JPEG");
static img_lib img_webp_lib = IMG_LIB("libwebp.so.7", "libwebp7", "WebP");
#undef IMG_LIB

static void img_lib_open(img_lib *l) {
    l->handle = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        l->failed = true;
        snprintf(l->why, sizeof l->why,
                 "%s encoding needs %s (Debian package %s), which cannot be loaded: %s", l->what,
                 l->soname, l->package, dlerror());
    }
}

static void img_lib_sym(img_lib *l, const char *name, void **slot) {
    if (l->failed)
        return;
    *slot = dlsym(l->handle, name);
    if (!*slot) {
        l->failed = true;
        snprintf(l->why, sizeof l->why, "%s (Debian package %s) lacks %s: too old a version",
                 l->soname, l->package, name);
    }
}

#define IMG_LOAD(lib, tbl, FUNCS)                                                                  \
    static void lib##_load(void) {                                                                 \
        img_lib_open(&lib);                                                                        \
        FUNCS(IMG_SYM_##tbl)                                                                       \
    }
#define IMG_SYM_img_png(f) img_lib_sym(&img_png_lib, #f, (void **)&img_png.f);
#define IMG_SYM_img_jpeg(f) img_lib_sym(&img_jpeg_lib, #f, (void **)&img_jpeg.f);
#define IMG_SYM_img_webp(f) img_lib_sym(&img_webp_lib, #f, (void **)&img_webp.f);
IMG_LOAD(img_png_lib, img_png, IMG_PNG_FUNCS)
IMG_LOAD(img_jpeg_lib, img_jpeg, IMG_JPEG_FUNCS)
IMG_LOAD(img_webp_lib, img_webp, IMG_WEBP_FUNCS)

/* Load once (any thread); false with the reason in err when the library is unusable. */
static bool img_lib_ready(img_lib *l, void (*load)(void), char *err, size_t errcap) {
    pthread_once(&l->once, load);
    if (l->failed)
        snprintf(err, errcap, "%s", l->why);
    return !l->failed;
}

/* ---- PNG ------------------------------------------------------------------------------------ */

/* One PNG encoding. Lives in img_png_encode's frame: img_png_run, which holds the setjmp,
 * reaches it only through a pointer, so nothing it reads after a longjmp is one of its own
 * locals changed since the setjmp. */
typedef struct img_png_job {
    const desktop_pixels *p;
    base_buf *out;
    png_structp png;
    png_infop info;
    jmp_buf jb;
    char *err;
    size_t errcap;
} img_png_job;

/* libpng must not return from its error handler: leave through our setjmp. */
static void img_png_error(png_structp png, png_const_charp msg) {
    img_png_job *j = img_png.png_get_error_ptr(png);
    snprintf(j->err, j->errcap, "PNG encoding failed: %s", msg);
    longjmp(j->jb, 1);
}

static void img_png_warning(png_structp png, png_const_charp msg) {}

static void img_png_write(png_structp png, png_bytep data, size_t len) {
    img_png_job *j = img_png.png_get_io_ptr(png);
    base_buf_append(j->out, data, len);
}

static void img_png_flush(png_structp png) {}

static int img_png_run(img_png_job *j) {
    if (setjmp(j->jb))
        return -1;
    j->png =
        img_png.png_create_write_struct(PNG_LIBPNG_VER_STRING, j, img_png_error, img_png_warning);
    if (!j->png || !(j->info = img_png.png_create_info_struct(j->png))) {
        snprintf(j->err, j->errcap, "PNG encoding failed: libpng could not start");
        return -1;
    }
    img_png.png_set_write_fn(j->png, j, img_png_write, img_png_flush);
    img_png.png_set_IHDR(j->png, j->info, (png_uint_32)j->p->width, (png_uint_32)j->p->height, 8,
                         PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                         PNG_FILTER_TYPE_DEFAULT);
    /* Speed first: a screenshot is taken to be looked at now. On a synthetic 1440x900 screen
     * zlib level 1 with the Sub filter alone took about 15 ms; libpng's defaults (level 6,
     * adaptive filters) took 35-65 ms and their file was not even smaller. The RLE strategy
     * suits screens (long runs of one colour): on a real desktop it halved the file (26 KB to
     * 13.5 KB) at the same speed (bench/README.md). */
    img_png.png_set_compression_level(j->png, 1);
    img_png.png_set_compression_strategy(j->png, Z_RLE);
    img_png.png_set_filter(j->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    img_png.png_write_info(j->png, j->info);
    /* After write_info: the transforms apply to the rows. BGRX in, RGB out. */
    img_png.png_set_bgr(j->png);
    img_png.png_set_filler(j->png, 0, PNG_FILLER_AFTER);
    for (int y = 0; y < j->p->height; y++)
        img_png.png_write_row(j->png, j->p->data + (size_t)y * j->p->stride);
    img_png.png_write_end(j->png, NULL);
    return 0;
}

static int img_png_encode(const desktop_pixels *p, base_buf *out, char *err, size_t errcap) {
    img_png_job j = {.p = p, .out = out, .err = err, .errcap = errcap};
    int rc = img_png_run(&j);
    if (j.png)
        img_png.png_destroy_write_struct(&j.png, j.info ? &j.info : NULL);
    return rc;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

/* One JPEG encoding; same frame discipline as img_png_job. buf is libjpeg's output buffer
 * (malloc'd by jpeg_mem_dest, freed by img_jpeg_encode, also after an error). */
typedef struct img_jpeg_job {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr em;
    jmp_buf jb;
    unsigned char *buf;
    unsigned long len;
    char *err;
    size_t errcap;
} img_jpeg_job;

/* libjpeg's default error_exit calls exit(): in a server, leave through our setjmp. */
static void img_jpeg_error(j_common_ptr ci) {
    img_jpeg_job *j = ci->client_data;
    char msg[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, msg);
    snprintf(j->err, j->errcap, "JPEG encoding failed: %s", msg);
    longjmp(j->jb, 1);
}

/* Warnings would go to stderr: the picture is still good, keep quiet. */
static void img_jpeg_message(j_common_ptr ci) {}

static int img_jpeg_run(img_jpeg_job *j, const desktop_pixels *p, int quality) {
    if (setjmp(j->jb))
        return -1;
    j->ci.err = img_jpeg.jpeg_std_error(&j->em);
    j->em.error_exit = img_jpeg_error;
    j->em.output_message = img_jpeg_message;
    j->ci.client_data = j; /* kept by jpeg_CreateCompress */
    img_jpeg.jpeg_CreateCompress(&j->ci, JPEG_LIB_VERSION, sizeof j->ci);
    j->ci.image_width = (JDIMENSION)p->width;
    j->ci.image_height = (JDIMENSION)p->height;
    j->ci.input_components = 4;
    j->ci.in_color_space = JCS_EXT_BGRX; /* before set_defaults, which derives from it */
    img_jpeg.jpeg_set_defaults(&j->ci);
    img_jpeg.jpeg_set_quality(&j->ci, quality, TRUE);
    /* 4:2:0 chroma, stated rather than trusted to the defaults. */
    j->ci.comp_info[0].h_samp_factor = j->ci.comp_info[0].v_samp_factor = 2;
    for (int c = 1; c < j->ci.num_components; c++)
        j->ci.comp_info[c].h_samp_factor = j->ci.comp_info[c].v_samp_factor = 1;
    img_jpeg.jpeg_mem_dest(&j->ci, &j->buf, &j->len);
    img_jpeg.jpeg_start_compress(&j->ci, TRUE);
    while (j->ci.next_scanline < j->ci.image_height) {
        JSAMPROW rows[32];
        JDIMENSION n = 0, y = j->ci.next_scanline;
        for (; n < 32 && y + n < j->ci.image_height; n++)
            rows[n] = p->data + (size_t)(y + n) * p->stride;
        img_jpeg.jpeg_write_scanlines(&j->ci, rows, n);
    }
    img_jpeg.jpeg_finish_compress(&j->ci);
    return 0;
}

static int img_jpeg_encode(const desktop_pixels *p, int quality, base_buf *out, char *err,
                           size_t errcap) {
    /* Zeroed: jpeg_destroy_compress is then safe whatever point an error stopped at. */
    img_jpeg_job j = {.err = err, .errcap = errcap};
    int rc = img_jpeg_run(&j, p, quality);
    if (rc == 0)
        base_buf_append(out, j.buf, j.len);
    img_jpeg.jpeg_destroy_compress(&j.ci);
    free(j.buf);
    return rc;
}

/* ---- WebP ----------------------------------------------------------------------------------- */

static const char *img_webp_error(WebPEncodingError e) {
    switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY:
        return "out of memory";
    case VP8_ENC_ERROR_INVALID_CONFIGURATION:
        return "invalid configuration";
    case VP8_ENC_ERROR_BAD_DIMENSION:
        return "bad picture dimensions";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW:
        return "a partition overflowed (picture too complex for this quality)";
    case VP8_ENC_ERROR_FILE_TOO_BIG:
        return "output larger than 4 GiB";
    default:
        return "encoder error";
    }
}

static int img_webp_encode(const desktop_pixels *p, int quality, base_buf *out, char *err,
                           size_t errcap) {
    if (p->width > WEBP_MAX_DIMENSION || p->height > WEBP_MAX_DIMENSION) {
        snprintf(err, errcap, "WebP cannot encode a picture larger than %dx%d (this one is %dx%d)",
                 WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION, p->width, p->height);
        return -1;
    }
    WebPConfig cfg;
    WebPPicture pic;
    /* The header's inline WebPConfigInit/WebPPictureInit call these with the ABI version. */
    if (!img_webp.WebPConfigInitInternal(&cfg, WEBP_PRESET_DEFAULT, (float)quality,
                                         WEBP_ENCODER_ABI_VERSION) ||
        !img_webp.WebPPictureInitInternal(&pic, WEBP_ENCODER_ABI_VERSION)) {
        snprintf(err, errcap,
                 "WebP encoding failed: libwebp.so.7 does not match the version "
                 "it was built for");
        return -1;
    }
    cfg.method = 0; /* the fastest: screenshots are for now, not for archiving */
    cfg.quality = (float)quality;
    if (!img_webp.WebPValidateConfig(&cfg)) {
        snprintf(err, errcap, "WebP encoding failed: invalid configuration");
        return -1;
    }
    pic.width = p->width;
    pic.height = p->height;
    pic.use_argb = 0; /* lossy VP8 wants YUV: import straight into it */
    if (!img_webp.WebPPictureImportBGRX(&pic, p->data, (int)p->stride)) {
        snprintf(err, errcap, "WebP encoding failed: %s", img_webp_error(pic.error_code));
        img_webp.WebPPictureFree(&pic);
        return -1;
    }
    WebPMemoryWriter w;
    img_webp.WebPMemoryWriterInit(&w);
    pic.writer = img_webp.WebPMemoryWrite;
    pic.custom_ptr = &w;
    int ok = img_webp.WebPEncode(&cfg, &pic);
    if (ok)
        base_buf_append(out, w.mem, w.size);
    else
        snprintf(err, errcap, "WebP encoding failed: %s", img_webp_error(pic.error_code));
    img_webp.WebPPictureFree(&pic);
    img_webp.WebPMemoryWriterClear(&w);
    return ok ? 0 : -1;
}

/* ---- entry ---------------------------------------------------------------------------------- */

int desktop_image_encode(const desktop_pixels *p, desktop_format fmt, int quality, base_buf *out,
                         char *err, size_t errcap) {
    if (!p || !p->data || p->width <= 0 || p->height <= 0) {
        snprintf(err, errcap, "no picture to encode");
        return -1;
    }
    quality = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    size_t before = out->len;
    int rc;
    switch (fmt) {
    case DESKTOP_FMT_PNG:
        rc = img_lib_ready(&img_png_lib, img_png_lib_load, err, errcap)
                 ? img_png_encode(p, out, err, errcap)
                 : -1;
        break;
    case DESKTOP_FMT_JPEG:
        rc = img_lib_ready(&img_jpeg_lib, img_jpeg_lib_load, err, errcap)
                 ? img_jpeg_encode(p, quality, out, err, errcap)
                 : -1;
        break;
    case DESKTOP_FMT_WEBP:
        rc = img_lib_ready(&img_webp_lib, img_webp_lib_load, err, errcap)
                 ? img_webp_encode(p, quality, out, err, errcap)
                 : -1;
        break;
    default:
        snprintf(err, errcap, "unknown image format");
        rc = -1;
    }
    if (rc != 0)
        out->len = before; /* a failed PNG may have written part of its stream */
    return rc;
}

const char *desktop_format_mime(desktop_format fmt) {
    switch (fmt) {
    case DESKTOP_FMT_PNG:
        return "image/png";
    case DESKTOP_FMT_JPEG:
        return "image/jpeg";
    case DESKTOP_FMT_WEBP:
        return "image/webp";
    }
    return "application/octet-stream";
}
