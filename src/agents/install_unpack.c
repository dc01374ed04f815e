/* install_unpack.c - a downloaded release archive: checksum, then unpacking on the thread
 * pool, then finding the adapter inside (install_job.h).
 *
 * agents_unpack_archive is the one place archives are extracted, kept narrow so that a
 * shared safe unpacker can replace it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/install_job.h"
#include "agents/layout.h"
#include "base/larchive.h"

/* One unpack. Owner: the job until after_work, which frees it. */
typedef struct agents_install_unpacking {
    uv_work_t work;
    agents_install_job *job;
    agents_install_then_fn then;
    char *archive, *dest, *sha256;
    atomic_bool cancel; /* set by the job's timer: the worker stops between blocks */
    char *error;        /* set by the worker on failure */
} agents_install_unpacking;

static char *agents_install_sha256_file(const char *path, atomic_bool *cancel) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    char *buf = base_xmalloc(1 << 16);
    ssize_t n;
    while ((n = read(fd, buf, 1 << 16)) > 0 && !atomic_load(cancel))
        sha256_update(&ctx, (size_t)n, (const uint8_t *)buf);
    free(buf);
    close(fd);
    if (n < 0)
        return NULL;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof d, d);
    char *hex = base_xmalloc(2 * sizeof d + 1);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return hex;
}

bool agents_path_safe(const char *p) {
    if (!p || !*p || p[0] == '/')
        return false;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n;
        while (*s == '/')
            s++;
    }
    return true;
}

/* Text only: "a -> ." then "b -> a/.." passes. What keeps later entries inside is
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS below; this refuses links that plainly point out. */
bool agents_link_inside(const char *entry, const char *target) {
    if (!target || target[0] == '/')
        return false;
    long depth = 0;
    for (const char *s = entry; (s = strchr(s, '/')); s++)
        depth++;
    const char *s = target;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (n && !(n == 1 && s[0] == '.')) {
            depth++;
        }
        s += n;
        while (*s == '/')
            s++;
    }
    return true;
}

int agents_unpack_archive(const char *archive, const char *dest, atomic_bool *cancel,
                          char **error) {
    /* Entries are written below dest's real path with SECURE_SYMLINKS: nothing is ever
     * written through a symlink on disk, whatever the archive made earlier ("a -> .",
     * "b -> a/..", then "b/x" would land outside even though each link text looks inside).
     * The real path keeps symlinks among dest's own parents from tripping that check. */
    char *root = realpath(dest, NULL);
    if (!root) {
        *error = base_xasprintf("cannot resolve %s: %s", dest, strerror(errno));
        return -1;
    }
    int status = -1;
    struct archive *in = archive_read_new();
    archive_read_support_filter_all(in);
    archive_read_support_format_all(in);
    struct archive *out = archive_write_disk_new();
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    if (archive_read_open_filename(in, archive, 1 << 16) != ARCHIVE_OK) {
        *error = base_xasprintf("cannot open the archive: %s", archive_error_string(in));
        goto done;
    }
    struct archive_entry *e;
    int r = ARCHIVE_OK;
    char shown[512];
    while (!atomic_load(cancel) && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        while (name && name[0] == '.' && name[1] == '/')
            name += 2;
        if (!name || !*name || !strcmp(name, "."))
            continue;
        if (!agents_path_safe(name)) {
            *error = base_xasprintf("unsafe path in the archive: %s", name);
            goto done;
        }
        if (archive_entry_filetype(e) == AE_IFLNK &&
            !agents_link_inside(name, archive_entry_symlink(e))) {
            *error = base_xasprintf("unsafe symbolic link in the archive: %s -> %s", name,
                                    archive_entry_symlink(e));
            goto done;
        }
        char *full = base_xasprintf("%s/%s", root, name);
        /* name points into the entry: keep it for messages before the entry changes. */
        snprintf(shown, sizeof shown, "%s", name);
        name = shown;
        archive_entry_set_pathname(e, full);
        free(full);
        const char *link = archive_entry_hardlink(e);
        if (link) {
            while (link[0] == '.' && link[1] == '/')
                link += 2;
            if (!agents_path_safe(link)) {
                *error = base_xasprintf("unsafe hard link in the archive: %s", link);
                goto done;
            }
            char *lf = base_xasprintf("%s/%s", root, link);
            archive_entry_set_hardlink(e, lf);
            free(lf);
        }
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            *error = base_xasprintf("cannot extract %s: %s", name, archive_error_string(out));
            goto done;
        }
        const void *buf;
        size_t size;
        la_int64_t off;
        while (!atomic_load(cancel) &&
               (r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(out, buf, size, off) != ARCHIVE_OK) {
                *error = base_xasprintf("cannot write %s: %s", name, archive_error_string(out));
                goto done;
            }
        }
        if (r != ARCHIVE_EOF && !atomic_load(cancel)) {
            *error = base_xasprintf("corrupt archive: %s", archive_error_string(in));
            goto done;
        }
        archive_write_finish_entry(out);
    }
    if (!atomic_load(cancel) && r != ARCHIVE_EOF)
        *error = base_xasprintf("corrupt archive: %s", archive_error_string(in));
    else if (!atomic_load(cancel))
        status = 0;
done:
    archive_write_close(out);
    archive_write_free(out);
    archive_read_free(in);
    free(root);
    return status;
}

/* Worker thread: the checksum when one is known, then the archive. */
static void agents_install_unpack_run(uv_work_t *w) {
    agents_install_unpacking *u = w->data;
    if (u->sha256) {
        char *got = agents_install_sha256_file(u->archive, &u->cancel);
        if (!got) {
            u->error = base_xasprintf("cannot read the downloaded archive: %s", strerror(errno));
            return;
        }
        if (strcasecmp(got, u->sha256) != 0) {
            u->error =
                base_xasprintf("checksum mismatch: expected sha256 %s, got %s", u->sha256, got);
            free(got);
            return;
        }
        free(got);
    }
    agents_unpack_archive(u->archive, u->dest, &u->cancel, &u->error);
}

/* Search dir (depth-limited) for an executable named base; returns a path relative to
 * root (caller frees) or NULL. */
static char *agents_install_find_exe(const char *root, const char *rel, const char *base,
                                     int depth) {
    if (depth > 6)
        return NULL;
    char *dir = *rel ? base_xasprintf("%s/%s", root, rel) : base_xstrdup(root);
    DIR *d = opendir(dir);
    char *found = NULL;
    if (d) {
        struct dirent *de;
        while (!found && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *r = *rel ? base_xasprintf("%s/%s", rel, de->d_name) : base_xstrdup(de->d_name);
            char *full = base_xasprintf("%s/%s", root, r);
            struct stat st;
            if (lstat(full, &st) == 0) {
                if (S_ISDIR(st.st_mode))
                    found = agents_install_find_exe(root, r, base, depth + 1);
                else if (!strcmp(de->d_name, base) && agents_is_exec_file(full))
                    found = base_xstrdup(r);
            }
            free(full);
            free(r);
        }
        closedir(d);
    }
    free(dir);
    return found;
}

static void agents_install_unpack_after(uv_work_t *w, int status) {
    agents_install_unpacking *u = w->data;
    agents_install_job *job = u->job;
    agents_install_then_fn then = u->then;
    uv_timer_stop(&job->timer);
    job->unpack_cancel = NULL;
    char *error = u->error;
    bool cancelled = atomic_load(&u->cancel);
    free(u->archive);
    free(u->dest);
    free(u->sha256);
    free(u);
    unlink(job->dl);
    if (cancelled && job->cancelled) {
        free(error);
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        return;
    }
    if (cancelled) {
        free(error);
        agents_install_fail(job, base_xasprintf("unpacking %s did not finish within %.1f s",
                                                job->r.url, (double)job->step_ms / 1000.0));
        return;
    }
    if (error) {
        char *reason = base_xasprintf("%s: %s", job->r.url, error);
        free(error);
        agents_install_fail(job, reason);
        return;
    }
    /* cmd as a relative path first, then by its file name anywhere in the archive. */
    const char *cmd = job->r.cmd;
    while (cmd[0] == '.' && cmd[1] == '/')
        cmd += 2;
    char *full = base_xasprintf("%s/%s", job->tmp, cmd);
    if (agents_path_safe(cmd) && agents_is_exec_file(full)) {
        job->exe_rel = base_xstrdup(cmd);
    } else {
        const char *slash = strrchr(cmd, '/');
        job->exe_rel = agents_install_find_exe(job->tmp, "", slash ? slash + 1 : cmd, 0);
    }
    free(full);
    if (!job->exe_rel) {
        agents_install_fail(
            job, base_xasprintf("the archive %s has no executable %s", job->r.url, job->r.cmd));
        return;
    }
    then(job);
}

void agents_install_unpack(agents_install_job *job, agents_install_then_fn then) {
    agents_install_progress(job, "unpacking %s", job->r.url);
    int r = base_mkdirs(job->tmp);
    if (r < 0) {
        agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->tmp, strerror(-r)));
        return;
    }
    agents_install_unpacking *u = base_xcalloc(1, sizeof *u);
    u->job = job;
    u->then = then;
    u->archive = base_xstrdup(job->dl);
    u->dest = base_xstrdup(job->tmp);
    u->sha256 = job->r.sha256 ? base_xstrdup(job->r.sha256) : NULL;
    atomic_init(&u->cancel, false);
    u->work.data = u;
    job->unpack_cancel = &u->cancel;
    job->state = AGENTS_INSTALL_UNPACK;
    job->step_ms = agents_install_step_ms();
    uv_queue_work(job->loop, &u->work, agents_install_unpack_run, agents_install_unpack_after);
    agents_install_arm(job, job->step_ms);
}
