/* lsqlite.h - SQLite, bound lazily.
 *
 * Linked normally, libsqlite3 (and the libm it pulls in) is relocated at every start and
 * costs about half a megabyte of resident memory before anyone writes a journal record.
 * Only the journal needs it, so it is opened with dlopen on first use, as libarchive is
 * (larchive.h). Unlike libarchive, a missing library is an error the caller reports (the
 * journal refuses to open), not an abort. Call sites use the usual sqlite3_* names; the
 * macros below route them through the table. */
#ifndef BASE_LSQLITE_H
#define BASE_LSQLITE_H

#include <sqlite3.h>

#define BASE_SQLITE_FUNCS(X)                                                                       \
    X(sqlite3_bind_int)                                                                            \
    X(sqlite3_bind_int64)                                                                          \
    X(sqlite3_bind_null)                                                                           \
    X(sqlite3_bind_text)                                                                           \
    X(sqlite3_busy_timeout)                                                                        \
    X(sqlite3_clear_bindings)                                                                      \
    X(sqlite3_close_v2)                                                                            \
    X(sqlite3_column_bytes)                                                                        \
    X(sqlite3_column_int)                                                                          \
    X(sqlite3_column_int64)                                                                        \
    X(sqlite3_column_text)                                                                         \
    X(sqlite3_errmsg)                                                                              \
    X(sqlite3_exec)                                                                                \
    X(sqlite3_extended_result_codes)                                                               \
    X(sqlite3_finalize)                                                                            \
    X(sqlite3_free)                                                                                \
    X(sqlite3_open_v2)                                                                             \
    X(sqlite3_prepare_v2)                                                                          \
    X(sqlite3_prepare_v3)                                                                          \
    X(sqlite3_reset)                                                                               \
    X(sqlite3_step)

/* The table of SQLite entry points. Owner: lsqlite.c, for the process lifetime. */
typedef struct base_sqlite_api {
#define X(f) __typeof__(f) *f;
    BASE_SQLITE_FUNCS(X)
#undef X
} base_sqlite_api;

/* Loads libsqlite3 on the first call (any thread). NULL when it cannot be loaded; then
 * *why (static storage) says why. */
const base_sqlite_api *base_sqlite(const char **why);

#ifndef BASE_LSQLITE_IMPL
#define sqlite3_bind_int (base_sqlite(NULL)->sqlite3_bind_int)
#define sqlite3_bind_int64 (base_sqlite(NULL)->sqlite3_bind_int64)
#define sqlite3_bind_null (base_sqlite(NULL)->sqlite3_bind_null)
#define sqlite3_bind_text (base_sqlite(NULL)->sqlite3_bind_text)
#define sqlite3_busy_timeout (base_sqlite(NULL)->sqlite3_busy_timeout)
#define sqlite3_clear_bindings (base_sqlite(NULL)->sqlite3_clear_bindings)
#define sqlite3_close_v2 (base_sqlite(NULL)->sqlite3_close_v2)
#define sqlite3_column_bytes (base_sqlite(NULL)->sqlite3_column_bytes)
#define sqlite3_column_int (base_sqlite(NULL)->sqlite3_column_int)
#define sqlite3_column_int64 (base_sqlite(NULL)->sqlite3_column_int64)
#define sqlite3_column_text (base_sqlite(NULL)->sqlite3_column_text)
#define sqlite3_errmsg (base_sqlite(NULL)->sqlite3_errmsg)
#define sqlite3_exec (base_sqlite(NULL)->sqlite3_exec)
#define sqlite3_extended_result_codes (base_sqlite(NULL)->sqlite3_extended_result_codes)
#define sqlite3_finalize (base_sqlite(NULL)->sqlite3_finalize)
#define sqlite3_free (base_sqlite(NULL)->sqlite3_free)
#define sqlite3_open_v2 (base_sqlite(NULL)->sqlite3_open_v2)
#define sqlite3_prepare_v2 (base_sqlite(NULL)->sqlite3_prepare_v2)
#define sqlite3_prepare_v3 (base_sqlite(NULL)->sqlite3_prepare_v3)
#define sqlite3_reset (base_sqlite(NULL)->sqlite3_reset)
#define sqlite3_step (base_sqlite(NULL)->sqlite3_step)
#endif

#endif
