/* internal.h - shared between the files of the archive module only (not a public header):
 * path components (check.c), the destination writer (dest.c) that extract.c feeds. */
#ifndef SA_ARCHIVE_INTERNAL_H
#define SA_ARCHIVE_INTERNAL_H

#include <sys/stat.h>
#include <time.h>

#include "archive/archive.h"
#include "base/base.h"

/* ---- path components (check.c) ---------------------------------------------------------- */

/* Components of a path, split on '/'. Empty and "." components are dropped; ".." is kept
 * so that callers can decide. Owner: the caller; sa_archive_comps_free releases. */
typedef struct sa_archive_comps {
    char **v;
    size_t n, cap;
} sa_archive_comps;

void sa_archive_comps_split(sa_archive_comps *c, const char *p);
void sa_archive_comps_push(sa_archive_comps *c, const char *s, size_t len);
void sa_archive_comps_pop(sa_archive_comps *c);
void sa_archive_comps_free(sa_archive_comps *c);
bool sa_archive_comps_has_dotdot(const sa_archive_comps *c);
/* The first n components joined by '/' ("" for none). Caller frees. */
char *sa_archive_comps_join(const sa_archive_comps *c, size_t n);
/* True when the absolute target lies lexically under the absolute, ".."-free root; then
 * *rest (if non-NULL) gets the target's components below the root (caller frees). */
bool sa_archive_abs_inside(const char *root, const char *target, sa_archive_comps *rest);
/* base joined with rel the way paths are reported: no doubled '/'. Caller frees. */
char *sa_archive_join(const char *base, const char *rel);

/* Set *e (clearing what it held). path may be NULL. */
void sa_archive_err_set(sa_archive_err *e, sa_archive_status st, int errnum, const char *path,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* SA_ARCHIVE_OS for path: "<path>: <strerror>". */
void sa_archive_err_os(sa_archive_err *e, int errnum, const char *path);

/* ---- the destination writer (dest.c) ---------------------------------------------------- */

/* One entry as the reader hands it over, names already mapped to bytes. */
typedef struct sa_archive_item {
    const char *name;
    int type;         /* SA_ARCHIVE_* entry kind */
    const char *link; /* symlink or hard link target, else NULL */
    mode_t perm;
    bool size_set;
    int64_t size;
    bool has_mtime;
    struct timespec mtime;
} sa_archive_item;

/* Where a file entry's data comes from: the next block into *block (length returned), 0 at
 * the entry's end, -1 on a read error (the reader has set the error). */
typedef ssize_t (*sa_archive_data_fn)(void *ud, const void **block);

/* An extraction in progress below one destination. Owner: the extracting thread (on its
 * stack); sa_archive_dest_close releases everything it holds. */
typedef struct sa_archive_dest {
    const char *dest; /* as given, for messages */
    int rootfd;
    const sa_archive_opts *o;
    sa_archive_err *err;
    uint64_t bytes, entries;
    struct sa_archive_dirfix *dirs; /* directory modes and mtimes applied at the end */
    size_t ndirs, capdirs;
    /* Sets of normalised names (JSON objects used for their keys only): the symlinks and the
     * regular files this archive made. */
    json_t *links, *files;
} sa_archive_dest;

/* Open dest. False with *err set. */
bool sa_archive_dest_open(sa_archive_dest *d, const char *dest, const sa_archive_opts *o,
                          sa_archive_err *err);
/* Count one entry against the limits and cancel flag, then write it. False with d->err
 * set. */
bool sa_archive_dest_entry(sa_archive_dest *d, const sa_archive_item *it, sa_archive_data_fn data,
                           void *ud);
/* After the last entry (also after a failure): re-check the archive's symlinks against the
 * final tree (removing any that leads out; an error only if ok was true) and apply the
 * directory modes and mtimes. Returns ok, or false when a link check failed. */
bool sa_archive_dest_finish(sa_archive_dest *d, bool ok);
void sa_archive_dest_close(sa_archive_dest *d);

#endif
