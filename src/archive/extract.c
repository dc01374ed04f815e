/* extract.c - reading archives with libarchive (loaded lazily, see base/larchive.h) and
 * handing each entry to the destination writer (dest.c): from a stream fed block by block
 * (the file API's upload, read on its own thread), from memory, or from a file (the agent
 * installer, on the thread pool).
 *
 * Only the formats a caller asks for are enabled: tar for uploads; tar with the gzip, bzip2,
 * xz and zstd filters, and zip, for release archives. Never "all": that would bring formats
 * such as mtree, whose entries can name files elsewhere on disk, and filters that run
 * external programs. */
#include "archive/internal.h"
#include "base/larchive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes of file data moved per read (archive_read_data fills sparse holes with zeros). */
#define SA_ARCHIVE_CHUNK (256u << 10)

/* One extraction's reader side. Owner: the extracting call (on its stack). */
typedef struct sa_archive_run {
    struct archive *a;
    sa_archive_err *err;
    char *buf; /* SA_ARCHIVE_CHUNK bytes */
    /* streamed input */
    sa_archive_read_fn read;
    void *read_ud;
    const char *read_why; /* the stream's reason when it failed */
} sa_archive_run;

static void sa_archive_corrupt(sa_archive_run *r) {
    /* libarchive replaces a failed read's message with its own ("Truncated input"). */
    const char *m = r->read_why ? r->read_why : archive_error_string(r->a);
    sa_archive_err_set(r->err, SA_ARCHIVE_CORRUPT, 0, NULL, "%s",
                       m ? m : "cannot read the archive");
}

static struct archive *sa_archive_reader(sa_archive_formats f) {
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a); /* an empty input is an empty archive */
    if (f == SA_ARCHIVE_RELEASE) {
        archive_read_support_format_zip(a);
        /* ARCHIVE_WARN when a decoder is not built in and would need an external program:
         * such input then fails to open, which is what we want. */
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_zstd(a);
    }
    return a;
}

static const char *sa_archive_name(const char *utf8, const char *raw) {
    /* Names in pax headers are UTF-8; libarchive's locale form fails for them in the C
     * locale, while raw (ustar) bytes have no UTF-8 form there. Take whichever exists. */
    return utf8 ? utf8 : raw;
}

static void sa_archive_item_of(struct archive_entry *ent, sa_archive_item *it) {
    memset(it, 0, sizeof *it);
    it->name = sa_archive_name(archive_entry_pathname_utf8(ent), archive_entry_pathname(ent));
    const char *hard =
        sa_archive_name(archive_entry_hardlink_utf8(ent), archive_entry_hardlink(ent));
    if (hard) {
        it->type = SA_ARCHIVE_HARDLINK;
        it->link = hard;
    } else {
        switch (archive_entry_filetype(ent)) {
        case AE_IFREG:
            it->type = SA_ARCHIVE_FILE;
            break;
        case AE_IFDIR:
            it->type = SA_ARCHIVE_DIR;
            break;
        case AE_IFLNK:
            it->type = SA_ARCHIVE_SYMLINK;
            it->link = sa_archive_name(archive_entry_symlink_utf8(ent), archive_entry_symlink(ent));
            break;
        default:
            it->type = SA_ARCHIVE_OTHER;
            break;
        }
    }
    it->perm = archive_entry_perm(ent);
    it->size_set = archive_entry_size_is_set(ent) != 0;
    it->size = it->size_set ? archive_entry_size(ent) : 0;
    it->has_mtime = archive_entry_mtime_is_set(ent) != 0;
    it->mtime.tv_sec = archive_entry_mtime(ent);
    it->mtime.tv_nsec = archive_entry_mtime_nsec(ent);
}

static ssize_t sa_archive_data(void *ud, const void **block) {
    sa_archive_run *r = ud;
    la_ssize_t n = archive_read_data(r->a, r->buf, SA_ARCHIVE_CHUNK);
    if (n < 0) {
        sa_archive_corrupt(r);
        return -1;
    }
    *block = r->buf;
    return (ssize_t)n;
}

/* Every entry of the opened archive into the opened destination. */
static bool sa_archive_run_all(sa_archive_run *r, sa_archive_dest *d, const sa_archive_opts *o) {
    for (;;) {
        struct archive_entry *ent;
        int rc = archive_read_next_header(r->a, &ent);
        if (rc == ARCHIVE_EOF)
            return true;
        if (rc < ARCHIVE_WARN) {
            if (o->cancel && atomic_load(o->cancel))
                sa_archive_err_set(r->err, SA_ARCHIVE_CANCELLED, 0, NULL, "extraction cancelled");
            else
                sa_archive_corrupt(r);
            return false;
        }
        sa_archive_item it;
        sa_archive_item_of(ent, &it);
        if (!sa_archive_dest_entry(d, &it, sa_archive_data, r))
            return false;
    }
}

/* Open the destination, then the reader with open(r, arg); extract; free. */
static bool sa_archive_go(sa_archive_run *r, const char *dest, const sa_archive_opts *o,
                          int (*open)(sa_archive_run *r, const void *arg), const void *arg) {
    sa_archive_dest d;
    bool ok = sa_archive_dest_open(&d, dest, o, r->err);
    if (ok) {
        r->a = sa_archive_reader(o->formats);
        r->buf = base_xmalloc(SA_ARCHIVE_CHUNK);
        if (open(r, arg) != ARCHIVE_OK) {
            sa_archive_corrupt(r);
            ok = false;
        } else {
            ok = sa_archive_run_all(r, &d, o);
        }
        ok = sa_archive_dest_finish(&d, ok);
        archive_read_free(r->a);
        free(r->buf);
    }
    sa_archive_dest_close(&d);
    return ok;
}

/* ---- streams ---------------------------------------------------------------------------- */

static la_ssize_t sa_archive_stream_cb(struct archive *a, void *ud, const void **out) {
    sa_archive_run *r = ud;
    const char *why = NULL;
    ssize_t n = r->read(r->read_ud, out, &why);
    if (n < 0) {
        r->read_why = why ? why : "read error";
        archive_set_error(a, ECANCELED, "%s", r->read_why);
        return -1;
    }
    return (la_ssize_t)n;
}

static int sa_archive_open_stream(sa_archive_run *r, const void *arg) {
    return archive_read_open(r->a, r, NULL, sa_archive_stream_cb, NULL);
}

bool sa_archive_extract_stream(const char *dest, sa_archive_read_fn read, void *ud,
                               const sa_archive_opts *o, sa_archive_err *err) {
    sa_archive_run r = {.err = err, .read = read, .read_ud = ud};
    return sa_archive_go(&r, dest, o, sa_archive_open_stream, NULL);
}

/* ---- memory ----------------------------------------------------------------------------- */

typedef struct sa_archive_mem {
    const void *data;
    size_t len;
} sa_archive_mem;

static int sa_archive_open_memory(sa_archive_run *r, const void *arg) {
    const sa_archive_mem *m = arg;
    return archive_read_open_memory(r->a, m->data, m->len);
}

bool sa_archive_extract_memory(const char *dest, const void *data, size_t len,
                               const sa_archive_opts *o, sa_archive_err *err) {
    sa_archive_run r = {.err = err};
    sa_archive_mem m = {data, len};
    return sa_archive_go(&r, dest, o, sa_archive_open_memory, &m);
}

/* ---- files ------------------------------------------------------------------------------ */

/* The one-line reason a caller without its own mapping reports. */
static char *sa_archive_err_text(const sa_archive_err *e) {
    switch (e->status) {
    case SA_ARCHIVE_REFUSED:
        return base_xasprintf("unsafe archive entry: %s", e->msg);
    case SA_ARCHIVE_TOO_MANY_BYTES:
        return base_xasprintf("%s (SANDBOX_AGENT_MAX_EXTRACT_BYTES)", e->msg);
    case SA_ARCHIVE_TOO_MANY_ENTRIES:
        return base_xasprintf("%s (SANDBOX_AGENT_MAX_EXTRACT_ENTRIES)", e->msg);
    case SA_ARCHIVE_OS:
        return base_xasprintf("cannot extract: %s", e->msg);
    case SA_ARCHIVE_CORRUPT:
        return base_xasprintf("corrupt archive: %s", e->msg);
    default:
        return base_xstrdup(e->msg ? e->msg : "extraction failed");
    }
}

static int sa_archive_open_file(sa_archive_run *r, const void *arg) {
    return archive_read_open_fd(r->a, *(const int *)arg, 1 << 16);
}

int sa_archive_extract_file(const char *archive_path, const char *dest_dir,
                            const sa_archive_limits *lim, atomic_bool *cancel, char **error) {
    *error = NULL;
    /* Opened here so that a missing or unreadable download says so plainly. */
    int fd = open(archive_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = base_xasprintf("cannot open the archive %s: %s", archive_path, strerror(errno));
        return -1;
    }
    sa_archive_opts o = {.formats = SA_ARCHIVE_RELEASE, .cancel = cancel};
    if (lim)
        o.limits = *lim;
    else
        sa_archive_limits_from_env(&o.limits);
    sa_archive_err err = {0};
    sa_archive_run r = {.err = &err};
    bool ok = sa_archive_go(&r, dest_dir, &o, sa_archive_open_file, &fd);
    close(fd);
    if (!ok && err.status != SA_ARCHIVE_CANCELLED)
        *error = sa_archive_err_text(&err);
    sa_archive_err_clear(&err);
    return ok ? 0 : -1;
}
