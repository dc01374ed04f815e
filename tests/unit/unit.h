/* unit.h - a tiny unit-test harness: CHECK records failures, UNIT_MAIN prints a summary.
 * Each tests/unit/test_*.c is its own executable; tests/run.sh runs them all. */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_pass, unit_fail;
#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            unit_pass++;                                                                       \
        } else {                                                                               \
            unit_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)
#define CHECK_STR(a, b) CHECK((a) && (b) && strcmp((a), (b)) == 0)

/* Status codes of the responses in raw server output, comma-separated ("200,404").
 * Walks the framing: status line, headers, then a content-length or chunked body. A
 * stream cut off by the end of the feed still counts once. */
static inline void unit_statuses(const char *out, size_t len, char *dst, size_t cap) {
    dst[0] = 0;
    size_t i = 0;
    while (i + 12 <= len && !strncmp(out + i, "HTTP/1.", 7)) {
        size_t n = strlen(dst);
        snprintf(dst + n, cap - n, "%s%.3s", n ? "," : "", out + i + 9);
        const char *hend = memmem(out + i, len - i, "\r\n\r\n", 4);
        if (!hend)
            return;
        size_t body = (size_t)(hend - out) + 4;
        if (body + 7 <= len && !strncmp(out + body, "HTTP/1.", 7)) {
            i = body; /* answer to HEAD: framing headers, no body */
            continue;
        }
        const char *cl = memmem(out + i, body - i, "content-length: ", 16);
        if (cl) {
            i = body + strtoul(cl + 16, NULL, 10);
        } else if (memmem(out + i, body - i, "transfer-encoding: chunked", 26)) {
            i = body;
            for (;;) { /* chunks until the zero-length one */
                char *endp;
                unsigned long sz = strtoul(out + i, &endp, 16);
                const char *crlf = memmem(out + i, len - i, "\r\n", 2);
                if (!crlf || endp == out + i)
                    return;
                i = (size_t)(crlf - out) + 2 + sz + 2;
                if (sz == 0 || i > len)
                    break;
            }
        } else {
            i = body;
        }
    }
}

#define UNIT_MAIN(...)                                                                         \
    int main(void) {                                                                           \
        __VA_ARGS__;                                                                           \
        printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);                  \
        return unit_fail ? 1 : 0;                                                              \
    }
#endif
