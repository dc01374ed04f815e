/* mem.c - allocation wrappers, growable buffers and reference-counted byte blobs. */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void base_oom(void) {
    fputs("sandbox-agent: out of memory\n", stderr);
    abort();
}

void *base_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        base_oom();
    return p;
}

void *base_xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        base_oom();
    return p;
}

void *base_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        base_oom();
    return q;
}

char *base_xstrdup(const char *s) {
    return base_xstrndup(s, strlen(s));
}

char *base_xstrndup(const char *s, size_t n) {
    char *p = base_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *base_xvasprintf(const char *fmt, va_list ap) {
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        base_oom();
    return out;
}

char *base_xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = base_xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

void base_buf_init(base_buf *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void base_buf_free(base_buf *b) {
    free(b->data);
    base_buf_init(b);
}

void base_buf_reserve(base_buf *b, size_t extra) {
    size_t need = b->len + extra + 1; /* +1 keeps room for a terminating NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = base_xrealloc(b->data, cap);
    b->cap = cap;
}

void base_buf_append(base_buf *b, const void *data, size_t len) {
    base_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

void base_buf_appends(base_buf *b, const char *s) {
    base_buf_append(b, s, strlen(s));
}

void base_buf_appendf(base_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    base_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void base_buf_consume(base_buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        if (b->data)
            b->data[0] = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}

char *base_buf_steal(base_buf *b, size_t *len_out) {
    if (!b->data)
        base_buf_reserve(b, 0);
    b->data[b->len] = 0;
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    base_buf_init(b);
    return p;
}

base_rcbuf *base_rcbuf_new(const void *data, size_t len) {
    base_rcbuf *b = base_xmalloc(sizeof(*b) + len + 1);
    b->refs = 1;
    b->len = len;
    if (len && data) /* data == NULL: the caller fills the bytes in */
        memcpy(b->data, data, len);
    b->data[len] = 0;
    return b;
}

base_rcbuf *base_rcbuf_ref(base_rcbuf *b) {
    b->refs++;
    return b;
}

void base_rcbuf_unref(base_rcbuf *b) {
    if (b && --b->refs == 0)
        free(b);
}
