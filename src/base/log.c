/* log.c - logfmt lines on stderr, one per event, level chosen by SANDBOX_AGENT_LOG. */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/time.h>

static base_log_level base_log_level_now = BASE_LOG_INFO;

void base_log_init(void) {
    const char *v = getenv("SANDBOX_AGENT_LOG");
    if (!v || !*v)
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(v, names[i]))
            base_log_level_now = (base_log_level)i;
    if (!strcasecmp(v, "trace"))
        base_log_level_now = BASE_LOG_DEBUG;
}

bool base_log_enabled(base_log_level lvl) {
    return lvl <= base_log_level_now;
}

const char *base_log_quote(char *out, size_t cap, const char *s) {
    size_t o = 0;
    bool need = !*s;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
            need = true;
    if (!need) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    if (cap < 3) {
        out[0] = 0;
        return out;
    }
    out[o++] = '"';
    for (const char *p = s; *p && o + 3 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20) {
            out[o++] = '?';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

void base_log(base_log_level lvl, const char *msg, const char *fmt, ...) {
    if (!base_log_enabled(lvl))
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    char q[512];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), names[lvl], base_log_quote(q, sizeof q, msg));
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 2)
        n = sizeof line - 2;
    if (fmt && *fmt) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
        if ((size_t)n >= sizeof line - 1)
            n = sizeof line - 2;
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
