/* lpq.h - libpq (the PostgreSQL client library), bound lazily.
 *
 * Only a journal configured with a postgres:// URL needs libpq, so the server neither links
 * it nor requires it to be installed: it is opened with dlopen on first use, as SQLite is
 * (lsqlite.h). A missing library is an error the caller reports (the journal refuses to
 * open, naming the package), not an abort. Call sites use the usual PQ* names; the macros
 * below route them through the table. */
#ifndef BASE_LPQ_H
#define BASE_LPQ_H

#include <libpq-fe.h>

#define BASE_PQ_FUNCS(X)                                                                           \
    X(PQclear)                                                                                     \
    X(PQconnectdbParams)                                                                           \
    X(PQerrorMessage)                                                                              \
    X(PQescapeLiteral)                                                                             \
    X(PQexec)                                                                                      \
    X(PQexecParams)                                                                                \
    X(PQfinish)                                                                                    \
    X(PQfreemem)                                                                                   \
    X(PQgetResult)                                                                                 \
    X(PQgetisnull)                                                                                 \
    X(PQgetlength)                                                                                 \
    X(PQgetvalue)                                                                                  \
    X(PQntuples)                                                                                   \
    X(PQputCopyData)                                                                               \
    X(PQputCopyEnd)                                                                                \
    X(PQreset)                                                                                     \
    X(PQresultErrorField)                                                                          \
    X(PQresultErrorMessage)                                                                        \
    X(PQresultStatus)                                                                              \
    X(PQsetNoticeProcessor)                                                                        \
    X(PQstatus)

/* The table of libpq entry points. Owner: lpq.c, for the process lifetime. */
typedef struct base_pq_api {
#define X(f) __typeof__(f) *f;
    BASE_PQ_FUNCS(X)
#undef X
} base_pq_api;

/* Loads libpq on the first call (any thread). NULL when it cannot be loaded; then *why
 * (static storage) says why and which package provides it. */
const base_pq_api *base_pq(const char **why);

#ifndef BASE_LPQ_IMPL
#define PQclear (base_pq(NULL)->PQclear)
#define PQconnectdbParams (base_pq(NULL)->PQconnectdbParams)
#define PQerrorMessage (base_pq(NULL)->PQerrorMessage)
#define PQescapeLiteral (base_pq(NULL)->PQescapeLiteral)
#define PQexec (base_pq(NULL)->PQexec)
#define PQexecParams (base_pq(NULL)->PQexecParams)
#define PQfinish (base_pq(NULL)->PQfinish)
#define PQfreemem (base_pq(NULL)->PQfreemem)
#define PQgetResult (base_pq(NULL)->PQgetResult)
#define PQgetisnull (base_pq(NULL)->PQgetisnull)
#define PQgetlength (base_pq(NULL)->PQgetlength)
#define PQgetvalue (base_pq(NULL)->PQgetvalue)
#define PQntuples (base_pq(NULL)->PQntuples)
#define PQputCopyData (base_pq(NULL)->PQputCopyData)
#define PQputCopyEnd (base_pq(NULL)->PQputCopyEnd)
#define PQreset (base_pq(NULL)->PQreset)
#define PQresultErrorField (base_pq(NULL)->PQresultErrorField)
#define PQresultErrorMessage (base_pq(NULL)->PQresultErrorMessage)
#define PQresultStatus (base_pq(NULL)->PQresultStatus)
#define PQsetNoticeProcessor (base_pq(NULL)->PQsetNoticeProcessor)
#define PQstatus (base_pq(NULL)->PQstatus)
#endif

#endif
