/* internal.h - what store.c and the database backends share inside the journal module.
 *
 * store.c calls the journal_db functions; db.c picks the backend from the path (a
 * postgres:// or postgresql:// URL selects PostgreSQL, pg.c; anything else is an SQLite file,
 * sqlite.c) and forwards each call to the backend's function of the same name under its own
 * prefix (journal_sqlite_append, journal_pg_append, ...). */
#ifndef JOURNAL_INTERNAL_H
#define JOURNAL_INTERNAL_H

#include "journal/journal.h"

/* One database connection, used by one thread at a time. Owner: the store (the writer's)
 * or its reader pool; journal_db_close frees it. */
typedef struct journal_db journal_db;

/* writer: create the schema or migrate it, and set the connection up for commits. */
journal_db *journal_db_open(const char *path, bool writer, const journal_opts *opts, char **error);
void journal_db_close(journal_db *db);
/* Writer, at open: feed the heads (journal_store_load_head/gap), handle an unclean stop
 * (crash gaps), and mark the store as running. */
int journal_db_load(journal_db *db, journal_store *s, char **error);
/* One transaction for the batch (each record with its sidx). 0, or -1 with *error (caller
 * frees): nothing committed. */
int journal_db_append(journal_db *db, journal_rec **recs, size_t n, char **error);
/* Records of server with after < id < before (before 0 = no bound), in id
 * order, at most limit, dir in dir_mask. *out: an array (caller frees it and each record). */
int journal_db_read(journal_db *db, const char *server, uint64_t after, uint64_t before,
                    size_t limit, unsigned dir_mask, journal_rec ***out, size_t *nout,
                    char **error);
/* Records whose session is session with sidx > after_sidx, in sidx order, at most limit,
 * both directions; *out as for journal_db_read. */
int journal_db_read_session(journal_db *db, const char *session, uint64_t after_sidx, size_t limit,
                            journal_rec ***out, size_t *nout, char **error);

/* A session summary to store (borrowed strings). */
typedef struct journal_session_put {
    const char *id;
    const char *json;
    int64_t updated_ms;
} journal_session_put;
/* One transaction: insert or replace each summary, in order. 0, or -1 with *error:
 * nothing committed. */
int journal_db_put_sessions(journal_db *db, const journal_session_put *puts, size_t n,
                            char **error);
/* One transaction: remove the session's summary and every record whose session it is, and
 * take their payload bytes off the retention total. Ids of the removed records are not
 * reused and are not reported as gaps. 0, or -1 with *error: nothing removed. */
int journal_db_delete_session(journal_db *db, const char *id, char **error);
/* Every stored summary, in no particular order, with the highest sidx among the records of
 * that session (0 when none). fn runs on the calling thread. */
int journal_db_load_sessions(journal_db *db, journal_session_fn fn, void *ud, char **error);
/* Retention: remove records older than max age, then the oldest until the payload total
 * is under the size bound; reports what each server lost (journal_store_note_pruned).
 * Returns records removed or -1. */
int64_t journal_db_prune(journal_db *db, journal_store *s, int64_t now_ms, char **error);
int journal_db_mark_clean(journal_db *db, char **error);
/* "postgres" or "sqlite": the backend the path selects (static). */
const char *journal_db_backend(const char *path);
/* The path as logs may show it: a URL loses its password and query parameters. Caller
 * frees. */
char *journal_db_label(const char *path);

/* The functions each backend implements, with the contracts above; T is its connection. */
#define JOURNAL_BACKEND(prefix, T)                                                                 \
    typedef struct T T;                                                                            \
    T *prefix##_open(const char *path, bool writer, const journal_opts *opts, char **error);       \
    void prefix##_close(T *db);                                                                    \
    int prefix##_load(T *db, journal_store *s, char **error);                                      \
    int prefix##_append(T *db, journal_rec **recs, size_t n, char **error);                        \
    int prefix##_read(T *db, const char *server, uint64_t after, uint64_t before, size_t limit,    \
                      unsigned dir_mask, journal_rec ***out, size_t *nout, char **error);          \
    int prefix##_read_session(T *db, const char *session, uint64_t after_sidx, size_t limit,       \
                              journal_rec ***out, size_t *nout, char **error);                     \
    int prefix##_put_sessions(T *db, const journal_session_put *puts, size_t n, char **error);     \
    int prefix##_delete_session(T *db, const char *id, char **error);                              \
    int prefix##_load_sessions(T *db, journal_session_fn fn, void *ud, char **error);              \
    int64_t prefix##_prune(T *db, journal_store *s, int64_t now_ms, char **error);                 \
    int prefix##_mark_clean(T *db, char **error);
JOURNAL_BACKEND(journal_sqlite, journal_sqlite)
JOURNAL_BACKEND(journal_pg, journal_pg)
#undef JOURNAL_BACKEND

void journal_store_load_head(journal_store *s, const char *server, uint64_t last_id,
                             uint64_t pruned_below);
void journal_store_load_gap(journal_store *s, const char *server, uint64_t from, uint64_t to);
void journal_store_note_pruned(journal_store *s, const char *server, uint64_t below);

#endif
