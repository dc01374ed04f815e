/* tar_write.h - a minimal ustar writer for the unit tests and the tar fuzzer, so that they
 * build archives byte by byte without a tool or libarchive's writer. Header-only (static
 * inline), appending to a base_buf the caller owns. */
#ifndef TAR_WRITE_H
#define TAR_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

/* One 512-byte ustar header. name and link are cut at 100 bytes; size is what the header
 * declares (data follows with tar_write_data, or not at all for a lying header). */
static inline void tar_write_header(base_buf *b, const char *name, char type, const char *link,
                                    uint64_t size, unsigned mode) {
    char h[512];
    memset(h, 0, sizeof h);
    memcpy(h, name, strnlen(name, 100));
    snprintf(h + 100, 8, "%07o", mode & 07777);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011llo", (unsigned long long)(size & 077777777777ull));
    snprintf(h + 136, 12, "%011o", 1577934245u);
    memset(h + 148, ' ', 8);
    h[156] = type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    base_buf_append(b, h, 512);
}

/* An entry's data, padded to the next 512-byte block. */
static inline void tar_write_data(base_buf *b, const void *data, size_t len) {
    static const char zero[512];
    base_buf_append(b, data, len);
    base_buf_append(b, zero, (512 - len % 512) % 512);
}

/* The two zero blocks that end an archive. */
static inline void tar_write_end(base_buf *b) {
    static const char zero[1024];
    base_buf_append(b, zero, sizeof zero);
}

#endif
