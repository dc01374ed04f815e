/* version.c - version probes of installed agents and their cache (version.h). The probe
 * is this module's one child-process call site (agents_version_run_spawn). */
#include "agents/version.h"

#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "agents/catalog.h"
#include "agents/layout.h"
#include "base/base.h"
#include "proc/proc.h"

#define AGENTS_VERSION_TERM_GRACE_MS 2000

static uint64_t agents_version_probe_ms(void) {
    /* Node CLIs load a lot of code for --version (pi takes ~1 s idle); be generous. */
    return (uint64_t)base_env_int("SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS", 20000, 100, INT32_MAX);
}
/* One agent's cached answer. Owner: this file (static). */
typedef struct agents_version_cache {
    bool valid;
    char *version, *path;
    unsigned gen; /* bumped when an install finishes: older probes do not store */
    struct agents_version_run *run;
} agents_version_cache;

/* One probe in flight. Owner: its cache slot; freed when its timer has closed. */
typedef struct agents_version_run {
    uv_loop_t *loop;
    int idx;
    unsigned gen;
    char *bin;
    int attempt;
    proc_child *child;
    uv_timer_t timer;
    bool timed_out;
    bool spawned;
    base_buf out;
    agents_version_probe *waiters;
} agents_version_run;

/* One waiter. Owner: its run's list; freed after fn ran or on cancel. */
struct agents_version_probe {
    agents_version_fn fn;
    void *ud;
    agents_version_run *run;
    agents_version_probe *next;
};

static agents_version_cache agents_version_caches[AGENTS_COUNT];

void agents_version_invalidate(const char *id) {
    int idx = agents_index(id);
    BASE_ASSERT(idx >= 0); /* only installs of catalogue agents get here */
    agents_version_cache *c = &agents_version_caches[idx];
    c->valid = false;
    free(c->version);
    free(c->path);
    c->version = c->path = NULL;
    c->gen++;
}

bool agents_version_ready(const char *id) {
    int idx = agents_index(id);
    return idx >= 0 && (!agents_hint(id) || agents_version_caches[idx].valid);
}

void agents_version_put(const char *id, json_t *obj) {
    int idx = agents_index(id);
    if (idx < 0)
        return;
    if (!agents_hint(id)) {
        json_object_set_new(obj, "version", json_string("builtin"));
        char *l = agents_launcher_path(id);
        json_object_set_new(obj, "path", json_string(l));
        free(l);
        return;
    }
    agents_version_cache *c = &agents_version_caches[idx];
    if (!c->valid)
        return;
    if (c->version) {
        json_t *v = json_string(c->version);
        if (v)
            json_object_set_new(obj, "version", v);
    }
    if (c->path)
        json_object_set_new(obj, "path", json_string(c->path));
}

static void agents_version_run_closed(uv_handle_t *h) {
    agents_version_run *run = h->data;
    base_buf_free(&run->out);
    free(run->bin);
    free(run);
}

char *agents_version_parse(const char *out, size_t len) {
    const char *s = out ? out : "";
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '\n')
            j++;
        size_t n = j - i;
        const char *t = base_trim(s + i, &n);
        if (n) {
            const char *cut = memmem(t, n, " (", 2);
            if (cut)
                n = (size_t)(cut - t);
            if (n && n < 200 && base_utf8_valid(t, n))
                return base_xstrndup(t, n);
            return NULL;
        }
        i = j + 1;
    }
    return NULL;
}

static void agents_version_run_finish(agents_version_run *run, char *version) {
    agents_version_cache *c = &agents_version_caches[run->idx];
    const char *id = agents_id((size_t)run->idx);
    char *path = NULL;
    if (version) {
        path = base_xstrdup(run->bin);
    } else {
        /* No answer from a native CLI: the adapter version recorded at install time, with
         * the launcher as the path it belongs to. */
        version = agents_manifest_version(id);
        char *l = agents_launcher_path(id);
        if (version && agents_is_exec_file(l))
            path = l;
        else
            free(l);
        if (!path && run->bin)
            path = base_xstrdup(run->bin);
    }
    if (run->gen == c->gen) {
        free(c->version);
        free(c->path);
        c->version = version;
        c->path = path;
        c->valid = true;
    } else {
        free(version);
        free(path);
    }
    bool torn_down = uv_is_closing((uv_handle_t *)&run->timer);
    if (c->run == run && !torn_down)
        c->run = NULL; /* at teardown the run stays referenced: it cannot be freed */
    agents_version_probe *w = run->waiters;
    run->waiters = NULL;
    while (w) {
        agents_version_probe *next = w->next;
        w->fn(w->ud);
        free(w);
        w = next;
    }
    if (!torn_down)
        uv_close((uv_handle_t *)&run->timer, agents_version_run_closed);
}

static void agents_version_run_spawn(agents_version_run *run);

static void agents_version_run_out(proc_child *c, const char *data, size_t len, void *ud) {
    agents_version_run *run = ud;
    if (run->out.len < 65536)
        base_buf_append(&run->out, data, len);
}

static void agents_version_run_exit(proc_child *c, int code, int sig, void *ud) {
    agents_version_run *run = ud;
    uv_timer_stop(&run->timer);
    proc_release(run->child);
    run->child = NULL;
    char *v =
        code == 0 && !run->timed_out ? agents_version_parse(run->out.data, run->out.len) : NULL;
    if (!v)
        LOG_INFO("version probe gave no answer",
                 "agent=%s bin=%s attempt=%d code=%d signal=%d "
                 "timed_out=%s",
                 agents_id((size_t)run->idx), run->bin, run->attempt, code, sig,
                 run->timed_out ? "true" : "false");
    /* A CLI that hangs on --version would hang on the other spellings too. */
    if (v || run->timed_out || ++run->attempt >= 3) {
        agents_version_run_finish(run, v);
        return;
    }
    agents_version_run_spawn(run);
}

static void agents_version_run_start(proc_child *c, int err, void *ud) {
    agents_version_run *run = ud;
    if (!err)
        return;
    uv_timer_stop(&run->timer);
    proc_release(run->child);
    run->child = NULL;
    agents_version_run_finish(run, NULL);
}

static const proc_callbacks agents_version_run_cb = {
    .on_stdout = agents_version_run_out,
    .on_stderr = agents_version_run_out,
    .on_exit = agents_version_run_exit,
    .on_start = agents_version_run_start,
};

static void agents_version_run_timer(uv_timer_t *t) {
    agents_version_run *run = t->data;
    if (!run->spawned) {
        run->spawned = true;
        run->bin = agents_native_path(agents_id((size_t)run->idx));
        if (!run->bin) {
            agents_version_run_finish(run, NULL);
            return;
        }
        agents_version_run_spawn(run);
        return;
    }
    run->timed_out = true;
    if (run->child)
        proc_terminate(run->child, 0, AGENTS_VERSION_TERM_GRACE_MS);
}

static void agents_version_run_spawn(agents_version_run *run) {
    static const char *const flags[] = {"--version", "version", "-V"};
    if (uv_is_closing((uv_handle_t *)&run->timer)) { /* the process is exiting */
        agents_version_run_finish(run, NULL);
        return;
    }
    char *argv[] = {run->bin, (char *)flags[run->attempt], NULL};
    run->out.len = 0;
    proc_spawn_opts o = {.file = run->bin, .args = argv, .die_with_server = true};
    run->child = proc_spawn(run->loop, &o, &agents_version_run_cb, run);
    proc_close_stdin(run->child);
    uv_timer_start(&run->timer, agents_version_run_timer, agents_version_probe_ms(), 0);
}

agents_version_probe *agents_version_probe_start(uv_loop_t *loop, const char *id,
                                                 agents_version_fn fn, void *ud) {
    int idx = agents_index(id);
    if (idx < 0)
        return NULL; /* never another agent's cache slot */
    agents_version_cache *c = &agents_version_caches[idx];
    agents_version_run *run = c->run;
    if (!run || run->gen != c->gen) {
        /* Started from the loop, never inside the caller's stack (and never at all when
         * the loop does not run, as in the HTTP fuzzer). */
        run = base_xcalloc(1, sizeof *run);
        run->loop = loop;
        run->idx = idx;
        run->gen = c->gen;
        base_buf_init(&run->out);
        uv_timer_init(loop, &run->timer);
        run->timer.data = run;
        uv_timer_start(&run->timer, agents_version_run_timer, 0, 0);
        c->run = run;
    }
    agents_version_probe *w = base_xcalloc(1, sizeof *w);
    w->fn = fn;
    w->ud = ud;
    w->run = run;
    w->next = run->waiters;
    run->waiters = w;
    return w;
}

void agents_version_cancel(agents_version_probe *waiter) {
    if (!waiter)
        return;
    agents_version_probe **pp = &waiter->run->waiters;
    while (*pp && *pp != waiter)
        pp = &(*pp)->next;
    if (*pp)
        *pp = waiter->next;
    free(waiter);
}
