/* unit.h - a tiny unit-test harness: CHECK records failures, UNIT_MAIN prints a summary.
 * Each tests/unit/test_*.c is its own executable; tests/run.sh runs them all. */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
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
/* Prints "N passed, N failed" (the plain closing line tests/run.sh sums up). */
#define UNIT_MAIN(...)                                                                         \
    int main(void) {                                                                           \
        __VA_ARGS__;                                                                           \
        printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);                  \
        return unit_fail ? 1 : 0;                                                              \
    }
#endif
