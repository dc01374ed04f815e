/* fs.h - the file-system API (/v1/fs/...): list, stat, read, write, delete, mkdir, move and
 * tar upload (extracted by src/archive/), plus the pure helpers behind them that tests and
 * the fuzzer call directly.
 *
 * Paths follow http-api.md §7.1: absolute paths are used verbatim, relative ones are
 * normalised (".", empty components and a trailing slash dropped; ".." refused) and joined
 * onto $HOME. */
#ifndef FS_H
#define FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Register every /v1/fs route (all behind bearer auth); loop is the server's. */
void fs_routes(http_server *srv, uv_loop_t *loop);

/* Answer req with the regular file at path (GET /v1/fs/file's streaming, for other modules'
 * downloads): 200 with content_type (static) and the file's bytes, read on the thread pool
 * and paced by the connection; an error as /v1/fs/file words it (a missing file: 400 "path
 * not found"). */
void fs_send_file(http_req *req, const char *path, const char *content_type);

/* ---- path helpers (exported for unit tests) ----------------------------------------------- */

/* Normalise a relative path: drop empty and "." components. Returns a malloc'd string of
 * the remaining components joined by '/' ("" when none are left), or NULL when a ".."
 * component appears or the path is absolute. */
char *fs_rel_normalize(const char *rel);

/* Resolve a request path against home (§7.1): absolute paths verbatim; relative ones
 * normalised and joined onto home ("$HOME/" when nothing is left). Returns a malloc'd path,
 * or NULL for a relative path with a ".." component. */
char *fs_resolve_with_home(const char *home, const char *path);

/* Join a base directory and a normalised relative path the way the reference does
 * (no doubled '/', a trailing '/' when rel is empty). Caller frees. */
char *fs_join(const char *base, const char *rel);

/* RFC 3339 UTC timestamp with "+00:00" and the shortest exact fraction (none, 3, 6 or 9
 * digits), as in http-api.md §2.6. out needs at least 48 bytes. */
void fs_rfc3339(int64_t sec, long nsec, char *out, size_t cap);

/* A copy of s with every invalid UTF-8 sequence replaced by U+FFFD (for JSON text built
 * from file names). Caller frees. */
char *fs_utf8_lossy(const char *s);

#endif
