/* db.c - the journal's backend switch: a postgres:// or postgresql:// path selects
 * PostgreSQL (pg.c), anything else is an SQLite file (sqlite.c). store.c sees only the
 * journal_db functions, whichever backend answers them. */
#include "journal/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/lsqlite.h"

/* One connection of either backend (exactly one of the two is set). Owner: as journal_db
 * in internal.h. */
struct journal_db {
    journal_sqlite *sq;
    journal_pg *pg;
};

static bool journal_db_is_pg(const char *path) {
    return strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0;
}

const char *journal_db_backend(const char *path) {
    return journal_db_is_pg(path) ? "postgres" : "sqlite";
}

char *journal_db_label(const char *path) {
    if (!journal_db_is_pg(path))
        return base_xstrdup(path);
    /* scheme://[user[:password]@]host[:port][/db][?params]: keep user, host and database. */
    const char *auth = strstr(path, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = memrchr(auth, '@', alen);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    size_t dlen = strcspn(auth + alen, "?");
    if (colon)
        return base_xasprintf("%.*s:***%.*s", (int)(colon - path), path,
                              (int)(alen - (size_t)(at - auth) + dlen), at);
    return base_xasprintf("%.*s", (int)(auth - path + alen + dlen), path);
}

journal_db *journal_db_open(const char *path, bool writer, const journal_opts *opts, char **error) {
    journal_db *db = base_xcalloc(1, sizeof *db);
    if (journal_db_is_pg(path)) {
        db->pg = journal_pg_open(path, writer, opts, error);
    } else {
        const char *why = NULL;
        if (!base_sqlite(&why)) {
            *error = base_xasprintf("journal %s: %s", path, why);
        } else {
            if (writer) {
                char *dir = base_xstrdup(path);
                char *slash = strrchr(dir, '/');
                if (slash && slash != dir) {
                    *slash = 0;
                    base_mkdirs(dir);
                }
                free(dir);
            }
            db->sq = journal_sqlite_open(path, writer, opts, error);
        }
    }
    if (!db->sq && !db->pg) {
        free(db);
        return NULL;
    }
    return db;
}

void journal_db_close(journal_db *db) {
    if (!db)
        return;
    if (db->pg)
        journal_pg_close(db->pg);
    else
        journal_sqlite_close(db->sq);
    free(db);
}

int journal_db_load(journal_db *db, journal_store *s, char **error) {
    return db->pg ? journal_pg_load(db->pg, s, error) : journal_sqlite_load(db->sq, s, error);
}

int journal_db_append(journal_db *db, journal_rec **recs, size_t n, char **error) {
    return db->pg ? journal_pg_append(db->pg, recs, n, error)
                  : journal_sqlite_append(db->sq, recs, n, error);
}

int journal_db_read(journal_db *db, const char *server, uint64_t after, uint64_t before,
                    size_t limit, unsigned dir_mask, journal_rec ***out, size_t *nout,
                    char **error) {
    return db->pg
               ? journal_pg_read(db->pg, server, after, before, limit, dir_mask, out, nout, error)
               : journal_sqlite_read(db->sq, server, after, before, limit, dir_mask, out, nout,
                                     error);
}

int journal_db_read_session(journal_db *db, const char *session, uint64_t after_sidx, size_t limit,
                            journal_rec ***out, size_t *nout, char **error) {
    return db->pg
               ? journal_pg_read_session(db->pg, session, after_sidx, limit, out, nout, error)
               : journal_sqlite_read_session(db->sq, session, after_sidx, limit, out, nout, error);
}

int journal_db_put_sessions(journal_db *db, const journal_session_put *puts, size_t n,
                            char **error) {
    return db->pg ? journal_pg_put_sessions(db->pg, puts, n, error)
                  : journal_sqlite_put_sessions(db->sq, puts, n, error);
}

int journal_db_delete_session(journal_db *db, const char *id, char **error) {
    return db->pg ? journal_pg_delete_session(db->pg, id, error)
                  : journal_sqlite_delete_session(db->sq, id, error);
}

int journal_db_load_sessions(journal_db *db, journal_session_fn fn, void *ud, char **error) {
    return db->pg ? journal_pg_load_sessions(db->pg, fn, ud, error)
                  : journal_sqlite_load_sessions(db->sq, fn, ud, error);
}

int64_t journal_db_prune(journal_db *db, journal_store *s, int64_t now_ms, char **error) {
    return db->pg ? journal_pg_prune(db->pg, s, now_ms, error)
                  : journal_sqlite_prune(db->sq, s, now_ms, error);
}

int journal_db_mark_clean(journal_db *db, char **error) {
    return db->pg ? journal_pg_mark_clean(db->pg, error) : journal_sqlite_mark_clean(db->sq, error);
}
