/* journal.h - the durable event journal: every envelope that crosses the ACP bridge, kept in
 * an embedded SQLite database (the default) so that replay has no cap and history survives
 * restarts.
 *
 * Threads: the store is driven from the loop thread (append, next id, reads); one writer
 * thread commits appended records in batches (group commit: whatever accumulated while the
 * previous transaction ran goes into the next one), and reads run on the libuv thread pool
 * with their own connections. The loop never waits for the disk.
 *
 * What a crash can lose: records are appended to the in-memory queue before they are fanned
 * out to clients and committed moments later. A kill -9 loses the records not yet committed
 * (normally those of the last 10 ms, the commit delay; all queued ones while the disk fails). With
 * SANDBOX_AGENT_JOURNAL_SYNC=normal (the default) a committed record survives the death of
 * the process; only an operating-system crash or power loss can undo the newest commits,
 * which =full prevents at the cost of an fsync per batch. Event ids are never reused: after
 * an unclean stop every server's ids resume JOURNAL_CRASH_GAP past its last committed id,
 * beyond any id a client can have seen, and a replay across the lost range says so. */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Ids skipped after an unclean stop: more than the queue can hold uncommitted
 * (JOURNAL_MAX_PENDING). */
#define JOURNAL_CRASH_GAP ((uint64_t)1 << 20)
/* Records queued but not yet committed beyond which producers must pause; see
 * journal_store_backlogged. */
#define JOURNAL_MAX_PENDING ((size_t)1 << 19)

typedef enum journal_dir {
    JOURNAL_FROM_AGENT = 0, /* agent -> client */
    JOURNAL_FROM_CLIENT = 1 /* client -> agent */
} journal_dir;

/* One event. Owner: whoever holds it; journal_rec_free releases it and its strings. */
typedef struct journal_rec {
    char *server;  /* ACP server id */
    uint64_t id;   /* agent to client: per server, strictly increasing, never reused;
                      client to agent: 0 (such records are read by session) */
    int64_t ts_ms; /* wall clock when it crossed the bridge */
    journal_dir dir;
    char *connection; /* client connection id (NULL when unknown) */
    char *session;    /* ACP sessionId it belongs to (NULL when none) */
    uint64_t sidx;    /* its index within that session, from 1 (0 when none): the SDK's
                         eventIndex; contiguous per session apart from a pruned prefix */
    char *payload;    /* the envelope, compact JSON */
    size_t len;
} journal_rec;

journal_rec *journal_rec_new(const char *server, uint64_t id, journal_dir dir,
                             const char *connection, const char *session, const char *payload,
                             size_t len);
void journal_rec_free(journal_rec *r);

/* Settings; zero fields take the defaults (environment, then built-in). */
typedef struct journal_opts {
    const char *path;        /* database file; default <data dir>/journal.sqlite3; a
                                postgres:// or postgresql:// URL selects PostgreSQL */
    const char *instance;    /* PostgreSQL: this server's namespace in a shared database;
                                SANDBOX_AGENT_JOURNAL_INSTANCE, else a random id kept in
                                <data dir>/journal-instance */
    int64_t max_age_ms;      /* SANDBOX_AGENT_JOURNAL_MAX_AGE_DAYS (30) */
    int64_t max_bytes;       /* SANDBOX_AGENT_JOURNAL_MAX_BYTES (1 GiB of payload) */
    bool sync_full;          /* SANDBOX_AGENT_JOURNAL_SYNC=full */
    uint64_t prune_every_ms; /* how often retention runs (60 s) */
    /* Group commit: how long a batch may wait for more records before its commit;
     * SANDBOX_AGENT_JOURNAL_COMMIT_DELAY_MS (JOURNAL_COMMIT_DELAY_MS); < 0: none. */
    int64_t commit_delay_ms;
} journal_opts;

#define JOURNAL_COMMIT_DELAY_MS 10
/* A batch this big is committed without waiting for more. */
#define JOURNAL_GROUP_MAX 4096

/* The store. Owner: the server; journal_store_close flushes and frees it. */
typedef struct journal_store journal_store;

/* Open (create, migrate) the database and start the writer. Blocking: call at startup,
 * before serving. NULL with *error (caller frees) when the file is not a database, is
 * corrupt, has a newer schema than this binary knows, or cannot be written. */
journal_store *journal_store_open(uv_loop_t *loop, const journal_opts *opts, char **error);
/* Commit everything queued, stop the writer, mark the stop clean, close. Blocking. */
void journal_store_close(journal_store *s);
const char *journal_store_path(const journal_store *s);
/* "sqlite" or "postgres". */
const char *journal_store_backend(const journal_store *s);

/* The next id for a server (loop thread). Ids continue from the last one committed in an
 * earlier life of the server id, so none is ever reused. */
uint64_t journal_store_next_id(journal_store *s, const char *server);
/* The last id handed out for a server (0 when none). */
uint64_t journal_store_last_id(journal_store *s, const char *server);
/* A range of ids with no records although they were, or may have been, handed out:
 * retention removed them ("pruned", from 1), or an unclean stop lost what was not yet
 * committed ("crash"). */
typedef struct journal_gap {
    uint64_t from, to;  /* inclusive */
    const char *reason; /* static: "pruned" or "crash" */
} journal_gap;
/* The gaps of a server that hold ids above after, oldest first, at most max of them;
 * returns how many. A replay from after tells its client about each. */
size_t journal_store_gaps(journal_store *s, const char *server, uint64_t after, journal_gap *out,
                          size_t max);

/* Queue a record for commit; the store takes ownership and never drops it. Returns the
 * record's commit sequence (see journal_store_committed). */
uint64_t journal_store_append(journal_store *s, journal_rec *r);
/* More than JOURNAL_MAX_PENDING records wait for commit (the disk is slow or failing):
 * producers should stop (the bridge stops reading agent output and answers clients 503)
 * until it clears, which keeps the uncommitted range below JOURNAL_CRASH_GAP. */
bool journal_store_backlogged(const journal_store *s);
/* Every record whose sequence is at or below this is committed (any thread). */
uint64_t journal_store_committed(const journal_store *s);
/* Block until every record appended so far is committed (tests and shutdown). */
void journal_store_flush(journal_store *s);
/* Without blocking: cb runs on the loop thread, never inside this call, once everything
 * queued so far (records, summaries, deletes) is committed, with status 0. Waiters are
 * answered in the order they came. While commits fail (journal_store_degraded) it runs with
 * UV_EIO instead of waiting for the disk to recover; at journal_store_close, with 0 when the
 * final commit took it, else UV_ECANCELED. ud must stay valid until then (there is no
 * cancel: the caller's state outlives a client that went away, and frees itself in cb).
 * A pending waiter keeps the loop alive. Loop thread. */
typedef void (*journal_committed_fn)(void *ud, int status);
void journal_store_when_committed(journal_store *s, journal_committed_fn cb, void *ud);
/* Empty when healthy, else why commits fail (static storage until the next change; loop
 * thread). */
const char *journal_store_degraded(journal_store *s);

/* Read records of one server with after < id < before (before 0 = no bound), in id order,
 * at most limit, only the directions in dir_mask (1 << JOURNAL_FROM_AGENT, ...). Runs on the
 * thread pool; done runs on the loop with the records (owned by the callee: done must take
 * or free each) or an error text. Every record appended before the call is seen, committed
 * or not yet (those still queued or in the batch being committed are copied from memory),
 * so a reader can switch from a read to live delivery without a hole. */
typedef void (*journal_read_fn)(void *ud, journal_rec **recs, size_t n, const char *error);
typedef struct journal_read journal_read;
journal_read *journal_store_read(journal_store *s, const char *server, uint64_t after,
                                 uint64_t before, size_t limit, unsigned dir_mask,
                                 journal_read_fn done, void *ud);
/* The reader loses interest: done will not run (the work may still finish and is freed). */
void journal_read_cancel(journal_read *rd);

/* ---- sessions ----------------------------------------------------------------------------
 * The session index (src/sessions/) persists each session's summary as one JSON text per
 * session id. Summaries go through the same commit queue as records, so a summary is never
 * committed ahead of the events it describes. */

/* Queue an insert-or-replace of a session's summary (copied). */
void journal_store_put_session(journal_store *s, const char *id, const char *json);
/* The same, committed without waiting for the batch to grow: for what a crash must not
 * lose even in its last milliseconds (a new session, an ACP server's record). */
void journal_store_put_session_now(journal_store *s, const char *id, const char *json);
/* Queue the removal of a session's summary and of every record whose session it is. */
void journal_store_delete_session(journal_store *s, const char *id);
/* Every stored session, at startup (blocking; before serving): its summary and the highest
 * sidx among its records (0 when none), so event indexes continue where they stopped. */
typedef void (*journal_session_fn)(void *ud, const char *id, const char *json, uint64_t last_sidx);
int journal_store_load_sessions(journal_store *s, journal_session_fn fn, void *ud, char **error);
/* Records of one session with sidx > after_sidx, in sidx order, at most limit (both
 * directions). Thread pool, and the same visibility, as journal_store_read. */
journal_read *journal_store_read_session(journal_store *s, const char *session, uint64_t after_sidx,
                                         size_t limit, journal_read_fn done, void *ud);

/* Apply retention now as of now_ms (normally it runs on a timer): the writer thread does it
 * and this waits for it. Returns records removed. For tests. */
uint64_t journal_store_prune_now(journal_store *s, int64_t now_ms);

#endif
