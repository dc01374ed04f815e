/* base.h - the bottom layer: buffers, logging, time, strings and JSON helpers.
 *
 * Nothing here knows about HTTP, processes or ACP. Every other module may use it. */
#ifndef BASE_H
#define BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>
#include <uv.h>

#define BASE_VERSION "0.4.2"

/* ---- memory ---------------------------------------------------------------------------- */

/* Allocation failure is not recoverable for a server this small: abort loudly. */
void *base_xmalloc(size_t n);
void *base_xcalloc(size_t n, size_t sz);
void *base_xrealloc(void *p, size_t n);
char *base_xstrdup(const char *s);
char *base_xstrndup(const char *s, size_t n);
char *base_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *base_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ---- growable byte buffer ---------------------------------------------------------------
 * Owner: whoever embeds or allocates it; base_buf_free releases the bytes only. */
typedef struct base_buf {
    char *data;
    size_t len;
    size_t cap;
} base_buf;

void base_buf_init(base_buf *b);
void base_buf_free(base_buf *b);
void base_buf_reserve(base_buf *b, size_t extra);
void base_buf_append(base_buf *b, const void *data, size_t len);
void base_buf_appends(base_buf *b, const char *s);
void base_buf_appendf(base_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (used for consumed input). */
void base_buf_consume(base_buf *b, size_t n);
/* Hand the bytes to the caller (NUL-terminated) and reset the buffer. */
char *base_buf_steal(base_buf *b, size_t *len_out);

/* ---- reference-counted immutable bytes ---------------------------------------------------
 * Used to fan one payload out to many writers without copies. Created with refs=1; every
 * holder calls base_rcbuf_unref once; the last one frees it. */
typedef struct base_rcbuf {
    int refs;
    size_t len;
    char data[]; /* len bytes, plus a NUL for convenience */
} base_rcbuf;

base_rcbuf *base_rcbuf_new(const void *data, size_t len);
base_rcbuf *base_rcbuf_ref(base_rcbuf *b);
void base_rcbuf_unref(base_rcbuf *b);

/* ---- string-keyed hash map (map.c) ------------------------------------------------------
 * Keys are copied and freed by the map; values belong to the caller (base_map_free can
 * release them with free_value). Owner of the map: its creator. */
typedef struct base_map base_map;

base_map *base_map_new(void);
void *base_map_get(const base_map *m, const char *key);
/* Insert or replace; returns the previous value (NULL when the key was new). */
void *base_map_put(base_map *m, const char *key, void *value);
/* Remove; returns the value (NULL when absent). */
void *base_map_del(base_map *m, const char *key);
size_t base_map_count(const base_map *m);
void base_map_each(const base_map *m, void (*fn)(const char *key, void *value, void *ud),
                   void *ud);
void base_map_free(base_map *m, void (*free_value)(void *value));

/* ---- logging (logfmt on stderr) ----------------------------------------------------------
 * Level comes from SANDBOX_AGENT_LOG (error, warn, info, debug); default info. */
typedef enum { BASE_LOG_ERROR = 0, BASE_LOG_WARN, BASE_LOG_INFO, BASE_LOG_DEBUG } base_log_level;

void base_log_init(void);
bool base_log_enabled(base_log_level lvl);
/* fmt is a logfmt fragment written after ts/level/msg, e.g. "port=%d addr=%s". May be NULL. */
void base_log(base_log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define LOG_ERROR(msg, ...) base_log(BASE_LOG_ERROR, msg, __VA_ARGS__)
#define LOG_WARN(msg, ...) base_log(BASE_LOG_WARN, msg, __VA_ARGS__)
#define LOG_INFO(msg, ...) base_log(BASE_LOG_INFO, msg, __VA_ARGS__)
#define LOG_DEBUG(msg, ...)                                                                        \
    do {                                                                                           \
        if (base_log_enabled(BASE_LOG_DEBUG))                                                      \
            base_log(BASE_LOG_DEBUG, msg, __VA_ARGS__);                                            \
    } while (0)
/* Quote a value for logfmt into a caller buffer (truncates). Returns out. */
const char *base_log_quote(char *out, size_t cap, const char *s);

/* An invariant of our own code (not a check of input, which gets an error answer): when it
 * does not hold, log where and abort, rather than go on with a silent fallback such as
 * slot 0 for an unknown id. Always compiled in; the conditions are cheap. */
#define BASE_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            base_log(BASE_LOG_ERROR, "assertion failed", "cond=\"%s\" file=%s line=%d", #cond,     \
                     __FILE__, __LINE__);                                                          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- time ------------------------------------------------------------------------------- */
int64_t base_now_ms(void);   /* wall clock, Unix epoch milliseconds */
uint64_t base_mono_ms(void); /* monotonic */

/* ---- strings ---------------------------------------------------------------------------- */
/* Decode %XX escapes (and '+' as space when plus_is_space). Returns NULL on a malformed
 * escape or an embedded NUL. Caller frees. */
char *base_percent_decode(const char *s, size_t len, bool plus_is_space);
/* True when the n bytes are well-formed UTF-8 (no overlongs, surrogates or NUL). */
bool base_utf8_valid(const char *s, size_t n);
/* Constant-time equality for secrets: time depends only on the lengths. */
bool base_ct_equal(const char *a, size_t alen, const char *b, size_t blen);
/* Case-insensitive ASCII comparison of n bytes. */
bool base_ascii_ieq(const char *a, const char *b, size_t n);
/* Trim ASCII whitespace in place (returns pointer into s; updates *len). */
const char *base_trim(const char *s, size_t *len);
/* Parse an unsigned decimal integer that fills the whole span. */
bool base_parse_u64(const char *s, size_t len, uint64_t *out);
/* Environment integer with default and bounds. */
int64_t base_env_int(const char *name, int64_t def, int64_t min, int64_t max);
/* Random identifier bytes from the kernel, hex encoded (2*n chars + NUL into out). */
void base_random_hex(char *out, size_t nbytes);

/* ---- JSON helpers ------------------------------------------------------------------------ */
/* Compact serialisation, keys in insertion order. Caller frees. */
char *base_json_compact(const json_t *v);
/* Parse one JSON text of exactly len bytes. Any value kind, NUL escapes allowed. On failure
 * returns NULL and writes a parser message into err (if non-NULL). */
json_t *base_json_parse(const char *s, size_t len, char *err, size_t errcap);

/* ---- paths ------------------------------------------------------------------------------ */
/* ${XDG_DATA_HOME:-$HOME/.local/share}/sandbox-agent. Static storage; computed once. */
const char *base_data_dir(void);
/* mkdir -p with mode 0755. Returns 0 or -errno. */
int base_mkdirs(const char *path);
/* Write len bytes to path atomically: a temp file beside it, then rename, so readers see the
 * old content or the new, never a torn file. Returns 0 or -errno. */
int base_write_file_atomic(const char *path, const void *data, size_t len, int mode);
/* Absolute path of the running executable (static storage). */
const char *base_self_exe(void);

/* A libuv buffer of any length. uv_buf_init takes an unsigned int and would truncate
 * lengths of 4 GiB and more; uv_buf_t.len is a size_t on Unix. */
static inline uv_buf_t base_uv_buf(const void *data, size_t len) {
    uv_buf_t b;
    b.base = (char *)data;
    b.len = len;
    return b;
}

/* Log every event-loop iteration busy for longer than SANDBOX_AGENT_LOOP_WATCHDOG_MS
 * (loopwatch.c). Off when the variable is unset or 0; returns whether it started. Call
 * before uv_run. */
bool base_loopwatch_start(uv_loop_t *loop);
/* No more reports: the server is shutting down (joining its threads then blocks the loop,
 * and no client is served any more). */
void base_loopwatch_stop(void);

#endif
