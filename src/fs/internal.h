/* internal.h - shared between the files of the fs module only (not a public header). */
#ifndef FS_INTERNAL_H
#define FS_INTERNAL_H

#include <sys/stat.h>

#include "fs/fs.h"

/* File data moves in chunks of this size (reads from the thread pool, writes to disk). */
#define FS_CHUNK (256u << 10)
/* At most this many extracted paths are listed by upload-batch (§7.9). */
#define FS_TAR_MAX_LISTED 1024

/* An error answer, computed on or off the loop and sent from the loop. Owner: whatever
 * embeds it; fs_err_clear releases the strings. status 0 means "no error". */
typedef struct fs_err {
    int status;
    const char *code;  /* static */
    const char *title; /* static */
    char *detail;
    char *message; /* details.message, or NULL for none */
} fs_err;

void fs_err_clear(fs_err *e);
/* 400 invalid_request with detail "invalid request: <msg>". */
void fs_err_invalid(fs_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map an errno from an operation on path (see fs_common.c for the table). */
void fs_err_os(fs_err *e, int errnum, const char *path);
/* 502 stream_error with a free-form message (libarchive errors and the like). */
void fs_err_stream(fs_err *e, const char *msg);
/* 413 with the layer's problem shape: "invalid request: <msg>". */
void fs_err_413(fs_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 413 "<what> exceeds the limit of <limit> bytes". */
void fs_err_too_large(fs_err *e, const char *what, uint64_t limit);
/* Answer req with e (which stays owned by the caller). */
void fs_reply_err(http_req *req, const fs_err *e);

/* The path query parameter resolved against $HOME. required: a missing parameter is an
 * error. On failure answers 400 and returns NULL; otherwise a malloc'd path. */
char *fs_query_path(http_req *req, bool required);
/* $HOME (or the passwd entry, or "/") resolution of a request path; NULL with *e set. */
char *fs_resolve(const char *path, fs_err *e);

/* mkdir -p with mode 0777 (umask applies), the way Rust's create_dir_all behaves: an
 * existing directory (or a symlink to one) is fine. Returns 0 or an errno. Blocking. */
int fs_mkdirs(const char *path);
/* Remove path without following a symlink at it; directories only when recursive (then
 * everything below, never following symlinks). Returns 0 or an errno. Blocking. */
int fs_remove(const char *path, bool recursive);
/* FsStat (name NULL) or FsEntry body from a stat result. */
json_t *fs_stat_json(const char *name, const char *path, const struct stat *st);
/* Rust's Path::parent: NULL for "/" and single relative components. Caller frees. */
char *fs_parent_path(const char *path);

/* ---- thread-pool jobs ---------------------------------------------------------------------
 * A job runs `work` on libuv's thread pool, then `done` on the loop. If the request went away
 * meanwhile (abort), req is NULL when done runs. Owner: the job itself; done must free it
 * (fs_job_free covers the common fields). */
typedef struct fs_job fs_job;
struct fs_job {
    uv_work_t work;
    http_req *req; /* NULL once the client left */
    void (*fn)(fs_job *j);
    void (*done)(fs_job *j);
    char *path;  /* resolved request path */
    char *path2; /* second path (move destination) */
    bool flag;   /* recursive / overwrite */
    fs_err err;
    json_t *result; /* success body, or NULL */
    void *ud;       /* kind-specific state */
};

fs_job *fs_job_new(http_req *req, void (*fn)(fs_job *), void (*done)(fs_job *));
/* Queue the job (registers the abort callback). */
void fs_job_start(fs_job *j);
/* The usual `done`: answer err or result (when req is still there), then free. */
void fs_job_done_reply(fs_job *j);
void fs_job_free(fs_job *j);

/* ---- per-file modules ------------------------------------------------------------------- */
void fs_file_routes(http_server *srv);
/* loop: the server's, for the upload's wake-ups. */
void fs_tar_routes(http_server *srv, uv_loop_t *loop);

/* Extract an in-memory tar archive under dest (created if needed). The paths listing goes to
 * *paths (a JSON array, caller owns) and *truncated. Returns false with *e set on failure
 * (entries extracted before the failure stay). Blocking; exported for the fuzzer. */
bool fs_tar_extract_memory(const char *dest, const void *data, size_t len, json_t **paths,
                           bool *truncated, fs_err *e);

#endif
