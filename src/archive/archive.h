/* archive.h - the one place that writes archive entries to disk: tar uploads of the file API
 * (POST /v1/fs/upload-batch, streamed) and release archives of the agent installer (a file on
 * disk, on the thread pool).
 *
 * Names use the prefix sa_archive_, not archive_: libarchive owns archive_* (it has, e.g.,
 * archive_read_extract), and base/larchive.h turns those names into macros.
 *
 * Guarantees, whatever the archive holds:
 * - nothing is written outside the destination and nothing is ever written through a
 *   symlink: every directory on the way to an entry is opened relative to the destination's
 *   descriptor, component by component with O_NOFOLLOW (one openat2 with RESOLVE_BENEATH |
 *   RESOLVE_NO_SYMLINKS first, where the kernel has it). A symlink met on the way, whether
 *   the archive made it or it was already there, fails the entry;
 * - entry names that are absolute or hold a ".." component are refused;
 * - a symlink is created only when its target resolves inside the destination: lexically
 *   first (sa_archive_entry_safe), then against the tree as it is on disk (following the
 *   symlinks already there, so "a -> ." then "b -> a/.." is refused), and once more for every
 *   symlink of the archive after the last entry, because a later entry can change what an
 *   earlier link means ("b -> a/.." first, "a -> ." next). A link found leading out then is
 *   removed and the extraction fails;
 * - a hard link must name a regular file an earlier entry of the same archive extracted
 *   (never a directory, a symlink, or a file that was already on disk);
 * - fifos, devices, sockets and other special entries are refused (the extraction fails),
 *   not skipped: an archive that needs them is not one we install or upload;
 * - set-id and sticky bits are dropped: files and directories get mode & 0777;
 * - limits (sa_archive_limits): total file bytes (checked against the declared size before
 *   a file is created, then against what is actually read), entry count, length of a name
 *   and of a link target, depth; a cancel flag is checked between entries and data blocks.
 * Entries extracted before a failure stay; the caller removes the destination if it wants
 * nothing left (the installer does).
 *
 * All functions here block (disk I/O): call them off the event loop. */
#ifndef SA_ARCHIVE_H
#define SA_ARCHIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- limits ----------------------------------------------------------------------------- */

/* Bounds against archive bombs. Owner: the caller (plain values). */
typedef struct sa_archive_limits {
    uint64_t max_bytes;   /* file content, summed over all entries */
    uint64_t max_entries; /* entries read, skipped root entries included */
    size_t max_path;      /* bytes of a normalised entry name, and of a link target */
    size_t max_depth;     /* components of a normalised entry name */
} sa_archive_limits;

#define SA_ARCHIVE_DEFAULT_MAX_BYTES ((uint64_t)8 << 30)
#define SA_ARCHIVE_DEFAULT_MAX_ENTRIES 100000
#define SA_ARCHIVE_DEFAULT_MAX_PATH 4096
#define SA_ARCHIVE_DEFAULT_MAX_DEPTH 256

/* The defaults, with max_bytes and max_entries taken from SANDBOX_AGENT_MAX_EXTRACT_BYTES
 * and SANDBOX_AGENT_MAX_EXTRACT_ENTRIES when set. Reads the environment: call it on the
 * thread that owns the environment (the loop), and hand the result to the worker. */
void sa_archive_limits_from_env(sa_archive_limits *lim);

/* ---- errors ----------------------------------------------------------------------------- */

typedef enum sa_archive_status {
    SA_ARCHIVE_OK = 0,
    SA_ARCHIVE_REFUSED, /* an unsafe or unsupported entry, a name or link over the limits */
    SA_ARCHIVE_TOO_MANY_BYTES,
    SA_ARCHIVE_TOO_MANY_ENTRIES,
    SA_ARCHIVE_OS,      /* a system call failed on path with errnum */
    SA_ARCHIVE_CORRUPT, /* the archive cannot be read (format, truncation, read error) */
    SA_ARCHIVE_CANCELLED,
} sa_archive_status;

/* Why an extraction failed. Owner: the caller; sa_archive_err_clear frees the strings.
 * msg is a whole sentence for every status (for SA_ARCHIVE_OS: "<path>: <strerror>"); path
 * (destination joined with the entry name) is set for SA_ARCHIVE_OS, errnum too. */
typedef struct sa_archive_err {
    sa_archive_status status;
    int errnum;
    char *path;
    char *msg;
} sa_archive_err;

void sa_archive_err_clear(sa_archive_err *e);

/* ---- extraction ----------------------------------------------------------------------------
 * dest must exist (it is opened following symlinks: it is the caller's choice). Messages and
 * reported paths are dest joined with the entry's normalised name (no doubled '/'). Names
 * lose a leading "./" and "." components; the root entry ("./") is skipped; a regular file
 * replaces an existing file or symlink (never a directory); directory modes and mtimes are
 * applied after the last entry, so a read-only directory can still be filled. */

/* Which formats a reader accepts. */
typedef enum sa_archive_formats {
    SA_ARCHIVE_TAR,     /* uncompressed tar (ustar, pax, GNU), or an empty input */
    SA_ARCHIVE_RELEASE, /* tar, plain or gzip/bzip2/xz/zstd-compressed, and zip */
} sa_archive_formats;

/* Options of one extraction. Owner: the caller; read during the call only. */
typedef struct sa_archive_opts {
    sa_archive_formats formats;
    sa_archive_limits limits;
    atomic_bool *cancel; /* may be NULL; set from any thread to stop between blocks */
    /* Called after each entry was written, with its reported path; may be NULL. */
    void (*on_entry)(const char *path, void *ud);
    void *ud;
} sa_archive_opts;

/* The next block of a streamed archive: *block and its length (> 0), 0 at the end, or -1
 * on failure with *why set to a static or long-lived message. Called on the extracting
 * thread; may block until bytes arrive. */
typedef ssize_t (*sa_archive_read_fn)(void *ud, const void **block, const char **why);

/* Extract a streamed archive read through read(ud). True on success, else false with *err
 * set (err must be zeroed or cleared). */
bool sa_archive_extract_stream(const char *dest, sa_archive_read_fn read, void *ud,
                               const sa_archive_opts *o, sa_archive_err *err);
/* Extract an archive held in memory. */
bool sa_archive_extract_memory(const char *dest, const void *data, size_t len,
                               const sa_archive_opts *o, sa_archive_err *err);

/* Extract the archive file at archive_path into dest_dir, accepting SA_ARCHIVE_RELEASE
 * formats (what the installer downloads: .tar.gz, .tgz, .tar.xz, .zip, ...). lim NULL means
 * sa_archive_limits_from_env's defaults read now (only do that when nothing else changes the
 * environment concurrently); cancel may be NULL. Returns 0; or -1 with *error set to a
 * malloc'd message (caller frees): "cannot open the archive <path>: <strerror>", "unsafe
 * archive entry: <why>", "corrupt archive: <what libarchive says>", "cannot extract:
 * <path>: <strerror>", "archive content exceeds the limit of N bytes
 * (SANDBOX_AGENT_MAX_EXTRACT_BYTES)" or "archive has more than N entries
 * (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES)"; or -1 with *error NULL when *cancel stopped it. */
int sa_archive_extract_file(const char *archive_path, const char *dest_dir,
                            const sa_archive_limits *lim, atomic_bool *cancel, char **error);

/* ---- the lexical entry check (exported for unit tests and the fuzzer) ------------------- */

/* Normalise a relative path the way entry names are: drop empty and "." components.
 * Returns a malloc'd string of the remaining components joined by '/' ("" when none are
 * left), or NULL when a ".." component appears or the path is absolute (or NULL). The file
 * API applies the same rule to relative request paths. */
char *sa_archive_rel_normalize(const char *rel);

/* Entry kinds as sa_archive_entry_safe sees them (mapped from libarchive's file types). */
enum {
    SA_ARCHIVE_FILE = 0,
    SA_ARCHIVE_DIR = 1,
    SA_ARCHIVE_SYMLINK = 2,
    SA_ARCHIVE_HARDLINK = 3,
    SA_ARCHIVE_OTHER = 4, /* fifo, character/block device, socket, anything else */
};

/* Decide whether one entry may be extracted under dest_root, from the text alone (the
 * extractor then checks symlinks against the tree and never follows one). Refused: an
 * absolute entry name, any ".." component, a SA_ARCHIVE_OTHER entry, a file or link whose
 * name normalises to the destination root itself, a symlink whose target leaves dest_root
 * (relative targets are resolved from the entry's directory; absolute ones must lie
 * lexically under dest_root, which then has to be absolute and free of ".." components), a
 * hard link whose target is empty, absolute or has "..". A directory entry naming the root
 * ("./") is safe: the extractor skips it. On refusal returns false and, if why is non-NULL,
 * stores a malloc'd reason (caller frees). link_target may be NULL for files and dirs. */
bool sa_archive_entry_safe(const char *dest_root, const char *entry_path, int entry_type,
                           const char *link_target, char **why);

#endif
