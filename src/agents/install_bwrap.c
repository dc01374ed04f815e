/* install_bwrap.c - bubblewrap for codex's sandbox helper, fetched at install time
 * (install_job.h).
 *
 * codex runs every shell command through its helper, which execs `bwrap`: the first one on
 * PATH, else a `codex-resources/bwrap` next to the executable whose sha256 must equal the
 * digest compiled into codex-acp (so only OpenAI's own build fits there). Without either
 * it panics ("bubblewrap is unavailable"). When no bwrap is on PATH, the install fetches the
 * distribution's package without root (`apt-get download`; with a private package list when
 * the system has none) and unpacks it with `dpkg-deb -x` into $AP/codex/bubblewrap; the
 * launcher appends its bin dir to PATH. Nothing here fails the install: without a bwrap
 * the launcher selects a sandbox mode that needs none (agents.md, codex and bubblewrap). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "agents/install_job.h"
#include "agents/launcher.h"
#include "agents/layout.h"

static uint64_t agents_install_bwrap_ms(void) {
    uint64_t step = agents_install_step_ms();
    return step < 180000 ? step : 180000;
}

static void agents_install_bwrap_done(agents_install_job *job, const char *how) {
    job->bwrap = how;
    job->after_bwrap(job);
}

static void agents_install_after_bwrap_clean(agents_install_job *job, int code, int sig) {
    if (code != 0)
        LOG_WARN("could not remove the bubblewrap download dir", "agent=%s path=%s", job->id,
                 job->deb_dir);
    agents_install_bwrap_done(job, job->bwrap);
}

/* Give up on a bundled bwrap: remove what was fetched, then commit without it. */
static void agents_install_bwrap_give_up(agents_install_job *job, const char *why) {
    char *t = agents_install_tail(&job->out);
    LOG_WARN("cannot provide bubblewrap for codex: its shell tool will run without a sandbox",
             "agent=%s reason=\"%s\" output=\"%s\"", job->id, why, t);
    free(t);
    job->bwrap = "none";
    char *unpacked = base_xasprintf("%s/bubblewrap", job->tmp);
    char *paths[] = {job->deb_dir, unpacked, NULL};
    agents_install_remove(job, paths, agents_install_after_bwrap_clean);
    free(unpacked);
}

static void agents_install_after_bwrap_check(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        /* e.g. a shared library the binary needs is missing */
        agents_install_bwrap_give_up(job, "the unpacked bwrap --version failed");
        return;
    }
    LOG_INFO("bubblewrap for codex unpacked from the distribution's package", "agent=%s", job->id);
    job->bwrap = "bundled";
    char *paths[] = {job->deb_dir, NULL};
    agents_install_remove(job, paths, agents_install_after_bwrap_clean);
}

static void agents_install_after_bwrap_extract(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        agents_install_bwrap_give_up(job, "dpkg-deb -x failed");
        return;
    }
    char *exe = base_xasprintf("%s/" AGENTS_INSTALL_BWRAP_DIR "/bwrap", job->tmp);
    char *argv[] = {exe, "--version", NULL};
    free(job->what);
    job->what = base_xstrdup("check of the unpacked bwrap");
    agents_install_run(job, argv, job->tmp, agents_install_verify_ms(),
                       agents_install_after_bwrap_check);
    free(exe);
}

static void agents_install_bwrap_apt(agents_install_job *job);

static void agents_install_after_bwrap_apt(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        /* A download failing with the system's lists (none, as in slim container images, or
         * stale) is retried once with a fresh private list. */
        if (job->bwrap_attempt == 0 && !job->timed_out) {
            job->bwrap_attempt = 1;
            agents_install_bwrap_apt(job);
            return;
        }
        agents_install_bwrap_give_up(job, "apt-get could not fetch the bubblewrap package");
        return;
    }
    if (job->bwrap_attempt == 1) { /* the private list is ready: download with it */
        job->bwrap_attempt++;
        agents_install_bwrap_apt(job);
        return;
    }
    char *deb = NULL;
    DIR *d = opendir(job->deb_dir);
    struct dirent *de;
    while (d && !deb && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (!strncmp(de->d_name, "bubblewrap_", 11) && n > 4 && !strcmp(de->d_name + n - 4, ".deb"))
            deb = base_xasprintf("%s/%s", job->deb_dir, de->d_name);
    }
    if (d)
        closedir(d);
    char *dpkg = deb ? agents_which("dpkg-deb") : NULL;
    if (!dpkg) {
        free(deb);
        agents_install_bwrap_give_up(job, deb ? "dpkg-deb is not on PATH" : "apt-get left no .deb");
        return;
    }
    char *dest = base_xasprintf("%s/bubblewrap", job->tmp);
    char *argv[] = {dpkg, "-x", deb, dest, NULL};
    free(job->what);
    job->what = base_xstrdup("dpkg-deb -x bubblewrap");
    agents_install_run(job, argv, job->tmp, agents_install_bwrap_ms(),
                       agents_install_after_bwrap_extract);
    free(dest);
    free(dpkg);
    free(deb);
}

/* One apt-get run: attempts 0 and 2 download the package into deb_dir (2 with the private
 * list), attempt 1 fetches that private list. Private lists and cache live in deb_dir: the
 * system's apt state is never written, and no root is needed. */
static void agents_install_bwrap_apt(agents_install_job *job) {
    char *apt = agents_which("apt-get");
    if (!apt) {
        agents_install_bwrap_give_up(job, "apt-get is not on PATH");
        return;
    }
    char **argv = NULL;
    agents_strv_push(&argv, apt);
    agents_strv_push(&argv, "-q");
    /* An unreachable mirror fails within seconds rather than apt's default 120 s per try: the
     * install goes on without bwrap then. */
    const char *quick[] = {"-o", "Acquire::Retries=0",        "-o", "Acquire::http::Timeout=20",
                           "-o", "Acquire::https::Timeout=20"};
    for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
        agents_strv_push(&argv, quick[i]);
    if (job->bwrap_attempt > 0) {
        static const char *const sub[] = {"lists/partial", "cache/archives/partial"};
        for (size_t i = 0; i < 2; i++) {
            char *p = base_xasprintf("%s/%s", job->deb_dir, sub[i]);
            base_mkdirs(p);
            free(p);
        }
        char *o1 = base_xasprintf("Dir::State::Lists=%s/lists", job->deb_dir);
        char *o2 = base_xasprintf("Dir::Cache=%s/cache", job->deb_dir);
        const char *o[] = {"-o", o1, "-o", o2, "-o", "Debug::NoLocking=1"};
        for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
            agents_strv_push(&argv, o[i]);
        free(o1);
        free(o2);
    }
    if (job->bwrap_attempt == 1) {
        agents_strv_push(&argv, "update");
    } else {
        agents_strv_push(&argv, "download");
        agents_strv_push(&argv, "bubblewrap");
    }
    free(job->what);
    job->what = base_xasprintf("apt-get %s bubblewrap",
                               job->bwrap_attempt == 1 ? "update for" : "download");
    agents_install_progress(job, "%s", job->what);
    agents_install_run(job, argv, job->deb_dir, agents_install_bwrap_ms(),
                       agents_install_after_bwrap_apt);
    agents_strv_free(argv);
    free(apt);
}

void agents_install_bwrap(agents_install_job *job, agents_install_then_fn then) {
    if (agents_install_interrupted(job))
        return;
    job->after_bwrap = then;
    char *sys = agents_which("bwrap");
    bool on_path = sys != NULL;
    free(sys);
    if (on_path) { /* codex finds it on PATH by itself */
        agents_install_bwrap_done(job, "system");
        return;
    }
    free(job->deb_dir);
    job->deb_dir = base_xasprintf("%s/.bubblewrap-deb", job->tmp);
    int r = base_mkdirs(job->deb_dir);
    if (r < 0) {
        agents_install_bwrap_give_up(job, strerror(-r));
        return;
    }
    job->bwrap_attempt = 0;
    agents_install_bwrap_apt(job);
}
