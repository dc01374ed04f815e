/* install_unpack.c - a downloaded release archive: checksum, then unpacking on the thread
 * pool, then finding the adapter inside (install_job.h).
 *
 * Extraction is src/archive/'s (never through a symlink, never outside the destination).
 * The download's sha256 is always computed: verified against a known one (built-in,
 * environment, registry document) and recorded in the install manifest either way. */
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
#include "archive/archive.h"

/* One unpack. Owner: the job until after_work, which frees it. */
typedef struct agents_install_unpacking {
    uv_work_t work;
    agents_install_job *job;
    agents_install_then_fn then;
    char *archive, *dest, *sha256;
    char *got_sha256;         /* computed by the worker */
    sa_archive_limits limits; /* read from the environment on the loop */
    atomic_bool cancel;       /* set by the job's timer: the worker stops between blocks */
    char *error;              /* set by the worker on failure */
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

int agents_unpack_archive(const char *archive, const char *dest, const sa_archive_limits *lim,
                          atomic_bool *cancel, char **error) {
    /* The real path: absolute link targets in the archive are judged against it. */
    char *root = realpath(dest, NULL);
    if (!root) {
        *error = base_xasprintf("cannot resolve %s: %s", dest, strerror(errno));
        return -1;
    }
    int r = sa_archive_extract_file(archive, root, lim, cancel, error);
    free(root);
    return r;
}

/* Worker thread: the checksum when one is known, then the archive. */
static void agents_install_unpack_run(uv_work_t *w) {
    agents_install_unpacking *u = w->data;
    u->got_sha256 = agents_install_sha256_file(u->archive, &u->cancel);
    if (!u->got_sha256) {
        u->error = base_xasprintf("cannot read the downloaded archive: %s", strerror(errno));
        return;
    }
    if (u->sha256 && strcasecmp(u->got_sha256, u->sha256) != 0) {
        u->error = base_xasprintf("checksum mismatch: expected sha256 %s, got %s", u->sha256,
                                  u->got_sha256);
        return;
    }
    agents_unpack_archive(u->archive, u->dest, &u->limits, &u->cancel, &u->error);
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
    free(job->archive_sha256);
    job->archive_sha256 = u->got_sha256;
    job->archive_verified = u->sha256 != NULL;
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
    sa_archive_limits_from_env(&u->limits);
    atomic_init(&u->cancel, false);
    u->work.data = u;
    job->unpack_cancel = &u->cancel;
    job->state = AGENTS_INSTALL_UNPACK;
    job->step_ms = agents_install_step_ms();
    uv_queue_work(job->loop, &u->work, agents_install_unpack_run, agents_install_unpack_after);
    agents_install_arm(job, job->step_ms);
}
