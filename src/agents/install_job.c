/* install_job.c - installing an agent: the state machine of one job and the public
 * agents_install_* API (agents.h). The job object itself is in install_run.c.
 *
 * One job walks these steps, each bounded in time, failing into a cleanup step:
 *   queue (one job per agent at a time in this process)
 *   -> lock ($AP/.<id>.lock, flock; polled so that other processes serialise too)
 *   -> check (already installed?) -> remove leftovers of crashed installs
 *   -> recipe (built-in table, or the ACP registry document when one is configured)
 *   -> fetch into $AP/.tmp-<id>-<rand> (npm install --prefix, or download + unpack)
 *   -> verify (`<adapter> [args] --help` must exit 0) -> codex: bubblewrap
 *   -> commit (rename into $AP/<id>, write the launcher $AP/<id>-acp and $BIN/<native>)
 *   -> probe the version -> remove the replaced install.
 * Nothing under $AP/<id> or $AP/<id>-acp changes before commit, so a failure or a kill at
 * any earlier point leaves the previous state intact (leftover temp dirs are removed by the
 * next install of that agent). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agents/catalog.h"
#include "agents/install_job.h"
#include "agents/launcher.h"
#include "agents/layout.h"

#define INSTALL_LOCK_POLL_MS 200

static void agents_install_step_recipe(agents_install_job *job);
static void agents_install_step_fetch(agents_install_job *job);
static void agents_install_step_verify(agents_install_job *job);
static void agents_install_step_commit(agents_install_job *job);

static uint64_t agents_install_lock_ms(void) {
    return (uint64_t)base_env_int("SANDBOX_AGENT_INSTALL_LOCK_TIMEOUT_MS", 1800000, 100, INT32_MAX);
}

bool agents_install_preinstall_required(void) {
    const char *v = getenv("SANDBOX_AGENT_REQUIRE_PREINSTALL");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

/* ---- lock, check, leftovers ---- */

/* Lock, then check, then clean leftovers. */
static void agents_install_after_clean(agents_install_job *job, int code, int sig);

static void agents_install_step_lock(agents_install_job *job) {
    job->state = AGENTS_INSTALL_LOCK;
    if (job->lock_fd < 0) {
        int r = base_mkdirs(job->ap);
        if (r < 0) {
            agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->ap, strerror(-r)));
            return;
        }
        char *lp = base_xasprintf("%s/.%s.lock", job->ap, job->id);
        job->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (job->lock_fd < 0) {
            agents_install_fail(
                job, base_xasprintf("cannot open the lock file %s: %s", lp, strerror(errno)));
            free(lp);
            return;
        }
        free(lp);
        job->lock_deadline = base_mono_ms() + agents_install_lock_ms();
    }
    if (flock(job->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            agents_install_fail(job, base_xasprintf("cannot lock: %s", strerror(errno)));
            return;
        }
        if (base_mono_ms() > job->lock_deadline) {
            agents_install_fail(
                job, base_xasprintf("another install of %s (another process) did not finish "
                                    "within %.0f s",
                                    job->id, (double)agents_install_lock_ms() / 1000.0));
            return;
        }
        if (!job->lock_announced) {
            job->lock_announced = true;
            agents_install_progress(job, "waiting for another process installing %s", job->id);
        }
        agents_install_arm(job, INSTALL_LOCK_POLL_MS);
        return;
    }
    if (agents_install_interrupted(job))
        return;
    /* Locked. Whatever another install did meanwhile is visible now. */
    if (!job->bi) { /* the mock */
        char *l = agents_launcher_path(job->id);
        bool present = agents_is_exec_file(l);
        free(l);
        if (present && !job->reinstall) {
            job->already = true;
            agents_install_succeed(job);
            return;
        }
        char *path = NULL;
        int r = agents_write_mock_launcher(&path);
        if (r < 0) {
            agents_install_fail(job,
                                base_xasprintf("cannot write the mock launcher: %s", strerror(-r)));
            return;
        }
        job->artifacts = json_pack("[{s:s,s:s,s:s,s:s}]", "kind", "agent_process", "path", path,
                                   "source", "builtin", "version", "builtin");
        free(path);
        agents_version_invalidate(job->id);
        agents_install_succeed(job);
        return;
    }
    if (!job->reinstall && agents_installed(job->id)) {
        job->already = true;
        agents_install_succeed(job);
        return;
    }
    /* Leftovers of installs that were killed half-way: only this agent's, under our lock. */
    char **stale = NULL;
    char *p1 = base_xasprintf(".tmp-%s-", job->id), *p2 = base_xasprintf(".old-%s-", job->id);
    DIR *d = opendir(job->ap);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strncmp(de->d_name, p1, strlen(p1)) || !strncmp(de->d_name, p2, strlen(p2))) {
            char *full = base_xasprintf("%s/%s", job->ap, de->d_name);
            agents_strv_push(&stale, full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(p1);
    free(p2);
    if (stale) {
        agents_install_progress(job, "removing leftovers of an interrupted install");
        agents_install_remove(job, stale, agents_install_after_clean);
        agents_strv_free(stale);
        return;
    }
    agents_install_step_recipe(job);
}

static void agents_install_after_clean(agents_install_job *job, int code, int sig) {
    if (code != 0) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job,
                            base_xasprintf("cannot remove leftovers in %s: rm %s", job->ap, t));
        free(t);
        return;
    }
    agents_install_step_recipe(job);
}

/* ---- recipe and fetch ---- */

static bool agents_install_recipe_ready(agents_install_job *job, json_t *doc) {
    const char *platform = NULL, *arch = NULL;
    struct utsname u;
    if (uname(&u) != 0 || !agents_recipe_platform(u.machine, &platform, &arch)) {
        agents_install_fail(job, base_xasprintf("unsupported CPU architecture %s: %s has no "
                                                "build for it",
                                                u.machine, job->id));
        return false;
    }
    if (job->agent_version && !job->bi->native_versioned && !job->bi->companion)
        LOG_WARN("agentVersion does not apply to this agent (its CLI comes with the adapter)",
                 "agent=%s", job->id);
    agents_recipe_ask ask = {
        .agent_version = job->agent_version,
        .process_version = job->process_version,
        .platform = platform,
        .arch = arch,
        .bin_dir = job->bin,
    };
    char *err = doc ? agents_recipe_registry(job->bi, doc, &ask, &job->r)
                    : agents_recipe_builtin(job->bi, &ask, &job->r);
    if (err) {
        agents_install_fail(job, err);
        return false;
    }
    return true;
}

static void agents_install_after_registry(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("cannot fetch the ACP registry %s: the download "
                                                "%s",
                                                getenv("SANDBOX_AGENT_ACP_REGISTRY_URL"), t));
        free(t);
        return;
    }
    json_error_t e;
    json_t *doc = json_load_file(job->regfile, 0, &e);
    unlink(job->regfile);
    if (!doc) {
        agents_install_fail(job, base_xasprintf("the ACP registry is not valid JSON: %s (line %d)",
                                                e.text, e.line));
        return;
    }
    bool ok = agents_install_recipe_ready(job, doc);
    json_decref(doc);
    if (ok)
        agents_install_step_fetch(job);
}

static void agents_install_step_recipe(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    const char *reg = getenv("SANDBOX_AGENT_ACP_REGISTRY_URL");
    size_t n = reg ? strlen(reg) : 0;
    const char *t = reg ? base_trim(reg, &n) : NULL;
    if (t && n) {
        /* An explicitly configured registry is authoritative: failing to read it fails the
         * install, as in the reference (agents.md §2.3). */
        char *url = base_xstrndup(t, n);
        agents_install_download(job, url, job->regfile, agents_install_after_registry);
        free(url);
        return;
    }
    if (agents_install_recipe_ready(job, NULL))
        agents_install_step_fetch(job);
}

static void agents_install_after_npm(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("npm install failed for %s: npm %s", job->id, t));
        free(t);
        return;
    }
    char *rel = base_xasprintf("node_modules/.bin/%s", job->r.bin);
    char *full = base_xasprintf("%s/%s", job->tmp, rel);
    bool ok = agents_is_exec_file(full);
    free(full);
    if (!ok) {
        agents_install_fail(job, base_xasprintf("installed package missing executable: %s", rel));
        free(rel);
        return;
    }
    job->exe_rel = rel;
    agents_install_step_verify(job);
}

static void agents_install_after_download(agents_install_job *job, int code, int sig) {
    if (uv_is_closing((uv_handle_t *)&job->timer)) {
        agents_install_fail(job, base_xstrdup("the server is shutting down"));
        return;
    }
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job, base_xasprintf("%s failed: the downloader %s", job->what, t));
        free(t);
        return;
    }
    agents_install_unpack(job, agents_install_step_verify);
}

static void agents_install_step_fetch(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    if (job->r.url) {
        agents_install_download(job, job->r.url, job->dl, agents_install_after_download);
        return;
    }
    char *npm = agents_which("npm");
    if (!npm) {
        agents_install_fail(job, base_xasprintf("npm is required to install %s: install Node.js "
                                                "and npm, then run `sandbox-agent install-agent "
                                                "%s`",
                                                job->id, job->id));
        return;
    }
    int r = base_mkdirs(job->tmp);
    if (r < 0) {
        free(npm);
        agents_install_fail(job, base_xasprintf("cannot create %s: %s", job->tmp, strerror(-r)));
        return;
    }
    char **argv = NULL;
    const char *a[] = {"npm",      "install", "--no-audit", "--no-fund", "--no-update-notifier",
                       "--prefix", job->tmp};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        agents_strv_push(&argv, a[i]);
    base_buf list;
    base_buf_init(&list);
    for (char **p = job->r.packages; p && *p; p++) {
        agents_strv_push(&argv, *p);
        base_buf_appendf(&list, "%s%s", list.len ? " " : "", *p);
    }
    free(argv[0]);
    argv[0] = npm;
    free(job->what);
    job->what = base_xasprintf("npm install %s", list.data ? list.data : "");
    agents_install_progress(job, "npm install %s", list.data ? list.data : "");
    base_buf_free(&list);
    /* cwd = the new prefix: no project .npmrc or package.json of the server's cwd applies. */
    agents_install_run(job, argv, job->tmp, agents_install_step_ms(), agents_install_after_npm);
    agents_strv_free(argv);
}

static void agents_install_after_verify(agents_install_job *job, int code, int sig) {
    if (code != 0 || job->timed_out) {
        char *t = agents_install_exit_text(job, code, sig);
        agents_install_fail(job,
                            base_xasprintf("verification failed: `%s --help` %s", job->exe_rel, t));
        free(t);
        return;
    }
    if (job->bi->bwrap)
        agents_install_bwrap(job, agents_install_step_commit);
    else
        agents_install_step_commit(job);
}

static void agents_install_step_verify(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    char **argv = NULL;
    char *exe = base_xasprintf("%s/%s", job->tmp, job->exe_rel);
    agents_strv_push(&argv, exe);
    for (char **p = job->r.args; p && *p; p++)
        agents_strv_push(&argv, *p);
    agents_strv_push(&argv, "--help");
    free(job->what);
    job->what = base_xasprintf("verification of %s", job->exe_rel);
    agents_install_progress(job, "verifying %s --help", job->exe_rel);
    agents_install_run(job, argv, job->tmp, agents_install_verify_ms(),
                       agents_install_after_verify);
    free(exe);
    agents_strv_free(argv);
}

/* ---- commit ---- */

static void agents_install_after_discard(agents_install_job *job, int code, int sig) {
    if (code != 0)
        LOG_WARN("could not remove a replaced agent install", "agent=%s path=%s", job->id,
                 job->old);
    agents_install_succeed(job);
}

static void agents_install_after_probe(void *ud) {
    agents_install_job *job = ud;
    job->probe = NULL;
    if (job->native_art) {
        json_t *tmp = json_object();
        agents_version_put(job->id, tmp);
        json_t *v = json_object_get(tmp, "version");
        if (v)
            json_object_set(job->native_art, "version", v);
        json_decref(tmp);
    }
    struct stat st;
    if (job->old && lstat(job->old, &st) == 0) {
        char *paths[] = {job->old, NULL};
        agents_install_remove(job, paths, agents_install_after_discard);
        return;
    }
    agents_install_succeed(job);
}

static void agents_install_step_commit(agents_install_job *job) {
    if (agents_install_interrupted(job))
        return;
    char *final_dir = base_xasprintf("%s/%s", job->ap, job->id);
    /* The manifest records what was installed, for version reporting. */
    json_t *m = json_pack("{s:s,s:s,s:o,s:s,s:I}", "agent", job->id, "source", job->r.source,
                          "version", job->r.version ? json_string(job->r.version) : json_null(),
                          "adapter", job->exe_rel, "installedAtMs", (json_int_t)base_now_ms());
    if (job->r.url)
        json_object_set_new(m, "url", json_string(job->r.url));
    if (job->archive_sha256) {
        /* Kept even when nothing was known to check it against, so an operator can compare
         * it with the publisher's later. */
        json_object_set_new(m, "sha256", json_string(job->archive_sha256));
        json_object_set_new(m, "sha256Verified", json_boolean(job->archive_verified));
        if (!job->archive_verified)
            LOG_WARN("agent archive installed unverified",
                     "agent=%s url=%s sha256=%s detail=\"no known checksum to compare with\"",
                     job->id, job->r.url, job->archive_sha256);
    }
    if (job->bwrap) /* where codex's sandbox helper finds bubblewrap: system, bundled, none */
        json_object_set_new(m, "bwrap", json_string(job->bwrap));
    if (job->r.packages) {
        json_t *pk = json_array();
        for (char **p = job->r.packages; *p; p++)
            json_array_append_new(pk, json_string(*p));
        json_object_set_new(m, "packages", pk);
    }
    char *mtext = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    char *mpath = base_xasprintf("%s/%s", job->tmp, AGENTS_MANIFEST);
    int r = base_write_file_atomic(mpath, mtext, strlen(mtext), 0644);
    free(mpath);
    free(mtext);
    if (r < 0) {
        free(final_dir);
        agents_install_fail(job,
                            base_xasprintf("cannot write the install manifest: %s", strerror(-r)));
        return;
    }
    /* Swap directories: the old install moves aside first (rename cannot replace a
     * non-empty directory), then the new one takes its name. */
    struct stat st;
    if (lstat(final_dir, &st) == 0) {
        char hex[17];
        base_random_hex(hex, 8);
        job->old = base_xasprintf("%s/.old-%s-%s", job->ap, job->id, hex);
        if (rename(final_dir, job->old) != 0) {
            int e = errno;
            free(job->old);
            job->old = NULL;
            agents_install_fail(job, base_xasprintf("cannot move the previous install %s aside: %s",
                                                    final_dir, strerror(e)));
            free(final_dir);
            return;
        }
    }
    if (rename(job->tmp, final_dir) != 0) {
        int e = errno;
        if (job->old && rename(job->old, final_dir) == 0) {
            free(job->old);
            job->old = NULL;
        }
        agents_install_fail(
            job, base_xasprintf("cannot move the new install into %s: %s", final_dir, strerror(e)));
        free(final_dir);
        return;
    }
    char *exe = base_xasprintf("%s/%s", final_dir, job->exe_rel);
    char *text = agents_launcher_text(exe, job->r.args, job->r.env, job->r.env_default,
                                      job->bi->bwrap ? final_dir : NULL);
    char *launcher = agents_launcher_path(job->id);
    r = base_write_file_atomic(launcher, text, strlen(text), 0755);
    free(text);
    free(exe);
    if (r < 0) {
        /* The new directory stays (harmless without a launcher; the next install replaces
         * it); what matters is that the agent is not reported installed. */
        agents_install_fail(
            job, base_xasprintf("cannot write the launcher %s: %s", launcher, strerror(-r)));
        free(launcher);
        free(final_dir);
        return;
    }
    job->artifacts = json_array();
    char *native =
        agents_link_native(job->bi, job->id, final_dir, job->exe_rel, job->bin, job->reinstall);
    if (native) {
        json_t *a = json_pack("{s:s,s:s,s:s}", "kind", "native_agent", "path", native, "source",
                              job->r.source);
        json_array_append_new(job->artifacts, a);
        job->native_art = a;
        free(native);
    }
    json_t *a = json_pack("{s:s,s:s,s:s}", "kind", "agent_process", "path", launcher, "source",
                          job->r.source);
    if (job->r.version)
        json_object_set_new(a, "version", json_string(job->r.version));
    json_array_append_new(job->artifacts, a);
    free(launcher);
    free(final_dir);
    agents_version_invalidate(job->id);
    if (job->bwrap && !strcmp(job->bwrap, "none"))
        LOG_WARN(AGENTS_INSTALL_BWRAP_WARNING, "agent=%s", job->id);
    /* Refresh the cached version right away; it also names the native CLI's version. */
    agents_install_progress(job, "checking the installed version");
    job->state = AGENTS_INSTALL_PROBE;
    job->probe = agents_version_probe_start(job->loop, job->id, agents_install_after_probe, job);
}

/* ---- the public API ---- */

agents_install_job *agents_install_async(uv_loop_t *loop, const char *id,
                                         const agents_install_opts *opts,
                                         agents_install_done_fn done,
                                         agents_install_progress_fn progress, void *ud) {
    int idx = agents_index(id);
    if (idx < 0)
        return NULL; /* never another agent's queue */
    agents_install_job *job = base_xcalloc(1, sizeof *job);
    job->loop = loop;
    job->id = base_xstrdup(id);
    job->idx = idx;
    job->bi = agents_builtin_of(id);
    job->reinstall = opts && opts->reinstall;
    job->agent_version = opts && opts->agent_version && *opts->agent_version
                             ? base_xstrdup(opts->agent_version)
                             : NULL;
    job->process_version = opts && opts->agent_process_version && *opts->agent_process_version
                               ? base_xstrdup(opts->agent_process_version)
                               : NULL;
    job->done = done;
    job->progress = progress;
    job->ud = ud;
    job->lock_fd = -1;
    job->ap = agents_ap_dir();
    job->bin = agents_bin_dir();
    char hex[17];
    base_random_hex(hex, 8);
    job->tmp = base_xasprintf("%s/.tmp-%s-%s", job->ap, id, hex);
    job->dl = base_xasprintf("%s.download", job->tmp);
    job->regfile = base_xasprintf("%s.registry.json", job->tmp);
    base_buf_init(&job->out);
    uv_timer_init(loop, &job->timer);
    job->timer.data = job;
    job->wake = agents_install_step_lock;
    job->state = AGENTS_INSTALL_QUEUED;
    agents_install_enqueue(job);
    return job;
}

void agents_install_cancel(agents_install_job *job) {
    /* Once committed (artifacts exist) the install stands: what is left is bounded. */
    if (!job || job->cancelled || job->artifacts || job->state == AGENTS_INSTALL_CLOSING)
        return;
    job->cancelled = true;
    if (job->reason)
        return; /* already cleaning up after a failure: let that finish */
    switch (job->state) {
    case AGENTS_INSTALL_QUEUED:
    case AGENTS_INSTALL_LOCK:
        uv_timer_stop(&job->timer);
        job->started = true;
        agents_install_fail(job, base_xasprintf("install of %s interrupted", job->id));
        break;
    case AGENTS_INSTALL_CHILD:
    case AGENTS_INSTALL_UNPACK:
        agents_install_stop_step(job);
        break;
    default:
        break; /* the probe is bounded and short; the job ends right after it */
    }
}

void agents_install_detach(agents_install_job *job) {
    if (!job)
        return;
    job->detached = true;
    if (!job->started)
        agents_install_discard(job);
}

static const char *agents_install_pascal(const char *s) {
    static const char *const map[][2] = {
        {"agent_process", "AgentProcess"},
        {"native_agent", "NativeAgent"},
        {"fallback", "Fallback"},
        {"registry", "Registry"},
        {"builtin", "Builtin"},
        {"local_path", "LocalPath"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], s))
            return map[i][1];
    return s;
}

json_t *agents_install_result_json(const agents_install_result *res, bool cli_style) {
    if (!cli_style)
        return json_pack("{s:b,s:O}", "already_installed", res->already_installed, "artifacts",
                         res->artifacts);
    json_t *arts = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(res->artifacts, i, a) {
        json_t *c = json_object();
        json_object_set_new(
            c, "kind",
            json_string(agents_install_pascal(json_string_value(json_object_get(a, "kind")))));
        json_object_set(c, "path", json_object_get(a, "path"));
        json_object_set_new(
            c, "source",
            json_string(agents_install_pascal(json_string_value(json_object_get(a, "source")))));
        json_object_set(c, "version",
                        json_object_get(a, "version") ? json_object_get(a, "version")
                                                      : json_null());
        json_array_append_new(arts, c);
    }
    return json_pack("{s:b,s:o}", "alreadyInstalled", res->already_installed, "artifacts", arts);
}
